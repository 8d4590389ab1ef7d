"""A/B tests that say how sure they are.

::

    from llmops_nb.experiments import Experiment
    from llmops_nb import evaluation as ev

    exp = Experiment("summary-v2", variants={"a": "summarize@1", "b": "summarize@2"}, model="sim:default")
    exp.assign("user-42")                       # "a" or "b", the same for this user forever
    r = exp.run(inputs, [ev.contains(), ev.length(max=400)])   # paired design
    r.winner, r.effect, r.interval, r.p_value, r.prob_best, r.decision

A **variant** is a prompt (``"name@version"`` / alias ref or a PromptVersion, answered by
``model``), a model or ``route:NAME`` (answering ``prompt``), or ``{"model": …, "prompt": …}``.

**Paired design** (:meth:`Experiment.run`): every variant answers the same inputs; the first
scorer (or ``metric=``) is the outcome. Per input, each variant's score is the mean over its
``n`` samples (a failed call scores ``error_score``, default 0). For each pair of variants the
per-input differences are analysed:

- effect = mean difference (second minus first), with a paired bootstrap percentile interval
  (seeded, so the same data give the same interval);
- test: exact McNemar (binomial on the discordant inputs) when every per-input score is 0/1,
  else a paired sign-flip randomisation test (exact for ≤ 12 inputs, else seeded Monte Carlo);
- pass rates get Wilson score intervals (over calls).

**Live design** (:meth:`Experiment.record`): outcomes of real traffic arrive one at a time and
may be looked at any time. Each pair is tested with a mixture sequential probability ratio test
(mSPRT, normal mixture with standard deviation ``mixture_sd`` on the standardised effect,
pooled variance): its always-valid p-value is the running minimum of 1/Λ over *every*
observation, so looking after each one does not inflate the error rate; the interval is the
matching always-valid (confidence-sequence) interval. Probability best is Thompson sampling
(Beta posteriors for pass/fail, normal approximation for continuous scores).

**Error control**: a winner is named only when it beats *every* other variant at the stated
rate: p-values of all pairs are Holm-corrected (two-sided ``alpha``, default 0.05). Repeated
looks: the live design is always valid (above); the paired design plans ``looks`` analyses
(one per :meth:`run`, new inputs each time) and spends ``alpha / looks`` at each (Bonferroni
over planned looks). So with truly equal variants at most ``alpha`` of experiments name a winner.
Undecided results say "no winner yet" and the number of samples a decision would need for the
observed effect at 80 % power.

Each experiment is one MLflow run (group): calls' traces, ``experiment/scores.csv``,
``experiment/summary.json``, per-variant metrics and the decision as tags.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from llmops_nb.evaluation import ScorerSpec, as_number, call_scorer, named
from llmops_nb.prompts import PromptVersion

REF_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")
TABLE_COLUMNS = ["variant", "input_index", "sample", "status", "output", "cost_usd", "latency_ms", "ttft_ms",
                 "cached", "error", "trace_id"]
_N = NormalDist()


# --- statistics (plain numpy; each is tested on simulated data) -----------------------------------

def wilson(successes: Any, n: Any, alpha: float = 0.05) -> tuple[Any, Any]:
    """Wilson score interval for a binomial proportion (vectorised over arrays)."""
    z = _N.inv_cdf(1 - alpha / 2)
    s, m = np.asarray(successes, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / m
        centre = (p + z * z / (2 * m)) / (1 + z * z / m)
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    return centre - half, centre + half


def bootstrap_ci(diffs: Any, alpha: float = 0.05, reps: int = 4000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of paired differences (seeded), with the
    resampled means spread by sqrt(n / (n - 1)) so small samples are not over-confident."""
    d = np.asarray(diffs, float)
    if d.size == 0:
        return math.nan, math.nan
    if d.size == 1 or np.all(d == d[0]):
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, (reps, d.size))].mean(axis=1)
    means = d.mean() + (means - d.mean()) * math.sqrt(d.size / (d.size - 1))
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``."""
    m = b + c
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, k) for k in range(min(b, c) + 1)) / 2**m
    return min(1.0, 2 * tail)


def sign_flip_p(diffs: Any, reps: int = 9999, seed: int = 0) -> float:
    """Two-sided paired randomisation test of mean difference 0 (signs flipped at random;
    every sign pattern when there are at most 12 differences)."""
    d = np.asarray(diffs, float)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    observed = abs(d.sum())
    if d.size <= 12:
        signs = 1 - 2 * ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1)
        return float(np.mean(np.abs(signs @ d) >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), (reps, d.size))
    return float((1 + np.sum(np.abs(signs @ d) >= observed - 1e-12)) / (reps + 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given)."""
    p = np.asarray(pvalues, float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (p.size - rank) * p[i]))
        adjusted[i] = running
    return [float(x) for x in adjusted]


