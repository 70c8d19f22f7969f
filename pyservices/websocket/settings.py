from __future__ import annotations

from pyservices.common.settings import BrokerSettings, CommonSettings


class WebSocketSettings(CommonSettings, BrokerSettings):
    websocket_port: int = 8082
    # Comma-separated exact origins; "*" allows any. A missing Origin header (a client
    # that is not a browser) is always allowed.
    allowed_origins: str = "*"
    # Frames buffered per client before it counts as too slow and is disconnected.
    websocket_client_buffer: int = 1000
    websocket_prefetch: int = 1000
    # This process's queue outlives a broker restart; once the process is gone for this
    # long (crashed, never deleted it), the broker deletes the queue.
    websocket_queue_expires_seconds: float = 60.0

    @property
    def allowed_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.allowed_origins.split(",") if o.strip())
