"""The fake OpenAI and Anthropic servers in their own process, for the benchmarks.

    with fake_servers(delay_s=0.3) as (openai_base_url, anthropic_base_url): ...
    with openai_session("sustained", delay_s=0.3) as tmp: ...  # the above, plus llmops_nb set up

Used by every benchmark (overhead, cold start, sustained, profile_call). The fakes are pure Python; in the measured process their CPU work would compete with the
client under test for the GIL, so they run in a child process (see README, "The fake server").
Each answer waits ``delay_s`` first (a provider that takes that long). The server sets
``TCP_NODELAY`` as real servers do; ``nagle=True`` leaves Nagle's algorithm on as ``tests.fakes``
ships it (status line and body are two ``send()``s: ~40 ms per keep-alive call on Linux).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def serve(delay_s: float, nagle: bool = False) -> None:
    """Child process: run both fakes, print their base URLs, stop when stdin closes."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes import FakeAnthropic, FakeOpenAI
    from tests.fakes import server as fake_server

    fake_server._Handler.disable_nagle_algorithm = not nagle
    fake_server._HTTPServer.request_queue_size = 256  # 64 clients connect at once (default: 5)
    with FakeOpenAI() as oa, FakeAnthropic() as an:
        for fake in (oa, an):
            fake.set_default(fake_server.Reply(delay=delay_s))
        print(oa.base_url, an.base_url, flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def fake_servers(delay_s: float = 0.0, nagle: bool = False) -> Iterator[tuple[str, str]]:
    cmd = [sys.executable, str(Path(__file__).resolve()), str(delay_s)] + (["--nagle"] if nagle else [])
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        urls = proc.stdout.readline().split()
        if len(urls) != 2:
            raise RuntimeError(f"fake servers did not start (got {urls!r})")
        yield urls[0], urls[1]
    finally:
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def openai_session(experiment: str, delay_s: float = 0.0, nagle: bool = False) -> Iterator[Path]:
    """The in-process benchmarks' setup: a temporary directory (yielded), the fakes, the OpenAI
    SDK's environment pointed at them (``OPENAI_BASE_URL``, a fake key), and ``llmops_nb``
    configured with its home, a sqlite MLflow store and its cache in that directory."""
    with tempfile.TemporaryDirectory() as tmp_name, fake_servers(delay_s=delay_s, nagle=nagle) as (oa, _an):
        tmp = Path(tmp_name)
        os.environ.update(OPENAI_BASE_URL=oa, OPENAI_API_KEY="sk-bench", LLMOPS_HOME=str(tmp / "home"))
        sys.path.insert(0, str(ROOT))
        import llmops_nb as llm

        llm.configure(tracking_uri=f"sqlite:///{tmp}/mlflow.db", experiment=experiment, cache_dir=tmp / "cache")
        yield tmp


if __name__ == "__main__":
    serve(float(sys.argv[1]), nagle="--nagle" in sys.argv[2:])
