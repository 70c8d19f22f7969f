"""`python -m devstack up` (`just up`): the whole system on this machine, one command.

PostgreSQL and RabbitMQ run as the project's own processes (data under `.stack/`,
loopback only) unless DATABASE_URL / RABBITMQ_URL point elsewhere; the schema is
migrated; honcho runs the five services from the Procfile and stops them all on
Ctrl-C or SIGTERM, or as soon as one of them exits.

`up --traces` also runs the trace receiver and viewer (devstack/traces.py) and points
the services at it; `traces` runs only those, for a stack started some other way. The
services inherit this process's environment, so an OTEL_EXPORTER_OTLP_ENDPOINT set
before `just up` reaches them as well (docs/tracing.md).
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
    POSTGRES_PORT,
    RABBITMQ_PORT,
    SERVICES,
    STATE_DIR,
    Ports,
    procfile_commands,
    service_environment,
    wait_healthy,
)
from devstack.traces import OTLP_PORT, SPANS_FILE, VIEWER_PORT, TraceReceiver, add_arguments, serve
from pyservices.common.migrations import migrate

OTLP_RECEIVER_PORT = int(os.environ.get("STACK_OTLP_PORT", str(OTLP_PORT)))
TRACE_VIEWER_PORT = int(os.environ.get("STACK_TRACE_VIEWER_PORT", str(VIEWER_PORT)))
# Spans leave a service this often (the SDK's default is 5 s): a trace appears at once.
TRACES_SCHEDULE_DELAY_MS = "200"


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


def start_traces(stack: ExitStack) -> TraceReceiver:
    """The trace receiver and viewer (devstack/traces.py), running."""
    try:
        receiver = TraceReceiver(OTLP_RECEIVER_PORT, TRACE_VIEWER_PORT, SPANS_FILE)
    except OSError as exc:
        raise SystemExit(
            f"cannot receive traces on ports {OTLP_RECEIVER_PORT} and {TRACE_VIEWER_PORT} "
            f"({exc.strerror}): if `just traces` runs already, use "
            f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{OTLP_RECEIVER_PORT} just up instead"
            "; or set STACK_OTLP_PORT and STACK_TRACE_VIEWER_PORT"
        ) from exc
    receiver.store.load()
    stack.callback(receiver.start().stop)
    say(f"receiving traces on {receiver.otlp_endpoint} (spans in {SPANS_FILE.relative_to(REPO)})")
    return receiver


def exporting_to(receiver: TraceReceiver) -> dict[str, str]:
    """The services' settings that send their spans to `receiver` soon after they end."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.otlp_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": TRACES_SCHEDULE_DELAY_MS,
    }


def environment_of(
    service: str, ports: Ports, database_url: str, rabbitmq_url: str, tracing: dict[str, str]
) -> dict[str, str]:
    """One service's environment: this process's (so OTEL_EXPORTER_OTLP_ENDPOINT or a
    sampler exported before `just up` reaches every service), then --traces' settings,
    then the stack's own."""
    return {
        **os.environ,
        **tracing,
        **service_environment(service, ports, database_url, rabbitmq_url),
    }


def announce_when_healthy(ports: Ports, traces_url: str | None) -> None:
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
    if traces_url is not None:
        say(f"  traces        {traces_url}")
    say("Ctrl-C stops everything")


def up(traces: bool = False) -> int:
    ports = Ports()
    with ExitStack() as stack:
        receiver = start_traces(stack) if traces else None
        tracing = {} if receiver is None else exporting_to(receiver)
        database_url, rabbitmq_url = start_infrastructure(stack)
        say("migrating the database")
        migrate(database_url)
        manager = Manager()
        for name, command in procfile_commands().items():
            # The Procfile says `python`: run the services with this interpreter.
            command = command.replace("python ", f"{sys.executable} ", 1)
            env = environment_of(name, ports, database_url, rabbitmq_url, tracing)
            manager.add_process(name, command, env=env, cwd=str(REPO))
        traces_url = None if receiver is None else receiver.viewer_url
        threading.Thread(
            target=announce_when_healthy, args=(ports, traces_url), daemon=True
        ).start()
        manager.loop()
        return manager.returncode or 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    up_command = commands.add_parser("up", help="start everything, Ctrl-C stops")
    up_command.add_argument(
        "--traces",
        action="store_true",
        help=f"also receive the services' traces and show them on port {VIEWER_PORT}",
    )
    traces_command = commands.add_parser(
        "traces", help=f"only the OTLP receiver (port {OTLP_PORT}) and the trace viewer"
    )
    add_arguments(traces_command)
    args = parser.parse_args()
    if args.command == "traces":
        serve(args.otlp_port, args.viewer_port, args.file)
        return
    sys.exit(up(traces=args.traces))


if __name__ == "__main__":
    main()
