"""Script injection in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium through
Playwright, one notebook that puts the payload corpus (tests/xss_payloads.py) through every
Python surface: a streamed ``%%llm`` answer and its final rendering with footer, ``-f json`` and
``-f code``, side-by-side columns, a ``Completion`` repr whose model, prompt, route and notes are
payloads, ``history()`` and ``compare()`` tables, the grid, the playground, the dashboard
widget (its charts are PNG).

Chart tooltips: JupyterLab 4.6 cannot render Altair 6's Vega-Lite v6 output offline (its own Vega
renderer takes v5; Altair's default renderer loads Vega from a CDN), so the package shows charts
as PNG (vl-convert) and no tooltip DOM exists. Where Vega does run, vega-tooltip's default
``sanitize`` escapes HTML in tooltip values.

Each payload, if it ran, would set ``window.__pwned`` or the page title, or make a request to
203.0.113.7 (never routed). The test checks that nothing ran, that no request left for any host
but the Jupyter server, and that the rendered outputs hold no active markup. The extension's own
DOM (sidebar, status bar) is tested with the extension. Skips without Chromium or Playwright.
JupyterLab is the session's shared one (tests/jupyter_lab.py).
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlparse

import pytest

from tests.jupyter_lab import ARTIFACTS, Lab, browser_page, open_notebook

SETUP = """\
%load_ext llmops_nb
import json
import altair as alt, pandas as pd
import llmops_nb as llm
from llmops_nb.providers import sim
from llmops_nb.types import Completion, Usage
from llmops_nb.widgets import dashboard_widget, grid, playground
from tests.xss_payloads import PAYLOADS, all_payloads
EVIL = all_payloads()
llm.configure(guardrails="off", retries=0, experiment="xss-browser")
llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)
sim.configure_model("xss", reply=EVIL, ttft_s=0.01, tokens_per_s=4000)
sim.configure_model("xssjson", reply=json.dumps(PAYLOADS))
sim.configure_model("xsscode", reply="```python\\ns = r'''" + EVIL + "'''\\n```")
sim.configure_model("xssdown", fail_rate=1.0, fail_with="503")
sim.configure_model("maths", reply=r"Euler: $e^{i\\pi} + 1 = 0$; it costs $5 and $10.")
print("setup done")"""

CELLS = [
    SETUP,
    "%%llm sim:xss\nanything",  # streamed in place, then the final answer with its footer
    "%%llm sim:xssjson -f json --no-cache\nanything",
    "%%llm sim:maths\nanything",  # maths still typeset, a price not
    "%%llm sim:xss sim:xssdown\nside by side",
    # a footer made of payloads: model id, prompt, route, notes
    'Completion(EVIL, model=PAYLOADS["img onerror"], provider="sim", usage=Usage(1, 2), cost_usd=1e-6, '
    'latency_s=0.1, prompt=PAYLOADS["svg onload"], route=PAYLOADS["script"], notes=[PAYLOADS["fetch out"]])',
    'df = llm.compare(["sim:xss", "sim:echo"], ["Say {{x}}"], [{"x": PAYLOADS["img onerror"]}, {"x": EVIL}], '
    "progress=False)\ndf",
    "llm.history(20)",
    "g = grid(df)\ng.show_answer(g.view.index[0])\ng",
    'pg = playground(template="Hi {{x}}", models=["sim:xss", "sim:xssdown"], variables={"x": PAYLOADS["script"]})\npg',
    'panels = pg.run()\nprint("playground:", [p.state for p in panels])',
    "dash = dashboard_widget()\ndash",
    "%%llm sim:xsscode -f code --no-cache\nanything",
    'print("xss notebook " + "done")',
]


def _notebook(lab: Lab) -> str:
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": s}
             for s in CELLS]
    return lab.write(f"{lab.folder()}/xss.ipynb", {"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture
def lab(jupyter_lab: Lab) -> tuple[str, str]:
    """The shared JupyterLab (tests/jupyter_lab.py): its base URL and the notebook's URL."""
    return jupyter_lab.base, jupyter_lab.lab_url(_notebook(jupyter_lab))


