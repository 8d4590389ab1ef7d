"""The playground in a real browser: JupyterLab on 127.0.0.1 driven by headless Chromium; and
a trace's header cost in the real MLflow UI (``mlflow server`` on a store with one call).

A generated notebook builds ``playground(...)`` against the offline ``sim`` provider and runs it;
the test opens it in JupyterLab, runs all cells, and checks that every model's answer and footer
appear in the rendered widget. A screenshot is saved to ``test-artifacts/playground.png``.

Needs Debian's ``chromium`` and the ``playwright`` package (``.ci/run`` installs both); skipped
with the reason when either is missing. JupyterLab is the session's shared one (tests/jupyter_lab.py).
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.jupyter_lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Lab, browser_page, open_notebook

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
    from playwright.sync_api import expect

    with browser_page(1400, 1100) as page:
        page.set_default_timeout(30_000)
        open_notebook(page, lab)  # a kernel starting on a busy machine: up to 90 s
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
        expect(panels.nth(0).locator(".llmops-rating-status")).to_contain_text("saved as MLflow feedback", timeout=60_000)
        page.locator(".llmops-playground").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)


# -- the MLflow UI: a trace's header cost (issue 12.5) -------------------------------------------

RECORD = """\
import json, sys
import llmops_nb as llm
from mlflow.tracing.constant import TraceMetadataKey
home = sys.argv[1]
llm.configure(home=home, tracking_uri=f"sqlite:///{home}/mlflow.db", experiment="ui-cost")
llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)
c = llm.complete("sim:default", "Name three LLM metrics.", cache=False)
llm.flush()
import mlflow
client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
info = client.get_trace(c.trace_id).info
print(json.dumps({"trace_id": c.trace_id, "experiment_id": info.experiment_id, "cost_usd": c.cost_usd,
                  "stored": json.loads(info.trace_metadata[TraceMetadataKey.COST])}))
"""


def _usd6(x: float) -> str:
    """MLflow's cost format (Intl USD, 2 to 6 decimals)."""
    return "$" + f"{x:.6f}".rstrip("0").ljust(len(f"{x:.2f}"), "0")


def test_mlflow_trace_header_carries_the_calls_cost(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The trace drawer's header cost in the real MLflow UI reads the trace's own cost field
    (``mlflow.trace.cost``), which carries the call's exact cost: its breakdown shows the
    input and output shares to six decimals. MLflow 3.17's header rounds its total to cents
    (``$0.00`` for a $0.000047 call), an MLflow formatter (``toFixed(2)``) no export can change."""
    import subprocess
    import sys

    if CHROMIUM is None or importlib.util.find_spec("playwright") is None:
        pytest.skip("needs Debian's chromium and the playwright package")
    from playwright.sync_api import sync_playwright

    from tests.jupyter_lab import ROOT

    spec = importlib.util.spec_from_file_location("mlflow_ui_screenshot", ROOT / "scripts" / "mlflow_ui_screenshot.py")
    ui = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(ui)  # type: ignore[union-attr]
    home = tmp_path / "store"
    home.mkdir()
    out = subprocess.run([sys.executable, "-c", RECORD, str(home)], env=ui._env(), check=True, timeout=120,
                         capture_output=True, text=True).stdout
    call = json.loads(out.strip().splitlines()[-1])
    stored = call["stored"]
    assert stored["total_cost"] == call["cost_usd"] > 0
    with ui.mlflow_server(f"sqlite:///{home}/mlflow.db", ui.free_port(), tmp_path / "mlflow.log", 120) as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            ctx.set_default_timeout(60_000)
            ctx.add_init_script(ui._init_script(call["experiment_id"]))
            page = ctx.new_page()
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(url) else r.abort())
            page.goto(f"{url}/#/experiments/{call['experiment_id']}/traces?selectedEvaluationId={call['trace_id']}")
            page.get_by_role("tab", name="Attributes").first.wait_for()
            shown = ui.header_cost(page)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "mlflow-trace-header-cost.png"))
        finally:
            browser.close()
    assert shown["Input cost"] == _usd6(stored["input_cost"]), shown
    assert shown["Output cost"] == _usd6(stored["output_cost"]), shown
    assert shown["total"] in (_usd6(call["cost_usd"]), f"${call['cost_usd']:.2f}"), shown
