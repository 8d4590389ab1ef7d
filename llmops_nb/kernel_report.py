"""What a Jupyter kernel tells the JupyterLab extension: where its store is, and what it spent.

- :func:`register` writes ``llmops_nb-<connection file name>`` beside the kernel's connection
  file (Jupyter's runtime dir): ``{"tracking_uri", "experiment", "pid"}``. The server extension
  opens only stores that a live kernel registered this way — never a path from the browser —
  so a notebook in a sub-folder, writing ``<its folder>/mlflow.db``, is found.
- :func:`snapshot` is what the front end asks the kernel for (a silent execute) after each
  kernel idle: this process's spend — the very figures ``%llm cost`` prints, so the status bar
  equals it, for calls from magics, the Python API, comparisons, experiments and widgets alike —
  and the latest calls' measured facts (no prompt or answer text).

Outside a kernel (plain Python, terminal IPython) :func:`register` does nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

PREFIX = "llmops_nb-"
_lock = threading.Lock()
_registered: dict[str, Any] = {}  # path → what was written there


def _connection_file() -> Path | None:
    """This kernel's connection file, or None outside an ipykernel kernel."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")  # a kernel has imported it; importing it costs 0.3 s
    if kernelapp is None:
        return None
    IPKernelApp = kernelapp.IPKernelApp  # noqa: N806 - the class, by its name
    # Not IPKernelApp.initialized(): the singleton attribute is inherited from Application, so
    # in terminal IPython it names the TerminalIPythonApp (and .instance() would raise).
    app = getattr(IPKernelApp, "_instance", None)
    if not isinstance(app, IPKernelApp):
        return None
    name = app.abs_connection_file
    return Path(name) if name else None


def registration_path(connection_file: str | Path) -> Path:
    """Where the registration of the kernel with this connection file lives."""
    path = Path(connection_file)
    return path.with_name(PREFIX + path.name)


def register() -> Path | None:
    """Write (or refresh, when the settings changed) this kernel's registration; its path.
    None outside a kernel, or when it cannot be written (then the sidebar does not see this
    kernel's store; the calls themselves are not affected)."""
    connection = _connection_file()
    if connection is None:
        return None
    from llmops_nb.config import settings
    from llmops_nb.errors import ConfigError

    try:
        return _write(registration_path(connection), settings())
    except (OSError, ConfigError):
        return None


def _write(path: Path, s: Any) -> Path:
    report = {"tracking_uri": s.tracking_uri if s.tracking else None, "experiment": s.experiment,
              "pid": os.getpid()}
    with _lock:
        if _registered.get(str(path)) == report:
            return path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(report, f)
        os.replace(tmp, path)
        if not _registered:
            atexit.register(_unregister)
        _registered[str(path)] = report
    return path


def _unregister() -> None:
    for path in list(_registered):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _call_facts(record: Any) -> dict[str, Any]:
    """The measured facts of one call record, as the sidebar lists them (no prompt or answer)."""
    latency_ms = (record.ended_at_ns - record.started_at_ns) / 1e6
    usage = record.usage or {}
    return {
        "trace_id": record.trace_id, "model": record.request.get("model"),
        "provider": record.request.get("provider"), "prompt": record.prompt,
        "input_tokens": usage.get("input_tokens", 0), "output_tokens": usage.get("output_tokens", 0),
        "cost_usd": record.cost_usd, "latency_ms": latency_ms,
        "ttft_ms": None if record.ttft_s is None else record.ttft_s * 1000,
        "cached": record.cached, "status": record.status,
        "error": None if record.status == "OK" else f"{record.error_type}: {record.error}",
        "findings": [{"type": f.get("type"), "action": f.get("action")} for f in record.findings],
        "answered_by": record.request.get("model") if record.route else None,
        "group": record.group_name, "started_at": record.started_at_ns // 1_000_000,
    }


class Snapshot(dict):  # type: ignore[type-arg]
    """A dict whose display is JSON (``application/json`` and a JSON ``text/plain``), so the front
    end reads it off ``user_expressions`` without evaluating Python reprs."""

    def _repr_json_(self) -> dict[str, Any]:
        return dict(self)

    def __repr__(self) -> str:
        return json.dumps(self, default=str, allow_nan=False)


def snapshot(limit: int = 200) -> Snapshot:
    """This process's spend (what ``%llm cost`` says) and its latest ``limit`` calls, newest first."""
    from llmops_nb.session import session

    sess = session()
    register()  # the settings may have changed since %load_ext (configure(tracking_uri=…))
    calls = [_call_facts(r) for r in reversed(sess.recent_calls()[-limit:])] if limit else []
    return Snapshot(spend=sess.spend(), calls=calls, pid=os.getpid(),
                    tracking_uri=sess.settings.tracking_uri, experiment=sess.settings.experiment)


# What the extension evaluates in the kernel (user_expressions): nothing is imported unless the
# notebook has already imported llmops_nb, so a kernel that never uses it stays untouched.
EXPRESSION = ("__import__('importlib').import_module('llmops_nb.kernel_report').snapshot() "
              "if 'llmops_nb' in __import__('sys').modules else None")
