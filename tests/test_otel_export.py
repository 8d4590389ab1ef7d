"""OpenTelemetry export (GenAI semantic conventions) into a real OTLP/HTTP receiver.

The receiver is a real ``mlflow server`` started on 127.0.0.1: its ``/v1/traces`` endpoint is an
OTLP/HTTP receiver that stores the spans it is sent and lets the test read them back (the same
role an OpenTelemetry Collector, Jaeger or Phoenix plays for a team). It is a separate server
from the tracking store the calls are recorded in, so what arrives there came over OTLP only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from llmops_nb import session as sessions
from tests.servers import Forwarder, mlflow_server

MODEL = "sim:gpt-4o-mini"
EMAIL = "jane.doe@example.com"


@pytest.fixture(scope="module")
def receiver() -> Iterator[object]:
    with mlflow_server() as server:
        yield server


def _experiment(receiver, name: str) -> str:  # type: ignore[no-untyped-def]
    import mlflow

    client = mlflow.MlflowClient(receiver.url)
    return client.create_experiment(name)


def _received(receiver, exp_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    import mlflow

    client = mlflow.MlflowClient(receiver.url)
    traces = client.search_traces(locations=[exp_id], max_results=100)
    return [s.to_dict() for t in traces for s in t.data.spans]


@pytest.fixture
def link(receiver) -> Iterator[Forwarder]:  # type: ignore[no-untyped-def]
    """The way to the receiver, which a test can cut."""
    forwarder = Forwarder(receiver.port)
    yield forwarder
    forwarder.close()


@pytest.fixture
def otlp(llm, receiver, link, monkeypatch, request):  # type: ignore[no-untyped-def]
    exp_id = _experiment(receiver, f"otlp-{request.node.name}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", link.url + "/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"x-mlflow-experiment-id={exp_id}")
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    sessions.configure()  # a new session: its recorder reads the OTLP environment
    return exp_id


def _attrs(span: dict) -> dict:
    return {k: json.loads(v) if isinstance(v, str) else v for k, v in span["attributes"].items()}


def test_each_call_arrives_as_a_genai_span_with_cost_cache_prompt_and_findings(llm, receiver, otlp):
    c = llm.complete(MODEL, f"Write to {EMAIL} about vector databases", temperature=0.3, max_tokens=60)
    llm.flush()
    spans = _received(receiver, otlp)
    assert len(spans) == 1
    span = spans[0]
    a = _attrs(span)
    assert span["name"] == "chat gpt-4o-mini"
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "sim"
    assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.response.model"] == "gpt-4o-mini"
    assert a["gen_ai.request.temperature"] == 0.3 and a["gen_ai.request.max_tokens"] == 60
    assert a["gen_ai.usage.input_tokens"] == c.usage.input_tokens
    assert a["gen_ai.usage.output_tokens"] == c.usage.output_tokens
    assert a["gen_ai.response.finish_reasons"] == [c.finish_reason]
    assert a["llmops.cost_usd"] == pytest.approx(c.cost_usd)
    assert a["llmops.cached"] is False and a["llmops.trace_id"] == c.trace_id
    assert "email" in a["llmops.finding_types"]
    assert "gen_ai.input.messages" not in a  # content only when the user opts in
    assert EMAIL not in json.dumps(span)
    # in addition to MLflow, not instead: the call is a trace in the tracking store too
    assert c.trace_id in set(llm.history()["trace_id"])


def test_a_cache_hit_and_a_prompt_version_are_attributes(llm, receiver, otlp):
    llm.complete(MODEL, "cache me")
    hit = llm.complete(MODEL, "cache me")
    llm.flush()
    by_trace = {_attrs(s)["llmops.trace_id"]: _attrs(s) for s in _received(receiver, otlp)}
    assert by_trace[hit.trace_id]["llmops.cached"] is True
    assert by_trace[hit.trace_id]["gen_ai.usage.input_tokens"] == hit.usage.input_tokens


def test_content_when_opted_in_is_what_the_provider_saw(llm, receiver, otlp, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    sessions.configure()
    llm.complete(MODEL, f"Reply to {EMAIL}", system="Be brief")
    llm.flush()
    (span,) = _received(receiver, otlp)
    a = _attrs(span)
    messages = a["gen_ai.input.messages"]
    messages = json.loads(messages) if isinstance(messages, str) else messages
    assert messages[0]["role"] == "user" and "<EMAIL_1>" in messages[0]["parts"][0]["content"]
    assert "gen_ai.output.messages" in a and "gen_ai.system_instructions" in a
    assert EMAIL not in json.dumps(span)


def test_a_failed_call_is_an_error_span(llm, receiver, otlp):
    from llmops_nb.errors import ProviderError
    from llmops_nb.providers import sim

    sim.configure_model("otlp-broken", failures=["500"])
    with pytest.raises(ProviderError):
        llm.complete("sim:otlp-broken", "this fails")
    llm.flush()
    (span,) = _received(receiver, otlp)
    assert span["status"]["code"] == "STATUS_CODE_ERROR"
    assert _attrs(span)["error.type"]


def test_a_receiver_that_is_down_loses_nothing(llm, receiver, link, otlp):
    import time

    llm.complete(MODEL, "warm")  # the first call of a process is not what this measures
    llm.flush()
    link.cut()
    try:
        t0 = time.perf_counter()
        answers = [llm.complete(MODEL, f"while the collector is down {i}") for i in range(3)]
        assert all(a.text for a in answers) and time.perf_counter() - t0 < 2.0  # calls never wait on it
        time.sleep(1.5)  # the exporter tries, fails, keeps the records journaled
        assert not {_attrs(s)["llmops.trace_id"] for s in _received(receiver, otlp)} & {a.trace_id for a in answers}
    finally:
        link.restore()
    llm.flush(timeout=60)
    got = {_attrs(s)["llmops.trace_id"] for s in _received(receiver, otlp)}
    assert {a.trace_id for a in answers} <= got


def test_a_guard_models_calls_are_child_spans(llm, receiver, otlp):
    from llmops_nb.guardrails import DEFAULT, remote
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI() as fake:
        fake.reply("safe", prompt_tokens=120, completion_tokens=1).reply("safe", prompt_tokens=130,
                                                                          completion_tokens=1)
        guard = remote.ChatGuard("vllm:llama-guard", client=fake.client())
        c = llm.complete(MODEL, "Plain question 4711", guard=DEFAULT.with_scanners(guard), cache=False)
    llm.flush()
    spans = _received(receiver, otlp)
    root = next(s for s in spans if s["name"].startswith("chat "))
    guards = sorted((s for s in spans if s["name"] == "guardrail guard_model"), key=lambda s: s["start_time_unix_nano"])
    assert [(_attrs(s)["llmops.guardrail.direction"], _attrs(s)["gen_ai.usage.input_tokens"]) for s in guards] == [
        ("input", 120), ("output", 130)]
    assert all(s["parent_span_id"] == root["span_id"] and _attrs(s)["llmops.model"] == "vllm:llama-guard"
               for s in guards)
    assert _attrs(root)["llmops.trace_id"] == c.trace_id and "4711" not in json.dumps(guards)
