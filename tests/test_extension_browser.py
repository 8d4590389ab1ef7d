"""The JupyterLab extension in a real browser: run a `%%llm sim:` cell, see the spend and the row.

JupyterLab runs on 127.0.0.1 with the prebuilt labextension (llmops_nb/labextension, added by
path so the test does not depend on how the package was installed) and the server extension:
one server for the session's browser tests (tests/jupyter_lab.py, ``jupyter_lab`` in
conftest.py). Debian's Chromium is driven by Playwright. Skips when Chromium, Playwright or the
built labextension are missing. The screenshot is kept in test-artifacts/extension.png.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from tests.jupyter_lab import (  # noqa: F401 - re-exported for the other browser tests
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    LABEXT,
    TOKEN,
    Lab,
    browser_page,
    code_cell,
    notebook,
    open_notebook,
    stop,
)

_code, _nb = code_cell, notebook


def _notebook() -> dict:
    code = _code
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


@dataclass
class Served:
    """This test's notebooks in the shared JupyterLab (tests/jupyter_lab.py)."""

    server: Lab
    folder: str

    def url(self, path: str) -> str:
        return self.server.lab_url(f"{self.folder}/{path}")

    def startswith(self, url: str) -> bool:
        return url.startswith(self.server.base)


@pytest.fixture
def lab(jupyter_lab: Lab) -> Served:
    folder = jupyter_lab.folder()
    jupyter_lab.write(f"{folder}/demo.ipynb", _notebook())
    jupyter_lab.write(f"{folder}/sub/folder/spend.ipynb", _spend_notebook())
    jupyter_lab.write(f"{folder}/xss.ipynb", _xss_notebook())
    jupyter_lab.write(f"{folder}/code.ipynb", _code_notebook())
    return Served(jupyter_lab, folder)


def test_llm_cell_updates_status_bar_and_sidebar(lab: Served) -> None:
    with browser_page(1500, 820) as page:  # nothing leaves the machine: only the local JupyterLab answers
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "llmops" in m.text else None)
        open_notebook(page, lab.url("demo.ipynb"))
        status = page.locator(".jp-llmops-status")
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
        assert re.search(r"LLM \$0\.0000\d\d · \d+ tok · 2 calls \(1 cached", after), after

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
        # the link waits for the server extension's config, a request of its own that may answer
        # after the trace's (seen on a loaded host): wait for it, not for the trace
        details.locator("a.jp-llmops-link").wait_for(timeout=30_000)
        assert "Open the trace in MLflow" in details.inner_text()
        page.locator(".jp-Cell").nth(1).scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "extension.png"))

        # every live kernel's store, through the server extension
        page.locator("#llmops-nb-calls .jp-llmops-toggle").click()
        page.wait_for_function(
            "() => document.querySelectorAll('#llmops-nb-calls .jp-llmops-row').length >= 2 &&"
            " /every running kernel/.test(document.querySelector('#llmops-nb-calls .jp-llmops-summary').textContent)",
            timeout=60_000)
        assert not errors, errors


# -- spend: the kernel is the source of truth --------------------------------------------------

def _spend_notebook() -> dict:
    return _nb(
        '%load_ext llmops_nb\nimport json, llmops_nb\nfrom llmops_nb.comparison import compare\n'
        'from llmops_nb.widgets import playground\nllmops_nb.configure(retries=0)\n'
        'llmops_nb.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)',
        "%%llm sim:default --max-tokens 60\nExplain tracing in one sentence.",
        '_ = llmops_nb.complete("sim:default", "A call through the Python API", max_tokens=60)',
        'table = compare(["sim:default", "sim:other"], ["Say {{x}}"], [{"x": "a"}, {"x": "b"}], progress=False)',
        'pg = playground(template="Describe {{thing}}", models=["sim:default", "sim:other"],'
        ' variables={"thing": "a cat"})\npg',
        "%llm cost",
        "print(json.dumps(llmops_nb.session.spend()))",
    )


