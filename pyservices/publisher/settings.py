"""The relay's configuration, from environment variables of the same (upper-case) names."""

from __future__ import annotations

from pyservices.common.settings import BrokerSettings, CommonSettings, DatabaseSettings


class PublisherSettings(CommonSettings, DatabaseSettings, BrokerSettings):
    metrics_port: int = 9102
    outbox_batch_size: int = 500
    # Only a safety net: the relay wakes on NOTIFY, this bounds a missed notification.
    outbox_fallback_poll_seconds: float = 5.0
    # A broker that does not confirm within this time counts as a failed publish.
    publish_timeout_seconds: float = 10.0
    shutdown_grace_seconds: float = 10.0
    # Test-only: widens the window between the broker's confirm and the row's delete.
    relay_delay_after_publish_seconds: float = 0.0
