"""``re`` with compilation deferred to a pattern's first use, for the scanners' module-level patterns.

The scanner modules hold ~400 patterns; compiling them all at import cost ~150 ms of CPU on a
fresh process's first scan, though a typical text reaches a few dozen (most rules are gated by a
literal or a trigger word first). A module does ``from llmops_nb.guardrails import lazy_re as
re``: :func:`compile` returns a :class:`LazyPattern`, which compiles on its first method call
and then keeps the compiled pattern's bound methods as its own attributes — after the first use a
call costs what it costs on a compiled pattern. Everything else is :mod:`re`'s own (the
module-level functions accept a :class:`LazyPattern` too).

Not for patterns whose compile errors must surface at once (user-given regexes: use :mod:`re`).
"""

from __future__ import annotations

import re as _re
from re import (  # noqa: F401  (re-exported: the modules use them as ``re.X``)
    ASCII,
    DOTALL,
    IGNORECASE,
    MULTILINE,
    VERBOSE,
    A,
    I,
    M,
    Match,
    Pattern,
    S,
    X,
    error,
    escape,
)
from typing import Any

created = 0  # patterns made through :func:`compile` in this process, and how many have been compiled
compiled_count = 0
_METHODS = ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split", "scanner")


class LazyPattern:
    """A pattern compiled on first use (see the module docstring)."""

    __slots__ = ("pattern", "flags", "_compiled", *_METHODS)

    def __init__(self, pattern: str, flags: int = 0) -> None:
        global created
        self.pattern, self.flags = pattern, flags
        created += 1

    def compiled(self) -> _re.Pattern[str]:
        try:
            return self._compiled
        except AttributeError:
            global compiled_count
            rx = _re.compile(self.pattern, self.flags)
            compiled_count += 1
            for name in _METHODS:  # bound methods of the compiled pattern: no indirection afterwards
                setattr(self, name, getattr(rx, name))
            self._compiled = rx
            return rx

    def __getattr__(self, name: str) -> Any:  # only for attributes not set yet (slots unset, groupindex …)
        if name.startswith("__") or name == "_compiled":
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __repr__(self) -> str:
        return f"lazy_re.compile({self.pattern!r})"


def compile(pattern: str | LazyPattern | _re.Pattern[str], flags: int = 0) -> Any:  # noqa: A001
    if isinstance(pattern, LazyPattern):
        return pattern
    if isinstance(pattern, _re.Pattern):
        return pattern
    return LazyPattern(pattern, flags)


def _real(pattern: Any) -> Any:
    return pattern.compiled() if isinstance(pattern, LazyPattern) else pattern


def search(pattern: Any, string: str, flags: int = 0) -> _re.Match[str] | None:
    return _re.search(_real(pattern), string, flags)


def match(pattern: Any, string: str, flags: int = 0) -> _re.Match[str] | None:
    return _re.match(_real(pattern), string, flags)


def fullmatch(pattern: Any, string: str, flags: int = 0) -> _re.Match[str] | None:
    return _re.fullmatch(_real(pattern), string, flags)


def finditer(pattern: Any, string: str, flags: int = 0) -> Any:
    return _re.finditer(_real(pattern), string, flags)


def findall(pattern: Any, string: str, flags: int = 0) -> list[Any]:
    return _re.findall(_real(pattern), string, flags)


def sub(pattern: Any, repl: Any, string: str, count: int = 0, flags: int = 0) -> str:
    return _re.sub(_real(pattern), repl, string, count=count, flags=flags)


def subn(pattern: Any, repl: Any, string: str, count: int = 0, flags: int = 0) -> tuple[str, int]:
    return _re.subn(_real(pattern), repl, string, count=count, flags=flags)


def split(pattern: Any, string: str, maxsplit: int = 0, flags: int = 0) -> list[Any]:
    return _re.split(_real(pattern), string, maxsplit=maxsplit, flags=flags)
