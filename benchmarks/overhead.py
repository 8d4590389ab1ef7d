"""What llmops_nb adds to an LLM call: per-call overhead, cache hits, import time.

    python benchmarks/overhead.py [--calls N] [--warmup W] [--import-runs R] [--profile]

Everything runs in one process against the fake OpenAI server of ``tests.fakes``, which is
started in a *separate process*: the fake is pure-Python (http.server + json), so in-process it
would compete with the measured client for the GIL and its CPU time would leak into both
sides of every comparison unevenly. In its own process it only costs wall time, the same for
the raw SDK call and the llmops_nb call.

Figures (see benchmarks/README.md): the raw ``openai`` SDK call (baseline) and
``llmops_nb.complete`` (measured) are interleaved in one loop, alternating which goes first,
and the overhead is the per-pair difference measured − baseline; both non-streaming and
streaming; once with the recorder as shipped (export deferred while calls are being made) and
once with an exporter that runs concurrently with the calls; cache hits; the final flush and a
check that every call reached the MLflow store; and ``import llmops_nb`` time in fresh
interpreters. Results go to benchmarks/results/overhead.json.
"""

from __future__ import annotations

import os

# Before anything imports mlflow (or could): no telemetry, no network price catalog.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["MLFLOW_MODEL_CATALOG_URI"] = ""
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_DISABLE_AGENT_HINT"] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime as _dt  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_servers import ROOT, fake_servers  # noqa: E402  (the shared fake-server process)

RESULTS = ROOT / "benchmarks" / "results" / "overhead.json"
MODEL = "openai:gpt-5.4-mini"
MODEL_NAME = "gpt-5.4-mini"
API_KEY = "sk-bench-not-a-real-key"
# 14 words: the fake echoes it back ("echo: " + prompt), so a stream has 15 text chunks.
PROMPT = "Summarise the benefits of tracking every LLM call in MLflow in one short sentence."
CACHE_PROMPT = "What is the capital of France? Answer in one word."
# issue 15: steady-state overhead p50, with guardrails, recording and the cache on as shipped
TARGETS = {"overhead_p50_ms": 0.25, "stream_overhead_p50_ms": 0.5, "cache_hit_p50_ms": 0.15, "import_net_s": 0.3}
_ENV_TO_CLEAR = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MLFLOW_TRACKING_URI", "LLMOPS_HOME", "LLMOPS_CACHE",
                 "LLMOPS_CACHE_DIR", "LLMOPS_EXPERIMENT", "LLMOPS_DEFAULT_MODEL", "LLMOPS_TRACKING")


# -- statistics ----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50": round(percentile(values_ms, 0.50), 4),
        "p95": round(percentile(values_ms, 0.95), 4),
        "mean": round(statistics.fmean(values_ms), 4),
        "min": round(min(values_ms), 4),
    }


