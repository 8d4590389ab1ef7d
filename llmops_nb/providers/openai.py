"""OpenAI Chat Completions (and any OpenAI-compatible server) through the official SDK.

``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` are honoured as the SDK honours them. The SDK's own
retries are off: there is exactly one retry loop, the router's.

Parameters the SDK does not name — the sampling options of OpenAI-compatible servers such as
``top_k``, ``min_p``, ``repetition_penalty`` (vLLM, llama.cpp, Ollama) — travel in the
request body through the SDK's ``extra_body``. Names this provider sets itself (``model``,
``messages``, ``stream`` …) and values that are not JSON are refused before sending
(:func:`check_params`).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from llmops_nb.errors import ConfigError
from llmops_nb.providers.events import Final, ProviderEvent, TextDelta
from llmops_nb.providers.vendor_errors import from_vendor
from llmops_nb.types import Request, Usage

OLLAMA_BASE_URL = "http://localhost:11434/v1"
_PLACEHOLDER_KEY = "not-needed"  # local servers ignore the key but the SDK wants one
# Set by this provider, or SDK plumbing rather than request parameters: never a user's param.
RESERVED_PARAMS = frozenset({"model", "messages", "stream", "stream_options", "extra_body", "extra_headers",
                             "extra_query", "timeout"})


class OpenAIProvider:
    """``openai:`` and named OpenAI-compatible endpoints (``ollama:`` and registered ones)."""

    defaults: Mapping[str, Any] = {"temperature": 1.0, "top_p": 1.0}

    def __init__(
        self,
        name: str = "openai",
        *,
        base_url: str | None = None,
        key_env: str | None = "OPENAI_API_KEY",
        key_required: bool = True,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.key_env = key_env
        self.key_required = key_required
        # OpenAI's own API wants max_completion_tokens (reasoning models reject max_tokens);
        # compatible servers (vLLM, llama.cpp, Ollama) know max_tokens.
        self.max_tokens_param = "max_completion_tokens" if base_url is None else "max_tokens"
        self._clients: dict[tuple[str | None, float, str | None], Any] = {}
        self._lock = threading.Lock()

    def _client(self, api_key: str | None, timeout_s: float) -> Any:
        base_url = self.base_url or os.environ.get("OPENAI_BASE_URL") or None
        with self._lock:
            client = self._clients.get((api_key, timeout_s, base_url))
            if client is None:
                import openai

                client = openai.OpenAI(
                    api_key=api_key or _PLACEHOLDER_KEY, base_url=base_url, max_retries=0, timeout=timeout_s
                )
                self._clients[(api_key, timeout_s, base_url)] = client
            return client

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Refuse, before anything is sent, what cannot be sent as a request parameter."""
        check_params(params)

    def warm(self, api_key: str | None, timeout_s: float) -> None:
        """Import the SDK and build the client a call with this key and timeout will use, and
        read the SDK's parameter names (``inspect.signature``: ms, once) and build its models of a
        streamed answer (what a notebook's first call is) before the clock starts."""
        self._client(api_key, timeout_s).chat.completions  # noqa: B018 - the SDK builds resources lazily
        sdk_params()
        _build_answer_models(stream=True)

    def warm_for(self, request: Request) -> None:
        """Build the SDK's models of the answer form ``request`` asks for (streamed or whole),
        if not built yet: the pipeline calls this before its clock starts."""
        if request.stream not in _models_built:
            _build_answer_models(request.stream)

    def generate(self, request: Request, api_key: str | None, timeout_s: float) -> Iterator[ProviderEvent]:
        """Call Chat Completions; stream with ``include_usage`` so usage is exact either way."""
        kwargs = _chat_kwargs(request, self.max_tokens_param)
        try:
            client = self._client(api_key, timeout_s)
            self.warm_for(request)  # before such an answer is parsed (the pipeline did it before its clock)
            if request.stream:
                yield from _stream(client.chat.completions.create(**kwargs, stream=True,
                                                                  stream_options={"include_usage": True}))
            else:
                yield from _whole(client.chat.completions.create(**kwargs))
        except Exception as exc:
            mapped = from_vendor(exc, self.name, api_key)
            if mapped is None:
                raise
            raise mapped from None


def check_params(params: Mapping[str, Any]) -> None:
    """ConfigError for a parameter this provider sets itself, or a value that is not JSON."""
    reserved = sorted(RESERVED_PARAMS.intersection(params))
    if reserved:
        raise ConfigError(f"{', '.join(reserved)} cannot be passed as a parameter: llmops_nb sets "
                          f"{'them' if len(reserved) > 1 else 'it'} (use complete(stream=...) for streaming). "
                          "Nothing was sent.")
    for name, value in params.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"parameter {name}={value!r} cannot be sent as JSON ({exc}). Nothing was sent.") from None


@functools.cache
def sdk_params() -> frozenset[str]:
    """The keyword arguments ``chat.completions.create`` names (the installed SDK's)."""
    from openai.resources.chat.completions import Completions

    return frozenset(inspect.signature(Completions.create).parameters) - {"self"} - RESERVED_PARAMS


_models_built: set[bool] = set()  # the answer forms (streamed or not) whose models are built


def _build_answer_models(stream: bool) -> None:
    """Build the SDK's deferred models of a streamed (chunks) or a whole chat answer now, in one
    thread; each form once per process, when a call first needs it (the two share few models:
    building the unused form cost a first call 5-10 ms)."""
    from openai._models import FinalRequestOptions
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    from llmops_nb.providers.sdk_models import build_models

    build_models(ChatCompletionChunk if stream else ChatCompletion, FinalRequestOptions)
    _models_built.add(stream)


def _chat_kwargs(request: Request, max_tokens_param: str) -> dict[str, Any]:
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if request.system:
        messages.insert(0, {"role": "system", "content": request.system})
    params = {k: v for k, v in request.params.items() if k not in RESERVED_PARAMS}
    if "max_tokens" in params and max_tokens_param != "max_tokens":
        params[max_tokens_param] = params.pop("max_tokens")
    known = sdk_params()
    extra = {k: params.pop(k) for k in list(params) if k not in known}  # top_k, min_p, … in the body
    return {"model": request.model_name, "messages": messages, **params, **({"extra_body": extra} if extra else {})}


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(
        input_tokens=raw.prompt_tokens or 0,
        output_tokens=raw.completion_tokens or 0,
        cache_read_tokens=cached,
    )


def _whole(response: Any) -> Iterator[ProviderEvent]:
    choice = response.choices[0] if response.choices else None
    text = (choice.message.content or "") if choice else ""
    if text:
        yield TextDelta(text)
    yield Final(_usage(response.usage), choice.finish_reason if choice else None, response.model)


def _stream(stream: Any) -> Iterator[ProviderEvent]:
    usage, finish, model = Usage(), None, None
    with stream:
        for chunk in stream:
            model = chunk.model or model
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices:
                if choice.delta is not None and choice.delta.content:
                    yield TextDelta(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
    yield Final(usage, finish, model)


def openai_factory(name: str) -> OpenAIProvider:
    """Entry point: the ``openai:`` provider."""
    return OpenAIProvider(name)


def ollama_factory(name: str) -> OpenAIProvider:
    """Entry point: the ``ollama:`` preset (local server, no key)."""
    return OpenAIProvider(name, base_url=OLLAMA_BASE_URL, key_env=None, key_required=False)
