"""Threads whose first calls start together share one copy of what the calls build once (16
concurrent first calls: each loaded its own guardrail classifier, +0.5 s of CPU)."""

from __future__ import annotations

import threading

from llmops_nb.guardrails import textmodel


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
    barrier = threading.Barrier(16)
    got = []

    def first_call() -> None:
        barrier.wait()
        got.append(textmodel.load("injection_model"))

    try:
        threads = [threading.Thread(target=first_call) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        textmodel._loaded.update(saved)
        textmodel.load.cache_clear()
    assert len(loads) == 1 and len(got) == 16 and all(m is got[0] for m in got)
