"""Routes and resilience: which model answers, and what happens when one fails.

- **Routes** are ordered lists of models (``configure(routes={"balanced": ["openai:…",
  {"model": "anthropic:…", "temperature": 0.2}]})`` or ``[tool.llmops_nb.routes]``); a route id
  ``route:NAME`` works wherever a model id does. ``route:auto`` lets rules choose: user
  predicates (:func:`add_rule`), then the request's ``complexity`` hint
  (``configure(complexity_routes={"low": "fast", "high": "quality"})``), then
  ``default_route``. Models whose context window cannot hold the prompt are skipped. The
  choice and the reason are recorded on the call.
- **Context windows** come from genai-prices' data (``configure(context_windows=...)`` wins):
  a model id whose window cannot hold the prompt, or ``max_tokens``, is refused before
  sending (:class:`~llmops_nb.errors.ContextWindowExceeded`); an unknown window is not
  checked, and the call's notes say so.
- **Retries**: one loop (tenacity), exponential backoff with jitter, ``retry-after`` honoured
  (capped by ``retry_max_wait_s``); only retryable errors (429, 5xx, timeouts, connection
  errors) are retried. The SDKs' own retries are off.
- **Fallback** to the next model of the route when a model's retries are spent or it failed;
  a route may end with a planned answer, ``{"fallback_text": "We are busy — retry in a
  minute."}``: when every model failed, the caller gets it as a Completion flagged
  ``fallback=True`` (its notes and the trace say why), not an exception. Opt-in per route.
- **Circuit breaker** per model: opens after ``breaker_threshold`` consecutive server-side
  failures (5xx, timeouts, connection errors — never a client error such as 400 or 401, nor a
  429), fast-fails while open, lets one probe through after ``breaker_cooldown_s``
  (half-open); the probe is released on every exit path, an interrupt included.
- **Rate limits** per model, client side: requests and tokens per minute
  (``configure(rate_limits={"openai:gpt-5.4-mini": {"rpm": 60, "tpm": 200_000}})``); a call
  waits for room rather than failing.
- **Budgets**: per call (``max_cost``), per group (``group(name, budget_usd=...)``) and per
  session (``configure(budget_usd=...)``), checked with the pre-call estimate before sending.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from llmops_nb import errors as E
from llmops_nb.config import Settings
from llmops_nb.tokens import PromptTokens

ROUTE_PREFIX = "route:"
# The simulator's window for names genai-prices does not know (sim:default); a real model's
# name (sim:gpt-4o-mini) has that model's window.
SIM_CONTEXT_WINDOW = 128_000


@dataclass(frozen=True)
class RouteEntry:
    """One model of a route, with the parameters it is called with."""

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleInput:
    """What a routing rule sees about a request."""

    messages: tuple[Any, ...]
    tokens: PromptTokens  # the prompt's size: a free upper bound, counted exactly when needed
    complexity: str | None

    @property
    def estimated_tokens(self) -> int:
        """The prompt's tokens, counted offline (the first rule that asks pays for the count)."""
        return self.tokens.exact


@dataclass(frozen=True)
class RouteChoice:
    """The models to try, in order, and why."""

    route: str | None
    entries: tuple[RouteEntry, ...]
    reason: str
    unknown_windows: tuple[str, ...] = ()  # models whose window is unknown: not checked
    fallback_text: str | None = None  # the route's planned answer when every model fails


FALLBACK_KEY = "fallback_text"


def parse_routes(raw: Mapping[str, Any]) -> dict[str, tuple[RouteEntry, ...]]:
    """Validate ``routes`` settings: name → list of model ids or ``{"model": id, **params}``,
    optionally ending with ``{"fallback_text": "..."}`` (see :func:`route_fallbacks`)."""
    return {name: _parse_route(name, items)[0] for name, items in (raw or {}).items()}


def route_fallbacks(raw: Mapping[str, Any]) -> dict[str, str]:
    """Route name → its planned fallback answer, for the routes that end with one: when every
    model of the route fails, the caller gets this text (flagged as a fallback), not an error."""
    parsed = {name: _parse_route(name, items)[1] for name, items in (raw or {}).items()}
    return {name: text for name, text in parsed.items() if text is not None}


