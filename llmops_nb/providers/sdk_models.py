"""Build the SDKs' deferred pydantic models once, in one thread, before calls use them.

The ``openai`` and ``anthropic`` SDKs declare their models with ``defer_build=True``: a model's
schema is built the first time an answer is parsed into it. pydantic's ``model_rebuild`` is not
thread-safe: when several threads parse their first answers at once, one thread can delete the
schema another has just built, and a third then reads ``BaseModel``'s placeholder and fails with
"BaseModel cannot be instantiated directly" (16-32 concurrent first calls, a few runs in a
hundred — the raw SDK does it too). A provider builds, under its lock and before its first call
is sent, every model reachable from the types its answers are parsed into.
"""

from __future__ import annotations

import threading
import typing
from collections.abc import Iterable
from typing import Any

_lock = threading.Lock()
_built: set[tuple[int, ...]] = set()  # ids of the roots already built (they live as long as their SDK)


def reachable_models(roots: Iterable[Any]) -> list[type]:
    """Every pydantic model class reachable from ``roots`` through field annotations
    (unions, ``Annotated``, lists, generics), roots first."""
    import pydantic

    seen: set[int] = set()
    todo, out = list(roots), []
    while todo:
        t = todo.pop(0)
        if id(t) in seen:
            continue
        seen.add(id(t))
        if isinstance(t, type) and issubclass(t, pydantic.BaseModel):
            out.append(t)
            todo.extend(f.annotation for f in t.model_fields.values())
        todo.extend(typing.get_args(t))
    return out


def build_models(*roots: Any) -> int:
    """Build the schemas of every model reachable from ``roots`` that is not built yet, once per
    root per process; returns how many were built."""
    key = tuple(map(id, roots))
    with _lock:
        if key in _built:
            return 0
        count = 0
        for model in reversed(reachable_models(roots)):  # leaves first: outer models reuse them
            if not model.__dict__.get("__pydantic_complete__", False):
                model.model_rebuild()
                count += 1
        _built.add(key)
        return count
