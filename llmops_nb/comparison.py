"""Side-by-side comparison: every (model, prompt, input, sample) cell, run concurrently.

::

    import llmops_nb as llm
    from llmops_nb.compare import compare

    df = compare(models=["sim:a", "route:balanced"],
                 prompts=["Summarize {{text}}", "summarize@production"],
                 inputs=[{"text": doc1}, {"text": doc2}], n=3,
                 scorers={"short": lambda out, inp: len(out) < 400})

**Prompts** are registered refs or templates. A string shaped ``name@version`` or
``name@alias`` (no spaces, exactly one ``@``) is a registered ref and must resolve: a typo such
as ``"summarize@prodution"`` raises :class:`~llmops_nb.errors.PromptNotFound` before anything
is sent, rather than sending the ref itself to every model as prompt text. Any other string is
a template with ``{{variables}}``; a :class:`~llmops_nb.prompts.PromptVersion` is used as is.

**Samples**: with ``n > 1`` every sample is a fresh call (the cache would return the first
sample n times); with ``n == 1`` the cache is used as ``cache=`` says.

**Cost**: before anything is sent, the cost is estimated from the counted prompt tokens and
``max_tokens`` (default 256) answer tokens per call; a route is priced as its first model. If
the estimate is above ``confirm_above_usd`` (or cannot be priced completely), ``compare`` asks
(``input()``) in an interactive session and raises :class:`CostConfirmationRequired` where no
one can answer, unless ``confirm=True``.

**Tracking**: all calls share one group, hence one MLflow run named after the comparison (or
the enclosing cell's run, when called inside one). Once the calls have been exported, the
table (``comparison/table.csv``), a summary (``comparison/summary.json``) and per-model
metrics (``mean_latency_ms/<model>``, ``total_cost_usd/<model>``, ``error_rate/<model>``,
``mean_<scorer>/<model>``) are logged to that run from a background thread, so the table is
returned without waiting for MLflow; :func:`wait_logged` waits for it.

A cell that fails never stops the others: its row has ``status == "ERROR"`` and the error.
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import asdict, dataclass, field
from typing import Any

from llmops_nb import recorded
from llmops_nb.errors import CostConfirmationRequired, LLMOpsError
from llmops_nb.prompts import PromptVersion
from llmops_nb.session import session

log = logging.getLogger(__name__)

Scorer = Callable[[str, dict[str, Any]], "float | bool"]
COLUMNS = [
    "model", "prompt", "input_index", "input", "sample", "status", "output", "answered_by",
    "input_tokens", "output_tokens", "cost_usd", "latency_ms", "ttft_ms", "cached", "findings",
    "error", "trace_id",
]
REF = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+$")
DEFAULT_ESTIMATE_OUTPUT_TOKENS = 256
ROUTE_PREFIX = "route:"


@dataclass(frozen=True)
class PromptSpec:
    """A resolved prompt of a comparison: its label in the table and what is sent."""

    label: str
    source: str | PromptVersion


@dataclass(frozen=True)
class Cell:
    """One call of a comparison."""

    model: str
    prompt: PromptSpec
    input_index: int
    inputs: Mapping[str, Any]
    sample: int


@dataclass(frozen=True)
class CostEstimate:
    """The pre-call estimate: ``usd`` sums the calls that could be priced."""

    calls: int
    usd: float
    output_tokens_per_call: int
    unpriced: tuple[str, ...] = ()  # models with no known price (or whose prompt did not render)
    exact: bool = True  # False: priced from each prompt's token bound (no tokenizer), so higher

    @property
    def complete(self) -> bool:
        """True when every call could be priced."""
        return not self.unpriced

    def describe(self) -> str:
        tail = f"; no price for {', '.join(self.unpriced)}" if self.unpriced else ""
        return (f"{self.calls} call{'s' if self.calls != 1 else ''}, estimated at most ${self.usd:.6f} "
                f"({self.output_tokens_per_call} answer tokens per call{tail})")


@dataclass(frozen=True)
class CallOptions:
    """What every call of a comparison is sent with."""

    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = True
    cache: bool = True
    max_cost: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    guard: Any = None  # None: the configured policy (see complete(guard=...))

    def kwargs(self, cache: bool) -> dict[str, Any]:
        extra: dict[str, Any] = {"max_cost": self.max_cost} if self.max_cost is not None else {}
        if self.guard is not None:
            extra["guard"] = self.guard
        return {"system": self.system, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "stream": self.stream, "cache": cache, **extra, **self.params}


# --- plan ----------------------------------------------------------------------------------------

def resolve_prompts(prompts: Iterable[str | PromptVersion]) -> list[PromptSpec]:
    """Registered refs become their version (label ``name@version``); other strings are
    templates (label: the text, shortened). Duplicates are compared once."""
    from llmops_nb import prompts as registry

    specs: dict[str, PromptSpec] = {}
    for i, p in enumerate(prompts):
        if isinstance(p, PromptVersion) or (isinstance(p, str) and REF.match(p)):
            version = registry.get(p)  # PromptNotFound for a ref that does not resolve
            specs.setdefault(version.ref, PromptSpec(version.ref, version))
        elif isinstance(p, str):
            label = _short(p)
            if label in specs and specs[label].source != p:
                label = f"#{i + 1} {label}"
            specs.setdefault(label, PromptSpec(label, p))
        else:
            raise TypeError(f"a prompt is a template string, a 'name@version' ref or a PromptVersion, not {p!r}")
    if not specs:
        raise ValueError("compare needs at least one prompt")
    return list(specs.values())


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def plan(models: Sequence[str], prompts: Sequence[PromptSpec], inputs: Sequence[Mapping[str, Any]],
         n: int) -> list[Cell]:
    """Every cell, in table order: model, then prompt, then input, then sample."""
    if isinstance(models, str):
        raise TypeError("models is a list of model ids (or route:NAME), not one string")
    if not models:
        raise ValueError("compare needs at least one model")
    if n < 1:
        raise ValueError(f"n (samples per cell) must be at least 1, not {n}")
    return [Cell(m, p, i, inp, s) for m in dict.fromkeys(models) for p in prompts
            for i, inp in enumerate(inputs) for s in range(n)]


def _send_order(cells: list[Cell]) -> list[Cell]:
    """Interleave models so the bounded pool spreads over them (rate limits are per model)."""
    return sorted(cells, key=lambda c: (c.sample, c.input_index, c.prompt.label))


# --- estimate ------------------------------------------------------------------------------------

def _estimate_target(model: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model (and its parameters) a call to ``model`` is priced as: a route's first model."""
    if not model.startswith(ROUTE_PREFIX):
        return model, params
    from llmops_nb.config import settings
    from llmops_nb.routing import route_entries

    name = model[len(ROUTE_PREFIX):]
    if name == "auto":  # rules decide per request; price it as the default route
        name = settings().default_route or ""
    try:
        entry = route_entries(name)[0]
    except LLMOpsError:
        return model, params  # unknown route: the estimate lists it as unpriced
    return entry.model, {**dict(entry.params), **params}


