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


def _journaled(folder) -> list[dict]:
    """The records in the journal that have not arrived: every line of a segment (``*.jsonl``)
    not listed in its ``.done`` file, and whole ``*.json`` files (older versions)."""
    out = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    for seg in folder.glob("*.jsonl"):
        done_file = seg.with_name(seg.name + ".done")
        done = {int(x) for x in done_file.read_text().split()} if done_file.exists() else set()
        offset = 0
        for line in seg.read_bytes().splitlines(keepends=True):
            if offset not in done:
                out.append(json.loads(line))
            offset += len(line)
    return out


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
    files = _journaled(tmp_path)  # in the journal when record() returns
    assert len(files) == 1 and files[0]["trace_id"] == f"tr-{1:032x}"
    rec.flush(5)
    assert exporter.arrived == [f"{1:032x}"] and not _journaled(tmp_path) and not list(tmp_path.iterdir())
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
    assert len(exporter.arrived) + len(_journaled(tmp_path)) == 20


def test_flush_times_out_with_a_typed_error_and_keeps_the_records(tmp_path):
    exporter = FlakyExporter(failures=10**6)
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0, retry_s=0.01)
    rec.record(_record(7))
    with pytest.raises(TrackingError, match="kept in"):
        rec.flush(0.3)
    rec.close(timeout=0.1)
    assert len(_journaled(tmp_path)) == 1


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
    assert len(_journaled(tmp_path)) == 1
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


def test_a_long_call_in_flight_is_not_a_quiet_moment(tmp_path):
    """Quiet is counted from the end of the last call, not its start: a call that has been
    running for longer than quiet_s is still in flight, and the exporter keeps out of its way."""
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0.1, max_defer_s=5)
    rec.record(_record(1))  # an earlier call ended ...
    rec.call_started()  # ... and this thread's next call is in flight
    time.sleep(0.6)
    assert exporter.arrived == []
    rec.record(_record(2))  # the call ended
    rec.flush(5)
    assert sorted(exporter.arrived) == [f"{1:032x}", f"{2:032x}"]
    rec.close()


