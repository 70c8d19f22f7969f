"""Settings shared by every service; each service subclasses `CommonSettings`.

Every value comes from an environment variable of the same name (upper case), with a
default that matches the local stack started by `just up`.
"""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    log_level: str = "INFO"
    # Bind address of every listening socket; 0.0.0.0 in containers.
    host: str = "127.0.0.1"
    # The asyncio event loop: uvloop's (faster per callback and socket write) or the
    # standard library's, to rule uvloop out when chasing a loop-level problem.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    database_url: str = "postgresql://binconv@127.0.0.1:5432/binconv"
    database_pool_min: int = 2
    database_pool_max: int = 10


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # How often a lost connection is tried again (aio-pika's default is 5 s).
    broker_reconnect_seconds: float = 1.0


class TaskServiceAddress(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    task_service_addr: str = "127.0.0.1:50051"
