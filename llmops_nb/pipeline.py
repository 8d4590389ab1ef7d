"""The one path every call takes, and the only place that knows its order::

    request ─► prompt assembly ({{vars}}, registry version) ─► input guardrails (block/redact)
            ─► route (models to try, budgets) ─► cache lookup ─► provider call (stream,
            retries, breaker, rate limit, fallback) ─► output guardrails ─► record ─► Completion

(DESIGN.md puts the input guardrails first; they run after prompt assembly here because they
must see the rendered prompt — a template's ``{{email}}`` is not an e-mail address yet — and
before routing, so that no model, estimate or cache key ever sees a redacted value.)

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
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from llmops_nb import errors as E
from llmops_nb import routing
from llmops_nb.cache import CachedAnswer, cache_key, lookup, store
from llmops_nb.cutoff import CUT_FINISH_REASONS, Cut, why_cut
from llmops_nb.groups import current_group
from llmops_nb.pricing import price_of, warn_if_deprecated
from llmops_nb.prompt_version import PromptVersion
from llmops_nb.providers.base import Final, Provider, TextDelta, get_provider, split_model_id, warm
from llmops_nb.session import Session, session
from llmops_nb.templates import render
from llmops_nb.tokens import PromptTokens
from llmops_nb.types import ROLES, CallRecord, Completion, Finding, Message, Request, Usage

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
    prompt_tokens: PromptTokens = PromptTokens.of(0)  # bound now, exact count when a check needs it

    @property
    def estimated_input_tokens(self) -> int:
        """The prompt's tokens counted offline (builds the encoding if not counted yet)."""
        return self.prompt_tokens.exact


class _Checked(tuple):  # type: ignore[type-arg]
    """Messages :func:`to_messages` already normalised and checked (none is a system message)."""

    __slots__ = ()


def to_messages(prompt: str | Iterable[Mapping[str, Any] | Message],
                system: str | None) -> tuple[tuple[Message, ...], str | None]:
    """Normalise a prompt string or message list; system messages join the system prompt.
    Messages it returned are not checked again (a call's messages pass here up to three times)."""
    if type(prompt) is _Checked:
        return prompt, system or None
    return _normalise(prompt, system)


def _normalise(prompt: str | Iterable[Mapping[str, Any] | Message],
               system: str | None) -> tuple[tuple[Message, ...], str | None]:
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
        if m.role == "system":
            systems.append(m.content)
        else:
            messages.append(m)
    if not messages or not any(m.content.strip() for m in messages):
        raise E.ConfigError("the prompt is empty: write the prompt in the cell (or pass text). Nothing was sent.")
    return _Checked(messages), ("\n\n".join(systems) if systems else None)


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
    estimate: PromptTokens | None = None,
) -> PreparedCall:
    """Validate a call and resolve its provider and key; raises before anything is sent.
    ``estimate``: the prompt's tokens of this model's request when planning already has them
    (so they are counted once)."""
    sess = sess or session()
    model = model or sess.settings.default_model
    provider_name, model_name = split_model_id(model)
    provider = get_provider(provider_name)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    _check_params(params)
    provider_check = getattr(provider, "check_params", None)  # optional: what this provider cannot send
    if provider_check is not None:
        provider_check(params)
    messages, system = to_messages(prompt, system)
    api_key = os.environ.get(provider.key_env) if provider.key_env else None
    if provider.key_required and not api_key:
        raise E.MissingAPIKey(provider_name, provider.key_env or "")
    request = Request(
        model=f"{provider_name}:{model_name}",
        provider=provider_name,
        model_name=model_name,
        messages=tuple(messages),
        system=system,
        params=params,
        stream=stream,
    )
    return PreparedCall(provider, request, api_key, prompt_ref,
                        estimate_input_tokens(request) if estimate is None else estimate)


def estimate_input_tokens(request: Request) -> PromptTokens:
    """The prompt's size in tokens, counted offline (exact for OpenAI encodings, an estimate
    for other providers, whose own count arrives with the answer) when a check needs it."""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if request.system:
        messages.insert(0, {"role": "system", "content": request.system})
    return PromptTokens(messages, request.model)


