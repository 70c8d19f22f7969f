"""The README's reliability table, from the rows the fault suite saved.

Each case of the fault suite (tests/faults/test_*.py) writes its row to
artifacts/faults/<number>-<slug>.json;
this renders them into docs/reliability.md and keeps a copy in
bench/results/reliability.json. `just reliability` runs the suite, then this.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROWS = ROOT / "artifacts" / "faults"
CASES = 15


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| fault | tasks sent | accepted | refused (retryable) | processed | lost "
        "| duplicates delivered | time to recover |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        recovery = row["recovery_seconds"]
        lines.append(
            f"| {row['fault']} | {row['sent']:,} | {row['accepted']:,} | {row['refused']:,} "
            f"| {row['processed']:,} | {row['lost']} | {row['duplicates']} "
            f"| {'—' if recovery is None else f'{recovery:.1f} s'} |"
        )
    notes = "\n".join(f"{n}. {row['notes']}" for n, row in enumerate(rows, 1) if row["notes"])
    return (
        "\n".join(lines)
        + "\n\nWhat each case saw:\n\n"
        + notes
        + "\n\nReproducing: `just reliability` (the fault suite, `pytest -m faults`, on a "
        "2-core machine). Tasks are sent at 100 a second in batches of 5 while two WebSocket "
        "clients listen (case 3: 200 a second in batches of 10; case 8: 40 a second with "
        "202 clients; cases 9-12, at the documented maximum, add requests of 1,000 "
        "messages of 64 KiB to 10-20 short tasks a second, and their listeners keep only "
        "digests of the codes). *Processed* counts every task PostgreSQL holds, each checked: one "
        "`task.created` and one `task.processed` event, the right code, its result on every "
        "client. *Duplicates* are frames a client received twice (at-least-once delivery). "
        "*Time to recover* runs from the end of the fault until every task accepted by then, "
        "and the first one sent after it, had reached every client.\n"
    )


def main() -> None:
    paths = sorted(ROWS.glob("*.json"), key=lambda path: int(path.name.split("-")[0]))
    rows = [json.loads(path.read_text()) for path in paths]
    if len(rows) != CASES:
        sys.exit(f"{len(rows)} of {CASES} fault rows in {ROWS}: run the whole fault suite first")
    (ROOT / "bench" / "results" / "reliability.json").write_text(json.dumps(rows, indent=2) + "\n")
    (ROOT / "docs" / "reliability.md").write_text(render(rows))
    print(render(rows))


if __name__ == "__main__":
    main()
