"""Jupyter server extension: the call stores of the running kernels, for the "LLM calls" sidebar.

``GET /llmops_nb/config[?kernel=ID]``          → ``{"mlflow_ui_url", "experiment_id"}``
``GET /llmops_nb/calls?limit=N[&kernel=ID]``   → ``{"rows": [...history() rows...], "stores", ...}``
``GET /llmops_nb/calls/<trace_id>[?kernel=ID]``→ a trace's prompt messages, answer, attempts, findings

Which stores: each kernel that loaded ``llmops_nb`` registers its tracking URI beside its
connection file (:mod:`llmops_nb.kernel_report`); the server reads the registrations of the
kernels it is running, and only those. A notebook in a sub-folder, whose kernel writes
``<that folder>/mlflow.db``, is found; a path or URI never comes from the browser (``kernel`` is
only a key into the server's own list of live kernels), and no store is opened that no live
kernel reported. Without ``kernel`` the rows of every live kernel's store are merged.

A store on a tracking server (``http(s)://``) that does not answer is said so at once: before
MLflow's client is asked (whose retries would hold a request for minutes), a TCP connection to
the server must open within ``PROBE_TIMEOUT_S``, else the request is a 503 naming the host (never
the URI, which may hold credentials); each read is also bounded by ``READ_TIMEOUT_S`` (504). With
several stores, an unreachable one leaves the others' rows listed (``"unreachable": n``).

Everything read here is what the recorder stored: measured facts, finding hashes and the
already-redacted prompt and answer; never a key. Links to traces: a kernel writing to a tracking
server links to that server (it serves the MLflow UI; its URL without credentials, query or
fragment); for a local store, ``MLFLOW_UI_URL`` (a running ``mlflow ui``; http or https only). Enabled by
``jupyter-config/jupyter_server_config.d/llmops_nb.json``; the server starts without importing
mlflow (it is imported on the first request, off the event loop).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

from llmops_nb.kernel_report import registration_path

ROUTE = "llmops_nb"
PROBE_TIMEOUT_S = 2.0  # a tracking server that does not accept a connection by then is down
READ_TIMEOUT_S = 30.0  # the longest a sidebar request waits for a store
ROW_FIELDS = ("started_at", "model", "provider", "prompt", "input_tokens", "output_tokens", "cost_usd",
              "latency_ms", "ttft_ms", "cached", "status", "error", "findings", "trace_id")


@dataclass(frozen=True)
class Store:
    """A store a live kernel reported."""

    tracking_uri: str
    experiment: str


class StoreUnreachable(Exception):
    """A kernel's tracking server does not accept connections (the message names its host only)."""


