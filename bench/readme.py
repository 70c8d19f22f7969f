"""Copies the generated benchmark tables (docs/bench-*.md) into README.md between
`<!-- name:start -->` and `<!-- name:end -->` markers, so the README never drifts from
the saved results. `just readme` runs it; the benchmarks regenerate the fragments.
Some tables are rendered here straight from their saved JSON (bench/results/*.json)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import big_report

ROOT = Path(__file__).resolve().parents[1]
FRAGMENTS = {
    "bench-kernel": "docs/bench-kernel.md",
    "bench-e2e": "docs/bench-e2e.md",
    "bench-scaling": "docs/bench-scaling.md",
    "bench-soak": "docs/bench-soak.md",
    "reliability": "docs/reliability.md",
}
RESULTS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "bench-big": ("bench/results/big.json", big_report.markdown),
}


def render(readme: str) -> str:
    for name, path in FRAGMENTS.items():
        fragment = ROOT / path
        if not fragment.exists():
            continue
        readme = _fill(readme, name, fragment.read_text().strip())
    for name, (path, markdown) in RESULTS.items():
        results = ROOT / path
        if not results.exists():
            continue
        readme = _fill(readme, name, markdown(json.loads(results.read_text())).strip())
    return readme


def _fill(readme: str, name: str, text: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    return pattern.sub(rf"\g<1>{_escape(text)}\n\g<2>", readme)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\")


def main() -> None:
    path = ROOT / "README.md"
    path.write_text(render(path.read_text()))


if __name__ == "__main__":
    main()
