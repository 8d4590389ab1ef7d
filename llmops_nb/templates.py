"""The one template grammar: ``{{variables}}`` filled from a namespace, exactly once.

Grammar (the same for ``%%llm`` cells, ``-s`` system prompts, ``%%prompt`` and the Python API):

- ``{{name}}`` (spaces inside allowed) is a variable; ``{{a.b}}`` reads key ``b`` of mapping
  ``a``, or field ``b`` of a plain data object (dataclass, namedtuple, ``SimpleNamespace``,
  pydantic model).
- Single braces are text, so JSON, dict comprehensions, LaTeX, f-strings and ``$5`` pass
  untouched; so does a ``{{…}}`` that is not shaped like a name (``{{ 1 + 2 }}``).
- Anything that tries to be a variable and is not one is :class:`InvalidTemplate`, before
  anything is sent: an unclosed ``{{topic``, a stray ``topic}}``, an empty ``{{}}``, a name
  that is not an identifier (``{{1abc}}``), a filter or expression (``{{topic|upper}}``).

What a variable may read: a name starting with ``_`` never, a module, function, class or
other callable never, and through a dot only mapping keys and the public fields of plain data
objects — never an object's attributes in general (``{{os.environ.HOME}}``,
``{{f.__globals__}}`` are :class:`InvalidVariable`). A value that itself contains ``{{…}}`` is
inserted as is, never expanded again; a value whose ``str()`` fails is ``InvalidVariable``.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from typing import Any

from llmops_nb.errors import InvalidTemplate, InvalidVariable, MissingVariables

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
# one scan over what matters to the grammar: a {{…}} pair (no "{{" inside), a lone "{{" or
# "}}", and single braces (their depth tells a JSON "}}" from a stray one)
_TOKEN = re.compile(r"\{\{((?:(?!\{\{)[^}]|\}(?!\}))*)\}\}|\{\{|\}\}|\{|\}")
_NAME_LIKE = re.compile(r"\s*[\w.]*\s*")
_STARTS_LIKE_NAME = re.compile(r"\s*[A-Za-z_][\w.]*")
MISSING = object()


def _snippet(template: str, at: int) -> str:
    return template[at : at + 24].replace("\n", " ")


def _check_pair(template: str, at: int, body: str) -> None:
    if VARIABLE.fullmatch("{{" + body + "}}"):
        return
    shown = "{{" + body + "}}"
    if not body.strip():
        raise InvalidTemplate("empty '{{}}': write a variable name inside, e.g. {{topic}}")
    if _NAME_LIKE.fullmatch(body):
        raise InvalidTemplate(f"{shown!r} is not a variable name: a name starts with a letter or '_' "
                              "and has letters, digits and '_' ({{a.b}} reads key or field b of a)")
    head = _STARTS_LIKE_NAME.match(body)
    if head is None:
        return  # not shaped like a variable ({{ 1 + 2 }}, {{"a": 1}}): text
    rest = body[head.end():].lstrip()
    if rest.startswith("|"):
        raise InvalidTemplate(f"{shown!r}: filters are not supported; transform the value in Python and "
                              f"pass the result as a variable")
    if "\n" in body or "{" in body:
        raise InvalidTemplate(f"unbalanced '{{{{' at {_snippet(template, at)!r}: close it with '}}}}' "
                              "(variables are written {{name}})")
    raise InvalidTemplate(f"{shown!r} is not a variable: only {{{{name}}}} and {{{{a.b}}}} are filled "
                          "(no expressions); compute the value in Python")


def check(template: str) -> None:
    """InvalidTemplate if ``template`` has a malformed ``{{…}}`` (see the module docstring)."""
    if "{{" not in template and "}}" not in template:
        return
    depth = 0
    for m in _TOKEN.finditer(template):
        token = m.group(0)
        if m.group(1) is not None:
            _check_pair(template, m.start(), m.group(1))
        elif token == "{{":
            raise InvalidTemplate(f"unbalanced '{{{{' at {_snippet(template, m.start())!r}: close it with '}}}}' "
                                  "(variables are written {{name}})")
        elif token == "}}":
            if depth == 0:
                where = template[max(0, m.start() - 20) : m.end()].replace("\n", " ")
                raise InvalidTemplate(f"stray '}}}}' in {where!r}: open the variable with '{{{{' "
                                      "(variables are written {{name}})")
            depth = max(0, depth - 2)
        elif token == "{":
            depth += 1
        else:
            depth = max(0, depth - 1)


def variables(template: str) -> list[str]:
    """The variable names a template uses, in order of first use."""
    return list(dict.fromkeys(m.group(1) for m in VARIABLE.finditer(template)))


def _plain_fields(value: Any) -> Mapping[str, Any] | None:
    """The public fields of a plain data object (None: not one)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    names = getattr(type(value), "_fields", None)
    if isinstance(value, tuple) and isinstance(names, tuple):  # namedtuple
        return dict(zip(names, value, strict=False))
    if isinstance(value, types.SimpleNamespace):
        return vars(value)
    model_fields = getattr(type(value), "model_fields", None)  # pydantic v2
    if isinstance(model_fields, Mapping) and hasattr(value, "model_dump"):
        return {name: getattr(value, name) for name in model_fields}
    return None


def _forbidden(value: Any) -> str | None:
    if isinstance(value, types.ModuleType):
        return "a module"
    if isinstance(value, type):
        return "a class"
    if callable(value):
        return "a function or other callable"
    return None


def resolve(path: str, namespace: Mapping[str, Any]) -> Any:
    """The value of variable ``path`` (``MISSING`` when absent); InvalidVariable when it may
    not be read (see the module docstring)."""
    parts = path.split(".")
    if any(p.startswith("_") for p in parts):
        raise InvalidVariable(path, "names starting with '_' are never read by templates")
    value = namespace.get(parts[0], MISSING)
    for i, part in enumerate(parts[1:], start=1):
        if value is MISSING:
            return MISSING
        if isinstance(value, Mapping):
            value = value.get(part, MISSING)
            continue
        fields = _plain_fields(value)
        if fields is None:
            owner = ".".join(parts[:i])
            raise InvalidVariable(path, f"{owner} is a {type(value).__name__}; templates read only mapping keys "
                                        "and fields of plain data objects (dataclass, namedtuple, "
                                        "SimpleNamespace, pydantic model): pass the value itself as a variable")
        value = fields.get(part, MISSING)
    if value is not MISSING:
        kind = _forbidden(value)
        if kind is not None:
            raise InvalidVariable(path, f"is {kind}; templates read plain values only")
    return value


def _text(name: str, value: Any) -> str:
    try:
        text = str(value)
    except Exception as exc:  # a user object whose __str__ fails
        raise InvalidVariable(name, f"its value could not become text ({type(exc).__name__}: {exc})") from None
    if not isinstance(text, str):
        raise InvalidVariable(name, "its value could not become text")
    return text


def render(template: str, namespace: Mapping[str, Any]) -> str:
    """Fill every ``{{name}}`` from ``namespace``, once. InvalidTemplate for a malformed
    template, MissingVariables listing every absent name, InvalidVariable for one that may
    not be read — all before anything is sent."""
    check(template)
    values = {name: resolve(name, namespace) for name in variables(template)}
    missing = [name for name, value in values.items() if value is MISSING]
    if missing:
        raise MissingVariables(missing)
    texts = {name: _text(name, value) for name, value in values.items()}
    return VARIABLE.sub(lambda m: texts[m.group(1)], template)
