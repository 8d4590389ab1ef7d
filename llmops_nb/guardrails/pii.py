"""PII scanner: e-mail, phone, payment card, IBAN, social security numbers (US SSN; Swiss AHV,
Canadian SIN and UK NINO), IPv4 and IPv6 — validated, not just pattern-matched.

Every candidate passes a validator (Luhn and issuer ranges, IBAN mod-97 and country length, SSN
area/group/serial rules, libphonenumber's national lengths per calling code, :mod:`ipaddress`)
and context rules that drop the usual false positives: version strings and section numbers that
look like IPv4, SSN-shaped or bare digit runs reported as phones, order/invoice/tracking numbers,
dates, prices, thousands-grouped numbers, ISBNs and pieces of UUIDs or hashes (a candidate glued to
other word characters is never taken). Context also adds what the shape alone cannot carry: an
unlisted card issuer when the text speaks of a card, an SSN written without dashes when SSN is
said, a local number when the text says it is someone's phone.

Cards are cut from runs of digit groups (several cards in a row, a card followed by its expiry or
CVV); IBANs are cut from runs of alphanumeric groups at the country's length. Digit-based types
are matched only in windows around the text's digit clusters, and e-mail addresses from each "@",
so prose costs about one pass. Overlaps are resolved by
:func:`~llmops_nb.guardrails._common.resolve_overlaps`.
"""

from __future__ import annotations

import ipaddress
import json
import time
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import resources

from llmops_nb.guardrails import lazy_re as re
from llmops_nb.guardrails import national_ids
from llmops_nb.guardrails._common import luhn_ok, make_finding, preceding, resolve_overlaps
from llmops_nb.types import Finding

SCANNER = "pii"
TYPES = ("email", "phone", "card", "iban", "ssn", "national_id", "ipv4", "ipv6")

Regions = list[tuple[int, int]]
Clusters = list[tuple[int, int, int]]
# Digit-based identifiers are looked for only around digit clusters, so prose costs one pass of
# _CLUSTER instead of one pass per identifier type. A window reaches _EDGE characters past the
# first and last digit (an IBAN's country code, a NINO's letters, "(+48) ", the lookarounds) —
# _IPV6_EDGE for IPv6 addresses, whose hex groups can run further without a digit.
_EDGE, _IPV6_EDGE = 8, 40
_GAP = re.compile(rf"\D{{{2 * _EDGE + 1},}}")  # digit-free stretches longer than two edges split the clusters


def _clusters(text: str) -> Clusters:
    """(start, end, digits) of the digit clusters of ``text`` (the text between long digit-free
    gaps); ``digits`` is counted for a short cluster only (99 for a long one — not worth counting)."""
    out: Clusters = []
    pos = 0
    for gap in _GAP.finditer(text):
        if gap.start() > pos:
            out.append((pos, gap.start(), _count_digits(text, pos, gap.start())))
        pos = gap.end()
    if pos < len(text):
        out.append((pos, len(text), _count_digits(text, pos, len(text))))
    return out


def _count_digits(text: str, start: int, end: int) -> int:
    return len(_DIGIT.findall(text, start, end)) if end - start < 64 else 99


def _windows(text: str, clusters: Clusters | None, digits: int, edge: int = _EDGE) -> Regions | None:
    """Merged windows around the clusters with at least ``digits`` digits (None: the whole text)."""
    if clusters is None:
        return None
    out: Regions = []
    n = len(text)
    for start, end, count in clusters:
        if count < digits:
            continue
        start, end = max(0, start - edge), min(n, end + edge)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _each(pattern: re.Pattern[str], text: str, regions: Regions | None) -> Iterator[re.Match[str]]:
    """``pattern.finditer`` over the regions (lookbehinds still see the text before a region)."""
    if regions is None:
        yield from pattern.finditer(text)
        return
    for start, end in regions:
        yield from pattern.finditer(text, start, end)

# ---------------------------------------------------------------------------------------- e-mail
# Combining marks (Latin diacritics written decomposed, Devanagari/Bengali/Tamil … vowel signs and
# viramas, Hebrew/Arabic points, Thai vowels): part of internationalised local parts and IDN labels
# (RFC 6531/5891), though not ``\w`` to Python's ``re``.
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0900-\u0dff"
          "\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ecd\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
          "\ufe20-\ufe2f")
_LABEL = rf"[^\W_](?:[\w{_MARKS}-]{{0,61}}(?:[^\W_]|[{_MARKS}]))?"
_DOMAIN = (rf"((?:{_LABEL}\.)+((?:[^\W\d_]|[{_MARKS}]){{2,24}}|xn--[a-z0-9-]{{1,59}}))"
           rf"(?![\w{_MARKS}-]|\.\w)")
# the local part: RFC 5322 atext (letters, digits and !#$%&'*+/=?^_`{|}~-) with dots, or a quoted
# string; RFC 5321 caps it at 64 octets, but test suites and real systems accept longer ones
_LOCAL_MAX = 128
# matched on the reversed text before an "@" (one forward match instead of a search from every start)
_LOCAL_REVERSED = re.compile(rf"[\w{_MARKS}.%+'!#$&*=?^`{{|}}~/-]{{1,{_LOCAL_MAX + 1}}}")
_DOMAIN_AFTER = re.compile(_DOMAIN)
# RFC 5321 address literals: user@[192.0.2.1], user@[IPv6:2001:db8::1]
_ADDRESS_LITERAL = re.compile(r"\[(?:(?P<v4>\d{1,3}(?:\.\d{1,3}){3})|IPv6:(?P<v6>[0-9A-Fa-f:.]{2,45}))\](?![\w.\[\]-])")
_EMAIL_QUOTED = re.compile(r'(?<![\w"])("(?:[^"\\\x00-\x1f\x7f-\x9f]|\\[^\x00-\x1f\x7f-\x9f]){0,62}")@' + _DOMAIN)
_NOT_LOCAL = re.compile(r"[=?&/{}|]")  # "?to=ann@…", "{ann@…}": the address starts after the last of these
_NOT_MAIL_BEFORE = re.compile(r"(?:\b(?:ssh|scp|sftp|rsync|mosh)\s+(?:-\S+\s+)*|://[^\s/@]*)$")
_RETINA = re.compile(r"^\d(?:\.\d)?x\.", re.I)  # icon@2x.png, logo@1.5x.jpg
_FILE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "js", "css", "ts", "tsx", "jsx",
                        "json", "html", "htm", "txt", "yaml", "yml"})


def idna_length(domain: str) -> int | None:
    """The length of a host name in its ASCII (punycode, ``xn--…``) form, or None when it cannot be
    registered (RFC 1035 / IDNA 2008): a label longer than 63 octets once encoded, or a label with a
    compatibility character (full-width letters, ``⒈``, presentation forms — NFKC changes them
    beyond NFC's composition, and IDNA 2008 disallows them)."""
    if domain.isascii():
        return len(domain)
    total = 0
    for label in domain.split("."):
        if not label.isascii():
            if unicodedata.normalize("NFKC", label) != unicodedata.normalize("NFC", label):
                return None
            try:
                label = "xn--" + label.encode("punycode").decode("ascii")
            except UnicodeError:
                return None
        if len(label) > 63:
            return None
        total += len(label) + 1
    return total - 1


