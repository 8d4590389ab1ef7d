"""The one path every call takes, and the only place that knows its order::

    request ─► input guardrails ─► route ─► prompt assembly ─► cache lookup
            ─► provider call (stream) ─► output guardrails ─► record ─► Completion

Everything that can be checked is checked before anything is sent: the model id, the
provider, its API key, the messages and parameters. A call that was attempted — answered,
failed, or a replay-mode cache miss — is recorded, success or not.

``complete`` is written once; ``acomplete`` runs it in a worker thread, so sync and async
share one flow (and one event loop is never blocked).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from llmops_nb import errors as E
from llmops_nb import routing
from llmops_nb.cache import CachedAnswer, cache_key, lookup, store
from llmops_nb.config import Session, session
from llmops_nb.pricing import price_of
from llmops_nb.prompts import PromptVersion, render
from llmops_nb.providers.base import Final, Provider, TextDelta, get_provider, split_model_id
from llmops_nb.tokens import count_message_tokens
from llmops_nb.tracking import current_group
from llmops_nb.types import ROLES, CallRecord, Completion, Message, Request, Usage

log = logging.getLogger(__name__)
PromptInput = str | Iterable[Mapping[str, Any] | Message] | PromptVersion
TextCallback = Callable[[str], None]


@dataclass(frozen=True)
class PreparedCall:
    """A validated call: everything needed to send it, nothing sent yet."""

    provider: Provider
    request: Request
    api_key: str | None
    prompt_ref: str | None = None
    estimated_input_tokens: int = 0  # counted offline before sending (budgets, context checks)


def to_messages(prompt: str | Iterable[Mapping[str, Any] | Message],
                system: str | None) -> tuple[tuple[Message, ...], str | None]:
    """Normalise a prompt string or message list; system messages join the system prompt."""
    if isinstance(prompt, str):
        items: list[Message] = [Message("user", prompt)]
    else:
        items = []
        for item in prompt:
            if isinstance(item, Message):
                items.append(item)
            elif isinstance(item, Mapping) and "role" in item and "content" in item:
                items.append(Message(str(item["role"]), item["content"]))
            else:
                raise E.ConfigError(
                    f"a message must be a dict with 'role' and 'content' (or a Message), not {item!r}"
                )
    systems = [system] if system else []
    messages = []
    for m in items:
        if m.role not in ROLES:
            raise E.ConfigError(f"message role {m.role!r} is not one of {ROLES}")
        if not isinstance(m.content, str):
            raise E.ConfigError(f"message content must be text, not {type(m.content).__name__}")
        (systems.append(m.content) if m.role == "system" else messages.append(m))
    if not messages or not any(m.content.strip() for m in messages):
        raise E.ConfigError("the prompt is empty: write the prompt in the cell (or pass text). Nothing was sent.")
    return tuple(messages), ("\n\n".join(systems) if systems else None)


def _check_params(params: dict[str, Any]) -> None:
    t = params.get("temperature")
    if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t <= 2):
        raise E.ConfigError(f"temperature must be a number from 0 to 2, not {t!r}")
    n = params.get("max_tokens")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise E.ConfigError(f"max_tokens must be a positive integer, not {n!r}")


def prepare(
    model: str | None,
    prompt: str | Iterable[Mapping[str, Any] | Message],
    *,
    system: str | None = None,
    stream: bool = False,
    params: dict[str, Any] | None = None,
    prompt_ref: str | None = None,
    sess: Session | None = None,
) -> PreparedCall:
    """Validate a call and resolve its provider and key; raises before anything is sent."""
    sess = sess or session()
    model = model or sess.settings.default_model
    provider_name, model_name = split_model_id(model)
    provider = get_provider(provider_name)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    _check_params(params)
    messages, system = to_messages(prompt, system)
    api_key = os.environ.get(provider.key_env) if provider.key_env else None
    if provider.key_required and not api_key:
        raise E.MissingAPIKey(provider_name, provider.key_env or "")
    request = Request(
        model=f"{provider_name}:{model_name}",
        provider=provider_name,
        model_name=model_name,
        messages=messages,
        system=system,
        params=params,
        stream=stream,
    )
    return PreparedCall(provider, request, api_key, prompt_ref, estimate_input_tokens(request))


def estimate_input_tokens(request: Request) -> int:
    """The prompt's size in tokens, counted offline (exact for OpenAI encodings, an estimate
    for other providers, whose own count arrives with the answer)."""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if request.system:
        messages.insert(0, {"role": "system", "content": request.system})
    return count_message_tokens(messages, request.model)


def complete(
    model: str | None,
    prompt_or_messages: PromptInput,
    *,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = False,
    cache: bool = True,
    on_text: TextCallback | None = None,
    variables: Mapping[str, Any] | None = None,
    max_cost: float | None = None,
    complexity: str | None = None,
    **params: Any,
) -> Completion:
    """Send one prompt (text, chat messages or a registered :class:`PromptVersion`) to ``model``.

    ``model`` is ``provider:model`` or ``route:NAME`` (None: the prompt version's default model,
    else the configured default). ``variables`` fill ``{{names}}`` in a prompt version or a text
    prompt. ``stream=True`` streams the answer (``on_text`` receives each piece) and measures
    time to first token. ``cache=False`` skips the cache for this call. ``max_cost`` (USD) is
    this call's budget, checked with the pre-call estimate; ``complexity`` is a hint for
    ``route:auto``. Other keyword arguments are passed to the provider as sampling parameters.
    """
    params = {k: v for k, v in {"temperature": temperature, "max_tokens": max_tokens, **params}.items()
              if v is not None}
    prompt_ref = None
    if isinstance(prompt_or_messages, PromptVersion):  # prompt assembly: registry version
        version = prompt_or_messages
        prompt_or_messages = version.messages(variables or {})
        model, params, prompt_ref = model or version.model, {**version.params, **params}, version.ref
    elif variables is not None and isinstance(prompt_or_messages, str):
        prompt_or_messages = render(prompt_or_messages, variables)
    plan = plan_call(model, prompt_or_messages, system=system, stream=stream, params=params,
                     prompt_ref=prompt_ref, complexity=complexity)
    return execute(plan, use_cache=cache, on_text=on_text, max_cost=max_cost)


async def acomplete(*args: Any, **kwargs: Any) -> Completion:
    """:func:`complete` for asyncio: the same flow, run in a worker thread."""
    return await asyncio.to_thread(complete, *args, **kwargs)


@dataclass(frozen=True)
class CallPlan:
    """The models to try for one call, in order, each validated; and why these."""

    candidates: tuple[PreparedCall, ...]
    route: str | None
    reason: str


def plan_call(model: str | None, prompt: str | Iterable[Mapping[str, Any] | Message], *,
              system: str | None = None, stream: bool = False, params: dict[str, Any] | None = None,
              prompt_ref: str | None = None, complexity: str | None = None,
              sess: Session | None = None) -> CallPlan:
    """Route and validate: every candidate model is checked (id, provider, key) before sending.

    In a route, a model whose key is not set is skipped (with the reason); if none is left,
    the first MissingAPIKey is raised.
    """
    sess = sess or session()
    model = model or sess.settings.default_model
    params = params or {}
    messages, _ = to_messages(prompt, system)
    estimate = estimate_input_tokens(Request(model, "", "", messages, system))
    choice = routing.choose(model, routing.RuleInput(messages, estimate, complexity),
                            estimate + int(params.get("max_tokens") or 0), sess.settings)
    candidates, skipped, first_error = [], [], None
    for entry in choice.entries:
        try:
            candidates.append(prepare(entry.model, prompt, system=system, stream=stream,
                                      params={**entry.params, **params}, prompt_ref=prompt_ref, sess=sess))
        except E.MissingAPIKey as exc:
            if choice.route is None:
                raise
            first_error = first_error or exc
            skipped.append(f"{entry.model} ({exc.variable} not set)")
    if not candidates:
        raise first_error or E.ConfigError("no model to call")
    reason = choice.reason + (f"; skipped {', '.join(skipped)}" if skipped else "")
    return CallPlan(tuple(candidates), choice.route, reason)


def estimated_cost(call: PreparedCall, assumed_output_tokens: int) -> float | None:
    """The pre-call cost estimate: counted input, and max_tokens (or the assumed) output."""
    output = int(call.request.params.get("max_tokens") or assumed_output_tokens)
    return price_of(Usage(input_tokens=call.estimated_input_tokens, output_tokens=output),
                    call.request.model).cost_usd


def _check_budget(call: PreparedCall, sess: Session, max_cost: float | None) -> None:
    group = current_group()
    settings = sess.settings
    left = sess.spend()["remaining_usd"]
    group_left = None
    if group is not None and group.budget_usd is not None:
        group_left = group.budget_usd - sess.group_spent(group.id)
    if max_cost is None and group_left is None and left is None:
        return
    routing.check_budgets(estimated_cost(call, settings.assumed_output_tokens), max_cost=max_cost,
                          group_left=group_left, session_left=left)


def execute(plan: CallPlan | PreparedCall, *, use_cache: bool = True, on_text: TextCallback | None = None,
            max_cost: float | None = None, sess: Session | None = None) -> Completion:
    """Run a planned call: cache, then each candidate with retries, breaker and rate limit."""
    if isinstance(plan, PreparedCall):
        plan = CallPlan((plan,), None, "model id")
    sess = sess or session()
    first = plan.candidates[0]
    _check_budget(first, sess, max_cost)  # before anything is sent; raises BudgetExceeded
    recorder = sess.recorder
    recorder.call_started()
    started_ns, t0 = time.time_ns(), time.perf_counter()
    trace_id = "tr-" + uuid.uuid4().hex
    mode = sess.settings.cache_mode
    attempts: list[dict[str, Any]] = []
    group = current_group()

    def record(call: PreparedCall, latency_s: float | None = None, **fields: Any) -> None:
        elapsed = time.perf_counter() - t0 if latency_s is None else latency_s
        _safely_record(recorder, CallRecord(
            record_id=uuid.uuid4().hex, trace_id=trace_id, started_at_ns=started_ns,
            ended_at_ns=started_ns + int(elapsed * 1e9), request=call.request.to_dict(), prompt=call.prompt_ref,
            experiment=sess.settings.experiment, estimated_input_tokens=call.estimated_input_tokens,
            group_id=group.id if group else None, group_name=group.name if group else None,
            route=plan.route, route_reason=plan.reason, attempts=attempts, **fields,
        ))

    def cached(call: PreparedCall) -> CachedAnswer | None:
        if not use_cache or mode == "off":
            return None
        return lookup(sess.cache, cache_key(call.request, call.provider.defaults))

    def answer_from_cache(call: PreparedCall, hit: CachedAnswer) -> Completion:
        completion = _from_cache(hit, call, trace_id, started_ns, time.perf_counter() - t0, plan.route)
        if on_text is not None:
            on_text(hit.text)
        record(call, completion.latency_s, status="OK", text=hit.text, usage=asdict(hit.usage), cost_usd=0.0,
               cached=True, original_latency_s=hit.latency_s, finish_reason=hit.finish_reason)
        sess.add_spend(0.0, hit.cost_usd, group.id if group else None)
        return completion

    # The primary's cache first; a fallback's cached answer is used only when falling back
    # (or in replay mode, where nothing may be sent).
    for call in plan.candidates if mode == "replay" else plan.candidates[:1]:
        hit = cached(call)
        if hit is not None:
            return answer_from_cache(call, hit)
    if use_cache and mode == "replay":
        error = E.CacheMiss(
            f"{first.request.model} is not in the cache and LLMOPS_CACHE=replay: run once with "
            "the cache in readwrite mode to record the answer. Nothing was sent."
        )
        record(first, status="ERROR", error_type="CacheMiss", error=str(error))
        raise error

    try:
        call, outcome = _first_answer(plan, sess, max_cost, t0, attempts, on_text, cached)
    except BaseException as exc:
        failed = plan.candidates[-1] if attempts else first
        record(failed, status="ERROR", error_type=type(exc).__name__, error=str(exc) or type(exc).__name__)
        raise
    if isinstance(outcome, CachedAnswer):
        return answer_from_cache(call, outcome)
    text, final, ttft = outcome
    latency = time.perf_counter() - t0
    price = price_of(final.usage, call.request.model)
    completion = Completion(
        text=text, model=call.request.model, provider=call.request.provider, usage=final.usage,
        cost_usd=price.cost_usd, latency_s=latency, ttft_s=ttft, cached=False, trace_id=trace_id,
        prompt=call.prompt_ref, finish_reason=final.finish_reason, started_at=started_ns / 1e9,
        notes=[price.note] if price.note else [], route=plan.route, attempts=attempts,
    )
    if use_cache and mode == "readwrite":
        store(sess.cache, cache_key(call.request, call.provider.defaults),
              CachedAnswer(text, final.usage, price.cost_usd, latency, ttft, final.finish_reason, trace_id))
    record(call, latency, status="OK", text=text, usage=asdict(final.usage), cost_usd=price.cost_usd,
           ttft_s=ttft, finish_reason=final.finish_reason, notes=completion.notes)
    sess.add_spend(price.cost_usd, None, group.id if group else None)
    return completion


def _first_answer(plan: CallPlan, sess: Session, max_cost: float | None, t0: float,
                  attempts: list[dict[str, Any]], on_text: TextCallback | None,
                  cached: Callable[[PreparedCall], CachedAnswer | None]
                  ) -> tuple[PreparedCall, tuple[str, Final, float | None] | CachedAnswer]:
    """Try the candidates in order (fallback), each with retries; the whole path goes to
    ``attempts``. Raises the last model's error when every model failed."""
    last: E.ProviderError | E.BudgetExceeded | None = None
    for index, call in enumerate(plan.candidates):
        if index:
            hit = cached(call)
            if hit is not None:
                return call, hit
            try:
                _check_budget(call, sess, max_cost)  # a fallback is checked before it is sent too
            except E.BudgetExceeded as exc:
                attempts.append({"model": call.request.model, "ok": False, "error_type": "BudgetExceeded",
                                 "error": str(exc), "duration_ms": 0.0})
                last = exc
                continue
        try:
            return call, _try_model(call, sess.settings, t0, attempts, on_text)
        except E.ProviderError as exc:
            last = exc
    assert last is not None
    raise last


