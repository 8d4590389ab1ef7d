"""Team-scale figures, each against a baseline measured in the same run.

    python benchmarks/team.py [--calls N] [--export N] [--previous N]

- cache hit: ``complete()`` answered from a real ``redis-server`` on 127.0.0.1 vs from the local
  diskcache (the default), interleaved; and the backends' own ``get`` alone;
- OTLP export: per-call cost of ``complete()`` with OTLP/HTTP export on (to a real receiver,
  ``mlflow server``'s ``/v1/traces``) vs off, interleaved — what the calling thread pays;
- export throughput (records/s) from the journal into the local sqlite store and into a real
  ``mlflow server`` (PostgreSQL) over HTTP, ungrouped and grouped in a cell's run, against the
  call rate of 64 threads making calls and against the previous server path (every tag on the
  span, grouped traces started one by one), all in the same run.

Results go to benchmarks/results/team.json. Servers come from tests/servers.py.
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


def call_rate(scratch: Path, threads: int = 64, seconds: float = 5.0) -> float:
    """Calls/s that ``threads`` threads make with recording on (sim answers in 50 ms)."""
    import llmops_nb as llm
    from llmops_nb import session as sessions
    from llmops_nb.providers import sim

    sim.configure_model("rate", ttft_s=0.05, tokens_per_s=0)
    sessions.reset(home=scratch / "rate", cache_mode="off", guardrails="off",
                   tracking_uri=f"sqlite:///{scratch / 'rate.db'}")
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def work(k: int) -> None:
        while time.monotonic() < stop:
            llm.complete("sim:rate", f"{k} {counts[k]}")
            counts[k] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    sessions.session().recorder.flush(timeout=600)
    return sum(counts) / seconds


def export_throughput(uri: str, n: int, scratch: Path, label: str, *, grouped: bool = False) -> dict[str, Any]:
    """Journal ``n`` records with the exporter held back, then time how fast they reach ``uri``
    (``grouped``: all made in one cell, so each trace is also linked to the cell's run)."""
    import llmops_nb as llm
    from llmops_nb import session as sessions

    sessions.reset(home=scratch / f"export-{label}", cache_mode="off", guardrails="off", tracking_uri=uri,
                   experiment=f"bench-export-{label}-{int(time.time())}")
    rec = sessions.session().recorder
    rec._flushing = 0
    hold = time.monotonic() + 3600
    rec.call_started = lambda: None  # type: ignore[method-assign]
    rec._last_call = hold  # the exporter waits while it believes calls are in flight
    with llm.group(f"cell {label}") if grouped else contextlib.nullcontext():
        for i in range(n):
            llm.complete(MODEL, f"export {label} {i}")
    t0 = time.perf_counter()
    rec.flush(timeout=1800)
    elapsed = time.perf_counter() - t0
    return {"records": n, "grouped": grouped, "seconds": round(elapsed, 3), "records_per_s": round(n / elapsed, 1)}


@contextlib.contextmanager
def previous_server_path() -> Any:
    """The baseline: how records went into a tracking server before (every trace tag as an
    ``mlflow.traceTag.*`` span attribute, the batch's spans in one OTLP request, grouped traces
    started one at a time) — the same exporter otherwise."""
    from mlflow.entities import Span

    from llmops_nb import tracking

    class Previous(tracking.MlflowExporter):
        def _send(self, exp: str, batch: list[Any]) -> None:
            spans = []
            for r in batch:
                own = tracking._spans(r)
                if r.group_id:
                    info = self._trace_info(r, exp, own)
                    info.tags = {}
                    self.tracing.start_trace(info)
                root = own[0].to_dict()
                root["attributes"].update({f"mlflow.traceTag.{k}": v for k, v in tracking.trace_tags(r).items()})
                spans += [Span.from_dict(root), *own[1:]]
            self.tracing.log_spans(exp, spans)

    current, tracking.MlflowExporter = tracking.MlflowExporter, Previous
    try:
        yield
    finally:
        tracking.MlflowExporter = current


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--export", type=int, default=2000)
    ap.add_argument("--previous", type=int, default=300, help="records for the previous server path (slow)")
    args = ap.parse_args(argv)
    from tests.servers import mlflow_server, postgres_server, redis_server

    _instant_sim()
    scratch = Path(tempfile.mkdtemp(prefix="llmops_nb-team-bench-"))
    res: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg": os.getloadavg(),
                           "calls": args.calls}
    with redis_server() as redis:
        res["cache_hit"] = cache_hits(redis.url, args.calls, scratch)
    with postgres_server() as pg, mlflow_server(pg.uri()) as server:
        import mlflow

        exp_id = mlflow.MlflowClient(server.url).create_experiment(f"otlp-bench-{int(time.time())}")
        res["otlp"] = otlp_overhead(server.url, exp_id, args.calls, scratch)
        res["call_rate_64_threads_per_s"] = round(call_rate(scratch), 1)
        for grouped in (False, True):
            tail = "_grouped" if grouped else ""
            res["export_sqlite" + tail] = export_throughput(f"sqlite:///{scratch / 'export.db'}", args.export,
                                                            scratch, "sqlite" + tail, grouped=grouped)
            res["export_server_postgres" + tail] = export_throughput(server.url, args.export, scratch,
                                                                     "server" + tail, grouped=grouped)
            with previous_server_path():
                res["export_server_postgres_previous_path" + tail] = export_throughput(
                    server.url, args.previous, scratch, "previous" + tail, grouped=grouped)
    res["load_avg_after"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
