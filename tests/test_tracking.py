"""MLflow traces, runs per group, and history read back from the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import pytest

from llmops_nb.config import settings
from llmops_nb.providers import sim
from llmops_nb.tracking import HISTORY_COLUMNS


def _client():
    return mlflow.MlflowClient(settings().tracking_uri)


def _experiment_id():
    return _client().get_experiment_by_name(settings().experiment).experiment_id


def test_one_trace_per_call_with_our_trace_id_and_timing(llm):
    c = llm.complete("sim:default", "trace me", stream=True)
    llm.flush()
    trace = _client().get_trace(c.trace_id)
    info = trace.info
    assert info.trace_id == c.trace_id
    assert info.execution_duration == pytest.approx(c.latency_s * 1000, abs=2)
    assert info.tags["llmops.model"] == "sim:default" and info.tags["llmops.status"] == "OK"
    assert float(info.tags["llmops.ttft_ms"]) == pytest.approx(c.ttft_s * 1000, abs=0.01)
    span = trace.data.spans[0]
    assert span.span_type == "CHAT_MODEL"
    assert span.inputs["messages"] == [{"role": "user", "content": "trace me"}]
    assert span.outputs["choices"][0]["message"] == {"role": "assistant", "content": c.text}
    usage = span.get_attribute("mlflow.chat.tokenUsage")
    assert usage["input_tokens"] == c.usage.input_tokens and usage["output_tokens"] == c.usage.output_tokens
    assert info.token_usage["total_tokens"] == c.usage.total_tokens  # MLflow's own aggregate


def test_cost_standard_attribute_and_trace_cost(llm):
    llm.set_price("sim:*", input_per_mtok=1.0, output_per_mtok=2.0)
    c = llm.complete("sim:default", "what does it cost")
    llm.flush()
    trace = _client().get_trace(c.trace_id)
    cost = trace.data.spans[0].get_attribute("mlflow.llm.cost")
    assert cost["total_cost"] == pytest.approx(c.cost_usd)
    assert cost["output_cost"] == pytest.approx(c.usage.output_tokens * 2.0 / 1e6)
    assert trace.info.cost["total_cost"] == pytest.approx(c.cost_usd)


def test_unknown_price_leaves_cost_out_not_zero(llm):
    sim.configure_model("no-such-model", priced=False)
    c = llm.complete("sim:no-such-model", "price?")
    assert c.cost_usd is None and c.notes
    llm.flush()
    span = _client().get_trace(c.trace_id).data.spans[0]
    assert span.get_attribute("mlflow.llm.cost") is None
    assert llm.history(1).cost_usd.isna().all()


def test_group_is_one_run_holding_its_traces(llm):
    with llm.group("cell [3]"):
        a = llm.complete("sim:default", "one")
        b = llm.complete("sim:default", "two")
    outside = llm.complete("sim:default", "three")
    llm.flush()
    runs = _client().search_runs([_experiment_id()])
    assert [r.info.run_name for r in runs] == ["cell [3]"]
    linked = {t.info.trace_id for t in _client().search_traces(locations=[_experiment_id()],
                                                                 run_id=runs[0].info.run_id)}
    assert linked == {a.trace_id, b.trace_id} and outside.trace_id not in linked
    assert runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["mean_latency_ms"] > 0
    # the UI's Run name column reads the trace's sourceRun metadata
    info = _client().get_trace(a.trace_id).info
    assert info.trace_metadata["mlflow.sourceRun"] == runs[0].info.run_id
    steps = [m.step for m in _client().get_metric_history(runs[0].info.run_id, "call_latency_ms")]
    assert sorted(steps) == [0, 1]


def test_cache_hit_counts_no_tokens_in_mlflow_totals(llm):
    first = llm.complete("sim:default", "count me once")
    hit = llm.complete("sim:default", "count me once")
    llm.flush()
    assert _client().get_trace(first.trace_id).info.token_usage["total_tokens"] == first.usage.total_tokens
    hit_info = _client().get_trace(hit.trace_id).info
    assert (hit_info.token_usage or {}).get("total_tokens", 0) == 0
    assert hit_info.tags["llmops.cached"] == "true"
    assert int(hit_info.tags["llmops.output_tokens"]) == first.usage.output_tokens


def test_failed_call_trace_is_an_error_with_the_exception(llm):
    sim.configure_model("down", failures=["500"])
    with pytest.raises(llm.ProviderError):
        llm.complete("sim:down", "hello")
    llm.flush()
    row = llm.history(1).iloc[0]
    trace = _client().get_trace(row.trace_id)
    assert str(trace.info.state).endswith("ERROR")
    assert trace.info.tags["llmops.error_type"] == "ProviderUnavailable"
    assert trace.data.spans[0].events[0].name == "exception"


def test_history_columns_and_order(llm):
    for i in range(3):
        llm.complete("sim:default", f"q{i}")
    df = llm.history()
    assert list(df.columns) == HISTORY_COLUMNS
    assert len(df) == 3 and df.started_at.is_monotonic_decreasing
    assert len(llm.history(2)) == 2


def test_history_sees_calls_of_other_processes(llm):
    s = settings()
    code = (f"import llmops_nb as l; l.configure(experiment={s.experiment!r}); "
            "l.complete('sim:echo', 'from another kernel'); l.flush()")
    env = {**os.environ, "MLFLOW_TRACKING_URI": s.tracking_uri, "LLMOPS_HOME": str(s.home)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    df = llm.history()
    assert "sim:echo" in df.model.tolist()


def test_tracking_uri_is_absolute_and_user_global_uri_untouched(llm, tmp_path, monkeypatch):
    assert settings().tracking_uri.startswith("sqlite:////")
    ours = settings().tracking_uri
    # mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI: let monkeypatch restore it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ours)
    user_uri = f"sqlite:///{tmp_path}/user.db"
    mlflow.set_tracking_uri(user_uri)
    try:
        c = llm.complete("sim:default", "isolation")
        llm.flush()
        assert mlflow.get_tracking_uri() == user_uri
        assert _client().get_trace(c.trace_id).info.trace_id == c.trace_id  # in our store
    finally:
        mlflow.set_tracking_uri(ours)


# --- a run's figures are the sums of its calls; a trace carries its call's cost (issue 12.5/12.6) ---

def _exact_sum(costs):
    from decimal import Decimal

    return float(sum(Decimal(repr(c)) for c in costs))


def test_group_run_cost_and_tokens_are_the_sums_of_its_calls(llm):
    llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.6)
    llm.set_price("sim:dear", input_per_mtok=2.5, output_per_mtok=10.0)
    sim.configure_model("down", failures=["500"])
    with llm.group("eval"):
        calls = [llm.complete(m, f"question {i}")
                 for i, m in enumerate(["sim:default", "sim:dear", "sim:default", "sim:dear"])]
        hit = llm.complete("sim:default", "question 0")  # cached: $0, no tokens
        with pytest.raises(llm.ProviderError):
            llm.complete("sim:down", "fails")
    llm.flush()
    run = _client().search_runs([_experiment_id()])[0]
    m = run.data.metrics
    assert m["cost_usd"] == _exact_sum([c.cost_usd for c in calls]) > max(c.cost_usd for c in calls)
    assert m["input_tokens"] == sum(c.usage.input_tokens for c in calls)
    assert m["output_tokens"] == sum(c.usage.output_tokens for c in calls)
    assert m["total_tokens"] == m["input_tokens"] + m["output_tokens"]
    assert (m["calls"], m["cached_calls"], m["failed_calls"], m["unpriced_calls"]) == (6, 1, 1, 0)
    assert m["simulated_calls"] == 0  # set prices, not the simulator's reference price
    assert hit.cached
    per_call = _client().get_metric_history(run.info.run_id, "call_cost_usd")
    assert sorted(p.step for p in per_call) == [0, 1, 2, 3, 4]  # the failed call has no cost
    assert m["mean_latency_ms"] > 0


def test_run_without_prices_has_no_cost_and_counts_unpriced_calls(llm):
    sim.configure_model("no-price-a", priced=False)
    sim.configure_model("no-price-b", priced=False)
    with llm.group("unpriced"):
        llm.complete("sim:no-price-a", "a")
        llm.complete("sim:no-price-b", "b")
    llm.flush()
    m = _client().search_runs([_experiment_id()])[0].data.metrics
    assert "cost_usd" not in m  # unknown, never a silent 0
    assert (m["calls"], m["unpriced_calls"]) == (2, 2)


def test_run_counts_calls_priced_at_the_simulators_reference_price(llm):
    with llm.group("sim priced"):
        a = llm.complete("sim:default", "a")
        b = llm.complete("sim:other", "b")
    llm.flush()
    m = _client().search_runs([_experiment_id()])[0].data.metrics
    assert a.cost_simulated and b.cost_simulated
    assert m["simulated_calls"] == 2 and m["cost_usd"] == _exact_sum([a.cost_usd, b.cost_usd])


def test_rejoined_group_goes_on_from_the_stored_totals(llm):
    """A group rejoined by another exporter (a new process) adds to the run's sums."""
    from llmops_nb.tracking import MlflowExporter

    llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.6)
    with llm.group("steps", group_id="g-rejoin") as g:
        first = llm.complete("sim:default", "step one")
    llm.flush()
    record = _record_of(first, g)
    fresh = MlflowExporter(settings().tracking_uri, settings().experiment)  # knows nothing yet
    record.trace_id, record.record_id = "tr-" + "ab" * 16, "cd" * 16
    fresh.export([record])
    fresh.export([record])  # a retried batch is not counted twice
    m = _client().search_runs([_experiment_id()])[0].data.metrics
    assert m["calls"] == 2 and m["cost_usd"] == _exact_sum([first.cost_usd, first.cost_usd])
    assert m["output_tokens"] == 2 * first.usage.output_tokens


