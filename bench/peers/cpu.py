"""CPU seconds spent by whole process trees, from /proc/<pid>/stat.

Each process counts its own time and the time of the children it has reaped (cutime,
cstime), so a PostgreSQL backend that exits between two readings is still counted, in
its postmaster, and nothing is counted twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, int]]:
    """Every live process: its parent and its CPU ticks (own and reaped children's)."""
    found: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # The command name may hold spaces and parentheses: the fields follow its last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        ppid = int(fields[1])
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        found[int(entry.name)] = (ppid, utime + stime + cutime + cstime)
    return found


def tree_seconds(roots: Iterable[int]) -> float:
    """CPU seconds of the processes `roots` and all their descendants alive now."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    seen: set[int] = set()
    pending = [pid for pid in roots if pid in processes]
    while pending:
        pid = pending.pop()
        if pid not in seen:
            seen.add(pid)
            pending += children.get(pid, [])
    return sum(processes[pid][1] for pid in seen) / TICKS


def by_role(roles: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each role's process trees (broker, database, workers...)."""
    return {role: tree_seconds(pids) for role, pids in roles.items()}
