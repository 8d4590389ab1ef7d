"""A team's shared MLflow tracking server backed by PostgreSQL, both real, on 127.0.0.1.

``mlflow server --backend-store-uri postgresql://… --artifacts-destination …`` is started by
the fixture (PostgreSQL from Debian, run as the ``postgres`` user); the package talks to it over
HTTP exactly as a team's kernels would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops_nb import config, prompts
from llmops_nb import session as sessions
from tests.servers import MlflowServer, Tap, alive, descendants, free_port, mlflow_server, postgres_server

MODEL = "sim:gpt-4o-mini"
TOKEN = "team-token-0123456789-SECRET"


@pytest.fixture(scope="module")
def team_server() -> Iterator[object]:
    with postgres_server() as pg, mlflow_server(pg.uri()) as server:
        server.postgres = pg  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def remote(llm, team_server, monkeypatch, request):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    sessions.configure(tracking_uri=team_server.url, experiment=f"team-{request.node.name}"[:60], user="alice")
    return team_server


def test_calls_runs_history_and_costs_over_http(llm, remote):
    with llm.group("nightly eval"):
        answers = [llm.complete(MODEL, f"question {i}") for i in range(3)]
    llm.flush()
    df = llm.history()
    assert set(df["trace_id"]) == {a.trace_id for a in answers}
    assert df["cost_usd"].sum() == pytest.approx(sum(a.cost_usd for a in answers))
    assert set(df["input_tokens"]) <= {a.usage.input_tokens for a in answers}
    import mlflow

    client = mlflow.MlflowClient(remote.url)
    trace = client.get_trace(answers[0].trace_id)
    assert trace.info.tags["llmops.user"] == "alice"  # who made the call
    exp = client.get_experiment_by_name(config.settings().experiment)
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.run_name for r in runs] == ["nightly eval"]
    # the credential is used on the wire (read through a tap in front of the server) ...
    tap = Tap(remote.port)
    try:
        sessions.configure(tracking_uri=tap.url)
        assert set(llm.history(flush_first=False)["trace_id"]) == {a.trace_id for a in answers}
        assert f"Bearer {TOKEN}".encode() in bytes(tap.sent)
    finally:
        tap.close()
    # ... and recorded nowhere: not in the store, not in the local journal or settings
    assert TOKEN not in json.dumps(trace.to_dict()) and TOKEN not in json.dumps(runs[0].to_dictionary())
    home = config.settings().home
    assert not any(TOKEN in p.read_text(errors="ignore") for p in home.rglob("*") if p.is_file())
    assert TOKEN not in json.dumps(config.settings().public_dict(), default=str)


def test_prompt_registry_and_feedback_over_http(llm, remote):
    name = f"team-summarize-{os.getpid()}"
    v1 = prompts.register(name, "Summarize {{text}}", aliases=["production"]).version
    v2 = prompts.register(name, "Summarize {{text}} in {{n}} bullets").version
    prompts.set_alias(name, "production", v2.version)
    assert prompts.get(f"{name}@production").version == v2.version and v1.version == 1
    import mlflow

    loaded = mlflow.MlflowClient(remote.url, registry_uri=remote.url).get_prompt_version(name, 2)
    assert "bullets" in loaded.template
    c = llm.complete(None, prompts.get(f"{name}@production"), variables={"text": "a doc", "n": 2})
    llm.flush()
    llm.log_feedback(c.trace_id, True, comment="good")
    trace = mlflow.MlflowClient(remote.url).get_trace(c.trace_id)
    assert trace.info.tags["llmops.prompt"] == f"{name}@2"
    assert any(a.name == "user_rating" and a.value is True for a in trace.info.assessments)


def test_two_kernels_writing_at_once_lose_nothing_and_say_who_they_are(llm, team_server, tmp_path):
    experiment = f"team-two-kernels-{os.getpid()}"
    code = ("import json, sys, llmops_nb as llm\n"
            "from concurrent.futures import ThreadPoolExecutor\n"
            f"llm.configure(tracking_uri={team_server.url!r}, experiment={experiment!r}, cache_mode='off')\n"
            "with ThreadPoolExecutor(8) as pool:\n"
            f"    out = list(pool.map(lambda i: llm.complete({MODEL!r}, f'{{sys.argv[1]}} {{i}}').trace_id, range(40)))\n"
            "llm.flush()\n"
            "print(json.dumps(out))\n")
    env_base = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                             os.environ.get("PYTHONPATH", "")])}
    procs = {user: subprocess.Popen([sys.executable, "-c", code, user], stdout=subprocess.PIPE, text=True,
                                    env={**env_base, "LLMOPS_USER": user, "LLMOPS_HOME": str(tmp_path / user)})
             for user in ("alice", "bob")}
    ids = {user: json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for user, p in procs.items()}
    import mlflow

    client = mlflow.MlflowClient(team_server.url)
    exp = client.get_experiment_by_name(experiment)
    traces = client.search_traces(locations=[exp.experiment_id], max_results=500)
    by_user: dict[str, set[str]] = {}
    for t in traces:
        by_user.setdefault(t.info.tags["llmops.user"], set()).add(t.info.trace_id)
    assert by_user == {user: set(trace_ids) for user, trace_ids in ids.items()}


def test_the_server_stopped_mid_session_costs_calls_nothing_and_loses_nothing(llm, remote):
    llm.complete(MODEL, "before")
    llm.flush()
    remote.stop()
    try:
        t0 = time.perf_counter()
        answers = [llm.complete(MODEL, f"while the server is away {i}") for i in range(5)]
        assert time.perf_counter() - t0 < 3.0  # calls never wait on the server
    finally:
        remote.start()  # the same port, the same PostgreSQL database
    llm.flush(timeout=120)
    got = set(llm.history()["trace_id"])
    assert {a.trace_id for a in answers} <= got


def _as_stored(trace: object, client: object) -> dict:
    """A trace as the public API gives it back, without what differs between two stores by
    nature: the artifact folder, the experiment and run ids (runs compared by name), and
    MLflow's own ``infoFinalized`` marker (set by ``StartTraceV3``, the server path's way to
    write a trace's info)."""
    info = trace.info.to_dict()  # type: ignore[attr-defined]
    info.pop("trace_location")
    info["tags"].pop("mlflow.artifactLocation")
    info["trace_metadata"].pop("mlflow.trace.infoFinalized", None)
    run = info["trace_metadata"].pop("mlflow.sourceRun", None)
    if run is not None:
        info["run_name"] = client.get_run(run).info.run_name  # type: ignore[attr-defined]
    return {"info": info, "spans": [s.to_dict() for s in trace.data.spans]}  # type: ignore[attr-defined]


