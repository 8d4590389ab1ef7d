"""National identity numbers, personal tax numbers and passport numbers (finding type
``national_id``), each recognised by its published structure and check digits.

Shapes that carry a letter, a separator or a check letter (Spanish DNI/NIE, Finnish HETU, Chinese
resident identity number, Taiwanese ID, Hong Kong HKID, Italian codice fiscale, Mexican CURP,
Korean RRN, Swedish personnummer with its hyphen, Brazilian CPF with its dots, US ITIN, Indian
PAN) are reported wherever they occur. Bare digit runs whose check digit only removes nine in ten
random numbers (Polish PESEL, Israeli ID, South African ID, Indian Aadhaar, bare Swedish or
Brazilian numbers …) are reported with a low score (below the default policy's 0.5, above
strict's 0.4) unless the text says it is an identity, tax or passport number just before. Passport
numbers have no check digit in most countries: they are taken only when the text says so.

Social security numbers (US SSN, Belgian INSZ …) are the ``ssn`` type of :mod:`.pii`.
"""

from __future__ import annotations

import time

from llmops_nb.guardrails import lazy_re as re
from llmops_nb.guardrails._common import luhn_ok, make_finding, preceding
from llmops_nb.types import Finding

SCANNER = "pii"
TYPE = "national_id"

_SAID = re.compile(
    r"(?:\b(?:id|identity|identification|national|citizen|personal|resident|tax|taxpayer|tin|nif|nie|dni|pesel|"
    r"personnummer|fødselsnummer|fodselsnummer|hetu|cpf|aadhaar|aadhar|pan|itin|curp|rrn|cnp|teudat|zehut|"
    r"codice\s+fiscale|passport|document)\b[^\n]{0,28})$", re.I)
_PASSPORT_SAID = re.compile(r"\bpassport\s*(?:no\.?|number|num|#|id)?\s*(?:is|:|=)?\s*$", re.I)

# shape name → pattern (tried in this order; a match is then checked against every shape it fits)
_SHAPE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("es", r"[XYZxyz]?\d{7,8}-?[A-Za-z]"),  # DNI 12345678Z, NIE X1234567L
    ("fi", r"\d{6}[-+A-FU-Y]\d{3}[0-9A-Ya-y]"),  # HETU 131052-308T
    ("cn", r"\d{17}[\dXx]"),  # resident identity card
    ("tw", r"[A-Za-z][12]\d{8}"),  # Taiwan
    ("hk", r"[A-Za-z]{1,2}\d{6}(?:\(\s*[\dA]\s*\)|\[[\dA]\]|[\dA])"),  # HKID A123456(3)
    ("it", r"[A-Za-z]{6}\d{2}[A-EHLMPR-Ta-ehlmpr-t]\d{2}[A-Za-z]\d{3}[A-Za-z]"),  # codice fiscale
    ("mx", r"[A-Z]{4}\d{6}[HMX][A-Z]{5}[0-9A-Z]\d"),  # CURP
    ("kr", r"\d{6}-[1-8]\d{6}"),  # resident registration number
    ("se", r"(?:\d{2})?\d{6}[-+]\d{4}"),  # personnummer 811228-9874
    ("br", r"\d{3}\.\d{3}\.\d{3}-\d{2}"),  # CPF 123.456.789-09
    ("itin", r"9\d{2}-(?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9])-\d{4}|9\d{2} (?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9]) \d{4}"),  # US ITIN 9XX-7X-XXXX
    ("pan", r"[A-Za-z]{3}[ABCFGHJLPTabcfghjlpt][A-Za-z]\d{4}[A-Za-z]"),  # Indian PAN
    ("aadhaar", r"[2-9]\d{3} \d{4} \d{4}"),  # Aadhaar, as printed
    ("ie", r"\d{7}[A-Wa-w][A-IWa-iw]?"),  # Irish PPS 1234567T(A)
    ("cz", r"\d{6}/\d{3,4}"),  # Czech/Slovak birth number 530121/9990
    ("pk", r"\d{5}-\d{7}-\d"),  # Pakistani CNIC
    ("dk", r"\d{6}-\d{4}"),  # Danish CPR (no check digit since 2007)
    ("lk", r"\d{9}[VvXx]"),  # Sri Lankan NIC (old)
    ("ein", r"\d{2}-\d{7}"),  # US EIN
    ("itcard", r"[A-Za-z]{2}\d{5}[A-Za-z]{2}"),  # Italian identity card
    ("digits", r"\d{8,14}"),  # bare runs: PESEL, NO, IL, ZA, RO, SE, BR, Aadhaar, tax numbers …
)
# every shape starts with two digits or with up to six letters and a digit: a cheap lookahead
# spares the alternation at every other word start
_CANDIDATE = re.compile(r"(?<![\w.\-/])(?=\d\d|[A-Za-z]{1,6}\d)(?:" + "|".join(f"(?P<{k}>{p})" for k, p in _SHAPE_PATTERNS)
                        + r")(?![\w\-]|[.,/]\d)")
