"""A grpc.aio server interceptor that counts calls and times them, streams included.

py-grpc-prometheus only knows the synchronous server, hence this small one. The
status code is read from the call's context after the handler ran (set by
`context.abort` or `set_code`); a handler that raised is UNKNOWN, a call the client
abandoned is CANCELLED.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from pyservices.task_service.metrics import GRPC_REQUEST_SECONDS, GRPC_REQUESTS

_WRAP = {
    "unary_unary": grpc.unary_unary_rpc_method_handler,
    "unary_stream": grpc.unary_stream_rpc_method_handler,
    "stream_unary": grpc.stream_unary_rpc_method_handler,
    "stream_stream": grpc.stream_stream_rpc_method_handler,
}


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED itself
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        for kind, make_handler in _WRAP.items():
            behavior = getattr(handler, kind)
            if behavior is None:
                continue
            measured = _measure_stream if kind.endswith("_stream") else _measure_unary
            return make_handler(
                measured(behavior, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _measure_unary(behavior: Callable[..., Awaitable[Any]], method: str) -> Any:
    async def measured(request: Any, context: Any) -> Any:
        started = time.perf_counter()
        outcome = "OK"
        try:
            return await behavior(request, context)
        except asyncio.CancelledError:
            outcome = "CANCELLED"
            raise
        except BaseException:
            outcome = "UNKNOWN"
            raise
        finally:
            _observe(method, context, outcome, started)

    return measured


def _measure_stream(behavior: Callable[..., AsyncIterator[Any]], method: str) -> Any:
    async def measured(request: Any, context: Any) -> AsyncIterator[Any]:
        started = time.perf_counter()
        outcome = "OK"
        try:
            async for response in behavior(request, context):
                yield response
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "CANCELLED"
            raise
        except BaseException:
            outcome = "UNKNOWN"
            raise
        finally:
            _observe(method, context, outcome, started)

    return measured


def _observe(method: str, context: Any, outcome: str, started: float) -> None:
    code = context.code()
    # An abort sets the code before it raises; prefer it to our guess from the exception.
    name = code.name if isinstance(code, grpc.StatusCode) else outcome
    GRPC_REQUESTS.labels(method=method, code=name).inc()
    GRPC_REQUEST_SECONDS.labels(method=method).observe(time.perf_counter() - started)
