"""The page as the gateway serves it: `/config.js` tells the page whether access control
is on and where its endpoints are, and `/` carries a Content-Security-Policy whose
`connect-src` lists only those endpoints (and the ones the operator lets `?graphql=` and
`?ws=` point at), so that a page opened with a hostile link cannot talk to another site.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pyservices.webui import STATIC_DIR

# Where the page looks for the WebSocket service when nothing is configured (endpoints.js).
WEBSOCKET_PORT = 8082
HTTP_SCHEMES = ("http", "https")
WS_SCHEMES = ("ws", "wss")
# What a configured endpoint may contain: nothing that ends or splits a CSP directive
# (space, `;`, `,`, quotes) and no query or fragment.
_URL_CHARS = re.compile(r"[A-Za-z0-9._~%/:\[\]-]+")
_PATH = re.compile(r"/(?!/)[A-Za-z0-9._~%/-]*")
# A Host header worth echoing into the policy: a name or an IP literal, and a port.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
_META_CSP = re.compile(r'(<meta http-equiv="Content-Security-Policy"\s+content=")[^"]*(")')


def endpoint_url(value: str, schemes: tuple[str, ...], *, relative: bool = True) -> str:
    """`value` checked as an endpoint: an absolute URL of one of `schemes`, or (when
    `relative`) a path on the page's own host. Raises ValueError otherwise."""
    value = value.strip()
    if relative and _PATH.fullmatch(value):
        return value
    parts = urlsplit(value)
    if (
        not _URL_CHARS.fullmatch(value)
        or parts.scheme not in schemes
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
    ):
        kinds = "/".join(schemes)
        also = " or a path starting with /" if relative else ""
        raise ValueError(f"{value!r} is not an endpoint: use an absolute {kinds} URL{also}")
    return value


@dataclass(frozen=True)
class PageSettings:
    """Empty endpoints are derived by the page from its own address: GraphQL at /query,
    the WebSocket at port 8082 of its host. A path resolves against the page's origin."""

    graphql_url: str = ""
    websocket_url: str = ""
    # Origins (or exact URLs) that ?graphql= and ?ws= may name besides the two above.
    allowed_endpoints: tuple[str, ...] = ()
    # Where a visitor without a token is sent in auth mode (the operator's login flow).
    login_url: str = ""

    @classmethod
    def parse(
        cls, graphql_url: str, websocket_url: str, allowed_endpoints: str, login_url: str
    ) -> PageSettings:
        return cls(
            graphql_url=graphql_url and endpoint_url(graphql_url, HTTP_SCHEMES),
            websocket_url=websocket_url and endpoint_url(websocket_url, WS_SCHEMES),
            allowed_endpoints=tuple(
                endpoint_url(item, HTTP_SCHEMES + WS_SCHEMES, relative=False)
                for item in allowed_endpoints.split(",")
                if item.strip()
            ),
            login_url=login_url and endpoint_url(login_url, HTTP_SCHEMES),
        )

    def connect_sources(self, host: str) -> list[str]:
        """`connect-src` for a page requested with this Host header."""
        sources = ["'self'"]
        if self.graphql_url.startswith(HTTP_SCHEMES):  # a path is 'self'
            sources.append(self.graphql_url)
        known = _HOST.fullmatch(host)
        if self.websocket_url.startswith(WS_SCHEMES):
            sources.append(self.websocket_url)
        elif known:
            # The page turns http(s) into ws(s); which one the visitor used is not known
            # here behind a TLS-terminating proxy, so both.
            if self.websocket_url:
                where = f"{host}{self.websocket_url}"
            else:
                where = f"{known.group(1)}:{WEBSOCKET_PORT}/ws"
            sources += [f"ws://{where}", f"wss://{where}"]
        sources += [item for item in self.allowed_endpoints if item not in sources]
        return sources

    def policy(self, host: str) -> str:
        return (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src {' '.join(self.connect_sources(host))}; "
            "object-src 'none'; base-uri 'none'; form-action 'none'"
        )

    def config_script(self, *, auth: bool) -> str:
        config: dict[str, object] = {
            "auth": auth,
            "allowedEndpoints": list(self.allowed_endpoints),
        }
        if self.graphql_url:
            config["graphqlUrl"] = self.graphql_url
        if self.websocket_url:
            config["websocketUrl"] = self.websocket_url
        if self.login_url:
            config["loginUrl"] = self.login_url
        return f"window.BINCONV_CONFIG = {json.dumps(config)};\n"


def page_routes(settings: PageSettings, *, auth: bool) -> list[BaseRoute]:
    """`/` and `/index.html` with their policy, and `/config.js`; the rest of the
    static directory stays with the static files."""
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    config = settings.config_script(auth=auth)

    async def page(request: Request) -> Response:
        policy = settings.policy(request.headers.get("host", ""))
        # The meta tag says the same, for the file served by anything else.
        body = _META_CSP.sub(lambda m: f"{m.group(1)}{policy}{m.group(2)}", index, count=1)
        return Response(
            body,
            media_type="text/html",
            headers={
                # frame-ancestors works only in the header: no other site may frame the page.
                "content-security-policy": f"{policy}; frame-ancestors 'none'",
                "cache-control": "no-cache",
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
            },
        )

    async def config_js(request: Request) -> Response:
        return Response(
            config,
            media_type="text/javascript",
            headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
        )

    return [
        Route("/", page, methods=["GET"]),
        Route("/index.html", page, methods=["GET"]),
        Route("/config.js", config_js, methods=["GET"]),
    ]
