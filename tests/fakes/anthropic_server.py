"""Fake Anthropic Messages API (``POST /v1/messages``).

Speaks the real wire format parsed by the ``anthropic`` SDK: a ``message`` JSON
object, or for ``stream: true`` an SSE stream with ``event:`` lines:
``message_start`` (usage: ``input_tokens``, ``cache_read_input_tokens``,
``cache_creation_input_tokens``, ``output_tokens: 1``), ``content_block_start``,
``ping``, one ``content_block_delta`` (``text_delta``) per chunk,
``content_block_stop``, ``message_delta`` (``stop_reason`` + usage
``output_tokens``) and ``message_stop``.  Errors use
``{"type": "error", "error": {"type", "message"}, "request_id"}``.

Requests need an API key -- ``x-api-key``, or ``Authorization: Bearer`` which
is what this SDK version sends -- (401; never recorded), an
``anthropic-version`` header (400) and ``model``/``max_tokens``/``messages`` (400).

    with FakeAnthropic() as fake:
        fake.reply("Hi", prompt_tokens=20, cached_tokens=100, cache_creation_tokens=5)
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant-test", max_retries=0)
"""

from __future__ import annotations

from typing import Any, TypeVar

from .server import ErrorReply, FakeServer, RecordedRequest, Reply, _Handler, sse

MESSAGES_PATH = "/v1/messages"
_A = TypeVar("_A", bound="FakeAnthropic")

# status -> (error type, default message) used when an ErrorReply leaves them unset
_ERROR_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


class FakeAnthropic(FakeServer):
    """Fake Anthropic server; ``base_url`` is the server root, as the SDK expects."""

    request_id_header = "request-id"

    def reply(self: _A, text: str | None = None, *, stop_reason: str | None = None, **fields: Any) -> _A:
        """Queue a :class:`Reply`; ``stop_reason`` is an alias of ``finish_reason``."""
        if stop_reason is not None:
            fields["finish_reason"] = stop_reason
        return super().reply(text, **fields)

    def cut_reason(self, by: str) -> str:
        return "model_context_window_exceeded" if by == "context_window" else "max_tokens"

    def client(self, **kwargs: Any) -> Any:
        """A real ``anthropic.Anthropic`` for this server (``max_retries=0``, 5 s timeout)."""
        import anthropic

        return anthropic.Anthropic(**{**self._client_kwargs(), **kwargs})

    def async_client(self, **kwargs: Any) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(**{**self._client_kwargs(), **kwargs})

    def _client_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key": "sk-ant-fake-key", "max_retries": 0, "timeout": 5.0}

    # -- provider hooks --------------------------------------------------
    def check(self, http: _Handler, request: RecordedRequest) -> ErrorReply | None:
        if request.method != "POST" or request.path.split("?")[0] != MESSAGES_PATH:
            return ErrorReply(404, f"Not found: {request.method} {request.path}")
        bearer = (http.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if not (http.headers.get("x-api-key") or "").strip() and not bearer:
            return ErrorReply(401, "x-api-key header is required")
        if not http.headers.get("anthropic-version"):
            return ErrorReply(400, "anthropic-version: header is required")
        body = request.body
        if not isinstance(body, dict):
            return ErrorReply(400, "There was an issue with your request body: invalid JSON")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return ErrorReply(400, f"{name}: Field required")
        return None

    def error_body(self, error: ErrorReply) -> dict[str, Any]:
        type_, message = _ERROR_DEFAULTS.get(
            error.status, ("api_error" if error.status >= 500 else "invalid_request_error", "Error")
        )
        return {
            "type": "error",
            "error": {"type": error.type or type_, "message": error.message or message},
            "request_id": f"req_fake{len(self.requests):06d}",
        }

    def completion(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        return self._message(
            reply,
            [{"type": "text", "text": reply.text}],
            reply.finish_reason or "end_turn",
            reply.completion_tokens or 0,
        )

    def stream_frames(self, request: RecordedRequest, reply: Reply) -> list[tuple[bytes, bool]]:
        def event(name: str, **data: Any) -> bytes:
            return sse({"type": name, **data}, event=name)

        frames = [
            (event("message_start", message=self._message(reply, [], None, 1)), False),
            (event("content_block_start", index=0, content_block={"type": "text", "text": ""}), False),
            (event("ping"), False),
        ]
        frames += [
            (event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece}), True)
            for piece in reply.chunks or []
        ]
        frames += [
            (event("content_block_stop", index=0), False),
            (
                event(
                    "message_delta",
                    delta={"stop_reason": reply.finish_reason or "end_turn", "stop_sequence": None},
                    usage={"output_tokens": reply.completion_tokens or 0},
                ),
                False,
            ),
            (event("message_stop"), False),
        ]
        return frames

    def _message(
        self, reply: Reply, content: list[dict[str, Any]], stop_reason: str | None, output_tokens: int
    ) -> dict[str, Any]:
        usage = {
            "input_tokens": reply.prompt_tokens or 0,
            "cache_creation_input_tokens": reply.cache_creation_tokens,
            "cache_read_input_tokens": reply.cached_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": reply.cache_creation_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }
        return {
            "id": f"msg_fake{len(self.requests):06d}",
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