def address_ok(local: str, domain: str) -> bool:
    """An address that fits SMTP: the domain registrable (:func:`idna_length`) and the whole
    address at most 254 octets in its ASCII form (RFC 5321's 256-octet path minus the brackets)."""
    n = idna_length(domain)
    return n is not None and n <= 253 and len(local.encode("utf-8")) + 1 + n <= 254


def _email_matches(text: str) -> list[tuple[int, str, str, str]]:
    """(start, local part, domain, TLD) of the address-shaped strings in ``text`` (TLD ``""``: an
    address literal)."""
    out = []
    at = text.find("@")
    while at >= 0:
        back = _LOCAL_REVERSED.match(text[max(0, at - _LOCAL_MAX - 1):at][::-1])
        local = back.group()[::-1] if back is not None else ""
        start = at - len(local)
        dom = _DOMAIN_AFTER.match(text, at + 1) if text[at + 1:at + 2] != "[" else None
        if dom is None and text[at + 1:at + 2] == "[":
            lit = _ADDRESS_LITERAL.match(text, at + 1)
            if local and lit is not None and _literal_ok(lit):
                out.append((start, local, lit.group(), ""))
            at = text.find("@", at + 1)
            continue
        nxt = text.find("@", at + 1)
        if not local or dom is None or len(local) > _LOCAL_MAX or not address_ok(local, dom.group(1)):
            at = nxt
            continue
        out.append((start, local, dom.group(1), dom.group(2)))
        at = text.find("@", dom.end())
    for k, (start, local, domain, tld) in enumerate(out):
        cuts = [c.end() for c in _NOT_LOCAL.finditer(local)]
        if cuts and any(ch.isalnum() for ch in local[cuts[-1]:]):
            out[k] = (start + cuts[-1], local[cuts[-1]:], domain, tld)
    if '"@' in text:
        out += [(m.start(), m.group(1), m.group(2), m.group(3)) for m in _EMAIL_QUOTED.finditer(text)]
    return out


def _literal_ok(lit: re.Match[str]) -> bool:
    try:
        if lit.group("v4"):
            ipaddress.IPv4Address(lit.group("v4"))
        else:
            ipaddress.IPv6Address(lit.group("v6"))
    except ValueError:
        return False
    return True


def _in_domain_literal(text: str, start: int) -> bool:
    """``start`` opens the bracketed part of an e-mail domain (``user@[…``, ``user@host.[…``): what
    follows is the address (or a malformed one), not an IP or a phone of its own."""
    if text[start - 1:start] != "[":
        return False
    i = start - 1
    lo = max(0, i - 256)
    while i > lo and not text[i - 1].isspace():
        i -= 1
        if text[i] == "@":
            return True
    return False


def _emails(text: str) -> list[Finding]:
    out = []
    for start, local, domain, tld in _email_matches(text):
        end = start + len(local) + 1 + len(domain)
        quoted = local[:1] == '"'
        if not quoted and (local[0] == "." or local[-1] == "." or ".." in local) or _RETINA.match(domain):
            continue
        if tld.lower() in _FILE_TLDS:
            continue
        before = preceding(text, start, 80)
        if (before.endswith(":") and not before.endswith("mailto:")) or _NOT_MAIL_BEFORE.search(before):
            continue  # URL credentials (secrets scanner), "user:pass@", an ssh/scp target
        nxt = text[end:end + 2]
        if nxt[:1] == ":" and nxt[1:2] not in ("", " ", "\n", "\t"):
            continue  # git@github.com:org/repo.git — an scp-style remote, not a mailbox
        out.append(make_finding(SCANNER, "email", text, start, end, score=0.95))
    return out


# ----------------------------------------------------------------------------------------- cards
# A run of digit groups ("4111 1111 1111 1111 09/27", three cards in a row, a card then a CVV) is
# cut into cards at group boundaries: a card is one unseparated run of 12–19 digits or a layout
# that card numbers are printed in, with one separator throughout.
_CARD_RUN = re.compile(  # a 4-digit group followed by 8+ digits or two more groups; one short group may lead
    r"(?<![\w.,/-])(?:\d{1,3}[ .\-])?\d{4}(?:\d{8,15}|[ .\-]\d{3,6}[ .\-]\d)\d*(?:[ .\-]\d+)*")
_DIGITS = re.compile(r"\d+")
_GLUED_AFTER = re.compile(r"[\w-]|[.,/]\d")
_CARD_LAYOUTS = frozenset({
    (4, 4, 4, 4), (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3), (4, 4, 4, 4, 1), (4, 4, 4, 4, 2), (4, 4, 4, 4, 3),
    (4, 6, 5), (4, 6, 4), (4, 4, 5), (4, 5, 6),  # Amex, Diners, 13-digit Visa, UATP
})
_CARD_MAX_GROUPS = 5
_CARD_CONTEXT_NO = re.compile(
    r"(?:\b(?:order|invoice|tracking|awb|shipment|parcel|ref(?:erence)?|account|acct|iccid|imei|isbn|"
    r"ticket|serial|sku|id|no|number|transaction|txn)|#)\W{0,3}$"
)
_CARD_CONTEXT_YES = re.compile(r"\b(?:card|cc|visa|mastercard|amex|pan)\W{0,3}(?:number|no|num|#)?\W{0,3}$")


def card_issuer(digits: str) -> str | None:
    """The card network for a number by its IIN range and length, or None if none matches."""
    n, p2, p3, p4, p6 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    rules = (
        ("amex", p2 in (34, 37), n == 15),
        ("visa", digits[0] == "4", 13 <= n <= 19),
        ("uatp", digits[0] == "1", n == 15),
        ("mir", 2200 <= p4 <= 2204, 16 <= n <= 19),
        ("jcb", p4 in (2131, 1800), n == 15),
        ("hipercard", p4 == 3841 or p6 == 606282, 13 <= n <= 19),
        ("dankort", p4 == 5019, n == 16),
        ("troy", p4 == 9792, n == 16),
        ("mastercard", 51 <= p2 <= 55 or 2221 <= p4 <= 2720, n == 16),
        ("discover", p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925, 16 <= n <= 19),
        ("jcb", 3528 <= p4 <= 3589, 16 <= n <= 19),
        ("diners", 300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095, 14 <= n <= 19),
        ("unionpay", p2 in (62, 81), 14 <= n <= 19),
        ("rupay", p2 in (60, 65, 81, 82) or p3 in (353, 356, 508), n == 16),
        ("maestro", p2 == 50 or 56 <= p2 <= 69, 12 <= n <= 19),  # Maestro, Elo, Verve, InstaPayment, Laser …
        ("tunion", p2 == 31, n == 19),  # China T-Union
        ("borica", p4 == 2205, n == 16),  # Bulgaria
        ("carnet", p4 == 2869, n == 16),  # Mexico
        ("gpn", p4 == 1946, 16 <= n <= 19),  # Indonesia
        ("uzcard", p4 == 8600, n == 16),
        ("belkart", p4 == 9112, n == 16),
        ("napas", p4 == 9704, n in (16, 19)),  # Vietnam
        ("prostir", p4 == 9804, n == 16),  # Ukraine
        ("humo", p4 == 9860, n == 16),  # Uzbekistan
    )
    for name, prefix_ok, length_ok in rules:
        if prefix_ok and length_ok:
            return name
    return None


