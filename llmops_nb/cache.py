"""The response cache: a canonical request key, JSON values, and a diskcache backend.

The key is the SHA-256 of canonical JSON of provider, model, messages, system and every sampling
parameter with the provider's defaults filled in (an omitted temperature is not 0, it is the
provider's default). Streaming or not is not part of the key: it is the same answer. Any Python
text is keyed, lone surrogates included.

Values are JSON text and nothing read back is ever unpickled: the backend's ``Disk`` refuses
any row that is not plain text, and such a row is a miss; so is a text row whose file lies outside
the cache directory (a crafted ``filename``), and such a file is never deleted either. Backends are a small protocol
(:class:`CacheBackend`) so a shared cache (Redis) is a configuration change.

Modes (``LLMOPS_CACHE`` / ``configure(cache_mode=...)``): ``readwrite`` (default), ``replay``
(a miss raises :class:`~llmops_nb.errors.CacheMiss` and nothing is sent — for CI), ``off``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmops_nb.types import Request, Usage

if TYPE_CHECKING:  # pragma: no cover
    import sqlite3

log = logging.getLogger(__name__)
KEY_VERSION = 1


class CacheBackend(Protocol):
    """Where cached answers live: string keys to JSON text."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class CachedAnswer:
    """A cached answer as stored: the original call's text, usage, cost and timings."""

    text: str
    usage: Usage
    cost_usd: float | None
    latency_s: float
    ttft_s: float | None
    finish_reason: str | None
    trace_id: str

    def to_json(self) -> str:
        payload = {
            "v": KEY_VERSION,
            "text": self.text,
            "usage": {name: getattr(self.usage, name) for name in self.usage.__dataclass_fields__},  # flat: no asdict
            "cost_usd": self.cost_usd,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
            "finish_reason": self.finish_reason,
            "trace_id": self.trace_id,
        }
        text = json.dumps(payload, ensure_ascii=False)
        if not _is_utf8_encodable(text):  # a lone surrogate: \u escapes keep it, in text sqlite can store
            text = json.dumps(payload)
        return text

    @classmethod
    def from_json(cls, text: str) -> CachedAnswer | None:
        """Parse a stored value; anything malformed is None (a miss), never an exception."""
        try:
            data = json.loads(text)
            if data.get("v") != KEY_VERSION:
                return None
            return cls(
                text=str(data["text"]),
                usage=Usage(**{k: int(v) for k, v in data["usage"].items()}),
                cost_usd=data["cost_usd"],
                latency_s=float(data["latency_s"]),
                ttft_s=data["ttft_s"],
                finish_reason=data["finish_reason"],
                trace_id=str(data.get("trace_id", "")),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def cache_key(request: Request, defaults: Mapping[str, Any]) -> str:
    """The canonical key of ``request``; provider defaults filled into its parameters."""
    params = {**defaults, **request.params}
    canonical = json.dumps(
        {
            "v": KEY_VERSION,
            "provider": request.provider,
            "model": request.model_name,
            "system": request.system,
            "messages": [[m.role, m.content] for m in request.messages],
            "params": params,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    # surrogatepass: a lone surrogate (which a Python str may hold) is keyed too, and distinctly
    return "llm:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _is_utf8_encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class UnsafeRow(Exception):
    """A cache row that is not plain text (e.g. a pickle): never loaded."""


def _file_inside(directory: str, filename: Any) -> str | None:
    """The real path of a row's file, or None if it is not a file of this cache directory
    (absolute, ``..``, or a symlink leading out)."""
    if not isinstance(filename, str) or not filename:
        return None
    root = os.path.realpath(directory)
    path = os.path.realpath(os.path.join(root, filename))
    return path if os.path.commonpath([root, path]) == root and path != root else None


# diskcache's file name and row modes (``diskcache.core``'s DBNAME, MODE_RAW, MODE_TEXT; a test
# checks them), so that a lookup needs neither diskcache nor its Cache object
DBNAME, MODE_RAW, MODE_TEXT = "cache.db", 1, 3


def _row_text(directory: str, mode: int, filename: Any, value: Any, read: bool) -> str:
    """A row's value if it is text (inline, or in a file of this cache); else UnsafeRow."""
    if mode == MODE_RAW and isinstance(value, str):
        return value
    if mode != MODE_TEXT or read:
        raise UnsafeRow(f"cache row stored in mode {mode}, not text")
    path = _file_inside(directory, filename)
    if path is None:
        raise UnsafeRow("text row whose file is outside the cache directory")
    with open(path, encoding="utf-8") as reader:
        return reader.read()


def _json_only_disk() -> type:
    import diskcache

    class JSONOnlyDisk(diskcache.Disk):
        """A diskcache Disk that stores and returns text only and never unpickles."""

        def put(self, key: Any) -> Any:
            if not isinstance(key, str):
                raise TypeError("cache keys are strings")
            return super().put(key)

        def get(self, key: Any, raw: bool) -> Any:
            if not raw:
                raise UnsafeRow("pickled key")
            return super().get(key, raw)

        def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
            if not isinstance(value, str) or read:
                raise TypeError("cache values are JSON text")
            return super().store(value, read, key=key)

        def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
            return _row_text(self._directory, mode, filename, value, read)

        def remove(self, file_path: Any) -> None:
            # diskcache deletes a row's file (and its emptied folders) on overwrite and eviction:
            # never one that a crafted row points at outside the cache
            if _file_inside(self._directory, file_path) is not None:
                super().remove(file_path)

    return JSONOnlyDisk


class _Reader:
    """Lookups in a diskcache directory's sqlite file, through one connection shared by every
    thread of the process (its user serialises the calls), without a ``diskcache.Cache``.

    Building a ``Cache`` writes its settings table: a commit, 4 fdatasyncs on an existing cache
    and 12 on a new one (tens to hundreds of ms of a first call's wall time on a slow disk, and
    ~10 ms of CPU with the imports). Only the writer thread builds one now; a lookup runs the
    query of ``Cache.get``'s own fast path (the cache's default policy: no statistics, nothing
    updated on a read) and writes nothing. Until the file exists every lookup is a miss, and
    no file is created. One connection, not diskcache's one per thread: every new thread — each
    worker of a new pool — paid a connection for its first lookup (0.36 ms vs 0.01 ms), and 64
    threads kept 64 page caches."""

    _SELECT = ("SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1"
               " AND (expire_time IS NULL OR expire_time > ?)")
    _PRAGMAS = ("sqlite_cache_size", "sqlite_mmap_size")  # the read side's per-connection settings

    def __init__(self, directory: str, timeout_s: float = 60.0) -> None:
        self.directory = directory
        self.timeout_s = timeout_s
        self._shared: tuple[int, sqlite3.Connection] | None = None

    def _con(self) -> sqlite3.Connection | None:
        shared, pid = self._shared, os.getpid()
        if shared is not None and shared[0] == pid:
            return shared[1]
        path = os.path.join(self.directory, DBNAME)
        if not os.path.exists(path):  # nothing stored yet (connecting would create the file)
            return None
        import sqlite3  # here: a process whose cache is off or on Redis never needs it

        # a forked child opens its own (the parent's is left alone: it is the parent's)
        con = sqlite3.connect(path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
        try:  # as diskcache sets them on each of its connections (integers only: the file is data)
            for key, value in con.execute("SELECT key, value FROM Settings WHERE key IN (?, ?)", self._PRAGMAS):
                if isinstance(value, int):
                    con.execute(f"PRAGMA {key.removeprefix('sqlite_')} = {value}")
        except sqlite3.OperationalError:  # the writer has not made its tables yet
            pass
        self._shared = (pid, con)
        return con

    def get(self, key: str) -> str | None:
        con = self._con()
        if con is None:
            return None
        import sqlite3

        try:
            rows = con.execute(self._SELECT, (key, time.time())).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the writer is making the file's tables
                return None
            raise
        if not rows:
            return None
        ((mode, filename, value),) = rows
        try:
            return _row_text(self.directory, mode, filename, value, False)
        except OSError:  # the row's file was removed in between (diskcache: a miss too)
            return None

    def close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None and shared[0] == os.getpid():
            shared[1].close()


WRITE_BATCH_S = 0.05  # how long the cache writer lets a batch of stores gather


class DiskCacheBackend:
    """A local diskcache directory, private to its owner (0700).

    Reads go straight to sqlite (:class:`_Reader`), through one connection shared by every
    thread of the process (taken in turn: a lookup holds it for microseconds), so a new thread
    opens nothing, and a lookup writes nothing. Writes are handed to one writer thread, which
    builds the ``diskcache.Cache`` on its first batch and stores everything waiting in one
    transaction: concurrent callers
    never contend for sqlite's write lock (eight at once waited up to 34 ms each in its busy
    loop), and a call does not wait for the disk. Until its row is committed, a value waits
    in memory and :meth:`get` answers from there, so a write is visible to every later read
    in this process. The writer wakes once per batch (``WRITE_BATCH_S``), not once per store. :meth:`flush` waits until everything waiting is on disk; :meth:`close`
    (also at exit) flushes first.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        self.directory = directory
        self._cache: Any = None  # the diskcache.Cache that writes (built by the writer: see _Reader)
        self._reader = _Reader(str(directory))  # reads
        self._read_lock = threading.Lock()
        self._waiting: dict[str, str] = {}  # set, not yet committed
        self._cond = threading.Condition()
        self._writing = False
        self._flushing = 0
        self._writer: threading.Thread | None = None
        self._closed = False

    def get(self, key: str) -> str | None:
        waiting = self._waiting.get(key)
        if waiting is not None:
            return waiting
        try:
            with self._read_lock:
                return self._reader.get(key)
        except UnsafeRow as exc:
            log.warning("llmops_nb cache: ignoring an unsafe row (%s); treated as a miss", exc)
            return None

    def _writer_cache(self) -> Any:
        """The ``diskcache.Cache`` that writes (made on the first write; the writer's thread)."""
        if self._cache is None:
            import diskcache

            self._cache = diskcache.Cache(str(self.directory), disk=_json_only_disk())
        return self._cache

    def set(self, key: str, value: str) -> None:
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("cache keys and values are text (JSON)")
        with self._cond:
            if self._closed:
                self._writer_cache().set(key, value)
                return
            first = not self._waiting
            self._waiting[key] = value
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="llmops_nb-cache-writer", daemon=True)
                self._writer.start()
                atexit.register(self.close)
            if first:  # the writer wakes once per batch, not once per store
                self._cond.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if not self._waiting:
                    return
                # let the batch fill for a moment: one transaction, one wake-up of this thread
                self._cond.wait_for(lambda: self._closed or self._flushing > 0, timeout=WRITE_BATCH_S)
                batch = dict(self._waiting)  # stays readable in _waiting until committed
                self._writing = True
            try:
                cache = self._writer_cache()
                with cache.transact():
                    for key, value in batch.items():
                        cache.set(key, value)
            except Exception as exc:  # a full disk must not fail calls: those answers are not cached
                log.warning("llmops_nb cache: could not store %d answer(s): %s", len(batch), exc)
            with self._cond:
                for key, value in batch.items():
                    if self._waiting.get(key) is value:
                        del self._waiting[key]
                self._writing = False
                self._cond.notify_all()

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every value set so far is committed."""
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: not self._waiting and not self._writing, timeout)
            finally:
                self._flushing -= 1

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join(timeout=30.0)
            atexit.unregister(self.close)
        if self._cache is not None:
            self._cache.close()
        with self._read_lock:
            self._reader.close()


class NoCache:
    """The backend for ``cache_mode="off"``: remembers nothing."""

    def get(self, key: str) -> str | None:
        return None

    def set(self, key: str, value: str) -> None:
        return None

    def close(self) -> None:
        return None


def lookup(backend: CacheBackend, key: str) -> CachedAnswer | None:
    """The cached answer under ``key``, or None."""
    raw = backend.get(key)
    return CachedAnswer.from_json(raw) if raw is not None else None


def store(backend: CacheBackend, key: str, answer: CachedAnswer) -> None:
    """Remember ``answer`` under ``key`` (failures to write are logged, never raised)."""
    try:
        backend.set(key, answer.to_json())
    except Exception as exc:  # a full disk must not fail a call that succeeded
        log.warning("llmops_nb cache: could not store an answer: %s", exc)
