"""``history(limit=None)`` at 1k, 10k and 50k traces: linear in the rows it returns.

    python benchmarks/history.py [--sizes 1000 10000 50000] [--reps 3]

A sqlite store is filled with N traces by the exporter, then ``history(None)`` is timed
(median of ``--reps``, wall and CPU), against the path it replaced in the same run: MLflow's
paged ``search_traces`` (500 per page, a full ``TraceInfo`` each) and one row dict per trace.
Target (issue 15): linear, ≤ 1 s for 50k traces. Writes benchmarks/results/history.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "history.json"))
    args = ap.parse_args()
    import pandas as pd

    import llmops_nb as llm
    from llmops_nb import tracking

    load_start = list(os.getloadavg())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            uri = f"sqlite:///{tmp}/h{n}.db"
            llm.configure(tracking_uri=uri, experiment="history", home=Path(tmp) / f"home{n}", tracking=True)
            fill(tracking.MlflowExporter(uri, "history"), n, "history")
            llm.history(5)  # imports, engine
            new = [timed(lambda: llm.history(None)) for _ in range(args.reps)]
            assert all(len(r[2]) == n for r in new)

            def old() -> Any:
                infos = tracking._traces(None, f"tags.`{tracking.TAG}model` != ''")
                return pd.DataFrame([tracking._row(i) for i in infos], columns=tracking.HISTORY_COLUMNS)

            before = [timed(old) for _ in range(1 if n > 10_000 else args.reps)]
            rows.append({"traces": n,
                         "history_s": statistics.median(r[0] for r in new),
                         "history_cpu_s": statistics.median(r[1] for r in new),
                         "paged_search_s": statistics.median(r[0] for r in before),
                         "paged_search_cpu_s": statistics.median(r[1] for r in before)})
            print(rows[-1], flush=True)
    out = {"rows": rows, "target_s_at_50k": 1.0, "reps": args.reps,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_start": load_start,
                       "load_end": list(os.getloadavg())},
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
