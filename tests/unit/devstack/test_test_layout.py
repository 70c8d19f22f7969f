"""The test tree imports every test module under a name of its own.

With `--import-mode=importlib`, a test module inside a package (a folder with an
`__init__.py`) is imported under its dotted path from the first folder above that is
not one. Two such modules with the same name are one module in a whole run: the second
file silently runs the first one's tests (it happened to the two repository contract
files, and only the whole suite showed it).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) == 1:  # not in a package: named by its path from the root, unique
        return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)
    return ".".join(parts)


def test_no_two_test_modules_share_an_import_name() -> None:
    names: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        names[module_name(path)].append(str(path.relative_to(TESTS)))
    shared = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert not shared, shared
