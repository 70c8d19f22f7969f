"""`python -m devstack up` (`just up`): the whole system on this machine, one command.

PostgreSQL and RabbitMQ run as the project's own processes (data under `.stack/`,
loopback only) unless DATABASE_URL / RABBITMQ_URL point elsewhere; the schema is
migrated; honcho runs the five services from the Procfile and stops them all on
Ctrl-C or SIGTERM, or as soon as one of them exits.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from contextlib import ExitStack

from honcho.manager import Manager

from devstack.infra import REPO, LocalPostgres, LocalRabbitMQ, LocalServer, running
from devstack.stack import (
    SERVICES,
    Ports,
    procfile_commands,
    service_environment,
    wait_healthy,
)
from pyservices.common.migrations import migrate

STATE_DIR = REPO / ".stack"
POSTGRES_PORT = int(os.environ.get("STACK_POSTGRES_PORT", "55432"))
RABBITMQ_PORT = int(os.environ.get("STACK_RABBITMQ_PORT", "55672"))


def say(message: str) -> None:
    print(f"\033[1m[stack]\033[0m {message}", flush=True)


def start_infrastructure(stack: ExitStack) -> tuple[str, str]:
    """PostgreSQL and RabbitMQ of our own, unless DATABASE_URL / RABBITMQ_URL name others."""
    database_url = os.environ.get("DATABASE_URL") or _own(
        stack, "PostgreSQL", LocalPostgres(STATE_DIR / "postgres", POSTGRES_PORT)
    )
    rabbitmq_url = os.environ.get("RABBITMQ_URL") or _own(
        stack, "RabbitMQ", LocalRabbitMQ(STATE_DIR / "rabbitmq", RABBITMQ_PORT)
    )
    return database_url, rabbitmq_url


def _own(stack: ExitStack, name: str, server: LocalServer) -> str:
    data = server.base_dir.relative_to(REPO)
    say(f"starting {name} on 127.0.0.1:{server.port} (data in {data})")
    return stack.enter_context(running(server)).url()


def announce_when_healthy(ports: Ports) -> None:
    try:
        for service in SERVICES:
            wait_healthy(ports.health_url(service), 120)
    except (TimeoutError, RuntimeError) as exc:
        say(f"not healthy: {exc}")
        return
    say("all five services are healthy")
    say(f"  web page      http://127.0.0.1:{ports.gateway}/")
    say(f"  GraphQL       {ports.graphql_url}")
    say(f"  WebSocket     {ports.websocket_url}")
    say("Ctrl-C stops everything")


def up() -> int:
    ports = Ports()
    with ExitStack() as stack:
        database_url, rabbitmq_url = start_infrastructure(stack)
        say("migrating the database")
        migrate(database_url)
        manager = Manager()
        for name, command in procfile_commands().items():
            # The Procfile says `python`: run the services with this interpreter.
            command = command.replace("python ", f"{sys.executable} ", 1)
            env = {**os.environ, **service_environment(name, ports, database_url, rabbitmq_url)}
            manager.add_process(name, command, env=env, cwd=str(REPO))
        threading.Thread(target=announce_when_healthy, args=(ports,), daemon=True).start()
        manager.loop()
        return manager.returncode or 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", choices=["up"], help="up: start everything, Ctrl-C stops")
    parser.parse_args()
    sys.exit(up())


if __name__ == "__main__":
    main()
