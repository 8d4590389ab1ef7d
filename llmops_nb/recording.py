"""Recording that never blocks a call and never drops one.

The calling thread only appends the record to a local journal — one line, in one ``write``,
to this process's current journal segment (``<pid>-<ns>-<id>.jsonl``; a failed write is cut
back off, so a line is whole or absent) — and hands its place to a background exporter
thread. The exporter reads the line back, sends records to the tracking store
(:mod:`llmops_nb.mlflow_export`), notes what arrived in the segment's ``.done`` file, and deletes a
segment once every record in it has arrived. What did not arrive stays in the journal and is
retried — also by the next process that opens the same journal after a crash or kernel
restart (it skips what the ``.done`` file lists; per-record ``.json`` files of older versions
are replayed too). Creating a file per call cost 20-250 µs of system time on ext4; an append
costs ~3 µs.

The exporter keeps out of the way of calls: while a call is in flight, or one ended less than
``quiet_s`` ago, it waits, because exporting is CPU work that would otherwise compete with the
calling threads for the GIL. No record waits longer than ``max_defer_s``: under sustained load
the exporter drains the journal in large batches (one store transaction each), so it never falls
behind the call rate for long.

A store that cannot be written (read-only, locked, stopped) is reported once when the outage
starts and once when it is over; the records wait in the journal meanwhile.

The transport is a small protocol (:class:`Exporter`), so the same journal can feed a local
sqlite store or a remote tracking server.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import os
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Protocol

from llmops_nb.errors import TrackingError
from llmops_nb.types import CallRecord

log = logging.getLogger(__name__)
STORE_BUILD_WAIT_S = 60.0  # close() waits this long at most for an exporter build under way (migrations)

_HOLDS = count(1)  # keys of the holds on export (recorders' in-flight maps), negative

class Exporter(Protocol):
    """Sends records to a tracking store; raises if they did not arrive."""

    def export(self, records: list[CallRecord]) -> None: ...


class Recorder(Protocol):
    """Accepts records from the calling thread; ``flush`` waits until they have arrived."""

    def record(self, record: CallRecord) -> None: ...

    def call_started(self) -> None: ...

    def holding(self) -> contextlib.AbstractContextManager[None]: ...

    def flush(self, timeout: float | None = None, *, urgent: bool = True) -> None: ...

    def close(self) -> None: ...


class NullRecorder:
    """Tracking switched off (``configure(tracking=False)``): records go nowhere."""

    def record(self, record: CallRecord) -> None:
        return None

    def call_started(self) -> None:
        return None

    def holding(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def flush(self, timeout: float | None = None, *, urgent: bool = True) -> None:
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


def _ready_for_exit_imports() -> None:
    """Let the exporter be built while the interpreter exits.

    A script's only export often happens at exit (its ``atexit`` flush builds the exporter:
    ``import mlflow``). By then ``threading`` is shutting down, and a module that registers a
    threading exit hook on import - ``concurrent.futures.thread``, which MLflow imports - raises
    "can't register atexit after shutdown": the export failed and the script's records stayed
    journaled. Importing that module now (it is tiny) registers its hook while that is allowed.
    """
    import concurrent.futures.thread  # noqa: F401


class JournalRecorder:
    """Journal first, export in the background, delete when exported."""

    def __init__(
        self,
        journal_dir: Path,
        make_exporter: Callable[[], Exporter],
        *,
        quiet_s: float = 0.25,
        max_defer_s: float = 2.0,
        first_max_defer_s: float | None = None,
        retry_s: float = 1.0,
        max_retry_s: float = 15.0,
        batch_size: int = 500,
    ) -> None:
        self.journal_dir = journal_dir
        self.journal_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._make_exporter = make_exporter
        self._quiet_s, self._max_defer_s = quiet_s, max_defer_s
        # Building the exporter (import mlflow, create the store: ~2-3 s of CPU holding the GIL)
        # waits longer for calls in flight than a batch does: it must not land on a first compare.
        self._first_max_defer_s = max(first_max_defer_s or 0.0, max_defer_s)
        self._retry_s, self._max_retry_s, self._batch_size = retry_s, max_retry_s, batch_size
        self._queue: queue.Queue[tuple[_Place, float] | None] = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._in_flight: dict[int, float] = {}  # calling thread -> when its call started
        # as if a call had just ended: a replay of claimed records (below) waits quiet_s, by when
        # the call that opened the recorder is in flight — it does not start before that call is sent
        self._last_end = time.monotonic()
        self._flushing = 0
        self._building = False  # the exporter (and so, on a first run, the store) is being built
        self._closed = False
        self._pid = os.getpid()
        self._write_lock = threading.Lock()
        self._segment: _Segment | None = None  # where this process appends now
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._claim_orphans()
        self._thread.start()
        _ready_for_exit_imports()
        atexit.register(self._at_exit)
        _recorders.add(self)

    def _after_fork_in_child(self) -> None:
        """A forked child journals into its own segment under its own pid, with its own
        exporter: the parent's segment (and queue) stay the parent's."""
        self._pid = os.getpid()
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        if self._segment is not None and self._segment.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._segment.fd)  # the child's copy of the descriptor
        self._segment = None
        self._queue = queue.Queue()
        self._pending = 0
        self._in_flight = {}
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    # -- calling thread -------------------------------------------------------------------
    def call_started(self) -> None:
        """A call is starting on this thread: the exporter waits until it has ended."""
        self._in_flight[threading.get_ident()] = time.monotonic()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Work the user is waiting for that is not a call (a ``compare()`` until its table is
        returned): the exporter stays out of its way as it does for a call in flight, and its
        first export (``import mlflow``: seconds of CPU under the GIL) does not start under it."""
        key = -next(_HOLDS)  # apart from the threads' idents
        self._in_flight[key] = time.monotonic()
        try:
            yield
        finally:
            self._in_flight.pop(key, None)
            self._last_end = time.monotonic()

    def record(self, record: CallRecord) -> None:
        """Journal ``record`` and queue it for export. Never raises for a journal it can write.

        A record is written when its call ends, so this also marks the end of this thread's call.
        """
        try:
            line = encode_journal(record.to_json()) + b"\n"  # JSON escapes newlines: one line
            with self._write_lock:
                segment = self._segment or self._new_segment()
                offset = segment.size
                try:
                    _write_all(segment.fd, line)
                except BaseException:  # a full disk, an interrupt: no partial line is left behind
                    with contextlib.suppress(OSError):
                        os.ftruncate(segment.fd, offset)  # type: ignore[arg-type]
                    raise
                segment.size += len(line)
                segment.written += 1
                if segment.size >= SEGMENT_BYTES:
                    self._seal(segment)
        finally:
            self._in_flight.pop(threading.get_ident(), None)
            self._last_end = time.monotonic()
        self._enqueue(_Place(segment, offset, len(line)))

    def _new_segment(self) -> _Segment:
        path = self.journal_dir / f"{self._pid}-{time.time_ns()}-{uuid.uuid4().hex[:12]}{SEGMENT_SUFFIX}"
        self._segment = _Segment(path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600))
        return self._segment

    def _seal(self, segment: _Segment) -> None:
        """No more appends to ``segment`` (the caller holds the write lock)."""
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
        if self._segment is segment:
            self._segment = None

    def flush(self, timeout: float | None = 120.0, *, urgent: bool = True) -> None:
        """Wait until every record has arrived; TrackingError after ``timeout`` seconds.
        ``urgent=False``: wait for the export as it comes, out of the calls' way (a background
        job that needs the records in the store, not soon)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushing += urgent
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
                self._flushing -= urgent

    @property
    def pending(self) -> int:
        """Records journaled by this process that have not reached the store yet."""
        return self._pending

    def close(self, timeout: float = 10.0) -> None:
        """Flush for up to ``timeout`` seconds, then stop; unsent records stay journaled."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        except TrackingError as exc:
            log.warning("%s", exc)
        self._wait_for_build()
        self._closed = True
        with self._cond:
            self._cond.notify_all()
        self._queue.put(None)
        self._thread.join(timeout=2.0)
        with self._write_lock:
            segment = self._segment
            if segment is not None:
                self._seal(segment)
                if segment.done >= segment.written:
                    segment.delete()
        atexit.unregister(self._at_exit)

    def _wait_for_build(self, limit_s: float = STORE_BUILD_WAIT_S) -> None:
        """Never leave while the exporter is being built: on a first run that is the store's
        migrations, and a process ending mid-migration leaves a half-built store that MLflow
        refuses ever after ("table _alembic_tmp_experiments already exists")."""
        deadline = time.monotonic() + limit_s
        with self._cond:
            while self._building and time.monotonic() < deadline:
                self._cond.wait(timeout=0.1)

    def _at_exit(self) -> None:
        self.close(timeout=10.0)

    # -- background -----------------------------------------------------------------------
    def _enqueue(self, place: _Place) -> None:
        with self._cond:
            self._pending += 1
        self._queue.put((place, time.monotonic()))

    def _done(self, count: int) -> None:
        with self._cond:
            self._pending -= count
            self._cond.notify_all()

    def _claim_orphans(self) -> None:
        """Take over journal files of processes that are gone (crash, kernel restart)."""
        for path in sorted([*self.journal_dir.glob("*.json"), *self.journal_dir.glob("*" + SEGMENT_SUFFIX)]):
            pid_text = path.name.split("-", 1)[0]
            if not pid_text.isdigit() or int(pid_text) == self._pid or _pid_alive(int(pid_text)):
                continue
            mine = path.with_name(f"{self._pid}-{path.name.split('-', 1)[1]}")
            try:
                os.rename(path, mine)  # atomic: only one process wins the claim
            except FileNotFoundError:
                continue
            done_file = _Segment(path, None).done_path
            if done_file.exists():
                with contextlib.suppress(OSError):
                    os.rename(done_file, _Segment(mine, None).done_path)
            self._claim(mine)

    def _claim(self, path: Path) -> None:
        """Queue every record of a claimed file that has not arrived yet."""
        segment = _Segment(path, None)
        try:
            data = path.read_bytes()
            done = segment.exported_offsets()
        except OSError as exc:
            log.error("llmops_nb: journal file %s cannot be read (%s); left in place", path, exc)
            return
        if path.suffix != SEGMENT_SUFFIX:  # one record per file (older versions)
            places = [_Place(segment, 0, len(data))]
        else:
            places, offset = [], 0
            for line in data.splitlines(keepends=True):
                if offset not in done:
                    places.append(_Place(segment, offset, len(line)))
                offset += len(line)
        segment.written = len(places)
        if not places:
            segment.delete()
        for place in places:
            self._enqueue(place)

    def _busy_for(self, now: float) -> float:
        """How long to stay out of the way: 0 when no call is in flight and the last one ended
        ``quiet_s`` ago. (A call that never recorded — refused before sending — is forgotten
        after a minute.)"""
        in_flight = [t for t in list(self._in_flight.values()) if now - t < _FORGET_CALL_S]
        if in_flight:
            return self._quiet_s or 0.01
        return max(0.0, self._quiet_s - (now - self._last_end))

    def _wait_for_quiet(self, enqueued_at: float, first: bool = False) -> None:
        """Defer export while calls are in flight, but no record longer than max_defer_s
        (first_max_defer_s before the exporter is built)."""
        deadline = enqueued_at + (self._first_max_defer_s if first else self._max_defer_s)
        with self._cond:
            while not self._closed and not self._flushing:
                now = time.monotonic()
                busy = self._busy_for(now)
                if busy <= 0 or now >= deadline:
                    return
                self._cond.wait(timeout=min(busy, deadline - now))

    def _next_batch(self, first: _Place) -> tuple[list[_Place], bool]:
        batch, stop = [first], False
        while len(batch) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item[0])
        return batch, stop

    def _load(self, places: list[_Place]) -> tuple[list[CallRecord], list[_Place]]:
        """The records at ``places`` and the places they came from; an unreadable one is copied
        aside to ``.bad`` (never deleted) and counts as done."""
        records, loaded, bad = [], [], []
        files: dict[Path, bytes] = {}  # each file read once per batch
        for place in places:
            try:
                records.append(CallRecord.from_json(decode_journal(place.read(files))))
                loaded.append(place)
            except (ValueError, TypeError, OSError) as exc:
                log.error("llmops_nb: a record in journal file %s is unreadable (%s); set aside in .bad",
                          place.segment.path, exc)
                bad.append(place)
        for place in bad:
            with contextlib.suppress(OSError):
                place.set_aside()
        self._arrived(bad)
        return records, loaded

    def _arrived(self, places: list[_Place]) -> None:
        """Note ``places`` as done; delete each segment whose every record is done."""
        by_segment: dict[int, tuple[_Segment, list[int]]] = {}
        for place in places:
            by_segment.setdefault(id(place.segment), (place.segment, []))[1].append(place.offset)
        for segment, offsets in by_segment.values():
            with self._write_lock:
                segment.done += len(offsets)
                finished = segment.done >= segment.written
                if finished:
                    self._seal(segment)  # nothing of it is waiting: the next record starts a new one
            if finished:
                segment.delete()
            else:
                with contextlib.suppress(OSError):  # a replay skips these; at worst they are sent twice
                    segment.note_exported(offsets)

    def _run(self) -> None:
        outage = _Outage(self.journal_dir)
        exporter: Exporter | None = None
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                return
            self._wait_for_quiet(item[1], first=exporter is None)
            places, stop = self._next_batch(item[0])
            tried = False
            with gc_paused():  # read, write and let go of the batch with no collection in between
                records, loaded = self._load(places)
                exported = not records
                if not exported and exporter is not None:
                    tried, exported = True, self._export(exporter, records, outage)
                if exported:
                    self._arrived(loaded)
                    records = loaded = []
            if not exported:  # the exporter is not built yet, or the store failed
                exporter = self._retry(exporter, records, loaded, outage, wait_first=tried)
            self._done(len(places))

    def _retry(self, exporter: Exporter | None, records: list[CallRecord], loaded: list[_Place], outage: _Outage,
               *, wait_first: bool) -> Exporter | None:
        """Build the exporter if need be and send ``records`` until they arrive or the recorder
        closes (then they stay journaled for the next process); the exporter, once built."""
        while True:
            if wait_first:
                if self._closed:
                    return exporter
                with self._cond:  # a flush() or close() cuts the wait short
                    self._cond.wait(timeout=outage.next_wait(self._retry_s, self._max_retry_s))
            wait_first = True
            try:
                if exporter is None:
                    with self._cond:
                        self._building = True
                    try:
                        exporter = self._make_exporter()
                    finally:
                        with self._cond:
                            self._building = False
                            self._cond.notify_all()
            except Exception as exc:  # keep the records; try again later
                outage.failed(exc, self._pending)
                continue
            with gc_paused():
                if self._export(exporter, records, outage):
                    self._arrived(loaded)
                    return exporter

    def _export(self, exporter: Exporter, records: list[CallRecord], outage: _Outage) -> bool:
        """Send ``records``; False (the failure noted) if they did not arrive."""
        try:
            exporter.export(records)
        except Exception as exc:  # keep the records; try again later
            outage.failed(exc, self._pending)
            return False
        outage.over(len(records))
        return True


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is read and written. A batch makes thousands
    of short-lived containers (records, rows, dicts), freed by reference counting as soon as it
    is written; a collection in the middle of it would scan them and promote them, so that
    every few batches a full collection scanned the whole heap (~400k objects once MLflow is
    imported: ~1 ms per call at 64 threads, in whichever thread it happened to fall). Pauses of
    several exporter threads nest; the collector is switched back on only if it was on."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


