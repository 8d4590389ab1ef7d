"""Secrets scanner: provider API keys, tokens, private keys, JWTs, bearer/basic credentials,
passwords in URLs, connection strings and command lines, and ``name = value`` assignments of a
secret-looking value to a secret-looking name.

Three layers, cheapest first:

1. **Documented formats** (here and in :mod:`.secret_formats`): a type is anchored on its
   documented prefix or structure (``sk-proj-``, ``AKIA``, ``ghp_``, ``glpat-``, ``hf_``,
   ``xoxb-``, ``-----BEGIN … PRIVATE KEY-----``, a JWT header that decodes to JSON with
   ``"alg"``). Each rule is tried only when one of its literals occurs in the text.
2. **Structured credentials**: URL user-info (``scheme://user:pass@host``), connection-string
   ``Password=…``, ``Authorization: Bearer|Basic …``, ``curl -u user:pass``, AWS secrets next to
   an AWS name or an access-key id, password hashes (crypt formats).
3. **Keyword-anchored assignments**: a name containing *key*, *secret*, *token*, *password*,
   *credential* … assigned (``=``, ``:``, ``:=``, ``=>``, ``==``, ``,`` or a space, in code, env
   files, JSON, YAML, headers, CLI flags) a value that is neither a reference (``${X}``,
   ``os.environ[...]``, ``settings.api_key``, ``<YOUR_KEY>``) nor a placeholder, and that
   looks random enough for what the name promises (password names accept any non-trivial
   value, key/token names need a high-entropy one).

Entropy is a secondary signal that drops placeholders such as ``sk-xxxxxxxxxxxxxxxxxxxxxxxx``.
There is no "any long hex string" rule, so git commit hashes, SHA-256 digests and UUIDs are
never reported on their own. Findings keep only the value's hash (:func:`make_finding`).
"""

from __future__ import annotations

import base64
import binascii
import json
import string
from collections.abc import Callable

from llmops_nb.guardrails import lazy_re as re
from llmops_nb.guardrails._common import make_finding, resolve_overlaps, shannon_entropy
from llmops_nb.guardrails.secret_formats import FORMATS
from llmops_nb.types import Finding

SCANNER = "secrets"
TYPES = ("openai_key", "anthropic_key", "aws_access_key", "aws_secret_key", "github_token", "gitlab_token",
         "slack_token", "huggingface_token", "npm_token", "pypi_token", "azure_key", "twilio_key",
         "sendgrid_key", "google_api_key", "stripe_key", "provider_token", "webhook_url", "private_key", "jwt",
         "bearer_token", "basic_auth", "url_credentials", "connection_string_password", "password_hash",
         "generic_secret")

_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA")
_PLACEHOLDER = re.compile(r"x{5}|X{5}|\*{3}|\.\.\.|…|example|your|placeholder|redacted|dummy|changeme|change_me|"
                          r"replace|insert|sample|here>|<[a-z_ -]+>|todo|fixme", re.I)
_B, _E = r"(?<![\w-])", r"(?![\w-])"

# The providers this module names itself (the others are in secret_formats.FORMATS).
_CORE: list[tuple[str, tuple[str, ...], str, float]] = [
    ("anthropic_key", ("sk-ant-",), _B + r"(?P<v>sk-ant-[a-z]{2,10}\d{2,3}-(?P<b>[A-Za-z0-9_-]{40,}))" + _E, 3.5),
    ("openai_key", ("sk-",),
     _B + r"(?P<v>sk-(?!ant-|or-)(?:proj-|svcacct-|admin-|None-)?(?P<b>[A-Za-z0-9_-]{32,}))" + _E, 3.5),
    ("aws_access_key", _AWS_PREFIXES + ("A3T",),
     r"(?<![A-Za-z0-9])(?P<v>(?:" + "|".join(_AWS_PREFIXES) + r"|A3T[A-Z0-9])(?P<b>[A-Z0-9]{16}))(?![A-Za-z0-9])", 2.5),
    ("github_token", ("github_pat_",), _B + r"(?P<v>github_pat_(?P<b>[A-Za-z0-9]{22}_[A-Za-z0-9]{59}))" + _E, 3.5),
    ("slack_token", ("xox",), _B + r"(?P<v>xox[baprseo]-(?P<b>(?:\d{1,13}-){1,3}[A-Za-z0-9-]{8,}))" + _E, 3.0),
    # app-level (xapp-), configuration (xoxe.xoxp-/xoxe.xoxb-) and refresh (xoxe-) tokens
    ("slack_token", ("xapp-", "xoxe"),
     r"(?<![\w.-])(?P<v>xapp-\d-(?P<b>[A-Z0-9]{9,12}-\d{10,14}-[a-f0-9]{32,80})|xoxe\.xox[bp]-\d-(?P<b2>[A-Za-z0-9]{100,200})"
     r"|xoxe-\d-(?P<b3>[A-Za-z0-9]{100,200}))" + _E, 3.0),
    ("slack_token", ("hooks.slack.com",),
     r"(?P<v>https://hooks\.slack\.com/(?:services/T[A-Za-z0-9]{6,12}/B[A-Za-z0-9]{6,12}/(?P<b>[A-Za-z0-9]{20,32})"
     r"|(?:workflows|triggers)/T[A-Z0-9]{6,12}/A[A-Z0-9]{6,12}/\d{8,20}/(?P<b2>[A-Za-z0-9]{20,40})))", 3.0),
    ("npm_token", ("npm_",), _B + r"(?P<v>npm_(?P<b>[A-Za-z0-9]{36}))" + _E, 3.0),
    ("pypi_token", ("pypi-",), _B + r"(?P<v>pypi-AgEIcHlwaS5vcmc(?P<b>[A-Za-z0-9_-]{50,}))" + _E, 3.0),
    ("twilio_key", ("SK",), r"(?<![A-Za-z0-9])(?P<v>SK(?P<b>[0-9a-f]{32}))(?![A-Za-z0-9])", 3.0),
]
# (type, literals, regex, min entropy, whether the literals must be looked for in the whole text:
# formats with a space or a line break in them; the others are single tokens, see _rule_findings)
def _compile(pattern: str) -> re.Pattern[str]:
    """``(?<![\\w-])(?P<v>dapi…`` as ``(?P<v>dapi(?<![\\w-]dapi)…``: the same match, but a pattern that
    starts with a literal lets ``re`` skip ahead to that literal instead of trying every position."""
    head = _B + "(?P<v>"
    lit = re.match(r"[A-Za-z0-9_]+", pattern[len(head):]) if pattern.startswith(head) else None
    if lit is None:
        return re.compile(pattern)
    literal = lit.group()
    if pattern[len(head) + len(literal):][:1] in ("?", "*", "+", "{"):
        literal = literal[:-1]  # the last character has a quantifier: not part of the fixed prefix
    if len(literal) < 2:
        return re.compile(pattern)
    rest = pattern[len(head) + len(literal):]
    return re.compile("(?P<v>" + literal + r"(?<![\w-]" + literal + ")" + rest)


