"""The first export builds the exporter (import mlflow, create the store: seconds of CPU under
the GIL); it waits for calls in flight longer than later batches, so it does not land on the
calls of a first compare() still running."""

from __future__ import annotations

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
