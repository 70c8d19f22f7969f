// The WebSocket to the results: reconnects by itself with exponential backoff (with
// jitter, so many pages do not return at the same instant) and waits for the browser
// to come back online instead of retrying into the void.
//
// In auth mode the token travels as a subprotocol (a browser cannot set headers on a
// WebSocket), offered beside "binconv.v1", which the server answers with.
//
// Events: "state" (detail {state, retryInSeconds}), "open" (detail {reconnected}),
// "result" (detail: the frame, at least {id, binaryCode}), "closed" (detail {code,
// reason, opened, token}: every close, for the page to explain the ones that stop it).

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
// After this many failed attempts in a row the server is called offline, not "reconnecting".
const ATTEMPTS_BEFORE_OFFLINE = 4;
export const SUBPROTOCOL = "binconv.v1";
// Closes that another attempt would not mend: the token expired (a new one is needed),
// or this user holds too many connections (one must close first: "Retry now" then).
const TOKEN_EXPIRED = 4401;
const POLICY = 1008;

export class LiveConnection extends EventTarget {
  #url;
  #socket = null;
  #attempts = 0;
  #timer = null;
  #everOpened = false;
  #running = false;
  #token;
  state = "connecting";

  /** `token()`: the bearer token to offer, or nothing (open mode: no subprotocol at all). */
  constructor(url, { token = () => null } = {}) {
    super();
    this.#url = url;
    this.#token = token;
    window.addEventListener("online", () => this.retryNow());
    window.addEventListener("offline", () => this.#socket?.close());
  }

  start() {
    this.#running = true;
    this.#attempts = 0;
    this.#connect();
  }

  /** Closes the connection and stays closed until start() (signed out, token refused). */
  stop(state = "signed-out") {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = null;
    const socket = this.#socket;
    this.#socket = null;
    socket?.close();
    this.#setState(state);
  }

  /** Connect now instead of waiting for the backoff (the "Retry now" button, the online event). */
  retryNow() {
    if (this.#socket || !this.#running) return;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#connect();
  }

  #connect() {
    this.#setState(this.#everOpened ? "reconnecting" : "connecting");
    let socket;
    const token = this.#token();
    try {
      socket = token ? new WebSocket(this.#url, [SUBPROTOCOL, `bearer.${token}`]) : new WebSocket(this.#url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      if (this.#socket !== socket) return;
      opened = true;
      this.#attempts = 0;
      const reconnected = this.#everOpened;
      this.#everOpened = true;
      this.#setState("connected");
      this.dispatchEvent(new CustomEvent("open", { detail: { reconnected } }));
    });
    // A stopped connection's frames are dropped: after a sign-out nothing of the last
    // user's may show.
    socket.addEventListener("message", (event) => {
      if (this.#socket === socket) this.#receive(event.data);
    });
    socket.addEventListener("close", ({ code, reason }) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.dispatchEvent(new CustomEvent("closed", { detail: { code, reason, opened, token } }));
      if (!this.#running) return; // a listener stopped it
      if (code === TOKEN_EXPIRED || code === POLICY) this.#setState("offline");
      else this.#scheduleRetry();
    });
  }

  #receive(data) {
    if (typeof data !== "string") return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // Not ours to crash on: ignore a frame that is not JSON.
    }
    if (frame && typeof frame.id === "string" && typeof frame.binaryCode === "string") {
      this.dispatchEvent(new CustomEvent("result", { detail: frame }));
    }
  }

  #scheduleRetry() {
    if (!navigator.onLine) {
      this.#setState("offline"); // the "online" event calls retryNow()
      return;
    }
    this.#attempts += 1;
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (this.#attempts - 1));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    const state = this.#attempts > ATTEMPTS_BEFORE_OFFLINE ? "offline" : "reconnecting";
    this.#setState(state, Math.ceil(delay / 1000));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect();
    }, delay);
  }

  #setState(state, retryInSeconds = null) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryInSeconds } }));
  }
}
