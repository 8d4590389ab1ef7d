"""``sim:`` — an offline simulated provider, so every notebook and demo runs without keys.

The same request always gets the same answer. Usage is counted with the o200k encoding (as an
OpenAI model would report it), time to first token and speed are configurable, and failures can
be injected to demonstrate resilience::

    from llmops_nb.providers import sim
    sim.configure_model("flaky", failures=["429", "500", "ok"], retry_after_s=0.2)
    sim.configure_model("slow", ttft_s=0.8, tokens_per_s=40)

Model names with a built-in behaviour: ``sim:echo`` repeats the last user message, ``sim:json``
answers a JSON object. Any other name answers deterministic prose about the prompt, unless
``respond=`` gives it a function of the request (a stand-in whose answer follows the
instruction, e.g. for optimising a prompt offline)::

    sim.configure_model("literal", respond=lambda request: request.messages[-1].content.upper())

What a simulated call costs: ``sim:<real model>`` costs what that model would (genai-prices);
any other ``sim:`` model is priced at the simulator's reference price, :data:`REFERENCE_PRICE`
(USD 0.15 per million input tokens, 0.60 per million output tokens: gpt-4o-mini's rates, the
o200k usage the simulator reports), and its footer says ``simulated``. ``set_price("sim:*", ...)``
overrides it; ``configure_model(name, priced=False)`` makes a model unpriced (to see how an
unknown price is shown).

A context window can be simulated too: ``configure_model("tiny", context_window=512)`` stops
an answer where prompt plus answer fill 512 tokens (``finish_reason`` ``"length"``), as a local
server with a small context does.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmops_nb import errors as E
from llmops_nb.providers.events import Final, ProviderEvent, TextDelta
from llmops_nb.types import Request, Usage

FAILURES = ("429", "500", "503", "timeout", "connection", "ok")
REFERENCE_PRICE = (0.15, 0.60)  # USD per million input, output tokens (see the module docstring)
_WORDS = ["model", "prompt", "token", "cost", "latency", "cache", "trace", "version", "notebook", "answer", "context", "evaluation", "signal", "quality", "budget", "route", "fallback", "result", "metric", "sample", "variance", "summary", "detail", "example", "step", "reason", "input", "output", "guardrail", "policy", "review", "baseline", "experiment", "data"]


@dataclass
class SimBehaviour:
    """How one ``sim:<name>`` model behaves."""

    ttft_s: float = 0.05
    tokens_per_s: float = 400.0
    failures: list[str] = field(default_factory=list)  # consumed one per call, in order
    fail_rate: float = 0.0  # then this share of calls fails with ``fail_with``
    fail_with: str = "500"
    retry_after_s: float | None = None
    reply: str | None = None  # fixed answer text
    respond: Callable[[Request], str] | None = None  # answer = respond(request), deterministic
    seed: int = 0
    priced: bool = True  # False: no price (unless set_price gives one)
    context_window: int | None = None  # prompt + answer tokens; None: unlimited
    rng: random.Random = field(default_factory=random.Random, repr=False)


_behaviours: dict[str, SimBehaviour] = {}
_lock = threading.Lock()


def configure_model(name: str, **behaviour: Any) -> SimBehaviour:
    """Set how ``sim:<name>`` behaves (see :class:`SimBehaviour`); returns the behaviour."""
    for failure in list(behaviour.get("failures", [])) + [behaviour.get("fail_with", "500")]:
        if failure not in FAILURES:
            raise E.ConfigError(f"sim failure {failure!r} is not one of {FAILURES}")
    with _lock:
        sb = SimBehaviour(**behaviour)
        sb.failures = list(sb.failures)
        sb.rng.seed(sb.seed)
        _behaviours[name] = sb
        return sb


def reset() -> None:
    """Forget every configured behaviour."""
    with _lock:
        _behaviours.clear()


def _behaviour(name: str) -> SimBehaviour:
    with _lock:
        return _behaviours.setdefault(name, SimBehaviour())


def reference_cost(model_name: str, usage: Usage) -> float | None:
    """What ``usage`` costs on ``sim:<model_name>`` at :data:`REFERENCE_PRICE` (None when the
    model was configured ``priced=False``)."""
    with _lock:
        sb = _behaviours.get(model_name)
    if sb is not None and not sb.priced:
        return None
    per_in, per_out = REFERENCE_PRICE
    return (usage.input_tokens * per_in + usage.output_tokens * per_out) / 1e6


def context_window(model_name: str) -> int | None:
    """The simulated context window of ``sim:<model_name>``, if one was configured."""
    with _lock:
        sb = _behaviours.get(model_name)
    return None if sb is None else sb.context_window


def _next_failure(sb: SimBehaviour) -> str:
    with _lock:
        if sb.failures:
            return sb.failures.pop(0)
        if sb.fail_rate and sb.rng.random() < sb.fail_rate:
            return sb.fail_with
        return "ok"


def _raise(failure: str, sb: SimBehaviour, provider: str) -> None:
    if failure == "429":
        raise E.RateLimited("sim: HTTP 429 rate limited (injected)", provider=provider, status=429,
                            retry_after=sb.retry_after_s)
    if failure in ("500", "503"):
        raise E.ProviderUnavailable(f"sim: HTTP {failure} (injected)", provider=provider,
                                    status=int(failure), retry_after=sb.retry_after_s)
    if failure == "timeout":
        raise E.ProviderTimeout("sim: request timed out (injected)", provider=provider)
    raise E.ProviderConnectionError("sim: connection reset (injected)", provider=provider)


def answer_text(request: Request) -> str:
    """The deterministic answer for ``request``."""
    sb = _behaviours.get(request.model_name)
    if sb is not None and sb.reply is not None:
        return sb.reply
    if sb is not None and sb.respond is not None:
        return str(sb.respond(request))
    last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    if request.model_name == "echo":
        return last_user
    what = {k: v for k, v in request.to_dict().items() if k != "stream"}  # stream: same answer
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).digest()
    rng = random.Random(digest)
    if request.model_name == "json":
        return json.dumps({"answer": rng.choice(_WORDS), "confidence": round(rng.random(), 2),
                           "tags": rng.sample(_WORDS, 3)})
    topic = " ".join(last_user.split()[:8]) or "your request"
    sentences = [f"Simulated answer ({request.model_name}) to “{topic}”."]
    for _ in range(rng.randint(2, 5)):
        words = rng.sample(_WORDS, rng.randint(6, 12))
        sentences.append(words[0].capitalize() + " " + " ".join(words[1:]) + ".")
    return " ".join(sentences)


class SimProvider:
    """The offline simulator behind ``sim:`` ids."""

    defaults: Mapping[str, Any] = {"temperature": 1.0}
    key_env: str | None = None
    key_required = False
    base_url: str | None = None

    def __init__(self, name: str = "sim") -> None:
        self.name = name

    def warm(self, api_key: str | None, timeout_s: float) -> None:
        """Build the o200k encoding the simulator counts its usage with (~0.5 s, once), so it is
        not inside the first simulated call's latency and time to first token — only when no
        real provider is configured: then the first cell calls that provider, and ~0.5 s of CPU
        under the GIL would slow its first call instead."""
        from llmops_nb.providers.base import any_configured
        from llmops_nb.tokens import encoding

        if not any_configured():
            encoding("o200k_base")

    def generate(self, request: Request, api_key: str | None, timeout_s: float) -> Iterator[ProviderEvent]:
        """Wait like a real model, then answer (or fail as configured)."""
        from llmops_nb.tokens import count_message_tokens, count_tokens, encoding

        sb = _behaviour(request.model_name)
        time.sleep(sb.ttft_s)
        failure = _next_failure(sb)
        if failure != "ok":
            _raise(failure, sb, self.name)
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        input_tokens = count_message_tokens(messages, "openai:gpt-4o")  # as an OpenAI o200k model reports it
        text, finish = answer_text(request), "stop"
        limits = [int(request.params["max_tokens"])] if request.params.get("max_tokens") is not None else []
        if sb.context_window is not None:
            limits.append(max(0, sb.context_window - input_tokens))
        if limits:
            ids = encoding("o200k_base").encode_ordinary(text)
            if len(ids) > min(limits):  # cut where a real model would stop: the first limit reached
                text, finish = encoding("o200k_base").decode(ids[: min(limits)]), "length"
        pieces = _token_pieces(text)
        per_token = 1.0 / sb.tokens_per_s if sb.tokens_per_s > 0 else 0.0
        if request.stream:
            for i in range(0, len(pieces), 4):
                chunk = pieces[i : i + 4]
                if i:
                    time.sleep(per_token * len(chunk))
                yield TextDelta("".join(chunk))
        else:
            time.sleep(per_token * len(pieces))
            yield TextDelta("".join(pieces))
        usage = Usage(input_tokens=input_tokens, output_tokens=count_tokens("".join(pieces), "openai:gpt-4o"))
        yield Final(usage, finish, request.model_name, context_window=sb.context_window)


def _token_pieces(text: str) -> list[str]:
    """Split into word-sized pieces that join back to ``text`` exactly."""
    pieces, current = [], ""
    for ch in text:
        if ch == " " and current:
            pieces.append(current)
            current = ""
        current += ch
    if current:
        pieces.append(current)
    return pieces


def sim_factory(name: str) -> SimProvider:
    """Entry point: the ``sim:`` provider."""
    return SimProvider(name)
