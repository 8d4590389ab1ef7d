"""Policy and effect: which scanners run, what each finding does, redaction and restoring.

A :class:`Policy` maps a scanner (``pii``) or a finding type (``ipv4``) — optionally prefixed by
a direction (``output.pii``) — to an action:

- ``block``  — :class:`~llmops_nb.errors.GuardrailBlocked`; on input nothing is sent, on output
  the answer is withheld;
- ``warn``   — the call goes ahead, the findings are reported;
- ``redact`` — the span is replaced by a typed placeholder (``<EMAIL_1>``); the placeholders in
  the answer are restored for the user only (:func:`restore`);
- ``off``    — not scanned / not reported.

The most specific key wins: ``output.ipv4`` > ``output.pii`` > ``ipv4`` > ``pii``; no key: off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from llmops_nb.errors import ConfigError, GuardrailBlocked
from llmops_nb.guardrails import injection, output, pii, secrets, toxicity
from llmops_nb.guardrails import lazy_re as re  # patterns compiled on first use
from llmops_nb.guardrails._common import resolve_overlaps
from llmops_nb.guardrails.patterns import BlockedPatterns
from llmops_nb.types import Finding

ACTIONS = ("block", "warn", "redact", "off")
SCANNERS = ("pii", "secrets", "patterns", "injection", "toxicity", "output")
DIRECTIONS = ("input", "output")
_SEVERITY_RANK = {"block": 3, "redact": 2, "warn": 1, "off": 0}
_LABELS = {"email": "EMAIL", "phone": "PHONE", "card": "CARD", "iban": "IBAN", "ssn": "SSN", "national_id": "NATIONAL_ID",
           "ipv4": "IP", "ipv6": "IP", "prompt_injection": "INJECTION"}
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d+)>")
_STRIPPED = frozenset({"hidden_unicode"})  # redacted by removal, not by a placeholder


def _frozen(m: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class Policy:
    """What each scanner does, its thresholds, and the caller's blocked patterns.

    ``actions``: scanner or type (optionally ``"input."``/``"output."``-prefixed) → action.
    ``thresholds``: minimum score per scanner (``pii``, ``secrets``, ``injection``,
    ``toxicity``) and ``groundedness`` (answers below it are reported). ``patterns``: blocked
    substrings/regexes (scanner ``patterns``). ``max_chars``: default answer length limit.
    Derive variants with :meth:`with_actions` / :meth:`with_thresholds`.
    """

    name: str = "custom"
    actions: Mapping[str, str] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    patterns: BlockedPatterns | None = None
    max_chars: int | None = None
    scanners: tuple[Any, ...] = ()  # extra scanners (guardrails.remote.Scanner protocol), actioned by name
    _enabled: dict[tuple[str, tuple[str, ...], str], frozenset[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.actions.items() if v not in ACTIONS}
        if bad:
            raise ConfigError(f"unknown guardrail action(s) {bad}: use one of {', '.join(ACTIONS)}")
        object.__setattr__(self, "actions", _frozen(self.actions))
        object.__setattr__(self, "thresholds", _frozen(self.thresholds))

    def action_for(self, scanner: str, type_: str | None = None, direction: str = "input") -> str:
        """The action for a finding of ``type_`` from ``scanner`` in ``direction``."""
        keys = [f"{direction}.{type_}", f"{direction}.{scanner}", type_, scanner] if type_ else [
            f"{direction}.{scanner}", scanner]
        for key in keys:
            if key in self.actions:
                return self.actions[key]
        return "off"

    def threshold(self, name: str, default: float = 0.5) -> float:
        """The threshold called ``name`` (``default`` if the policy does not set it)."""
        return float(self.thresholds.get(name, default))

    def enabled(self, scanner: str, types: tuple[str, ...] = (), direction: str = "input") -> frozenset[str]:
        """The types of ``scanner`` that are not off in ``direction`` (``{scanner}`` if it has no
        types); worked out once per policy (a policy never changes: its mappings are read-only)."""
        key = (scanner, types, direction)
        found = self._enabled.get(key)
        if found is None:
            names = types or (scanner,)
            found = frozenset(t for t in names if self.action_for(scanner, t if types else None, direction) != "off")
            self._enabled[key] = found
        return found

    def with_actions(self, overrides: Mapping[str, str] | None = None, /, **kw: str) -> Policy:
        """A copy with some actions changed: ``policy.with_actions({"output.pii": "block"}, ipv4="off")``."""
        return replace(self, name=f"{self.name}+", actions={**self.actions, **(overrides or {}), **kw})

    def with_scanners(self, *scanners: Any, action: str = "warn") -> Policy:
        """A copy that also runs ``scanners`` (e.g. :class:`~llmops_nb.guardrails.remote.OpenAIModeration`),
        each with ``action`` unless the policy already names one for it."""
        actions = {**{s.name: action for s in scanners}, **self.actions}
        return replace(self, name=f"{self.name}+", scanners=(*self.scanners, *scanners), actions=actions)

    def with_thresholds(self, **kw: float) -> Policy:
        """A copy with some thresholds changed: ``policy.with_thresholds(injection=0.3)``."""
        return replace(self, name=f"{self.name}+", thresholds={**self.thresholds, **kw})


OFF = Policy("off")
DEFAULT = Policy(
    "default",
    actions={"pii": "redact", "ipv4": "warn", "ipv6": "warn", "secrets": "block", "patterns": "block",
             "injection": "warn", "toxicity": "warn", "output": "warn", "output.pii": "warn",
             "output.secrets": "redact", "output.injection": "off"},
    thresholds={"pii": 0.5, "secrets": 0.5, "injection": 0.75, "toxicity": 0.55, "groundedness": 0.5},
)
STRICT = Policy(
    "strict",
    actions={"pii": "redact", "secrets": "block", "patterns": "block", "injection": "block", "toxicity": "block",
             "output": "block", "output.pii": "redact", "output.secrets": "block", "output.injection": "warn",
             "too_long": "warn"},
    thresholds={"pii": 0.4, "secrets": 0.4, "injection": 0.5, "toxicity": 0.4, "groundedness": 0.6},
)
PRESETS: Mapping[str, Policy] = MappingProxyType({"off": OFF, "default": DEFAULT, "strict": STRICT})


def get_policy(policy: Policy | str | None = None) -> Policy:
    """A :class:`Policy` from a policy, a preset name (``off``/``default``/``strict``) or None (default)."""
    if policy is None:
        return DEFAULT
    if isinstance(policy, Policy):
        return policy
    if policy in PRESETS:
        return PRESETS[policy]
    raise ConfigError(f"unknown guardrail policy {policy!r}: use one of {', '.join(PRESETS)} or a Policy(...)")


def _with_actions(findings: list[Finding], pol: Policy, direction: str) -> list[Finding]:
    out = []
    for f in findings:
        act = pol.action_for(f.scanner, f.type, direction)
        if act != "off":
            out.append(replace(f, action=act))
    return out


def scan(text: str, direction: str = "input", policy: Policy | str | None = None, *,
         scanners: bool = True) -> list[Finding]:
    """Findings in ``text`` under ``policy`` (default: the ``default`` preset), each with its
    action; one type per span for PII and secrets. Output-only checks (JSON, length,
    groundedness) are in :func:`guard_output`.

    The policy's extra (model-backed) scanners read the text as the provider would: with what
    the built-in families redact already replaced by placeholders (their spans are mapped back
    onto ``text``), and not at all when a built-in finding blocks — a remote scanner never
    receives a value the policy keeps from the provider, nor a request for a text that is not sent.
    ``scanners=False``: the built-in families only."""
    pol = get_policy(policy)
    found = _builtin_scan(text, direction, pol)
    if not scanners or not _extra_scanners(pol, direction) or any(f.action == "block" for f in found):
        return found
    redacted, _, edits = _redact(text, _redacting(found), None)
    return sorted(found + _onto(_extra_scan(redacted, direction, pol), edits), key=_position)


def _position(f: Finding) -> tuple[int, int]:
    return f.start, f.end


def _builtin_scan(text: str, direction: str, pol: Policy) -> list[Finding]:
    """The findings of the built-in families (local, pure functions of the text and the policy)."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be 'input' or 'output', not {direction!r}")
    spans: list[Finding] = []
    pii_types = pol.enabled("pii", pii.TYPES, direction)
    if pii_types:
        spans += [f for f in pii.scan(text, pii_types) if f.score >= pol.threshold("pii")]
    secret_types = pol.enabled("secrets", secrets.TYPES, direction)
    if secret_types:
        spans += [f for f in secrets.scan(text, secret_types) if f.score >= pol.threshold("secrets")]
    found = resolve_overlaps(spans)
    if pol.patterns and pol.action_for("patterns", None, direction) != "off":
        found += pol.patterns.scan(text)
    if pol.enabled("injection", (), direction):
        found += injection.scan(text, pol.threshold("injection", injection.DEFAULT_THRESHOLD))
    if pol.enabled("toxicity", (), direction):
        found += toxicity.scan(text, pol.threshold("toxicity", toxicity.DEFAULT_THRESHOLD))
    return sorted(_with_actions(found, pol, direction), key=_position)


