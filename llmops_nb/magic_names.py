"""What ``%load_ext llmops_nb`` registers: the names ``%%llm`` / ``%llm`` and ``%%prompt``.

Their implementation (:mod:`llmops_nb.magics`: the argument parsers, and through them the
renderer and its HTML sanitizer, ~20 ms of imports) is imported when a magic first runs, so
loading the extension costs about a millisecond. The one thing needed before any cell runs is
registered here: the input transformer that lets ``%%llm --prompt NAME`` have an empty body.
"""

from __future__ import annotations

import threading
from typing import Any

from llmops_nb.magic_help import LLM_HELP, PROMPT_HELP

_NO_VAR_EXPAND = "_ipython_magic_no_var_expand"  # IPython.core.magic.MAGIC_NO_VAR_EXPAND_ATTR


def empty_prompt_cell(lines: list[str]) -> list[str]:
    """``%%llm --prompt NAME`` with an empty body is the line form (variables come from the
    notebook); IPython itself refuses a cell magic whose body is empty."""
    if lines and lines[0].startswith("%%llm") and "--prompt" in lines[0] and not "".join(lines[1:]).strip():
        return ["%llm" + lines[0][len("%%llm"):].rstrip("\n") + "\n"]
    return lines


def add_transformer(shell: Any) -> None:
    """Put :func:`empty_prompt_cell` among ``shell``'s input transformers (once)."""
    cleanup = getattr(shell, "input_transformers_cleanup", None)
    if cleanup is not None and empty_prompt_cell not in cleanup:
        cleanup.append(empty_prompt_cell)  # IPython refuses a cell magic with no body


def register(shell: Any) -> None:
    """Register the magics' names on ``shell``; :class:`llmops_nb.magics.LLMMagics` is built
    (once, under a lock) when one of them first runs."""
    add_transformer(shell)
    built: list[Any] = []
    lock = threading.Lock()

    def magics() -> Any:
        with lock:
            if not built:
                from llmops_nb.magics import LLMMagics

                built.append(LLMMagics(shell))
            return built[0]

    def llm(line: str, cell: str | None = None) -> Any:
        return magics().llm(line, cell)

    def prompt(line: str, cell: str) -> None:
        return magics().prompt(line, cell)

    llm.__doc__, prompt.__doc__ = LLM_HELP, PROMPT_HELP  # what %llm? and %%prompt? show
    for function in (llm, prompt):
        setattr(function, _NO_VAR_EXPAND, True)  # {{name}} is ours: IPython must not expand $name / {name}
    shell.register_magic_function(llm, "line_cell", "llm")
    shell.register_magic_function(prompt, "cell", "prompt")