INHERIT: Any = object()  # "use the configured value" (None means off)


@dataclass
class Guards:
    """Guardrails of one call: the input result (redacted messages, placeholder mapping) and
    what the answer will be checked for. Only ``findings`` (hashes, never values) leave it."""

    policy: Any
    input: Any
    messages: tuple[Message, ...]
    system: str | None
    context: str | list[str] | None = None
    json_schema: dict[str, Any] | None = None
    expect_json: bool = False
    originals: tuple[str, ...] = field(default=(), repr=False)  # the prompt's texts as written (raw values)
    roles: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def start(cls, guard: Any, messages: tuple[Message, ...], system: str | None, *,
              context: str | list[str] | None, json_schema: dict[str, Any] | None,
              expect_json: bool = False) -> Guards | None:
        """Scan the rendered prompt (system first) with the built-in families; None when
        guardrails are off. The policy's model-backed scanners come with :meth:`run_scanners`."""
        if guard is INHERIT:
            guard = session().settings.guardrails
        if guard is None or guard == "off":
            return None
        from llmops_nb import guardrails

        policy = guardrails.get_policy(guard)
        texts = ([system] if system else []) + [m.content for m in messages]
        result = _SCANS.get_or_scan(policy, ("input", tuple(texts)),
                                    lambda: guardrails.guard_input(texts, policy, scanners=False))
        guards = cls(policy, result, messages, system, context, json_schema, expect_json, tuple(texts),
                     tuple(m.role for m in messages))
        guards._use(result)
        return guards

    def _use(self, result: Any) -> None:
        """Take ``result`` as the input's: the messages to send are its texts (when it blocks, the
        originals redacted at every finding: what is recorded of a prompt that is not sent)."""
        from llmops_nb import guardrails

        safe = result.texts
        if result.blocked:  # nothing is sent, but the attempt is recorded: without the values
            safe = [guardrails.redact(t, fs)[0] for t, fs in zip(self.originals, result.findings_by_text, strict=True)]
        self.input = result
        has_system = len(self.originals) > len(self.roles)
        self.system = safe[0] if has_system else None
        rest = safe[1:] if has_system else safe
        self.messages = tuple(Message(role, t) for role, t in zip(self.roles, rest, strict=True))

    @property
    def scanners_pending(self) -> bool:
        """Whether the policy has model-backed scanners to read the prompt (not one the built-ins block)."""
        return bool(self.policy.scanners) and not self.input.blocked

    def run_scanners(self) -> bool:
        """Run the policy's model-backed scanners on the redacted prompt (see
        :func:`llmops_nb.guardrails.run_scanners`); True when that changed the messages."""
        from llmops_nb import guardrails

        before = (self.system, self.messages)
        self._use(guardrails.run_scanners(self.input, list(self.originals), self.policy))
        return (self.system, self.messages) != before

    def check_answer(self, raw: str) -> tuple[str, str, list[Finding], Any]:
        """(text for the record, text for the user, findings, output result) of a raw answer:
        leaks redacted for everyone, the input's placeholders restored for the user only."""
        from llmops_nb import guardrails

        def scan() -> Any:
            return guardrails.guard_output(raw, self.policy, context=self.context, json_schema=self.json_schema,
                                           expect_json=self.expect_json, mapping=self.input.mapping, scanners=False)

        if self.context is None and self.json_schema is None and not self.expect_json:
            out = _SCANS.get_or_scan(self.policy, ("output", raw, tuple(sorted(self.input.mapping.items()))), scan)
        else:
            out = scan()
        out = guardrails.run_scanners(out, [raw], self.policy, mapping=self.input.mapping)
        found = self.input.findings + [replace(f, direction="output") for f in out.findings]
        return out.text, guardrails.restore(out.text, self.input.mapping), found, out


