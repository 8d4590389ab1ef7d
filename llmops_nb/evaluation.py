"""Scorers: small callables that grade one answer, and feedback on the call's MLflow trace.

A scorer is any callable ``scorer(output, inputs, completion=None) -> float | bool``; a plain
function of ``(output, inputs)`` works too. The built-ins return :class:`Scorer` objects (a name
plus the function)::

    from llmops_nb import evaluation as ev

    scorers = [ev.contains("Paris"), ev.json_valid(), ev.length(max=400), ev.cost_below(0.001),
               ev.llm_judge("route:judge", "Is the answer factually correct and concise?")]
    ev.score(c.text, {"question": q}, scorers, completion=c)       # {"contains": True, ...}
    ev.log_feedback(c.trace_id, {"contains": True}, rationales={})  # MLflow assessments
    df = ev.evaluate("sim:default", "summarize@1", inputs, scorers)  # one row per input

``exact`` and ``contains`` compare with the input's ``expected`` value unless told the value.
``cost_below`` and ``latency_below`` need the :class:`~llmops_nb.types.Completion`.
``llm_judge`` asks any model or route for ``{"score": 0..1, "reason": "..."}`` and returns a
:class:`Judgement` (a float that carries the reason).

Scores reach MLflow as *feedback* assessments on the call's trace (the same records
``mlflow.genai.evaluate`` writes), through a ``TracingClient`` bound to this package's store —
never MLflow's global tracking URI.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmops_nb.errors import OutputFormatError

ScorerFn = Callable[..., Any]
ScorerSpec = Mapping[str, ScorerFn] | Sequence[ScorerFn]


@dataclass(frozen=True)
class Scorer:
    """A named scorer: ``scorer(output, inputs, completion=None)``."""

    name: str
    fn: Callable[[str, Mapping[str, Any], Any], Any]
    needs_completion: bool = False

    def __call__(self, output: str, inputs: Mapping[str, Any] | None = None, completion: Any = None) -> Any:
        if self.needs_completion and completion is None:
            raise ValueError(f"scorer {self.name!r} needs the Completion: call it with completion=")
        return self.fn(output, inputs or {}, completion)


class Judgement(float):
    """A judge's score (a float in 0..1) with the judge's ``reason``."""

    reason: str

    def __new__(cls, value: float, reason: str = "") -> Judgement:
        obj = super().__new__(cls, value)
        obj.reason = reason
        return obj


# --- built-in scorers ----------------------------------------------------------------------------

def _expected(value: Any, inputs: Mapping[str, Any], key: str) -> Any:
    if value is not None:
        return value
    if key not in inputs:
        raise KeyError(f"no expected value: pass one, or give each input a {key!r} entry")
    return inputs[key]


def exact(expected: str | None = None, *, key: str = "expected", ignore_case: bool = False,
          strip: bool = True, name: str = "exact") -> Scorer:
    """True when the answer equals ``expected`` (or ``inputs[key]``)."""

    def norm(s: Any) -> str:
        s = str(s).strip() if strip else str(s)
        return s.casefold() if ignore_case else s

    return Scorer(name, lambda out, inp, _c: norm(out) == norm(_expected(expected, inp, key)))


def contains(*needles: str, key: str = "expected", ignore_case: bool = True, any_of: bool = False,
             name: str = "contains") -> Scorer:
    """True when the answer contains every needle (``any_of=True``: at least one); with no
    needles, the input's ``key`` value (a string or a list of strings)."""

    def check(out: str, inp: Mapping[str, Any], _c: Any) -> bool:
        wanted = list(needles) or _expected(None, inp, key)
        items = [wanted] if isinstance(wanted, str) else list(wanted)
        text = out.casefold() if ignore_case else out
        found = [(str(n).casefold() if ignore_case else str(n)) in text for n in items]
        return any(found) if any_of else all(found)

    return Scorer(name, check)


def regex(pattern: str, *, flags: int = 0, name: str = "regex") -> Scorer:
    """True when ``pattern`` matches anywhere in the answer (``re.search``)."""
    compiled = re.compile(pattern, flags)
    return Scorer(name, lambda out, _i, _c: compiled.search(out) is not None)


def _parse_json(text: str) -> Any:
    from llmops_nb.render import parse_json_answer

    return parse_json_answer(text)


def json_valid(*, name: str = "json_valid") -> Scorer:
    """True when the answer is JSON (a fenced ```json block counts)."""

    def check(out: str, _i: Mapping[str, Any], _c: Any) -> bool:
        try:
            _parse_json(out)
        except Exception:
            return False
        return True

    return Scorer(name, check)


