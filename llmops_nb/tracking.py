"""MLflow, read side: history, findings, feedback, the runs of groups of calls (a cell, a
comparison), and ``flush()``.

The exporter that writes each call as a trace is :mod:`llmops_nb.mlflow_export` (the session
builds it); this module reads what it wrote — the project's facts are trace tags (``llmops.*``),
read back without loading spans — and flushes the session's recorder first. Its names that
belong to the exporter (``MlflowExporter``, ``TAG``, ``storable``, …) are re-exported here.
"""

from __future__ import annotations

import functools
import gc
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmops_nb.groups import Group, current_group, group  # noqa: F401 - public here as before
from llmops_nb.mlflow_export import (  # noqa: F401 - the exporter's names, public here as before
    BATCHED_SINCE,
    FACTS,
    SEARCHED,
    TAG,
    MlflowExporter,
    _parallel,
    _SqlRows,
    experiment_id,
    packed_tags,
    storable,
    trace_tags,
    unpacked,
)
from llmops_nb.mlflow_setup import import_mlflow as _import_mlflow  # noqa: F401 - the name tests and callers use
from llmops_nb.run_totals import exact

HISTORY_COLUMNS = [
    "started_at", "model", "provider", "prompt", "input_tokens", "output_tokens", "cost_usd",
    "latency_ms", "ttft_ms", "cached", "status", "error_type", "error", "findings", "trace_id", "guard_cost_usd",
]
FINDING_COLUMNS = ["started_at", "trace_id", "model", "status", "direction", "scanner", "type", "severity",
                   "score", "action", "start", "end", "value_hash"]


def _store_client(tracking_uri: str) -> Any:
    return _import_mlflow().MlflowClient(tracking_uri)


def _row(info: Any) -> dict[str, Any]:
    t = unpacked(info.tags)

    def num(key: str) -> float | None:
        value = t.get(TAG + key)
        return float(value) if value not in (None, "") else None

    import pandas as pd

    return {
        "started_at": pd.Timestamp(info.request_time, unit="ms", tz="UTC"),
        "model": t.get(TAG + "model"),
        "provider": t.get(TAG + "provider"),
        "prompt": t.get(TAG + "prompt"),
        "input_tokens": int(num("input_tokens") or 0),
        "output_tokens": int(num("output_tokens") or 0),
        "cost_usd": num("cost_usd"),
        "latency_ms": num("latency_ms") if num("latency_ms") is not None else float(info.execution_duration or 0),
        "ttft_ms": num("ttft_ms"),
        "cached": t.get(TAG + "cached") == "true",
        "status": t.get(TAG + "status", str(info.state)),
        "error_type": t.get(TAG + "error_type"),
        "error": t.get(TAG + "error"),
        "findings": _findings_summary(json.loads(t.get(TAG + "findings", "[]"))),
        "trace_id": info.trace_id,
        "guard_cost_usd": num("guard_cost_usd"),
    }


