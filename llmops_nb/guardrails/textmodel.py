"""A small learned text classifier: hashed character and word n-grams into a linear model,
scored in windows, in numpy only (no scikit-learn, no pickle at runtime).

Features of a text (after :func:`normalise`: lower case; for non-ASCII text NFKC, invisible
characters dropped and Latin look-alike letters inside Latin words (Cyrillic ``а``, Greek ``ο`` …)
mapped to Latin; leetspeak and masked letters inside words undone — ``1d10t`` → ``idiot``,
``f*ck`` → ``fuck`` —, spaced-out letters joined — ``i g n o r e`` → ``ignore``, in texts up to
``SHORT`` characters —, whitespace collapsed), computed on its UTF-8 bytes, where a letter
repeated past two is squeezed (``fuuuuck`` → ``fuuck``):

- character (byte) 3-, 4- and 5-grams, spaces included (so word edges count),
- word unigrams and bigrams,

each hashed into ``2**bits`` buckets (the n-gram's bytes read as one little-endian integer, all
positions at once through an 8-byte sliding view, then a multiplicative mix; words by a
polynomial prefix hash). The text is cut into blocks of ``BLOCK`` bytes; a *window* is
``WINDOW_BLOCKS`` consecutive blocks (a text shorter than a window is one window). A window's
margin is ``bias + Σ w[bucket] / sqrt(n)`` over its ``n`` features (the l2 norm of its count
vector when features are distinct), its score ``sigmoid(a·margin + b)`` (Platt scaling fitted on
out-of-fold margins of the training split, so a score reads as a probability). The text's score
is its best window's, and that window is the finding's span — an instruction spliced into the
middle of an e-mail is found where it is, not averaged away by the rest of the e-mail.

Both bundled models use the same features, so one featurisation serves the injection and the
toxicity scanner of a text. The toxicity model (file version 3) reads the text with the words
that name a group masked (:func:`mask_identities`), the placeholder's own n-grams of weight 0;
a text without such words — most prompts — is still featurised once for both.

Weights ship as ``.npz`` files of plain arrays (``numpy.load(allow_pickle=False)``), written by
``scripts/train_guardrails.py``; see ``data/MODEL_CARD.md``.

Two scorers, one result: while numpy is not imported (a fresh process's first scans) a text of up
to ``PY_MAX`` bytes is scored in pure Python — the same hashes, its weights read from the file's
bytes (``struct``, float16) — and otherwise through numpy (imported on first need, the weights a
view of the same bytes, never a copy or a pickle). The results are bit-identical: every weight is
a float16 (a multiple of 2⁻²⁴) and every partial sum stays far below 2²⁹, so each float64 sum is
exact whatever the order of its terms (:func:`_sum_exact_bound` checks the bound per model).

A text's normalised form and its features are kept in a small per-thread cache
(:class:`_PerThread`), so the injection and toxicity scanners of one scan (rules and models)
normalise and featurise a text once, and threads scoring different texts never see each other's.
"""

from __future__ import annotations

import math
import mmap
import struct
import sys
import threading
import unicodedata
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from llmops_nb.guardrails import lazy_re as re  # patterns compiled on first use

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

BLOCK = 64
WINDOW_BLOCKS = 3
CHAR_NGRAMS = (3, 4, 5)
P = 0x100000001B3  # FNV prime as the polynomial base (odd: invertible mod 2**64)
MIX = 0x9E3779B97F4A7C15  # golden-ratio multiplier (Fibonacci hashing)
SEEDS = {n: (n * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF for n in (*CHAR_NGRAMS, 11, 12, 13)}
M64 = (1 << 64) - 1
PY_MAX = 4096  # bytes: longer texts are scored through numpy even in a fresh process
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s",
                       "!": "i", "|": "i", "*": "u", "+": "t"})
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@$!|*+")
SHORT = 1024
_SYMBOLS = re.compile(r"[0-9@$*|!+]")
_LEET_GATE = re.compile(r"[a-z][0-9@$*|!+]+[a-z]")
# The symbols of each _LEET_GATE match, found from the symbol on (``re`` scans for a character
# class fast, not for a letter): a gate match lies in one token and _unleet_all handles a token
# once, so the same tokens are undone
_LEET_SIGN = re.compile(r"[0-9@$*|!+](?<=[a-z].)[0-9@$*|!+]*(?=[a-z])")
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*]){2,}[a-z](?![a-z])")
_SPACED_GATE = re.compile(r"[a-z][ .\-_*][a-z][ .\-_*][a-z]")  # cheap necessary condition (no look-arounds)
_SPACER = re.compile(r"[ .\-_*]")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]")
# Cyrillic and Greek letters that look like Latin ones (a small part of Unicode's confusables)
_CONFUSABLE = str.maketrans({"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
                             "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "в": "b",
                             "к": "k", "м": "m", "н": "h", "т": "t", "α": "a", "ο": "o", "ρ": "p", "ε": "e",
                             "ι": "i", "κ": "k", "ν": "v", "τ": "t", "υ": "u", "χ": "x", "ѵ": "v"})
