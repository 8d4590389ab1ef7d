"""Anthropic Messages through the official SDK.

``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY`` are honoured as the SDK honours them. The
Messages API requires ``max_tokens``; its default here is part of every cache key. Parameters
the SDK has no argument for (such as ``temperature`` on SDKs that dropped it) go in the body.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from llmops_nb.providers.events import Final, ProviderEvent, TextDelta
from llmops_nb.providers.vendor_errors import from_vendor
from llmops_nb.types import Request, Usage

DEFAULT_MAX_TOKENS = 4096


class AnthropicProvider:
    """``anthropic:`` models."""

    defaults: Mapping[str, Any] = {"max_tokens": DEFAULT_MAX_TOKENS}
    base_url: str | None = None
    key_env: str | None = "ANTHROPIC_API_KEY"
    key_required = True

    def __init__(self, name: str = "anthropic") -> None:
        self.name = name
        self._clients: dict[tuple[str | None, float, str | None], Any] = {}
        self._lock = threading.Lock()
        self._sdk_args: frozenset[str] | None = None

    def _client(self, api_key: str | None, timeout_s: float) -> Any:
        base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
        with self._lock:
            client = self._clients.get((api_key, timeout_s, base_url))
            if client is None:
                import anthropic

                client = anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)
                _build_answer_models()  # before any call parses an answer (see sdk_models)
                self._clients[(api_key, timeout_s, base_url)] = client
                self._sdk_args = frozenset(inspect.signature(client.messages.create).parameters)
            return client

    def warm(self, api_key: str | None, timeout_s: float) -> None:
        """Import the SDK and build the client a call with this key and timeout will use."""
        self._client(api_key, timeout_s)

    def generate(self, request: Request, api_key: str | None, timeout_s: float) -> Iterator[ProviderEvent]:
        """Call Messages; the stream's ``message_start`` and ``message_delta`` carry usage."""
        try:
            client = self._client(api_key, timeout_s)
            kwargs = self._kwargs(request)
            if request.stream:
                yield from _stream(client.messages.create(**kwargs, stream=True))
            else:
                yield from _whole(client.messages.create(**kwargs))
        except Exception as exc:
            mapped = from_vendor(exc, self.name, api_key)
            if mapped is None:
                raise
            raise mapped from None

    def _kwargs(self, request: Request) -> dict[str, Any]:
        params = {"max_tokens": DEFAULT_MAX_TOKENS, **request.params}
        known = self._sdk_args or frozenset()
        extra = {k: params.pop(k) for k in list(params) if k not in known}
        kwargs: dict[str, Any] = {
            "model": request.model_name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            **params,
        }
        if request.system:
            kwargs["system"] = request.system
        if extra:
            kwargs["extra_body"] = extra
        return kwargs


def _build_answer_models() -> None:
    """Build the SDK's deferred models of a Messages answer (whole and streamed) now, in one thread."""
    from anthropic._models import FinalRequestOptions
    from anthropic.types import Message, RawMessageStreamEvent

    from llmops_nb.providers.sdk_models import build_models

    build_models(Message, RawMessageStreamEvent, FinalRequestOptions)


def _usage(raw: Any, output_tokens: int | None = None) -> Usage:
    read = getattr(raw, "cache_read_input_tokens", None) or 0
    write = getattr(raw, "cache_creation_input_tokens", None) or 0
    return Usage(
        # Anthropic counts cached input apart; ours includes it (see types.Usage).
        input_tokens=(getattr(raw, "input_tokens", None) or 0) + read + write,
        output_tokens=output_tokens if output_tokens is not None else (raw.output_tokens or 0),
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def _whole(message: Any) -> Iterator[ProviderEvent]:
    text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
    if text:
        yield TextDelta(text)
    yield Final(_usage(message.usage), message.stop_reason, message.model)


def _stream(stream: Any) -> Iterator[ProviderEvent]:
    start_usage: Any = None
    output_tokens = 0
    finish, model = None, None
    with stream:
        for event in stream:
            kind = event.type
            if kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                yield TextDelta(event.delta.text)
            elif kind == "message_start":
                start_usage, model = event.message.usage, event.message.model
                output_tokens = start_usage.output_tokens or 0
            elif kind == "message_delta":
                output_tokens = event.usage.output_tokens or output_tokens
                finish = event.delta.stop_reason or finish
    yield Final(_usage(start_usage, output_tokens) if start_usage else Usage(output_tokens=output_tokens),
                finish, model)


def anthropic_factory(name: str) -> AnthropicProvider:
    """Entry point: the ``anthropic:`` provider."""
    return AnthropicProvider(name)
