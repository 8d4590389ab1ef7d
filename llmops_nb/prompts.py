"""Versioned prompts: a registry of templates, versions by content hash, aliases, diff.

Templates follow the one grammar of :mod:`llmops_nb.templates` (``render``, ``variables`` and
``VARIABLE`` are re-exported here): only ``{{name}}`` (and ``{{mapping.key}}``,
``{{data_object.field}}``) is a variable; single braces are text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmops_nb.errors import InvalidPromptName, InvalidTemplate, PromptNotFound

# the value of a version lives below this module and the registry (re-exported here)
from llmops_nb.prompt_version import PromptVersion as PromptVersion
from llmops_nb.prompt_version import content_hash as content_hash
from llmops_nb.prompt_version import format_parts as format_parts
from llmops_nb.templates import VARIABLE as VARIABLE  # the grammar's pattern, re-exported
from llmops_nb.templates import check
from llmops_nb.templates import render as render
from llmops_nb.templates import variables as variables

# --- versioned prompts -------------------------------------------------------------------------
#
# Notation: a template is plain text (one user message), or chat parts introduced by a line that
# starts with [system], [user] or [assistant]; the rest of that line and the lines after it are
# the part's content:
#
#     [system] You are a precise technical editor.
#     Summarize {{text}} in at most {{n}} bullet points.
#
# is a one-line system part and a user part. A marker alone on its line opens a block:
#
#     [system]
#     You are a precise technical editor.
#     Never invent facts.
#     [user]
#     Summarize {{text}}.

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_PART = re.compile(r"^\[(system|user|assistant)\][ \t]?", re.IGNORECASE)
RESERVED_ALIASES = frozenset({"latest"})


def parse_parts(template: str) -> tuple[tuple[str, str], ...]:
    """Split the notation into (role, content) parts; checks emptiness and ``{{`` pairing.

    ``[role] text`` is a one-line part; ``[role]`` alone on its line opens a block that runs to
    the next marker. Lines outside any part (before the first marker, or after a one-line
    part) are user text.
    """
    if not template or not template.strip():
        raise InvalidTemplate("the template is empty: write the prompt text in the cell")
    check(template)
    parts: list[list[str]] = []  # [role, text]
    open_block = False
    for line in template.strip("\n").split("\n"):
        mark = _PART.match(line)
        if mark:
            rest = line[mark.end():]
            parts.append([mark.group(1).lower(), rest])
            open_block = not rest.strip()
        elif parts and (open_block or parts[-1][0] == "user"):
            parts[-1][1] += ("\n" if parts[-1][1] else "") + line
        else:
            parts.append(["user", line])
            open_block = True
    out = tuple((role, text.strip("\n")) for role, text in parts if text.strip())
    if not out:
        raise InvalidTemplate("every part of the template is empty: write text after [system]/[user]")
    return out


_REF = re.compile(r"^[A-Za-z0-9_.-]+(?:@[A-Za-z0-9_.-]+)?$")


def is_ref(text: str) -> bool:
    """Whether ``text`` names a registered prompt (``name``, ``name@3``, ``name@alias``) rather
    than being a template: a text with spaces or ``{{…}}`` is a template."""
    return isinstance(text, str) and bool(_REF.match(text))


def name_checked(name: str) -> str:
    """``name`` if the registry accepts it, else InvalidPromptName with the rule."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidPromptName(f"prompt name {name!r} may use only letters, digits, '_', '.' and '-'")
    return name


def alias_checked(alias: str) -> str:
    """``alias`` if usable, else InvalidPromptName (``latest`` is reserved by MLflow)."""
    name_checked(alias)
    if alias.lower() in RESERVED_ALIASES or alias.isdigit():
        raise InvalidPromptName(f"alias {alias!r} is reserved: pick another name, e.g. 'production'")
    return alias


class PromptRegistration:
    """What ``register`` did: the version, whether it is new, and the one before it."""

    def __init__(self, version: PromptVersion, created: bool, previous: PromptVersion | None) -> None:
        self.version, self.created, self.previous = version, created, previous

    def diff(self) -> str:
        """Unified diff of the previous version's template against this one ('' if none)."""
        return _unified(self.previous, self.version) if self.previous else ""


def _unified(a: PromptVersion, b: PromptVersion) -> str:
    import difflib

    lines = difflib.unified_diff(_described(a).splitlines(), _described(b).splitlines(),
                                 fromfile=a.ref, tofile=b.ref, lineterm="")
    return "\n".join(lines)


def _described(v: PromptVersion) -> str:
    extra = [f"# model: {v.model}"] if v.model else []
    extra += [f"# {k}: {val}" for k, val in sorted(v.params.items())]
    return "\n".join([v.template, *extra])


def _store() -> Any:
    from llmops_nb.session import session

    return session().prompt_store


def register(name: str, template: str, *, message: str | None = None, aliases: tuple[str, ...] | list[str] = (),
             model: str | None = None, params: Mapping[str, Any] | None = None) -> PromptRegistration:
    """Register ``template`` as a new version of ``name`` only if its content changed.

    Content is the parsed template plus default ``model`` and ``params``; the same content as
    the latest version is a no-op that names that version (no duplicate in MLflow, also across
    kernel restarts). ``aliases`` are then pointed at the version.
    """
    name_checked(name)
    aliases = tuple(alias_checked(a) for a in aliases)
    if model is not None:
        from llmops_nb.providers.base import split_model_id

        split_model_id(model)
    parts = parse_parts(template)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    digest = content_hash(parts, model, params)
    store = _store()
    latest = store.latest_known(name, digest) or store.latest(name)
    if latest is not None and latest.content_hash == digest:
        version, created, previous = latest, False, None  # unchanged: nothing to diff
    else:
        version = store.create(name, parts, digest, message, model, params)
        created, previous = True, latest
    for alias in aliases:
        store.set_alias(name, alias, version.version)
    if aliases:
        version = store.get(name, version.version)
    return PromptRegistration(version, created, previous)


def get(ref: str | PromptVersion, version: int | str | None = None) -> PromptVersion:
    """A version by ``"name"`` (latest), ``"name@3"``, ``"name@alias"`` or ``version=``."""
    if isinstance(ref, PromptVersion):
        return ref
    name, _, selector = str(ref).partition("@")
    name_checked(name)
    selector = str(version) if version is not None else selector
    store = _store()
    if not selector or selector.lower() == "latest":
        found = store.latest(name)
        if found is None:
            raise PromptNotFound(f"no prompt named {name!r}: define it with %%prompt {name} (or prompts.register)")
        return found
    if selector.isdigit():
        return store.get(name, int(selector))
    return store.by_alias(name, selector)


def versions(name: str) -> list[PromptVersion]:
    """Every version of ``name``, oldest first."""
    return _store().versions(name_checked(name))


def list_prompts() -> list[PromptVersion]:
    """The latest version of every prompt in the store."""
    return _store().latest_of_all()


def diff(name: str, a: int | str, b: int | str) -> str:
    """Unified diff between two versions (numbers or aliases) of ``name``."""
    return _unified(get(name, a), get(name, b))


def set_alias(name: str, alias: str, version: int) -> PromptVersion:
    """Point ``alias`` at ``version`` (remembering where it pointed, for ``rollback``)."""
    store = _store()
    target = store.get(name_checked(name), int(version))
    store.set_alias(name, alias_checked(alias), target.version)
    return store.get(name, target.version)


def rollback(name: str, alias: str = "production") -> PromptVersion:
    """Move ``alias`` back to the version it held before its last move."""
    return _store().rollback(name_checked(name), alias_checked(alias))


def complete(model: str | None = None, *, prompt: str | PromptVersion, variables: Mapping[str, Any] | None = None,
             **kwargs: Any) -> Any:
    """:func:`llmops_nb.complete` with a registered prompt (``"summarize@production"`` or a version)."""
    from llmops_nb.pipeline import complete as run

    return run(model, get(prompt), variables=variables, **kwargs)
