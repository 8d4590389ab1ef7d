"""history() reads a fixed number of queries whatever the number of rows (linear time), and its
fast path (MLflow's SQL tables read directly) gives exactly the frame of the public-API path
(``search_traces``, also what an ``http://`` tracking server answers)."""

from __future__ import annotations

import time
import uuid

import pandas as pd
import pytest
from sqlalchemy import event

from llmops_nb import tracking
from llmops_nb.config import settings
from llmops_nb.types import CallRecord
from tests.servers import mlflow_server


def _records(n: int, experiment: str) -> list[CallRecord]:
    now = time.time_ns()
    return [CallRecord(
        record_id=uuid.uuid4().hex, trace_id="tr-" + uuid.uuid4().hex, started_at_ns=now + i * 1000,
        ended_at_ns=now + i * 1000 + 2_000_000,
        request={"model": "sim:x", "provider": "sim", "model_name": "x", "messages": [{"role": "user", "content": "q"}],
                 "system": None, "params": {}, "stream": False},
        status="OK", text="a", usage={"input_tokens": 3, "output_tokens": 4}, cost_usd=0.001 * i,
        experiment=experiment, findings=[{"type": "email", "action": "redact"}] if i % 7 == 0 else [])
        for i in range(n)]


def _varied(n: int, experiment: str, prompt_every: int = 3) -> list[CallRecord]:
    """Every kind of row history shows: prompts, failures with awkward text, unpriced calls,
    cache hits, findings, calls without TTFT; timestamps that tie (the order's tie-break)."""
    now = time.time_ns()
    out = []
    for i in range(n):
        failed = i % 5 == 3
        out.append(CallRecord(
            record_id=uuid.uuid4().hex, trace_id="tr-" + uuid.uuid4().hex,
            started_at_ns=now + (i // 3) * 1_000_000 + i, ended_at_ns=now + (i // 3) * 1_000_000 + i + 1_234_567 * (i % 11 + 1),
            request={"model": f"openai:gpt-{i % 3}", "provider": "openai", "model_name": f"gpt-{i % 3}",
                     "messages": [{"role": "user", "content": "q"}], "system": None, "params": {}, "stream": i % 2 == 0},
            status="ERROR" if failed else "OK", text="" if failed else "a",
            usage={} if failed else {"input_tokens": 1000 + i, "output_tokens": 7 * i},
            cost_usd=None if i % 4 == 1 else 0.1 / 3 * (i + 1) * 1e-3, ttft_s=None if i % 2 else 0.0123 * i,
            cached=i % 6 == 0, prompt=f"greet@{i % 2 + 1}" if i % prompt_every == 0 else None,
            error_type="RateLimitError" if failed else None,
            error=f'429 "slow down" \\ \n\t é ✓ {{"x": {i}}}' if failed else None, experiment=experiment,
            findings=[{"type": "email", "action": "redact"}, {"type": "email", "action": "redact"},
                      {"type": "injection", "action": "warn", "score": 0.9}] if i % 4 == 0 else []))
    return out


def _api_frame(limit: int | None) -> pd.DataFrame:
    """The public-API path: MLflow's paged search_traces, as for an http:// tracking URI."""
    infos = tracking._traces(limit, None, flush_first=False, keep=tracking.ours)
    return tracking._history_frame(tracking._HistoryColumns.of_infos(infos), pd)


def _foreign_traces(experiment: str) -> None:
    """Traces in the experiment that are not ours (none, or an empty model tag) and one that
    has only our model tag (MLflow's state and duration stand in for the missing tags)."""
    import mlflow

    client = mlflow.MlflowClient(settings().tracking_uri)
    exp = client.get_experiment_by_name(experiment).experiment_id
    for model in (None, "", "ext:model"):
        span = client.start_trace("foreign", experiment_id=exp)
        client.end_trace(span.trace_id)
        mlflow.flush_trace_async_logging()
        if model is not None:
            client.set_trace_tag(span.trace_id, tracking.TAG + "model", model)


def test_history_queries_do_not_grow_with_rows(llm):
    s = settings()
    exporter = tracking.MlflowExporter(s.tracking_uri, s.experiment)
    exporter.export(_records(5, s.experiment))
    engine = tracking._tracing_client(s.tracking_uri).store.engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        few = tracking.history(None)
        queries_for_few = len(statements)
        exporter.export(_records(600, s.experiment))  # more than one of MLflow's 500-trace pages
        statements.clear()
        many = tracking.history(None)
        queries_for_many = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(few) == 5 and len(many) == 605
    assert queries_for_many == queries_for_few, (queries_for_few, queries_for_many)
    assert many.started_at.is_monotonic_decreasing
    assert many.cost_usd.max() == pytest.approx(0.001 * 599) and (many.findings == "email×1 redact").sum() == 1 + 86


@pytest.mark.parametrize("aggregate_in_sql", [True, False], ids=["json-per-trace", "row-per-tag"])
def test_fast_path_frame_equals_public_api_frame(llm, monkeypatch, aggregate_in_sql):
    s = settings()
    records = _varied(60, s.experiment)
    tracking.MlflowExporter(s.tracking_uri, s.experiment).export(records)
    _foreign_traces(s.experiment)
    if not aggregate_in_sql:  # the other databases' way: a row per tag, pivoted in Python
        monkeypatch.setattr(tracking, "_JSON_OBJECT_AGG", {})
    for limit in (None, 7, 1, 500):
        fast = tracking.history(limit, flush_first=False)
        pd.testing.assert_frame_equal(fast, _api_frame(limit))  # values, order and dtypes
    fast = tracking.history(None, flush_first=False)
    assert len(fast) == 61 and list(fast.columns) == tracking.HISTORY_COLUMNS
    foreign = fast[fast.model == "ext:model"].iloc[0]
    assert foreign.status == "OK" and foreign.latency_ms >= 0 and foreign.input_tokens == 0
    ours = fast[fast.model != "ext:model"].set_index("trace_id")
    for r in records:  # the figures are the recorded ones, exactly (as the tags store them)
        row = ours.loc[r.trace_id]
        assert row.input_tokens == r.usage.get("input_tokens", 0) and row.output_tokens == r.usage.get("output_tokens", 0)
        assert (pd.isna(row.cost_usd) if r.cost_usd is None else row.cost_usd == float(f"{r.cost_usd:.10g}"))
        assert row.latency_ms == float(f"{(r.ended_at_ns - r.started_at_ns) / 1e6:.3f}")
        assert (pd.isna(row.ttft_ms) if r.ttft_s is None else row.ttft_ms == float(f"{r.ttft_s * 1000:.3f}"))
        assert row.cached == r.cached and row.status == r.status
        assert (pd.isna(row.error) if r.error is None else row.error == r.error)
        assert row.findings == ("email×2 redact · injection×1 warn" if r.findings else "")
    assert tracking.history(0, flush_first=False).empty


def test_history_of_an_unknown_experiment_is_empty(llm):
    llm.configure(experiment=f"never-written-{uuid.uuid4().hex[:8]}")
    df = tracking.history(None, flush_first=False)
    assert df.empty and list(df.columns) == tracking.HISTORY_COLUMNS


def test_history_over_http_equals_the_sql_read_of_the_same_store(llm):
    s = settings()
    records = _varied(510, s.experiment, prompt_every=50)  # two of the server's 500-trace pages
    tracking.MlflowExporter(s.tracking_uri, s.experiment).export(records)
    direct, direct_latest = tracking.history(None, flush_first=False), tracking.history(10, flush_first=False)
    # a real ``mlflow server`` over the same sqlite store (the suite's: its tables exist)
    with mlflow_server(s.tracking_uri) as server:
        llm.configure(tracking_uri=server.url)
        assert tracking._sql_history_columns(None) is None  # the server's REST API, not its tables
        over_http = tracking.history(None, flush_first=False)
        latest = tracking.history(10, flush_first=False)
    assert len(over_http) == 510
    pd.testing.assert_frame_equal(over_http, direct)
    pd.testing.assert_frame_equal(latest, direct_latest)  # dtypes follow the rows read (all-None: object)


def test_the_sidebar_lists_its_limit_of_calls_past_other_traces(llm):
    """The sidebar's read (``store_calls``) keeps only our calls, and still up to its limit of
    them, however many newer traces in the experiment are not calls of ours."""
    from llmops_nb import jupyter_server_ext as ext

    s = settings()
    records = _records(4, s.experiment)
    tracking.MlflowExporter(s.tracking_uri, s.experiment).export(records)
    for _ in range(3):
        _foreign_traces(s.experiment)  # newer than the calls: 6 foreign traces, 3 with only our model tag
    rows = ext.store_calls(ext.Store(s.tracking_uri, s.experiment), limit=4)
    assert len(rows) == 4 and {r["model"] for r in rows} == {"sim:x", "ext:model"}
    assert [r["model"] for r in ext.store_calls(ext.Store(s.tracking_uri, s.experiment), limit=7)].count("sim:x") == 4
