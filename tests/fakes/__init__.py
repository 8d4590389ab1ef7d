"""Local fake servers speaking the OpenAI and Anthropic HTTP wire formats.

Tests drive the real ``openai`` / ``anthropic`` SDKs against 127.0.0.1; see
:mod:`tests.fakes.server` for the scripting model and the deterministic default
reply, and :mod:`tests.fakes.pytest_plugin` for the ``fake_openai`` and
``fake_anthropic`` fixtures.
"""

from .anthropic_server import FakeAnthropic
from .openai_server import FakeOpenAI
from .server import ErrorReply, FakeServer, RecordedRequest, Reply

__all__ = ["ErrorReply", "FakeAnthropic", "FakeOpenAI", "FakeServer", "RecordedRequest", "Reply"]
