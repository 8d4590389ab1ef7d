"""Instructions per warm call, ours over the raw SDK, and of its two largest parts (callgrind).

    valgrind --tool=callgrind --instr-atstart=no python benchmarks/instructions.py [--calls 60] [--parts 500]

CPU time per call on this shared 2-core machine moves with the load by more than a change of a
few per cent; instruction counts do not. Only the measured sections are instrumented
(``callgrind_control -i on/off`` from the script itself), every thread counted: each section of
calls ends with ``llmops_nb.flush()``, so the exporter's work is in it.

* whole calls against the fake OpenAI server (its own process, not instrumented), a new prompt
  each call: the raw SDK and ``complete(cache=False)``, non-streamed and streamed;
* the input + output guardrail scans of ``--parts`` new prompts (default policy);
* ``MlflowExporter.export`` of ``--parts`` records into a sqlite store, in batches of 100.

numpy is imported first, as in a session (MLflow imports it), so the scans use it from the first
text. Prints instructions per call (or record) of each section. Run it for two trees, one after
the other, to compare them (``PYTHONPATH=<tree>``); the whole-call figures vary by a few per cent
from run to run (how the exporter's batches fall), the two parts by less than 0.5 %.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy  # noqa: E402, F401 - as in a session (see above)
from fake_servers import ROOT, openai_session  # noqa: E402

sys.path.insert(0, str(ROOT))
PROMPT = "Summarise the benefits of tracking every LLM call in MLflow in one short sentence."


def _callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measured(name: str, n: int, run: object) -> float:
    """Instructions per item of ``run()`` (``n`` items), read from callgrind's dump of it."""
    label = re.sub(r"\W+", "_", name)  # callgrind_control passes it through a shell
    _callgrind("-z")
    _callgrind("-i", "on")
    run()  # type: ignore[operator]
    _callgrind("-i", "off")
    _callgrind(f"--dump={label}")
    dumps = sorted(Path.cwd().glob(f"callgrind.out.{os.getpid()}.*"), key=lambda p: int(p.suffix[1:]))
    lines = dumps[-1].read_text().splitlines() if dumps else []
    if f"desc: Trigger: dump {label}" not in lines:
        raise RuntimeError("no callgrind dump of this section: run under valgrind --tool=callgrind")
    totals = next(line for line in lines if line.startswith("totals:"))
    per_item = int(totals.split()[1]) / n
    print(f"{name:<28} {per_item / 1e6:8.3f} M instructions per item ({n})", flush=True)
    return per_item


def _raw_call(client: Any, prompt: str, stream: bool) -> None:
    messages = [{"role": "user", "content": prompt}]
    if not stream:
        client.chat.completions.create(model="gpt-5.4-mini", messages=messages)
        return
    for _ in client.chat.completions.create(model="gpt-5.4-mini", messages=messages, stream=True,
                                            stream_options={"include_usage": True}):
        pass


def whole_calls(calls: int) -> None:
    with openai_session("instructions", delay_s=0.0):
        import openai

        import llmops_nb as llm

        client = openai.OpenAI(max_retries=0)

        def raw(prompt: str, stream: bool) -> None:
            _raw_call(client, prompt, stream)

        def ours(prompt: str, stream: bool) -> None:
            llm.complete("openai:gpt-5.4-mini", prompt, cache=False, stream=stream)

        cases = {"raw SDK": (raw, False), "complete()": (ours, False),
                 "raw SDK, streamed": (raw, True), "complete(), streamed": (ours, True)}
        for fn, stream in cases.values():  # warm-up: connections, SDK, encoding, the first export
            for _ in range(60):
                fn(f"{PROMPT} {uuid.uuid4().hex[:8]}", stream)
        llm.flush()
        got = {}
        for name, (fn, stream) in cases.items():
            prompts = [f"{PROMPT} {uuid.uuid4().hex[:8]}" for _ in range(calls)]

            def run(fn=fn, stream=stream, prompts=prompts) -> None:  # type: ignore[no-untyped-def]
                for p in prompts:
                    fn(p, stream)
                llm.flush()

            got[name] = measured(name, calls, run)
        for kind in ("", ", streamed"):
            extra = got[f"complete(){kind}"] - got[f"raw SDK{kind}"]
            print(f"{'ours over raw' + kind:<28} {extra / 1e6:8.3f} M instructions per call", flush=True)


def parts(n: int) -> None:
    from llmops_nb import guardrails
    from llmops_nb.tracking import MlflowExporter
    from llmops_nb.types import CallRecord

    policy = guardrails.get_policy("default")
    prompts = [f"{PROMPT} {i:08x}" for i in range(n + 50)]

    def scan(texts: list[str]) -> None:
        for p in texts:
            guardrails.guard_input([p], policy)
            guardrails.guard_output("echo: " + p, policy)

    scan(prompts[:50])
    measured("guardrails in + out", n, lambda: scan(prompts[50:]))

    def record(i: int) -> CallRecord:
        now = 1_764_000_000_000_000_000 + i * 1_000_000
        prompt = prompts[i % len(prompts)]
        return CallRecord(
            record_id=f"{i:032x}", trace_id=f"tr-{i + 10**6:032x}", started_at_ns=now, ended_at_ns=now + 3_000_000,
            status="OK", text="echo: " + prompt, request={
                "model": "openai:gpt-5.4-mini", "provider": "openai", "model_name": "gpt-5.4-mini",
                "messages": [{"role": "user", "content": prompt}], "system": None, "params": {}, "stream": False},
            usage={"input_tokens": 22, "output_tokens": 24}, cost_usd=0.00002, experiment="instructions",
            estimated_input_tokens=None, finish_reason="stop", route_reason="model id", user="bench",
            attempts=[{"model": "openai:gpt-5.4-mini", "ok": True, "duration_ms": 1.2}])

    with tempfile.TemporaryDirectory() as tmp:
        exporter = MlflowExporter(f"sqlite:///{tmp}/mlflow.db", "instructions")
        exporter.export([record(i) for i in range(100)])  # the store and the experiment exist
        batches = [[record(100 + k * 100 + i) for i in range(100)] for k in range(max(1, n // 100))]
        measured("export (per record)", 100 * len(batches), lambda: [exporter.export(b) for b in batches])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=60, help="whole calls per case (0: skip)")
    ap.add_argument("--parts", type=int, default=500, help="texts scanned and records exported (0: skip)")
    args = ap.parse_args()
    if args.calls:
        whole_calls(args.calls)
    if args.parts:
        parts(args.parts)


if __name__ == "__main__":
    main()
