"""MLflow's prompt optimizers (metaprompting, GEPA) driven by this package's calls.

:func:`mlflow.genai.optimize_prompts` hands an optimizer three things: an evaluation function
``eval_fn(candidate_prompts, dataset) -> [EvaluationResultRecord]``, the training records and
the prompt templates (``BasePromptOptimizer.optimize``). This module supplies those from our
side, so every evaluation and every reflection is an ordinary :func:`llmops_nb.complete` call
(any ``provider:model`` or ``route:NAME``, ``sim:`` included; guardrails, cache, budgets and
recording as usual) instead of MLflow's LiteLLM/gateway calls:

- :class:`Evaluator` is the ``eval_fn``: it answers each record with the candidate template,
  scores it with our scorers and remembers every (template, input) answer, so the optimizer's
  own baseline pass and the final paired comparison cost nothing extra;
- the reflection model is plugged in where each optimizer takes it: a
  :class:`~mlflow.genai.optimize.optimizers.MetaPromptOptimizer` whose reflection call is ours,
  and GEPA's ``reflection_strategy`` (a :class:`gepa` ``StatelessReflectionLM`` around our
  call; MLflow's ``GepaPromptOptimizer`` passes it through ``gepa_kwargs``).

MLflow's ``optimize_prompts`` itself is not called: it registers every optimized prompt
whatever its score, in MLflow's global registry, and swaps candidates in by patching
``PromptVersion.template`` process-wide. Here only a winner is registered (see
:mod:`llmops_nb.optimization`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from llmops_nb.errors import BudgetExceeded
from llmops_nb.evaluation import as_number, call_scorer
from llmops_nb.prompts import PromptVersion, content_hash, parse_parts

OPTIMIZERS = ("metaprompt", "gepa")
OBJECTIVE = "objective"  # the mean of the scorers: what the optimizers maximise
FORMAT_FINDINGS = frozenset({"invalid_json", "schema_violation"})  # the answer's format checks


class Stopped(Exception):  # noqa: N818 — a control-flow signal, not an error the user sees
    """The budget (``max_cost``) is spent: unwind out of the optimizer."""


@dataclass
class Spend:
    """What the optimisation has spent, and its cap: each of the calls sent together may use at
    most its share of what is left (``left / concurrent``), so they never overshoot ``limit``."""

    limit: float | None
    workers: int = 1
    spent: float = 0.0
    calls: int = 0
    stopped: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cap(self, concurrent: int = 1) -> float | None:
        """What one of ``concurrent`` calls sent together may cost at most."""
        if self.limit is None:
            return None
        with self._lock:
            return max(self.limit - self.spent, 0.0) / max(1, concurrent)

    def add(self, cost: float | None) -> None:
        with self._lock:
            self.spent += cost or 0.0
            self.calls += 1

    def stop(self, exc: BudgetExceeded) -> Stopped:
        with self._lock:
            self.stopped = self.stopped or (f"max_cost ${self.limit:g} reached after ${self.spent:.6f}: "
                                            f"the next call was estimated at ${exc.estimate:.6f}")
        return Stopped(self.stopped)


def template_of(candidate: str, like: PromptVersion) -> PromptVersion:
    """A candidate template as an unregistered version shaped like ``like`` (same model and
    parameters); its ``messages()`` are what is sent."""
    parts = parse_parts(candidate)
    return PromptVersion(like.name, 0, parts, content_hash(parts, like.model, like.params), None, (),
                         like.model, like.params)


def record_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """An input row as MLflow's training record: template variables, and ``expected``."""
    return {"inputs": {k: v for k, v in item.items() if k != "expected"}, "outputs": item.get("expected")}


def _key(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)


def row_causes(row: Mapping[str, Any], scorers: Sequence[str], threshold: float) -> list[str]:
    """The failures one answer shows: its error type (a guardrail block is ``GuardrailBlocked``,
    a provider failure its own type), the answer's format and guardrail findings, low scores."""
    causes = []
    if row["status"] != "OK":
        causes.append(f"error: {row['error_type']}")
    causes += [f"{'output format' if f in FORMAT_FINDINGS else 'guardrail'}: {f}" for f in row.get("finding_types", ())]
    for name in scorers:
        value = row.get(name)
        if row["status"] == "OK" and value is not None and not math.isnan(value) and value < threshold:
            causes.append(f"low score: {name} < {threshold:g}")
    return causes