def json_schema(schema: Mapping[str, Any], *, name: str = "json_schema") -> Scorer:
    """True when the answer is JSON that validates against ``schema`` (JSON Schema)."""
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)

    def check(out: str, _i: Mapping[str, Any], _c: Any) -> bool:
        try:
            value = _parse_json(out)
        except Exception:
            return False
        return bool(validator.is_valid(value))

    return Scorer(name, check)


def length(min: int | None = None, max: int | None = None, *, unit: str = "chars",  # noqa: A002
           name: str = "length") -> Scorer:
    """True when the answer's length (``unit``: ``"chars"`` or ``"words"``) is within bounds."""
    if unit not in ("chars", "words"):
        raise ValueError(f"unit must be 'chars' or 'words', not {unit!r}")

    def check(out: str, _i: Mapping[str, Any], _c: Any) -> bool:
        size = len(out) if unit == "chars" else len(out.split())
        return (min is None or size >= min) and (max is None or size <= max)

    return Scorer(name, check)


def cost_below(usd: float, *, name: str = "cost_below") -> Scorer:
    """True when the call cost less than ``usd`` (an unpriced call fails)."""
    return Scorer(name, lambda _o, _i, c: c.cost_usd is not None and c.cost_usd < usd, needs_completion=True)


def latency_below(seconds: float, *, name: str = "latency_below") -> Scorer:
    """True when the call took less than ``seconds`` (a cache hit: the original call's time)."""

    def check(_o: str, _i: Mapping[str, Any], c: Any) -> bool:
        took = c.original_latency_s if getattr(c, "cached", False) and c.original_latency_s else c.latency_s
        return bool(took < seconds)

    return Scorer(name, check, needs_completion=True)


# --- LLM judge -----------------------------------------------------------------------------------

JUDGE_SYSTEM = (
    "You are a strict evaluator. Grade the ANSWER against the RUBRIC. Reply with JSON only: "
    '{"score": <number from 0 to 1>, "reason": "<one sentence>"}'
)
_SCORE_TEXT = re.compile(r'"?score"?\s*[:=]\s*"?(-?\d+(?:\.\d+)?)\s*(%|/\s*(\d+(?:\.\d+)?))?', re.I)
_REASON_TEXT = re.compile(r'"?reason"?\s*[:=]\s*"?([^"\n}]*)', re.I)


def _scaled(value: float, out_of: float | None) -> float:
    if out_of:
        value = value / out_of
    elif value > 1 and value <= 10:  # a judge that graded 0..10 anyway
        value = value / 10
    elif value > 10:
        value = value / 100
    if math.isnan(value):
        raise OutputFormatError("the judge's score is not a number")
    return min(1.0, max(0.0, value))


def parse_judgement(text: str) -> Judgement:
    """``{"score": 0..1, "reason": ...}`` from a judge's answer: fenced or bare JSON, or text
    such as ``score: 8/10``; scores on 0..10 or 0..100 scales are rescaled, then clamped."""
    try:
        data = _parse_json(text)
    except Exception:
        data = None
    if data is None:
        match = re.search(r"\{.*\}", text, re.S)
        if match:
            try:
                data = json.loads(match.group(0))
            except ValueError:
                data = None
    if isinstance(data, Mapping) and isinstance(data.get("score"), (int, float, str)):
        try:
            return Judgement(_scaled(float(str(data["score"]).rstrip("%")), None), str(data.get("reason", "")))
        except ValueError:
            pass
    found = _SCORE_TEXT.search(text)
    if found is None:
        raise OutputFormatError(f"the judge did not answer with a score: {text[:200]!r}. "
                                'Ask it (rubric) for JSON like {"score": 0.7, "reason": "..."}')
    out_of = float(found.group(3)) if found.group(3) else (100.0 if found.group(2) == "%" else None)
    reason = _REASON_TEXT.search(text)
    return Judgement(_scaled(float(found.group(1)), out_of), reason.group(1).strip() if reason else "")


def llm_judge(route_or_model: str, rubric: str, *, name: str = "judge", include_inputs: bool = True,
              **call_options: Any) -> Scorer:
    """A scorer that asks ``route_or_model`` (any model id or ``route:NAME``) to grade the answer
    against ``rubric``; returns a :class:`Judgement` (0..1, with ``.reason``). ``call_options``
    go to :func:`llmops_nb.complete` (e.g. ``temperature=0``)."""

    def judge(out: str, inp: Mapping[str, Any], _c: Any) -> Judgement:
        from llmops_nb.pipeline import complete

        context = f"INPUTS:\n{json.dumps(dict(inp), ensure_ascii=False, default=str)}\n\n" if include_inputs else ""
        prompt = f"RUBRIC:\n{rubric}\n\n{context}ANSWER:\n{out}"
        reply = complete(route_or_model, prompt, system=JUDGE_SYSTEM, **call_options)
        # the reason is logged to MLflow as the rationale: the judge's answer as recorded
        return parse_judgement(reply.recorded_text if reply.recorded_text is not None else reply.text)

    return Scorer(name, judge)


