"""The exporter thread imports nothing while calls are in flight (issue 15.5).

A module imported in a background thread is visible, half initialised, to every other thread:
openai looks ``httpx`` up in ``sys.modules`` during calls, so MLflow's span store importing
litellm (and httpx) in the exporter thread made a concurrent call fail with "partially
initialized module 'httpx'". Whatever the exporter needs is imported when it is built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CALLS_WHILE_EXPORTING = r"""
import json, sys, threading, time
import llmops_nb as llm
from llmops_nb import session as sessions
from llmops_nb.recording import THREAD_NAME, JournalRecorder
from llmops_nb.session import store_slug as _store_slug
from llmops_nb.tracking import MlflowExporter

db, base = sys.argv[1], sys.argv[2]
llm.configure(tracking_uri=f"sqlite:///{db}", experiment="imports", cache_mode="off")
s = sessions.session().settings
sess = sessions.session()
sess._recorder = JournalRecorder(  # export at once, concurrently with the calls
    s.journal_dir / _store_slug(s.tracking_uri), lambda: MlflowExporter(s.tracking_uri, s.experiment),
    quiet_s=0.0, max_defer_s=0.0, batch_size=5)
llm.complete("openai:gpt-5.4-mini", "first")
llm.flush()  # the exporter is built now, while no call is in flight

late = []
before = set(sys.modules)
sys.addaudithook(lambda event, args: late.append(args[0])
                 if event == "import" and threading.current_thread().name == THREAD_NAME else None)
errors = []

def caller(k):
    models = ["openai:gpt-5.4-mini", "openai:no-price-model-xyz"]  # priced, and not priced
    for i in range(8):
        try:
            if k % 2:
                with llm.group(f"cell {k}"):
                    llm.complete(models[i % 2], f"q{k} {i}", stream=bool(i % 3))
            else:
                llm.complete(models[i % 2], f"q{k} {i}")
        except Exception as exc:
            errors.append(repr(exc))

threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
llm.flush()
# a name looked up in vain (an optional dependency that is not installed) loads nothing
print(json.dumps({"late_imports": sorted({m for m in late if m in sys.modules and m not in before}), "errors": errors, "traces": len(llm.history(None))}))
"""


def test_the_exporter_thread_imports_nothing_after_it_is_built(tmp_path, fake_openai):
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": "sk-test",
           "OPENAI_BASE_URL": fake_openai.base_url, "MLFLOW_DISABLE_TELEMETRY": "true", "LLMOPS_WARMUP": "0"}
    out = subprocess.run([sys.executable, "-c", CALLS_WHILE_EXPORTING, str(tmp_path / "mlflow.db"),
                          fake_openai.base_url], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["errors"] == []
    assert got["traces"] == 1 + 4 * 8
    assert got["late_imports"] == [], "imported by the exporter thread while calls were in flight"
