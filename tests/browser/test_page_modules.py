"""The page's own rules, run in Chromium on the static files alone (no stack needed)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from pyservices.webui import STATIC_DIR

pytestmark = pytest.mark.browser


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_origin() -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(STATIC_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(chromium: Browser, static_origin: str) -> Iterator[Page]:
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{static_origin}/favicon.svg")  # same origin as the modules, no app running
    yield page
    context.close()


def endpoints(page: Page, location: dict[str, str], config: dict[str, Any]) -> Any:
    return page.evaluate(
        "async ([location, config]) =>"
        " (await import('/js/endpoints.js')).endpoints(location, config)",
        [location, config],
    )


def explain(page: Page, message: str, code: str, **more: object) -> Any:
    return page.evaluate(
        """async ([message, code, more]) => {
            const { explainSendError } = await import('/js/errors.js');
            const { summary, fields } = explainSendError({ message, code, ...more });
            return { summary, fields: Object.fromEntries(fields) };
        }""",
        [message, code, more],
    )


def explain_load(page: Page, message: str, code: str, **more: object) -> Any:
    return page.evaluate(
        """async ([message, code, more]) =>
            (await import('/js/errors.js')).explainLoadError({ message, code, ...more })""",
        [message, code, more],
    )


def location(href: str) -> dict[str, str]:
    scheme, rest = href.split("//", 1)
    host = rest.split("/", 1)[0].split(":")[0]
    search = "?" + href.split("?", 1)[1] if "?" in href else ""
    return {"href": href, "protocol": scheme, "hostname": host, "search": search}


def test_endpoints_follow_the_page_location(page: Page) -> None:
    assert endpoints(page, location("https://binconv.example/app/"), {}) == {
        "graphqlUrl": "https://binconv.example/query",
        "websocketUrl": "wss://binconv.example:8082/ws",
        "ignored": [],
    }
    assert endpoints(page, location("http://10.0.0.5:8080/"), {}) == {
        "graphqlUrl": "http://10.0.0.5:8080/query",
        "websocketUrl": "ws://10.0.0.5:8082/ws",
        "ignored": [],
    }


def test_configuration_overrides_the_location(page: Page) -> None:
    config = {"graphqlUrl": "/api/query", "websocketUrl": "wss://push.example/ws"}
    assert endpoints(page, location("https://binconv.example/"), config) == {
        "graphqlUrl": "https://binconv.example/api/query",
        "websocketUrl": "wss://push.example/ws",
        "ignored": [],
    }


def test_a_configured_websocket_path_is_on_the_pages_host(page: Page) -> None:
    config = {"websocketUrl": "/ws"}
    assert endpoints(page, location("https://binconv.example/"), config)["websocketUrl"] == (
        "wss://binconv.example/ws"
    )
    assert endpoints(page, location("http://127.0.0.1:8080/"), config)["websocketUrl"] == (
        "ws://127.0.0.1:8080/ws"
    )


def test_query_parameters_may_point_at_the_pages_own_origin(page: Page) -> None:
    here = location("http://127.0.0.1:8080/?ws=ws%3A%2F%2F127.0.0.1%3A8080%2Fws&graphql=%2Fq")
    assert endpoints(page, here, {}) == {
        "graphqlUrl": "http://127.0.0.1:8080/q",
        "websocketUrl": "ws://127.0.0.1:8080/ws",
        "ignored": [],
    }


def test_query_parameters_may_not_point_at_another_site(page: Page) -> None:
    evil = "?ws=wss%3A%2F%2Fevil.example%2Fws&graphql=https%3A%2F%2Fevil.example%2Fquery"
    for href in (
        f"https://binconv.example/{evil}",
        "https://binconv.example/?ws=%2F%2Fevil.example%2Fws&graphql=%2F%2Fevil.example%2Fq",
        # Another port of the same host is another origin too.
        "http://127.0.0.1:8080/?ws=ws%3A%2F%2F127.0.0.1%3A9%2Fws&graphql=http%3A%2F%2F127.0.0.1%3A9%2Fq",
    ):
        here = location(href)
        origin = href.split("/?", 1)[0]
        host = here["hostname"]
        assert endpoints(page, here, {}) == {
            "graphqlUrl": f"{origin}/query",
            "websocketUrl": f"{'wss' if origin.startswith('https') else 'ws'}://{host}:8082/ws",
            "ignored": ["graphql", "ws"],
        }, href


def test_query_parameters_may_point_where_the_operator_allows(page: Page) -> None:
    config = {"allowedEndpoints": ["https://staging.example", "ws://127.0.0.1:9/ws"]}
    here = location(
        "http://127.0.0.1:8080/?ws=ws%3A%2F%2F127.0.0.1%3A9%2Fws"
        "&graphql=https%3A%2F%2Fstaging.example%2Fapi%2Fquery"
    )
    assert endpoints(page, here, config) == {
        "graphqlUrl": "https://staging.example/api/query",
        "websocketUrl": "ws://127.0.0.1:9/ws",
        "ignored": [],
    }
    # An allowed URL with a path allows that URL, not its whole origin.
    other_path = location("http://127.0.0.1:8080/?ws=ws%3A%2F%2F127.0.0.1%3A9%2Fother")
    assert endpoints(page, other_path, config)["ignored"] == ["ws"]


def test_an_override_of_the_wrong_scheme_is_ignored(page: Page) -> None:
    here = location("http://127.0.0.1:8080/?ws=javascript%3Aalert(1)&graphql=data%3A,x")
    assert endpoints(page, here, {}) == {
        "graphqlUrl": "http://127.0.0.1:8080/query",
        "websocketUrl": "ws://127.0.0.1:8082/ws",
        "ignored": ["graphql", "ws"],
    }


def test_validation_errors_are_told_per_message_in_plain_words(page: Page) -> None:
    server_says = (
        "messages[1]: message is empty or only whitespace; "
        "messages[3]: message is 70000 bytes of UTF-8, over the limit of 65536"
    )
    assert explain(page, server_says, "BAD_USER_INPUT") == {
        "summary": "2 messages need a fix before sending.",
        "fields": {
            "1": "is empty. Type some text (spaces alone don't count).",
            "3": "is too long: 68.4 KiB where at most 64 KiB fit. Split it into shorter messages.",
        },
    }


def test_a_refusal_of_the_whole_request_is_a_sentence(page: Page) -> None:
    explained = explain(page, "too many messages: at most 1000 per request", "BAD_USER_INPUT")
    assert explained == {
        "summary": "Too many messages: send at most 1,000 at a time.",
        "fields": {},
    }


def test_an_unavailable_service_asks_to_retry_and_says_the_text_is_kept(page: Page) -> None:
    explained = explain(page, "task service unavailable, retry", "UNAVAILABLE")
    assert "try again" in explained["summary"]
    assert "still here" in explained["summary"]


def test_a_caller_over_its_rate_is_told_how_long_to_wait(page: Page) -> None:
    said = "too many tasks: over this caller's limit, retry later"
    explained = explain(page, said, "RATE_LIMITED", retryAfter=4)
    assert explained["summary"] == (
        "You are sending requests faster than this site allows: try again in 4 seconds."
        " Your messages are still here."
    )
    assert "try again in 1 second." in explain_load(page, said, "RATE_LIMITED", retryAfter=1)


def test_a_refused_token_is_told_as_missing_expired_or_not_accepted(page: Page) -> None:
    missing = "authentication required: send the header Authorization: Bearer <token>"
    assert explain_load(page, missing, "UNAUTHENTICATED", status=401) == (
        "This site needs an access token to show your tasks."
    )
    assert explain_load(page, "the token has expired", "UNAUTHENTICATED", status=401) == (
        "Your access token has expired."
    )
    forged = "the token's signature is invalid"
    assert explain(page, forged, "UNAUTHENTICATED", status=401)["summary"] == (
        "Your access token was not accepted (the token's signature is invalid)."
        " Your messages are still here."
    )


def test_bits_group_by_byte(page: Page) -> None:
    grouped = page.evaluate(
        "async () => (await import('/js/dom.js')).groupBits('010010000110100101')"
    )
    assert grouped == "01001000 01101001 01"


LIVE_WITH_A_FAKE_SOCKET = """async ([token, closeCode]) => {
    const opened = [];
    class FakeSocket extends EventTarget {
        constructor(url, protocols) {
            super();
            opened.push({ url, protocols: protocols ?? null });
            setTimeout(() => {
                this.dispatchEvent(new Event("open"));
                const closed = new Event("close");
                Object.assign(closed, { code: closeCode, reason: "why" });
                this.dispatchEvent(closed);
            }, 0);
        }
        close() {}
    }
    window.WebSocket = FakeSocket;
    const { LiveConnection } = await import('/js/live.js');
    const live = new LiveConnection("ws://127.0.0.1:9/ws", { token: () => token });
    const closes = [];
    live.addEventListener("closed", ({ detail }) => closes.push(detail));
    live.start();
    await new Promise((resolve) => setTimeout(resolve, 1500));  // past the first retry
    live.stop();
    return { opened, closes, state: live.state };
}"""


def test_the_live_connection_offers_the_token_as_a_subprotocol_only_in_auth_mode(
    page: Page,
) -> None:
    with_token = page.evaluate(LIVE_WITH_A_FAKE_SOCKET, ["tok.en.x", 1000])
    assert with_token["opened"][0] == {
        "url": "ws://127.0.0.1:9/ws",
        "protocols": ["binconv.v1", "bearer.tok.en.x"],
    }
    page.reload()
    without = page.evaluate(LIVE_WITH_A_FAKE_SOCKET, [None, 1000])
    assert without["opened"][0]["protocols"] is None
    assert len(without["opened"]) >= 2, "a normal close is retried"


@pytest.mark.parametrize("code", [4401, 1008])
def test_an_expired_token_or_the_callers_cap_stops_the_retries(page: Page, code: int) -> None:
    seen = page.evaluate(LIVE_WITH_A_FAKE_SOCKET, ["tok.en.x", code])

    assert len(seen["opened"]) == 1
    assert [(c["code"], c["reason"], c["opened"], c["token"]) for c in seen["closes"]] == [
        (code, "why", True, "tok.en.x")
    ]
