"""The cache key, JSON-only storage that never unpickles, modes, and permissions."""

from __future__ import annotations

import os
import stat

import diskcache
import pytest

from llmops_nb import errors as E
from llmops_nb.cache import CachedAnswer, DiskCacheBackend, cache_key, lookup
from llmops_nb.pipeline import prepare
from llmops_nb.session import session
from llmops_nb.types import Usage


def _key(model="sim:default", prompt="hi", **params):
    call = prepare(model, prompt, params=params)
    return cache_key(call.request, call.provider.defaults)


def test_key_fills_provider_defaults(llm):
    assert _key() == _key(temperature=1.0)  # sim's default temperature is 1.0
    assert _key() != _key(temperature=0.0)  # an omitted temperature is not 0
    assert _key() != _key(max_tokens=10)
    assert _key() != _key(model="sim:other")
    assert _key(prompt="hi") != _key(prompt="hi ")


def test_key_ignores_streaming_and_param_order(llm):
    a = prepare("sim:default", "x", stream=True, params={"temperature": 0.5, "top_p": 0.9})
    b = prepare("sim:default", "x", stream=False, params={"top_p": 0.9, "temperature": 0.5})
    assert cache_key(a.request, {}) == cache_key(b.request, {})


def test_system_prompt_is_part_of_the_key(llm):
    a = prepare("sim:default", "x", system="be terse")
    b = prepare("sim:default", "x")
    assert cache_key(a.request, {}) != cache_key(b.request, {})