def _try_model(call: PreparedCall, settings: Any, t0: float, attempts: list[dict[str, Any]],
               on_text: TextCallback | None) -> tuple[str, Final, float | None]:
    """One model: attempts through its breaker and rate limiter, retried by the one retry loop."""
    breaker = routing.breaker(call.request.model, settings)
    limiter = routing.limiter(call.request.model, settings)

    def note_retry(exc: BaseException, wait_s: float) -> None:
        attempts[-1]["retry_wait_s"] = wait_s
        if on_text is not None and attempts[-1].get("streamed"):
            on_text("\n\n↻ retrying…\n\n")  # the final rendering replaces the partial answer

    return routing.with_retries(
        lambda: _attempt(call, breaker, limiter, settings, t0, attempts, on_text), settings, note_retry)


def _attempt(call: PreparedCall, breaker: routing.CircuitBreaker, limiter: routing.RateLimiter | None,
             settings: Any, t0: float, attempts: list[dict[str, Any]],
             on_text: TextCallback | None) -> tuple[str, Final, float | None]:
    entry: dict[str, Any] = {"model": call.request.model, "ok": False}
    attempts.append(entry)
    a0 = time.perf_counter()

    def emit(piece: str) -> None:
        entry["streamed"] = True
        if on_text is not None:
            on_text(piece)

    try:
        breaker.before_call(call.request.model)
        if limiter is not None:
            output = int(call.request.params.get("max_tokens") or settings.assumed_output_tokens)
            entry["rate_limit_wait_s"] = limiter.acquire(call.estimated_input_tokens + output)
        result = _drive(call, settings.request_timeout_s, t0, emit if on_text is not None else None)
    except E.ProviderError as exc:
        if not isinstance(exc, E.CircuitOpen):
            breaker.record(False)
        entry.update(error_type=type(exc).__name__, error=str(exc))
        raise
    finally:
        entry["duration_ms"] = (time.perf_counter() - a0) * 1000
    breaker.record(True)
    entry["ok"] = True
    return result