def _cell_cost(cell: Cell, opts: CallOptions, output_tokens: int, exact: bool = True) -> float | None:
    from llmops_nb.pipeline import prepare
    from llmops_nb.pricing import price_of
    from llmops_nb.prompts import render
    from llmops_nb.types import Usage

    params = {"temperature": opts.temperature, "max_tokens": opts.max_tokens, **opts.params}
    source = cell.prompt.source
    if isinstance(source, PromptVersion):  # as pipeline.complete assembles a registered prompt
        messages: Any = source.messages(cell.inputs)
        params = {**source.params, **{k: v for k, v in params.items() if v is not None}}
    else:
        messages = render(source, cell.inputs)
    model, params = _estimate_target(cell.model, params)
    call = prepare(model, messages, system=opts.system, params=params)
    answer = int(params.get("max_tokens") or output_tokens)
    tokens = call.prompt_tokens.exact if exact else call.prompt_tokens.at_most
    return price_of(Usage(input_tokens=tokens, output_tokens=answer), model).cost_usd


def estimate(cells: Sequence[Cell], opts: CallOptions, exact: bool = True) -> CostEstimate:
    """The most the cells may cost, priced before anything is sent (cache hits will be free);
    ``exact=False`` prices each prompt at its token bound, with no tokenizer built.

    A cell that cannot be prepared (missing variables, unknown provider, missing key) is left
    out of the sum and named in ``unpriced``; its own call reports the error."""
    total, unpriced = 0.0, []
    for cell in cells:
        try:
            cost = _cell_cost(cell, opts, DEFAULT_ESTIMATE_OUTPUT_TOKENS, exact)
        except LLMOpsError:
            cost = None
        if cost is None:
            unpriced.append(cell.model)
        else:
            total += cost
    return CostEstimate(len(cells), total, opts.max_tokens or DEFAULT_ESTIMATE_OUTPUT_TOKENS,
                        tuple(dict.fromkeys(unpriced)), exact)


