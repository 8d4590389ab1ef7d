"""Shared helpers of the scanners: value hashing, findings, entropy, overlap resolution.

Nothing here keeps a raw value: a :class:`~llmops_nb.types.Finding` is built from the text and a
span, and only the (optionally keyed) hash of the matched value is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections import Counter
from collections.abc import Iterable

from llmops_nb.types import Finding

HASH_HEX = 16
_hash_key: bytes | None = None

# Higher wins when two findings of the span-scanners overlap ("one span → one type").
# Provider-specific secrets beat generic ones; a validated card beats a phone-shaped run, etc.
PRIORITY = {
    "private_key": 100, "anthropic_key": 95, "openai_key": 94, "github_token": 93, "slack_token": 92,
    "stripe_key": 91, "google_api_key": 90, "aws_access_key": 89, "aws_secret_key": 88, "gitlab_token": 87,
    "huggingface_token": 87, "npm_token": 87, "pypi_token": 87, "sendgrid_key": 87,
    "twilio_key": 86, "azure_key": 86, "provider_token": 85, "webhook_url": 84, "password_hash": 82,
    "jwt": 80, "url_credentials": 78, "connection_string_password": 77,
    "bearer_token": 75, "basic_auth": 74, "generic_secret": 70, "card": 60, "iban": 58, "ssn": 56, "email": 55, "national_id": 54,
    "ipv6": 50, "ipv4": 48, "phone": 40,
}


def set_hash_key(key: bytes | str | None) -> None:
    """Key the value hashes (HMAC-SHA256) so short values (SSNs, phones) cannot be brute-forced
    from a recorded hash; ``None`` goes back to plain SHA-256."""
    global _hash_key
    _hash_key = key.encode() if isinstance(key, str) else key


def value_hash(value: str) -> str:
    """The first 16 hex digits of the value's SHA-256 (HMAC-SHA256 once a key is set)."""
    data = value.encode("utf-8", "surrogatepass")
    if _hash_key is not None:
        return hmac.new(_hash_key, data, hashlib.sha256).hexdigest()[:HASH_HEX]
    return hashlib.sha256(data).hexdigest()[:HASH_HEX]


def make_finding(scanner: str, type_: str, text: str, start: int, end: int, *,
                 score: float = 1.0, severity: str = "medium") -> Finding:
    """A finding for ``text[start:end]``; only the value's hash is kept."""
    return Finding(scanner=scanner, type=type_, severity=severity, score=round(min(max(score, 0.0), 1.0), 4),
                   start=start, end=end, value_hash=value_hash(text[start:end]), action="warn")


def shannon_entropy(s: str) -> float:
    """Bits per character of ``s`` (0 for an empty string)."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def preceding(text: str, start: int, width: int = 32) -> str:
    """The ``width`` characters before ``start``, lower-cased (for context rules)."""
    return text[max(0, start - width):start].lower()


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep one finding per span: on overlap the higher-priority type wins, then the longer span.

    Findings of types without a priority (injection, toxicity, patterns …) are kept as they are.
    """
    ranked: list[Finding] = []
    others: list[Finding] = []
    for f in findings:
        (ranked if f.type in PRIORITY else others).append(f)
    ranked.sort(key=lambda f: (-PRIORITY[f.type], -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for f in ranked:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept + others, key=lambda f: (f.start, f.end))


def trie_pattern(words: Iterable[str]) -> str:
    """A regex alternation of literal ``words`` shaped as a trie (``re`` tries one branch per
    first character instead of every word in turn)."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(ch) + render(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            body = ("(?:" + body + ")?") if len(branches) == 1 else body + "?"
        return body

    return render(trie)


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod-10) checksum of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