_RULES = [(t, lits, _compile(rx), e, bool(re.search(r" |\\s|\\n", rx))) for t, lits, rx, e in _CORE + FORMATS]
# A token-shaped format (16+ characters, no space) can only match inside a whitespace-separated
# chunk of 16+ characters; in prose or code those chunks are about a tenth of the text, so the
# ~200 literal checks look at a tenth of the characters.
# literal → the rules it triggers (each distinct literal is looked for once per text)
_RULES_OF: dict[tuple[str, bool], list[int]] = {}
for _i, (_t, _lits, _rx, _e, _whole) in enumerate(_RULES):
    for _lit in _lits:
        _RULES_OF.setdefault((_lit, _whole), []).append(_i)
_TOKEN_LITERALS = tuple(lit for lit, whole in _RULES_OF if not whole)
_TEXT_LITERALS = tuple(lit for lit, whole in _RULES_OF if whole)
# random base62 keys of these lengths always mix upper case, lower case and digits
_STRICT_MIX = frozenset({"openai_key", "anthropic_key", "github_token", "google_api_key"})


def _looks_fake(value: str) -> bool:
    return _PLACEHOLDER.search(value) is not None or _sequential(value)


def _sequential(value: str) -> bool:
    """``abcdefghijklmnopqrstuvwxyz``: one run of consecutive characters, typed, not generated."""
    return len(value) >= 12 and all(ord(b) - ord(a) == 1 for a, b in zip(value, value[1:], strict=False))


def _consecutive(a: int, b: int) -> bool:
    """Code points ``a``, ``b`` (digits or lower-case letters) are neighbours: ``b`` follows or
    precedes ``a`` in the digits (0-9 wrapping) or the alphabet (a-z wrapping)."""
    if a < 58 and b < 58:
        return (b - a) % 10 in (1, 9)
    return a > 96 and b > 96 and (b - a) % 26 in (1, 25)