def _parse_route(name: str, items: Any) -> tuple[tuple[RouteEntry, ...], str | None]:
    from llmops_nb.providers.base import split_model_id

    if not isinstance(items, (list, tuple)) or not items:
        raise E.ConfigError(f"route {name!r} must be a non-empty list of model ids")
    fallback = None
    if isinstance(items[-1], Mapping) and FALLBACK_KEY in items[-1]:
        last = items[-1]
        if set(last) != {FALLBACK_KEY} or not isinstance(last[FALLBACK_KEY], str) or not last[FALLBACK_KEY].strip():
            raise E.ConfigError(f"route {name!r}: the fallback must be {{'fallback_text': 'a non-empty answer'}} "
                                f"alone, not {last!r}")
        fallback, items = last[FALLBACK_KEY], items[:-1]
        if not items:
            raise E.ConfigError(f"route {name!r} has a fallback_text but no model to try first")
    entries = []
    for item in items:
        if isinstance(item, str):
            entries.append(RouteEntry(item))
        elif isinstance(item, Mapping) and isinstance(item.get("model"), str):
            entries.append(RouteEntry(item["model"], {k: v for k, v in item.items() if k != "model"}))
        elif isinstance(item, Mapping) and FALLBACK_KEY in item:
            raise E.ConfigError(f"route {name!r}: fallback_text must be the last item of the route")
        else:
            raise E.ConfigError(f"route {name!r}: {item!r} is neither a model id nor {{'model': id, ...}}")
        if entries[-1].model.startswith(ROUTE_PREFIX):
            raise E.ConfigError(f"route {name!r} names another route; list models instead")
        split_model_id(entries[-1].model)
    return tuple(entries), fallback


_rules: list[Callable[[RuleInput], str | None]] = []


def add_rule(rule: Callable[[RuleInput], str | None]) -> None:
    """A user predicate for ``route:auto``: return a route name to choose it, None to pass."""
    _rules.append(rule)


def clear_rules() -> None:
    """Forget every rule added with :func:`add_rule`."""
    _rules.clear()


def route_entries(name: str, settings: Settings | None = None) -> tuple[RouteEntry, ...]:
    """The models of route ``name``."""
    from llmops_nb.config import settings as current

    routes = parse_routes((settings or current()).routes)
    if name not in routes:
        raise E.ConfigError(f"no route named {name!r} (routes: {', '.join(sorted(routes)) or 'none'}); "
                            "define it with configure(routes={...}) or [tool.llmops_nb.routes]")
    return routes[name]


def context_window(model: str, settings: Settings) -> int | None:
    """The context window of ``model`` in tokens (prompt + answer): ``configure(context_windows=
    ...)`` first (exact id, then glob), else genai-prices' data; None when neither knows."""
    from llmops_nb.pricing import model_facts

    table = settings.context_windows
    if model in table:
        return int(table[model])
    for pattern, size in table.items():
        if fnmatch.fnmatchcase(model, pattern):
            return int(size)
    facts = model_facts(model)
    if facts is not None and facts.context_window:
        return int(facts.context_window)
    return SIM_CONTEXT_WINDOW if model.startswith("sim:") else None


def unknown_window_note(model: str) -> str:
    """The note a call carries when its model's window is unknown (so it was not checked)."""
    return (f"the context window of {model} is unknown (genai-prices has no data), so the prompt's size was "
            f"not checked: configure(context_windows={{{model!r}: tokens}}) to check it")


def choose(model: str, info: RuleInput, max_tokens: int | None, settings: Settings) -> RouteChoice:
    """The models to try for ``model`` (a model id or ``route:NAME``), skipping those whose
    context window cannot hold the prompt plus the answer's ``max_tokens`` (the call's, else
    the route entry's). A model id whose window cannot hold the prompt, or ``max_tokens``, is
    refused (ContextWindowExceeded)."""
    if not model.startswith(ROUTE_PREFIX):
        # A model id is refused when the prompt or max_tokens alone cannot fit: that call can
        # never work. Together they may exceed the window: the answer is then cut by it (and
        # the footer says so), as servers such as llama.cpp and Anthropic's newer models do.
        window = context_window(model, settings)
        if window is not None and (info.tokens.exceeds(window - 1) or int(max_tokens or 0) > window):
            raise E.ContextWindowExceeded(model, info.estimated_tokens + int(max_tokens or 0), window,
                                          info.estimated_tokens, max_tokens)
        return RouteChoice(None, (RouteEntry(model),), "model id", () if window else (model,))
    name, reason = model[len(ROUTE_PREFIX):], "named route"
    if name == "auto":
        name, reason = _auto(info, settings)
    fitting, skipped, unknown = [], [], []
    needed_tokens: int = info.tokens.at_most
    for entry in route_entries(name, settings):
        window = context_window(entry.model, settings)
        answer = int(max_tokens or entry.params.get("max_tokens") or 0)
        needed_tokens = info.tokens.at_most + answer
        if window is not None and info.tokens.exceeds(window - answer):
            needed_tokens = info.estimated_tokens + answer
            skipped.append(f"{entry.model} (window {window:,} < {needed_tokens:,} tokens)")
        else:
            fitting.append(entry)
            if window is None:
                unknown.append(entry.model)
    if not fitting:
        raise E.ConfigError(f"no model of route {name!r} has a context window for {needed_tokens:,} tokens: "
                            f"{'; '.join(skipped)}. Shorten the prompt or add a larger model to the route.")
    if skipped:
        reason += "; skipped " + ", ".join(skipped)
    return RouteChoice(name, tuple(fitting), reason, tuple(unknown), route_fallbacks(settings.routes).get(name))