# --- interaction: confirmation and progress --------------------------------------------------------

def _kernel() -> Any:
    """The IPython kernel's shell when running in Jupyter (None in scripts and terminals)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if getattr(shell, "kernel", None) is not None else None


def _interactive() -> bool:
    """Someone may be watching: a Jupyter kernel or a terminal."""
    return _kernel() is not None or bool(getattr(sys.stderr, "isatty", lambda: False)())


def _ask(question: str) -> bool | None:
    """Ask a yes/no question; None when no one can answer (no stdin, nbval, CI, pytest)."""
    if _kernel() is None and not (sys.stdin is not None and sys.stdin.isatty()):
        return None
    try:
        reply = input(question)
    except (EOFError, OSError, NotImplementedError):  # NotImplementedError: kernel without stdin
        return None
    return reply.strip().lower() in ("y", "yes")


def confirm_cost(est: CostEstimate, threshold: float | None, confirm: bool = False) -> None:
    """Return if the estimate may be spent; else ask, or raise CostConfirmationRequired."""
    if threshold is None or confirm or (est.complete and est.usd <= threshold):
        return
    answer = _ask(f"{est.describe()}, above ${threshold:g}. Run it? [y/N] ")
    if not answer:
        raise CostConfirmationRequired(est, threshold, declined=answer is False)


class _Progress:
    """A progress bar where someone can see it: in Jupyter an ipywidgets bar that is replaced by
    a one-line summary when the run ends; in a terminal tqdm (if installed), erased when done;
    else nothing. Its initial display is deterministic (nbval compares it)."""

    def __init__(self, total: int) -> None:
        from llmops_nb.config import settings

        self._bar: Any = None
        self._handle: Any = None
        self._tqdm = False
        self._total, self._done, self._started = total, 0, time.perf_counter()
        if not _interactive() or not settings().live_stream:  # live displays off (e.g. under nbval)
            return
        if _kernel() is None:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar, self._tqdm = tqdm(total=total, desc="calls", leave=False), True
            return
        try:
            from IPython.display import display
            from ipywidgets import IntProgress
        except ImportError:
            return
        self._bar = IntProgress(value=0, min=0, max=total, description="calls")
        self._handle = display(self._bar, display_id=True)

    def advance(self) -> None:
        self._done += 1
        if self._tqdm:
            self._bar.update(1)
        elif self._bar is not None:
            self._bar.value += 1

    def close(self) -> None:
        if self._tqdm:
            self._bar.close()
        elif self._bar is not None:  # the bar goes; what it measured stays, as one line
            self._bar.close()
            took = time.perf_counter() - self._started
            if self._handle is not None:
                self._handle.update({"text/plain": f"calls: {self._done}/{self._total} done in {took:.1f} s"},
                                    raw=True)


# --- run -----------------------------------------------------------------------------------------

def _findings(items: Iterable[Any]) -> str:
    return json.dumps([asdict(f) if hasattr(f, "__dataclass_fields__") else f for f in items],
                      ensure_ascii=False, default=str)


def _base_row(cell: Cell) -> dict[str, Any]:
    return {"model": cell.model, "prompt": cell.prompt.label, "input_index": cell.input_index,
            "input": json.dumps(dict(cell.inputs), sort_keys=True, ensure_ascii=False, default=str),
            "sample": cell.sample, "status": "ERROR", "output": None, "answered_by": None,
            "input_tokens": None, "output_tokens": None, "cost_usd": None, "latency_ms": None,
            "ttft_ms": None, "cached": False, "findings": "[]", "error": None, "trace_id": None}


def _score(scorers: Mapping[str, Scorer], output: str, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    scores: dict[str, Any] = {}
    problems = []
    for name, scorer in scorers.items():
        try:
            scores[name] = scorer(output, dict(inputs))
        except Exception as exc:  # a broken scorer must not lose the answer
            scores[name] = math.nan
            problems.append(f"scorer {name!r} failed: {type(exc).__name__}: {exc}")
    return scores, problems


def run_cell(cell: Cell, opts: CallOptions, scorers: Mapping[str, Scorer],
             use_cache: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """One call of the comparison as a table row, for the user and as recorded (what the
    provider saw: see :mod:`llmops_nb.recorded`); failures become the row's error."""
    row, c = _call_row(cell, opts, scorers, use_cache)
    policy = recorded.policy_of(recorded.INHERIT if opts.guard is None else opts.guard)
    kept = recorded.recorded_row(row, c, policy, texts=("prompt", "error"))
    kept["input"] = recorded.inputs_json(cell.inputs, getattr(c, "placeholders", {}), policy)
    return row, kept