_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def _typed_sample(value: str, min_len: int = 16) -> bool:
    """A key typed by hand for a rule's example or a test: runs of the alphabet and the digits
    (``abcdef1234567890…``, ``a1b2c3d4…``, ``ZYXW9876…``) or one block repeated
    (``ABCDE12-ABCDE12-…``), 16+ characters, 5+ distinct. A generated key almost never is one
    (a random base62 string has a consecutive neighbour at ~6 % of positions, this needs 75 %)."""
    if len(value) < min_len:
        return False
    s = _NOT_ALNUM.sub("", value)
    n = len(s)
    low = s.lower()
    if n < min_len or len(set(low)) < 5:
        return False
    o = [ord(c) for c in low]
    misses, allowed = 0, 0.25 * (n - 1)
    for i in range(1, n):
        if not (_consecutive(o[i - 1], o[i]) or (i >= 2 and _consecutive(o[i - 2], o[i]))):
            misses += 1
            if misses > allowed:
                break
    else:
        return True
    # a block repeated: its first or its last repetition is exact (a cheap test before counting)
    return any((s[p:2 * p] == s[:p] or s[n - p:] == s[n - 2 * p:n - p]) and len(set(s[:p])) >= 3
               and sum(map(str.__eq__, s[p:], s[:-p])) >= 0.85 * (n - p) for p in range(3, min(17, n // 2 + 1)))


def _mixed(body: str, strict: bool) -> bool:
    """Real keys mix character classes; slugs, kebab-case names and words do not. ``strict``:
    upper case, lower case and digits. A body of digits (and separators) behind a documented
    prefix is a key too (``NF-1234…``, ``pub-c-12345678-1234-…``: hex or UUID bodies that happen,
    or were typed, to have no letter)."""
    if not strict and any(c.isdigit() for c in body) and not any(c.isalpha() for c in body):
        return True
    has = (any(c.isdigit() for c in body), any(c.isupper() for c in body), any(c.islower() for c in body))
    return all(has) if strict else (has[0] and (has[1] or has[2])) or (has[1] and has[2])


def _rule_findings(text: str) -> list[Finding]:
    out = []
    runs = "\n".join([w for w in text.split() if len(w) >= 16])
    todo = {i for lit in _TOKEN_LITERALS if lit in runs for i in _RULES_OF[lit, False]} if runs else set()
    todo.update(i for lit in _TEXT_LITERALS if lit in text for i in _RULES_OF[lit, True])
    for i in sorted(todo):
        type_, _literals, rx, min_entropy, _whole = _RULES[i]
        for m in rx.finditer(text):
            value = m.group("v")
            groups = m.groupdict()
            body = groups.get("b") or groups.get("b2") or groups.get("b3") or value
            if _looks_fake(body) or shannon_entropy(body) < min_entropy:  # the secret part: not a tenant host
                continue
            if type_ != "aws_access_key" and min_entropy > 0 and not _mixed(body, type_ in _STRICT_MIX):
                continue
            out.append(make_finding(SCANNER, type_, text, m.start("v"), m.end("v"), score=0.95, severity="critical"))
    return out


# ------------------------------------------------------------------------- structured credentials
_AWS_NAME = r"(?i:aws|amazon|s3)"
# matched in the lower-cased text (a case-sensitive pattern that starts with "a" or "s" lets re
# skip every other position); the value is read from the original text at the same span
_AWS_SECRET_LOW = re.compile(
    r"(?:aws_?secret_?(?:access_?)?key|secret_?access_?key|aws.{0,12}secret|aws.{0,12}(?:key|sk)\b|"
    r"(?:aws|amazon).{0,20}(?:secret|key|credential|token))[\w-]*\\{0,3}[\"']?\s*(?:[:=]|=>|:=)\s*\\{0,3}[\"']?"
    r"(?<![a-z0-9/+])([a-z0-9/+]{40})(?![a-z0-9/+=])"
)
# a 40-character secret next to an access key id (credentials files, CSVs, CLI output)
_AWS_SECRET_NEAR_ID = re.compile(
    r"(?:" + "|".join(_AWS_PREFIXES) + r")[A-Z0-9]{16}[^\n]{0,80}?(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
    r"|(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])[^\n]{0,80}?(?:" + "|".join(_AWS_PREFIXES) + r")[A-Z0-9]{16}"
)
_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----"
    r"(?:[\s\S]{0,16000}?-----END \1PRIVATE KEY\2-----|(?:[\"'+ \t]*(?:\r?\n|\\n)[\"'+ \t]*(?:[A-Za-z0-9+/=]{16,}|[A-Za-z-]+: [^\n]*))*)"
)
_PEM_B64 = re.compile(r"(?<![A-Za-z0-9+/])(LS0tLS1CRUdJTi[A-Za-z0-9+/]{0,40}UFJJVkFURSBLRV[A-Za-z0-9+/]{40,}={0,2})")
_JWT = re.compile(r"(?<![\w-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)?|"
                  r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*)(?![\w.-])")
_BEARER = re.compile(
    r"(?i:authorization|auth|token|header|bearer_auth)\W{0,4}[:=]?\s*[\"']?(?i:bearer)\s+([A-Za-z0-9\-._~+/]{12,}=*)"
    r"(?![\w\-.~+/])"
)
_AUTH_HEADER = re.compile(r"(?i:authorization|x-auth-token|x-api-key|api-key)[\"']?\s*[:=]\s*[\"']?"
                          r"(?:(?i:token|apikey|api-key|key|sso-key|ssws|digest|klaviyo-api-key|genie-?key)\s+)?"
                          r"([A-Za-z0-9._~+/=:-]{20,})(?![\w.~+/=:-])")
_BASIC = re.compile(r"(?i:basic)\s+([A-Za-z0-9+/]{6,}={0,2})(?![\w+/=])")
# user-info of a URL; postgres:postgres@ (the same word twice) is a default, not a secret
_URL_SCHEME = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9+.-]{1,15}\Z")
_URL_USERINFO = re.compile(r"(?P<user>[^\s:/@\"'`<>;,]{0,64}):(?!(?P=user)@)([^\s:/@\"'`<>;,]{4,128})@[\w.-]+")
# Password=… inside a connection string: a ";" on one side of it
_CONN_PASSWORD = re.compile(r"(?i:\b(?:password|pwd|passwd)\s*=\s*)([^;\s\"'<>{}\[\]()]{4,128})(?=\s*;)"
                            r"|;\s*(?i:(?:password|pwd|passwd)\s*=\s*)([^;\s\"'<>{}\[\]()]{4,128})(?=\s*(?:$|[\"']))")
# (patterns start with a literal character and look behind it, so re can skip ahead to it)
_CLI_CREDS = re.compile(r"-(?<!\S-)(?:u|-user|-proxy-user|U)[\s=]+[\"']?[^\s:\"'@/]{1,64}:([^\s\"'@]{4,128})[\"']?"
                        r"(?=\s|$)")
# -u USER -p PASSWORD (psexec, docker login, mysql)
_CLI_PASSWORD = re.compile(r"-(?<!\S-)u\s+[^\s-][^\s]{0,63}\s+-p\s+([^\s\-\"'][^\s\"']{3,127})(?=\s|$)")
# .NET credentials built in code: new NetworkCredential("user", "password"[, "domain"]),
# new DirectoryEntry("LDAP://…", "user", "password")
_NET_CREDENTIAL = re.compile(r"NetworkCredential\(\s*@?\"[^\"\n]{1,128}\"\s*,\s*@?\"([^\"\n]{3,128})\"\s*[,)]"
                             r"|DirectoryEntry\(\s*@?\"[^\"\n]{0,200}\"\s*,\s*@?\"[^\"\n]{1,128}\"\s*,\s*@?\"([^\"\n]{3,128})\"\s*[,)]")
_SECURESTRING = re.compile(r"ConvertTo-SecureString\s+(?:-String\s+)?[\"']([^\"'\n]{4,128})[\"']\s+-AsPlainText")
_PW_HASH = re.compile(
    r"(\$(?<![\w$]\$)(?:2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}|[56]\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43,86}"
    r"|1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}|[89]\$[./A-Za-z0-9]{14}\$[./A-Za-z0-9]{43}"
    r"|krb5(?:asrep|tgs)\$\d+\$[^\s$]*?[$:]?[0-9a-f]{32}\$[0-9a-f]{64,}))"
)


def _jwt_ok(value: str) -> bool:
    parts = value.split(".")
    header = _b64_json(parts[0])
    if header is None:
        # a damaged or re-encoded header is still a token when the rest is one: a JSON payload
        # and a signature of real length
        return len(parts) == 3 and _b64_json(parts[1]) is not None and len(parts[2]) >= 16
    if "alg" not in header:
        return False
    if len(parts) == 2:  # header.payload: an unsigned token (or one with its signature cut off)
        return _b64_json(parts[1]) is not None
    return bool(parts[2]) or str(header.get("alg")).lower() == "none"


def _b64_json(segment: str) -> dict | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _bearer_ok(token: str) -> bool:
    return not _looks_fake(token) and shannon_entropy(token) >= 3.0 and not _REFERENCE.fullmatch(token)


def _basic_ok(value: str) -> bool:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = decoded.partition(":")
    return bool(sep and user and password) and decoded.isprintable() and _password_ok(password)


# settings.api_key, env.DB_PASSWORD: dotted names of words (a random "be8dfd.da8a689a" is not one)
_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z_]*\d{0,3}(?:\.[A-Za-z_][A-Za-z_]*\d{0,3})+(?:\(\))?")
# references and templates: ${VAR}, {{ var }}, #{x}, %(name)s, <%= x %>, $(cmd), $VAR, %VAR%,
# %env(X)%, <placeholder>, {placeholder}, [placeholder], f"prefix_{name}", concatenations
_TEMPLATE = re.compile(r"\$\{[\w.:-]*\}|\{\{\s*[\w.|\s]*\}\}|#\{[^}]*\}|%\(\w+\)|<%|\$\([\w. -]*\)|^\$+[A-Za-z_{(]|"
                       r"^%[A-Za-z_]\w*%$|%\w+\(|^<[^>]*>$|^\{[^}]*\}$|^\[[^\]]*\]$|\{\}|\{[A-Za-z_][\w.]+\}|"
                       r"^\s|\s\+\s|\s$|:$|^arn:|^#[\w-]+$"
                       # str.format fields ("{0}"), CloudFormation intrinsics (!Ref X, !Sub …), the tail of
                       # a concatenation that the assignment sits inside ("+new Buffer(", "'.$cfg[")
                       r"|\{\d+\}|^!(?:Ref|Sub|GetAtt|ImportValue|FindInMap|Join|Select|If|Base64|Split)\b"
                       r"|^[+.]\s*(?:new\s+)?[$A-Za-z_][\w$]*\s*[\[(]?")
