"""What a kernel reports to the JupyterLab extension (llmops_nb.kernel_report): its spend — the
figures `%llm cost` prints — for every kind of call, and its latest calls' facts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmops_nb import kernel_report

ROOT = Path(__file__).resolve().parents[1]


def test_snapshot_is_the_spend_of_every_call(ip, llm, capsys) -> None:  # type: ignore[no-untyped-def]
    """Magics, complete(), compare() (threads), cache hits, unpriced models and failures: the
    snapshot's spend is what `%llm cost` says; its calls list all of them, newest first."""
    from llmops_nb.comparison import compare

    llm.set_price("sim:default", input_per_mtok=0.15, output_per_mtok=0.60)
    ip.run_cell_magic("llm", "sim:default", "Say hi")
    ip.run_cell_magic("llm", "sim:default", "Say hi")  # a cache hit
    llm.complete("sim:default", "An API call")
    llm.complete("sim:unpriced-model", "No price for me")
    compare(["sim:default", "sim:other"], ["Compare {{x}}"], [{"x": "a"}, {"x": "b"}], progress=False)
    with pytest.raises(llm.LLMOpsError):
        llm.complete("sim:default", "boom", max_cost=1e-12)  # refused before sending
    capsys.readouterr()

    from llmops_nb.session import spend as session_spend

    snap = kernel_report.snapshot()
    spend = session_spend()
    assert snap["spend"] == spend
    assert spend["calls"] == 8 and spend["cached_calls"] == 1 and spend["in_flight"] == 0
    answered = [c for c in snap["calls"] if c["status"] == "OK" and not c["cached"]]
    assert spend["unpriced_calls"] == sum(c["cost_usd"] is None for c in answered)  # counted apart
    assert spend["input_tokens"] > 0 and spend["output_tokens"] > 0

    ip.run_line_magic("llm", "cost")
    printed = capsys.readouterr().out
    assert re.search(rf"\b{spend['calls']} calls?\b", printed), printed
    assert f"${spend['spent_usd']:.6f}" in printed, printed

    calls = snap["calls"]
    assert len(calls) == 8 and calls[0]["started_at"] >= calls[-1]["started_at"]
    assert {c["model"] for c in calls} >= {"sim:default", "sim:unpriced-model", "sim:other"}
    assert sum(c["cached"] for c in calls) == 1
    assert all("text" not in c and "request" not in c for c in calls)  # facts only: no prompt, no answer
    json.dumps(snap, allow_nan=False)


def test_snapshot_displays_as_json(llm) -> None:  # type: ignore[no-untyped-def]
    """The front end reads it off user_expressions: application/json, and JSON as text/plain."""
    from IPython.core.formatters import DisplayFormatter

    llm.complete("sim:default", "hello")
    data, _ = DisplayFormatter().format(kernel_report.snapshot())
    assert data["application/json"]["spend"]["calls"] == 1
    assert json.loads(data["text/plain"])["spend"]["calls"] == 1


def test_the_extension_asks_for_the_same_expression() -> None:
    source = (ROOT / "extension" / "src" / "store.ts").read_text()
    found = re.search(r"SNAPSHOT_EXPRESSION =\s*((?:\"[^\"]*\"\s*\+?\s*)+);", source)
    assert found, "SNAPSHOT_EXPRESSION not found in store.ts"
    assert "".join(re.findall(r"\"([^\"]*)\"", found.group(1))) == kernel_report.EXPRESSION


def test_expression_imports_nothing_in_a_kernel_without_llmops_nb() -> None:
    import subprocess
    import sys

    code = f"import sys; print(repr(eval({kernel_report.EXPRESSION!r}))); print('llmops_nb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["None", "False"]


def test_register_writes_beside_the_connection_file(llm, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    connection = tmp_path / "kernel-1234.json"
    monkeypatch.setattr(kernel_report, "_connection_file", lambda: connection)
    monkeypatch.setattr(kernel_report, "_registered", {})
    path = kernel_report.register()
    assert path == tmp_path / "llmops_nb-kernel-1234.json"
    report = json.loads(path.read_text())
    assert report["tracking_uri"] == llm.settings().tracking_uri and report["experiment"] == llm.settings().experiment
    assert path.stat().st_mode & 0o077 == 0  # only the user reads it
    llm.configure(experiment="moved")
    kernel_report.snapshot()  # refreshes the registration after configure()
    assert json.loads(path.read_text())["experiment"] == "moved"
    kernel_report._unregister()
    assert not path.exists()


def test_register_outside_a_kernel_does_nothing(llm) -> None:  # type: ignore[no-untyped-def]
    assert kernel_report.register() is None
