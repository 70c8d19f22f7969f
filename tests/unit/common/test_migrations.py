"""A failed migration says why, without the database password."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyservices.common.migrations import MigrationFailed, migrate


def test_a_failed_migration_carries_what_dbmate_said_without_the_password(
    tmp_path: Path,
) -> None:
    (tmp_path / "20260101000000_nothing.sql").write_text("-- migrate:up\n-- migrate:down\n")
    url = "postgresql://binconv:s3cret-pw@127.0.0.1:1/binconv?sslmode=disable"

    with pytest.raises(MigrationFailed) as raised:
        migrate(url, tmp_path, wait=False)

    message = str(raised.value)
    assert message.startswith("dbmate up exited with ")
    assert "connect" in message.lower()  # dbmate's own words: nothing listens on port 1
    assert "s3cret-pw" not in message