def _findings_summary(findings: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for f in findings:
        key = f"{f.get('type')} {f.get('action')}"
        counts[key] = counts.get(key, 0) + 1
    return " · ".join(f"{k.replace(' ', '×' + str(n) + ' ', 1)}" for k, n in counts.items())


def history(limit: int | None = 100, *, flush_first: bool = True) -> Any:
    """The latest calls, newest first, read back from the MLflow store (all kernels' calls).

    Columns: ``started_at, model, provider, prompt, input_tokens, output_tokens, cost_usd,
    latency_ms, ttft_ms, cached, status, error_type, error, findings, trace_id, guard_cost_usd``
    (``findings`` summarises guardrail findings, e.g. ``email×1 redact``; ``guard_cost_usd`` is
    what the call's model-backed guardrail scanners cost — NaN without such calls or while one
    has no price —, apart from ``cost_usd``, the call's own). ``limit=None`` reads them all.
    This process's pending records are flushed first, so the calls just made are included.
    """
    import pandas as pd

    if flush_first:
        flush()
    # Hundreds of thousands of small rows: the cyclic GC's full passes over them would make
    # this quadratic, and none of them form cycles.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        cols = _sql_history_columns(limit)
        if cols is None:  # not a SQL store (an http:// server): MLflow's search, page by page
            cols = _HistoryColumns.of_infos(_traces(limit, None, flush_first=False, keep=ours))
        return _history_frame(cols, pd)
    finally:
        if gc_was_on:
            gc.enable()


_HISTORY_TAGS = ("model", "provider", "prompt", "input_tokens", "output_tokens", "cost_usd", "latency_ms", "ttft_ms",
                 "cached", "status", "error_type", "error", "findings", "guard_cost_usd")


@dataclass
class _HistoryColumns:
    """What history reads of its traces, column by column: the info columns and our tags
    (``tags["cost_usd"][i]`` is trace i's ``llmops.cost_usd`` tag, None where it has none)."""

    trace_id: list[str]
    request_time: list[int]
    execution_duration: list[int | None]
    state: list[str]
    tags: dict[str, list[str | None]]

    @classmethod
    def of_infos(cls, infos: list[Any]) -> _HistoryColumns:
        """From MLflow ``TraceInfo`` objects (the public API's answer)."""
        tags = [unpacked(i.tags) for i in infos]
        return cls([i.trace_id for i in infos], [i.request_time for i in infos],
                   [i.execution_duration for i in infos], [str(i.state) for i in infos],
                   {k: [t.get(TAG + k) for t in tags] for k in _HISTORY_TAGS})


def _floats(values: list[str | None]) -> list[float]:
    """Tag strings as floats, exactly as Python parses them; NaN where absent or not a number."""
    nan = float("nan")
    try:
        return [float(v) if v else nan for v in values]
    except ValueError:  # a tag someone else wrote: coerce like pandas.to_numeric(errors="coerce")
        def one(v: str | None) -> float:
            try:
                return float(v) if v else nan
            except ValueError:
                return nan

        return [one(v) for v in values]


def _history_frame(cols: _HistoryColumns, pd: Any) -> Any:
    """The history DataFrame, built column by column from plain lists (no per-row objects)."""
    if not cols.trace_id:
        return pd.DataFrame([], columns=HISTORY_COLUMNS)
    import numpy as np

    t = cols.tags

    def count(key: str) -> Any:
        values = np.array(_floats(t[key]), dtype=np.float64)
        return np.nan_to_num(values, nan=0.0).astype(np.int64)

    latency = np.array(_floats(t["latency_ms"]), dtype=np.float64)
    missing = np.isnan(latency)
    if missing.any():  # traces written without our latency tag: MLflow's own duration
        latency[missing] = [float(d or 0) for d, m in zip(cols.execution_duration, missing, strict=True) if m]
    status = t["status"]
    if None in status:
        status = [s if s is not None else state for s, state in zip(status, cols.state, strict=True)]
    columns = {
        "started_at": pd.to_datetime(cols.request_time, unit="ms", utc=True),
        "model": t["model"], "provider": t["provider"], "prompt": t["prompt"],
        "input_tokens": count("input_tokens"), "output_tokens": count("output_tokens"),
        "cost_usd": np.array(_floats(t["cost_usd"]), dtype=np.float64),
        "latency_ms": latency,
        "ttft_ms": np.array(_floats(t["ttft_ms"]), dtype=np.float64),
        "cached": np.array([c == "true" for c in t["cached"]], dtype=bool),
        "status": status,
        "error_type": t["error_type"], "error": t["error"],
        "findings": [_findings_summary(json.loads(f)) if f else "" for f in t["findings"]],
        "trace_id": cols.trace_id,
        "guard_cost_usd": np.array(_floats(t["guard_cost_usd"]), dtype=np.float64),
    }
    return pd.DataFrame(columns, columns=HISTORY_COLUMNS)


# per trace, its tags as one JSON object, aggregated by the database (one row per trace); other
# databases (PostgreSQL's json_object_agg would do, untested here) get a row per tag
_JSON_OBJECT_AGG = {"sqlite": "json_group_object"}


def _sql_history_columns(limit: int | None) -> _HistoryColumns | None:
    """The latest traces with our tags, straight from MLflow's SQL tables in one query (two on
    databases other than SQLite), linear in the rows returned; None if the store is not
    MLflow's SQL store.

    MLflow's ``search_traces`` pages 500 at a time and builds a full ``TraceInfo`` per trace
    (60 s for 50k traces); history needs four columns and a dozen tags of each. The tags are
    read trace by trace through the tag table's ``request_id`` index (one probe and a few
    adjacent rows per trace, where a join per tag costs a probe of the (key, trace) index per
    tag and trace), and come back as one JSON object per trace where the database builds it
    (SQLite) — a row per tag otherwise, pivoted here.
    """
    from llmops_nb.config import settings

    s = settings()
    store = _tracing_client(s.tracking_uri).store
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:  # pragma: no cover - mlflow without the SQL store
        return None
    if not isinstance(store, SqlAlchemyStore):
        return None
    from mlflow.store.tracking.dbmodels.models import SqlTraceInfo, SqlTraceTag
    from sqlalchemy import exists, func, select

    experiment = _store_client(s.tracking_uri).get_experiment_by_name(s.experiment)
    if experiment is None:
        return _HistoryColumns([], [], [], [], {k: [] for k in _HISTORY_TAGS})
    exp = int(experiment.experiment_id)
    ti, tt = SqlTraceInfo.__table__.c, SqlTraceTag.__table__.c
    keys = [TAG + k for k in _HISTORY_TAGS] + [FACTS]  # and the facts a server-written trace packs
    # coalesce(): the key is a filter, not an index to search by (see above)
    our_keys = func.coalesce(tt.key, "").in_(keys)
    traces = select(ti.request_id, ti.timestamp_ms, ti.execution_time_ms, ti.status).where(ti.experiment_id == exp)
    if limit is not None:  # only traces of ours count towards the limit
        # ours: a model tag, or the facts that pack it
        traces = (traces.where(exists().where(tt.request_id == ti.request_id, tt.key.in_((TAG + "model", FACTS)),
                                              tt.value != ""))
                  .order_by(ti.timestamp_ms.desc(), ti.request_id).limit(limit))
    chosen = traces.subquery()
    newest_first = (chosen.c.timestamp_ms.desc(), chosen.c.request_id)
    with store.ManagedSessionMaker() as session:
        conn = session.connection()
        agg = _JSON_OBJECT_AGG.get(conn.dialect.name)
        if agg is not None:
            tags_json = (select(getattr(func, agg)(tt.key, tt.value))
                         .where(tt.request_id == chosen.c.request_id, our_keys).scalar_subquery())
            rows = conn.execute(select(*chosen.c, tags_json).order_by(*newest_first)).all()
            tag_rows = None
        else:
            rows = conn.execute(select(*chosen.c).order_by(*newest_first)).all()
            tag_rows = conn.execute(select(tt.request_id, tt.key, tt.value)
                                    .join_from(chosen, SqlTraceTag.__table__, tt.request_id == chosen.c.request_id)
                                    .where(our_keys)).all()
    if tag_rows is None:
        objects = json.loads("[" + ",".join([r[4] or "{}" for r in rows]) + "]")  # one parse for all
        columns = {k: [o.get(k) for o in objects] for k in keys}
    else:
        position = dict(zip([r[0] for r in rows], range(len(rows)), strict=True))
        columns = {k: [None] * len(rows) for k in keys}
        for request_id, key, value in tag_rows:
            i = position.get(request_id)
            if i is not None:  # else written between the two queries: not in the first one
                columns[key][i] = value
    _fill_packed(columns, columns.pop(FACTS))
    keep = [i for i, m in enumerate(columns[TAG + "model"]) if m]
    if len(keep) < len(rows):  # traces of the experiment not written by us
        rows = [rows[i] for i in keep]
        columns = {k: [c[i] for i in keep] for k, c in columns.items()}
    return _HistoryColumns([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                           {k[len(TAG):]: c for k, c in columns.items()})


def _fill_packed(columns: dict[str, list[str | None]], packed: list[str | None]) -> None:
    """Fill ``columns`` (tag key → value per trace) from each trace's ``llmops.facts`` tag, if
    any (a trace written by the batched server path packs its other facts in it)."""
    for i, facts in enumerate(packed):
        if facts:
            for k, v in unpacked({FACTS: facts}).items():
                if k in columns and columns[k][i] is None:
                    columns[k][i] = v


def ours(info: Any) -> bool:
    """Whether the trace (its ``TraceInfo``) is a call recorded by this package: it has our
    model tag, as a tag or packed in ``llmops.facts`` (which MLflow's search cannot filter on)."""
    return bool(unpacked(info.tags).get(TAG + "model"))


def _traces(limit: int | None, filter_string: str | None, *, flush_first: bool = True,
            keep: Callable[[Any], bool] | None = None) -> list[Any]:
    """Trace infos of the current experiment, newest first, without spans (paged); ``keep``:
    only those it accepts (and count towards ``limit``)."""
    from llmops_nb.config import settings

    if flush_first:
        flush()
    s = settings()
    client = _store_client(s.tracking_uri)
    exp = client.get_experiment_by_name(s.experiment)
    return [] if exp is None else paged_infos(client, str(exp.experiment_id), limit, filter_string, keep)


def paged_infos(client: Any, experiment_id: str, limit: int | None, filter_string: str | None = None,
                keep: Callable[[Any], bool] | None = None) -> list[Any]:
    """The experiment's trace infos, newest first, without spans, page by page until ``limit``
    of them are ones ``keep`` accepts (all of them: ``limit`` None)."""
    infos: list[Any] = []
    token = None
    while limit is None or len(infos) < limit:
        page = client.search_traces(
            locations=[experiment_id], max_results=min(500, limit - len(infos)) if limit else 500,
            order_by=["timestamp_ms DESC"], include_spans=False, page_token=token, filter_string=filter_string)
        infos.extend(t.info for t in page if keep is None or keep(t.info))
        token = page.token
        if not token:
            break
    return infos


def findings(limit: int | None = 500) -> Any:
    """Guardrail findings of the latest calls, one row per finding, newest call first.

    Columns: ``started_at, trace_id, model, status, direction, scanner, type, severity, score,
    action, start, end, value_hash`` — a hash, never the matched value.
    """
    import pandas as pd

    rows = []
    for info in _traces(limit, f"tags.`{TAG}findings` != ''"):
        tags = unpacked(info.tags)
        base = {"started_at": pd.Timestamp(info.request_time, unit="ms", tz="UTC"), "trace_id": info.trace_id,
                "model": tags.get(TAG + "model"), "status": tags.get(TAG + "status")}
        for f in json.loads(tags.get(TAG + "findings", "[]")):
            rows.append({**base, **f})
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def log_group_results(group_id: str, group_name: str, *, tracking_uri: str, experiment: str,
                      texts: Mapping[str, str], dicts: Mapping[str, Any], metrics: Mapping[str, float],
                      tags: Mapping[str, str]) -> str:
    """Log artifacts, metrics and tags to the MLflow run of group ``group_id`` (found by its
    tag, created if none of its calls reached MLflow); returns the run id. Flush the group's
    calls first, so that their run is found rather than a second one created.
    """
    client = _store_client(tracking_uri)
    exp = experiment_id(client, experiment, tracking_uri)
    found = client.search_runs([exp], filter_string=f"tags.`{TAG}group_id` = '{group_id}'", max_results=1)
    run_id = found[0].info.run_id if found else client.create_run(
        exp, run_name=group_name, tags={TAG + "group_id": group_id, TAG + "kind": "calls"}).info.run_id
    for path, text in texts.items():
        client.log_text(run_id, text, path)
    for path, value in dicts.items():
        client.log_dict(run_id, value, path)
    from mlflow.entities import Metric, RunTag

    stamp = int(time.time() * 1000)

    client.log_batch(run_id, metrics=[Metric(k, exact(v), stamp, 0) for k, v in metrics.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    if not found:
        client.set_terminated(run_id)
    return str(run_id)


def flush(timeout: float | None = 120.0) -> None:
    """Wait until every call recorded by this process has reached the MLflow store."""
    from llmops_nb.session import session

    session().recorder.flush(timeout)


def log_feedback(trace_id: str, value: bool | float, comment: str | None = None, name: str = "user_rating", *,
                 source_type: str = "HUMAN", source_id: str = "notebook", flush_first: bool = True) -> Any:
    """Store a rating of one call (👍 ``True`` / 👎 ``False``, or a score) as MLflow feedback on
    its trace, with ``comment`` as the rationale; returns the assessment. ``source_type`` is
    MLflow's ``HUMAN``, ``CODE`` (a scorer) or ``LLM_JUDGE``.

    Written to this session's store (MLflow's own ``mlflow.log_feedback`` would use the global
    tracking URI). Pending records are flushed first, so the trace exists.
    """
    from llmops_nb.config import settings

    if not trace_id:
        from llmops_nb.errors import ConfigError

        raise ConfigError("log_feedback needs the trace id of a call (Completion.trace_id)")
    if flush_first:
        flush()
    _import_mlflow()
    from mlflow.entities import AssessmentSource, Feedback

    feedback = Feedback(name=name, value=value, rationale=comment, trace_id=trace_id,
                        source=AssessmentSource(source_type=source_type, source_id=source_id))
    return _tracing_client(settings().tracking_uri).log_assessment(trace_id, feedback)


@functools.lru_cache(maxsize=8)
def _tracing_client(tracking_uri: str) -> Any:
    from mlflow.tracing.client import TracingClient

    return TracingClient(tracking_uri)
