"""Checks on the answer: JSON / JSON Schema, length, and groundedness against given context.

PII and secrets leaking into the answer are found by the same scanners as on input (the policy
runs them with ``direction="output"``); this module adds what only makes sense for an answer.

**Groundedness** (a measurable method, not a model):

1. The answer is split into sentences (``.``, ``!``, ``?``, line breaks, list bullets).
2. For each sentence: its *content words* (lower-cased, ≥ 3 letters, not a stop word, reduced
   by a light suffix stemmer: *prices → price*, *increased → increas*) and its *numbers*
   (``1,200`` = ``1200``, ``3.50`` = ``3.5``, a trailing ``%`` ignored).
3. A sentence *counts* if it has at least two content words or a number ("Sure!" does not).
4. A counted sentence is *supported* when every one of its numbers occurs in the context and at
   least ``min_overlap`` (default 0.6) of its content words occur in the context — half that
   share when the sentence has numbers and they all occur (numbers are the stronger anchor).
5. ``groundedness = supported / counted`` (1.0 when nothing counts).

So an answer that only restates the context scores 1.0; one that invents a figure or talks about
things the context never mentions loses the share of sentences that do so. It is lexical: a
faithful paraphrase with other words scores lower than it deserves (tune ``min_overlap``), and
a sentence that reuses the context's words to say something false still counts as supported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmops_nb.guardrails import lazy_re as re  # patterns compiled on first use
from llmops_nb.guardrails._common import make_finding
from llmops_nb.types import Finding

SCANNER = "output"
DEFAULT_MIN_OVERLAP = 0.6
DEFAULT_GROUNDEDNESS_THRESHOLD = 0.5
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)```", re.DOTALL)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+(?=\s|$)|\n|$)|[^\n]+")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z][a-z'’-]*[a-z]", re.IGNORECASE)
_STOP = frozenset("""a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
down during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here
here's hers herself him himself his how how's however i i'd i'll i'm i've if in into is isn't it it's its
itself just let's like may me might more most must mustn't my myself no nor not now of off on once only or
other ought our ours ourselves out over own per same shall shan't she she'd she'll she's should shouldn't so
some such than that that's the their theirs them themselves then there there's these they they'd they'll
they're they've this those through thus to too under until up upon us very via was wasn't we we'd we'll we're
we've were weren't what what's when when's where where's whether which while who who's whom why why's will
with won't would wouldn't yes yet you you'd you'll you're you've your yours yourself yourselves one two also
according based said says say sure well here answer question context text happy glad help hope thanks great
course certainly""".split())  # noqa: SIM905


@dataclass
class Groundedness:
    """Result of :func:`groundedness`: the score and which sentences were (not) supported."""

    score: float
    supported: int
    counted: int
    unsupported: list[tuple[int, int]] = field(default_factory=list)  # spans in the answer


def _stem(word: str) -> str:
    w = word.lower().replace("’", "'")
    for suffix, repl in (("ies", "y"), ("'s", ""), ("sses", "ss"), ("es", "e"), ("s", ""), ("ing", ""),
                         ("ed", ""), ("ly", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            return w[: len(w) - len(suffix)] + repl
    return w


def _number(token: str) -> str:
    t = token.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token) else token.replace(",", ".")
    if "." in t:
        t = t.rstrip("0").rstrip(".")
    return t.lstrip("0") or "0"


def _terms(text: str) -> tuple[set[str], set[str]]:
    words, numbers = set(), set()
    for tok in _TOKEN.findall(text):
        if tok[0].isdigit():
            numbers.add(_number(tok))
        elif len(tok) >= 3 and tok.lower() not in _STOP:
            words.add(_stem(tok))
    return words, numbers


def groundedness(answer: str, context: str | list[str], *, min_overlap: float = DEFAULT_MIN_OVERLAP) -> Groundedness:
    """The share of the answer's sentences supported by ``context`` (see the module docstring)."""
    ctx = context if isinstance(context, str) else "\n".join(context)
    ctx_words, ctx_numbers = _terms(ctx)
    supported = counted = 0
    unsupported = []
    for m in _SENTENCE.finditer(answer):
        words, numbers = _terms(m.group())
        if len(words) < 2 and not numbers:
            continue
        counted += 1
        overlap = len(words & ctx_words) / len(words) if words else 1.0
        needed = min_overlap / 2 if numbers else min_overlap
        if numbers <= ctx_numbers and overlap >= needed:
            supported += 1
        else:
            start = m.start() + (len(m.group()) - len(m.group().lstrip()))
            unsupported.append((start, m.start() + len(m.group().rstrip())))
    return Groundedness(round(supported / counted, 4) if counted else 1.0, supported, counted, unsupported)


