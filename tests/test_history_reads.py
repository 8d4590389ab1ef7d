"""history() reads a fixed number of queries whatever the number of rows (linear time)."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import event

from llmops_nb import tracking
from llmops_nb.config import settings
from llmops_nb.types import CallRecord


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
