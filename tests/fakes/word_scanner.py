"""A scanner for tests of the scanner protocol: it keeps every text it is given (``seen``) and
flags ``word`` wherever it is (nothing, without a word) — what a policy's model-backed scanner
is sent, and where its spans land, without a model."""

from __future__ import annotations

from llmops_nb.guardrails._common import make_finding
from llmops_nb.types import Finding


class WordScanner:
    def __init__(self, word: str | None = None, name: str = "words") -> None:
        self.word, self.name = word, name
        self.seen: list[str] = []

    def scan(self, text: str, direction: str = "input") -> list[Finding]:
        self.seen.append(text)
        at = text.find(self.word) if self.word else -1
        return [] if at < 0 else [make_finding(self.name, "word", text, at, at + len(self.word or ""))]