_SHAPE_RES = {k: re.compile(p) for k, p in _SHAPE_PATTERNS}
# Where a candidate can start: a capital letter with a digit within six letters, or a digit that
# opens what a digit-led shape opens with: five digits, or Aadhaar's "dddd dddd dddd", CPF's
# "ddd.ddd.", ITIN's "ddd-dd-dddd" (or with spaces), EIN's "dd-ddddddd". Each pattern opens with a
# character class, so ``re`` skips in C to the next capital or digit; _CANDIDATE is then matched
# only there (its lookarounds alone, tried at every position of a text, cost more than the whole
# rest; so do dates, times and versions, that no shape fits). Digit-led shapes all have seven
# digits or more, so they are looked for only where the caller found that many.
_LETTER_START = re.compile(r"[A-Z](?<![\w.\-/][A-Z])(?=[A-Za-z]{0,5}\d)")
_DIGIT_START = re.compile(r"\d(?<![\w.\-/]\d)(?=\d{4}|\d{3} \d{4} \d{4}|\d\d\.\d{3}\.|\d\d[- ]\d\d[- ]\d{4}|\d-\d{7})")
DIGITS = 7  # the fewest digits of a digit-led shape (Irish PPS, NIE)


Regions = list[tuple[int, int]] | None


def _starts(pattern: re.Pattern[str], text: str, regions: Regions) -> list[int]:
    spans = ((0, len(text)),) if regions is None else regions
    return [m.start() for start, end in spans for m in pattern.finditer(text, start, end)]


def _candidates(text: str, letter_regions: Regions, digit_regions: Regions) -> list[re.Match[str]]:
    starts = _starts(_LETTER_START, text, letter_regions) + _starts(_DIGIT_START, text, digit_regions)
    out: list[re.Match[str]] = []
    pos = 0
    for at in sorted(starts):
        if at >= pos and (m := _CANDIDATE.match(text, at)) is not None:
            out.append(m)
            pos = m.end()
    return out


def _date_ok(yyyy: int, mm: int, dd: int) -> bool:
    if not 1 <= mm <= 12 or not 1 <= dd <= 31:
        return False
    return not (dd > 30 and mm in (4, 6, 9, 11)) and not (mm == 2 and dd > 29)


def es_ok(value: str) -> bool:
    """Spanish DNI (8 digits) / NIE (X, Y or Z and 7 digits) with the mod-23 check letter."""
    v = value.upper().replace("-", "").replace(" ", "")
    body = v[:-1]
    if body[0] in "XYZ":
        if len(body) != 8:
            return False
        body = str("XYZ".index(body[0])) + body[1:]
    elif len(body) != 8:
        return False
    return body.isdigit() and "TRWAGMYFPDXBNJZSQVHLCKE"[int(body) % 23] == v[-1]


