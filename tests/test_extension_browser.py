"""The JupyterLab extension in a real browser: run a `%%llm sim:` cell, see the spend and the row.

JupyterLab runs on 127.0.0.1 with the prebuilt labextension (llmops_nb/labextension, added by
path so the test does not depend on how the package was installed) and the server extension;
Debian's Chromium is driven by Playwright. Skips when Chromium, Playwright or the built
labextension are missing. The screenshot is kept in test-artifacts/extension.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABEXT = ROOT / "llmops_nb" / "labextension"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "llmops-browser-test"


def stop(proc: subprocess.Popen) -> None:
    """End a server started by a test: politely, then for sure."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _notebook() -> dict:
    def code(src: str) -> dict:
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": src}

    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            code('%load_ext llmops_nb\nimport llmops_nb\n'
                 'llmops_nb.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)\ntopic = "LLMOps"'),
            code("%%llm sim:default -t 0.2 --max-tokens 200\n"
                 "Explain {{topic}} to a data scientist in (at most) two sentences: why trace every call?"),
            code("%%llm sim:default -t 0.2 --max-tokens 200\n"
                 "Explain {{topic}} to a data scientist in (at most) two sentences: why trace every call?"),
        ],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("JupyterLab exited")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - localhost only
                return r.read().decode()
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url}")


@pytest.fixture
def lab(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not (LABEXT / "package.json").is_file():
        pytest.skip("the labextension is not built (npm run build in extension/)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed")

    extdir = tmp_path / "labextensions"
    extdir.mkdir()
    (extdir / "llmops-nb").symlink_to(LABEXT, target_is_directory=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "demo.ipynb").write_text(json.dumps(_notebook()))
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port = _free_port()
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path / "home"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true", "LLMOPS_EXPERIMENT": "browser-test", "LLMOPS_LIVE_STREAM": "1",
           "MLFLOW_UI_URL": "http://127.0.0.1:5000", "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")}
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
         f"--LabApp.extra_labextensions_path={extdir}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         '--ServerApp.jpserver_extensions={"llmops_nb.jupyter_server_ext": True}'],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        page = _wait_http(f"{base}/lab?token={TOKEN}", proc)
        found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
        federated = json.loads(found.group(1)).get("federated_extensions", []) if found else []
        if not any(e.get("name") == "llmops-nb" for e in federated):
            pytest.skip("the llmops-nb labextension is not installed in this JupyterLab")
        yield base
    finally:
        stop(proc)
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "lab.log", ARTIFACTS / "extension-lab.log")


def test_llm_cell_updates_status_bar_and_sidebar(lab: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 820})
            # nothing leaves the machine: only the local JupyterLab answers
            page.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "llmops" in m.text else None)
            page.goto(f"{lab}/lab/tree/demo.ipynb?token={TOKEN}", timeout=90_000)
            status = page.locator(".jp-llmops-status")
            status.wait_for(timeout=90_000)
            page.wait_for_function(
                "() => window.jupyterapp && document.querySelector('.jp-Notebook') &&"
                " window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
                timeout=90_000)
            before = status.inner_text()
            assert "0 calls" in before and "$0" in before

            # %%llm cells are highlighted: model id, option, {{variable}}
            cell = page.locator(".jp-Cell").nth(1)
            assert cell.locator(".cm-llm-magic").first.inner_text() == "%%llm"
            assert cell.locator(".cm-llm-model").first.inner_text() == "sim:default"
            # a mark may be split by the Python tokens under it: join the pieces
            assert "".join(cell.locator(".cm-llm-option").all_inner_texts()) == "-t--max-tokens"
            assert "".join(cell.locator(".cm-llm-variable").all_inner_texts()) == "{{topic}}"
            assert cell.locator(".cm-line.cm-llm-prose").count() >= 1

            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(
                "() => /2 calls/.test(document.querySelector('.jp-llmops-status')?.textContent ?? '')",
                timeout=120_000)
            after = status.inner_text()
            assert after != before
            assert re.search(r"LLM \$0\.0000\d+ · \d+ tok · 2 calls \(1 cached", after), after

            status.click()
            rows = page.locator("#llmops-nb-calls .jp-llmops-row")
            rows.first.wait_for(timeout=30_000)
            assert rows.count() == 2
            assert "sim:default" in rows.first.inner_text()
            assert "cached" in rows.first.inner_text()  # the newest, second run was a cache hit
            rows.nth(1).click()
            details = page.locator("#llmops-nb-calls .jp-llmops-details")
            details.wait_for(timeout=10_000)
            page.wait_for_function(
                "() => /answer:/.test(document.querySelector('#llmops-nb-calls .jp-llmops-trace')?.textContent ?? '')",
                timeout=60_000)
            assert "Open the trace in MLflow" in details.inner_text()
            page.locator(".jp-Cell").nth(1).scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "extension.png"))

            # the whole store, through the server extension
            page.locator("#llmops-nb-calls .jp-llmops-toggle").click()
            page.wait_for_function(
                "() => document.querySelectorAll('#llmops-nb-calls .jp-llmops-row').length >= 2 &&"
                " /Whole store/.test(document.querySelector('#llmops-nb-calls .jp-llmops-summary').textContent)",
                timeout=60_000)
            assert not errors, errors
        finally:
            browser.close()
