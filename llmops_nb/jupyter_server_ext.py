"""Jupyter server extension: the call store for the JupyterLab "LLM calls" sidebar.

``GET /llmops_nb/config``          → ``{"mlflow_ui_url", "experiment_id"}``
``GET /llmops_nb/calls?limit=N``   → ``{"rows": [...history() rows...], "mlflow_ui_url", "experiment_id"}``
``GET /llmops_nb/calls/<trace_id>``→ a trace's prompt messages, answer, attempts and findings

Everything read here is what the recorder stored: measured facts, finding hashes and the
already-redacted prompt and answer; never a key. ``MLFLOW_UI_URL`` (a running ``mlflow ui`` or
tracking server) enables links to traces. Enabled by
``jupyter-config/jupyter_server_config.d/llmops_nb.json``; the server starts without importing
mlflow (it is imported on the first request, off the event loop).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

ROUTE = "llmops_nb"
ROW_FIELDS = ("started_at", "model", "provider", "prompt", "input_tokens", "output_tokens", "cost_usd",
              "latency_ms", "ttft_ms", "cached", "status", "error", "findings", "trace_id")


def _plain(value: Any) -> Any:
    """A JSON-safe value: timestamps as epoch ms, NaN/NaT as None, numpy scalars as Python."""
    if value is None:
        return None
    if hasattr(value, "value") and hasattr(value, "tz_convert"):  # pandas Timestamp
        return None if value != value else int(value.value // 1_000_000)
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def store_calls(limit: int = 100) -> list[dict[str, Any]]:
    """The store's latest calls (every kernel's), newest first, as JSON-safe dicts."""
    from llmops_nb.tracking import history

    frame = history(limit, flush_first=False)
    return [{k: _plain(row.get(k)) for k in ROW_FIELDS} for row in frame.to_dict("records")]


def store_config() -> dict[str, Any]:
    """The MLflow UI URL (``MLFLOW_UI_URL``, else None) and the calls' experiment id."""
    experiment_id = None
    try:
        from llmops_nb.config import settings
        from llmops_nb.tracking import _store_client

        s = settings()
        exp = _store_client(s.tracking_uri).get_experiment_by_name(s.experiment)
        experiment_id = None if exp is None else str(exp.experiment_id)
    except Exception:  # noqa: BLE001 - a missing store only means no links
        experiment_id = None
    return {"mlflow_ui_url": os.environ.get("MLFLOW_UI_URL") or None, "experiment_id": experiment_id}


def trace_details(trace_id: str) -> dict[str, Any] | None:
    """One trace's prompt messages, answer, attempts and findings (None if unknown)."""
    from llmops_nb.config import settings
    from llmops_nb.tracking import TAG, _store_client

    try:
        trace = _store_client(settings().tracking_uri).get_trace(trace_id)
    except Exception:  # noqa: BLE001 - MLflow raises its own error for an unknown id
        return None
    if trace is None:
        return None
    tags = trace.info.tags
    root = next((s for s in trace.data.spans if s.parent_id is None), None)
    inputs = root.inputs if root is not None else None
    outputs = root.outputs if root is not None else None
    answer = None
    if isinstance(outputs, dict) and outputs.get("choices"):
        answer = outputs["choices"][0].get("message", {}).get("content")
    return {
        "trace_id": trace_id,
        "model": tags.get(TAG + "model"),
        "status": tags.get(TAG + "status"),
        "request": (inputs or {}).get("messages") if isinstance(inputs, dict) else inputs,
        "response": answer,
        "attempts": json.loads(tags[TAG + "attempts"]) if tags.get(TAG + "attempts") else None,
        "findings": json.loads(tags[TAG + "findings"]) if tags.get(TAG + "findings") else None,
        "error": tags.get(TAG + "error"),
    }


class ConfigHandler(APIHandler):
    @web.authenticated
    async def get(self) -> None:
        self.finish(json.dumps(await IOLoop.current().run_in_executor(None, store_config)))


class CallsHandler(APIHandler):
    @web.authenticated
    async def get(self) -> None:
        try:
            limit = max(1, min(int(self.get_argument("limit", "100")), 1000))
        except ValueError:
            raise web.HTTPError(400, "limit must be an integer") from None
        loop = IOLoop.current()
        rows = await loop.run_in_executor(None, store_calls, limit)
        config = await loop.run_in_executor(None, store_config)
        self.finish(json.dumps({"rows": rows, **config}))


class TraceHandler(APIHandler):
    @web.authenticated
    async def get(self, trace_id: str) -> None:
        found = await IOLoop.current().run_in_executor(None, trace_details, trace_id)
        if found is None:
            raise web.HTTPError(404, f"no trace {trace_id}")
        self.finish(json.dumps(found, default=str))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "llmops_nb.jupyter_server_ext"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    web_app = server_app.web_app
    base = url_path_join(web_app.settings["base_url"], ROUTE)
    web_app.add_handlers(".*$", [
        (url_path_join(base, "config"), ConfigHandler),
        (url_path_join(base, "calls"), CallsHandler),
        (url_path_join(base, r"calls/([^/]+)"), TraceHandler),
    ])
    server_app.log.info("llmops_nb server extension: GET %s/{config,calls,calls/<trace_id>}", base)
