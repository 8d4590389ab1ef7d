"""``history(limit=None)`` at 1k, 10k and 50k traces: linear in the rows it returns.

    python benchmarks/history.py [--sizes 1000 10000 50000] [--reps 3] [--http-max 10000]

A sqlite store is filled with N traces by the exporter, then ``history(None)`` is timed
(median of ``--reps``, wall and CPU) against, in the same run:

- ``previous``: the previous round's reader (two queries — the trace rows, then the tags pivoted
  by ``GROUP BY`` with a ``max(CASE …)`` per tag —, one object per trace, the frame built from
  their tag dicts), kept verbatim below; its frame must equal the new one;
- ``paged_search``: the path before that, MLflow's paged ``search_traces`` (500 per page, a full
  ``TraceInfo`` each) and one row dict per trace (once at 50k: it takes a minute);
- ``http``: for stores up to ``--http-max`` traces, a real ``mlflow server`` over the same
  store and ``history(None)`` through it (the public API, paged by the server's 500 limit).

Target (issue 15): linear, ≤ 1 s for 50k traces. Writes benchmarks/results/history.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
RESULTS = Path(__file__).resolve().parent / "results"


def fill(exporter: Any, n: int, experiment: str) -> None:
    from llmops_nb.types import CallRecord

    now = time.time_ns()
    for start in range(0, n, 500):
        exporter.export([CallRecord(
            record_id=uuid.uuid4().hex, trace_id="tr-" + uuid.uuid4().hex, started_at_ns=now + i * 1000,
            ended_at_ns=now + i * 1000 + 300_000_000, status="OK", text="An answer.", experiment=experiment,
            request={"model": "openai:gpt-5.4-mini", "provider": "openai", "model_name": "gpt-5.4-mini",
                     "messages": [{"role": "user", "content": f"q {i}"}], "system": None, "params": {}, "stream": True},
            usage={"input_tokens": 12, "output_tokens": 30}, cost_usd=0.00002, ttft_s=0.05)
            for i in range(start, min(n, start + 500))])


def timed(fn: Any) -> tuple[float, float, Any]:
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


# -- the previous round's reader, verbatim (baseline) --------------------------------------------
@dataclass
class _TraceRow:
    trace_id: str
    request_time: int
    execution_duration: int | None
    state: str
    tags: dict[str, str]


def previous_history() -> Any:
    import pandas as pd


    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        return _previous_frame(_previous_infos(None), pd)
    finally:
        if gc_was_on:
            gc.enable()


def _previous_frame(infos: list[Any], pd: Any) -> Any:
    from llmops_nb.tracking import HISTORY_COLUMNS, TAG, _findings_summary

    if not infos:
        return pd.DataFrame([], columns=HISTORY_COLUMNS)
    tags = [info.tags for info in infos]

    def text(key: str) -> list[Any]:
        return [t.get(TAG + key) for t in tags]

    def number(key: str) -> Any:
        return pd.to_numeric(pd.Series(text(key), dtype=object).replace("", None), errors="coerce")

    latency = number("latency_ms")
    columns = {
        "started_at": pd.to_datetime([info.request_time for info in infos], unit="ms", utc=True),
        "model": text("model"), "provider": text("provider"), "prompt": text("prompt"),
        "input_tokens": number("input_tokens").fillna(0).astype(int).values,
        "output_tokens": number("output_tokens").fillna(0).astype(int).values,
        "cost_usd": number("cost_usd").values,
        "latency_ms": latency.fillna(pd.Series([float(i.execution_duration or 0) for i in infos])).values,
        "ttft_ms": number("ttft_ms").values,
        "cached": [t.get(TAG + "cached") == "true" for t in tags],
        "status": [t.get(TAG + "status", str(info.state)) for t, info in zip(tags, infos, strict=True)],
        "error_type": text("error_type"), "error": text("error"),
        "findings": [_findings_summary(json.loads(f)) if f else "" for f in text("findings")],
        "trace_id": [info.trace_id for info in infos],
    }
    return pd.DataFrame(columns, columns=HISTORY_COLUMNS)


def _previous_infos(limit: int | None) -> list[_TraceRow]:
    from mlflow.store.tracking.dbmodels.models import SqlTraceInfo, SqlTraceTag
    from sqlalchemy import case, func

    from llmops_nb.config import settings
    from llmops_nb.tracking import TAG, _store_client, _tracing_client

    s = settings()
    tracing = _tracing_client(s.tracking_uri)
    exp = _store_client(s.tracking_uri).get_experiment_by_name(s.experiment)
    keys = [TAG + k for k in ("model", "provider", "prompt", "input_tokens", "output_tokens", "cost_usd",
                              "latency_ms", "ttft_ms", "cached", "status", "error_type", "error", "findings")]
    with tracing.store.ManagedSessionMaker() as session:
        ours = session.query(SqlTraceTag.request_id).filter(SqlTraceTag.key == TAG + "model", SqlTraceTag.value != "")
        query = (session.query(SqlTraceInfo.request_id, SqlTraceInfo.timestamp_ms, SqlTraceInfo.execution_time_ms,
                               SqlTraceInfo.status)
                 .filter(SqlTraceInfo.experiment_id == int(exp.experiment_id), SqlTraceInfo.request_id.in_(ours))
                 .order_by(SqlTraceInfo.timestamp_ms.desc(), SqlTraceInfo.request_id))
        if limit is not None:
            query = query.limit(limit)
        rows = {r[0]: _TraceRow(r[0], r[1], r[2], r[3], {}) for r in query.all()}
        pivot = session.query(SqlTraceTag.request_id, *[
            func.max(case((SqlTraceTag.key == key, SqlTraceTag.value))) for key in keys
        ]).filter(SqlTraceTag.key.in_(keys))
        ids = list(rows)
        chunks = [ids[i:i + 10_000] for i in range(0, len(ids), 10_000)] if limit is not None else [None]
        for chunk in chunks:
            q = pivot if chunk is None else pivot.filter(SqlTraceTag.request_id.in_(chunk))
            for request_id, *values in q.group_by(SqlTraceTag.request_id):
                row = rows.get(request_id)
                if row is not None:
                    row.tags = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
    return list(rows.values())


def paged_search() -> Any:
    import pandas as pd

    from llmops_nb import tracking

    infos = tracking._traces(None, f"tags.`{tracking.TAG}model` != ''", flush_first=False)
    return pd.DataFrame([tracking._row(i) for i in infos], columns=tracking.HISTORY_COLUMNS)


def median_of(runs: list[tuple[float, float, Any]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--http-max", type=int, default=10000, help="also time history() over HTTP up to this size")
    ap.add_argument("--out", default=str(RESULTS / "history.json"))
    ap.add_argument("--fill", nargs=2, metavar=("URI", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fill:
        from llmops_nb import tracking

        fill(tracking.MlflowExporter(args.fill[0], "history"), int(args.fill[1]), "history")
        return
    import pandas as pd

    import llmops_nb as llm
    from llmops_nb import tracking
    from tests.servers import mlflow_server

    load_start = list(os.getloadavg())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            uri = f"sqlite:///{tmp}/h{n}.db"
            llm.configure(tracking_uri=uri, experiment="history", home=Path(tmp) / f"home{n}", tracking=True)
            # generating the store is not what is measured: a child process, niced
            subprocess.run(["nice", "-n", "5", sys.executable, __file__, "--fill", uri, str(n)], check=True)
            llm.history(5)  # imports, engine
            row: dict[str, Any] = {"traces": n}
            # interleaved, so that a change of load hits both alike
            new, prev = [], []
            for _ in range(args.reps):
                new.append(timed(lambda: llm.history(None)))
                prev.append(timed(previous_history))
            assert all(len(r[2]) == n for r in new)
            pd.testing.assert_frame_equal(new[0][2], prev[0][2])
            row["history_s"], row["history_cpu_s"] = median_of(new)
            row["previous_s"], row["previous_cpu_s"] = median_of(prev)
            before = [timed(paged_search) for _ in range(1 if n > 10_000 else args.reps)]
            row["paged_search_s"], row["paged_search_cpu_s"] = median_of(before)
            if n <= args.http_max:
                with mlflow_server(uri) as server:
                    llm.configure(tracking_uri=server.url)
                    llm.history(None)  # the server's first full read warms it up
                    remote = [timed(lambda: llm.history(None)) for _ in range(args.reps)]
                    pd.testing.assert_frame_equal(remote[0][2], new[0][2])
                    row["http_s"], row["http_cpu_s"] = median_of(remote)  # CPU: this process only
            rows.append(row)
            print(row, flush=True)
    out = {"rows": rows, "target_s_at_50k": 1.0, "reps": args.reps,
           "machine": {"cpus": os.cpu_count(), "nice": os.getpriority(os.PRIO_PROCESS, 0), "python": platform.python_version(), "load_start": load_start,
                       "load_end": list(os.getloadavg())},
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