class _ScanMemo:
    """The guardrail results of the texts scanned lately, per policy, so the same text is not
    scanned twice: a prompt sent again (a re-run cell, a cache hit) and an answer served again
    from the cache cost a dictionary lookup. The built-in scanners are pure functions of the
    text and the policy (a policy's model-backed scanners are never memoised: they run after
    the memo, see :meth:`Guards.run_scanners`); long texts are always scanned (the memo keeps
    at most ``size`` entries of ``max_chars`` characters each). Results are shared: the
    pipeline never mutates them."""

    def __init__(self, size: int = 256, max_chars: int = 16_000) -> None:
        self.size, self.max_chars = size, max_chars
        self._items: OrderedDict[tuple[int, Any], tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_scan(self, policy: Any, key: tuple[Any, ...], scan: Callable[[], Any]) -> Any:
        if sum(len(t) for t in _texts(key)) > self.max_chars:
            return scan()
        full = (id(policy), key)
        with self._lock:
            hit = self._items.get(full)
            if hit is not None and hit[0] is policy:  # the same policy object, not a reused id
                self._items.move_to_end(full)
                return hit[1]
        result = scan()
        with self._lock:
            self._items[full] = (policy, result)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _texts(key: tuple[Any, ...]) -> list[str]:
    direction, texts = key[0], key[1]
    return list(texts) if direction == "input" else [texts]


_SCANS = _ScanMemo()


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
    guard: Any = INHERIT,
    context: str | list[str] | None = None,
    json_schema: dict[str, Any] | None = None,
    expect_json: bool = False,
    **params: Any,
) -> Completion:
    """Send one prompt (text, chat messages or a registered :class:`PromptVersion`) to ``model``.

    ``model`` is ``provider:model`` or ``route:NAME`` (None: the prompt version's default model,
    else the configured default). ``variables`` fill ``{{names}}`` in a prompt version or a text
    prompt. ``stream=True`` streams the answer (``on_text`` receives each piece) and measures
    time to first token. ``cache=False`` skips the cache for this call. ``max_cost`` (USD) is
    this call's budget, checked with the pre-call estimate; ``complexity`` is a hint for
    ``route:auto``. ``guard`` is the guardrail policy (``"default"``, ``"strict"``, a
    :class:`~llmops_nb.guardrails.Policy`; None or ``"off"``: no guardrails; omitted: the
    configured one); ``context`` (for the groundedness check), ``json_schema`` and
    ``expect_json`` (the answer must be JSON) feed the output
    checks. Other keyword arguments are passed to the provider as sampling parameters.
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
    messages, system = to_messages(prompt_or_messages, system)
    guards = Guards.start(guard, messages, system, context=context, json_schema=json_schema,
                          expect_json=expect_json)
    if guards is not None:  # the provider, the cache and MLflow only ever see redacted text
        messages, system = guards.messages, guards.system
    plan = plan_call(model, messages, system=system, stream=stream, params=params,
                     prompt_ref=prompt_ref, complexity=complexity)
    if guards is not None and guards.scanners_pending:
        # a model-backed scanner's request costs: only for a valid call within its budget
        _check_budget(plan.candidates[0], session(), max_cost)
        if guards.run_scanners():  # a scanner's redaction changed what is sent: plan that
            plan = plan_call(model, guards.messages, system=guards.system, stream=stream, params=params,
                             prompt_ref=prompt_ref, complexity=complexity)
    return execute(plan, use_cache=cache, on_text=on_text, max_cost=max_cost, guards=guards)


async def acomplete(*args: Any, **kwargs: Any) -> Completion:
    """:func:`complete` for asyncio: the same flow, run in a worker thread."""
    return await asyncio.to_thread(complete, *args, **kwargs)


@dataclass(frozen=True)
class CallPlan:
    """The models to try for one call, in order, each validated; and why these."""

    candidates: tuple[PreparedCall, ...]
    route: str | None
    reason: str
    unknown_windows: frozenset[str] = frozenset()  # their context window was not checked
    fallback_text: str | None = None  # the route's planned answer when every model fails


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
                            params.get("max_tokens"), sess.settings)
    candidates, skipped, first_error = [], [], None
    for entry in choice.entries:
        warn_if_deprecated(entry.model, sess)  # once per session and model
        try:
            candidates.append(prepare(entry.model, prompt, system=system, stream=stream,
                                      params={**entry.params, **params}, prompt_ref=prompt_ref, sess=sess,
                                      estimate=estimate if entry.model == model else None))  # counted once
        except E.MissingAPIKey as exc:
            if choice.route is None:
                raise
            first_error = first_error or exc
            skipped.append(f"{entry.model} ({exc.variable} not set)")
    if not candidates:
        raise first_error or E.ConfigError("no model to call")
    reason = choice.reason + (f"; skipped {', '.join(skipped)}" if skipped else "")
    return CallPlan(tuple(candidates), choice.route, reason,  # the reason also lands on Completion
                    frozenset(choice.unknown_windows), choice.fallback_text)


def estimated_cost(call: PreparedCall, assumed_output_tokens: int, *, exact: bool = True) -> float | None:
    """The pre-call cost estimate: counted input (``exact=False``: its upper bound, no
    tokenizer), and max_tokens (or the assumed) output."""
    output = int(call.request.params.get("max_tokens") or assumed_output_tokens)
    tokens = call.prompt_tokens.exact if exact else call.prompt_tokens.at_most
    return price_of(Usage(input_tokens=tokens, output_tokens=output), call.request.model).cost_usd


def _check_budget(call: PreparedCall, sess: Session, max_cost: float | None) -> None:
    group = current_group()
    settings = sess.settings
    if max_cost is None and settings.budget_usd is None and (group is None or group.budget_usd is None):
        return  # no budget to check (the common call): not even the session's spend is read
    left = sess.spend()["remaining_usd"]
    group_left = None
    if group is not None and group.budget_usd is not None:
        group_left = group.budget_usd - sess.group_spent(group.id)
    if max_cost is None and group_left is None and left is None:
        return
    budgets = {"max_cost": max_cost, "group_left": group_left, "session_left": left}
    try:  # the bound's cost fits every budget: no need to count the prompt's tokens
        routing.check_budgets(estimated_cost(call, settings.assumed_output_tokens, exact=False), **budgets)
    except E.BudgetExceeded:
        routing.check_budgets(estimated_cost(call, settings.assumed_output_tokens), **budgets)


def execute(plan: CallPlan | PreparedCall, *, use_cache: bool = True, on_text: TextCallback | None = None,
            max_cost: float | None = None, guards: Guards | None = None, sess: Session | None = None) -> Completion:
    """Run a planned call: guard, cache, then each candidate with retries, breaker and rate limit,
    then the output guard; recorded whatever happens."""
    if isinstance(plan, PreparedCall):
        plan = CallPlan((plan,), None, "model id")
    run = _Run(plan, sess or session(), guards, on_text)
    if guards is not None and guards.input.blocked:  # nothing is sent; the attempt is recorded
        run.fail(plan.candidates[0], E.GuardrailBlocked(guards.input.findings, "input"), guards.input.findings)
    run.check_budget(plan.candidates[0], max_cost)  # before anything is sent
    mode = run.sess.settings.cache_mode
    cached = run.cached if use_cache and mode != "off" else (lambda call: None)
    # The primary's cache first; a fallback's cached answer is used only when falling back
    # (or in replay mode, where nothing may be sent).
    for call in plan.candidates if mode == "replay" else plan.candidates[:1]:
        hit = cached(call)
        if hit is not None:
            return run.answer_from_cache(call, hit)
    if use_cache and mode == "replay":
        run.fail(plan.candidates[0], E.CacheMiss(
            f"{plan.candidates[0].request.model} is not in the cache and LLMOPS_CACHE=replay: run once with "
            "the cache in readwrite mode to record the answer. Nothing was sent."))
    run.start_clock(plan.candidates[0])  # after the SDK's start-up: latency is provider + wire
    run.sess.call_started(run.trace_id)  # being sent (start-up done); from here on, every exit records the call
    try:
        call, outcome = _first_answer(plan, run.sess, max_cost, run.t0, run.attempts, on_text, cached)
    except BaseException as exc:
        if plan.fallback_text is not None and isinstance(exc, (E.ProviderError, E.BudgetExceeded)):
            return run.fallback(plan.candidates[-1], exc)  # planned: the caller gets the route's answer
        run.record(plan.candidates[-1] if run.attempts else plan.candidates[0], status="ERROR",
                   error_type=type(exc).__name__, error=str(exc) or type(exc).__name__)
        if isinstance(exc, Exception):
            exc.trace_id = run.trace_id  # type: ignore[attr-defined]
        raise
    if isinstance(outcome, CachedAnswer):
        return run.answer_from_cache(call, outcome)
    return run.answer(call, *outcome, store_in_cache=use_cache and mode == "readwrite")


class _Run:
    """The state of one call between its start and its record."""

    def __init__(self, plan: CallPlan, sess: Session, guards: Guards | None, on_text: TextCallback | None):
        self.plan, self.sess, self.guards, self.on_text = plan, sess, guards, on_text
        self.recorder = sess.recorder
        self.recorder.call_started()
        self.started_ns, self.t0 = time.time_ns(), time.perf_counter()
        self.trace_id = "tr-" + uuid.uuid4().hex
        self.attempts: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.group = current_group()
        self._keys: dict[int, tuple[PreparedCall, str]] = {}  # the cache key of each call, made once
        self.output_calls: list[Any] = []  # the output guard's model-backed scanner calls
        if guards is not None:  # the prompt's scanner calls are made: spent, before the budget check sees it
            self.spend_on_guards(guards.input.calls)

    def spend_on_guards(self, calls: list[Any]) -> None:
        """Count what model-backed guardrail scanner calls cost, as soon as they are made (whatever the call's outcome)."""
        if calls:
            self.sess.add_guard_spend([c.cost_usd for c in calls], self.group.id if self.group else None)

    def check_budget(self, call: PreparedCall, max_cost: float | None) -> None:
        """:func:`_check_budget`; a refused call whose prompt a guardrail model has read already
        is recorded (that was paid: counted in the spend)."""
        try:
            _check_budget(call, self.sess, max_cost)
        except E.BudgetExceeded as exc:
            if self.guards is not None and self.guards.input.calls:
                self.fail(call, exc)
            raise

    def cache_key(self, call: PreparedCall) -> str:
        """``call``'s cache key (the lookup's and the store's: computed once per call)."""
        known = self._keys.get(id(call))
        if known is None or known[0] is not call:
            known = self._keys[id(call)] = (call, cache_key(call.request, call.provider.defaults))
        return known[1]

    def start_clock(self, call: PreparedCall) -> None:
        """Warm the provider (SDK import, client), then start timing the call."""
        warm(call.provider, call.api_key, self.sess.settings.request_timeout_s, call.request)
        self.t0 = time.perf_counter()

    def record(self, call: PreparedCall, latency_s: float | None = None, **fields: Any) -> None:
        elapsed = time.perf_counter() - self.t0 if latency_s is None else latency_s
        group = self.group
        cut = [a["cut_off"] for a in self.attempts if "cut_off" in a]
        if cut:
            fields = _with_cut_off(cut, fields)
        record = CallRecord(
            record_id=uuid.uuid4().hex, trace_id=self.trace_id, started_at_ns=self.started_ns,
            ended_at_ns=self.started_ns + int(elapsed * 1e9), request=call.request.to_dict(),
            prompt=call.prompt_ref, experiment=self.sess.settings.experiment,
            estimated_input_tokens=call.prompt_tokens.counted,
            group_id=group.id if group else None, group_name=group.name if group else None,
            route=self.plan.route, route_reason=self.plan.reason, attempts=self.attempts,
            user=self.sess.settings.resolved_user, guard_calls=self._guard_calls(), **fields,
        )
        _safely_record(self.recorder, record)
        self.sess.note_call(record)
        if cut:  # what the attempts cut off mid-answer generated is billed: spent (estimated)
            cost = None if any(c["cost_usd"] is None for c in cut) else sum(c["cost_usd"] for c in cut)
            if record.usage_estimated:  # no answer: the call's cost is that of its cut-off attempts
                self.sess.add_spend(cost, None, group.id if group else None, estimated=True)
            else:  # counted besides the answer's own price
                self.sess.add_cut_off_spend(cost, group.id if group else None)

    def fail(self, call: PreparedCall, error: Exception, findings: list[Finding] | None = None,
             **fields: Any) -> NoReturn:
        """Record ``error`` as this call's outcome (with ``fields``) and raise it."""
        self.record(call, status="ERROR", error_type=type(error).__name__, error=str(error),
                    findings=[_fields(f) for f in findings or []], **fields)
        error.trace_id = self.trace_id  # type: ignore[attr-defined]  # which trace holds the failure
        raise error

    def cached(self, call: PreparedCall) -> CachedAnswer | None:
        return lookup(self.sess.cache, self.cache_key(call))

    def _checked(self, call: PreparedCall, raw: str, paid: dict[str, Any]) -> tuple[str, str, list[Finding]]:
        """(text to record, text for the user, findings) after the output guardrails; their
        notes (why a schema check failed, the groundedness score) go to ``self.notes``. An
        answer they withhold was still answered: its record keeps ``paid`` (usage, cost, time
        to first token …) and its cost is spent."""
        if self.guards is None:
            return raw, raw, []
        recorded, shown, findings, out = self.guards.check_answer(raw)
        self.notes, self.output_calls = list(out.notes), out.calls
        self.spend_on_guards(out.calls)
        if out.blocked:
            cost = 0.0 if paid.get("cached") else paid.get("cost_usd")
            self.sess.add_spend(cost, None, self.group.id if self.group else None)
            self.fail(call, E.GuardrailBlocked(out.findings, "output", cost_usd=cost), findings, **paid)
        return recorded, shown, findings

    def _guard_calls(self) -> list[dict[str, Any]]:
        """The calls model-backed scanners made for this call (input, then output), as recorded."""
        if self.guards is None or not (self.guards.input.calls or self.output_calls):
            return []
        from llmops_nb.guardrails.scanner_calls import as_record

        return ([as_record(c, "input") for c in self.guards.input.calls]
                + [as_record(c, "output") for c in self.output_calls])

    def _guard_cost_on(self, completion: Completion) -> None:
        """The guardrail models' calls for this call, and their cost, on ``completion`` (its footer says them)."""
        calls = self._guard_calls()
        if calls:
            from llmops_nb.guardrails.scanner_calls import total_cost

            completion.guard_calls, completion.guard_cost_usd = len(calls), total_cost(calls)

    def _placeholders(self) -> dict[str, str]:
        return dict(self.guards.input.mapping) if self.guards is not None else {}

    def answer_from_cache(self, call: PreparedCall, hit: CachedAnswer) -> Completion:
        recorded, shown, findings = self._checked(call, hit.text, {
            "usage": _fields(hit.usage), "cost_usd": 0.0, "cached": True, "original_latency_s": hit.latency_s,
            "finish_reason": hit.finish_reason})
        completion = _from_cache(hit, call, self.trace_id, self.started_ns, time.perf_counter() - self.t0,
                                 self.plan.route)
        completion.text, completion.findings, completion.route_reason = shown, findings, self.plan.reason
        completion.notes = self.notes
        cut = self._cut(call, hit.finish_reason, hit.usage, None)
        completion.cut_by, completion.cut_detail = (cut.by, cut.detail) if cut else (None, None)
        completion.recorded_text, completion.placeholders = recorded, self._placeholders()
        self._guard_cost_on(completion)
        if self.on_text is not None:
            self.on_text(shown)
        self.record(call, completion.latency_s, status="OK", text=recorded, usage=_fields(hit.usage),
                    cost_usd=0.0, cached=True, original_latency_s=hit.latency_s, finish_reason=hit.finish_reason,
                    findings=[_fields(f) for f in findings], cut_by=completion.cut_by,
                    cut_detail=completion.cut_detail)
        self.sess.add_spend(0.0, hit.cost_usd, self.group.id if self.group else None)
        return completion

    def _cut(self, call: PreparedCall, finish_reason: str | None, usage: Usage, window: int | None) -> Cut | None:
        """Which limit cut the answer (the provider's window first, then the configured one)."""
        if finish_reason not in CUT_FINISH_REASONS:
            return None
        window = window or routing.context_window(call.request.model, self.sess.settings)
        max_tokens = call.request.params.get("max_tokens", call.provider.defaults.get("max_tokens"))
        return why_cut(finish_reason, usage, max_tokens, window)

    def fallback(self, call: PreparedCall, error: Exception) -> Completion:
        """Every model failed and the route planned an answer: return it, flagged, and record
        the call as failed (with every attempt, and why) — the models did not answer."""
        text = self.plan.fallback_text or ""
        why = (f"fallback answer: every model of route {self.plan.route!r} failed "
               f"(last: {type(error).__name__}: {error})")
        latency = time.perf_counter() - self.t0
        completion = Completion(
            text=text, model=f"{routing.ROUTE_PREFIX}{self.plan.route}", provider="", usage=Usage(), cost_usd=0.0,
            latency_s=latency, fallback=True, trace_id=self.trace_id, prompt=call.prompt_ref,
            started_at=self.started_ns / 1e9, notes=[why], route=self.plan.route, attempts=self.attempts,
            route_reason=self.plan.reason)
        if self.on_text is not None:
            self.on_text(text)
        self.record(call, latency, status="ERROR", text=text, error_type=type(error).__name__, error=str(error),
                    notes=[why])
        return completion

    def _window_note(self, call: PreparedCall) -> list[str]:
        model = call.request.model
        return [routing.unknown_window_note(model)] if model in self.plan.unknown_windows else []

    def answer(self, call: PreparedCall, raw: str, final: Final, ttft: float | None, *,
               store_in_cache: bool) -> Completion:
        latency = time.perf_counter() - self.t0
        price = price_of(final.usage, call.request.model)
        recorded, shown, findings = self._checked(call, raw, {
            "usage": _fields(final.usage), "cost_usd": price.cost_usd, "ttft_s": ttft,
            "finish_reason": final.finish_reason, "cost_simulated": price.simulated})
        if store_in_cache:  # as recorded: the input's placeholders, leaks redacted, no user values
            store(self.sess.cache, self.cache_key(call),
                  CachedAnswer(recorded, final.usage, price.cost_usd, latency, ttft, final.finish_reason,
                               self.trace_id))
        # a missing price is said once per model per session (the footer says "cost unknown" each time)
        price_note = [price.note] if price.note else []
        shown_note = price_note if price_note and self.sess.first_time(("price note", call.request.model)) else []
        window_note = self._window_note(call)  # recorded each time, shown once per model per session
        if window_note and self.sess.first_time(("window note", call.request.model)):
            shown_note = shown_note + window_note
        cut = self._cut(call, final.finish_reason, final.usage, final.context_window)
        completion = Completion(
            text=shown, model=call.request.model, provider=call.request.provider, usage=final.usage,
            cost_usd=price.cost_usd, latency_s=latency, ttft_s=ttft, cached=False, trace_id=self.trace_id,
            prompt=call.prompt_ref, finish_reason=final.finish_reason, started_at=self.started_ns / 1e9,
            notes=shown_note + self.notes, route=self.plan.route, attempts=self.attempts,
            findings=findings, route_reason=self.plan.reason, cost_simulated=price.simulated,
            cut_by=cut.by if cut else None, cut_detail=cut.detail if cut else None,
            recorded_text=recorded, placeholders=self._placeholders(),
        )
        self._guard_cost_on(completion)
        self.record(call, latency, status="OK", text=recorded, usage=_fields(final.usage), cost_usd=price.cost_usd,
                    ttft_s=ttft, finish_reason=final.finish_reason, notes=price_note + window_note + self.notes,
                    findings=[_fields(f) for f in findings], cost_simulated=price.simulated,
                    cut_by=completion.cut_by, cut_detail=completion.cut_detail)
        self.sess.add_spend(price.cost_usd, None, self.group.id if self.group else None)
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

    parts: list[str] = []  # the answer's text as it arrives
    try:
        with breaker.calling(call.request.model):  # the breaker learns how it ended, whatever ends it
            if limiter is not None:
                output = int(call.request.params.get("max_tokens") or settings.assumed_output_tokens)
                entry["rate_limit_wait_s"] = limiter.acquire(call.estimated_input_tokens + output)
            result = _drive(call, settings.request_timeout_s, t0, emit if on_text is not None else None, parts)
    except BaseException as exc:
        if isinstance(exc, E.ProviderError):
            entry.update(error_type=type(exc).__name__, error=str(exc))
        if parts:  # cut off mid-answer (an interrupt, a dropped stream): what it generated is billed
            entry["cut_off"] = _cut_off_usage(call, parts)
        raise
    finally:
        entry["duration_ms"] = (time.perf_counter() - a0) * 1000
    entry["ok"] = True
    return result


def _with_cut_off(cut: list[dict[str, Any]], fields: dict[str, Any]) -> dict[str, Any]:
    """A record's fields with what its attempts cut off mid-answer used: said in a note; and for a
    call that got no answer, its usage and cost (estimated: see :func:`_cut_off_usage`)."""
    tokens_in, tokens_out = sum(c["input_tokens"] for c in cut), sum(c["output_tokens"] for c in cut)
    costs = [c["cost_usd"] for c in cut]
    cost = None if None in costs else sum(costs)
    what = f"{len(cut)} attempt{'s' if len(cut) > 1 else ''} cut off mid-answer"
    price = "no known price" if cost is None else f"${cost:.6f}"
    note = (f"{what} after {sum(c['chars'] for c in cut)} characters: about {tokens_in} prompt and {tokens_out} "
            f"answer tokens, {price}, estimated (the provider's usage never arrived) and counted in the spend")
    out = {**fields, "notes": [*fields.get("notes", []), note]}
    if fields.get("status") != "OK" and not fields.get("usage"):
        out.update(usage={"input_tokens": tokens_in, "output_tokens": tokens_out}, cost_usd=cost, usage_estimated=True)
    return out


def _cut_off_usage(call: PreparedCall, parts: list[str]) -> dict[str, Any]:
    """What an attempt cut off mid-answer used, estimated (the provider's usage comes at the end
    of an answer, so it never arrived): the prompt's tokens and those of the text received, the
    cost of that; never the text itself (it was not checked by the output guardrails)."""
    from llmops_nb.tokens import count_tokens

    model = call.request.model
    received = "".join(parts)
    try:
        usage = Usage(input_tokens=call.prompt_tokens.exact, output_tokens=count_tokens(received, model))
    except Exception:  # noqa: BLE001 - no encoding for it: a count by bytes, as the pre-call bound
        usage = Usage(input_tokens=call.estimated_input_tokens, output_tokens=len(received.encode("utf-8", "replace")))
    price = price_of(usage, model)
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "chars": len(received),
            "cost_usd": price.cost_usd}


def _fields(obj: Any) -> dict[str, Any]:
    """A flat dataclass (Usage, Finding: scalar fields) as a dict: ``asdict`` without its deep copy."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def _safely_record(recorder: Any, record: CallRecord) -> None:
    try:
        recorder.record(record)
    except OSError as exc:  # the journal cannot be written (disk full?): the call still stands
        log.error("llmops_nb: could not journal call %s: %s", record.trace_id, exc)


def _drive(call: PreparedCall, timeout_s: float, t0: float, on_text: TextCallback | None,
           parts: list[str] | None = None) -> tuple[str, Final, float | None]:
    """Consume the provider's events (the text into ``parts``, which the caller may keep to see
    what arrived before a failure); time to first token is measured on streams only."""
    parts = [] if parts is None else parts
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
