"""Where a GraphQL connection's token is read from, and close reasons that fit a frame."""

from __future__ import annotations

import pytest

from pyservices.common.auth import AuthFailed
from pyservices.websocket.adapters.graphql_subscriptions import (
    MAX_CLOSE_REASON_BYTES,
    bearer_of,
    close_reason,
)


def test_the_token_of_connection_init_wins_over_the_header_whatever_the_keys_case() -> None:
    assert bearer_of({"Authorization": "Bearer from-init"}, "Bearer from-header") == "from-init"
    assert bearer_of({"authorization": "Bearer from-init"}, None) == "from-init"


def test_without_one_in_connection_init_the_header_is_read() -> None:
    assert bearer_of({"other": 1}, "Bearer from-header") == "from-header"


def test_no_bearer_token_anywhere_is_refused_saying_where_to_put_it() -> None:
    with pytest.raises(AuthFailed, match="connection_init"):
        bearer_of({}, None)
    with pytest.raises(AuthFailed):
        bearer_of({"authorization": "Basic eA=="}, None)


def test_a_long_reason_is_cut_to_what_a_close_frame_holds() -> None:
    reason = close_reason("é" * 200)
    assert len(reason.encode()) <= MAX_CLOSE_REASON_BYTES and reason.endswith("...")
    assert close_reason("short") == "short"
