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


def _send(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - localhost only
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Server:
    """A Jupyter server with the extension; its kernels run real notebooks' code."""

    def __init__(self, base: str, token: str, root: Path, runtime: Path) -> None:
        self.base, self.token, self.root, self.runtime = base, token, root, runtime
        self.clients: list = []

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        return _get(self.base + path, token or self.token)

    def kernel_for(self, notebook: str) -> tuple[str, object]:
        """Start a kernel for ``notebook`` (a path under the root: it runs in that folder)."""
        from jupyter_client import BlockingKernelClient

        (self.root / notebook).parent.mkdir(parents=True, exist_ok=True)
        status, body = _send("POST", f"{self.base}/api/sessions", self.token,
                             {"path": notebook, "type": "notebook", "name": notebook, "kernel": {"name": "python3"}})
        assert status == 201, body
        kernel_id = json.loads(body)["kernel"]["id"]
        connection = self.runtime / f"kernel-{kernel_id}.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not connection.exists():  # written once the kernel is launched
            state = json.loads(self.get(f"/api/kernels/{kernel_id}")[1]).get("execution_state")
            assert state != "dead", "the kernel died"
            time.sleep(0.1)
        client = BlockingKernelClient(connection_file=str(self.runtime / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        client.start_channels()
        client.wait_for_ready(timeout=120)
        self.clients.append(client)
        return kernel_id, client

    @staticmethod
    def run(client, code: str) -> str:  # type: ignore[no-untyped-def]
        """Execute ``code`` in the kernel; its stdout (fails on an error)."""
        out: list[str] = []

        def take(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = client.execute_interactive(code, timeout=120, output_hook=take)
        assert reply["content"]["status"] == "ok", "".join(out)
        return "".join(out)


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Jupyter server with the extension and a key in its env. Its kernels keep the default
    store, ``mlflow.db`` in the folder they run in (no MLFLOW_TRACKING_URI)."""
    port, token = _free_port(), "llmops-test-token"
    root, runtime = tmp_path / "root", tmp_path / "runtime"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update({"LLMOPS_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": SECRET, "JUPYTER_RUNTIME_DIR": str(runtime),
                "MLFLOW_UI_URL": "http://127.0.0.1:5000", "MLFLOW_DISABLE_TELEMETRY": "true",
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         '--ServerApp.jpserver_extensions={"llmops_nb.jupyter_server_ext": True}'],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    srv = Server(f"http://127.0.0.1:{port}", token, root, runtime)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if srv.get("/api/status")[0] == 200:
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
        yield srv
    finally:
        for client in srv.clients:
            client.stop_channels()
        stop(proc)
        log.close()


CALLS = f"""
%load_ext llmops_nb
import json, llmops_nb
llmops_nb.set_price("sim:*", input_per_mtok=0.15, output_per_mtok=0.60)
first = llmops_nb.complete("sim:default", "Write to {EMAIL} about the invoice")
second = llmops_nb.complete("sim:default", "Say hello")
llmops_nb.flush()
print(json.dumps([first.trace_id, second.trace_id]))
"""


def test_calls_of_a_notebook_in_a_sub_folder(server) -> None:  # type: ignore[no-untyped-def]
    """The kernel of sub/deeper/nb.ipynb writes sub/deeper/mlflow.db; the server finds it
    because the kernel reported it, and serves its calls without secrets."""
    kernel_id, client = server.kernel_for("sub/deeper/nb.ipynb")
    first, second = json.loads(server.run(client, CALLS).strip().splitlines()[-1])
    assert (server.root / "sub" / "deeper" / "mlflow.db").is_file()

    status, body = server.get(f"/llmops_nb/calls?limit=10&kernel={kernel_id}")
    assert status == 200, body
    data = json.loads(body)
    rows = data["rows"]
    assert {r["trace_id"] for r in rows} == {first, second}
    row = next(r for r in rows if r["trace_id"] == first)
    assert row["model"] == "sim:default" and row["status"] == "OK"
    assert row["input_tokens"] > 0 and row["cost_usd"] > 0
    assert row["findings"] == "email×1 redact"
    assert isinstance(row["started_at"], int)
    assert data["mlflow_ui_url"] == "http://127.0.0.1:5000" and data["experiment_id"]
    assert SECRET not in body and EMAIL not in body
    # without a kernel: every live kernel's store
    assert {r["trace_id"] for r in json.loads(server.get("/llmops_nb/calls")[1])["rows"]} == {first, second}

    status, body = server.get(f"/llmops_nb/calls/{first}?kernel={kernel_id}")
    assert status == 200, body
    details = json.loads(body)
    assert details["request"][-1]["content"] == "Write to <EMAIL_1> about the invoice"
    assert details["response"] and details["attempts"][0]["ok"] is True
    assert details["findings"][0]["type"] == "email"
    assert SECRET not in body and EMAIL not in body
    assert server.get(f"/llmops_nb/calls/{second}")[0] == 200  # found in the live kernels' stores

    status, body = server.get(f"/llmops_nb/config?kernel={kernel_id}")
    assert status == 200 and json.loads(body)["experiment_id"] == data["experiment_id"]
    assert server.get(f"/llmops_nb/calls/tr-unknown?kernel={kernel_id}")[0] == 404
    assert server.get("/llmops_nb/calls?limit=x")[0] == 400
    assert server.get("/llmops_nb/calls", "wrong-token")[0] == 403
    # the server never opened a store of its own (no <server cwd>/mlflow.db)
    assert not (server.root / "mlflow.db").exists()


def test_only_stores_that_live_kernels_reported_are_opened(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two notebooks in two folders: two stores, each kernel's own; a registration file no
    live kernel wrote (a forged one, or a stopped kernel's) is never read; ids that are not
    live kernels are refused."""
    from llmops_nb.kernel_report import registration_path

    a_id, a = server.kernel_for("a/nb.ipynb")
    b_id, b = server.kernel_for("b/nb.ipynb")
    (a_first, _), (b_first, _) = (json.loads(server.run(k, CALLS).strip().splitlines()[-1]) for k in (a, b))
    a_rows = json.loads(server.get(f"/llmops_nb/calls?kernel={a_id}")[1])["rows"]
    b_rows = json.loads(server.get(f"/llmops_nb/calls?kernel={b_id}")[1])["rows"]
    assert a_first in {r["trace_id"] for r in a_rows} and a_first not in {r["trace_id"] for r in b_rows}
    assert b_first in {r["trace_id"] for r in b_rows}
    assert len(json.loads(server.get("/llmops_nb/calls")[1])["rows"]) == 4

    # a registration beside a connection file of no live kernel points at another store
    elsewhere = tmp_path / "elsewhere.db"
    forged = registration_path(server.runtime / "kernel-0000dead-0000-0000-0000-000000000000.json")
    forged.write_text(json.dumps({"tracking_uri": f"sqlite:///{elsewhere}", "experiment": "x", "pid": 1}))
    assert server.get("/llmops_nb/calls?kernel=0000dead-0000-0000-0000-000000000000")[0] == 404
    assert server.get("/llmops_nb/calls?kernel=../../etc")[0] == 404
    assert len(json.loads(server.get("/llmops_nb/calls")[1])["rows"]) == 4
    assert not elsewhere.exists()

    # a stopped kernel's store is no longer served
    assert _send("DELETE", f"{server.base}/api/kernels/{b_id}", server.token)[0] == 204
    assert server.get(f"/llmops_nb/calls?kernel={b_id}")[0] == 404
    assert {r["trace_id"] for r in json.loads(server.get("/llmops_nb/calls")[1])["rows"]} == \
        {r["trace_id"] for r in a_rows}


def test_a_kernel_that_has_not_loaded_llmops_nb_has_no_store(server) -> None:  # type: ignore[no-untyped-def]
    kernel_id, client = server.kernel_for("plain.ipynb")
    server.run(client, "x = 1")
    status, body = server.get(f"/llmops_nb/calls?kernel={kernel_id}")
    assert status == 200 and json.loads(body)["rows"] == [] and json.loads(body)["stores"] == 0
    assert json.loads(server.get(f"/llmops_nb/config?kernel={kernel_id}")[1])["experiment_id"] is None


def test_ui_links_only_for_http_urls() -> None:
    from llmops_nb.jupyter_server_ext import safe_ui_url

    assert safe_ui_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert safe_ui_url(" https://mlflow.example/ ") == "https://mlflow.example/"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>1</script>", "//evil",
                "http:///nohost", "", None, "file:///etc/passwd", "vbscript:x"):
        assert safe_ui_url(bad) is None, bad


def test_frontend_unit_tests_pass(tmp_path: Path) -> None:
    """The extension's vitest suite (highlighting and data model: pure TypeScript).

    On a machine without the extension's node_modules, only the test runner (vitest and the
    happy-dom environment it runs the DOM tests in) is installed, into a temporary folder: the
    tested modules import nothing else. A node_modules without them is refreshed with npm ci.
    """
    import shutil

    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the front-end unit tests need Node.js")
    ext = Path(__file__).resolve().parents[1] / "extension"
    modules = ext / "node_modules"
    linked = False
    runner = ("vitest", "happy-dom")
    if modules.is_dir() and not modules.is_symlink() and not all((modules / name).exists() for name in runner):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ext, check=True, capture_output=True, timeout=600)
    if not (modules / "vitest").exists():
        packages = json.loads((ext / "package-lock.json").read_text())["packages"]
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(tmp_path),
                        *(f"{name}@{packages['node_modules/' + name]['version']}" for name in runner)],
                       check=True, capture_output=True, timeout=300)
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