_MIXED = re.compile(r"[a-z][\u0370-\u04ff]|[\u0370-\u04ff][a-z]")
# whether _MIXED matches, found from the Greek or Cyrillic letter (a search that starts with a character
# class, which re skips to at C speed; _MIXED starts with a letter, so it is tried nearly everywhere)
_MIXED_GATE = re.compile(r"[\u0370-\u04ff](?:(?<=[a-z].)|(?=[a-z]))")
_WORDISH = re.compile(r"\S+")
_STRETCHED = re.compile(r"([a-z])\1\1+")


def _unleet_all(low: str) -> str:
    """Undo leetspeak in the tokens around each letter/digit-or-symbol contact (few per text)."""
    pieces, last = [], 0
    for m in _LEET_SIGN.finditer(low):  # each token with a contact (the gate's runs: see _LEET_SIGN)
        if m.start() < last:
            continue
        s, e = m.start(), m.end()
        while s > 0 and low[s - 1] in _TOKEN_CHARS:  # the whole token around the contact
            s -= 1
        while e < len(low) and low[e] in _TOKEN_CHARS:
            e += 1
        token = low[s:e]
        core = token.rstrip("!")  # "idiot!!" is punctuation, "sh!t" is leet
        if not core.isdigit() and len(core) <= 24 and sum(map(str.isalpha, core)) >= 2:
            pieces += [low[last:s], core.translate(_LEET), token[len(core):]]
            last = e
    return "".join(pieces) + low[last:] if pieces else low


def _unconfuse(text: str) -> str:
    """Map look-alike letters to Latin in tokens that mix them with Latin letters."""
    return _WORDISH.sub(lambda m: m.group().translate(_CONFUSABLE) if _MIXED_GATE.search(m.group()) else m.group(), text)


def normalise(text: str) -> str:
    """What the features are computed on (the length may change: spans map back by ratio)."""
    low = text.lower()
    if not low.isascii():
        low = unicodedata.normalize("NFKC", _INVISIBLE.sub("", low)).lower()
        if _MIXED_GATE.search(low):
            low = _unconfuse(low)
    low = " ".join(low.split())
    if _SYMBOLS.search(low):
        low = _unleet_all(low)
    if len(low) <= SHORT and _SPACED_GATE.search(low) and _SPACED.search(low):  # in prompt-sized texts
        low = _SPACED.sub(lambda m: _SPACER.sub("", m.group()), low)
    if _STRETCHED.search(low):  # a letter repeated past two: "fuuuuck" → "fuuck"
        low = _STRETCHED.sub(r"\1\1", low)
    return low


# Words that name a group of people (gender, sexuality, religion, origin, disability). In hate-speech
# data they occur mostly in hateful sentences, so a linear n-gram model learns them as toxic by
# themselves ("I love women." scored 0.64, "women" alone 0.93). A model trained with
# ``masks_identities`` sees each of them as one placeholder whose own n-grams carry no weight
# (their columns are left out of its training): only the words around it count.
_IDENTITY_LIST = """
    woman women female females trans transgender transgenders gay gays lesbian lesbians homosexual homosexuals
    bisexual bisexuals queer queers lgbt lgbtq lgbtqia black blacks african africans jew jews jewish muslim
    muslims islam islamic arab arabs immigrant immigrants refugee refugees migrant migrants mexican mexicans
    latino latinos latina latinas hispanic hispanics asian asians chinese indian indians indigenous disabled
    disability disabilities christian christians hindu hindus catholic catholics atheist atheists deaf blind
"""
IDENTITY_WORDS = frozenset(_IDENTITY_LIST.split())
IDENTITY_PLACEHOLDER = "qxgrp"
_IDENTITY = re.compile(r"\b(?:" + "|".join(sorted(IDENTITY_WORDS, key=len, reverse=True)) + r")\b")


def mask_identities(norm: str) -> str:
    """``norm`` (a :func:`normalise` result) with every word of ``IDENTITY_WORDS`` replaced by
    ``IDENTITY_PLACEHOLDER``; ``norm`` itself when it has none (its letter runs decide whether the
    pattern runs at all: it matches only where a run is such a word; they are :func:`words_of`'s, which
    the rules of a text whose normalised form is its lower case have just asked for)."""
    if IDENTITY_WORDS.isdisjoint(words_of(norm)):
        return norm
    return _IDENTITY.sub(IDENTITY_PLACEHOLDER, norm)


