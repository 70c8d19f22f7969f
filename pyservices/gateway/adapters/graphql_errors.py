"""Domain errors as GraphQL errors, and which errors a client may see unmasked."""

from __future__ import annotations

import math
from collections.abc import Iterable

import orjson
from graphql import GraphQLError
from starlette.types import Send

from pyservices.gateway.domain import (
    GatewayError,
    InvalidInput,
    RateLimited,
    TaskServiceUnavailable,
)

BAD_USER_INPUT = "BAD_USER_INPUT"
UNAVAILABLE = "UNAVAILABLE"
NOT_FOUND = "NOT_FOUND"
RATE_LIMITED = "RATE_LIMITED"
UNAUTHENTICATED = "UNAUTHENTICATED"


def retry_after_seconds(wait: float) -> int:
    """Whole seconds, at least 1: what `retryAfter` and the Retry-After header say."""
    return max(1, math.ceil(wait))


class ApiError(Exception):
    """An error meant for the client; graphql-core copies `extensions` onto the error."""

    def __init__(self, message: str, code: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, object] = {"code": code}
        if retryable:
            self.extensions["retryable"] = True


def to_api_error(error: GatewayError) -> ApiError:
    if isinstance(error, RateLimited):
        refusal = ApiError(str(error), RATE_LIMITED, retryable=True)
        refusal.extensions["retryAfter"] = retry_after_seconds(error.retry_after)
        return refusal
    if isinstance(error, TaskServiceUnavailable):
        return ApiError(str(error), UNAVAILABLE, retryable=True)
    if isinstance(error, InvalidInput):
        return ApiError(str(error), BAD_USER_INPUT)
    return ApiError(str(error), NOT_FOUND)


def should_mask_error(error: GraphQLError) -> bool:
    """Hide only unexpected exceptions raised while resolving.

    Syntax and validation errors (including the limiters') and variable coercion errors
    have no original exception, or a GraphQLError one: they describe the client's own
    request and are shown as they are.
    """
    original = error.original_error
    if original is None:
        return False
    return not isinstance(original, ApiError | GraphQLError)


def outcome_of(error: GraphQLError) -> str:
    """A bounded label for the metrics."""
    if isinstance(error.original_error, ApiError):
        code = error.original_error.extensions["code"]
        return str(code).lower()
    if error.path is None:
        return "invalid_request"
    return "error"


async def send_error_response(
    send: Send,
    status: int,
    message: str,
    code: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    extensions: dict[str, object] | None = None,
) -> None:
    """Answer an ASGI request before GraphQL runs, with a GraphQL `errors` body."""
    error = {"message": message, "extensions": {"code": code, **(extensions or {})}}
    body = orjson.dumps({"errors": [error]})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
