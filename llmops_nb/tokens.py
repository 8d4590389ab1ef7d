"""Offline OpenAI token counting, identical to ``tiktoken``.

tiktoken normally downloads its BPE rank files on first use. This module builds
the same ``tiktoken.Encoding`` objects from rank files bundled in
``llmops_nb/data/encodings`` (gzip-compressed; the sha256 of the decompressed
bytes is checked against the hash tiktoken itself pins), so counting never
touches the network or tiktoken's download cache (``TIKTOKEN_CACHE_DIR``).

Importing this module is cheap: tiktoken is imported lazily on first use.

Building an encoding costs ~0.3 s of CPU and ~100 MB (200k ranks), so a call's pre-call
checks do not build one unless the answer depends on it: :class:`PromptTokens` holds a free
upper bound (a BPE token is at least one byte, so a text has at most as many tokens as UTF-8
bytes) and counts exactly only when a limit falls below that bound.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "BUNDLED_ENCODINGS",
    "DEFAULT_ENCODING",
    "DEFAULT_MODEL",
    "PromptTokens",
    "count_message_tokens",
    "message_tokens_at_most",
    "count_tokens",
    "encoding",
    "encoding_name_for",
]

#: Encodings whose rank files ship with the package.
BUNDLED_ENCODINGS: tuple[str, ...] = ("o200k_base", "cl100k_base")
#: Encoding used for models tiktoken does not know (e.g. non-OpenAI models).
DEFAULT_ENCODING = "o200k_base"
DEFAULT_MODEL = "openai:gpt-4o"

# OpenAI cookbook, "How to count tokens with tiktoken" (num_tokens_from_messages).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3  # every reply is primed with <|start|>assistant<|message|>

# Encodings with the same ranks and split pattern as a bundled one; they differ
# only in special tokens, which count_tokens() treats as plain text anyway.
_SAME_COUNTS_AS = {"o200k_harmony": "o200k_base"}


def _bundled_tiktoken_bytes(name: str) -> bytes:
    """Return the decompressed ``<name>.tiktoken`` bytes shipped with the package."""
    import gzip
    from importlib import resources

    path = (
        resources.files(__package__ or "llmops_nb")
        / "data"
        / "encodings"
        / f"{name}.tiktoken.gz"
    )
    return gzip.decompress(path.read_bytes())


def _parse_tiktoken_bpe(data: bytes) -> dict[bytes, int]:
    """Parse ``.tiktoken`` content (``base64(token) rank`` lines) into what tiktoken's own
    loader returns, about twice as fast: whole columns at once, through the C base64 decoder."""
    from binascii import a2b_base64

    tokens, ranks = [], []
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            tokens.append(token)
            ranks.append(rank)
    parsed = dict(zip(map(a2b_base64, tokens), map(int, ranks), strict=True))
    if len(parsed) != len(tokens):
        raise ValueError("a .tiktoken file lists a token twice")
    return parsed


def _load_bundled_ranks(
    name: str, url: str, expected_hash: str | None
) -> dict[bytes, int]:
    """Stand-in for ``tiktoken.load.load_tiktoken_bpe`` that reads the bundled file."""
    import hashlib

    if url.rsplit("/", 1)[-1] != f"{name}.tiktoken":
        raise RuntimeError(
            f"tiktoken asked for {url!r} while building {name!r}; no bundled copy"
        )
    if not expected_hash:
        raise RuntimeError(
            f"tiktoken pins no hash for {url!r}; refusing to trust the bundled copy"
        )
    data = _bundled_tiktoken_bytes(name)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_hash:
        raise ValueError(
            f"bundled {name}.tiktoken has sha256 {actual}, but the installed tiktoken "
            f"pins {expected_hash}: the bundled ranks do not match this tiktoken version"
        )
    return _parse_tiktoken_bpe(data)


def _encoding_kwargs(name: str) -> dict[str, Any]:
    """Run tiktoken's own constructor for ``name`` with its loader pointed at bundled data.

    ``tiktoken_ext.openai_public`` defines each encoding (split pattern, special
    tokens, pinned hash of the rank file) in a constructor function that calls the
    module-level ``load_tiktoken_bpe``. We call a copy of that function whose
    globals map the loader names to offline stand-ins, so tiktoken's definitions
    are reused as-is while no download, cache or module state is touched.
    """
    import types

    _tiktoken()
    from tiktoken_ext import openai_public

    ctor = openai_public.ENCODING_CONSTRUCTORS[name]
    urls: list[str] = []

    def load_tiktoken_bpe(
        url: str, expected_hash: str | None = None
    ) -> dict[bytes, int]:
        urls.append(url)
        return _load_bundled_ranks(name, url, expected_hash)

    def no_download(*args: Any, **kwargs: Any) -> dict[bytes, int]:
        raise RuntimeError(f"{name!r} needs data that is not bundled")

    offline_globals = {
        **ctor.__globals__,
        "load_tiktoken_bpe": load_tiktoken_bpe,
        "data_gym_to_mergeable_bpe_ranks": no_download,
    }
    offline_ctor = types.FunctionType(
        ctor.__code__,
        offline_globals,
        ctor.__name__,
        ctor.__defaults__,
        ctor.__closure__,
    )
    kwargs = offline_ctor()
    if len(urls) != 1:  # pragma: no cover - guards against a restructured tiktoken
        raise RuntimeError(
            f"unexpected tiktoken constructor for {name!r}: loaded {urls}"
        )
    return kwargs


_built: dict[str, tiktoken.Encoding] = {}
_build_lock = threading.Lock()
_import_lock = threading.Lock()


@functools.cache
def _tiktoken() -> Any:
    """tiktoken with the submodules used here, imported once under a lock: two threads
    importing ``tiktoken`` and ``tiktoken.model`` at once (the package and its submodule import
    each other) can meet a partially initialised module."""
    with _import_lock:
        import tiktoken
        import tiktoken.model
        import tiktoken_ext.openai_public  # noqa: F401

        return tiktoken


def encoding(name: str) -> tiktoken.Encoding:
    """Return the ``tiktoken.Encoding`` called ``name``, built from bundled data.

    ``name`` is one of :data:`BUNDLED_ENCODINGS`. The result is identical to
    ``tiktoken.get_encoding(name)`` (same ranks, split pattern and special
    tokens) but never uses the network or ``TIKTOKEN_CACHE_DIR``. Cached.

    Raises ``ValueError`` for an encoding that is not bundled, or if the bundled
    file's sha256 differs from the hash the installed tiktoken pins.
    """
    found = _built.get(name)
    if found is not None:
        return found
    if name not in BUNDLED_ENCODINGS:
        raise ValueError(
            f"encoding {name!r} is not bundled; choose from {BUNDLED_ENCODINGS}"
        )
    # One build per process: threads whose first calls start together wait for it rather
    # than each building their own copy (~75 MB and a few hundred ms each).
    with _build_lock:
        found = _built.get(name)
        if found is None:
            found = _built[name] = _tiktoken().Encoding(**_encoding_kwargs(name))
        return found


@functools.lru_cache(maxsize=1024)
def encoding_name_for(model: str) -> str:
    """Return the name of the bundled encoding used to count tokens for ``model``.

    ``model`` is ``provider:model`` (``openai:gpt-4o``, ``anthropic:claude-haiku-4-5``)
    or a bare model id (``gpt-4``, ``ft:gpt-4o-mini:org::id``). Models known to
    tiktoken's model table get tiktoken's encoding (``cl100k_base`` for gpt-4,
    gpt-3.5-turbo and the ada/3-* embeddings; ``o200k_base`` for gpt-4o, gpt-4.1,
    gpt-5, o-series); ``o200k_harmony`` (gpt-oss) maps to ``o200k_base``, which
    gives the same counts. Everything else - other providers' models, unknown
    ids, and retired models on legacy encodings (r50k/p50k/gpt2) - gets
    :data:`DEFAULT_ENCODING`, so their counts are estimates.
    """
    encoding_name_for_model = _tiktoken().model.encoding_name_for_model
    model = model.strip()
    candidates = [model]
    if ":" in model:
        candidates.append(model.split(":", 1)[1])  # drop the provider prefix
    for candidate in candidates:
        try:
            name = encoding_name_for_model(candidate)
        except KeyError:
            continue
        name = _SAME_COUNTS_AS.get(name, name)
        return name if name in BUNDLED_ENCODINGS else DEFAULT_ENCODING
    return DEFAULT_ENCODING


def count_tokens(text: str, model: str = DEFAULT_MODEL) -> int:
    """Return the number of tokens in ``text`` for ``model``.

    Special-token strings such as ``<|endoftext|>`` are counted as plain text,
    i.e. like ``encoding.encode(text, disallowed_special=())``.
    """
    return len(encoding(encoding_name_for(model)).encode_ordinary(text))


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))  # tiktoken encodes a lone surrogate as U+FFFD: 3 bytes


def message_tokens_at_most(messages: list[dict]) -> int:
    """An upper bound on :func:`count_message_tokens` for every bundled encoding, with no
    tokenizer: the same rule, counting each text's UTF-8 bytes instead of its tokens (every
    token of o200k/cl100k is at least one byte, so no text has more tokens than bytes)."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            total += sum(_utf8_len(piece) for piece in _value_text(value))
            if key == "name":
                total += TOKENS_PER_NAME
    return total


