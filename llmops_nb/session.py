"""The session: the settings in force and the collaborators built from them, wired here only.

::

    config.Settings ──► build_cache        NoCache | DiskCacheBackend | RedisCacheBackend  (cache protocol)
                    ──► build_recorder     NullRecorder | JournalRecorder per exporter, fanned out
                        └ build_exporters  MlflowExporter (tracking store), OtlpExporter (OTLP/HTTP)
                    ──► build_prompt_store MlflowPromptStore (the store's Prompt Registry)
                    ──► check_routes       routes parsed when configured, not at the first call

Each backend is its own small module behind its protocol (``cache.CacheBackend``,
``recording.Exporter`` / ``Recorder``); a new one is a new module and a line in its builder.
Stages and the pipeline ask :func:`session` for a collaborator; settings live in
:mod:`llmops_nb.config`, which imports none of this.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_nb import config
from llmops_nb.config import Settings

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.cache import CacheBackend
    from llmops_nb.recording import Exporter, Recorder

RECENT_CALLS = 200  # call records a session keeps in memory for the JupyterLab extension


def store_slug(uri: str) -> str:
    """A short, stable file name for a store or endpoint URI (journals, prompt indexes)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, uri).hex[:16]


def build_cache(settings: Settings) -> CacheBackend:
    """The cache backend the settings ask for: none (``cache_mode="off"``), Redis
    (``cache_url``) or the local diskcache."""
    if settings.cache_mode == "off":
        from llmops_nb.cache import NoCache

        return NoCache()
    if settings.cache_url:
        from llmops_nb.cache_redis import RedisCacheBackend

        return RedisCacheBackend(settings.cache_url, ttl_s=settings.cache_ttl_s)
    from llmops_nb.cache import DiskCacheBackend

    return DiskCacheBackend(settings.resolved_cache_dir)


def build_exporters(settings: Settings) -> list[tuple[Path, Callable[[], Exporter]]]:
    """Each destination of the call records, as (its journal directory, its exporter factory):
    the MLflow tracking store, plus OTLP when the standard ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``
    is set (and the exporter is installed)."""
    from llmops_nb.otel_export import otlp_endpoint

    def mlflow() -> Exporter:
        from llmops_nb.mlflow_export import MlflowExporter

        return MlflowExporter(settings.tracking_uri, settings.experiment)

    out: list[tuple[Path, Callable[[], Exporter]]] = [
        (settings.journal_dir / store_slug(settings.tracking_uri), mlflow)]
    endpoint = otlp_endpoint()
    if endpoint is None:
        return out
    import importlib.util

    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is None:
        import logging

        logging.getLogger("llmops_nb.recording").warning(
            "llmops_nb: OTEL_EXPORTER_OTLP_ENDPOINT is set, but the OTLP exporter is not installed "
            "(pip install 'llmops-nb[team]'); calls are recorded in MLflow only")
        return out

    def otlp() -> Exporter:
        from llmops_nb.otel_export import OtlpExporter

        return OtlpExporter(endpoint)

    return [*out, (settings.journal_dir / ("otlp-" + store_slug(endpoint)), otlp)]


def build_recorder(settings: Settings) -> Recorder:
    """The recorder the settings ask for: nothing (``tracking=False``), else one journal and
    exporter per destination (:func:`build_exporters`), fanned out when there are several."""
    from llmops_nb.recording import FIRST_EXPORT_MAX_DEFER_S, FanOutRecorder, JournalRecorder, NullRecorder

    if not settings.tracking:
        return NullRecorder()
    # building an exporter (import mlflow, the store) waits longer for calls in flight than a batch
    recorders: list[Recorder] = [JournalRecorder(journal, exporter, first_max_defer_s=FIRST_EXPORT_MAX_DEFER_S)
                                 for journal, exporter in build_exporters(settings)]
    return recorders[0] if len(recorders) == 1 else FanOutRecorder(recorders)


def build_prompt_store(settings: Settings) -> Any:
    """The prompt registry of the tracking store, with its local index of latest versions."""
    from llmops_nb.prompt_store import MlflowPromptStore

    index = settings.home / "prompt_index" / f"{store_slug(settings.tracking_uri)}.json"
    return MlflowPromptStore(settings.tracking_uri, index)