SEGMENT_SUFFIX = ".jsonl"
SEGMENT_BYTES = 4 * 2**20  # a new segment after this much; each is deleted once all of it arrived


def _write_all(fd: int | None, data: bytes) -> None:
    if fd is None:
        raise OSError("journal segment is closed")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Segment:
    """A journal file: records, one per line (or one whole ``.json`` file of older versions)."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self.fd = path, fd
        self.size = 0  # bytes appended (while open)
        self.written = 0  # records in it
        self.done = 0  # of which arrived or set aside

    @property
    def done_path(self) -> Path:
        return self.path.with_name(self.path.name + ".done")

    def exported_offsets(self) -> set[int]:
        try:
            text = self.done_path.read_text(encoding="ascii")
        except FileNotFoundError:
            return set()
        return {int(x) for x in text.split() if x.isdigit()}

    def note_exported(self, offsets: list[int]) -> None:
        with open(self.done_path, "a", encoding="ascii") as f:
            f.write("".join(f"{o}\n" for o in offsets))

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        self.done_path.unlink(missing_ok=True)


class _Place:
    """Where one record is: its segment, offset and length."""

    __slots__ = ("segment", "offset", "length")

    def __init__(self, segment: _Segment, offset: int, length: int) -> None:
        self.segment, self.offset, self.length = segment, offset, length

    def _bytes(self, files: dict[Path, bytes] | None = None) -> bytes:
        path = self.segment.path
        if files is None:
            with open(path, "rb") as f:
                f.seek(self.offset)
                return f.read(self.length)
        if path not in files or len(files[path]) < self.offset + self.length:
            files[path] = path.read_bytes()
        return files[path][self.offset:self.offset + self.length]

    def read(self, files: dict[Path, bytes] | None = None) -> bytes:
        data = self._bytes(files)
        if len(data) != self.length or (self.segment.path.suffix == SEGMENT_SUFFIX and not data.endswith(b"\n")):
            raise ValueError("incomplete record (the writing process stopped mid-line)")
        return data

    def set_aside(self) -> None:
        """Copy the unreadable record to ``<file>.bad`` (a whole older-version file is renamed)."""
        path = self.segment.path
        if path.suffix != SEGMENT_SUFFIX:
            os.replace(path, path.with_suffix(".bad"))
            return
        data = self._bytes()
        with open(path.with_suffix(".bad"), "ab") as f:
            f.write(data if data.endswith(b"\n") else data + b"\n")


_recorders: weakref.WeakSet[JournalRecorder] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for recorder in list(_recorders):
        if not recorder._closed:
            recorder._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)

_FORGET_CALL_S = 60.0
FIRST_EXPORT_MAX_DEFER_S = 10.0  # the session's first MLflow export (import mlflow) waits for calls this long
THREAD_NAME = "llmops_nb-recorder"


class _Outage:
    """One warning when the store stops taking records, one when it takes them again.

    A single failure is often passing (another process creating the store), so the warning
    waits for a second one in a row; every failure is logged at DEBUG.
    """

    def __init__(self, journal_dir: Path) -> None:
        self.journal_dir = journal_dir
        self.failures = 0
        self.warned = False
        self.since = 0.0

    def failed(self, exc: BaseException, pending: int) -> None:
        if not self.failures:
            self.since = time.monotonic()
        self.failures += 1
        reason = _one_line(exc)
        log.debug("llmops_nb: could not export call records (%s); will retry", reason)
        if self.failures >= 2 and not self.warned:
            self.warned = True
            log.warning("llmops_nb: the tracking store is not taking records (%s). Calls go on; %d record(s) "
                        "wait in %s and are sent when it is back.", reason, pending, self.journal_dir)

    def over(self, count: int) -> None:
        if self.warned:
            log.warning("llmops_nb: the tracking store is taking records again after %.0f s; the journal "
                        "is being sent (%d record(s) in this batch).", time.monotonic() - self.since, count)
        self.failures, self.warned = 0, False

    def next_wait(self, base_s: float, max_s: float) -> float:
        return min(max_s, base_s * 2 ** min(self.failures - 1, 10))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


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

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for r in self.recorders:
                stack.enter_context(r.holding())
            yield

    def flush(self, timeout: float | None = 120.0, *, urgent: bool = True) -> None:
        for r in self.recorders:
            r.flush(timeout, urgent=urgent)

    def close(self) -> None:
        for r in self.recorders:
            r.close()
