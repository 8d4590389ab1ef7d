"""Tests for llmops_nb.tokens: offline tiktoken encodings from bundled rank files."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from llmops_nb import tokens

REPO_ROOT = Path(__file__).resolve().parents[1]

# Hashes pinned by tiktoken 0.14.0 (tiktoken_ext/openai_public.py) for the rank files.
PINNED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

TEXTS = [
    "",
    "hello world",
    "Hello, World! The quick brown fox jumps over the lazy dog. It's 3.14159, isn't it?",
    "def f(x: int) -> int:\n    return x ** 2  # square\n\nprint([f(i) for i in range(10)])\n",
    '{"role": "user", "content": "Hi", "n": 42, "nested": {"ok": true, "xs": [1.5, -2e10, null]}}',
    "emoji 😀👍🏽🇯🇵 👨‍👩‍👧‍👦 family ❤️",
    "お誕生日おめでとう 你好，世界！ 한국어 텍스트",
    "مرحبا بالعالم، كيف حالك؟",
    "   leading spaces\t\ttabs\n\n\n\nnewlines      trailing   ",
    " " * 100 + "\n" * 20,
    "<|endoftext|> is text here, and so are <|endofprompt|> and <|fim_prefix|>.",
    "Ünïcödé çàfé naïve résumé ΑΒΓ δέλτα Привет мир",
    "https://example.com/a/b?c=d&e=f#frag C:\\path\\to\\file.txt 1234567890",
    "lone surrogate \ud800 and mixed",
    "😀",
    "مرحبا بالعالم",
]

# Published in OpenAI's cookbook "How to count tokens with tiktoken".
COOKBOOK_IDS = {
    "o200k_base": {
        "tiktoken is great!": [83, 8251, 2488, 382, 2212, 0],
        "antidisestablishmentarianism": [493, 129901, 376, 160388, 21203, 2367],
        "2 + 2 = 4": [17, 659, 220, 17, 314, 220, 19],
        "お誕生日おめでとう": [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669],
    },
    "cl100k_base": {
        "antidisestablishmentarianism": [519, 85342, 34500, 479, 8997, 2191],
        "2 + 2 = 4": [17, 489, 220, 17, 284, 220, 19],
        "お誕生日おめでとう": [
            33334,
            45918,
            243,
            21990,
            9080,
            33334,
            62004,
            16556,
            78699,
        ],
    },
}

# The cookbook's example chat; OpenAI's API reported 129 prompt tokens for gpt-4
# (cl100k_base) and 124 for gpt-4o (o200k_base), equal to num_tokens_from_messages.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


def _bundled(name: str) -> bytes:
    path = resources.files("llmops_nb") / "data" / "encodings" / f"{name}.tiktoken.gz"
    return path.read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Encodings built by tiktoken's own code path: its constructor, its loader and
    its hash check, reading the decompressed bundled file from a local path with
    tiktoken's cache disabled. Returns {name: (Encoding, pinned_hash)}."""
    import tiktoken
    import tiktoken.load
    from tiktoken_ext import openai_public

    tmp = tmp_path_factory.mktemp("ranks")
    built = {}
    for name in tokens.BUNDLED_ENCODINGS:
        local = tmp / f"{name}.tiktoken"
        local.write_bytes(gzip.decompress(_bundled(name)))
        seen = {}

        def load(url, expected_hash=None, _local=local, _seen=seen):
            _seen["url"], _seen["hash"] = url, expected_hash
            return tiktoken.load.load_tiktoken_bpe(str(_local), expected_hash)

        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TIKTOKEN_CACHE_DIR", "")  # "" disables tiktoken's cache
            mp.setattr(openai_public, "load_tiktoken_bpe", load)
            enc = tiktoken.Encoding(**openai_public.ENCODING_CONSTRUCTORS[name]())
        assert seen["url"].endswith(f"/{name}.tiktoken")
        built[name] = (enc, seen["hash"])
    return built


@pytest.mark.parametrize("name", tokens.BUNDLED_ENCODINGS)
def test_bundled_data_matches_tiktoken_pinned_hash(name, reference):
    data = gzip.decompress(_bundled(name))
    digest = hashlib.sha256(data).hexdigest()
    assert digest == reference[name][1] == PINNED_SHA256[name]


