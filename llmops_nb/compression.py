"""Shorten long context below a token target, keep what matters, and say what it saves.

::

    import llmops_nb as llm
    c = llm.compress(document, max_tokens=300, query="When does the north gate open?")
    c.text, c.tokens_before, c.tokens_after, c.saved_usd_per_call
    llm.complete("openai:gpt-5.4-mini", "Answer from {{doc}}: …", variables={"doc": c})  # str(c) is the text
    llm.compress(chat_history, max_tokens=800)                       # messages: system + newest turns kept
    llm.compress(document, max_tokens=300, model="openai:gpt-5.4-mini")  # LLM-based, recorded like any call

**Extractive** (``model=None``, no model call, deterministic): the text is cut into sentences
(``unit="paragraph"`` for few-shot blocks and other units separated by blank lines). Each is
scored by the salience of its words — their tf-idf weight in the document, ``query`` words
three times over, numbers and a paragraph's first sentence a little more — and the best are
kept, in their original order, while the count stays within ``max_tokens``. A unit holding a
``{{variable}}`` is always kept, so a prompt template stays a template. Chat messages keep
every system message and the last message, then as many of the newest turns as fit.

**LLM-based** (``model=...``): one call asks the model to rewrite the text within the target
(``max_tokens`` caps its answer); if the answer still counts above the target for the model the
text is meant for, the extractive method trims it. Its cost is ``compression_cost_usd``.

Tokens are counted offline (:mod:`llmops_nb.tokens`) for ``for_model`` (default: the configured
default model); ``saved_usd_per_call`` prices the tokens removed as that model's input
(:mod:`llmops_nb.pricing`; None when it has no known price).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_nb.prompts import VARIABLE, PromptVersion

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“(\[A-Z0-9])")
_PARAGRAPH = re.compile(r"\n\s*\n")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+|\d+(?:[.,]\d+)*")
_STOP = frozenset(re.findall(r"\w+", """a an the and or but if of to in on at by for with from as is are was were be been being it its
this that these those there here we you he she they them his her our your their i me my not no do does did
so than then too very can will would should could may might must shall has have had into over under about
after before such which who whom what when where why how all any each more most other some only own same
just also"""))
QUERY_WEIGHT, NUMBER_BONUS, LEAD_BONUS = 3.0, 0.3, 0.2
LLM_SYSTEM = ("You compress context for another model. Keep every fact, number and name{focus}; drop "
              "repetition, filler and examples that add nothing. Keep the original order and wording where you "
              "can. Reply with the compressed text only.")


@dataclass
class Compressed:
    """A compressed text (``str()`` of it is the text) with its before/after token counts."""

    text: str
    method: str  # "extractive", "llm" or "none" (already within the target)
    tokens_before: int
    tokens_after: int
    max_tokens: int
    for_model: str
    saved_usd_per_call: float | None
    compression_cost_usd: float | None = 0.0
    kept: tuple[int, ...] = ()  # the units kept (extractive), in order
    units: int = 0
    messages: list[dict[str, str]] | None = None  # for chat history
    completion: Any = None  # the LLM-based call
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """tokens_after / tokens_before."""
        return self.tokens_after / self.tokens_before if self.tokens_before else 1.0

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        saved = "n/a (no price)" if self.saved_usd_per_call is None else f"${self.saved_usd_per_call:.6f}"
        return (f"Compressed({self.method}: {self.tokens_before}→{self.tokens_after} tokens for {self.for_model} "
                f"(target {self.max_tokens}), saves {saved} per call)")


# --- extractive ----------------------------------------------------------------------------------

def split_units(text: str, unit: str = "sentence") -> list[tuple[str, str]]:
    """``(unit text, separator after it)`` pairs that join back to ``text`` exactly."""
    if unit not in ("sentence", "paragraph"):
        raise ValueError(f"unit must be 'sentence' or 'paragraph', not {unit!r}")
    out: list[tuple[str, str]] = []
    pos = 0
    boundaries = _PARAGRAPH if unit == "paragraph" else re.compile(f"{_PARAGRAPH.pattern}|{_SENTENCE_END.pattern}")
    for m in boundaries.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], m.group(0)))
        elif out:
            out[-1] = (out[-1][0], out[-1][1] + m.group(0))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], ""))
    return out


def _terms(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP]


def salience(units: Sequence[str], query: str | None = None) -> list[float]:
    """Each unit's score: tf-idf weight of its words (per word, so long units are not
    favoured), query words ``QUERY_WEIGHT`` times over, small bonuses for numbers and leads."""
    bags = [Counter(_terms(u)) for u in units]
    n = len(units)
    df = Counter(t for bag in bags for t in bag)
    tf = Counter(t for bag in bags for t in bag.elements())
    idf = {t: math.log((1 + n) / (1 + d)) + 1 for t, d in df.items()}
    wanted = set(_terms(query or ""))
    scores = []
    for i, bag in enumerate(bags):
        if not bag:
            scores.append(0.0)
            continue
        centroid = sum(math.log1p(tf[t]) * idf[t] for t in bag) / math.sqrt(sum(bag.values()))
        focus = sum(idf.get(t, 1.0) for t in bag if t in wanted)
        number = NUMBER_BONUS if any(c.isdigit() for c in units[i]) else 0.0
        lead = LEAD_BONUS if i == 0 else 0.0
        scores.append(centroid + QUERY_WEIGHT * focus + number + lead)
    return scores


def _truncate(text: str, max_tokens: int, model: str) -> str:
    from llmops_nb.tokens import encoding, encoding_name_for

    enc = encoding(encoding_name_for(model))
    return enc.decode(enc.encode_ordinary(text)[:max_tokens])


def extract(text: str, max_tokens: int, *, for_model: str, query: str | None = None,
            unit: str = "sentence") -> tuple[str, tuple[int, ...], int]:
    """The most salient units of ``text`` within ``max_tokens``, in order: (text, kept, units).

    Greedy: each round takes the unit with the best salience × novelty (the share of its words
    not already covered by the units taken, so ten near-copies of one sentence do not crowd out
    the rest) among those that still fit."""
    from llmops_nb.tokens import count_tokens

    pieces = split_units(text, unit)
    units = [p[0] for p in pieces]
    scores = salience(units, query)
    terms = [set(_terms(u)) for u in units]
    sizes = [count_tokens(u + sep, for_model) for u, sep in pieces]

    def joined(keep: set[int]) -> str:
        order = sorted(keep)
        return "".join(units[i] + (pieces[i][1] if j < len(order) - 1 else "") for j, i in enumerate(order))

    keep = {i for i, u in enumerate(units) if VARIABLE.search(u)}  # a template keeps its variables
    must, covered, used = set(keep), set().union(*(terms[i] for i in keep)), sum(sizes[i] for i in keep)
    while True:
        fits = [i for i in range(len(units)) if i not in keep and used + sizes[i] <= max_tokens]
        if not fits:
            break
        best = max(fits, key=lambda i: (scores[i] * (1 - 0.7 * len(terms[i] & covered) / max(1, len(terms[i]))), -i))
        keep.add(best)
        covered |= terms[best]
        used += sizes[best]
    while keep - must and count_tokens(joined(keep), for_model) > max_tokens:  # counts are not quite additive
        keep.remove(min(keep - must, key=lambda k: (scores[k], -k)))
    out = joined(keep)
    if not keep and units:  # not even one sentence fits: the best one, cut at the target
        best = max(range(len(units)), key=lambda k: (scores[k], -k))
        out, keep = _truncate(units[best], max_tokens, for_model), {best}
    return out, tuple(sorted(keep)), len(units)


def _compress_messages(messages: Sequence[Mapping[str, Any]], max_tokens: int, for_model: str,
                       query: str | None) -> tuple[list[dict[str, str]], tuple[int, ...]]:
    """System messages and the last message, then the newest turns that fit; the fixed ones
    are shortened extractively if they alone exceed the target."""
    from llmops_nb.tokens import count_message_tokens

    msgs = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
    fixed = {i for i, m in enumerate(msgs) if m["role"] == "system"} | {len(msgs) - 1}
    keep = set(fixed)
    for i in range(len(msgs) - 1, -1, -1):
        if i not in keep and count_message_tokens([msgs[k] for k in sorted(keep | {i})], for_model) <= max_tokens:
            keep.add(i)
        elif i not in keep:
            break  # the conversation stays contiguous: nothing older than a turn that did not fit
    out = [dict(msgs[k]) for k in sorted(keep)]
    over = count_message_tokens(out, for_model) - max_tokens
    for m in sorted(out, key=lambda m: -len(m["content"])):
        if over <= 0:
            break
        from llmops_nb.tokens import count_tokens

        size = count_tokens(m["content"], for_model)
        m["content"] = extract(m["content"], max(1, size - over), for_model=for_model, query=query)[0]
        over = count_message_tokens(out, for_model) - max_tokens
    return out, tuple(sorted(keep))


# --- the API ---------------------------------------------------------------------------------------

def _text_of(source: Any) -> tuple[str | None, list[dict[str, str]] | None]:
    if isinstance(source, PromptVersion):
        return source.template, None
    if isinstance(source, Compressed):
        return source.text, None
    if isinstance(source, str):
        return source, None
    if isinstance(source, Sequence) and all(isinstance(m, Mapping) and "content" in m for m in source):
        return None, [dict(m) for m in source]
    raise TypeError("compress takes a text, a PromptVersion or a list of chat messages ({'role', 'content'}), "
                    f"not {type(source).__name__}")


def _saved(before: int, after: int, model: str) -> tuple[float | None, list[str]]:
    from llmops_nb.pricing import price_of
    from llmops_nb.types import Usage

    price = price_of(Usage(input_tokens=max(before - after, 0), output_tokens=0), model)
    return price.cost_usd, ([] if price.cost_usd is not None else
                            [f"no known price for {model}: saved cost n/a (see set_price)"])


def compress(text_or_prompt: Any, *, max_tokens: int, model: str | None = None, query: str | None = None,
             for_model: str | None = None, unit: str = "sentence", **call_options: Any) -> Compressed:
    """Shorten a text, a prompt version's template or chat ``messages`` to at most
    ``max_tokens`` tokens (counted for ``for_model``); extractive without ``model``, LLM-based
    with it. ``query`` says what must survive (e.g. the question the context is for);
    ``call_options`` go to the LLM call. See the module docstring."""
    from llmops_nb.config import settings
    from llmops_nb.tokens import count_tokens

    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive whole number of tokens, not {max_tokens!r}")
    text, messages = _text_of(text_or_prompt)
    target = for_model or settings().default_model
    if messages is not None:
        if model is not None:
            raise ValueError("LLM-based compression takes a text; chat history is compressed extractively")
        return _compress_history(messages, max_tokens, target, query)
    assert text is not None
    before = count_tokens(text, target)
    if before <= max_tokens:
        return Compressed(text, "none", before, before, max_tokens, target, _saved(before, before, target)[0])
    if model is None:
        out, kept, units = extract(text, max_tokens, for_model=target, query=query, unit=unit)
        after = count_tokens(out, target)
        saved, notes = _saved(before, after, target)
        return Compressed(out, "extractive", before, after, max_tokens, target, saved, kept=kept, units=units,
                          notes=notes)
    return _llm_compress(text, before, max_tokens, model, target, query, unit, call_options)


def _compress_history(messages: list[dict[str, str]], max_tokens: int, target: str,
                      query: str | None) -> Compressed:
    from llmops_nb.tokens import count_message_tokens

    before = count_message_tokens(messages, target)
    if before <= max_tokens:
        out, kept, method = messages, tuple(range(len(messages))), "none"
    else:
        (out, kept), method = _compress_messages(messages, max_tokens, target, query), "extractive"
    after = count_message_tokens(out, target)
    saved, notes = _saved(before, after, target)
    rendered = "\n".join(f"{m['role']}: {m['content']}" for m in out)
    return Compressed(rendered, method, before, after, max_tokens, target, saved, kept=kept, units=len(messages),
                      messages=out, notes=notes)


def _llm_compress(text: str, before: int, max_tokens: int, model: str, target: str, query: str | None,
                  unit: str, call_options: Mapping[str, Any]) -> Compressed:
    from llmops_nb.pipeline import complete
    from llmops_nb.tokens import count_tokens

    focus = f" needed to answer: {query}" if query else ""
    words = max(1, int(max_tokens * 0.7))
    prompt = f"Compress the text below to at most {max_tokens} tokens (about {words} words).\n\n{text}"
    options = {"temperature": 0, **call_options, "max_tokens": max_tokens}
    c = complete(model, prompt, system=LLM_SYSTEM.format(focus=focus), **options)
    out, notes = c.text.strip(), []
    if count_tokens(out, target) > max_tokens:
        out = extract(out, max_tokens, for_model=target, query=query, unit=unit)[0]
        notes.append(f"{model}'s answer counted above the target for {target}: trimmed extractively")
    after = count_tokens(out, target)
    saved, price_notes = _saved(before, after, target)
    return Compressed(out, "llm", before, after, max_tokens, target, saved, c.cost_usd, completion=c,
                      notes=notes + price_notes)
