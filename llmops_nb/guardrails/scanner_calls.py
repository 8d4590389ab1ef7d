"""The calls that model-backed scanners make (:mod:`.remote`, :mod:`.local_model`), kept where
they happen and handed to the guard that ran them.

A scanner keeps its recent calls on its own ``calls`` (the latest :data:`KEEP`), and
:func:`record` also gives each one to the guard running in this context
(:func:`collecting`): :func:`~llmops_nb.guardrails.policy.guard_input` and ``guard_output``
put them on their :class:`~llmops_nb.guardrails.policy.GuardResult`, and the pipeline records
them with the call they were made for (model, latency, tokens, cost — a span each in its trace).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

KEEP = 1000  # calls a scanner keeps on its ``calls``; older ones are dropped (they were recorded)
_sink: ContextVar[list[Any] | None] = ContextVar("llmops_nb_scanner_calls", default=None)


def record(scanner: Any, call: Any) -> None:
    """``call`` (a :class:`~llmops_nb.guardrails.remote.ScannerCall`) made by ``scanner``: on
    its ``calls``, and on the calls of the guard running now, if any."""
    if not call.started_at_ns:
        call.started_at_ns = time.time_ns() - int(call.latency_s * 1e9)
    calls = scanner.calls
    calls.append(call)
    if len(calls) > 2 * KEEP:
        del calls[:-KEEP]
    sink = _sink.get()
    if sink is not None:
        sink.append(call)


@contextlib.contextmanager
def collecting() -> Iterator[list[Any]]:
    """The scanner calls made inside the block, in order."""
    calls: list[Any] = []
    token = _sink.set(calls)
    try:
        yield calls
    finally:
        _sink.reset(token)


def as_record(call: Any, direction: str) -> dict[str, Any]:
    """A scanner call as the call record keeps it (no text: model, timing, usage, cost)."""
    usage = call.usage
    row = {"scanner": call.scanner, "model": call.model, "direction": direction,
           "started_at_ns": call.started_at_ns, "latency_ms": round(call.latency_s * 1000, 3),
           "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
           "cost_usd": call.cost_usd, "flagged": call.flagged}
    row.update({k: v for k, v in (("note", call.note), ("error", call.error)) if v})
    return row


def total_cost(calls: list[dict[str, Any]]) -> float | None:
    """What recorded scanner calls (:func:`as_record`) cost in all; None while one has no price."""
    costs = [c.get("cost_usd") for c in calls]
    return None if None in costs else sum(costs)  # type: ignore[arg-type]
