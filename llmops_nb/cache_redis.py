"""A shared response cache on Redis, behind the same :class:`~llmops_nb.cache.CacheBackend`.

``configure(cache_url="redis://host:6379/0", cache_ttl_s=86400)`` (or ``LLMOPS_CACHE_URL`` /
``LLMOPS_CACHE_TTL_S``): every kernel of a team that points at the same Redis shares answers, so
nobody pays twice for the same call. The key is the same canonical request key as the local
cache, under a namespace and a version (``llmops_nb:v<KEY_VERSION>:llm:<sha256>``), so another
tool's keys, or an older layout's, are never read.

Values are JSON text. Anything else (bytes that are not UTF-8, a pickle someone wrote under our
key) is a miss and is never decoded further: the pipeline parses the text with
:meth:`CachedAnswer.from_json`, which only accepts its own JSON shape. ``SET`` is atomic, so
concurrent writers of one key leave one whole value (the last), never a mix.

Redis down or slow: each operation gives up after ``timeout_s`` (default 0.25 s), the call goes
uncached, and one warning says so — once per outage, and once when Redis is back. A cache never
fails a call.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from llmops_nb.config import redacted_url as redacted_url  # re-exported

log = logging.getLogger(__name__)
NAMESPACE = "llmops_nb"


class RedisCacheBackend:
    """String keys to JSON text in Redis, with a TTL, short timeouts and one warning per outage."""

    def __init__(self, url: str, *, ttl_s: float | None = None, timeout_s: float = 0.25,
                 retry_after_s: float = 5.0) -> None:
        try:
            import redis
        except ImportError:
            from llmops_nb.errors import ConfigError

            raise ConfigError("cache_url needs the redis package: pip install 'llmops-nb[team]'") from None

        from llmops_nb.cache import KEY_VERSION

        self.url = url
        self.ttl_s = ttl_s
        self.prefix = f"{NAMESPACE}:v{KEY_VERSION}:"
        self._retry_after_s = retry_after_s
        self._down_since: float | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        # decode_responses=False: we decode ourselves, so a non-text value is a miss, not an error
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry_on_timeout=False, health_check_interval=0, decode_responses=False)

    # -- the protocol -----------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        raw = self._guarded(lambda: self._client.get(self.prefix + key))
        if raw is None:
            return None
        try:
            return raw.decode("utf-8") if isinstance(raw, bytes) else None
        except UnicodeDecodeError:
            log.warning("llmops_nb cache: a Redis value under our key is not text; treated as a miss")
            return None

    def set(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("cache values are JSON text")
        ttl = None if not self.ttl_s else max(1, round(self.ttl_s))
        self._guarded(lambda: self._client.set(self.prefix + key, value.encode("utf-8"), ex=ttl))

    def close(self) -> None:
        with contextlib.suppress(*self._errors):  # closing a connection to a server that is gone
            self._client.close()

    # -- outages ----------------------------------------------------------------------------
    def _guarded(self, op: Any) -> Any:
        """Run ``op``; on a Redis error warn once per outage and go uncached. While Redis is
        down, operations are skipped for ``retry_after_s`` so calls never wait on it."""
        now = time.monotonic()
        with self._lock:
            if self._down_since is not None and now < self._next_try:
                return None
        try:
            result = op()
        except self._errors as exc:
            with self._lock:
                if self._down_since is None:
                    self._down_since = now
                    log.warning("llmops_nb cache: Redis at %s is unreachable (%s: %s); calls go "
                                "uncached until it is back", redacted_url(self.url),
                                type(exc).__name__, str(exc)[:200])
                self._next_try = time.monotonic() + self._retry_after_s
            return None
        with self._lock:
            if self._down_since is not None:
                log.warning("llmops_nb cache: Redis at %s is back after %.0f s; caching again",
                            redacted_url(self.url), now - self._down_since)
                self._down_since = None
        return result
