"""Every SDK exception maps to our tree; none is left to the generic fallback by accident."""

from __future__ import annotations

import inspect

import anthropic
import httpx
import openai
import pytest

from llmops_nb import errors as E
from llmops_nb.providers.vendor_errors import (
    NON_STATUS_ERRORS,
    class_for_status,
    class_for_vendor,
    from_vendor,
    scrub,
)

ROOTS = {"OpenAIError", "AnthropicError"}


def _exported_errors(module):
    objs = [getattr(module, name) for name in dir(module) if name.endswith("Error")]
    return [o for o in objs if inspect.isclass(o) and issubclass(o, BaseException)]


def _matched_name(klass):
    return next(k.__name__ for k in klass.__mro__ if k.__name__ in NON_STATUS_ERRORS)


@pytest.mark.parametrize("module", [openai, anthropic], ids=lambda m: m.__name__)
def test_no_sdk_exception_is_left_unmapped(module):
    for klass in _exported_errors(module):
        if issubclass(klass, module.APIStatusError):
            continue  # mapped by the HTTP status they carry (next test)
        assert class_for_vendor(klass) is not None, f"{module.__name__}.{klass.__name__} is unmapped"
        # reaching only the SDK's root entry means a new error class nobody decided about
        assert klass.__name__ in ROOTS or _matched_name(klass) not in ROOTS, (
            f"{module.__name__}.{klass.__name__} falls through to the generic ProviderError")


@pytest.mark.parametrize("status,kind", [
    (400, E.BadRequest), (401, E.AuthenticationFailed), (403, E.AuthenticationFailed),
    (404, E.BadRequest), (408, E.ProviderTimeout), (409, E.BadRequest), (413, E.BadRequest),
    (422, E.BadRequest), (429, E.RateLimited), (500, E.ProviderUnavailable),
    (502, E.ProviderUnavailable), (503, E.ProviderUnavailable), (504, E.ProviderTimeout),
    (529, E.ProviderUnavailable),
])
def test_status_codes(status, kind):
    assert class_for_status(status) is kind


def _status_error(module, status, headers=None, message="boom"):
    request = httpx.Request("POST", "http://127.0.0.1/v1/x")
    response = httpx.Response(status, request=request, headers=headers or {})
    return module.APIStatusError(message, response=response, body={"error": {"message": message}})


def test_status_error_carries_retry_after_and_is_scrubbed():
    key = "sk-proj-abcdefghijklmnop0123"
    exc = _status_error(openai, 429, {"retry-after-ms": "1500"}, message=f"bad key {key}")
    mapped = from_vendor(exc, "openai", api_key=key)
    assert isinstance(mapped, E.RateLimited) and mapped.retry_after == 1.5
    assert key not in str(mapped) and "HTTP 429" in str(mapped)


def test_non_vendor_exceptions_are_not_swallowed():
    assert from_vendor(KeyError("x"), "openai") is None


@pytest.mark.parametrize("text", ["Bearer abcdefghijklmnop", "sk-ant-api03-abcdefghijkl",
                                  "AKIAABCDEFGHIJKLMNOP"])
def test_scrub_masks_key_shapes(text):
    assert "***" in scrub(f"error: {text} rejected") and text not in scrub(text)


def test_expected_errors_render_as_one_line_in_ipython():
    lines = E.MissingAPIKey("openai", "OPENAI_API_KEY")._render_traceback_()
    assert len(lines) == 1 and "OPENAI_API_KEY" in lines[0]