def is_card_number(number: str) -> bool:
    """A plausible payment card: 12–19 digits, a known issuer range and a valid Luhn checksum."""
    digits = number.replace(" ", "").replace("-", "")
    return digits.isdigit() and 12 <= len(digits) <= 19 and card_issuer(digits) is not None and luhn_ok(digits)


def _card_windows(run: str, said_card: bool = False) -> list[tuple[int, int]]:
    """The cards in a run of digit groups, as (start, end) offsets in the run: left to right, the
    longest window of whole groups that is laid out like a card number and validates (with
    ``said_card``, a Luhn-valid number of an issuer missing from the table counts too)."""
    tokens = [(m.start(), m.end()) for m in _DIGITS.finditer(run)]
    seps = [run[tokens[i][1]] for i in range(len(tokens) - 1)]
    out: list[tuple[int, int]] = []
    i, n, after_card = 0, len(tokens), 0
    while i < n:
        for k in range(min(_CARD_MAX_GROUPS, n - i), 0, -1):
            lens = tuple(e - s for s, e in tokens[i:i + k])
            sep = seps[i] if k > 1 else ""
            if k == 1:
                if not 12 <= lens[0] <= 19:
                    continue
            elif lens not in _CARD_LAYOUTS or any(x != sep for x in seps[i:i + k - 1]) or (
                    sep == "." and lens != (4, 4, 4, 4)):
                continue
            if i > after_card and k > 1 and seps[i - 1] == sep and tokens[i - 1][1] - tokens[i - 1][0] == lens[0]:
                continue  # the middle of a longer run grouped the same way (a serial, a table row)
            if i + k < n and k == 1 and seps[i + k - 1] in ".,":
                continue  # 4111111111111111.50 — a decimal number
            start, end = tokens[i][0], tokens[i + k - 1][1]
            digits = run[start:end].replace(".", "")
            if is_card_number(digits) or (said_card and _unlisted_card(digits)):
                out.append((start, end))
                i += k
                after_card = i
                break
        else:
            i += 1
    return out


def _unlisted_card(number: str) -> bool:
    digits = number.replace(" ", "").replace("-", "")
    return digits.isdigit() and 13 <= len(digits) <= 19 and digits[0] in "123456" and luhn_ok(digits)


_IBAN_HEAD = re.compile(r"(?<![\w-])[A-Za-z]{2}\d\d[ -]$")
_CARD_WORDS = re.compile(r"card|\bcc|credit|visa|mastercard|amex|maestro|\bpan\b|payment", re.I)
# the same on lower-cased text, every branch led by a letter ("c(?<!\wc)c" is "\bcc"): ``re`` skips to
# those letters, where a re.I pattern opening with \b is tried at every position
_CARD_WORDS_LOWER = re.compile(r"card|c(?<!\wc)c|credit|visa|mastercard|amex|maestro|p(?<!\wp)an\b|payment")


def _said_card(text: str) -> bool:
    """:data:`_CARD_WORDS` in ``text`` (for ASCII text searched lower-cased: re.I folds a few
    non-ASCII letters into ASCII ones)."""
    if text.isascii():
        return _CARD_WORDS_LOWER.search(text.lower()) is not None
    return _CARD_WORDS.search(text) is not None


def _cards(text: str, regions: Regions | None = None) -> list[Finding]:
    out = []
    said_card: bool | None = None
    for m in _each(_CARD_RUN, text, regions):
        if m.end() - m.start() < 12:
            continue
        if said_card is None:
            said_card = _said_card(text)
        if _IBAN_HEAD.search(text, max(0, m.start() - 5), m.start()):
            continue  # the groups of an IBAN ("DE44 5001 0517 …"), valid or mistyped
        glued = _GLUED_AFTER.match(text, m.end()) is not None
        for start, end in _card_windows(m.group(), said_card):
            if glued and m.start() + end == m.end():
                continue  # 4111111111111111abc, …/27 — part of a longer token
            start, end = m.start() + start, m.start() + end
            value = text[start:end]
            before = preceding(text, start, 24)
            if value.isdigit() and _CARD_CONTEXT_NO.search(before) and not _CARD_CONTEXT_YES.search(before):
                continue  # a bare digit run right after "order #", "tracking:" … is an identifier
            out.append(make_finding(SCANNER, "card", text, start, end, score=0.95, severity="high"))
    return out


# ------------------------------------------------------------------------------------------ IBAN
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    # registered since 2020 (BI, DJ, FK, LY, MN, NI, OM, RU, SO, YE) and the national IBAN formats of the
    # African and Middle-East banks that use them (Nordea/SWIFT "experimental" list)
    "BI": 27, "DJ": 27, "FK": 18, "MN": 20, "NI": 28, "OM": 23, "RU": 33, "SO": 23, "YE": 30,
    "AO": 25, "BF": 28, "BJ": 28, "CF": 27, "CG": 27, "CI": 28, "CM": 27, "CV": 25, "DZ": 26, "GA": 27, "GQ": 27,
    "GW": 25, "HN": 28, "IR": 26, "KM": 27, "MA": 28, "MG": 27, "ML": 28, "MZ": 25, "NE": 28, "SN": 28, "TD": 27,
    "TG": 28,
}
def iban_ok(iban: str) -> bool:
    """A valid IBAN: known country, that country's length and the ISO 7064 mod-97 check."""
    s = iban.replace(" ", "").replace("-", "").upper()
    if IBAN_LENGTHS.get(s[:2]) != len(s) or not s.isalnum() or not s[2:4].isdigit():
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


_IBAN_START = re.compile(r"(?<![\w-])[A-Za-z]{2}\d\d")
_IBAN_RUN = re.compile(r"[A-Za-z0-9]+(?:[ -][A-Za-z0-9]+)*")  # linear: no nested quantifier to backtrack
_WORD_AFTER = re.compile(r"\w")


def _ibans(text: str, regions: Regions | None = None) -> list[Finding]:
    """IBANs written contiguous or in groups (spaces or dashes): from each country code, the run of
    alphanumeric groups is cut at the country's length — where a group ends — and validated."""
    out, pos = [], 0
    for start in _each(_IBAN_START, text, regions):
        at = start.start()
        want = IBAN_LENGTHS.get(text[at:at + 2].upper())
        if at < pos or want is None:
            continue
        run = _IBAN_RUN.match(text, at, at + 2 * want).group()  # type: ignore[union-attr]
        count, end = 0, None
        for i, ch in enumerate(run):
            if ch not in " -":
                count += 1
                if count == want:
                    end = i + 1
                    break
        if end is None or _WORD_AFTER.match(text, at + end):
            continue  # shorter than the country's IBANs, or the cut falls inside a group (or a word)
        value = run[:end]
        sentence_start = value[:2].istitle() and not any(c.isalpha() for c in value[2:])  # "De89 3704 …"
        if not (value.isupper() or value.islower() or sentence_start) or not iban_ok(value):
            continue
        out.append(make_finding(SCANNER, "iban", text, at, at + end, score=0.95, severity="high"))
        pos = at + end
    return out


