"""Settings: environment variables, ``[tool.llmops_nb]`` in pyproject.toml, and ``configure()``.

Precedence, lowest to highest: built-in defaults, ``[tool.llmops_nb]`` of the working
directory's pyproject.toml, environment variables, ``configure(...)``. Paths are made absolute
once, when settings are built, so a notebook opened from another folder keeps writing to the
same store.

Settings are values only: this module imports nothing of the package but its errors. What is
built from them (cache backend, recorder and its exporters, prompt store, routes) is wired in
one place, :mod:`llmops_nb.session`, whose ``configure()`` / ``reset()`` change the settings in
force (:func:`settings`) and the session together.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


def redacted_url(url: str) -> str:
    """``url`` without its password (for messages and ``%llm config``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


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


def merged_settings(current: Settings, overrides: dict[str, Any]) -> Settings:
    """``current`` with ``overrides`` applied (what ``configure`` asks for), checked and absolute."""
    merged = {f.name: getattr(current, f.name) for f in dataclasses.fields(Settings)}
    merged.update(overrides)
    cwd = Path.cwd().resolve()
    out = _coerce(merged, cwd)
    out["tracking_uri"] = absolute_tracking_uri(str(out["tracking_uri"]), cwd)
    return Settings(**out)


_current: Settings | None = None
_lock = threading.Lock()


def settings() -> Settings:
    """The settings in force: from ``.env``, the environment and pyproject on first use, then
    whatever :func:`llmops_nb.session.configure` / ``reset`` installed."""
    global _current
    with _lock:
        if _current is None:
            load_dotenv_once()
            _current = build_settings()
        return _current


def install(new: Settings) -> Settings:
    """Make ``new`` the settings in force (called by :mod:`llmops_nb.session`, which rebuilds
    the session's collaborators with them); returns it."""
    global _current
    with _lock:
        _current = new
    return new
