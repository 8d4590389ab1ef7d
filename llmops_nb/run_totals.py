"""What the calls of one MLflow run add up to: cost, tokens, calls, unpriced and failed calls.

A run's figures are the sums of its calls — never the last call's value — and a call whose
price is unknown is counted apart (``unpriced_calls``), never as $0. Costs are added as
decimals, so a stored total is the exact sum of the calls' costs and has no float noise
(``0.000017549999999999996``); rounding is left to whatever shows the figure.

Pure bookkeeping: no mlflow import here (the exporter in :mod:`llmops_nb.tracking` logs it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from llmops_nb.types import CallRecord


def exact(value: float | Decimal) -> float:
    """``value`` without binary float noise: the float nearest its 12 significant digits
    (far finer than any price; ``9.999999999999999e-06`` → ``1e-05``)."""
    return float(f"{float(value):.12g}")


def _dec(value: float) -> Decimal:
    return Decimal(repr(exact(value)))


@dataclass
class RunTotals:
    """Running sums of one run's calls (see the module docstring)."""

    calls: int = 0
    failed_calls: int = 0
    cached_calls: int = 0
    unpriced_calls: int = 0
    simulated_calls: int = 0  # priced at the simulator's reference price (part of cost_usd)
    cost_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: Decimal = Decimal(0)
    guard_calls: int = 0  # model-backed guardrail scanners' calls for these calls
    unpriced_guard_calls: int = 0
    guard_cost_usd: Decimal = Decimal(0)

    @property
    def priced_calls(self) -> int:
        """Answered calls whose cost is known (a cache hit costs a known $0)."""
        return self.calls - self.failed_calls - self.unpriced_calls

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, float]) -> RunTotals:
        """The totals a run already holds (a rejoined group, or a new process): read back
        from the run's latest metric values, as :meth:`metrics` wrote them."""
        def count(key: str) -> int:
            return int(metrics.get(key, 0))

        calls = count("calls")
        return cls(calls=calls, failed_calls=count("failed_calls"), cached_calls=count("cached_calls"),
                   unpriced_calls=count("unpriced_calls"), simulated_calls=count("simulated_calls"),
                   cost_usd=_dec(metrics.get("cost_usd", 0.0)),
                   input_tokens=count("input_tokens"), output_tokens=count("output_tokens"),
                   cache_read_tokens=count("cache_read_tokens"), cache_write_tokens=count("cache_write_tokens"),
                   latency_ms=Decimal(repr(metrics.get("mean_latency_ms", 0.0) * calls)),
                   guard_calls=count("guard_calls"), unpriced_guard_calls=count("unpriced_guard_calls"),
                   guard_cost_usd=_dec(metrics.get("guard_cost_usd", 0.0)))

    def add(self, r: CallRecord) -> None:
        """Count one call. A cache hit used no tokens (as in MLflow's trace totals)."""
        self.calls += 1
        self.latency_ms += Decimal(repr(round((r.ended_at_ns - r.started_at_ns) / 1e6, 6)))
        if not r.usage_estimated:  # attempts cut off mid-answer, apart from the record's own usage
            for a in r.attempts:
                cut = a.get("cut_off")
                if cut:
                    self.input_tokens += int(cut.get("input_tokens", 0))
                    self.output_tokens += int(cut.get("output_tokens", 0))
                    self.cost_usd += _dec(cut["cost_usd"]) if cut.get("cost_usd") is not None else 0
        for c in r.guard_calls:  # paid whatever the call's outcome
            self.guard_calls += 1
            if c.get("cost_usd") is None:
                self.unpriced_guard_calls += 1
            else:
                self.guard_cost_usd += _dec(c["cost_usd"])
        if r.status != "OK":
            self.failed_calls += 1
            if r.cost_usd is not None:  # answered and paid, then withheld (the output guardrails) or cut off
                self.input_tokens += int(r.usage.get("input_tokens", 0))
                self.output_tokens += int(r.usage.get("output_tokens", 0))
                self.cost_usd += _dec(r.cost_usd)
            return
        if r.cached:
            self.cached_calls += 1
        else:
            self.input_tokens += int(r.usage.get("input_tokens", 0))
            self.output_tokens += int(r.usage.get("output_tokens", 0))
            self.cache_read_tokens += int(r.usage.get("cache_read_tokens", 0))
            self.cache_write_tokens += int(r.usage.get("cache_write_tokens", 0))
        if r.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += _dec(r.cost_usd)
            self.simulated_calls += bool(r.cost_simulated)

    def metrics(self) -> dict[str, float]:
        """The run's metrics. ``cost_usd`` only when some call was priced: a run whose calls
        all lack a price has no cost (and ``unpriced_calls`` says how many), never $0."""
        out = {
            "calls": float(self.calls), "failed_calls": float(self.failed_calls),
            "cached_calls": float(self.cached_calls), "unpriced_calls": float(self.unpriced_calls),
            "simulated_calls": float(self.simulated_calls),
            "input_tokens": float(self.input_tokens), "output_tokens": float(self.output_tokens),
            "total_tokens": float(self.input_tokens + self.output_tokens),
            "cache_read_tokens": float(self.cache_read_tokens), "cache_write_tokens": float(self.cache_write_tokens),
            "mean_latency_ms": round(float(self.latency_ms / self.calls), 3) if self.calls else 0.0,
        }
        if self.priced_calls > 0 or self.cost_usd:
            out["cost_usd"] = exact(self.cost_usd)
        if self.guard_calls:  # the guardrail models' calls, apart from the calls' own cost
            out["guard_calls"], out["unpriced_guard_calls"] = float(self.guard_calls), float(self.unpriced_guard_calls)
            if self.guard_calls > self.unpriced_guard_calls:
                out["guard_cost_usd"] = exact(self.guard_cost_usd)
        return out
