"""The README's benchmark tables are the saved results, and its commands exist."""

from __future__ import annotations

import re

from bench.readme import ROOT, render


def test_the_readme_tables_match_the_saved_benchmark_results() -> None:
    readme = (ROOT / "README.md").read_text()

    assert render(readme) == readme, "run `just readme` after a benchmark"


def test_every_just_recipe_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    recipes = set(
        re.findall(r"^([a-z][a-z0-9-]*)(?: \*?\w+)*:", (ROOT / "justfile").read_text(), re.M)
    )

    named = set(re.findall(r"`(?:\./justw|just) ([a-z][a-z0-9-]*)", readme))

    assert named and named <= recipes