class PromptTokens:
    """A prompt's size for the pre-call checks (context window, budgets, routing rules).

    ``at_most`` is an upper bound computed without a tokenizer; :attr:`exact` is the
    :func:`count_message_tokens` count, computed on first use. A check asks :meth:`exceeds`,
    which counts exactly only when the bound does not already settle it, so a prompt far from
    every limit never builds an encoding.
    """

    __slots__ = ("_exact", "_messages", "at_most", "model")

    def __init__(self, messages: list[dict], model: str = DEFAULT_MODEL) -> None:
        self._messages, self.model = messages, model
        self.at_most = message_tokens_at_most(messages)
        self._exact: int | None = None

    @classmethod
    def of(cls, count: int) -> PromptTokens:
        """A size already known exactly."""
        size = cls([], DEFAULT_MODEL)
        size.at_most = size._exact = count
        return size

    @property
    def exact(self) -> int:
        """The counted size (builds the model's encoding if no count was made yet)."""
        if self._exact is None:
            self._exact = count_message_tokens(self._messages, self.model)
        return self._exact

    @property
    def counted(self) -> int | None:
        """The exact size if it was counted, or is free to count now (the encoding is already
        built); None otherwise. Never builds an encoding."""
        if self._exact is None and _built and encoding_name_for(self.model) in _built:
            return self.exact
        return self._exact

    def exceeds(self, limit: float) -> bool:
        """Whether the exact size is above ``limit``, counting only if the bound is above it."""
        return self.at_most > limit and self.exact > limit

    def __int__(self) -> int:
        return self.exact

    def __repr__(self) -> str:
        shown = f"exact={self._exact}" if self._exact is not None else f"at_most={self.at_most}"
        return f"PromptTokens({shown}, model={self.model!r})"


