// Server errors in words a person understands. The task service names each broken
// rule as "messages[<index>]: <reason>", several joined by "; ".

import { plural } from "./dom.js";

const REASONS = [
  [/^message is empty or only whitespace$/, () => "is empty. Type some text (spaces alone don't count)."],
  [/^message is (\d+) bytes of UTF-8, over the limit of (\d+)$/, (m) =>
    `is too long: ${kib(m[1])} where at most ${kib(m[2])} fit. Split it into shorter messages.`],
  [/^message contains the NUL character/, () => "contains an invisible NUL character, which cannot be stored. Remove it."],
  [/lone surrogate/, () => "contains a broken character (a lone surrogate). Retype or remove it."],
];

function kib(bytes) {
  const value = Number(bytes);
  return value >= 1024 ? `${(value / 1024).toLocaleString(undefined, { maximumFractionDigits: 1 })} KiB` : `${value} bytes`;
}

function humanReason(reason) {
  for (const [pattern, say] of REASONS) {
    const match = reason.match(pattern);
    if (match) return say(match);
  }
  const text = reason.replace(/^message\s+/, "");
  return `: ${text.charAt(0).toLowerCase()}${text.slice(1)}.`.replace(/\.\.$/, ".");
}

/**
 * Explains a failed sendTask. `fields` maps the index of a sent message to what is
 * wrong with it; `summary` is one sentence for the form as a whole.
 */
export function explainSendError(error) {
  const fields = new Map();
  if (error.code === "NETWORK") {
    return { summary: "Couldn't reach the server. Check your connection and try again; your messages are still here.", fields };
  }
  if (error.code === "UNAVAILABLE") {
    return { summary: "The service is busy or restarting. Your messages are still here: try again in a moment.", fields };
  }
  if (error.code === "RATE_LIMITED") {
    return { summary: `${tooFast(error)} Your messages are still here.`, fields };
  }
  if (error.code === "UNAUTHENTICATED" || error.status === 401) {
    return { summary: `${explainTokenError(error)} Your messages are still here.`, fields };
  }
  if (error.code === "HTTP_413") {
    return { summary: "That is too much text for one request. Send fewer or shorter messages at a time.", fields };
  }
  if (error.code !== "BAD_USER_INPUT") {
    return { summary: `Something went wrong on the server (${error.message}). Your messages are still here.`, fields };
  }
  const others = [];
  let hidden = 0;
  for (const part of error.message.split("; ")) {
    const more = part.match(/^(.*) \(and (\d+) more\)$/);
    const rule = more ? more[1] : part;
    if (more) hidden = Number(more[2]);
    const named = rule.match(/^messages\[(\d+)\]: (.*)$/s);
    if (named) fields.set(Number(named[1]), humanReason(named[2]));
    else others.push(sentence(rule));
  }
  const count = fields.size + hidden;
  const problems = count > 0 ? [`${count === 1 ? "One message needs" : `${count} messages need`} a fix before sending.`] : [];
  return { summary: [...others, ...problems].join(" ") || sentence(error.message), fields };
}

function sentence(text) {
  const trimmed = text.trim();
  if (/^at least one message is required$/.test(trimmed)) return "Type at least one message.";
  const tooMany = trimmed.match(/^too many messages: at most (\d+) per request$/);
  if (tooMany) return `Too many messages: send at most ${Number(tooMany[1]).toLocaleString()} at a time.`;
  return `${trimmed.charAt(0).toUpperCase()}${trimmed.slice(1)}${/[.!?]$/.test(trimmed) ? "" : "."}`;
}

/** Explains a failed load of the task list. */
export function explainLoadError(error) {
  if (error.code === "NETWORK") return "Couldn't reach the server to load tasks.";
  if (error.code === "RATE_LIMITED") return `Tasks couldn't be loaded. ${tooFast(error)}`;
  if (error.code === "UNAUTHENTICATED" || error.status === 401) return explainTokenError(error);
  if (error.code === "UNAVAILABLE") return "The task service is busy or restarting, so tasks couldn't be loaded.";
  return `Tasks couldn't be loaded: ${error.message}`;
}

function tooFast(error) {
  const wait = error.retryAfter ? ` in ${plural(error.retryAfter, "second")}` : " in a moment";
  return `You are sending requests faster than this site allows: try again${wait}.`;
}

/** Why a token was refused, in words; the server's reason says which check failed. */
export function explainTokenError(error) {
  const reason = String(error?.message ?? "");
  if (!error || /authentication required/.test(reason)) {
    return "This site needs an access token to show your tasks.";
  }
  if (/expired/.test(reason)) return "Your access token has expired.";
  const why = reason ? ` (${reason.replace(/[.\s]+$/, "")})` : "";
  return `Your access token was not accepted${why}.`;
}