def check_grounded(answer: str, context: str | list[str], *, threshold: float = DEFAULT_GROUNDEDNESS_THRESHOLD,
                   min_overlap: float = DEFAULT_MIN_OVERLAP) -> tuple[list[Finding], Groundedness, list[str]]:
    """``ungrounded`` findings (one per unsupported sentence, score = 1 − groundedness) when the
    groundedness is below ``threshold``; the :class:`Groundedness`; a value-free note."""
    g = groundedness(answer, context, min_overlap=min_overlap)
    note = f"groundedness {g.score:.2f} ({g.supported} of {g.counted} sentences supported by the context)"
    if g.score >= threshold:
        return [], g, [note]
    severity = "high" if g.score < 0.25 else "medium"
    findings = [make_finding(SCANNER, "ungrounded", answer, s, e, score=1.0 - g.score, severity=severity)
                for s, e in g.unsupported]
    return findings, g, [note]


def parse_json(text: str) -> Any:
    """The answer as JSON (a fenced ```json block is unwrapped); raises ``ValueError``."""
    fenced = _FENCE.search(text)
    return json.loads(fenced.group(1) if fenced else text)


def _path(parts: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """Value-free descriptions of the schema violations (path and failed keyword only)."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema ships with altair, a dependency
        return _minimal_schema_errors(value, schema)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    out = []
    for e in errors[:10]:
        expected = e.validator_value if e.validator in ("type", "required", "enum", "const", "format") else ""
        detail = f" (schema says {e.validator}: {json.dumps(expected)[:80]})" if expected != "" else ""
        out.append(f"at {_path(e.absolute_path)}: fails '{e.validator}'{detail}")
    return out


def _minimal_schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    types: dict[str, type | tuple[type, ...]] = {"object": dict, "array": list, "string": str, "number": (int, float), "integer": int,
             "boolean": bool, "null": type(None)}
    want = schema.get("type")
    if isinstance(want, str) and want in types and not isinstance(value, types[want]):
        return [f"at $: fails 'type' (schema says type: \"{want}\")"]
    missing = [k for k in schema.get("required", []) if isinstance(value, dict) and k not in value]
    return [f"at $: fails 'required' (missing {json.dumps(k)})" for k in missing]


def check_json(text: str, *, schema: dict[str, Any] | None = None) -> tuple[list[Finding], list[str]]:
    """``invalid_json`` or ``schema_violation`` findings (span: the whole answer) and notes that
    describe them without quoting the answer."""
    whole = (0, len(text))
    try:
        value = parse_json(text)
    except ValueError as exc:
        where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
        return [make_finding(SCANNER, "invalid_json", text, *whole, severity="high")], [
            f"the answer is not valid JSON: {msg}{where}"]
    if schema is None:
        return [], []
    problems = _schema_errors(value, schema)
    findings = [make_finding(SCANNER, "schema_violation", text, *whole, severity="high") for _ in problems[:1]]
    return findings, [f"JSON Schema: {p}" for p in problems]


def check_length(text: str, max_chars: int | None) -> tuple[list[Finding], list[str]]:
    """A ``too_long`` finding (span: the part beyond ``max_chars``) when the answer is longer."""
    if max_chars is None or len(text) <= max_chars:
        return [], []
    score = min(1.0, len(text) / max_chars - 1.0) if max_chars else 1.0
    return [make_finding(SCANNER, "too_long", text, max_chars, len(text), score=score, severity="low")], [
        f"the answer has {len(text)} characters, more than the limit of {max_chars}"]
