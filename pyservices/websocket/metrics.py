from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CLIENTS = Gauge("binconv_websocket_clients", "Connected WebSocket clients")
FRAMES_PUSHED = Counter("binconv_websocket_frames_pushed_total", "Frames written to clients")
FRAMES_DROPPED = Counter(
    "binconv_websocket_frames_dropped_total", "Frames not delivered because a buffer was full"
)
DISCONNECTS = Counter(
    "binconv_websocket_disconnects_total", "Client connections ended, by reason", ["reason"]
)
END_TO_END_SECONDS = Histogram(
    "binconv_end_to_end_seconds",
    "From the task's creation to its result being pushed to the clients",
    buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MALFORMED_EVENTS = Counter(
    "binconv_websocket_malformed_events_total", "Broker messages that were not a TaskProcessed"
)
OWNERS_FOLLOWED = Gauge(
    "binconv_websocket_owners_followed",
    "Owners whose results this process receives (access control on: one binding each)",
)
REFUSED = Counter(
    "binconv_websocket_refused_total", "Connections refused at the handshake, by reason", ["reason"]
)
SUBSCRIPTIONS = Gauge(
    "binconv_websocket_subscriptions",
    "Open GraphQL subscriptions (taskProcessed on /graphql), all connections together",
)
