// The task table: one page of tasks, newest first. Rows are kept by id so a live result
// updates its own row in place; nothing refetches the list per event.

import { copyButton, el, fillClamped, groupBits, shortId, timeElement } from "./dom.js";
import { explainLoadError } from "./errors.js";

const SHOWN_MESSAGE_CHARS = 600;
const SHOWN_CODE_CHARS = 2048;

export class TaskTable {
  #api;
  #ui;
  #announce;
  #rows = new Map(); // id -> {task, tr, cells}
  #offset = 0;
  #pageSize = 20;
  #hasOlder = false;
  #grouped = false;
  #loading = 0;

  constructor(api, ui, announce) {
    this.#api = api;
    this.#ui = ui;
    this.#announce = announce;
    ui.newer.addEventListener("click", () => this.#go(Math.max(0, this.#offset - this.#pageSize)));
    ui.older.addEventListener("click", () => this.#go(this.#offset + this.#pageSize));
    ui.refresh.addEventListener("click", () => this.load());
    ui.retry.addEventListener("click", () => this.load());
    ui.pageSize.addEventListener("change", () => {
      this.#pageSize = Number(ui.pageSize.value);
      this.#go(0);
    });
  }

  get onFirstPage() {
    return this.#offset === 0;
  }

  /** Loads the current page; resolves with when the request started (ms, performance.now). */
  async load() {
    const started = performance.now();
    const ticket = ++this.#loading;
    this.#ui.table.setAttribute("aria-busy", "true");
    try {
      // One extra row says whether an older page exists.
      const tasks = await this.#api.tasks(this.#pageSize + 1, this.#offset);
      if (ticket !== this.#loading) return started;
      this.#hasOlder = tasks.length > this.#pageSize;
      this.#render(tasks.slice(0, this.#pageSize));
      this.#ui.error.hidden = true;
    } catch (error) {
      if (ticket !== this.#loading) return started;
      this.#ui.errorText.textContent = explainLoadError(error);
      this.#ui.error.hidden = false;
    } finally {
      if (ticket === this.#loading) this.#ui.table.removeAttribute("aria-busy");
    }
    return started;
  }

  async #go(offset) {
    this.#offset = offset;
    await this.load();
    this.#ui.heading.focus();
  }

  /** Empties the table (another user signed in); the next load fills it. */
  clear() {
    this.#loading += 1; // an answer still on its way is for the last user
    this.#offset = 0;
    this.#hasOlder = false;
    this.#ui.error.hidden = true;
    this.#ui.table.removeAttribute("aria-busy");
    this.#render([]);
  }

  /** Shows tasks the user just sent at the top of the first page. */
  async showSent(tasks) {
    if (!this.onFirstPage) {
      this.#offset = 0;
      await this.load();
      return;
    }
    const fresh = tasks.filter((task) => !this.#rows.has(task.id));
    const rows = [...fresh].reverse().map((task) => this.#row(task));
    this.#ui.body.prepend(...rows.map((row) => row.tr).reverse());
    const trs = [...this.#ui.body.children];
    for (const tr of trs.slice(this.#pageSize)) {
      this.#rows.delete(tr.dataset.id);
      tr.remove();
      this.#hasOlder = true;
    }
    this.#updateChrome();
  }

  /** A result from the WebSocket: updates that row if it is on this page. */
  applyResult(frame) {
    const row = this.#rows.get(frame.id);
    if (!row) return false;
    const task = row.task;
    if (task.status === "PROCESSED" && task.binaryCode === frame.binaryCode) return true;
    this.#update(row, {
      ...task,
      binaryCode: frame.binaryCode,
      status: "PROCESSED",
      updatedAt: [frame.updatedAt, frame.processedAt].find((t) => typeof t === "string") ?? task.updatedAt,
    });
    row.tr.classList.remove("just-done");
    void row.tr.offsetWidth; // restart the highlight animation
    row.tr.classList.add("just-done");
    return true;
  }

  /** Tasks fetched again (after a reconnect): updates the rows that are shown. */
  applyTasks(tasks) {
    for (const task of tasks) {
      const row = this.#rows.get(task.id);
      if (row) this.#update(row, task);
    }
  }

  pendingIds() {
    return [...this.#rows.values()].filter((row) => row.task.status !== "PROCESSED").map((row) => row.task.id);
  }

  messageOf(id) {
    return this.#rows.get(id)?.task.message;
  }

  setGrouped(grouped) {
    this.#grouped = grouped;
    for (const row of this.#rows.values()) this.#fillCode(row);
  }

  #render(tasks) {
    this.#rows.clear();
    this.#ui.body.replaceChildren(...tasks.map((task) => this.#row(task).tr));
    this.#updateChrome();
  }

  #updateChrome() {
    const count = this.#rows.size;
    this.#ui.empty.hidden = count > 0 || this.#offset > 0;
    this.#ui.newer.disabled = this.#offset === 0;
    this.#ui.older.disabled = !this.#hasOlder;
    this.#ui.pageLabel.textContent =
      count === 0
        ? this.#offset > 0 ? "No more tasks" : ""
        : `Tasks ${(this.#offset + 1).toLocaleString()}–${(this.#offset + count).toLocaleString()}`;
  }

  #row(task) {
    const cells = {
      code: el("div", { class: "code-cell" }),
      updated: el("td", { class: "col-time", "data-label": "Updated" }),
      status: el("td", { class: "col-status", "data-label": "Status" }),
    };
    const message = el("div", { class: "message" });
    fillClamped(message, task.message, SHOWN_MESSAGE_CHARS, "message");
    const tr = el(
      "tr",
      { "data-id": task.id },
      el(
        "td",
        { class: "col-id", "data-label": "ID" },
        el("span", { class: "id-cell" },
          el("code", { class: "task-id", title: task.id, text: shortId(task.id) }),
          copyButton(`Copy task id ${task.id}`, () => task.id, this.#announce)),
      ),
      el("td", { class: "col-message", "data-label": "Message" }, message),
      el("td", { class: "col-code", "data-label": "Binary code" }, cells.code),
      el("td", { class: "col-time", "data-label": "Created" }, timeElement(task.createdAt)),
      cells.updated,
      cells.status,
    );
    const row = { task, tr, cells };
    this.#rows.set(task.id, row);
    this.#update(row, task);
    return row;
  }

  #update(row, task) {
    row.task = task;
    row.tr.dataset.status = task.status.toLowerCase();
    this.#fillCode(row);
    row.cells.updated.replaceChildren(timeElement(task.updatedAt));
    const done = task.status === "PROCESSED";
    row.cells.status.replaceChildren(
      el("span", { class: `badge ${done ? "badge-done" : "badge-pending"}`, text: done ? "Processed" : "Pending" }),
    );
  }

  #fillCode(row) {
    const { task, cells } = row;
    if (task.status !== "PROCESSED") {
      cells.code.replaceChildren(el("span", { class: "pending-code" }, el("span", { class: "spinner", "aria-hidden": "true" }), "Converting…"));
      return;
    }
    const bits = el("code", { class: "bits" });
    fillClamped(bits, this.#grouped ? groupBits(task.binaryCode) : task.binaryCode, SHOWN_CODE_CHARS, "binary code");
    const label = `Copy the binary code of task ${shortId(task.id)}`;
    cells.code.replaceChildren(bits, copyButton(label, () => row.task.binaryCode, this.#announce));
  }
}