class Evaluator:
    """``eval_fn`` for MLflow's optimizers: our calls, our scorers, every answer remembered."""

    def __init__(self, parent: PromptVersion, model: str | None, scorers: Mapping[str, Any],
                 items: Sequence[Mapping[str, Any]], spend: Spend, *, train: int | None = None, threshold: float = 0.5,
                 call_options: Mapping[str, Any] | None = None, known_failures: str = "") -> None:
        self.parent, self.model, self.scorers, self.spend = parent, model, dict(scorers), spend
        self.threshold, self.call_options, self.known_failures = threshold, dict(call_options or {}), known_failures
        self.items = {_key(record_of(item)): (i, dict(item)) for i, item in enumerate(items)}
        self.train = len(items) if train is None else train  # items[:train] are the optimizer's data
        self.answers: dict[tuple[str, int], dict[str, Any]] = {}  # (template, item index) → row
        self.full_passes: dict[str, float] = {}  # template → mean objective over every item (in order)
        self._lock = threading.Lock()
        self.concurrency = 1  # calls sent together by the current pass

    def item(self, index: int) -> dict[str, Any]:
        """Item ``index`` (``data`` first, then ``eval_data``)."""
        return next(item for i, item in self.items.values() if i == index)

    # -- one answer -------------------------------------------------------------------------
    def answer(self, template: str, index: int, item: Mapping[str, Any]) -> dict[str, Any]:
        """The scored answer of ``template`` for item ``index`` (asked once, then remembered)."""
        with self._lock:
            known = self.answers.get((template, index))
        if known is not None:
            return known
        row = self._ask(template, index, item)
        with self._lock:
            self.answers[(template, index)] = row
        return row

    def _ask(self, template: str, index: int, item: Mapping[str, Any]) -> dict[str, Any]:
        from llmops_nb.pipeline import complete

        row: dict[str, Any] = {"input_index": index, "status": "ERROR", "output": None, "cost_usd": None,
                               "latency_ms": None, "ttft_ms": None, "cached": False, "error": None,
                               "error_type": None, "trace_id": None, "finding_types": (),
                               **dict.fromkeys(self.scorers, math.nan)}
        is_parent = template == self.parent.template  # sent as the version: its traces name it
        version = self.parent if is_parent else template_of(template, self.parent)
        try:
            source: Any = version if is_parent else version.messages(item)
            cap = self.spend.cap(self.concurrency)
            c = complete(self.model or version.model, source, variables=item if is_parent else None, max_cost=cap,
                         **{**version.params, **self.call_options})
        except BudgetExceeded as exc:
            raise self.spend.stop(exc) from None
        except Exception as exc:  # guardrail blocks, output-format and provider errors are data
            row.update(error=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__,
                       trace_id=getattr(exc, "trace_id", None),
                       finding_types=tuple(sorted({f.type for f in getattr(exc, "findings", []) or []})))
            return row
        self.spend.add(0.0 if c.cached else c.cost_usd)
        row.update(status="OK", output=c.text, cost_usd=c.cost_usd, latency_ms=c.latency_s * 1000,
                   ttft_ms=None if c.ttft_s is None else c.ttft_s * 1000, cached=c.cached, trace_id=c.trace_id,
                   finding_types=tuple(sorted({f.type for f in c.findings if f.direction == "output"})),
                   completion=c)
        problems = []
        for name, fn in self.scorers.items():
            try:
                row[name] = as_number(call_scorer(fn, c.text, item, c))
            except Exception as exc:  # a broken scorer must not lose the answer
                problems.append(f"scorer {name!r} failed: {type(exc).__name__}: {exc}")
        row["error"] = "; ".join(problems) or None
        return row

    def recorded(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` as it may be written (MLflow artifacts): what the provider saw, never a value
        the guardrails redacted (:mod:`llmops_nb.recorded`)."""
        from llmops_nb import recorded

        policy = recorded.policy_of(self.call_options.get("guard", recorded.INHERIT))
        return recorded.recorded_row(row, row.get("completion"), policy, texts=("error",))

    def objective(self, row: Mapping[str, Any]) -> float:
        """The mean of the scorers (a failed call scores 0)."""
        if row["status"] != "OK":
            return 0.0
        values = [row[n] for n in self.scorers if not math.isnan(row[n])]
        return sum(values) / len(values) if values else 0.0

    # -- MLflow's eval_fn -------------------------------------------------------------------
    def __call__(self, candidate_prompts: Mapping[str, str], dataset: list[dict[str, Any]]) -> list[Any]:
        from mlflow.genai.optimize.types import EvaluationResultRecord

        template = candidate_prompts[self.parent.name]
        found = [self.items[_key(r)] for r in dataset]
        self.concurrency = max(1, min(self.spend.workers, len(found)))
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(contextvars.copy_context().run, self.answer, template, i, item)
                       for i, item in found]
            rows = [f.result() for f in futures]
        if sorted(i for i, _ in found) == list(range(self.train)):
            self.full_passes[template] = sum(map(self.objective, rows)) / max(1, len(rows))
        return [EvaluationResultRecord(inputs=self._shown(r["inputs"], row), outputs=row["output"] or row["error"],
                                       expectations={"expected_response": r.get("outputs")},
                                       score=self.objective(row), trace=None,  # type: ignore[arg-type]
                                       rationales=self._rationales(row),
                                       individual_scores={n: 0.0 if math.isnan(row[n]) else row[n]
                                                          for n in self.scorers})
                for r, row in zip(dataset, rows, strict=True)]

    @staticmethod
    def _shown(inputs: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
        """What the reflection model may see of an input: not one the guardrails blocked."""
        if row["error_type"] == "GuardrailBlocked":
            return dict.fromkeys(inputs, "<withheld: blocked by the input guardrails>")
        return dict(inputs)

    def _rationales(self, row: Mapping[str, Any]) -> dict[str, str]:
        out = {"failures": "; ".join(row_causes(row, list(self.scorers), self.threshold)) or "none"}
        if row["error"]:
            out["error"] = str(row["error"])[:300]
        if self.known_failures:
            out["known failures of this prompt"] = self.known_failures
        return out


# --- the reflection model -------------------------------------------------------------------------

def reflector(model: str, spend: Spend, log: list[str], **call_options: Any) -> Callable[[Any], str]:
    """``reflect(prompt) -> text``: one recorded call to ``model`` (GEPA's ``LanguageModel``)."""

    def reflect(prompt: str | list[dict[str, Any]]) -> str:
        from llmops_nb.pipeline import complete

        try:
            c = complete(model, prompt, max_cost=spend.cap(), **call_options)
        except BudgetExceeded as exc:
            raise spend.stop(exc) from None
        spend.add(0.0 if c.cached else c.cost_usd)
        log.append(f"reflection by {model}: {c.usage.input_tokens}→{c.usage.output_tokens} tokens")
        return c.text

    return reflect


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def parse_proposals(text: str) -> dict[str, str]:
    """The metaprompt answer ``{"prompt name": "new template"}`` (a fenced block is fine)."""
    data = json.loads(_FENCE.sub("", text.strip()))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError('the reflection model must answer a JSON object {"prompt name": "improved template"}')
    return data


class _SilentLog:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def log(self, message: str) -> None:
        self.lines.append(str(message))


def mlflow_optimizer(kind: str, reflect: Callable[[Any], str], *, model: str, guidelines: str,
                     max_metric_calls: int, log: list[str], seed: int = 0) -> Any:
    """MLflow's ``MetaPromptOptimizer`` or ``GepaPromptOptimizer`` reflecting through ``reflect``."""
    for name in ("mlflow.genai.optimize", "gepa"):  # their progress lines would land in notebook cells
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.ERROR)
    uri = f"llmops:/{model}"  # their "<provider>:/<model>" form; the calls themselves are ours
    if kind == "metaprompt":
        from mlflow.genai.optimize.optimizers import MetaPromptOptimizer

        class OurMetaPrompt(MetaPromptOptimizer):
            def _call_reflection_model(self, meta_prompt: str, enable_tracking: bool = True) -> dict[str, str]:
                try:
                    return parse_proposals(reflect(meta_prompt))
                except Exception as exc:  # MLflow keeps the original prompt; say why (a stop says so itself)
                    if not isinstance(exc, Stopped):
                        log.append(f"reflection failed: {type(exc).__name__}: {exc}")
                    raise

        return OurMetaPrompt(reflection_model=uri, guidelines=guidelines or None)
    if kind == "gepa":
        try:
            from gepa.proposer.reflective_mutation.reflection_lm import StatelessReflectionLM
        except ImportError as exc:
            raise ImportError("optimizer='gepa' needs the gepa package: pip install 'gepa>=0.1'") from exc
        from mlflow.genai.optimize.optimizers import GepaPromptOptimizer

        silent = _SilentLog(log)
        return GepaPromptOptimizer(reflection_model=uri, max_metric_calls=max_metric_calls, gepa_kwargs={
            "reflection_strategy": StatelessReflectionLM(reflect, None, silent),  # type: ignore[arg-type]
            "logger": silent, "seed": seed})
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {kind!r}")
