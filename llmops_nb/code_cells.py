"""``-f code``: which code an answer offers as a cell, and who puts it there.

Only a fenced code block (```` ```python … ``` ````) is code; an answer without one inserts
nothing and says so (prose inserted as code would stop the next Run All on a ``SyntaxError``).

Re-running a cell replaces the cell it inserted, and a notebook never grows on Run All:

* In JupyterLab and Notebook 7 with the llmops-nb extension, the cell the answer went into is
  linked to its source cell by metadata (``llmops_nb.inserted_by`` on it, ``llmops_nb.code_cell``
  on the source cell). The front end sends a cell's metadata with every execution, so once a
  cell has inserted its code the kernel sees the link and leaves the cell to the extension:
  it publishes the code (:data:`MIME`) and the extension writes it into the linked cell (or
  inserts one if that cell is gone). A linked cell edited by hand since is kept as the user
  left it, and the cell says so. The first run inserts through IPython's ``set_next_input``
  (so any front end gets the cell); the extension then links the new cell.
* Elsewhere (no extension: the front end cannot be asked to edit another cell), the code each
  cell inserted is remembered by the cell's id (kept in the state directory, so a restarted
  kernel knows too) or, where there is no id, by its text for the life of the kernel: the same
  code again inserts nothing; different code is inserted and the cell says the earlier one is
  stale.

Every outcome is said in one output: a ``text/plain`` message, and in :data:`MIME` what the
extension needs (the code, whether ``set_next_input`` inserted it, the source cell's id).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_memory: dict[str, str] = {}
_lock = threading.Lock()
INSERT, UNCHANGED, CHANGED, NO_CODE, LINKED = "insert", "unchanged", "changed", "no code", "linked"
MIME = "application/vnd.llmops-nb.code-cell+json"
META_KEY = "llmops_nb"  # the cell-metadata key the extension writes (source and inserted cells)


def code_block(text: str) -> str | None:
    """The first fenced code block of ``text``, or None when it has none."""
    from llmops_nb.render import code_of

    code = code_of(text)
    return None if code == text.strip("\n") or not code.strip() else code


def _request_metadata(shell: Any) -> dict[str, Any]:
    header = getattr(shell, "parent_header", None) or {}
    meta = header.get("metadata") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def cell_id(shell: Any) -> str | None:
    """The executing cell's id, when the front end sent one (JupyterLab and Notebook do)."""
    value = _request_metadata(shell).get("cellId")
    return value if isinstance(value, str) and value else None


def linked_cell(shell: Any) -> str | None:
    """The id of the cell this cell inserted, when the extension linked one (the front end
    sends the executing cell's metadata with the request), else None."""
    ours = _request_metadata(shell).get(META_KEY)
    value = ours.get("code_cell") if isinstance(ours, dict) else None
    return value if isinstance(value, str) and value else None


def cell_key(shell: Any, prompt: str) -> tuple[str, bool]:
    """(key, durable): the executing cell's id when the front end sent one, else its prompt
    (options may change between runs of one cell: ``--no-cache``, another model)."""
    cid = cell_id(shell)
    if cid is not None:
        return "cell:" + cid, True
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
    """Without the extension: what to do with ``code`` for the cell ``key``: INSERT (first
    time), CHANGED (inserted before, different now: insert), UNCHANGED (inserted before:
    nothing) or NO_CODE."""
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
    INSERT: "-f code: inserted the answer's code as a new cell below",
    UNCHANGED: "-f code: this cell already inserted this code in a cell below on an earlier run; "
               "nothing inserted (copy it from the answer above if that cell is gone)",
    CHANGED: "-f code: the answer's code changed: inserted it as a new cell below; the cell an "
             "earlier run inserted is stale, delete it",
    NO_CODE: "-f code: the answer has no fenced code block (```…```): nothing inserted",
    LINKED: "-f code: the answer's code goes into the cell this cell inserted (the llmops-nb "
            "JupyterLab extension writes it there)",
}


@dataclass(frozen=True)
class Plan:
    """What a ``-f code`` cell does with its answer."""

    decision: str  # INSERT, CHANGED, UNCHANGED, NO_CODE or LINKED
    code: str | None
    source_cell: str | None

    @property
    def insert(self) -> bool:
        """Whether the kernel inserts the code itself (``set_next_input``)."""
        return self.decision in (INSERT, CHANGED)

    def bundle(self) -> dict[str, Any]:
        """The output that says what happened (text) and tells the extension (:data:`MIME`)."""
        data: dict[str, Any] = {"text/plain": MESSAGES[self.decision]}
        if self.code is not None:
            data[MIME] = {"version": 1, "code": self.code, "inserted": self.insert,
                          "decision": self.decision, "source_cell": self.source_cell}
        return data


def plan(shell: Any, prompt: str, code: str | None) -> Plan:
    """Decide for the executing cell: linked by the extension → LINKED (the extension writes
    the code into the linked cell); otherwise :func:`decide`."""
    source = cell_id(shell)
    if code is not None and source is not None and linked_cell(shell) is not None:
        return Plan(LINKED, code, source)
    key, durable = cell_key(shell, prompt)
    return Plan(decide(key, durable, code), code, source)


def offer(shell: Any, p: Plan) -> None:
    """Carry out a :class:`Plan`: insert through ``set_next_input`` when the kernel inserts,
    and display the outcome (the message, and the code for the extension)."""
    from IPython.display import display

    if p.insert and shell is not None:
        shell.set_next_input(p.code, replace=False)
    display(p.bundle(), raw=True)
