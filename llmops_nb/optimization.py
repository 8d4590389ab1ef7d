"""Optimise a registered prompt from its failures, keep the new version only if it wins.

::

    import llmops_nb as llm
    from llmops_nb import evaluation as ev

    r = llm.optimize(prompt="summarize@production", data=rows, scorers=[ev.contains()],
                     model="openai:gpt-5.4-mini", reflection_model="route:quality",
                     optimizer="metaprompt", eval_data=held_out, max_cost=0.50, confirm_above_usd=0.10)
    r.winner, r.version, r.decision     # the new version (registered) only if it won
    r.failures, r.addressed             # what it started from, and which it fixed
    r.scores, r.diff(), r.chart()       # before/after table, unified diff, chart

``data`` (and ``eval_data``) are dicts of template variables, with ``expected`` where a scorer
needs it. Steps, each on what the package already has:

1. **Failures**: the prompt's failed and low-scoring calls in the history
   (:func:`llmops_nb.monitor.failure_analysis`), then the parent answering ``data``: errors by
   type (guardrail blocks, output-format errors, provider errors), guardrail findings on the
   answer, scores below ``threshold``. They are what the reflection model is told.
2. **Proposals** from MLflow's optimizers — ``"metaprompt"`` (one reflective rewrite) or
   ``"gepa"`` (reflective evolution, ``max_metric_calls`` answers) — every call ours
   (:mod:`llmops_nb.mlflow_optimizers`).
3. **Comparison**: parent and candidate on ``eval_data`` (default: ``data`` itself, which
   favours the candidate: hold data out for an honest test) with the paired statistics of
   :class:`~llmops_nb.experiments.Experiment` (exact McNemar / sign-flip test, bootstrap
   interval); the candidate wins only at ``alpha``.
4. **Registration** of a winner as a new version of the same prompt, tagged with its lineage
   (``llmops.optimize.parent``, the data sets' digests and sizes, the optimizer, the run);
   ``alias`` then points at it. The data themselves are not written to MLflow (only what the
   provider saw is), just their digest.

**Cost**: estimated before anything is sent (from the parent's token count, ``max_tokens``
answer tokens per call, and each optimizer's call count); above ``confirm_above_usd`` it asks,
or raises :class:`~llmops_nb.errors.CostConfirmationRequired`, like :func:`compare`.
``max_cost`` caps the spend: no call is sent whose estimate would pass it, and the optimiser
stops there with the best candidate it has fully evaluated (``r.stopped`` says why).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from llmops_nb.mlflow_optimizers import (
    OBJECTIVE,
    OPTIMIZERS,
    Evaluator,
    Spend,
    Stopped,
    template_of,
)
from llmops_nb.optimization_failures import (
    addressed,
    cause_counts,
    failures_table,
    guidelines,
    known_failures,
)
from llmops_nb.optimization_result import OptimizationResult
from llmops_nb.prompts import PromptVersion

TAG = "llmops.optimize."
REFLECTION_MAX_TOKENS = 2048
_METAPROMPT_OVERHEAD_TOKENS = 1200  # MLflow's meta-prompt text around the examples
_GEPA_MINIBATCH = 3


# --- the data ----------------------------------------------------------------------------------

def _rows(data: Any, what: str) -> list[dict[str, Any]]:
    if hasattr(data, "to_dict"):  # a DataFrame
        data = data.to_dict("records")
    if isinstance(data, (str, Mapping)) or not isinstance(data, Sequence):
        raise TypeError(f"{what} is a list of dicts of template variables (plus 'expected'), not {type(data).__name__}")
    rows = [dict(r) for r in data]
    if not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{what} needs at least one input (a dict of template variables)")
    return rows


def digest(rows: Sequence[Mapping[str, Any]]) -> str:
    """A data set's identity: sha256 of its canonical JSON (first 16 hex digits)."""
    canonical = json.dumps(list(rows), sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --- cost ------------------------------------------------------------------------------------------

def estimate_cost(parent: PromptVersion, model: str | None, reflection_model: str, items: list[dict[str, Any]],
                  eval_items: list[dict[str, Any]] | None, optimizer: str, max_metric_calls: int,
                  max_tokens: int | None) -> Any:
    """The most the optimisation may cost: task calls priced as the parent's, reflection calls
    as a meta-prompt holding the examples (a route is priced as its first model)."""
    from llmops_nb.comparison import (
        DEFAULT_ESTIMATE_OUTPUT_TOKENS,
        CallOptions,
        Cell,
        CostEstimate,
        PromptSpec,
        estimate,
    )
    from llmops_nb.config import settings

    task_model = model or parent.model or settings().default_model
    out = max_tokens or DEFAULT_ESTIMATE_OUTPUT_TOKENS
    one_pass = estimate([Cell(task_model, PromptSpec(parent.ref, parent), i, item, 0) for i, item in enumerate(items)],
                        CallOptions(max_tokens=max_tokens))
    per_task = one_pass.usd / len(items)
    task_calls = 2 * len(items) if optimizer == "metaprompt" else max(max_metric_calls, len(items))
    reflections = 1 if optimizer == "metaprompt" else math.ceil(max_metric_calls / _GEPA_MINIBATCH)
    shown = items if optimizer == "metaprompt" else items[:_GEPA_MINIBATCH]
    examples = "\n".join(json.dumps(i, ensure_ascii=False, default=str) for i in shown).replace("{{", "{ {")
    meta = parent.template.replace("{{", "{ {") + "\n" + examples + " answer" * (out * len(shown))
    meta += " guidance" * _METAPROMPT_OVERHEAD_TOKENS
    reflection = estimate([Cell(reflection_model, PromptSpec("reflection", meta), 0, {}, 0)],
                          CallOptions(max_tokens=REFLECTION_MAX_TOKENS))
    usd = per_task * task_calls + reflection.usd * reflections
    calls = task_calls + reflections
    if eval_items is not None:
        held = estimate([Cell(task_model, PromptSpec(parent.ref, parent), i, item, 0)
                         for i, item in enumerate(eval_items)], CallOptions(max_tokens=max_tokens))
        usd, calls = usd + 2 * held.usd, calls + 2 * len(eval_items)
    return CostEstimate(calls, usd, out, tuple(dict.fromkeys(one_pass.unpriced + reflection.unpriced)))


# --- comparison and registration -------------------------------------------------------------------

def _experiment_table(ev: Evaluator, templates: Mapping[str, str], indices: Sequence[int],
                      recorded: bool = False) -> Any:
    """The paired table :class:`Experiment` analyses: one row per (variant, input); with
    ``recorded``, as it may be logged (answers as the provider saw them)."""
    import pandas as pd

    from llmops_nb.experiments import TABLE_COLUMNS

    rows = []
    for variant, template in templates.items():
        for position, index in enumerate(indices):
            row = ev.answers[(template, index)]
            row = ev.recorded(row) if recorded else row
            rows.append({**{k: row.get(k) for k in TABLE_COLUMNS}, "variant": variant, "input_index": position,
                         "sample": 0, **{n: row[n] for n in ev.scorers}, OBJECTIVE: ev.objective(row)})
    return pd.DataFrame(rows, columns=[*TABLE_COLUMNS, *ev.scorers, OBJECTIVE])


def _scores_table(table: Any, metrics: list[str]) -> Any:
    """metric × (parent, candidate, change): mean scores (a failed call scores 0), error rate."""
    import pandas as pd

    scored = table.assign(**{m: table[m].where(table["status"] == "OK", 0.0) for m in metrics},
                          error_rate=(table["status"] != "OK").astype(float))
    means = scored.groupby("variant")[[*metrics, "error_rate"]].mean().T
    out = pd.DataFrame({"parent": means["parent"], "candidate": means["candidate"]})
    out["change"] = out["candidate"] - out["parent"]
    out.index.name = "metric"
    return out


def _secret_or_pii(text: str) -> list[str]:
    from llmops_nb.guardrails import pii, secrets

    return sorted({f.type for f in pii.scan(text) + secrets.scan(text)})


def _register(parent: PromptVersion, candidate: str, *, optimizer: str, alias: str | None,
              tags: Mapping[str, str]) -> PromptVersion:
    from llmops_nb import prompts
    from llmops_nb.session import session

    reg = prompts.register(parent.name, candidate, message=f"optimize ({optimizer}) from {parent.ref}",
                           model=parent.model, params=dict(parent.params), aliases=[alias] if alias else [])
    store = session().prompt_store
    for key, value in tags.items():
        store.client.set_prompt_version_tag(parent.name, str(reg.version.version), key, str(value))
    return reg.version


# --- the optimisation ------------------------------------------------------------------------------

def optimize(
    prompt: str | PromptVersion,
    data: Any,
    scorers: Any,
    model: str | None = None,
    *,
    reflection_model: str | None = None,
    optimizer: str = "metaprompt",
    eval_data: Any = None,
    alpha: float = 0.05,
    threshold: float = 0.5,
    alias: str | None = None,
    max_metric_calls: int = 30,
    max_cost: float | None = None,
    confirm_above_usd: float | None = None,
    confirm: bool = False,
    max_workers: int = 8,
    max_tokens: int | None = None,
    **call_options: Any,
) -> OptimizationResult:
    """Propose a better version of ``prompt`` from its failures; register it only if it wins.

    ``prompt`` is ``name@version`` / ``name@alias`` or a PromptVersion; ``scorers`` a list or
    dict of scorers (their mean is the objective); ``model`` answers (default: the prompt's
    model) and ``reflection_model`` proposes (default: ``model``) — any model id or
    ``route:NAME``. ``optimizer`` is ``"metaprompt"`` or ``"gepa"`` (``max_metric_calls``
    answers). ``threshold``: a score below it is a failure. ``call_options`` go to every
    answering call (e.g. ``guard="strict"``, ``expect_json=True``, ``temperature=0``). See the
    module docstring for the steps, the budget and the lineage tags.
    """
    from llmops_nb import prompts, tracking
    from llmops_nb.comparison import confirm_cost
    from llmops_nb.config import settings
    from llmops_nb.evaluation import named
    from llmops_nb.experiments import Experiment
    from llmops_nb.mlflow_optimizers import mlflow_optimizer, reflector

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {optimizer!r}")
    parent = prompts.get(prompt)
    items = _rows(data, "data")
    eval_items = _rows(eval_data, "eval_data") if eval_data is not None else None
    fns = named(scorers)
    if not fns:
        raise ValueError("optimize needs at least one scorer: the objective is their mean")
    if OBJECTIVE in fns:
        raise ValueError(f"a scorer may not be named {OBJECTIVE!r} (the mean of the others)")
    task_model = model or parent.model or settings().default_model
    reflection_model = reflection_model or task_model
    options = {**call_options, **({"max_tokens": max_tokens} if max_tokens is not None else {})}

    est = estimate_cost(parent, task_model, reflection_model, items, eval_items, optimizer, max_metric_calls,
                        max_tokens)
    confirm_cost(est, confirm_above_usd, confirm)  # before anything is sent

    history = known_failures(parent)
    log: list[str] = []
    spend = Spend(max_cost, workers=max(1, max_workers))
    with tracking.group(f"optimize {parent.ref}", budget_usd=max_cost) as group:
        ev = Evaluator(parent, task_model, fns, items + (eval_items or []), spend, train=len(items),
                       threshold=threshold, call_options=options)

        def engine(failures: Any) -> Any:
            reflect = reflector(reflection_model, spend, log, max_tokens=REFLECTION_MAX_TOKENS)
            return mlflow_optimizer(optimizer, reflect, model=reflection_model, guidelines=guidelines(failures),
                                    max_metric_calls=max_metric_calls, log=log)

        failures, proposed = _propose(ev, history, engine)
        candidate = _pick(proposed, ev, parent, spend)
        indices = list(range(len(items), len(items) + len(eval_items))) if eval_items else list(range(len(items)))
        notes = [line for line in log if line.startswith("reflection failed")]
        exp = comparison = version = None
        scores, before, after = _empty_scores([*fns, OBJECTIVE]), {}, {}
        if candidate is not None and _answer_all(ev, parent, candidate, [ev.item(i) for i in indices]):
            exp = Experiment(f"optimize {parent.ref}", model=task_model, metric=OBJECTIVE, alpha=alpha,
                             variants={"parent": parent, "candidate": template_of(candidate, parent)})
            pair = {"parent": parent.template, "candidate": candidate}
            exp.add_answers(_experiment_table(ev, pair, indices), _experiment_table(ev, pair, indices, recorded=True),
                            group=group)  # one look, at the answers already made
            comparison = exp.result()
            scores = _scores_table(exp.table, [*fns, OBJECTIVE])
            before, after = (cause_counts([ev.answers[(t, i)] for i in indices], list(fns), threshold)
                             for t in (parent.template, candidate))
            if eval_items is None:
                notes.append("compared on the data the optimizer learned from (optimistic): pass eval_data= "
                             "for a held-out comparison")
        elif candidate is not None:
            notes.append("the budget ran out before the candidate could be compared: nothing registered")
        if exp is not None and candidate is not None and comparison is not None and comparison.winner == "candidate":
            version = _register_winner(parent, candidate, exp, comparison, notes, alias=alias, tags=_lineage(
                parent, optimizer, items, eval_items, group.id, task_model, reflection_model))
    run_id = _log(exp, comparison, version) if exp is not None and settings().tracking else None
    return OptimizationResult(
        parent, optimizer, candidate, version, comparison, scores, failures, addressed(failures, before, after),
        _candidates_table(ev, parent), est, spend.spent, spend.calls, spend.stopped, run_id, notes)


def _propose(ev: Evaluator, history: Any, engine: Any) -> tuple[Any, str | None]:
    """The parent answers the data (its failures, with the history's, steer the proposal), then
    the optimizer proposes: (failures, proposed template or None when stopped)."""
    from llmops_nb.mlflow_optimizers import record_of

    parent, train = ev.parent, [ev.item(i) for i in range(ev.train)]
    records = [record_of(i) for i in train]
    failures = failures_table(history, {})
    try:
        ev({parent.name: parent.template}, records)
        failures = failures_table(history, cause_counts(
            [ev.answers[(parent.template, i)] for i in range(ev.train)], list(ev.scorers), ev.threshold))
        ev.known_failures = "; ".join(failures.loc[failures["source"] == "history", "cause"])
        output = engine(failures).optimize(ev, records, {parent.name: parent.template}, False)
    except Stopped:
        return failures, None
    return failures, output.optimized_prompts.get(parent.name)


def _register_winner(parent: PromptVersion, candidate: str, exp: Any, comparison: Any, notes: list[str], *,
                     alias: str | None, tags: dict[str, str]) -> PromptVersion | None:
    """Register the winning template (unless it holds a secret or PII: the registry is shared)."""
    leaked = _secret_or_pii(candidate)
    if leaked:
        notes.append(f"the candidate won but holds {', '.join(leaked)}: not registered")
        return None
    tags.update({TAG + "effect": f"{comparison.effect:.6g}", TAG + "p_value": f"{comparison.p_value:.6g}"})
    version = _register(parent, candidate, optimizer=tags[TAG + "optimizer"], alias=alias, tags=tags)
    exp.variants["candidate"] = replace(exp.variants["candidate"], prompt=version)
    return version


def _pick(proposed: str | None, ev: Evaluator, parent: PromptVersion, spend: Spend) -> str | None:
    """The candidate to compare: the optimizer's, or (stopped early) the best template fully
    evaluated so far; None when it is the parent again."""
    if spend.stopped or proposed is None:
        tried = {t: s for t, s in ev.full_passes.items() if t != parent.template}
        proposed = max(tried, key=tried.__getitem__) if tried else None
    if proposed is None or template_of(proposed, parent).parts == parent.parts:
        return None
    return proposed


def _answer_all(ev: Evaluator, parent: PromptVersion, candidate: str, items: list[dict[str, Any]]) -> bool:
    """Parent and candidate answer every item (remembered answers are free); False when the
    budget ran out first."""
    from llmops_nb.mlflow_optimizers import record_of

    try:
        for template in (parent.template, candidate):
            ev({parent.name: template}, [record_of(i) for i in items])
    except Stopped:
        return False
    return True


def _empty_scores(metrics: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(index=pd.Index([*metrics, "error_rate"], name="metric"),
                        columns=["parent", "candidate", "change"], dtype=float)


def _lineage(parent: PromptVersion, optimizer: str, items: list[dict[str, Any]],
             eval_items: list[dict[str, Any]] | None, group_id: str, model: str, reflection_model: str) -> dict[str, str]:
    tags = {TAG + "parent": parent.ref, TAG + "parent_hash": parent.content_hash, TAG + "optimizer": optimizer,
            TAG + "dataset": digest(items), TAG + "dataset_size": str(len(items)), TAG + "group_id": group_id,
            TAG + "model": model, TAG + "reflection_model": reflection_model}
    if eval_items is not None:
        tags.update({TAG + "eval_dataset": digest(eval_items), TAG + "eval_dataset_size": str(len(eval_items))})
    return tags


def _candidates_table(ev: Evaluator, parent: PromptVersion) -> Any:
    import pandas as pd

    rows = [{"template": t, "is_parent": t == parent.template, OBJECTIVE: s} for t, s in ev.full_passes.items()]
    return pd.DataFrame(rows, columns=["template", "is_parent", OBJECTIVE])


def _log(exp: Any, comparison: Any, version: PromptVersion | None) -> str | None:
    """The comparison to the optimisation's MLflow run, and the run id to the winner's tags."""
    from llmops_nb.session import session

    run_id = exp.log(comparison)
    if version is not None and run_id:
        session().prompt_store.client.set_prompt_version_tag(version.name, str(version.version), TAG + "run_id",
                                                             run_id)
    return run_id


# --- the %llm optimize line --------------------------------------------------------------------------

@dataclass(frozen=True)
class MagicArgs:
    """A parsed ``%llm optimize`` line: :func:`optimize`'s keyword arguments and ``-o VAR``."""

    kwargs: dict[str, Any]
    out: str | None


def parse_magic_line(line: str, namespace: Mapping[str, Any]) -> MagicArgs:
    """``NAME@V --data VAR --scorers VAR [--model M] [--reflection M] [--optimizer KIND]
    [--eval-data VAR] [--max-cost USD] [--confirm-above USD] [--confirm] [--alias A] [-o VAR]``;
    VARs name notebook variables. UsageError for anything malformed or undefined."""
    from IPython.core.error import UsageError
    from IPython.core.magic_arguments import MagicArgumentParser, arg_split

    p = MagicArgumentParser(prog="%llm optimize")
    p.add_argument("prompt")
    p.add_argument("--data", required=True)
    p.add_argument("--scorers", required=True)
    p.add_argument("--eval-data", dest="eval_data")
    p.add_argument("--model")
    p.add_argument("--reflection", dest="reflection_model")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="metaprompt")
    p.add_argument("--max-cost", dest="max_cost", type=float)
    p.add_argument("--confirm-above", dest="confirm_above_usd", type=float)
    p.add_argument("--confirm", action="store_true")
    p.add_argument("--alias")
    p.add_argument("-o", "--out")
    ns = vars(p.parse_args(arg_split(line, posix=True)))
    for key in ("data", "scorers", "eval_data"):
        if ns[key] is not None:
            if ns[key] not in namespace:
                raise UsageError(f"--{key.replace('_', '-')} {ns[key]}: no such variable in the notebook")
            ns[key] = namespace[ns[key]]
    out = ns.pop("out")
    if out is not None and not out.isidentifier():
        raise UsageError(f"-o {out!r} is not a valid variable name")
    return MagicArgs(ns, out)
