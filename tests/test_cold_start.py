"""A fresh process's and a fresh kernel's start-up: what runs before the first request leaves
(issue 15, cold start). Import sets and orders, never milliseconds (a loaded CI machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LOAD_EXT = """
import json, sys, threading
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
main, imported = threading.get_ident(), []
sys.addaudithook(lambda event, args: imported.append(args[0])
                 if event == "import" and threading.get_ident() == main and args[0] not in sys.modules else None)
ip.run_line_magic("load_ext", "llmops_nb")
done = list(imported)
ip.run_cell("%%llm sim:echo --no-stream\\nhello")  # the magics still work, imported on first use
print(json.dumps({"imported": done, "ran": "llmops_nb.magics" in sys.modules}))
"""

# what %load_ext may import in the loading thread: the package, the magics' names, the
# warm-up's starter and the kernel registration (and IPython's own extension machinery);
# outside a kernel the registration reads no settings
LOAD_EXT_MAY_IMPORT = {"llmops_nb", "llmops_nb.magic_names", "llmops_nb.warmup", "llmops_nb.kernel_report",
                       "IPython.core.magics.extension"}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path), "LLMOPS_TRACKING": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **extra}
    env.pop("LLMOPS_WARMUP", None)
    return env


def test_load_ext_imports_only_the_magics_names(tmp_path):
    """``%load_ext`` registered LLMMagics, importing the magics module, its argument parsers and
    the renderer with its HTML sanitizer (~20 ms of a ~25 ms load); they now come when a magic
    first runs. (The warm-up thread it starts imports in its own thread: not counted here.)"""
    out = subprocess.run([sys.executable, "-c", LOAD_EXT], capture_output=True, text=True, env=_env(tmp_path),
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    ours = {m for m in got["imported"] if m.startswith("llmops_nb") or m.startswith("IPython")}
    assert ours <= LOAD_EXT_MAY_IMPORT, sorted(ours - LOAD_EXT_MAY_IMPORT)
    assert "nh3" not in got["imported"] and got["ran"], got


def test_the_magics_opt_out_of_ipython_expansion_by_ipythons_own_attribute():
    from IPython.core.magic import MAGIC_NO_VAR_EXPAND_ATTR

    from llmops_nb import magic_names

    assert magic_names._NO_VAR_EXPAND == MAGIC_NO_VAR_EXPAND_ATTR