# the conventional stand-ins of examples and docs (user:pass@, anonymous:guest@ for FTP)
_PLACEHOLDER_PASSWORDS = frozenset({"password", "passwd", "pass", "pwd", "guest", "yourpassword", "your_password",
                                    "null", "none", "xxx", "xxxx"})
# in URL user-info "username:mypassword@" is a docs placeholder too (secret scanners' URL rules skip
# it); in a connection string "Password=myPassword;" is the value scanners' rules are written to
# catch (the connection-string references print it), so it counts there
_URL_PLACEHOLDER_PASSWORDS = _PLACEHOLDER_PASSWORDS | {"mypassword"}


def _url_password_ok(password: str) -> bool:
    return _password_ok(password) and password.lower() not in _URL_PLACEHOLDER_PASSWORDS


def _password_ok(password: str) -> bool:
    if password.isdigit() and len(password) <= 5:
        return False  # host:8000 — a port, not a password
    if _REFERENCE.fullmatch(password) or _TEMPLATE.search(password):
        return False  # Password=env.DB_PASSWORD, ${PGPASSWORD}, <password>: a reference, not a value
    return (not _looks_fake(password) and password[0] not in "$%{<" and len(set(password)) > 1
            and password.lower() not in _PLACEHOLDER_PASSWORDS)


def _aws_secret_ok(value: str) -> bool:
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return mixed and not _looks_fake(value) and shannon_entropy(value) >= 4.0


def _pem_ok(value: str) -> bool:
    body = re.sub(r"-----[A-Z ]+-----|\\n|[\s\"'+]", "", value)
    return not (len(body) < 24 or _looks_fake(body) or shannon_entropy(body) < 3.5 or _b64_plain(body))


def _b64_plain(body: str) -> bool:
    """A PEM body that decodes to printable text is a placeholder (real keys are DER/binary)."""
    try:
        decoded = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (ValueError, binascii.Error):
        return False
    return decoded.isascii() and decoded.decode("ascii").isprintable()


# (type, prefilter literals, regex, value group, validator, score, severity); a lower-case
# literal is looked for in the lower-cased text (one check for Password/PASSWORD/password)
_STRUCTURED: list[tuple[str, tuple[str, ...], re.Pattern[str], int, Callable[[str], bool], float, str]] = [
    ("private_key", ("PRIVATE KEY",), _PEM, 0, _pem_ok, 1.0, "critical"),
    ("private_key", ("LS0tLS1CRUdJTi",), _PEM_B64, 1, lambda v: True, 0.95, "critical"),
    ("jwt", ("eyJ",), _JWT, 1, _jwt_ok, 0.9, "high"),
    ("bearer_token", ("bearer",), _BEARER, 1, _bearer_ok, 0.85, "high"),
    ("basic_auth", ("basic ",), _BASIC, 1, _basic_ok, 0.85, "high"),
    ("bearer_token", ("authorization", "auth-token", "api-key"), _AUTH_HEADER, 1,
     lambda v: _bearer_ok(v) and _key_value_ok(v, True, False, False), 0.8, "high"),
    ("connection_string_password", ("password", "pwd="), _CONN_PASSWORD, -1, _password_ok, 0.85, "high"),
    ("generic_secret", ("-u",), _CLI_CREDS, 1, _password_ok, 0.8, "high"),
    ("generic_secret", ("-p ",), _CLI_PASSWORD, 1, _password_ok, 0.7, "high"),
    ("password_hash", ("$",), _PW_HASH, 1, lambda v: True, 0.8, "high"),
    ("generic_secret", ("AsPlainText",), _SECURESTRING, 1, _password_ok, 0.85, "high"),
    ("generic_secret", ("NetworkCredential(", "DirectoryEntry("), _NET_CREDENTIAL, -1, _password_ok, 0.8, "high"),
]


