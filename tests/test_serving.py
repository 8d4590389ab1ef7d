"""``log_pipeline()`` served by the real ``mlflow models serve`` process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops_nb import prompts
from llmops_nb import session as sessions
from llmops_nb.errors import ConfigError
from llmops_nb.serving import log_pipeline, pipeline_config, policy_config, policy_from_config
from tests.servers import free_port

SECRET = "sk-proj-Xk3vP9qLm2Rt7Yw4Zs8Bn1Cd6Fg0Hj5Kl2Mn4Pq7Rs9Tv3Wx6Yz8Ab1Cd4Ef7Gh0Ij3Kl6Mn9Op2Qr5St8Uv1Wx4Yz7A"
EMAIL = "jane.doe@example.com"


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url + "/invocations", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    """A prompt registered, the pipeline logged, and ``mlflow models serve`` serving it."""
    root = tmp_path_factory.mktemp("serving")
    store = f"sqlite:///{root / 'mlflow.db'}"
    sessions.reset(tracking_uri=store, home=root / "home", experiment="served", cache_mode="readwrite",
                 default_model="sim:default")
    name = f"support-{os.getpid()}"
    prompts.register(name, "[system] You are a support agent for {{product}}.\nHelp the customer.",
                     aliases=["production"])
    uri = log_pipeline("support-bot", prompt=f"{name}@production", model="sim:gpt-4o-mini", guard="default")
    sessions.session().close()
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_MODEL_CATALOG_URI": "",
           "LLMOPS_HOME": str(root / "server-home"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    with open(root / "serve.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager",
                                 "local", "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("mlflow models serve exited:\n" + (root / "serve.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(url + "/ping", timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("mlflow models serve did not answer /ping")
    try:
        yield {"url": url, "store": store, "uri": uri, "prompt": name, "root": root}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        sessions.reset()


def test_log_pipeline_registers_a_model_and_returns_its_uri(served):
    assert served["uri"] == "models:/support-bot/1"


def test_log_pipeline_leaves_the_users_mlflow_settings_as_they_were(llm, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    before = (os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"),
              mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    sessions.configure(tracking_uri=f"sqlite:///{tmp_path / 'other.db'}")
    log_pipeline("untouched", model="sim:default", guard="off")
    after = (os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"),
             mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    assert after == before  # kernels started later inherit the environment: it must not change


def test_a_served_request_answers_in_chat_completion_shape_through_the_pipeline(served):
    status, body = _post(served["url"], {"messages": [{"role": "user", "content": f"Write to {EMAIL}"}],
                                          "variables": {"product": "vector databases"}})
    assert status == 200, body
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    meta = body["llmops"]
    assert meta["prompt"] == f"{served['prompt']}@1" and meta["cost_usd"] > 0
    assert [f["type"] for f in meta["findings"]] == ["email"]  # the same guardrails as in a notebook
    # recorded like any call: a trace in the store, with the prompt version and the redacted input
    import mlflow

    client = mlflow.MlflowClient(served["store"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            trace = client.get_trace(meta["trace_id"])
            break
        except Exception:
            time.sleep(0.5)
    else:
        pytest.fail("the served call never reached the tracking store")
    assert trace.info.tags["llmops.prompt"] == f"{served['prompt']}@1"
    assert EMAIL not in json.dumps(trace.to_dict())


def test_a_repeated_request_is_a_cache_hit(served):
    body = {"messages": [{"role": "user", "content": "What does the cache do?"}], "variables": {"product": "x"}}
    first, second = _post(served["url"], body)[1], _post(served["url"], body)[1]
    assert first["llmops"]["cached"] is False and second["llmops"]["cached"] is True
    assert second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]


def test_a_blocked_or_malformed_request_is_a_clear_400_and_sends_nothing(served):
    status, body = _post(served["url"], {"messages": [{"role": "user", "content": f"my key {SECRET}"}],
                                          "variables": {"product": "x"}})
    assert status == 400 and "GuardrailBlocked" in body["message"] and SECRET not in json.dumps(body)
    status, body = _post(served["url"], {"messages": [{"role": "user", "content": "hi"}]})
    assert status == 400 and "MissingVariables" in body["message"]


def test_request_text_is_never_read_as_a_template(served):
    status, body = _post(served["url"], {"messages": [{"role": "user", "content": "{{product.__class__}} {{x}}"}],
                                          "variables": {"product": "y"}})
    assert status == 200, body
    assert "{{product.__class__}}" in body["choices"][0]["message"]["content"]


def test_policies_round_trip_as_json(llm):
    from llmops_nb.guardrails.patterns import BlockedPatterns
    from llmops_nb.guardrails.policy import DEFAULT

    custom = DEFAULT.with_thresholds(injection=0.3)
    custom = type(custom)(custom.name, actions=custom.actions, thresholds=custom.thresholds,
                          patterns=BlockedPatterns(substrings=("internal",)))
    assert policy_from_config(json.loads(json.dumps(policy_config(custom)))) == custom
    assert policy_config("strict") == "strict" and policy_config(None) == "off"


def test_bad_pipelines_fail_when_logged_not_when_served(llm):
    with pytest.raises(ConfigError):
        pipeline_config(model="route:nope")
    with pytest.raises(ConfigError):
        pipeline_config(model="sim:default", guard="paranoid")
    with pytest.raises(ConfigError):
        pipeline_config(model="sim:default", cache="sometimes")
