"""A small learned text classifier: hashed character and word n-grams into a linear model,
scored in windows, in numpy only (no scikit-learn, no pickle at runtime).

Features of a text (after :func:`normalise`: NFKC, invisible characters dropped, lower case,
leetspeak and masked letters inside words undone — ``1d10t`` → ``idiot``, ``f*ck`` → ``fuck`` —
whitespace collapsed; stretched and spaced-out letters are left to the character n-grams, which
training sees through augmented copies, and to the toxicity lexicon):

- character 2- to 5-grams (with spaces, so word edges count),
- word unigrams and bigrams,

each hashed (a polynomial rolling hash over the code points, computed for all positions at once
with numpy, then a multiplicative mix) into ``2**bits`` buckets. The text is cut into blocks of
``BLOCK`` characters; a *window* is ``WINDOW_BLOCKS`` consecutive blocks (a text shorter than a
window is one window). A window's margin is ``bias + Σ w[bucket] / sqrt(n)`` over its ``n``
features, its score ``sigmoid(a·margin + b)`` (Platt scaling fitted on out-of-fold predictions of
the training split, so a score reads as a probability). The text's score is its best window's,
and that window is the finding's span — an instruction spliced into the middle of an e-mail
is found where it is, not averaged away by the rest of the e-mail.

Weights ship as ``.npz`` files of plain arrays (``numpy.load(allow_pickle=False)``), written by
``scripts/train_guardrails.py``; see ``data/MODEL_CARD.md``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

BLOCK = 64
WINDOW_BLOCKS = 3
CHAR_NGRAMS = (2, 3, 4, 5)
_P = np.uint64(0x100000001B3)  # FNV prime as the polynomial base
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier (Fibonacci hashing)
_SEEDS = {n: np.uint64((n * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF) for n in (*CHAR_NGRAMS, 11, 12)}
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s",
                       "!": "i", "|": "i", "*": "u", "+": "t"})
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@$!|*+")
_LEET_GATE = re.compile(r"[a-z][0-9@$*|!+]+[a-z]")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]")


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


def normalise(text: str) -> str:
    """What the features are computed on: same length is not kept (spans map back by ratio)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    return " ".join(_unleet_all(text.lower()).split())


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)


_ALNUM = np.zeros(128, dtype=bool)
for _c in "abcdefghijklmnopqrstuvwxyz0123456789'":
    _ALNUM[ord(_c)] = True