def _auto(info: RuleInput, settings: Settings) -> tuple[str, str]:
    for rule in _rules:
        chosen = rule(info)
        if chosen:
            return chosen, f"rule {getattr(rule, '__name__', 'rule')}"
    if info.complexity is not None:
        if info.complexity not in settings.complexity_routes:
            raise E.ConfigError(f"complexity {info.complexity!r} has no route: "
                                f"configure(complexity_routes={{{info.complexity!r}: 'route-name'}})")
        return settings.complexity_routes[info.complexity], f"complexity {info.complexity}"
    if settings.default_route:
        return settings.default_route, "default route"
    raise E.ConfigError("route:auto found no rule, complexity hint or default_route; "
                        "configure(default_route='balanced') or pass complexity=...")


# --- circuit breakers --------------------------------------------------------------------------

@dataclass
class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown_s``
    (one probe) → closed on success, open again on failure."""

    threshold: int = 5
    cooldown_s: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if time.monotonic() - self.opened_at >= self.cooldown_s else "open"

    def before_call(self, model: str) -> None:
        """Raise CircuitOpen unless a call may go through now (prefer :meth:`calling`)."""
        with self.lock:
            state = self.state
            if state == "closed":
                return
            if state == "half-open" and not self.probing:
                self.probing = True  # this call is the probe
                return
            left = max(0.0, self.cooldown_s - (time.monotonic() - (self.opened_at or 0)))
            raise E.CircuitOpen(f"{model}: circuit open after {self.failures} failures; next probe in {left:.0f} s",
                              provider=model.partition(":")[0], retry_after=left)

    def record(self, ok: bool | None) -> None:
        """The outcome of a call let through: True the server is up, False a server-side
        failure, None neither (a client error, an interrupt) — only the probe is released."""
        with self.lock:
            self.probing = False
            if ok is None:
                return
            if ok:
                self.failures, self.opened_at = 0, None
                return
            self.failures += 1
            if self.failures >= self.threshold or self.opened_at is not None:
                self.opened_at = time.monotonic()

    @contextmanager
    def calling(self, model: str) -> Iterator[None]:
        """Guard one call: raises CircuitOpen, else records how the call ended — on every
        exit path, so a probe is never left taken (Ctrl-C, a bug, a client error)."""
        self.before_call(model)
        outcome: bool | None = None
        try:
            yield
            outcome = True
        except E.ProviderError as exc:
            outcome = breaker_outcome(exc)
            raise
        finally:
            self.record(outcome)


def breaker_outcome(exc: E.ProviderError) -> bool | None:
    """What a provider error says about the server's health: False for server-side failures
    (5xx, timeouts, connection errors, unparsable answers), True for a client error the server
    answered (400 "prompt too long", 401, 404: the server is up), None for 429 (rate limits
    have their own rule: retry-after and the client-side limiter) and anything unknown."""
    if isinstance(exc, E.RateLimited):
        return None
    if isinstance(exc, (E.ProviderUnavailable, E.ProviderTimeout, E.ProviderConnectionError,
                        E.ProviderResponseError)):
        return False
    if isinstance(exc, (E.BadRequest, E.AuthenticationFailed)) and exc.status is not None:
        return True  # the server answered
    return None


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker(model: str, settings: Settings) -> CircuitBreaker:
    """The breaker of ``model`` with the threshold and cool-down of ``settings`` (a
    ``configure()`` after the model's first call applies to it too; its state is kept)."""
    with _breakers_lock:
        found = _breakers.get(model)
        if found is None:
            found = _breakers[model] = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown_s)
        else:
            with found.lock:
                found.threshold, found.cooldown_s = settings.breaker_threshold, settings.breaker_cooldown_s
        return found


def health() -> list[dict[str, Any]]:
    """Breaker state per model called in this process."""
    with _breakers_lock:
        items = sorted(_breakers.items())
    return [{"model": m, "state": b.state, "consecutive_failures": b.failures} for m, b in items]


def reset() -> None:
    """Close every breaker and forget rate-limit history (tests, or after an outage)."""
    with _breakers_lock:
        _breakers.clear()
    with _limiters_lock:
        _limiters.clear()


# --- rate limits -------------------------------------------------------------------------------

