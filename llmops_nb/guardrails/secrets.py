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
from collections.abc import Callable

from llmops_nb.guardrails._common import make_finding, resolve_overlaps, shannon_entropy
from llmops_nb.types import Finding

SCANNER = "secrets"
TYPES = ("openai_key", "anthropic_key", "aws_access_key", "aws_secret_key", "github_token", "gitlab_token",
         "slack_token", "huggingface_token", "npm_token", "pypi_token", "azure_key", "twilio_key",
         "sendgrid_key", "google_api_key", "stripe_key", "private_key", "jwt", "bearer_token", "url_credentials",
         "connection_string_password", "generic_secret")

_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA")
_PLACEHOLDER = re.compile(r"x{6}|\*{4}|\.\.\.|example|your|placeholder|redacted|dummy|changeme|"
                          r"0123456789|abcdef", re.I)

# (type, prefilter literal, regex, value group, minimum entropy of the value's body)
_RULES: list[tuple[str, tuple[str, ...], re.Pattern[str], float]] = [
    ("anthropic_key", ("sk-ant-",),
     re.compile(r"(?<![\w-])(sk-ant-[a-z]{2,10}\d{2}-[A-Za-z0-9_-]{40,})(?![\w-])"), 3.5),
    ("openai_key", ("sk-",),
     re.compile(r"(?<![\w-])(sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{32,})(?![\w-])"), 3.5),
    ("aws_access_key", _AWS_PREFIXES,
     re.compile(r"(?<![A-Za-z0-9])((?:" + "|".join(_AWS_PREFIXES) + r"|A3T[A-Z0-9])[A-Z0-9]{16})(?![A-Za-z0-9])"), 2.5),
    ("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     re.compile(r"(?<![\w-])(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![\w-])"), 3.5),
    ("slack_token", ("xox",),
     re.compile(r"(?<![\w-])(xox[baprse]-(?:\d{8,13}-){1,2}[A-Za-z0-9-]{8,})(?![\w-])"), 3.0),
    # app-level (xapp-), configuration (xoxe.xoxp-/xoxe.xoxb-) and refresh (xoxe-) tokens
    ("slack_token", ("xapp-", "xoxe"),
     re.compile(r"(?<![\w.-])(xapp-\d-[A-Z0-9]{9,12}-\d{10,14}-[a-f0-9]{32,80}|xoxe\.xox[bp]-\d-[A-Za-z0-9]{100,200}"
                r"|xoxe-\d-[A-Za-z0-9]{100,200})(?![\w-])"), 3.0),
    ("slack_token", ("hooks.slack.com",),
     re.compile(r"(https://hooks\.slack\.com/(?:services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}"
                r"|(?:workflows|triggers)/T[A-Z0-9]{6,12}/A[A-Z0-9]{6,12}/\d{8,20}/[A-Za-z0-9]{20,40}))"), 3.0),
    ("gitlab_token", ("gl",),
     re.compile(r"(?<![\w-])((?:glpat|gldt|glrt|glptt|glsoat|glcbt|glimt|glagent|glft|glffct|gloas)-[A-Za-z0-9_-]{20,64}"
                r"|GR1348941[A-Za-z0-9_-]{20,})(?![\w-])"), 3.0),
    ("huggingface_token", ("hf_", "api_org_"),
     re.compile(r"(?<![\w-])((?:hf_|api_org_)[A-Za-z0-9]{30,40})(?![\w-])"), 3.0),
    ("npm_token", ("npm_",), re.compile(r"(?<![\w-])(npm_[A-Za-z0-9]{36})(?![\w-])"), 3.0),
    ("pypi_token", ("pypi-",), re.compile(r"(?<![\w-])(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})(?![\w-])"), 3.0),
    ("sendgrid_key", ("SG.",), re.compile(r"(?<![\w-])(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![\w-])"), 3.0),
    ("twilio_key", ("SK", "AC"), re.compile(r"(?<![A-Za-z0-9])(SK[0-9a-f]{32})(?![A-Za-z0-9])"), 3.0),
    # Azure AD client secrets (xxx8Q~…) and storage account keys
    ("azure_key", ("Q~",), re.compile(r"(?<![\w~.-])([A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?![\w~.-])"), 3.0),
    ("azure_key", ("AccountKey=", "SharedAccessKey="),
     re.compile(r"(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{40,88}={0,2})"), 3.5),
    ("google_api_key", ("AIza",), re.compile(r"(?<![\w-])(AIza[0-9A-Za-z_-]{35})(?![\w-])"), 3.5),
    ("stripe_key", ("_live_", "_test_", "whsec_"),
     re.compile(r"(?<![\w-])((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99}|whsec_[0-9A-Za-z]{32,})(?![\w-])"), 3.5),
]
_AWS_SECRET = re.compile(
    r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key|aws.{0,12}secret|aws.{0,12}(?:key|sk)\b|"
    r"(?:aws|amazon).{0,20}(?:secret|key|credential|token))[\w-]*[\"']?\s*(?:[:=]|=>|:=)\s*[\"']?"
    r"(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
# a 40-character secret next to an access key id (credentials files, CSVs, CLI output)
_AWS_SECRET_NEAR_ID = re.compile(
    r"(?:" + "|".join(_AWS_PREFIXES) + r")[A-Z0-9]{16}[^\n]{0,80}?(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
    r"|(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])[^\n]{0,80}?(?:" + "|".join(_AWS_PREFIXES) + r")[A-Z0-9]{16}"
)
_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----"
    r"(?:[\s\S]{0,16000}?-----END \1PRIVATE KEY\2-----|(?:\r?\n(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\n]*))*)"
)
_JWT = re.compile(r"(?<![\w-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)?|"
                  r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*)(?![\w.-])")
_BEARER = re.compile(
    r"(?i:authorization|auth|token|header)\W{0,4}[:=]?\s*[\"']?(?i:bearer)\s+([A-Za-z0-9\-._~+/]{16,}=*)(?![\w\-.~+/])"
)
_URL_CREDS = re.compile(r"\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@\"'`<>;,]{0,64}:([^\s:/@\"'`<>;,]{3,128})@[\w.-]+", re.I)
_CONN_PASSWORD = re.compile(r"(?i:\b(?:password|pwd|passwd)\s*=\s*)([^;\s\"'<>{}]{4,128})(?=\s*(?:;|$|[\"']))")
_GENERIC_KEYWORD = re.compile(r"(?<![a-z0-9])[\w.-]{0,40}?(?:api[_.-]?key|apikey|secret|token|passw(?:or)?d|passwd|pwd|"
                              r"access[_.-]?key|auth[_.-]?key|credentials?|private[_.-]?key|client[_.-]?secret|"
                              r"signing[_.-]?key|key)(?![a-z])")
_GENERIC_KEYWORD_GATE = re.compile(r"key|secret|token|pass|pwd|cred")
_GENERIC_TAIL = re.compile(
    r"(?P<name_end>[\w.-]{0,24}?)[\"'\]]?\s{0,3}(?:[:=]|=>|:=|\s)\s{0,3}(?:\b(?i:bearer|token|basic)\s+)?[\"'`]?"
    r"(?P<value>[A-Za-z0-9+/_.~!@#%^&*-]{8,200}={0,2})(?![A-Za-z0-9+/_.~!@#%^&*=-])"
)
_GENERIC_LITERALS = ("key", "secret", "token", "pass", "pwd", "cred", "KEY", "SECRET", "TOKEN", "PASS", "PWD", "Key",
                     "Secret", "Token", "Pass", "Cred", "CRED")


_STRICT_MIX = frozenset({"openai_key", "anthropic_key", "github_token", "google_api_key", "stripe_key"})
_WEAK_PASSWORDS = frozenset({"pass", "password", "passwd", "secret", "guest", "anonymous", "changeme", "admin",
                             "root", "test", "user", "example", "xxx", "xxxx", "****", "pwd", "mypassword"})
_PREFIX = re.compile(r"^(?:sk-ant-[a-z]+\d*-|sk-(?:proj-|svcacct-|admin-)?|[a-z]+_(?:live|test)_|gh[a-z]_|"
                     r"github_pat_|xox[a-z]-|AIza|whsec_)")


def _body_entropy(value: str) -> float:
    return shannon_entropy(_PREFIX.sub("", value))


def _looks_fake(value: str) -> bool:
    return _PLACEHOLDER.search(value) is not None


def _mixed(body: str, strict: bool) -> bool:
    """Real keys mix character classes; slugs, kebab-case names and words do not. ``strict``:
    upper case, lower case and digits (random base62 keys of these lengths always have all three)."""
    has = (any(c.isdigit() for c in body), any(c.isupper() for c in body), any(c.islower() for c in body))
    return all(has) if strict else (has[0] and (has[1] or has[2])) or (has[1] and has[2])


def _jwt_ok(value: str) -> bool:
    header = value.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error):
        return False
    if not isinstance(decoded, dict) or "alg" not in decoded:
        return False
    parts = value.split(".")
    if len(parts) == 2:  # header.payload: an unsigned token (or one with its signature cut off)
        return _json_object(parts[1])
    return bool(parts[2]) or str(decoded.get("alg")).lower() == "none"