def fi_ok(value: str) -> bool:
    """Finnish HETU: DDMMYY, century sign, individual number, mod-31 check character."""
    v = value.upper()
    century = {"+": 1800, "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900}.get(v[6], 2000)
    if not _date_ok(century + int(v[4:6]), int(v[2:4]), int(v[:2])):
        return False
    return "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(v[:6] + v[7:10]) % 31] == v[10]


def cn_ok(value: str) -> bool:
    """Chinese resident identity number: region, YYYYMMDD, sequence, ISO 7064 MOD 11-2 check."""
    v = value.upper()
    if not _date_ok(int(v[6:10]), int(v[10:12]), int(v[12:14])) or not 1900 <= int(v[6:10]) <= time.gmtime().tm_year:
        return False
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(v[:17]))
    return "10X98765432"[total % 11] == v[17]


_TW_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"  # A=10 … in the order of the official table


def tw_ok(value: str) -> bool:
    """Taiwanese national identification number: a letter (its two-digit code), sex digit, 8 digits."""
    v = value.upper()
    code = _TW_LETTERS.index(v[0]) + 10
    digits = [code // 10, code % 10] + [int(c) for c in v[1:]]
    weights = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
    return sum(d * w for d, w in zip(digits, weights, strict=True)) % 10 == 0


def hk_ok(value: str) -> bool:
    """Hong Kong identity card: one or two letters, six digits, check digit (0-9 or A) mod 11."""
    v = re.sub(r"[()\[\]\s]", "", value.upper())
    letters, digits, check = v[:-7], v[-7:-1], v[-1]
    vals = ([36] if len(letters) == 1 else []) + [ord(c) - 55 for c in letters] + [int(c) for c in digits]
    total = sum(x * w for x, w in zip(vals, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


_IT_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                   (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8,
                    12, 14, 16, 10, 22, 25, 24, 23), strict=True))


def it_ok(value: str) -> bool:
    """Italian codice fiscale: the check letter over the odd/even character tables."""
    v = value.upper()
    total = 0
    for i, c in enumerate(v[:15]):
        total += _IT_ODD[c] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - 65)
    return chr(65 + total % 26) == v[15]


def mx_ok(value: str) -> bool:
    """Mexican CURP: the check digit over the 17 characters (0-9, A-N, Ñ, O-Z)."""
    alphabet = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
    total = sum(alphabet.index(c) * (18 - i) for i, c in enumerate(value[:17]))
    return (10 - total % 10) % 10 == int(value[17])


