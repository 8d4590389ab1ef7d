"""compare(): the table, concurrency, isolated failures, scorers, one MLflow run, the cost
estimate and its confirmation, the side-by-side magic, and the cost/latency chart."""

from __future__ import annotations

import json
import math

import mlflow
import pytest
from IPython.utils.capture import capture_output

from llmops_nb import comparison as C
from llmops_nb import errors as E
from llmops_nb import prompts
from llmops_nb.config import settings
from llmops_nb.errors import ComparisonFailed, CostConfirmationRequired
from llmops_nb.providers import sim
from llmops_nb.viz import cost_latency_chart, cost_latency_stats


def _client():
    return mlflow.MlflowClient(settings().tracking_uri)


def test_one_row_per_model_prompt_input_sample(llm):
    prompts.register("greet", "Say hello to {{name}}")
    df = C.compare(["sim:a", "sim:b"], ["Describe {{name}}", "greet@1"],
                   [{"name": "Ada"}, {"name": "Grace"}], n=2, progress=False)
    assert list(df.columns) == C.COLUMNS
    assert len(df) == 2 * 2 * 2 * 2 and (df.status == "OK").all()
    assert list(df.model.unique()) == ["sim:a", "sim:b"]
    assert list(df.prompt.unique()) == ["Describe {{name}}", "greet@1"]
    assert json.loads(df.input[df.input_index == 1].iloc[0]) == {"name": "Grace"}
    assert sorted(df["sample"].unique()) == [0, 1]
    assert df.output.str.contains("Grace").sum() == 8  # sim quotes the filled prompt
    assert (df.answered_by == df.model).all() and df.trace_id.str.startswith("tr-").all()
    assert (df.ttft_ms > 0).all() and (df.latency_ms >= df.ttft_ms).all()  # streamed by default
    assert not df.cached.any()  # n > 1: every sample is a fresh call
    assert df.findings.eq("[]").all() and df.error.isna().all()


def test_cache_is_used_with_one_sample_and_templates_are_not_refs(llm):
    first = C.compare(["sim:a"], ["Hello {{who}}", "plain text"], [{"who": "you"}], progress=False)
    again = C.compare(["sim:a"], ["Hello {{who}}", "plain text"], [{"who": "you"}], progress=False)
    assert not first.cached.any() and again.cached.all()
    assert list(again.output) == list(first.output)


def test_a_ref_that_does_not_resolve_is_an_error_not_a_prompt(llm):
    with pytest.raises(E.PromptNotFound):
        C.compare(["sim:a"], ["nosuch@production"], progress=False)
    with pytest.raises(TypeError, match="list of model ids"):
        C.compare("sim:a", ["hi"], progress=False)  # type: ignore[arg-type]


def test_calls_run_concurrently(llm):
    models = [f"sim:par{i}" for i in range(8)]
    for m in models:
        sim.configure_model(m[4:], ttft_s=0.3, tokens_per_s=1e6)
    df = C.compare(models, ["Say something"], progress=False)
    assert (df.status == "OK").all() and (df.latency_ms >= 300).all()
    assert df.attrs["wall_s"] < 0.3 * 8 / 3  # serial would take 2.4 s


def test_a_failing_model_never_stops_the_others(llm):
    sim.configure_model("down", failures=["500"] * 10)
    df = C.compare(["sim:up", "sim:down", "sim:up2"], ["Hi {{x}}"], [{"x": 1}, {"x": 2}], progress=False)
    down, up = df[df.model == "sim:down"], df[df.model != "sim:down"]
    assert (down.status == "ERROR").all() and down.error.str.startswith("ProviderUnavailable").all()
    assert down.output.isna().all()
    assert (up.status == "OK").all() and up.error.isna().all()
    summary = C.summary(df)
    assert summary.loc["sim:down", "error_rate"] == 1.0 and summary.loc["sim:up", "error_rate"] == 0.0


def test_missing_variables_fail_their_rows_only(llm):
    df = C.compare(["sim:a"], ["Need {{topic}}", "Fine"], [{}], progress=False)
    assert df.set_index("prompt").status.to_dict() == {"Need {{topic}}": "ERROR", "Fine": "OK"}
    assert "MissingVariables" in df.error[0]