# (literal, whether it is looked for in the lower-cased text, the _STRUCTURED rule it triggers)
_STRUCTURED_LITERALS = tuple((lit, lit.islower(), i) for i, rule in enumerate(_STRUCTURED) for lit in rule[1])


def _structured_findings(text: str, low: str | None = None) -> list[Finding]:
    low = text.lower() if low is None else low
    out = []
    hits = sorted({i for lit, lowered, i in _STRUCTURED_LITERALS if lit in (low if lowered else text)})
    for type_, _literals, rx, group, ok, score, severity in (_STRUCTURED[i] for i in hits):
        for m in rx.finditer(text):
            g = group if group >= 0 else next(i for i in range(1, rx.groups + 1) if m.group(i) is not None)
            if ok(m.group(g)):
                out.append(make_finding(SCANNER, type_, text, m.start(g), m.end(g), score=score, severity=severity))
    return out


_K8S_SECRET = re.compile(r"""["']?kind["']?\s*:\s*["']?Secret\b""")
_K8S_DATA = re.compile(r"^[ \t]*(?:data|stringData)[ \t]*:[ \t]*$", re.M)
_K8S_ITEM = re.compile(r"^[ \t]+[\w.-]+[ \t]*:[ \t]*[\"']?([A-Za-z0-9+/]{8,}={0,2})[\"']?[ \t]*$", re.M)
_ZXLK = re.compile(r"(?<![A-Za-z0-9+/])(ZXlK[A-Za-z0-9+/]{30,}={0,2})(?![A-Za-z0-9+/=])")


def _manifest_findings(text: str) -> list[Finding]:
    """Values under ``data:`` of a Kubernetes ``kind: Secret`` manifest (base64, every one a
    secret), and base64-encoded JWTs (``ZXlK…``)."""
    out = []
    if "Secret" in text and _K8S_SECRET.search(text):
        data = _K8S_DATA.search(text)
        if data is not None:
            for m in _K8S_ITEM.finditer(text, data.end()):
                value = m.group(1)
                if _b64_decodes(value) and not _looks_fake(value) and len(set(value)) > 4:
                    out.append(make_finding(SCANNER, "generic_secret", text, m.start(1), m.end(1), score=0.8,
                                            severity="high"))
    if "ZXlK" in text:
        for m in _ZXLK.finditer(text):
            try:
                decoded = base64.b64decode(m.group(1) + "=" * (-len(m.group(1)) % 4)).decode("ascii").strip()
            except (ValueError, binascii.Error, UnicodeDecodeError):
                continue
            if _JWT.fullmatch(decoded) and _jwt_ok(decoded):
                out.append(make_finding(SCANNER, "jwt", text, m.start(1), m.end(1), score=0.9, severity="high"))
    return out


def _b64_decodes(value: str) -> bool:
    try:
        base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (ValueError, binascii.Error):
        return False
    return True


def _context_findings(text: str, low: str | None = None) -> list[Finding]:
    """Passwords in URL user-info (``scheme://user:password@host``) and AWS secret keys after an
    AWS name, each found from its cheapest anchor."""
    out = []
    i = text.find("://")
    while i != -1:
        if _URL_SCHEME.search(text, max(0, i - 16), i):
            m = _URL_USERINFO.match(text, i + 3)
            if m is not None and _url_password_ok(m.group(2)):
                out.append(make_finding(SCANNER, "url_credentials", text, m.start(2), m.end(2), score=0.85,
                                        severity="high"))
        i = text.find("://", i + 3)
    low = _lower(text) if low is None else low
    if "secret" in low or "aws" in low or "amazon" in low:
        for m in _AWS_SECRET_LOW.finditer(low):
            if _aws_secret_ok(text[m.start(1):m.end(1)]):
                out.append(make_finding(SCANNER, "aws_secret_key", text, m.start(1), m.end(1), score=0.9,
                                        severity="critical"))
    return out


_AWS_PREFIX_RE = re.compile("|".join(_AWS_PREFIXES))


def _aws_near_id_findings(text: str) -> list[Finding]:
    if _AWS_PREFIX_RE.search(text) is None:
        return []
    out = []
    for m in _AWS_SECRET_NEAR_ID.finditer(text):
        g = 1 if m.group(1) else 2
        if _aws_secret_ok(m.group(g)) and any(c.isdigit() for c in m.group(g)):
            out.append(make_finding(SCANNER, "aws_secret_key", text, m.start(g), m.end(g), score=0.85, severity="critical"))
    return out


# ------------------------------------------------------------------- keyword-anchored assignments
# Keywords are found in the lower-cased text; a keyword is then widened to the whole name it is
# part of (identifier characters), and the assignment is matched right after that name.
_KEYWORD = re.compile(r"secret|token|passw|passphrase|pwd|api_?key|apikey|key|cred|pass|private|access|auth|pat\b")
_STRONG_NAME = re.compile(r"secret|token|passw|pwd|key|cred|pass(?:phrase|code)?(?![a-z])|pat(?![a-z])", re.I)
_PASSWORD_NAME = re.compile(r"passw|passphrase|pwd|(?<![a-z])pass(?![a-z])|(?<=[a-z_.-])pass$|secret$|^secret|"
                            r"(?<![a-z])(?:secret|pass)(?![a-z])|credential", re.I)
