"""Settings: environment variables, ``[tool.llmops_nb]`` in pyproject.toml, and ``configure()``.

Precedence, lowest to highest: built-in defaults, ``[tool.llmops_nb]`` of the working
directory's pyproject.toml, environment variables, ``configure(...)``. Paths are made absolute
once, when settings are built, so a notebook opened from another folder keeps writing to the
same store.

One :class:`Session` owns the settings and the collaborators built from them (cache,
recorder). The module-level functions of the package talk to the current session.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_nb.errors import ConfigError

CACHE_MODES = ("readwrite", "replay", "off")
_ENV = {
    "tracking_uri": "MLFLOW_TRACKING_URI",
    "experiment": "LLMOPS_EXPERIMENT",
    "home": "LLMOPS_HOME",
    "cache_dir": "LLMOPS_CACHE_DIR",
    "cache_mode": "LLMOPS_CACHE",
    "default_model": "LLMOPS_DEFAULT_MODEL",
    "tracking": "LLMOPS_TRACKING",
    "live_stream": "LLMOPS_LIVE_STREAM",
    "budget_usd": "LLMOPS_BUDGET_USD",
    "retries": "LLMOPS_RETRIES",
    "guardrails": "LLMOPS_GUARDRAILS",
    "cache_url": "LLMOPS_CACHE_URL",
    "cache_ttl_s": "LLMOPS_CACHE_TTL_S",
    "user": "LLMOPS_USER",
}
RECENT_CALLS = 200  # call records a session keeps in memory for the JupyterLab extension
_DICTS = ("routes", "complexity_routes", "context_windows", "rate_limits")


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build new ones with :func:`configure`, never by mutation."""

    tracking_uri: str
    experiment: str = "llmops_nb"
    home: Path = field(default_factory=lambda: Path.cwd() / ".llmops_nb")
    cache_dir: Path | None = None  # None: <home>/cache
    cache_mode: str = "readwrite"
    cache_url: str | None = None  # None: the local diskcache; "redis://host:6379/0": shared
    cache_ttl_s: float | None = None  # shared cache entries expire after this (None: never)
    user: str | None = None  # who makes the calls (the llmops.user tag); None: the OS user
    default_model: str = "sim:default"
    tracking: bool = True
    request_timeout_s: float = 60.0
    live_stream: bool = True  # live displays: streamed redraws, progress bars (off: final output only)
    # routing and resilience (see llmops_nb.routing)
    routes: dict[str, Any] = field(default_factory=dict)
    default_route: str | None = None
    complexity_routes: dict[str, str] = field(default_factory=dict)
    context_windows: dict[str, int] = field(default_factory=dict)
    rate_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    retries: int = 2  # retries after the first attempt, per model
    retry_base_s: float = 0.5
    retry_max_wait_s: float = 30.0
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    budget_usd: float | None = None  # per session
    assumed_output_tokens: int = 1024  # for the pre-call estimate when max_tokens is not given
    guardrails: Any = "default"  # preset name ("off", "default", "strict") or a guardrails.Policy

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.home / "cache"

    @property
    def journal_dir(self) -> Path:
        return self.home / "journal"

    def public_dict(self) -> dict[str, Any]:
        """Settings as shown to the user (there are no secrets in settings)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["cache_dir"] = str(self.resolved_cache_dir)
        out["home"] = str(self.home)
        if self.cache_url:
            from llmops_nb.cache_redis import redacted_url

            out["cache_url"] = redacted_url(self.cache_url)
        out["user"] = self.resolved_user
        return out

    @property
    def resolved_user(self) -> str:
        """The ``user`` setting, or the OS user running this process."""
        return self.user or _os_user()


@functools.cache
def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def absolute_tracking_uri(uri: str, base: Path) -> str:
    """Make a ``sqlite:///relative.db`` or plain-path URI absolute against ``base``."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        return uri if path.is_absolute() else f"sqlite:///{(base / path).resolve()}"
    if "://" not in uri and not uri.startswith("databricks"):
        return str((base / uri).resolve())  # a file store path
    return uri


