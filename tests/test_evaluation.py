"""Scorers, the LLM judge, and scores as MLflow feedback on the call's trace."""

from __future__ import annotations

import math

import pytest

from llmops_nb import evaluation as ev
from llmops_nb.errors import OutputFormatError
from llmops_nb.providers import sim


def test_text_scorers() -> None:
    assert ev.exact("Paris")(" Paris\n", {}) is True
    assert ev.exact(ignore_case=True)("paris", {"expected": "PARIS"}) is True
    assert ev.exact()("Rome", {"expected": "Paris"}) is False
    assert ev.contains("paris", "rome")("Paris and Rome", {}) is True
    assert ev.contains("paris", "oslo")("Paris", {}) is False
    assert ev.contains("paris", "oslo", any_of=True)("Paris", {}) is True
    assert ev.contains()("It is Rome.", {"expected": ["rome"]}) is True
    assert ev.regex(r"\b\d{4}\b")("in 1999", {}) is True
    assert ev.length(min=2, max=5)("abc", {}) is True
    assert ev.length(max=2, unit="words")("one two three", {}) is False
    with pytest.raises(KeyError, match="expected"):
        ev.exact()("x", {})


def test_json_scorers() -> None:
    schema = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}
    assert ev.json_valid()('{"a": 1}', {}) is True
    assert ev.json_valid()('```json\n{"a": 1}\n```', {}) is True
    assert ev.json_valid()("not json", {}) is False
    assert ev.json_schema(schema)('{"answer": "yes"}', {}) is True
    assert ev.json_schema(schema)('{"answer": 3}', {}) is False
    assert ev.json_schema(schema)("nope", {}) is False


def test_cost_and_latency_scorers_need_the_completion(llm) -> None:  # type: ignore[no-untyped-def]
    llm.set_price("sim:*", input_per_mtok=1.0, output_per_mtok=2.0)
    c = llm.complete("sim:default", "hello")
    assert ev.cost_below(1.0)(c.text, {}, c) is True
    assert ev.cost_below(1e-12)(c.text, {}, c) is False
    assert ev.latency_below(60)(c.text, {}, c) is True
    with pytest.raises(ValueError, match="needs the Completion"):
        ev.latency_below(1)("x", {})


def test_plain_functions_are_scorers_with_or_without_the_completion() -> None:
    def short(output, inputs):  # type: ignore[no-untyped-def]
        return len(output) < 5

    def cheap(output, inputs, completion=None):  # type: ignore[no-untyped-def]
        return completion == "c"

    assert ev.score("abc", {}, [short, cheap], completion="c") == {"short": True, "cheap": True}
    assert ev.score("abcdef", None, {"s": short}) == {"s": False}
    with pytest.raises(ValueError, match="two scorers"):
        ev.named([short, short])


@pytest.mark.parametrize(("text", "value", "reason"), [
    ('{"score": 0.8, "reason": "ok"}', 0.8, "ok"),
    ('Sure!\n```json\n{"score": 1, "reason": "fine"}\n```', 1.0, "fine"),
    ('Here you go: {"score": "70%", "reason": "partly"} hope it helps', 0.7, "partly"),
    ("score: 8/10, reason: mostly right", 0.8, "mostly right"),
    ('{"score": 7, "reason": "0..10 scale"}', 0.7, "0..10 scale"),
    ('{"score": -1, "reason": "clamped"}', 0.0, "clamped"),
])
def test_judge_answers_are_parsed_robustly(text: str, value: float, reason: str) -> None:
    j = ev.parse_judgement(text)
    assert math.isclose(j, value) and j.reason == reason


def test_an_answer_without_a_score_is_an_output_format_error() -> None:
    with pytest.raises(OutputFormatError, match="did not answer with a score"):
        ev.parse_judgement("I think it's good")


def test_llm_judge_calls_a_model_and_logs_feedback_on_the_trace(llm) -> None:  # type: ignore[no-untyped-def]
    sim.configure_model("judge", reply='{"score": 0.8, "reason": "ok"}')
    llm.configure(routes={"judging": ["sim:judge"]})
    judge = ev.llm_judge("route:judging", "Is it polite?")
    c = llm.complete("sim:default", "Say hi")
    j = judge(c.text, {"q": "hi"}, c)
    assert isinstance(j, ev.Judgement) and j == 0.8 and j.reason == "ok"
    assert ev.log_feedback(c.trace_id, {"judge": j, "short": True, "broken": math.nan}) == 2
    import mlflow

    trace = mlflow.MlflowClient(llm.settings().tracking_uri).get_trace(c.trace_id)
    got = {a.name: a for a in trace.info.assessments}
    assert got["judge"].value == 0.8 and got["judge"].rationale == "ok"
    assert got["judge"].source.source_type == "LLM_JUDGE" and got["short"].value is True


def test_evaluate_scores_every_input_and_logs_feedback(llm) -> None:  # type: ignore[no-untyped-def]
    sim.configure_model("cap", reply="Paris")
    df = ev.evaluate("sim:cap", "Capital of {{country}}?", [{"country": "France", "expected": "Paris"},
                                                            {"country": "Italy", "expected": "Rome"}],
                     [ev.exact(), ev.length(max=10)])
    assert list(df["exact"]) == [True, False] and df["length"].all() and df["error"].isna().all()
    import mlflow

    trace = mlflow.MlflowClient(llm.settings().tracking_uri).get_trace(df["trace_id"][1])
    assert {a.name: a.value for a in trace.info.assessments} == {"exact": False, "length": True}
