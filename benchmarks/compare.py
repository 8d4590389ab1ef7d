"""compare() over 8 models whose calls each take ~300 ms, against one such call in the same run.

    python benchmarks/compare.py [--reps 7]

Target: wall time of ``compare`` over the 8 ≤ 1.3 × one call. Each repetition times one single
``complete`` and one ``compare`` (alternating which goes first), the cache off, streamed (as
compare does by default), tracking on; the recorder is flushed between repetitions (untimed),
and the time from compare's return until the comparison's MLflow run holds its table is
reported separately (it happens in the background; waited for, untimed, before the next call). The same is measured with the 8 models as 8 routes
(``route:r1`` …) when routes are available. Also renders the cost/latency chart of a small
comparison with samples to ``benchmarks/results/compare_chart.png``.

Writes benchmarks/results/compare.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")

RESULTS = Path(__file__).resolve().parent / "results"
PROMPT = "Summarize the trade-offs of caching LLM answers in two sentences."
MODELS = [f"sim:r{i}" for i in range(1, 9)]


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def measure(ids: list[str], reps: int) -> dict[str, Any]:
    import llmops_nb
    from llmops_nb.comparison import compare, wait_logged

    singles, compares, logged = [], [], []
    for rep in range(reps + 1):  # the first repetition warms up and is dropped
        single_first = rep % 2 == 0
        timings = {}
        for which in (("single", "compare") if single_first else ("compare", "single")):
            t0 = time.perf_counter()
            if which == "single":
                llmops_nb.complete(ids[0], PROMPT, cache=False, stream=True)
            else:
                df = compare(ids, [PROMPT], cache=False, progress=False, name=f"bench {rep}")
                timings[which] = time.perf_counter() - t0
                assert (df.status == "OK").all(), df.error.dropna().tolist()
                # untimed for the ratio, so no background MLflow work overlaps the next call
                assert wait_logged(df) is not None  # table, summary and metrics are in the run
                timings["logged"] = time.perf_counter() - t0 - timings[which]
                continue
            timings[which] = time.perf_counter() - t0
        if rep:
            singles.append(timings["single"])
            compares.append(timings["compare"])
            logged.append(timings["logged"])
        llmops_nb.flush()
    single, many = statistics.median(singles), statistics.median(compares)
    return {
        "models": ids, "reps": reps,
        "single_call_s": {"median": single, "all": singles},
        "compare_s": {"median": many, "all": compares},
        "ratio_median": many / single,
        "ratio_worst_pair": max(c / s for c, s in zip(compares, singles, strict=True)),
        "serial_would_take_s": sum([single] * len(ids)),
        "logged_to_mlflow_after_return_s": {"median": statistics.median(logged), "max": max(logged)},
        "target_ratio": 1.3,
        "ok": many / single <= 1.3,
    }


def chart(out: Path) -> None:
    from llmops_nb import providers
    from llmops_nb.comparison import compare
    from llmops_nb.viz import cost_latency_chart

    speeds = {"fast": (0.02, 4000), "balanced": (0.08, 800), "careful": (0.15, 300)}
    for name, (ttft, tps) in speeds.items():
        providers.sim.configure_model(name, ttft_s=ttft, tokens_per_s=tps)
    docs = [{"text": "a short note"}, {"text": "vector databases and answer caching " * 4}, {"text": "budgets"}]
    df = compare([f"sim:{k}" for k in speeds], ["Summarize {{text}}", "Explain {{text}} to a child"], docs, n=2,
                 progress=False, name="chart")
    cost_latency_chart(df, title="Cost vs latency (sim models, benchmark)").save(str(out), scale_factor=2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmops-bench-compare-"))
    import llmops_nb
    from llmops_nb.config import Settings
    from llmops_nb.providers import sim

    llmops_nb.configure(home=tmp / "home", tracking_uri=f"sqlite:///{tmp}/mlflow.db", experiment="bench")
    llmops_nb.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)
    for m in MODELS:
        sim.configure_model(m[4:], ttft_s=0.3, tokens_per_s=1e6)
    llmops_nb.complete(MODELS[0], "warm up: mlflow import, store creation", cache=False)
    llmops_nb.flush()
    results: dict[str, dict[str, Any]] = {"models": measure(MODELS, args.reps)}
    if "routes" in Settings.__dataclass_fields__:
        llmops_nb.configure(routes={m[4:]: [m] for m in MODELS})
        results["routes"] = measure([f"route:{m[4:]}" for m in MODELS], args.reps)
    RESULTS.mkdir(exist_ok=True)
    chart(RESULTS / "compare_chart.png")
    llmops_nb.flush()
    out = {
        "benchmark": "compare over 8 models of ~300 ms per call vs one call",
        "results": results,
        "chart": "benchmarks/results/compare_chart.png",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg": os.getloadavg()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git_commit": _git_commit(),
    }
    (RESULTS / "compare.json").write_text(json.dumps(out, indent=2) + "\n")
    for kind, r in results.items():
        print(f"{kind:<7} one call {r['single_call_s']['median'] * 1000:7.1f} ms   compare×8 "
              f"{r['compare_s']['median'] * 1000:7.1f} ms   ratio {r['ratio_median']:.3f} "
              f"(worst pair {r['ratio_worst_pair']:.3f}, target ≤ 1.3)   "
              f"MLflow table logged {r['logged_to_mlflow_after_return_s']['median'] * 1000:.0f} ms after return")


if __name__ == "__main__":
    main()
