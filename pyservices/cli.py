"""`binconv-service NAME`: the one entry point of the container image.

`binconv-service gateway` (or task_service, publisher, worker, websocket) runs that
service's `main()`; `binconv-service migrate` applies the SQL migrations (the
directory comes from MIGRATIONS_DIR). Two small helpers serve the orchestrators, since
the slim image has no curl: `probe URL` exits 0 only when the URL answers 200 (compose
healthchecks), and `wait-migrated` blocks until no migration is pending (an init
container, so a service never starts against a schema the migration Job has not made).
`token --sub NAME` mints a local HS256 token from AUTH_JWT_SECRET, to try auth mode.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

SERVICES = ("task_service", "publisher", "worker", "websocket", "gateway")


def run_service(name: str) -> None:
    importlib.import_module(f"pyservices.{name}.main").main()


def migrate() -> None:
    from pyservices.common import migrations

    migrations.main()


def probe(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


def wait_migrated(timeout: float) -> int:
    """Wait until dbmate reports no pending migration (exit 0), or give up."""
    from pyservices.common.migrations import DEFAULT_DIR, dbmate_binary

    database_url = os.environ.get("DATABASE_URL", "postgresql://binconv@127.0.0.1:5432/binconv")
    command = [
        dbmate_binary(),
        "--url",
        database_url,
        "--migrations-dir",
        os.environ.get("MIGRATIONS_DIR", str(DEFAULT_DIR)),
        "--no-dump-schema",
        "status",
        "--exit-code",
        "--quiet",
    ]
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return 0
        if time.monotonic() >= deadline:
            print(f"migrations still pending after {timeout} s: {done.stderr.strip()}")
            return 1
        time.sleep(2)  # an external process's state: nothing to await but a poll


def token(sub: str, expires_in: float) -> int:
    """Print an HS256 token for `sub`, signed with AUTH_JWT_SECRET (with AUTH_ISSUER and
    AUTH_AUDIENCE as its iss and aud when they are set)."""
    from pyservices.common.auth import AuthSettings, mint

    try:
        settings = AuthSettings()
    except ValueError as exc:
        print(f"token: {exc}", file=sys.stderr)
        return 2
    if settings.auth_jwt_secret is None:
        print("token: set AUTH_JWT_SECRET to the gateway's secret", file=sys.stderr)
        return 2
    secret = settings.auth_jwt_secret.get_secret_value()
    issuer, audience = settings.auth_issuer, settings.auth_audience
    print(mint(secret, sub, expires_in, issuer=issuer, audience=audience))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="binconv-service", description=__doc__.split("\n")[0])
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SERVICES:
        commands.add_parser(name, help=f"run the {name} service")
    commands.add_parser("migrate", help="apply pending SQL migrations to DATABASE_URL")
    waiting = commands.add_parser("wait-migrated", help="block until no migration is pending")
    waiting.add_argument("--timeout", type=float, default=300.0)
    probing = commands.add_parser("probe", help="exit 0 when URL answers HTTP 200")
    probing.add_argument("url")
    probing.add_argument("--timeout", type=float, default=3.0)
    minting = commands.add_parser("token", help="print a local HS256 token (AUTH_JWT_SECRET)")
    minting.add_argument("--sub", required=True, help="the caller's name, owner of its tasks")
    minting.add_argument("--expires-in", type=float, default=3600.0, help="seconds (1 h)")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in SERVICES:
        run_service(args.command)
    elif args.command == "migrate":
        migrate()
    elif args.command == "wait-migrated":
        return wait_migrated(args.timeout)
    elif args.command == "probe":
        return probe(args.url, args.timeout)
    elif args.command == "token":
        return token(args.sub, args.expires_in)
    return 0


if __name__ == "__main__":
    sys.exit(main())
