"""Figures true on every surface (issue 12): which limit cut an answer, what the simulator
costs, unknown cost shown as unknown and counted apart, a missing-price note said once."""

from __future__ import annotations

import mlflow
import pytest
from IPython.utils.capture import capture_output

from llmops_nb.config import settings
from llmops_nb.providers import sim
from llmops_nb.render import footer_metadata, footer_text
from llmops_nb.session import spend_summary

# --- 12.3: which limit cut the answer -------------------------------------------------------------

LONG = " ".join(["word"] * 494)  # + 7 tokens of overhead: a 501-token prompt (the fake server's count and ours)


def _trace_tags(c):
    from llmops_nb import flush

    flush()
    return mlflow.MlflowClient(settings().tracking_uri).get_trace(c.trace_id).info.tags


@pytest.mark.parametrize("stream", [False, True])
def test_openai_cut_by_the_context_window_not_max_tokens(llm, openai_env, stream):
    """The issue's case: 501-token prompt, max_tokens=100, a server with a 512-token context."""
    openai_env.context_window = 512
    openai_env.set_default(openai_env.default.__class__(text=" ".join(["word"] * 300)))
    llm.configure(context_windows={"openai:local-model": 512})
    c = llm.complete("openai:local-model", LONG, max_tokens=100, stream=stream)
    assert (c.usage.input_tokens, c.usage.output_tokens, c.finish_reason) == (501, 11, "length")
    assert c.cut_by == "context_window"
    assert "⚠ cut by the context window (input 501 + output 11 = 512)" in footer_text(c)
    assert "max tokens" not in footer_text(c) and "max_tokens" not in footer_text(c)
    meta = footer_metadata(c)
    assert (meta["cut_by"], meta["finish_reason"]) == ("context_window", "length")
    tags = _trace_tags(c)
    assert tags["llmops.cut_by"] == "context_window" and "512" in tags["llmops.cut_detail"]


def test_openai_cut_at_max_tokens(llm, openai_env):
    openai_env.context_window = 512
    openai_env.set_default(openai_env.default.__class__(text=" ".join(["word"] * 300)))
    c = llm.complete("openai:local-model", "short prompt", max_tokens=100)
    assert (c.usage.output_tokens, c.cut_by) == (100, "max_tokens")
    assert "⚠ cut at max_tokens (100)" in footer_text(c)
    assert _trace_tags(c)["llmops.cut_by"] == "max_tokens"


def test_cut_with_no_known_window_says_the_limit_is_unknown(llm, openai_env):
    openai_env.context_window = 512
    openai_env.set_default(openai_env.default.__class__(text=" ".join(["word"] * 300)))
    c = llm.complete("openai:local-model", LONG, max_tokens=100)  # window not configured
    assert c.cut_by == "unknown"
    assert "⚠ cut (limit unknown: input 501 + output 11 = 512, max_tokens 100 not reached)" in footer_text(c)


def test_anthropic_context_window_stop_reason_names_the_window(llm, anthropic_env):
    anthropic_env.context_window = 512
    anthropic_env.set_default(anthropic_env.default.__class__(text=" ".join(["word"] * 300)))
    c = llm.complete("anthropic:claude-haiku-4-5", LONG, max_tokens=100)
    assert (c.finish_reason, c.cut_by) == ("model_context_window_exceeded", "context_window")
    assert "⚠ cut by the context window (input 501 + output 11 = 512)" in footer_text(c)
    short = llm.complete("anthropic:claude-haiku-4-5", "short", max_tokens=5)
    assert (short.finish_reason, short.cut_by) == ("max_tokens", "max_tokens")
    assert "⚠ cut at max_tokens (5)" in footer_text(short)


def test_sim_context_window_and_cached_answers_keep_the_reason(llm):
    sim.configure_model("tiny", context_window=60)
    c = llm.complete("sim:tiny", "word " * 40, max_tokens=100)
    assert c.finish_reason == "length" and c.usage.total_tokens == 60 and c.cut_by == "context_window"
    capped = llm.complete("sim:default", "word " * 40, max_tokens=10)
    assert capped.cut_by == "max_tokens" and "⚠ cut at max_tokens (10)" in footer_text(capped)
    again = llm.complete("sim:default", "word " * 40, max_tokens=10)
    assert again.cached and again.cut_by == "max_tokens"
    assert llm.complete("sim:default", "not cut").cut_by is None


# --- 12.7: what the simulator costs, and a missing-price note once per model --------------------------

def test_sim_is_priced_at_its_reference_price_and_the_footer_says_simulated(llm):
    c = llm.complete("sim:default", "Explain vector databases in three bullet points.")
    per_in, per_out = sim.REFERENCE_PRICE
    assert c.cost_usd == pytest.approx((c.usage.input_tokens * per_in + c.usage.output_tokens * per_out) / 1e6)
    assert c.cost_simulated and c.notes == []
    assert f"· ${c.cost_usd:.6f} simulated ·" in footer_text(c)
    assert footer_metadata(c)["cost_simulated"] is True
    assert _trace_tags(c)["llmops.cost_simulated"] == "true"
    llm.set_price("sim:*", input_per_mtok=1.0, output_per_mtok=1.0)  # a set price is not "simulated"
    priced = llm.complete("sim:default", "another question")
    assert not priced.cost_simulated and "simulated" not in footer_text(priced)
    real = llm.complete("sim:gpt-4o", "priced like the real model")  # sim:<real model>: genai-prices
    assert not real.cost_simulated


