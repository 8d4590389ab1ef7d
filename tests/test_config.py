"""Settings precedence, absolute paths, .env, and a fast import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmops_nb import config
from llmops_nb.config import absolute_tracking_uri, build_settings
from llmops_nb.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("MLFLOW_TRACKING_URI", "LLMOPS_HOME", "LLMOPS_CACHE", "LLMOPS_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)


def test_defaults_are_absolute_paths_of_the_working_directory(tmp_path, clean_env):
    s = build_settings(cwd=tmp_path)
    assert s.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert s.home == tmp_path.resolve() / ".llmops_nb" and s.resolved_cache_dir == s.home / "cache"
    assert s.cache_mode == "readwrite" and s.default_model == "sim:default"


def test_relative_uri_is_made_absolute_once():
    base = Path("/data/project")
    assert absolute_tracking_uri("sqlite:///mlflow.db", base) == "sqlite:////data/project/mlflow.db"
    assert absolute_tracking_uri("sqlite:////abs/x.db", base) == "sqlite:////abs/x.db"
    assert absolute_tracking_uri("http://127.0.0.1:5000", base) == "http://127.0.0.1:5000"


def test_pyproject_then_env_then_overrides(tmp_path, clean_env, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.llmops_nb]\nexperiment = "from-pyproject"\ndefault_model = "sim:pp"\ncache_mode = "off"\n'
    )
    s = build_settings(cwd=tmp_path)
    assert (s.experiment, s.default_model, s.cache_mode) == ("from-pyproject", "sim:pp", "off")
    monkeypatch.setenv("LLMOPS_EXPERIMENT", "from-env")
    monkeypatch.setenv("LLMOPS_CACHE", "replay")
    s = build_settings(cwd=tmp_path)
    assert (s.experiment, s.cache_mode) == ("from-env", "replay")
    s = build_settings({"experiment": "explicit"}, cwd=tmp_path)
    assert s.experiment == "explicit"


def test_bad_settings_are_typed_errors(tmp_path, clean_env):
    with pytest.raises(ConfigError, match="cache mode"):
        build_settings({"cache_mode": "sometimes"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="unknown setting"):
        build_settings({"colour": "blue"}, cwd=tmp_path)


def test_configure_keeps_what_was_not_given(llm):
    before = llm.settings()
    after = llm.configure(default_model="sim:other")
    assert after.default_model == "sim:other" and after.tracking_uri == before.tracking_uri
    with pytest.raises(ConfigError):
        llm.configure(nonsense=1)


def test_dotenv_is_loaded_without_overriding(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("LLMOPS_TEST_A=from-file\nLLMOPS_TEST_B=from-file\n")
    monkeypatch.setenv("LLMOPS_TEST_B", "from-env")
    monkeypatch.delenv("LLMOPS_TEST_A", raising=False)
    config.load_dotenv_once(tmp_path)
    assert os.environ["LLMOPS_TEST_A"] == "from-file" and os.environ["LLMOPS_TEST_B"] == "from-env"
    os.environ.pop("LLMOPS_TEST_A")  # set by dotenv, not by monkeypatch: leave no trace for later kernels


def test_import_is_cheap():
    code = ("import sys, time; t = time.perf_counter(); import llmops_nb; dt = time.perf_counter() - t;"
            "print([m for m in ('mlflow', 'pandas', 'openai', 'anthropic', 'IPython') if m in sys.modules], dt)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy, seconds = out.rsplit(" ", 1)
    assert heavy.strip() == "[]" and float(seconds) < 0.3


def test_bad_routes_are_refused_when_configured_and_change_nothing(llm):
    from llmops_nb import session as sessions

    before, current = llm.settings(), sessions.session()
    with pytest.raises(ConfigError, match="route 'fast'"):
        llm.configure(routes={"fast": []})
    assert llm.settings() is before and sessions.session() is current  # settings and session kept
    with pytest.raises(ConfigError, match="route 'fast'"):
        sessions.reset(routes={"fast": ["sim:a", {"temperature": 0}]})
    assert config.settings() is sessions.session().settings


def test_configure_installs_the_settings_and_a_new_session_together(llm):
    from llmops_nb import session as sessions

    old = sessions.session()
    new = llm.configure(experiment="elsewhere")
    assert config.settings() is new and sessions.session().settings is new and sessions.session() is not old
    assert sessions.session().spend()["calls"] == old.spend()["calls"]  # spend is the process's
