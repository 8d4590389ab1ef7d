"""Sustained load: 64 threads calling for 20 s, and how fast the exporter drains the journal.

    python benchmarks/sustained.py [--threads 64] [--seconds 20] [--records 2000]

Against the fake OpenAI server in its own process, every answer taking 300 ms:

* ``raw``: 64 threads, each calling the raw ``openai`` SDK (one shared client) in a loop;
* ``ours``: the same with ``llmops_nb.complete(..., cache=False)`` as shipped (guardrails and
  tracking on). At the end: records not yet exported (the backlog) and the time
  ``llmops_nb.flush()`` takes to send them;
* ``ours_cache``: the same with the cache on (every prompt new: a miss and a store each);
* a second ``raw`` phase after them, so drift shows (the ratio uses the mean of both).

Then the export throughput on its own: ``--records`` records journaled with the exporter
already built, timed until the last has reached the sqlite store — against the call rate.

Targets (issue 15): calls/s ≥ 0.97× raw (cache on too); after 20 s the backlog flushes in
≤ 2 s; export ≥ 1,000 records/s. Writes benchmarks/results/sustained.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_servers import ROOT, openai_session  # noqa: E402

sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "results"


def hammer(call: Any, threads: int, seconds: float) -> dict[str, Any]:
    """``threads`` threads call ``call(i)`` in a loop for ``seconds``; calls/s and CPU/call."""
    stop = threading.Event()
    counts = [0] * threads
    errors: list[str] = []

    def loop(k: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                call(f"{k}-{i}-{uuid.uuid4().hex[:8]}")
                counts[k] += 1
            except Exception as exc:  # noqa: BLE001 - counted, shown
                errors.append(repr(exc)[:200])
            i += 1

    workers = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(threads)]
    c0, t0 = time.process_time(), time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done = sum(counts)
    return {"calls": done, "seconds": wall, "calls_per_s": done / wall, "cpu_ms_per_call": 1000 * cpu / max(done, 1),
            "errors": len(errors), "first_errors": errors[:3]}


def export_throughput(records: int, tmp: Path) -> dict[str, Any]:
    """Journal ``records`` records into a recorder whose exporter is already built; time the drain."""
    from llmops_nb.recording import JournalRecorder
    from llmops_nb.tracking import MlflowExporter
    from llmops_nb.types import CallRecord

    uri = f"sqlite:///{tmp}/export.db"
    exporter = MlflowExporter(uri, "export")
    rec = JournalRecorder(tmp / "journal-export", lambda: exporter, quiet_s=0.0, max_defer_s=0.0)

    def record(i: int, group: str | None) -> CallRecord:
        now = time.time_ns()
        return CallRecord(
            record_id=uuid.uuid4().hex, trace_id="tr-" + uuid.uuid4().hex, started_at_ns=now,
            ended_at_ns=now + 300_000_000, status="OK", text="An answer of a few words. " * 4,
            request={"model": "openai:gpt-5.4-mini", "provider": "openai", "model_name": "gpt-5.4-mini",
                     "messages": [{"role": "user", "content": f"question {i}"}], "system": None, "params": {},
                     "stream": True},
            usage={"input_tokens": 12, "output_tokens": 30}, cost_usd=0.00002, ttft_s=0.05, experiment="export",
            estimated_input_tokens=12, group_id=group, group_name=group)

    rec.record(record(-1, None))
    rec.flush(120)  # store created, exporter warm
    out = {}
    for label, group in (("ungrouped", None), ("grouped (one run)", uuid.uuid4().hex)):
        c0, t0 = time.process_time(), time.perf_counter()
        for i in range(records):
            rec.record(record(i, group))
        rec.flush(600)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[label] = {"records": records, "seconds": wall, "records_per_s": records / wall,
                      "cpu_ms_per_record": 1000 * cpu / records}
    rec.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--out", default=str(RESULTS / "sustained.json"))
    args = ap.parse_args()
    load_start = list(os.getloadavg())
    with openai_session("sustained", delay_s=0.3) as tmp:
        import openai

        import llmops_nb as llm
        from llmops_nb.session import session

        client = openai.OpenAI(max_retries=0, timeout=60.0)

        def raw(prompt: str) -> None:
            client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": prompt}])

        def ours(prompt: str) -> None:
            llm.complete("openai:gpt-5.4-mini", prompt, cache=False)

        def ours_cache(prompt: str) -> None:
            llm.complete("openai:gpt-5.4-mini", prompt, cache=True)

        for warm in (raw, ours, ours_cache):  # connections, SDK, store, encoding
            hammer(warm, 8, 1.0)
        llm.flush(300)
        phases: dict[str, Any] = {}
        phases["raw"] = hammer(raw, args.threads, args.seconds)
        phases["ours"] = hammer(ours, args.threads, args.seconds)
        recorder = session().recorder
        backlog = recorder.pending
        t0 = time.perf_counter()
        llm.flush(600)
        phases["ours"].update(backlog_at_end=backlog, flush_s=time.perf_counter() - t0)
        phases["ours_cache"] = hammer(ours_cache, args.threads, args.seconds)
        backlog = recorder.pending
        t0 = time.perf_counter()
        llm.flush(600)
        phases["ours_cache"].update(backlog_at_end=backlog, flush_s=time.perf_counter() - t0)
        phases["raw_again"] = hammer(raw, args.threads, args.seconds)
        raw_rate = (phases["raw"]["calls_per_s"] + phases["raw_again"]["calls_per_s"]) / 2
        export = export_throughput(args.records, tmp)
        traces = len(llm.history(None))
    figures = {
        "raw_calls_per_s": raw_rate,
        "ours_calls_per_s": phases["ours"]["calls_per_s"], "ours_ratio": phases["ours"]["calls_per_s"] / raw_rate,
        "ours_cache_calls_per_s": phases["ours_cache"]["calls_per_s"],
        "ours_cache_ratio": phases["ours_cache"]["calls_per_s"] / raw_rate,
        "backlog_after_load": phases["ours"]["backlog_at_end"], "flush_after_load_s": phases["ours"]["flush_s"],
        "export_records_per_s": {k: v["records_per_s"] for k, v in export.items()},
        "export_cpu_ms_per_record": {k: v["cpu_ms_per_record"] for k, v in export.items()},
        "cpu_ms_per_call": {k: v["cpu_ms_per_call"] for k, v in phases.items()},
        "targets": {"ratio": 0.97, "flush_after_load_s": 2.0, "export_records_per_s": 1000},
    }
    out = {"figures": figures, "phases": phases, "export": export, "traces_in_store": traces,
           "threads": args.threads, "seconds": args.seconds,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_start": load_start,
                       "load_end": list(os.getloadavg())},
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