_KEY_WORDS = re.compile(r"(?:mon|tur|hoc|don|whis|joc|lac|pas|hot)key(?![a-z])")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.$-]*")
_NAME_SET = frozenset(string.ascii_letters + string.digits + "_.$-")
_TAIL = re.compile(
    r"(?:\[\d*\])?(?P<close>(?:\\{1,3}[\"']|[\"'`\]]){0,2})"
    # a declared type between the name and "=": Go "password string = …", TypeScript/Kotlin/Swift
    # "apiKey: string = …", Rust "KEY: &str = …"
    r"(?:[ \t]*:?[ \t]*(?:string|String|str|\[\]byte|&'static str|&str)(?=[ \t]*=[^=>]))?"
    r"(?:[ \t]{0,32}(?P<op>:=|=>|===|==|!=|->|\?=|::|=|:|,|\|\||\s(?:is|was)\s|"
    r"\s(?i:value)\s*=)"
    r"[ \t]{0,32}(?:\r?\n[ \t]{0,24})?|(?P<ws>[ \t]{1,8}|[ \t]{0,8}\r?\n(?=[A-Za-z0-9+/=_.-]{16,200}[ \t]*(?:\r?\n|$))))"
    r"(?:(?i:bearer|token|basic)\s+)?(?:[rbfu](?=[\"'`]))?(?:\\{1,3}(?=[\"']))?"  # \"key\":\"value\": JSON inside a string
    r"(?:\"(?P<qv>[^\"\n]{1,300}?)\\{0,3}\"|'(?P<qv2>[^'\n]{1,300}?)'|`(?P<qv3>[^`\n]{1,300}?)`"
    r"|[\"'`]?(?P<v>[^\s\"'`,;()\[\]{}<>]{1,300}))"
)
_XML_VALUE = re.compile(r"([^<>\n]{1,300})</")
# the value glued to the name: holidayapiKEY-<value>, dd_secret_key-<value>, prospect-token-<value>,
# acmeSecretKey-<value>
_GLUED = re.compile(r"(?:[-_.]?(?:key|token|secret|access|private|code))*[-_.:]([A-Za-z0-9][A-Za-z0-9_.+/=-]{15,})\Z", re.I)
_NOT_SECRET_NAME = re.compile(
    r"(?:^|[_.-])(?:id|ids|name|names|type|types|url|uri|urls|path|paths|file|files|dir|length|len|size|count|field|fields|"
    r"header|param|params|prefix|suffix|format|version|index|hash|policy|expir\w*|expires?|timeout|ttl|mode|label|"
    r"endpoint|host|port|region|user|username|email|enabled|required|limit|max|min|env|var|arn)$"
    r"|public|publishable|pubkey|pub_key|keyboard|keyword|keystroke|keychain|keyframe|keypress|keydown|keyup|keyspace|"
    r"tokeniz|max_?tokens|num_?tokens|n_?tokens|tokens_?(?:used|count|per)|token_?(?:count|usage|limit|type)|"
    r"passport|passthrough|bypass|compass|passenger|password_?(?:reset|hash|policy|length|field|confirm\w*|hint)|"
    r"authori[sz]|author|access_?(?:log|level|mode|control|type|right|denied)|private_?(?:ip|dns|network|subnet)|"
    r"primary_?key|foreign_?key|sort_?key|partition_?key|cache_?key|key_?(?:id|name|size|length|path|file|type)",
    re.I)
_NOT_VALUES = frozenset({
    "null", "none", "nil", "true", "false", "undefined", "empty", "string", "str", "int", "bool", "boolean", "text",
    "required", "optional", "hidden", "password", "passwd", "secret", "token", "key", "apikey", "api_key", "value",
    "default", "example", "test", "testing", "xxx", "****", "pass", "pwd", "string.empty", "self", "this", "new",
    "read", "write", "bearer", "basic", "auth", "oauth", "jwt", "public", "private", "env", "environ", "config",
    "settings", "unknown", "secret_key", "access_token", "refresh_token", "client_secret", "api_token",
})
_IDENT = re.compile(r"[a-z]+(?:[_-][a-z]+)*|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z]+(?:[A-Z][a-z]+)+|[A-Z][a-z]+(?:[A-Z][a-z]+)*")
_CALL = re.compile(r"[A-Za-z_$][\w.$]*\([^()]*\)|[A-Za-z_][\w.]*\[[^\]]*\]")
_NUMBERISH = re.compile(r"[\d.:/ ,+-]+|\d+(?:\.\d+)?[a-z]{1,3}|v?\d+(?:\.\d+)+[\w.-]*", re.I)
_HEX40 = re.compile(r"[0-9a-f]{40}")
# uploads/2024/avatar.png, prod/db/password: a path or a name with slashes, not a key (AWS secrets
# have "/" too, but mixed-case random segments)
_PATH = re.compile(r"[a-z0-9_.-]{1,20}(?:/[a-z0-9_.-]{1,20})+|(?:[\w.-]{1,40}/)+[\w-]{1,40}\.[A-Za-z]{2,4}")
_AWS_SECRET_VALUE = re.compile(r"[A-Za-z0-9/+]{40}")
# the AWS SDKs' name for it, alone (with a vendor's name before it, another provider's key)
_AWS_SECRET_NAME = re.compile(r"secret_?access_?key", re.I)


def _b64_text(value: str) -> bool:
    """``value`` is base64 of plain text with spaces (``ZHVtbXkgdGV4dA==``): encoded prose, not a key."""
    if len(value) < 16 or len(value) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", value):
        return False
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return " " in decoded and decoded.isprintable()


def _key_value_ok(value: str, quoted: bool, spaced: bool, weak_name: bool) -> bool:
    """A value assigned to a key/token name: random-looking."""
    body = value.strip("=")
    n = len(body)
    if n < (10 if quoted and not (spaced or weak_name) else 16 if weak_name or spaced else 12):
        return False
    if _IDENT.fullmatch(body) or _NUMBERISH.fullmatch(body) and not (body.isdigit() and n >= 16):
        return False
    ent = shannon_entropy(body)
    digits = any(c.isdigit() for c in body)
    letters = any(c.isalpha() for c in body)
    if not digits and ent < 3.6:
        return False
    if spaced or weak_name:
        if spaced and (_WORD_SLUG.fullmatch(body) and not re.search(r"\d{3}", body) or _b64_plain(value)):
            return False  # "key notarealkey-2024", a PEM armour line then base64 of text: words, not keys
        return ent >= 3.2 and digits and (letters or n >= 20)
    return ent >= 3.0


