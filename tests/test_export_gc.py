"""An export batch runs no cyclic garbage collection: its short-lived rows are freed by
reference counting, and are never scanned (nor promoted, which made full collections of the
whole heap every few batches under load)."""

from __future__ import annotations

import gc
import threading
import time

from llmops_nb import recording
from llmops_nb.recording import JournalRecorder
from llmops_nb.types import CallRecord


def _record(i: int) -> CallRecord:
    return CallRecord(record_id=f"{i:032x}", trace_id=f"tr-{i:032x}", started_at_ns=time.time_ns(),
                      ended_at_ns=time.time_ns() + 1000, request={"model": "sim:x"}, status="OK")


class RowMakingExporter:
    """Builds many containers per record, as a store's rows are (tens of dicts per trace)."""

    def __init__(self) -> None:
        self.arrived = 0
        self.exporting = False

    def export(self, records):
        self.exporting = True
        try:
            rows = [{"key": f"k{j}", "value": [r.trace_id, j]} for r in records for j in range(40)]
            self.arrived += len(records)
            return len(rows)
        finally:
            self.exporting = False


def test_an_export_batch_runs_no_garbage_collection(tmp_path):
    """No collection, in any thread, while a batch's rows are alive. (The collections that the
    other threads' allocations made due while the collector was paused run once it is back on,
    often in the exporter's thread: after the batch is gone, so they scan nothing of it.)"""
    collections_in_exporter = []

    def seen(phase, info):
        if phase == "start" and exporter.exporting:
            collections_in_exporter.append((threading.current_thread().name, info["generation"]))

    exporter = RowMakingExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0.0, max_defer_s=0.0)
    rec.record(_record(-1))
    rec.flush(30)  # the exporter is built
    gc.callbacks.append(seen)
    try:
        for i in range(400):
            rec.record(_record(i))
        rec.flush(30)
    finally:
        gc.callbacks.remove(seen)
        rec.close()
    assert exporter.arrived == 401
    assert collections_in_exporter == []
    assert gc.isenabled()


def test_pauses_nest_and_leave_a_disabled_collector_disabled():
    assert gc.isenabled()
    with recording.gc_paused():
        with recording.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    try:
        with recording.gc_paused():
            pass
        assert not gc.isenabled()  # switched off by someone else: stays off
    finally:
        gc.enable()
