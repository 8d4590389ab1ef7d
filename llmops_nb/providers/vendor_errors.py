"""The one place where SDK exceptions become :mod:`llmops_nb.errors` types.

``openai`` and ``anthropic`` share one exception design: :class:`APIStatusError` carries the
HTTP status (which decides our type, whatever subclass the SDK chose), and a few errors have
no status (timeouts, connection failures, unparsable answers), mapped by class.
Messages are scrubbed of anything key-like before they leave this module.
"""

from __future__ import annotations

import re

from llmops_nb import errors as E

# Non-status SDK errors, by class name, most specific first (checked along the MRO).
NON_STATUS_ERRORS: dict[str, type[E.ProviderError]] = {
    "APITimeoutError": E.ProviderTimeout,
    "APIConnectionError": E.ProviderConnectionError,
    "WebSocketConnectionClosedError": E.ProviderConnectionError,
    "WebSocketQueueFullError": E.ProviderUnavailable,
    "APIResponseValidationError": E.ProviderResponseError,
    "ContentFilterFinishReasonError": E.ProviderResponseError,
    "LengthFinishReasonError": E.ProviderResponseError,
    "InvalidWebhookSignatureError": E.ProviderResponseError,
    "APIWebhookValidationError": E.ProviderResponseError,
    "CredentialsError": E.AuthenticationFailed,
    "IdentityTokenFileError": E.AuthenticationFailed,
    "WorkloadIdentityError": E.AuthenticationFailed,
    "OAuthError": E.AuthenticationFailed,
    "_AmbiguousModuleClientUsageError": E.BadRequest,
    "RetryableError": E.ProviderUnavailable,  # middleware asked for a retry
    "APIError": E.ProviderResponseError,
    # httpx errors can escape the SDKs while a stream is being read
    "TimeoutException": E.ProviderTimeout,
    "TransportError": E.ProviderConnectionError,
    "StreamError": E.ProviderConnectionError,
    "HTTPError": E.ProviderConnectionError,
    # the SDKs' roots, for anything more specific that the SDK adds later
    "OpenAIError": E.ProviderError,
    "AnthropicError": E.ProviderError,
}

# a string, compiled (by re's cache) when an error is first scrubbed, not by every process's import
_SECRET_PATTERNS = r"(sk-(?:ant-)?[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,}|AKIA[0-9A-Z]{16})"


def scrub(message: str, secret: str | None = None) -> str:
    """``message`` with the given secret and anything shaped like an API key masked."""
    if secret:
        message = message.replace(secret, "***")
    return re.sub(_SECRET_PATTERNS, "***", message)


def class_for_status(status: int) -> type[E.ProviderError]:
    """Our error type for an HTTP status."""
    if status == 429:
        return E.RateLimited
    if status in (408, 504):
        return E.ProviderTimeout
    if status >= 500 or status == 529:
        return E.ProviderUnavailable
    if status in (401, 403):
        return E.AuthenticationFailed
    return E.BadRequest


def class_for_vendor(exc_type: type[BaseException]) -> type[E.ProviderError] | None:
    """Our error type for a non-status SDK exception class (None: not an SDK error we know)."""
    for klass in exc_type.__mro__:
        if klass.__name__ in NON_STATUS_ERRORS:
            return NON_STATUS_ERRORS[klass.__name__]
    return None


def retry_after_seconds(headers: object) -> float | None:
    """The server's ``retry-after-ms`` / ``retry-after`` advice in seconds, if any."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue  # an HTTP date; treat as absent
    return None


def from_vendor(exc: BaseException, provider: str, api_key: str | None = None) -> E.ProviderError | None:
    """Map an SDK (or its HTTP library's) exception to our tree: status first, then class.

    None when ``exc`` is not a vendor error (a bug, an interrupt): the caller re-raises it.
    """
    if isinstance(exc, UnicodeEncodeError):  # the SDK could not encode the request: nothing was sent
        bad = exc.object[exc.start:exc.end] if isinstance(exc.object, str) else ""
        return E.BadRequest(f"{provider}: the request holds text that cannot be sent as UTF-8 ({bad!r}, a lone "
                            "surrogate); nothing was sent. Clean it first, e.g. "
                            "text.encode('utf-8', 'replace').decode()", provider=provider)
    message = scrub(_message_of(exc), api_key)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        response = getattr(exc, "response", None)
        retry_after = retry_after_seconds(getattr(response, "headers", None))
        return class_for_status(status)(
            f"{provider} answered HTTP {status}: {message}",
            provider=provider,
            status=status,
            retry_after=retry_after,
        )
    known = class_for_vendor(type(exc))
    return None if known is None else known(f"{provider}: {message}", provider=provider)


def _message_of(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(exc) or type(exc).__name__