# --- applying scorers ----------------------------------------------------------------------------

def scorer_name(scorer: Any) -> str:
    """A scorer's name: ``.name``, else the function's ``__name__``."""
    return str(getattr(scorer, "name", None) or getattr(scorer, "__name__", type(scorer).__name__))


def named(scorers: ScorerSpec | None) -> dict[str, ScorerFn]:
    """Scorers as a name → scorer dict (from a dict, or a list named by :func:`scorer_name`)."""
    if scorers is None:
        return {}
    if isinstance(scorers, Mapping):
        return dict(scorers)
    out: dict[str, ScorerFn] = {}
    for s in scorers:
        name = scorer_name(s)
        if name in out:
            raise ValueError(f"two scorers are named {name!r}: pass a dict to name them")
        out[name] = s
    return out


def _takes_completion(fn: Any) -> bool:
    if isinstance(fn, Scorer):
        return True
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return (len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params)
            or any(p.name == "completion" for p in params))


def call_scorer(fn: ScorerFn, output: str, inputs: Mapping[str, Any], completion: Any = None) -> Any:
    """Call one scorer, passing the completion only to scorers that take it."""
    if _takes_completion(fn):
        return fn(output, dict(inputs), completion)
    return fn(output, dict(inputs))


def as_number(value: Any) -> float:
    """A score as a float (True → 1.0); None → NaN."""
    return math.nan if value is None else float(value)


def score(output: str, inputs: Mapping[str, Any] | None, scorers: ScorerSpec,
          completion: Any = None) -> dict[str, Any]:
    """Every scorer's value for one answer (a failing scorer raises)."""
    return {name: call_scorer(fn, output, inputs or {}, completion) for name, fn in named(scorers).items()}


def log_feedback(trace_id: str, scores: Mapping[str, Any], *, rationales: Mapping[str, str] | None = None,
                 source: str = "llmops_nb", flush: bool = True) -> int:
    """Log each score as an MLflow *feedback* assessment on trace ``trace_id`` (in this
    package's store); returns how many were logged. A :class:`Judgement`'s reason becomes the
    rationale. ``flush`` first waits for the trace to reach the store."""
    if not trace_id or not scores:
        return 0
    from llmops_nb import tracking

    count = 0
    for name, value in scores.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        rationale = (rationales or {}).get(name) or getattr(value, "reason", None) or None
        plain = bool(value) if isinstance(value, bool) else float(value)
        kind = "LLM_JUDGE" if isinstance(value, Judgement) else "CODE"
        tracking.log_feedback(trace_id, plain, rationale, name, source_type=kind, source_id=source,
                              flush_first=flush and count == 0)
        count += 1
    return count


def evaluate(model: str | None, prompt: Any, inputs: Iterable[Mapping[str, Any]], scorers: ScorerSpec, *,
             feedback: bool = True, **call_options: Any) -> Any:
    """Answer every input with ``complete(model, prompt, variables=input)``, score each answer
    and (``feedback``) log the scores as MLflow feedback on the call's trace. One row per input:
    ``input_index, output, cost_usd, latency_ms, trace_id, error`` and one column per scorer."""
    import pandas as pd

    from llmops_nb.pipeline import complete

    fns = named(scorers)
    rows, logged = [], []
    for i, inp in enumerate(inputs):
        row: dict[str, Any] = {"input_index": i, "output": None, "cost_usd": None, "latency_ms": None,
                               "trace_id": None, "error": None, **dict.fromkeys(fns)}
        try:
            c = complete(model, prompt, variables=dict(inp), **call_options)
            row.update(output=c.text, cost_usd=c.cost_usd, latency_ms=c.latency_s * 1000, trace_id=c.trace_id)
            values = score(c.text, inp, fns, completion=c)
            row.update(values)
            logged.append((c.trace_id, values))
        except Exception as exc:  # one failure never stops the rest
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    if feedback:
        for trace_id, values in logged:
            log_feedback(trace_id, values, flush=trace_id == logged[0][0])
    return pd.DataFrame(rows)
