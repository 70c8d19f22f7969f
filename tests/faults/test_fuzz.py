"""Random `messages` at sendTask against the running five-process stack.

The invariant: a request is either accepted, and then every message is stored exactly
(it reads back the same through `tasks` and `task(id)`) and converted exactly (the
WebSocket frame carries binconv.reference.encode(message)); or it is refused with a
clear GraphQL error and stores nothing. Never a 500, never part of a request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from binconv import reference
from pyservices.task_service.settings import TaskServiceSettings
from tests.support.client import SEND_TASK, ResultFeed, result_feed
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.faults

MAX_MESSAGES: int = TaskServiceSettings.model_fields["max_messages"].default
MAX_MESSAGE_BYTES: int = TaskServiceSettings.model_fields["max_message_bytes"].default
IDS = "query($o: Int) { tasks(limit: 1000, offset: $o) { id } }"
NEWEST = "query($l: Int) { tasks(limit: $l) { id message } }"
ONE = "query($id: String!) { task(id: $id) { id message } }"


def refusal_expected(value: object) -> str | None:
    """Why the contract refuses `messages` = value, or None if it must be accepted.

    Written from the rules as documented, not from the services' code: GraphQL coerces
    a lone string to a list of one; the task service takes 1..1000 messages, each
    neither empty nor only whitespace, without NUL (PostgreSQL text cannot hold it),
    valid Unicode (no lone surrogate), at most 64 KiB of UTF-8, and never trims them.
    "Whitespace" is Unicode's White_Space property (not str.isspace, which counts the
    control characters U+001C..U+001F as well).
    """
    messages = [value] if isinstance(value, str) else value
    if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
        return "not a list of strings"
    if not 1 <= len(messages) <= MAX_MESSAGES:
        return "message count"
    for message in messages:
        if all(c.isspace() and c not in "\x1c\x1d\x1e\x1f" for c in message):
            return "blank"
        if "\x00" in message:
            return "NUL"
        try:
            size = len(message.encode("utf-8"))
        except UnicodeEncodeError:
            return "lone surrogate"
        if size > MAX_MESSAGE_BYTES:
            return "too long"
    return None


# Every code point, surrogates included; and pieces that hit the rules more often.
any_char = st.characters(exclude_categories=())
TRICKY_PIECES = (
    *("\x00", "\ud800", "\udfff", " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f"),
    *("\x85", "\xa0", "\u2028", "\u3000", "\u200b", "\ufeff", "\ufffe", "\uffff", "\U0010ffff"),
    *("a", "é", "e\u0301", "🦀", "👩\u200d💻", '"', "\\", "<script>", "'; DROP TABLE tasks;--"),
)


# Unicode white space, the separators U+001C..U+001F (which str.isspace counts too) and
# invisible characters that are not whitespace (U+200B, U+180E, U+FEFF).
SPACE_LIKE = " \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2003\u2028\u3000\u200b\u180e\ufeff"


def near_the_limit(char: str, delta: int) -> str:
    """`char` repeated to about MAX_MESSAGE_BYTES of UTF-8, `delta` characters off."""
    width = len(char.encode("utf-8"))
    return char * (MAX_MESSAGE_BYTES // width + delta)


texts = st.one_of(
    st.text(any_char, max_size=40),
    st.lists(st.sampled_from(TRICKY_PIECES), max_size=12).map("".join),
    st.text(st.sampled_from(SPACE_LIKE), min_size=1, max_size=6),
    st.builds(near_the_limit, st.sampled_from(["x", "é", "€", "🦀", " "]), st.integers(-1, 1)),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
# Texts that keep every rule but the blank one, so that many requests get through.
storable_texts = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40
)
messages_values = st.one_of(
    st.lists(storable_texts, min_size=1, max_size=5),
    st.lists(texts, min_size=1, max_size=4),
    st.lists(texts, max_size=1),
    texts,
    json_values,
)


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
async def feed(stack: ServiceProcesses) -> AsyncIterator[ResultFeed]:
    async with result_feed(stack.ports.websocket_url) as opened:
        yield opened


async def query(http: httpx.AsyncClient, url: str, text: str, variables: dict[str, Any]) -> Any:
    response = await http.post(url, json={"query": text, "variables": variables})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


async def count_tasks(http: httpx.AsyncClient, url: str) -> int:
    counted = 0
    while page := (await query(http, url, IDS, {"o": counted}))["tasks"]:
        counted += len(page)
    return counted


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(value=messages_values)
@example(value=["x" * MAX_MESSAGE_BYTES])
@example(value=["x" * (MAX_MESSAGE_BYTES + 1)])
@example(value=["🦀" * (MAX_MESSAGE_BYTES // 4), "é" * (MAX_MESSAGE_BYTES // 2 + 1)])
@example(value=["a"] * MAX_MESSAGES)
@example(value=["a"] * (MAX_MESSAGES + 1))
@example(value=["ok", "\ud800"])
@example(value=["\ud800\udc00"])
@example(value=["ok", "a\x00b"])
@example(value=["  kept  ", "\t\n"])
@example(value="a lone string is a list of one")
@example(value=[])
@example(value=None)
async def test_send_task_stores_and_converts_exactly_or_refuses_and_stores_nothing(
    stack: ServiceProcesses, http: httpx.AsyncClient, feed: ResultFeed, value: object
) -> None:
    url = stack.ports.graphql_url
    before = await count_tasks(http, url)
    # json.dumps escapes lone surrogates as \ud800, which JSON allows; httpx's own
    # encoder would fail on them before sending.
    body = json.dumps({"query": SEND_TASK, "variables": {"m": value}}).encode()

    response = await http.post(url, content=body, headers={"content-type": "application/json"})
    # What the server reads: "\ud800\udc00" in JSON is one character (U+10000), though
    # the two halves were lone surrogates in the Python string that was sent.
    value = json.loads(body)["variables"]["m"]

    assert response.status_code < 500, response.text
    answer = response.json()
    reason = refusal_expected(value)
    event(f"expected: {reason or 'accepted'}")
    if answer.get("errors"):
        assert reason is not None, f"refused a valid request: {answer['errors']}"
        assert isinstance(answer["errors"][0]["message"], str) and answer["errors"][0]["message"]
        assert answer.get("data") is None
        assert await count_tasks(http, url) == before
        return
    assert reason is None, f"accepted a request that breaks a rule ({reason})"
    messages = [value] if isinstance(value, str) else value
    assert isinstance(messages, list)
    sent = answer["data"]["sendTask"]
    assert [task["message"] for task in sent] == messages
    assert await count_tasks(http, url) == before + len(messages)

    frames = await feed.wait_for({task["id"] for task in sent}, seconds=60)
    for task in sent:
        assert frames[task["id"]]["binaryCode"] == reference.encode(task["message"])
    newest = (await query(http, url, NEWEST, {"l": len(sent)}))["tasks"]
    assert newest == [{"id": t["id"], "message": t["message"]} for t in reversed(sent)]
    for task in sent[:3] + sent[3:][-2:]:
        found = (await query(http, url, ONE, {"id": task["id"]}))["task"]
        assert found == {"id": task["id"], "message": task["message"]}
