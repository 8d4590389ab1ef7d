"""The PII scanner's shortcuts decide exactly what the slower check they stand in front of
decides: each is compared with that check (a regex, ipaddress, the old cluster rule) on many
random strings built from the pieces that matter to it."""

from __future__ import annotations

import ipaddress
import random
import re

from llmops_nb.guardrails import national_ids, pii

N = 20_000


def _texts(seed: int, pieces: list[str], longest: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, longest))) for _ in range(N)]


def test_national_id_digit_starts_keep_every_candidate() -> None:
    any_two = re.compile(r"\d(?<![\w.\-/]\d)(?=\d)")
    pieces = ["1", "23", "456", "7890", "9", " ", "-", ".", "/", "X", "T", "A", "(", ")", "+"]
    for text in _texts(2, pieces, 14) + [f" {s} " for s in ("123.456.789-09", "912-70-1234", "912 70 1234",
                                                           "12-3456789", "2345 6789 0123", "131052-308T")]:
        def starts(p: re.Pattern[str], text: str = text) -> list[int]:
            return [m.start() for m in p.finditer(text) if national_ids._CANDIDATE.match(text, m.start())]
        assert starts(national_ids._DIGIT_START) == starts(any_two), text


def test_nino_tail_gate_is_the_tail_pattern() -> None:
    tail = re.compile(r"\d\d ?[A-D]\b")
    for text in _texts(3, list("12 ABDEa_-") + ["\u0661"], 12):
        assert (pii._NINO_TAIL.search(text) is None) == (tail.search(text) is None), text


def test_phone_said_gate_is_the_two_regexes() -> None:
    pieces = ["call", "ring ", "my number is", "our", "number", "no", "#", "x", " ", "contact us at", "reach me at",
              "tel:", "their", "your", "his", "her", "order no", "house ", "is", "=", "\u0131", "\u017fms", "\u0130"]
    for before in _texts(4, pieces, 7):
        before = before[-40:]
        m = pii._OWNED_NUMBER.search(before)
        owned = m is not None and not (set(m.group(1).split()) & pii._NOT_PHONE_NOUNS)
        assert pii._said_phone(before) == (pii._PHONE_SAID.search(before) is not None or owned), before


def test_version_gate_is_the_version_regex() -> None:
    pieces = list("abcv .:=§~<>^!]x\n\t") + ["version", "v", "python ", "upgraded to", "ver", "  "]
    for before in _texts(5, pieces, 8):
        before = before[-24:]
        assert pii._version_before(before) == (pii._IPV4_CONTEXT_NO.search(before) is not None), before


def test_card_words_gate_is_the_case_insensitive_regex() -> None:
    pieces = ["card", "CC", "cc", "Pan", "pan", "pane", "x", " ", "_", "1", "VISA", "Credit", "payMent", "amEx", "c",
              "p", "an", "\u017f", "\u0131"]
    for text in _texts(6, pieces, 6):
        assert pii._said_card(text) == (pii._CARD_WORDS.search(text) is not None), text


def test_ipv6_shortcuts_only_skip_what_ipaddress_rejects() -> None:
    for text in _texts(7, ["1", "a", "ff", ":", ":", "1.2.3.4", "0", "12", "%"], 14):
        address = text.split("%")[0]
        if "::" not in address and address.count(":") < 6:  # the per-candidate check in _ipv6s
            try:
                ipaddress.IPv6Address(address)
            except ValueError:
                pass
            else:
                raise AssertionError(address)
        if "::" not in text and pii._SIX_COLONS.search(text) is None:  # the whole-text gate
            for m in pii._IPV6.finditer(text):
                address = m.group(1).split("%")[0]
                assert "::" not in address and address.count(":") < 6, text