# ------------------------------------------------------------------------------------------- SSN
_SSN = re.compile(r"(?<![\w.-])(?<!\d[ .])(\d{3})([- .])(\d{2})\2(\d{4})(?![\w-]|[ .]\d)")
# with SSN context nearby, the forms people also type: unseparated, one dash only (3-6, 5-4)
_SSN_LOOSE = re.compile(r"(?<![\w.-])(\d{3})(-?)(\d{2})(-?)(\d{4})(?![\w-]|[ .]\d)")
_SSN_NEAR = re.compile(r"\b(?:ssns?|ss#|social\s+sec(?:urity)?)\b[^\n]{0,32}$")
_SSN_WORD = re.compile(r"\bss(?:ns?\b|#)|social\s+sec")
_SSN_WORDS = ("ssn", "ssns", "ss#", "social")
_SIN_WORD = re.compile(r"\bsin\b|\bnas\b|insurance\s+(?:no|number|#)")
_SIN_WORDS = ("sin", "nas", "insurance")


def _said(low: str, words: tuple[str, ...], pattern: re.Pattern[str]) -> bool:
    """Whether one of ``words`` occurs as a word (found with ``str.find``, not a regex pass over the
    text), and then ``pattern`` matches."""
    for w in words:
        i = low.find(w)
        while i >= 0:
            j = i + len(w)
            if (i == 0 or not low[i - 1].isalnum()) and (j == len(low) or not low[j].isalnum() or w[-1] == "#"):
                return pattern.search(low) is not None
            i = low.find(w, j)
    return False
# cheap gate: a NINO ends in two digits and A–D ("\d\d ?[A-D]\b"; led by the rare capital, not the digits)
_NINO_TAIL = re.compile(r"[A-D](?:(?<=\d\d[A-D])|(?<=\d\d [A-D]))\b")
_SSN_INVALID = frozenset({"078051120", "219099999"})  # SSA: used in advertising, never valid
# Canadian social insurance number (Luhn) and UK national insurance number, said to be one
_SIN = re.compile(r"(?<![\w.-])([0-79]\d{2})([ -]?)(\d{3})\2(\d{3})(?![\w-]|[ .]\d)")
_SIN_NEAR = re.compile(r"\b(?:sin|social\s+insurance|insurance\s+(?:no|number|#)|nas)\b[^\n]{0,24}$")
_NINO = re.compile(r"(?<![\w-])(?!BG|GB|KN|NK|NT|TN|ZZ)([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])( ?)(\d{2})\2(\d{2})\2(\d{2})"
                   r"(?:\2([A-D]))?(?![\w-])")  # the suffix letter is left out on some forms