def kr_ok(value: str) -> bool:
    """Korean resident registration number (before 2020 numbers): YYMMDD, sex digit, mod-11 check."""
    d = value.replace("-", "")
    century = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000}[d[6]]
    if not _date_ok(century + int(d[:2]), int(d[2:4]), int(d[4:6])):
        return False
    total = sum(int(c) * w for c, w in zip(d[:12], (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=True))
    return (11 - total % 11) % 10 == int(d[12])


def se_ok(value: str) -> bool:
    """Swedish personnummer / samordningsnummer (day + 60): YYMMDD, serial, Luhn over the ten digits."""
    d = value.replace("-", "").replace("+", "")
    d = d[2:] if len(d) == 12 else d
    if len(d) != 10 or not d.isdigit():
        return False
    day = int(d[4:6]) - (60 if int(d[4:6]) > 60 else 0)
    return _date_ok(2000, int(d[2:4]), day) and luhn_ok(d)


def br_ok(value: str) -> bool:
    """Brazilian CPF: two mod-11 check digits."""
    d = re.sub(r"\D", "", value)
    if len(d) != 11 or len(set(d)) == 1:
        return False
    for n in (9, 10):
        total = sum(int(c) * w for c, w in zip(d[:n], range(n + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != int(d[n]):
            return False
    return True


def pesel_ok(d: str) -> bool:
    """Polish PESEL: YYMMDD (month + 20/40/60/80 for other centuries), serial, weighted check."""
    if len(d) != 11 or not d.isdigit():
        return False
    month = int(d[2:4]) % 20
    if not _date_ok(2000, month, int(d[4:6])):
        return False
    total = sum(int(c) * w for c, w in zip(d[:10], (1, 3, 7, 9, 1, 3, 7, 9, 1, 3), strict=True))
    return (10 - total % 10) % 10 == int(d[10])


def no_ok(d: str) -> bool:
    """Norwegian fødselsnummer (D-numbers: day + 40; H-numbers: month + 40): two mod-11 checks."""
    if len(d) != 11 or not d.isdigit():
        return False
    day, month = int(d[:2]) % 40, int(d[2:4]) % 40
    if not _date_ok(2000, month, day):
        return False
    for weights, pos in (((3, 7, 6, 1, 8, 9, 4, 5, 2), 9), ((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), 10)):
        k = 11 - sum(int(c) * w for c, w in zip(d, weights, strict=False)) % 11
        if (0 if k == 11 else k) != int(d[pos]) or k == 10:
            return False
    return True


def il_ok(d: str) -> bool:
    """Israeli identity number (Teudat Zehut): nine digits, Luhn."""
    return len(d) == 9 and d.isdigit() and luhn_ok(d)


def za_ok(d: str) -> bool:
    """South African ID: YYMMDD, gender/sequence, citizenship, Luhn."""
    return len(d) == 13 and d.isdigit() and _date_ok(2000, int(d[2:4]), int(d[4:6])) and d[10] in "012" and luhn_ok(d)


def ro_ok(d: str) -> bool:
    """Romanian CNP: sex/century, YYMMDD, county, serial, weighted mod-11 check (10 → 1)."""
    if len(d) != 13 or not d.isdigit() or d[0] == "0" or not _date_ok(2000, int(d[3:5]), int(d[5:7])):
        return False
    total = sum(int(c) * w for c, w in zip(d[:12], (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9), strict=True)) % 11
    return (1 if total == 10 else total) == int(d[12])


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def aadhaar_ok(d: str) -> bool:
    """Indian Aadhaar: twelve digits, not starting 0 or 1, Verhoeff check."""
    d = d.replace(" ", "")
    if len(d) != 12 or not d.isdigit() or d[0] in "01":
        return False
    c = 0
    for i, ch in enumerate(reversed(d)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def ir_ok(d: str) -> bool:
    """Iranian national code: ten digits, mod-11 check over weights 10…2."""
    if len(d) != 10 or not d.isdigit() or len(set(d)) == 1:
        return False
    r = sum(int(c) * (10 - i) for i, c in enumerate(d[:9])) % 11
    return int(d[9]) == (r if r < 2 else 11 - r)


def th_ok(d: str) -> bool:
    """Thai national ID: thirteen digits, weights 13…2, check = (11 − sum mod 11) mod 10."""
    if len(d) != 13 or not d.isdigit() or d[0] in "09":
        return False
    return (11 - sum(int(c) * (13 - i) for i, c in enumerate(d[:12])) % 11) % 10 == int(d[12])


def _mod11(d: str, weights: tuple[int, ...]) -> int:
    return sum(int(c) * w for c, w in zip(d, weights, strict=False)) % 11


def ar_cuit_ok(d: str) -> bool:
    """Argentinian CUIT/CUIL: type prefix, DNI, mod-11 check."""
    if len(d) != 11 or not d.isdigit() or d[:2] not in ("20", "23", "24", "27", "30", "33", "34"):
        return False
    k = 11 - _mod11(d, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    return {11: 0, 10: 9}.get(k, k) == int(d[10])


def bg_ok(d: str) -> bool:
    """Bulgarian EGN: YYMMDD (month + 20 / + 40 for other centuries), region, mod-11 check."""
    if len(d) != 10 or not d.isdigit() or not _date_ok(2000, int(d[2:4]) % 20, int(d[4:6])):
        return False
    return _mod11(d, (2, 4, 8, 5, 10, 9, 7, 3, 6)) % 10 == int(d[9])


def cz_ok(value: str) -> bool:
    """Czech/Slovak birth number (rodné číslo): YYMMDD (month + 50 for women, + 20 since 2004),
    serial; ten-digit numbers are divisible by 11 (or end in 0 with a remainder of 10)."""
    d = value.replace("/", "")
    if len(d) not in (9, 10) or not d.isdigit() or not _date_ok(2000, int(d[2:4]) % 50 % 20, int(d[4:6])):
        return False
    return len(d) == 9 or int(d) % 11 == 0 or (int(d[:9]) % 11 == 10 and d[9] == "0")


def gr_afm_ok(d: str) -> bool:
    """Greek AFM: nine digits, powers of two, mod 11 mod 10."""
    return (len(d) == 9 and d.isdigit() and d != "000000000"
            and sum(int(c) * 2 ** (8 - i) for i, c in enumerate(d[:8])) % 11 % 10 == int(d[8]))


def ee_ok(d: str) -> bool:
    """Estonian / Lithuanian personal code: sex+century, YYMMDD, serial, two-pass mod-11 check."""
    if len(d) != 11 or not d.isdigit() or d[0] not in "123456" or not _date_ok(2000, int(d[3:5]), int(d[5:7])):
        return False
    k = _mod11(d, (1, 2, 3, 4, 5, 6, 7, 8, 9, 1))
    if k == 10:
        k = _mod11(d, (3, 4, 5, 6, 7, 8, 9, 1, 2, 3)) % 10
    return k == int(d[10])


def iso7064_11_10_ok(d: str) -> bool:
    """ISO 7064 MOD 11,10 (German Steuer-ID, Croatian OIB): eleven digits."""
    if len(d) != 11 or not d.isdigit():
        return False
    p = 10
    for c in d[:10]:
        s = (int(c) + p) % 10 or 10
        p = s * 2 % 11
    return (11 - p) % 10 == int(d[10])


def lv_ok(d: str) -> bool:
    """Latvian personas kods: DDMMYY, century, serial, check = (1101 − weighted sum) mod 11."""
    if len(d) != 11 or not d.isdigit():
        return False
    if d[:2] != "32" and not _date_ok(2000, int(d[2:4]), int(d[:2])):
        return False
    return (1101 - sum(int(c) * w for c, w in zip(d, (1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=False))) % 11 % 10 == int(d[10])


def pt_nl_ok(d: str) -> bool:
    """Portuguese NIF (mod 11, weights 9…2) or Dutch BSN (the 11-test, last weight −1): nine digits."""
    if len(d) != 9 or not d.isdigit():
        return False
    k = 11 - _mod11(d, (9, 8, 7, 6, 5, 4, 3, 2))
    pt = (0 if k >= 10 else k) == int(d[8]) and d[0] in "123568"
    bsn = (sum(int(c) * w for c, w in zip(d[:8], (9, 8, 7, 6, 5, 4, 3, 2), strict=True)) - int(d[8])) % 11 == 0
    return pt or (bsn and d[0] != "0")


def hu_ok(d: str) -> bool:
    """Hungarian tax number of a person: ten digits starting 8, weights 1…9 mod 11."""
    return len(d) == 10 and d.isdigit() and d[0] == "8" and _mod11(d, tuple(range(1, 10))) == int(d[9])


def ua_ok(d: str) -> bool:
    """Ukrainian RNTRC (individual tax number): ten digits, weights −1,5,7,9,4,6,10,5,7, mod 11 mod 10."""
    if len(d) != 10 or not d.isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(d, (-1, 5, 7, 9, 4, 6, 10, 5, 7), strict=False))
    return total % 11 % 10 == int(d[9])


def si_ok(d: str) -> bool:
    """Slovenian tax number: eight digits, weights 8…2, check = 11 − sum mod 11 (10 → 0)."""
    if len(d) != 8 or not d.isdigit() or d[0] == "0":
        return False
    k = 11 - _mod11(d, (8, 7, 6, 5, 4, 3, 2))
    return k != 11 and k % 10 == int(d[7])


def fr_spi_ok(d: str) -> bool:
    """French tax number (numéro fiscal / SPI): thirteen digits, the last three = first ten mod 511."""
    return len(d) == 13 and d.isdigit() and d[0] in "0123" and int(d[:10]) % 511 == int(d[10:])


def br_cnpj_ok(d: str) -> bool:
    """Brazilian CNPJ: fourteen digits, two mod-11 checks."""
    if len(d) != 14 or not d.isdigit() or len(set(d)) == 1:
        return False
    for n, weights in ((12, (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)), (13, (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))):
        r = sum(int(c) * w for c, w in zip(d[:n], weights, strict=True)) % 11
        if (0 if r < 2 else 11 - r) != int(d[n]):
            return False
    return True


def ie_pps_ok(value: str) -> bool:
    """Irish PPS number: seven digits, a check letter (weights 8…2, the second letter × 9, mod 23)."""
    v = value.upper()
    total = sum(int(c) * (8 - i) for i, c in enumerate(v[:7])) + (9 * (ord(v[8]) - 64) if len(v) == 9 and v[8] != "W" else 0)
    return "WABCDEFGHIJKLMNOPQRSTUV"[total % 23] == v[7]


def _said_only(value: str) -> bool:
    return True


# bare digit runs: (length, validator); a run is taken when one of its length validates
# Strong: a birth date in the number or two check digits (one random run in a hundred or more
# passes); a said run of these is an identity number. Weak: one check digit over plain digits —
# said to be a tax number, it is one; said to be an ID, one of the many weak checks passes too
# often to mean anything.
_BARE_STRONG = ((11, pesel_ok), (11, no_ok), (11, br_ok), (11, ee_ok), (11, lv_ok), (13, za_ok), (13, ro_ok),
                (10, se_ok), (10, bg_ok), (10, cz_ok), (12, se_ok), (14, br_cnpj_ok))
_BARE_WEAK = ((11, ar_cuit_ok), (11, iso7064_11_10_ok), (9, il_ok), (9, gr_afm_ok), (9, pt_nl_ok), (9, cz_ok),
              (13, th_ok), (13, fr_spi_ok), (10, ir_ok), (10, hu_ok), (10, ua_ok), (12, aadhaar_ok), (8, si_ok))
_TAX_SAID = re.compile(r"\b(?:tax|taxpayer|tin|nif|steuer|fiscal)\w*\b[^\n]{0,28}$", re.I)


def _trivial(d: str) -> bool:
    """123456789, 987654321, 111111111: typed, not issued."""
    return len(set(d)) <= 2 or d in "01234567890123456789" or d in "98765432109876543210"

# SSA's advertising block (987-65-4320 … 4329): printed in examples, never issued
_ADVERTISING = "98765432"
_EIN_UNUSED = ("00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89")
# shape → (validator, score when not said): the check's strength and the shape's specificity;
# shapes without a check digit are taken only when said (score 0 unsaid)
_SHAPES = {
    "es": (es_ok, 0.75), "fi": (fi_ok, 0.75), "cn": (cn_ok, 0.75), "it": (it_ok, 0.75), "mx": (mx_ok, 0.75),
    "kr": (kr_ok, 0.75), "br": (br_ok, 0.75), "tw": (tw_ok, 0.6), "se": (se_ok, 0.6), "pan": (str.isupper, 0.6),
    "itin": (lambda v: not re.sub(r"\D", "", v).startswith(_ADVERTISING), 0.7),
    "hk": (hk_ok, 0.45), "aadhaar": (aadhaar_ok, 0.45), "ie": (ie_pps_ok, 0.6), "cz": (cz_ok, 0.6),
    "pk": (lambda v: v[0] in "1234567", 0.0),  # CNIC: province 1–7
    "dk": (lambda v: _date_ok(2000, int(v[2:4]), int(v[:2])), 0.0), "lk": (_said_only, 0.0),
    "ein": (lambda v: v[:2] not in _EIN_UNUSED, 0.0), "itcard": (_said_only, 0.0),
}


def _unsaid_score(kind: str, value: str, weak: bool) -> float | None:
    """The score of a candidate not said to be an identity number (None: no shape it fits
    validates). The shape that matched is tried first, then every other shape that fits the text
    (640883-3231 is HETU-shaped and a personnummer). ``weak``: also try the single-check digit
    runs (only worth it when the text speaks of a tax number)."""
    if kind == "digits":
        if _trivial(value):
            return None
        if any(len(value) == n and ok(value) for n, ok in _BARE_STRONG):
            return 0.45
        return 0.4 if weak and any(len(value) == n and ok(value) for n, ok in _BARE_WEAK) else None
    ok, score = _SHAPES[kind]
    if ok(value):
        return 0.75 if kind == "hk" and value[-1] in ")]" else score  # A123456(7): the HKID as printed
    for k, (ok, score) in _SHAPES.items():
        if k != kind and _SHAPE_RES[k].fullmatch(value) and ok(value):
            return score
    return None


def scan(text: str, regions: Regions = None, digit_regions: Regions = None) -> list[Finding]:
    """``national_id`` findings in ``text``, in ``regions`` (None: everywhere; the caller's
    windows around runs of four digits) — digit-led shapes only in ``digit_regions`` (the
    windows around runs of :data:`DIGITS` digits)."""
    low = text.lower()
    candidates = _candidates(text, regions, digit_regions)
    if not candidates:  # (a text that says "passport" says one of SAID_WORDS)
        return _passports(text) if "passport" in low else []
    said_any = any(w in low for w in SAID_WORDS)
    tax_any = said_any and any(w in low for w in _TAX_WORDS)
    out = []
    for m in candidates:
        score = _unsaid_score(m.lastgroup or "digits", m.group(), tax_any)
        if score is None:
            continue
        before = preceding(text, m.start(), 40) if said_any else ""
        if score == 0.4:  # a weak check only: a number only when said to be a tax number
            if not _TAX_SAID.search(before):
                continue
            score = 0.8
        elif said_any and _SAID.search(before) is not None:
            score = 0.85
        elif score == 0.0:
            continue  # a shape without a check digit, not said to be an identity number
        out.append(make_finding(SCANNER, TYPE, text, m.start(), m.end(), score=score, severity="high"))
    if said_any and "passport" in low:
        out += _passports(text)
    return out


_TAX_WORDS = ("tax", "tin", "nif", "steuer", "fiscal")


# what passport numbers look like: 6–10 letters and digits (a dash or space after a leading letter),
# at least two digits
_PASSPORT = re.compile(r"(?<![\w-])([A-Za-z0-9](?:[- ](?=\d))?[A-Za-z0-9]{4,9})(?![\w-])")


def _passports(text: str) -> list[Finding]:
    """Passport numbers said to be one ("passport no. X1234567"): letters and digits of the
    lengths passports use, right after the word."""
    out = []
    for m in _PASSPORT.finditer(text):
        if sum(c.isdigit() for c in m.group(1)) >= 2 and _PASSPORT_SAID.search(preceding(text, m.start(), 32)):
            out.append(make_finding(SCANNER, TYPE, text, m.start(1), m.end(1), score=0.8, severity="high"))
    return out


SAID_WORDS = ("id", "identity", "identification", "national", "citizen", "personal", "resident", "tax", "tin", "nif",
              "nie", "dni", "pesel", "personnummer", "fødselsnummer", "fodselsnummer", "hetu", "cpf", "aadhaar",
              "aadhar", "pan", "itin", "curp", "rrn", "cnp", "teudat", "codice", "passport", "document")
