"""Real servers on 127.0.0.1 for the team-scale tests: Redis, PostgreSQL, ``mlflow server``.

Each starts the real program (Debian's ``redis-server`` and PostgreSQL, MLflow from PyPI) on a
free port and stops it afterwards. Where a program is missing the tests skip with the reason —
except under CI (``CI=true``), where ``.ci/run`` installs them and a missing server is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.procs import descendants as _descendants
from tests.procs import processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable(reason: str) -> None:
    """Skip, or fail under CI, where every server must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it in .ci/run)")
    pytest.skip(reason)


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


# -- Redis ----------------------------------------------------------------------------------------
@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def start(self) -> None:
        self.proc = _spawn_redis(self.port)


def _spawn_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--protected-mode", "yes"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc=proc)
    return proc


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    server = RedisServer(port, _spawn_redis(port))
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop()


# -- PostgreSQL -----------------------------------------------------------------------------------
@dataclass
class Postgres:
    port: int
    data: Path
    bindir: Path

    def uri(self, db: str = "mlflow") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"


def _as_postgres(args: list[str], **kw: object) -> subprocess.CompletedProcess:
    user = pwd.getpwnam("postgres")

    def demote() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    preexec = demote if os.geteuid() == 0 else None
    return subprocess.run(args, check=True, capture_output=True, preexec_fn=preexec, **kw)  # type: ignore[call-overload]


@contextlib.contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster. ``durable=False`` (the tests) runs it with ``fsync=off``:
    nothing here must survive a crash of this machine. ``durable=True`` (the benchmarks) keeps
    PostgreSQL's defaults: every commit is flushed to disk, as on a team's server."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        unavailable("PostgreSQL is not installed (apt-get install postgresql)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        unavailable("there is no postgres user to run PostgreSQL as")
    bindir = Path(bins[-1]).parent
    data = Path(tempfile.mkdtemp(prefix="llmops_nb-pg-"))
    try:
        os.chmod(data, 0o700)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        port = free_port()
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1" + ("" if durable else " -c fsync=off")
        try:
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w", "-o", options,
                          "start"])
            _as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"])
            yield Postgres(port, data, bindir)
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(data, ignore_errors=True)


# -- mlflow server --------------------------------------------------------------------------------
@dataclass
class MlflowServer:
    port: int
    backend_uri: str
    artifacts: Path
    proc: subprocess.Popen | None = None
    workers: int | None = None  # None: MLflow's own default (4 uvicorn workers), as a team runs it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240.0) -> None:
        """Start ``mlflow server`` in its own process group and wait for ``/health``. On any
        failure (it exited, no answer within ``timeout``, an interrupt) the whole group — the
        server, its uvicorn workers, its job runner and huey consumers — is killed before the
        error propagates: nothing is left behind."""
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
               "MLFLOW_MODEL_CATALOG_URI": ""}
        env.pop("MLFLOW_TRACKING_URI", None)
        with open(self.artifacts.parent / "server.log", "ab") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--backend-store-uri", self.backend_uri, "--artifacts-destination", str(self.artifacts),
                 *(["--workers", str(self.workers)] if self.workers else [])],
                env=env, stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    log = (self.artifacts.parent / "server.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"mlflow server exited with {self.proc.returncode}:\n{log}")
                if self._answers():
                    return
                time.sleep(0.2)
            raise TimeoutError(f"mlflow server did not answer on {self.url} within {timeout} s")
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/health", timeout=1) as r:
            return r.status == 200
        return False

    def stop(self) -> None:
        """Stop the server's whole process group: SIGTERM, then SIGKILL for what is left."""
        if self.proc is None:
            return
        group = self.proc.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while group_members(group) and time.monotonic() < deadline:
            self.proc.poll()  # reap the leader as soon as it exits (a zombie still counts)
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # workers or job consumers that outlived the leader
        self.proc.wait(timeout=10)


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes in the process group ``pgid``."""
    return [pid for pid, p in processes().items() if p.pgid == pgid and p.state != "Z"]


def descendants(pid: int) -> list[int]:
    """The live processes started by ``pid``, their children, and so on."""
    return _descendants(pid)


def alive(pids: list[int]) -> list[int]:
    procs = processes()
    return [p for p in pids if p in procs and procs[p].state != "Z"]


@contextlib.contextmanager
def mlflow_server(backend_uri: str | None = None, *, workers: int | None = None) -> Iterator[MlflowServer]:
    root = Path(tempfile.mkdtemp(prefix="llmops_nb-mlflow-server-"))
    (root / "artifacts").mkdir()
    server = MlflowServer(free_port(), backend_uri or f"sqlite:///{root / 'server.db'}", root / "artifacts",
                          workers=workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- an outage on demand --------------------------------------------------------------------------
class Forwarder:
    """A TCP forwarder in front of a real server: ``cut()`` makes the server unreachable at once
    (new connections are reset, open ones dropped) and ``restore()`` brings it back, without the
    seconds a real server takes to stop and start. The server behind it is untouched."""

    def __init__(self, target_port: int) -> None:
        import threading

        self.target_port = target_port
        self._threading = threading
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._up = True
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        self._up = True

    def cut(self) -> None:
        with self._lock:
            self._up = False
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()
            self._conns.clear()

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # a reset, as from a host whose server is down
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)  # a slow answer is not a broken connection
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            self._threading.Thread(target=self._pipe, args=(client, upstream, self._sent), daemon=True).start()
            self._threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _sent(self, data: bytes) -> None:
        """What a client sent (nothing is kept here; see :class:`Tap`)."""

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, seen: Any = None) -> None:
        try:
            while data := src.recv(65536):
                if seen is not None:
                    seen(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()


class Tap(Forwarder):
    """A forwarder that also keeps the bytes clients sent (to prove a credential was used)."""

    def __init__(self, target_port: int) -> None:
        self.sent = bytearray()
        super().__init__(target_port)

    def _sent(self, data: bytes) -> None:
        self.sent.extend(data)