def _from_pyproject(cwd: Path) -> dict[str, Any]:
    path = cwd / "pyproject.toml"
    if not path.is_file():
        return {}
    import tomllib

    with path.open("rb") as f:
        table = tomllib.load(f).get("tool", {}).get("llmops_nb", {})
    return {k: v for k, v in table.items() if not isinstance(v, dict) or k in _DICTS}


def _from_env() -> dict[str, Any]:
    return {name: os.environ[var] for name, var in _ENV.items() if os.environ.get(var)}


_NUMBERS = {"request_timeout_s": float, "retry_base_s": float, "retry_max_wait_s": float,
            "breaker_cooldown_s": float, "retries": int, "breaker_threshold": int,
            "assumed_output_tokens": int, "budget_usd": float, "cache_ttl_s": float}
_CACHE_URL_SCHEMES = ("redis://", "rediss://", "unix://")
_CACHE_MODE_ALIASES = {"rw": "readwrite", "on": "readwrite", "read-write": "readwrite"}


def _coerce(values: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """Check names and turn text (from env or pyproject) into typed, absolute values."""
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown}; known settings: {sorted(known)}")
    out = dict(values)
    for key in ("home", "cache_dir"):
        if out.get(key) is not None:
            out[key] = (cwd / Path(out[key]).expanduser()).resolve()
    for flag in ("tracking", "live_stream"):
        if isinstance(out.get(flag), str):
            out[flag] = out[flag].strip().lower() not in ("0", "false", "off", "no")
    for key, kind in _NUMBERS.items():
        if out.get(key) is not None:
            out[key] = _number(key, out[key], kind)
    if "cache_mode" in out:
        out["cache_mode"] = _cache_mode(out["cache_mode"])
    _check_cache_url(out.get("cache_url"))
    if out.get("routes"):
        from llmops_nb.routing import parse_routes

        parse_routes(out["routes"])  # validate now, not at the first call
    return out


def _check_cache_url(url: Any) -> None:
    if url and not str(url).startswith(_CACHE_URL_SCHEMES):
        raise ConfigError(f"cache_url must be a Redis URL ({', '.join(_CACHE_URL_SCHEMES)}…), "
                          "or unset for the local cache")


def _cache_mode(value: Any) -> str:
    mode = _CACHE_MODE_ALIASES.get(str(value).lower(), str(value).lower())
    if mode not in CACHE_MODES:
        raise ConfigError(f"cache mode {value!r} is not one of {CACHE_MODES}")
    return mode


