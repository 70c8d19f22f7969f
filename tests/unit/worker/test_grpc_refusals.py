"""Which refusals of the result stream mean "this message can never fit"."""

from __future__ import annotations

import grpc
from grpc.aio import AioRpcError, Metadata

from pyservices.worker.adapters.grpc_client import _broken
from pyservices.worker.domain import ResultTooLarge, StreamBroken


def refusal(code: grpc.StatusCode, details: str) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details)


def test_grpcs_own_size_check_is_a_result_too_large() -> None:
    error = refusal(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "Received message larger than max (134083400 vs. 67108864)",
    )

    assert isinstance(_broken("receive failed", error), ResultTooLarge)


def test_other_exhaustion_is_an_ordinary_break_retried_as_such() -> None:
    for details in ("quota exceeded", "too_many_pings", ""):
        broken = _broken("receive failed", refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, details))

        assert isinstance(broken, StreamBroken) and not isinstance(broken, ResultTooLarge)