def _safely_record(recorder: Any, record: CallRecord) -> None:
    try:
        recorder.record(record)
    except OSError as exc:  # the journal cannot be written (disk full?): the call still stands
        log.error("llmops_nb: could not journal call %s: %s", record.trace_id, exc)


def _drive(call: PreparedCall, timeout_s: float, t0: float,
           on_text: TextCallback | None) -> tuple[str, Final, float | None]:
    """Consume the provider's events; time to first token is measured on streams only."""
    parts: list[str] = []
    ttft: float | None = None
    final: Final | None = None
    for event in call.provider.generate(call.request, call.api_key, timeout_s):
        if isinstance(event, TextDelta):
            if ttft is None and call.request.stream:
                ttft = time.perf_counter() - t0
            parts.append(event.text)
            if on_text is not None:
                on_text(event.text)
        elif isinstance(event, Final):
            final = event
    if final is None:
        raise E.ProviderResponseError(f"{call.request.provider}: the answer ended without usage",
                                      provider=call.request.provider)
    return "".join(parts), final, ttft


def _from_cache(hit: CachedAnswer, call: PreparedCall, trace_id: str, started_ns: int,
                lookup_s: float, route: str | None = None) -> Completion:
    return Completion(
        text=hit.text, model=call.request.model, provider=call.request.provider, usage=hit.usage,
        cost_usd=0.0, latency_s=lookup_s, ttft_s=None, cached=True, trace_id=trace_id,
        prompt=call.prompt_ref, finish_reason=hit.finish_reason, original_latency_s=hit.latency_s,
        saved_usd=hit.cost_usd, started_at=started_ns / 1e9, route=route,
    )