# -- import time -----------------------------------------------------------------------------
def _run_s(code: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t0


def import_time(runs: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_TO_CLEAR}
    _run_s("import llmops_nb", env)  # warm the OS file cache and __pycache__
    bare, pkg = [], []
    for _ in range(runs):  # interleaved, so load drift hits both alike
        bare.append(_run_s("pass", env))
        pkg.append(_run_s("import llmops_nb", env))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import llmops_nb"], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
            rows.append((int(parts[0].split(":")[1]), int(parts[1]), parts[2].rstrip()))
    # -X importtime lists a module after the modules it imported; interpreter start-up ends
    # with the top-level `site` row, so the rows after it are what `import llmops_nb` added.
    starts = [i for i, r in enumerate(rows) if r[2] == " site"]
    ours = rows[starts[-1] + 1:] if starts else rows
    top = sorted(ours, key=lambda r: r[0], reverse=True)[:8]
    pkg_row = [r for r in ours if r[2].strip() == "llmops_nb"]
    return {
        "runs": runs,
        "python_pass_median_s": round(statistics.median(bare), 4),
        "import_llmops_nb_median_s": round(statistics.median(pkg), 4),
        "net_s": round(statistics.median(pkg) - statistics.median(bare), 4),
        "importtime_llmops_nb_cumulative_us": pkg_row[0][1] if pkg_row else None,
        "importtime_startup_site_cumulative_us": rows[starts[-1]][1] if starts else None,
        "modules_added_by_import": [r[2].strip() for r in ours],
        "top_self_us": [{"module": r[2].strip(), "self_us": r[0], "cumulative_us": r[1]} for r in top],
    }


# -- the calls being compared ------------------------------------------------------------------
class Calls:
    def __init__(self, base_url: str) -> None:
        import openai

        import llmops_nb

        self.llm = llmops_nb
        self.client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
        self.messages: Any = [{"role": "user", "content": PROMPT}]
        self.complete_calls = 0  # every llmops_nb.complete call: each must become one trace
        self.cache_hits = 0

    def raw(self) -> str:
        r = self.client.chat.completions.create(model=MODEL_NAME, messages=self.messages)
        _ = r.usage.prompt_tokens if r.usage else None
        return r.choices[0].message.content or ""

    def raw_stream(self) -> str:
        parts = []
        with self.client.chat.completions.create(model=MODEL_NAME, messages=self.messages, stream=True,
                                                 stream_options={"include_usage": True}) as stream:
            for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        parts.append(choice.delta.content)
        return "".join(parts)

    def ours(self) -> str:
        self.complete_calls += 1
        return self.llm.complete(MODEL, PROMPT, cache=False).text

    def ours_stream(self) -> str:
        self.complete_calls += 1
        return self.llm.complete(MODEL, PROMPT, cache=False, stream=True).text

    def raw_fresh(self) -> str:
        r = self.client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": f"{PROMPT} {uuid.uuid4().hex}"}])
        _ = r.usage.prompt_tokens if r.usage else None
        return r.choices[0].message.content or ""

    def ours_fresh(self) -> str:
        """A new prompt each call, cache on as shipped: a miss and a store, nothing memoised."""
        self.complete_calls += 1
        return self.llm.complete(MODEL, f"{PROMPT} {uuid.uuid4().hex}", cache=True).text

    def cache_hit(self) -> Any:
        self.complete_calls += 1
        c = self.llm.complete(MODEL, CACHE_PROMPT, cache=True)
        self.cache_hits += c.cached
        return c


def recorder() -> Any:
    from llmops_nb import session as sessions

    return sessions.session().recorder


def pending() -> int | None:
    """Records not yet in the store (the recorder's own counter; read only)."""
    return getattr(recorder(), "_pending", None)


def paired(n: int, baseline: Callable[[], Any], measured: Callable[[], Any],
           chunk: int | None = None, between: Callable[[], Any] | None = None) -> dict[str, Any]:
    """n interleaved pairs, alternating which call goes first; per-call wall time in ms.

    With ``chunk``, ``between()`` runs (untimed) after every ``chunk`` pairs: the deferred
    phases flush there, so that no chunk outlasts the recorder's 5 s max_defer_s and the
    figures are the recorder's deferred state only (exported_during_phase shows it held).
    """
    base: list[float] = []
    meas: list[float] = []
    clock = time.perf_counter_ns
    exported = 0
    phase_s = 0.0
    done = 0
    while done < n:
        k = min(chunk or n, n - done)
        before = pending()
        t_chunk = time.perf_counter()
        for i in range(done, done + k):
            if i % 2:
                t0 = clock(); baseline(); t1 = clock(); measured(); t2 = clock()  # noqa: E702
                base.append((t1 - t0) / 1e6)
                meas.append((t2 - t1) / 1e6)
            else:
                t0 = clock(); measured(); t1 = clock(); baseline(); t2 = clock()  # noqa: E702
                meas.append((t1 - t0) / 1e6)
                base.append((t2 - t1) / 1e6)
        phase_s += time.perf_counter() - t_chunk
        after = pending()
        if before is not None and after is not None:
            exported += before + k - after
        done += k
        if between is not None and done < n:
            between()
    diff = [m - b for m, b in zip(meas, base, strict=True)]
    return {
        "baseline_ms": summary(base), "measured_ms": summary(meas), "diff_ms": summary(diff),
        "p50_of_measured_minus_p50_of_baseline_ms": round(percentile(meas, .5) - percentile(base, .5), 4),
        "phase_s": round(phase_s, 3), "chunk_pairs": chunk or n,
        "exported_during_phase": exported,
    }


def timed(n: int, fn: Callable[[], Any]) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1e6)
    return out