class _Boom:
    """Unpickling this would create a file: the proof that nothing was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_pickle_row_is_never_loaded(llm, tmp_path):
    marker = tmp_path / "unpickled"
    key = _key(prompt="poisoned")
    directory = session().cache.directory
    session().close()
    # Write a pickle row under our key with diskcache's default (pickling) Disk.
    with diskcache.Cache(str(directory)) as raw:
        raw.set(key, _Boom(str(marker)))
        raw.set("llm:big", _Boom(str(marker)))
    assert not marker.exists()

    backend = DiskCacheBackend(directory)
    assert backend.get(key) is None
    assert backend.get("llm:big") is None
    backend.close()
    c = llm.complete("sim:default", "poisoned")
    assert not c.cached and not marker.exists()


def test_values_are_stored_as_text(llm):
    c = llm.complete("sim:default", "store me")
    key = _key(prompt="store me")
    raw = session().cache.get(key)
    assert isinstance(raw, str) and c.text in raw
    with pytest.raises(TypeError):
        session().cache.set("k", {"not": "text"})  # type: ignore[arg-type]


def test_malformed_json_row_is_a_miss(llm):
    key = _key(prompt="bad row")
    session().cache.set(key, "{not json")
    assert lookup(session().cache, key) is None
    assert not llm.complete("sim:default", "bad row").cached


def test_cache_directory_is_private(llm):
    mode = stat.S_IMODE(session().cache.directory.stat().st_mode)
    assert mode == 0o700


def test_replay_mode_raises_on_miss_and_sends_nothing(llm, openai_env):
    llm.complete("openai:gpt-5.4-mini", "recorded")
    llm.configure(cache_mode="replay")
    sent = len(openai_env.requests)
    assert llm.complete("openai:gpt-5.4-mini", "recorded").cached
    with pytest.raises(E.CacheMiss, match="Nothing was sent"):
        llm.complete("openai:gpt-5.4-mini", "never recorded")
    assert len(openai_env.requests) == sent
    llm.flush()
    assert llm.history(1).iloc[0].status == "ERROR"


def test_off_mode_and_per_call_opt_out(llm, openai_env):
    llm.complete("openai:gpt-5.4-mini", "again")
    assert not llm.complete("openai:gpt-5.4-mini", "again", cache=False).cached
    llm.configure(cache_mode="off")
    assert not llm.complete("openai:gpt-5.4-mini", "again").cached
    assert len(openai_env.requests) == 3


def test_cached_answer_roundtrip():
    a = CachedAnswer("t", Usage(1, 2, 3, 4), 0.5, 1.25, 0.1, "stop", "tr-1")
    assert CachedAnswer.from_json(a.to_json()) == a
    assert CachedAnswer.from_json('{"v": 999}') is None


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_a_text_row_pointing_outside_the_cache_is_a_miss_and_never_deleted(llm, tmp_path, where):
    import sqlite3

    outside = tmp_path / "elsewhere" / "secret.val"
    outside.parent.mkdir()
    planted = CachedAnswer("served from outside the cache", Usage(1, 1), 0.0, 0.1, None, "stop", "tr-x")
    outside.write_text(planted.to_json(), encoding="utf-8")
    key = _key(prompt="crafted row")
    directory = session().cache.directory
    session().cache.set(key, "{}")
    session().cache.flush()  # the row is on disk before it is tampered with
    if where == "absolute":
        filename = str(outside)
    elif where == "dotdot":
        filename = os.path.relpath(outside, directory)  # ../../elsewhere/secret.val
    else:
        (directory / "ab").mkdir()
        (directory / "ab" / "link.val").symlink_to(outside)
        filename = "ab/link.val"
    with sqlite3.connect(directory / "cache.db") as db:  # what an attacker with write access could do
        db.execute("UPDATE Cache SET mode = ?, filename = ?, value = NULL WHERE key = ?",
                   (diskcache.core.MODE_TEXT, filename, key))
    assert lookup(session().cache, key) is None
    c = llm.complete("sim:default", "crafted row")
    assert not c.cached and c.text != planted.text
    assert outside.read_text(encoding="utf-8") == planted.to_json()  # overwriting the row deleted nothing


def test_a_genuine_text_row_in_a_file_is_still_served(llm):
    big = "long answer " * 5000  # > diskcache's min_file_size: stored in a file of the cache
    key = _key(prompt="big row")
    session().cache.set(key, CachedAnswer(big, Usage(1, 1), 0.0, 0.1, None, "stop", "tr-b").to_json())
    assert lookup(session().cache, key).text == big


def test_a_store_never_waits_for_sqlite_and_is_visible_at_once(tmp_path):
    """Writes go to one writer thread; until committed they are answered from memory. With the
    database locked by another process's writer, a store returns at once and a later read in
    this process sees it; once the lock is gone, it is on disk for everyone."""
    import sqlite3
    import time

    backend = DiskCacheBackend(tmp_path / "c")
    backend.set("llm:warm", "{}")
    backend.flush()
    other = sqlite3.connect(tmp_path / "c" / "cache.db", timeout=0, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        t0 = time.perf_counter()
        backend.set("llm:a", '{"v": 1}')
        assert time.perf_counter() - t0 < 0.05
        assert backend.get("llm:a") == '{"v": 1}'
    finally:
        other.execute("ROLLBACK")
        other.close()
    backend.flush()
    fresh = DiskCacheBackend(tmp_path / "c")  # what another process reads
    assert fresh.get("llm:a") == '{"v": 1}'
    fresh.close()
    backend.close()


def test_concurrent_writers_lose_no_entry(tmp_path):
    import threading

    backend = DiskCacheBackend(tmp_path / "c")

    def writer(k: int) -> None:
        for i in range(50):
            backend.set(f"llm:{k}-{i}", f'"{k}-{i}"')
            assert backend.get(f"llm:{k}-{i}") == f'"{k}-{i}"'  # visible to this thread at once

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(backend.get(f"llm:{k}-{i}") == f'"{k}-{i}"' for k in range(8) for i in range(50))
    backend.close()  # flushes what is waiting
    fresh = DiskCacheBackend(tmp_path / "c")
    assert sum(fresh.get(f"llm:{k}-{i}") == f'"{k}-{i}"' for k in range(8) for i in range(50)) == 400
    fresh.close()


def test_an_answer_stored_by_a_call_is_a_hit_for_the_next_at_once(llm):
    first = llm.complete("sim:default", "remember me right away")
    again = llm.complete("sim:default", "remember me right away")
    assert not first.cached and again.cached and again.text == first.text


def test_lookups_from_new_threads_share_one_connection_and_open_none(tmp_path, monkeypatch):
    """Every thread reads through one shared sqlite connection: the workers of a new pool
    (a compare(), acomplete's threads, a user's executor) open no connection of their own for
    their first lookup (diskcache's default: one per thread, 0.36 ms each, and a cold page
    cache per thread), and concurrent lookups from many threads each get their own answer."""
    import sqlite3
    import threading
    from concurrent.futures import ThreadPoolExecutor

    backend = DiskCacheBackend(tmp_path / "c")
    for i in range(40):
        backend.set(f"llm:{i}", f'"{i}"')
    backend.flush()
    assert backend.get("llm:0") == '"0"'  # the shared connection exists from here on
    opened = []
    real_connect = sqlite3.connect

    def counting_connect(*args, **kwargs):
        opened.append(threading.get_ident())
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    for _ in range(3):  # three pools, as three compare() calls with their own pools would be
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda i: backend.get(f"llm:{i % 40}") if i % 5 else backend.get(f"llm:missing-{i}"),
                                range(200)))
        assert got == [f'"{i % 40}"' if i % 5 else None for i in range(200)]
    assert opened == []
    backend.close()


def test_a_forked_child_reads_through_its_own_connection(tmp_path):
    backend = DiskCacheBackend(tmp_path / "c")
    backend.set("llm:k", '"v"')
    backend.flush()
    assert backend.get("llm:k") == '"v"'  # the parent's connection is open
    parent_con = backend._reader._shared[1]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never the parent's connection (sqlite forbids carrying one over a fork)
        try:
            ok = backend.get("llm:k") == '"v"' and backend._reader._shared[1] is not parent_con
            os.write(write, b"ok" if ok else b"bad")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"ok"
    os.close(read)
    assert backend.get("llm:k") == '"v"'
    backend.close()


def test_the_lookup_side_matches_diskcache_file_and_row_modes():
    import llmops_nb.cache as C

    assert (C.DBNAME, C.MODE_RAW, C.MODE_TEXT) == (diskcache.core.DBNAME, diskcache.core.MODE_RAW,
                                                   diskcache.core.MODE_TEXT)


def test_a_lookup_writes_nothing_and_builds_no_diskcache(tmp_path):
    """A fresh process's first lookup (the first call's path) neither imports diskcache nor
    writes: building a diskcache.Cache commits its settings (4 fdatasyncs on an existing cache,
    12 on a new one). A miss in a new directory creates no file; a hit in an existing cache
    leaves its files as they were; only the first store builds the writer's Cache."""
    import json
    import subprocess
    import sys

    stored = DiskCacheBackend(tmp_path / "old")
    stored.set("llm:k", '"v"')
    stored.close()
    files = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in (tmp_path / "old").iterdir()
             if p.suffix != ".db-shm"}  # the WAL index: shared memory, not data
    code = (
        "import json, sys; from pathlib import Path; from llmops_nb.cache import DiskCacheBackend\n"
        f"old, new = DiskCacheBackend(Path({str(tmp_path / 'old')!r})), DiskCacheBackend(Path({str(tmp_path / 'new')!r}))\n"
        "out = [old.get('llm:k'), new.get('llm:k'), 'diskcache' in sys.modules, sorted(p.name for p in new.directory.iterdir())]\n"
        "new.set('llm:k', '\"w\"'); new.flush()\n"
        "out += ['diskcache' in sys.modules, new.get('llm:k')]; old.close(); new.close(); print(json.dumps(out))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == ["\"v\"", None, False, [], True, '"w"']
    assert {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in (tmp_path / "old").iterdir()
            if p.suffix != ".db-shm"} == files
