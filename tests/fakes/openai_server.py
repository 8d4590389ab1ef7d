"""Fake OpenAI Chat Completions API (``POST /v1/chat/completions``).

Speaks the real wire format parsed by the ``openai`` SDK: a ``chat.completion``
JSON object, or for ``stream: true`` an SSE stream of ``chat.completion.chunk``
objects (``data: {...}\\n\\n`` ... ``data: [DONE]\\n\\n``).  With
``stream_options: {"include_usage": true}`` every chunk carries ``"usage":
null`` and a last chunk with empty ``choices`` carries the usage, as the real
API does.  Errors use ``{"error": {"message", "type", "param", "code"}}``.

Requests need ``Authorization: Bearer <key>`` (401 otherwise; the header is
never recorded) and a JSON body with ``model`` and ``messages`` (400).

    with FakeOpenAI() as fake:
        fake.reply("Hello there", prompt_tokens=12, cached_tokens=4).error(429, retry_after=1)
        client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
"""

from __future__ import annotations

import time
from typing import Any

from .server import ErrorReply, FakeServer, RecordedRequest, Reply, _Handler, sse

CHAT_PATH = "/v1/chat/completions"

# status -> (type, code, message) used when an ErrorReply leaves them unset
_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class FakeOpenAI(FakeServer):
    """Fake OpenAI server; ``base_url`` (``<root>/v1``) is what the SDK needs."""

    request_id_header = "x-request-id"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def client(self, **kwargs: Any) -> Any:
        """A real ``openai.OpenAI`` for this server (``max_retries=0``, 5 s timeout)."""
        import openai

        return openai.OpenAI(**{**self._client_kwargs(), **kwargs})

    def async_client(self, **kwargs: Any) -> Any:
        import openai

        return openai.AsyncOpenAI(**{**self._client_kwargs(), **kwargs})

    def _client_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key": "sk-fake-key", "max_retries": 0, "timeout": 5.0}

    # -- provider hooks --------------------------------------------------
    def check(self, http: _Handler, request: RecordedRequest) -> ErrorReply | None:
        if request.method != "POST" or request.path.split("?")[0] != CHAT_PATH:
            return ErrorReply(
                404, f"Invalid URL ({request.method} {request.path})", type="invalid_request_error", code=""
            )
        auth = http.headers.get("authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return ErrorReply(
                401,
                "You didn't provide an API key. You need to provide your API key in "
                "an Authorization header using Bearer auth (i.e. Authorization: Bearer "
                "YOUR_KEY).",
                type="invalid_request_error",
                code="",
            )
        body = request.body
        if not isinstance(body, dict):
            return ErrorReply(
                400,
                "We could not parse the JSON body of your request.",
                type="invalid_request_error",
                code="",
            )
        for name in ("model", "messages"):
            if name not in body:
                return ErrorReply(
                    400,
                    f"Missing required parameter: '{name}'.",
                    param=name,
                    code="missing_required_parameter",
                )
        return None

    def error_body(self, error: ErrorReply) -> dict[str, Any]:
        type_, code, message = _ERROR_DEFAULTS.get(
            error.status, ("server_error" if error.status >= 500 else "invalid_request_error", None, "Error.")
        )
        # ``code=""`` means an explicit JSON null
        resolved_code = code if error.code is None else (error.code or None)
        return {
            "error": {
                "message": error.message or message,
                "type": error.type or type_,
                "param": error.param,
                "code": resolved_code,
            }
        }

    def completion(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text,
            "refusal": None,
            "annotations": [],
        }
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": reply.finish_reason or "stop",
        }
        return {**self._envelope(reply, "chat.completion"), "choices": [choice], "usage": _usage(reply)}

    def stream_frames(self, request: RecordedRequest, reply: Reply) -> list[tuple[bytes, bool]]:
        body = request.body
        options = body.get("stream_options") or {}
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        base = self._envelope(reply, "chat.completion.chunk")
        if include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse({**base, "choices": [choice]})

        frames = [(chunk({"role": "assistant", "content": "", "refusal": None}), False)]
        frames += [(chunk({"content": piece}), True) for piece in reply.chunks or []]
        frames.append((chunk({}, reply.finish_reason or "stop"), False))
        if include_usage:
            frames.append((sse({**base, "choices": [], "usage": _usage(reply)}), False))
        frames.append((sse("[DONE]"), False))
        return frames

    def _envelope(self, reply: Reply, obj: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake{len(self.requests):06d}",
            "object": obj,
            "created": int(time.time()),
            "model": reply.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }


def _usage(reply: Reply) -> dict[str, Any]:
    prompt, completion = reply.prompt_tokens or 0, reply.completion_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
