"""complete() and acomplete() with the sim provider: messages, determinism, failures, async."""

from __future__ import annotations

import asyncio

import pytest

from llmops_nb import errors as E
from llmops_nb.providers import sim
from llmops_nb.types import Message


def test_same_request_same_answer_and_realistic_usage(llm):
    a = llm.complete("sim:default", "Tell me about caches", cache=False)
    b = llm.complete("sim:default", "Tell me about caches", cache=False, stream=True)
    assert a.text == b.text and a.usage == b.usage
    assert a.usage.input_tokens == llm.count_message_tokens([{"role": "user", "content": "Tell me about caches"}])
    assert a.usage.output_tokens == llm.count_tokens(a.text)
    assert llm.complete("sim:default", "Something else", cache=False).text != a.text


def test_messages_and_system(llm):
    msgs = [{"role": "system", "content": "Be terse"}, {"role": "user", "content": "hi"},
            Message("assistant", "hello"), {"role": "user", "content": "again"}]
    c = llm.complete("sim:echo", msgs)
    assert c.text == "again"
    with pytest.raises(E.ConfigError, match="role"):
        llm.complete("sim:echo", [{"role": "wizard", "content": "x"}])
    with pytest.raises(E.ConfigError, match="role.*content"):
        llm.complete("sim:echo", [{"text": "x"}])


def test_streaming_callback_receives_the_whole_answer(llm):
    pieces = []
    c = llm.complete("sim:default", "stream it", stream=True, on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == c.text
    assert 0 < c.ttft_s < c.latency_s


def test_configurable_latency_and_ttft(llm):
    sim.configure_model("slow", ttft_s=0.2, tokens_per_s=200)
    c = llm.complete("sim:slow", "be slow", stream=True, cache=False)
    assert 0.2 <= c.ttft_s < c.latency_s
    assert c.latency_s >= 0.2 + (c.usage.output_tokens - 8) / 200 * 0.5


@pytest.mark.parametrize("failure,kind", [("429", E.RateLimited), ("500", E.ProviderUnavailable),
                                          ("timeout", E.ProviderTimeout),
                                          ("connection", E.ProviderConnectionError)])
def test_injected_failures(llm, failure, kind):
    sim.configure_model("flaky", failures=[failure, "ok"], retry_after_s=0.5)
    with pytest.raises(kind) as info:
        llm.complete("sim:flaky", "x", cache=False)
    assert info.value.retryable
    assert llm.complete("sim:flaky", "x", cache=False).text


def _outcomes(llm, model: str, count: int) -> list[bool]:
    out = []
    for _ in range(count):
        try:
            llm.complete(model, "x", cache=False)
            out.append(True)
        except E.ProviderUnavailable:
            out.append(False)
    return out


def test_fail_rate_is_seeded(llm):
    sim.configure_model("coin", fail_rate=0.5, seed=3)
    outcomes = _outcomes(llm, "sim:coin", 20)
    sim.configure_model("coin", fail_rate=0.5, seed=3)
    assert _outcomes(llm, "sim:coin", 20) == outcomes and 3 < sum(outcomes) < 17


def test_default_model_and_bad_model_ids(llm):
    assert llm.complete(None, "hi").model == "sim:default"
    for bad in ("gpt-4o", "openai:", ":x"):
        with pytest.raises(E.ConfigError):
            llm.complete(bad, "hi")
    with pytest.raises(E.UnknownProvider, match="register_endpoint"):
        llm.complete("nosuch:model", "hi")


@pytest.mark.parametrize("params,match", [({"temperature": 3}, "temperature"),
                                          ({"temperature": "hot"}, "temperature"),
                                          ({"max_tokens": 0}, "max_tokens"),
                                          ({"max_tokens": 2.5}, "max_tokens")])
def test_bad_parameters_are_refused_before_sending(llm, openai_env, params, match):
    with pytest.raises(E.ConfigError, match=match):
        llm.complete("openai:gpt-5.4-mini", "hi", **params)
    assert openai_env.requests == []


async def test_acomplete_runs_concurrently(llm):
    sim.configure_model("par", ttft_s=0.3, tokens_per_s=10_000)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    results = await asyncio.gather(*[llm.acomplete("sim:par", f"q{i}", cache=False) for i in range(4)])
    assert loop.time() - t0 < 0.9  # four 0.3 s calls overlapped
    assert len({r.trace_id for r in results}) == 4


def test_sim_model_named_after_a_real_one_is_priced_like_it(llm):
    c = llm.complete("sim:gpt-5.4-mini", "price me")
    expected = (c.usage.input_tokens * 0.75 + c.usage.output_tokens * 4.5) / 1e6
    assert c.cost_usd == pytest.approx(expected)


def test_pre_call_estimate_is_counted_offline_and_recorded(llm):
    from llmops_nb.pipeline import prepare

    call = prepare("sim:default", "How many tokens is this?", system="Be exact")
    c = llm.complete("sim:default", "How many tokens is this?", system="Be exact")
    assert call.estimated_input_tokens == c.usage.input_tokens  # sim reports what OpenAI would
    llm.flush()
    import mlflow

    tags = mlflow.MlflowClient(llm.settings().tracking_uri).get_trace(c.trace_id).info.tags
    assert tags["llmops.estimated_input_tokens"] == str(call.estimated_input_tokens)


def _counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_the_same_text_is_not_scanned_twice_and_findings_stay_the_same(llm, monkeypatch):
    """A prompt sent again and an answer served again from the cache reuse their guardrail
    results: same redaction, same findings, no second scan."""
    from llmops_nb import guardrails
    from llmops_nb import pipeline as P

    P._SCANS.clear()
    inputs = _counting(monkeypatch, guardrails, "guard_input")
    outputs = _counting(monkeypatch, guardrails, "guard_output")
    prompt = "Mail ada@example.com about the launch"
    first = llm.complete("sim:default", prompt, guard="default")
    again = llm.complete("sim:default", prompt, guard="default")  # a cache hit
    assert again.cached and len(inputs) == 1 and len(outputs) == 1
    assert again.findings == first.findings and any(f.type == "email" for f in first.findings)
    assert again.recorded_text == first.recorded_text and "ada@example.com" not in first.recorded_text
    llm.complete("sim:default", prompt + "!", guard="default")  # new text: scanned
    assert len(inputs) == 2
    llm.complete("sim:default", prompt, guard="strict", cache=False)  # another policy: scanned
    assert len(inputs) == 3


def test_a_policy_with_extra_scanners_is_always_scanned(llm, monkeypatch):
    from llmops_nb import guardrails
    from llmops_nb import pipeline as P

    class Counter:
        name = "counter"
        seen: list[str] = []

        def scan(self, text, direction):
            Counter.seen.append(direction)
            return []

    P._SCANS.clear()
    policy = guardrails.Policy(name="extra", actions={"counter": "warn"}, scanners=(Counter(),))
    for _ in range(2):
        llm.complete("sim:default", "the same prompt", guard=policy)
    assert Counter.seen == ["input", "output", "input", "output"]


def test_the_prompt_is_counted_once_per_call(llm, monkeypatch):
    from llmops_nb import pipeline as P

    counted = _counting(monkeypatch, P, "estimate_input_tokens")
    c = llm.complete("sim:default", "count me once", cache=False)
    assert len(counted) == 1 and c.usage.input_tokens > 0
