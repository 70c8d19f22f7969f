"""The docs' tables are the saved results, their targets are marked from the figures,
the commands they name exist, and every relative link lands on a file and heading."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from bench import e2e_report, readme
from bench.readme import DOCUMENTS, ROOT, render

MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_tables_match_the_saved_benchmark_results(document: str) -> None:
    text = (ROOT / document).read_text()

    assert render(text) == text, "run `just readme` after a benchmark"


def test_the_readme_and_the_benchmarks_page_show_the_summary() -> None:
    for document in DOCUMENTS:
        assert "<!-- bench-summary:start -->" in (ROOT / document).read_text()


def test_a_target_is_marked_met_or_missed_from_the_figures() -> None:
    results = readme.load()
    slower, faster = copy.deepcopy(results), copy.deepcopy(results)
    slower["e2e"]["figures"]["median_ms"] = e2e_report.MEDIAN_MS + 0.1
    faster["e2e"]["figures"]["median_ms"] = e2e_report.MEDIAN_MS - 0.1

    assert "| latency, median ≤ 8 ms | 8.1 ms | **missed** |" in readme.summary(slower)
    assert "| latency, median ≤ 8 ms | 7.9 ms | met |" in readme.summary(faster)
    assert "≤ 8 ms: **missed** |" in e2e_report.markdown(slower["e2e"])


def test_a_service_over_its_memory_limit_is_a_missed_target() -> None:
    results = copy.deepcopy(readme.load())
    run = results["big"]["runs"][0]
    run["peak_rss_mib"]["worker"] = run["limits_mib"]["worker"] + 1

    assert "worker 257 of 256 MiB (100%) | **missed** |" in readme.summary(results)


def test_every_just_recipe_the_docs_name_exists() -> None:
    recipes = set(
        re.findall(r"^([a-z][a-z0-9-]*)(?: \*?\w+)*:", (ROOT / "justfile").read_text(), re.M)
    )
    for path in MARKDOWN:
        named = set(re.findall(r"`(?:\./justw|just) ([a-z][a-z0-9-]*)", path.read_text()))

        assert named <= recipes, path.name


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {_slug(heading) for heading in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda path: path.name)
def test_every_relative_link_points_to_an_existing_file_and_heading(path: Path) -> None:
    links = LINK.findall(FENCE.sub("", path.read_text()))
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):  # http(s), mailto: not checked here
            continue
        target, _, anchor = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        if not resolved.exists() or (
            anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved)
        ):
            broken.append(link)

    assert not broken, f"{path.name}: {broken}"


@pytest.mark.parametrize("document", ["README.md", "docs/architecture.md"])
def test_every_test_the_tour_and_the_architecture_page_cite_exists(document: str) -> None:
    page = (ROOT / document).read_text()
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("*.py"))
    named = set(re.findall(r"`(test_\w+?)(?:\.py)?`", page))

    missing = {
        name
        for name in named
        if not re.search(rf"def {name}\(", sources)
        and not any((ROOT / "tests").rglob(f"{name}.py"))
    }

    assert named and not missing
