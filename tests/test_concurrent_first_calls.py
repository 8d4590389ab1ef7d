"""Threads whose first calls start together share one copy of what the calls build once (16
concurrent first calls: each loaded its own guardrail classifier, +0.5 s of CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from llmops_nb.guardrails import textmodel
from tests.concurrency import all_at_once


def test_threads_starting_together_load_a_classifier_once(monkeypatch):
    loads = []
    real_open = textmodel.resources.files

    def counting(package):
        loads.append(package)
        return real_open(package)

    monkeypatch.setattr(textmodel.resources, "files", counting)
    saved = dict(textmodel._loaded)
    textmodel._loaded.clear()
    textmodel.load.cache_clear()
    try:
        got = all_at_once(lambda: textmodel.load("injection_model"), threads=16)
    finally:
        textmodel._loaded.update(saved)
        textmodel.load.cache_clear()
    assert len(loads) == 1 and len(got) == 16 and all(m is got[0] for m in got)


SDK_MODELS_BUILT = """
import json, sys
from llmops_nb.providers.base import get_provider, warm
from llmops_nb.providers.sdk_models import reachable_models
from llmops_nb.types import Message as Msg, Request
from openai._models import FinalRequestOptions as OpenAIOptions
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from anthropic._models import FinalRequestOptions as AnthropicOptions
from anthropic.types import Message, RawMessageStreamEvent

def unbuilt(*types):
    return sorted(m.__qualname__ for m in reachable_models(types) if not m.__pydantic_complete__)

out = {}
get_provider("anthropic").warm("sk-test", 60.0)  # its stream carries whole messages: one form
out["anthropic"] = unbuilt(Message, RawMessageStreamEvent, AnthropicOptions)
openai = get_provider("openai")
openai.warm("sk-test", 60.0)  # the warm-up's: a streamed answer, what a notebook's first call is
out["openai warmed: streamed"] = unbuilt(ChatCompletionChunk, OpenAIOptions)
whole = unbuilt(ChatCompletion)
request = Request("openai:gpt-5.4-mini", "openai", "gpt-5.4-mini", (Msg("user", "hi"),))
warm(openai, "sk-test", 5.0, request)  # what the pipeline does for a call before its clock starts
out["openai: whole, after the warm-up / before the clock of a whole-answer call"] = [bool(whole), unbuilt(ChatCompletion)]
print(json.dumps(out))
"""


def test_the_sdk_models_an_answer_is_parsed_into_are_built_before_the_first_call_is_sent(tmp_path):
    """The SDKs build their pydantic models on first use (``defer_build``), and pydantic's
    rebuild is not thread-safe: several threads parsing their first answers at once made some of
    them fail with "BaseModel cannot be instantiated directly". The provider builds them, in one
    thread, for each form (streamed or whole) before the clock of the first call of that form
    starts, and only the form a call needs (OpenAI's two share few models: building both cost a
    first call 5-10 ms)."""
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path), "LLMOPS_TRACKING": "false"}
    out = subprocess.run([sys.executable, "-c", SDK_MODELS_BUILT], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "anthropic": [], "openai warmed: streamed": [],
        "openai: whole, after the warm-up / before the clock of a whole-answer call": [True, []]}


FIRST_CALLS_AT_ONCE = """
import json, sys, threading
sys.setswitchinterval(1e-6)  # switch threads as often as possible: widen any race
import llmops_nb as llm
llm.configure(tracking=False, cache_mode="off")
barrier, errors = threading.Barrier(32), []

def first_call(i):
    barrier.wait()
    try:
        model = "openai:gpt-5.4-mini" if i % 2 else "anthropic:claude-haiku-4-5"
        llm.complete(model, f"Say hello {i}", stream=bool(i % 4 < 2))
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")

threads = [threading.Thread(target=first_call, args=(i,)) for i in range(32)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(errors))
"""


def test_32_threads_first_calls_at_once_all_answer(tmp_path, fake_openai, fake_anthropic):
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path), "OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-t",
           "OPENAI_BASE_URL": fake_openai.base_url, "ANTHROPIC_BASE_URL": fake_anthropic.base_url}
    out = subprocess.run([sys.executable, "-c", FIRST_CALLS_AT_ONCE], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_built_in_provider_is_found_without_scanning_the_installed_packages(monkeypatch):
    """The first call of a process looked its provider up in every installed package's entry
    points (~10-15 ms of its critical path, 540 packages here) even for the built-in ones."""
    import importlib.metadata

    from llmops_nb.providers import base
    from llmops_nb.providers.anthropic import AnthropicProvider
    from llmops_nb.providers.openai import OpenAIProvider
    from llmops_nb.providers.sim import SimProvider

    def no_scan(*args, **kwargs):
        raise AssertionError("entry points scanned")

    monkeypatch.setattr(base, "_registry", base._Registry())
    monkeypatch.setattr(importlib.metadata, "entry_points", no_scan)
    assert isinstance(base.get_provider("openai"), OpenAIProvider)
    assert isinstance(base.get_provider("anthropic"), AnthropicProvider)
    assert isinstance(base.get_provider("sim"), SimProvider)
    assert base.get_provider("ollama").base_url == "http://localhost:11434/v1"
