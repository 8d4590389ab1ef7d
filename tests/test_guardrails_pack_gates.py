"""The injection and toxicity scanners' shortcuts decide exactly what the slower check they stand
in front of decides: each is compared with that check on many random strings built from the
pieces that matter to it (the way tests/test_guardrails_pii_gates.py does for PII)."""

from __future__ import annotations

import random
import re

from llmops_nb.guardrails import injection, textmodel, toxicity

N = 5_000


def _texts(seed: int, pieces: list[str], longest: int, n: int = N) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, longest))) for _ in range(n)]


def test_possible_phrases_keep_every_substring() -> None:
    # pieces of the non-ASCII gate substrings and anchor phrases, mixed with other scripts
    pieces = ["忽", "略", "无视", "無", "視", "忘", "记", "れ", "무시", "잊", "игнор", "ир", "забудь", "не ", "обращай",
              "bỏ", " qua", "phớt", " lờ", "yok", " say", "تجاهل", "انس", "अनदेखा", "भूल", "เพิกเฉย", "ลืม", "ละเว้น",
              "ü", "é", " ", "a", "ignore", "x", "\u200b", "ＩＧＮ"]
    for phrases in (injection._GATE_SUBSTRINGS_NON_ASCII, injection._ANCHOR_PHRASES_NON_ASCII):
        for text in _texts(1, pieces, 12):
            low = text.lower()
            if low.isascii():
                continue
            kept = injection._possible(low, phrases)
            assert [p for p in phrases if p in low] == [p for p in kept if p in low], text
            assert set(kept) <= set(phrases)


def test_halfwidth_is_the_fullwidth_table() -> None:
    pieces = ["Ｉ", "ｇ", "ｎ", "ｏ", "ｒ", "ｅ", "！", "～", "\uff5f", "\uff00", "　", "a", " ", "ü", "忽"] + [
        chr(c) for c in range(0xFF01, 0xFF5F, 7)]
    for text in _texts(2, pieces, 10):
        assert injection._FULLWIDTH_RX.sub(injection._halfwidth, text) == text.translate(injection._FULLWIDTH), text


def test_anchor_positions_count_is_the_occurrences() -> None:
    for text in _texts(3, ["your", "you", "r", " ", "yo", "ur"], 12, 1000):
        p = injection._Positions(text, "your")
        assert len(p) == text.count("your") == len(p)
        assert list(p) == [i for i in range(len(text)) if text.startswith("your", i)]
        assert len(p) == len(list(p))


def _unleet_all_by_the_gate(low: str) -> str:
    """textmodel._unleet_all as it was: token by token from each _LEET_GATE match."""
    pieces, last = [], 0
    for m in textmodel._LEET_GATE.finditer(low):
        if m.start() < last:
            continue
        s, e = m.start(), m.end()
        while s > 0 and low[s - 1] in textmodel._TOKEN_CHARS:
            s -= 1
        while e < len(low) and low[e] in textmodel._TOKEN_CHARS:
            e += 1
        token = low[s:e]
        core = token.rstrip("!")
        if not core.isdigit() and len(core) <= 24 and sum(map(str.isalpha, core)) >= 2:
            pieces += [low[last:s], core.translate(textmodel._LEET), token[len(core):]]
            last = e
    return "".join(pieces) + low[last:] if pieces else low


def test_unleet_finds_the_gate_tokens() -> None:
    pieces = ["a", "d", "i", "o", "t", "sh", "1", "0", "3", "@", "$", "!", "!!", "|", "*", "+", "7", " ", ".", "-",
              "1d10t", "k1ll", "f*ck", "sh!t", "a$$", "ü", "12", "2024", "x" * 20, "q", "\n"]
    texts = _texts(6, pieces, 14, 20_000) + _texts(7, pieces, 40, 3000)
    texts += ["a1b" + "c" * n for n in range(18, 26)] + ["b" * n + "3" + "y" for n in range(18, 26)]
    for low in texts:
        assert textmodel._unleet_all(low) == _unleet_all_by_the_gate(low), low


