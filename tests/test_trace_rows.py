"""The exporter's batch writer stores exactly the rows MLflow's own ``log_spans`` stores.

The batch writer (``tracking._SqlRows.write_traces``) puts new traces into MLflow's SQL store in
one transaction, computing each row with MLflow's own helpers; this compares every row of the
trace tables it writes with what MLflow's ``log_spans`` writes for the same records, so an MLflow
upgrade that changes the rows fails here.
"""

from __future__ import annotations

import sqlite3
import time
import uuid

from llmops_nb import tracking
from llmops_nb.types import CallRecord

TABLES = {"trace_info": "request_id", "trace_tags": "request_id, key", "trace_request_metadata": "request_id, key",
          "spans": "trace_id, span_id"}


def _records() -> list[CallRecord]:
    now = time.time_ns()
    req = {"model": "openai:gpt-4o-mini", "provider": "openai", "model_name": "gpt-4o-mini", "system": "Be brief.",
           "messages": [{"role": "user", "content": "Résumé in 3 words ✓"}], "params": {"temperature": 0.2},
           "stream": True}
    base = {"started_at_ns": now, "ended_at_ns": now + 250_000_000, "request": req, "experiment": "rows"}
    cases = [
        {"status": "OK", "text": "Cache saves money.", "usage": {"input_tokens": 20, "output_tokens": 5},
         "cost_usd": 0.000012, "ttft_s": 0.04, "finish_reason": "stop"},
        {"status": "OK", "text": "cached answer", "usage": {"input_tokens": 20, "output_tokens": 5,
                                                            "cache_read_tokens": 3}, "cost_usd": 0.0, "cached": True,
         "original_latency_s": 0.3},
        {"status": "OK", "text": "no price known", "usage": {"input_tokens": 7, "output_tokens": 9}, "cost_usd": None},
        {"status": "ERROR", "error_type": "ProviderServerError", "error": "500 from upstream", "route": "fast",
         "route_reason": "rule", "attempts": [{"model": "openai:a", "ok": False, "error_type": "X", "duration_ms": 3.0,
                                               "retry_wait_s": 0.01}, {"model": "openai:b", "ok": False,
                                                                       "duration_ms": 4.0}]},
        {"status": "OK", "text": "in a cell", "usage": {"input_tokens": 1, "output_tokens": 1}, "cost_usd": 1e-6,
         "group_id": "g" * 32, "group_name": "cell 3", "prompt": "summarize@2",
         "findings": [{"type": "email", "action": "redact", "value_hash": "ab"}], "notes": ["a note"]},
    ]
    return [CallRecord(record_id=uuid.uuid4().hex, trace_id="tr-" + uuid.uuid4().hex, **{**base, **case})
            for case in cases]


def _with_a_json_looking_model_id(records: list[CallRecord]) -> list[CallRecord]:
    """``records`` and some whose model id is JSON text (MLflow's sanitising of span attributes
    unwraps a string literal, an object or an array, also after JSON whitespace; keeps a number
    and what does not parse): the direct span rows must do the same."""
    r = records[0]
    names = ('"gpt-4o-mini"', ' \t["gpt", "4o"]', '\n{"m": 1}', "123", '"unterminated', "[oops", "null")
    odd = [CallRecord(**{**r.__dict__, "record_id": uuid.uuid4().hex, "trace_id": "tr-" + uuid.uuid4().hex,
                         "request": {**r.request, "model_name": name, "system": None}}) for name in names]
    trace_name = CallRecord(**{**r.__dict__, "record_id": uuid.uuid4().hex, "trace_id": "tr-" + uuid.uuid4().hex,
                               "request": {**r.request, "model": '"openai:gpt-4o-mini"'}})
    return [*records, *odd, trace_name]


def _rows(db: str, root: str, runs: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    def same(value: object) -> str:  # the store's folder and its run ids differ between stores
        text = str(value).replace(root, "ROOT")
        return "RUN" if text in runs else text

    con = sqlite3.connect(db)
    try:
        rows = {t: [tuple(same(v) for v in row)
                    for row in con.execute(f"SELECT * FROM {t} ORDER BY {order}")]
                for t, order in TABLES.items()}
        rows["entity_associations"] = [tuple(same(v) for v in row) for row in con.execute(  # ids and times differ
            "SELECT source_type, source_id, destination_type, destination_id FROM entity_associations ORDER BY 2")]
        return rows
    finally:
        con.close()


def test_batch_writer_rows_equal_mlflows_log_spans(tmp_path):
    records = _with_a_json_looking_model_id(_records())
    written = {}
    for name, batch in (("mlflow", False), ("batch", True)):
        root = tmp_path / name
        root.mkdir()
        exporter = tracking.MlflowExporter(f"sqlite:///{root}/mlflow.db", "rows")
        assert exporter._rows is not None
        # answered, priced records skip building and translating a Span (this MLflow: same rows)
        assert exporter._rows._direct
        if not batch:
            exporter._rows.write_traces = lambda *args: False  # MLflow's log_spans writes them
        exporter._experiment("rows")  # same experiment id in both stores
        exporter.export(records)
        written[name] = _rows(f"{root}/mlflow.db", str(root), tuple(exporter._runs.values()))
    for table in [*TABLES, "entity_associations"]:
        assert written["batch"][table] == written["mlflow"][table], table
    assert len(written["batch"]["trace_info"]) == len(records)
    grouped = next(r for r in records if r.group_id)
    assert written["batch"]["entity_associations"] == [("trace", grouped.trace_id, "run", "RUN")]


def test_direct_spans_are_checked_against_mlflows_translation(tmp_path, monkeypatch):
    """If MLflow's translation would store the common span differently from the direct build,
    the exporter notices at start and translates every span (the rows stay MLflow's)."""
    direct = tracking._SqlRows._direct_root

    def differs(self, r):
        span = direct(self, r)
        span.stored["attributes"]["mlflow.spanType"] = '"LLM"'
        return span

    monkeypatch.setattr(tracking._SqlRows, "_direct_root", differs)
    exporter = tracking.MlflowExporter(f"sqlite:///{tmp_path}/mlflow.db", "rows")
    assert exporter._rows is not None and not exporter._rows._direct
    exporter.export(_records())
    con = sqlite3.connect(f"{tmp_path}/mlflow.db")
    roots = con.execute("SELECT type, content FROM spans WHERE parent_span_id IS NULL").fetchall()
    con.close()
    assert len(roots) == 5 and all(t == "CHAT_MODEL" and '"LLM"' not in content for t, content in roots)


def test_a_retried_batch_falls_back_to_mlflows_path(tmp_path):
    """A batch whose traces are already stored (exported, then the process died before the
    journal files were deleted) is written again without error and without duplicates."""
    records = _records()
    exporter = tracking.MlflowExporter(f"sqlite:///{tmp_path}/mlflow.db", "rows")
    exporter.export(records)
    exporter.export(records)
    rows = _rows(f"{tmp_path}/mlflow.db", str(tmp_path))
    assert len(rows["trace_info"]) == len(records)
    assert len({(r[0], r[2]) for r in rows["spans"]}) == len(rows["spans"])