def check_routes(settings: Settings) -> None:
    """Refuse bad ``routes`` when they are configured, not at the first call."""
    if settings.routes:
        from llmops_nb.routing import parse_routes

        parse_routes(settings.routes)


class Session:
    """Owns the settings, the collaborators built from them (by the builders above) and this
    process's spend counters and recent calls.

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
        self._guard = [0, 0, 0.0]  # model-backed guardrail scanner calls, those without a price, their cost
        self._estimated_usd = 0.0  # of the spend: estimated (answers cut off before the provider's usage)
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
                self._cache = build_cache(self.settings)
            return self._cache

    @property
    def recorder(self) -> Any:
        """The call recorder (a :class:`llmops_nb.recording.Recorder`)."""
        with self._lock:
            if self._recorder is None:
                self._recorder = build_recorder(self.settings)
            return self._recorder

    def add_spend(self, cost_usd: float | None, saved_usd: float | None, group_id: str | None, *,
                  estimated: bool = False) -> None:
        """Count a finished call's cost (and what a cache hit saved); a call with no known
        price is counted apart, never as $0. ``estimated``: the cost is an estimate (a call
        cut off mid-answer, see :meth:`add_cut_off_spend`)."""
        with self._lock:
            self._calls += 1
            self._unpriced += cost_usd is None
            self._spent_usd += cost_usd or 0.0
            self._estimated_usd += (cost_usd or 0.0) if estimated else 0.0
            self._saved_usd += saved_usd or 0.0
            self._charge(group_id, cost_usd or 0.0)

    def add_cut_off_spend(self, cost_usd: float | None, group_id: str | None) -> None:
        """Count what a call's attempts cut off mid-answer cost (an interrupt, a dropped stream
        that was then retried): estimated from the text received, part of the spend and of every
        budget; the call itself is counted with its answer."""
        with self._lock:
            self._spent_usd += cost_usd or 0.0
            self._estimated_usd += cost_usd or 0.0
            self._charge(group_id, cost_usd or 0.0)

    def add_guard_spend(self, costs: list[float | None], group_id: str | None) -> None:
        """Count what model-backed guardrail scanner calls cost, as they are made (a call's input
        scan before the call is sent, so its budget check sees it): part of the spend, so every
        budget — per call excepted — counts them; one without a known price (None) is counted
        apart, never as $0."""
        cost = sum(c for c in costs if c is not None)
        with self._lock:
            self._guard[0] += len(costs)
            self._guard[1] += sum(c is None for c in costs)
            self._guard[2] += cost
            self._spent_usd += cost
            self._charge(group_id, cost)

    def _charge(self, group_id: str | None, cost: float) -> None:
        """Add ``cost`` to the group's spend (the caller holds the lock)."""
        if group_id is not None:
            self._group_spent[group_id] = self._group_spent.get(group_id, 0.0) + cost

    def call_started(self, trace_id: str) -> None:
        """A call is being sent (its record comes with :meth:`note_call`)."""
        with self._lock:
            self._in_flight.add(trace_id)

    def note_call(self, record: Any) -> None:
        """A call's outcome was recorded: keep its record (the newest ``RECENT_CALLS``, what the
        JupyterLab extension lists) and count the tokens of an answered call (withheld or not)."""
        with self._lock:
            self._in_flight.discard(record.trace_id)
            self._recent.append(record)
            self._cached += record.status == "OK" and record.cached
            if not record.cached:  # an answer withheld by the output guardrails used its tokens too
                self._tokens[0] += int(record.usage.get("input_tokens") or 0)
                self._tokens[1] += int(record.usage.get("output_tokens") or 0)

    def models_in_use(self) -> list[str]:
        """The models this session names: its default model, its routes' models, and every
        deprecated model it has called (what ``%llm models`` checks for deprecations)."""
        from llmops_nb.pricing import warned_models

        models: list[Any] = [self.settings.default_model]
        for items in (self.settings.routes or {}).values():
            models += [i if isinstance(i, str) else i.get("model") for i in items if isinstance(i, (str, dict))]
        models += warned_models(self)
        return [m for m in models if isinstance(m, str)]

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
            self._guard = list(other._guard)
            self._estimated_usd = other._estimated_usd
            self._seen = set(other._seen)
            self._tokens, self._in_flight = list(other._tokens), set(other._in_flight)
            self._cached = other._cached
            self._recent.extend(other._recent)

    def group_spent(self, group_id: str) -> float:
        with self._lock:
            return self._group_spent.get(group_id, 0.0)

    def spend(self) -> dict[str, Any]:
        """This session's spend: calls (and how many had no known price), spent and saved USD,
        the budget and what remains. ``spent_usd`` is what the ``priced_calls`` cost, and what
        model-backed guardrail scanners cost for them (``guard_usd`` of it, from ``guard_calls``
        calls, ``unpriced_guard_calls`` of them without a price; ``estimated_usd`` of it is estimated:
        answers cut off before the provider's usage arrived): with no priced call it says
        nothing (see :func:`spend_summary`), the others are counted apart."""
        with self._lock:
            budget = self.settings.budget_usd
            priced = self._calls - self._unpriced
            return {"calls": self._calls, "priced_calls": priced, "cached_calls": self._cached,
                    "unpriced_calls": self._unpriced,
                    "spent_usd": float(f"{self._spent_usd:.12g}"),
                    "saved_usd": float(f"{self._saved_usd:.12g}"),
                    "input_tokens": self._tokens[0], "output_tokens": self._tokens[1],
                    "in_flight": len(self._in_flight),
                    "guard_calls": self._guard[0], "unpriced_guard_calls": self._guard[1],
                    "guard_usd": float(f"{self._guard[2]:.12g}"),
                    "estimated_usd": float(f"{self._estimated_usd:.12g}"),
                    "budget_usd": budget,
                    "remaining_usd": None if budget is None else budget - self._spent_usd}

    @property
    def prompt_store(self) -> Any:
        """The prompt registry (:class:`llmops_nb.prompt_store.MlflowPromptStore`)."""
        with self._lock:
            if self._prompt_store is None:
                self._prompt_store = build_prompt_store(self.settings)
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
_session_lock = threading.RLock()


