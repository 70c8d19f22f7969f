// The live events feed: the newest results and connection changes, newest on top.
// Events are drawn once per animation frame, so a burst of thousands of results costs
// one layout, and only the last few are kept.

import { clockTime, el, plural, shortId } from "./dom.js";

const KEPT = 40;
const CODE_PREVIEW = 48;

export class Feed {
  #list;
  #empty;
  #count;
  #received = 0;
  #queue = [];
  #scheduled = false;
  #unnamed = new Map(); // task id -> the empty slot of its message, in a shown item
  #names = new Map(); // task id -> message, of the tasks named lately

  constructor(list, empty, count) {
    this.#list = list;
    this.#empty = empty;
    this.#count = count;
  }

  /** Empties the feed (another user signed in). */
  clear() {
    this.#received = 0;
    this.#queue = [];
    this.#unnamed.clear();
    this.#names.clear();
    this.#list.replaceChildren();
    this.#empty.hidden = false;
    this.#count.textContent = plural(0, "result");
  }

  /** Results can arrive before the response that names their task: fill the names in then. */
  named(tasks) {
    for (const task of tasks) {
      this.#names.set(task.id, task.message);
      if (this.#names.size > KEPT) this.#names.delete(this.#names.keys().next().value);
      const slot = this.#unnamed.get(task.id);
      if (!slot) continue;
      this.#unnamed.delete(task.id);
      slot.replaceChildren(el("span", { class: "feed-message", text: task.message }));
    }
  }

  result(frame, message) {
    this.#received += 1;
    const code = frame.binaryCode;
    const preview = code.length > CODE_PREVIEW ? `${code.slice(0, CODE_PREVIEW)}…` : code;
    const took = latency(frame);
    this.#push(() =>
      el(
        "li",
        { class: "feed-item feed-result" },
        el("span", { class: "feed-time", text: clockTime() }),
        el(
          "span",
          { class: "feed-body" },
          el("span", { class: "feed-title" },
            el("code", { class: "task-id", title: frame.id, text: shortId(frame.id) }),
            this.#messageSlot(frame.id, message)),
          el("span", { class: "feed-detail" },
            el("code", { class: "feed-code", text: preview }),
            took === null ? null : el("span", { class: "feed-took", text: took })),
        ),
      ),
    );
  }

  #messageSlot(id, known) {
    const message = known ?? this.#names.get(id);
    const slot = el("span", { class: "feed-message-slot" });
    if (message !== undefined) {
      slot.append(el("span", { class: "feed-message", text: message }));
    } else {
      this.#unnamed.set(id, slot);
      if (this.#unnamed.size > KEPT) this.#unnamed.delete(this.#unnamed.keys().next().value);
    }
    return slot;
  }

  note(text, kind = "info") {
    this.#push(() =>
      el(
        "li",
        { class: `feed-item feed-note feed-${kind}` },
        el("span", { class: "feed-time", text: clockTime() }),
        el("span", { class: "feed-body", text }),
      ),
    );
  }

  #push(make) {
    this.#queue.push(make);
    if (this.#queue.length > KEPT) this.#queue.splice(0, this.#queue.length - KEPT);
    if (!this.#scheduled) {
      this.#scheduled = true;
      requestAnimationFrame(() => this.#flush());
    }
  }

  #flush() {
    this.#scheduled = false;
    const items = this.#queue.map((make) => make()).reverse();
    this.#queue = [];
    this.#list.prepend(...items);
    while (this.#list.children.length > KEPT) this.#list.lastElementChild.remove();
    this.#empty.hidden = this.#list.children.length > 0;
    this.#count.textContent = plural(this.#received, "result");
  }
}

/** "in 4 ms": from the task's creation to its result, both stamped by the server. */
function latency(frame) {
  const created = Date.parse(frame.createdAt);
  const processed = Date.parse(frame.processedAt);
  if (Number.isNaN(created) || Number.isNaN(processed) || processed < created) return null;
  const ms = processed - created;
  return ms < 1000 ? `in ${ms} ms` : `in ${(ms / 1000).toFixed(1)} s`;
}