def test_letter_words_are_the_letter_runs() -> None:
    letters = re.compile(r"[^\W\d_]+")
    pieces = ["a", "Z", "é", "É", "ß", "ı", "İ", "ж", "Ж", "忽略", "무시", "ลืม", "ا", "\u0301", "\u0307", "1", "٣", "²",
              "½", "_", " ", "\u00a0", "\u3000", "\u2028", "\x1c", "\n", "-", "’", "—", "“", "\u200b", "\ud800", "🙂",
              "ignore", "Ｉｇ", "ǅ", "ⅻ", "x"]
    for text in _texts(8, pieces, 12, 20_000):
        assert textmodel.letter_words(text) == letters.findall(text) or text.isascii(), text
        low = text.lower()
        assert textmodel.letter_words(low) == letters.findall(low), low


def test_letter_led_patterns_match_as_written() -> None:
    pieces = ["i", "we", "I", "you", "u", "ur", "your", "ya", "y'all", "'m", "'ll", "'re", "'ve", " ", "  ", "\n", "am",
              "will", "are", "r", "going", "to", "gonna", "kill", "kills", "hurt", "stab", "murder", "gas", "shoot",
              "hang", "burn", "wipe", "out", "all", "the", "those", "of", "people", "process", "him", "them", "break",
              "your", "legs", "beat", "up", "a", "an", "piece", "shit", "waste", "space", "scum", "such", "watch",
              "back", "sleep", "with", "one", "eye", "open", "won't", "see", "me", "coming", "know", "where", "live",
              "days", "numbered", "make", "sure", "bleed", "never", "walk", "again", "put", "bullet", "in", "dead",
              "meat", "die", "hope", "wish", "have", "got", "brains", "of", "rock", "crawl", "under", "hole", "nobody",
              "no", "no-one", "likes", "more", "mother", "should", "stopped", "x", "ai", "swe", "kill3", "_", "é", ".",
              "embarrassment", "complete", "laughing", "stock", "iq", "i'm going to kill", "we will", "i'll stab",
              "i am gonna hurt", "you're a", "you are such a", "ur a", "watch your back", "sleep with one eye open",
              "i know where you live", "your days are numbered", "make you bleed", "you won't see me coming",
              "you're dead meat", "i hope you die", "put a bullet in", "you have the brains of a", "nobody likes you",
              "crawl back under your rock", "your mother should have stopped", "you are a complete embarrassment",
              "he", "she", "her", "deserves", "deserve", "be", "get", "shot", "hanged", "tortured", "beaten", "off",
              "i'd", "love", "would", "go", "drink", "bleach", "you should be shot", "he deserves to be hanged",
              "people like you should be", "i'd love to see you", "go drink bleach", "i hope your family suffers",
              "kill all the", "burn those", "burn your house", "the world would be better without you", "down",
              "women", "muslims", "trans", "people", "is", "cancer", "vermin", "not", "even", "human", "do not",
              "don't", "belong", "on this earth", "in this country", "no place in our society for", "any", "life",
              "lives", "worthless", "not worth anything", "must", "be exterminated", "a muslim", "every immigrant",
              "food", "tomorrow", "email", "an email", "muslims are a cancer", "women do not belong on this earth",
              "a gay life is worthless", "immigrants should all be killed", "i'm going to stab a woman",
              "pig", "snake", "rat", "fan", "you're a pig", "you are a snake.", "end", "destroy", "finish", "pay",
              "for", "this", "!", "hunt", "track", "found", "figured", "find", "i will end you", "make you pay",
              "you'll pay for this", "hunt you down", "i found out where you live", "beat the crap out of you",
              "pathetic", "excuse", "excuse for a human", "so", "ugly", "stupid", "sick", "twisted", "freak",
              "coward", "lying", "you're so ugly", "you sick twisted freak", "hate", "hates", "despise", "everyone",
              "i hate you", "everyone hates you", "your guts", "guys", "those people", "their kind", "kind", "folks",
              "i figured out where you live", "those people are vermin", "their kind should be exterminated",
              "these folks are", "your kind", "are animals", "should die", "i'm coming for you", "and your",
              "shut your mouth before i shut it for you", "if i see you again", "you're dead", "break every bone in your body",
              "you're a joke", "waste of time and space", "nobody would care if you disappeared", "your face looks like a",
              "potato", "your existence is a mistake", "i wish you would just die", "coming", "shut", "existence",
              "i hope u choke", "you deserve every bad thing", "somebody should teach you a lesson",
              "see you outside and settle this", "go jump in front of a train", "you smell like a sewer rat",
              "are you mentally challenged", "lesson", "settle", "front", "deserve", "smell", "mentally"]
    rng = random.Random(9)
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(0, 14))) for _ in range(N)]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 10))) for _ in range(N)]
    for (_, _, src), (_, _, rx), needed in zip(toxicity._PATTERN_SOURCES, toxicity._PATTERNS, toxicity._PATTERN_WORDS,
                                               strict=True):
        written = re.compile(src)
        matched = 0
        for text in texts:
            spans = [m.span() for m in written.finditer(text)]
            assert [m.span() for m in rx.finditer(text)] == spans, (src[:30], text)
            # the scanner skips a pattern whose trigger words are all absent: each match has one
            assert not spans or not needed.isdisjoint(textmodel.words_of(text.lower())), (src[:30], text)
            matched += bool(spans)
        assert matched >= 20, src[:30]  # the strings reach the patterns


