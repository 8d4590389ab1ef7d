"""cProfile of warm calls as shipped (guardrails, recording and the cache on), per call.

    python benchmarks/profile_call.py [--calls 400] [--out benchmarks/results/profile_warm.txt]

Against the fake OpenAI server in its own process (``fake_servers.py``, answers at once). After
a warm-up, profiles ``--calls`` calls of each kind: non-streamed with the cache off, streamed,
a cache miss that stores (new prompt each time) and a cache hit; and the raw SDK call for
reference. Prints and writes the top self-time functions and the CPU time per call of each.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_servers import ROOT, openai_session  # noqa: E402

sys.path.insert(0, str(ROOT))
PROMPT = "Summarise the benefits of tracking every LLM call in MLflow in one short sentence."


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "profile_warm.txt")
    args = ap.parse_args()
    with openai_session("profile", delay_s=0.0):
        import openai

        import llmops_nb as llm

        client = openai.OpenAI(max_retries=0)
        messages = [{"role": "user", "content": PROMPT}]
        cases = {
            "raw SDK, non-streamed (reference)":
                lambda: client.chat.completions.create(model="gpt-5.4-mini", messages=messages),
            "complete(cache=False)": lambda: llm.complete("openai:gpt-5.4-mini", PROMPT, cache=False),
            "complete(cache=False, stream=True)":
                lambda: llm.complete("openai:gpt-5.4-mini", PROMPT, cache=False, stream=True),
            "complete(cache=True), miss + store":
                lambda: llm.complete("openai:gpt-5.4-mini", PROMPT + " " + uuid.uuid4().hex, cache=True),
            "complete(cache=True), hit": lambda: llm.complete("openai:gpt-5.4-mini", PROMPT, cache=True),
        }
        for fn in cases.values():  # warm-up: connections, SDK, encoding, first export
            for _ in range(30):
                fn()
        llm.flush(300)
        text = io.StringIO()
        text.write(f"profile_call.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                   f"load average {os.getloadavg()[0]:.2f}, {args.calls} calls per case\n")
        for label, fn in cases.items():
            prof = cProfile.Profile()
            c0 = time.process_time()
            prof.enable()
            for _ in range(args.calls):
                fn()
            prof.disable()
            cpu = (time.process_time() - c0) / args.calls * 1000
            llm.flush(300)
            # unprofiled CPU per call, same state
            c0 = time.process_time()
            for _ in range(args.calls):
                fn()
            plain = (time.process_time() - c0) / args.calls * 1000
            llm.flush(300)
            text.write(f"\n===== {label}: CPU {plain:.3f} ms/call unprofiled ({cpu:.3f} profiled); "
                       f"top {args.top} by self time =====\n")
            pstats.Stats(prof, stream=text).strip_dirs().sort_stats("tottime").print_stats(args.top)
            text.write(f"\n----- {label}: llmops_nb's own functions by cumulative time -----\n")
            pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(r"/llmops_nb/", 25)
            print(f"{label}: {plain:.3f} ms CPU/call", flush=True)
        args.out.parent.mkdir(exist_ok=True)
        args.out.write_text(text.getvalue(), encoding="utf-8")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
