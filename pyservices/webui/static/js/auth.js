// Access control in the page (auth mode only): the token of this tab, the panel that
// asks for one, and what it says when a token is missing, expired or refused.
//
// The token is kept in sessionStorage under "binconv.token": this tab only, gone when
// it closes, never in a URL. An operator's login flow on the same origin hands the page
// its token by writing that key and opening the page (docs/access-control.md).
//
// Events: "signedin" (a token to use; the page loads its data), "signedout" (none: the
// page stops the live connection).

import { explainTokenError } from "./errors.js";

export const TOKEN_KEY = "binconv.token";

export class Session extends EventTarget {
  #ui;
  #token = null;

  /** `ui`: the panel's elements; `loginUrl`: the operator's login page, if any. */
  constructor(ui, { loginUrl } = {}) {
    super();
    this.#ui = ui;
    if (loginUrl) {
      ui.login.href = loginUrl;
      ui.login.hidden = false;
    }
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#useTyped();
    });
    ui.signOut.addEventListener("click", () => this.signOut());
  }

  get token() {
    return this.#token;
  }

  /** Starts with the token this tab has, or asks for one. */
  begin() {
    const stored = read();
    if (stored) this.#use(stored);
    else this.#ask(explainTokenError(null), { quiet: true });
  }

  /** A request or the live connection was refused `token`: ask for another. */
  refuse(error, token) {
    if (this.#token === null || token !== this.#token) return; // already replaced
    this.#token = null;
    write(null);
    this.#ask(explainTokenError(error));
  }

  signOut() {
    write(null);
    // A fresh page: nothing of this user's stays in memory or on screen.
    window.location.reload();
  }

  #useTyped() {
    const typed = this.#ui.input.value.trim().replace(/^Bearer\s+/i, "");
    if (!typed) {
      this.#ui.message.textContent = "Paste a token first.";
      this.#ui.input.focus();
      return;
    }
    this.#ui.input.value = "";
    write(typed);
    this.#use(typed);
  }

  #use(token) {
    this.#token = token;
    document.body.dataset.auth = "signed-in";
    this.#ui.panel.hidden = true;
    this.#ui.signOut.hidden = false;
    this.dispatchEvent(new CustomEvent("signedin"));
  }

  #ask(text, { quiet = false } = {}) {
    document.body.dataset.auth = "needed";
    this.#ui.panel.hidden = false;
    this.#ui.signOut.hidden = true;
    this.#ui.message.textContent = text;
    // A refusal in the middle of the visit is announced; the first ask is just the page.
    this.#ui.message.setAttribute("role", quiet ? "status" : "alert");
    this.dispatchEvent(new CustomEvent("signedout"));
    if (!quiet) this.#ui.heading.focus();
  }
}

function read() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || null;
  } catch {
    return null; // storage switched off: the token lives in this page only
  }
}

function write(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // As above.
  }
}