CALLS_IN_SPEND_NOTEBOOK = 1 + 1 + 4 + 2  # %%llm, complete(), compare() 2×2, the playground's 2 models


def _status(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator(".jp-llmops-status").inner_text()


def _run_cell(page, index: int) -> str:  # type: ignore[no-untyped-def]
    """Run one cell (the command resolves when the kernel has run it); its output text."""
    page.evaluate(f"""async () => {{
        const nb = window.jupyterapp.shell.currentWidget;
        nb.content.activeCellIndex = {index};
        await window.jupyterapp.commands.execute('notebook:run-cell');
    }}""")
    out = page.locator(".jp-Cell").nth(index).locator(".jp-OutputArea-output")
    out.first.wait_for(timeout=60_000)
    return out.last.inner_text()


def _open(page, lab: Served, path: str) -> None:  # type: ignore[no-untyped-def]
    open_notebook(page, lab.url(path))


def test_status_bar_equals_llm_cost_for_every_kind_of_call(lab: Served) -> None:
    """A notebook in a sub-folder mixing %%llm, complete(), compare() and the playground (Run
    clicked in the page): the status bar says what `%llm cost` says, lists every call in the
    sidebar, and says it again after a page reload."""
    n = CALLS_IN_SPEND_NOTEBOOK
    with browser_page(1500, 900) as page:
        _open(page, lab, "sub/folder/spend.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            "() => /\\b6 calls\\b/.test(document.querySelector('.jp-llmops-status')?.textContent ?? '')",
            timeout=90_000)  # %%llm, complete() and compare(): none of them but %%llm displays a footer
        page.locator(".jp-OutputArea button:has-text('Run')").first.click()  # the playground, in threads
        page.wait_for_function(
            f"() => /\\b{n} calls\\b/.test(document.querySelector('.jp-llmops-status')?.textContent ?? '')"
            " && !/running/.test(document.querySelector('.jp-llmops-status').textContent)",
            timeout=90_000)
        status = _status(page)
        cost = _run_cell(page, 5)
        spend = json.loads(_run_cell(page, 6).strip().splitlines()[-1])
        assert spend["calls"] == n, spend
        spent = f"${spend['spent_usd']:.6f}"
        assert re.search(rf"\b{n} calls?\b", cost) and spent in cost, cost
        assert status.startswith(f"LLM {spent} · ") and f" {n} calls" in status, (status, cost)

        status_bar = page.locator(".jp-llmops-status")
        status_bar.click()
        rows = page.locator("#llmops-nb-calls .jp-llmops-row")
        page.wait_for_function(
            f"() => document.querySelectorAll('#llmops-nb-calls .jp-llmops-row').length === {n}", timeout=30_000)
        models = rows.all_inner_texts()
        assert sum("sim:other" in r for r in models) == 3  # compare()'s 2 and the playground's 1
        page.screenshot(path=str(ARTIFACTS / "extension-spend.png"))

        page.reload()
        page.locator(".jp-llmops-status").wait_for(timeout=90_000)
        page.wait_for_function(
            f"() => /\\b{n} calls\\b/.test(document.querySelector('.jp-llmops-status')?.textContent ?? '')",
            timeout=90_000)
        assert _status(page) == status


# -- untrusted text in the extension's DOM ----------------------------------------------------

XSS_PAYLOADS = [
    '<img src=x onerror="window.__xss=1;document.title=\'pwned\'">',
    "<IMG SRC=x OnErRoR=window.__xss=2>",
    "<script>window.__xss=3</script>",
    "<ScRiPt>window.__xss=4</sCrIpT>",
    '<svg onload="window.__xss=5"></svg>',
    '<iframe srcdoc="<script>parent.__xss=6</script>"></iframe>',
    "[x](javascript:window.__xss=7)",
    "[x](JaVaScRiPt:window.__xss=8)",
    "&lt;img src=x onerror=window.__xss=9&gt;",
    "&#60;img src=x onerror=window.__xss=10&#62;",
    '"><img src=x onerror=window.__xss=11>',
]


def _xss_notebook() -> dict:
    return _nb(
        "%load_ext llmops_nb\nimport json, time, uuid, llmops_nb\n"
        "from llmops_nb.session import session\nfrom llmops_nb.types import CallRecord\n"
        f"PAYLOADS = {json.dumps(XSS_PAYLOADS)}",
        # real calls: the payload as the prompt and (echoed) the answer; as a model name too
        "for p in PAYLOADS:\n    _ = llmops_nb.complete('sim:echo', p)\n"
        "_ = llmops_nb.complete('sim:' + PAYLOADS[0].replace(' ', '/'), 'hi')",
        # a stored record with a payload in every field the sidebar shows (prompt name, error, …)
        "now = time.time_ns()\nfor p in PAYLOADS[:4]:\n"
        "    rec = CallRecord(record_id=uuid.uuid4().hex, trace_id='tr-' + uuid.uuid4().hex, started_at_ns=now,\n"
        "        ended_at_ns=now + 10**6, request={'model': 'sim:' + p, 'provider': p, 'model_name': p,\n"
        "        'messages': [{'role': 'user', 'content': p}], 'system': p, 'params': {}, 'stream': False},\n"
        "        status='ERROR', text=p, prompt=p, error_type=p,\n"
        "        error=p, experiment=session().settings.experiment, group_name=p, route=p, notes=[p],\n"
        "        findings=[{'type': p, 'action': p}])\n"
        "    session().recorder.record(rec)\n    session().note_call(rec)\n"
        "llmops_nb.flush()",
    )


@pytest.mark.parametrize("lab_env", [{"MLFLOW_UI_URL": "javascript:window.__xss=99//"}])
def test_untrusted_text_never_runs_in_the_sidebar(lab: Served) -> None:
    """Payloads stored as prompt, answer, model, prompt name, error and findings: the status
    bar, the sidebar (this kernel, and every kernel's store) and each detail view show them as
    text; nothing runs and no request leaves the page (MLFLOW_UI_URL is a javascript: URL)."""
    with browser_page(1500, 900) as page:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _open(page, lab, "xss.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(  # the last cell (records stored, flushed) has run
            "() => window.jupyterapp.shell.currentWidget.content.widgets[2].model.executionCount !== null &&"
            " window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
            timeout=180_000)
        n = len(XSS_PAYLOADS) + 1 + 4
        page.wait_for_function(
            f"() => /\\b{len(XSS_PAYLOADS) + 1} calls\\b/.test("
            "document.querySelector('.jp-llmops-status')?.textContent ?? '')", timeout=120_000)
        page.locator(".jp-llmops-status").click()
        page.wait_for_function(
            f"() => document.querySelectorAll('#llmops-nb-calls .jp-llmops-row').length === {n}", timeout=60_000)
        panel = page.locator("#llmops-nb-calls")
        rows = panel.locator(".jp-llmops-row")
        for scope in ("kernel", "store"):
            if scope == "store":
                panel.locator(".jp-llmops-toggle").click()
                page.wait_for_function(
                    f"() => document.querySelectorAll('#llmops-nb-calls .jp-llmops-row').length >= {n} &&"
                    " /every running kernel/.test(document.querySelector('#llmops-nb-calls .jp-llmops-summary')"
                    ".textContent)", timeout=60_000)
            for i in (0, 3, 4, 5):  # stored records, the payload-named model, an echoed answer
                rows.nth(i).click()
                try:
                    page.wait_for_function(
                        "() => /answer:|not available/.test(document.querySelector("
                        "'#llmops-nb-calls .jp-llmops-trace')?.textContent ?? '')", timeout=150_000)
                except Exception as exc:
                    raise AssertionError(f"{scope} row {i}: {panel.inner_text()[:3000]}") from exc
                text = panel.inner_text()
                assert any(p in text for p in XSS_PAYLOADS), text[:2000]  # shown, as text
                rows.nth(i).click()  # close it
            rows.nth(0).click()
            page.wait_for_function(
                "() => /answer:|not available/.test(document.querySelector("
                "'#llmops-nb-calls .jp-llmops-trace')?.textContent ?? '')", timeout=150_000)
            page.screenshot(path=str(ARTIFACTS / f"extension-xss-{scope}.png"))

        ours = page.evaluate("""() => {
            const roots = [document.querySelector('#llmops-nb-calls'), document.querySelector('.jp-llmops-status')];
            return roots.flatMap(r => Array.from(r.querySelectorAll('img, script, svg, iframe, object, embed, a')))
                        .map(e => e.outerHTML);
        }""")
        assert ours == [], ours  # no element from a payload, and no (javascript:) link
        assert page.evaluate("() => window.__xss") is None
        assert "pwned" not in page.title()
        assert dialogs == []
        left = [u for u in requests if not lab.startswith(u) or re.search(r"/x(\?|$)", u)]
        assert left == [], left


# -- %%llm -f code: re-running replaces the cell it inserted (issue 12.8) ------------------------

CODER_SETUP = """\
%load_ext llmops_nb
from llmops_nb.providers import sim
run = globals().get("run", 0) + 1
fence = "`" * 3
_ = sim.configure_model("coder", reply=f"Here you are:\\n{fence}python\\nanswer = {run}\\n{fence}\\n")"""
CODER_CELL = "%%llm sim:coder -f code --no-cache\nwrite the code"


def _code_notebook() -> dict:
    return _nb(CODER_SETUP, CODER_CELL, 'print("the end")')


def _sources(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells"
                         ".map(c => c.getSource())")


def _said(page, index: int) -> str:  # type: ignore[no-untyped-def]
    return page.locator(".jp-Cell").nth(index).locator(".jp-OutputArea-output").last.inner_text()


def _run_all(page) -> None:  # type: ignore[no-untyped-def]
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")  # resolves when all ran


def test_code_cell_rerun_replaces_the_cell_it_inserted(lab: Served) -> None:
    """Run All twice: the notebook keeps 4 cells and the inserted cell holds the newest code;
    re-running the one cell replaces it again; a cell edited by hand is kept and the cell says so."""
    with browser_page(1400, 900) as page:
        _open(page, lab, "code.ipynb")
        _run_all(page)
        assert _sources(page) == [CODER_SETUP, CODER_CELL, "answer = 1", 'print("the end")']
        assert "inserted the answer's code as a new cell below" in _said(page, 1)
        _run_all(page)
        assert _sources(page) == [CODER_SETUP, CODER_CELL, "answer = 2", 'print("the end")']
        assert "replaced the code of the cell below" in _said(page, 1)
        assert page.locator(".jp-Notebook .jp-Cell").count() == 4
        _run_cell(page, 0)  # the next answer is "answer = 3"
        _run_cell(page, 1)  # re-running the one cell
        assert _sources(page)[2] == "answer = 3" and len(_sources(page)) == 4
        meta = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells"
                             ".map(c => c.getMetadata().llmops_nb ?? null)")
        assert meta[2]["inserted_by"] == page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells[1].getId()")
        assert meta[1]["code_cell"] == page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells[2].getId()")
        page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells[2]"
                      ".setSource('answer = 3  # my own fix')")
        _run_all(page)
        assert _sources(page) == [CODER_SETUP, CODER_CELL, "answer = 3  # my own fix", 'print("the end")']
        assert "edited by hand" in _said(page, 1) and "kept your edits" in _said(page, 1)
        try:  # 4 calls: the status bar counts every run
            page.wait_for_function(
                "() => /\\b4 calls\\b/.test(document.querySelector('.jp-llmops-status')?.textContent ?? '')",
                timeout=30_000)
        except Exception as exc:
            raise AssertionError(_status(page)) from exc
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "extension-code-cell.png"))
