"""Groups of calls that belong together and share one MLflow run (a cell, a comparison).

The pipeline asks :func:`current_group` on every call, so this stays a module of its own, apart
from :mod:`llmops_nb.tracking` (the read side, which imports the exporter): a first call needs
neither.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    """Calls that belong together and share one MLflow run (a cell, a comparison)."""

    id: str
    name: str
    budget_usd: float | None = None


_group: contextvars.ContextVar[Group | None] = contextvars.ContextVar("llmops_group", default=None)


def current_group() -> Group | None:
    """The group calls made now belong to, if any."""
    return _group.get()


@contextlib.contextmanager
def group(name: str, *, budget_usd: float | None = None, group_id: str | None = None) -> Iterator[Group]:
    """Group the calls made inside the block into one MLflow run named ``name``.

    ``budget_usd`` caps what the group's calls may spend (checked before each call);
    ``group_id`` rejoins an earlier group (its MLflow run), e.g. an experiment run in several
    steps. Nested groups keep the outer one, so a comparison made inside a cell is one run.
    """
    outer = _group.get()
    if outer is not None:
        yield outer
        return
    token = _group.set(Group(group_id or uuid.uuid4().hex, name, budget_usd))
    try:
        yield _group.get()  # type: ignore[misc]
    finally:
        _group.reset(token)
