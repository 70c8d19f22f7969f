// The page's composition root: endpoints, the GraphQL client, the live connection,
// and the three parts of the page wired together; in auth mode, the session's token.

import { Session } from "./js/auth.js";
import { ComposeForm } from "./js/compose.js";
import { endpoints } from "./js/endpoints.js";
import { Feed } from "./js/feed.js";
import { createClient } from "./js/graphql.js";
import { LiveConnection } from "./js/live.js";
import { TaskTable } from "./js/tasks.js";

const $ = (selector) => document.querySelector(selector);

// Results can overtake the sendTask response that created their task (the pipeline
// takes a few milliseconds): recent results are kept so a row added later still
// shows its code at once.
const RECENT_RESULTS = 5000;
const recentResults = new Map();

function remember(frame) {
  recentResults.set(frame.id, frame);
  if (recentResults.size > RECENT_RESULTS) recentResults.delete(recentResults.keys().next().value);
}

function main() {
  const config = window.BINCONV_CONFIG ?? {};
  const { graphqlUrl, websocketUrl, ignored } = endpoints(window.location, config);
  $("#graphql-url").textContent = graphqlUrl;
  $("#websocket-url").textContent = websocketUrl;

  const session = config.auth === true ? new Session(authElements(), { loginUrl: config.loginUrl }) : null;
  const api = createClient(graphqlUrl, {
    token: () => session?.token,
    onUnauthenticated: (error, token) => session?.refuse(error, token),
  });
  const announcer = $("#announcer");
  const announce = (text) => {
    announcer.textContent = text;
  };
  const feed = new Feed($("#feed"), $("#feed-empty"), $("#feed-count"));
  const noteIgnored = () => {
    for (const name of ignored) {
      feed.note(`The address in ?${name}= was ignored: this site does not allow it.`, "bad");
    }
  };
  noteIgnored();
  const table = new TaskTable(
    api,
    {
      table: $("#task-table"),
      body: $("#task-rows"),
      heading: $("#tasks-heading"),
      empty: $("#tasks-empty"),
      error: $("#tasks-error"),
      errorText: $("#tasks-error-text"),
      retry: $("#tasks-retry"),
      refresh: $("#refresh"),
      newer: $("#newer"),
      older: $("#older"),
      pageLabel: $("#page-label"),
      pageSize: $("#page-size"),
    },
    announce,
  );

  const applyRecent = () => {
    for (const id of table.pendingIds()) {
      const frame = recentResults.get(id);
      if (frame) table.applyResult(frame);
    }
  };

  new ComposeForm($("#compose-form"), async (messages) => {
    const tasks = await api.sendTask(messages);
    await table.showSent(tasks);
    applyRecent();
    feed.named(tasks);
    return tasks;
  });

  const grouping = $("#group-bits");
  grouping.checked = localStorage.getItem("binconv.groupBits") === "yes";
  table.setGrouped(grouping.checked);
  grouping.addEventListener("change", () => {
    localStorage.setItem("binconv.groupBits", grouping.checked ? "yes" : "no");
    table.setGrouped(grouping.checked);
  });

  const live = new LiveConnection(websocketUrl, { token: () => session?.token });
  let connectedAt = null; // performance.now() of the current connection's open

  // Results published while the socket was down are not replayed: ask for the
  // pending rows again. A page load that started before the socket opened may have
  // missed some too.
  async function refreshPending() {
    const ids = table.pendingIds();
    if (ids.length === 0) return;
    try {
      table.applyTasks(await api.tasksById(ids));
    } catch {
      // The next reconnect or a manual refresh tries again.
    }
  }

  async function loadTable() {
    const started = await table.load();
    applyRecent();
    if (connectedAt !== null && started < connectedAt) await refreshPending();
  }

  live.addEventListener("state", ({ detail }) => showConnection(detail, feed));
  live.addEventListener("open", ({ detail }) => {
    connectedAt = performance.now();
    feed.note(detail.reconnected ? "Reconnected" : "Connected", "good");
    refreshPending();
  });
  live.addEventListener("result", ({ detail: frame }) => {
    remember(frame);
    table.applyResult(frame);
    feed.result(frame, table.messageOf(frame.id));
  });
  live.addEventListener("closed", ({ detail }) => explainClose(detail, { session, api, feed }));
  $("#conn-retry").addEventListener("click", () => live.retryNow());

  if (session === null) {
    live.start();
    loadTable();
    return;
  }
  session.addEventListener("signedout", () => live.stop());
  session.addEventListener("signedin", () => {
    // Another token may be another user: nothing shown before stays.
    recentResults.clear();
    feed.clear();
    noteIgnored();
    table.clear();
    live.start();
    loadTable();
  });
  session.begin();
}

function authElements() {
  return {
    panel: $("#auth"),
    heading: $("#auth-heading"),
    message: $("#auth-message"),
    login: $("#auth-login"),
    form: $("#auth-form"),
    input: $("#auth-token"),
    signOut: $("#sign-out"),
  };
}

// What a closed live connection means for the person reading the page.
function explainClose({ code, reason, opened, token }, { session, api, feed }) {
  if (code === 4401) {
    session?.refuse({ message: reason || "the token has expired" }, token);
  } else if (code === 1008) {
    feed.note(`Live updates refused: ${reason || "too many connections"}. Close another tab of this page, then retry.`, "bad");
  } else if (code === 1013) {
    feed.note("The live service is full right now; trying again shortly.", "bad");
  } else if (session && !opened) {
    // A refused handshake shows the browser only that it failed; GraphQL says why
    // (and a refusal there asks for a new token).
    api.tasks(1, 0).catch(() => {});
  }
}

const STATE_TEXT = {
  "signed-out": "Not signed in",
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting",
  offline: "Offline",
};

// The seconds to the next attempt tick beside the state, hidden from screen readers:
// the status region announces the state once, not every second.
const TIMER_TEXT = {
  reconnecting: (seconds) => (seconds > 0 ? ` in ${seconds} s…` : "…"),
  offline: (seconds) => (seconds > 0 ? ` · retry in ${seconds} s` : ""),
};

let wasConnected = false;
let countdown = null;

function showConnection({ state, retryInSeconds }, feed) {
  clearInterval(countdown);
  $("#conn").dataset.state = state;
  $("#conn-retry").hidden = state === "connected" || state === "connecting" || state === "signed-out";
  if (wasConnected && state !== "connected") feed.note("Connection lost", "bad");
  wasConnected = state === "connected";
  const text = $("#conn-text");
  if (text.textContent !== STATE_TEXT[state]) text.textContent = STATE_TEXT[state];
  const timer = $("#conn-timer");
  let seconds = retryInSeconds ?? 0;
  const tick = () => {
    timer.textContent = TIMER_TEXT[state]?.(seconds) ?? "";
  };
  tick();
  if (seconds > 0) {
    countdown = setInterval(() => {
      seconds -= 1;
      tick();
      if (seconds <= 0) clearInterval(countdown);
    }, 1000);
  }
}

main();