_NINO_NEAR = re.compile(r"\b(?:nino|ni\s+(?:no|number)|national\s+insurance|insurance\s+(?:no|number))\b[^\n]{0,24}$")


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """A possible US SSN: area not 000, 666 or 9xx; group not 00; serial not 0000; not one repeated digit."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    number = area + group + serial
    return number not in _SSN_INVALID and number != number[0] * 9


_AHV = re.compile(r"(?<![\w.-])(756[. ]?\d{4}[. ]?\d{4}[. ]?\d{2})(?![\w-]|[.]\d)")


def ean13_ok(digits: str) -> bool:
    """The EAN-13 check digit (Swiss AHV/AVS social security numbers use it)."""
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits[:12]))
    return len(digits) == 13 and (10 - total % 10) % 10 == int(digits[12])


def _ssn_said_near(text: str, low: str, regions: Regions | None) -> list[Finding]:
    """SSN-shaped numbers written loosely (unseparated, one dash) when SSN is said just before."""
    out = []
    for m in _each(_SSN_LOOSE, text, regions) if _said(low, _SSN_WORDS, _SSN_WORD) else ():
        if (m.group(2) or m.group(4)) and m.group(2) == m.group(4):
            continue  # 123-45-6789 is the separated form
        if _SSN_NEAR.search(preceding(text, m.start(), 48)) and ssn_ok(m.group(1), m.group(3), m.group(5)):
            out.append(make_finding(SCANNER, "ssn", text, m.start(), m.end(), score=0.75, severity="high"))
    return out


def _other_national_insurance(text: str, low: str, regions: Regions | None) -> list[Finding]:
    """Swiss AHV (EAN-13 check), Canadian SIN (Luhn, said to be one) and UK NINO numbers."""
    out = []
    if "756" in text:
        out += [make_finding(SCANNER, "ssn", text, m.start(1), m.end(1), score=0.85, severity="high")
                for m in _each(_AHV, text, regions) if ean13_ok(re.sub(r"[. ]", "", m.group(1)))]
    for m in _each(_SIN, text, regions) if _said(low, _SIN_WORDS, _SIN_WORD) else ():
        if _SIN_NEAR.search(preceding(text, m.start(), 40)) and luhn_ok(m.group(1) + m.group(3) + m.group(4)):
            out.append(make_finding(SCANNER, "ssn", text, m.start(), m.end(), score=0.8, severity="high"))
    for m in _each(_NINO, text, regions) if "insurance" in low or "nino" in low or _NINO_TAIL.search(text) else ():
        near = _NINO_NEAR.search(preceding(text, m.start(), 40)) is not None
        if near or (m.group(2) and m.group(6)):
            out.append(make_finding(SCANNER, "ssn", text, m.start(), m.end(), score=0.8, severity="high"))
    return out


# Social security numbers of other countries, each with its check digits: Belgian INSZ/NISS
# (birth date, mod 97), French NIR (mod 97), German Rentenversicherungsnummer (letter of the birth
# name in the middle, weighted cross sum), Greek AMKA (birth date, Luhn), Brazilian NIS/PIS/PASEP
# (mod 11), Austrian SV-Nummer (check digit 4th, birth date after). Shapes specific enough alone
# (the INSZ's date and mod 97, the NIR, the SVNR's letter, the NIS's official dots) are taken
# anywhere; the others when the text says it is such a number.
_SOCIAL_RUN = re.compile(
    r"(?<![\w.-])(?:\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}"  # INSZ written YY.MM.DD-SSS.CC
    r"|[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}"  # NIR, 15 characters
    r"|\d{2} ?\d{6} ?[A-Z] ?\d{3}"  # SVNR
    r"|\d{3}[.\-]\d{3,5}[.\-]\d{2,3}(?:[.\-]\d)?[.\-]\d{1,2}"  # NIS/PIS written in groups
    r"|\d{4} \d{6}"  # SV-Nummer
    r"|\d{11})(?![\w-]|[.,]\d)")
_SOCIAL_SAID = re.compile(
    r"(?:\b(?:ssns?|ss#|social\s+(?:security|insurance)|insurance\s+(?:no|number|#)|national\s+insurance|amka|"
    r"niss|insz|rijksregister\w*|national\s+(?:register|number)|nis|pis|pasep|svnr|sv-?nummer|"
    r"(?:sozial|renten)?versicherungs\w*|nir|s[ée]curit[ée]\s+sociale)\b)[^\n]{0,24}$")


def _date_ok(yy: str, mm: str, dd: str) -> bool:
    m, d = int(mm), int(dd)
    return 1 <= m <= 12 and 1 <= d <= 31 and yy.isdigit()


def insz_ok(d: str) -> bool:
    """Belgian national register / BIS number: YYMMDD (BIS: month + 20 or + 40), serial, mod-97 check
    (born from 2000: "2" prefixed before the check)."""
    if len(d) != 11:
        return False
    mm = int(d[2:4]) % 20 if int(d[2:4]) > 12 else int(d[2:4])
    if not (1 <= mm <= 12 or d[2:4] in ("00", "20", "40")) or int(d[4:6]) > 31:
        return False
    body, check = int(d[:9]), int(d[9:])
    born_2000s = 2000 + int(d[:2]) <= time.gmtime().tm_year
    return check == 97 - body % 97 or (born_2000s and check == 97 - (2_000_000_000 + body) % 97)


def nir_ok(value: str) -> bool:
    """French NIR (numéro de sécurité sociale): sex, YY, MM, department (2A/2B for Corsica), commune,
    serial, and a key = 97 − (number mod 97)."""
    v = value.replace(" ", "")
    if len(v) != 15 or v[0] not in "12" or not (1 <= int(v[3:5]) <= 12 or int(v[3:5]) >= 20):
        return False
    body = v[:13].replace("2A", "19").replace("2B", "18")
    return body.isdigit() and v[13:].isdigit() and int(v[13:]) == 97 - int(body) % 97


def svnr_ok(value: str) -> bool:
    """German Rentenversicherungsnummer: area, DDMMYY, initial letter (as its two-digit position),
    serial, check digit = weighted (2121212121 21) cross sum mod 10."""
    v = value.replace(" ", "")
    if len(v) != 12 or not v[8].isalpha() or not _date_ok(v[6:8], v[4:6], v[2:4]):
        return False
    digits = v[:8] + f"{ord(v[8].upper()) - 64:02d}" + v[9:11]
    total = sum(sum(divmod(int(c) * w, 10)) for c, w in zip(digits, (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1), strict=True))
    return total % 10 == int(v[11])


def amka_ok(d: str) -> bool:
    """Greek AMKA: DDMMYY, serial, Luhn."""
    return len(d) == 11 and _date_ok(d[4:6], d[2:4], d[:2]) and luhn_ok(d)


def nis_ok(d: str) -> bool:
    """Brazilian NIS/PIS/PASEP: ten digits weighted 3,2,9,8,7,6,5,4,3,2, check = 11 − sum mod 11 (0 for 10, 11)."""
    if len(d) != 11 or len(set(d)) == 1:
        return False
    check = 11 - sum(int(c) * w for c, w in zip(d, (3, 2, 9, 8, 7, 6, 5, 4, 3, 2), strict=False)) % 11
    return (0 if check >= 10 else check) == int(d[10])


def at_svnr_ok(d: str) -> bool:
    """Austrian SV-Nummer: serial (3), check digit, DDMMYY; check = weighted sum (3,7,9,·,5,8,4,2,1,6) mod 11."""
    if len(d) != 10 or d[0] == "0" or not _date_ok(d[8:], d[6:8], d[4:6]):
        return False
    total = sum(int(c) * w for c, w in zip(d, (3, 7, 9, 0, 5, 8, 4, 2, 1, 6), strict=True)) % 11
    return total != 10 and total == int(d[3])


def _social_kind(value: str) -> tuple[bool, bool]:
    """(valid, specific enough to be taken without being said) for a :data:`_SOCIAL_RUN` match."""
    digits = re.sub(r"[ .\-]", "", value)
    if value[2:3] == "." and value.count(".") == 3:
        return insz_ok(digits), True
    if len(digits) == 15:
        return nir_ok(value), True
    if len(digits) == 12 and not digits.isdigit():
        return svnr_ok(value), True
    if len(digits) == 10 and " " in value:
        return at_svnr_ok(digits), False
    if len(digits) == 11 and digits.isdigit():
        official_nis = re.fullmatch(r"\d{3}\.\d{5}\.\d{2}-\d", value) is not None
        return insz_ok(digits) or amka_ok(digits) or nis_ok(digits), insz_ok(digits) or official_nis
    return False, False


def _social_numbers(text: str, low: str, regions: Regions | None) -> list[Finding]:
    out = []
    said: bool | None = None
    for m in _each(_SOCIAL_RUN, text, regions):
        ok, alone = _social_kind(m.group())
        if not ok:
            continue
        if not alone:
            if said is None:
                said = any(w in low for w in _SOCIAL_WORDS)
            if not (said and _SOCIAL_SAID.search(preceding(text, m.start(), 48))):
                continue
        out.append(make_finding(SCANNER, "ssn", text, m.start(), m.end(), score=0.8, severity="high"))
    return out


_SOCIAL_WORDS = ("ssn", "ss#", "social", "insurance", "amka", "niss", "insz", "rijksregister", "national", "nis", "pis",
                 "pasep", "svnr", "sv-nummer", "svnummer", "versicherung", "nir", "sociale")


def _ssns(text: str, regions: Regions | None = None, social: bool = True) -> list[Finding]:
    """US SSNs, the national insurance numbers said to be one, and (``social``: the text has the ten
    digits they need) the other countries' social security numbers."""
    out = [make_finding(SCANNER, "ssn", text, m.start(), m.end(), score=0.85, severity="high")
           for m in _each(_SSN, text, regions) if ssn_ok(m.group(1), m.group(3), m.group(4))]
    low = text.lower()
    out += _ssn_said_near(text, low, regions) + _other_national_insurance(text, low, regions)
    return out + _social_numbers(text, low, regions) if social else out


# ------------------------------------------------------------------------------------------ phone
_PHONE = re.compile(
    r"(?<![\w+@/#$€£¥=.\\-])(?<!\d[ .,:\-])"
    r"(?:(?:(?P<intl>\+|\b00 ?(?=[1-9]))|(?P<pcc>\(\+\d{1,3}\)[ .\-]?))?(?:\((?:\d{1,5}|0\d{0,3}[ \-]\d{1,4})\)|\d{1,6})"
    r"(?:(?:[ .\-]|(?<=\))|(?=\())(?:\(\d{1,8}\)|\d{1,10})){1,6}"
    r"|(?P<e164>\+[1-9]\d{7,14}))"
    r"(?P<ext>(?i:\s?(?:x|ext\.?|extn\.?|extension)\s?\d{1,6}\b))?"
    r"(?![\w@]|[.\-:/,]\d|-[Xx]\b)"  # 3-401-01319-X: an ISBN (its check character)
)
_PHONE_CONTEXT_NO = re.compile(
    r"(?:\b(?:order|invoice|inv|tracking|awb|shipment|parcel|ref(?:erence)?|ticket|case|id|sku|serial|"
    r"isbn|issn|doi|transaction|txn|batch|lot|part|po|acct|account|no|n[ou]m|number|version|v|build)|#)"
    r"\.?\s*(?:number|no\.?|#)?\s*[:#=]?\s*$"
    r"|\b(?:order|invoice|tracking|reference|ticket|case|account|confirmation|booking|serial|transaction|customer|"
    r"member(?:ship)?|policy|claim)\s+(?:number|no\.?|#|id)\s+(?:is|was)\s*:?\s*$"
)
_PHONE_LABEL = re.compile(r"\b(?:phone|tel|mobile|cell|fax|contact)\W*(?:no|num|number|#)\.?\s*[:#]?\s*$")
# "my number is", "her Israeli number:", "our office number" — a person's or a place's number is a
# phone unless a word in between says what else it is
_OWNED_NUMBER = re.compile(
    r"\b(?:my|our|his|her|their|your)\s+((?:[\w-]+\s+){0,2}?)(?:number|no\.?|#)\s*(?:is|was|:|=)?\s*$")