def test_scorers_add_columns_and_a_broken_one_keeps_the_answer(llm):
    def boom(output, inputs):
        raise RuntimeError("scorer bug")

    scorers = {"mentions": lambda out, inp: inp["x"] in out, "chars": lambda out, inp: float(len(out)),
               "boom": boom}
    df = C.compare(["sim:a"], ["Talk about {{x}}"], [{"x": "cats"}], scorers=scorers, progress=False)
    row = df.iloc[0]
    assert list(df.columns) == [*C.COLUMNS, "mentions", "chars", "boom"]
    assert bool(row.mentions) is True and row.chars == len(row.output) and math.isnan(row.boom)
    assert row.status == "OK" and "scorer 'boom' failed: RuntimeError: scorer bug" in row.error
    with pytest.raises(ValueError, match="clash"):
        C.compare(["sim:a"], ["x"], scorers={"output": len}, progress=False)


def test_one_mlflow_run_with_all_traces_the_table_and_metrics(llm):
    sim.configure_model("flaky", failures=["500"] * 10)
    df = C.compare(["sim:a", "sim:flaky"], ["One {{v}}"], [{"v": 1}, {"v": 2}], name="my comparison",
                   scorers={"len": lambda out, inp: len(out)}, progress=False)
    run_id = C.wait_logged(df)
    exp = _client().get_experiment_by_name(settings().experiment).experiment_id
    runs = _client().search_runs([exp])
    assert [r.info.run_id for r in runs] == [run_id] and runs[0].info.run_name == "my comparison"
    traces = _client().search_traces(locations=[exp], run_id=run_id)
    assert len(traces) == len(df) == 4  # failed calls are traced too
    assert {t.info.trace_id for t in traces} >= set(df.trace_id.dropna())
    run = _client().get_run(run_id)
    assert run.data.tags["llmops.kind"] == "comparison"
    m = run.data.metrics
    assert m["error_rate/sim_a"] == 0.0 and m["error_rate/sim_flaky"] == 1.0
    assert m["mean_latency_ms/sim_a"] == pytest.approx(df[df.model == "sim:a"].latency_ms.mean())
    assert "mean_len/sim_a" in m and "mean_latency_ms/sim_flaky" not in m  # no successful call
    paths = {a.path for a in _client().list_artifacts(run_id, "comparison")}
    assert paths == {"comparison/table.csv", "comparison/summary.json"}
    table = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/comparison/table.csv")
    assert table.splitlines()[0].startswith("model,prompt,input_index,input,sample,status,output")


def test_inside_an_enclosing_group_the_comparison_joins_its_run(llm):
    with llm.group("cell [7]"):
        single = llm.complete("sim:a", "before")
        df = C.compare(["sim:a", "sim:b"], ["x"], progress=False)
    run_id = C.wait_logged(df)
    exp = _client().get_experiment_by_name(settings().experiment).experiment_id
    assert _client().get_run(run_id).info.run_name == "cell [7]"
    ids = {t.info.trace_id for t in _client().search_traces(locations=[exp], run_id=run_id)}
    assert ids == {single.trace_id, *df.trace_id}


def _cells(models, n=1):
    return C.plan(models, C.resolve_prompts(["Estimate {{w}}"]), [{"w": "this"}], n)


def test_estimate_prices_prompt_tokens_and_max_tokens(llm):
    from llmops_nb.pipeline import prepare

    llm.set_price("sim:*", input_per_mtok=1.0, output_per_mtok=10.0)
    est = C.estimate(_cells(["sim:a", "sim:b"], n=3), C.CallOptions(max_tokens=100))
    tokens = prepare("sim:a", "Estimate this").estimated_input_tokens
    assert est.calls == 6 and est.complete and est.output_tokens_per_call == 100
    assert est.usd == pytest.approx(6 * (tokens * 1.0 + 100 * 10.0) / 1e6)
    default = C.estimate(_cells(["sim:a"]), C.CallOptions())
    assert default.usd == pytest.approx((tokens + 256 * 10.0) / 1e6)  # 256 answer tokens unless max_tokens


def test_estimate_names_unpriced_models(llm):
    sim.configure_model("no-price", priced=False)
    est = C.estimate(_cells(["sim:no-price"]), C.CallOptions())
    assert not est.complete and est.unpriced == ("sim:no-price",) and est.usd == 0.0
    assert "no price for sim:no-price" in est.describe()