def session() -> Session:
    """The current session, built from the settings in force on first use."""
    global _session
    with _session_lock:
        if _session is None:
            current = config.settings()
            check_routes(current)
            _session = Session(current)
        return _session


get_session = session


def configure(**overrides: Any) -> Settings:
    """Change settings for this process; returns the new :class:`~llmops_nb.config.Settings`.

    Keys: ``tracking_uri``, ``experiment``, ``home``, ``cache_dir``, ``cache_mode``
    (``readwrite`` | ``replay`` | ``off``), ``default_model``, ``tracking`` (False: no MLflow),
    ``request_timeout_s``, ``live_stream`` (False: no live redraws or progress bars, only final
    outputs — what nbval can compare), and every other field of ``Settings``.
    Values not given keep their current value. The session's collaborators (cache, recorder,
    prompt store) are closed and built again from the new settings; spend is kept.
    """
    global _session
    with _session_lock:
        current = session()
        # The current settings are the base; explicit overrides win over env and pyproject.
        new = config.merged_settings(current.settings, overrides)
        check_routes(new)
        current.close()
        _session = Session(config.install(new))
        _session.carry_spend_from(current)  # spend belongs to the process, not to one set of settings
    return new


def reset(**overrides: Any) -> Settings:
    """Start a fresh session: settings from the environment and pyproject plus ``overrides``
    (nothing kept from ``configure`` calls), spend counters at zero."""
    global _session
    new = config.build_settings(overrides)
    check_routes(new)
    with _session_lock:
        if _session is not None:
            _session.close()
        _session = Session(config.install(new))
    return new


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
    guards = s.get("guard_calls", 0)
    if guards:
        unpriced_guards = s.get("unpriced_guard_calls", 0)
        tail += (f" · guardrail models ${s.get('guard_usd', 0.0):.6f} of it ({_plural(guards, 'call')}"
                 + (f", {unpriced_guards} unpriced)" if unpriced_guards else ")"))
    return f"{_plural(calls, 'call')} · ${s['spent_usd']:.6f}{tail}"