_NOT_PHONE_NOUNS = frozenset((
    "order", "invoice", "account", "acct", "tracking", "reference", "ref", "ticket", "case", "customer", "member",
    "membership", "policy", "confirmation", "booking", "reservation", "id", "serial", "routing", "card", "credit",
    "debit", "passport", "license", "licence", "tax", "vat", "social", "security", "ssn", "insurance", "employee",
    "student", "registration", "badge", "pin", "lucky", "favourite", "favorite", "house", "flat", "apartment",
    "room", "seat", "flight", "train", "bus", "table", "lottery", "version", "build", "model", "part", "item",
    "product", "sku", "batch", "lot", "claim", "patient", "record", "file", "document", "certificate", "contract",
    "loan", "iban", "bank", "sort", "swift", "bic", "zip", "postal", "postcode", "taxpayer", "identification",
    "identity", "national", "personal", "citizen", "voter", "driver", "driving", "health", "medical", "nhs",
    "pension",
))
# an identifier said to be something else ("SSN: 2237 010180", "my social security number is …")
_ID_LABEL = re.compile(r"\b(?:ssn|ss#|sin|social\s+(?:security|insurance)|insurance\s+(?:no|number)|nino|"
                       r"national\s+(?:id|insurance)|tax(?:payer)?|passport|"
                       r"identity|vat|iban|account|routing)\b\.?[^.\n]{0,24}$")


def _owned_number(before: str) -> bool:
    if not (("no" in before or "#" in before or "number" in before) and any(map(before.__contains__, _OWNERS))):
        return False  # a word _OWNED_NUMBER needs is missing (a str.find, not a regex search from every position)
    m = _OWNED_NUMBER.search(before)
    return m is not None and not (set(m.group(1).split()) & _NOT_PHONE_NOUNS)


_OWNERS = ("my", "our", "his", "her", "their")  # ("your" has "our")
_PHONE_CONTEXT_YES = re.compile(r"\b(?:phone|tel|call|mobile|cell|fax|whatsapp|sms|text me|reach me|contact)")
_IBAN_FRAGMENT = re.compile(r"\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4})* $")
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥₹]|usd|eur|gbp|chf|jpy)\s?$")


def _phone_groups_ok(groups: list[str], intl: bool) -> bool:
    n = sum(len(g) for g in groups)
    lens = [len(g) for g in groups]
    if intl:
        return 6 <= n <= 15 + (1 if "0" in groups[1:2] else 0) and lens[0] <= 6  # the length table decides
    trunk = groups[0][0] == "0"  # a national number: trunk prefix and area code ("03-6123456", "016977 3999")
    if n in (7, 8) and not trunk and tuple(lens) in _LOCAL_LAYOUTS:
        # a subscriber number without area code, in the layouts used for one: 555-1234, 9123 4567,
        # 321 23 45 — but not two years ("2019 2020")
        return not (lens == [4, 4] and all(g[:2] in ("19", "20") for g in groups))
    if not 9 <= n <= 12 or lens[0] > (6 if trunk else 5):
        return False
    if len(lens) == 2 and n < 10 and not (trunk and 2 <= lens[0] <= 4 and lens[1] >= 6):
        return False
    if lens == [5, 4] or (len(lens) == 3 and lens[1] == 2):
        return False  # ZIP+4; SSN-like 3-2-5 / 4-2-4 shapes
    if set(lens) == {2} and groups[0][0] != "0":
        return False  # 98 87 76 65 54 — pairs of digits are a phone only as a French-style 0x xx xx xx xx
    if any(x == 1 for x in lens[1:]):
        return False  # phones are not written with single-digit groups after the first (ISBNs are)
    if len(lens) >= 3 and all(x == 3 for x in lens[1:]) and lens[0] <= 3 and groups[0][0] != "0":
        return False  # 1 234 567 890: a thousands-grouped amount (amounts do not start with 0)
    if len(lens) >= 3 and all(x == 4 for x in lens) and not trunk:
        return False  # 1234 5678 9012: card-, tracking- or serial-style grouping (0812 3456 7890 is a trunk-0 mobile)
    return lens != [3, 2, 4]  # SSN shape


_RANGE_BEFORE = re.compile(r"\b(?:between|from|range|ranges|ranging|pages?|pp|years?|rows?|lines?|items?|ids?)\W{0,3}$")


def _numeric_range(text: str, start: int, groups: list[str], value: str) -> bool:
    """``1000-2000``: two dash-joined numbers that read as a range — round numbers in increasing
    order, or after "between", "from", "pages" …"""
    if len(groups) != 2 or "-" not in value:
        return False
    a, b = groups
    return (int(a) < int(b) and a[-1] == b[-1] == "0") or _RANGE_BEFORE.search(preceding(text, start, 16)) is not None


_PHONE_GROUP = re.compile(r"\([^)]*\)|\d+")  # "(06 1)" is one group: the area code with its trunk prefix
_LOCAL_LAYOUTS = frozenset({(3, 4), (4, 4), (3, 2, 2), (3, 2, 3), (2, 3, 3)})


@lru_cache(maxsize=1)
def _national_lengths() -> dict[str, frozenset[int]]:
    """Country calling code → possible national number lengths (libphonenumber metadata,
    ``data/phone_lengths.json``, written by ``scripts/train_guardrails.py --phone-table``)."""
    raw = json.loads(resources.files("llmops_nb.guardrails").joinpath("data/phone_lengths.json").read_text("utf-8"))
    return {cc: frozenset(v) for cc, v in raw["lengths"].items()}


def intl_number_ok(value: str) -> bool:
    """An international number (``+``/``00`` prefix): a known calling code followed by a national
    number of a length that country uses (a "(0)" trunk prefix is ignored)."""
    digits = re.sub(r"\D", "", re.sub(r"\(0\)", "", value))
    if value.lstrip().startswith("00"):
        digits = digits[2:]
    table = _national_lengths()
    for n in (1, 2, 3):
        lengths = table.get(digits[:n])
        if lengths is not None:
            return len(digits) - n in lengths
    return False


def _said_local(text: str, m: re.Match[str], groups: list[str], intl: bool) -> tuple[bool, float]:
    """A local format that fails the shape rules ("my number is 79 56 12 34") when the text says it is a phone."""
    if not intl and 7 <= sum(map(len, groups)) <= 12 and _said_phone(preceding(text, m.start(), 40)):
        return True, 0.7
    return False, 0.0


def _said_phone(before: str) -> bool:
    """The lower-cased text before a number says it is a phone (:data:`_PHONE_SAID`, or someone's
    number). _PHONE_SAID is searched only when a word it needs is there — in ASCII text: with
    ``re.I`` a few other letters fold into ASCII ones (ı, İ, ſ, the Kelvin sign)."""
    if (not before.isascii() or any(map(before.__contains__, _PHONE_SAID_WORDS))) and _PHONE_SAID.search(before):
        return True
    return _owned_number(before)


