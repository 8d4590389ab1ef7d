"""Screenshot the MLflow UI showing llmops_nb traces (tokens, cost, state, linked run).

    python scripts/mlflow_ui_screenshot.py --out docs/images

Steps: record a handful of ``sim:`` calls through ``llmops_nb`` into a fresh SQLite store in a
temp dir (a streamed call, a ``group`` of two calls, a failing call, a cache hit), start
``mlflow server`` on a free local port, drive Debian's Chromium (``/usr/bin/chromium``) through
Playwright, and write full-page PNGs:

- ``mlflow_traces.png``        the experiment's Traces tab with Trace name, Run name, Tokens, Cost
- ``mlflow_trace_detail.png``  one grouped call's trace, with the span's token breakdown popover
- ``mlflow_trace_header_cost.png``  the same trace, the header's cost breakdown popover. The
                               header reads the trace's ``mlflow.trace.cost`` metadata (which
                               carries the call's exact cost); MLflow 3.17's drawer header rounds
                               its total to cents (``$0.00`` for a $0.000047 call) while the
                               breakdown and the span show six decimals — see ``header_cost``
- ``mlflow_trace_error.png``   the failed (HTTP 429) call's trace
- ``mlflow_run_traces.png``    the group's run, Traces tab (the traces linked to the run), with
                               the ``llmops.cost_usd`` tag as a column (that table has no Cost)

Needs ``apt-get install chromium`` and ``pip install playwright`` (no ``playwright install``).
Every wait is bounded; the server (its whole process group) is stopped at the end.
``--store DIR`` reuses an existing store (``DIR/mlflow.db``) instead of recording new calls.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
EXPERIMENT = "quickstart"
VIEWPORT = {"width": 1400, "height": 900}
UI_TIMEOUT_MS = 30_000


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_MODEL_CATALOG_URI": "",
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    return env


# --------------------------------------------------------------------------- store


def record_calls(home: Path) -> None:
    """Make the demo calls through llmops_nb (run in a child process: see ``generate_store``)."""
    os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_MODEL_CATALOG_URI": ""})
    import llmops_nb as llm
    from llmops_nb.providers import sim

    llm.configure(home=str(home), tracking_uri=f"sqlite:///{home}/mlflow.db", experiment=EXPERIMENT)
    llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)
    llm.complete("sim:default", "Explain prompt caching in two sentences.", stream=True)
    with llm.group("cell [1]"):
        llm.complete("sim:default", "Name three LLM metrics.")
        llm.complete("sim:default", "What is time to first token?")
    sim.configure_model("flaky", failures=["429"] * 3, retry_after_s=0.05)  # retries spent: an error
    try:
        llm.complete("sim:flaky", "This call will be rate limited.")
    except Exception as exc:  # the injected 429, recorded as a failed call
        print(f"expected failure: {type(exc).__name__}: {exc}")
    hit = llm.complete("sim:default", "Name three LLM metrics.")  # same request: a cache hit
    print(f"cache hit: {getattr(hit, 'cached', '?')}")
    llm.flush()


def generate_store(home: Path, timeout: float) -> None:
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--record-into", str(home)], env=_env(), check=True,
                   timeout=timeout)


def store_facts(db_uri: str) -> dict:
    """Experiment id, the traces (id, name, state, cached) and the group run, read from the store."""
    os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_MODEL_CATALOG_URI": ""})
    import mlflow

    client = mlflow.MlflowClient(db_uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        raise SystemExit(f"no experiment {EXPERIMENT!r} in {db_uri}")
    traces = client.search_traces(locations=[exp.experiment_id], include_spans=False,
                                  order_by=["timestamp_ms DESC"], max_results=25)
    runs = client.search_runs([exp.experiment_id], max_results=10)
    return {
        "experiment_id": exp.experiment_id,
        "traces": [{"id": t.info.trace_id, "state": str(t.info.state), "input": t.info.request_preview,
                    "cached": t.info.tags.get("llmops.cached") == "true",
                    "group": t.info.tags.get("llmops.group"),
                    "metadata": dict(t.info.trace_metadata)} for t in traces],
        "runs": [{"id": r.info.run_id, "name": r.info.run_name} for r in runs],
    }


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(db_uri: str, port: int, log: Path, timeout: float) -> Iterator[str]:
    """``mlflow server`` in its own process group; yields its URL once /health answers."""
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", db_uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(),
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {proc.returncode}; see {log}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow server did not answer within {timeout}s; see {log}")
            time.sleep(0.5)
        yield url
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):  # workers of the group that outlived the parent
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


# --------------------------------------------------------------------------- browser

# Dismiss first-visit popups (assistant panel, "Detect issues" tour) and choose the traces
# table's columns: MLflow 3 hides Cost, Trace name and Run name by default.
_COLUMNS = {"trace_name": True, "run_name": True, "cost": True, "output": False, "tags": False}


def _init_script(experiment_id: str) -> str:
    items = {
        "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
        "mlflow.detectIssues.guidanceShown_v1": "true",
        "mlflow.assistant.panelOpen_v1": "false",
        f"mlflow.traces-v4.columns.{experiment_id}_v4": json.dumps(_COLUMNS),
    }
    sets = "".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)});" for k, v in items.items())
    return f"try {{ if (!sessionStorage.getItem('llmops_init')) {{ {sets} sessionStorage.setItem('llmops_init', '1'); }} }} catch (e) {{}}"


def _ensure_trace_columns(page, wanted: list[str]) -> None:
    """Fallback if the stored column choice was ignored: tick columns in Display > Columns."""
    headers = page.locator("[role=columnheader]").all_inner_texts()
    missing = [w for w in wanted if not any(w in h for h in headers)]
    for name in missing:
        with contextlib.suppress(Exception):
            item = page.get_by_role("menuitemcheckbox", name=name, exact=True).first
            if not item.is_visible():
                page.get_by_role("button", name="Display").click(timeout=5000)
                page.get_by_role("menuitem", name="Columns").hover(timeout=5000)
            if item.get_attribute("aria-checked", timeout=5000) != "true":
                item.click(timeout=5000)
    if missing:
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")


def _collapse_sidebar(page) -> None:
    with contextlib.suppress(Exception):
        page.get_by_role("button", name="Toggle sidebar").click(timeout=3000)
        page.wait_for_timeout(400)


def _settle(page, ms: int = 1200) -> None:
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=10_000)
    page.wait_for_timeout(ms)


_MONEY = re.compile(r"^\$\d+\.\d+$")


def header_cost(page) -> dict[str, str]:
    """The open trace's header cost as the UI shows it: ``total`` (the header's own text) and
    its hover card's ``Input cost`` / ``Output cost`` / ``Total`` rows. The header is the first
    money amount in the trace drawer (its top bar comes before the span's badge)."""
    drawer = page.locator('[data-component-type="drawer_content"]').first
    badge = drawer.get_by_text(_MONEY).first
    badge.wait_for()
    total = badge.inner_text().strip()
    badge.hover()
    card = page.get_by_text("Cost breakdown").first
    card.wait_for(timeout=10_000)
    text = card.locator("xpath=..").inner_text()
    rows = dict(re.findall(r"(Input cost|Output cost|Total)\s*\n?\s*(\$[\d.,]+)", text))
    return {"total": total, **rows}


def take_screenshots(url: str, facts: dict, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    exp = facts["experiment_id"]
    traces = facts["traces"]
    grouped_ok = [t for t in traces if t["group"] and t["state"].endswith("OK") and not t["cached"]]
    detail = (grouped_ok or [t for t in traces if t["state"].endswith("OK")] or traces)[-1]
    failed = next((t for t in traces if t["state"].endswith("ERROR")), None)
    run = facts["runs"][0] if facts["runs"] else None
    written: list[Path] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                     timeout=UI_TIMEOUT_MS)
        try:
            ctx = browser.new_context(viewport=VIEWPORT)
            ctx.set_default_timeout(UI_TIMEOUT_MS)
            ctx.add_init_script(_init_script(exp))
            page = ctx.new_page()

            # (a) the traces list
            page.goto(f"{url}/#/experiments/{exp}/traces")
            page.get_by_role("columnheader", name="Tokens").first.wait_for()
            if traces and traces[0]["input"]:  # the newest row has rendered
                page.get_by_text(traces[0]["input"][:40]).first.wait_for()
            _ensure_trace_columns(page, ["Trace name", "Run name", "Tokens", "Cost"])
            _collapse_sidebar(page)
            _settle(page)
            written.append(out / "mlflow_traces.png")
            page.screenshot(path=written[-1], full_page=True)

            # (b) one call's trace: span header with tokens and cost, token breakdown popover
            page.goto(f"{url}/#/experiments/{exp}/traces?selectedEvaluationId={detail['id']}")
            page.get_by_role("tab", name="Attributes").first.wait_for()
            _settle(page, 800)
            with contextlib.suppress(Exception):  # the span header's "N tokens" badge
                page.get_by_text(re.compile(r"^\d+ tokens$")).nth(1).hover(timeout=5000)
                page.get_by_text("Usage breakdown").first.wait_for(timeout=5000)
            written.append(out / "mlflow_trace_detail.png")
            page.screenshot(path=written[-1], full_page=True)

            # (b2) the trace header's cost and its breakdown (read from mlflow.trace.cost)
            page.mouse.move(5, 5)
            with contextlib.suppress(Exception):
                shown = header_cost(page)
                print(f"trace header cost: {json.dumps(shown)} (stored: {detail['metadata'].get('mlflow.trace.cost')})")
                written.append(out / "mlflow_trace_header_cost.png")
                page.screenshot(path=written[-1], full_page=True)

            # (c) the failed call's trace
            if failed is not None:
                page.mouse.move(5, 5)
                page.goto(f"{url}/#/experiments/{exp}/traces?selectedEvaluationId={failed['id']}")
                page.get_by_role("tab", name="Attributes").first.wait_for()
                _settle(page, 800)
                written.append(out / "mlflow_trace_error.png")
                page.screenshot(path=written[-1], full_page=True)

            # (d) the group's run and the traces linked to it
            if run is not None:
                page.goto(f"{url}/#/experiments/{exp}/runs/{run['id']}/traces")
                page.get_by_text("Tokens").first.wait_for()
                _settle(page, 600)
                # This table has no Cost column: show our llmops.cost_usd tag instead of Response.
                with contextlib.suppress(Exception):
                    page.get_by_role("button", name=re.compile("Columns")).first.click(timeout=5000)
                    for option in ("llmops.cost_usd", "Response"):
                        page.get_by_role("option", name=option, exact=True).first.click(timeout=5000)
                    page.keyboard.press("Escape")
                _settle(page)
                written.append(out / "mlflow_run_traces.png")
                page.screenshot(path=written[-1], full_page=True)
        finally:
            browser.close()
    return written


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("docs/images"))
    ap.add_argument("--store", type=Path, help="existing store dir holding mlflow.db (skip recording)")
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--timeout", type=float, default=120.0, help="bound for recording and server start")
    ap.add_argument("--record-into", type=Path, help=argparse.SUPPRESS)  # child process mode
    args = ap.parse_args(argv)

    if args.record_into:
        record_calls(args.record_into)
        return 0
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install -y chromium")

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmops_ui_") as tmp:
        home = args.store or Path(tmp) / "store"
        if args.store is None:
            generate_store(home, args.timeout)
        db_uri = f"sqlite:///{home.resolve()}/mlflow.db"
        facts = store_facts(db_uri)
        print(json.dumps(facts, indent=1))
        with mlflow_server(db_uri, args.port or free_port(), Path(tmp) / "server.log", args.timeout) as url:
            for path in take_screenshots(url, facts, args.out):
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
