// Where the page talks to. Derived from its own location, overridden by
// window.BINCONV_CONFIG (config.js, for deployments behind a proxy) and, for one
// visit, by the query parameters ?graphql=...&ws=... .

const WEBSOCKET_PORT = 8082;

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
  return {
    graphqlUrl: pick(["http:", "https:"], params.get("graphql"), config.graphqlUrl, derived.graphqlUrl, location),
    websocketUrl: pick(["ws:", "wss:"], params.get("ws"), config.websocketUrl, derived.websocketUrl, location),
  };
}

/** The first candidate that is a URL of an allowed scheme (relative ones resolve against the page). */
function pick(schemes, ...candidates) {
  const location = candidates.pop();
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      const url = new URL(candidate, location.href);
      if (schemes.includes(url.protocol)) return url.href;
    } catch {
      // Not a URL: ignore it and fall back to the next candidate.
    }
  }
  return undefined;
}
