"""Which limit cut an answer short: the request's ``max_tokens``, the context window, or one
we cannot tell — so a footer never blames ``max_tokens`` for what the context window did.

A provider says only *that* it stopped (OpenAI ``finish_reason: "length"``, Anthropic
``stop_reason: "max_tokens"``; Anthropic's ``"model_context_window_exceeded"`` names the window
itself). The rest is measured: the answer's output tokens against the ``max_tokens`` asked
for, and input plus output against the model's context window when it is known (from the
provider, ``configure(context_windows=...)`` or the built-in table).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmops_nb.types import Usage

CUT_FINISH_REASONS = frozenset({"length", "max_tokens", "model_context_window_exceeded"})


@dataclass(frozen=True)
class Cut:
    """Why an answer stopped early: ``by`` is ``"max_tokens"``, ``"context_window"`` or
    ``"unknown"``; ``detail`` completes "cut …" for people."""

    by: str
    detail: str


def why_cut(finish_reason: str | None, usage: Usage, max_tokens: int | None, context_window: int | None) -> Cut | None:
    """The limit that cut the answer, or None when it was not cut."""
    if finish_reason not in CUT_FINISH_REASONS:
        return None
    used = f"input {usage.input_tokens} + output {usage.output_tokens} = {usage.total_tokens}"
    if finish_reason == "model_context_window_exceeded":
        return Cut("context_window", f"by the context window ({used})")
    if max_tokens is not None and usage.output_tokens >= max_tokens:
        return Cut("max_tokens", f"at max_tokens ({max_tokens})")
    if context_window is not None and usage.total_tokens >= context_window:
        return Cut("context_window", f"by the context window ({used})")
    if max_tokens is not None:
        return Cut("unknown", f"(limit unknown: {used}, max_tokens {max_tokens} not reached)")
    return Cut("unknown", f"(limit unknown: {used})")
