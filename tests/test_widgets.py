"""Widgets, Python side: state and callbacks of the playground, the grid and the dashboard.

The widgets only call the public API; these tests drive them as a user would (set values, click)
and check what the panels show and what reached the stores.
"""

from __future__ import annotations

import time
import uuid

import pytest

from llmops_nb.providers import sim
from llmops_nb.widgets import dashboard_widget, grid, model_choices, playground

# the prompt registry is shared by the whole test run: names unique to this run
SUMM = f"summ-{uuid.uuid4().hex[:6]}"
GREET = f"greet-{uuid.uuid4().hex[:6]}"


def test_variables_follow_the_template_and_keep_typed_values(llm):
    pg = playground(template="Explain {{topic}} to {{ reader }}. JSON {\"a\": 1} and $5 stay text.",
                    variables={"topic": "caching"})
    assert list(pg.variable_fields) == ["topic", "reader"]
    assert pg.variable_fields["topic"].value == "caching"
    pg.variable_fields["reader"].value = "a child"
    pg.template.value = "Explain {{topic}} to {{reader}} in {{n}} words."
    assert list(pg.variable_fields) == ["topic", "reader", "n"]
    assert pg.variable_fields["reader"].value == "a child"  # kept while editing
    pg.template.value = "Just {{topic}}"
    assert list(pg.variable_fields) == ["topic"]
    assert [f.description for f in pg.variable_box.children] == ["topic"]
    pg.template.value = "Just {{topic}} for {{reader}}"
    assert pg.variable_fields["reader"].value == "a child"


def test_model_choices_list_sim_models_routes_and_providers(llm):
    llm.configure(routes={"balanced": ["sim:a", "sim:b"]})
    values = [v for _, v in model_choices()]
    assert values[0] == "sim:default"
    assert "route:balanced" in values and "sim:echo" in values
    labels = dict((v, label) for label, v in model_choices())
    assert labels["openai:gpt-5.4-mini"] == "openai:gpt-5.4-mini (OPENAI_API_KEY not set)"
    pg = playground(models=["sim:x"])
    pg.add_model("route:balanced")
    assert pg.models.value == ("sim:x", "route:balanced")
    pg.add_model(" sim:new ")
    assert pg.models.value == ("sim:x", "route:balanced", "sim:new")
    assert pg.models.options[-1] == ("sim:new", "sim:new")


def test_run_streams_answers_into_one_panel_per_model_with_footers(llm):
    pg = playground(template="Explain {{topic}} briefly.", models=["sim:alpha", "sim:beta"],
                    variables={"topic": "vector databases"})
    seen: list[str] = []
    pg.run_button.click()  # the button does not wait
    panels = pg.panels
    for p in panels:
        p.body.observe(lambda change: seen.append(change["new"]), names="value")
    pg.wait(30)
    assert [p.model for p in panels] == ["sim:alpha", "sim:beta"]
    for p, name in zip(panels, ["alpha", "beta"], strict=True):
        assert p.state == "done" and p.error is None
        assert p.text.startswith(f"Simulated answer ({name}) to “Explain vector databases briefly.”")
        assert p.footer.startswith(f"sim:{name} · ") and " tok · " in p.footer and "TTFT" in p.footer
        assert p.text in p.body.value.replace("&quot;", '"') or p.text[:30] in p.body.value
        assert p.footer in p.footer_view.value
        assert p.completion is not None and p.completion.trace_id == p.trace_id
    assert len(pg.panel_box.children) == 2
    assert "2 answered, 0 failed" in pg.status.value
    history = llm.history()
    assert set(history["model"]) == {"sim:alpha", "sim:beta"}
    assert set(history["trace_id"]) == {p.trace_id for p in panels}


def test_run_sends_the_controls_as_parameters(llm):
    pg = playground(template="Say {{word}}", models=["sim:echo"], variables={"word": "hello there"})
    pg.max_tokens.value = 1
    pg.run()
    (panel,) = pg.panels
    assert panel.text == "Say"  # cut at max_tokens=1
    assert "cut at max_tokens (1)" in panel.footer
    assert panel.completion is not None and panel.completion.finish_reason == "length"


def test_errors_show_inline_in_their_panel(llm, monkeypatch, caplog):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm.configure(budget_usd=0.0)
    sim.configure_model("ok", priced=False)
    pg = playground(template="Mail me at ann@example.com about {{topic}}",
                    models=["openai:gpt-5.4-mini", "sim:gpt-4o", "sim:ok"], variables={"topic": "x"})
    pg.run()
    missing, budget, ok = pg.panels
    assert missing.state == "error" and missing.error is not None
    assert missing.error.startswith("MissingAPIKey: openai needs an API key: set the environment variable OPENAI_API_KEY")
    assert "OPENAI_API_KEY" in missing.body.value and "Traceback" not in missing.body.value
    assert budget.state == "error" and budget.error is not None and budget.error.startswith("BudgetExceeded")
    assert ok.state == "done"  # one failure never stops the others (sim:ok has no price)
    assert "1 answered, 2 failed" in pg.status.value
    assert "Traceback" not in caplog.text


