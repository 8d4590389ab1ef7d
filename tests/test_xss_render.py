"""Every Python surface that shows untrusted text, fed the payload corpus: what reaches HTML is
inert (allow-listed tags and attributes only, safe link schemes, no loading styles), and what a
user wrote (LaTeX, ``$5``, JSON) still shows as written.

The same surfaces run in a real browser in test_xss_browser.py.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from IPython.utils.capture import capture_output

from llmops_nb import render
from llmops_nb.providers import sim
from llmops_nb.types import Completion, Usage
from tests.xss_payloads import PAYLOADS, all_payloads, assert_frame_inert, assert_inert

NAMES = list(PAYLOADS)
EVIL = all_payloads()


def _completion(text: str, **kw: object) -> Completion:
    fields: dict[str, object] = {"model": "sim:x", "provider": "sim", "usage": Usage(3, 4), "cost_usd": 1e-5,
                                 "latency_s": 0.2, "ttft_s": 0.05, **kw}
    return Completion(text, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_markdown_of_each_payload_is_inert(name):
    assert_inert(render.markdown_html(PAYLOADS[name]))
    assert_inert(render.markdown_html(f"Intro **bold** {PAYLOADS[name]} and more\n\n- a list {PAYLOADS[name]}"))


@pytest.mark.parametrize("name", NAMES)
def test_raw_html_of_each_payload_is_sanitized(name):
    assert_inert(render.sanitize_html(PAYLOADS[name]))
    assert_inert(render.sanitize_html(f"<div>{PAYLOADS[name]}</div>"))


@pytest.mark.parametrize("helper", ["text_html", "code_html", "small_print_html"])
def test_text_helpers_escape_everything(helper):
    shown = getattr(render, helper)(EVIL)
    assert_inert(shown)
    assert "&lt;script&gt;" in shown  # shown as text, not dropped


def test_payloads_show_as_text_not_vanish():
    shown = render.markdown_html(PAYLOADS["img onerror"])
    assert "&lt;img src=x onerror=" in shown  # the reader sees what the model wrote
    link = render.markdown_html("[docs](https://example.com/a?b=1) and [bad](javascript:alert(1))")
    assert '<a href="https://example.com/a?b=1"' in link and "javascript" not in link.split("[bad]")[0]
    assert "[image: pixel]" in render.markdown_html(PAYLOADS["markdown image exfil"])  # a link, never an <img>


def test_active_tex_is_never_typeset():
    for name in ("tex href", "tex style exfil", "tex require"):
        shown = render.markdown_html(f"Before $x^2$ then {PAYLOADS[name]}")
        assert shown.startswith(f'<div class="{render.IGNORE_MATH}">'), shown


def test_latex_dollars_and_json_pass_as_written():
    text = 'Costs $5 and $10. Maths $a_1 + b_1$, \\(x_2 < y\\) and $$\\frac{a}{b}$$; JSON {"a": {"b": [1, 2]}}'
    shown = render.markdown_html(text)
    assert "$a_1 + b_1$" in shown and "\\(x_2 &lt; y\\)" in shown and "$$\\frac{a}{b}$$" in shown
    assert '{"a": {"b": [1, 2]}}' in shown
    # a dollar that opens no maths sits in an element MathJax skips
    assert shown.count(f'<span class="{render.IGNORE_MATH}">$</span>') == 2


# --- outputs of a call ---------------------------------------------------------------------------

def _evil_completion() -> Completion:
    return _completion(EVIL, model=PAYLOADS["img onerror"], prompt=PAYLOADS["script"], route=PAYLOADS["svg onload"],
                       notes=[PAYLOADS["iframe srcdoc"]], finish_reason="length")


@pytest.mark.parametrize("fmt", ["markdown", "text"])
def test_bundle_and_footer_are_inert(fmt):
    data = render.bundle(_evil_completion(), fmt)
    assert "text/markdown" not in data  # frontends trust markdown; we give sanitized HTML
    if fmt == "markdown":
        assert_inert(data["text/html"])
        assert "mathjax_ignore" in data["text/html"]  # the footer is not typeset


def test_json_and_code_outputs_are_inert():
    as_json = _completion(json.dumps(PAYLOADS), model=PAYLOADS["img onerror"])
    assert_inert(render.bundle(as_json, "json")["text/html"])
    code = _completion(f"```<img src=x onerror=alert(1)>\n{EVIL}\n```", prompt=PAYLOADS["script"])
    assert_inert(render.bundle(code, "code")["text/html"])


def test_completion_repr_is_sanitized_html():
    c = _evil_completion()
    assert not hasattr(c, "_repr_markdown_")
    assert_inert(c._repr_html_())


def test_streamed_frames_are_inert(ip):
    for end in range(1, len(EVIL) + 23, 23):  # every prefix a stream could stop at, payloads cut anywhere
        assert_inert(render.streaming_bundle(EVIL[:end], "markdown")["text/html"])
    with capture_output() as cap:
        view = render.StreamView("markdown", min_interval_s=0.0)
        for i in range(0, len(EVIL), 7):
            view.write(EVIL[i:i + 7])
        view.finish(_evil_completion())
    frames = [o.data["text/html"] for o in cap.outputs]
    assert len(frames) >= 2 and "llmops-streaming" in frames[0]
    for frame in frames:
        assert_inert(frame)


def test_side_by_side_is_inert():
    row = {"model": PAYLOADS["img onerror"], "prompt": PAYLOADS["script"], "status": "OK", "output": EVIL,
           "answered_by": PAYLOADS["svg onload"], "input_tokens": 1, "output_tokens": 2, "cost_usd": 1e-6,
           "latency_ms": 3.0}
    failed = {**row, "model": PAYLOADS["details ontoggle"], "status": "ERROR", "error": EVIL}
    assert_inert(render.side_by_side_bundle([row, failed])["text/html"])


def test_prompt_registration_and_diff_are_inert(llm):
    from llmops_nb import prompts

    name = f"xss-{uuid.uuid4().hex[:6]}"
    prompts.register(name, "Hello {{who}}")
    result = prompts.register(name, f"Hello {{{{who}}}}\n```\n{EVIL}")
    assert_inert(render.registration_bundle(result)["text/html"])
    assert_inert(render.diff_bundle(prompts.diff(name, 1, 2))["text/html"])


# --- the magics end to end -----------------------------------------------------------------------

def _outputs_inert(cap) -> None:  # type: ignore[no-untyped-def]
    assert cap.outputs
    for out in cap.outputs:
        assert "text/markdown" not in out.data
        for mime, value in out.data.items():
            if mime == "text/html":
                assert_inert(value)


@pytest.mark.parametrize("fmt", ["markdown", "json", "code"])
def test_llm_cell_outputs_are_inert(ip, llm, fmt, monkeypatch):
    monkeypatch.setattr(ip, "set_next_input", lambda *a, **k: None)
    llm.configure(live_stream=True, guardrails="off")
    reply = json.dumps(PAYLOADS) if fmt == "json" else f"```python\n{EVIL}\n```" if fmt == "code" else EVIL
    sim.configure_model("xss", reply=reply, ttft_s=0.0, tokens_per_s=20_000)
    with capture_output() as cap:
        ip.run_cell_magic("llm", f"sim:xss -f {fmt} -o ans", "anything")
    _outputs_inert(cap)
    assert_inert(ip.user_ns["ans"]._repr_html_())


def test_side_by_side_cell_is_inert(ip, llm):
    llm.configure(guardrails="off")
    sim.configure_model("xssa", reply=EVIL)
    sim.configure_model("xssb", fail_rate=1.0, fail_with="500")
    with capture_output() as cap:
        ip.run_cell_magic("llm", "sim:xssa sim:xssb", "anything")
    _outputs_inert(cap)


# --- tables --------------------------------------------------------------------------------------

def test_history_and_compare_tables_escape_their_cells(llm):
    llm.configure(guardrails="off")
    sim.configure_model("xsst", reply=EVIL)
    llm.complete("sim:xsst", PAYLOADS["script"], cache=False)
    df = llm.compare(["sim:xsst", "sim:echo"], [f"Say {{{{x}}}} {PAYLOADS['svg onload']}"],
                     [{"x": PAYLOADS["img onerror"]}], progress=False)
    assert_frame_inert(df._repr_html_())
    assert_frame_inert(df.to_html())
    hist = llm.history(10)
    assert (hist["status"] == "OK").any()
    assert_frame_inert(hist._repr_html_())


def test_experiment_result_repr_is_inert(llm):
    from llmops_nb import evaluation as ev
    from llmops_nb.experiments import Experiment

    sim.configure_model("xsse", reply=EVIL)
    exp = Experiment(PAYLOADS["img onerror"], variants={"a": "sim:xsse", "b": "sim:echo"},
                     prompt="Q {{q}}")
    result = exp.run([{"q": str(i)} for i in range(3)], [ev.contains("x")])
    assert_inert(result._repr_html_())


# --- widgets -------------------------------------------------------------------------------------

def _widget_html(widget) -> list[str]:  # type: ignore[no-untyped-def]
    """Every HTML value under ``widget``."""
    import ipywidgets as W

    found, stack = [], [widget]
    while stack:
        w = stack.pop()
        if isinstance(w, W.HTML):
            found.append(w.value)
        stack.extend(getattr(w, "children", ()))
    return found


def test_playground_values_are_inert(llm):
    from llmops_nb.widgets import playground

    llm.configure(guardrails="off")
    sim.configure_model("xssp", reply=EVIL, tokens_per_s=20_000)
    pg = playground(template="Hi {{x}}", models=["sim:xssp", PAYLOADS["img onerror"]],
                    variables={"x": PAYLOADS["script"]})
    seen: list[str] = []
    panels = pg.run(wait=False)
    panels[0].body.observe(lambda change: seen.append(change["new"]), names="value")
    pg.wait(30)
    assert panels[0].state == "done" and panels[1].state == "error"
    for value in [*seen, *_widget_html(pg)]:
        assert_inert(value)
    pg.prompt_name.value = f"xss-{uuid.uuid4().hex[:6]}"
    pg.save(message=PAYLOADS["svg onload"])
    pg.template.value = EVIL
    pg.save()
    pg.show_diff(1)
    pg.prompt_name.value = PAYLOADS["img onerror"]  # an invalid name: its error is shown
    pg.save()
    for value in _widget_html(pg):
        assert_inert(value)


def test_grid_values_are_inert(llm):
    from llmops_nb.widgets import grid

    llm.configure(guardrails="off")
    sim.configure_model("xssg", reply=EVIL)
    df = llm.compare(["sim:xssg", "sim:echo"], ["Say {{x}}"], [{"x": PAYLOADS["img onerror"]}, {"x": EVIL}],
                     progress=False)
    g = grid(df)
    for index in g.view.index:
        g.show_answer(index)
        for value in _widget_html(g):
            assert_inert(value)


def test_dashboard_values_are_inert(llm, monkeypatch):
    from llmops_nb.widgets import dashboard as D

    llm.configure(guardrails="off")
    sim.configure_model("xssd", reply=EVIL)
    llm.complete("sim:xssd", "x", cache=False)
    dash = D.dashboard_widget()
    for value in _widget_html(dash):
        assert_inert(value)

    def broken(limit):  # type: ignore[no-untyped-def]
        raise RuntimeError(EVIL)

    monkeypatch.setattr(D, "history", broken)
    dash.refresh()
    assert "⚠ RuntimeError" in dash.status.value
    assert_inert(dash.status.value)


def test_every_html_fragment_is_built_by_the_renderer():
    """A guard for the rule itself: outside render.py no module hands HTML to a frontend except
    through ``render`` (a static string is allowed)."""
    from pathlib import Path

    root = Path(render.__file__).parent
    offenders = []
    for path in [*root.glob("*.py"), *root.glob("widgets/*.py")]:
        if path.name == "render.py":
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"text/(html|markdown)|_repr_markdown_", line):
                offenders.append(f"{path.name}:{lineno}: {line.strip()}")
            match = re.search(r"\.value = (f?['\"]<.*)", line)
            if match and match.group(1).startswith("f"):
                offenders.append(f"{path.name}:{lineno}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
