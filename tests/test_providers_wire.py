"""The real openai and anthropic SDKs, driven by complete(), against local fake servers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llmops_nb import errors as E
from llmops_nb.config import settings
from llmops_nb.providers import register_endpoint, unregister_provider
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY

# genai-prices' published rates (USD per million tokens) used to check the arithmetic.
GPT_54_MINI = {"input": 0.75, "cached": 0.075, "output": 4.5}
HAIKU_45 = {"input": 1.0, "read": 0.1, "write": 1.25, "output": 5.0}


def _trace(trace_id: str):
    import mlflow

    return mlflow.MlflowClient(settings().tracking_uri).get_trace(trace_id)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_exact_usage_and_cache_aware_cost(llm, openai_env, stream):
    openai_env.reply("Paris is the capital.", prompt_tokens=1200, cached_tokens=1000,
                     completion_tokens=6, chunk_delay=0.02)
    c = llm.complete("openai:gpt-5.4-mini", "Capital of France?", stream=stream, cache=False)

    assert c.text == "Paris is the capital."
    assert (c.usage.input_tokens, c.usage.output_tokens, c.usage.cache_read_tokens) == (1200, 6, 1000)
    expected = (200 * GPT_54_MINI["input"] + 1000 * GPT_54_MINI["cached"] + 6 * GPT_54_MINI["output"]) / 1e6
    assert c.cost_usd == pytest.approx(expected, rel=1e-9)
    assert c.provider == "openai" and c.model == "openai:gpt-5.4-mini"
    if stream:
        assert c.ttft_s is not None and 0 < c.ttft_s < c.latency_s
        body = openai_env.last_request.body
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    else:
        assert c.ttft_s is None

    llm.flush()
    span = _trace(c.trace_id).data.spans[0]
    assert span.get_attribute("mlflow.chat.tokenUsage")["input_tokens"] == 1200
    assert span.get_attribute("mlflow.chat.tokenUsage")["cache_read_input_tokens"] == 1000
    assert span.get_attribute("mlflow.llm.cost")["total_cost"] == pytest.approx(expected)
    row = llm.history(1).iloc[0]
    assert (row.input_tokens, row.output_tokens, row.status) == (1200, 6, "OK")
    assert row.cost_usd == pytest.approx(expected)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_exact_usage_and_cache_aware_cost(llm, anthropic_env, stream):
    anthropic_env.reply("Bonjour.", prompt_tokens=50, cached_tokens=400, cache_creation_tokens=100,
                        completion_tokens=3, chunk_delay=0.02)
    c = llm.complete("anthropic:claude-haiku-4-5", "Say hello in French", system="Be brief",
                     stream=stream, cache=False)

    assert c.text == "Bonjour."
    # Anthropic reports cached input apart; ours includes it.
    assert c.usage.input_tokens == 550
    assert (c.usage.cache_read_tokens, c.usage.cache_write_tokens, c.usage.output_tokens) == (400, 100, 3)
    expected = (50 * HAIKU_45["input"] + 400 * HAIKU_45["read"] + 100 * HAIKU_45["write"]
                + 3 * HAIKU_45["output"]) / 1e6
    assert c.cost_usd == pytest.approx(expected, rel=1e-9)
    body = anthropic_env.last_request.body
    assert body["system"] == "Be brief" and body["max_tokens"] == 4096
    if stream:
        assert c.ttft_s is not None and 0 < c.ttft_s < c.latency_s
    llm.flush()
    assert llm.history(1).iloc[0].input_tokens == 550


def test_cache_hit_sends_nothing_and_costs_nothing(llm, openai_env):
    first = llm.complete("openai:gpt-5.4-mini", "cache me", temperature=0.2)
    sent = len(openai_env.requests)
    second = llm.complete("openai:gpt-5.4-mini", "cache me", temperature=0.2, stream=True)

    assert len(openai_env.requests) == sent == 1
    assert second.cached and second.text == first.text
    assert second.cost_usd == 0 and second.saved_usd == pytest.approx(first.cost_usd)
    assert second.original_latency_s == pytest.approx(first.latency_s)
    assert second.latency_s < first.latency_s
    llm.flush()
    rows = llm.history(2)
    assert rows.cached.tolist() == [True, False]


def test_failed_call_is_recorded_with_its_error_and_retry_after(llm, openai_env):
    openai_env.error(429, retry_after=7)
    with pytest.raises(E.RateLimited) as info:
        llm.complete("openai:gpt-5.4-mini", "hi")
    assert info.value.retry_after == 7 and info.value.status == 429
    llm.flush()
    row = llm.history(1).iloc[0]
    assert row.status == "ERROR" and "429" in row.error
    trace = llm.history(1).trace_id[0]
    assert str(_trace(trace).info.state).endswith("ERROR")


@pytest.mark.parametrize("status,kind", [(400, E.BadRequest), (401, E.AuthenticationFailed),
                                         (404, E.BadRequest), (500, E.ProviderUnavailable),
                                         (503, E.ProviderUnavailable)])
def test_openai_http_errors_map_to_typed_errors(llm, openai_env, status, kind):
    openai_env.error(status)
    with pytest.raises(kind) as info:
        llm.complete("openai:gpt-5.4-mini", "hi", cache=False)
    assert info.value.status == status and info.value.retryable == (status >= 500)


@pytest.mark.parametrize("status,kind", [(429, E.RateLimited), (529, E.ProviderUnavailable),
                                         (401, E.AuthenticationFailed)])
def test_anthropic_http_errors_map_to_typed_errors(llm, anthropic_env, status, kind):
    anthropic_env.error(status, retry_after=2)
    with pytest.raises(kind):
        llm.complete("anthropic:claude-haiku-4-5", "hi", stream=True, cache=False)


def test_mid_stream_disconnect_is_a_connection_error_for_both(llm, openai_env, anthropic_env):
    openai_env.disconnect(after_chunks=1, text="one two three four")
    with pytest.raises(E.ProviderConnectionError):
        llm.complete("openai:gpt-5.4-mini", "hi", stream=True, cache=False)
    anthropic_env.disconnect(after_chunks=1, text="one two three four")
    with pytest.raises(E.ProviderError):
        llm.complete("anthropic:claude-haiku-4-5", "hi", stream=True, cache=False)


def test_timeout_is_typed(llm, openai_env):
    llm.configure(request_timeout_s=0.3)
    openai_env.reply("late", delay=2.0)
    with pytest.raises(E.ProviderTimeout):
        llm.complete("openai:gpt-5.4-mini", "hi", cache=False)


def test_missing_key_names_the_variable_and_sends_nothing(llm, fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(E.MissingAPIKey, match="OPENAI_API_KEY"):
        llm.complete("openai:gpt-5.4-mini", "hi")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(E.MissingAPIKey, match="ANTHROPIC_API_KEY"):
        llm.complete("anthropic:claude-haiku-4-5", "hi")
    assert fake_openai.requests == []


def test_an_endpoint_that_names_its_key_variable_needs_it(llm, fake_openai, monkeypatch):
    monkeypatch.delenv("VLLM_KEY", raising=False)
    register_endpoint("vllm", fake_openai.base_url, api_key_env="VLLM_KEY")
    register_endpoint("local", fake_openai.base_url)  # no variable named: a placeholder key, as before
    try:
        with pytest.raises(E.MissingAPIKey, match="VLLM_KEY"):
            llm.complete("vllm:meta-llama/Llama-3.1-8B", "hi")
        assert fake_openai.requests == []
        assert llm.complete("local:some-model", "hi").text == "echo: hi"
    finally:
        unregister_provider("vllm")
        unregister_provider("local")


def test_registered_openai_compatible_endpoint(llm, fake_openai, monkeypatch):
    monkeypatch.setenv("VLLM_KEY", "sk-vllm-0123456789SECRET")
    register_endpoint("vllm", fake_openai.base_url, api_key_env="VLLM_KEY")
    try:
        fake_openai.reply("from vllm", prompt_tokens=5, completion_tokens=2)
        c = llm.complete("vllm:meta-llama/Llama-3.1-8B", "hi", max_tokens=20)
        assert c.text == "from vllm" and c.provider == "vllm"
        assert c.cost_usd is None and "set_price" in c.notes[0]
        body = fake_openai.last_request.body
        assert body["model"] == "meta-llama/Llama-3.1-8B" and body["max_tokens"] == 20
        llm.set_price("vllm:*", input_per_mtok=0.1, output_per_mtok=0.2)
        fake_openai.reply("again", prompt_tokens=5, completion_tokens=2)
        c2 = llm.complete("vllm:meta-llama/Llama-3.1-8B", "hi again")
        assert c2.cost_usd == pytest.approx((5 * 0.1 + 2 * 0.2) / 1e6)
    finally:
        unregister_provider("vllm")


def test_ollama_preset_needs_no_key_and_points_at_localhost(llm):
    from llmops_nb.providers import get_provider

    p = get_provider("ollama")
    assert p.base_url == "http://localhost:11434/v1" and not p.key_required


def test_openai_sends_max_completion_tokens(llm, openai_env):
    llm.complete("openai:gpt-5.4-mini", "hi", max_tokens=33)
    body = openai_env.last_request.body
    assert body["max_completion_tokens"] == 33 and "max_tokens" not in body
    assert "temperature" not in body  # an omitted parameter is not sent


def test_api_keys_never_reach_the_store_cache_journal_or_errors(llm, openai_env, anthropic_env):
    openai_env.error(401, message=f"Incorrect API key provided: {OPENAI_KEY}")
    with pytest.raises(E.AuthenticationFailed) as info:
        llm.complete("openai:gpt-5.4-mini", "hi")
    assert OPENAI_KEY not in str(info.value)
    llm.complete("openai:gpt-5.4-mini", "hello", stream=True)
    llm.complete("anthropic:claude-haiku-4-5", "hello")
    llm.flush()
    s = settings()
    db = Path(s.tracking_uri.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    blobs = [dump]
    for folder in (s.home, db.parent / "mlartifacts"):
        for f in Path(folder).rglob("*"):
            if f.is_file():
                blobs.append(f.read_bytes().decode("utf-8", "replace"))
    for key in (OPENAI_KEY, ANTHROPIC_KEY, "SECRET"):
        assert not any(key in b for b in blobs), key
    for r in openai_env.requests + anthropic_env.requests:
        assert OPENAI_KEY not in str(r) and ANTHROPIC_KEY not in str(r)


@pytest.mark.parametrize("stream", [False, True])
def test_server_specific_sampling_options_reach_an_openai_compatible_server(llm, fake_openai, monkeypatch, stream):
    register_endpoint("vllm", fake_openai.base_url, api_key_env="VLLM_KEY")
    monkeypatch.setenv("VLLM_KEY", "sk-vllm-0123456789SECRET")
    try:
        c = llm.complete("vllm:Qwen/Qwen3-8B", "hi", stream=stream, max_tokens=20, seed=7, top_k=40, min_p=0.05,
                         repetition_penalty=1.1, chat_template_kwargs={"enable_thinking": False})
        assert c.text == "echo: hi"
        body = fake_openai.last_request.body
        assert (body["top_k"], body["min_p"], body["repetition_penalty"]) == (40, 0.05, 1.1)
        assert body["chat_template_kwargs"] == {"enable_thinking": False}
        assert body["seed"] == 7 and body["max_tokens"] == 20 and body["model"] == "Qwen/Qwen3-8B"
        assert "extra_body" not in body
    finally:
        unregister_provider("vllm")


@pytest.mark.parametrize(("params", "match"), [
    ({"messages": [{"role": "user", "content": "swapped"}]}, "messages cannot be passed"),
    ({"stream_options": {"include_usage": False}}, "stream_options cannot be passed"),
    ({"extra_headers": {"x-a": "b"}, "timeout": 1}, "extra_headers, timeout cannot be passed"),
    ({"top_k": object()}, "top_k=.* cannot be sent as JSON"),
    ({"min_p": float("nan")}, "min_p=nan cannot be sent as JSON"),
])
def test_parameters_that_cannot_be_sent_are_typed_errors_and_nothing_is_sent(llm, openai_env, params, match):
    with pytest.raises(E.ConfigError, match=match):
        llm.complete("openai:gpt-5.4-mini", "hi", **params)
    assert openai_env.requests == []