@dataclass
class RateLimiter:
    """Requests and tokens per minute over a sliding 60 s window; ``acquire`` waits for room."""

    rpm: float | None = None
    tpm: float | None = None
    window_s: float = 60.0
    sent: deque[tuple[float, int]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def _wait_needed(self, now: float, tokens: int) -> float:
        while self.sent and now - self.sent[0][0] >= self.window_s:
            self.sent.popleft()
        waits = [0.0]
        if self.rpm and len(self.sent) >= self.rpm:
            waits.append(self.sent[int(len(self.sent) - self.rpm)][0] + self.window_s - now)
        if self.tpm and self.sent:
            used, excess = sum(t for _, t in self.sent) + tokens, 0
            for at, t in self.sent:  # oldest first: wait until enough tokens leave the window
                if used - excess <= self.tpm:
                    break
                excess += t
                waits.append(at + self.window_s - now)
        return max(waits)

    def acquire(self, tokens: int) -> float:
        """Wait until a request of ``tokens`` fits; returns the seconds waited."""
        waited = 0.0
        while True:
            with self.lock:
                now = self.clock()
                wait = self._wait_needed(now, tokens)
                if wait <= 0:
                    self.sent.append((now, tokens))
                    return waited
            self.sleep(wait)
            waited += wait


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter(model: str, settings: Settings) -> RateLimiter | None:
    """The rate limiter of ``model``, if the settings limit it, at the limits of ``settings``
    (a ``configure()`` after the model's first call applies to it too; its history is kept)."""
    limits = settings.rate_limits.get(model) or next(
        (v for k, v in settings.rate_limits.items() if fnmatch.fnmatchcase(model, k)), None)
    if not limits:
        return None
    with _limiters_lock:
        found = _limiters.get(model)
        if found is None:
            found = _limiters[model] = RateLimiter(limits.get("rpm"), limits.get("tpm"))
        else:
            with found.lock:
                found.rpm, found.tpm = limits.get("rpm"), limits.get("tpm")
        return found


# --- retries -----------------------------------------------------------------------------------

def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, E.ProviderError) and exc.retryable and not isinstance(exc, E.CircuitOpen)


def with_retries(fn: Callable[[], Any], settings: Settings, on_retry: Callable[[BaseException, float], None],
                 sleep: Callable[[float], None] = time.sleep) -> Any:
    """Call ``fn`` until it succeeds, a non-retryable error, or the retries are spent.

    The first attempt runs as a plain call: a call that succeeds (or fails for good) never
    enters the retry machinery (tenacity's per-call state, a Future with its lock: ~20 µs of
    CPU per call under the GIL). Only a retryable failure hands over to the retry policy, which
    counts that failure as its first attempt — the same waits, attempts and ``on_retry`` as if
    tenacity had made it.

    The retry policy (a tenacity ``Retrying``) is built once per set of retry settings and
    shared by every call: its run state is per thread (tenacity keeps it in a thread-local)
    and per call (a new ``RetryCallState``); ``fn`` and ``on_retry`` travel as the call's
    arguments."""
    try:
        return fn()
    except BaseException as exc:
        if settings.retries < 1 or not _retryable(exc):
            raise
        first_failure = exc
    replay = [first_failure]  # the policy's first attempt is the one that just failed

    def attempt(fn: Callable[[], Any], on_retry: Callable[[BaseException, float], None]) -> Any:
        if replay:
            raise replay.pop()
        return fn()

    return _retry_policy(settings.retries, settings.retry_base_s, settings.retry_max_wait_s, sleep)(
        attempt, fn, on_retry)


_policies: dict[tuple[Any, ...], Any] = {}
_policies_lock = threading.Lock()


def _retry_policy(retries: int, base_s: float, max_wait_s: float, sleep: Callable[[float], None]) -> Any:
    """The shared ``Retrying`` of these settings (built on first use)."""
    key = (retries, base_s, max_wait_s, sleep)
    policy = _policies.get(key)
    if policy is not None:
        return policy
    import tenacity

    exponential = tenacity.wait_exponential_jitter(multiplier=base_s, max=max_wait_s, jitter=base_s)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        advised = getattr(exc, "retry_after", None)
        if advised is not None:  # the server said when: honour it (capped)
            return float(min(advised, max_wait_s))
        return float(exponential(state))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None and state.next_action is not None:
            state.args[1](exc, state.next_action.sleep)  # this call's on_retry

    policy = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retries + 1), wait=wait,
        retry=tenacity.retry_if_exception(_retryable), reraise=True, sleep=sleep, before_sleep=before_sleep)
    with _policies_lock:
        if len(_policies) > 64:  # settings changed many times (tests): start over
            _policies.clear()
        return _policies.setdefault(key, policy)


# --- budgets -----------------------------------------------------------------------------------

def check_budgets(estimate: float | None, *, max_cost: float | None, group_left: float | None,
                  session_left: float | None) -> None:
    """Raise BudgetExceeded for the first budget the estimate does not fit."""
    if estimate is None:
        return
    for scope, left in (("call (max_cost)", max_cost), ("group", group_left), ("session", session_left)):
        if left is not None and estimate > left:
            raise E.BudgetExceeded(scope, estimate, left)