def _number(key: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{key} must not be negative")
    return number


def build_settings(overrides: dict[str, Any] | None = None, cwd: Path | None = None) -> Settings:
    """Settings from defaults, pyproject, environment and ``overrides``, paths made absolute."""
    cwd = (cwd or Path.cwd()).resolve()
    values: dict[str, Any] = {}
    values.update(_from_pyproject(cwd))
    values.update(_from_env())
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values = _coerce(values, cwd)
    values.setdefault("home", cwd / ".llmops_nb")
    values.setdefault("tracking_uri", f"sqlite:///{cwd / 'mlflow.db'}")
    values["tracking_uri"] = absolute_tracking_uri(str(values["tracking_uri"]), cwd)
    return Settings(**values)


def load_dotenv_once(cwd: Path | None = None) -> None:
    """Load ``.env`` of the working directory into the environment, never overriding it."""
    path = (cwd or Path.cwd()) / ".env"
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


class Session:
    """Owns the settings and the collaborators built from them.

    Collaborators are built on first use, so importing the package and loading the IPython
    extension stay cheap (no mlflow, no SDK imports).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._cache: Any = None
        self._recorder: Any = None
        self._prompt_store: Any = None
        self._spent_usd = 0.0
        self._saved_usd = 0.0
        self._calls = 0
        self._unpriced = 0
        self._tokens = [0, 0]  # input, output tokens of answered (not cached) calls
        self._cached = 0
        self._group_spent: dict[str, float] = {}
        self._seen: set[Any] = set()  # what was already said once this session (price notes)
        self._recent: deque[Any] = deque(maxlen=RECENT_CALLS)  # CallRecords, for the kernel's report
        self._in_flight: set[str] = set()  # trace ids of calls sent and not yet recorded

    def first_time(self, key: Any) -> bool:
        """True the first time ``key`` is asked about in this session (say a note once)."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    @property
    def cache(self) -> Any:
        """The response cache (a :class:`llmops_nb.cache.CacheBackend`)."""
        with self._lock:
            if self._cache is None:
                from llmops_nb.cache import open_cache

                self._cache = open_cache(self.settings)
            return self._cache

    @property
    def recorder(self) -> Any:
        """The call recorder (a :class:`llmops_nb.recording.Recorder`)."""
        with self._lock:
            if self._recorder is None:
                from llmops_nb.recording import open_recorder

                self._recorder = open_recorder(self.settings)
            return self._recorder

    def add_spend(self, cost_usd: float | None, saved_usd: float | None, group_id: str | None) -> None:
        """Count a finished call's cost (and what a cache hit saved); a call with no known
        price is counted apart, never as $0."""
        with self._lock:
            self._calls += 1
            self._unpriced += cost_usd is None
            self._spent_usd += cost_usd or 0.0
            self._saved_usd += saved_usd or 0.0
            if group_id is not None:
                self._group_spent[group_id] = self._group_spent.get(group_id, 0.0) + (cost_usd or 0.0)

    def call_started(self, trace_id: str) -> None:
        """A call is being sent (its record comes with :meth:`note_call`)."""
        with self._lock:
            self._in_flight.add(trace_id)

    def note_call(self, record: Any) -> None:
        """A call's outcome was recorded: keep its record (the newest ``RECENT_CALLS``, what the
        JupyterLab extension lists) and count the tokens of an answered call."""
        with self._lock:
            self._in_flight.discard(record.trace_id)
            self._recent.append(record)
            self._cached += record.status == "OK" and record.cached
            if record.status == "OK" and not record.cached:
                self._tokens[0] += int(record.usage.get("input_tokens") or 0)
                self._tokens[1] += int(record.usage.get("output_tokens") or 0)

    def recent_calls(self) -> list[Any]:
        """The records of this process's latest calls (success or failure), oldest first."""
        with self._lock:
            return list(self._recent)

    def carry_spend_from(self, other: Session) -> None:
        """Take over ``other``'s spend counters (``configure`` replaces the session, not the spend)."""
        with other._lock, self._lock:
            self._calls, self._unpriced = other._calls, other._unpriced
            self._spent_usd, self._saved_usd = other._spent_usd, other._saved_usd
            self._group_spent = dict(other._group_spent)
            self._seen = set(other._seen)
            self._tokens, self._in_flight = list(other._tokens), set(other._in_flight)
            self._cached = other._cached
            self._recent.extend(other._recent)

    def group_spent(self, group_id: str) -> float:
        with self._lock:
            return self._group_spent.get(group_id, 0.0)

    def spend(self) -> dict[str, Any]:
        """This session's spend: calls (and how many had no known price), spent and saved USD,
        the budget and what remains. ``spent_usd`` is what the ``priced_calls`` cost: with no
        priced call it says nothing (see :func:`spend_summary`), the others are counted apart."""
        with self._lock:
            budget = self.settings.budget_usd
            priced = self._calls - self._unpriced
            return {"calls": self._calls, "priced_calls": priced, "cached_calls": self._cached,
                    "unpriced_calls": self._unpriced,
                    "spent_usd": float(f"{self._spent_usd:.12g}"),
                    "saved_usd": float(f"{self._saved_usd:.12g}"),
                    "input_tokens": self._tokens[0], "output_tokens": self._tokens[1],
                    "in_flight": len(self._in_flight),
                    "budget_usd": budget,
                    "remaining_usd": None if budget is None else budget - self._spent_usd}

    @property
    def prompt_store(self) -> Any:
        """The prompt registry (:class:`llmops_nb.prompt_store.MlflowPromptStore`)."""
        with self._lock:
            if self._prompt_store is None:
                import uuid

                from llmops_nb.prompt_store import MlflowPromptStore

                slug = uuid.uuid5(uuid.NAMESPACE_URL, self.settings.tracking_uri).hex[:16]
                self._prompt_store = MlflowPromptStore(self.settings.tracking_uri,
                                                       self.settings.home / "prompt_index" / f"{slug}.json")
            return self._prompt_store

    def close(self) -> None:
        """Flush what can be flushed and release files and threads."""
        with self._lock:
            if self._recorder is not None:
                self._recorder.close()
            if self._cache is not None:
                self._cache.close()
            self._recorder = self._cache = self._prompt_store = None


_session: Session | None = None
_session_lock = threading.Lock()


def session() -> Session:
    """The current session, built from the environment on first use."""
    global _session
    with _session_lock:
        if _session is None:
            load_dotenv_once()
            _session = Session(build_settings())
        return _session


def configure(**overrides: Any) -> Settings:
    """Change settings for this process; returns the new :class:`Settings`.

    Keys: ``tracking_uri``, ``experiment``, ``home``, ``cache_dir``, ``cache_mode``
    (``readwrite`` | ``replay`` | ``off``), ``default_model``, ``tracking`` (False: no MLflow),
    ``request_timeout_s``, ``live_stream`` (False: no live redraws or progress bars, only final
    outputs — what nbval can compare).
    Values not given keep their current value.
    """
    global _session
    current = session()
    # The current settings are the base; explicit overrides win over env and pyproject.
    merged = {f.name: getattr(current.settings, f.name) for f in dataclasses.fields(Settings)}
    merged.update(overrides)
    new = Settings(**_coerce_all(merged))
    with _session_lock:
        current.close()
        _session = Session(new)
        _session.carry_spend_from(current)  # spend belongs to the process, not to one set of settings
    return new


def reset(**overrides: Any) -> Settings:
    """Start a fresh session: settings from the environment and pyproject plus ``overrides``
    (nothing kept from ``configure`` calls), spend counters at zero."""
    global _session
    new = build_settings(overrides)
    with _session_lock:
        if _session is not None:
            _session.close()
        _session = Session(new)
    return new


def _coerce_all(values: dict[str, Any]) -> dict[str, Any]:
    cwd = Path.cwd().resolve()
    out = _coerce(values, cwd)
    out["tracking_uri"] = absolute_tracking_uri(str(out["tracking_uri"]), cwd)
    return out


def spend() -> dict[str, Any]:
    """This process's spend: calls, spent and saved USD, the session budget and what remains."""
    return session().spend()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def spend_summary(s: dict[str, Any] | None = None) -> str:
    """One line for people: ``3 calls · $0.000123 · 1 unpriced``; a session whose calls all
    lack a price says ``2 calls, 2 unpriced (cost unknown)``, never ``$0``."""
    s = spend() if s is None else s
    calls, unpriced = s["calls"], s["unpriced_calls"]
    if not calls:
        return "no calls yet"
    if not s.get("priced_calls", calls - unpriced):
        return f"{_plural(calls, 'call')}, {unpriced} unpriced (cost unknown)"
    tail = f" · {unpriced} unpriced (not counted: see set_price)" if unpriced else ""
    return f"{_plural(calls, 'call')} · ${s['spent_usd']:.6f}{tail}"


def settings() -> Settings:
    """The settings in force."""
    return session().settings