def _call_row(cell: Cell, opts: CallOptions, scorers: Mapping[str, Scorer],
              use_cache: bool) -> tuple[dict[str, Any], Any]:
    from llmops_nb.pipeline import complete

    row = {**_base_row(cell), **dict.fromkeys(scorers)}
    try:
        c = complete(cell.model, cell.prompt.source, variables=dict(cell.inputs), **opts.kwargs(use_cache))
    except Exception as exc:  # one failure never stops the rest
        row.update(error=f"{type(exc).__name__}: {exc}", findings=_findings(getattr(exc, "findings", [])),
                   trace_id=getattr(exc, "trace_id", None))
        return row, None
    row.update(status="OK", output=c.text, answered_by=c.model, input_tokens=c.usage.input_tokens,
               output_tokens=c.usage.output_tokens, cost_usd=c.cost_usd, latency_ms=c.latency_s * 1000,
               ttft_ms=None if c.ttft_s is None else c.ttft_s * 1000, cached=c.cached,
               findings=_findings(c.findings), trace_id=c.trace_id)
    scores, problems = _score(scorers, c.text, cell.inputs)
    row.update(scores)
    if problems:
        row["error"] = "; ".join(problems)
    return row, c


def _run_all(cells: list[Cell], opts: CallOptions, scorers: Mapping[str, Scorer], max_workers: int,
             progress: bool) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Run the cells on a bounded pool, each in a copy of the caller's context (so the calls
    join the caller's group); (row, recorded row) pairs come back in table order."""
    use_cache = opts.cache and all(c.sample == 0 for c in cells)
    bar = _Progress(len(cells)) if progress else None
    rows: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    order = {id(c): i for i, c in enumerate(cells)}
    pool = _cell_pool(max(1, max_workers))
    _warm_providers(cells)
    futures: dict[Future[Any], Cell] = {}
    try:
        futures = {pool.submit(contextvars.copy_context().run, run_cell, c, opts, scorers, use_cache): c
                   for c in _send_order(cells)}
        _import_pandas_once_sent(futures, min(len(futures), max(1, max_workers)))
        for future in as_completed(futures):
            rows[order[id(futures[future])]] = future.result()
            if bar is not None:
                bar.advance()
    finally:  # on KeyboardInterrupt: drop what has not started, wait for what has
        for future in futures:
            future.cancel()
        wait(futures)
        if bar is not None:
            bar.close()
    return [rows[i] for i in range(len(cells))]