def _value_text(value: Any) -> list[str]:
    """Return the text pieces of a message field that count towards the prompt."""
    import json

    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):  # content parts, e.g. [{"type": "text", "text": ...}]
        pieces: list[str] = []
        for part in value:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                pieces.append(part["text"])
            elif isinstance(part, dict) and any(
                kind in str(part.get("type", "")) for kind in ("image", "audio", "file")
            ):
                continue  # media parts are billed separately; not estimated here
            else:
                pieces.append(json.dumps(part, ensure_ascii=False))
        return pieces
    return [json.dumps(value, ensure_ascii=False)]  # e.g. tool_calls, function_call


def count_message_tokens(messages: list[dict], model: str = DEFAULT_MODEL) -> int:
    """Estimate the prompt tokens of a chat request ``[{"role": ..., "content": ...}]``.

    Follows OpenAI's published rule (cookbook ``num_tokens_from_messages``):
    3 tokens per message, plus the tokens of every field value (role, content,
    name, ...), plus 1 per ``name`` field, plus 3 tokens priming the reply.
    Non-string content (content-part lists, tool calls) is counted from its text
    parts or its JSON; images/audio/files and tool schemas are not included.
    This is a pre-call estimate; the provider's reported usage is authoritative.
    """
    name = encoding_name_for(model)
    if all(len(m) == 2 and type(m.get("role")) is str and type(m.get("content")) is str for m in messages):
        # plain chat text: memoised, as planning a call counts the same prompt more than once
        return _count_plain_messages(name, tuple((m["role"], m["content"]) for m in messages))
    enc = encoding(name)
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            total += sum(
                len(enc.encode_ordinary(piece)) for piece in _value_text(value)
            )
            if key == "name":
                total += TOKENS_PER_NAME
    return total


@functools.lru_cache(maxsize=64)
def _count_plain_messages(name: str, messages: tuple[tuple[str, str], ...]) -> int:
    enc = encoding(name)
    return REPLY_PRIMING_TOKENS + sum(
        TOKENS_PER_MESSAGE + len(enc.encode_ordinary(role)) + len(enc.encode_ordinary(content))
        for role, content in messages
    )