def test_missing_price_note_once_per_model_per_session(llm):
    sim.configure_model("np-a", priced=False)
    sim.configure_model("np-b", priced=False)
    first, second = llm.complete("sim:np-a", "one"), llm.complete("sim:np-a", "two")
    other = llm.complete("sim:np-b", "three")
    assert len(first.notes) == 1 and "set_price" in first.notes[0]
    assert second.notes == []  # said once; the footer still says the cost is unknown
    assert "cost unknown" in footer_text(second) and "$0" not in footer_text(second)
    assert len(other.notes) == 1 and "sim:np-b" in other.notes[0]
    assert "set_price" in _trace_tags(second)["llmops.notes"]  # the record keeps the fact
    llm.configure(experiment=settings().experiment)  # configure() keeps the session's notes said
    assert llm.complete("sim:np-a", "four").notes == []


# --- 12.6: unknown cost is unknown everywhere, and counted apart -------------------------------------

def test_spend_summary_counts_unpriced_calls_apart(llm):
    assert spend_summary() == "no calls yet"
    sim.configure_model("np", priced=False)
    llm.complete("sim:np", "one")
    llm.complete("sim:np", "two")
    assert spend_summary() == "2 calls, 2 unpriced (cost unknown)"
    s = llm.spend()
    assert (s["calls"], s["priced_calls"], s["unpriced_calls"]) == (2, 0, 2)
    c = llm.complete("sim:default", "priced")
    assert spend_summary() == f"3 calls · ${c.cost_usd:.6f} · 2 unpriced (not counted: see set_price)"


def test_llm_cost_magic_never_shows_a_silent_zero(ip, llm):
    sim.configure_model("np", priced=False)
    ip.run_cell_magic("llm", "sim:np", "first")
    with capture_output() as cap:
        ip.run_line_magic("llm", "cost")
    assert cap.stdout.startswith("1 call, 1 unpriced (cost unknown) · saved $0.000000 by the cache")


def test_playground_session_line_with_unknown_costs(llm):
    from llmops_nb.widgets.playground import playground

    sim.configure_model("np-a", priced=False)
    sim.configure_model("np-b", priced=False)
    pg = playground(template="Say {{word}}", models=["sim:np-a", "sim:np-b"], variables={"word": "hi"})
    pg.run()
    pg.wait(30)
    assert "session: 2 calls, 2 unpriced (cost unknown)" in pg.status.value
    assert "$0.000000" not in pg.status.value
    assert all("cost unknown" in p.footer for p in pg.panels)


# --- 12.5: comparisons, experiments and cells: the run's cost is the sum of its calls --------------

def _run_metrics(run_id):
    return mlflow.MlflowClient(settings().tracking_uri).get_run(run_id).data.metrics


def _exact_sum(costs):
    from decimal import Decimal

    return float(sum(Decimal(repr(float(c))) for c in costs))


def test_comparison_and_experiment_runs_sum_their_calls(llm):
    from llmops_nb import comparison as C
    from llmops_nb.experiments import Experiment

    llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.6)
    df = C.compare(["sim:a", "sim:b"], ["Say {{v}}"], [{"v": 1}, {"v": 2}, {"v": 3}], progress=False)
    m = _run_metrics(C.wait_logged(df))
    assert m["calls"] == len(df) == 6
    assert m["cost_usd"] == _exact_sum(df.cost_usd) > df.cost_usd.max()
    assert m["output_tokens"] == df.output_tokens.sum()
    exp = Experiment("sums", {"a": "sim:a", "b": "sim:b"}, prompt="Answer: {{q}}")
    exp.run([{"q": "one"}, {"q": "two"}, {"q": "three"}], [lambda out, inp: len(out) > 3])
    m = _run_metrics(exp.log())
    assert m["calls"] == 6 and m["cost_usd"] == _exact_sum(exp.table.cost_usd)


def test_cell_run_sums_the_cells_calls(ip, llm):
    from llmops_nb import flush

    llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.6)
    ip.user_ns["topic"] = "runs"
    with capture_output():
        ip.run_cell_magic("llm", "sim:left sim:right -o cmp", "Explain {{topic}}")
    flush()
    df = ip.user_ns["cmp"]
    client = mlflow.MlflowClient(settings().tracking_uri)
    exp_id = client.get_experiment_by_name(settings().experiment).experiment_id
    (run,) = client.search_runs([exp_id])
    assert run.info.run_name.startswith("cell [")
    assert run.data.metrics["cost_usd"] == _exact_sum(df.cost_usd) and run.data.metrics["calls"] == 2
