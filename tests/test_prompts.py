"""Versioned prompts on the real MLflow Prompt Registry (sqlite store)."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest

from llmops_nb import errors as E
from llmops_nb import prompts
from llmops_nb.config import settings

TEMPLATE = "[system] You are a precise technical editor.\nSummarize {{text}} in at most {{n}} bullet points."


@pytest.fixture
def name(llm):
    import uuid

    return f"summarize-{uuid.uuid4().hex[:6]}"


def _mlflow_versions(name):
    client = mlflow.MlflowClient(settings().tracking_uri, registry_uri=settings().tracking_uri)
    return sorted(int(v.version) for v in client.search_prompt_versions(name))


def test_register_only_when_content_changes(name):
    first = prompts.register(name, TEMPLATE, message="first")
    again = prompts.register(name, TEMPLATE, message="same text, new message")
    assert first.created and not again.created
    assert again.version.ref == first.version.ref == f"{name}@1"
    changed = prompts.register(name, TEMPLATE.replace("{{n}}", "{{n}} short"), message="shorter")
    assert changed.created and changed.version.version == 2
    assert "-Summarize" in changed.diff() and "+Summarize" in changed.diff() and "short" in changed.diff()
    assert _mlflow_versions(name) == [1, 2]


def test_model_and_params_are_part_of_the_content(name):
    a = prompts.register(name, TEMPLATE)
    b = prompts.register(name, TEMPLATE, model="sim:default", params={"temperature": 0.2})
    assert b.created and b.version.model == "sim:default" and b.version.params == {"temperature": 0.2}
    assert "# temperature: 0.2" in prompts.diff(name, 1, 2)
    assert a.version.version == 1


def test_no_duplicate_after_a_kernel_restart(name):
    prompts.register(name, TEMPLATE)
    code = (f"from llmops_nb import prompts; r = prompts.register({name!r}, {TEMPLATE!r});"
            "print(r.created, r.version.version)")
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings().tracking_uri, "LLMOPS_HOME": str(settings().home)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "1"]
    # and with no local index at all (another machine): the store's hash decides
    env["LLMOPS_HOME"] = str(settings().home) + "-elsewhere"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "1"]
    assert _mlflow_versions(name) == [1]


def test_parts_variables_messages_and_format(name):
    v = prompts.register(name, TEMPLATE).version
    assert v.parts[0] == ("system", "You are a precise technical editor.")
    assert v.variables == ["text", "n"]
    msgs = v.messages(text="the report", n=3)
    assert msgs[1] == {"role": "user", "content": "Summarize the report in at most 3 bullet points."}
    with pytest.raises(E.MissingVariables, match=r"\{\{n\}\}"):
        v.messages(text="x")
    assert prompts.register(f"{name}-plain", "Hello {{who}}").version.format(who="you") == "Hello you"


def test_get_by_latest_number_and_alias(name):
    prompts.register(name, TEMPLATE, aliases=["production"])
    prompts.register(name, TEMPLATE + " Be brief.")
    assert prompts.get(name).version == 2
    assert prompts.get(f"{name}@1").version == 1
    assert prompts.get(f"{name}@production").version == 1
    assert prompts.get(name, version=2).version == 2
    assert prompts.get(f"{name}@production").aliases == ("production",)


def test_alias_and_rollback(name):
    prompts.register(name, TEMPLATE, aliases=["production"])
    prompts.register(name, TEMPLATE + " v2")
    prompts.register(name, TEMPLATE + " v3")
    prompts.set_alias(name, "production", 2)
    prompts.set_alias(name, "production", 3)
    assert prompts.rollback(name, "production").version == 2
    assert prompts.get(f"{name}@production").version == 2
    assert prompts.rollback(name, "production").version == 1
    with pytest.raises(E.PromptError, match="no earlier version"):
        prompts.rollback(name, "production")


def test_calls_record_the_version_and_link_it_in_mlflow(llm, name):
    v = prompts.register(name, TEMPLATE, aliases=["production"]).version
    c = prompts.complete("sim:default", prompt=f"{name}@production", variables={"text": "logs", "n": 2})
    assert c.prompt == f"{name}@1"
    llm.flush()
    assert llm.history(1).prompt[0] == f"{name}@1"
    client = mlflow.MlflowClient(settings().tracking_uri)
    tags = client.get_trace(c.trace_id).info.tags
    assert f'"name": "{name}"' in tags["mlflow.linkedPrompts"] and v.version == 1


def test_prompt_defaults_apply_and_line_overrides_win(llm, name):
    v = prompts.register(name, "Say {{x}}", model="sim:echo", params={"max_tokens": 3}).version
    c = llm.complete(None, v, variables={"x": "one two three four five six"})
    assert c.model == "sim:echo" and c.finish_reason == "length"
    c = llm.complete("sim:default", v, variables={"x": "hi"}, max_tokens=50)
    assert c.model == "sim:default" and c.finish_reason == "stop"


def test_new_version_never_returns_an_old_cached_answer(llm, name):
    a = prompts.complete("sim:default", prompt=prompts.register(name, "Tell {{x}}").version, variables={"x": "a"})
    b = prompts.complete("sim:default", prompt=prompts.register(name, "Tell me {{x}}").version,
                         variables={"x": "a"})
    assert not b.cached and a.text != b.text


def test_interoperates_with_mlflow_genai(name, monkeypatch):
    prompts.register(name, TEMPLATE, aliases=["production"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings().tracking_uri)
    mlflow.set_tracking_uri(settings().tracking_uri)
    loaded = mlflow.genai.load_prompt(f"prompts:/{name}@production")
    assert loaded.template[1]["content"].startswith("Summarize {{text}}")
    mlflow.genai.register_prompt(f"{name}-native", "Native {{thing}}", commit_message="from mlflow")
    native = prompts.get(f"{name}-native")
    assert native.variables == ["thing"] and native.message == "from mlflow"
    assert prompts.register(f"{name}-native", "Native {{thing}}").created is False


@pytest.mark.parametrize("call,error,match", [
    (lambda: prompts.register("bad name!", "x"), E.InvalidPromptName, "letters, digits"),
    (lambda: prompts.register("ok", "x", aliases=["latest"]), E.InvalidPromptName, "reserved"),
    (lambda: prompts.register("ok", "Hi {{name}"), E.InvalidTemplate, "unbalanced"),
    (lambda: prompts.register("ok", "  \n "), E.InvalidTemplate, "empty"),
    (lambda: prompts.register("ok", "x", model="gpt-4o"), E.ConfigError, "provider:model"),
])
def test_bad_input_is_typed(llm, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_unknown_versions_and_aliases(name):
    prompts.register(name, TEMPLATE)
    with pytest.raises(E.PromptNotFound, match="versions 1–1"):
        prompts.get(f"{name}@7")
    with pytest.raises(E.PromptNotFound, match="no alias 'staging'"):
        prompts.get(f"{name}@staging")
    with pytest.raises(E.PromptNotFound, match="%%prompt"):
        prompts.get("never-defined")


def test_templates_keep_braces_and_dollars(name):
    text = 'Return {"a": {"b": [1, 2]}} for {{x}}; $5; \\frac{a}{b}; {k: v for k in d}'
    v = prompts.register(name, text).version
    assert v.format(x="X") == 'Return {"a": {"b": [1, 2]}} for X; $5; \\frac{a}{b}; {k: v for k in d}'


def test_magics(llm, name):
    from IPython.testing.globalipapp import start_ipython
    from IPython.utils.capture import capture_output

    start_ipython()
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.run_line_magic("load_ext", "llmops_nb")
    with capture_output() as cap:
        ip.run_cell_magic("prompt", f"{name} -m first --alias production --model sim:echo", "Echo {{word}}")
    assert f"{name}@1 (new version)" in cap.outputs[0].data["text/plain"]
    ip.user_ns["word"] = "from-namespace"
    with capture_output() as cap:
        ip.run_line_magic("llm", f"--prompt {name}@production -o ans")
    assert ip.user_ns["ans"].text == "Echo from-namespace" and ip.user_ns["ans"].prompt == f"{name}@1"
    ip.run_line_magic("llm", f"--prompt {name} --var word=from-var -o ans")
    assert ip.user_ns["ans"].text == "Echo from-var"
    ip.run_cell_magic("llm", f"--prompt {name} -o ans", "# variables\nword = from the body\n")
    assert ip.user_ns["ans"].text == "Echo from the body"
    with pytest.raises(Exception, match="one 'name = value' per line"):
        ip.run_cell_magic("llm", f"--prompt {name}", "free text is not a variable")
    with capture_output() as cap:
        ip.run_cell_magic("prompt", name, "Echo {{word}} twice")
        ip.run_line_magic("llm", f"diff {name} 1 2")
        ip.run_line_magic("llm", f"alias {name} production 2")
        ip.run_line_magic("llm", f"rollback {name} production")
    assert "+Echo {{word}} twice" in cap.outputs[0].data["text/plain"]
    assert f"{name}@production → version 1 (rolled back)" in cap.stdout
    table = ip.run_line_magic("llm", f"prompt {name}")
    assert table.version.tolist() == [1, 2] and table.message.tolist() == ["first", ""]
    listing = ip.run_line_magic("llm", "prompts")
    assert name in listing.name.tolist()
    ip.user_ns.pop("word")
