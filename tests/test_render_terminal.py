"""Streaming in terminal IPython, where a display cannot be redrawn in place: a real ``ipython``
process runs a streamed ``%%llm`` cell and its answer must be printed once, then its footer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """\
from llmops_nb.providers import sim
sim.configure_model("slowterm", ttft_s=0.01, tokens_per_s=150)
get_ipython().run_line_magic("load_ext", "llmops_nb")
get_ipython().run_cell_magic("llm", "sim:slowterm --max-tokens 60", "Explain streaming to a terminal user")
get_ipython().run_cell_magic("llm", "sim:json -f json", "Give JSON")
"""


def test_terminal_ipython_prints_a_streamed_answer_once(tmp_path: Path) -> None:
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path / "home"), "LLMOPS_TRACKING": "0",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "LLMOPS_LIVE_STREAM": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "TERM": "dumb"}
    out = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", SCRIPT],
                         env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert text.count("Simulated answer (slowterm)") == 1, text  # not once per redraw
    assert "▌" not in text
    assert text.count("sim:slowterm · ") == 1 and "TTFT" in text  # the footer, once, after the answer
    assert text.index("Simulated answer (slowterm)") < text.index("sim:slowterm · ")
    assert text.count('"answer"') == 1, text  # -f json: the pretty JSON printed once, at the end
