"""A/B tests: the statistics checked on simulated data (seeded), then experiments end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from llmops_nb import evaluation as ev
from llmops_nb.experiments import (
    Experiment,
    always_valid_p,
    bootstrap_ci,
    holm,
    mcnemar_exact,
    sign_flip_p,
    wilson,
)
from llmops_nb.providers import sim


def upper_bound(hits: int, reps: int) -> float:
    """Lower end of the 95 % Wilson interval of a measured rate: a rate whose interval lies
    above 5 % is significantly above it."""
    return float(wilson(hits, reps)[0])


# --- the statistics ------------------------------------------------------------------------------

def test_bootstrap_interval_covers_the_true_mean_difference_at_about_95_percent() -> None:
    rng = np.random.default_rng(1)
    reps, n, true = 300, 40, 0.1
    base = rng.beta(2, 3, (reps, n))
    diffs = np.clip(base + true + rng.normal(0, 0.25, (reps, n)), -2, 2) - base
    hits = 0
    for r in range(reps):
        lo, hi = bootstrap_ci(diffs[r], reps=1500, seed=r)
        hits += lo <= true <= hi
    assert 0.90 <= hits / reps <= 0.98, hits / reps


def test_bootstrap_interval_coverage_on_paired_pass_fail() -> None:
    rng = np.random.default_rng(2)
    reps, n = 300, 60
    a, b = rng.random((reps, n)) < 0.6, rng.random((reps, n)) < 0.7
    diffs = b.astype(float) - a
    hits = sum(lo <= 0.1 <= hi for lo, hi in (bootstrap_ci(diffs[r], reps=1500, seed=r) for r in range(reps)))
    assert 0.90 <= hits / reps <= 0.98, hits / reps


@pytest.mark.parametrize(("p", "n"), [(0.3, 50), (0.05, 200), (0.9, 30)])
def test_wilson_interval_covers_at_about_95_percent(p: float, n: int) -> None:
    successes = np.random.default_rng(3).binomial(n, p, 4000)
    lo, hi = wilson(successes, n)
    assert 0.92 <= float(np.mean((lo <= p) & (p <= hi))) <= 0.98


def test_mcnemar_exact_matches_the_binomial_by_hand() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)


def test_holm_adjusts_step_down_and_keeps_order() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_no_effect_names_a_winner_in_at_most_5_percent_of_paired_experiments() -> None:
    rng = np.random.default_rng(4)
    reps, n = 1000, 60
    a, b = rng.random((reps, n)) < 0.6, rng.random((reps, n)) < 0.6
    wins = sum(mcnemar_exact(int(np.sum(x & ~y)), int(np.sum(~x & y))) <= 0.05 for x, y in zip(a, b, strict=True))
    assert wins / reps <= 0.05 and upper_bound(wins, reps) < 0.05
    continuous = rng.standard_t(3, (1000, 30))  # heavy tails: the randomisation test stays exact
    wins = sum(sign_flip_p(d, reps=1000, seed=i) <= 0.05 for i, d in enumerate(continuous))
    assert upper_bound(wins, 1000) < 0.05, wins / 1000


def test_a_real_effect_is_found_with_the_power_the_calculation_promised() -> None:
    rng = np.random.default_rng(5)
    reps, n = 500, 100  # 0.6 vs 0.8 pass rate, independent per input: ~0.9 power at n = 100
    a, b = rng.random((reps, n)) < 0.6, rng.random((reps, n)) < 0.8
    wins = sum(mcnemar_exact(int(np.sum(x & ~y)), int(np.sum(~x & y))) <= 0.05 for x, y in zip(a, b, strict=True))
    assert wins / reps >= 0.8


def test_always_valid_p_keeps_the_false_winner_rate_under_continuous_peeking() -> None:
    rng = np.random.default_rng(6)
    reps, steps = 600, 600  # a look after every one of 600 observations
    arm = rng.random((reps, steps)) < 0.5
    binary = (rng.random((reps, steps)) < 0.3).astype(float)
    normal = rng.normal(0, 1, (reps, steps))
    for x in (binary, normal):
        wins = int(np.sum(always_valid_p(x, arm) <= 0.05))
        assert upper_bound(wins, reps) < 0.05, wins / reps
    # the naive z-test looked at after every 50 observations: the reason for the above
    n_b, n_a = np.cumsum(arm, 1), np.cumsum(~arm, 1)
    s_b, s_a = np.cumsum(np.where(arm, binary, 0), 1), np.cumsum(np.where(arm, 0, binary), 1)
    pooled = (s_a + s_b) / (n_a + n_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (s_b / n_b - s_a / n_a) / np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    naive = np.any(np.abs(np.nan_to_num(z[:, 49::50])) > 1.96, axis=1).mean()
    assert naive > 0.1


def test_always_valid_p_has_power_with_a_real_effect() -> None:
    rng = np.random.default_rng(7)
    reps, steps = 400, 800
    arm = rng.random((reps, steps)) < 0.5
    x = np.where(arm, rng.random((reps, steps)) < 0.45, rng.random((reps, steps)) < 0.3).astype(float)
    assert float(np.mean(always_valid_p(x, arm) <= 0.05)) >= 0.8


def test_repeated_looks_of_the_paired_design_spend_alpha_over_planned_looks() -> None:
    rng = np.random.default_rng(8)
    reps, looks, per_look = 1000, 4, 30
    a, b = rng.random((reps, looks * per_look)) < 0.5, rng.random((reps, looks * per_look)) < 0.5
    wins = 0
    for x, y in zip(a, b, strict=True):
        ps = [mcnemar_exact(int(np.sum(x[:k] & ~y[:k])), int(np.sum(~x[:k] & y[:k])))
              for k in range(per_look, looks * per_look + 1, per_look)]
        wins += min(ps) <= 0.05 / looks
    assert wins / reps <= 0.05 and upper_bound(wins, reps) < 0.05


# --- assignment ----------------------------------------------------------------------------------

def test_assignment_is_deterministic_and_respects_the_split() -> None:
    exp = Experiment("split", {"a": "sim:a", "b": "sim:b"}, split={"a": 0.2, "b": 0.8}, prompt="hi")
    units = [f"user-{i}" for i in range(4000)]
    seen = [exp.assign(u) for u in units]
    assert seen == [exp.assign(u) for u in units]
    assert 0.17 < seen.count("a") / len(units) < 0.23
    other = Experiment("other", {"a": "sim:a", "b": "sim:b"}, prompt="hi")
    assert [other.assign(u) for u in units[:200]] != seen[:200]  # salted by experiment name


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="two variants"):
        Experiment("x", {"a": "sim:a"})
    with pytest.raises(ValueError, match="split"):
        Experiment("x", {"a": "sim:a", "b": "sim:b"}, split={"a": 1.0})
    with pytest.raises(ValueError, match="neither"):
        Experiment("x", {"a": "sim:a", "b": "not a variant"})


# --- end to end ----------------------------------------------------------------------------------

CITIES = [{"q": f"question {i}", "expected": "Paris" if i % 2 else "Rome"} for i in range(30)]


def _store_run(llm, run_id: str):  # type: ignore[no-untyped-def]
    import mlflow

    return mlflow.MlflowClient(llm.settings().tracking_uri).get_run(run_id)


def test_a_scripted_effect_names_the_better_variant_and_logs_one_run(llm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim.configure_model("good", reply="Paris or Rome")
    sim.configure_model("bad", reply="Paris")
    llm.set_price("sim:*", input_per_mtok=1.0, output_per_mtok=2.0)
    exp = Experiment("cities", {"a": "sim:bad", "b": "sim:good"}, prompt="Answer: {{q}}")
    r = exp.run(CITIES[:16], [ev.contains(), ev.length(max=100)])
    assert r.winner == "b" and r.decision.startswith("winner: b")
    assert r.test == "exact McNemar" and r.p_value == pytest.approx(2 / 2**8)
    assert r.effect == pytest.approx(0.5) and r.interval[0] > 0
    assert r.prob_best["b"] > 0.99 and r.samples_needed is None
    assert r.per_variant.loc["a", "mean"] == pytest.approx(0.5)
    assert r.per_variant.loc["b", "pass_rate_lo"] > 0.8 and r.per_variant.loc["a", "mean_cost_usd"] > 0
    run_id = exp.log(r)
    run = _store_run(llm, run_id)
    assert run.data.tags["llmops.kind"] == "experiment" and run.data.tags["llmops.winner"] == "b"
    assert run.data.metrics["prob_best/b"] > 0.99
    import mlflow

    client = mlflow.MlflowClient(llm.settings().tracking_uri)
    summary = json.loads(Path(client.download_artifacts(run_id, "experiment/summary.json", str(tmp_path))).read_text())
    assert summary["winner"] == "b"
    runs = client.search_runs([run.info.experiment_id], filter_string="tags.`llmops.kind` = 'experiment'")
    assert len(runs) == 1  # the calls and the analysis share one run
    traces = client.search_traces(locations=[run.info.experiment_id], run_id=run_id)
    assert len(traces) == 32
    feedback = {a.name for a in client.get_trace(traces[0].info.trace_id).info.assessments}
    assert feedback == {"contains", "length"}


def test_equal_variants_name_no_winner_and_say_what_a_decision_needs(llm) -> None:  # type: ignore[no-untyped-def]
    from llmops_nb import prompts

    prompts.register("city", "Answer: {{q}}")
    prompts.register("city", "Answer briefly: {{q}}")
    sim.configure_model("same", reply="Paris")
    exp = Experiment("prompts", {"a": "city@1", "b": "city@2"}, model="sim:same")
    r = exp.run(CITIES[:10], {"ok": ev.contains()}, feedback=False, log=False)
    assert r.winner is None and r.decision.startswith("no winner yet")
    assert r.p_value == 1.0 and r.effect == 0 and r.samples_needed is None
    assert exp.table["output"].eq("Paris").all()


def test_a_small_effect_is_undecided_with_samples_needed(llm) -> None:  # type: ignore[no-untyped-def]
    exp = Experiment("small", {"a": "sim:x", "b": "sim:y"}, prompt="{{q}}")
    scores = {"sim:x": [1, 0, 1, 1, 0, 1, 0, 1], "sim:y": [1, 1, 1, 0, 1, 1, 0, 1]}
    by_input = {f"q{i}": i for i in range(8)}

    def scripted(output: str, inputs: dict, completion=None) -> int:  # type: ignore[no-untyped-def,type-arg]
        return scores[completion.model][by_input[inputs["q"]]]

    r = exp.run([{"q": q} for q in by_input], [scripted], feedback=False, log=False)
    assert r.winner is None and r.samples_needed is not None and r.samples_needed > 8
    assert "inputs would be needed" in r.decision


def test_three_variants_use_holm_and_a_route_can_be_a_variant(llm) -> None:  # type: ignore[no-untyped-def]
    sim.configure_model("good", reply="Paris or Rome")
    sim.configure_model("bad", reply="Paris")
    sim.configure_model("worse", reply="Berlin")
    llm.configure(routes={"fast": ["sim:good"]})
    exp = Experiment("three", {"a": "sim:bad", "b": "route:fast", "c": "sim:worse"}, prompt="{{q}}")
    r = exp.run(CITIES, [ev.contains()], feedback=False, log=False)
    assert len(r.pairs) == 3 and r.winner == "b"
    assert all(p.adjusted_p >= p.p_value for p in r.pairs)
    assert {r.pairs[0].first, r.pairs[0].second} == {"a", "b"}


def test_looks_are_planned(llm) -> None:  # type: ignore[no-untyped-def]
    exp = Experiment("looks", {"a": "sim:a", "b": "sim:b"}, prompt="{{q}}", looks=2)
    exp.run(CITIES[:4], [ev.length(max=10_000)], feedback=False, log=False)
    r = exp.run(CITIES[4:8], [ev.length(max=10_000)], feedback=False, log=False)
    assert r.looks == 2 and len(exp.table) == 16 and "≤ 0.025" not in r.decision
    with pytest.raises(ValueError, match="planned 2 look"):
        exp.run(CITIES[:2], [ev.length()], feedback=False, log=False)


def test_answers_made_elsewhere_are_one_look_with_the_same_result(llm) -> None:  # type: ignore[no-untyped-def]
    sim.configure_model("good", reply="Paris or Rome")
    sim.configure_model("bad", reply="Paris")
    first = Experiment("made", {"a": "sim:bad", "b": "sim:good"}, prompt="Answer: {{q}}")
    r = first.run(CITIES[:12], {"contains": ev.contains()}, feedback=False, log=False)
    again = Experiment("taken", {"a": "sim:bad", "b": "sim:good"}, prompt="Answer: {{q}}")
    again.add_answers(first.table, first.table, group=first.group)
    taken = again.result()
    assert (taken.winner, taken.p_value, taken.effect) == (r.winner, r.p_value, r.effect)
    assert again.looks_used == 1 and again.group is first.group
    with pytest.raises(ValueError, match="planned 1 look"):
        again.add_answers(first.table, first.table)
    other = Experiment("other", {"x": "sim:bad", "y": "sim:good"}, prompt="Answer: {{q}}")
    with pytest.raises(ValueError, match=r"variants \['a', 'b'\] not in this experiment"):
        other.add_answers(first.table, first.table)
    with pytest.raises(ValueError, match="same rows"):
        again_ = Experiment("short", {"a": "sim:bad", "b": "sim:good"}, prompt="Answer: {{q}}")
        again_.add_answers(first.table, first.table.head(3))


def test_live_traffic_with_thompson_sampling_and_always_valid_decisions(llm) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    exp = Experiment("live", {"control": "sim:a", "treatment": "sim:b"})
    rates = {"control": 0.3, "treatment": 0.55}
    for i in range(600):
        v = exp.assign(f"user-{i}")
        exp.record(v, {"score": float(rng.random() < rates[v]), "cost_usd": 0.001, "latency_ms": 100.0})
        if i == 30:
            early = exp.result()
    assert early.winner is None and early.samples_needed is not None
    r = exp.result()
    assert r.design == "live" and r.test == "mSPRT (always valid)"
    assert r.winner == "treatment" and r.prob_best["treatment"] > 0.99
    assert r.interval[0] > 0 and r.per_variant.loc["control", "mean_latency_ms"] == 100.0
    assert math.isclose(sum(r.prob_best.values()), 1.0)
    assert exp.log(r) is not None


def test_live_equal_variants_stay_undecided(llm) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(12)
    exp = Experiment("flat", {"a": "sim:a", "b": "sim:b"})
    for i in range(400):
        exp.record(exp.assign(i), float(rng.normal(0.5, 0.1)))
    r = exp.result()
    assert r.winner is None and "no winner yet" in r.decision
    assert 0.1 < r.prob_best["a"] < 0.9


def test_effect_chart_renders(llm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from llmops_nb import viz

    exp = Experiment("chart", {"a": "sim:bad", "b": "sim:good", "c": "sim:c"}, prompt="{{q}}")
    sim.configure_model("good", reply="Paris or Rome")
    sim.configure_model("bad", reply="Paris")
    r = exp.run(CITIES[:12], [ev.contains()], feedback=False, log=False)
    chart = viz.effect_chart(r)
    out = tmp_path / "effect.png"
    chart.save(str(out))
    assert out.stat().st_size > 5_000
