"""PII gap classes found on the train split of the development corpus, one case per class, with
strings written here (checksums computed for made-up values), and the look-alikes of each class
that must stay negative."""

from __future__ import annotations

import pytest

from llmops_nb.guardrails import pii


def _found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start:f.end]) for f in pii.scan(text)]


POSITIVE = [
    # e-mail: RFC 5321 address literals, combining marks in IDN labels and local parts, long local parts
    ("address literal IPv4", "mail root@[192.0.2.17] now", "email", "root@[192.0.2.17]"),
    ("address literal IPv6", "mail ops@[IPv6:2001:db8::7] now", "email", "ops@[IPv6:2001:db8::7]"),
    ("Devanagari IDN with vowel signs", "लिखें सीता@उदाहरण.भारत आज", "email", "सीता@उदाहरण.भारत"),
    ("decomposed diacritics", "to jose\u0301@exa\u0301mple.es", "email", "jose\u0301@exa\u0301mple.es"),
    ("local part over 64 characters", "to " + "a1b2c3d4e5" * 7 + "@example.org", "email",
     "a1b2c3d4e5" * 7 + "@example.org"),
    # social security numbers of other countries, by their check digits
    ("Belgian INSZ, formatted", "rijksregister 85.07.30-033.28", "ssn", "85.07.30-033.28"),
    ("Belgian INSZ, bare", "85073003328", "ssn", "85073003328"),
    ("French NIR, spaced", "NIR 2 69 05 49 588 157 80", "ssn", "2 69 05 49 588 157 80"),
    ("German SVNR with the letter", "SV-Nummer 65 180539 W 001", "ssn", "65 180539 W 001"),
    ("Greek AMKA, said", "AMKA: 25038512346", "ssn", "25038512346"),
    ("Brazilian NIS, official format", "PIS 120.12345.67-2", "ssn", "120.12345.67-2"),
    ("Brazilian NIS, said, bare", "SSN: 12012345672", "ssn", "12012345672"),
    ("Austrian SV-Nummer, said", "Sozialversicherungsnummer 4216 150372", "ssn", "4216 150372"),
    ("UK NINO without suffix, said", "National insurance number JT123456 on file", "ssn", "JT123456"),
    # phones: subscriber numbers without area code, parenthesised trunk + area code, trunk-0 4-4-4
    ("local 3-4", "front desk 555-0142 tonight", "phone", "555-0142"),
    ("local 4-4", "office 6123 4567", "phone", "6123 4567"),
    ("local 3-2-2", "reception 321 54 76", "phone", "321 54 76"),
    ("area code with trunk in parentheses", "tel (06 1) 234 5678", "phone", "(06 1) 234 5678"),
    ("trunk-0 mobile 4-4-4", "WA 0813 5555 1234", "phone", "0813 5555 1234"),
]


@pytest.mark.parametrize(("name", "text", "type_", "value"), POSITIVE, ids=[c[0] for c in POSITIVE])
def test_pii_class_found(name: str, text: str, type_: str, value: str) -> None:
    assert (type_, value) in _found(text)


NEGATIVE = [
    # e-mail look-alikes: a label too long once punycode-encoded, a compatibility character, an
    # address over 254 octets, malformed or bracketed-but-not-literal domains (and no IP inside them)
    ("IDN label over 63 octets encoded", "me@δ" + "7" * 58 + ".com"),
    ("full-width domain", "me@ｅｘａｍｐｌｅ.com"),
    ("circled digit in domain", "me@⒉example.com"),
    ("address over 254 octets", "a" * 20 + "@" + ".".join(["x" * 60] * 4) + ".org"),
    ("malformed literal", "user@[300.1.2.3]"),
    ("IP after a domain's dot-bracket", "user@host.[198.51.100.4].org"),
    ("bracketed IP after @ and a word", "user@h[198.51.100.4]"),
    # social numbers with a wrong check digit, an INSZ "born" in the future, unsaid weak shapes
    ("INSZ bad check", "85073003329"),
    ("INSZ 2000s century in the future", "99000099942"),
    ("NIR bad key", "NIR 2 69 05 49 588 157 81"),
    ("SVNR bad check", "SV-Nummer 65 180539 W 002"),
    ("AMKA unsaid", "25038512346 units shipped"),
    ("AT SV-Nummer unsaid", "batch 4216 150372"),
    # phones: decimals, two years, an ISBN with its check character, an IPv6 zone that is not one
    ("decimal with 7 digits", "pi is about 314.1593"),
    ("two years", "from 2019 2020 onwards"),
    ("round-number range", "budget 1000-2000 per seat"),
    ("range after 'pages'", "see pages 120-1250"),
    ("ISBN with X", "ISBN 3-598-21500-X"),
    ("IPv6 empty zone", "fe80::1:2% dropped"),
]


@pytest.mark.parametrize(("name", "text"), NEGATIVE, ids=[c[0] for c in NEGATIVE])
def test_pii_class_lookalike_negative(name: str, text: str) -> None:
    assert _found(text) == []
