"""Team-scale figures, each against a baseline measured in the same run.

    python benchmarks/team.py [--calls N] [--export N] [--previous N] [--load-s S]

- cache hit: ``complete()`` answered from a real ``redis-server`` on 127.0.0.1 vs from the local
  diskcache (the default), interleaved; and the backends' own ``get`` alone;
- OTLP export: per-call cost of ``complete()`` with OTLP/HTTP export on (to a real receiver,
  ``mlflow server``'s ``/v1/traces``) vs off, interleaved — what the calling thread pays;
- sustained load: 64 threads making calls for ``--load-s`` seconds with recording into sqlite,
  then into the server: the call rate, the backlog when the load stops and its flush time;
- export throughput (records/s) from the journal into the local sqlite store and into a real
  ``mlflow server`` over HTTP, ungrouped and grouped in a cell's run, against that call rate,
  with the CPU seconds per trace of the server's request workers, its job runner and
  PostgreSQL (a figure that does not depend on the machine's load, unlike records/s): the
  server path (whole traces in OTLP batches) against the previous one as the baseline (each
  trace's info with its own ``StartTraceV3``, then the spans in OTLP batches — the path
  servers older than MLflow 3.17 still get), on the same server, interleaved, in one run.

The server runs as a team runs it: ``mlflow server``'s default worker count (4) on PostgreSQL
with its durable defaults (``fsync`` and ``synchronous_commit`` on).

Results go to benchmarks/results/team.json. Servers come from tests/servers.py, process CPU from
tests/procs.py.
"""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["MLFLOW_MODEL_CATALOG_URI"] = ""
os.environ["DO_NOT_TRACK"] = "true"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "team.json"
MODEL = "sim:gpt-4o-mini"


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(_p(ms, 0.5), 4), "p95_ms": round(_p(ms, 0.95), 4),
            "mean_ms": round(statistics.fmean(ms), 4)}


def _instant_sim() -> None:
    from llmops_nb.providers import sim

    sim.configure_model("gpt-4o-mini", ttft_s=0.0, tokens_per_s=0)  # answers at once: only our cost


def _use(session: Any) -> None:
    """Make ``session`` (and its settings) current without closing the other one."""
    from llmops_nb import config
    from llmops_nb import session as sessions

    sessions._session = session
    config.install(session.settings)


def cache_hits(redis_url: str, n: int, scratch: Path) -> dict[str, Any]:
    import llmops_nb as llm
    from llmops_nb import session as sessions

    built = {}
    for name, extra in (("diskcache", {}), ("redis", {"cache_url": redis_url})):
        sessions.reset(home=scratch / name, tracking=False, guardrails="off", **extra)
        llm.complete(MODEL, "the cached question")  # the entry
        built[name] = sessions.session()
    times: dict[str, list[float]] = {"diskcache": [], "redis": []}
    gets: dict[str, list[float]] = {"diskcache": [], "redis": []}
    for i in range(n):
        order = ("diskcache", "redis") if i % 2 == 0 else ("redis", "diskcache")
        for name in order:
            _use(built[name])
            t0 = time.perf_counter()
            c = llm.complete(MODEL, "the cached question")
            times[name].append((time.perf_counter() - t0) * 1000)
            assert c.cached
            t0 = time.perf_counter()
            built[name].cache.get("llm:absent-key")
            gets[name].append((time.perf_counter() - t0) * 1000)
    return {"complete_hit": {k: _summary(v) for k, v in times.items()},
            "backend_get": {k: _summary(v) for k, v in gets.items()},
            "redis_minus_diskcache_p50_ms": round(_p(times["redis"], 0.5) - _p(times["diskcache"], 0.5), 4)}


def otlp_overhead(receiver_url: str, exp_id: str, n: int, scratch: Path) -> dict[str, Any]:
    import llmops_nb as llm
    from llmops_nb import session as sessions

    sessions.reset(home=scratch / "otlp-off", cache_mode="off", guardrails="off",
                   tracking_uri=f"sqlite:///{scratch / 'otlp.db'}")
    off = sessions.session()
    os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver_url + "/v1/traces"
    os.environ["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = f"x-mlflow-experiment-id={exp_id}"
    try:
        sessions.reset(home=scratch / "otlp-on", cache_mode="off", guardrails="off",
                       tracking_uri=f"sqlite:///{scratch / 'otlp.db'}")
        on = sessions.session()
    finally:
        del os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], os.environ["OTEL_EXPORTER_OTLP_TRACES_HEADERS"]
    times: dict[str, list[float]] = {"off": [], "on": []}
    for i in range(n):
        for name in (("off", "on") if i % 2 == 0 else ("on", "off")):
            _use(off if name == "off" else on)
            t0 = time.perf_counter()
            llm.complete(MODEL, f"question {i}")
            times[name].append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    on.recorder.flush(timeout=300)
    off.recorder.flush(timeout=300)
    flush_s = time.perf_counter() - t0
    return {"complete": {k: _summary(v) for k, v in times.items()},
            "otlp_minus_off_p50_ms": round(_p(times["on"], 0.5) - _p(times["off"], 0.5), 4),
            "flush_both_s": round(flush_s, 3)}


