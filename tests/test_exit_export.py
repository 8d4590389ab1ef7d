"""A script's calls reach the store when it exits, and it does not exit while its store is
being built.

A script's first export often runs in its atexit flush: ``import mlflow`` then happens while
``threading`` is shutting down, and the store (new on a first run) is migrated against the
flush's deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import mlflow

from llmops_nb.types import CallRecord


def _traces(uri: str, experiment: str) -> list[object]:
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment}: nothing was exported"
    return client.search_traces(locations=[exp.experiment_id])


def test_a_scripts_only_call_reaches_the_store_when_it_exits(tmp_path):
    uri = f"sqlite:///{Path.cwd() / 'mlflow.db'}"  # the shared test store (created if absent)
    mlflow.MlflowClient(uri).search_experiments(max_results=1)
    experiment = f"exit-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "LLMOPS_EXPERIMENT": experiment,
           "LLMOPS_HOME": str(tmp_path / "home"), "LLMOPS_DEFAULT_MODEL": "sim:echo"}
    code = "import llmops_nb\nprint(llmops_nb.complete('sim:echo', 'hello from a script').text)\n"
    for run in (1, 2):  # a first run sets up its home; the second is the everyday case
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, timeout=120,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "not taking records" not in out.stderr and "have not reached" not in out.stderr, out.stderr
        assert len(_traces(uri, experiment)) == run
    assert not list((tmp_path / "home").rglob("*.jsonl")), "the record stayed journaled"


def test_a_process_does_not_exit_while_its_store_is_being_built(tmp_path):
    """A first run's store takes seconds of migrations, built with the exporter. A process that
    left mid-build (its exit flush waits only so long) left a half-built mlflow.db that MLflow
    refuses ever after ("table _alembic_tmp_experiments already exists"); it now waits for the
    build, then leaves (the records it could not send stay journaled)."""
    built = tmp_path / "built"
    code = (
        "import pathlib, time\n"
        "from llmops_nb.recording import JournalRecorder\n"
        "from tests.test_exit_export import record\n"
        "def build():  # the store's migrations\n"
        "    time.sleep(4.0)\n"
        f"    pathlib.Path({str(built)!r}).write_text('complete')\n"
        "    raise OSError('the first export fails after the store is built')\n"
        f"rec = JournalRecorder(pathlib.Path({str(tmp_path / 'journal')!r}), build, quiet_s=0)\n"
        "rec.record(record())\n"
        "time.sleep(0.3)  # the build is under way\n"
        "rec.close(timeout=0.5)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=Path.cwd(), timeout=60, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert built.read_text() == "complete"
    assert list((tmp_path / "journal").glob("*.jsonl")), "the unsent record is kept"


def record() -> CallRecord:
    now = time.time_ns()
    return CallRecord(record_id=uuid.uuid4().hex, trace_id=f"tr-{uuid.uuid4().hex}", started_at_ns=now,
                      ended_at_ns=now, request={"model": "sim:x", "provider": "sim", "model_name": "x",
                                                "messages": [], "system": None, "params": {}, "stream": False},
                      status="OK")


def test_an_export_at_exit_still_sends_every_request():
    """At exit no new threads may start (``concurrent.futures`` refuses work): the requests to a
    tracking server that usually go several at a time are then sent one after the other."""
    code = ("import atexit\nfrom llmops_nb.tracking import _parallel\n"
            "sent = []\n"
            "atexit.register(lambda: (_parallel(sent.append, [1, 2, 3], 4), print(sorted(sent))))\n")
    out = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[1, 2, 3]", out.stderr