def _phone_value(m: re.Match[str]) -> tuple[str, bool]:
    """The number without its extension, and whether it is written internationally."""
    value = m.group(0)[: m.start("ext") - m.start()] if m.group("ext") else m.group(0)
    return value, bool(m.group("intl") or m.group("pcc") or m.group("e164"))


def _phone_candidate_ok(text: str, m: re.Match[str]) -> tuple[bool, float]:
    value, intl = _phone_value(m)
    if _in_domain_literal(text, m.start()) or (intl and not intl_number_ok(value)):
        return False, 0.0
    if m.group("e164"):
        return True, 0.9
    groups = [g.strip("()").replace(" ", "").replace("-", "") for g in _PHONE_GROUP.findall(value)]
    if not intl and sum(map(len, groups)) < 9 and ("." in value or _numeric_range(text, m.start(), groups, value)):
        return False, 0.0  # 123.4567: a decimal number; 1000-2000, "between 120-1250": a range
    if not _phone_groups_ok(groups, intl):
        return _said_local(text, m, groups, intl)
    seps = set(re.findall(r"[ .\-]", value))
    if not intl and seps == {"."} and len(groups) >= 4 and all(len(g) <= 3 for g in groups):
        return False, 0.0  # dotted quad (IP) or section number
    before = preceding(text, m.start(), 40)
    if _IBAN_FRAGMENT.search(text, max(0, m.start() - 40), m.start()):
        return False, 0.0  # the digits of a (mistyped) IBAN written in groups
    if _CURRENCY_BEFORE.search(before) or _ID_LABEL.search(before) or (_PHONE_CONTEXT_NO.search(before) and not _PHONE_LABEL.search(before)
                                                and not _owned_number(before)):
        return False, 0.0
    score = 0.9 if intl else 0.8 if "(" in value or _nanp_ok(groups) else 0.65
    return True, score + (0.1 if _PHONE_CONTEXT_YES.search(before) else 0.0)


def _nanp_ok(groups: list[str]) -> bool:
    lens = [len(g) for g in groups]
    if lens[:1] == [1] and groups[0] == "1":
        groups, lens = groups[1:], lens[1:]
    return lens == [3, 3, 4] and groups[0][0] not in "01" and groups[1][0] not in "01"


_PHONE_SAID = re.compile(
    r"(?:\b(?:call|ring|text|phone|tel|telephone|mobile|cell|cellphone|whatsapp|sms|fax)(?:\s+(?:me|us))?(?:\s+(?:at|on))?"
    r"|\b(?:my|our|his|her|their)\s+(?:phone\s+|mobile\s+|cell\s+)?number\s+is|\bcontact(?:\s+(?:me|us))?(?:\s+(?:at|on))?"
    r"|\breach\s+(?:me|us|[\w\s]{1,30}?)\s+(?:at|on))\W{0,3}$", re.I)
_PHONE_SAID_WORDS = ("call", "ring", "text", "phone", "tel", "mobile", "cell", "whatsapp", "sms", "fax", "number",
                     "contact", "reach")  # one of them is in every match of _PHONE_SAID
_BARE_RUN = re.compile(r"(?<![\w+@/#$€£¥=.\\-])(?<!\d[ .,:\-])(0{0,2}\d{7,13})(?![\w@]|[.\-:/,]\d)")


def _phones(text: str, regions: Regions | None = None) -> list[Finding]:
    out = []
    for m in _each(_PHONE, text, regions):
        ok, score = _phone_candidate_ok(text, m)
        if ok:
            out.append(make_finding(SCANNER, "phone", text, m.start(), m.end(), score=score))
    for m in _each(_BARE_RUN, text, regions):  # an unseparated run: said to be a phone, or dialable as written
        before = preceding(text, m.start(), 40)
        if _said_phone(before):
            out.append(make_finding(SCANNER, "phone", text, m.start(1), m.end(1), score=0.7))
        elif _dialable(m.group(1)) and not (_CURRENCY_BEFORE.search(before) or _ID_LABEL.search(before)
                                            or _PHONE_CONTEXT_NO.search(before)):
            out.append(make_finding(SCANNER, "phone", text, m.start(1), m.end(1), score=0.55))
    return out


_NANP_RUN = re.compile(r"1?[2-9]\d\d[2-9]\d{6}")
_TRUNK_RUN = re.compile(r"0[1-9]\d{8,10}")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_DATE_RUN = re.compile(r"(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")  # 2024011512: a date and hour


def isbn10_ok(digits: str) -> bool:
    """The ISBN-10 check (weights 10…1, mod 11) of ten digits."""
    return len(digits) == 10 and sum((10 - i) * int(c) for i, c in enumerate(digits)) % 11 == 0


def _dialable(run: str) -> bool:
    """An unseparated run that is dialable as written: 00 and an international number, a NANP number
    (area code and exchange not starting 0/1), a national number after a trunk 0, or a Chinese mobile
    number — and not an ISBN-10 or a date."""
    if run.startswith("00") and run[2:3] != "0":
        return intl_number_ok(run)  # 0044…: the international prefix, then a calling code and a national number
    ok = _NANP_RUN.fullmatch(run) or _TRUNK_RUN.fullmatch(run) or _CN_MOBILE.fullmatch(run)
    return ok is not None and not isbn10_ok(run) and _DATE_RUN.match(run) is None


# --------------------------------------------------------------------------------------- IP v4/v6
_IPV4 = re.compile(r"(?<![\w.-])((?:\d{1,3}\.){3}\d{1,3})(?!\.?\w|[-+][A-Za-z])")
_IPV4_CONTEXT_NO = re.compile(
    r"(?:\b(?:v|version|ver|release[sd]?|rel|build|rev(?:ision)?|firmware|fw|sdk|python|node|java|net|"
    r"framework|kernel|driver|patch|hotfix|package|library|assembly|chrome|firefox|edge|safari|windows|"
    r"macos|ios|android|linux|least|minimum|min|max|section|sect?|chapter|ch|clause|figure|fig|table|step|"
    r"item|para(?:graph)?|rule|oid|article|art|upgrade[sd]? to|update[sd]? to|bump(?:ed)? to)\.?\s*[:=]?"
    r"|§|==|[~<>!]=|[\^~<>])\s*$"
)
_VERSION_MARKS = frozenset(".:=§~<>^")


def _version_before(before: str) -> bool:
    """:data:`_IPV4_CONTEXT_NO` — searched only when the text before ends (but for spaces) in a
    letter or in one of the marks its matches can end with (most addresses follow a space, a
    bracket or a digit)."""
    tail = before.rstrip()[-1:]
    return (tail.isalpha() or tail in _VERSION_MARKS) and _IPV4_CONTEXT_NO.search(before) is not None


_IPV4_VERSION_AFTER = re.compile(r"\s*(?:or\s+(?:later|higher|newer|above|greater)|and\s+(?:later|above|up))")
_IPV6 = re.compile(
    r"(?<![\w:.])((?:[0-9A-Fa-f]{1,4}:|:)(?:[0-9A-Fa-f]{0,4}:){1,7}"
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?:%[\w.]+)?)(?![\w:]|\.\w)"
)


