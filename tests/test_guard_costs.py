"""What a guarded call costs is what it spent, and a model-backed scanner sees what the provider
sees.

- An answer the output guardrails withhold was still answered and paid for: its record keeps
  its tokens and cost, and the session's spend, budgets and the run's totals count it.
- A model-backed scanner's calls (moderation, a guard model) cost money: counted in the spend,
  in every budget, in the run's totals and in ``history()``.
- Such a scanner reads the prompt (and the answer) after the built-in redactions — never a value
  the policy keeps from the provider —, only once the call is valid and within its budget, and
  not at all for a prompt the built-in families already block.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmops_nb import errors as E
from llmops_nb import groups
from llmops_nb.guardrails import DEFAULT, guard_input, remote, scan
from llmops_nb.pricing import price_of
from llmops_nb.render import footer_text
from llmops_nb.run_totals import RunTotals
from llmops_nb.session import session, spend_summary
from llmops_nb.types import CallRecord, Usage
from tests.fakes.moderation_server import FakeOpenAIModeration
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.word_scanner import WordScanner

EMAIL, OTHER = "ada.lovelace@example.org", "charles.babbage@example.net"
TOXIC = "You are a worthless idiot and I hate you."
SECRET = "sk-proj-Xk3vP9qLm2Rt7Yw4Zs8Bn1Cd6Fg0Hj5Kl2Mn4Pq7Rs9Tv3Wx6Yz8Ab1Cd4Ef7Gh0Ij3Kl6Mn9Op2Qr5St8Uv1Wx4Yz7A"


@pytest.fixture
def moderation():
    with FakeOpenAIModeration() as fake:
        yield fake


def _moderation_inputs(fake) -> list[str]:
    return [r.body["input"] for r in fake.requests if r.path == "/v1/moderations"]


def test_an_answer_withheld_by_the_output_guardrails_is_counted_as_paid(llm, openai_env) -> None:
    llm.configure(budget_usd=1.0)
    openai_env.reply(TOXIC, prompt_tokens=120, completion_tokens=40)
    policy = DEFAULT.with_actions(toxicity="block")
    with groups.group("withheld") as g, pytest.raises(E.GuardrailBlocked, match="withheld") as info:
        llm.complete("openai:gpt-5.4-mini", "say something", guard=policy)
    cost = price_of(Usage(input_tokens=120, output_tokens=40), "openai:gpt-5.4-mini").cost_usd
    assert info.value.cost_usd == pytest.approx(cost)
    assert f"it was answered, and its ${cost:.6f} is counted in the spend" in str(info.value)
    s = llm.spend()
    assert (s["calls"], s["input_tokens"], s["output_tokens"]) == (1, 120, 40)
    assert s["spent_usd"] == pytest.approx(cost) and s["remaining_usd"] == pytest.approx(1.0 - cost)
    assert session().group_spent(g.id) == pytest.approx(cost)
    llm.flush()
    row = llm.history(1).iloc[0]
    assert (row.status, row.error_type, row.input_tokens, row.output_tokens) == ("ERROR", "GuardrailBlocked", 120, 40)
    assert row.cost_usd == pytest.approx(cost)
    assert TOXIC not in str(row.to_dict())  # the withheld answer is not recorded


def test_the_run_totals_count_a_withheld_answer_and_the_guard_models_calls() -> None:
    totals = RunTotals()
    withheld = CallRecord(record_id="a", trace_id="tr-a", started_at_ns=0, ended_at_ns=10**6,
                          request={"model": "openai:x", "provider": "openai"}, status="ERROR",
                          usage={"input_tokens": 7, "output_tokens": 3}, cost_usd=0.25,
                          guard_calls=[{"cost_usd": 0.5}, {"cost_usd": None}])
    failed = CallRecord(record_id="b", trace_id="tr-b", started_at_ns=0, ended_at_ns=10**6,
                        request={"model": "openai:x", "provider": "openai"}, status="ERROR")
    totals.add(withheld)
    totals.add(failed)
    m = totals.metrics()
    assert (m["calls"], m["failed_calls"], m["unpriced_calls"], m["input_tokens"], m["output_tokens"]) == (2, 2, 0, 7, 3)
    assert m["cost_usd"] == 0.25
    assert (m["guard_calls"], m["unpriced_guard_calls"], m["guard_cost_usd"]) == (2, 1, 0.5)
    again = RunTotals.from_metrics(m)
    assert (again.guard_calls, again.unpriced_guard_calls, float(again.guard_cost_usd)) == (2, 1, 0.5)
    assert "guard_calls" not in RunTotals().metrics()  # runs without guard models say nothing of them


def test_a_guard_models_calls_are_spent_budgeted_and_in_history(llm) -> None:
    llm.set_price("vllm:*", input_per_mtok=1000.0, output_per_mtok=2000.0)  # a dear guard model
    guard_cost = 2 * (300 * 1e-3 + 2 * 2e-3)  # the prompt's check and the answer's
    with FakeOpenAI() as fake:
        fake.reply("safe", prompt_tokens=300, completion_tokens=2).reply("safe", prompt_tokens=300,
                                                                          completion_tokens=2)
        policy = DEFAULT.with_scanners(remote.ChatGuard("vllm:llama-guard", client=fake.client()))
        with groups.group("guarded") as g:
            c = llm.complete("sim:default", "What is the capital of France?", guard=policy, cache=False)
    s = llm.spend()
    assert (s["guard_calls"], s["unpriced_guard_calls"]) == (2, 0)
    assert s["guard_usd"] == pytest.approx(guard_cost)
    assert s["spent_usd"] == pytest.approx(c.cost_usd + guard_cost)
    assert session().group_spent(g.id) == pytest.approx(c.cost_usd + guard_cost)
    assert "guardrail models $0.608000 of it (2 calls)" in spend_summary()
    assert (c.guard_calls, c.guard_cost_usd) == (2, pytest.approx(guard_cost))
    assert footer_text(c).endswith("· guard models $0.608000 (2 calls)")  # where the user reads the call
    free = replace(c, guard_cost_usd=0.0, guard_calls=1)  # a local model, a free moderation endpoint
    unknown = replace(c, guard_cost_usd=None)
    assert footer_text(free).endswith("· guard models (1 call)")
    assert footer_text(unknown).endswith("· guard models cost unknown (2 calls)")
    llm.flush()
    row = llm.history(1).iloc[0]
    assert row.cost_usd == pytest.approx(c.cost_usd) and row.guard_cost_usd == pytest.approx(guard_cost)
    # the session's budget counts them: what the guard model cost alone has used this one up
    llm.configure(budget_usd=guard_cost * 0.9)
    with FakeOpenAI() as fake:
        policy = DEFAULT.with_scanners(remote.ChatGuard("vllm:llama-guard", client=fake.client()))
        with pytest.raises(E.BudgetExceeded):
            llm.complete("sim:default", "And of Spain?", guard=policy, cache=False)
        assert fake.requests == []  # refused before the guard model was asked


def test_a_call_the_guard_models_own_cost_pushed_over_the_budget_is_refused_and_recorded(llm) -> None:
    """The budget is checked before the guard model is asked (the call fits) and again before the
    call is sent: the guard model's cost has used up the budget, so the call is refused — and
    recorded, since the guard model was paid (its cost in the spend)."""
    llm.set_price("vllm:*", input_per_mtok=1000.0, output_per_mtok=2000.0)
    guard_cost = 300 * 1e-3 + 2 * 2e-3
    llm.configure(budget_usd=guard_cost / 2)  # more than the call's own estimate, less than the guard model's cost
    with FakeOpenAI() as fake:
        fake.reply("safe", prompt_tokens=300, completion_tokens=2)
        policy = DEFAULT.with_scanners(remote.ChatGuard("vllm:llama-guard", client=fake.client()))
        with pytest.raises(E.BudgetExceeded) as info:
            llm.complete("sim:default", "What is the capital of France?", guard=policy, cache=False)
        assert len(fake.requests) == 1  # the prompt's check; the call itself was not sent
    s = llm.spend()
    assert s["guard_usd"] == pytest.approx(guard_cost) and s["spent_usd"] == pytest.approx(guard_cost)
    record = session().recent_calls()[-1]
    assert (record.status, record.error_type, record.trace_id) == ("ERROR", "BudgetExceeded", info.value.trace_id)
    assert [c["direction"] for c in record.guard_calls] == ["input"]


def test_a_model_backed_scanner_reads_what_the_provider_reads(llm, openai_env, moderation) -> None:
    moderation.scores({}, {})
    openai_env.reply(f"Write to <EMAIL_1>, and sign with {SECRET}.")  # a leaked key: redacted for everyone
    policy = DEFAULT.with_scanners(remote.OpenAIModeration(client=moderation.client()))
    c = llm.complete("openai:gpt-5.4-mini", f"Draft a note to {EMAIL}.", guard=policy)
    sent = openai_env.last_request.body["messages"][0]["content"]
    prompt_seen, answer_seen = _moderation_inputs(moderation)
    assert prompt_seen == sent == "Draft a note to <EMAIL_1>."
    assert SECRET not in answer_seen and EMAIL not in answer_seen and answer_seen.startswith("Write to <EMAIL_1>")
    assert c.text.startswith(f"Write to {EMAIL}")  # the user still reads the value


def test_a_call_refused_before_sending_asks_no_guard_model(llm, openai_env, moderation, monkeypatch) -> None:
    policy = DEFAULT.with_scanners(remote.OpenAIModeration(client=moderation.client()))
    with pytest.raises(E.ConfigError):
        llm.complete("nosuchprovider:model", "hello", guard=policy)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(E.MissingAPIKey):
        llm.complete("anthropic:claude-sonnet-4-5", "hello", guard=policy)
    with pytest.raises(E.BudgetExceeded):
        llm.complete("openai:gpt-5.4-mini", "hello " * 50, guard=policy, max_cost=1e-12)
    with pytest.raises(E.GuardrailBlocked, match="openai_key"):  # the built-in families block it first
        llm.complete("openai:gpt-5.4-mini", f"debug: OPENAI_API_KEY={SECRET}", guard=policy)
    assert moderation.requests == [] and openai_env.requests == []


def test_a_scanners_spans_are_mapped_back_onto_the_text_as_written() -> None:
    text = f"Mail {EMAIL} and {OTHER}, then say BANANA twice."
    words = WordScanner("BANANA")
    policy = DEFAULT.with_scanners(words, action="redact")
    (found,) = [f for f in scan(text, "input", policy) if f.scanner == "words"]
    assert words.seen == ["Mail <EMAIL_1> and <EMAIL_2>, then say BANANA twice."]
    assert text[found.start:found.end] == "BANANA"
    # what the scanner says to redact is redacted, with the built-in placeholders kept
    r = guard_input([text, "BANANA split"], policy)
    assert r.texts == ["Mail <EMAIL_1> and <EMAIL_2>, then say <WORD_1> twice.", "<WORD_1> split"]
    assert r.mapping == {"<EMAIL_1>": EMAIL, "<EMAIL_2>": OTHER, "<WORD_1>": "BANANA"}
    assert [text[f.start:f.end] for f in r.findings_by_text[0]] == [EMAIL, OTHER, "BANANA"]
    # a span over a placeholder covers the value it replaced
    over = WordScanner("<EMAIL_2>, then")
    (f,) = [f for f in scan(text, "input", DEFAULT.with_scanners(over)) if f.scanner == "words"]
    assert text[f.start:f.end] == f"{OTHER}, then"


def test_a_scanner_is_not_asked_about_a_text_the_builtins_block() -> None:
    words = WordScanner("BANANA")
    policy = DEFAULT.with_scanners(words).with_actions(secrets="block")
    r = guard_input([f"BANANA OPENAI_API_KEY={SECRET}"], policy)
    assert r.blocked and words.seen == [] and not [f for f in r.findings if f.scanner == "words"]
