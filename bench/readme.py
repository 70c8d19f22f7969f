"""Copies the generated benchmark tables (docs/bench-*.md) into README.md between
`<!-- name:start -->` and `<!-- name:end -->` markers, so the README never drifts from
the saved results. `just readme` runs it; the benchmarks regenerate the fragments."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAGMENTS = {
    "bench-kernel": "docs/bench-kernel.md",
    "bench-e2e": "docs/bench-e2e.md",
    "bench-scaling": "docs/bench-scaling.md",
    "bench-soak": "docs/bench-soak.md",
    "reliability": "docs/reliability.md",
}


def render(readme: str) -> str:
    for name, path in FRAGMENTS.items():
        fragment = ROOT / path
        if not fragment.exists():
            continue
        text = fragment.read_text().strip()
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        readme = pattern.sub(rf"\g<1>{_escape(text)}\n\g<2>", readme)
    return readme


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\")


def main() -> None:
    path = ROOT / "README.md"
    path.write_text(render(path.read_text()))


if __name__ == "__main__":
    main()