def _extra_scanners(pol: Policy, direction: str) -> list[Any]:
    return [s for s in pol.scanners if pol.action_for(s.name, None, direction) != "off"]


def _extra_scan(text: str, direction: str, pol: Policy) -> list[Finding]:
    found: list[Finding] = []
    for extra in _extra_scanners(pol, direction):
        found += extra.scan(text, direction)
    return _with_actions(found, pol, direction)


def _redacting(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.action == "redact"]


Edit = tuple[int, int, int, int]  # a replaced span: (start, end) in the original, (start, end) in the new text


def _back(p: int, edits: list[Edit], end: bool) -> int:
    """Position ``p`` of a redacted text in the original; a position inside a placeholder goes to
    the start (``end``: the end) of the value it replaced."""
    delta = 0
    for o_s, o_e, n_s, n_e in edits:
        if (p <= n_s) if end else (p < n_s):
            break
        if (p <= n_e) if end else (p < n_e):
            return o_e if end else o_s
        delta = o_e - n_e
    return p + delta


def _onto(findings: list[Finding], edits: list[Edit]) -> list[Finding]:
    """Findings of a redacted text with their spans in the original text."""
    if not edits:
        return findings
    return [replace(f, start=_back(f.start, edits, False), end=max(_back(f.end, edits, True), _back(f.start, edits, False)))
            for f in findings]