def test_route_is_estimated_as_its_first_model(llm):
    llm.set_price("sim:cheap", input_per_mtok=1.0, output_per_mtok=1.0)
    llm.set_price("sim:dear", input_per_mtok=100.0, output_per_mtok=100.0)
    llm.configure(routes={"r": ["sim:cheap", "sim:dear"]})
    route = C.estimate(_cells(["route:r"]), C.CallOptions())
    assert route.usd == pytest.approx(C.estimate(_cells(["sim:cheap"]), C.CallOptions()).usd)


def test_confirmation_above_the_threshold(llm, monkeypatch, capsys):
    llm.set_price("sim:*", input_per_mtok=1.0, output_per_mtok=10.0)
    args = (["sim:a", "sim:b"], ["Costly {{n}}"], [{"n": 1}])
    with pytest.raises(CostConfirmationRequired, match="no interactive input") as info:
        C.compare(*args, confirm_above_usd=1e-6)
    assert info.value.estimate.calls == 2 and "Nothing was sent" in str(info.value)
    assert llm.history(5).empty  # refused before sending
    asked = []
    monkeypatch.setattr(C, "_ask", lambda q: asked.append(q) or False)
    with pytest.raises(CostConfirmationRequired, match="declined"):
        C.compare(*args, confirm_above_usd=1e-6)
    monkeypatch.setattr(C, "_ask", lambda q: asked.append(q) or True)
    assert len(C.compare(*args, confirm_above_usd=1e-6)) == 2
    assert "2 calls, estimated at most $" in asked[0] and "Run it? [y/N]" in asked[0]
    assert len(C.compare(*args, confirm_above_usd=1e-6, confirm=True)) == 2  # confirmed up front
    assert len(C.compare(*args, confirm_above_usd=1.0)) == 2  # under the threshold: no question
    assert len(asked) == 2
    assert capsys.readouterr().out == ""  # quiet outside notebooks and terminals


def test_an_incomplete_estimate_asks_too(llm, monkeypatch):
    monkeypatch.setattr(C, "_ask", lambda q: None)
    sim.configure_model("unpriced", priced=False)
    with pytest.raises(CostConfirmationRequired, match="no price for sim:unpriced"):
        C.compare(["sim:unpriced"], ["x"], confirm_above_usd=100.0)


# --- magic ---------------------------------------------------------------------------------------

def test_magic_with_several_models_shows_columns_with_footers(ip):
    ip.user_ns["topic"] = "caching"
    with capture_output() as cap:
        ip.run_cell_magic("llm", "sim:left sim:right -o cmp", "Explain {{topic}} & <tags>")
    (out,) = cap.outputs
    df = ip.user_ns["cmp"]
    assert list(df.model) == ["sim:left", "sim:right"] and json.loads(df.input[0]) == {"topic": "caching"}
    html_ = out.data["text/html"]
    assert html_.count('<div style="flex:1 1 0') == 2 and "display:flex" in html_
    assert "&amp; &lt;tags&gt;" in html_ and "<tags>" not in html_  # answers are escaped
    plain = out.data["text/plain"]
    assert plain.startswith("── sim:left ──\nSimulated answer (left) to “Explain caching")
    assert "\n\n── sim:right ──\n" in plain and "TTFT" in plain and plain.count(" tok · $") + plain.count(
        " tok · cost unknown") == 2
    cols = out.metadata["llmops_nb"]["columns"]
    assert [c["trace_id"] for c in cols] == list(df.trace_id)


def test_magic_with_several_prompt_versions(ip):
    prompts.register("tone", "Write about {{topic}} formally")
    prompts.register("tone", "Write about {{topic}} casually")
    with capture_output() as cap:
        ip.run_cell_magic("llm", "--prompt tone@1 tone@2 sim:echo -o cmp", "topic = tea")
    df = ip.user_ns["cmp"]
    assert list(df.prompt) == ["tone@1", "tone@2"]
    assert list(df.output) == ["Write about tea formally", "Write about tea casually"]
    plain = cap.outputs[-1].data["text/plain"]
    assert plain.startswith("── tone@1 ──\nWrite about tea formally\nsim:echo ·")


def test_magic_side_by_side_errors(ip, openai_env):
    for name in ("broken", "broken2"):
        sim.configure_model(name, failures=["500"] * 10)
    with capture_output() as cap:
        ip.run_cell_magic("llm", "sim:ok sim:broken", "hello")
    assert "⚠ ProviderUnavailable" in cap.outputs[-1].data["text/plain"]  # one failure: shown in its column
    with pytest.raises(ComparisonFailed, match="every call failed"), capture_output():
        ip.run_cell_magic("llm", "sim:broken sim:broken2 --no-stream", "hello")
    with pytest.raises(E.MissingVariables):
        ip.run_cell_magic("llm", "openai:gpt-5.4-mini sim:x", "Hi {{nobody}}")
    assert openai_env.requests == []
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="one model"):
        ip.run_cell_magic("llm", "sim:a sim:b -f json", "x")


