"""Processes as /proc shows them: state, parent, process group and CPU seconds of each.

One reader for the test servers (which processes a server left behind) and the benchmarks that
start them (the CPU a server's process tree used), with no test or package imports; it lives
with the servers so that imports go one way, benchmarks → tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Proc:
    state: str  # "R", "S", … ; "Z" for a zombie
    ppid: int
    pgid: int
    cpu_s: float  # user + system CPU seconds so far


def processes() -> dict[int, Proc]:
    """Every process now: pid -> :class:`Proc` (those that exit while being read are left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(entry)] = Proc(fields[0], int(fields[1]), int(fields[2]),
                                   (int(fields[11]) + int(fields[12])) / tick)
    return out


def cmdline(pid: int) -> bytes:
    """The command line of ``pid`` (NUL-separated), empty if it has gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def descendants(pid: int, procs: dict[int, Proc] | None = None, *, live: bool = True) -> list[int]:
    """The processes started by ``pid``, their children, and so on (``live``: not zombies)."""
    procs = processes() if procs is None else procs
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, proc in procs.items() if proc.ppid == parent and (not live or proc.state != "Z")]
        found += kids
        todo += kids
    return found


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by ``root`` and its live descendants (zombies included: their
    time is not yet added to the parent's)."""
    procs = processes()
    return sum(procs[p].cpu_s for p in [root, *descendants(root, procs, live=False)] if p in procs)
