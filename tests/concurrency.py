"""Calls that start at the same instant, for the tests of what must be built once per process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def all_at_once(fn: Callable[[], T], threads: int = 16, timeout_s: float = 120.0) -> list[T]:
    """``fn()`` in ``threads`` threads held behind one barrier and released together; their
    results (in the order they finished). The first exception of any thread is raised here, and
    a thread still running after ``timeout_s`` fails the test (a deadlock is not a pass)."""
    barrier = threading.Barrier(threads)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            value = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(value)

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout_s)
    assert not any(w.is_alive() for w in workers), f"threads still running after {timeout_s} s"
    if errors:
        raise errors[0]
    return results
