"""What :func:`llmops_nb.optimize` did: :class:`OptimizationResult` (decision, diff, scores,
chart, spend)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from llmops_nb.prompts import PromptVersion


@dataclass
class OptimizationResult:
    """What :func:`optimize` did. ``version`` is the registered winner (None when the candidate
    did not win, or none was proposed); ``comparison`` is the paired test's result."""

    parent: PromptVersion
    optimizer: str
    candidate: str | None
    version: PromptVersion | None
    comparison: Any  # ExperimentResult, or None when no candidate was compared
    scores: Any  # DataFrame: metric × (parent, candidate, change) on the evaluation data
    failures: Any  # DataFrame: source, cause, count — what the optimisation started from
    addressed: Any  # DataFrame: cause, parent, candidate, status
    candidates: Any  # DataFrame: every template evaluated on all of data, with its objective
    estimate: Any  # CostEstimate before anything was sent
    spent_usd: float
    calls: int
    stopped: str | None = None
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def winner(self) -> bool:
        """True when the candidate beat the parent at the stated error rate (and was registered)."""
        return self.version is not None

    @property
    def decision(self) -> str:
        if self.candidate is None:
            return "no candidate: " + (self.stopped or "the optimizer proposed nothing new")
        return self.comparison.decision if self.comparison is not None else "not compared"

    def diff(self) -> str:
        """Unified diff of the parent's template against the candidate's."""
        if self.candidate is None:
            return ""
        after = self.version.ref if self.version else "candidate"
        return "\n".join(difflib.unified_diff(self.parent.template.splitlines(), self.candidate.splitlines(),
                                              fromfile=self.parent.ref, tofile=after, lineterm=""))

    def chart(self) -> Any:
        """Before/after bars: each scorer's mean for the parent and the candidate."""
        import altair as alt

        long = self.scores.reset_index().melt(id_vars="metric", value_vars=["parent", "candidate"],
                                              var_name="prompt", value_name="mean")
        return alt.Chart(long).mark_bar().encode(
            x=alt.X("prompt:N", title=None, sort=["parent", "candidate"]), y=alt.Y("mean:Q", title="mean score"),
            color=alt.Color("prompt:N", sort=["parent", "candidate"]), column=alt.Column("metric:N", title=None),
            tooltip=["metric", "prompt", alt.Tooltip("mean:Q", format=".3f")],
        ).properties(width=90, height=160, title=f"{self.parent.ref}: before / after")

    def summary(self) -> str:
        """A few lines of plain text: decision, registration, spend."""
        head = f"optimize {self.parent.ref} ({self.optimizer}): {self.decision}"
        reg = f"registered {self.version.ref} (parent {self.parent.ref})" if self.version else "nothing registered"
        cost = f"{self.calls} calls · spent ${self.spent_usd:.6f} (estimate: {self.estimate.describe()})"
        lines = [head, reg, cost] + ([f"stopped: {self.stopped}"] if self.stopped else []) + self.notes
        return "\n".join(lines)

    def show(self) -> None:
        """Display the summary, then (when there is a candidate) the diff, the score table and the chart."""
        from IPython.display import display

        from llmops_nb.render import diff_bundle

        print(self.summary())
        if self.candidate is None:
            return
        display(diff_bundle(self.diff()), raw=True)
        display(self.scores)
        display(self.chart())

    def __repr__(self) -> str:
        return self.summary()
