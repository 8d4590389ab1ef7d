"""The JupyterLab sidebar and the dashboard on a team's tracking server, over HTTP (issue 13 §1).

A real ``mlflow server`` on PostgreSQL (tests/servers.py), started once for this module. The
notebook's kernel is pointed at it with ``MLFLOW_TRACKING_URI`` (set before ``llmops_nb`` is
imported, as a shell would); the shared JupyterLab's own environment still names its local
sqlite store, so what the sidebar shows for this kernel can only have come from the server:
the server extension opens the store the kernel registered, over HTTP. Chromium (Playwright)
opens the "LLM calls" sidebar and the rows must carry the tokens and cost the server holds.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest

from llmops_nb import session as sessions
from tests.jupyter_lab import ARTIFACTS, Lab, browser_page, notebook, open_notebook
from tests.servers import mlflow_server, postgres_server


@pytest.fixture(scope="module")
def team_server() -> Iterator[object]:
    with postgres_server() as pg, mlflow_server(pg.uri()) as server:
        yield server


def mlflow_client(url: str):  # type: ignore[no-untyped-def]
    import mlflow

    return mlflow.MlflowClient(url)


def _server_rows(url: str, experiment: str) -> dict[str, dict[str, str]]:
    """trace id → the llmops tags the tracking server holds for the experiment's traces (the
    packed ``llmops.facts`` unpacked, as every reader reads them)."""
    from llmops_nb.tracking import unpacked

    client = mlflow_client(url)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} on the server"
    traces = client.search_traces(locations=[exp.experiment_id], max_results=100, include_spans=False)
    return {t.info.trace_id: dict(unpacked(t.info.tags)) for t in traces}


def _usd(text: str) -> float:
    found = re.fullmatch(r"\$([0-9.e+-]+)", text.strip())
    assert found, f"not a price: {text!r}"
    return float(found.group(1))


def test_sidebar_lists_the_calls_of_a_kernel_writing_to_the_tracking_server(jupyter_lab: Lab, team_server) -> None:
    experiment = f"team-sidebar-{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex[:8]  # the shared lab's cache is shared too: prompts of our own
    folder = jupyter_lab.folder()
    path = jupyter_lab.write(f"{folder}/team.ipynb", notebook(
        "import os\n"
        f"os.environ['MLFLOW_TRACKING_URI'] = {team_server.url!r}\n"
        f"os.environ['LLMOPS_EXPERIMENT'] = {experiment!r}\n"
        "%load_ext llmops_nb\nimport json, llmops_nb\n"
        "llmops_nb.set_price('sim:*', input_per_mtok=0.15, output_per_mtok=0.60)",
        f"%%llm sim:default --max-tokens 80\nWhy does a team share one tracking server? ({marker})",
        f"_ = llmops_nb.complete('sim:other', 'Say where the traces go ({marker})', max_tokens=40)",
        "llmops_nb.flush()\nfrom llmops_nb import kernel_report\n"
        "print(json.dumps([c['trace_id'] for c in kernel_report.snapshot()['calls']]))",
    ))
    with browser_page(1500, 900) as page:
        open_notebook(page, jupyter_lab.lab_url(path))
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        out = page.locator(".jp-Cell").nth(3).locator(".jp-OutputArea-output")
        out.first.wait_for(timeout=120_000)
        made = json.loads(out.last.inner_text().strip().splitlines()[-1])
        assert len(made) == 2, made

        stored = _server_rows(team_server.url, experiment)  # the ground truth, on the server
        assert set(stored) == set(made)

        page.locator(".jp-llmops-status").click()
        panel = page.locator("#llmops-nb-calls")
        panel.locator(".jp-llmops-toggle").click()  # every running kernel's store: the server extension
        page.wait_for_function(
            "ids => ids.every(id => document.querySelector("
            "`#llmops-nb-calls .jp-llmops-row[data-trace-id=\"${id}\"]`)) &&"
            " /every running kernel/.test(document.querySelector('#llmops-nb-calls .jp-llmops-summary').textContent)",
            arg=made, timeout=60_000)
        assert "Cannot read" not in panel.inner_text()
        for trace_id, tags in stored.items():
            row = panel.locator(f'.jp-llmops-row[data-trace-id="{trace_id}"]')
            cells = row.locator("td").all_inner_texts()  # model, prompt, tokens, cost, ...
            assert cells[0] == tags["llmops.model"]
            assert cells[2] == f"{tags['llmops.input_tokens']}→{tags['llmops.output_tokens']}"
            assert float(tags["llmops.cost_usd"]) > 0
            assert _usd(cells[3]) == pytest.approx(float(tags["llmops.cost_usd"]), rel=0.05)

        # a row opens the stored prompt and answer, read from the server too
        first = made[-1]  # the %%llm cell's call (the snapshot lists the newest first)
        panel.locator(f'.jp-llmops-row[data-trace-id="{first}"]').click()
        page.wait_for_function(
            "() => /answer:|not available/.test(document.querySelector("
            "'#llmops-nb-calls .jp-llmops-trace')?.textContent ?? '')", timeout=60_000)
        trace = panel.locator(".jp-llmops-trace").inner_text()
        # the link opens the trace on the server that holds it (the lab's MLFLOW_UI_URL is
        # for local stores: another server, where this experiment id means nothing)
        link = panel.locator(".jp-llmops-details a.jp-llmops-link")
        link.wait_for(timeout=30_000)
        exp_id = mlflow_client(team_server.url).get_experiment_by_name(experiment).experiment_id
        assert link.get_attribute("href") == (
            f"{team_server.url}/#/experiments/{exp_id}/traces?selectedEvaluationId={first}")
        page.screenshot(path=str(ARTIFACTS / "extension-team-server.png"))
        assert "not available" not in trace, trace
        assert marker in trace and "answer:" in trace

        # the server goes away: the sidebar says so within seconds (MLflow's client alone
        # would retry for minutes), and a trace is "unavailable", not "not found yet"
        kernel = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
        team_server.stop()
        try:
            panel.locator(".jp-llmops-toggle").click()  # this kernel (its own report) ...
            panel.locator(".jp-llmops-toggle").click()  # ... and the stores again
            page.wait_for_function(
                "() => /Cannot read the stores: server said 503/.test("
                "document.querySelector('#llmops-nb-calls .jp-llmops-message')?.textContent ?? '')",
                timeout=20_000)
            status, body, took = _get(jupyter_lab, f"llmops_nb/calls/{first}?kernel={kernel}")
            assert status == 503 and took < 10, (status, body, took)
            assert team_server.url not in body and "does not answer" in body
        finally:
            team_server.start()  # the same port and database, for the next test


def _get(lab: Lab, path: str) -> tuple[int, str, float]:
    """Status, body and seconds of a GET to the Jupyter server (an error status is an answer)."""
    import time
    import urllib.error
    import urllib.request

    from tests.jupyter_lab import TOKEN

    req = urllib.request.Request(f"{lab.base}/{path}", headers={"Authorization": f"token {TOKEN}"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - localhost only
            return r.status, r.read().decode(), time.monotonic() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.monotonic() - t0


def _within(seconds: float, fn, *args):  # type: ignore[no-untyped-def]
    """``fn(*args)``'s result or exception, failing if it takes longer than ``seconds``."""
    import threading

    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{fn.__name__} still waiting after {seconds} s"
    return out


