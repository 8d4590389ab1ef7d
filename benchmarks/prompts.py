"""Prompt registry timings: re-registering an unchanged prompt (target ≤ 5 ms p50), against a
new version and a store lookup in the same run.

    python benchmarks/prompts.py [--n 200]

Writes benchmarks/results/prompts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")

TEMPLATE = "[system] You are a precise technical editor.\nSummarize {{text}} in at most {{n}} bullet points."


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmops-bench-prompts-"))
    import llmops_nb
    from llmops_nb import prompts

    llmops_nb.configure(home=tmp / "home", tracking_uri=f"sqlite:///{tmp}/mlflow.db", experiment="bench")
    prompts.register("summarize", TEMPLATE)  # warm: mlflow import, db creation
    results = {
        "unchanged (local index hit)": timed(lambda i: prompts.register("summarize", TEMPLATE), args.n),
        "get latest from the store": timed(lambda i: prompts.get("summarize"), args.n // 4),
        "new version": timed(lambda i: prompts.register("summarize", TEMPLATE + f" v{i}"), args.n // 4),
    }
    assert all(not prompts.register("summarize", TEMPLATE + f" v{args.n // 4 - 1}").created for _ in range(1))
    rows = {k: {"p50_ms": statistics.median(v), "p95_ms": pct(v, 0.95), "n": len(v)} for k, v in results.items()}
    base = rows["new version"]["p50_ms"]
    print(f"{'operation':<32}{'p50 ms':>10}{'p95 ms':>10}{'× new':>9}")
    for k, r in rows.items():
        print(f"{k:<32}{r['p50_ms']:>10.3f}{r['p95_ms']:>10.3f}{r['p50_ms'] / base:>9.3f}")
    out = Path(__file__).parent / "results" / "prompts.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"python": platform.python_version(), "cpus": os.cpu_count(),
                               "date": time.strftime("%Y-%m-%d"), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