_WORD_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789'"
# word bytes (any byte of a non-ASCII character counts as a letter) and letter bytes, for the pure-Python path
_IS_WORD = bytes(1 if c in _WORD_BYTES or c >= 128 else 0 for c in range(256))
_IS_LETTER = bytes(1 if 97 <= c <= 122 else 0 for c in range(256))
_PAD = b"\0" * 8


class _NumpyConstants:
    """numpy's copies of the hashing constants, built on the first numpy-scored text (so that a
    scan never imports numpy before it needs it)."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.P, self.MIX = np.uint64(P), np.uint64(MIX)
        self.SEEDS = {n: np.uint64(v) for n, v in SEEDS.items()}
        self.WORDBYTE = np.frombuffer(_IS_WORD, dtype=np.uint8).astype(bool)
        self.LETTERBYTE = np.frombuffer(_IS_LETTER, dtype=np.uint8).astype(bool)
        self.PREFIX_MASK = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [M64], dtype=np.uint64)
        self.CHAR_MASKS = np.array([(1 << (8 * g)) - 1 for g in CHAR_NGRAMS], dtype=np.uint64)[:, None]
        self.CHAR_SEEDS = np.array([SEEDS[g] for g in CHAR_NGRAMS], dtype=np.uint64)[:, None]
        self.MASKS_V1 = {n: np.uint64((1 << (8 * n)) - 1) for n in CHAR_NGRAMS}


_NPC: _NumpyConstants | None = None


def _npc() -> _NumpyConstants:
    global _NPC
    if _NPC is None:
        _NPC = _NumpyConstants()
    return _NPC


def features(text: str, bits: int, positions: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``(buckets, positions)`` of every n-gram of the normalised ``text`` (positions are byte
    offsets into its UTF-8 form, padded with a space each side; ``None`` unless asked for).

    Character n-grams: the 8 bytes starting at each position read as one little-endian integer
    (an unaligned strided view of the bytes, no copy), masked to 3, 4 and 5 bytes. Words: runs of
    word bytes, hashed by their first and last 8 bytes (words up to 16 bytes are exact); word
    bigrams and trigrams combine those polynomially. About twenty numpy operations per text."""
    c = _npc()
    np = c.np
    raw = b" " + text.encode("utf-8", "surrogatepass") + b" "
    n = len(raw)
    buf = np.frombuffer(raw + _PAD, dtype=np.uint8)
    grams = np.ndarray((n,), dtype="<u8", buffer=buf, strides=(1,))
    chars = ((grams & c.CHAR_MASKS) ^ c.CHAR_SEEDS).ravel()
    is_word = c.WORDBYTE[buf[:n]]
    edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
    starts, ends = edges[::2], edges[1::2]
    lens = c.PREFIX_MASK[np.minimum(ends - starts, 8)]
    words = (grams[starts] & lens) * c.P ^ (grams[np.maximum(starts, ends - 8)] & lens)
    bigrams = words[:-1] * c.P + words[1:]
    out = np.concatenate([chars, words ^ c.SEEDS[11], bigrams ^ c.SEEDS[12], (bigrams[:-1] * c.P + words[2:]) ^ c.SEEDS[13]])
    out *= c.MIX
    out >>= np.uint64(64 - bits)
    out = _as_intp(out)
    if not positions:
        return out, None
    at = starts - 1
    pos = np.concatenate([np.tile(np.arange(n), len(CHAR_NGRAMS)), at, at[:-1], at[:-2]])
    return out, np.maximum(pos, 0)


def _as_intp(buckets: np.ndarray) -> np.ndarray:
    """``buckets`` (uint64, each below ``2**bits``) as intp: the same array reinterpreted when intp
    is 64 bits (the values fit: no copy), converted otherwise."""
    np = _npc().np
    return buckets.view(np.intp) if np.dtype(np.intp).itemsize == 8 else buckets.astype(np.intp)


