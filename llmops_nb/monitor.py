"""Monitoring over the call history: percentiles, rates, cost, SLO checks, dashboard, failures.

Every function takes the :func:`llmops_nb.history` table (``df=None`` reads all of it from the
store) and the same filters: ``since``/``until`` (a timestamp, a date string, or a duration
such as ``"1h"`` / ``"7D"`` meaning "that long ago"), and ``model``, ``prompt``, ``status``
(a value or a list of values)::

    from llmops_nb import monitor
    monitor.summary(by="model", since="1D")      # p50/p95/p99 latency and TTFT, tokens/s, rates, cost
    monitor.cost(by=["day", "model"])
    monitor.slo_check(p99_latency_ms=2000, error_rate=0.02, daily_cost_usd=5)   # warns SLOBreach
    monitor.dashboard().save("dashboard.png")
    monitor.failure_analysis(route="route:quality")
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SUMMARY_COLUMNS = [
    "calls", "errors", "error_rate", "cache_hit_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "tokens_per_s", "input_tokens", "output_tokens", "cost_usd",
]


class SLOBreach(UserWarning):  # noqa: N818 — a warning category, named for what it reports
    """A service-level objective was breached (see :func:`slo_check`)."""


@dataclass(frozen=True)
class Breach:
    """One breached objective: ``observed`` against ``threshold`` over ``scope``."""

    slo: str
    scope: str
    observed: float
    threshold: float

    def __str__(self) -> str:
        return f"{self.slo} {self.observed:.4g} > {self.threshold:.4g} ({self.scope})"


# --- selection -----------------------------------------------------------------------------------

def _when(value: Any, now: Any) -> Any:
    import pandas as pd

    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?\s*[a-zA-Z]+", value.strip()):
        return now - pd.Timedelta(value)
    if isinstance(value, pd.Timedelta):
        return now - value
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def calls(df: Any = None, *, since: Any = None, until: Any = None, model: Any = None, prompt: Any = None,
          status: Any = None) -> Any:
    """The history rows in the window that match every filter given."""
    import pandas as pd

    if df is None:
        from llmops_nb.tracking import history

        df = history(limit=None)
    df = df.copy()
    df["started_at"] = pd.to_datetime(df["started_at"], utc=True)
    now = pd.Timestamp.now(tz="UTC")
    if since is not None:
        df = df[df["started_at"] >= _when(since, now)]
    if until is not None:
        df = df[df["started_at"] < _when(until, now)]
    for column, wanted in (("model", model), ("prompt", prompt), ("status", status)):
        if wanted is not None:
            df = df[df[column].isin([wanted] if isinstance(wanted, str) else list(wanted))]
    return df


# --- aggregates ----------------------------------------------------------------------------------

def _group_key(df: Any, by: str | None) -> Any:
    if by is None:
        return df.assign(scope="all"), "scope"
    if by == "day":
        return df.assign(day=df["started_at"].dt.strftime("%Y-%m-%d")), "day"
    if by not in df.columns:
        raise ValueError(f"by must be None, 'day' or a history column such as 'model' or 'prompt', not {by!r}")
    return df.assign(**{by: df[by].fillna("(none)")}), by


def _figures(g: Any) -> dict[str, float]:
    import pandas as pd

    ok = g[g["status"] == "OK"]
    fresh = ok[~ok["cached"].astype(bool)]  # cache hits measure the cache, not the model
    lat = pd.to_numeric(fresh["latency_ms"], errors="coerce").dropna()
    ttft = pd.to_numeric(fresh["ttft_ms"], errors="coerce").dropna()
    gen_s = (lat - pd.to_numeric(fresh["ttft_ms"], errors="coerce").fillna(0)).clip(lower=1) / 1000
    speed = (fresh["output_tokens"] / gen_s).dropna()
    out = {"calls": float(len(g)), "errors": float((g["status"] != "OK").sum())}
    out["error_rate"] = out["errors"] / len(g) if len(g) else float("nan")
    out["cache_hit_rate"] = float(ok["cached"].astype(bool).mean()) if len(ok) else float("nan")
    for name, values in (("latency", lat), ("ttft", ttft)):
        for q in (50, 95, 99):
            out[f"{name}_p{q}_ms"] = float(values.quantile(q / 100)) if len(values) else float("nan")
    out["tokens_per_s"] = float(speed.median()) if len(speed) else float("nan")
    out["input_tokens"], out["output_tokens"] = float(g["input_tokens"].sum()), float(g["output_tokens"].sum())
    out["cost_usd"] = float(pd.to_numeric(g["cost_usd"], errors="coerce").sum())
    return out


def summary(df: Any = None, *, by: str | None = None, **filters: Any) -> Any:
    """Per ``by`` (None: everything; ``"model"``, ``"prompt"``, ``"day"``…): calls, errors,
    error and cache-hit rates, p50/p95/p99 latency and TTFT (ms; successful, uncached calls),
    median output tokens/s, tokens and cost."""
    import pandas as pd

    rows, key = _group_key(calls(df, **filters), by)
    table = pd.DataFrame([{key: k, **_figures(g)} for k, g in rows.groupby(key, sort=True)],
                         columns=[key, *SUMMARY_COLUMNS]).set_index(key)
    return table.astype({"calls": int, "errors": int, "input_tokens": int, "output_tokens": int})


def cost(df: Any = None, *, by: str | Sequence[str] = "model", **filters: Any) -> Any:
    """Cost (USD) and calls per ``by``: any of ``"model"``, ``"prompt"``, ``"day"`` (or a list)."""
    import pandas as pd

    keys = [by] if isinstance(by, str) else list(by)
    rows = calls(df, **filters)
    rows = rows.assign(day=rows["started_at"].dt.strftime("%Y-%m-%d"), prompt=rows["prompt"].fillna("(none)"),
                       cost_usd=pd.to_numeric(rows["cost_usd"], errors="coerce"))
    return rows.groupby(keys, as_index=False).agg(cost_usd=("cost_usd", "sum"), calls=("model", "size"))


# --- SLOs ----------------------------------------------------------------------------------------

def slo_check(df: Any = None, *, p99_latency_ms: float | None = None, error_rate: float | None = None,
              daily_cost_usd: float | None = None, by: str | None = "model", warn: bool = True,
              **filters: Any) -> list[Breach]:
    """Check objectives per ``by`` (latency and errors) and per day (cost); each breach is
    returned and (``warn``) reported with ``warnings.warn(…, SLOBreach)``."""
    rows = calls(df, **filters)
    breaches = []
    if p99_latency_ms is not None or error_rate is not None:
        stats = summary(rows, by=by)
        for scope, s in stats.iterrows():
            if p99_latency_ms is not None and s["latency_p99_ms"] > p99_latency_ms:
                breaches.append(Breach("p99_latency_ms", f"{by or 'all'}={scope}", s["latency_p99_ms"], p99_latency_ms))
            if error_rate is not None and s["error_rate"] > error_rate:
                breaches.append(Breach("error_rate", f"{by or 'all'}={scope}", s["error_rate"], error_rate))
    if daily_cost_usd is not None:
        for _, d in cost(rows, by="day").iterrows():
            if d["cost_usd"] > daily_cost_usd:
                breaches.append(Breach("daily_cost_usd", f"day={d['day']}", d["cost_usd"], daily_cost_usd))
    if warn:
        for b in breaches:
            warnings.warn(f"SLO breached: {b}", SLOBreach, stacklevel=2)
    return breaches


# --- dashboard -----------------------------------------------------------------------------------

def dashboard(df: Any = None, *, by: str = "model", **filters: Any) -> Any:
    """Altair dashboard: latency percentiles, cost by day and model, error and cache-hit rates
    (static-render friendly: ``dashboard().save("d.png")``)."""
    import altair as alt

    from llmops_nb import viz

    rows = calls(df, **filters)
    stats = summary(rows, by=by)
    top = alt.hconcat(viz.latency_percentiles_chart(stats, by=by), viz.rates_chart(stats, by=by)) \
        .resolve_scale(color="independent")
    chart = alt.vconcat(top, viz.cost_by_day_chart(cost(rows, by=["day", "model"]), width=660)) \
        .resolve_scale(color="independent")
    n = len(rows)
    title = alt.Title("LLM calls", subtitle=f"{n} calls · {int((rows['status'] != 'OK').sum())} failed")
    return chart.properties(title=title).configure_view(stroke=None)


# --- failure analysis ----------------------------------------------------------------------------

_VOLATILE = [(re.compile(r"[0-9a-f]{16,}", re.I), "<id>"), (re.compile(r"\d+(\.\d+)?"), "<n>"),
             (re.compile(r"'[^']*'|\"[^\"]*\""), "<text>")]
CAUSE_COLUMNS = ["kind", "cause", "calls", "share", "models", "example"]


def message_pattern(message: str) -> str:
    """An error message with ids, numbers and quoted text replaced, so like errors group."""
    text = " ".join(str(message).split())[:160]
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def _error_type(row: Any) -> str:
    if isinstance(row.get("error_type"), str):
        return str(row["error_type"])
    match = re.match(r"([A-Z][A-Za-z]+(Error|Exceeded|Limited|Unavailable|Timeout|Blocked|Miss|Open)\w*)",
                     str(row.get("error") or ""))
    return match.group(1) if match else "error"


def _causes(df: Any, score: str | None, threshold: float) -> list[dict[str, Any]]:
    import pandas as pd

    items = []
    for _, row in df.iterrows():
        model = str(row.get("model") or row.get("variant"))
        if row.get("status") != "OK":
            items.append(("error", f"{_error_type(row)}: {message_pattern(row.get('error') or '')}", model,
                          str(row.get("error") or "")[:200]))
        for finding in filter(None, str(row.get("findings") or "").split(" · ")):
            items.append(("finding", finding.split("×")[0].strip(), model, finding))
        if score and score in row and pd.notna(row[score]) and float(row[score]) < threshold:
            example = str(row.get("output") or row.get("input") or "")[:200]
            items.append(("low score", f"{score} < {threshold:g}", model, example))
    return [{"kind": k, "cause": c, "model": m, "example": e} for k, c, m, e in items]


def failure_analysis(df: Any = None, route: str | None = None, *, score: str | None = None,
                     threshold: float = 0.5, **filters: Any) -> Any:
    """Failed and low-scoring calls grouped by cause: error type and message pattern,
    guardrail finding type, and (``score``: a score column of ``df``, e.g. an experiment's or
    a comparison's table) scores below ``threshold``. Columns: ``kind, cause, calls, share,
    models, example``; biggest first. With ``route`` (any model or ``route:NAME``) the groups
    are sent to it for suggested prompt changes, returned in ``.attrs["suggestions"]``."""
    import pandas as pd

    rows = calls(df, **filters) if df is None or "started_at" in df else df
    rows = rows
    found = pd.DataFrame(_causes(rows, score, threshold), columns=["kind", "cause", "model", "example"])
    grouped = found.groupby(["kind", "cause"], as_index=False, sort=False).agg(
        calls=("model", "size"), models=("model", lambda m: ", ".join(sorted(set(m)))), example=("example", "first"))
    grouped["share"] = grouped["calls"] / max(1, len(rows))
    table = grouped.sort_values(["calls", "kind", "cause"], ascending=[False, True, True],
                                ignore_index=True)[CAUSE_COLUMNS]
    if route is not None and len(table):
        table.attrs["suggestions"] = suggest_prompt_changes(table, route)
    return table


def suggest_prompt_changes(causes: Any, route: str) -> str:
    """Ask ``route`` for concrete prompt changes that would avoid the grouped failures."""
    from llmops_nb.pipeline import complete

    groups = json.dumps(causes.head(10).to_dict(orient="records"), ensure_ascii=False, default=str)
    prompt = ("These are groups of failed or low-scoring LLM calls (kind, cause, count, example). "
              "Suggest up to five concrete changes to the prompt or call settings that would avoid them, "
              f"one per line, most useful first.\n\n{groups}")
    return complete(route, prompt, system="You are an LLMOps reviewer. Be specific and brief.").text
