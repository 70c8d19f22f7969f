// Where the page talks to. Derived from its own location, overridden by
// window.BINCONV_CONFIG (config.js: the gateway writes it from its PAGE_* settings) and,
// for one visit, by the query parameters ?graphql=...&ws=... . An override may point
// only at the page's own origin, the configured endpoints, or what the operator allows
// (config.allowedEndpoints): a link must not aim the page, and its token, at another site.

const WEBSOCKET_PORT = 8082;
const HTTP = ["http:", "https:"];
const WS = ["ws:", "wss:"];

export function endpoints(location = window.location, config = window.BINCONV_CONFIG ?? {}) {
  const params = new URLSearchParams(location.search);
  const host = location.hostname || "localhost";
  const secure = location.protocol === "https:";
  const derived = {
    graphqlUrl: location.protocol.startsWith("http")
      ? new URL("/query", location.href).href
      : `http://${host}:8080/query`,
    websocketUrl: `${secure ? "wss" : "ws"}://${host}:${WEBSOCKET_PORT}/ws`,
  };
  const configured = {
    graphqlUrl: resolve(HTTP, config.graphqlUrl, location) ?? derived.graphqlUrl,
    websocketUrl: resolve(WS, config.websocketUrl, location) ?? derived.websocketUrl,
  };
  const allowed = (config.allowedEndpoints ?? []).map((entry) => resolve([...HTTP, ...WS], entry, location)).filter(Boolean);
  const ignored = [];
  const choose = (name, schemes, key) => {
    const asked = params.get(name);
    if (!asked) return configured[key];
    const url = resolve(schemes, asked, location);
    if (url && permitted(url, configured[key], allowed, location)) return url;
    ignored.push(name);
    return configured[key];
  };
  return {
    graphqlUrl: choose("graphql", HTTP, "graphqlUrl"),
    websocketUrl: choose("ws", WS, "websocketUrl"),
    ignored,
  };
}

/** A URL of an allowed scheme, or undefined; a path resolves against the page (ws(s) for a WebSocket). */
function resolve(schemes, candidate, location) {
  if (typeof candidate !== "string" || candidate === "") return undefined;
  try {
    const url = new URL(candidate, location.href);
    if (schemes === WS && HTTP.includes(url.protocol) && !/^[a-z][a-z0-9+.-]*:/i.test(candidate)) {
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    }
    return schemes.includes(url.protocol) ? url.href : undefined;
  } catch {
    return undefined; // Not a URL: ignore it and fall back.
  }
}

function permitted(url, configured, allowed, location) {
  if (url === configured) return true;
  const target = new URL(url);
  const page = new URL(location.href);
  // The page's own origin (its WebSocket twin too): what the CSP calls 'self'.
  const asHttp = { "ws:": "http:", "wss:": "https:" }[target.protocol] ?? target.protocol;
  if (target.host === page.host && asHttp === page.protocol) return true;
  return allowed.some((entry) => {
    const permit = new URL(entry);
    // An origin allows any path there; a URL with a path allows exactly that URL.
    return permit.pathname === "/" ? permit.origin === target.origin : entry === url;
  });
}
