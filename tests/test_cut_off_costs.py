"""An answer cut off mid-stream was billed for what the model generated: the call's record, the
spend, the budgets and the run's totals count it, estimated from the text received (the
provider's usage comes with the end of an answer, so it never arrives) — never the text itself.
Through the real openai SDK against the fake server."""

from __future__ import annotations

import pytest

from llmops_nb import groups
from llmops_nb.pricing import price_of
from llmops_nb.run_totals import RunTotals
from llmops_nb.session import session
from llmops_nb.tokens import count_message_tokens, count_tokens
from llmops_nb.types import Usage

MODEL = "openai:gpt-5.4-mini"
PROMPT = "Write a long story about a lighthouse keeper."
CHUNKS = ["Once upon ", "a time, ", "a keeper ", "named Ada ", "kept the light ", "burning."]


def _estimate(received: str) -> tuple[int, int, float]:
    tokens_in = count_message_tokens([{"role": "user", "content": PROMPT}], MODEL)
    tokens_out = count_tokens(received, MODEL)
    return tokens_in, tokens_out, price_of(Usage(input_tokens=tokens_in, output_tokens=tokens_out), MODEL).cost_usd


def test_an_interrupted_stream_is_recorded_and_spent_as_estimated(llm, openai_env) -> None:
    openai_env.reply("".join(CHUNKS), chunks=CHUNKS, prompt_tokens=999, completion_tokens=999)
    received: list[str] = []

    def stop_after_three(piece: str) -> None:
        received.append(piece)
        if len(received) == 3:
            raise KeyboardInterrupt  # the user stops the cell

    with groups.group("interrupted") as g, pytest.raises(KeyboardInterrupt):
        llm.complete(MODEL, PROMPT, stream=True, on_text=stop_after_three, cache=False)
    tokens_in, tokens_out, cost = _estimate("".join(received))
    s = llm.spend()
    assert (s["calls"], s["input_tokens"], s["output_tokens"]) == (1, tokens_in, tokens_out)
    assert s["spent_usd"] == pytest.approx(cost) and s["estimated_usd"] == pytest.approx(cost)
    assert session().group_spent(g.id) == pytest.approx(cost)
    llm.flush()
    row = llm.history(1).iloc[0]
    assert (row.status, row.error_type, row.input_tokens, row.output_tokens) == ("ERROR", "KeyboardInterrupt",
                                                                                tokens_in, tokens_out)
    assert row.cost_usd == pytest.approx(cost)
    record = session().recent_calls()[-1]
    assert record.usage_estimated and "cut off mid-answer after 27 characters" in record.notes[-1]
    assert "Once upon" not in record.to_json()  # the text received is not kept: no guardrail has read it
    totals = RunTotals()
    totals.add(record)
    assert totals.metrics()["cost_usd"] == pytest.approx(cost)


def test_a_dropped_stream_then_retried_counts_both(llm, openai_env) -> None:
    llm.configure(retries=1)
    openai_env.reply("".join(CHUNKS), chunks=CHUNKS, disconnect_after=2)
    openai_env.reply("A short story.", prompt_tokens=40, completion_tokens=5)
    c = llm.complete(MODEL, PROMPT, stream=True, cache=False)
    assert c.text == "A short story." and [a["ok"] for a in c.attempts] == [False, True]
    _, _, cut_cost = _estimate("".join(CHUNKS[:2]))
    s = llm.spend()
    assert s["calls"] == 1 and s["spent_usd"] == pytest.approx(c.cost_usd + cut_cost)
    assert s["estimated_usd"] == pytest.approx(cut_cost)
    record = session().recent_calls()[-1]
    assert record.cost_usd == pytest.approx(c.cost_usd) and not record.usage_estimated  # the answer's own
    assert "1 attempt cut off mid-answer" in record.notes[-1]
    totals = RunTotals()
    totals.add(record)
    assert totals.metrics()["cost_usd"] == pytest.approx(c.cost_usd + cut_cost)
    llm.flush()
    assert llm.history(1).iloc[0].cost_usd == pytest.approx(c.cost_usd)


def test_an_attempt_that_failed_before_any_text_costs_nothing(llm, openai_env) -> None:
    llm.configure(retries=1)
    openai_env.error(500).reply("Fine.", prompt_tokens=10, completion_tokens=2)
    c = llm.complete(MODEL, "hello", cache=False)
    assert "cut_off" not in c.attempts[0] and llm.spend()["estimated_usd"] == 0.0
    assert llm.spend()["spent_usd"] == pytest.approx(c.cost_usd)
