"""A script's calls reach the store when it exits, and a store cut off while being created is
not left half-built.

A script's first export often runs in its atexit flush: ``import mlflow`` then happens while
``threading`` is shutting down, and the store (new on a first run) is migrated against the
flush's deadline."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import mlflow

from llmops_nb.tracking import MlflowExporter


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


def _revision(db: Path) -> str | None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as con:
            return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except (sqlite3.Error, TypeError):
        return None


def test_a_new_store_appears_only_when_complete(tmp_path):
    """Whenever the store's file exists it is fully migrated: an exit deadline or a kill during
    the seconds of migrations leaves no half-built store that MLflow refuses ever after."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    db = tmp_path / "mlflow.db"
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = tmp_path / f".mlflow.db.{gone.pid}-0badc0de.creating"
    stale.write_bytes(b"cut off")  # left by a process killed while it built the store
    seen: list[str | None] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if db.exists():
                seen.append(_revision(db))
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        exporter = MlflowExporter(f"sqlite:///{db}", "new-store")
    finally:
        stop.set()
        watcher.join()
    assert seen == [_get_latest_schema_revision()]
    assert exporter.client.get_experiment_by_name("new-store") is None  # the store answers
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".creating")] == []


def test_an_export_at_exit_still_sends_every_request():
    """At exit no new threads may start (``concurrent.futures`` refuses work): the requests to a
    tracking server that usually go 4 at a time are then sent one after the other."""
    code = ("import atexit\nfrom llmops_nb.tracking import _parallel\n"
            "sent = []\n"
            "atexit.register(lambda: (_parallel(sent.append, [1, 2, 3], 4), print(sorted(sent))))\n")
    out = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[1, 2, 3]", out.stderr
