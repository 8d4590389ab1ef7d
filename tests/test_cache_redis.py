"""The shared Redis cache, against a real ``redis-server`` on 127.0.0.1 (see tests/servers.py)."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from llmops_nb import config
from llmops_nb import session as sessions
from llmops_nb.cache import CachedAnswer, cache_key, lookup
from llmops_nb.cache_redis import RedisCacheBackend, redacted_url
from llmops_nb.errors import ConfigError
from llmops_nb.pipeline import prepare
from llmops_nb.types import Usage
from tests.servers import redis_server

MODEL = "sim:gpt-4o-mini"  # priced like gpt-4o-mini, so a hit has a saved cost


@pytest.fixture(scope="module")
def redis_srv() -> Iterator[object]:
    with redis_server() as server:
        yield server


@pytest.fixture
def rllm(llm, redis_srv, tmp_path):  # type: ignore[no-untyped-def]
    import redis

    redis.Redis.from_url(redis_srv.url).flushdb()
    sessions.configure(cache_url=redis_srv.url, cache_ttl_s=3600)
    return llm


def _raw(redis_srv):  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(redis_srv.url)


def test_a_second_call_is_answered_from_redis(rllm, redis_srv):
    first = rllm.complete(MODEL, "What is a vector database?")
    second = rllm.complete(MODEL, "What is a vector database?")
    assert not first.cached and second.cached
    assert second.text == first.text and second.saved_usd == pytest.approx(first.cost_usd)
    keys = [k.decode() for k in _raw(redis_srv).keys("*")]
    assert len(keys) == 1 and keys[0].startswith("llmops_nb:v1:llm:")  # namespaced and versioned
    assert 3500 < _raw(redis_srv).ttl(keys[0]) <= 3600


def test_another_kernel_is_answered_from_this_kernels_entry(rllm, redis_srv, tmp_path):
    mine = rllm.complete(MODEL, "Shared across the team?")
    code = ("import json, llmops_nb as llm\n"
            f"c = llm.complete({MODEL!r}, 'Shared across the team?')\n"
            "llm.flush()\n"
            "print(json.dumps({'cached': c.cached, 'saved': c.saved_usd, 'text': c.text}))\n")
    env = {**os.environ, "LLMOPS_CACHE_URL": redis_srv.url, "LLMOPS_HOME": str(tmp_path / "other-kernel"),
           # its own store: the suite's shared store is read by the notebooks' history() cells
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'other-kernel.db'}",
           "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=True)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    assert theirs["cached"] is True and theirs["text"] == mine.text
    assert theirs["saved"] == pytest.approx(mine.cost_usd)


def test_values_that_are_not_our_json_are_misses_never_loaded(rllm, redis_srv, tmp_path):
    call = prepare(MODEL, "poisoned?")
    key = cache_key(call.request, call.provider.defaults)
    marker = tmp_path / "unpickled"

    class Boom:
        def __reduce__(self):  # unpickling this would create the marker file
            return (open, (str(marker), "w"))

    backend = sessions.session().cache
    for value in (pickle.dumps(Boom()), b"\xff\xfe not utf-8", b'{"v": 1, "text": 3}', b"[]"):
        _raw(redis_srv).set(backend.prefix + key, value)
        assert lookup(backend, key) is None
    assert not marker.exists()
    answer = rllm.complete(MODEL, "poisoned?")
    assert not answer.cached  # the poisoned row was a miss, and is now overwritten by a real answer
    assert rllm.complete(MODEL, "poisoned?").cached


def test_concurrent_writers_leave_one_whole_value(rllm, redis_srv):
    backend = RedisCacheBackend(redis_srv.url)
    answers = [CachedAnswer(f"answer {i} " * 200, Usage(1, i), 0.001 * i, 0.1, None, "stop", f"tr-{i}")
               for i in range(16)]
    threads = [threading.Thread(target=backend.set, args=("llm:same", a.to_json())) for a in answers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = lookup(backend, "llm:same")
    assert got is not None and got in answers


def test_redis_down_calls_go_uncached_with_one_warning_and_no_wait(rllm, redis_srv, caplog):
    rllm.complete(MODEL, "before the outage")
    redis_srv.stop()
    try:
        caplog.set_level(logging.WARNING, logger="llmops_nb.cache_redis")
        t0 = time.perf_counter()
        answers = [rllm.complete(MODEL, f"during the outage {i}") for i in range(5)]
        elapsed = time.perf_counter() - t0
        assert all(not a.cached and a.text for a in answers)
        assert elapsed < 2.0  # at most one short timeout, then no waiting at all
        down = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(down) == 1
    finally:
        redis_srv.start()
    backend = sessions.session().cache
    backend._next_try = 0.0  # do not wait out the retry pause in a test
    rllm.complete(MODEL, "after the outage")
    assert rllm.complete(MODEL, "after the outage").cached
    assert len([r for r in caplog.records if "is back after" in r.getMessage()]) == 1


def test_a_slow_redis_costs_at_most_the_short_timeout(rllm, redis_srv):
    import redis

    blocker = redis.Redis.from_url(redis_srv.url)
    blocker.execute_command("CLIENT", "PAUSE", "3000", "ALL")
    try:
        t0 = time.perf_counter()
        answer = rllm.complete(MODEL, "while Redis is paused")
        assert time.perf_counter() - t0 < 1.5 and not answer.cached and answer.text
    finally:
        blocker.execute_command("CLIENT", "UNPAUSE")


def test_the_password_in_a_cache_url_is_never_shown():
    assert redacted_url("redis://team:s3cret@cache.internal:6379/0") == "redis://team:***@cache.internal:6379/0"
    settings = config.build_settings({"cache_url": "redis://:s3cret@127.0.0.1:6379/0"})
    assert "s3cret" not in json.dumps(settings.public_dict(), default=str)


def test_a_cache_url_that_is_not_redis_is_a_config_error():
    with pytest.raises(ConfigError, match="Redis URL"):
        config.build_settings({"cache_url": "memcached://127.0.0.1:11211"})