def timed_flush(label: str) -> dict[str, Any]:
    n = pending()
    t0 = time.perf_counter()
    recorder().flush(120.0)
    dt = time.perf_counter() - t0
    return {"after": label, "records": n, "seconds": round(dt, 3),
            "records_per_s": round(n / dt, 1) if n and dt > 0 else None}


def use_shipped_recorder() -> None:
    """Close the benchmark's recorder; the session builds the shipped one on next use."""
    from llmops_nb import session as sessions

    sess = sessions.session()
    with sess._lock:
        if sess._recorder is not None:
            sess._recorder.close()
        sess._recorder = None


def use_concurrent_exporter() -> None:
    """Replace the session's recorder by one that exports as soon as a record arrives.

    The shipped recorder waits until calls have been quiet for 0.25 s (at most 5 s) before
    exporting; quiet_s=0, max_defer_s=0 removes that, so MLflow writes run in the background
    thread *while* calls are made. Same journal/exporter classes, separate journal folder.
    """
    from llmops_nb import session as sessions
    from llmops_nb.recording import JournalRecorder
    from llmops_nb.tracking import MlflowExporter

    sess = sessions.session()
    s = sess.settings
    with sess._lock:
        if sess._recorder is not None:
            sess._recorder.close()
        sess._recorder = JournalRecorder(
            s.journal_dir / "bench-concurrent",
            lambda: MlflowExporter(s.tracking_uri, s.experiment),
            quiet_s=0.0, max_defer_s=0.0,
        )


# -- where the overhead goes ---------------------------------------------------------------------
class _NoExport:
    def export(self, records: list[Any]) -> None:
        return None


def steps(n: int, scratch: Path) -> dict[str, dict[str, float]]:
    """p50/p95 in µs of the steps execute() adds around the SDK call, each run alone n times.

    The journal write runs on a recorder of its own (same classes, exporter that does nothing)
    in a scratch folder on the same filesystem as the real journal.
    """
    from dataclasses import asdict

    from llmops_nb import session as sessions
    from llmops_nb.cache import cache_key
    from llmops_nb.pipeline import prepare
    from llmops_nb.pricing import price_of
    from llmops_nb.recording import JournalRecorder
    from llmops_nb.types import CallRecord, Usage

    call = prepare(MODEL, PROMPT, params={"temperature": None, "max_tokens": None})
    usage = Usage(input_tokens=21, output_tokens=15)
    sess = sessions.session()

    def record() -> CallRecord:
        return CallRecord(record_id=uuid.uuid4().hex, trace_id="tr-" + uuid.uuid4().hex,
                          started_at_ns=time.time_ns(), ended_at_ns=time.time_ns() + 1_000_000,
                          request=call.request.to_dict(), status="OK", text="echo: " + PROMPT,
                          usage=asdict(usage), cost_usd=0.0001, experiment="bench")

    journal = JournalRecorder(scratch, _NoExport)
    rec = record()
    fresh = iter([record() for _ in range(n + 20)])  # one journal file each, as in real calls
    cases: dict[str, Callable[[], Any]] = {
        "session_and_recorder_lookup": lambda: sess.recorder,
        "prepare (validate, resolve provider and key)":
            lambda: prepare(MODEL, PROMPT, params={"temperature": None, "max_tokens": None}),
        "cache_key (computed even with cache=False)": lambda: cache_key(call.request, call.provider.defaults),
        "price_of (genai-prices)": lambda: price_of(usage, MODEL),
        "CallRecord build (2x uuid4, to_dict, asdict)": record,
        "CallRecord.to_json": rec.to_json,
        "JournalRecorder.record (append a line+enqueue)": lambda: journal.record(next(fresh)),
    }
    out = {}
    try:
        for name, fn in cases.items():
            for _ in range(20):
                fn()
            us = [x * 1000 for x in timed(n, fn)]
            out[name] = {"p50": round(percentile(us, .5), 1), "p95": round(percentile(us, .95), 1)}
    finally:
        journal.close()
    return out


