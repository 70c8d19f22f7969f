// Small DOM helpers. Every piece of user or server text goes in through text nodes
// (textContent, append(string)); nothing here parses markup.

/** Creates an element; `text` sets textContent, `on*` adds listeners, others are attributes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/** A <time> element showing an ISO-8601 instant in the reader's locale and time zone. */
export function timeElement(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return el("span", { text: iso || "—" });
  return el("time", { datetime: iso, title: iso, text: dateTime.format(date) });
}

export function clockTime(date = new Date()) {
  return clock.format(date);
}

/** "0100100001101001" -> "01001000 01101001": spaces let the block wrap at byte edges. */
export function groupBits(code) {
  return code.replace(/([01]{8})(?=[01])/g, "$1 ");
}

export function shortId(id) {
  return id.length > 8 ? id.slice(0, 8) : id;
}

export function plural(count, one, many = `${one}s`) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

/**
 * Puts `text` into `container`, cut at `limit` characters with a button that shows the
 * rest: a 64 KiB message has a binary code of half a million characters.
 */
export function fillClamped(container, text, limit, what) {
  container.replaceChildren();
  if (text.length <= limit) {
    container.append(text);
    return;
  }
  const more = el("button", {
    type: "button",
    class: "btn-link",
    text: `Show all ${plural(text.length, "character")}`,
    "aria-label": `Show the whole ${what}`,
    onclick: () => container.replaceChildren(text),
  });
  container.append(text.slice(0, limit), "… ", more);
}

/** Copies text; falls back to a selection where the async clipboard is unavailable (plain http). */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Denied or unfocused document: try the old way below.
    }
  }
  const focused = document.activeElement;
  const area = el("textarea", { class: "clipboard-proxy", readonly: true, "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  }
  area.remove();
  if (focused instanceof HTMLElement) focused.focus();
  return copied;
}

/** A button that copies `getText()` and says so for a moment (and to screen readers). */
export function copyButton(label, getText, announce) {
  const button = el("button", {
    type: "button",
    class: "btn-icon copy",
    title: label,
    "aria-label": label,
  });
  button.append(copyIcon());
  button.addEventListener("click", async () => {
    const copied = await copyText(getText());
    button.dataset.copied = copied ? "yes" : "no";
    announce(copied ? "Copied to the clipboard" : "Could not copy: select the text and copy it");
    setTimeout(() => delete button.dataset.copied, 1500);
  });
  return button;
}

function copyIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ["M9 9h10v12H9z", "M5 15V3h10"]) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
