"""Test isolation for the whole suite (tests/ and the nbval notebooks).

Every test run gets its own state directory and MLflow store in a temporary folder, set in the
environment before any kernel starts, so notebooks executed by nbval write there too and a
second run starts as clean as the first. Nothing here needs the network or an API key.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

pytest_plugins = ["tests.fakes.pytest_plugin"]

_RUN_DIR = Path(tempfile.mkdtemp(prefix="llmops_nb-tests-"))
STORE_URI = f"sqlite:///{_RUN_DIR / 'mlflow.db'}"

# Set at import time (before collection), so nbval's kernels inherit them.
os.environ.update({
    "LLMOPS_HOME": str(_RUN_DIR / "home"),
    "MLFLOW_TRACKING_URI": STORE_URI,
    "MLFLOW_MODEL_CATALOG_URI": "",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_AGENT_HINT": "1",
    # nbval ignores update_display_data, so notebooks under test show only final answers
    "LLMOPS_LIVE_STREAM": "0",
})
for _var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
             "LLMOPS_CACHE", "LLMOPS_DEFAULT_MODEL", "LLMOPS_EXPERIMENT"):
    os.environ.pop(_var, None)
