"""The journal: records are written before export, retried, replayed after a crash, never lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from llmops_nb.errors import TrackingError
from llmops_nb.recording import JournalRecorder
from llmops_nb.types import CallRecord


def _record(i: int = 0) -> CallRecord:
    return CallRecord(record_id=f"{i:032x}", trace_id=f"tr-{i:032x}", started_at_ns=time.time_ns(),
                      ended_at_ns=time.time_ns() + 1000, request={"model": "sim:x"}, status="OK")


class FlakyExporter:
    """Fails the first ``failures`` exports, then accepts; remembers what arrived."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures, self.delay = failures, delay
        self.arrived: list[str] = []
        self.lock = threading.Lock()

    def export(self, records):
        time.sleep(self.delay)
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("store unreachable")
            self.arrived.extend(r.record_id for r in records)


def test_record_is_journaled_before_export_and_removed_after(tmp_path):
    exporter = FlakyExporter(delay=0.3)
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0)
    rec.record(_record(1))
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["trace_id"] == f"tr-{1:032x}"
    rec.flush(5)
    assert exporter.arrived == [f"{1:032x}"] and not list(tmp_path.glob("*.json"))
    rec.close()


def test_failed_exports_are_retried_until_they_arrive(tmp_path, caplog):
    exporter = FlakyExporter(failures=3)
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0, retry_s=0.01)
    caplog.set_level("DEBUG", logger="llmops_nb.recording")
    for i in range(5):
        rec.record(_record(i))
    rec.flush(5)
    assert sorted(exporter.arrived) == sorted(f"{i:032x}" for i in range(5))
    assert "will retry" in caplog.text
    rec.close()


def test_record_never_waits_for_a_slow_store(tmp_path):
    exporter = FlakyExporter(delay=1.0)
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0)
    t0 = time.perf_counter()
    for i in range(20):
        rec.record(_record(i))
    assert time.perf_counter() - t0 < 0.5  # 20 records, each export would take 1 s
    rec.close(timeout=0.1)  # what the slow store has not taken stays in the journal
    assert len(exporter.arrived) + len(list(tmp_path.glob("*.json"))) == 20


def test_flush_times_out_with_a_typed_error_and_keeps_the_records(tmp_path):
    exporter = FlakyExporter(failures=10**6)
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0, retry_s=0.01)
    rec.record(_record(7))
    with pytest.raises(TrackingError, match="kept in"):
        rec.flush(0.3)
    rec.close(timeout=0.1)
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_records_of_a_dead_process_are_replayed(tmp_path):
    # A process journals a record and dies before exporting it (os._exit skips every cleanup).
    code = (
        "import os, time, sys\n"
        "from llmops_nb.recording import JournalRecorder\n"
        "from tests.test_recording import _record\n"
        "class Never:\n    def export(self, r): time.sleep(60)\n"
        f"rec = JournalRecorder(__import__('pathlib').Path({str(tmp_path)!r}), Never, quiet_s=0)\n"
        "rec.record(_record(42)); os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.getcwd(), timeout=60)
    assert len(list(tmp_path.glob("*.json"))) == 1
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0)
    rec.flush(5)
    assert exporter.arrived == [f"{42:032x}"]
    rec.close()


def test_live_process_records_are_not_stolen(tmp_path):
    other = tmp_path / f"{os.getppid()}-1-{'0' * 32}.json"
    other.write_text(_record(0).to_json())
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0)
    rec.flush(1)
    assert exporter.arrived == [] and other.exists()
    rec.close()


def test_unreadable_journal_file_is_set_aside_not_deleted(tmp_path):
    dead = tmp_path / "999999999-1-abc.json"
    dead.write_text("{truncated")
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0)
    rec.flush(2)
    assert list(tmp_path.glob("*.bad")) and exporter.arrived == []
    rec.close()


def test_exporter_defers_while_calls_are_being_made(tmp_path):
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0.3, max_defer_s=5)
    rec.call_started()
    rec.record(_record(1))
    time.sleep(0.1)
    assert exporter.arrived == []  # calls are still being made
    time.sleep(0.5)
    assert exporter.arrived == [f"{1:032x}"]
    rec.close()
