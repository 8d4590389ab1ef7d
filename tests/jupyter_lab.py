"""One JupyterLab for the real-browser tests (tests/test_*browser*.py, test_extension_notebook7.py).

A server runs on 127.0.0.1 with this tree's prebuilt labextension (llmops_nb/labextension,
first on JUPYTER_PATH: this build, not an installed one), the llmops_nb server extension, and
nothing that reaches for the network (no news, no update check, no announcements). Notebook 7
is served by the same server (``/notebooks/…``), JupyterLab at ``/lab/workspaces/<own>/tree/…``:
each test opens its notebooks in a workspace of its own, so no test's page restores another's
tabs (and starts their kernels).

Servers are shared for the whole session (``conftest.jupyter_lab``), one per distinct extra
environment (``MLFLOW_UI_URL`` is read by the server itself); each test writes its notebooks
into a folder of its own, and its kernels are shut down when it ends. Kernels inherit the
server's environment: one state dir (cache) and one MLflow store per server, so tests use
prompts of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LABEXT = ROOT / "llmops_nb" / "labextension"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "llmops-browser-test"
# every request but the local servers' is aborted: nothing leaves the machine
NOT_LOCAL = re.compile(r"^(?!http://127\.0\.0\.1).*")
# JupyterLab has opened the notebook and its kernel has started and is idle
KERNEL_IDLE = ("() => window.jupyterapp && document.querySelector('.jp-Notebook') &&"
               " window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'")


@contextlib.contextmanager
def browser_page(width: int, height: int, *, local_only: bool = True) -> Iterator[Any]:
    """A page of a fresh headless Chromium (Debian's, driven by Playwright), closed at the end,
    also when the test fails; with ``local_only`` every request off 127.0.0.1 is aborted."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            if local_only:
                page.route(NOT_LOCAL, lambda route: route.abort())
            yield page
        finally:
            browser.close()


def open_notebook(page: Any, url: str) -> None:
    """Open a notebook in JupyterLab and wait for the extension's status bar and an idle kernel
    (on a busy machine a kernel takes a while to start)."""
    page.goto(url, timeout=90_000)
    page.locator(".jp-llmops-status").wait_for(timeout=90_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen) -> None:
    """End a server started by a test: politely, then for sure."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def code_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}


def notebook(*sources: str) -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [code_cell(s) for s in sources]}


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    import importlib.util

    if CHROMIUM is None:
        return "Debian's chromium is not installed (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if importlib.util.find_spec("jupyterlab") is None:
        return "JupyterLab is not installed"
    if not (LABEXT / "package.json").is_file():
        return "the labextension is not built (npm run build in extension/)"
    return None


class Lab:
    """A running JupyterLab; ``base`` is its URL (``http://127.0.0.1:PORT``)."""

    def __init__(self, home: Path, extra_env: dict[str, str]) -> None:
        self.home = home
        self.root = home / "work"
        self.root.mkdir(parents=True)
        extdir = home / "jupyter-data" / "labextensions"
        extdir.mkdir(parents=True)
        (extdir / "llmops-nb").symlink_to(LABEXT, target_is_directory=True)
        config = home / "jupyter-config"
        (config / "labconfig").mkdir(parents=True)
        (config / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {
            "@jupyterlab/apputils-extension:announcements": True}}))
        settings = home / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update({
            "LLMOPS_HOME": str(home / "llmops-home"), "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "LLMOPS_LIVE_STREAM": "1",
            "LLMOPS_EXPERIMENT": "browser-test", "MLFLOW_MODEL_CATALOG_URI": "",
            "MLFLOW_UI_URL": "http://127.0.0.1:5000",
            "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_PATH": str(extdir.parent),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            # the kernels import this tree (and tests.xss_payloads)
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            **extra_env,
        })
        self.log_path = home / "lab.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={self.root}",
             "--ServerApp.open_browser=False", f"--LabApp.extra_labextensions_path={extdir}",
             f"--JupyterNotebookApp.extra_labextensions_path={extdir}", "--LabApp.expose_app_in_browser=True",
             f"--LabApp.workspaces_dir={home / 'workspaces'}", f"--LabApp.user_settings_dir={home / 'settings'}",
             "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.extension_manager=readonly",
             '--ServerApp.jpserver_extensions={"llmops_nb.jupyter_server_ext": True}',
             *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
            cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            page = self._wait(f"{self.base}/lab?token={TOKEN}", 90)
        except BaseException:
            self.close()
            raise
        found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
        federated = json.loads(found.group(1)).get("federated_extensions", []) if found else []
        self.has_extension = any(e.get("name") == "llmops-nb" for e in federated)

    def _wait(self, url: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - localhost only
                    return r.read().decode()
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")

    def folder(self) -> str:
        """A new folder under the server's root (relative path), for one test's notebooks."""
        name = f"t-{uuid.uuid4().hex[:8]}"
        (self.root / name).mkdir()
        return name

    def write(self, path: str, nb: dict[str, Any]) -> str:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb))
        return path

    def lab_url(self, path: str) -> str:
        """The notebook at ``path`` in JupyterLab, in a workspace of its own."""
        return f"{self.base}/lab/workspaces/w{uuid.uuid4().hex[:10]}/tree/{path}?token={TOKEN}"

    def notebook7_url(self, path: str) -> str:
        return f"{self.base}/notebooks/{path}?token={TOKEN}"

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                     headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - localhost only
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every kernel (and session) of this server: the next test starts from none."""
        for session in self.api("GET", "sessions"):
            with contextlib.suppress(OSError):  # already gone
                self.api("DELETE", f"sessions/{session['id']}")
        for kernel in self.api("GET", "kernels"):
            with contextlib.suppress(OSError):
                self.api("DELETE", f"kernels/{kernel['id']}")

    def close(self) -> None:
        stop(self.proc)
        self._log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(self.log_path, ARTIFACTS / f"jupyter-lab-{self.port}.log")