def _label(type_: str) -> str:
    return _LABELS.get(type_) or re.sub(r"[^A-Z0-9]+", "_", type_.upper()).strip("_") or "REDACTED"


def redact(text: str, findings: list[Finding], mapping: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """``text`` with every finding's span replaced by a typed placeholder, and the mapping
    placeholder → original value.

    The same value gets the same placeholder within one call (and across calls when the
    previous ``mapping`` is passed in: numbering continues from it). Invisible characters
    (``hidden_unicode``) are removed; output checks (scanner ``output``) are not spans to
    redact. The mapping holds the raw values: keep it local, never record it.
    """
    new, result, _ = _redact(text, findings, mapping)
    return new, result


def _redact(text: str, findings: list[Finding], mapping: Mapping[str, str] | None
            ) -> tuple[str, dict[str, str], list[Edit]]:
    """:func:`redact`, and each replacement made (see :data:`Edit`)."""
    result = dict(mapping or {})
    by_value = {v: k for k, v in result.items()}
    counters: dict[str, int] = {}
    for existing in result:
        m = _PLACEHOLDER.fullmatch(existing)
        if m:
            counters[m.group(1)] = max(counters.get(m.group(1), 0), int(m.group(2)))
    spans = sorted((f for f in findings if f.scanner != "output" and f.end > f.start),
                   key=lambda f: (f.start, -(f.end - f.start)))
    pieces, pos, size = [], 0, 0
    edits: list[Edit] = []
    for f in spans:
        if f.start < pos or f.end > len(text):
            continue  # overlaps a span already replaced
        pieces.append(text[pos:f.start])
        size += f.start - pos
        pos = f.end
        if f.type in _STRIPPED:
            edits.append((f.start, f.end, size, size))
            continue
        value = text[f.start:f.end]
        placeholder = by_value.get(value)
        if placeholder is None:
            label = _label(f.type)
            n = counters.get(label, 0) + 1
            while f"<{label}_{n}>" in text:
                n += 1  # never collide with a placeholder-looking string already in the text
            counters[label] = n
            placeholder = f"<{label}_{n}>"
            result[placeholder] = value
            by_value[value] = placeholder
        pieces.append(placeholder)
        edits.append((f.start, f.end, size, size + len(placeholder)))
        size += len(placeholder)
    pieces.append(text[pos:])
    return "".join(pieces), result, edits


def restore(text: str, mapping: Mapping[str, str]) -> str:
    """``text`` with the placeholders of ``mapping`` put back (unknown placeholders stay)."""
    if not mapping:
        return text
    return _PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


@dataclass
class GuardResult:
    """What a guard did: findings (with actions), the texts to use (redacted where the policy
    said so), the placeholder mapping, and whether the policy blocks.

    ``texts`` and ``mapping`` are left out of the repr: ``mapping`` holds raw values and, with
    action ``warn``, so do the texts. ``findings_by_text[i]`` are the findings of ``texts[i]``
    (spans refer to the original ``i``-th text).
    """

    direction: str
    findings: list[Finding]
    blocked: bool
    texts: list[str] = field(repr=False)
    mapping: dict[str, str] = field(default_factory=dict, repr=False)
    findings_by_text: list[list[Finding]] = field(default_factory=list, repr=False)
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    calls: list[Any] = field(default_factory=list, repr=False)  # model-backed scanners' calls (ScannerCall)

    @property
    def text(self) -> str:
        """The first (for output: the only) text."""
        return self.texts[0] if self.texts else ""

    def raise_if_blocked(self) -> None:
        """Raise :class:`~llmops_nb.errors.GuardrailBlocked` when the policy blocks."""
        if self.blocked:
            raise GuardrailBlocked(self.findings, self.direction)

    def summary(self) -> str:
        """A compact line for a footer: ``email×2 redact · openai_key×1 block``."""
        counts: dict[tuple[str, str], int] = {}
        for f in self.findings:
            counts[(f.type, f.action)] = counts.get((f.type, f.action), 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-_SEVERITY_RANK[kv[0][1]], kv[0][0]))
        return " · ".join(f"{t}×{n} {a}" for (t, a), n in ranked)