def test_under_sustained_calls_no_record_waits_longer_than_max_defer(tmp_path):
    """The deferral bounds each record's wait, not each batch's: a backlog is drained at once."""
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0.25, max_defer_s=0.3, batch_size=50)
    stop = threading.Event()

    def caller(offset: int) -> None:  # a call is always in flight on this thread
        i = 0
        while not stop.is_set():
            rec.call_started()
            rec.record(_record(offset + i))
            i += 1
            time.sleep(0.001)

    threads = [threading.Thread(target=caller, args=(k * 10**6,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    behind = rec.pending
    stop.set()
    for t in threads:
        t.join()
    made = len(_journaled(tmp_path)) + len(exporter.arrived)
    rec.flush(10)
    rec.close()
    assert made > 500
    assert behind < made / 2, f"{behind} of {made} records still waiting after 2 s of calls"


def test_an_outage_is_one_warning_and_its_end_another(tmp_path, capfd):
    """A store that refuses writes (read-only, locked) for many retries: one warning when the
    outage starts, one when it is over, and none of MLflow's per-retry tracebacks."""
    import logging

    from llmops_nb import tracking

    tracking._import_mlflow()  # installs the filter on MLflow's database logger
    mlflow_db_log = logging.getLogger("mlflow.store.db.utils")

    class LockedThenFine(FlakyExporter):
        def export(self, records):
            if self.failures:
                try:
                    raise RuntimeError("database is locked")
                except RuntimeError as exc:  # what MLflow's session does on every failure
                    mlflow_db_log.exception("SQLAlchemy database error. The following exception is caught.\n%s", exc)
            super().export(records)

    handler = logging.StreamHandler()  # as in a notebook: warnings reach the cell
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        exporter = LockedThenFine(failures=12)
        rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0, retry_s=0.01, max_retry_s=0.02)
        for i in range(3):
            rec.record(_record(i))
        rec.flush(10)
        rec.close()
    finally:
        root.removeHandler(handler)
    err = capfd.readouterr().err
    assert len(exporter.arrived) == 3
    assert "Traceback" not in err and "SQLAlchemy database error" not in err
    assert err.count("is not taking records") == 1, err
    assert err.count("taking records again") == 1, err


def test_a_partly_exported_segment_of_a_dead_process_replays_only_the_rest(tmp_path):
    """One journal segment holds many records; what had arrived before the process died is
    listed in its .done file and is not sent again, the rest is."""
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from llmops_nb.recording import JournalRecorder\n"
        "from tests.test_recording import _record\n"
        "class FirstBatchOnly:\n"
        "    calls = 0\n"
        "    def export(self, records):\n"
        "        FirstBatchOnly.calls += 1\n"
        "        if FirstBatchOnly.calls > 1: time.sleep(60)\n"
        "        time.sleep(0.3)\n"
        "        print(' '.join(r.record_id for r in records), flush=True)\n"
        f"rec = JournalRecorder(Path({str(tmp_path)!r}), FirstBatchOnly, quiet_s=0, max_defer_s=0)\n"
        "for i in range(5): rec.record(_record(i))\n"
        "time.sleep(0.1)\n"
        "for i in range(5, 10): rec.record(_record(i))\n"
        "time.sleep(0.8)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=os.getcwd(), timeout=60,
                         capture_output=True, text=True)
    first = out.stdout.split()
    assert first and len(first) < 10, out
    assert len(list(tmp_path.glob("*.jsonl"))) == 1 and list(tmp_path.glob("*.done"))
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0)
    rec.flush(5)
    rec.close()
    assert sorted(exporter.arrived) == sorted(set(f"{i:032x}" for i in range(10)) - set(first))
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_lose_nothing_and_duplicate_nothing(tmp_path):
    exporter = FlakyExporter(failures=2, delay=0.01)
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0, retry_s=0.01, batch_size=37)

    def writer(k: int) -> None:
        for i in range(200):
            rec.call_started()
            rec.record(_record(k * 1000 + i))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec.flush(30)
    rec.close()
    assert sorted(exporter.arrived) == sorted(f"{k * 1000 + i:032x}" for k in range(8) for i in range(200))
    assert list(tmp_path.iterdir()) == []  # every segment deleted once all of it had arrived


def test_a_line_cut_off_by_a_crash_is_set_aside_and_the_rest_replayed(tmp_path):
    dead = tmp_path / "999999999-1-abc.jsonl"
    dead.write_bytes(_record(1).to_json().encode() + b"\n" + _record(2).to_json().encode() + b"\n"
                     + _record(3).to_json().encode()[:40])  # the process died mid-write
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0)
    rec.flush(5)
    rec.close()
    assert exporter.arrived == [f"{1:032x}", f"{2:032x}"]
    bad = list(tmp_path.glob("*.bad"))
    assert len(bad) == 1 and bad[0].read_bytes().startswith(_record(3).to_json().encode()[:40])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_journals_apart_and_loses_nothing(tmp_path):
    """A child forked after the recorder exists (multiprocessing's default on Linux) writes its
    own segment under its own pid: the parent deleting its finished segment loses nothing of
    the child's, and the child's record is replayed once the child is gone."""
    exporter = FlakyExporter()
    rec = JournalRecorder(tmp_path, lambda: exporter, quiet_s=0, max_defer_s=0)
    rec.record(_record(1))
    pid = os.fork()
    if pid == 0:  # the child: journal one record, die before exporting it
        try:
            exporter.failures = 10**6  # the child's store refuses: its record stays journaled
            rec.record(_record(2))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    rec.record(_record(3))
    rec.flush(5)
    rec.close()
    assert sorted(exporter.arrived) == [f"{1:032x}", f"{3:032x}"]
    assert [r["record_id"] for r in _journaled(tmp_path)] == [f"{2:032x}"]
    again = FlakyExporter()
    rec2 = JournalRecorder(tmp_path, lambda: again, quiet_s=0)
    rec2.flush(5)
    rec2.close()
    assert again.arrived == [f"{2:032x}"]