_CIDR = re.compile(r"/(\d{1,3})(?![\w/]|\.\d)")
_UNSPECIFIED = re.compile(r"(?<![\w:.])(\[(?=::\]:\d))?(::)(?:/(\d{1,3}))?(?![\w:.])")
_IP_SAID = re.compile(r"\b(?:ip|ipv6|ip6|address|addr|src|dst|source|destination|bind|listen(?:ing)?|host|"
                      r"route|prefix|unspecified|any)\b\W{0,3}$")


def _with_prefix(text: str, end: int, bits: int) -> int:
    """``end`` moved past a CIDR prefix length ("/24") that fits the address family."""
    m = _CIDR.match(text, end)
    return m.end() if m is not None and int(m.group(1)) <= bits else end


def _ipv4s(text: str, regions: Regions | None = None) -> list[Finding]:
    out = []
    for m in _each(_IPV4, text, regions):
        value = m.group(1)
        try:
            addr = ipaddress.IPv4Address(value)
        except ValueError:
            continue
        if _in_domain_literal(text, m.start(1)):
            continue  # user@[192.0.2.1] is an address (the e-mail rule), user@host.[…] a malformed one
        if _version_before(preceding(text, m.start(), 24)) or _IPV4_VERSION_AFTER.match(text, m.end()):
            continue
        private = addr.is_private or addr.is_loopback or addr.is_unspecified or addr.is_link_local
        end = _with_prefix(text, m.end(1), 32) if text.startswith("/", m.end(1)) else m.end(1)
        out.append(make_finding(SCANNER, "ipv4", text, m.start(1), end, score=0.7 if private else 0.85,
                                severity="low" if private else "medium"))
    return out


# six colons with a group between each: what an address without "::" has (eight groups, or six and an IPv4 tail)
_SIX_COLONS = re.compile(r":(?:[0-9A-Fa-f]{1,4}:){5}")


def _ipv6s(text: str, regions: Regions | None = None) -> list[Finding]:
    if "::" not in text and _SIX_COLONS.search(text) is None:
        return []  # (timestamps, "key: value" lines): every match of _IPV6 would fail the check below
    out = []
    for m in _each(_IPV6, text, regions):
        value = m.group(1)
        if not any(c.isdigit() for c in value) or value.count(":") < 2 or text[m.end(1):m.end(1) + 1] == "%":
            continue  # (fe80::1%, fe80::1%1%2: a zone index that is empty or not one)
        address = value.split("%")[0]
        if "::" not in address and address.count(":") < 6:
            continue  # 12:34:56 — see _SIX_COLONS
        try:
            addr = ipaddress.IPv6Address(address)
        except ValueError:
            continue
        private = addr.is_private or addr.is_loopback or addr.is_link_local
        end = _with_prefix(text, m.end(1), 128) if text.startswith("/", m.end(1)) else m.end(1)
        out.append(make_finding(SCANNER, "ipv6", text, m.start(1), end, score=0.7 if private else 0.85,
                                severity="low" if private else "medium"))
    return out


def _unspecified_ipv6(text: str) -> list[Finding]:
    """The unspecified address, when the text says it is one ("bind ::", "src=::", "::/0", "[::]:8080")."""
    out = []
    i = text.find("::")
    while i >= 0:
        m = _UNSPECIFIED.match(text, max(0, i - 1)) if i and text[i - 1] == "[" else _UNSPECIFIED.match(text, i)
        if m is not None:
            cidr = m.group(3) is not None and int(m.group(3)) <= 128
            if cidr or m.group(1) or _IP_SAID.search(preceding(text, m.start(), 16)):
                end = m.end() if cidr else m.end(2)
                out.append(make_finding(SCANNER, "ipv6", text, m.start(2), end, score=0.55, severity="low"))
        i = text.find("::", i + 2)
    return out


# ------------------------------------------------------------------------------------------- scan
_DIGIT = re.compile(r"\d")
_SHORT = 256  # below this, one pass per type costs less than finding the digit clusters first

def _window_fn(text: str) -> Callable[..., Regions | None]:
    """win(digits, edge): the regions of ``text`` to look in for a type whose matches have at least
    ``digits`` digits — a short text is one window, taken only when it has that many digits in
    all; a long one has the windows around its digit clusters (computed once per digit count)."""
    if len(text) < _SHORT:
        total = sum(map(text.count, "0123456789"))

        def short(digits: int, edge: int = _EDGE) -> Regions | None:
            return None if total >= digits else []
        return short
    clusters = _clusters(text)
    cache: dict[tuple[int, int], Regions | None] = {}

    def long(digits: int, edge: int = _EDGE) -> Regions | None:
        if (digits, edge) not in cache:
            cache[digits, edge] = _windows(text, clusters, digits, edge)
        return cache[digits, edge]
    return long


def scan(text: str, types: frozenset[str] | set[str] | None = None) -> list[Finding]:
    """PII findings in ``text`` (all types, or only ``types``), one type per span, in order."""
    wanted = TYPES if types is None else types
    found: list[Finding] = []
    if "email" in wanted and "@" in text:
        found += _emails(text)
    if "ipv6" in wanted and "::" in text:
        found += _unspecified_ipv6(text)
    if _DIGIT.search(text) is None:
        return resolve_overlaps(found)  # every other type has a digit
    win = _window_fn(text)
    for type_, digits, needs, find in _DIGIT_TYPES:
        if type_ in wanted and (needs is None or needs in text):
            regions = win(digits, _IPV6_EDGE if type_ == "ipv6" else _EDGE)
            if regions != []:
                found += find(text, regions, win)
    return resolve_overlaps(_drop_weak_ids(found))


def _drop_weak_ids(found: list[Finding]) -> list[Finding]:
    """A bare run whose only claim to be an identity number is its check digit (score below 0.5)
    yields to any other reading of the same digits (a phone, a card), which it would otherwise
    outrank and then, below the policy threshold, take away."""
    weak = [f for f in found if f.type == "national_id" and f.score < 0.5]
    if not weak:
        return found
    others = [f for f in found if f.type != "national_id"]
    return [f for f in found if f not in weak or not any(o.start < f.end and f.start < o.end for o in others)]


# (type, digits a match has at least, a character it needs, finder(text, its regions, win)), where
# win(digits) gives the regions for another digit count (None: the whole text, []: none)
_Win = Callable[..., "Regions | None"]
_DIGIT_TYPES: tuple[tuple[str, int, str | None, Callable[[str, Regions | None, _Win], list[Finding]]], ...] = (
    ("card", 12, None, lambda t, r, w: _cards(t, r)),
    ("iban", 2, None, lambda t, r, w: _ibans(t, r)),
    ("ssn", 6, None, lambda t, r, w: _ssns(t, r, social=w(10) != [])),
    ("phone", 7, None, lambda t, r, w: _phones(t, r)),
    ("national_id", 4, None, lambda t, r, w: national_ids.scan(t, r, w(national_ids.DIGITS))),
    ("ipv4", 4, ".", lambda t, r, w: _ipv4s(t, r)),
    ("ipv6", 1, ":", lambda t, r, w: _ipv6s(t, r)),
)
