"""Prompt assembly: ``{{variables}}`` filled from a namespace, exactly once.

Only ``{{name}}`` (and ``{{obj.attr}}``, ``{{mapping.key}}``) is a variable; single braces are
text, so JSON, dict comprehensions, LaTeX, f-strings and ``$5`` pass untouched. A value that
itself contains ``{{…}}`` is inserted as is, never expanded again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmops_nb.errors import MissingVariables

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
_MISSING = object()


def variables(template: str) -> list[str]:
    """The variable names a template uses, in order of first use."""
    return list(dict.fromkeys(m.group(1) for m in VARIABLE.finditer(template)))


def _resolve(path: str, namespace: Mapping[str, Any]) -> Any:
    head, *rest = path.split(".")
    value = namespace.get(head, _MISSING)
    for part in rest:
        if value is _MISSING:
            break
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            value = getattr(value, part, _MISSING)
    return value


def render(template: str, namespace: Mapping[str, Any]) -> str:
    """Fill every ``{{name}}`` from ``namespace``; MissingVariables lists all that are absent."""
    values = {name: _resolve(name, namespace) for name in variables(template)}
    missing = [name for name, value in values.items() if value is _MISSING]
    if missing:
        raise MissingVariables(missing)
    return VARIABLE.sub(lambda m: str(values[m.group(1)]), template)
