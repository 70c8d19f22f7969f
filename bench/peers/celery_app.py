"""Celery's side of the peer benchmark: the app both its worker and its clients use.

The worker runs `celery -A bench.peers.celery_app worker` with PEERS_BROKER_URL and
PEERS_RESULT_BACKEND set; a client builds its own app with `make_app`.
"""

from __future__ import annotations

import os

from celery import Celery

import binconv

TASK = "peers.convert"


def make_app(broker_url: str, result_backend: str) -> Celery:
    app = Celery("peers", broker=broker_url, backend=result_backend)
    # Celery's defaults otherwise (early acks, prefetch 4 per process, no publisher
    # confirms): the configuration a user starts from.
    app.conf.update(
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
    )

    @app.task(name=TASK)  # type: ignore[untyped-decorator]
    def convert(message: str) -> str:
        return binconv.encode(message)

    return app


app = make_app(
    os.environ.get("PEERS_BROKER_URL", "amqp://"), os.environ.get("PEERS_RESULT_BACKEND", "rpc://")
)
