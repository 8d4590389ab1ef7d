"""Every magic line either runs or fails as a UsageError / typed error (fuzzed); command words
never swallow a prompt; ``-f code`` inserts once; ``%%llm --prompt`` with an empty body;
messages that say what to do; ``%llm ui``."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from llmops_nb import code_cells, prompts
from llmops_nb import errors as E
from llmops_nb.magic_names import empty_prompt_cell
from llmops_nb.magics import parse_call
from llmops_nb.providers import sim

WORDS = ["sim:a", "openai:gpt-4o-mini", "gpt-4o-mini", "-s", '"unclosed', "'x", '"a b"', "'", '"', "-t", "abc",
         "0.5", "--max-tokens", "10", "-1", "-o", "1x", "out", "-f", "json", "code", "bogus", "--prompt", "p@1",
         "p", "--var", "k=v", "k", "=", "--guard", "off", "--", "{{x}}", "{{", "}}", "cost", "history", "5",
         "?", "\\", "--no-cache", "--no-stream", "-", "--bogus", "-tx", "--temperature=2", "--var=", ":", "a:",
         ":b", "é", "\t", "@", "x@y@z"]


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.sampled_from(WORDS), max_size=8), st.booleans(), st.sampled_from([" ", "", "  "]))
def test_no_raw_exception_escapes_the_parser(words, cell, sep):
    line = sep.join(words)
    try:
        args = parse_call(line, cell=cell)
    except UsageError:
        return
    assert args.format in ("markdown", "text", "json", "code")


@pytest.mark.parametrize("line", ["-f --", "sim:a -f -- hi", "sim:a --guard --", "-t -- sim:a"])
@pytest.mark.parametrize("cell", [True, False])
def test_a_value_option_followed_by_the_end_of_options_is_a_usage_error(line, cell):
    """``-f --`` (hypothesis found it): argparse took ``--`` as the option's empty value, past its
    choices, and the cell ran with ``format=[]``."""
    with pytest.raises(UsageError, match="needs a value, not '--'"):
        parse_call(line, cell=cell)


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-\"' =@{}\\\t")), max_size=20), st.booleans())
def test_no_raw_exception_escapes_the_parser_on_any_text(line, cell):
    with contextlib.suppress(UsageError):
        parse_call(line, cell=cell)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.sampled_from(["name", "bad name!", "-m", '"msg', "'", '"a b"', "--alias", "latest", "prod",
                                 "--model", "sim:a", "nomodel", "-t", "x", "3", "--max-tokens", "-1", "--zz"]),
                max_size=6))
def test_no_raw_exception_escapes_the_prompt_magic_line(words):
    from llmops_nb.magics import _prompt_parser, _split

    with contextlib.suppress(UsageError):
        _prompt_parser().parse_args(_split(" ".join(words)))


@pytest.mark.parametrize("line", ['openai:gpt-4o-mini -s "unclosed', "sim:a -s 'x", 'sim:a "'])
def test_unbalanced_quotes_are_usage_errors(ip, openai_env, line):
    with pytest.raises(UsageError, match="close every quote"):
        ip.run_cell_magic("llm", line, "hello")
    with pytest.raises(UsageError, match="close every quote"):
        ip.run_cell_magic("prompt", f"name -m {line.split(' ', 1)[1]}", "hello")
    assert openai_env.requests == []


def test_a_variable_whose_str_raises_is_typed(ip, openai_env):
    class Broken:
        def __str__(self) -> str:
            raise ValueError("no text")

    ip.user_ns["thing"] = Broken()
    try:
        with pytest.raises(E.InvalidVariable, match="thing"):
            ip.run_cell_magic("llm", "openai:gpt-4o-mini", "Describe {{thing}}")
    finally:
        ip.user_ns.pop("thing")
    assert openai_env.requests == []


# --- command words (11.12) ---------------------------------------------------------------------

def test_a_command_word_never_swallows_a_prompt(ip, llm):
    with capture_output() as cap:
        ip.run_line_magic("llm", "cost of living in Paris?")
    assert "cost of living in Paris?" in cap.outputs[-1].data["text/plain"]  # answered by the default model
    with capture_output() as cap:
        ip.run_line_magic("llm", "cost")
    assert re.match(r"1 call · ", cap.stdout)  # and "1 call", not "1 calls"
    for line in ("models are great", "prompt me a poem", "alias of the day x", "history 5 times", "ui design"):
        with capture_output() as cap:
            ip.run_line_magic("llm", line)
        assert line in cap.outputs[-1].data["text/plain"]
    with capture_output() as cap:
        ip.run_line_magic("llm", "-- cost")
    assert "cost" in cap.outputs[-1].data["text/plain"]


# --- -f code (12.8) ----------------------------------------------------------------------------

@pytest.fixture
def inserted(ip, monkeypatch):
    out: list[str] = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: out.append(text))
    code_cells._memory.clear()
    return out


def said(cap) -> str:  # type: ignore[no-untyped-def]
    """What a -f code cell said about its code (its last output, as text)."""
    return cap.outputs[-1].data["text/plain"]


def test_rerunning_a_code_cell_inserts_once(ip, inserted):
    sim.configure_model("coder", reply="Here:\n```python\nprint('hi')\n```\n")
    for _ in range(3):  # Run All, three times
        with capture_output() as cap:
            ip.run_cell_magic("llm", "sim:coder -f code", "write code")
    assert inserted == ["print('hi')"]
    assert "already inserted" in said(cap)


def test_changed_code_is_inserted_and_the_old_cell_called_stale(ip, inserted):
    sim.configure_model("coder2", reply="```python\nx = 1\n```")
    ip.run_cell_magic("llm", "sim:coder2 -f code", "write code")
    sim.configure_model("coder2", reply="```python\nx = 2\n```")
    with capture_output() as cap:
        ip.run_cell_magic("llm", "sim:coder2 -f code --no-cache", "write code")
    assert inserted == ["x = 1", "x = 2"] and "stale" in said(cap)


def test_no_code_block_inserts_nothing_and_says_so(ip, inserted):
    sim.configure_model("prose", reply="I would rather explain it in words.")
    with capture_output() as cap:
        ip.run_cell_magic("llm", "sim:prose -f code", "write code")
    assert inserted == [] and "no fenced code block" in said(cap)
    assert "inserted as a new cell" not in cap.outputs[-2].data["text/html"]


def test_a_cell_id_is_remembered_across_kernel_restarts(ip, inserted, monkeypatch):
    sim.configure_model("coder3", reply="```python\ny = 3\n```")
    monkeypatch.setattr(ip, "parent_header", {"metadata": {"cellId": "c0ffee"}}, raising=False)
    ip.run_cell_magic("llm", "sim:coder3 -f code", "write code")
    code_cells._memory.clear()  # a restarted kernel
    ip.run_cell_magic("llm", "sim:coder3 -f code", "write code")
    assert inserted == ["y = 3"]


# --- %%llm --prompt NAME with an empty body (12.9) -------------------------------------------------

def test_empty_prompt_cell_fills_variables_from_the_notebook(ip, llm):
    prompts.register("sumz", "Summarize {{doc}} briefly")
    ip.user_ns["doc"] = "the minutes"
    with capture_output() as cap:
        result = ip.run_cell("%%llm --prompt sumz sim:echo\n")
    assert result.error_in_exec is None and result.error_before_exec is None
    assert "Summarize the minutes briefly" in cap.outputs[-1].data["text/plain"]
    assert empty_prompt_cell(["%%llm sim:a\n", "\n"]) == ["%%llm sim:a\n", "\n"]  # only with --prompt


def test_loading_twice_registers_one_transformer(ip):
    from llmops_nb import magic_names

    magic_names.register(ip)  # the fixture's shell has loaded the extension once already
    assert ip.input_transformers_cleanup.count(empty_prompt_cell) == 1


# --- messages (12.10) and %llm ui (12.13) ---------------------------------------------------------

def test_a_bare_model_name_suggests_its_id(ip):
    with pytest.raises(UsageError, match=r"model ids are provider:model — did you mean openai:gpt-4o-mini\?"):
        ip.run_cell_magic("llm", "gpt-4o-mini", "hi")
    with pytest.raises(UsageError, match="anthropic:claude-haiku-4-5"):
        ip.run_cell_magic("llm", "claude-haiku-4-5 -t 0", "hi")
    with pytest.raises(UsageError, match="model ids are provider:model — e.g."):
        ip.run_cell_magic("llm", "llama3", "hi")


def test_history_on_a_new_store_says_so(ip, llm):
    with capture_output() as cap:
        out = ip.run_line_magic("llm", "history 5")
    assert out is None and "no calls recorded yet in sqlite:///" in cap.stdout and "Empty" not in cap.stdout


def test_models_names_the_base_url_variable(ip, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/x")
    table = ip.run_line_magic("llm", "models").set_index("provider")
    assert table.loc["openai", "base URL"] == "SDK default (set OPENAI_BASE_URL to change)"
    assert table.loc["anthropic", "base URL"] == "http://127.0.0.1:9/x"
    assert not table["base URL"].str.contains("<PROVIDER>").any()


def test_ui_prints_the_command_for_this_kernels_store(ip, llm):
    with capture_output() as cap:
        ip.run_line_magic("llm", "ui")
    uri = llm.settings().tracking_uri
    assert f"mlflow ui --backend-store-uri {uri}" in cap.stdout and uri.startswith("sqlite:////")


def test_playground_takes_a_template_as_text(llm):
    from llmops_nb.widgets.playground import playground

    pg = playground("Describe {{thing}}")
    assert pg.version is None and pg.template.value == "Describe {{thing}}"
    with pytest.raises(E.PromptNotFound):
        playground("no_such_prompt")


def test_the_help_shows_every_option_and_command(ip):
    """``%llm?`` is the magic's help: it names every option the parser takes and every command
    (it used to say only "see %llm?"), and ``%%prompt?`` every option of its parser."""
    from llmops_nb.magics import _COMMANDS, _call_parser, _prompt_parser

    with capture_output() as llm_help:
        ip.run_cell("%llm?")
    with capture_output() as prompt_help:
        ip.run_cell("%%prompt?")
    for parser, shown in ((_call_parser(), llm_help.stdout), (_prompt_parser(), prompt_help.stdout)):
        options = [s for action in parser._actions for s in action.option_strings if s not in ("-h", "--help")]
        assert options and all(option in shown for option in options), (options, shown)
    assert all(f"%llm {name}" in llm_help.stdout for name in _COMMANDS)
    assert "{{name}}" in llm_help.stdout and "see ``%llm?``" not in llm_help.stdout
