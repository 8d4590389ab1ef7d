"""What a prompt is known to get wrong, for :func:`llmops_nb.optimize`: its failed and
low-scoring calls in the history, the causes on the data, and — after the comparison — which
of them the candidate fixed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmops_nb.mlflow_optimizers import FORMAT_FINDINGS, row_causes
from llmops_nb.prompts import PromptVersion

HISTORY_CALLS = 5000  # the most recent calls searched for the parent's failures


def known_failures(parent: PromptVersion) -> Any:
    """The parent's failed and low-scoring calls among the latest :data:`HISTORY_CALLS` of the
    history, grouped by cause (empty when tracking is off or the store cannot be read)."""
    import pandas as pd

    from llmops_nb import monitor
    from llmops_nb.config import settings
    from llmops_nb.tracking import history as read_history

    empty = pd.DataFrame(columns=monitor.CAUSE_COLUMNS)
    if not settings().tracking:
        return empty
    try:
        history = monitor.calls(read_history(HISTORY_CALLS), prompt=parent.ref)
    except Exception:  # an unreadable store must not stop an optimisation
        return empty
    return monitor.failure_analysis(history) if len(history) else empty


def cause_counts(rows: Sequence[Mapping[str, Any]], scorers: Sequence[str], threshold: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        for cause in row_causes(row, scorers, threshold):
            counts[cause] = counts.get(cause, 0) + 1
    return counts


def failures_table(history: Any, baseline: dict[str, int]) -> Any:
    import pandas as pd

    counts: dict[str, int] = {}
    for _, r in history.iterrows():  # labelled as the data's causes are, so the two can be matched
        label = history_label(str(r["kind"]), str(r["cause"]))
        counts[label] = counts.get(label, 0) + int(r["calls"])
    rows = [{"source": "history", "cause": c, "count": n} for c, n in counts.items()]
    rows += [{"source": "data", "cause": c, "count": n} for c, n in baseline.items()]
    return pd.DataFrame(rows, columns=["source", "cause", "count"])


def history_label(kind: str, cause: str) -> str:
    """A :func:`monitor.failure_analysis` group as a cause label of :func:`row_causes`."""
    if kind == "error":  # "ProviderUnavailable: <message pattern>" → its type
        return f"error: {cause.split(':', 1)[0].strip()}"
    if kind == "finding":
        return f"{'output format' if cause in FORMAT_FINDINGS else 'guardrail'}: {cause}"
    return f"{kind}: {cause}"


def addressed(failures: Any, before: dict[str, int], after: dict[str, int]) -> Any:
    import pandas as pd

    causes = list(dict.fromkeys([*before, *after, *failures.loc[failures["source"] == "history", "cause"]]))
    rows = []
    for cause in causes:
        b, a = before.get(cause, 0), after.get(cause, 0)
        status = ("fixed" if a == 0 else "reduced" if a < b else "not fixed") if b else \
            ("new" if a else "not seen on the data")
        rows.append({"cause": cause, "parent": b, "candidate": a, "status": status})
    return pd.DataFrame(rows, columns=["cause", "parent", "candidate", "status"])


def guidelines(failures: Any) -> str:
    if not len(failures):
        return ""
    lines = [f"- {r['cause']} ({r['count']}× in the {r['source']})" for _, r in failures.iterrows()]
    return ("The current prompt is known to fail in these ways; the improved prompt must avoid them:\n"
            + "\n".join(lines[:15]))
