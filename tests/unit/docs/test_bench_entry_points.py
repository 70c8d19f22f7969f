"""Every benchmark module imports as the first bench module of a process, as `python -m`
runs it: the bench modules import each other (the README renderer imports every
report), and a cycle breaks only the entry point that happens to be imported first
(`python -m bench.peers` did, while `python -m bench.tracing` worked)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for path in (ROOT / "bench").rglob("*.py")
    if path.name != "__main__.py"  # these run the benchmark
)


def _forget_bench() -> None:
    for name in [name for name in sys.modules if name == "bench" or name.startswith("bench.")]:
        del sys.modules[name]


def test_every_bench_module_imports_first() -> None:
    assert "bench.peers.runner" in MODULES and "bench.readme" in MODULES
    saved = {name: module for name, module in sys.modules.items() if name.startswith("bench")}
    failures = {}
    try:
        for module in MODULES:
            _forget_bench()
            try:
                importlib.import_module(module)
            except ImportError as error:
                failures[module] = str(error)
    finally:
        _forget_bench()
        sys.modules.update(saved)
    assert not failures
