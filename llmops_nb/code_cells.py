"""``-f code``: which code an answer offers as a new cell, and whether a cell already inserted it.

Only a fenced code block (```` ```python … ``` ````) is code; an answer without one inserts
nothing (prose inserted as code would stop the next Run All on a ``SyntaxError``).

Re-running a cell does not insert its code again: the code each cell inserted is remembered
by the cell's id (JupyterLab and Notebook send it with every execution; remembered in the
state directory, so a restarted kernel knows too) or, where there is no id, by the cell's
text for the life of the kernel. The same code again inserts nothing; different code (the
answer changed) is inserted, and the cell says the earlier one is stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

_memory: dict[str, str] = {}
_lock = threading.Lock()
INSERT, UNCHANGED, CHANGED, NO_CODE = "insert", "unchanged", "changed", "no code"


def code_block(text: str) -> str | None:
    """The first fenced code block of ``text``, or None when it has none."""
    from llmops_nb.render import code_of

    code = code_of(text)
    return None if code == text.strip("\n") or not code.strip() else code


def cell_key(shell: Any, prompt: str) -> tuple[str, bool]:
    """(key, durable): the executing cell's id when the front end sent one, else its prompt
    (options may change between runs of one cell: ``--no-cache``, another model)."""
    header = getattr(shell, "parent_header", None) or {}
    cell_id = (header.get("metadata") or {}).get("cellId") if isinstance(header, dict) else None
    if isinstance(cell_id, str) and cell_id:
        return "cell:" + cell_id, True
    return "text:" + hashlib.sha256(prompt.encode()).hexdigest(), False


def _store_path() -> Path:
    from llmops_nb.config import settings

    return Path(settings().home) / "inserted_code.json"


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def decide(key: str, durable: bool, code: str | None) -> str:
    """What to do with ``code`` for the cell ``key``: INSERT (first time), CHANGED (inserted
    before, different now: insert), UNCHANGED (inserted before: nothing) or NO_CODE."""
    if code is None:
        return NO_CODE
    digest = hashlib.sha256(code.encode()).hexdigest()
    with _lock:
        path = _store_path() if durable else None
        known = _read(path) if path is not None else _memory
        before = known.get(key)
        if before == digest:
            return UNCHANGED
        known[key] = digest
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(known), encoding="utf-8")
                os.replace(tmp, path)
            except OSError:
                _memory[key] = digest  # the state dir is not writable: this kernel remembers
        return INSERT if before is None else CHANGED


MESSAGES = {
    UNCHANGED: "-f code: this cell already inserted this code in a cell below on an earlier run; "
               "nothing inserted (copy it from the answer above if that cell is gone)",
    CHANGED: "-f code: the answer's code changed: inserted it as a new cell below; the cell an "
             "earlier run inserted is stale, delete it",
    NO_CODE: "-f code: the answer has no fenced code block (```…```): nothing inserted",
}
