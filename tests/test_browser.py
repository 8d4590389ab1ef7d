"""The playground in a real browser: JupyterLab on 127.0.0.1 driven by headless Chromium.

A generated notebook builds ``playground(...)`` against the offline ``sim`` provider and runs it;
the test opens it in JupyterLab, runs all cells, and checks that every model's answer and footer
appear in the rendered widget. A screenshot is saved to ``test-artifacts/playground.png``.

Needs Debian's ``chromium`` and the ``playwright`` package (``.ci/run`` installs both); skipped
with the reason when either is missing. JupyterLab is the session's shared one (tests/jupyter_lab.py).
"""

from __future__ import annotations

import pytest

from tests.jupyter_lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Lab

MODELS = ["sim:alpha", "sim:beta"]
SETUP = f"""\
from llmops_nb.widgets import playground
pg = playground(template="Explain {{{{topic}}}} in two sentences.", models={MODELS!r},
                variables={{"topic": "vector databases"}})
pg"""
RUN = """\
panels = pg.run()
print("run finished:", [p.state for p in panels])"""

def _notebook(lab: Lab) -> str:
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": source} for source in (SETUP, RUN)]
    return lab.write(f"{lab.folder()}/playground.ipynb", {"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture
def lab(jupyter_lab: Lab) -> str:
    """The shared JupyterLab (tests/jupyter_lab.py) serving the generated notebook: its URL."""
    return jupyter_lab.lab_url(_notebook(jupyter_lab))


def test_playground_answers_and_footers_render_in_jupyterlab(lab: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(30_000)
            page.goto(lab, timeout=90_000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel",
                                   timeout=90_000)  # a kernel starting on a busy machine
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
