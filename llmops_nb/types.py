"""Plain data objects that travel through the pipeline: messages, requests, usage, answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: str
    content: str


@dataclass(frozen=True)
class Usage:
    """Token usage as the provider reported it.

    ``input_tokens`` is the whole prompt, *including* the tokens read from or written to the
    provider's prompt cache (OpenAI's convention; Anthropic's separate counts are added up).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Request:
    """A fully resolved request: what is sent, and what the cache key is made of.

    ``params`` holds every sampling parameter with the provider's defaults filled in, so an
    omitted temperature and an explicit one of the same value are the same request.
    """

    model: str  # full id, "provider:model"
    provider: str
    model_name: str
    messages: tuple[Message, ...]
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider,
            "model_name": self.model_name,
            "messages": [{name: getattr(m, name) for name in m.__dataclass_fields__} for m in self.messages],
            "system": self.system,
            "params": self.params,
            "stream": self.stream,
        }


@dataclass
class Finding:
    """Something a guardrail found. Never carries the raw value, only its hash."""

    scanner: str
    type: str
    severity: str = "medium"
    score: float = 1.0
    start: int = 0
    end: int = 0
    value_hash: str = ""
    action: str = "warn"
    direction: str = "input"  # "input": the prompt; "output": the answer


@dataclass
class Completion:
    """The answer to one call, with everything measured about it.

    ``latency_s`` is what this call took; for a cache hit that is the lookup, and the original
    call's latency is kept in ``original_latency_s``. ``ttft_s`` (time to first token) is
    measured on streamed calls only. ``cost_usd`` is None when the model's price is unknown;
    ``notes`` then says so.
    """

    text: str
    model: str
    provider: str
    usage: Usage
    cost_usd: float | None
    latency_s: float
    ttft_s: float | None = None
    cached: bool = False
    fallback: bool = False  # every model failed: ``text`` is the route's planned fallback_text
    trace_id: str = ""
    findings: list[Finding] = field(default_factory=list)
    prompt: str | None = None
    finish_reason: str | None = None
    original_latency_s: float | None = None
    saved_usd: float | None = None
    started_at: float = 0.0
    notes: list[str] = field(default_factory=list)
    route: str | None = None
    route_reason: str | None = None  # why these models (route, rule, skipped windows)
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every model tried, and why it failed
    cost_simulated: bool = False  # priced at the simulator's reference price (sim:)
    cut_by: str | None = None  # the answer was cut: "max_tokens", "context_window" or "unknown"
    cut_detail: str | None = None  # … and how, for people: "at max_tokens (100)"
    guard_calls: int = 0  # calls the policy's model-backed guardrail scanners made for this call
    guard_cost_usd: float | None = None  # what they cost (None: no price known for one of them), besides cost_usd
    # What left the process: the answer as recorded (input placeholders kept, leaks redacted;
    # None: the same as ``text``), and placeholder → the user's value, for building the
    # recorded form of tables (llmops_nb.recorded). In memory only: never written anywhere.
    recorded_text: str | None = field(default=None, repr=False)
    placeholders: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __str__(self) -> str:
        return self.text

    def json(self) -> Any:
        """The answer parsed as JSON (fenced ```json blocks are unwrapped)."""
        from llmops_nb.render import parse_json_answer

        return parse_json_answer(self.text)

    def _repr_html_(self) -> str:
        # sanitized HTML, never raw markdown: the text is the model's, hence untrusted
        from llmops_nb.render import answer_html

        return answer_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from llmops_nb.render import footer_text

        p.text(f"{self.text}\n\n{footer_text(self)}")


@dataclass
class CallRecord:
    """What is journaled and exported to MLflow for one call, success or failure."""

    record_id: str
    trace_id: str
    started_at_ns: int
    ended_at_ns: int
    request: dict[str, Any]
    status: str  # "OK" | "ERROR"
    text: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    ttft_s: float | None = None
    cached: bool = False
    original_latency_s: float | None = None
    prompt: str | None = None
    error_type: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    experiment: str = ""
    estimated_input_tokens: int | None = 0  # None: not counted (no pre-call check needed it)
    group_id: str | None = None
    group_name: str | None = None
    notes: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    route: str | None = None
    route_reason: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    cost_simulated: bool = False
    cut_by: str | None = None
    cut_detail: str | None = None
    user: str | None = None  # who made the call (settings.user, else the OS user)
    guard_calls: list[dict[str, Any]] = field(default_factory=list)  # model-backed scanners' calls for it
    usage_estimated: bool = False  # usage and cost estimated: cut off before the provider's usage arrived

    def to_json(self) -> str:
        # shallow on purpose: asdict() deep-copies the request (5x slower, same JSON)
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> CallRecord:
        return cls(**json.loads(text))
