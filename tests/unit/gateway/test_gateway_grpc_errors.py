"""How the gateway reads the task service's gRPC refusals."""

from __future__ import annotations

import grpc
from grpc.aio import AioRpcError, Metadata

from pyservices.gateway.adapters.grpc_client import REPLY_TOO_LARGE, _translate
from pyservices.gateway.domain import InvalidInput, TaskServiceUnavailable


def refusal(code: grpc.StatusCode, details: str, **trailing: str) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(*trailing.items()), details)


def test_a_database_outage_behind_the_task_service_is_named() -> None:
    error = _translate(
        refusal(
            grpc.StatusCode.UNAVAILABLE,
            "database unavailable, retry",
            **{"binconv-unavailable": "database"},
        )
    )

    assert isinstance(error, TaskServiceUnavailable)
    assert str(error) == "database unavailable, retry"


def test_no_answer_at_all_is_the_task_service_and_hides_grpcs_details() -> None:
    error = _translate(
        refusal(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; ipv4:10.0.0.7")
    )

    assert str(error) == "task service unavailable, retry"


def test_an_unknown_part_is_not_echoed() -> None:
    error = _translate(
        refusal(grpc.StatusCode.DEADLINE_EXCEEDED, "", **{"binconv-unavailable": "<script>"})
    )

    assert str(error) == "task service unavailable, retry"


def test_an_invalid_argument_keeps_the_task_services_reason() -> None:
    error = _translate(refusal(grpc.StatusCode.INVALID_ARGUMENT, "messages[1]: message is empty"))

    assert isinstance(error, InvalidInput)
    assert str(error) == "messages[1]: message is empty"


def test_a_reply_over_the_receive_limit_says_how_to_ask_for_less() -> None:
    error = _translate(
        refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (9 vs. 8)"),
        REPLY_TOO_LARGE,
    )

    assert isinstance(error, InvalidInput)
    assert str(error) == (
        "the answer is larger than the gateway accepts from the task service: ask for fewer "
        "tasks (a smaller limit) and page with offset, or select fewer fields"
    )


def test_a_request_over_the_task_services_limit_keeps_grpcs_reason() -> None:
    error = _translate(refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max (9 vs. 8)"))

    assert isinstance(error, InvalidInput)
    assert str(error) == "larger than max (9 vs. 8)"


def test_a_system_over_its_backlog_says_so_and_is_retryable() -> None:
    reason = "the system is behind (120 events wait to be published, over the limit of 100)"
    error = _translate(
        refusal(grpc.StatusCode.UNAVAILABLE, reason, **{"binconv-unavailable": "backlog"})
    )

    assert isinstance(error, TaskServiceUnavailable)
    assert str(error) == reason