def _password_value_ok(value: str, quoted: bool, spaced: bool) -> bool:
    """A value assigned to a password name: anything non-trivial that is not a word-like name."""
    n = len(value)
    if n < 4 or len(set(value)) < 3:
        return False
    if " " in value.strip() and not quoted:
        return False
    if spaced:  # "password is required": words after a space are prose unless they look like a password
        return n >= 6 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    if _IDENT.fullmatch(value) and ("_" in value or "-" in value or value.isupper() or not value.islower()) and not quoted:
        return False  # DB_PASSWORD, get_password, aFunctionCall: names, not values
    if quoted and _IDENT.fullmatch(value) and ("_" in value and value.isupper()):
        return False
    if not quoted and value.isalpha() and value.islower() and n < 6:
        return False
    return not _NUMBERISH.fullmatch(value) or n >= 8


def _value_ok(name: str, value: str, quoted: bool, spaced: bool) -> bool:
    value = value.strip("'\"")
    low = value.lower()
    if not value:
        return False
    if low in _NOT_VALUES or _PLACEHOLDER.search(value) or _TEMPLATE.search(value):
        return False
    if "://" in value or value.startswith(("/", "./", "~/", "\\")) or _PATH.fullmatch(value) or _REFERENCE.fullmatch(value) or _CALL.fullmatch(value):
        return False  # URLs (their credentials are matched by the URL rule), paths, references, calls
    if low.startswith(("env.", "process.env", "os.environ", "os.getenv", "getenv", "secrets.", "vars.", "config.",
                       "settings.", "params.", "self.", "this.", "ctx.", "context.", "request.")):
        return False
    strong = _STRONG_NAME.search(name) is not None
    if (re.search(_AWS_NAME, name) and re.search("secret", name, re.I)) or _AWS_SECRET_NAME.fullmatch(name):
        # AWS secret keys are 40 base64 characters; anything else under that name (a commit
        # hash, an encrypted blob) is not one
        return _AWS_SECRET_VALUE.fullmatch(value) is not None and not _HEX40.fullmatch(value) and _aws_secret_ok(value)
    if _PASSWORD_NAME.search(name) and not re.search(r"key|token", name, re.I):
        ok = not _sequential(value) and _password_value_ok(value, quoted, spaced)
    else:
        ok = not (_sequential(value) or _b64_text(value)) and _key_value_ok(value, quoted, spaced, weak_name=not strong)
    # a vendor's sample key in a key/token/secret slot: abcdef123456…, a1b2c3…, ABCDE12-ABCDE12-…
    return ok or _typed_sample(value, 12)


def _name_span(text: str, low: str, kw: re.Match[str]) -> tuple[int, int] | None:
    """The span of the whole name a keyword occurrence is part of (``None``: not a name)."""
    ks, ke = kw.span()
    if kw.group() == "key" and _KEY_WORDS.match(low, max(0, ks - 4)) and not low[max(0, ks - 5):ks - 4].isalpha():
        return None  # monkey, turkey, hockey — words, not names
    ns, lo = ks, max(0, ks - 48)
    while ns > lo and text[ns - 1] in _NAME_SET:
        ns -= 1
    return ns, _NAME_CHARS.match(text, ke).end()


def _assigned_value(text: str, ns: int, ne: int) -> tuple[int, int, bool, bool] | None:
    """(value start, value end, quoted, space-separated) of the value assigned to the name at
    ``ns:ne``, or ``None`` when what follows is not an assignment of a literal."""
    if text[ns - 1:ns] == "<" and text[ne:ne + 1] == ">":  # <password>value</password>
        element = _XML_VALUE.match(text, ne + 1)
        return (element.start(1), element.end(1), True, False) if element else None
    tail = _TAIL.match(text, ne)
    if tail is None:
        return None
    g = next((k for k in ("qv", "qv2", "qv3") if tail.group(k) is not None), "v")
    quoted, spaced, op = g != "v", tail.group("ws") is not None, (tail.group("op") or "").strip()
    if op in ("is", "was") and not quoted:
        return None  # prose: only "the password is 'x'" with the value quoted
    if spaced and (tail.group("close") or text[tail.start(g):tail.end(g)].lower() in _NOT_VALUES):
        return None  # "access key <value>", "SECRET TOKEN <value>": the next keyword names it
    if op == "," and not (quoted and text[max(0, ns - 2):ns] in ('("', "('")):
        return None  # "name", "value" only as the first two arguments of a call: define("X", "v")
    if not quoted and text[tail.end(g):tail.end(g) + 1] in ("(", "["):
        return None  # secrets["password"], get_token(): an expression, not a value
    start, end = tail.span(g)
    if not quoted:  # a sentence's full stop or colon is not part of the value
        end = start + len(text[start:end].rstrip(".:"))
    return start, end, quoted, spaced


def _generic_findings(text: str, low: str | None = None) -> list[Finding]:
    """``name = value`` assignments whose name has a secret keyword and whose value passes
    :func:`_value_ok`: keyword occurrences are found in the lower-cased text (cheap), the name
    and the assignment are matched from each one."""
    low = _lower(text) if low is None else low
    out: list[Finding] = []
    pos = 0
    for kw in _KEYWORD.finditer(low):
        span = _name_span(text, low, kw) if kw.start() >= pos else None
        if span is None:
            continue
        ns, ne = span
        glued = _GLUED.match(text, kw.end(), ne) if ne - kw.end() >= 17 and kw.group() not in _WEAK_GLUE else None
        if glued is not None:  # holidayapiKEY-<value>
            found: tuple[int, int, bool, bool] | None = (glued.start(1), glued.end(1), False, True)
            name = text[ns:kw.end()]
        elif ne - kw.end() >= 16 and _caps_keyword(text, kw.start(), kw.end()):
            # acmeSECRET<value>: the keyword in capitals between a lower-case name and the value
            found, name = (kw.end(), ne, False, True), text[ns:kw.end()]
        elif ne - kw.end() > 40:
            continue
        else:
            name = text[ns:ne].strip("$.-")
            if not name or _NOT_SECRET_NAME.search(name) or "public" in low[max(0, ns - 10):ns] or _in_path(text, ns):
                pos = ne
                continue
            found = _assigned_value(text, ns, ne)
        if found is not None and _value_ok(name, text[found[0]:found[1]], found[2], found[3]):
            out.append(make_finding(SCANNER, "generic_secret", text, found[0], found[1], score=0.7, severity="high"))
            pos = found[1]
        else:
            pos = ne  # the next keyword may name the value ("private static final String PASSWORD = …")
    return out


