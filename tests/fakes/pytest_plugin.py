"""Pytest fixtures for the fake LLM servers.

Enable from the root ``conftest.py`` with
``pytest_plugins = ["tests.fakes.pytest_plugin"]`` (or import the fixtures into a
test module).  Each fixture is function-scoped: a fresh server is started for
the test and stopped (sockets closed, threads joined) afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .anthropic_server import FakeAnthropic
from .openai_server import FakeOpenAI


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running :class:`FakeOpenAI`; hand ``fake_openai.base_url`` to the SDK."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A running :class:`FakeAnthropic`; hand ``fake_anthropic.base_url`` to the SDK."""
    with FakeAnthropic() as server:
        yield server
