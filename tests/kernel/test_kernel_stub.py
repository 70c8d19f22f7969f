"""The hand-written stub matches the compiled module, and the package is typed."""

from __future__ import annotations

import importlib.resources
import subprocess
import sys

import pytest


def test_stub_matches_the_compiled_module() -> None:
    pytest.importorskip("mypy.stubtest")
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "binconv._binconv"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_package_ships_py_typed() -> None:
    assert importlib.resources.files("binconv").joinpath("py.typed").is_file()
