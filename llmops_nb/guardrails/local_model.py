"""A local sequence-classification model (ONNX) as a guardrail scanner: Prompt Guard, a
prompt-injection DeBERTa, toxic-bert … exported from Hugging Face to ONNX and already on disk.

The directory holds ``model.onnx`` (or the file named by ``model_file``), ``tokenizer.json``
(the ``tokenizers`` library's format) and ``config.json`` with ``id2label``. The model runs with
onnxruntime on the CPU (``pip install "llmops-nb[local-guard]"``); nothing is downloaded.

Texts longer than the model's window are scored in overlapping windows (``stride`` tokens of
overlap); per label the best window counts, and the finding's span is that window's characters.
Single-label models (``problem_type`` not ``multi_label_classification``) are read with a
softmax, multi-label ones with a sigmoid. The findings are the labels other than the benign one
(``BENIGN``, ``SAFE``, ``neutral``, ``non-toxic``, ``LABEL_0`` of a binary model …) unless
``labels`` says which; their type is the label slugged (``INJECTION`` → ``prompt_injection``,
like :class:`~llmops_nb.guardrails.remote.ChatGuard`), score the probability. Each scan is
recorded on ``calls`` (latency, tokens scored, cost 0). A failed inference does not raise: it is
recorded with its error and yields no finding, unless ``fail_closed=True``. A model that cannot
be used (files, labels, graph inputs, missing packages) is a :class:`~llmops_nb.errors.ConfigError`,
raised when the scanner is built where it can be told then, else on the first scan.

::

    from llmops_nb.guardrails import DEFAULT
    from llmops_nb.guardrails.local_model import LocalClassifier
    pol = DEFAULT.with_scanners(LocalClassifier("~/models/prompt-guard-onnx", name="prompt_guard"),
                                action="block")
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from llmops_nb.errors import ConfigError
from llmops_nb.guardrails._common import make_finding
from llmops_nb.guardrails.remote import ScannerCall, _severity
from llmops_nb.guardrails.scanner_calls import record
from llmops_nb.types import Finding, Usage

INSTALL = 'pip install "llmops-nb[local-guard]"'
BENIGN = frozenset({"benign", "safe", "neutral", "non_toxic", "nontoxic", "not_toxic", "normal", "clean", "ok",
                    "legit", "legitimate"})
# Labels that would be read as a built-in scanner's action key (policy.SCANNERS) get a type of their own.
_TYPE_ALIASES = {"injection": "prompt_injection", "toxicity": "toxic"}
_RESERVED = ("pii", "secrets", "patterns", "injection", "toxicity", "output")
_FEEDS = ("input_ids", "attention_mask", "token_type_ids")
_BATCH = 8  # windows per inference


def slug(label: str) -> str:
    """A label as a finding type: lower case, runs of other characters as ``_``."""
    s = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "label"
    s = _TYPE_ALIASES.get(s, s)
    return f"{s}_label" if s in _RESERVED else s


class _Loaded(NamedTuple):
    tokenizer: Any
    session: Any
    feeds: dict[str, str]  # graph input → its tensor type
    output: str  # the logits
    pad: int
    batch: int  # windows per run (1 when the graph takes no attention_mask: padding would count)


@dataclass
class LocalClassifier:
    """A Hugging Face sequence classifier exported to ONNX, scoring texts on the CPU.

    ``labels``: the labels that are findings (a list, or a mapping label → finding type); default
    every label but the benign one. ``threshold``: the probability a label needs. ``multi_label``:
    sigmoid instead of softmax (default: from ``config.json``'s ``problem_type``). ``max_length``:
    tokens per window (default: ``tokenizer_config.json``'s ``model_max_length``, else the
    config's ``max_position_embeddings``, else 512); ``stride``: tokens shared by consecutive
    windows (default a quarter of the window). ``threads``: onnxruntime's intra-op threads.
    """

    path: str | Path
    labels: Sequence[str] | Mapping[str, str] | None = None
    threshold: float = 0.5
    multi_label: bool | None = None
    model_file: str = "model.onnx"
    max_length: int | None = None
    stride: int | None = None
    threads: int = 1
    fail_closed: bool = False
    name: str = "local_model"
    calls: list[ScannerCall] = field(default_factory=list, repr=False)
    # worked out from the directory when the scanner is built
    directory: Path = field(init=False, repr=False)
    model_path: Path = field(init=False, repr=False)
    id2label: dict[int, str] = field(init=False, repr=False)
    types: dict[int, str] = field(init=False, repr=False)  # output index → finding type
    window: int = field(init=False, repr=False)
    model: str = field(init=False, repr=False)
    _state: _Loaded | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = [m for m in ("onnxruntime", "tokenizers") if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(f"LocalClassifier needs {' and '.join(missing)}: {INSTALL}")
        self.directory = Path(self.path).expanduser()
        if not self.directory.is_dir():
            raise ConfigError(f"LocalClassifier: no model directory at {self.directory}")
        self.model_path = self.directory / self.model_file
        absent = [p.name for p in (self.model_path, self.directory / "tokenizer.json", self.directory / "config.json")
                  if not p.is_file()]
        if absent:
            raise ConfigError(f"LocalClassifier: {self.directory} has no {', '.join(absent)} (a Hugging Face "
                              "sequence-classification model exported to ONNX, e.g. with `optimum-cli export onnx`)")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"LocalClassifier threshold must be between 0 and 1, not {self.threshold}")
        if self.threads < 1:
            raise ConfigError(f"LocalClassifier threads must be at least 1, not {self.threads}")
        config = _read_json(self.directory / "config.json")
        self.id2label = _id2label(config, self.directory)
        if self.multi_label is None:
            self.multi_label = config.get("problem_type") == "multi_label_classification"
        self.types = self._finding_types()
        self.window = self.max_length or _max_length(config, self.directory)
        inputs = _graph_inputs(self.model_path)
        if inputs is not None and "input_ids" not in inputs:
            raise ConfigError(f"LocalClassifier: the graph in {self.model_path.name} has no input_ids input "
                              f"(it takes {', '.join(inputs) or 'nothing'}); export a text classifier")
        self.model = f"onnx:{self.directory.name}" + ("" if self.model_file == "model.onnx" else f"/{self.model_file}")

    def _finding_types(self) -> dict[int, str]:
        by_label = {label: i for i, label in self.id2label.items()}
        if self.labels is None:
            benign = [i for i, label in self.id2label.items() if _is_benign(label, len(self.id2label))]
            if not self.multi_label and not benign:
                raise ConfigError(f"LocalClassifier: none of the labels {sorted(by_label)} reads as benign; "
                                  "say which are findings with labels=[...]")
            return {i: slug(label) for i, label in self.id2label.items() if i not in benign}
        asked = [self.labels] if isinstance(self.labels, str) else self.labels
        wanted = dict(asked) if isinstance(asked, Mapping) else {k: slug(k) for k in asked}
        unknown = [k for k in wanted if k not in by_label]
        if unknown or not wanted:
            raise ConfigError(f"LocalClassifier: labels {unknown or '[]'} are not among the model's "
                              f"{sorted(by_label)} (config.json id2label)")
        return {by_label[k]: t for k, t in wanted.items()}

    # -- loading (once, on the first scan, under a lock) -------------------------------------

    def load(self) -> LocalClassifier:
        """Load the tokenizer and the onnxruntime session now (else the first scan does)."""
        if self._state is None:
            with self._lock:
                if self._state is None:
                    self._state = self._load()
        return self

    def _load(self) -> _Loaded:
        try:
            import numpy  # noqa: F401 — onnxruntime's own dependency
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ConfigError(f"LocalClassifier needs onnxruntime and tokenizers ({exc}): {INSTALL}") from exc
        try:
            tokenizer = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
        except Exception as exc:  # noqa: BLE001 — the tokenizers library raises plain Exceptions
            raise ConfigError(f"LocalClassifier: tokenizer.json in {self.directory} cannot be read: {exc}") from exc
        room = self.window - tokenizer.num_special_tokens_to_add(False)
        stride = self.stride if self.stride is not None else max(room // 4, 0)
        if room < 1 or not 0 <= stride < room:
            raise ConfigError(f"LocalClassifier: a window of {self.window} tokens leaves {room} for text; "
                              f"stride must be 0 … {room - 1}, not {stride}")
        pad = int(tokenizer.padding["pad_id"]) if tokenizer.padding else _pad_id(tokenizer)
        tokenizer.no_padding()  # windows are padded per batch, to the longest
        tokenizer.enable_truncation(self.window, stride=stride)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 — onnxruntime's load errors have no common base
            raise ConfigError(f"LocalClassifier: {self.model_path} is not a model onnxruntime can load: {exc}") from exc
        feeds = {i.name: i.type for i in session.get_inputs()}
        unknown = [n for n in feeds if n not in _FEEDS]
        if "input_ids" not in feeds or unknown:
            raise ConfigError(f"LocalClassifier: the graph's inputs {sorted(feeds)} are not "
                              f"{' / '.join(_FEEDS)} (input_ids required)")
        outputs = {o.name: o.shape for o in session.get_outputs()}
        output = "logits" if "logits" in outputs else next(iter(outputs))
        width = outputs[output][-1] if outputs[output] else None
        if isinstance(width, int) and width != len(self.id2label):
            raise ConfigError(f"LocalClassifier: the model has {width} outputs but config.json "
                              f"{len(self.id2label)} labels")
        return _Loaded(tokenizer, session, feeds, output, pad, _BATCH if "attention_mask" in feeds else 1)

    # -- scanning ------------------------------------------------------------------------------

    def scan(self, text: str, direction: str = "input") -> list[Finding]:
        if not text.strip():
            return []
        state = self.load()._state
        assert state is not None
        t0 = time.perf_counter()
        tokens = 0
        try:
            first = state.tokenizer.encode(text)
            windows = [first, *first.overflowing]
            tokens = sum(sum(w.attention_mask) for w in windows)
            probs = self._probabilities(state, windows)
        except Exception as exc:  # noqa: BLE001 — an inference failure is recorded, not raised
            record(self, ScannerCall(self.name, self.model, time.perf_counter() - t0, Usage(tokens),
                                          error=type(exc).__name__))
            if self.fail_closed:
                return [make_finding(self.name, "scanner_error", text, 0, len(text), score=1.0, severity="high")]
            return []
        found = []
        for i, type_ in self.types.items():
            best = int(probs[:, i].argmax())
            score = float(probs[best, i])
            if score >= self.threshold:
                start, end = _span(windows[best], len(text))
                found.append(make_finding(self.name, type_, text, start, end, score=score, severity=_severity(score)))
        found.sort(key=lambda f: -f.score)
        record(self, ScannerCall(self.name, self.model, time.perf_counter() - t0, Usage(tokens),
                                      flagged=bool(found)))
        return found

    def _probabilities(self, state: _Loaded, windows: list[Any]) -> Any:
        import numpy as np

        out, pad = [], state.pad
        for k in range(0, len(windows), state.batch):
            batch = windows[k:k + state.batch]
            n = max(len(w.ids) for w in batch)
            columns = {"input_ids": [w.ids + [pad] * (n - len(w.ids)) for w in batch],
                       "attention_mask": [w.attention_mask + [0] * (n - len(w.ids)) for w in batch],
                       "token_type_ids": [w.type_ids + [0] * (n - len(w.ids)) for w in batch]}
            arrays = {name: np.asarray(columns[name], dtype=np.int32 if kind == "tensor(int32)" else np.int64)
                      for name, kind in state.feeds.items()}
            logits = np.asarray(state.session.run([state.output], arrays)[0], dtype=np.float64).reshape(len(batch), -1)
            if logits.shape[1] != len(self.id2label):
                raise ValueError(f"{logits.shape[1]} logits for {len(self.id2label)} labels")
            out.append(logits)
        logits = np.concatenate(out)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def _span(window: Any, length: int) -> tuple[int, int]:
    """The characters a window covers (its special tokens have no characters)."""
    spans = [(s, e) for (s, e), special in zip(window.offsets, window.special_tokens_mask, strict=True) if not special and e > s]
    if not spans:
        return 0, length
    return min(s for s, _ in spans), min(max(e for _, e in spans), length)


def _is_benign(label: str, n: int) -> bool:
    s = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    return s in BENIGN or (n == 2 and s == "label_0")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"LocalClassifier: {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"LocalClassifier: {path} is not a JSON object")
    return data


def _id2label(config: dict[str, Any], where: Path) -> dict[int, str]:
    raw = config.get("id2label")
    try:
        labels = {int(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    except (TypeError, ValueError):
        labels = {}
    if not labels or sorted(labels) != list(range(len(labels))):
        raise ConfigError(f"LocalClassifier: {where / 'config.json'} has no id2label for 0 … n-1 "
                          "(the labels of the classifier's outputs)")
    return labels


def _max_length(config: dict[str, Any], where: Path) -> int:
    tok_config = where / "tokenizer_config.json"
    if tok_config.is_file():
        n = _read_json(tok_config).get("model_max_length")
        if isinstance(n, int) and 0 < n <= 100_000:  # transformers writes 1e30 for "no limit"
            return n
    n = config.get("max_position_embeddings")
    if isinstance(n, int) and n > 0:
        # RoBERTa-family configs count the padding offset (514 for 512 usable positions)
        return n - 2 if config.get("model_type") in ("roberta", "xlm-roberta", "camembert") and n > 2 else n
    return 512


def _pad_id(tokenizer: Any) -> int:
    for token in ("[PAD]", "<pad>", "<PAD>"):
        i = tokenizer.token_to_id(token)
        if i is not None:
            return int(i)
    return 0


# -- the graph's declared inputs, read from the protobuf without loading the model --------------

def _varint(f: Any) -> int | None:
    shift = result = 0
    while True:
        b = f.read(1)
        if not b:
            return None
        result |= (b[0] & 0x7F) << shift
        if b[0] < 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(f: Any, end: int) -> Any:
    """(field number, payload start, payload length) of the length-delimited fields up to
    ``end``; other wire types are skipped."""
    while f.tell() < end:
        key = _varint(f)
        if key is None:
            return
        number, wire = key >> 3, key & 7
        if wire == 0:
            _varint(f)
        elif wire == 1:
            f.seek(8, 1)
        elif wire == 5:
            f.seek(4, 1)
        elif wire == 2:
            size = _varint(f)
            if size is None:
                return
            start = f.tell()
            yield number, start, size
            f.seek(start + size)
        else:
            raise ValueError(f"wire type {wire}")


def _graph_inputs(path: Path) -> list[str] | None:
    """The names of the graph's inputs (ModelProto.graph = 7, GraphProto.input = 11,
    ValueInfoProto.name = 1), seeking past the weights; None when the file cannot be read so
    (onnxruntime will say what is wrong on the first scan)."""
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            graph = next(((s, n) for num, s, n in _fields(f, size) if num == 7), None)
            if graph is None:
                return None
            names = []
            f.seek(graph[0])
            for num, start, n in list(_fields(f, graph[0] + graph[1])):
                if num != 11:
                    continue
                f.seek(start)
                for num2, s2, n2 in list(_fields(f, start + n)):
                    if num2 == 1:
                        f.seek(s2)
                        names.append(f.read(n2).decode("utf-8"))
            return names
    except (OSError, ValueError, UnicodeDecodeError):
        return None
