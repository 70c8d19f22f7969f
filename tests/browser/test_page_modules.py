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


def endpoints(page: Page, location: dict[str, str], config: dict[str, str]) -> Any:
    return page.evaluate(
        "async ([location, config]) =>"
        " (await import('/js/endpoints.js')).endpoints(location, config)",
        [location, config],
    )


def explain(page: Page, message: str, code: str) -> Any:
    return page.evaluate(
        """async ([message, code]) => {
            const { explainSendError } = await import('/js/errors.js');
            const { summary, fields } = explainSendError({ message, code });
            return { summary, fields: Object.fromEntries(fields) };
        }""",
        [message, code],
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
    }
    assert endpoints(page, location("http://10.0.0.5:8080/"), {}) == {
        "graphqlUrl": "http://10.0.0.5:8080/query",
        "websocketUrl": "ws://10.0.0.5:8082/ws",
    }


def test_configuration_overrides_the_location_and_query_parameters_override_both(
    page: Page,
) -> None:
    config = {"graphqlUrl": "/api/query", "websocketUrl": "wss://push.example/ws"}
    assert endpoints(page, location("https://binconv.example/"), config) == {
        "graphqlUrl": "https://binconv.example/api/query",
        "websocketUrl": "wss://push.example/ws",
    }
    here = location("http://127.0.0.1:8080/?ws=ws%3A%2F%2F127.0.0.1%3A9%2Fws&graphql=%2Fq")
    assert endpoints(page, here, config) == {
        "graphqlUrl": "http://127.0.0.1:8080/q",
        "websocketUrl": "ws://127.0.0.1:9/ws",
    }


def test_an_override_of_the_wrong_scheme_is_ignored(page: Page) -> None:
    here = location("http://127.0.0.1:8080/?ws=javascript%3Aalert(1)&graphql=data%3A,x")
    assert endpoints(page, here, {}) == {
        "graphqlUrl": "http://127.0.0.1:8080/query",
        "websocketUrl": "ws://127.0.0.1:8082/ws",
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


def test_bits_group_by_byte(page: Page) -> None:
    grouped = page.evaluate(
        "async () => (await import('/js/dom.js')).groupBits('010010000110100101')"
    )
    assert grouped == "01001000 01101001 01"