# -- profile -----------------------------------------------------------------------------------
def profile(calls: Calls, n: int, out: Path) -> None:
    import cProfile
    import io
    import pstats

    text = io.StringIO()
    for label, fn in (("complete(cache=False), non-stream", calls.ours),
                      ("complete(cache=False, stream=True)", calls.ours_stream),
                      ("complete(cache=True) hit", calls.cache_hit),
                      ("raw SDK non-stream (reference)", calls.raw)):
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            fn()
        prof.disable()
        for key in ("tottime", "cumulative"):
            text.write(f"\n===== {label}: {n} calls, sorted by {key} =====\n")
            pstats.Stats(prof, stream=text).strip_dirs().sort_stats(key).print_stats(25)
        text.write(f"\n===== {label}: llmops_nb's own functions, sorted by cumulative =====\n")
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(r"/llmops_nb/", 30)
        recorder().flush(120.0)
    out.write_text(text.getvalue(), encoding="utf-8")
    print(f"profile written to {out.relative_to(ROOT)}")


# -- report ------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    commit, dirty = None, None
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        # the package measured is the working tree: say whether it differs from the commit
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "llmops_nb"], cwd=ROOT,
                                    capture_output=True, text=True, check=True).stdout.strip())
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {d: version(d) for d in ("llmops-nb", "openai", "mlflow", "httpx", "diskcache",
                                              "genai-prices", "SQLAlchemy")},
        "git_commit": commit,
        "llmops_nb_uncommitted_changes": dirty,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def print_table(res: dict[str, Any]) -> None:
    def ok(value: float, target: float) -> str:
        return "ok " if value <= target else "MISS"

    rows = []
    for key, title in (("nonstream_deferred", "non-stream, export deferred (shipped)"),
                       ("stream_deferred", "stream, export deferred (shipped)"),
                       ("nonstream_fresh_cache_on_deferred", "non-stream, new prompt each call, cache on (miss+store)"),
                       ("nonstream_concurrent", "non-stream, export concurrent"),
                       ("stream_concurrent", "stream, export concurrent")):
        r = res["calls"][key]
        rows.append((title, None, None, None))
        rows.append(("  raw openai SDK", r["baseline_ms"]["n"], r["baseline_ms"]["p50"], r["baseline_ms"]["p95"]))
        rows.append(("  llmops_nb.complete", r["measured_ms"]["n"], r["measured_ms"]["p50"],
                     r["measured_ms"]["p95"]))
        target = TARGETS["overhead_p50_ms" if "nonstream" in key else "stream_overhead_p50_ms"]
        mark = f"  [{ok(r['diff_ms']['p50'], target)} <= {target:g} ms]" if "deferred" in key else ""
        rows.append((f"  overhead (paired diff){mark}", r["diff_ms"]["n"], r["diff_ms"]["p50"],
                     r["diff_ms"]["p95"]))
    ch = res["cache_hit"]
    rows.append(("cache hit, tracking on", None, None, None))
    rows.append((f"  complete(cache=True) [{ok(ch['call_ms']['p50'], TARGETS['cache_hit_p50_ms'])} <= "
                 f"{TARGETS['cache_hit_p50_ms']:g} ms]",
                 ch["call_ms"]["n"], ch["call_ms"]["p50"], ch["call_ms"]["p95"]))
    rows.append(("  of which lookup (Completion.latency_s)", ch["lookup_ms"]["n"], ch["lookup_ms"]["p50"],
                 ch["lookup_ms"]["p95"]))
    if "call_ms_concurrent_export" in ch:
        c = ch["call_ms_concurrent_export"]
        rows.append(("  complete(cache=True), export concurrent", c["n"], c["p50"], c["p95"]))
    print()
    print(f"{'figure (ms per call)':<58}{'n':>6}{'p50':>10}{'p95':>10}")
    print("-" * 84)
    for title, n, p50, p95 in rows:
        if n is None:
            print(title)
        else:
            print(f"{title:<58}{n:>6}{p50:>10.3f}{p95:>10.3f}")
    print("-" * 84)
    im = res["import"]
    print(f"import llmops_nb: {im['import_llmops_nb_median_s']:.3f} s raw, python -c pass "
          f"{im['python_pass_median_s']:.3f} s, net {im['net_s']:.3f} s "
          f"[{ok(im['net_s'], TARGETS['import_net_s'])} <= 0.3 s] (median of {im['runs']})")
    print("steps execute() adds (each timed alone, µs):  "
          + "; ".join(f"{k.split(' (')[0]} {v['p50']:.0f}" for k, v in res["steps_us"].items()))
    for f in res["flushes"]:
        print(f"flush after {f['after']}: {f['records']} record(s) in {f['seconds']:.3f} s")
    v = res["verify"]
    print(f"store check: {v['traces_in_store']} traces for {v['complete_calls']} complete() calls "
          f"({v['cached_in_store']} cached for {v['cache_hits']} hits) -> {'OK' if v['ok'] else 'MISMATCH'}")
    for key in ("nonstream_deferred", "stream_deferred", "nonstream_fresh_cache_on_deferred", "nonstream_concurrent",
                "stream_concurrent"):
        r = res["calls"][key]
        if "exported_during_phase" in r:
            print(f"{key}: {r['exported_during_phase']} record(s) exported during the {r['phase_s']:.1f} s phase")