def test_letter_led_refuses_what_it_cannot_rewrite() -> None:
    import pytest

    for bad in (r"\b(?:1|a)x", r"ab", r"\b(?:a|b)?c", r"\bA"):
        with pytest.raises(ValueError):
            toxicity._letter_led(bad)
    assert re.compile(toxicity._letter_led(r"\bab|\b(?:cd|e)f")).findall("ab xab cdf ef zef") == ["ab", "cdf", "ef"]


def test_mixed_gate_is_the_mixed_regex() -> None:
    pieces = ["a", "z", "A", "о", "а", "α", "Ω", "\u0370", "\u04ff", "\u0500", "\u036f", "1", " ", "-", "é", "x", "ж"]
    for text in _texts(10, pieces, 8, 20_000):
        assert (textmodel._MIXED_GATE.search(text) is None) == (textmodel._MIXED.search(text) is None), text


def test_features_are_intp_buckets() -> None:
    import numpy as np

    for text in ("", "a", "ignore the previous instructions", "ж" * 300, "x y " * 200):
        idx, pos = textmodel.features(text, 20)
        assert idx.dtype == np.intp and (idx >= 0).all() and (idx < 1 << 20).all() and len(pos) == len(idx)


def test_a_letter_led_pattern_compiled_twice_is_the_same_pattern():
    """Two threads' first scans may both compile a toxicity pattern: the rewrite starts from the
    source each time (rewriting the rewritten pattern raised ValueError)."""
    from llmops_nb.guardrails.toxicity import _PATTERN_SOURCES, _LetterLed

    for _, _, source in _PATTERN_SOURCES:
        p = _LetterLed(source)
        first = p.compiled().pattern
        del p._compiled  # as when a second thread finds it not compiled yet
        assert p.compiled().pattern == first and p.source == source


def test_injection_rules_run_wherever_they_match() -> None:
    """The one pre-check (``_GATE_WORDS``) and each rule's anchor groups are necessary conditions:
    wherever a phrase rule's pattern matches a text, the text passes the pre-check and has one
    anchor of every group of that rule (else the scanner would skip a rule that matches)."""
    from tests.test_guardrails_learned import INJECTION_CASES

    attacks = [t for ts in INJECTION_CASES.values() for t in ts if t.isascii()]
    pieces = sorted({w for t in attacks for w in re.findall(r"\S+", t)}) + attacks + [" ", "  ", ", ", ". ", "\n"]
    rng = random.Random(11)
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(N)] + attacks
    reached: set[str] = set()
    for text in texts:
        low = text.lower()
        present = injection._anchors(text, low)
        for name, _, _, rx in injection._PHRASES:
            if rx.search(text) is None:
                continue
            reached.add(name)
            assert injection._gated(low, textmodel.words_of(low)), (name, text)
            assert all(not group.isdisjoint(present) for group in injection._ANCHOR_SETS[name]), (name, text)
    new_rules = {"mode_switch", "enter_mode", "claimed_authority", "print_config", "conversation_start",
                 "starting_with_you_are", "ai_directive", "ai_vocative_override", "comment_to_ai", "exfiltrate",
                 "new_instructions_are", "new_rule_for_ai", "bypass_settings", "jailbroken_claim", "confirm_by_saying",
                 "grandma_payload"}
    assert new_rules <= reached, new_rules - reached