def msprt_lambda(effect: Any, var: Any, n_a: Any, n_b: Any, tau: float) -> Any:
    """Mixture likelihood ratio Λ of a two-sample difference (normal mixture N(0, τ²) on the
    standardised effect; ``var`` is the pooled variance of one observation). Vectorised."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        v = 1.0 / np.asarray(n_a, float) + 1.0 / np.asarray(n_b, float)  # variance of effect/σ
        z2 = np.asarray(effect, float) ** 2 / np.asarray(var, float)
        log_lam = 0.5 * np.log(v / (v + tau**2)) + z2 * tau**2 / (2 * v * (v + tau**2))
        return np.where(np.asarray(var) > 0, np.exp(np.minimum(log_lam, 700)), 1.0)


def always_valid_p(x: Any, in_b: Any, tau: float = 0.3, burn_in: int = 10) -> Any:
    """Always-valid p-value of "both arms have the same mean" for outcomes ``x`` in arrival
    order (``in_b``: which arm each belongs to): min(1, 1 / max Λ) over every prefix in which
    each arm has at least ``burn_in`` outcomes. Works along the last axis (a float for 1-D
    input, one p-value per row for 2-D input)."""
    x, b = np.asarray(x, float), np.asarray(in_b, bool)
    n_b, n_a = np.cumsum(b, axis=-1), np.cumsum(~b, axis=-1)
    s_b, s_a = np.cumsum(np.where(b, x, 0), axis=-1), np.cumsum(np.where(b, 0, x), axis=-1)
    ss, n = np.cumsum(x * x, axis=-1), n_a + n_b
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (s_a + s_b) / n
        var = (ss - n * mean**2) / np.maximum(n - 1, 1)
        lam = msprt_lambda(s_b / n_b - s_a / n_a, np.maximum(var, 0), n_a, n_b, tau)
    lam = np.where((n_a >= burn_in) & (n_b >= burn_in), lam, 1.0)
    p = np.minimum(1.0, 1.0 / np.max(lam, axis=-1))
    return float(p) if p.ndim == 0 else p


def confidence_sequence(effect: float, var: float, n_a: int, n_b: int, tau: float,
                        alpha: float) -> tuple[float, float]:
    """The always-valid interval matching :func:`msprt_lambda` (θ₀ with Λ(θ₀) < 1/α)."""
    if var <= 0 or n_a == 0 or n_b == 0:
        return effect, effect
    v = 1.0 / n_a + 1.0 / n_b
    half = math.sqrt(v * (v + tau**2) / tau**2 * (2 * math.log(1 / alpha) + math.log((v + tau**2) / v)))
    return effect - half * math.sqrt(var), effect + half * math.sqrt(var)


def paired_samples_needed(diffs: Any, alpha: float, power: float = 0.8, binary: bool = False) -> int | None:
    """Inputs a paired test would need to detect the observed mean difference (normal
    approximation; Connor's formula for McNemar when ``binary``)."""
    d = np.asarray(diffs, float)
    delta = float(d.mean()) if d.size else 0.0
    if delta == 0:
        return None
    za, zb = _N.inv_cdf(1 - alpha / 2), _N.inv_cdf(power)
    if binary:
        disc = float(np.mean(d != 0))
        n = (za * math.sqrt(disc) + zb * math.sqrt(max(disc - delta**2, 0.0))) ** 2 / delta**2
    else:
        sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
        if sd == 0:
            return None
        n = ((za + zb) * sd / delta) ** 2
    return max(int(math.ceil(n)), d.size + 1)


def sequential_samples_needed(delta: float, var: float, tau: float, alpha: float, power: float = 0.8,
                              at_least: int = 0) -> int | None:
    """Observations per arm at which the mSPRT crosses 1/α for effect ``delta`` with
    probability about ``power`` (the estimate sits z_power standard errors below ``delta``)."""
    if delta == 0 or var <= 0:
        return None
    zb, sd = _N.inv_cdf(power), math.sqrt(var)

    def crosses(n: int) -> bool:
        se = math.sqrt(2 * var / n)
        seen = max(abs(delta) - zb * se, 0.0)
        return bool(msprt_lambda(seen, var, n, n, tau) >= 1 / alpha)

    hi = 2
    while not crosses(hi):
        hi *= 2
        if hi > 10**9 * max(1.0, sd):
            return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if crosses(mid) else (mid, hi)
    return max(hi, at_least + 1)


def _prob_best_draws(draws: Any) -> Any:
    """Share of draws (rows) in which each column is the largest (ties shared)."""
    top = draws == draws.max(axis=1, keepdims=True)
    return (top / top.sum(axis=1, keepdims=True)).mean(axis=0)


# --- result --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairTest:
    """One pair of variants: ``effect`` is ``second - first``."""

    first: str
    second: str
    effect: float
    interval: tuple[float, float]
    test: str
    p_value: float
    adjusted_p: float
    significant: bool
    n: int


@dataclass
class ExperimentResult:
    """What an experiment shows so far. ``effect``/``interval``/``p_value`` are those of the
    headline pair (for two variants: second minus first; else the best against the runner-up);
    ``p_value`` is Holm-adjusted. ``winner`` is a variant's name or None ("no winner yet")."""

    name: str
    design: str
    metric: str
    variants: list[str]
    effect: float
    interval: tuple[float, float]
    test: str
    p_value: float
    alpha: float
    prob_best: dict[str, float]
    decision: str
    winner: str | None
    samples_needed: int | None
    per_variant: Any  # DataFrame: n, mean, pass rate with Wilson interval, cost and latency
    pairs: list[PairTest] = field(default_factory=list)
    looks: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what is logged to MLflow)."""
        out = {k: v for k, v in asdict(self).items() if k != "per_variant"}
        out["per_variant"] = json.loads(self.per_variant.reset_index().to_json(orient="records"))
        return out

    def _repr_html_(self) -> str:  # names are user data: through the sanitizing renderer
        from llmops_nb.render import markdown_html

        lo, hi = self.interval
        head = (f"**{self.name}** ({self.design}, metric `{self.metric}`): {self.decision}  \n"
                f"effect {self.effect:+.3f} [{lo:+.3f}, {hi:+.3f}] · {self.test} · p = {self.p_value:.3g}"
                f" · P(best) " + ", ".join(f"{k} {v:.2f}" for k, v in self.prob_best.items()))
        return markdown_html(f"{head}\n\n```\n{self.per_variant.to_string()}\n```")


# --- variants ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """What one arm sends: a model (or route) and a prompt (template, ref or version)."""

    name: str
    model: str | None
    prompt: Any


def _is_ref(value: str) -> bool:
    return value.count("@") == 1 and set(value) <= REF_CHARS and not value.startswith("@")


def resolve_variant(name: str, spec: Any, model: str | None, prompt: Any) -> Variant:
    """A variant spec as model + prompt (see the module docstring)."""
    from llmops_nb import prompts as registry

    if isinstance(spec, Mapping):
        p = spec.get("prompt", prompt)
        if isinstance(p, str) and _is_ref(p):
            p = registry.get(p)
        return Variant(name, spec.get("model", model), p)
    if isinstance(spec, PromptVersion) or (isinstance(spec, str) and _is_ref(spec)):
        return Variant(name, model, registry.get(spec))
    if isinstance(spec, str) and ":" in spec:
        return Variant(name, spec, prompt)
    raise ValueError(f"variant {name!r}: {spec!r} is neither a prompt ref ('name@version'), a model id "
                     "('provider:model' / 'route:NAME') nor {'model': ..., 'prompt': ...}")


# --- the experiment ------------------------------------------------------------------------------

class Experiment:
    """An A/B (or A/B/n) test; see the module docstring for the designs and the statistics."""

    def __init__(self, name: str, variants: Mapping[str, Any], split: Mapping[str, float] | None = None,
                 model: str | None = None, *, prompt: Any = None, metric: str | None = None,
                 alpha: float = 0.05, looks: int = 1, error_score: float | None = 0.0,
                 mixture_sd: float = 0.3, seed: int = 0) -> None:
        if len(variants) < 2:
            raise ValueError("an experiment needs at least two variants")
        if not 0 < alpha < 1 or looks < 1:
            raise ValueError("alpha must be in (0, 1) and looks at least 1")
        self.name, self.model, self.prompt, self.metric = name, model, prompt, metric
        self.alpha, self.looks, self.error_score, self.mixture_sd, self.seed = alpha, looks, error_score, mixture_sd, seed
        self.variants = {k: resolve_variant(k, v, model, prompt) for k, v in variants.items()}
        weights = dict(split) if split is not None else dict.fromkeys(variants, 1.0)
        if set(weights) != set(variants) or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"split must give a non-negative weight to each of {list(variants)}")
        total = sum(weights.values())
        self.split = {k: weights[k] / total for k in variants}
        self.looks_used = 0
        self.table: Any = None  # paired design: one row per call
        self._recorded: Any = None  # the same rows as logged: what the provider saw (llmops_nb.recorded)
        self.observations: list[dict[str, Any]] = []  # live design, in arrival order
        from llmops_nb.tracking import Group

        self.group = Group(uuid.uuid4().hex, name)

    def add_answers(self, table: Any, recorded: Any, *, group: Any = None) -> None:
        """Take answers already made elsewhere as one look of the paired design — what
        :meth:`run` would have produced, e.g. by :func:`llmops_nb.optimize`, which already has
        both variants' answers on the same inputs. ``table`` has :data:`TABLE_COLUMNS` plus the
        scores (one row per variant × input × sample; the metric is the first score unless the
        experiment names one); ``recorded`` is the same rows as they may
        be logged (what the provider saw, :mod:`llmops_nb.recorded`); ``group`` (a
        :class:`~llmops_nb.tracking.Group`) is the run the answers were recorded in, which
        :meth:`log` then writes to."""
        import pandas as pd

        missing = [c for c in TABLE_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"answers need the columns {missing}")
        unknown = sorted(set(table["variant"]) - set(self.variants))
        if unknown:
            raise ValueError(f"answers of variants {unknown} not in this experiment ({list(self.variants)})")
        if len(recorded) != len(table):
            raise ValueError("recorded must hold the same rows as table")
        scores = [c for c in table.columns if c not in TABLE_COLUMNS]
        if (self.metric or (scores[:1] or [None])[0]) not in scores:
            raise ValueError(f"answers need a score column for the metric ({self.metric or 'any'}); got {scores}")
        if self.looks_used >= self.looks:
            raise ValueError(f"experiment {self.name!r} planned {self.looks} look(s) and used them all")
        self.metric = self.metric or scores[0]
        self.table = table if self.table is None else pd.concat([self.table, table], ignore_index=True)
        self._recorded = recorded if self._recorded is None else pd.concat([self._recorded, recorded],
                                                                           ignore_index=True)
        self.looks_used += 1
        if group is not None:
            self.group = group

    # assignment ---------------------------------------------------------------------------------
    def assign(self, unit_id: Any) -> str:
        """The variant ``unit_id`` (a user, a session) sees: a hash of experiment and unit mapped
        onto the split, so the same unit always gets the same variant."""
        digest = hashlib.sha256(f"{self.name}\x00{unit_id}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        cumulative = 0.0
        for variant, share in self.split.items():
            cumulative += share
            if u < cumulative:
                return variant
        return next(v for v, s in reversed(self.split.items()) if s > 0)

    # paired design ------------------------------------------------------------------------------
    def run(self, inputs: Sequence[Mapping[str, Any]], scorers: ScorerSpec, n: int = 1, *,
            max_workers: int = 8, feedback: bool = True, log: bool = True, **call_options: Any) -> ExperimentResult:
        """Every variant answers every input ``n`` times; scores, analyses and logs (one look)."""
        import pandas as pd

        fns = named(scorers)
        if not fns:
            raise ValueError("run needs at least one scorer (the first is the outcome unless metric= says)")
        if self.looks_used >= self.looks:
            raise ValueError(f"experiment {self.name!r} planned {self.looks} look(s) and used them all; "
                             "plan more with Experiment(looks=...) before the first run")
        self.metric = self.metric or next(iter(fns))
        offset = 0 if self.table is None else int(self.table["input_index"].max()) + 1
        cells = [(v, offset + i, dict(inp), s) for v in self.variants.values()
                 for i, inp in enumerate(inputs) for s in range(n)]
        use_cache = call_options.pop("cache", True) and n == 1
        with self._joined(), ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(cells)))) as pool:
            # a copy of this context per call, made here: the calls join the group set above
            futures = [pool.submit(contextvars.copy_context().run, self._call, c, fns, use_cache, call_options)
                       for c in cells]
            pairs = [f.result() for f in futures]
        new = pd.DataFrame([shown for shown, _ in pairs], columns=[*TABLE_COLUMNS, *fns])
        kept = pd.DataFrame([k for _, k in pairs], columns=[*TABLE_COLUMNS, *fns])
        self.table = new if self.table is None else pd.concat([self.table, new], ignore_index=True)
        self._recorded = kept if self._recorded is None else pd.concat([self._recorded, kept], ignore_index=True)
        self.looks_used += 1
        if feedback:
            self._feedback(new, list(fns))
        result = self.result()
        if log:
            self.log(result)
        return result

    def _call(self, cell: tuple[Variant, int, dict[str, Any], int], fns: Mapping[str, Any], use_cache: bool,
              options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """One call's row, for the user and as recorded (placeholders, never redacted values)."""
        from llmops_nb import recorded

        row, c = self._call_row(cell, fns, use_cache, options)
        policy = recorded.policy_of(options.get("guard", recorded.INHERIT))
        return row, recorded.recorded_row(row, c, policy, texts=("error",))

    def _call_row(self, cell: tuple[Variant, int, dict[str, Any], int], fns: Mapping[str, Any], use_cache: bool,
                  options: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        from llmops_nb.pipeline import complete

        variant, index, inp, sample = cell
        row: dict[str, Any] = {"variant": variant.name, "input_index": index, "sample": sample, "status": "ERROR",
                               "cached": False, **dict.fromkeys(fns)}
        if variant.prompt is None:
            raise ValueError(f"variant {variant.name!r} is a model: give the experiment a prompt= to send")
        try:
            c = complete(variant.model, variant.prompt, variables=inp, cache=use_cache, **options)
        except Exception as exc:  # a failed call is data (it scores error_score), not a crash
            row.update(error=f"{type(exc).__name__}: {exc}", trace_id=getattr(exc, "trace_id", None))
            return row, None
        row.update(status="OK", output=c.text, cost_usd=c.cost_usd, latency_ms=c.latency_s * 1000,
                   ttft_ms=None if c.ttft_s is None else c.ttft_s * 1000, cached=c.cached, trace_id=c.trace_id)
        problems = []
        for name, fn in fns.items():
            try:
                row[name] = call_scorer(fn, c.text, inp, c)
            except Exception as exc:  # a broken scorer must not lose the answer
                row[name] = math.nan
                problems.append(f"scorer {name!r} failed: {type(exc).__name__}: {exc}")
        row["error"] = "; ".join(problems) or None
        return row, c

    def _feedback(self, table: Any, scorers: list[str]) -> None:
        from llmops_nb.evaluation import log_feedback

        first = True
        for _, row in table[table["status"] == "OK"].iterrows():
            log_feedback(row["trace_id"], {s: row[s] for s in scorers}, flush=first)
            first = False

    @contextlib.contextmanager
    def _joined(self) -> Iterator[Any]:
        """Calls join the experiment's group (every run() of it is one MLflow run), or an
        enclosing group (a %%llm cell) when there is one."""
        from llmops_nb import tracking

        outer = tracking.current_group()
        if outer is not None:
            self.group = outer
            yield outer
            return
        with tracking.group(self.group.name, budget_usd=self.group.budget_usd, group_id=self.group.id) as joined:
            yield joined

    # live design --------------------------------------------------------------------------------
    def record(self, variant: str, values: Mapping[str, Any] | float | bool, completion: Any = None) -> None:
        """One outcome of live traffic for ``variant``: ``{"score": 1.0, ...}`` (or a bare value
        for the metric). Cost and latency come from ``completion`` or ``cost_usd``/``latency_ms``."""
        if variant not in self.variants:
            raise KeyError(f"unknown variant {variant!r}; variants are {list(self.variants)}")
        vals = dict(values) if isinstance(values, Mapping) else {self.metric or "score": values}
        self.metric = self.metric or next(iter(vals))
        if completion is not None:
            vals.setdefault("cost_usd", completion.cost_usd)
            vals.setdefault("latency_ms", completion.latency_s * 1000)
        self.observations.append({"variant": variant, **vals})

    # analysis -----------------------------------------------------------------------------------
    def result(self, design: str | None = None) -> ExperimentResult:
        """The analysis of the data so far (``design``: "paired" or "live"; default: whichever
        has data, paired first)."""
        design = design or ("paired" if self.table is not None else "live")
        if design == "paired":
            if self.table is None:
                raise ValueError("no paired data yet: call run(inputs, scorers) first")
            return _analyse_paired(self)
        if not self.observations:
            raise ValueError("no live data yet: record(variant, {'score': ...}) first")
        return _analyse_live(self)

    def log(self, result: ExperimentResult | None = None) -> str | None:
        """Log the experiment (variants, per-input scores, summary, decision) to its one MLflow
        run; returns the run id (None when tracking is off)."""
        from llmops_nb import tracking
        from llmops_nb.session import session

        sess = session()
        if not sess.settings.tracking:
            return None
        result = result or self.result()
        tracking.flush()
        table = self._recorded if result.design == "paired" else _live_frame(self)
        metrics = {"effect": result.effect, "p_value": result.p_value, "looks": float(self.looks_used)}
        metrics.update({f"prob_best/{v}": p for v, p in result.prob_best.items()})
        for v, row in result.per_variant.iterrows():
            metrics.update({f"{k}/{v}": float(row[k]) for k in ("mean", "mean_cost_usd", "mean_latency_ms")
                            if row[k] is not None and not pd_isna(row[k])})
        variants = {k: {"model": v.model, "prompt": getattr(v.prompt, "ref", v.prompt), "split": self.split[k]}
                    for k, v in self.variants.items()}
        return tracking.log_group_results(
            self.group.id, self.group.name, tracking_uri=sess.settings.tracking_uri,
            experiment=sess.settings.experiment,
            texts={"experiment/scores.csv": table.to_csv(index=False)},
            dicts={"experiment/summary.json": result.to_dict(), "experiment/variants.json": variants},
            metrics={k: float(v) for k, v in metrics.items() if not math.isnan(float(v))},
            tags={tracking.TAG + "kind": "experiment", tracking.TAG + "experiment": self.name,
                  tracking.TAG + "decision": result.decision[:250], tracking.TAG + "winner": result.winner or ""})


def pd_isna(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


# --- analyses ------------------------------------------------------------------------------------

def _per_variant(names: list[str], groups: Mapping[str, Any], cost: Mapping[str, Any], latency: Mapping[str, Any],
                 alpha: float, prob_best: Mapping[str, float]) -> Any:
    import pandas as pd

    rows = []
    for v in names:
        x = np.asarray(groups[v], float)
        binary = x.size > 0 and bool(np.all((x == 0) | (x == 1)))
        lo, hi = wilson(x.sum(), x.size, alpha) if binary else (math.nan, math.nan)
        rows.append({"variant": v, "n": int(x.size), "mean": float(x.mean()) if x.size else math.nan,
                     "pass_rate_lo": float(lo), "pass_rate_hi": float(hi), "prob_best": prob_best[v],
                     "mean_cost_usd": _mean(cost.get(v)), "mean_latency_ms": _mean(latency.get(v))})
    return pd.DataFrame(rows).set_index("variant")


def _mean(values: Any) -> float:
    x = np.asarray([] if values is None else values, float)
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else math.nan


def _decide(exp: Experiment, names: list[str], pairs: list[PairTest], means: Mapping[str, float],
            alpha: float) -> tuple[str | None, PairTest]:
    """The winner (beats every other variant after Holm) and the headline pair."""
    winner = None
    for v in names:
        beats = [p for p in pairs if v in (p.first, p.second)]
        if all(p.significant and (p.effect > 0) == (p.second == v) for p in beats):
            winner = v
    ranked = sorted(names, key=lambda v: -means[v])
    if len(names) == 2:
        head = pairs[0]
    else:
        best, second = ranked[0], ranked[1]
        head = next(p for p in pairs if {p.first, p.second} == {best, second})
    return winner, head


def _decision(winner: str | None, head: PairTest, alpha: float, needed: int | None, unit: str) -> str:
    if winner is not None:
        return f"winner: {winner} (Holm-adjusted p = {head.adjusted_p:.3g} ≤ {alpha:g}, {head.test})"
    more = f"; about {needed} {unit} would be needed to detect the observed effect at 80% power" \
        if needed is not None else "; no difference observed"
    return f"no winner yet (p = {head.adjusted_p:.3g} > {alpha:g}){more}"


def _paired_matrix(exp: Experiment) -> tuple[Any, list[str], bool]:
    t = exp.table.copy()
    metric = exp.metric
    t["_score"] = [as_number(x) if s == "OK" else (math.nan if exp.error_score is None else exp.error_score)
                   for x, s in zip(t[metric], t["status"], strict=True)]
    wide = t.pivot_table(index="input_index", columns="variant", values="_score", aggfunc="mean")
    names = list(exp.variants)
    wide = wide.reindex(columns=names).dropna()
    calls = t["_score"].dropna().to_numpy()
    binary = bool(np.all((calls == 0) | (calls == 1))) and t.groupby(["variant", "input_index"]).size().max() == 1
    return wide, names, binary


def _analyse_paired(exp: Experiment) -> ExperimentResult:
    wide, names, binary = _paired_matrix(exp)
    look_alpha = exp.alpha / exp.looks
    raw = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = (wide[b] - wide[a]).to_numpy()
            if binary:
                p = mcnemar_exact(int(np.sum(d < 0)), int(np.sum(d > 0)))
            else:
                p = sign_flip_p(d, seed=exp.seed)
            ci = bootstrap_ci(d, look_alpha, seed=exp.seed)
            raw.append((a, b, float(d.mean()) if d.size else math.nan, ci, p, d.size))
    adjusted = holm([r[4] for r in raw])
    test = "exact McNemar" if binary else "paired sign-flip randomisation test"
    pairs = [PairTest(a, b, eff, ci, test, p, adj, adj <= look_alpha, n)
             for (a, b, eff, ci, p, n), adj in zip(raw, adjusted, strict=True)]
    means = {v: float(wide[v].mean()) for v in names}
    winner, head = _decide(exp, names, pairs, means, look_alpha)
    rng = np.random.default_rng(exp.seed)
    weights = rng.dirichlet(np.ones(len(wide)), 4000) if len(wide) else np.ones((1, 0))
    prob = _prob_best_draws(weights @ wide.to_numpy()) if len(wide) else np.full(len(names), 1 / len(names))
    prob_best = {v: float(p) for v, p in zip(names, prob, strict=True)}
    ok = exp.table[exp.table["status"] == "OK"]
    t = exp.table.assign(_s=[as_number(x) for x in exp.table[exp.metric]])
    groups = {v: t.loc[(t["variant"] == v) & (t["status"] == "OK"), "_s"].dropna() for v in names}
    cost = {v: ok.loc[ok["variant"] == v, "cost_usd"] for v in names}
    latency = {v: ok.loc[ok["variant"] == v, "latency_ms"] for v in names}
    needed = None
    if winner is None:
        d = (wide[head.second] - wide[head.first]).to_numpy()
        needed = paired_samples_needed(d, look_alpha / max(1, len(pairs)), binary=binary)
    return ExperimentResult(
        exp.name, "paired", str(exp.metric), names, head.effect, head.interval, head.test, head.adjusted_p,
        exp.alpha, prob_best, _decision(winner, head, look_alpha, needed, "inputs"), winner, needed,
        _per_variant(names, groups, cost, latency, exp.alpha, prob_best), pairs, exp.looks_used)


def _live_frame(exp: Experiment) -> Any:
    import pandas as pd

    return pd.DataFrame(exp.observations)


def _analyse_live(exp: Experiment) -> ExperimentResult:
    frame = _live_frame(exp)
    names = list(exp.variants)
    x = np.array([as_number(v) for v in frame[exp.metric]])
    arm = frame["variant"].to_numpy()
    keep = ~np.isnan(x)
    x, arm = x[keep], arm[keep]
    binary = bool(np.all((x == 0) | (x == 1)))
    raw = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sel = (arm == a) | (arm == b)
            xs, in_b = x[sel], arm[sel] == b
            p = always_valid_p(xs, in_b, exp.mixture_sd)
            xa, xb = xs[~in_b], xs[in_b]
            eff = float(xb.mean() - xa.mean()) if xa.size and xb.size else math.nan
            var = float(xs.var(ddof=1)) if xs.size > 1 else 0.0
            ci = confidence_sequence(eff, var, xa.size, xb.size, exp.mixture_sd, exp.alpha)
            raw.append((a, b, eff, ci, p, int(xs.size), var))
    adjusted = holm([r[4] for r in raw])
    test = "mSPRT (always valid)"
    pairs = [PairTest(a, b, eff, ci, test, p, adj, adj <= exp.alpha, n)
             for (a, b, eff, ci, p, n, _v), adj in zip(raw, adjusted, strict=True)]
    groups = {v: x[arm == v] for v in names}
    means = {v: float(groups[v].mean()) if groups[v].size else -math.inf for v in names}
    winner, head = _decide(exp, names, pairs, means, exp.alpha)
    prob_best = _thompson(groups, names, binary, exp.seed)
    needed = None
    if winner is None and not math.isnan(head.effect):
        var = next(r[6] for r in raw if (r[0], r[1]) == (head.first, head.second))
        have = min(groups[head.first].size, groups[head.second].size)
        needed = sequential_samples_needed(head.effect, var, exp.mixture_sd, exp.alpha / max(1, len(pairs)),
                                           at_least=have)
    cost = {v: frame.loc[frame["variant"] == v, "cost_usd"] if "cost_usd" in frame else None for v in names}
    latency = {v: frame.loc[frame["variant"] == v, "latency_ms"] if "latency_ms" in frame else None for v in names}
    return ExperimentResult(
        exp.name, "live", str(exp.metric), names, head.effect, head.interval, head.test, head.adjusted_p,
        exp.alpha, prob_best, _decision(winner, head, exp.alpha, needed, "observations per variant"), winner,
        needed, _per_variant(names, groups, cost, latency, exp.alpha, prob_best), pairs, 1)


def _thompson(groups: Mapping[str, Any], names: list[str], binary: bool, seed: int,
              draws: int = 20000) -> dict[str, float]:
    """Probability each variant is best: Beta(1 + passes, 1 + fails) posteriors for pass/fail,
    normal N(mean, sd²/n) for continuous scores."""
    rng = np.random.default_rng(seed)
    cols = []
    for v in names:
        g = np.asarray(groups[v], float)
        if binary:
            cols.append(rng.beta(1 + g.sum(), 1 + g.size - g.sum(), draws))
        elif g.size >= 2:
            cols.append(rng.normal(g.mean(), g.std(ddof=1) / math.sqrt(g.size) + 1e-12, draws))
        else:
            cols.append(np.full(draws, -np.inf) if g.size == 0 else rng.normal(g.mean(), 1.0, draws))
    prob = _prob_best_draws(np.column_stack(cols))
    return {v: float(p) for v, p in zip(names, prob, strict=True)}
