"""Only {{name}} is a variable, filled once; everything else passes untouched."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from llmops_nb.errors import MissingVariables
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
