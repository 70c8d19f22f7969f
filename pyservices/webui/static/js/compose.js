// The form: several message fields, sent together as one sendTask. What the user typed
// stays in the fields until the server has accepted it.

import { el, plural } from "./dom.js";
import { explainSendError } from "./errors.js";

export class ComposeForm {
  #form;
  #list;
  #send;
  #error;
  #status;
  #submit;
  #nextId = 1;

  /** `submit(messages)` sends them and resolves with the stored tasks, or throws an ApiError. */
  constructor(form, submit) {
    this.#form = form;
    this.#list = form.querySelector("#fields");
    this.#send = form.querySelector("#send");
    this.#error = form.querySelector("#form-error");
    this.#status = form.querySelector("#form-status");
    this.#submit = submit;
    form.querySelector("#add-field").addEventListener("click", () => this.addField().focus());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.addField();
  }

  get #inputs() {
    return [...this.#list.querySelectorAll("input")];
  }

  addField(value = "") {
    const id = `message-${this.#nextId++}`;
    const input = el("input", {
      id,
      type: "text",
      class: "field-input",
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": `${id}-error`,
    });
    input.value = value;
    input.addEventListener("keydown", (event) => this.#onKey(event, input));
    input.addEventListener("input", () => this.#clearFieldError(input));
    const remove = el("button", { type: "button", class: "btn-icon remove", text: "×" });
    remove.addEventListener("click", () => this.#removeField(input));
    const item = el(
      "li",
      { class: "field" },
      el("label", { for: id, class: "field-label" }),
      el("div", { class: "field-row" }, input, remove),
      el("p", { id: `${id}-error`, class: "field-error", hidden: true }),
    );
    this.#list.append(item);
    this.#renumber();
    return input;
  }

  #onKey(event, input) {
    if (event.key !== "Enter" || event.isComposing) return;
    event.preventDefault();
    if (event.ctrlKey || event.metaKey) {
      this.send();
      return;
    }
    const inputs = this.#inputs;
    const index = inputs.indexOf(input);
    if (index === inputs.length - 1) this.addField().focus();
    else inputs[index + 1].focus();
  }

  #removeField(input) {
    const inputs = this.#inputs;
    if (inputs.length === 1) return;
    const index = inputs.indexOf(input);
    input.closest("li").remove();
    this.#renumber();
    const remaining = this.#inputs;
    remaining[Math.min(index, remaining.length - 1)].focus();
  }

  #renumber() {
    const items = [...this.#list.children];
    items.forEach((item, index) => {
      const number = index + 1;
      item.querySelector("label").textContent = `Message ${number}`;
      const remove = item.querySelector(".remove");
      remove.setAttribute("aria-label", `Remove message ${number}`);
      remove.title = `Remove message ${number}`;
      remove.disabled = items.length === 1;
    });
    this.#send.textContent = items.length === 1 ? "Send" : `Send ${items.length} messages`;
  }

  async send() {
    if (this.#form.getAttribute("aria-busy") === "true") return;
    // Fields left completely empty (say, the one Enter just added) are not messages;
    // anything else, even spaces only, is sent as typed and judged by the server.
    const inputs = this.#inputs.filter((input) => input.value !== "");
    this.#clearErrors();
    if (inputs.length === 0) {
      this.#showError("Type a message first.", new Map([[0, "is empty. Type some text."]]), this.#inputs);
      return;
    }
    this.#form.setAttribute("aria-busy", "true");
    this.#send.disabled = true;
    this.#status.textContent = `Sending ${plural(inputs.length, "message")}…`;
    try {
      const tasks = await this.#submit(inputs.map((input) => input.value));
      this.#list.replaceChildren();
      this.addField();
      this.#status.textContent = `Sent ${plural(tasks.length, "message")}. Results appear in the table below.`;
    } catch (error) {
      this.#status.textContent = "";
      const { summary, fields } = explainSendError(error);
      this.#showError(summary, fields, inputs);
    } finally {
      this.#form.removeAttribute("aria-busy");
      this.#send.disabled = false;
    }
  }

  #showError(summary, fields, inputs) {
    this.#error.textContent = summary;
    this.#error.hidden = false;
    let first = null;
    for (const [index, reason] of fields) {
      const input = inputs[index];
      if (!input) continue;
      const label = input.closest("li").querySelector("label").textContent;
      const message = input.closest("li").querySelector(".field-error");
      message.textContent = reason.startsWith(":") ? `${label}${reason}` : `${label} ${reason}`;
      message.hidden = false;
      input.setAttribute("aria-invalid", "true");
      first ??= input;
    }
    (first ?? this.#error).focus();
  }

  #clearFieldError(input) {
    input.removeAttribute("aria-invalid");
    const message = input.closest("li").querySelector(".field-error");
    message.hidden = true;
    message.textContent = "";
  }

  #clearErrors() {
    this.#error.hidden = true;
    this.#error.textContent = "";
    for (const input of this.#inputs) this.#clearFieldError(input);
  }
}