def _warm_providers(cells: list[Cell]) -> None:
    """Import the SDK and build the client of each provider the cells call, one after the
    other in the caller's thread, before any cell starts: a first compare of openai and
    anthropic models took ~0.5 s longer when its workers imported the two SDKs side by side
    under the GIL (and built their clients) than when they were imported one after the other.
    A no-op once they are warm."""
    from llmops_nb.config import settings
    from llmops_nb.providers.base import warm_providers

    models = [_estimate_target(c.model, {})[0] for c in cells]  # a route: its first model
    warm_providers(settings().request_timeout_s, list(dict.fromkeys(m.split(":", 1)[0] for m in models if ":" in m)))


def _import_pandas_once_sent(futures: Mapping[Future[Any], Cell], running: int) -> None:
    """Import pandas (for the table; ~0.3-0.5 s of CPU the first time) once the first ``running``
    cells' calls are on the wire (or done): before, under the GIL, it delayed the calls' own
    start-up (SDK imports, clients) and so every answer; after the first answer it no longer
    overlaps the wait for the answers."""
    if "pandas" in sys.modules:
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(f.done() for f in futures) + session().spend()["in_flight"] >= running:
            time.sleep(0.05)  # the last one's request leaves (~1 ms of CPU; longer on a busy machine)
            break
        time.sleep(0.005)
    import pandas  # noqa: F401


_cell_pools: dict[int, ThreadPoolExecutor] = {}
_cell_pools_lock = threading.Lock()


def _cell_pool(size: int) -> ThreadPoolExecutor:
    """The long-lived pool of ``size`` workers that runs compare() cells: its threads, and the
    per-thread state they build (SDK connections, the cache's sqlite connection: 0.36 ms for a
    thread's first lookup, 0.01 ms after), outlive one comparison."""
    with _cell_pools_lock:
        pool = _cell_pools.get(size)
        if pool is None:
            pool = _cell_pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="llmops_nb-compare")
        return pool


