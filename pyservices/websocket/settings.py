from __future__ import annotations

from pydantic import Field

from pyservices.common.auth import AuthSettings
from pyservices.common.settings import BrokerSettings, CommonSettings, TaskServiceAddress

MiB = 1024 * 1024


class WebSocketSettings(CommonSettings, BrokerSettings, AuthSettings, TaskServiceAddress):
    websocket_port: int = 8082
    # When set, /metrics (and /health) are served on this port and /metrics no longer on
    # the public one, so an Ingress routing WEBSOCKET_PORT cannot expose them.
    metrics_port: int | None = None
    # Seconds an idle HTTP connection is kept open: longer than a proxy in front keeps
    # one (ingress-nginx and most load balancers 60 s), as the gateway's; uvicorn's 5 s
    # closes connections the proxy is about to reuse (a 502 behind it).
    http_keep_alive_seconds: int = 75
    # How long open requests may finish after SIGTERM before they are cut.
    shutdown_grace_seconds: float = 5.0
    # Comma-separated exact origins; "*" allows any. A missing Origin header (a client
    # that is not a browser) is always allowed.
    allowed_origins: str = "*"
    # What one client may have waiting (offered, not yet sent) before it counts as too
    # slow and is disconnected (close code 4000): at most this many frames AND this
    # many bytes. Frames alone are no bound: a result can be 512 KiB (a 64 KiB message,
    # eight binary digits a byte), and 1000 of them would be 500 MiB for one client.
    # Every client is handed the same frame objects and each buffer is a suffix of one
    # stream, so together they hold about one budget of frames, not one per client
    # (beyond that, each connection holds what its socket is writing).
    websocket_client_buffer: int = Field(default=1000, gt=0)
    websocket_client_buffer_bytes: int = Field(default=16 * MiB, gt=0)
    # Deliveries the broker may push before they are acknowledged. RabbitMQ counts
    # them only in messages (it refuses basic.qos prefetch-size: NOT_IMPLEMENTED), so
    # in bytes this is up to prefetch x 512 KiB: 64 is 32 MiB at worst, where 1000 was
    # 500 MiB, the pod's whole memory limit. Each is acknowledged as soon as it is in
    # the clients' buffers, so a wider window buys little: draining a backlog of
    # 512 KiB results on loopback, 64 kept up with 1000 (400-750 a second), 32 did not.
    websocket_prefetch: int = Field(default=64, gt=0)
    # This process's queue outlives a broker restart; once the process is gone for this
    # long (crashed, never deleted it), the broker deletes the queue.
    websocket_queue_expires_seconds: float = 60.0
    # What that queue holds at most (the oldest results go first): enough to ride out a
    # reconnect, not a store. 64 MiB is four client budgets: a longer backlog replayed
    # at once would mostly get the clients dropped as too slow anyway, while the broker
    # pays for it per replica, and for a crashed one until the queue expires.
    websocket_queue_max_length: int = Field(default=100_000, gt=0)
    websocket_queue_max_bytes: int = Field(default=64 * MiB, gt=0)
    # Connections one caller may hold at once (its token's sub; its address in open
    # mode, where behind a proxy every client has the proxy's), and this process in
    # all. Over either, the extra connection is closed (1008 / 1013) and the rest kept.
    # Per process: with N replicas a caller may hold up to N times as many.
    websocket_max_connections_per_caller: int = Field(default=256, gt=0)
    websocket_max_connections: int = Field(default=10_000, gt=0)

    # GraphQL subscriptions on /graphql (docs/subscriptions.md). Each connection counts
    # once against the caps above, however many subscriptions it carries, up to this.
    graphql_max_subscriptions_per_connection: int = Field(default=100, gt=0)
    # The gateway's setting of the same name: the schema may be introspected.
    graphql_introspection: bool = True
    # A subscription with ids asks the task service (TASK_SERVICE_ADDR) which of them
    # are processed already: this many at a time, each within this many seconds.
    task_lookup_concurrency: int = Field(default=16, gt=0)
    task_lookup_timeout_seconds: float = Field(default=5.0, gt=0)

    @property
    def allowed_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.allowed_origins.split(",") if o.strip())