def test_guardrail_block_and_missing_variables_are_inline(llm):
    pg = playground(template="Use key sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7s for {{topic}}",
                    models=["sim:default"])
    pg.run()
    (panel,) = pg.panels
    assert panel.state == "error" and panel.error is not None
    assert panel.error.startswith("MissingVariables")  # the empty field counts as missing
    pg.variable_fields["topic"].value = "x"
    pg.run()
    (panel,) = pg.panels
    assert panel.error is not None and panel.error.startswith("GuardrailBlocked"), panel.error
    assert "Ab3dE5gH7jK9mN1pQ3sT5" not in panel.body.value  # the message never holds the value
    assert panel.trace_id  # the blocked attempt is recorded
    pg.guard.value = "off"
    pg.run()
    assert pg.panels[0].state == "done"


def test_save_creates_versions_and_the_picker_shows_their_diff(llm):
    pg = playground(template="Summarize {{text}}.", models=["sim:default"])
    pg.prompt_name.value = SUMM
    pg.save_message.value, pg.save_alias.value = "first", "production"
    first = pg.save()
    assert first is not None and first.version.ref == f"{SUMM}@1" and first.created
    assert f"{SUMM}@1 (new version)" in pg.save_status.value
    pg.template.value = "Summarize {{text}} in {{n}} bullet points."
    second = pg.save(message="bullets", alias="")
    assert second is not None and second.version.ref == f"{SUMM}@2"
    assert pg.version.ref == f"{SUMM}@2"
    from llmops_nb import prompts

    assert [v.version for v in prompts.versions(SUMM)] == [1, 2]
    assert prompts.get(f"{SUMM}@production").version == 1
    assert [label for label, _ in pg.version_picker.options] == ["v1 [production] — first", "v2 — bullets (current)"]
    pg.version_picker.value = 1
    assert "-Summarize {{text}}." in pg.diff_view.value
    assert "+Summarize {{text}} in {{n}} bullet points." in pg.diff_view.value
    assert pg.show_diff(1) == prompts.diff(SUMM, 1, 2)
    unchanged = pg.save()
    assert unchanged is not None and not unchanged.created and "unchanged" in pg.save_status.value
    pg.prompt_name.value = "bad name!"
    assert pg.save() is None and "InvalidPromptName" in pg.save_status.value


def test_a_loaded_version_is_called_as_that_version(llm):
    from llmops_nb import prompts

    prompts.register(GREET, "[system] Be brief.\nGreet {{who}}.", message="v1")
    prompts.register(GREET, "[system] Be brief.\nGreet {{who}} warmly.", message="v2")
    pg = playground(f"{GREET}@1", models=["sim:default"], variables={"who": "Ann"})
    assert pg.template.value == prompts.get(f"{GREET}@1").template
    pg.run()
    assert pg.panels[0].completion is not None and pg.panels[0].completion.prompt == f"{GREET}@1"
    assert f"{GREET}@1" in pg.panels[0].footer
    pg.version_picker.value = 2
    assert pg.load_version() is not None and "warmly" in pg.template.value
    pg.run()
    assert pg.panels[0].completion is not None and pg.panels[0].completion.prompt == f"{GREET}@2"
    pg.template.value += " Edited."
    pg.run()
    assert pg.panels[0].completion is not None and pg.panels[0].completion.prompt is None


def test_rating_logs_mlflow_feedback_on_the_trace(llm):
    from mlflow.tracing.client import TracingClient

    pg = playground(template="Rate {{x}}", models=["sim:a", "sim:b"], variables={"x": "me"})
    pg.run()
    good, bad = pg.panels
    good.comment.value = "clear and short"
    good.thumbs_up.click()  # saved off the UI thread
    bad.rate(False)
    for _ in range(200):
        if "saved" in good.rating_status.value:
            break
        time.sleep(0.05)
    assert "rated good: saved as MLflow feedback" in good.rating_status.value
    client = TracingClient(llm.settings().tracking_uri)
    (up,) = [a for a in client.get_trace(good.trace_id).info.assessments if a.name == "user_rating"]
    assert up.value is True and up.rationale == "clear and short"
    assert up.source.source_type == "HUMAN" and up.source.source_id == "notebook"
    (down,) = [a for a in client.get_trace(bad.trace_id).info.assessments if a.name == "user_rating"]
    assert down.value is False and down.rationale is None


def test_rating_before_an_answer_or_on_a_failure_says_so(llm):
    sim.configure_model("down", failures=["500"])
    pg = playground(template="Hi", models=["sim:down"])
    assert pg.run()[0].state == "error"
    assert pg.panels[0].rate(True) is None
    assert "nothing to rate" in pg.panels[0].rating_status.value
    assert pg.panels[0].thumbs_up.disabled


