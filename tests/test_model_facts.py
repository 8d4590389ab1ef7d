"""What genai-prices knows besides prices: context windows (checked before sending, for model
ids as for routes) and deprecated models (a warning once per session, listed for %llm models)."""

from __future__ import annotations

import warnings

import pytest
from genai_prices.data_snapshot import get_snapshot

from llmops_nb import errors as E
from llmops_nb import pricing, routing
from llmops_nb.config import settings
from llmops_nb.providers import register_endpoint, unregister_provider

BIG_PROMPT = "word " * 420_000  # 420,000 tokens with the o200k encoding


def _genai_window(provider_id: str, name: str) -> int:
    return get_snapshot().find_provider_model(name, None, provider_id, None)[1].context_window


def test_windows_come_from_genai_prices(llm):
    assert routing.context_window("openai:gpt-4o-mini", settings()) == _genai_window("openai", "gpt-4o-mini")
    assert routing.context_window("anthropic:claude-haiku-4-5", settings()) == _genai_window(
        "anthropic", "claude-haiku-4-5")
    assert routing.context_window("sim:gpt-5.4-mini", settings()) == _genai_window("openai", "gpt-5.4-mini")
    assert routing.context_window("vllm:my-model", settings()) is None
    llm.configure(context_windows={"openai:gpt-4o*": 1000})
    assert routing.context_window("openai:gpt-4o-mini", settings()) == 1000  # the user's value wins


def test_a_prompt_larger_than_the_window_of_a_model_id_is_refused_before_sending(llm, openai_env):
    with pytest.raises(E.ContextWindowExceeded, match=r"window of 128,000 tokens.*Nothing was sent") as info:
        llm.complete("openai:gpt-4o-mini", BIG_PROMPT)
    assert info.value.window == 128_000 and info.value.prompt_tokens > 400_000
    assert isinstance(info.value, E.ConfigError)
    assert openai_env.requests == []


def test_max_tokens_beyond_the_window_is_refused_before_sending(llm, openai_env, anthropic_env):
    with pytest.raises(E.ContextWindowExceeded, match=r"1,000,000 max_tokens"):
        llm.complete("openai:gpt-4o-mini", "hi", max_tokens=1_000_000)
    with pytest.raises(E.ContextWindowExceeded, match="window of 200,000"):
        llm.complete("anthropic:claude-haiku-4-5", "hi", max_tokens=300_000)
    assert openai_env.requests == [] and anthropic_env.requests == []
    assert llm.complete("openai:gpt-4o-mini", "hi", max_tokens=1000).text == "echo: hi"  # fits: sent


def test_the_magic_refuses_it_too(ip, openai_env):
    with pytest.raises(E.ContextWindowExceeded):
        ip.run_cell_magic("llm", "openai:gpt-4o-mini --max-tokens 1000000", "hi")
    assert openai_env.requests == []


def test_an_unknown_window_is_not_checked_and_a_note_says_so(llm, fake_openai, monkeypatch):
    monkeypatch.setenv("VLLM_KEY", "sk-vllm-0123456789SECRET")
    register_endpoint("vllm", fake_openai.base_url, api_key_env="VLLM_KEY")
    try:
        c = llm.complete("vllm:my-model", "hi", max_tokens=1_000_000)
        assert c.text == "echo: hi"
        assert any("context window of vllm:my-model is unknown" in n for n in c.notes)
        llm.configure(context_windows={"vllm:*": 32_768})
        with pytest.raises(E.ContextWindowExceeded, match="32,768"):
            llm.complete("vllm:my-model", "hi", max_tokens=1_000_000)
        assert not any("context window" in n for n in llm.complete("vllm:my-model", "hi again").notes)
    finally:
        unregister_provider("vllm")


