"""The playground in a real browser: JupyterLab on 127.0.0.1 driven by headless Chromium.

A generated notebook builds ``playground(...)`` against the offline ``sim`` provider and runs it;
the test opens it in JupyterLab, runs all cells, and checks that every model's answer and footer
appear in the rendered widget. A screenshot is saved to ``test-artifacts/playground.png``.

Needs Debian's ``chromium`` and the ``playwright`` package (``.ci/run`` installs both); skipped
with the reason when either is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MODELS = ["sim:alpha", "sim:beta"]
SETUP = f"""\
from llmops_nb.widgets import playground
pg = playground(template="Explain {{{{topic}}}} in two sentences.", models={MODELS!r},
                variables={{"topic": "vector databases"}})
pg"""
RUN = """\
panels = pg.run()
print("run finished:", [p.state for p in panels])"""

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is not installed (pip install playwright)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": source} for source in (SETUP, RUN)]
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}))


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"jupyter lab exited with {server.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"jupyter lab did not answer {url} within {timeout_s} s")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab serving a folder with the generated notebook; yields the notebook's URL."""
    root = tmp_path / "nb"
    root.mkdir()
    _notebook(root / "playground.ipynb")
    config = tmp_path / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # No news poll, no update check: the page must not reach for the network.
    (config / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {
        "@jupyterlab/apputils-extension:announcements": True}}))
    port, token = _free_port(), uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.endswith("_BASE_URL")}
    env.update({
        "LLMOPS_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "LLMOPS_LIVE_STREAM": "1",
        "MLFLOW_MODEL_CATALOG_URI": "", "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "PYTHONPATH": str(ROOT),
    })
    log_path = tmp_path / "jupyter.log"
    log = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/api/status?token={token}", server, log_path, 30)
        yield f"http://127.0.0.1:{port}/lab/tree/playground.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()


def test_playground_answers_and_footers_render_in_jupyterlab(lab: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(30_000)
            page.goto(lab)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            expect(page.get_by_text("run finished: ['done', 'done']")).to_be_visible(timeout=40_000)
            panels = page.locator(".llmops-panel")
            expect(panels).to_have_count(len(MODELS))
            for i, model in enumerate(MODELS):
                name = model.split(":")[1]
                body = panels.nth(i).locator(".llmops-panel-body")
                expect(body).to_contain_text(f"Simulated answer ({name}) to “Explain vector databases in two sentences.”")
                footer = panels.nth(i).locator(".llmops-panel-footer")
                expect(footer).to_contain_text(f"{model} · ")
                expect(footer).to_contain_text(" tok · ")
                expect(footer).to_contain_text("TTFT")
            expect(page.locator(".llmops-run-status")).to_contain_text("2 answered, 0 failed")
            # a click in the browser reaches the kernel: 👍 is stored as MLflow feedback
            panels.nth(0).locator(".llmops-thumbs-up").click()
            expect(panels.nth(0).locator(".llmops-rating-status")).to_contain_text("saved as MLflow feedback", timeout=20_000)
            page.locator(".llmops-playground").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
        finally:
            browser.close()
