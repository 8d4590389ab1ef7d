"""The extension in Notebook 7 (a real browser): highlighting, the "LLM calls" sidebar, and a
markdown footer whose dollars are not typeset as maths. Skips where Notebook 7, Chromium or
Playwright are missing. Served by the session's JupyterLab server (tests/jupyter_lab.py).
Screenshot: test-artifacts/extension-notebook7.png."""

from __future__ import annotations

import time

import pytest

from tests.jupyter_lab import ARTIFACTS, Lab, browser_page


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


def test_notebook7_highlights_lists_calls_and_keeps_dollars(jupyter_lab: Lab) -> None:
    pytest.importorskip("notebook.app", reason="Notebook 7 is not installed")
    # Notebook 7 is served by the session's JupyterLab server (tests/jupyter_lab.py)
    path = jupyter_lab.write(f"{jupyter_lab.folder()}/demo.ipynb", _notebook())
    with browser_page(1400, 900) as page:
        page.goto(jupyter_lab.notebook7_url(path))
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
        page.screenshot(path=str(ARTIFACTS / "extension-notebook7.png"))
        assert page.locator("[class*='llmops']").count() > 0  # magic-line highlighting
        assert page.locator("text=LLM calls").count() >= 1
        footer = page.locator("sub.mathjax_ignore").last.inner_text()
        assert "$0 (cached, saved $0.0000" in footer  # dollars shown, not typeset
        assert page.locator("mjx-container").count() == 0
