"""``%%llm -f code``, the kernel's side of "re-running replaces the cell it inserted" (12.8).

JupyterLab sends the executing cell's metadata with the request; once the extension linked the
cell to the one it inserted (``llmops_nb.code_cell``), the kernel inserts nothing itself and
offers the code to the extension (extension/src/codecell.ts writes it into the linked cell;
tests/test_extension_browser.py runs both in a real browser).
"""

from __future__ import annotations

import pytest
from IPython.utils.capture import capture_output

from llmops_nb import code_cells
from llmops_nb.providers import sim

CODE = "Here:\n```python\nanswer = 42\n```\n"


@pytest.fixture
def inserted(ip, monkeypatch):  # type: ignore[no-untyped-def]
    out: list[str] = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: out.append(text))
    code_cells._memory.clear()
    return out


def _as_cell(ip, monkeypatch, metadata: dict) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ip, "parent_header", {"metadata": metadata}, raising=False)


def _offer(cap) -> dict:  # type: ignore[no-untyped-def]
    return cap.outputs[-1].data


def test_a_linked_cell_leaves_the_insertion_to_the_extension(ip, inserted, monkeypatch):
    sim.configure_model("kcoder1", reply=CODE)
    _as_cell(ip, monkeypatch, {"cellId": "src-1", "llmops_nb": {"code_cell": "ins-1"}, "deletedCells": []})
    for _ in range(3):  # Run All, three times: the kernel never inserts a cell
        with capture_output() as cap:
            ip.run_cell_magic("llm", "sim:kcoder1 -f code", "write code")
    assert inserted == []
    offer = _offer(cap)[code_cells.MIME]
    assert offer == {"version": 1, "code": "answer = 42", "inserted": False, "decision": "linked",
                     "source_cell": "src-1"}
    assert "the cell this cell inserted" in _offer(cap)["text/plain"]
    assert "inserted as a new cell" not in cap.outputs[-2].data["text/html"]  # the answer, as markdown


def test_the_first_run_inserts_and_offers_the_code_for_linking(ip, inserted, monkeypatch):
    sim.configure_model("kcoder2", reply=CODE)
    _as_cell(ip, monkeypatch, {"cellId": "src-2"})
    with capture_output() as cap:
        ip.run_cell_magic("llm", "sim:kcoder2 -f code", "write code")
    assert inserted == ["answer = 42"]
    offer = _offer(cap)[code_cells.MIME]
    assert offer["inserted"] is True and offer["source_cell"] == "src-2" and offer["code"] == "answer = 42"


def test_no_code_block_offers_nothing_and_says_so(ip, inserted, monkeypatch):
    sim.configure_model("kprose", reply="Only words here.")
    _as_cell(ip, monkeypatch, {"cellId": "src-3", "llmops_nb": {"code_cell": "ins-3"}})
    with capture_output() as cap:
        ip.run_cell_magic("llm", "sim:kprose -f code", "write code")
    assert inserted == [] and code_cells.MIME not in _offer(cap)
    assert "no fenced code block" in _offer(cap)["text/plain"]


@pytest.mark.parametrize("meta", [{"llmops_nb": {"code_cell": "x"}},  # no cell id: not JupyterLab
                                  {"cellId": "c", "llmops_nb": "garbage"}, {"cellId": "c", "llmops_nb": {"code_cell": 3}}])
def test_a_link_needs_a_cell_id_and_a_well_formed_entry(ip, inserted, monkeypatch, meta):
    sim.configure_model("kcoder4", reply=CODE)
    _as_cell(ip, monkeypatch, meta)
    ip.run_cell_magic("llm", "sim:kcoder4 -f code", "write code")
    assert inserted == ["answer = 42"]