def features_v1(text: str, bits: int, positions: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The previous feature set (byte 3–5-grams, word 1–2-grams by an 8-byte prefix), which the
    bundled toxicity model was trained on: kept so that model keeps scoring as recorded."""
    c = _npc()
    np = c.np
    raw = b" " + text.encode("utf-8", "surrogatepass") + b" "
    n = len(raw)
    buf = np.frombuffer(raw + _PAD, dtype=np.uint8)
    letter = c.LETTERBYTE[buf]
    stretched = letter[2:] & (buf[2:] == buf[1:-1]) & (buf[2:] == buf[:-2])
    if stretched.any():  # a letter repeated past two: "fuuuuck" → "fuuck"
        keep = np.ones(len(buf), dtype=bool)
        keep[2:] = ~stretched
        buf = buf[keep]
        n = len(buf) - 8
    # the 8 bytes starting at each position as one little-endian integer: an n-gram is its low n bytes
    # (an unaligned strided view, as in :func:`features`)
    grams = np.ndarray((n,), dtype="<u8", buffer=buf, strides=(1,))
    is_word = c.WORDBYTE[buf[:n]]
    edges = np.flatnonzero(is_word[1:] != is_word[:-1])
    starts = edges[::2] + 1
    lens = edges[1::2] + 1 - starts
    # a word is hashed by its first 8 bytes ("instruction", "instructions" share a bucket)
    words = grams[starts] & c.PREFIX_MASK[np.minimum(lens, 8)]
    parts = [(grams[:max(0, n - g + 1)] & c.MASKS_V1[g]) ^ c.SEEDS[g] for g in CHAR_NGRAMS]
    parts += [words ^ c.SEEDS[11], (words[:-1] * c.P + words[1:]) ^ c.SEEDS[12]]
    out = np.concatenate(parts)
    out *= c.MIX
    out >>= np.uint64(64 - bits)
    if not positions:
        return out.astype(np.intp), None
    pos = [np.arange(max(0, n - g + 1)) for g in CHAR_NGRAMS] + [starts - 1, starts[:-1] - 1]
    return out.astype(np.intp), np.maximum(np.concatenate(pos), 0)


def _word_runs(buf: bytes, n: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the runs of word bytes in ``buf[:n]`` (which starts and ends with a space)."""
    runs, start, inside = [], 0, False
    for i in range(n):
        w = _IS_WORD[buf[i]]
        if w and not inside:
            start, inside = i, True
        elif inside and not w:
            runs.append((start, i))
            inside = False
    return runs


def py_features(text: str, bits: int, version: int = 2) -> tuple[list[int], list[int]]:
    """:func:`features` (``version`` 2) or :func:`features_v1` in pure Python: the same buckets
    and positions (in another order), for texts scored before numpy is imported."""
    shift = 64 - bits
    raw = b" " + text.encode("utf-8", "surrogatepass") + b" "
    if version < 2:
        buf = raw + _PAD
        keep = [i for i in range(len(buf)) if i < 2 or not (_IS_LETTER[buf[i]] and buf[i] == buf[i - 1] == buf[i - 2])]
        if len(keep) < len(buf):
            buf = bytes(buf[i] for i in keep)
        n = len(buf) - 8
    else:
        n = len(raw)
        buf = raw + _PAD
    frm = int.from_bytes
    s3, s4, s5 = SEEDS[3], SEEDS[4], SEEDS[5]
    last = (n, n, n) if version >= 2 else (n - 2, n - 3, n - 4)  # v1: only n-grams inside the text
    idx: list[int] = []
    pos: list[int] = []
    for i in range(n):
        g = frm(buf[i:i + 5], "little")
        if i < last[0]:
            idx.append((((g & 0xFFFFFF) ^ s3) * MIX & M64) >> shift)
            pos.append(i)
        if i < last[1]:
            idx.append((((g & 0xFFFFFFFF) ^ s4) * MIX & M64) >> shift)
            pos.append(i)
        if i < last[2]:
            idx.append(((g ^ s5) * MIX & M64) >> shift)
            pos.append(i)
    for h, p in _word_grams(buf, n, version):
        idx.append(((h * MIX) & M64) >> shift)
        pos.append(p)
    return idx, pos


def _word_grams(buf: bytes, n: int, version: int) -> list[tuple[int, int]]:
    """``(hash before mixing, position)`` of the word uni-, bi- and (version 2) trigrams of ``buf[:n]``."""
    frm = int.from_bytes
    words, at = [], []
    for s, e in _word_runs(buf, n):
        mask = (1 << (8 * min(e - s, 8))) - 1
        head = frm(buf[s:s + 8], "little") & mask
        if version >= 2:
            tail = frm(buf[max(s, e - 8):max(s, e - 8) + 8], "little") & mask
            words.append(((head * P) & M64) ^ tail)
        else:
            words.append(head)
        at.append(max(s - 1, 0))
    bigrams = [(words[k] * P + words[k + 1]) & M64 for k in range(len(words) - 1)]
    grams = [(words[k] ^ SEEDS[11], at[k]) for k in range(len(words))]
    grams += [(bigrams[k] ^ SEEDS[12], at[k]) for k in range(len(bigrams))]
    if version >= 2:
        grams += [(((bigrams[k] * P + words[k + 2]) & M64) ^ SEEDS[13], at[k]) for k in range(len(bigrams) - 1)]
    return grams
def window_ids(positions: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """Block index of each feature and the number of blocks of a text of ``length`` bytes."""
    blocks = max(1, -(-length // BLOCK))
    return _npc().np.minimum(positions // BLOCK, blocks - 1), blocks


class _PerThread(threading.local):
    """A few recent entries per thread (insertion order; the oldest goes first): each thread's
    own, so threads scanning different texts never evict or read each other's."""

    size = 4

    def __init__(self) -> None:
        self.entries: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        return self.entries.get(key)

    def put(self, key: Any, value: Any) -> Any:
        entries = self.entries
        if len(entries) >= self.size:
            del entries[next(iter(entries))]
        entries[key] = value
        return value


_normalised = _PerThread()
_featurised_cache = _PerThread()


def normalised(text: str) -> str:
    """:func:`normalise`, kept per thread for the last few texts: the toxicity rules and both
    models of one scan normalise a text once."""
    norm = _normalised.get(text)
    return norm if norm is not None else _normalised.put(text, normalise(text))


def _featurised(text: str, bits: int, version: int = 2, numeric: bool = True) -> tuple[Any, Any, int, int, Any]:
    """``(buckets, block of each bucket, number of blocks, normalised size, extra)`` of ``text``,
    through numpy when ``numeric`` (arrays; ``extra``: see :func:`_windowed`) or in pure Python
    (lists; ``extra`` False); kept per thread."""
    key = (text, bits, version, numeric)
    hit = _featurised_cache.get(key)
    if hit is not None:
        return hit
    norm = normalised(text)
    if version >= 3:  # version 2's features of the text with its identity words masked
        masked = mask_identities(norm)
        if masked == norm:  # none: the same features as version 2 (one featurisation for both models)
            return _featurised(text, bits, 2, numeric)
        norm, version = masked, 2
    size = len(norm) if norm.isascii() else len(norm.encode("utf-8", "surrogatepass"))
    windowed = size + 2 > BLOCK * WINDOW_BLOCKS
    if not numeric:
        idx, pos = py_features(norm, bits, version)
        blocks = max(1, -(-(size + 2) // BLOCK)) if windowed else 1
        blocks_of = [min(p // BLOCK, blocks - 1) for p in pos] if windowed else idx
        return _featurised_cache.put(key, (idx, blocks_of, blocks, size, False))
    idx, pos = (features if version >= 2 else features_v1)(norm, bits, positions=windowed)
    return _featurised_cache.put(key, _windowed(idx, pos, windowed, size))


def _windowed(idx: Any, pos: Any, windowed: bool, size: int) -> tuple[Any, Any, int, int, Any]:
    """The cache entry of a numpy-featurised text; for a text of several windows its last item is
    each window's ``sqrt(feature count)`` (the same for every model: worked out once)."""
    if windowed:
        blocks_of, nblocks = window_ids(pos, size + 2)
        if nblocks > WINDOW_BLOCKS:
            np = _npc().np
            cc = np.concatenate([[0.0], np.cumsum(np.bincount(blocks_of, minlength=nblocks).astype(np.float64))])
            return idx, blocks_of, nblocks, size, np.sqrt(np.maximum(cc[WINDOW_BLOCKS:] - cc[:-WINDOW_BLOCKS], 1.0))
        return idx, blocks_of, nblocks, size, True
    return idx, idx, 1, size, True  # one window; block ids are not used




_HALF = struct.Struct("<e").unpack_from


PY_BUDGET = 64 * 1024  # characters a process scores in pure Python before it imports numpy itself
_py_scored = [0]


def _use_numpy(text: str) -> bool:
    """numpy once it is imported (by anyone: a session's mlflow or pandas import it), for texts
    longer than ``PY_MAX`` bytes (where its import pays for itself) and once the process has scored
    ``PY_BUDGET`` characters in pure Python (steady state: numpy is ~10× faster per text); before
    that — a fresh process's first calls — a text is scored without it."""
    if "numpy" in sys.modules or _py_scored[0] > PY_BUDGET:
        return True
    if len(text) > PY_MAX // 4 and len(text.encode("utf-8", "surrogatepass")) > PY_MAX:
        return True
    _py_scored[0] += len(text)
    return False


@dataclass(frozen=True, eq=False)
class LinearTextModel:
    """Weights of one classifier: ``raw`` (the file's little-endian float16 weights, ``2**bits``
    of them: summing a few hundred halves costs a few µs per scan, converting them all ~30 ms at
    load), ``bias``, calibration ``a``/``b``, and ``rules``: the weight of the scanner's rule score
    in the calibrated logit (0: no combiner — the scanner takes the larger of the rules' and the
    model's score). ``w`` is the weights as a numpy array (made on first use: a view of ``raw``, or
an aligned copy)."""

    name: str
    bits: int
    raw: bytes | memoryview = field(repr=False)
    bias: float
    a: float
    b: float
    threshold: float  # the score at which the default policy reports (see the model card)
    rules: float = 0.0
    # feature set: 2 = :func:`features`, 1 = :func:`features_v1` (a file with 4 meta values), 3 = version 2's
    # of the text with its identity words masked (:func:`mask_identities`; a sixth meta value, 1)
    version: int = 2
    _w: Any = field(default=None, init=False, repr=False)

    @property
    def w(self) -> np.ndarray:
        if self._w is None:
            np = _npc().np
            w = np.frombuffer(self.raw, dtype="<f2", count=1 << self.bits)
            # a zip member may start at an odd offset: numpy gathers from unaligned halves ~20× slower
            object.__setattr__(self, "_w", w if w.flags.aligned else w.copy())
        return self._w

    def _py_margins(self, text: str) -> tuple[list[float], int]:
        idx, blocks_of, nblocks, size, _ = _featurised(text, self.bits, self.version, numeric=False)
        raw = self.raw
        if nblocks <= WINDOW_BLOCKS:  # exact sums (see the module docstring): the order of the terms does not matter
            total = 0.0
            for i in idx:
                total += _HALF(raw, 2 * i)[0]
            return [self.bias + total / math.sqrt(max(len(idx), 1))], size
        sums, counts = [0.0] * nblocks, [0] * nblocks
        for i, blk in zip(idx, blocks_of, strict=True):
            sums[blk] += _HALF(raw, 2 * i)[0]
            counts[blk] += 1
        out = []
        for k in range(nblocks - WINDOW_BLOCKS + 1):
            s = sums[k] + sums[k + 1] + sums[k + 2] if WINDOW_BLOCKS == 3 else sum(sums[k:k + WINDOW_BLOCKS])
            c = float(sum(counts[k:k + WINDOW_BLOCKS]))
            out.append(self.bias + s / math.sqrt(max(c, 1.0)))
        return out, size

    def margins(self, text: str) -> tuple[np.ndarray, int]:
        """Raw margin of every window of ``text`` and the normalised text's length in bytes."""
        np = _npc().np
        idx, blocks_of, nblocks, size, norms = _featurised(text, self.bits, self.version)
        w = self.w
        if nblocks <= WINDOW_BLOCKS:  # one window: no per-block sums needed
            return np.array([self.bias + float(w[idx].sum(dtype=np.float64)) / np.sqrt(max(len(idx), 1))]), size
        cs = np.concatenate([[0.0], np.cumsum(np.bincount(blocks_of, weights=w[idx], minlength=nblocks))])
        return self.bias + (cs[WINDOW_BLOCKS:] - cs[:-WINDOW_BLOCKS]) / norms, size

    def calibrate(self, margin: float, rule_score: float = 0.0) -> float:
        """The calibrated probability of a window margin (and, for a combined model, the rules' score)."""
        z = self.a * margin + self.b + self.rules * rule_score
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def combine(self, score: float, rule_score: float) -> float:
        """The scanner's score from the model's calibrated ``score`` and the rules' score: the
        larger of the rules' score and, for a model with a combiner, ``sigmoid(logit(score) +
        rules·rule_score)`` (rule evidence raises the model's score; a strong rule alone still
        counts as it always did)."""
        if not self.rules or not rule_score:
            return max(score, rule_score)
        score = min(max(score, 1e-12), 1 - 1e-12)
        return max(rule_score, 1.0 / (1.0 + math.exp(-(math.log(score / (1 - score)) + self.rules * rule_score))))

    def score_span(self, text: str, numeric: bool | None = None) -> tuple[float, int, int]:
        """``(score, start, end)``: the best window's calibrated score and its span in ``text``
        (through numpy or in pure Python, see :func:`_use_numpy`; ``numeric`` forces one)."""
        if not text.strip():
            return 0.0, 0, 0
        if numeric is None:
            numeric = _use_numpy(text)
        if numeric:
            idx, _, nblocks, size, _ = _featurised(text, self.bits, self.version)
            if nblocks <= WINDOW_BLOCKS:  # one window (most prompts): :meth:`margins` without its arrays
                best, count = 0, 1
                margin = self.bias + float(self.w.take(idx).sum(dtype=_npc().np.float64)) / math.sqrt(max(len(idx), 1))
            else:
                margins, size = self.margins(text)
                best = int(margins.argmax())
                margin, count = float(margins[best]), len(margins)
        else:
            py, size = self._py_margins(text)
            best = max(range(len(py)), key=py.__getitem__)  # the first of equal maxima, like argmax
            margin, count = py[best], len(py)
        score = self.calibrate(margin)
        if count == 1:
            return score, 0, len(text)
        ratio = len(text) / max(1, size)  # normalisation and UTF-8 change the length a little
        start = int(best * BLOCK * ratio)
        end = int(min(len(text), (best + WINDOW_BLOCKS) * BLOCK * ratio + 1))
        return score, start, end

    def score(self, text: str) -> float:
        return self.score_span(text)[0]


def window_vectors(text: str, bits: int, masked: bool = False) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """Training helper: ``(buckets, values, start, end)`` per window of ``text`` — the sparse
    feature vector the runtime scores (values = counts / sqrt(n)), and its span in bytes of the
    normalised text (with its identity words masked when ``masked``: a version-3 model). Shares
    every step with :meth:`LinearTextModel.margins`."""
    np = _npc().np
    norm = mask_identities(normalise(text)) if masked else normalise(text)
    idx, pos = features(norm, bits)
    size = len(norm.encode("utf-8", "surrogatepass")) + 2
    blocks_of, nblocks = window_ids(pos, size) if size > BLOCK * WINDOW_BLOCKS else (pos * 0, 1)
    spans = [(0, nblocks)] if nblocks <= WINDOW_BLOCKS else [(i, i + WINDOW_BLOCKS)
                                                             for i in range(nblocks - WINDOW_BLOCKS + 1)]
    out = []
    for s, e in spans:
        sel = idx[(blocks_of >= s) & (blocks_of < e)]
        if not len(sel):
            continue
        buckets, counts = np.unique(sel, return_counts=True)
        out.append((buckets, counts / np.sqrt(len(sel)), s * BLOCK, e * BLOCK))
    return out


_NPY_HEADER = re.compile(r"\{'descr': '([<|][fi][248])', 'fortran_order': False, 'shape': \((\d*),?\), \}\s*")


def _npy(data: memoryview, name: str) -> tuple[str, int, memoryview]:
    """``(dtype, length, payload)`` of a plain ``.npy`` array (format 1–3, little-endian numbers,
    C order; anything else — an object array above all — is refused: nothing is ever unpickled)."""
    if data[:6] != b"\x93NUMPY" or data[6] not in (1, 2, 3):
        raise ValueError(f"{name}: not a .npy array")
    if data[6] == 1:
        hlen, off = int.from_bytes(data[8:10], "little"), 10
    else:
        hlen, off = int.from_bytes(data[8:12], "little"), 12
    m = _NPY_HEADER.fullmatch(bytes(data[off:off + hlen]).decode("latin-1"))
    if m is None:
        raise ValueError(f"{name}: only plain little-endian number arrays are read")
    return m.group(1), int(m.group(2) or 1), data[off + hlen:]


def _members(data: bytes | mmap.mmap) -> dict[str, memoryview]:
    """The arrays of an ``.npz`` held in ``data`` (its bytes, or the file mapped): views into it
    for stored (uncompressed) members — no copy of the 2 MB of weights —, an inflated copy
    otherwise."""
    import io

    view = memoryview(data)
    out = {}
    with zipfile.ZipFile(data if isinstance(data, mmap.mmap) else io.BytesIO(data)) as z:
        for info in z.infolist():
            name = info.filename.removesuffix(".npy")
            at = info.header_offset
            if info.compress_type == zipfile.ZIP_STORED and view[at:at + 4] == b"PK\x03\x04":
                start = at + 30 + int.from_bytes(view[at + 26:at + 28], "little") + int.from_bytes(view[at + 28:at + 30], "little")
                out[name] = view[start:start + info.file_size]
            else:
                out[name] = memoryview(z.read(info))
    return out


def read_model(data: bytes | mmap.mmap, name: str) -> LinearTextModel:
    """A model from the bytes of its ``.npz`` (or the file mapped): the weights stay a view of those bytes; the small
    arrays are unpacked with ``struct``. No numpy needed, no pickle possible."""
    arrays = _members(data)
    if set(arrays) != {"bits", "w", "meta"}:
        raise ValueError(f"{name}: expected the arrays bits, w and meta, found {sorted(arrays)}")
    dt, _, payload = _npy(arrays["bits"], name)
    bits = int.from_bytes(payload[:int(dt[2])], "little", signed=True) if dt[1] == "i" else int(struct.unpack_from("<d", payload)[0])
    dt, count, payload = _npy(arrays["meta"], name)
    meta = struct.unpack_from(f"<{count}{'d' if dt == '<f8' else 'f'}", payload)
    dt, count, payload = _npy(arrays["w"], name)
    if dt != "<f2" or count != 1 << bits or len(payload) < 2 * count:
        raise ValueError(f"{name}: weights must be {1 << bits} float16 values")
    return LinearTextModel(name=name, bits=bits, raw=payload[:2 * count], bias=float(meta[0]), a=float(meta[1]),
                           b=float(meta[2]), threshold=float(meta[3]), rules=float(meta[4]) if len(meta) > 4 else 0.0,
                           version=1 if len(meta) < 5 else 3 if len(meta) > 5 and meta[5] else 2)


_loaded: dict[str, LinearTextModel] = {}
_load_lock = threading.Lock()


@lru_cache(maxsize=4)
def load(name: str) -> LinearTextModel:
    """The bundled model ``data/<name>.npz`` (plain arrays, stored uncompressed: loading is a
    read, never an unpickle; see :func:`read_model`). The file is mapped read-only, not read: a
    scan touches a few hundred of its 2 MB of weights, so only their pages are loaded (reading
    both files cost a first call ~3 ms and 4 MB); a package that is not plain files (a zip) is
    read. Loaded once per process: threads whose first calls start together wait for one load
    (lru_cache alone lets each of them load its own copy)."""
    with _load_lock:
        if name not in _loaded:
            ref = resources.files("llmops_nb.guardrails").joinpath(f"data/{name}.npz")
            try:
                with open(ref, "rb") as fh:  # type: ignore[call-overload]  # a Traversable that is a path
                    data: bytes | mmap.mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (TypeError, OSError, ValueError):  # not a file on disk (or one that cannot be mapped)
                data = ref.read_bytes()
            _loaded[name] = read_model(data, name)
        return _loaded[name]


def save(path: str, *, bits: int, w: np.ndarray, bias: float, a: float, b: float, threshold: float,
         rules: float = 0.0, masks_identities: bool = False) -> None:
    """Write a model file: float16 weights, uncompressed (a compressed 2 MB array costs ~10 ms to
    inflate). A model trained on identity-masked text (``masks_identities``) has a sixth meta value, 1."""
    np = _npc().np
    meta = [bias, a, b, threshold, rules] + ([1.0] if masks_identities else [])
    np.savez(path, bits=np.int64(bits), w=w.astype(np.float16), meta=np.array(meta, dtype=np.float64))


def identity_buckets(bits: int) -> list[int]:
    """The buckets of the placeholder's own n-grams (its characters between spaces, its word):
    a version-3 model trains without them, so a masked identity word adds nothing by itself. The
    character n-grams that reach past its spaces are the neighbours' as much as its own: kept."""
    n = len(IDENTITY_PLACEHOLDER) + 2  # with its spaces
    idx, _ = features(IDENTITY_PLACEHOLDER, bits, positions=False)
    chars = idx[:len(CHAR_NGRAMS) * n].reshape(len(CHAR_NGRAMS), n)
    own = [int(chars[k, i]) for k, g in enumerate(CHAR_NGRAMS) for i in range(n - g + 1)]
    return sorted(set(own + idx[len(CHAR_NGRAMS) * n:].tolist()))


NOT_LETTER = bytes(c if 97 <= c <= 122 or c >= 128 else 32 for c in range(256))  # bytes.translate: C speed
_words = _PerThread()
_LETTERS = re.compile(r"[^\W\d_]+")


# ASCII letters of either case kept, every other ASCII byte a space, the bytes of non-ASCII characters kept
_ASCII_NOT_LETTER = bytes(c if 65 <= c <= 90 or 97 <= c <= 122 or c >= 128 else 32 for c in range(256))


def letter_words(low: str) -> list[str]:
    """The words of a lower-cased text, in order: runs of letters.

    Non-ASCII text: the runs of ``_LETTERS`` (what its ``findall`` gives), found in two steps — the
    ASCII non-letters (and the other whitespace) cut the text into pieces at C speed, then only the
    pieces with a non-ASCII character are searched for runs (no run crosses a non-letter)."""
    if low.isascii():
        return low.encode().translate(NOT_LETTER).decode().split()
    out: list[str] = []
    find = _LETTERS.findall
    for piece in low.encode("utf-8", "surrogatepass").translate(_ASCII_NOT_LETTER).decode("utf-8", "surrogatepass").split():
        if piece.isascii():
            out.append(piece)
        else:
            out += find(piece)
    return out


def words_of(low: str) -> list[str]:
    """:func:`letter_words`, the last few texts' kept per thread: the injection and toxicity
    rules' cheap pre-checks of one text (``frozenset.isdisjoint`` against their trigger words)
    share it."""
    words = _words.get(low)
    return words if words is not None else _words.put(low, letter_words(low))