def test_routes_use_the_same_windows(llm):
    llm.configure(routes={"r": ["sim:gpt-4o-mini", "sim:gpt-4.1-mini"]})
    c = llm.complete("route:r", BIG_PROMPT[:600_000])  # ~120k tokens + the answer's max_tokens
    assert c.model == "sim:gpt-4o-mini"
    c = llm.complete("route:r", BIG_PROMPT)
    assert c.model == "sim:gpt-4.1-mini" and "skipped sim:gpt-4o-mini (window 128,000" in c.route_reason


# --- deprecated models ----------------------------------------------------------------------------

def test_genai_prices_deprecation_and_replacement_data():
    tiny = pricing.model_facts("sim:mistral-tiny")  # "Recommended replacement is the newer Ministral 8B"
    assert tiny.deprecated and tiny.replacement == "sim:ministral-8b"
    assert not pricing.model_facts("sim:ministral-8b").deprecated
    flash = pricing.model_facts("sim:gemini-2.0-flash")
    assert flash.deprecated and flash.replacement is None  # the data names none
    assert not pricing.model_facts("openai:gpt-4o-mini").deprecated
    assert pricing.model_facts("sim:default") is None


def test_a_deprecated_model_warns_once_per_session_naming_its_replacement(llm):
    with pytest.warns(pricing.DeprecatedModelWarning, match="sim:mistral-tiny is deprecated.*use sim:ministral-8b"):
        c = llm.complete("sim:mistral-tiny", "hello")
    assert c.text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        llm.complete("sim:mistral-tiny", "hello again")  # once per session: no second warning
    llm.configure()  # configure() starts a new session: it warns again
    with pytest.warns(pricing.DeprecatedModelWarning):
        llm.complete("sim:mistral-tiny", "a new session")


def test_the_warning_points_at_the_callers_code(llm):
    with pytest.warns(pricing.DeprecatedModelWarning) as record:
        llm.complete("sim:gemini-2.0-flash", "hi")
    assert record[0].filename == __file__
    assert "names no replacement" in str(record[0].message)


def test_a_route_with_a_deprecated_model_warns_even_when_another_answers(llm):
    llm.configure(routes={"old": ["sim:default", "sim:gemini-2.0-flash"]})
    with pytest.warns(pricing.DeprecatedModelWarning, match="sim:gemini-2.0-flash"):
        assert llm.complete("route:old", "hi").model == "sim:default"


def test_deprecated_models_of_the_session_are_listed(llm, ip, capsys):
    llm.configure(routes={"old": ["sim:default", "sim:mistral-tiny"]}, default_model="sim:gemini-2.0-flash")
    with pytest.warns(pricing.DeprecatedModelWarning):
        llm.complete("sim:devstral-small", "hi")  # a model the session called
    from llmops_nb.session import session

    rows = pricing.deprecated_models(session().models_in_use())
    assert [(r["model"], r["replacement"]) for r in rows] == [
        ("sim:gemini-2.0-flash", ""), ("sim:mistral-tiny", "sim:ministral-8b"), ("sim:devstral-small", "")]
    capsys.readouterr()
    providers = ip.run_line_magic("llm", "models")
    shown = capsys.readouterr().out
    assert "sim:mistral-tiny" in shown and "sim:ministral-8b" in shown
    assert "sim" in set(providers["provider"])


def test_prompt_and_max_tokens_that_each_fit_are_sent_even_if_their_sum_does_not(llm, openai_env):
    llm.configure(context_windows={"openai:gpt-4o-mini": 1000})
    c = llm.complete("openai:gpt-4o-mini", "word " * 600, max_tokens=600)  # the server may cut the answer
    assert c.text and len(openai_env.requests) == 1
    with pytest.raises(E.ContextWindowExceeded):
        llm.complete("openai:gpt-4o-mini", "word " * 1000, max_tokens=10)  # the prompt alone does not fit
    llm.configure(routes={"r": ["openai:gpt-4o-mini", "sim:default"]})
    assert llm.complete("route:r", "word " * 600, max_tokens=600).model == "sim:default"  # a route skips it
