"""One version of a named prompt, as a value: its parts, identity (content hash) and notation.

Below both the prompt API (:mod:`llmops_nb.prompts`, which re-exports these) and the registry
that stores versions (:mod:`llmops_nb.prompt_store`), so that neither imports the other's
module, and the pipeline fills a version without importing the prompt API.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmops_nb.errors import MissingVariables
from llmops_nb.templates import MISSING, render, resolve, variables


def format_parts(parts: tuple[tuple[str, str], ...]) -> str:
    """The notation for ``parts`` (``parse_parts(format_parts(p)) == p``), written as a person
    would: user text unmarked where it can be, ``[role] text`` for one-line parts."""
    lines: list[str] = []
    one_line_before = True  # unmarked text at the start, or after a one-line part, is user text
    for role, content in parts:
        single = "\n" not in content
        if role == "user" and one_line_before:
            lines.append(content)
        elif single:
            lines.append(f"[{role}] {content}")
        else:
            lines.extend([f"[{role}]", content])
        one_line_before = single and role != "user"
    return "\n".join(lines)


def content_hash(parts: tuple[tuple[str, str], ...], model: str | None, params: Mapping[str, Any]) -> str:
    """The identity of a prompt version's content: parts, default model and parameters."""
    canonical = json.dumps({"parts": parts, "model": model, "params": dict(params)}, sort_keys=True,
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PromptVersion:
    """One immutable version of a named prompt."""

    name: str
    version: int
    parts: tuple[tuple[str, str], ...]
    content_hash: str
    message: str | None = None
    aliases: tuple[str, ...] = ()
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    created_at_ms: int | None = None

    @property
    def ref(self) -> str:
        """``name@version``, as recorded on every call made from this version."""
        return f"{self.name}@{self.version}"

    @property
    def template(self) -> str:
        """The template in this project's notation."""
        return format_parts(self.parts)

    @property
    def variables(self) -> list[str]:
        """The variables the template uses, in order."""
        return variables(self.template)

    def messages(self, namespace: Mapping[str, Any] | None = None, **values: Any) -> list[dict[str, str]]:
        """The chat messages with variables filled (``values`` win over ``namespace``)."""
        ns = {**(namespace or {}), **values}
        missing = [n for n in self.variables if resolve(n, ns) is MISSING]
        if missing:
            raise MissingVariables(missing)
        return [{"role": role, "content": render(content, ns)} for role, content in self.parts]

    def format(self, **values: Any) -> str:
        """The filled template as text (chat parts keep their ``[role]`` markers)."""
        return render(self.template, values)
