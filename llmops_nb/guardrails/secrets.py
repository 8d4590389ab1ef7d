"""Secrets scanner: provider API keys, tokens, private keys, JWTs, bearer tokens, URL passwords.

Each type is anchored on its documented prefix or structure (``sk-proj-``, ``AKIA``, ``ghp_``,
``xoxb-``, ``AIza``, ``-----BEGIN … PRIVATE KEY-----``, a JWT header that decodes to JSON with
``"alg"``); entropy is only a secondary signal that drops placeholders such as
``sk-xxxxxxxxxxxxxxxxxxxxxxxx`` or ``AKIA…EXAMPLE``. There is no "any long hex string" rule, so
git commit hashes, SHA-256 digests and UUIDs are never reported.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from llmops_nb.guardrails._common import make_finding, preceding, resolve_overlaps, shannon_entropy
from llmops_nb.types import Finding

SCANNER = "secrets"
TYPES = ("openai_key", "anthropic_key", "aws_access_key", "aws_secret_key", "github_token", "slack_token",
         "google_api_key", "stripe_key", "private_key", "jwt", "bearer_token", "url_credentials")

_PLACEHOLDER = re.compile(r"x{6}|X{6}|\*{4}|\.\.\.|example|your|placeholder|redacted|dummy|changeme|<|>|"
                          r"\{\{|\$\{|0123456789|abcdef", re.I)

# (type, prefilter literal, regex, value group, minimum entropy of the value's body)
_RULES: list[tuple[str, tuple[str, ...], re.Pattern[str], float]] = [
    ("anthropic_key", ("sk-ant-",),
     re.compile(r"(?<![\w-])(sk-ant-[a-z]{2,10}\d{2}-[A-Za-z0-9_-]{40,})(?![\w-])"), 3.5),
    ("openai_key", ("sk-",),
     re.compile(r"(?<![\w-])(sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{32,})(?![\w-])"), 3.5),
    ("aws_access_key", ("AKIA", "ASIA", "ABIA", "ACCA"),
     re.compile(r"(?<![A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9])"), 2.5),
    ("github_token", ("gh", "github_pat_"),
     re.compile(r"(?<![\w-])(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![\w-])"), 3.5),
    ("slack_token", ("xox",),
     re.compile(r"(?<![\w-])(xox[baprse]-(?:\d{8,13}-){1,2}[A-Za-z0-9-]{8,})(?![\w-])"), 3.0),
    ("slack_token", ("hooks.slack.com",),
     re.compile(r"(https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32})"), 3.0),
    ("google_api_key", ("AIza",), re.compile(r"(?<![\w-])(AIza[0-9A-Za-z_-]{35})(?![\w-])"), 3.5),
    ("stripe_key", ("_live_", "_test_", "whsec_"),
     re.compile(r"(?<![\w-])((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99}|whsec_[0-9A-Za-z]{32,})(?![\w-])"), 3.5),
]
_AWS_SECRET = re.compile(
    r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key|aws.{0,12}secret)[\"']?\s*[:=]\s*[\"']?"
    r"(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----"
    r"(?:[\s\S]{0,16000}?-----END \1PRIVATE KEY\2-----|[A-Za-z0-9+/=:,\-\s]*)"
)
_JWT = re.compile(r"(?<![\w-])(ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*)(?![\w.-])")
_BEARER = re.compile(
    r"(?i:authorization|auth|token|header)\W{0,4}[:=]?\s*[\"']?(?i:bearer)\s+([A-Za-z0-9\-._~+/]{16,}=*)(?![\w\-.~+/])"
)
_URL_CREDS = re.compile(r"\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@]{1,64}:([^\s:/@]{3,128})@[\w.-]+", re.I)


def _body_entropy(value: str) -> float:
    body = re.sub(r"^(?:sk-ant-[a-z]+\d*-|sk-(?:proj-|svcacct-|admin-)?|[a-z]+_(?:live|test)_|gh[a-z]_|"
                  r"github_pat_|xox[a-z]-|AIza|whsec_)", "", value)
    return shannon_entropy(body)


def _looks_fake(value: str) -> bool:
    return _PLACEHOLDER.search(value) is not None


def _jwt_ok(value: str) -> bool:
    header = value.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error):
        return False
    if not isinstance(decoded, dict) or "alg" not in decoded:
        return False
    return bool(value.rsplit(".", 1)[1]) or str(decoded.get("alg")).lower() == "none"


def _rule_findings(text: str) -> list[Finding]:
    out = []
    for type_, literals, rx, min_entropy in _RULES:
        if not any(lit in text for lit in literals):
            continue
        for m in rx.finditer(text):
            value = m.group(1)
            if _looks_fake(value) or _body_entropy(value) < min_entropy:
                continue
            out.append(make_finding(SCANNER, type_, text, m.start(1), m.end(1), score=0.95, severity="critical"))
    return out


def _structured_findings(text: str) -> list[Finding]:
    out = []
    if "PRIVATE KEY" in text:
        out += [make_finding(SCANNER, "private_key", text, m.start(), m.end(), score=1.0, severity="critical")
                for m in _PEM.finditer(text)]
    if "ey" in text:
        out += [make_finding(SCANNER, "jwt", text, m.start(1), m.end(1), score=0.9, severity="high")
                for m in _JWT.finditer(text) if _jwt_ok(m.group(1))]
    low = text.lower() if "earer" in text or "EARER" in text else ""
    if "bearer" in low:
        for m in _BEARER.finditer(text):
            token = m.group(1)
            if not _looks_fake(token) and shannon_entropy(token) >= 3.0:
                out.append(make_finding(SCANNER, "bearer_token", text, m.start(1), m.end(1), score=0.85,
                                        severity="high"))
    if "://" in text and "@" in text:
        for m in _URL_CREDS.finditer(text):
            password = m.group(1)
            if not _looks_fake(password) and not password.startswith("$"):
                out.append(make_finding(SCANNER, "url_credentials", text, m.start(1), m.end(1), score=0.85,
                                        severity="high"))
    if "ecret" in text or "ECRET" in text:
        for m in _AWS_SECRET.finditer(text):
            value = m.group(1)
            mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
            if mixed and not _looks_fake(value) and shannon_entropy(value) >= 4.0:
                out.append(make_finding(SCANNER, "aws_secret_key", text, m.start(1), m.end(1), score=0.9,
                                        severity="critical"))
    return out


def scan(text: str, types: frozenset[str] | set[str] | None = None) -> list[Finding]:
    """Secret findings in ``text`` (all types, or only ``types``), one type per span, in order."""
    found = _rule_findings(text) + _structured_findings(text)
    if types is not None:
        found = [f for f in found if f.type in types]
    return resolve_overlaps(found)


def _unused(text: str, start: int) -> str:  # pragma: no cover - kept small on purpose
    return preceding(text, start)