# what the rendered outputs may hold: the allow-listed markup, and JupyterLab's own widgets
AUDIT = """() => {
  const bad = [];
  const areas = document.querySelectorAll('.jp-OutputArea-output, .widget-html-content');
  for (const area of areas) {
    for (const el of area.querySelectorAll('*')) {
      if (el.closest('mjx-container')) continue;  // MathJax's own rendering of vetted maths
      const tag = el.tagName.toLowerCase();
      if (['script', 'iframe', 'object', 'embed', 'form', 'base', 'meta', 'link', 'math'].includes(tag)) bad.push('<' + tag + '>');
      // pandas puts a fixed <style scoped> block before its tables; nothing of the data is in it
      if (tag === 'style' && !(el.parentElement.querySelector('table.dataframe') && !/url\\(|@import|expression/i.test(el.textContent)))
        bad.push('<style>');
      if (tag === 'img' && !/^(data:image\\/png|blob:)/.test(el.getAttribute('src') || '')) bad.push('img ' + el.src);
      for (const a of el.getAttributeNames()) {
        if (a.startsWith('on')) bad.push(tag + ' ' + a);
        if (a === 'srcdoc') bad.push(tag + ' srcdoc');
      }
      const href = el.getAttribute('href');
      if (href !== null && /^\\s*[a-z][a-z0-9+.-]*:/i.test(href)
          && !/^\\s*(https?|mailto):/i.test(href)) bad.push('href ' + href);
      const style = el.getAttribute('style') || '';
      if (/url\\(|expression/i.test(style)) bad.push('style ' + style);
    }
  }
  return {bad, areas: areas.length};
}"""


def test_no_payload_runs_or_calls_out_in_jupyterlab(lab) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    base, url = lab
    server_host = urlparse(base).netloc
    left: list[str] = []
    with browser_page(1400, 1000, local_only=False) as page:  # its own route, below: off the server is logged
        try:
            page.set_default_timeout(30_000)

            def watch(request) -> None:  # type: ignore[no-untyped-def]
                url = urlparse(request.url)
                if url.scheme in ("http", "https", "ws", "wss") and url.netloc != server_host:
                    left.append(request.url)

            page.on("request", watch)
            page.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).netloc == server_host
                       or urlparse(route.request.url).scheme not in ("http", "https") else route.abort())
            open_notebook(page, url)  # a kernel starting on a busy machine: up to 90 s
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            expect(page.get_by_text("xss notebook done")).to_be_visible(timeout=150_000)
            expect(page.get_by_text("playground: ['done', 'error']")).to_be_visible()
            # hover over what was rendered (the onmouseover payloads)
            for el in page.locator(".jp-OutputArea-output, .widget-html-content, .jp-OutputArea-output a").all()[:80]:
                with contextlib.suppress(Exception):  # hidden or detached: nothing to hover
                    el.hover(timeout=2_000)
            page.wait_for_timeout(1_000)
            pwned = page.evaluate("() => window.__pwned")
            assert pwned is None, f"a payload ran: window.__pwned = {pwned}"
            assert "pwned" not in page.title()
            assert not left, f"requests left the page: {left}"
            audit = page.evaluate(AUDIT)
            assert audit["areas"] > 10 and not audit["bad"], audit
            # the payloads are on the page, as text; maths is still typeset, a price is not
            expect(page.locator(".llmops-answer").first).to_contain_text("<img src=x onerror=")
            expect(page.locator(".llmops-panel-body").first).to_contain_text("<script>window.__pwned=2</script>")
            maths = page.locator(".llmops-answer", has_text="Euler")
            expect(maths.locator("mjx-container")).to_have_count(1)  # MathJax ran, on the maths only
            expect(maths).to_contain_text("it costs $5 and $10.")
        finally:
            page.screenshot(path=str(ARTIFACTS / "xss.png"), full_page=True)