def check_reachable(store: Store, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raise :class:`StoreUnreachable` unless ``store`` is local or its server accepts a TCP
    connection within ``timeout`` s (MLflow's client would retry for minutes)."""
    parts = urlsplit(store.tracking_uri)
    if parts.scheme not in ("http", "https"):
        return
    try:
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a malformed port
        raise StoreUnreachable("a kernel's tracking URI has an invalid port") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise StoreUnreachable(f"the tracking server at {host}:{port} does not answer "
                               f"({exc.strerror or type(exc).__name__})") from None


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


def safe_ui_url(value: str | None) -> str | None:
    """``MLFLOW_UI_URL`` if it is an http(s) URL with a host, else None (no ``javascript:``)."""
    if not value:
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def server_ui_url(tracking_uri: str) -> str | None:
    """The URL of the tracking server a store is on, which serves the MLflow UI showing its
    traces (scheme, host, port and path only: no user or password); None for a local store."""
    parts = urlsplit(tracking_uri)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed port
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def reported_store(kernel_manager: Any, kernel_id: str) -> Store | None:
    """The store the live kernel ``kernel_id`` registered (None: not a live kernel of this
    server, or it has not loaded llmops_nb, or its tracking is off)."""
    if kernel_id not in kernel_manager.list_kernel_ids():
        return None
    connection_file = getattr(kernel_manager.get_kernel(kernel_id), "connection_file", None)
    if not connection_file:
        return None
    try:
        report = json.loads(registration_path(connection_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    uri, experiment = report.get("tracking_uri"), report.get("experiment")
    if not isinstance(uri, str) or not uri or not isinstance(experiment, str):
        return None
    return Store(uri, experiment)


def live_stores(kernel_manager: Any) -> list[Store]:
    """The distinct stores of all the live kernels that reported one."""
    found: list[Store] = []
    for kernel_id in kernel_manager.list_kernel_ids():
        store = reported_store(kernel_manager, kernel_id)
        if store is not None and store not in found:
            found.append(store)
    return found


def _experiment_id(client: Any, store: Store) -> str | None:
    exp = client.get_experiment_by_name(store.experiment)
    return None if exp is None else str(exp.experiment_id)


def store_calls(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """A store's latest calls (every kernel's that writes there), newest first, JSON-safe."""
    from llmops_nb.tracking import _row, _store_client, ours, paged_infos

    check_reachable(store)
    client = _store_client(store.tracking_uri)
    experiment_id = _experiment_id(client, store)
    if experiment_id is None:
        return []
    # ours only (other traces in the experiment are not calls), and still up to ``limit`` of them
    return [{k: _plain(row.get(k)) for k in ROW_FIELDS}
            for row in (_row(info) for info in paged_infos(client, experiment_id, limit, keep=ours))]


def store_config(store: Store | None) -> dict[str, Any]:
    """Where the store's traces are shown (its tracking server, else ``MLFLOW_UI_URL`` if
    http(s), else None) and the store's experiment id."""
    experiment_id = None
    ui_url = server_ui_url(store.tracking_uri) if store is not None else None
    if store is not None:
        try:
            from llmops_nb.tracking import _store_client

            check_reachable(store)
            experiment_id = _experiment_id(_store_client(store.tracking_uri), store)
        except Exception:  # noqa: BLE001 - a missing store only means no links
            experiment_id = None
    return {"mlflow_ui_url": ui_url or safe_ui_url(os.environ.get("MLFLOW_UI_URL")), "experiment_id": experiment_id}


def trace_details(store: Store, trace_id: str) -> dict[str, Any] | None:
    """One trace's prompt messages, answer, attempts and findings (None if not in ``store``)."""
    from llmops_nb.tracking import TAG, _store_client, unpacked

    check_reachable(store)  # unreachable is not "no such trace" (the front end asks again for that)
    try:
        trace = _store_client(store.tracking_uri).get_trace(trace_id)
    except Exception:  # noqa: BLE001 - MLflow raises its own error for an unknown id
        return None
    if trace is None:
        return None
    tags = unpacked(trace.info.tags)  # a server-written trace packs most of its facts in one tag
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


async def _off_loop(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a worker thread, for at most ``READ_TIMEOUT_S``; an unreachable store is a
    503 and a store that takes too long a 504 (the sidebar says so instead of waiting)."""
    try:
        return await asyncio.wait_for(IOLoop.current().run_in_executor(None, fn, *args), READ_TIMEOUT_S)
    except StoreUnreachable as exc:
        raise web.HTTPError(503, str(exc)) from None
    except asyncio.TimeoutError:
        raise web.HTTPError(504, f"the store did not answer within {READ_TIMEOUT_S:g} s") from None


class _Handler(APIHandler):
    def stores(self) -> list[Store]:
        """The store of the ``kernel`` asked for, or every live kernel's; 404 for a kernel id
        this server is not running."""
        kernel_id = self.get_argument("kernel", None)
        if kernel_id is None:
            return live_stores(self.kernel_manager)
        if kernel_id not in self.kernel_manager.list_kernel_ids():
            raise web.HTTPError(404, "no such kernel")
        store = reported_store(self.kernel_manager, kernel_id)
        return [] if store is None else [store]


class ConfigHandler(_Handler):
    @web.authenticated
    async def get(self) -> None:
        stores = self.stores()
        config = await _off_loop(store_config, stores[0] if stores else None)
        self.finish(json.dumps(config))


def _merged_calls(stores: list[Store], limit: int) -> tuple[list[dict[str, Any]], int]:
    """The latest ``limit`` rows of all ``stores`` and how many of them could not be reached;
    raises :class:`StoreUnreachable` when none of several could."""
    rows: list[dict[str, Any]] = []
    unreachable: list[StoreUnreachable] = []
    for store in stores:
        try:
            rows += store_calls(store, limit)
        except StoreUnreachable as exc:
            unreachable.append(exc)
    if unreachable and len(unreachable) == len(stores):
        raise unreachable[0]
    rows.sort(key=lambda r: r.get("started_at") or 0, reverse=True)
    return rows[:limit], len(unreachable)


class CallsHandler(_Handler):
    @web.authenticated
    async def get(self) -> None:
        try:
            limit = max(1, min(int(self.get_argument("limit", "100")), 1000))
        except ValueError:
            raise web.HTTPError(400, "limit must be an integer") from None
        stores = self.stores()
        rows, unreachable = await _off_loop(_merged_calls, stores, limit)
        config = await _off_loop(store_config, stores[0] if len(stores) == 1 else None)
        self.finish(json.dumps({"rows": rows, "stores": len(stores), "unreachable": unreachable, **config}))


def _find_trace(stores: list[Store], trace_id: str) -> dict[str, Any] | None:
    """The trace from the first store that has it; :class:`StoreUnreachable` when it is in none
    of those reached and some could not be (it may be there)."""
    unreachable: StoreUnreachable | None = None
    for store in stores:
        try:
            found = trace_details(store, trace_id)
        except StoreUnreachable as exc:
            unreachable = exc
            continue
        if found is not None:
            return found
    if unreachable is not None:
        raise unreachable
    return None


class TraceHandler(_Handler):
    @web.authenticated
    async def get(self, trace_id: str) -> None:
        stores = self.stores()
        found = await _off_loop(_find_trace, stores, trace_id)
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
    server_app.log.info("llmops_nb server extension: GET %s/{config,calls,calls/<trace_id>} (kernel-reported stores)",
                        base)