@pytest.fixture
def table(llm):
    sim.configure_model("fixed", reply="cats")  # agrees with sim:echo on "cats" only
    return llm.compare(models=["sim:echo", "sim:fixed"], prompts=["{{t}}"], inputs=[{"t": "cats"}, {"t": "dogs"}],
                       progress=False, scorers={"length": lambda out, inp: len(out)})


def test_grid_highlights_where_answers_differ(table):
    g = grid(table)
    assert len(g.view) == 4
    assert dict(zip(g.view["input"], g.view["differs"], strict=False)) == {'{"t": "cats"}': False,
                                                                          '{"t": "dogs"}': True}
    assert g.table.value.count("llmops-differs") == 2 and "≠" in g.table.value
    g.only_differing.value = True
    assert set(g.view["input"]) == {'{"t": "dogs"}'} and len(g.view) == 2


def test_grid_filters_sorts_and_opens_an_answer(table):
    g = grid(table)
    assert list(g.model_filter.options) == ["(all)", "sim:echo", "sim:fixed"]
    assert list(g.sort_by.options) == ["(table order)", "cost_usd", "latency_ms", "length"]
    g.model_filter.value = "sim:fixed"
    assert set(g.view["model"]) == {"sim:fixed"} and len(g.view) == 2
    assert g.table.value.count("llmops-row") == 2
    g.model_filter.value = "(all)"
    g.input_filter.value = '{"t": "dogs"}'
    assert list(g.view["output"]) == ["dogs", "cats"]
    g.input_filter.value = "(all)"
    g.sort_by.value = "latency_ms"
    assert list(g.view["latency_ms"]) == sorted(table["latency_ms"])
    g.sort_by.value, g.descending.value = "length", True
    assert list(g.view["length"]) == sorted(table["length"], reverse=True)
    index = int(table.index[(table["model"] == "sim:echo") & (table["input_index"] == 1)][0])
    g.row_picker.value = index
    assert "sim:echo · {{t}}" in g.detail.value and "\n\ndogs\n\n" in g.show_answer(index)
    assert "tok" in g.detail.value and " ms" in g.detail.value


def test_grid_shows_the_input_fields_that_vary(llm):
    from llmops_nb.widgets.grid import input_fields

    long = "a reader who likes long descriptions of everything, " * 2
    inputs = [{"reader": long, "tone": "calm", "topic": t} for t in ("caching", "tracing")]
    df = llm.compare(["sim:a"], ["Explain {{topic}} to {{reader}}, {{tone}}"], inputs, progress=False)
    g = grid(df)
    assert list(g.view["input_fields"]) == ["topic=caching", "topic=tracing"]  # not cut off by the shared ones
    assert "topic=caching" in g.table.value and "topic=tracing" in g.table.value
    assert "every input has" in g.table.value and "tone=calm" in g.table.value
    assert [label for label, _ in g.input_filter.options] == ["(all)", "topic=caching", "topic=tracing"]
    g.input_filter.value = g.input_filter.options[2][1]
    assert list(g.view["input_fields"]) == ["topic=tracing"]
    assert "topic=tracing" in g.row_picker.options[0][0]
    # one input, or inputs that are not JSON objects: shown whole
    assert input_fields(['{"a": 1}']) == (["a=1"], {})
    assert input_fields(["plain", "text"]) == (["plain", "text"], {})


def test_compare_progress_bar_is_replaced_when_done(ip, llm, monkeypatch):
    from IPython.utils.capture import capture_output

    from llmops_nb import comparison

    llm.configure(live_stream=True)
    monkeypatch.setattr(comparison, "_kernel", lambda: object())  # as in a Jupyter kernel
    with capture_output() as cap:
        llm.compare(["sim:a", "sim:b"], ["Hi {{x}}"], [{"x": 1}], progress=True)
    shown = [o for o in cap.outputs if "application/vnd.jupyter.widget-view+json" in o.data or o.update]
    bar, last = shown[0], shown[-1]
    assert "application/vnd.jupyter.widget-view+json" in bar.data
    assert last.update and last.transient["display_id"] == bar.transient["display_id"]  # the same output
    assert last.data == {"text/plain": last.data["text/plain"]} and "calls: 2/2 done in" in last.data["text/plain"]


def test_dashboard_refreshes_from_history(llm):
    dash = dashboard_widget()
    assert dash.frame is not None and len(dash.frame) == 0 and dash.chart is None
    llm.complete("sim:default", "one")
    llm.complete("sim:other", "two")
    dash.refresh_button.click()
    assert len(dash.frame) == 2 and "2 calls" in dash.status.value
    spec = dash.chart.to_dict()
    assert "sim:default" in str(spec) and "sim:other" in str(spec)


def test_dashboard_falls_back_to_its_own_charts_without_monitor(llm, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "llmops_nb.monitor", None)  # import fails as if absent
    llm.complete("sim:default", "one")
    dash = dashboard_widget()
    assert "Calls per model" in str(dash.chart.to_dict())
    (shown,) = dash.output.outputs
    assert shown["output_type"] == "display_data" and "image/png" in shown["data"]
