"""The extension in Notebook 7 (a real browser): highlighting, the "LLM calls" sidebar, and a
markdown footer whose dollars are not typeset as maths. Skips where Notebook 7, Chromium or
Playwright are missing. Screenshot: test-artifacts/extension-notebook7.png."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_extension_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    LABEXT,
    TOKEN,
    _free_port,
    _wait_http,
    stop,
)


def _notebook() -> dict:
    def code(src: str) -> dict:
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": src}

    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [code('%load_ext llmops_nb\nimport llmops_nb\n'
                           'llmops_nb.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)\n'
                           'topic = "LLMOps"'),
                      code("%%llm sim:default\nExplain {{topic}} in two sentences."),
                      code("%%llm sim:default\nExplain {{topic}} in two sentences.")]}


def test_notebook7_highlights_lists_calls_and_keeps_dollars(tmp_path: Path) -> None:
    pytest.importorskip("notebook.app", reason="Notebook 7 is not installed")
    pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    if not (LABEXT / "package.json").is_file():
        pytest.skip("the labextension is not built")
    from playwright.sync_api import sync_playwright

    extdir = tmp_path / "jupyter-data" / "labextensions"  # first on JUPYTER_PATH: this build, not an installed one
    extdir.mkdir(parents=True)
    (extdir / "llmops-nb").symlink_to(LABEXT, target_is_directory=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "demo.ipynb").write_text(json.dumps(_notebook()))
    port = _free_port()
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path / "home"), "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "LLMOPS_LIVE_STREAM": "1",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"), "JUPYTER_PATH": str(extdir.parent)}
    log = (tmp_path / "nb7.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "notebook", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
         f"--JupyterNotebookApp.extra_labextensions_path={extdir}",
         '--ServerApp.jpserver_extensions={"llmops_nb.jupyter_server_ext": True}'],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/tree?token={TOKEN}", proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/notebooks/demo.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            time.sleep(2)
            page.click("div.lm-MenuBar-itemLabel:text('Run')")
            page.click("text=Run All Cells")
            page.wait_for_selector("text=(cached, saved", timeout=90_000)  # the second, cached answer
            page.click("div.lm-MenuBar-itemLabel:text('View')")
            page.hover("text=Right Sidebar")
            page.click(".lm-Menu-itemLabel:text('Show LLM calls')")
            page.wait_for_selector("text=sim:default >> nth=0", timeout=30_000)
            time.sleep(1)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "extension-notebook7.png"))
            assert page.locator("[class*='llmops']").count() > 0  # magic-line highlighting
            assert page.locator("text=LLM calls").count() >= 1
            footer = page.locator("sub.mathjax_ignore").last.inner_text()
            assert "$0 (cached, saved $0.0000" in footer  # dollars shown, not typeset
            assert page.locator("mjx-container").count() == 0
            browser.close()
    finally:
        stop(proc)
        log.close()
