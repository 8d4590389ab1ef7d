"""The pre-call checks (context window, budgets, routes, rules) use the prompt's exact token count
where it decides the outcome, and a free upper bound (UTF-8 bytes) everywhere else: a prompt far
from every limit is sent without building a tokenizer (~0.3 s and ~100 MB in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmops_nb import errors as E
from llmops_nb import routing, tokens

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "word " * 20


def _exact(text: str = PROMPT) -> int:
    return tokens.count_message_tokens([{"role": "user", "content": text}], "sim:x")


FIRST_CALL = (
    "import sys, json, llmops_nb as llm; from llmops_nb import tokens; "
    "c = llm.complete('openai:gpt-5.4-mini', 'Say hello', max_cost=0.5); "
    "print(json.dumps({'text': c.text, 'built': sorted(tokens._built), 'tiktoken': 'tiktoken' in sys.modules}))"
)


def test_a_small_prompt_is_sent_without_building_a_tokenizer(tmp_path, openai_env):
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path), "LLMOPS_TRACKING": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["text"] and got["built"] == [] and got["tiktoken"] is False, got


def test_the_context_window_is_checked_exactly_near_the_limit(llm):
    exact = _exact()
    assert tokens.message_tokens_at_most([{"role": "user", "content": PROMPT}]) > exact + 50
    llm.configure(context_windows={"sim:x": exact + 1})  # under the bound: only the count says it fits
    assert llm.complete("sim:x", PROMPT, cache=False).text
    llm.configure(context_windows={"sim:x": exact})
    with pytest.raises(E.ContextWindowExceeded) as info:
        llm.complete("sim:x", PROMPT, cache=False)
    assert str(exact) in str(info.value)


def test_budgets_are_enforced_with_the_exact_count_where_the_bound_does_not_settle_them(llm):
    exact = _exact()
    llm.set_price("sim:x", input_per_mtok=1_000_000.0, output_per_mtok=0.0)  # $1 per prompt token
    assert llm.complete("sim:x", PROMPT, max_tokens=1, max_cost=exact + 0.5, cache=False).text
    with pytest.raises(E.BudgetExceeded) as info:
        llm.complete("sim:x", PROMPT, max_tokens=1, max_cost=exact - 0.5, cache=False)
    assert info.value.estimate == pytest.approx(exact)


def test_routes_skip_a_model_by_the_exact_count(llm):
    exact = _exact()
    llm.configure(routes={"r": ["sim:small", "sim:big"]}, context_windows={"sim:small": exact + 10})
    assert llm.complete("route:r", PROMPT, max_tokens=10, cache=False).model == "sim:small"
    c = llm.complete("route:r", PROMPT, max_tokens=11, cache=False)
    assert c.model == "sim:big" and f"window {exact + 10:,} < {exact + 11:,} tokens" in c.route_reason


def test_a_routing_rule_sees_the_exact_count(llm):
    seen = []
    llm.configure(routes={"any": ["sim:x"]})
    routing.add_rule(lambda info: seen.append(info.estimated_tokens) or "any")
    llm.complete("route:auto", PROMPT, cache=False)
    assert seen == [_exact()]
