"""National identity, personal tax and passport numbers (type ``national_id``): the published
example numbers of each scheme (from the issuers' and standards' documentation, not from any
data set), their one-digit-off variants, and the rule that a bare digit run with only a weak
check is reported low (below the default policy's threshold) unless the text says what it is."""

from __future__ import annotations

import pytest

from llmops_nb.guardrails import DEFAULT, national_ids, pii, scan

EXAMPLES = [
    ("Spanish DNI", "12345678Z"),
    ("Spanish NIE", "X1234567L"),
    ("Finnish HETU", "131052-308T"),
    ("Chinese resident ID", "11010519491231002X"),
    ("Italian codice fiscale", "RSSMRA85T10A562S"),
    ("Hong Kong HKID as printed", "A123456(3)"),
    ("Brazilian CPF formatted", "111.444.777-35"),
    ("Swedish personnummer", "811218-9876"),
    ("Taiwan national ID", "A123456789"),
    ("Irish PPS", "1234567T"),
    ("US ITIN", "912-70-1234"),
    ("Indian PAN", "AAAPL1234C"),
]


@pytest.mark.parametrize(("name", "value"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_published_examples_found(name: str, value: str) -> None:
    text = f"on file: {value} (verified)"
    found = [(f.type, text[f.start:f.end]) for f in pii.scan(text)]
    assert ("national_id", value) in found
    assert any(f.type == "national_id" for f in scan(text, "input", DEFAULT))  # above the default threshold


OFF_BY_ONE = ["12345678A", "X1234567M", "131052-308U", "11010519491231002Y", "RSSMRA85T10A562T", "A123456(4)",
              "111.444.777-36", "811218-9875", "A123456788", "1234567U"]


@pytest.mark.parametrize("value", OFF_BY_ONE)
def test_wrong_check_digit_not_found(value: str) -> None:
    assert not [f for f in pii.scan(f"on file: {value} (verified)") if f.type == "national_id"]


@pytest.mark.parametrize(("name", "text", "value"), [
    ("PESEL said", "PESEL: 44051401458", "44051401458"),
    ("South African ID said", "ID number 8001015009087", "8001015009087"),
    ("Aadhaar said", "Aadhaar 2341 2341 2346", "2341 2341 2346"),
    ("passport said", "Passport no. C01X00T47", "C01X00T47"),
    ("Danish CPR said", "CPR-nr. / personal ID 010111-1113", "010111-1113"),
])
def test_said_numbers_reported_above_threshold(name: str, text: str, value: str) -> None:
    found = [f for f in scan(text, "input", DEFAULT) if f.type == "national_id"]
    assert [text[f.start:f.end] for f in found] == [value]


def test_bare_weak_check_is_below_the_default_threshold() -> None:
    # a valid PESEL with nothing saying so: one random number in ~25 passes its check and date
    text = "batch 44051401458 shipped"
    weak = [f for f in pii.scan(text) if f.type == "national_id"]
    assert weak and all(f.score < DEFAULT.threshold("pii") for f in weak)
    assert not [f for f in scan(text, "input", DEFAULT) if f.type == "national_id"]


@pytest.mark.parametrize("text", [
    "ID number: 123456789",  # typed, not issued
    "shape only, not said: 010111-1113",
    "PK 94201-0891231-8 unsaid",
    "Passport photo size 35x45 mm, 2 copies",
])
def test_lookalikes_not_reported(text: str) -> None:
    assert not [f for f in scan(text, "input", DEFAULT) if f.type == "national_id"]


def test_weak_reading_yields_to_a_phone() -> None:
    # a trunk-0 number that also passes a weak national check stays a phone
    text = "01129955131"
    assert [f.type for f in scan(text, "input", DEFAULT)] == ["phone"]


def test_validators_agree_with_published_examples() -> None:
    assert national_ids.pesel_ok("44051401458") and not national_ids.pesel_ok("44051401459")
    assert national_ids.aadhaar_ok("234123412346") and not national_ids.aadhaar_ok("234123412347")
    assert national_ids.za_ok("8001015009087") and national_ids.ro_ok("1800101221144")