def write_json(res: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- main --------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    res: dict[str, Any] = {"schema": 1, "machine": machine_info(), "targets": TARGETS}
    res["config"] = {"calls": args.calls, "warmup": args.warmup, "model": MODEL, "prompt_words": len(PROMPT.split()),
                     "server": "tests.fakes.FakeOpenAI in a separate process, 127.0.0.1, keep-alive, "
                               + ("TCP_NODELAY" if not args.nagle else "Nagle on (as shipped)")}

    print(f"import time: {args.import_runs} fresh interpreters each ...", flush=True)
    res["import"] = import_time(args.import_runs)

    for var in _ENV_TO_CLEAR:
        os.environ.pop(var, None)
    tmp = Path(tempfile.mkdtemp(prefix="llmops_nb-bench-"))
    try:
        with fake_servers(delay_s=0.0, nagle=args.nagle) as (base_url, _anthropic_url):
            os.environ["OPENAI_BASE_URL"] = base_url
            os.environ["OPENAI_API_KEY"] = API_KEY
            import llmops_nb

            llmops_nb.configure(home=tmp / "home", tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
                                experiment="bench", tracking=True, cache_mode="readwrite")
            calls = Calls(base_url)
            res["calls"], res["flushes"] = {}, []

            # Warm-up: connections, SDK/pydantic, genai-prices data, the first MLflow import and
            # experiment creation (the first flush pays for importing mlflow in the background).
            print(f"warm-up: {args.warmup} calls of each kind ...", flush=True)
            assert calls.ours() == calls.raw() == calls.ours_stream() == calls.raw_stream() == "echo: " + PROMPT
            for _ in range(args.warmup):
                calls.raw(); calls.ours(); calls.raw_stream(); calls.ours_stream()  # noqa: E702
            for _ in range(args.warmup):
                calls.raw_fresh(); calls.ours_fresh()  # noqa: E702
            calls.cache_hit()  # the miss that fills the cache
            res["flushes"].append(timed_flush("warm-up (includes importing mlflow, creating the store)"))

            n = args.calls
            gc.collect()
            print(f"measuring {n} interleaved pairs: non-stream, stream (export deferred) ...", flush=True)
            between = lambda: recorder().flush(120.0)  # noqa: E731
            res["calls"]["nonstream_deferred"] = paired(n, calls.raw, calls.ours, 250, between)
            res["flushes"].append(timed_flush("non-stream, deferred"))
            res["calls"]["stream_deferred"] = paired(n, calls.raw_stream, calls.ours_stream, 150, between)
            res["flushes"].append(timed_flush("stream, deferred"))
            print(f"measuring {n} interleaved pairs: a new prompt each call, cache on (miss + store) ...", flush=True)
            res["calls"]["nonstream_fresh_cache_on_deferred"] = paired(n, calls.raw_fresh, calls.ours_fresh, 250,
                                                                       between)
            res["flushes"].append(timed_flush("new prompts, cache on, deferred"))

            print(f"measuring {n} cache hits ...", flush=True)
            hits_before = calls.cache_hits
            call_ms = timed(n, calls.cache_hit)
            # latency_s of a hit is the pipeline's own lookup time
            lookups = [calls.cache_hit().latency_s * 1e3 for _ in range(n)]
            if calls.cache_hits - hits_before != 2 * n:
                raise RuntimeError("expected every call of the cache phase to be a hit")
            res["cache_hit"] = {"call_ms": summary(call_ms), "lookup_ms": summary(lookups)}
            res["flushes"].append(timed_flush("cache hits"))

            print(f"measuring {n} interleaved pairs with the exporter running concurrently ...", flush=True)
            use_concurrent_exporter()
            for _ in range(max(5, args.warmup // 5)):  # first export builds a new MLflow client
                calls.ours()
            res["flushes"].append(timed_flush("concurrent-exporter warm-up"))
            gc.collect()
            res["calls"]["nonstream_concurrent"] = paired(n, calls.raw, calls.ours)
            res["calls"]["stream_concurrent"] = paired(n, calls.raw_stream, calls.ours_stream)
            res["cache_hit"]["call_ms_concurrent_export"] = summary(timed(n, calls.cache_hit))
            for key in ("nonstream_concurrent", "stream_concurrent"):
                quiet = res["calls"][key.replace("concurrent", "deferred")]["baseline_ms"]["p50"]
                res["calls"][key]["p50_of_measured_minus_p50_of_deferred_phase_baseline_ms"] = round(
                    res["calls"][key]["measured_ms"]["p50"] - quiet, 4)

            print("final flush and store check ...", flush=True)
            final = timed_flush("everything (final llmops_nb.flush())")
            llmops_nb.flush()  # the public call; returns at once now
            res["flushes"].append(final)
            t0 = time.perf_counter()
            hist = llmops_nb.history(limit=None)
            history_s = time.perf_counter() - t0
            res["verify"] = {
                "complete_calls": calls.complete_calls,
                "traces_in_store": len(hist),
                "cache_hits": calls.cache_hits,
                "cached_in_store": int(hist["cached"].sum()),
                "errors_in_store": int((hist["status"] != "OK").sum()),
                "history_read_s": round(history_s, 3),
            }
            res["verify"]["ok"] = (len(hist) == calls.complete_calls and res["verify"]["cached_in_store"]
                                   == calls.cache_hits and res["verify"]["errors_in_store"] == 0)

            use_shipped_recorder()
            print("timing the pipeline's own steps ...", flush=True)
            res["steps_us"] = steps(max(300, n), tmp / "steps")
            if args.profile:
                profile(calls, n, args.out.parent / "profile.txt")
            from llmops_nb import session as sessions

            sessions.session().close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    nd = res["calls"]["nonstream_deferred"]["diff_ms"]["p50"]
    res["targets_met"] = {
        "overhead_p50_ms": nd <= TARGETS["overhead_p50_ms"],
        "stream_overhead_p50_ms": res["calls"]["stream_deferred"]["diff_ms"]["p50"] <= TARGETS["stream_overhead_p50_ms"],
        "cache_hit_p50_ms": res["cache_hit"]["call_ms"]["p50"] <= TARGETS["cache_hit_p50_ms"],
        "import_net_s": res["import"]["net_s"] <= TARGETS["import_net_s"],
    }
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    res["runtime_s"] = round(time.perf_counter() - t_start, 1)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=400, help="measured calls per figure (>= 300 recommended)")
    p.add_argument("--warmup", type=int, default=30, help="warm-up calls of each kind")
    p.add_argument("--import-runs", type=int, default=9, help="fresh interpreters for the import time")
    p.add_argument("--profile", action="store_true", help="also cProfile the measured paths "
                   "(benchmarks/results/profile.txt)")
    p.add_argument("--nagle", action="store_true", help="leave Nagle's algorithm on in the fake server, "
                   "as tests.fakes ships it (adds ~40 ms per call on Linux)")
    p.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = p.parse_args(argv)
    if args.calls < 300:
        print(f"note: --calls {args.calls} < 300: p95 figures will be noisy", file=sys.stderr)
    res = run(args)
    print_table(res)
    write_json(res, args.out)
    print(f"\nresults written to {args.out} ({res['runtime_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