_WEAK_GLUE = frozenset({"pass", "auth", "pat"})


def _caps_keyword(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` is a keyword written in capitals after a lower-case letter and before a
    lower-case letter or digit (``graphhopperSECRET4f…``): the case change is the separator."""
    word = text[start:end]
    return (word.isupper() and len(word) >= 3 and start > 0 and text[start - 1].islower()
            and (text[end:end + 1].islower() or text[end:end + 1].isdigit()))


def _in_path(text: str, ns: int) -> bool:
    """The name at ``ns`` is a segment of a path or URL (``/api/token``, ``https://secret.host``),
    not one commented out with ``//`` at the start of a line or after a space."""
    if text[ns - 1:ns] != "/":
        return False
    return not (text[ns - 2:ns] == "//" and (ns < 3 or text[ns - 3] in " \t\n;"))
# A line that is only "<name> <value>" / "<name>=<value>" / "<name>: '<value>'": a vendor's key
# under the vendor's name (cloudsmith <key>, wandb=<key>, telnyx = <key>) — the shape of env files,
# .netrc-like configs and rule examples. The name has no secret keyword (those are matched above);
# the value must be a key a person or a generator made: a typed sample or a random mixed-case one.
# (anchored on a line break, not "^": a pattern that starts with a literal lets re skip ahead to
# the next one; the text is scanned with a line break in front)
_PAIR = re.compile(r"\n[ \t]*(?:export[ \t]+)?[\"']?(?P<name>[A-Za-z][A-Za-z0-9_.-]{1,40}+)[\"']?"
                   r"(?:[ \t]*(?:=>|:=|[:=])[ \t]*|[ \t]+)[\"'`]?(?P<v>[A-Za-z0-9][A-Za-z0-9_+/.=-]{19,200}+)[\"'`]?"
                   r"[ \t]*[,;]?[ \t]*$", re.M)
_PAIR_NOT_NAME = re.compile(r"sha|md5|hash|sum|digest|integrity|commit|rev|ref|etag|nonce|salt|fingerprint|uuid|guid|"
                            r"uid|id$|_id|ids?$|name|url|uri|path|file|dir|host|image|version|tag|branch|build|hex|"
                            r"base64|b64|data|content|body|text|msg|message|title|slug|class|module|import|from|"
                            r"license|locale|lang|type|color|font|icon|address|wallet|bitcoin|btc|eth|coin", re.I)
# Bitcoin base58 (P2PKH/P2SH) and bech32 addresses: public, not secret
_CRYPTO_ADDRESS = re.compile(r"[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{11,71}")
# roadmap-2024-q3-final.pdf, release_2024_06: words and numbers joined, a name not a key
_WORD_SLUG = re.compile(r"(?:[A-Za-z]+\d{0,2}|\d+)(?:[-_.](?:[A-Za-z]+\d{0,2}|\d+)){2,}")
_SLUG = re.compile(_WORD_SLUG.pattern + r"|[a-z0-9]+(?:[-_.][a-z0-9]+)+")
# digests are hex in one case (a mixed-case "hex" string is base62 that happens to avoid g-z)
_HEX_DIGEST = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _pair_value_ok(value: str) -> bool:
    if _PLACEHOLDER.search(value) or _UUID.fullmatch(value) or _CRYPTO_ADDRESS.fullmatch(value) or _PATH.fullmatch(value) or _REFERENCE.fullmatch(value):
        return False
    if _typed_sample(value):
        return True
    body = value.rstrip("=")
    if _HEX_DIGEST.fullmatch(body) or _IDENT.fullmatch(body) or _SLUG.fullmatch(body) or _b64_plain(value):
        return False  # hashes and digests are hex; names, slugs and base64 of text are not keys
    upper, lower, digit = (any(c.isupper() for c in body), any(c.islower() for c in body), any(c.isdigit() for c in body))
    if not (upper and lower and (digit or len(body) >= 32) or digit and (upper or lower) and len(body) >= 24):
        return False
    return shannon_entropy(body) >= (3.7 if upper and lower and digit else 4.0)


def _pair_findings(text: str) -> list[Finding]:
    out = []
    for m in _PAIR.finditer("\n" + text):
        name = m.group("name")
        if _KEYWORD.search(name.lower()) or _PAIR_NOT_NAME.search(name) or not _pair_value_ok(m.group("v")):
            continue
        out.append(make_finding(SCANNER, "generic_secret", text, m.start("v") - 1, m.end("v") - 1, score=0.6,
                                severity="high"))
    return out


def _lower(text: str) -> str:
    """``text`` lower-cased, position for position (as written when a case mapping would change
    the length)."""
    low = text.lower()
    return low if len(low) == len(text) else text


def scan(text: str, types: frozenset[str] | set[str] | None = None) -> list[Finding]:
    """Secret findings in ``text`` (all types, or only ``types``), one type per span, in order."""
    low = _lower(text)
    found = (_rule_findings(text) + _structured_findings(text, low) + _context_findings(text, low)
             + _aws_near_id_findings(text) + _manifest_findings(text) + _generic_findings(text, low) + _pair_findings(text))
    if types is not None:
        found = [f for f in found if f.type in types]
    return resolve_overlaps(found)
