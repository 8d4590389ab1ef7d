"""Where the CPU per call goes at 64 threads.

    python benchmarks/sustained_attribution.py [--seconds 8]

The load of ``sustained.py`` (64 threads, 300 ms answers from the fake OpenAI server in its own
process, a new prompt each call) for ``--seconds`` per phase: the raw SDK; ``complete(cache=False)``
as shipped; without guardrails; without tracking; without both; the raw SDK again. The
differences of process CPU per call between phases attribute our CPU per call (guardrail
scans, journal + export, the rest). Prints one line per phase and writes
benchmarks/results/sustained_attribution.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_servers import ROOT, openai_session  # noqa: E402
from sustained import hammer  # noqa: E402

sys.path.insert(0, str(ROOT))
MODEL = "openai:gpt-5.4-mini"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=64)
    args = ap.parse_args()
    phases = []
    with openai_session("attribution", delay_s=0.3):
        import openai

        import llmops_nb as llm

        client = openai.OpenAI(max_retries=0, timeout=60.0)

        def raw(prompt: str) -> None:
            client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": prompt}])

        def ours(prompt: str) -> None:
            llm.complete(MODEL, prompt, cache=False)

        def no_guard(prompt: str) -> None:
            llm.complete(MODEL, prompt, cache=False, guard=None)

        for warm in (raw, ours, no_guard):
            hammer(warm, 8, 1.0)
        llm.flush()
        plan = (("raw", raw, None), ("shipped", ours, None), ("no guardrails", no_guard, None),
                ("no tracking", ours, False), ("neither", no_guard, False), ("raw again", raw, None))
        for name, fn, tracking in plan:
            if tracking is not None:
                llm.configure(tracking=tracking)
                hammer(fn, 8, 0.5)
            r = hammer(fn, args.threads, args.seconds)
            phases.append({"phase": name, "calls_per_s": r["calls_per_s"], "cpu_ms_per_call": r["cpu_ms_per_call"],
                           "errors": r["errors"], "load": os.getloadavg()[0]})
            print(f"{name:<14} {r['calls_per_s']:7.1f} calls/s  {r['cpu_ms_per_call']:6.3f} ms CPU/call  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            llm.flush()
    out = {"phases": phases, "threads": args.threads, "seconds": args.seconds,
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpus": os.cpu_count()}
    (Path(__file__).resolve().parent / "results" / "sustained_attribution.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