def _scores(findings: list[Finding]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for f in findings:
        scores[f.scanner] = max(scores.get(f.scanner, 0.0), f.score)
    return scores


def guard_input(texts: list[str] | str, policy: Policy | str | None = None, *, scanners: bool = True) -> GuardResult:
    """Scan the prompt's texts (e.g. the messages' contents); redact what the policy says, with
    one shared mapping so a value gets the same placeholder in every message.

    ``scanners=False``: the built-in families only (local and free); :func:`run_scanners` adds
    the policy's model-backed scanners later — the pipeline runs them once the call is known to
    be valid and within its budget, so that a call refused before sending costs nothing."""
    pol = get_policy(policy)
    items = [texts] if isinstance(texts, str) else list(texts)
    mapping: dict[str, str] = {}
    redacted, per_text = [], []
    for text in items:
        found = _builtin_scan(text, "input", pol)
        per_text.append(found)
        new_text, mapping = redact(text, _redacting(found), mapping)
        redacted.append(new_text)
    flat = [f for fs in per_text for f in fs]
    result = GuardResult("input", flat, any(f.action == "block" for f in flat), redacted, mapping, per_text,
                         _scores(flat))
    return run_scanners(result, items, pol) if scanners else result


def run_scanners(result: GuardResult, originals: list[str], policy: Policy | str | None = None, *,
                 mapping: Mapping[str, str] | None = None) -> GuardResult:
    """``result`` (of the built-in families on ``originals``) with the policy's extra, model-backed
    scanners' findings and calls added.

    The scanners read ``result.texts`` — what the provider sees, the built-in redactions applied —
    never the values redacted; their spans are mapped back onto the originals, and what they say
    to redact is redacted in the texts (one shared mapping, continuing ``mapping``: the input's
    for an answer). Nothing is scanned when ``result`` already blocks. ``result`` is not changed."""
    pol = get_policy(policy)
    direction = result.direction
    if result.blocked or not _extra_scanners(pol, direction):
        return result
    from llmops_nb.guardrails.scanner_calls import collecting

    with collecting() as calls:
        extra = [_extra_scan(text, direction, pol) for text in result.texts]
    if not any(extra):
        return replace(result, calls=[*result.calls, *calls])
    previous = dict(mapping or {})
    state, per_text = dict(previous), []
    for text, found, more in zip(originals, result.findings_by_text, extra, strict=True):
        _, state, edits = _redact(text, _redacting(found), state)  # the built-in redaction again: its edits
        per_text.append(sorted(found + _onto(more, edits), key=_position))
    state, texts = dict(previous), []
    for text, found in zip(originals, per_text, strict=True):
        new_text, state, _ = _redact(text, _redacting(found), state)
        texts.append(new_text)
    flat = [f for fs in per_text for f in fs]
    scores = dict(result.scores)
    for f in (f for fs in extra for f in fs):
        scores[f.scanner] = max(scores.get(f.scanner, 0.0), f.score)
    return replace(result, findings=flat, blocked=any(f.action == "block" for f in flat), texts=texts,
                   mapping={k: v for k, v in state.items() if k not in previous}, findings_by_text=per_text,
                   scores=scores, calls=[*result.calls, *calls])


def guard_output(text: str, policy: Policy | str | None = None, *, context: str | list[str] | None = None,
                 json_schema: dict[str, Any] | None = None, expect_json: bool = False,
                 max_chars: int | None = None, mapping: Mapping[str, str] | None = None,
                 scanners: bool = True) -> GuardResult:
    """Check an answer: leaks (PII, secrets), toxicity, JSON / JSON Schema (when asked for),
    length, and groundedness against ``context`` (when given).

    ``text`` is the raw answer (placeholders not yet restored). Pass the input's ``mapping`` so
    that new placeholders for leaked values continue its numbering; the result's ``mapping``
    holds only those new ones — they must not be restored for the user (they are leaks).
    The policy's model-backed scanners read the answer with those leaks redacted (see
    :func:`run_scanners`; ``scanners=False`` leaves them out).
    """
    pol = get_policy(policy)
    found = _builtin_scan(text, "output", pol)
    checks: list[Finding] = []
    notes: list[str] = []
    if expect_json or json_schema is not None:
        fs, ns = output.check_json(text, schema=json_schema)
        checks, notes = checks + fs, notes + ns
    fs, ns = output.check_length(text, max_chars if max_chars is not None else pol.max_chars)
    checks, notes = checks + fs, notes + ns
    scores: dict[str, float] = {}
    if context is not None:
        fs, g, ns = output.check_grounded(text, context, threshold=pol.threshold("groundedness"))
        checks, notes = checks + fs, notes + ns
        scores["groundedness"] = g.score
    found = sorted(found + _with_actions(checks, pol, "output"), key=_position)
    previous = dict(mapping or {})
    redacted, merged = redact(text, _redacting(found), previous)
    new = {k: v for k, v in merged.items() if k not in previous}
    result = GuardResult("output", found, any(f.action == "block" for f in found), [redacted], new, [found],
                         {**_scores(found), **scores}, notes)
    return run_scanners(result, [text], pol, mapping=mapping) if scanners else result
