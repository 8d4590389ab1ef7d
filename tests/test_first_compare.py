"""The first compare() of a process: nothing its calls do not need runs before they are sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _last_json_line(tmp_path: Path, script: str) -> object:
    """Run ``script`` in a fresh interpreter on this tree (tracking off, a home of its own) and
    return the JSON of its last output line."""
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path), "LLMOPS_TRACKING": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])

PROBE = """
import json, sys, time
import llmops_nb as llm
from llmops_nb.providers.base import Final, TextDelta, register_provider
from llmops_nb.types import Usage

seen = []

class Probe:
    key_env, key_required, defaults, base_url = None, False, {}, None
    def __init__(self, name):
        self.name = name
    def warm(self, api_key, timeout_s):  # the call's start-up (SDK import, client), just before it is sent
        seen.append('pandas' in sys.modules)
    def generate(self, request, api_key, timeout_s):
        time.sleep(0.5)
        yield TextDelta('ok')
        yield Final(Usage(input_tokens=3, output_tokens=1), 'stop')

register_provider('probe', Probe)
df = llm.compare(['probe:a', 'probe:b', 'probe:c', 'probe:d'], ['hi'], progress=False, cache=False)
print(json.dumps({'sent_with_pandas': seen, 'status': df.status.tolist()}))
"""


def test_pandas_is_imported_while_the_first_compares_calls_are_on_the_wire(tmp_path):
    """pandas (~0.3 s of CPU) was imported as compare() started, before any call was sent:
    under the GIL that delayed every call's start-up and so every answer. (It starts once every
    call's start-up is done: the last one's remaining ~1 ms before its request leaves may share
    the CPU with it.)"""
    got = _last_json_line(tmp_path, PROBE)
    # 1 + 4: compare() warms the cells' provider once in the caller's thread, then each call
    assert got == {"sent_with_pandas": [False] * 5, "status": ["OK"] * 4}, got


ON_THE_WIRE = """
import json, sys, time
marks = {}
sys.addaudithook(lambda event, args: marks.setdefault("pandas", time.monotonic())
                 if event == "import" and args[0] == "pandas" else None)
import llmops_nb as llm
from llmops_nb.providers.base import Final, TextDelta, register_provider
from llmops_nb.types import Usage

answered = []

class Probe:
    key_env, key_required, defaults, base_url = None, False, {}, None
    def __init__(self, name):
        self.name = name
    def generate(self, request, api_key, timeout_s):
        time.sleep(0.5)  # the provider's wait: the GIL is free
        answered.append(time.monotonic())
        yield TextDelta('ok')
        yield Final(Usage(input_tokens=3, output_tokens=1), 'stop')

register_provider('probe', Probe)
df = llm.compare(['probe:a', 'probe:b', 'probe:c', 'probe:d'], ['hi'], progress=False, cache=False)
print(json.dumps({'pandas_before_first_answer': marks['pandas'] < min(answered), 'status': df.status.tolist()}))
"""


def test_pandas_is_imported_during_the_wait_for_the_answers_not_after_the_first(tmp_path):
    """Imported once the first answer was in, pandas' CPU came after the wait (the answers of a
    comparison arrive together): it was the last thing before the table, on top of the wire time."""
    got = _last_json_line(tmp_path, ON_THE_WIRE)
    assert got == {"pandas_before_first_answer": True, "status": ["OK"] * 4}, got


WARMED = """
import json, threading, time
import llmops_nb as llm
from llmops_nb.providers.base import Final, TextDelta, register_provider
from llmops_nb.types import Usage

warmed = []

def probe(kind):
    class Probe:
        key_env, key_required, defaults, base_url = None, False, {}, None
        def __init__(self, name):
            self.name = name
        def warm(self, api_key, timeout_s):
            warmed.append([kind, threading.current_thread() is threading.main_thread()])
        def generate(self, request, api_key, timeout_s):
            yield TextDelta('ok')
            yield Final(Usage(input_tokens=3, output_tokens=1), 'stop')
    return Probe

register_provider('one', probe('one'))
register_provider('two', probe('two'))
df = llm.compare(['one:a', 'two:a', 'one:b', 'two:b'], ['hi'], progress=False, cache=False)
print(json.dumps({'warmed': warmed, 'status': df.status.tolist()}))
"""


def test_compare_warms_each_provider_once_in_the_callers_thread_before_the_cells(tmp_path):
    """Its workers imported two SDKs side by side under the GIL (and built their clients): a
    first compare of 4 openai + 4 anthropic models took ~0.5 s longer than with the SDKs
    imported one after the other (benchmarks/cold_start.py). compare() now warms each
    provider its cells call in turn, in the caller's thread, before any cell starts."""
    got = _last_json_line(tmp_path, WARMED)
    assert got["status"] == ["OK"] * 4
    assert got["warmed"][:2] == [["one", True], ["two", True]], got  # in the cells' order, before them
    assert all(not in_main for _, in_main in got["warmed"][2:]) and len(got["warmed"]) == 6, got