def compare(
    models: Sequence[str],
    prompts: Sequence[str | PromptVersion],
    inputs: Sequence[Mapping[str, Any]] | None = None,
    n: int = 1,
    scorers: Mapping[str, Scorer] | None = None,
    *,
    max_workers: int = 8,
    confirm_above_usd: float | None = None,
    confirm: bool = False,
    progress: bool = True,
    name: str | None = None,
    budget_usd: float | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = True,
    cache: bool = True,
    max_cost: float | None = None,
    guard: Any = None,
    **params: Any,
) -> Any:
    """Run every (model, prompt, input, sample) cell concurrently; one row per call.

    ``models`` are model ids or ``route:NAME``; ``prompts`` are templates, ``name@version`` /
    ``name@alias`` refs or PromptVersions (see the module docstring); ``inputs`` are dicts of
    template variables (default: one empty set); ``n`` samples per cell; ``scorers`` map a
    column name to ``scorer(output, inputs) -> float | bool``. Calls are streamed by default
    (so TTFT is measured). ``progress`` shows the estimate and a progress bar where someone can
    see them (Jupyter or a terminal; never under pytest or in scripts). ``budget_usd`` caps
    the comparison's spend (checked before each call; ignored inside an enclosing group, e.g.
    a ``%%llm`` cell, whose budget applies). ``guard`` is the guardrail policy of every call
    (None: the configured one; ``"off"`` to switch them off).

    Returns a DataFrame with :data:`COLUMNS` plus one column per scorer; ``df.attrs`` holds
    ``name``, ``group_id``, ``estimate_usd`` (``estimate_exact``: False when it is the prompts'
    token bound, as no one saw it and no threshold needed the count) and ``wall_s``.
    """
    from llmops_nb import tracking

    scorers = dict(scorers or {})
    clash = set(scorers) & set(COLUMNS)
    if clash:
        raise ValueError(f"scorer names {sorted(clash)} clash with table columns; rename them")
    opts = CallOptions(system, temperature, max_tokens, stream, cache, max_cost, params, guard)
    cells = plan(models, resolve_prompts(prompts), list(inputs) if inputs is not None else [{}], n)
    shown = progress and _interactive()
    est = estimate(cells, opts, exact=shown)  # unseen, the bound does unless it passes the threshold
    if not shown and confirm_above_usd is not None and not confirm and not (est.complete and est.usd <= confirm_above_usd):
        est = estimate(cells, opts)
    if shown:
        print(f"compare: {est.describe()}")
    confirm_cost(est, confirm_above_usd, confirm)
    name = name or f"compare {len(dict.fromkeys(models))} models × {len(cells) // len(dict.fromkeys(models))} calls"
    with session().recorder.holding():  # the first export (import mlflow) waits for the table
        started = time.perf_counter()
        with tracking.group(name, budget_usd=budget_usd) as group:
            pairs = _run_all(cells, opts, scorers, max_workers, progress)
        import pandas as pd  # imported by _run_all while answers were on the wire

        df = pd.DataFrame([shown for shown, _ in pairs], columns=[*COLUMNS, *scorers])
        df.attrs.update(name=group.name, group_id=group.id, estimate_usd=est.usd, estimate_exact=est.exact,
                        wall_s=time.perf_counter() - started)
        logged = pd.DataFrame([kept for _, kept in pairs], columns=[*COLUMNS, *scorers])
        logged.attrs.update(df.attrs)
        _log_in_background(group.id, df, logged, list(scorers))
        return df


# --- summary and MLflow --------------------------------------------------------------------------