def test_the_same_records_are_the_same_traces_in_sqlite_and_on_the_server(team_server, tmp_path):
    """The server path (trace info with StartTraceV3, spans in OTLP batches) stores what the
    SQL batch path stores: tags, metadata (tokens, cost, run), spans, previews, times."""
    import mlflow

    from llmops_nb import tracking
    from tests.test_trace_rows import _records

    records = _records()  # ok, cached, unpriced, failed with attempts, grouped with a prompt
    stored = {}
    for name, uri in (("sqlite", f"sqlite:///{tmp_path / 'mlflow.db'}"), ("server", team_server.url)):
        tracking.MlflowExporter(uri, f"same-records-{os.getpid()}").export(records)
        client = mlflow.MlflowClient(uri)
        stored[name] = {r.trace_id: _as_stored(client.get_trace(r.trace_id), client) for r in records}
    for r in records:
        assert stored["server"][r.trace_id] == stored["sqlite"][r.trace_id], r.trace_id
    grouped = stored["server"][records[-1].trace_id]["info"]
    assert grouped["run_name"] == "cell 3" and grouped["tags"]["llmops.latency_ms"] == "250.000"


def test_the_token_is_never_written_to_the_database(team_server):
    dump = subprocess.run([str(team_server.postgres.bindir / "pg_dump"), "-h", "127.0.0.1", "-p",
                           str(team_server.postgres.port), "-U", "postgres", "mlflow"],
                          capture_output=True, text=True, check=True).stdout
    assert "llmops.user" in dump  # the dump does hold our records
    assert TOKEN not in dump


class _NeverHealthy(MlflowServer):
    """A server whose ``/health`` never answers in time: the start-up times out once the server
    has started its own processes (uvicorn, the job runner), the case that used to leave them
    running."""

    seen: list[int] = []

    def _answers(self) -> bool:
        assert self.proc is not None
        kids = descendants(self.proc.pid)
        if len(kids) >= 2:
            self.seen = [self.proc.pid, *kids]
            raise TimeoutError("mlflow server did not answer in time (test)")
        return False


def test_a_server_start_that_times_out_leaves_no_process_behind(tmp_path):
    (tmp_path / "artifacts").mkdir()
    server = _NeverHealthy(free_port(), f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "artifacts", workers=1)
    with pytest.raises(TimeoutError):
        server.start(timeout=240)
    assert len(server.seen) >= 3  # the server and the processes it had started
    assert alive(server.seen) == []