@pytest.mark.parametrize("name", tokens.BUNDLED_ENCODINGS)
def test_bundled_gzip_is_deterministic(name):
    raw = _bundled(name)
    assert raw[:3] == b"\x1f\x8b\x08"
    assert raw[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert raw[3] & 0x08 == 0  # no embedded file name


@pytest.mark.parametrize("name", tokens.BUNDLED_ENCODINGS)
def test_encoding_identical_to_tiktoken(name, reference):
    ours, ref = tokens.encoding(name), reference[name][0]
    assert ours.name == ref.name == name
    assert ours._pat_str == ref._pat_str
    assert ours._special_tokens == ref._special_tokens
    assert ours._mergeable_ranks == ref._mergeable_ranks
    assert ours.n_vocab == ref.n_vocab
    assert tokens.encoding(name) is ours  # cached


@pytest.mark.parametrize("name", tokens.BUNDLED_ENCODINGS)
@pytest.mark.parametrize("text", TEXTS)
def test_counts_match_tiktoken(name, text, reference):
    ref = reference[name][0]
    model = {"o200k_base": "openai:gpt-4o", "cl100k_base": "openai:gpt-4"}[name]
    expected = ref.encode(text, disallowed_special=())
    assert tokens.encoding(name).encode(text, disallowed_special=()) == expected
    assert tokens.count_tokens(text, model) == len(expected)


@pytest.mark.parametrize("name", tokens.BUNDLED_ENCODINGS)
def test_cookbook_token_ids(name):
    enc = tokens.encoding(name)
    for text, ids in COOKBOOK_IDS[name].items():
        assert enc.encode(text) == ids, text


def test_known_counts():
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("hello world", "openai:gpt-4") == 2
    assert tokens.count_tokens("") == 0
    assert tokens.count_tokens("tiktoken is great!", "openai:gpt-4o-mini") == 6
    # Special-token strings count as plain text, never as one special token.
    assert tokens.count_tokens("<|endoftext|>", "openai:gpt-4o") == 7
    assert tokens.count_tokens("<|endoftext|>", "openai:gpt-4") == 7
    # Values computed once here; TEXTS covers them against the tiktoken reference too.
    assert tokens.count_tokens("😀") == 1
    assert tokens.count_tokens("😀", "gpt-4") == 2
    assert tokens.count_tokens("مرحبا بالعالم") == 4
    assert tokens.count_tokens("مرحبا بالعالم", "gpt-4") == 10


def test_building_encodings_uses_no_network_or_cache(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(cache))
    tokens._built.clear()
    try:
        for name in tokens.BUNDLED_ENCODINGS:
            assert tokens.encoding(name).encode("offline") != []
        assert tokens.count_tokens("still offline", "openai:gpt-4") == 2
    finally:
        tokens._built.clear()
    assert list(cache.iterdir()) == []


def test_corrupt_bundled_data_is_rejected(monkeypatch):
    good = tokens._bundled_tiktoken_bytes("cl100k_base")
    monkeypatch.setattr(
        tokens,
        "_bundled_tiktoken_bytes",
        lambda name: good.replace(b" 5\n", b" 6\n", 1),
    )
    tokens._built.clear()
    try:
        with pytest.raises(ValueError, match="sha256"):
            tokens.encoding("cl100k_base")
    finally:
        tokens._built.clear()


def test_unbundled_encoding_rejected():
    with pytest.raises(ValueError, match="not bundled"):
        tokens.encoding("p50k_base")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openai:gpt-4o", "o200k_base"),
        ("openai:gpt-4o-mini", "o200k_base"),
        ("openai:gpt-5.4-mini", "o200k_base"),
        ("openai:gpt-4.1-nano", "o200k_base"),
        ("openai:o3-mini", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("openai:gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("openai:gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("openai:text-embedding-ada-002", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("ft:gpt-3.5-turbo:acme::abc123", "cl100k_base"),
        ("openai:ft:gpt-4o-mini:acme::abc123", "o200k_base"),
        ("openai:gpt-oss-20b", "o200k_base"),  # o200k_harmony: same counts
        ("openai:text-davinci-003", "o200k_base"),  # legacy p50k_base: not bundled
        ("anthropic:claude-haiku-4-5", "o200k_base"),
        ("sim:echo", "o200k_base"),
        ("some-unknown-model", "o200k_base"),
    ],
)
def test_encoding_name_for(model, expected):
    assert tokens.encoding_name_for(model) == expected


def test_count_message_tokens_matches_cookbook():
    assert tokens.count_message_tokens(COOKBOOK_MESSAGES, "openai:gpt-4") == 129
    assert tokens.count_message_tokens(COOKBOOK_MESSAGES, "openai:gpt-4o") == 124
    assert tokens.count_message_tokens(COOKBOOK_MESSAGES, "gpt-4o-mini") == 124


def test_count_message_tokens_rule():
    model = "openai:gpt-4o"
    msgs = [{"role": "user", "content": "hello world"}]
    # 3 per message + role + content + 3 reply priming
    assert tokens.count_message_tokens(msgs, model) == 3 + 1 + 2 + 3
    named = [{"role": "user", "name": "bob", "content": "hello world"}]
    assert tokens.count_message_tokens(named, model) == 3 + 1 + 1 + 1 + 2 + 3
    assert tokens.count_message_tokens([], model) == 3
    parts = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hello world"}, {"type": "image_url"}],
        }
    ]
    assert tokens.count_message_tokens(parts, model) == tokens.count_message_tokens(
        msgs, model
    )
    empty = [{"role": "assistant", "content": None}]
    assert tokens.count_message_tokens(empty, model) == 3 + 1 + 3


