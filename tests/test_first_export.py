"""The first export builds the exporter (import mlflow, create the store: seconds of CPU under
the GIL); it waits for calls in flight longer than later batches, so it does not land on the
calls of a first compare() still running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from llmops_nb.recording import JournalRecorder
from llmops_nb.types import CallRecord


class _Exporter:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def export(self, records: list[CallRecord]) -> None:
        self.records.extend(records)


def _record(i: int) -> CallRecord:
    now = time.time_ns()
    return CallRecord(record_id=f"{i:032x}", trace_id=f"tr-{i:032x}", started_at_ns=now, ended_at_ns=now,
                      request={"model": "sim:x", "provider": "sim", "model_name": "x", "messages": [],
                               "system": None, "params": {}, "stream": False}, status="OK")


def test_the_exporter_is_not_built_while_calls_are_in_flight(tmp_path):
    built: list[float] = []
    exporter = _Exporter()

    def make() -> _Exporter:
        built.append(time.monotonic())
        return exporter

    rec = JournalRecorder(tmp_path, make, quiet_s=0.05, max_defer_s=0.2, first_max_defer_s=5.0)
    try:
        slow_call_done = threading.Event()

        def slow_call() -> None:  # another cell of the comparison, still on the wire
            rec.call_started()
            slow_call_done.wait(10)
            rec.record(_record(2))

        worker = threading.Thread(target=slow_call)
        worker.start()
        time.sleep(0.05)
        rec.call_started()
        rec.record(_record(1))  # the first answer is in
        time.sleep(1.0)  # 5x max_defer_s: a later batch would have been exported by now
        assert built == []
        ended = time.monotonic()
        slow_call_done.set()
        worker.join()
        rec.flush(timeout=10)
        assert len(built) == 1 and built[0] >= ended
        assert sorted(r.record_id for r in exporter.records) == [f"{1:032x}", f"{2:032x}"]
    finally:
        rec.close(timeout=5)


def test_a_flush_does_not_wait_for_the_first_export(tmp_path):
    exporter = _Exporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0.05, max_defer_s=0.2, first_max_defer_s=30.0)
    try:
        threading.Thread(target=rec.call_started).start()  # a call that stays in flight
        rec.call_started()
        rec.record(_record(1))
        t = time.monotonic()
        rec.flush(timeout=10)
        assert time.monotonic() - t < 5 and len(exporter.records) == 1
    finally:
        rec.close(timeout=5)


FIRST_ANSWER_WITH_A_JOURNAL_LEFT = """
import json, os, sys, time
from pathlib import Path
from llmops_nb.config import build_settings
from llmops_nb.session import store_slug
from llmops_nb.types import CallRecord

settings = build_settings({})
journal = settings.journal_dir / store_slug(settings.tracking_uri)
journal.mkdir(parents=True)
now = time.time_ns()
record = CallRecord(record_id="a" * 32, trace_id="tr-" + "b" * 32, started_at_ns=now, ended_at_ns=now,
                    request={"model": "sim:x", "provider": "sim", "model_name": "x", "messages": [],
                             "system": None, "params": {}, "stream": False}, status="OK")
(journal / f"{sys.argv[1]}-{now}-{record.record_id}.json").write_text(record.to_json())  # a dead process's

import llmops_nb as llm
c = llm.complete("openai:gpt-5.4-mini", "Say hello")
at_answer = sorted(m for m in ("mlflow", "sqlalchemy", "alembic") if m in sys.modules)
llm.flush()
print(json.dumps({"at_answer": at_answer, "left": len(list(journal.iterdir()))}))
"""


def test_no_mlflow_is_imported_before_the_first_answer_even_with_an_earlier_journal_to_replay(tmp_path, fake_openai):
    """Opening the recorder claims what an earlier process left in the journal; its replay
    (import mlflow, the store: seconds of CPU under the GIL, and imports in a background thread
    while a call runs) started at once, before the first call had even been sent."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
           "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_openai.base_url, "MLFLOW_DISABLE_TELEMETRY": "true",
           "LLMOPS_WARMUP": "0"}
    out = subprocess.run([sys.executable, "-c", FIRST_ANSWER_WITH_A_JOURNAL_LEFT, dead], capture_output=True,
                         text=True, env=env, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"at_answer": [], "left": 0}