def _record_of(c, group):
    from llmops_nb.types import CallRecord

    info = _client().get_trace(c.trace_id).info
    t = info.tags
    return CallRecord(
        record_id="ef" * 16, trace_id=c.trace_id, started_at_ns=info.request_time * 10**6,
        ended_at_ns=(info.request_time + info.execution_duration) * 10**6,
        request={"model": c.model, "provider": c.provider, "model_name": c.model.split(":", 1)[1],
                 "messages": [{"role": "user", "content": "step one"}], "system": None, "params": {},
                 "stream": False},
        status="OK", text=c.text, usage={"input_tokens": int(t["llmops.input_tokens"]),
                                         "output_tokens": int(t["llmops.output_tokens"])},
        cost_usd=c.cost_usd, experiment=settings().experiment, group_id=group.id, group_name=group.name)


@pytest.mark.parametrize("grouped", [False, True])
def test_trace_cost_field_carries_the_calls_cost(llm, grouped):
    import contextlib

    llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.6)
    with llm.group("g") if grouped else contextlib.nullcontext():
        c = llm.complete("sim:default", "what did this cost")
    llm.flush()
    info = _client().get_trace(c.trace_id).info
    assert info.cost["total_cost"] == c.cost_usd
    assert info.cost["input_cost"] + info.cost["output_cost"] == pytest.approx(c.cost_usd, abs=1e-15)
    assert repr(info.cost["input_cost"]) == repr(float(f"{info.cost['input_cost']:.12g}"))  # no float noise
    assert json.loads(info.trace_metadata["mlflow.trace.cost"])["total_cost"] == c.cost_usd
    assert info.token_usage["total_tokens"] == c.usage.total_tokens


def test_group_results_metrics_are_stored_without_float_noise(llm):
    from llmops_nb import tracking

    s = settings()
    run_id = tracking.log_group_results("g-noise", "noise", tracking_uri=s.tracking_uri, experiment=s.experiment,
                                        texts={}, dicts={}, metrics={"total_cost_usd": 0.1 + 0.2}, tags={})
    assert _client().get_run(run_id).data.metrics["total_cost_usd"] == 0.3
