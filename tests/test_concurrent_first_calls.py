"""Threads whose first calls start together share one copy of what the calls build once (16
concurrent first calls: each loaded its own guardrail classifier, +0.5 s of CPU)."""

from __future__ import annotations

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