def test_import_does_not_import_tiktoken():
    code = (
        "import sys, llmops_nb.tokens; sys.exit(1 if 'tiktoken' in sys.modules else 0)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        result.stderr or "importing llmops_nb.tokens imported tiktoken"
    )


def test_threads_starting_together_build_an_encoding_once(monkeypatch):
    """16 threads whose first calls start at once share one build (issue 11.7: each built its
    own, peak RSS 1 GB); functools.cache does not stop that."""
    from tests.concurrency import all_at_once

    built = []
    real = tokens._encoding_kwargs

    def counting(name):
        built.append(name)
        return real(name)

    monkeypatch.setattr(tokens, "_encoding_kwargs", counting)
    saved = dict(tokens._built)
    tokens._built.clear()
    try:
        results = all_at_once(lambda: tokens.encoding("cl100k_base"), threads=16)
    finally:
        tokens._built.clear()
        tokens._built.update(saved)
    assert built == ["cl100k_base"]
    assert len(results) == 16 and all(r is results[0] for r in results)


def test_bundled_ranks_parse_like_tiktokens_own_loader():
    from tiktoken.load import load_tiktoken_bpe

    data = tokens._bundled_tiktoken_bytes("cl100k_base")
    import tiktoken.load as tl

    ranks = tokens._parse_tiktoken_bpe(data)
    original = tl.read_file_cached
    try:
        tl.read_file_cached = lambda *a, **k: data  # tiktoken's parser on the same bytes
        assert ranks == load_tiktoken_bpe("cl100k_base.tiktoken")
    finally:
        tl.read_file_cached = original


# --- the pre-call size: a free bound, an exact count only where a limit needs it -------------

@pytest.mark.parametrize("name", tokens.BUNDLED_ENCODINGS)
def test_utf8_bytes_bound_every_text(name):
    """No text has more tokens than UTF-8 bytes (lone surrogates included), so the bound holds."""
    model = {"o200k_base": "openai:gpt-4o", "cl100k_base": "openai:gpt-4"}[name]
    for text in [*TEXTS, "a" * 5000, "😀" * 300, "\ud800\udfff" * 10]:
        msgs = [{"role": "user", "content": text}, {"role": "assistant", "name": "x", "content": text[:7]}]
        assert tokens.count_message_tokens(msgs, model) <= tokens.message_tokens_at_most(msgs)


FRESH = ("import sys, json; sys.path.insert(0, {root!r}); from llmops_nb import tokens\n"
         "size = tokens.PromptTokens([{{'role': 'user', 'content': 'Say hello'}}], 'openai:gpt-4o')\n"
         "{body}\n"
         "print(json.dumps({{'built': sorted(tokens._built), 'tiktoken': 'tiktoken' in sys.modules, 'out': out}}))")


def _fresh(body: str) -> dict:
    out = subprocess.run([sys.executable, "-c", FRESH.format(root=str(REPO_ROOT), body=body)],
                         capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    import json

    return json.loads(out.stdout)


def test_a_prompt_far_from_the_limit_builds_no_encoding():
    got = _fresh("out = [size.exceeds(128000), size.at_most, size.counted]")
    assert got == {"built": [], "tiktoken": False, "out": [False, 3 + 3 + 4 + 9, None]}


def test_a_prompt_near_the_limit_is_counted_exactly():
    # the bound (19) is above 10, so the answer needs the exact count (3 + 3 + 1 + 2 = 9)
    got = _fresh("out = [size.exceeds(10), size.exceeds(8), size.counted]")
    assert got == {"built": ["o200k_base"], "tiktoken": True, "out": [False, True, 9]}


def test_counted_is_free_once_an_encoding_exists():
    tokens.encoding("o200k_base")
    size = tokens.PromptTokens([{"role": "user", "content": "Say hello"}], "openai:gpt-4o")
    assert size.counted == size.exact == 9 and size.at_most == 19
    assert tokens.PromptTokens.of(42).exact == 42