class CpuMeter:
    """CPU seconds (user + system) used by process trees: the ``mlflow server`` (its uvicorn
    workers, job runner) and the PostgreSQL cluster (postmaster and backends), read from /proc.
    A figure that does not depend on what else the machine runs, unlike records/s."""

    def __init__(self, **roots: int) -> None:
        self.roots = roots

    @classmethod
    def of(cls, server: Any, pg: Any) -> CpuMeter:
        """The server's request workers (uvicorn and its worker processes) apart from its job
        runner (background jobs, polling even when idle), and PostgreSQL."""
        from tests.procs import cmdline, processes

        roots = {"postgres": int((pg.data / "postmaster.pid").read_text().split()[0])}
        for pid, proc in processes().items():
            if proc.ppid == server.proc.pid:
                roots["server_jobs" if b"job_runner" in cmdline(pid) else "server"] = pid
        return cls(**roots)

    def read(self) -> dict[str, float]:
        from tests.procs import tree_cpu_s

        return {name: tree_cpu_s(pid) for name, pid in self.roots.items()} | {"client": time.process_time()}


def _per_trace_ms(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    return {f"{name}_cpu_ms_per_trace": round((after[name] - before[name]) / n * 1000, 2) for name in before}


def _check_meter(meter: CpuMeter) -> None:
    missing = {"server", "server_jobs", "postgres"} - set(meter.roots)
    assert not missing, f"no process found for {missing}"


def sustained_load(uri: str, scratch: Path, label: str, *, threads: int = 64, seconds: float = 10.0) -> dict[str, Any]:
    """``threads`` threads make calls for ``seconds`` with recording into ``uri`` (the sim answers
    in 50 ms): the call rate, the records not yet in the store when the load stops (the backlog)
    and how long they then take to arrive."""
    import llmops_nb as llm
    from llmops_nb import session as sessions
    from llmops_nb.providers import sim

    sim.configure_model("rate", ttft_s=0.05, tokens_per_s=0)
    sessions.reset(home=scratch / f"rate-{label}", cache_mode="off", guardrails="off", tracking_uri=uri,
                   experiment=f"bench-load-{label}-{int(time.time())}")
    llm.complete("sim:rate", "warm")  # the exporter is built before the clock starts
    sessions.session().recorder.flush(timeout=600)
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def work(k: int) -> None:
        while time.monotonic() < stop:
            llm.complete("sim:rate", f"{k} {counts[k]}")
            counts[k] += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    made_s = time.perf_counter() - t0
    backlog = sessions.session().recorder.pending
    t0 = time.perf_counter()
    sessions.session().recorder.flush(timeout=1800)
    flush_s = time.perf_counter() - t0
    calls = sum(counts)
    return {"threads": threads, "calls": calls, "seconds": round(made_s, 2), "calls_per_s": round(calls / made_s, 1),
            "backlog_records_at_end": backlog, "backlog_flush_s": round(flush_s, 2),
            "exported_per_s_overall": round(calls / (made_s + flush_s), 1)}


def export_throughput(uri: str, n: int, scratch: Path, label: str, *, grouped: bool = False,
                      meter: CpuMeter | None = None, warm: int = 1) -> dict[str, Any]:
    """Journal ``n`` records with the exporter held back, then time how fast they reach ``uri``
    (``grouped``: all made in one cell, so each trace is also linked to the cell's run)."""
    import llmops_nb as llm
    from llmops_nb import session as sessions

    sessions.reset(home=scratch / f"export-{label}", cache_mode="off", guardrails="off", tracking_uri=uri,
                   experiment=f"bench-export-{label}-{int(time.time())}")
    rec = sessions.session().recorder
    for i in range(warm):  # the exporter, the experiment (and a fresh server's workers) warm before the clock
        llm.complete(MODEL, f"warm {label} {i}")
    rec.flush(timeout=600)
    # hold the exporter back: it defers while a call ended less than quiet_s ago, at most max_defer_s
    rec._max_defer_s = rec._first_max_defer_s = 3600.0
    rec._last_end = time.monotonic() + 3600.0
    with llm.group(f"cell {label}") if grouped else contextlib.nullcontext():
        for i in range(n):
            llm.complete(MODEL, f"export {label} {i}")
    held = rec.pending
    before = meter.read() if meter else None
    t0 = time.perf_counter()
    rec.flush(timeout=1800)
    elapsed = time.perf_counter() - t0
    out = {"records": n, "held_at_start": held, "grouped": grouped, "seconds": round(elapsed, 3),
           "records_per_s": round(n / elapsed, 1)}
    if meter and before:
        out.update(_per_trace_ms(before, meter.read(), n))
    rec._last_end = time.monotonic()
    return out


@contextlib.contextmanager
def per_trace_path() -> Any:
    """The baseline: the server path as it was before this round (each trace's info with
    ``StartTraceV3``, then the spans in OTLP batches) — what a server older than
    ``BATCHED_SINCE`` still gets; the same code otherwise."""
    from llmops_nb import tracking

    current = tracking.MlflowExporter._server_stores_span_tags
    tracking.MlflowExporter._server_stores_span_tags = lambda self: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        tracking.MlflowExporter._server_stores_span_tags = current  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--export", type=int, default=1500)
    ap.add_argument("--previous", type=int, default=500, help="records for the previous (per-trace) server path")
    ap.add_argument("--load-s", type=float, default=10.0, help="seconds of sustained load at 64 threads")
    args = ap.parse_args(argv)
    from tests.servers import mlflow_server, postgres_server, redis_server

    _instant_sim()
    scratch = Path(tempfile.mkdtemp(prefix="llmops_nb-team-bench-"))
    res: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg": os.getloadavg(),
                           "cores": os.cpu_count(), "calls": args.calls}
    with redis_server() as redis:
        res["cache_hit"] = cache_hits(redis.url, args.calls, scratch)
    # PostgreSQL with its durable defaults (fsync on); mlflow server with its default worker count
    with postgres_server(durable=True) as pg, mlflow_server(pg.uri()) as server:
        import mlflow

        from llmops_nb import tracking

        res["server"] = {"workers": "mlflow default (4)", "postgres": "defaults (fsync=on, synchronous_commit=on)",
                         "requests_in_flight": tracking.MlflowExporter.WORKERS}
        meter = CpuMeter.of(server, pg)
        _check_meter(meter)
        exp_id = mlflow.MlflowClient(server.url).create_experiment(f"otlp-bench-{int(time.time())}")
        res["otlp"] = otlp_overhead(server.url, exp_id, args.calls, scratch)
        sqlite_uri = f"sqlite:///{scratch / 'export.db'}"
        res["sustained_load_sqlite"] = sustained_load(f"sqlite:///{scratch / 'rate.db'}", scratch, "sqlite",
                                                      seconds=args.load_s)
        res["sustained_load_server"] = sustained_load(server.url, scratch, "server", seconds=args.load_s)
        res["call_rate_64_threads_per_s"] = res["sustained_load_sqlite"]["calls_per_s"]
        for grouped in (False, True):
            tail = "_grouped" if grouped else ""
            res["export_sqlite" + tail] = export_throughput(sqlite_uri, args.export, scratch, "sqlite" + tail,
                                                            grouped=grouped)
            res["export_server_postgres" + tail] = export_throughput(
                server.url, args.export, scratch, "server" + tail, grouped=grouped, meter=meter)
            # the baseline on the same server, right after: the per-trace path
            with per_trace_path():
                res["export_server_postgres_per_trace_info" + tail] = export_throughput(
                    server.url, args.previous, scratch, "per-trace" + tail, grouped=grouped, meter=meter)
        new, old = res["export_server_postgres"], res["export_server_postgres_per_trace_info"]
        res["server_speedup_records_per_s"] = round(new["records_per_s"] / old["records_per_s"], 2)
        res["server_vs_call_rate"] = round(new["records_per_s"] / res["call_rate_64_threads_per_s"], 2)
        per_trace = new["server_cpu_ms_per_trace"] + new["postgres_cpu_ms_per_trace"]
        res["server_capacity"] = {
            "server_plus_postgres_cpu_ms_per_trace": round(per_trace, 2),
            "per_trace_path_server_plus_postgres_cpu_ms_per_trace": round(
                old["server_cpu_ms_per_trace"] + old["postgres_cpu_ms_per_trace"], 2),
            "traces_per_s_per_core": round(1000 / per_trace, 1),
            "traces_per_s_this_machine_at_best": round(1000 * (os.cpu_count() or 1)
                                                       / (per_trace + new["client_cpu_ms_per_trace"]), 1),
            "cores_to_keep_up_with_the_call_rate": round(res["call_rate_64_threads_per_s"] * per_trace / 1000, 1),
        }
    res["load_avg_after"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
