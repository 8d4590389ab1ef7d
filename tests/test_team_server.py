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
    """A trace as the public API gives it back, read as every reader of ours reads it (its tags
    unpacked: the batched server path packs most of them in one), without what differs between
    two stores by nature: the artifact folder, the experiment and run ids (runs compared by
    name, found by the trace's link to its run), and what only the per-trace server path writes
    (``StartTraceV3``'s ``infoFinalized`` marker and its ``mlflow.sourceRun`` copy of the link)
    or only the batched one (the root span's copy of the tags it brought)."""
    from llmops_nb.tracking import unpacked

    info = trace.info.to_dict()  # type: ignore[attr-defined]
    info.pop("trace_location")
    info["tags"] = dict(unpacked(info["tags"]))
    info["tags"].pop("mlflow.artifactLocation")
    info["trace_metadata"].pop("mlflow.trace.infoFinalized", None)
    info["trace_metadata"].pop("mlflow.sourceRun", None)
    exp = trace.info.experiment_id  # type: ignore[attr-defined]
    runs = [r for r in client.search_runs([exp])  # type: ignore[attr-defined]
            if any(t.info.trace_id == trace.info.trace_id  # type: ignore[attr-defined]
                   for t in client.search_traces(locations=[exp], run_id=r.info.run_id,  # type: ignore[attr-defined]
                                                 include_spans=False))]
    if runs:
        info["run_name"] = runs[0].info.run_name
    spans = [s.to_dict() for s in trace.data.spans]  # type: ignore[attr-defined]
    for span in spans:  # the tags that reached the server on the root span, which keeps them
        span["attributes"] = {k: v for k, v in span["attributes"].items()
                              if not k.startswith("mlflow.traceTag.") or k == "mlflow.traceTag.mlflow.traceName"}
    return {"info": info, "spans": spans}


@pytest.mark.parametrize("batched", [True, False], ids=["otlp-batches", "per-trace-info"])
def test_the_same_records_are_the_same_traces_in_sqlite_and_on_the_server(team_server, tmp_path, batched):
    """Both server paths — whole traces in OTLP batches (the default), and each trace's info
    with StartTraceV3 then the spans (older servers) — store what the SQL batch path stores:
    tags, token usage and cost, the run link, spans, previews, times."""
    import mlflow

    from llmops_nb import tracking
    from tests.test_trace_rows import _records

    records = _records()  # ok, cached, unpriced, failed with attempts, grouped with a prompt
    stored = {}
    for name, uri in (("sqlite", f"sqlite:///{tmp_path / 'mlflow.db'}"), ("server", team_server.url)):
        exporter = tracking.MlflowExporter(uri, f"same-records-{batched}-{os.getpid()}")
        if name == "server":
            exporter._batched = batched
        exporter.export(records)
        client = mlflow.MlflowClient(uri)
        stored[name] = {r.trace_id: _as_stored(client.get_trace(r.trace_id), client) for r in records}
    for r in records:
        assert stored["server"][r.trace_id] == stored["sqlite"][r.trace_id], r.trace_id
    grouped = stored["server"][records[-1].trace_id]["info"]
    assert grouped["run_name"] == "cell 3" and grouped["tags"]["llmops.latency_ms"] == "250.000"
    assert grouped["trace_metadata"]["mlflow.trace.tokenUsage"] and grouped["trace_metadata"]["mlflow.trace.cost"]


def test_one_otlp_request_carries_many_traces_each_with_its_facts(llm, team_server, tmp_path):
    """The batched server path: 60 calls of two users, half of them in a cell, reach the server
    in two OTLP requests for their traces (50 traces a request) and no request per trace; each
    trace arrives with its tokens, cost, user, prompt and run link, and history() reads them
    back over HTTP as from the local store."""
    import mlflow

    from llmops_nb import tracking
    from llmops_nb.types import CallRecord
    from tests.test_trace_rows import _records

    base = _records()[0]
    name = f"otlp-batches-{os.getpid()}"
    records = []
    for i in range(60):
        grouped = {"group_id": "c" * 32, "group_name": "cell 7"} if i % 2 else {}
        records.append(CallRecord(**{**base.__dict__, "record_id": f"{i:032x}", "trace_id": f"tr-{i:032x}",
                                              "user": ("alice", "bob")[i % 3 == 0], "cost_usd": 1e-6 * (i + 1),
                                              "usage": {"input_tokens": i + 1, "output_tokens": 2},
                                              "prompt": f"greeting@{i % 4 + 1}", "experiment": name, **grouped}))
    tap = Tap(team_server.port)
    try:
        tracking.MlflowExporter(tap.url, name).export(records)
    finally:
        tap.close()
    sent = bytes(tap.sent)
    assert sent.count(b"POST /v1/traces") == 2
    assert b"POST /api/3.0/mlflow/traces " not in sent  # no StartTraceV3: no request per trace
    client = mlflow.MlflowClient(team_server.url)
    exp = client.get_experiment_by_name(name).experiment_id
    run = client.search_runs([exp])[0]
    linked = {t.info.trace_id for t in client.search_traces(locations=[exp], run_id=run.info.run_id,
                                                            include_spans=False, max_results=100)}
    assert run.info.run_name == "cell 7" and linked == {r.trace_id for r in records if r.group_id}
    infos = {t.info.trace_id: t.info for t in client.search_traces(locations=[exp], include_spans=False,
                                                                   max_results=100)}
    assert set(infos) == {r.trace_id for r in records}
    by_name = client.search_traces(locations=[exp], include_spans=False, max_results=100,
                                   filter_string=f"tags.`mlflow.traceName` = '{base.request['model']}'")
    assert {t.info.trace_id for t in by_name} == set(infos)  # the model, searched as the trace's name
    for r in records:
        info = infos[r.trace_id]
        tags = tracking.unpacked(info.tags)
        assert info.tags["llmops.user"] == r.user  # searchable: a tag of its own
        # the model: packed, and searchable as the trace's name (the server's column, no tag row)
        assert "llmops.model" not in info.tags and info.tags["mlflow.traceName"] == tags["llmops.model"]
        assert tags["llmops.input_tokens"] == str(r.usage["input_tokens"]) and tags["llmops.prompt"] == r.prompt
        assert float(tags["llmops.cost_usd"]) == pytest.approx(r.cost_usd)
        assert json.loads(info.trace_metadata["mlflow.trace.tokenUsage"])["input_tokens"] == r.usage["input_tokens"]
        assert json.loads(info.trace_metadata["mlflow.trace.cost"])["total_cost"] == pytest.approx(r.cost_usd)
    sqlite_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking.MlflowExporter(sqlite_uri, name).export(records)
    frames = []
    for uri in (team_server.url, sqlite_uri):
        sessions.configure(tracking_uri=uri, experiment=name)
        frames.append(tracking.history(None, flush_first=False).sort_values("trace_id").reset_index(drop=True))
    assert len(frames[0]) == 60
    assert frames[0].drop(columns="started_at").equals(frames[1].drop(columns="started_at"))


def test_a_long_fact_goes_apart_and_the_rest_still_fits_one_tag():
    from llmops_nb import tracking

    tags = {"llmops.model": "m", "llmops.error": "x" * 7990, "llmops.status": "ERROR", "mlflow.linkedPrompts": "[]"}
    packed = tracking.packed_tags(tags)
    assert packed["llmops.error"] == "x" * 7990
    assert json.loads(packed["llmops.facts"]) == {"llmops.model": "m", "llmops.status": "ERROR"}
    assert packed["mlflow.linkedPrompts"] == "[]" and tracking.unpacked(packed) == tags


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
