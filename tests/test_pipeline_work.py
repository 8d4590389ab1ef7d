"""The work one call does, counted: each text is scanned once (a streamed answer at its end, not
per chunk), the cache key is made once, budgets are read only when there is one."""

from __future__ import annotations

import threading
import uuid

from llmops_nb import guardrails, pipeline
from llmops_nb.session import Session

MODEL = "openai:gpt-5.4-mini"


def _counting(monkeypatch, owner, name):  # type: ignore[no-untyped-def]
    """Calls of owner.name made by this test's thread (an earlier test's warm-up thread may poll
    the session in the background; its reads are not the call's work)."""
    calls = []
    real = getattr(owner, name)
    mine = threading.current_thread()

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread() is mine:
            calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_streamed_call_scans_its_input_and_its_answer_once(llm, openai_env, monkeypatch):
    inputs = _counting(monkeypatch, guardrails, "guard_input")
    outputs = _counting(monkeypatch, guardrails, "guard_output")
    pieces = []
    prompt = f"Say these words back {uuid.uuid4().hex} one two three four five six"
    c = llm.complete(MODEL, prompt, stream=True, cache=False, on_text=pieces.append)
    assert len(pieces) > 8  # streamed in many chunks
    assert len(inputs) == 1 and len(outputs) == 1
    assert outputs[0][0] == c.text  # the whole answer, once, at its end


def test_a_cache_miss_makes_its_key_once(llm, openai_env, monkeypatch):
    keys = _counting(monkeypatch, pipeline, "cache_key")
    first = llm.complete(MODEL, f"a new prompt {uuid.uuid4().hex}")  # lookup (miss), call, store
    assert not first.cached and len(keys) == 1
    again = llm.complete(MODEL, first.text.removeprefix("echo: "))  # the same prompt: a hit
    assert again.cached and len(keys) == 2


def test_a_call_without_budgets_does_not_read_the_spend(llm, openai_env, monkeypatch):
    spends = _counting(monkeypatch, Session, "spend")
    llm.complete(MODEL, "no budget anywhere", cache=False)
    assert spends == []
    llm.complete(MODEL, "a call's own budget", cache=False, max_cost=1.0)
    llm.configure(budget_usd=5.0)
    llm.complete(MODEL, "a session budget", cache=False)
    assert len(spends) == 2  # a budget is checked against what was spent
