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
toxicity scanner of a text.

Weights ship as ``.npz`` files of plain arrays (``numpy.load(allow_pickle=False)``), written by
``scripts/train_guardrails.py``; see ``data/MODEL_CARD.md``.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

BLOCK = 64
WINDOW_BLOCKS = 3
CHAR_NGRAMS = (3, 4, 5)
_P = np.uint64(0x100000001B3)  # FNV prime as the polynomial base (odd: invertible mod 2**64)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier (Fibonacci hashing)
_SEEDS = {n: np.uint64((n * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF) for n in (*CHAR_NGRAMS, 11, 12, 13)}
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s",
                       "!": "i", "|": "i", "*": "u", "+": "t"})
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@$!|*+")
SHORT = 1024
_SYMBOLS = re.compile(r"[0-9@$*|!+]")
_LEET_GATE = re.compile(r"[a-z][0-9@$*|!+]+[a-z]")
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
_WORDISH = re.compile(r"\S+")
_STRETCHED = re.compile(r"([a-z])\1\1+")


def _unleet_all(low: str) -> str:
    """Undo leetspeak in the tokens around each letter/digit-or-symbol contact (few per text)."""
    pieces, last = [], 0
    for m in _LEET_GATE.finditer(low):
        if m.start() < last:
            continue
        s, e = m.start(), m.end()
        while s > 0 and low[s - 1] in _TOKEN_CHARS:  # the whole token around the contact
            s -= 1
        while e < len(low) and low[e] in _TOKEN_CHARS:
            e += 1
        token = low[s:e]
        core = token.rstrip("!")  # "idiot!!" is punctuation, "sh!t" is leet
        if not core.isdigit() and sum(c.isalpha() for c in core) >= 2 and len(core) <= 24:
            pieces += [low[last:s], core.translate(_LEET), token[len(core):]]
            last = e
    return "".join(pieces) + low[last:] if pieces else low


def _unconfuse(text: str) -> str:
    """Map look-alike letters to Latin in tokens that mix them with Latin letters."""
    return _WORDISH.sub(lambda m: m.group().translate(_CONFUSABLE) if _MIXED.search(m.group()) else m.group(), text)


def normalise(text: str) -> str:
    """What the features are computed on (the length may change: spans map back by ratio)."""
    low = text.lower()
    if not low.isascii():
        low = unicodedata.normalize("NFKC", _INVISIBLE.sub("", low)).lower()
        if _MIXED.search(low):
            low = _unconfuse(low)
    low = " ".join(low.split())
    if _SYMBOLS.search(low):
        low = _unleet_all(low)
    if len(low) <= SHORT and _SPACED_GATE.search(low) and _SPACED.search(low):  # in prompt-sized texts
        low = _SPACED.sub(lambda m: _SPACER.sub("", m.group()), low)
    if _STRETCHED.search(low):  # a letter repeated past two: "fuuuuck" → "fuuck"
        low = _STRETCHED.sub(r"\1\1", low)
    return low


_WORDBYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789'":
    _WORDBYTE[_c] = True
_WORDBYTE[128:] = True  # any byte of a non-ASCII character counts as a letter
_PAD = b"\0" * 8
_PREFIX_MASK = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_CHAR_MASKS = np.array([(1 << (8 * g)) - 1 for g in CHAR_NGRAMS], dtype=np.uint64)[:, None]
_CHAR_SEEDS = np.array([_SEEDS[g] for g in CHAR_NGRAMS], dtype=np.uint64)[:, None]


