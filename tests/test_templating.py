"""Only {{name}} is a variable, filled once; everything else passes untouched."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_nb.errors import InvalidTemplate, InvalidVariable, MissingVariables, TemplateError
from llmops_nb.prompts import render, variables

UNTOUCHED = [
    '{"name": "x", "nested": {"a": [1, 2]}}',
    "{k: v for k, v in d.items()}",
    r"\frac{a}{b} + \sum_{i=0}^{n} x_i",
    'f"{value!r:>10}"',
    "It costs $5 or ${price}",
    "{ {not a var} }",
    "{{ 1 + 2 }}",
]


@pytest.mark.parametrize("text", UNTOUCHED)
def test_text_without_variables_is_unchanged(text):
    assert render(text, {}) == text


def test_variables_filled_once_and_nested_templates_not_expanded():
    out = render("A {{x}} B {{ x }} C {{y}}", {"x": "{{y}}", "y": 2})
    assert out == "A {{y}} B {{y}} C 2"


def test_attribute_and_mapping_access():
    ns = {"doc": SimpleNamespace(title="T", meta={"lang": "en"}), "cfg": {"n": 3}}
    assert render("{{doc.title}} {{doc.meta.lang}} {{cfg.n}}", ns) == "T en 3"


def test_missing_names_are_all_listed():
    with pytest.raises(MissingVariables) as info:
        render("{{a}} {{b.c}} {{d}}", {"d": 1, "b": SimpleNamespace()})
    assert info.value.names == ["a", "b.c"]
    assert "{{a}}" in str(info.value) and "Nothing was sent" in str(info.value)


def test_variables_in_order():
    assert variables("{{b}} {{a}} {{b}} {{c.d}}") == ["b", "a", "c.d"]


def test_missing_variables_send_nothing(llm, openai_env):
    with pytest.raises(MissingVariables):
        llm.complete("openai:gpt-5.4-mini", render("Summarize {{text}}", {}))
    assert openai_env.requests == []


# --- one grammar, one error (issue 11.10) ----------------------------------------------------------

MALFORMED = ["Explain {{topic", "Explain topic}}", "Explain {{}}", "Explain {{ }}", "Explain {{1abc}}",
             "Explain {{topic|upper}}", "Explain {{ topic | upper }}", "Explain {{topic}", "{{a.1}}",
             "Explain {{topic}} and {{topic", "{{ name + 1 }}", "line {{topic\nmore}}"]
MORE_UNTOUCHED = ['{"a": {"b": {"c": 1}}}', "{k: {v for v in vs} for k, vs in d.items()}",
                  r"x^{2} \left\{ a \right\}", "{{ {\"a\": 1} }}", "{{#each items}}", "a } b }", "a { b {"]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_variables_are_invalid_template(text):
    with pytest.raises(InvalidTemplate):
        render(text, {"topic": "t", "a": {"1": 2}, "name": 1, "more": 1})


@pytest.mark.parametrize("text", MORE_UNTOUCHED)
def test_more_text_passes_untouched(text):
    assert render(text, {}) == text


def test_json_around_a_variable_is_text():
    assert render('{"q": {"text": "{{x}}"}}', {"x": 1}) == '{"q": {"text": "1"}}'
    assert render('{"a": {{x}}}', {"x": 2}) == '{"a": 2}'


@pytest.mark.parametrize("text", MALFORMED)
def test_the_magic_and_prompt_magic_reject_the_same_text_and_send_nothing(ip, openai_env, text):
    ip.user_ns.update(topic="t", a={"1": 2}, name=1, more=1)
    with pytest.raises(InvalidTemplate):
        ip.run_cell_magic("llm", "openai:gpt-5.4-mini", text)
    if "\n" not in text:
        with pytest.raises(InvalidTemplate):
            ip.run_line_magic("llm", f"openai:gpt-5.4-mini {text}")
    if "\n" not in text:  # the system prompt follows the same grammar
        with pytest.raises(InvalidTemplate):
            ip.run_cell_magic("llm", f"openai:gpt-5.4-mini -s '{text}'", "hello")
    with pytest.raises(InvalidTemplate):
        ip.run_cell_magic("prompt", "malformed", text)
    assert openai_env.requests == []
    for name in ("a", "name", "more"):
        ip.user_ns.pop(name, None)


# --- what a variable may read (issue 11.4) ---------------------------------------------------------

def _helper():  # a notebook function: its globals must stay out of reach
    return 1


API_TOKEN = "tok-do-not-send"


def test_modules_callables_and_internals_are_never_read():
    import os

    ns = {"os": os, "helper": _helper, "cls": SimpleNamespace, "obj": object(), "_secret": 1,
          "d": {"_k": 1, "f": _helper}, "doc": SimpleNamespace(_hidden=1, run=_helper)}
    for text in ["{{os.environ.HOME}}", "{{os}}", "{{helper.__globals__.API_TOKEN}}", "{{helper}}",
                 "{{cls}}", "{{obj.__class__}}", "{{_secret}}", "{{d._k}}", "{{d.f}}", "{{doc._hidden}}",
                 "{{doc.run}}", "{{__builtins__}}"]:
        with pytest.raises(InvalidVariable) as info:
            render(text, ns)
        assert info.value.name == text[2:-2]
        assert text[2:-2] in str(info.value) and "Nothing was sent" in str(info.value)


def test_plain_data_objects_expose_their_fields():
    from collections import namedtuple
    from dataclasses import dataclass

    from pydantic import BaseModel

    @dataclass
    class Doc:
        title: str

        @property
        def secret(self) -> str:
            return API_TOKEN

    class User(BaseModel):
        name: str

    Point = namedtuple("Point", "x y")
    ns = {"doc": Doc("T"), "user": User(name="Ada"), "p": Point(1, 2), "n": SimpleNamespace(a={"b": "c"})}
    assert render("{{doc.title}} {{user.name}} {{p.y}} {{n.a.b}}", ns) == "T Ada 2 c"
    with pytest.raises(MissingVariables):
        render("{{doc.secret}}", ns)  # a property is code, not a field


def test_a_value_whose_str_raises_is_a_typed_error():
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(InvalidVariable, match=r"\{\{thing\}\}.*RuntimeError: boom"):
        render("Describe {{thing}}", {"thing": Broken()})


def test_registered_prompt_cannot_read_the_notebook(ip, openai_env):
    import os

    from llmops_nb import prompts

    prompts.register("exfil", "Tell me {{os.environ.HOME}}")
    ip.user_ns["os"] = os
    with pytest.raises(InvalidVariable):
        ip.run_line_magic("llm", "--prompt exfil openai:gpt-5.4-mini")
    prompts.register("exfil2", "Tell me {{In}}")  # IPython's input history is not a notebook variable
    with pytest.raises(MissingVariables):
        ip.run_line_magic("llm", "--prompt exfil2 openai:gpt-5.4-mini")
    prompts.register("exfil3", "Tell me {{_ih}}")
    with pytest.raises(InvalidVariable):
        ip.run_line_magic("llm", "--prompt exfil3 openai:gpt-5.4-mini")
    assert openai_env.requests == []


# --- property: text either renders or fails typed ------------------------------------------------

@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list("{}ab_1 .|\n\"")), max_size=30))
def test_any_text_renders_or_raises_a_template_error(text):
    try:
        out = render(text, {"a": "A", "b": {"a": 1}, "ab": 2, "a_": 3, "_": 4})
    except TemplateError:
        return
    if "{{" not in text and "}}" not in text:
        assert out == text
