"""Dramatiq's side of the peer benchmark: broker, result store and actor, built alike
for its worker (`dramatiq bench.peers.dramatiq_actors`, URLs from PEERS_BROKER_URL and
PEERS_REDIS_URL) and, by `build`, for its clients."""

from __future__ import annotations

import os
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend

import binconv


def _convert(message: str) -> str:
    return binconv.encode(message)


def build(broker_url: str, redis_url: str) -> tuple[RabbitmqBroker, RedisBackend, Any]:
    """The broker with the Redis result store, and the `convert` actor on it. Dramatiq's
    defaults otherwise: unconfirmed publishes, acks after the actor returns."""
    broker = RabbitmqBroker(url=broker_url)
    backend = RedisBackend(url=redis_url)  # type: ignore[no-untyped-call]
    broker.add_middleware(Results(backend=backend))  # type: ignore[no-untyped-call]
    actor = dramatiq.actor(actor_name="convert", broker=broker, store_results=True)(_convert)
    return broker, backend, actor


if "PEERS_BROKER_URL" in os.environ:  # the worker's import
    broker, _, convert = build(os.environ["PEERS_BROKER_URL"], os.environ["PEERS_REDIS_URL"])
    dramatiq.set_broker(broker)