def features(text: str, bits: int, positions: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``(buckets, positions)`` of every n-gram of the normalised ``text`` (positions are byte
    offsets into its UTF-8 form, padded with a space each side; ``None`` unless asked for).

    Character n-grams: the 8 bytes starting at each position read as one little-endian integer
    (an unaligned strided view of the bytes, no copy), masked to 3, 4 and 5 bytes. Words: runs of
    word bytes, hashed by their first and last 8 bytes (words up to 16 bytes are exact); word
    bigrams and trigrams combine those polynomially. About twenty numpy operations per text."""
    raw = b" " + text.encode("utf-8", "surrogatepass") + b" "
    n = len(raw)
    buf = np.frombuffer(raw + _PAD, dtype=np.uint8)
    grams = np.ndarray((n,), dtype="<u8", buffer=buf, strides=(1,))
    chars = ((grams & _CHAR_MASKS) ^ _CHAR_SEEDS).ravel()
    is_word = _WORDBYTE[buf[:n]]
    edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
    starts, ends = edges[::2], edges[1::2]
    lens = _PREFIX_MASK[np.minimum(ends - starts, 8)]
    words = (grams[starts] & lens) * _P ^ (grams[np.maximum(starts, ends - 8)] & lens)
    bigrams = words[:-1] * _P + words[1:]
    out = np.concatenate([chars, words ^ _SEEDS[11], bigrams ^ _SEEDS[12], (bigrams[:-1] * _P + words[2:]) ^ _SEEDS[13]])
    out *= _MIX
    out >>= np.uint64(64 - bits)
    if not positions:
        return out.astype(np.intp), None
    at = starts - 1
    pos = np.concatenate([np.tile(np.arange(n), len(CHAR_NGRAMS)), at, at[:-1], at[:-2]])
    return out.astype(np.intp), np.maximum(pos, 0)


_MASKS_V1 = {n: np.uint64((1 << (8 * n)) - 1) for n in CHAR_NGRAMS}
_LETTERBYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyz":
    _LETTERBYTE[_c] = True


def features_v1(text: str, bits: int, positions: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The previous feature set (byte 3–5-grams, word 1–2-grams by an 8-byte prefix), which the
    bundled toxicity model was trained on: kept so that model keeps scoring as recorded."""
    raw = b" " + text.encode("utf-8", "surrogatepass") + b" "
    n = len(raw)
    buf = np.frombuffer(raw + _PAD, dtype=np.uint8)
    letter = _LETTERBYTE[buf]
    stretched = letter[2:] & (buf[2:] == buf[1:-1]) & (buf[2:] == buf[:-2])
    if stretched.any():  # a letter repeated past two: "fuuuuck" → "fuuck"
        keep = np.ones(len(buf), dtype=bool)
        keep[2:] = ~stretched
        buf = buf[keep]
        n = len(buf) - 8
    # the 8 bytes starting at each position as one little-endian integer: an n-gram is its low n bytes
    grid = np.empty((n, 8), dtype=np.uint8)
    for j in range(8):
        grid[:, j] = buf[j:j + n]
    grams = grid.view("<u8").ravel()
    is_word = _WORDBYTE[buf[:n]]
    edges = np.flatnonzero(is_word[1:] != is_word[:-1])
    starts = edges[::2] + 1
    lens = edges[1::2] + 1 - starts
    # a word is hashed by its first 8 bytes ("instruction", "instructions" share a bucket)
    words = grams[starts] & _PREFIX_MASK[np.minimum(lens, 8)]
    parts = [(grams[:max(0, n - g + 1)] & _MASKS_V1[g]) ^ _SEEDS[g] for g in CHAR_NGRAMS]
    parts += [words ^ _SEEDS[11], (words[:-1] * _P + words[1:]) ^ _SEEDS[12]]
    out = np.concatenate(parts)
    out *= _MIX
    out >>= np.uint64(64 - bits)
    if not positions:
        return out.astype(np.intp), None
    pos = [np.arange(max(0, n - g + 1)) for g in CHAR_NGRAMS] + [starts - 1, starts[:-1] - 1]
    return out.astype(np.intp), np.maximum(np.concatenate(pos), 0)


def window_ids(positions: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """Block index of each feature and the number of blocks of a text of ``length`` bytes."""
    blocks = max(1, -(-length // BLOCK))
    return np.minimum(positions // BLOCK, blocks - 1), blocks


_last: list = [None, None, None]  # (bits, text) → features: the injection and toxicity models share one pass


def _featurised(text: str, bits: int, version: int = 2) -> tuple[np.ndarray, np.ndarray, int, int]:
    if _last[0] == (bits, version) and _last[1] == text:
        return _last[2]
    norm = normalise(text)
    size = len(norm) if norm.isascii() else len(norm.encode("utf-8", "surrogatepass"))
    windowed = size + 2 > BLOCK * WINDOW_BLOCKS
    idx, pos = (features if version >= 2 else features_v1)(norm, bits, positions=windowed)
    if windowed:
        blocks_of, nblocks = window_ids(pos, size + 2)
    else:
        blocks_of, nblocks = idx, 1  # one window; block ids are not used
    _last[:] = [(bits, version), text, (idx, blocks_of, nblocks, size)]
    return _last[2]


@dataclass(frozen=True)
class LinearTextModel:
    """Weights of one classifier: ``w`` (float16, ``2**bits``, kept as stored: converting 2 MB of
    halves costs ~30 ms at load, summing a few hundred of them a few µs per scan), ``bias``,
    calibration ``a``/``b``, and ``rules``: the weight of the scanner's rule score in the calibrated
    logit (0: no combiner — the scanner takes the larger of the rules' and the model's score)."""

    name: str
    bits: int
    w: np.ndarray
    bias: float
    a: float
    b: float
    threshold: float  # the score at which the default policy reports (see the model card)
    rules: float = 0.0
    version: int = 2  # feature set: 2 = :func:`features`, 1 = :func:`features_v1` (a file with 4 meta values)

    def margins(self, text: str) -> tuple[np.ndarray, int]:
        """Raw margin of every window of ``text`` and the normalised text's length in bytes."""
        idx, blocks_of, nblocks, size = _featurised(text, self.bits, self.version)
        if nblocks <= WINDOW_BLOCKS:  # one window: no per-block sums needed
            return np.array([self.bias + float(self.w[idx].sum(dtype=np.float64)) / np.sqrt(max(len(idx), 1))]), size
        sums = np.bincount(blocks_of, weights=self.w[idx], minlength=nblocks)
        counts = np.bincount(blocks_of, minlength=nblocks).astype(np.float64)
        cs, cc = np.concatenate([[0.0], np.cumsum(sums)]), np.concatenate([[0.0], np.cumsum(counts)])
        sums = cs[WINDOW_BLOCKS:] - cs[:-WINDOW_BLOCKS]
        counts = cc[WINDOW_BLOCKS:] - cc[:-WINDOW_BLOCKS]
        return self.bias + sums / np.sqrt(np.maximum(counts, 1.0)), size

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

    def score_span(self, text: str) -> tuple[float, int, int]:
        """``(score, start, end)``: the best window's calibrated score and its span in ``text``."""
        if not text.strip():
            return 0.0, 0, 0
        margins, size = self.margins(text)
        best = int(np.argmax(margins))
        score = self.calibrate(float(margins[best]))
        if len(margins) == 1:
            return score, 0, len(text)
        ratio = len(text) / max(1, size)  # normalisation and UTF-8 change the length a little
        start = int(best * BLOCK * ratio)
        end = int(min(len(text), (best + WINDOW_BLOCKS) * BLOCK * ratio + 1))
        return score, start, end

    def score(self, text: str) -> float:
        return self.score_span(text)[0]


def window_vectors(text: str, bits: int) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """Training helper: ``(buckets, values, start, end)`` per window of ``text`` — the sparse
    feature vector the runtime scores (values = counts / sqrt(n)), and its span in bytes of the
    normalised text. Shares every step with :meth:`LinearTextModel.margins`."""
    norm = normalise(text)
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


_loaded: dict[str, LinearTextModel] = {}
_load_lock = threading.Lock()


@lru_cache(maxsize=4)
def load(name: str) -> LinearTextModel:
    """The bundled model ``data/<name>.npz`` (plain arrays, stored uncompressed: loading is a
    read, never an unpickle). Loaded once per process: threads whose first calls start together
    wait for one load (lru_cache alone lets each of them load its own copy)."""
    with _load_lock:
        if name not in _loaded:
            ref = resources.files("llmops_nb.guardrails").joinpath(f"data/{name}.npz")
            with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
                meta = z["meta"].astype(np.float64)
                _loaded[name] = LinearTextModel(name=name, bits=int(z["bits"]), w=z["w"],
                                                bias=float(meta[0]), a=float(meta[1]), b=float(meta[2]),
                                                threshold=float(meta[3]), rules=float(meta[4]) if len(meta) > 4 else 0.0,
                                                version=2 if len(meta) > 4 else 1)
        return _loaded[name]


def save(path: str, *, bits: int, w: np.ndarray, bias: float, a: float, b: float, threshold: float,
         rules: float = 0.0) -> None:
    """Write a model file: float16 weights, uncompressed (a compressed 2 MB array costs ~10 ms to inflate)."""
    np.savez(path, bits=np.int64(bits), w=w.astype(np.float16),
             meta=np.array([bias, a, b, threshold, rules], dtype=np.float64))


NOT_LETTER = bytes(c if 97 <= c <= 122 or c >= 128 else 32 for c in range(256))  # bytes.translate: C speed
_words_last: list = [None, []]
_LETTERS = re.compile(r"[^\W\d_]+")


def letter_words(low: str) -> list[str]:
    """The words of a lower-cased text, in order: runs of letters."""
    return low.encode().translate(NOT_LETTER).decode().split() if low.isascii() else _LETTERS.findall(low)


def words_of(low: str) -> list[str]:
    """:func:`letter_words`, the last text's kept: the injection and toxicity rules' cheap
    pre-checks of one text (``frozenset.isdisjoint`` against their trigger words) share it."""
    if _words_last[0] is not low and _words_last[0] != low:
        _words_last[:] = [low, letter_words(low)]
    return _words_last[1]