def _json_object(segment: str) -> bool:
    try:
        return isinstance(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))), dict)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False


def _rule_findings(text: str) -> list[Finding]:
    out = []
    for type_, literals, rx, min_entropy in _RULES:
        if not any(lit in text for lit in literals):
            continue
        for m in rx.finditer(text):
            value = m.group(1)
            if _looks_fake(value) or _body_entropy(value) < min_entropy:
                continue
            if type_ != "aws_access_key" and not _mixed(_PREFIX.sub("", value), type_ in _STRICT_MIX):
                continue
            out.append(make_finding(SCANNER, type_, text, m.start(1), m.end(1), score=0.95, severity="critical"))
    return out


def _bearer_ok(token: str) -> bool:
    return not _looks_fake(token) and shannon_entropy(token) >= 3.0


def _password_ok(password: str) -> bool:
    if password.isdigit() and len(password) <= 5:
        return False  # host:8000 — a port, not a password
    if _REFERENCE.fullmatch(password):
        return False  # Password=env.DB_PASSWORD: a reference, not a value
    return not _looks_fake(password) and password.lower() not in _WEAK_PASSWORDS and password[0] not in "$%{<"


_REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?")
_ID_NAME = re.compile(r"(?:_|-|\.)?(?:id|ids|name|names|type|types|url|uri|path|file|length|len|size|count|field|"
                      r"header|param|prefix|format|version|index|hash|policy|expir\w*|timeout|ttl)$", re.I)