def features(text: str, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(buckets, positions)`` of every n-gram of the normalised ``text`` (positions are
    character offsets into the normalised text)."""
    codes = _codes(" " + text + " ")
    n = len(codes)
    shift = np.uint64(64 - bits)
    idx: list[np.ndarray] = []
    pos: list[np.ndarray] = []
    h = codes.copy()
    for k in range(2, max(CHAR_NGRAMS) + 1):
        if n < k:
            break
        h = h[:-1] * _P + codes[k - 1:]
        if k in CHAR_NGRAMS:
            idx.append(((h + _SEEDS[k]) * _MIX) >> shift)
            pos.append(np.arange(len(h)))
    # words: runs of letters/digits (any non-ASCII code point counts as a letter)
    is_word = np.where(codes < 128, _ALNUM[np.minimum(codes, 127).astype(np.int64)], True)
    edges = np.flatnonzero(np.diff(is_word.astype(np.int8)))
    starts, ends = edges[::2] + 1, edges[1::2] + 1
    if len(starts):
        # prefix hashes: H[i] = Σ_{j<i} codes[j]·P^(i-1-j); hash(s, e) = H[e] − H[s]·P^(e−s)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        powers = _powers(n + 1)
        # Horner in closed form: H[i] = Σ codes[j] P^(i-1-j) = P^(i-1) Σ codes[j] P^(-j) has no inverse
        # mod 2^64 for even P; compute it with a cumulative trick on odd P instead (P is odd).
        inv = _inverse_powers(n + 1)
        prefix[1:] = np.cumsum(codes * inv[:n]) * powers[:n]
        words = prefix[ends] - prefix[starts] * powers[ends - starts]
        idx.append(((words + _SEEDS[11]) * _MIX) >> shift)
        pos.append(starts - 1)
        if len(words) > 1:
            pairs = words[:-1] * _P + words[1:]
            idx.append(((pairs + _SEEDS[12]) * _MIX) >> shift)
            pos.append(starts[:-1] - 1)
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(idx).astype(np.int64), np.maximum(np.concatenate(pos), 0)


@lru_cache(maxsize=8)
def _powers(n: int) -> np.ndarray:
    return np.cumprod(np.concatenate([[np.uint64(1)], np.full(n - 1, _P, dtype=np.uint64)]))


@lru_cache(maxsize=8)
def _inverse_powers(n: int) -> np.ndarray:
    inv_p = np.uint64(pow(int(_P), -1, 2**64))
    return np.cumprod(np.concatenate([[np.uint64(1)], np.full(n - 1, inv_p, dtype=np.uint64)]))


def window_ids(positions: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """Block index of each feature and the number of blocks of a text of ``length`` characters."""
    blocks = max(1, -(-length // BLOCK))
    return np.minimum(positions // BLOCK, blocks - 1), blocks


_last: list = [None, None, None]  # (text, bits) → features: the injection and toxicity models share one pass


def _featurised(text: str, bits: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    if _last[0] == bits and _last[1] == text:
        return _last[2]
    norm = normalise(text)
    idx, pos = features(norm, bits)
    if len(norm) <= BLOCK * WINDOW_BLOCKS:
        blocks_of, nblocks = pos, 1  # one window; block ids are not used
    else:
        blocks_of, nblocks = window_ids(pos, len(norm))
    _last[:] = [bits, text, (idx, blocks_of, nblocks, len(norm))]
    return _last[2]


@dataclass(frozen=True)
class LinearTextModel:
    """Weights of one classifier: ``w`` (float32 in memory, float16 on disk, ``2**bits``), ``bias``, Platt ``a``/``b``."""

    name: str
    bits: int
    w: np.ndarray
    bias: float
    a: float
    b: float
    threshold: float  # the score at which the default policy reports (see the model card)

    def margins(self, text: str) -> tuple[np.ndarray, int]:
        """Raw margin of every window of ``text`` and the normalised text's length."""
        idx, blocks_of, nblocks, norm_len = _featurised(text, self.bits)
        if nblocks <= WINDOW_BLOCKS:  # one window: no per-block sums needed
            return np.array([self.bias + self.w[idx].sum() / np.sqrt(max(len(idx), 1))]), norm_len
        sums = np.bincount(blocks_of, weights=self.w[idx], minlength=nblocks)
        counts = np.bincount(blocks_of, minlength=nblocks).astype(np.float64)
        if nblocks > WINDOW_BLOCKS:
            cs, cc = np.concatenate([[0.0], np.cumsum(sums)]), np.concatenate([[0.0], np.cumsum(counts)])
            sums = cs[WINDOW_BLOCKS:] - cs[:-WINDOW_BLOCKS]
            counts = cc[WINDOW_BLOCKS:] - cc[:-WINDOW_BLOCKS]
        else:
            sums, counts = np.array([sums.sum()]), np.array([counts.sum()])
        return self.bias + sums / np.sqrt(np.maximum(counts, 1.0)), norm_len

    def calibrate(self, margin: float) -> float:
        return float(1.0 / (1.0 + np.exp(-(self.a * margin + self.b))))

    def score_span(self, text: str) -> tuple[float, int, int]:
        """``(score, start, end)``: the best window's calibrated score and its span in ``text``."""
        if not text.strip():
            return 0.0, 0, 0
        margins, norm_len = self.margins(text)
        best = int(np.argmax(margins))
        score = self.calibrate(float(margins[best]))
        if len(margins) == 1:
            return score, 0, len(text)
        ratio = len(text) / max(1, norm_len)  # normalisation shrinks runs of spaces/letters a little
        start = int(best * BLOCK * ratio)
        end = int(min(len(text), (best + WINDOW_BLOCKS) * BLOCK * ratio + 1))
        return score, start, end

    def score(self, text: str) -> float:
        return self.score_span(text)[0]


def window_vectors(text: str, bits: int) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """Training helper: ``(buckets, values, start, end)`` per window of ``text`` — the sparse
    feature vector the runtime scores (values = counts / sqrt(n)), and its span in the
    normalised text. Shares every step with :meth:`LinearTextModel.margins`."""
    norm = normalise(text)
    idx, pos = features(norm, bits)
    blocks_of, nblocks = window_ids(pos, len(norm))
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
    """The bundled model ``data/<name>.npz`` (plain arrays; loading never unpickles). Loaded
    once per process: threads whose first calls start together wait for one load (lru_cache
    alone lets each of them load its own copy)."""
    with _load_lock:
        if name not in _loaded:
            ref = resources.files("llmops_nb.guardrails").joinpath(f"data/{name}.npz")
            with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
                meta = z["meta"].astype(np.float64)
                _loaded[name] = LinearTextModel(name=name, bits=int(z["bits"]), w=z["w"].astype(np.float32),
                                                bias=float(meta[0]), a=float(meta[1]), b=float(meta[2]),
                                                threshold=float(meta[3]))
        return _loaded[name]


def save(path: str, *, bits: int, w: np.ndarray, bias: float, a: float, b: float, threshold: float) -> None:
    """Write a model file (float16 weights, compressed)."""
    np.savez_compressed(path, bits=np.int64(bits), w=w.astype(np.float16),
                        meta=np.array([bias, a, b, threshold], dtype=np.float64))
