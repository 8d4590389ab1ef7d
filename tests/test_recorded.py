"""What is written to MLflow holds what the provider saw: with the default policy (PII
redacted before sending) no raw value reaches a comparison's table, a side-by-side cell's
run, or an experiment's scores — read back from the real sqlite store's artifacts. The
user's in-memory objects keep the restored values."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from IPython.utils.capture import capture_output

from llmops_nb import comparison as C
from llmops_nb import evaluation as ev
from llmops_nb import recorded
from llmops_nb.config import settings
from llmops_nb.experiments import Experiment
from tests.fakes.word_scanner import WordScanner

EMAIL, PHONE, CARD = "ada.lovelace@example.com", "+1 415 555 0132", 4111111111111111
TOKEN = "ghp_aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3jK5"
RAW = (EMAIL, "415 555 0132", str(CARD))


def _client():
    return mlflow.MlflowClient(settings().tracking_uri)


def _artifacts(run_id: str, tmp_path: Path) -> str:
    """Every artifact of the run, as one text."""
    client = _client()
    out = []
    for folder in client.list_artifacts(run_id):
        for a in client.list_artifacts(run_id, folder.path) if folder.is_dir else [folder]:
            out.append(Path(client.download_artifacts(run_id, a.path, str(tmp_path))).read_text())
    assert out, "the run has no artifacts"
    return "\n".join(out)


def _assert_no_raw(text: str) -> None:
    for value in RAW:
        assert value not in text
    assert "<EMAIL_1>" in text


def test_compare_table_holds_placeholders_not_the_values(llm, tmp_path):
    df = C.compare(["sim:echo", "sim:a"], ["Write to {{to}} about {{card}}. Literal: call " + PHONE],
                   [{"to": EMAIL, "card": CARD}], scorers={"mentions": lambda out, inp: EMAIL in out},
                   progress=False)
    assert EMAIL in df.output[0] and EMAIL in df.input[0] and df.mentions[0]  # the user sees their values
    text = _artifacts(C.wait_logged(df), tmp_path)
    _assert_no_raw(text)
    assert "model,prompt,input_index,input" in text
    assert "Write to <EMAIL_1> about" in text  # the echoed answer as recorded


def test_a_blocked_or_failed_call_records_no_value_either(llm, tmp_path):
    df = C.compare(["sim:echo"], ["Mail {{to}} the key {{key}}", "Hi {{nobody}} {{to}}"],
                   [{"to": EMAIL, "key": TOKEN}], progress=False)
    assert set(df.status) == {"ERROR"}  # a secret blocks; a missing variable fails
    text = _artifacts(C.wait_logged(df), tmp_path)
    _assert_no_raw(text)
    assert TOKEN not in text


def test_side_by_side_cell_run_holds_placeholders(ip, tmp_path):
    ip.user_ns["doc"] = f"reach me at {EMAIL} or {PHONE}"
    with capture_output() as cap:
        ip.run_cell_magic("llm", "sim:echo sim:b -o cmp", "Summarize: {{doc}}")
    assert EMAIL in cap.outputs[-1].data["text/plain"]  # shown restored to the user
    text = _artifacts(C.wait_logged(ip.user_ns.pop("cmp")), tmp_path)
    _assert_no_raw(text)


def test_experiment_scores_hold_placeholders(llm, tmp_path):
    exp = Experiment("pii", {"a": "sim:echo", "b": "sim:b"}, prompt="Answer {{q}}")
    inputs = [{"q": f"{EMAIL} number {i}"} for i in range(4)]
    r = exp.run(inputs, [ev.contains("number")])
    assert EMAIL in exp.table.output[0]
    run_id = exp.log(r)
    text = _artifacts(run_id, tmp_path)
    _assert_no_raw(text)
    assert "Answer <EMAIL_1> number 0" in text


def test_with_guardrails_off_what_was_sent_is_what_is_written(llm, tmp_path):
    df = C.compare(["sim:echo"], ["To {{to}}"], [{"to": EMAIL}], guard="off", progress=False)
    text = _artifacts(C.wait_logged(df), tmp_path)
    assert EMAIL in text  # the provider saw it: nothing was redacted


@pytest.mark.parametrize("value", [EMAIL, [EMAIL], {"who": EMAIL}, CARD])
def test_values_of_every_shape_are_redacted(llm, value):
    placeholders = {"<EMAIL_1>": EMAIL}
    out = json.loads(recorded.inputs_json({"v": value}, placeholders, recorded.policy_of()))
    assert str(CARD) not in json.dumps(out) and EMAIL not in json.dumps(out)


def test_a_judges_reason_logged_as_rationale_holds_placeholders(llm):
    judge = ev.llm_judge("sim:echo", "grade it", include_inputs=False)
    answer = f'{{"score": 1, "reason": "it mails {EMAIL}"}}'  # sim:echo answers with the judge prompt
    verdict = ev.call_scorer(judge, answer, {}, None)
    assert float(verdict) == 1.0 and verdict.reason == "it mails <EMAIL_1>"


def test_a_model_backed_scanner_is_asked_about_the_calls_not_about_each_recorded_value(llm, tmp_path):
    """The recorded form of a table's values is made with the built-in families: asking the
    policy's moderation endpoint or guard model again per value would be a paid request each,
    recorded nowhere (its redactions are among the call's placeholders already)."""
    from llmops_nb.guardrails import DEFAULT

    scanner = WordScanner(name="counting")
    df = C.compare(["sim:echo"], ["Write to {{to}} about {{topic}}."], [{"to": EMAIL, "topic": "tea"}],
                   guard=DEFAULT.with_scanners(scanner), progress=False)
    C.wait_logged(df)
    assert len(scanner.seen) == 2  # the prompt, then the answer: once each
    assert all(EMAIL not in t for t in scanner.seen)
