"""The kernel benchmark's table (terminal and README fragment) and target checks, from
the saved results alone, so the README can be regenerated without re-running."""

from __future__ import annotations

from typing import Any

METHOD_COLUMNS = ["naive", "pure Python", "NumPy", "Rust"]


def _time(ns: float) -> str:
    for unit, scale in (("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.0f} ns"


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def _cell(row: dict[str, Any], method: str) -> str:
    ns = row["methods"][method]["median"]
    return f"{_time(ns)} · {row['bytes'] / ns * 1e3:,.0f} MB/s"


def speedup(row: dict[str, Any]) -> float:
    m = row["methods"]
    return float(m["pure Python"]["median"] / m["Rust"]["median"])


def of_limit(row: dict[str, Any]) -> float:
    m = row["methods"]
    return float(m["limit"]["median"] / m["Rust"]["median"])


def table(results: dict[str, Any]) -> str:
    """A Markdown table; it also reads well in a terminal."""
    head = ["input", "size", *METHOD_COLUMNS, "Rust ÷ pure Python", "memset limit", "of limit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in results["rows"]:
        cells = [row["input"], row["label"]]
        cells += [_cell(row, method) for method in METHOD_COLUMNS]
        cells += [f"{speedup(row):.1f}x", _cell(row, "limit"), f"{of_limit(row):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_checks(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The issue's targets: (what, measured, met)."""
    rows = {(r["input"], r["size"]): r for r in results["rows"]}
    big = rows[("ASCII", 1 << 20)]
    small = rows[("ASCII", 5)]
    mixed = [r for r in results["rows"] if r["input"] == "mixed" and r["size"] >= 64]
    worst_mixed = min(mixed, key=speedup)
    return [
        ("1 MiB ASCII: Rust ≥ 30x pure Python", f"{speedup(big):.1f}x", speedup(big) >= 30),
        ("1 MiB ASCII: Rust ≥ 0.75 of memset", f"{of_limit(big):.2f}", of_limit(big) >= 0.75),
        (
            "mixed text from 64 B: Rust ≥ 3x pure Python",
            f"{speedup(worst_mixed):.1f}x at {worst_mixed['label']}",
            speedup(worst_mixed) >= 3,
        ),
        (
            "5 B call < 100 ns",
            _time(small["methods"]["Rust"]["median"]),
            small["methods"]["Rust"]["median"] < 100,
        ),
    ]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    checks = "\n".join(
        f"- {what}: **{got}** ({'met' if ok else '**missed**'})"
        for what, got, ok in target_checks(results)
    )
    return f"""<!-- Generated from bench/results/kernel.json by `python -m bench.kernel`. -->
Median time per call and input throughput (UTF-8 bytes of input per second). *Pure
Python* is `binconv.reference`, the fastest pure-Python way measured
(`format(int.from_bytes(b), "b").zfill(8 * len(b))`); *naive* is
`"".join(format(b, "08b") for b in s.encode())`; *NumPy* is `unpackbits` plus `'0'` in
place. The *memset limit* is a new `str` of the same output size filled by `memset`
(`binconv._binconv._fill_limit`), timed in the same run: *of limit* is Rust's speed as a
fraction of it. *Mixed* text is multilingual with emoji (a 4-byte-per-character `str`).
The batch row is 100 messages of 40 bytes, through `encode_many` for Rust and a list
comprehension for the others.

{table(results)}

{checks}

**Reproducing.** `./justw bench-kernel` (or `just bench-kernel` in the set-up
environment) runs `python -m bench.kernel`, saves `bench/results/kernel.json` and
renders this page from it; `python -m bench.kernel --render` only renders it.
Each figure is the median of rounds that each call the method on a fresh `str` object per
call (CPython caches a string's UTF-8 form once asked, which would flatter repeated calls
on one object), the loop overhead included. These figures: {m["cpu"]} ({m["cores"]}
cores), {m["system"]}, CPython {m["python"]}, NumPy {m["numpy"]}, {m["rustc"]}, PyO3
0.17.3, release build (fat LTO, one codegen unit), commit `{results["commit"]}`,
{results["datetime"]}, whole run {results["seconds"]:.0f} s.
"""
