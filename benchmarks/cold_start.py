"""Cold start: from a fresh process (and a fresh IPython shell) to the first answer.

    python benchmarks/cold_start.py [--runs 5]

Each figure is the median of ``--runs`` fresh interpreters, the cases interleaved run by run so
load drift hits them alike; each case has its baseline measured in the same run:

* ``process``: ``import llmops_nb`` + ``complete()`` → answer, against ``import openai`` +
  ``openai.OpenAI()`` + the same request (non-streamed and streamed). llmops_nb as shipped:
  guardrails, cache (a fresh one: a miss) and tracking (a fresh sqlite store) on.
* ``shell``: in a fresh IPython shell (what a kernel runs), ``%load_ext llmops_nb`` + a
  ``%%llm`` cell → answer, against a cell doing ``import openai`` + client + the call.
* ``compare``: ``import llmops_nb`` + ``compare()`` of 8 models (4 openai, 4 anthropic, each
  answer 300 ms), against importing both SDKs, building both clients and making the 8 calls
  from 8 threads.
* ``recorded``: the first call's recorded latency and TTFT against the raw SDK's first
  request (client already built) — they should be the provider's plus the wire.
* ``memory``: the process's RSS after its first answer (the ``process`` cases), after
  ``flush()`` (the first export into MLflow), and the peak RSS of 16 threads making their first
  calls at once, against the raw SDK doing the same (one shared client).

Every module runs from bytecode, as from an installed package (see ``environments()``): this
machine sets PYTHONDONTWRITEBYTECODE, under which the checkout's modules were compiled from
source in every fresh process (~40 ms more for the pipeline's imports alone), a cost the raw
SDKs, whose bytecode is in site-packages, never paid. ``--only CASE …`` runs a few cases and
prints their medians (for iterating; writes nothing).

Target (issue 15): first answer ≤ raw + 100 ms; first compare ≤ 1.2× raw; recorded figures
within a few ms of the raw first request; RSS after the first call ≤ 200 MB, peak RSS of 16
concurrent first calls ≤ 400 MB. Writes benchmarks/results/cold_start.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_servers import ROOT, fake_servers  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MSG = "[{'role': 'user', 'content': 'Say hello'}]"
MSG_DQ = MSG.replace("'", '"')
# the case's figures: wall and CPU time since it started, then RSS now and the peak (MB)
OUT = ("import resource as _r, os as _o; "
       "print([time.perf_counter() - t, time.process_time(), "
       "int(open('/proc/self/statm').read().split()[1]) * _o.sysconf('SC_PAGE_SIZE') / 2**20, "
       "_r.getrusage(_r.RUSAGE_SELF).ru_maxrss / 1024])")
SIXTEEN = ("import threading, time; t = time.perf_counter(); b = threading.Barrier(16)\n"
           "def one(i):\n    b.wait(); {call}\n"
           "ts = [threading.Thread(target=one, args=(i,)) for i in range(16)]\n"
           "for x in ts: x.start()\n"
           "for x in ts: x.join()\n")

CASES: dict[str, str] = {
    "raw_process": (
        "import time; t = time.perf_counter(); import openai; c = openai.OpenAI(max_retries=0); "
        f"r = c.chat.completions.create(model='gpt-5.4-mini', messages={MSG}); " + OUT),
    "ours_process": (
        "import time; t = time.perf_counter(); import llmops_nb as llm; "
        "c = llm.complete('openai:gpt-5.4-mini', 'Say hello'); " + OUT),
    "raw_process_stream": (
        "import time; t = time.perf_counter(); import openai; c = openai.OpenAI(max_retries=0); "
        f"s = c.chat.completions.create(model='gpt-5.4-mini', messages={MSG}, stream=True, "
        "stream_options={'include_usage': True}); [x for x in s]; " + OUT),
    "ours_process_stream": (
        "import time; t = time.perf_counter(); import llmops_nb as llm; "
        "c = llm.complete('openai:gpt-5.4-mini', 'Say hello', stream=True); " + OUT),
    "raw_shell": (
        "import time, io, contextlib; from IPython.core.interactiveshell import InteractiveShell; "
        "ip = InteractiveShell.instance(); t = time.perf_counter(); "
        "ip.run_cell('import openai\\nc = openai.OpenAI(max_retries=0)\\n"
        f"r = c.chat.completions.create(model=\"gpt-5.4-mini\", messages={MSG_DQ}, stream=True)\\n"
        "print(\"\".join(x.choices[0].delta.content or \"\" for x in r if x.choices))'); " + OUT),
    "ours_shell": (
        "import time; from IPython.core.interactiveshell import InteractiveShell; "
        "ip = InteractiveShell.instance(); t = time.perf_counter(); "
        "ip.run_line_magic('load_ext', 'llmops_nb'); load_ext_s = time.perf_counter() - t; "
        "ip.run_cell_magic('llm', 'openai:gpt-5.4-mini', 'Say hello'); " + OUT[:-2] + ", load_ext_s])"),
    "raw_compare": (
        "import time; t = time.perf_counter(); import openai, anthropic\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "o = openai.OpenAI(max_retries=0); a = anthropic.Anthropic(max_retries=0)\n"
        "def one(i):\n"
        "    if i < 4:\n"
        f"        s = o.chat.completions.create(model='gpt-5.4-mini', messages={MSG}, stream=True); return [x for x in s]\n"
        f"    s = a.messages.create(model='claude-haiku-4-5', max_tokens=100, messages={MSG}, stream=True); return [x for x in s]\n"
        "with ThreadPoolExecutor(8) as ex: list(ex.map(one, range(8)))\n" + OUT),
    "ours_compare": (
        "import time; t = time.perf_counter(); import llmops_nb as llm; "
        "df = llm.compare(['openai:gpt-5.4-mini', 'openai:gpt-4o-mini', 'openai:gpt-4.1-mini', 'openai:gpt-4o', "
        "'anthropic:claude-haiku-4-5', 'anthropic:claude-sonnet-4-5', 'anthropic:claude-3-5-haiku-latest', "
        "'anthropic:claude-opus-4-1'], ['Say hello'], progress=False); "
        "assert (df.status == 'OK').all(), df.error.tolist(); " + OUT),
}
MEMORY = {
    "ours_flush": (  # wall/CPU of the flush itself; RSS after it
        "import time, llmops_nb as llm; c = llm.complete('openai:gpt-5.4-mini', 'Say hello'); "
        "t = time.perf_counter(); c0 = time.process_time(); llm.flush(); " + OUT[:-2] + ", time.process_time() - c0])"),
    "raw_16": ("import openai; c = openai.OpenAI(max_retries=0)\n" + SIXTEEN.format(
        call=f"c.chat.completions.create(model='gpt-5.4-mini', messages={MSG})") + OUT),
    "ours_16": ("import llmops_nb as llm\n" + SIXTEEN.format(
        call="llm.complete('openai:gpt-5.4-mini', f'Say hello {i}')") + OUT),
}
# The critical path of a fresh process's first answer, phase by phase (wall and CPU at the end of
# each): the socket's first send is the request leaving, its first receive the answer arriving.
# Instrumentation of this benchmark's child process only (the socket class and the pipeline's
# stages are wrapped to take timestamps; nothing is changed).
_MARKS = (
    "import time, json, socket; t0, c0 = time.perf_counter(), time.process_time(); marks = []\n"
    "def mark(k):\n"
    "    if k not in [m[0] for m in marks]: marks.append([k, time.perf_counter() - t0, time.process_time() - c0])\n"
    "_sendall, _send, _recv = socket.socket.sendall, socket.socket.send, socket.socket.recv\n"
    "def sendall(self, *a, **k):\n    mark('request sent'); return _sendall(self, *a, **k)\n"
    "def send(self, *a, **k):\n    mark('request sent'); return _send(self, *a, **k)\n"
    "def recv(self, *a, **k):\n    r = _recv(self, *a, **k); mark('answer received'); return r\n"
    "socket.socket.sendall, socket.socket.send, socket.socket.recv = sendall, send, recv\n")
PHASES = {
    "raw_phases": _MARKS + (
        "import openai; mark('import openai')\n"
        "c = openai.OpenAI(max_retries=0); mark('client')\n"
        f"r = c.chat.completions.create(model='gpt-5.4-mini', messages={MSG}); mark('returned')\n"
        "print(json.dumps(marks))"),
    "ours_phases": _MARKS + (
        "import llmops_nb as llm; mark('import llmops_nb')\n"
        "import llmops_nb.pipeline as P; mark('import pipeline')\n"
        "def after(name, f):\n"
        "    def wrapped(*a, **k):\n        r = f(*a, **k); mark(name); return r\n"
        "    return wrapped\n"
        "start = P.Guards.start; P.Guards.start = staticmethod(after('input guardrails', start))\n"
        "P.plan_call = after('plan (route, prices, checks)', P.plan_call)\n"
        "P._Run.start_clock = after('provider start-up (SDK, client)', P._Run.start_clock)\n"
        "c = llm.complete('openai:gpt-5.4-mini', 'Say hello'); mark('returned')\n"
        "print(json.dumps(marks))"),
}
FIRST_CALL = {
    "raw_first_request": (
        "import time, json, openai; c = openai.OpenAI(max_retries=0); t = time.perf_counter(); "
        f"s = c.chat.completions.create(model='gpt-5.4-mini', messages={MSG}, stream=True, "
        "stream_options={'include_usage': True}); ttft = None\n"
        "for x in s:\n"
        "    if ttft is None and x.choices and x.choices[0].delta.content: ttft = time.perf_counter() - t\n"
        "print(json.dumps([time.perf_counter() - t, ttft]))"),
    "ours_first_call_recorded": (
        "import json, llmops_nb as llm; c = llm.complete('openai:gpt-5.4-mini', 'Say hello', stream=True); "
        "print(json.dumps([c.latency_s, c.ttft_s]))"),
}


def run_case(code: str, env: dict[str, str]) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**env, "LLMOPS_HOME": tmp, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True,
                             timeout=300)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        return json.loads(out.stdout.strip().splitlines()[-1])


def phases(runs: list[list[list[Any]]]) -> list[dict[str, Any]]:
    """Median wall and CPU milliseconds of each phase (from the end of the one before), in order."""
    names = [m[0] for m in runs[0]]
    complete = [r for r in runs if [m[0] for m in r] == names]

    def delta(run: list[list[Any]], i: int, k: int) -> float:
        return 1000 * (run[i][k] - (run[i - 1][k] if i else 0.0))

    return [{"phase": name, "wall_ms": statistics.median(delta(r, i, 1) for r in complete),
             "cpu_ms": statistics.median(delta(r, i, 2) for r in complete)} for i, name in enumerate(names)]


def only(names: list[str], runs: int) -> None:
    """Run the named cases ``runs`` times (interleaved) and print the medians (phases: per phase)."""
    cases = {**CASES, **MEMORY, **FIRST_CALL, **PHASES}
    results: dict[str, list[Any]] = {n: [] for n in names}
    with environments() as (fast, slow):
        for name in names:
            run_case(cases[name], slow if "compare" in name else fast)  # compiles the bytecode
        for _ in range(runs):
            for name in names:
                results[name].append(run_case(cases[name], slow if "compare" in name else fast))
    for name, rs in results.items():
        if name in PHASES:
            print(name, json.dumps([[p["phase"], round(p["wall_ms"], 1), round(p["cpu_ms"], 1)] for p in phases(rs)]))
        else:
            print(name, [round(statistics.median(r[i] for r in rs), 4) for i in range(len(rs[0]))])
    print("load", load())


@contextlib.contextmanager
def environments() -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """The child processes' environments: against the fast fakes, and the 300 ms ones. Every
    module runs from bytecode, as from an installed package (pip compiles it; the raw SDKs' is
    in site-packages): this machine sets PYTHONDONTWRITEBYTECODE, under which the checkout's
    modules would be compiled from source in every fresh process. The bytecode goes to a
    temporary PYTHONPYCACHEPREFIX (the same for both sides), written by a first, unmeasured
    run of each case."""
    with tempfile.TemporaryDirectory() as pycache, fake_servers(delay_s=0.0) as (oa, an_fast), \
            fake_servers(delay_s=0.3) as (oa_slow, an_slow):
        base = {**os.environ, "OPENAI_API_KEY": "sk-bench", "ANTHROPIC_API_KEY": "sk-ant-bench",
                "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_MODEL_CATALOG_URI": "", "PYTHONPATH": str(ROOT),
                "PYTHONPYCACHEPREFIX": pycache}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        yield ({**base, "OPENAI_BASE_URL": oa, "ANTHROPIC_BASE_URL": an_fast},
               {**base, "OPENAI_BASE_URL": oa_slow, "ANTHROPIC_BASE_URL": an_slow})


def load() -> list[float]:
    return list(os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(RESULTS / "cold_start.json"))
    ap.add_argument("--only", nargs="*", help="run only these cases (names as in the results' runs), print their "
                    "medians and write nothing: for iterating")
    args = ap.parse_args()
    if args.only:
        only(args.only, args.runs)
        return
    load_start = load()
    results: dict[str, list[Any]] = {k: [] for k in [*CASES, *MEMORY, *FIRST_CALL, *PHASES]}
    with environments() as (fast, slow):
        for name, code in {**CASES, **MEMORY, **FIRST_CALL, **PHASES}.items():
            run_case(code, slow if "compare" in name else fast)  # compiles the bytecode (not measured)
        for run in range(args.runs):
            for name, code in CASES.items():
                results[name].append(run_case(code, slow if "compare" in name else fast))
            for name, code in {**MEMORY, **FIRST_CALL, **PHASES}.items():
                results[name].append(run_case(code, fast))
            print(f"run {run + 1}/{args.runs}", {k: v[-1] for k, v in results.items()}, flush=True)

    def med(name: str, i: int = 0) -> float:  # i: 0 wall time, 1 the process's CPU time, 2 RSS, 3 peak RSS
        return statistics.median(r[i] for r in results[name])

    cpu = {name: {"ours_cpu_s": med(f"ours_{name}", 1), "raw_cpu_s": med(f"raw_{name}", 1),
                  "extra_cpu_ms": 1000 * (med(f"ours_{name}", 1) - med(f"raw_{name}", 1))}
           for name in ("process", "process_stream", "shell", "compare")}

    raw_first = statistics.median(r[0] for r in results["raw_first_request"])
    raw_ttft = statistics.median(r[1] for r in results["raw_first_request"])
    ours_lat = statistics.median(r[0] for r in results["ours_first_call_recorded"])
    ours_ttft = statistics.median(r[1] for r in results["ours_first_call_recorded"])
    figures = {
        "process_non_stream_s": {"ours": med("ours_process"), "raw": med("raw_process"),
                                 "extra_ms": 1000 * (med("ours_process") - med("raw_process")), "target_extra_ms": 100},
        "process_stream_s": {"ours": med("ours_process_stream"), "raw": med("raw_process_stream"),
                             "extra_ms": 1000 * (med("ours_process_stream") - med("raw_process_stream")),
                             "target_extra_ms": 100},
        "shell_load_ext_plus_cell_s": {"ours": med("ours_shell"), "raw": med("raw_shell"),
                                       "extra_ms": 1000 * (med("ours_shell") - med("raw_shell")),
                                       "target_extra_ms": 100},
        "first_compare_of_8_s": {"ours": med("ours_compare"), "raw": med("raw_compare"),
                                 "ratio": med("ours_compare") / med("raw_compare"), "target_ratio": 1.2},
        "first_call_recorded_ms": {"latency": 1000 * ours_lat, "ttft": 1000 * ours_ttft,
                                   "raw_first_request_latency": 1000 * raw_first, "raw_first_request_ttft": 1000 * raw_ttft},
    }
    figures["cpu"] = cpu
    figures["critical_path_ms"] = {side: phases(results[f"{side}_phases"]) for side in ("ours", "raw")}
    figures["load_ext_ms"] = 1000 * med("ours_shell", 4)
    figures["memory_mb"] = {
        "rss_after_first_call": {"ours": med("ours_process", 2), "raw": med("raw_process", 2), "target": 200},
        "rss_after_first_call_stream": {"ours": med("ours_process_stream", 2), "raw": med("raw_process_stream", 2)},
        "rss_after_first_flush": {"ours": med("ours_flush", 2), "flush_wall_s": med("ours_flush", 0),
                                  "flush_cpu_s": med("ours_flush", 4)},
        "peak_16_concurrent_first_calls": {"ours": med("ours_16", 3), "raw": med("raw_16", 3), "target": 400},
        "wall_16_concurrent_first_calls_s": {"ours": med("ours_16", 0), "raw": med("raw_16", 0)},
    }
    out = {"figures": figures, "runs": results, "n": args.runs,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_start": load_start, "load_end": load()},
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