def test_an_unreachable_tracking_server_is_said_at_once_and_spares_the_other_stores(llm) -> None:
    from llmops_nb import jupyter_server_ext as ext
    from tests.servers import free_port

    c = llm.complete("sim:default", "a call in the local store")
    llm.flush()
    local = ext.Store(sessions.session().settings.tracking_uri, sessions.session().settings.experiment)
    down = ext.Store(f"http://user:secret@127.0.0.1:{free_port()}", "team")  # nothing listens there
    for fn, args in ((ext.store_calls, (down,)), (ext.trace_details, (down, c.trace_id)),
                     (ext._find_trace, ([down], c.trace_id))):
        got = _within(10, fn, *args)
        assert isinstance(got.get("error"), ext.StoreUnreachable), (fn.__name__, got)
        assert "secret" not in str(got["error"]) and "127.0.0.1" in str(got["error"])
    rows, unreachable = _within(10, ext._merged_calls, [down, local], 10)["value"]
    assert [r["trace_id"] for r in rows] == [c.trace_id] and unreachable == 1
    assert _within(10, ext._find_trace, [down, local], c.trace_id)["value"]["trace_id"] == c.trace_id
    config = _within(10, ext.store_config, down)["value"]
    assert config["experiment_id"] is None
    assert config["mlflow_ui_url"] == down.tracking_uri.replace("user:secret@", "")  # never the password


def test_a_tracking_server_is_its_own_ui_without_its_credentials() -> None:
    from llmops_nb.jupyter_server_ext import server_ui_url

    assert server_ui_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert server_ui_url("https://alice:pw@mlflow.example/team/?x=1#f") == "https://mlflow.example/team/"
    assert server_ui_url("http://u:p@[::1]:5000/") == "http://[::1]:5000/"
    for local in ("sqlite:///x/mlflow.db", "file:///tmp/mlruns", "databricks", "http://:5000", "http://h:port"):
        assert server_ui_url(local) is None, local


def test_dashboard_reads_the_tracking_server(llm, team_server) -> None:
    from llmops_nb import monitor
    from llmops_nb.widgets import dashboard_widget

    sessions.configure(tracking_uri=team_server.url, experiment=f"team-dashboard-{uuid.uuid4().hex[:8]}")
    llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)
    made = [llm.complete(model, f"question {i}") for i, model in enumerate(["sim:default", "sim:other", "sim:other"])]
    llm.flush()
    stored = _server_rows(team_server.url, sessions.session().settings.experiment)
    assert set(stored) == {c.trace_id for c in made}
    spec = monitor.dashboard().to_dict()  # history() over HTTP: MLflow's search, not SQL
    assert spec["title"]["subtitle"] == "3 calls · 0 failed"
    assert "sim:default" in str(spec) and "sim:other" in str(spec)
    assert monitor.summary(by=None)["calls"].iloc[0] == 3
    by_model = monitor.cost(by="model").set_index("model")["cost_usd"]
    assert by_model["sim:other"] == pytest.approx(sum(float(stored[c.trace_id]["llmops.cost_usd"])
                                                      for c in made if c.model == "sim:other"))
    dash = dashboard_widget()
    assert len(dash.frame) == 3 and "3 calls" in dash.status.value
