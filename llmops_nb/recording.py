"""Recording that never blocks a call and never drops one.

The calling thread only writes the record to a local journal (one small file, renamed into
place so it is whole or absent) and hands it to a background exporter thread. The exporter
sends records to the tracking store (:mod:`llmops_nb.tracking`) and deletes each journal file
once its record has arrived. What did not arrive stays in the journal and is retried — also by
the next process that opens the same journal after a crash or kernel restart.

The exporter keeps out of the way of calls: while calls are being made it waits (up to
``max_defer_s``), because exporting is CPU work that would otherwise compete with the calling
thread for the GIL.

The transport is a small protocol (:class:`Exporter`), so the same journal can feed a local
sqlite store or a remote tracking server.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from llmops_nb.config import Settings
from llmops_nb.errors import TrackingError
from llmops_nb.types import CallRecord

log = logging.getLogger(__name__)


class Exporter(Protocol):
    """Sends records to a tracking store; raises if they did not arrive."""

    def export(self, records: list[CallRecord]) -> None: ...


class Recorder(Protocol):
    """Accepts records from the calling thread; ``flush`` waits until they have arrived."""

    def record(self, record: CallRecord) -> None: ...

    def call_started(self) -> None: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self) -> None: ...


class NullRecorder:
    """Tracking switched off (``configure(tracking=False)``): records go nowhere."""

    def record(self, record: CallRecord) -> None:
        return None

    def call_started(self) -> None:
        return None

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def encode_journal(text: str) -> bytes:
    """A journal file's bytes: UTF-8, with any lone surrogate the text holds (Python strings
    may; ``json.loads('"\\ud83d"')`` makes one) kept as is, so every text round-trips exactly."""
    return text.encode("utf-8", "surrogatepass")


def decode_journal(data: bytes) -> str:
    """The text of a journal file (:func:`encode_journal`'s inverse)."""
    return data.decode("utf-8", "surrogatepass")


class JournalRecorder:
    """Journal first, export in the background, delete when exported."""

    def __init__(
        self,
        journal_dir: Path,
        make_exporter: Callable[[], Exporter],
        *,
        quiet_s: float = 0.25,
        max_defer_s: float = 5.0,
        retry_s: float = 1.0,
    ) -> None:
        self.journal_dir = journal_dir
        self.journal_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._make_exporter = make_exporter
        self._quiet_s, self._max_defer_s, self._retry_s = quiet_s, max_defer_s, retry_s
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._last_call = 0.0
        self._flushing = 0
        self._closed = False
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="llmops_nb-recorder", daemon=True)
        self._claim_orphans()
        self._thread.start()
        atexit.register(self._at_exit)

    # -- calling thread -------------------------------------------------------------------
    def call_started(self) -> None:
        """A call is starting: the exporter waits until calls have been quiet for a while."""
        self._last_call = time.monotonic()

    def record(self, record: CallRecord) -> None:
        """Journal ``record`` and queue it for export. Never raises for a journal it can write."""
        path = self.journal_dir / f"{self._pid}-{record.started_at_ns}-{record.record_id}.json"
        tmp = path.with_suffix(".tmp")
        data = encode_journal(record.to_json())
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:  # a full disk, an interrupt: no .tmp is left behind
            tmp.unlink(missing_ok=True)
            raise
        self._enqueue(path)

    def flush(self, timeout: float | None = 120.0) -> None:
        """Wait until every record has arrived; TrackingError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._pending:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TrackingError(
                            f"{self._pending} call record(s) have not reached the tracking store "
                            f"after {timeout:g} s; they are kept in {self.journal_dir} and will be "
                            "sent when the store is reachable. Check the tracking URI (%llm config)."
                        )
                    self._cond.wait(timeout=left if left is not None else 1.0)
            finally:
                self._flushing -= 1

    def close(self, timeout: float = 10.0) -> None:
        """Flush for up to ``timeout`` seconds, then stop; unsent records stay journaled."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        except TrackingError as exc:
            log.warning("%s", exc)
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=2.0)
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        self.close(timeout=10.0)

    # -- background -----------------------------------------------------------------------
    def _enqueue(self, path: Path) -> None:
        with self._cond:
            self._pending += 1
        self._queue.put(path)

    def _done(self, count: int) -> None:
        with self._cond:
            self._pending -= count
            self._cond.notify_all()

    def _claim_orphans(self) -> None:
        """Take over journal files of processes that are gone (crash, kernel restart)."""
        for path in sorted(self.journal_dir.glob("*.json")):
            pid_text = path.name.split("-", 1)[0]
            if not pid_text.isdigit() or int(pid_text) == self._pid or _pid_alive(int(pid_text)):
                continue
            mine = path.with_name(f"{self._pid}-{path.name.split('-', 1)[1]}")
            try:
                os.rename(path, mine)  # atomic: only one process wins the claim
            except FileNotFoundError:
                continue
            self._enqueue(mine)

    def _wait_for_quiet(self) -> None:
        """Defer export while calls are being made, but never for more than max_defer_s."""
        started = time.monotonic()
        while not self._closed and not self._flushing:
            quiet_for = time.monotonic() - self._last_call
            waited = time.monotonic() - started
            if quiet_for >= self._quiet_s or waited >= self._max_defer_s:
                return
            with self._cond:
                self._cond.wait(timeout=min(self._quiet_s - quiet_for, self._max_defer_s - waited))

    def _next_batch(self, first: Path, limit: int = 50) -> tuple[list[Path], bool]:
        batch, stop = [first], False
        while len(batch) < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _load(self, paths: list[Path]) -> list[CallRecord]:
        records = []
        for path in paths:
            try:
                records.append(CallRecord.from_json(decode_journal(path.read_bytes())))
            except (ValueError, TypeError, OSError) as exc:  # unreadable: keep it aside, never delete
                log.error("llmops_nb: journal file %s is unreadable (%s); moved aside", path, exc)
                with contextlib.suppress(OSError):
                    os.replace(path, path.with_suffix(".bad"))
        return records

    def _run(self) -> None:
        exporter: Exporter | None = None
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            self._wait_for_quiet()
            paths, stop = self._next_batch(first)
            records = self._load(paths)
            exported, failures = not records, 0
            while not exported:
                try:
                    if exporter is None:
                        exporter = self._make_exporter()
                    exporter.export(records)
                    exported = True
                except Exception as exc:  # keep the records; try again later
                    failures += 1
                    # A first failure is often passing (another process creating the store);
                    # only a lasting one is worth a line in whichever cell is running now.
                    level = logging.WARNING if failures == 3 or failures % 30 == 0 else logging.DEBUG
                    log.log(level, "llmops_nb: could not export %d call record(s) (%s); will retry",
                            len(records), exc)
                    if self._closed:
                        break  # they stay journaled for the next process
                    time.sleep(self._retry_s)
            if exported:
                for path in paths:
                    path.unlink(missing_ok=True)
            self._done(len(paths))


