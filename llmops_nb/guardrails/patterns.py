"""Blocked patterns: substrings and regular expressions the caller names, with case options.

    BlockedPatterns(substrings=["Project Falcon"], regexes={"ticket": r"JIRA-\\d+"})

Substrings are escaped and joined into one alternation (longest first), so a list of a hundred
terms is still one pass over the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from llmops_nb.errors import ConfigError
from llmops_nb.guardrails._common import make_finding
from llmops_nb.types import Finding

SCANNER = "patterns"


def _labelled(items: Iterable[str] | Mapping[str, str], default: str) -> list[tuple[str, str]]:
    if isinstance(items, Mapping):
        return [(str(label), str(p)) for label, p in items.items()]
    return [(default, str(p)) for p in items]


@dataclass(frozen=True)
class BlockedPatterns:
    """User-given blocked substrings and regexes.

    ``substrings`` and ``regexes`` are lists, or mappings ``label → pattern`` (the label becomes
    the finding's type; default ``blocked_substring`` / ``blocked_regex``). ``case_sensitive``
    applies to both; ``whole_word`` puts word boundaries around substrings.
    """

    substrings: tuple[str, ...] | Mapping[str, str] = ()
    regexes: tuple[str, ...] | Mapping[str, str] = ()
    case_sensitive: bool = False
    whole_word: bool = False
    _compiled: list[tuple[str, re.Pattern[str]]] = field(default_factory=list, init=False, repr=False,
                                                         compare=False)

    def __post_init__(self) -> None:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        compiled: list[tuple[str, re.Pattern[str]]] = []
        by_label: dict[str, list[str]] = {}
        for label, s in _labelled(self.substrings, "blocked_substring"):
            if s:
                by_label.setdefault(label, []).append(s)
        for label, terms in by_label.items():
            alternation = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
            body = rf"(?<!\w)(?:{alternation})(?!\w)" if self.whole_word else f"(?:{alternation})"
            compiled.append((label, re.compile(body, flags)))
        for label, rx in _labelled(self.regexes, "blocked_regex"):
            try:
                compiled.append((label, re.compile(rx, flags)))
            except re.error as exc:
                raise ConfigError(f"blocked regex for {label!r} does not compile ({exc}); fix or escape it") from None
        object.__setattr__(self, "_compiled", compiled)

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def scan(self, text: str) -> list[Finding]:
        """Every non-empty match of every pattern, in text order."""
        out = [make_finding(SCANNER, label, text, m.start(), m.end(), score=1.0, severity="high")
               for label, rx in self._compiled for m in rx.finditer(text) if m.end() > m.start()]
        return sorted(out, key=lambda f: (f.start, f.end))


def scan(text: str, patterns: BlockedPatterns | None) -> list[Finding]:
    """Findings of ``patterns`` in ``text`` (none when ``patterns`` is None or empty)."""
    return patterns.scan(text) if patterns else []
