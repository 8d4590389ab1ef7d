"""The JupyterLab extension as shipped: the prebuilt labextension and the server endpoint.

The front end's own logic is unit-tested with vitest (extension/test/); the browser test is
tests/test_extension_browser.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_extension_browser import stop

ROOT = Path(__file__).resolve().parents[1]
LABEXT = ROOT / "llmops_nb" / "labextension"
SECRET = "sk-test-OPENAI-0123456789abcdefSECRET"
EMAIL = "alice@example.com"


def test_prebuilt_labextension_is_complete() -> None:
    meta = json.loads((LABEXT / "package.json").read_text())
    assert meta["name"] == "llmops-nb"
    build = meta["jupyterlab"]["_build"]
    assert (LABEXT / build["load"]).is_file(), "remoteEntry missing: run `npm run build` in extension/"
    assert build["load"].startswith("static/remoteEntry.")
    assert (LABEXT / "static" / "style.js").is_file()
    # built from the sources in extension/ at this version
    source = json.loads((ROOT / "extension" / "package.json").read_text())
    assert meta["version"] == source["version"]
    assert source["jupyterlab"]["outputDir"] == "../llmops_nb/labextension"


def test_server_extension_is_declared_and_cheap_to_import() -> None:
    code = ("import sys, llmops_nb.jupyter_server_ext as m; "
            "print(m._jupyter_server_extension_points()); print('mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "llmops_nb.jupyter_server_ext" in out
    assert out.strip().endswith("False"), "importing the server extension must not import mlflow"
    config = json.loads((ROOT / "jupyter-config" / "jupyter_server_config.d" / "llmops_nb.json").read_text())
    assert config["ServerApp"]["jpserver_extensions"] == {"llmops_nb.jupyter_server_ext": True}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - localhost only
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def server(llm, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Jupyter server with the extension, reading the test's store, with a key in its env."""
    s = llm.settings()
    port, token = _free_port(), "llmops-test-token"
    env = {**os.environ, "LLMOPS_HOME": str(s.home), "MLFLOW_TRACKING_URI": s.tracking_uri,
           "LLMOPS_EXPERIMENT": s.experiment, "OPENAI_API_KEY": SECRET,
           "MLFLOW_UI_URL": "http://127.0.0.1:5000", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         '--ServerApp.jpserver_extensions={"llmops_nb.jupyter_server_ext": True}'],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(f"{base}/api/status", token)[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.3)
        else:
            pytest.fail("jupyter server did not start: " + (tmp_path / "server.log").read_text()[-2000:])
        if proc.poll() is not None:
            pytest.fail("jupyter server exited: " + (tmp_path / "server.log").read_text()[-2000:])
        yield base, token
    finally:
        stop(proc)
        log.close()


def test_calls_endpoint_returns_history_without_secrets(llm, server) -> None:  # type: ignore[no-untyped-def]
    base, token = server
    llm.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)
    first = llm.complete("sim:default", f"Write to {EMAIL} about the invoice")
    second = llm.complete("sim:default", "Say hello")
    llm.flush()

    status, body = _get(f"{base}/llmops_nb/calls?limit=10", token)
    assert status == 200, body
    data = json.loads(body)
    rows = data["rows"]
    assert {r["trace_id"] for r in rows} == {first.trace_id, second.trace_id}
    row = next(r for r in rows if r["trace_id"] == first.trace_id)
    assert row["model"] == "sim:default" and row["status"] == "OK"
    assert row["input_tokens"] > 0 and row["cost_usd"] > 0
    assert row["findings"] == "email×1 redact"
    assert isinstance(row["started_at"], int)
    assert data["mlflow_ui_url"] == "http://127.0.0.1:5000" and data["experiment_id"]
    assert SECRET not in body and EMAIL not in body

    status, body = _get(f"{base}/llmops_nb/calls/{first.trace_id}", token)
    assert status == 200, body
    details = json.loads(body)
    assert details["request"][-1]["content"] == "Write to <EMAIL_1> about the invoice"
    assert details["response"] and details["attempts"][0]["ok"] is True
    assert details["findings"][0]["type"] == "email"
    assert SECRET not in body and EMAIL not in body

    assert _get(f"{base}/llmops_nb/calls/tr-unknown", token)[0] == 404
    assert _get(f"{base}/llmops_nb/calls?limit=x", token)[0] == 400
    assert _get(f"{base}/llmops_nb/calls", "wrong-token")[0] == 403


def test_config_endpoint(server) -> None:  # type: ignore[no-untyped-def]
    base, token = server
    status, body = _get(f"{base}/llmops_nb/config", token)
    assert status == 200
    assert json.loads(body)["mlflow_ui_url"] == "http://127.0.0.1:5000"


def test_frontend_unit_tests_pass(tmp_path: Path) -> None:
    """The extension's vitest suite (highlighting and data model: pure TypeScript).

    On a machine without the extension's node_modules (CI), only vitest is installed, into a
    temporary folder: the tested modules import nothing else.
    """
    import shutil

    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the front-end unit tests need Node.js")
    ext = Path(__file__).resolve().parents[1] / "extension"
    modules = ext / "node_modules"
    linked = False
    if not (modules / "vitest").exists():
        version = json.loads((ext / "package-lock.json").read_text())["packages"]["node_modules/vitest"]["version"]
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(tmp_path),
                        f"vitest@{version}"], check=True, capture_output=True, timeout=300)
        if modules.exists() or modules.is_symlink():
            pytest.skip("extension/node_modules exists without vitest: run npm install in extension/")
        modules.symlink_to(tmp_path / "node_modules", target_is_directory=True)
        linked = True
    try:
        run = subprocess.run([str(modules / ".bin" / "vitest"), "run", "--root", str(ext)], cwd=ext,
                             capture_output=True, text=True, timeout=300)
    finally:
        if linked:
            modules.unlink()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout


def test_labextension_is_enabled_after_pip_install() -> None:
    out = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True,
                         text=True, timeout=120)
    listing = out.stdout + out.stderr
    assert "llmops-nb" in listing and "enabled" in listing and "OK" in listing.split("llmops-nb", 1)[1][:120]