def _generic_candidates(text: str) -> list[tuple[str, int, int]]:
    """(name, value start, value end) of ``name = value`` assignments whose name has a secret
    keyword: keyword occurrences are found in the lower-cased text (cheap), the assignment is
    matched from each one."""
    low = text.lower()
    if len(low) != len(text):
        low = text  # a case mapping changed the length: match as written
    out: list[tuple[str, int, int]] = []
    pos = 0
    for gate in _GENERIC_KEYWORD_GATE.finditer(low):
        if gate.start() < pos:
            continue
        kw = _GENERIC_KEYWORD.search(low, max(pos, gate.start() - 41), gate.end() + 16)
        if kw is None:
            continue
        tail = _GENERIC_TAIL.match(text, kw.end())
        if tail is None:
            pos = kw.end()
            continue
        out.append((text[kw.start():tail.end("name_end")], tail.start("value"), tail.end("value")))
        pos = tail.end()
    return out


def _generic_findings(text: str) -> list[Finding]:
    out = []
    for name, start, end in _generic_candidates(text):
        value = text[start:end]
        if _ID_NAME.search(name.rstrip("\"']")) or _looks_fake(value) or value.lower() in _WEAK_PASSWORDS:
            continue
        if _REFERENCE.fullmatch(value):
            continue  # env.DB_PASSWORD, settings.api_key: a reference, not a value
        body = value.strip("=")
        if body.isalpha() and (body.islower() or body.isupper() or len(body) < 16):
            continue  # a word or identifier (pro_email, true, SOME_SETTING)
        if not any(c.isdigit() for c in body) and shannon_entropy(body) < 3.8:
            continue
        if shannon_entropy(body) < 3.0 or re.fullmatch(r"[\d.:/-]+", body) or "://" in value:
            continue  # numbers, dates, versions, URLs
        out.append(make_finding(SCANNER, "generic_secret", text, start, end, score=0.7, severity="high"))
    return out


def _aws_secret_ok(value: str) -> bool:
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return mixed and not _looks_fake(value) and shannon_entropy(value) >= 4.0


# (type, prefilter literals, regex, value group, validator, score, severity)
_STRUCTURED: list[tuple[str, tuple[str, ...], re.Pattern[str], int, Callable[[str], bool], float, str]] = [
    ("private_key", ("PRIVATE KEY",), _PEM, 0, lambda v: True, 1.0, "critical"),
    ("jwt", ("eyJ",), _JWT, 1, _jwt_ok, 0.9, "high"),
    ("bearer_token", ("earer", "EARER"), _BEARER, 1, _bearer_ok, 0.85, "high"),
    ("url_credentials", ("://",), _URL_CREDS, 1, _password_ok, 0.85, "high"),
    ("aws_secret_key", ("ecret", "ECRET", "aws", "AWS", "key", "KEY", "Key"), _AWS_SECRET, 1, _aws_secret_ok, 0.9,
     "critical"),
    ("connection_string_password", ("assword", "ASSWORD", "wd=", "WD="), _CONN_PASSWORD, 1, _password_ok, 0.85,
     "high"),
]


def _structured_findings(text: str) -> list[Finding]:
    out = []
    for type_, literals, rx, group, ok, score, severity in _STRUCTURED:
        if any(lit in text for lit in literals):
            out += [make_finding(SCANNER, type_, text, m.start(group), m.end(group), score=score, severity=severity)
                    for m in rx.finditer(text) if ok(m.group(group))]
    return out


def _aws_near_id_findings(text: str) -> list[Finding]:
    if not any(p in text for p in _AWS_PREFIXES):
        return []
    out = []
    for m in _AWS_SECRET_NEAR_ID.finditer(text):
        g = 1 if m.group(1) else 2
        if _aws_secret_ok(m.group(g)) and any(c.isdigit() for c in m.group(g)):
            out.append(make_finding(SCANNER, "aws_secret_key", text, m.start(g), m.end(g), score=0.85, severity="critical"))
    return out


def scan(text: str, types: frozenset[str] | set[str] | None = None) -> list[Finding]:
    """Secret findings in ``text`` (all types, or only ``types``), one type per span, in order."""
    found = _rule_findings(text) + _structured_findings(text) + _aws_near_id_findings(text)
    if any(lit in text for lit in _GENERIC_LITERALS):
        found += _generic_findings(text)
    if types is not None:
        found = [f for f in found if f.type in types]
    return resolve_overlaps(found)