def inputs_from_namespace(sources: Sequence[Any], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The values ``sources`` (templates or prompt versions) use, taken from ``namespace`` — one
    input for :func:`compare` (a notebook's side-by-side cell). MissingVariables, before anything
    is sent, for any that is absent."""
    from llmops_nb import prompts

    names: list[str] = []
    for source in sources:
        if isinstance(source, str):
            prompts.render(source, namespace)
            names += prompts.variables(source)
        else:
            source.messages(namespace)
            names += source.variables
    heads = dict.fromkeys(n.split(".")[0] for n in names)
    return {h: namespace[h] for h in heads}


def _scorer_columns(df: Any, scorers: Sequence[str] | None) -> list[str]:
    return list(scorers) if scorers is not None else [c for c in df.columns if c not in COLUMNS]


def summary(df: Any, scorers: Sequence[str] | None = None) -> Any:
    """Per model: calls, errors, error rate, latency mean/sd (ms), cost total/mean, mean
    output tokens and the mean of each scorer (over successful calls)."""
    import pandas as pd

    scorers = _scorer_columns(df, scorers)
    models = list(dict.fromkeys(df["model"]))
    ok = df[df["status"] == "OK"]
    by, ok_by = df.groupby("model", sort=False), ok.groupby("model", sort=False)
    out = pd.DataFrame({
        "calls": by.size(),
        "errors": by["status"].apply(lambda s: int((s != "OK").sum())),
        "mean_latency_ms": ok_by["latency_ms"].mean(),
        "sd_latency_ms": ok_by["latency_ms"].std(),
        "total_cost_usd": ok_by["cost_usd"].sum(min_count=1),
        "mean_cost_usd": ok_by["cost_usd"].mean(),
        "mean_output_tokens": ok_by["output_tokens"].mean(),
    }).reindex(models)
    out["error_rate"] = out["errors"] / out["calls"]
    for s in scorers:
        out[f"mean_{s}"] = pd.to_numeric(ok[s], errors="coerce").groupby(ok["model"], sort=False).mean()
    out.index.name = "model"
    return out


_UNSAFE_METRIC_CHARS = re.compile(r"[^\w.\- ]")
_LOGGED_MEANS = ("mean_latency_ms", "total_cost_usd", "error_rate")


def _metric_key(metric: str, model: str) -> str:
    # MLflow metric names allow [/\w.\- ] everywhere (':' only on POSIX servers)
    return f"{metric}/{_UNSAFE_METRIC_CHARS.sub('_', model)}"


def summary_metrics(df: Any, scorers: Sequence[str] | None = None) -> dict[str, float]:
    """The per-model figures logged to the comparison's run (NaN ones left out):
    ``mean_latency_ms``, ``total_cost_usd``, ``error_rate`` and ``mean_<scorer>``."""
    import pandas as pd

    scorers = _scorer_columns(df, scorers)
    s = summary(df, scorers)
    wanted = [*_LOGGED_MEANS, *[f"mean_{name}" for name in scorers]]
    return {_metric_key(col, str(model)): float(row[col]) for model, row in s.iterrows() for col in wanted
            if not pd.isna(row[col])}


_log_pool: ThreadPoolExecutor | None = None
_logged: dict[str, Future[str | None]] = {}
_log_lock = threading.Lock()


def _log_results(group_id: str, df: Any, scorers: list[str], sess: Any, recorder: Any) -> str | None:
    from llmops_nb import tracking
    from llmops_nb.tracking import TAG

    try:
        # the group's calls, and so its run, in the store: as the export comes, not forced while
        # the caller shows the table (a session's first export is `import mlflow`)
        recorder.flush(urgent=False)
        return tracking.log_group_results(
            group_id, df.attrs["name"], tracking_uri=sess.settings.tracking_uri, experiment=sess.settings.experiment,
            texts={"comparison/table.csv": df.to_csv(index=False)},
            dicts={"comparison/summary.json": {
                "name": df.attrs["name"], "estimate_usd": df.attrs["estimate_usd"], "wall_s": df.attrs["wall_s"],
                "scorers": scorers, "per_model": json.loads(summary(df, scorers).reset_index().to_json(orient="records")),
            }},
            metrics=summary_metrics(df, scorers), tags={TAG + "kind": "comparison", TAG + "comparison": df.attrs["name"]})
    except Exception as exc:  # the table is already in the user's hands; say why MLflow lacks it
        log.warning("llmops_nb: could not log comparison %r to MLflow: %s", df.attrs["name"], exc)
        return None


def _log_in_background(group_id: str, df: Any, logged: Any, scorers: list[str]) -> None:
    """Log ``logged`` (the recorded form of ``df``) to the group's run, off the caller's thread."""
    global _log_pool
    sess = session()  # the one that recorded the calls, even if configure() replaces it meanwhile
    if not sess.settings.tracking:
        return
    with _log_lock:
        if _log_pool is None:
            _log_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmops_nb-compare-log")
        comparison = uuid.uuid4().hex
        df.attrs["comparison_id"] = comparison
        # non-daemon worker: queued logging still runs when the interpreter exits
        logged.attrs["comparison_id"] = comparison
        _logged[comparison] = _log_pool.submit(_log_results, group_id, logged, scorers, sess,
                                                sess.recorder)


def wait_logged(df: Any, timeout: float | None = 120.0) -> str | None:
    """Wait until the comparison ``df`` is logged to MLflow; its run id (None if tracking is
    off or logging failed, see the log)."""
    future = _logged.get(str(df.attrs.get("comparison_id", "")))
    return None if future is None else future.result(timeout)

