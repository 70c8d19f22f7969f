"""`binconv-service`, the image's entry point: it runs a service by name, migrates, and
gives orchestrators a health probe and a wait for the migration."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack.infra import LocalPostgres
from pyservices import cli
from pyservices.common.migrations import DEFAULT_DIR


def test_every_service_name_runs_that_service_main(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module(f"pyservices.{service}.main")
    ran: list[str] = []
    monkeypatch.setattr(module, "main", lambda: ran.append(service))
    assert cli.main([service]) == 0
    assert ran == [service]


def test_an_unknown_name_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["frontend"])
    assert exit_.value.code == 2


@pytest.fixture
def health_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_probe_succeeds_only_on_200(health_server: str) -> None:
    assert cli.main(["probe", f"{health_server}/health"]) == 0
    assert cli.main(["probe", f"{health_server}/down"]) == 1


def test_probe_fails_when_nothing_listens() -> None:
    assert cli.main(["probe", "http://127.0.0.1:9/health", "--timeout", "1"]) == 1


def test_the_console_script_is_installed_and_answers_help() -> None:
    script = Path(sys.executable).parent / "binconv-service"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "migrate" in done.stdout


@pytest.mark.integration
def test_migrate_reads_migrations_dir_and_wait_migrated_then_passes(
    postgres_server: LocalPostgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = postgres_server.create_database("cli_migrate")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MIGRATIONS_DIR", str(DEFAULT_DIR))
    assert cli.main(["wait-migrated", "--timeout", "0"]) == 1  # nothing applied yet
    assert cli.main(["migrate"]) == 0
    assert cli.main(["wait-migrated", "--timeout", "0"]) == 0


@pytest.mark.integration
def test_wait_migrated_reports_a_pending_migration(
    postgres_server: LocalPostgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = postgres_server.create_database("cli_pending")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MIGRATIONS_DIR", str(DEFAULT_DIR))
    assert cli.main(["migrate"]) == 0
    extra = tmp_path / "migrations"
    extra.mkdir()
    for existing in DEFAULT_DIR.glob("*.sql"):
        (extra / existing.name).write_text(existing.read_text())
    (extra / "29991231000000_later.sql").write_text(
        "-- migrate:up\nCREATE TABLE later (id int);\n-- migrate:down\nDROP TABLE later;\n"
    )
    monkeypatch.setenv("MIGRATIONS_DIR", str(extra))
    assert cli.main(["wait-migrated", "--timeout", "0"]) == 1
