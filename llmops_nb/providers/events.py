"""What a provider's ``generate`` yields: :class:`TextDelta` pieces, then one :class:`Final`.

Below the provider registry (:mod:`llmops_nb.providers.base`, which re-exports these) and the
providers themselves, so a provider module does not import the registry that may build it.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmops_nb.types import Usage


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class Final:
    """The end of an answer: usage as reported by the provider, and why it stopped."""

    usage: Usage
    finish_reason: str | None = None
    response_model: str | None = None
    context_window: int | None = None  # the model's context window, when the provider says it


ProviderEvent = TextDelta | Final
