// The WebSocket to the results: reconnects by itself with exponential backoff (with
// jitter, so many pages do not return at the same instant) and waits for the browser
// to come back online instead of retrying into the void.
//
// Events: "state" (detail {state, retryInSeconds}), "open" (detail {reconnected}),
// "result" (detail: the frame, at least {id, binaryCode}).

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
// After this many failed attempts in a row the server is called offline, not "reconnecting".
const ATTEMPTS_BEFORE_OFFLINE = 4;

export class LiveConnection extends EventTarget {
  #url;
  #socket = null;
  #attempts = 0;
  #timer = null;
  #everOpened = false;
  state = "connecting";

  constructor(url) {
    super();
    this.#url = url;
    window.addEventListener("online", () => this.retryNow());
    window.addEventListener("offline", () => this.#socket?.close());
  }

  start() {
    this.#connect();
  }

  /** Connect now instead of waiting for the backoff (the "Retry now" button, the online event). */
  retryNow() {
    if (this.#socket) return;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#connect();
  }

  #connect() {
    this.#setState(this.#everOpened ? "reconnecting" : "connecting");
    let socket;
    try {
      socket = new WebSocket(this.#url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    socket.addEventListener("open", () => {
      this.#attempts = 0;
      const reconnected = this.#everOpened;
      this.#everOpened = true;
      this.#setState("connected");
      this.dispatchEvent(new CustomEvent("open", { detail: { reconnected } }));
    });
    socket.addEventListener("message", (event) => this.#receive(event.data));
    socket.addEventListener("close", () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#scheduleRetry();
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