class FanOutRecorder:
    """Several recorders, each with its own journal and exporter (MLflow, OTLP): one slow or
    unreachable destination never holds back, nor loses, what goes to another."""

    def __init__(self, recorders: list[Recorder]) -> None:
        self.recorders = recorders

    def record(self, record: CallRecord) -> None:
        for r in self.recorders:
            r.record(record)

    def call_started(self) -> None:
        for r in self.recorders:
            r.call_started()

    def flush(self, timeout: float | None = 120.0) -> None:
        for r in self.recorders:
            r.flush(timeout)

    def close(self) -> None:
        for r in self.recorders:
            r.close()


def open_recorder(settings: Settings) -> Recorder:
    """The recorder the settings ask for: MLflow, plus OTLP when the standard
    ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` is set."""
    if not settings.tracking:
        return NullRecorder()
    from llmops_nb.otel_export import otlp_endpoint
    from llmops_nb.tracking import MlflowExporter

    journal = settings.journal_dir / _store_slug(settings.tracking_uri)
    mlflow_recorder = JournalRecorder(journal, lambda: MlflowExporter(settings.tracking_uri, settings.experiment))
    endpoint = otlp_endpoint()
    if endpoint is None:
        return mlflow_recorder
    import importlib.util

    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is None:
        log.warning("llmops_nb: OTEL_EXPORTER_OTLP_ENDPOINT is set, but the OTLP exporter is not installed "
                    "(pip install 'llmops-nb[team]'); calls are recorded in MLflow only")
        return mlflow_recorder

    def otlp() -> Exporter:
        from llmops_nb.otel_export import OtlpExporter

        return OtlpExporter(endpoint)

    return FanOutRecorder([mlflow_recorder, JournalRecorder(settings.journal_dir / ("otlp-" + _store_slug(endpoint)),
                                                            otlp)])


def _store_slug(uri: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, uri).hex[:16]
