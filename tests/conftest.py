"""Fixtures for the package tests: a fresh llmops_nb session per test, fake provider keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmops_nb
from llmops_nb import pricing, routing
from llmops_nb import session as sessions
from llmops_nb.providers import sim

OPENAI_KEY = "sk-test-OPENAI-0123456789abcdefSECRET"
ANTHROPIC_KEY = "sk-ant-test-ANTHROPIC-0123456789SECRET"


@pytest.fixture
def llm(tmp_path: Path) -> Iterator[object]:
    """The package, configured with its own state dir and experiment (shared test store)."""
    sessions.reset(home=tmp_path / "home", experiment=f"test-{uuid.uuid4().hex[:8]}",
                 cache_mode="readwrite", tracking=True, default_model="sim:default",
                 retries=0)  # retry behaviour is tested on its own (test_routing.py)
    yield llmops_nb
    sessions.session().close()
    sim.reset()
    pricing.clear_prices()
    routing.reset()
    routing.clear_rules()


@pytest.fixture
def ip(llm):  # type: ignore[no-untyped-def]
    """A real IPython shell with the extension loaded (the notebook's side of the magics)."""
    from IPython.testing.globalipapp import start_ipython

    start_ipython()
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.run_line_magic("load_ext", "llmops_nb")
    yield shell
    for name in ("topic", "ans", "doc", "data", "df", "cmp", "tone", "word"):
        shell.user_ns.pop(name, None)


@pytest.fixture
def openai_env(fake_openai, monkeypatch):  # type: ignore[no-untyped-def]
    """The real openai SDK pointed at the fake server through OPENAI_BASE_URL."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return fake_openai


@pytest.fixture
def anthropic_env(fake_anthropic, monkeypatch):  # type: ignore[no-untyped-def]
    """The real anthropic SDK pointed at the fake server through ANTHROPIC_BASE_URL."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    return fake_anthropic


# -- one JupyterLab for the real-browser tests (tests/jupyter_lab.py) ----------------------------

@pytest.fixture(scope="session")
def _jupyter_labs() -> Iterator[dict[tuple, object]]:
    """The JupyterLab servers started this session (by their extra environment); stopped at its end."""
    labs: dict[tuple, object] = {}
    yield labs
    for lab in labs.values():
        lab.close()  # type: ignore[attr-defined]


@pytest.fixture
def lab_env() -> dict[str, str]:
    """Extra environment of the JupyterLab a browser test uses (a test may override it)."""
    return {}


@pytest.fixture
def jupyter_lab(_jupyter_labs, lab_env, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A JupyterLab shared by the session's browser tests (one per distinct ``lab_env``);
    skips where Chromium, Playwright, JupyterLab or the built labextension are missing. The
    kernels the test started are shut down when it ends."""
    from tests import jupyter_lab as jl

    reason = jl.skip_reason()
    if reason:
        pytest.skip(reason)
    key = tuple(sorted(lab_env.items()))
    if key not in _jupyter_labs:
        _jupyter_labs[key] = jl.Lab(tmp_path_factory.mktemp("jupyter-lab"), dict(lab_env))
    lab = _jupyter_labs[key]
    if not lab.has_extension:  # type: ignore[attr-defined]
        pytest.skip("the llmops-nb labextension is not installed in this JupyterLab")
    yield lab
    lab.shutdown_kernels()  # type: ignore[attr-defined]
