"""Optional model-backed scanners, for teams that have the models: OpenAI's moderation endpoint,
and a guard model (Llama Guard, or a Prompt-Guard-style classifier) behind any OpenAI-compatible
chat endpoint (vLLM, Ollama, llama.cpp server, …).

They follow the same :class:`Scanner` protocol as a policy's built-in families and plug into a
policy (``Policy(..., scanners=(OpenAIModeration(),))``); their findings are actioned by their
``name`` like any scanner (``actions={"moderation": "block"}``). Each call is kept on the
scanner's ``calls`` (model, latency, token usage, cost — None with a note when the price is
unknown, e.g. a self-hosted model; moderation is free) and recorded with the LLM call it was made
for: a span of its own in that call's trace, and the ``guard_calls`` / ``guard_cost_usd`` of its
history row (:mod:`.scanner_calls`) and the findings carry the score and the
span, never the text. A failed call does not raise: it is recorded with its error and yields no
finding, unless ``fail_closed=True`` (then one ``scanner_error`` finding, which the policy can
block on).

::

    from llmops_nb.guardrails import DEFAULT, remote
    pol = DEFAULT.with_scanners(remote.OpenAIModeration(), remote.ChatGuard("vllm:meta-llama/Llama-Guard-3-1B",
                                base_url="http://localhost:8000/v1"))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from llmops_nb.guardrails._common import make_finding
from llmops_nb.guardrails.scanner_calls import record
from llmops_nb.types import Finding, Usage

# Llama Guard 3 hazard categories (MLCommons taxonomy)
LLAMA_GUARD_CATEGORIES = {
    "S1": "violent_crimes", "S2": "non_violent_crimes", "S3": "sex_crimes", "S4": "child_exploitation",
    "S5": "defamation", "S6": "specialized_advice", "S7": "privacy", "S8": "intellectual_property",
    "S9": "indiscriminate_weapons", "S10": "hate", "S11": "self_harm", "S12": "sexual_content", "S13": "elections",
    "S14": "code_interpreter_abuse",
}


@runtime_checkable
class Scanner(Protocol):
    """What a policy needs of a scanner: a ``name`` (its action key) and ``scan``."""

    name: str

    def scan(self, text: str, direction: str = "input") -> list[Finding]: ...


@dataclass
class ScannerCall:
    """One call a model-backed scanner made."""

    scanner: str
    model: str
    latency_s: float
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    note: str | None = None
    flagged: bool = False
    error: str | None = None
    started_at_ns: int = 0  # wall clock (ns since the epoch); 0: set when recorded, from latency_s


def _severity(score: float) -> str:
    return "critical" if score >= 0.85 else "high" if score >= 0.6 else "medium"


@dataclass
class OpenAIModeration:
    """OpenAI's moderation endpoint (``POST /v1/moderations``) through the ``openai`` SDK.

    One finding per category whose score reaches ``threshold`` (type = the category, e.g.
    ``harassment/threatening``; score = the category score; span = the whole text). The endpoint
    is free, so ``cost_usd`` is 0.
    """

    model: str = "omni-moderation-latest"
    threshold: float = 0.5
    client: Any = None
    fail_closed: bool = False
    name: str = "moderation"
    calls: list[ScannerCall] = field(default_factory=list, repr=False)

    def _client(self) -> Any:
        if self.client is None:
            import openai

            self.client = openai.OpenAI()
        return self.client

    def scan(self, text: str, direction: str = "input") -> list[Finding]:
        if not text.strip():
            return []
        t0 = time.perf_counter()
        try:
            response = self._client().moderations.create(model=self.model, input=text)
        except Exception as exc:  # noqa: BLE001 — any transport/API failure is recorded, not raised
            return self._failed(text, t0, exc)
        result = response.results[0]
        scores = result.category_scores.model_dump(by_alias=True) if hasattr(result.category_scores, "model_dump") \
            else dict(result.category_scores)
        hits = {k: float(v) for k, v in scores.items() if v is not None and float(v) >= self.threshold}
        record(self, ScannerCall(self.name, f"openai:{self.model}", time.perf_counter() - t0,
                                      flagged=bool(result.flagged or hits)))
        return [make_finding(self.name, cat, text, 0, len(text), score=s, severity=_severity(s))
                for cat, s in sorted(hits.items(), key=lambda kv: -kv[1])]

    def _failed(self, text: str, t0: float, exc: Exception) -> list[Finding]:
        record(self, ScannerCall(self.name, f"openai:{self.model}", time.perf_counter() - t0,
                                      error=type(exc).__name__))
        if self.fail_closed:
            return [make_finding(self.name, "scanner_error", text, 0, len(text), score=1.0, severity="high")]
        return []


@dataclass
class ChatGuard:
    """A guard model behind an OpenAI-compatible chat endpoint.

    ``style="llama_guard"``: the model answers ``safe`` or ``unsafe`` and a line of category
    codes (``S1,S10``) — one finding per category (type from :data:`LLAMA_GUARD_CATEGORIES`).
    ``style="prompt_guard"``: the model answers a label (``BENIGN`` / ``INJECTION`` /
    ``JAILBREAK``, optionally with a score ``INJECTION 0.97``) — one ``prompt_injection`` /
    ``jailbreak`` finding. ``model`` is ``provider:name`` for pricing (``vllm:…`` has no price:
    cost None with a note, unless :func:`llmops_nb.set_price` gave one).
    """

    model: str
    base_url: str | None = None
    api_key: str = "none"
    style: str = "llama_guard"
    client: Any = None
    fail_closed: bool = False
    name: str = "guard_model"
    calls: list[ScannerCall] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.style not in ("llama_guard", "prompt_guard"):
            from llmops_nb.errors import ConfigError

            raise ConfigError(f"ChatGuard style must be 'llama_guard' or 'prompt_guard', not {self.style!r}")

    def _client(self) -> Any:
        if self.client is None:
            import openai

            self.client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0)
        return self.client

    def scan(self, text: str, direction: str = "input") -> list[Finding]:
        if not text.strip():
            return []
        role = "user" if direction == "input" else "assistant"
        messages = [{"role": "user", "content": ""}, {"role": role, "content": text}] if role == "assistant" \
            else [{"role": "user", "content": text}]
        t0 = time.perf_counter()
        try:
            response = self._client().chat.completions.create(model=self.model.partition(":")[2] or self.model,
                                                              messages=messages, temperature=0, max_tokens=20)
        except Exception as exc:  # noqa: BLE001 — recorded, not raised
            record(self, ScannerCall(self.name, self.model, time.perf_counter() - t0, error=type(exc).__name__))
            if self.fail_closed:
                return [make_finding(self.name, "scanner_error", text, 0, len(text), score=1.0, severity="high")]
            return []
        latency = time.perf_counter() - t0
        answer = (response.choices[0].message.content or "").strip()
        usage = Usage(input_tokens=getattr(response.usage, "prompt_tokens", 0) or 0,
                      output_tokens=getattr(response.usage, "completion_tokens", 0) or 0)
        from llmops_nb.pricing import price_of

        price = price_of(usage, self.model)
        found = self._parse(answer, text)
        record(self, ScannerCall(self.name, self.model, latency, usage, price.cost_usd, price.note, bool(found)))
        return found

    def _parse(self, answer: str, text: str) -> list[Finding]:
        words = answer.split()
        if not words:
            return []
        if self.style == "llama_guard":
            if words[0].lower() != "unsafe":
                return []
            codes = [c.strip() for line in answer.splitlines()[1:] for c in line.split(",") if c.strip()]
            types = [LLAMA_GUARD_CATEGORIES.get(c.upper(), c.lower()) for c in codes] or ["unsafe"]
            return [make_finding(self.name, t, text, 0, len(text), score=1.0, severity="high") for t in types]
        label = words[0].strip(":").upper()
        if label not in ("INJECTION", "JAILBREAK"):
            return []
        try:
            score = float(words[1]) if len(words) > 1 else 1.0
        except ValueError:
            score = 1.0
        type_ = "prompt_injection" if label == "INJECTION" else "jailbreak"
        return [make_finding(self.name, type_, text, 0, len(text), score=score, severity=_severity(score))]