# --- chart ---------------------------------------------------------------------------------------

def _table():
    import pandas as pd

    rows = []
    for model, lat, cost in (("sim:fast", [10, 20, 30], [1.0, 2.0, 3.0]), ("sim:slow", [100, 110, 120], [5, 5, 5])):
        for i, (la, co) in enumerate(zip(lat, cost, strict=True)):
            rows.append({"model": model, "status": "OK", "cached": False, "latency_ms": la, "cost_usd": co, "sample": i})
    rows.append({"model": "sim:fast", "status": "OK", "cached": True, "latency_ms": 0.1, "cost_usd": 0.0, "sample": 3})
    rows.append({"model": "sim:slow", "status": "ERROR", "cached": False, "latency_ms": None, "cost_usd": None,
                 "sample": 3})
    return pd.DataFrame(rows)


def test_chart_stats_and_error_bars():
    sd = cost_latency_stats(_table()).set_index("model")
    assert sd.loc["sim:fast", "n"] == 3 and sd.loc["sim:fast", "latency_ms"] == 20  # cached, failed left out
    assert sd.loc["sim:fast", "latency_ms_hi"] == pytest.approx(30) and sd.loc["sim:slow", "cost_usd_lo"] == 5
    ci = cost_latency_stats(_table(), extent="ci").set_index("model")
    assert ci.loc["sim:fast", "latency_ms_hi"] == pytest.approx(20 + 4.303 * 10 / math.sqrt(3))
    assert cost_latency_stats(_table(), include_cached=True).set_index("model").loc["sim:fast", "n"] == 4


def test_chart_renders_to_png(tmp_path):
    chart = cost_latency_chart(_table())
    spec = chart.to_dict()
    assert len(spec["layer"]) == 4 and spec["title"]["text"] == "Cost vs latency"
    path = tmp_path / "chart.png"
    chart.save(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_route_auto_is_priced_as_the_default_route(llm):
    llm.set_price("sim:*", input_per_mtok=1.0, output_per_mtok=1.0)
    llm.configure(routes={"fast": ["sim:a"]}, default_route="fast")
    est = C.estimate(C.plan(["route:auto"], C.resolve_prompts(["hi {{x}}"]), [{"x": "there"}], 1),
                     C.CallOptions())
    assert est.usd > 0 and not est.unpriced


def test_successive_compares_reuse_one_pool_of_worker_threads(llm):
    """The cells' worker threads outlive a comparison: the next one runs on the same threads
    (their SDK connections and cache connection are warm), and no thread is left per call."""
    import threading

    def workers():
        return {t.ident for t in threading.enumerate() if t.name.startswith("llmops_nb-compare_")}

    C.compare(["sim:a", "sim:b", "sim:c", "sim:d"], ["hi {{x}}"], [{"x": 1}, {"x": 2}], progress=False)
    first = workers()
    df = C.compare(["sim:a", "sim:b", "sim:c", "sim:d"], ["hey {{x}}"], [{"x": 1}, {"x": 2}], progress=False)
    assert (df.status == "OK").all() and first and workers() == first


HELD = (
    "import sys, time, llmops_nb as llm\n"
    "def slow(text, inputs):\n"
    "    time.sleep(1.0)  # the table is not ready yet: its calls have ended, the exporter could start\n"
    "    return 1.0\n"
    "df = llm.compare(['sim:default'], ['hi'], scorers={'slow': slow}, progress=False)\n"
    "print('mlflow' in sys.modules)\n"
)


def test_the_first_export_waits_until_compare_has_returned_its_table(tmp_path):
    """The session's first MLflow export (``import mlflow``: seconds of CPU under the GIL) began
    a quarter second after a compare's last call ended, while the compare still scored the
    answers and built its table (the first compare of the benchmarks returned 0.3-0.5 s later
    for it). A compare holds the exporter off until it returns."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "LLMOPS_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
           "LLMOPS_WARMUP": "0"}
    out = subprocess.run([sys.executable, "-c", HELD], capture_output=True, text=True, env=env, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
