"""The real ``openai`` / ``anthropic`` SDKs against the local fake servers."""
# ruff: noqa: F811  (test arguments shadow the imported pytest fixtures by design)

from __future__ import annotations

import asyncio
import json
import time

import anthropic
import httpx
import httpx2
import openai
import pytest

from tests.fakes import FakeAnthropic, FakeOpenAI, Reply
from tests.fakes.pytest_plugin import fake_anthropic, fake_openai  # noqa: F401

OAI_KEY = "sk-test-OPENAI-secret-3f9c"
ANT_KEY = "sk-ant-test-ANTHROPIC-secret-7b21"
MSGS = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "say hello world"}]
ANT_MSGS = [{"role": "user", "content": "say hello world"}]


def oai(fake: FakeOpenAI, cls=openai.OpenAI, **kw):
    opts = dict(
        base_url=fake.base_url, api_key=OAI_KEY, max_retries=0, timeout=5.0, _strict_response_validation=True
    )
    return cls(**{**opts, **kw})


def ant(fake: FakeAnthropic, cls=anthropic.Anthropic, **kw):
    opts = dict(
        base_url=fake.base_url, api_key=ANT_KEY, max_retries=0, timeout=5.0, _strict_response_validation=True
    )
    return cls(**{**opts, **kw})


# -- OpenAI -----------------------------------------------------------------
def test_openai_default_echo_reply(fake_openai):
    with oai(fake_openai) as client:
        r = client.chat.completions.create(model="gpt-test", messages=MSGS)
    assert r.choices[0].message.content == "echo: say hello world"
    assert r.model == "gpt-test" and r.choices[0].finish_reason == "stop"
    # prompt = 3 + 3 words + 7; completion = 4 words
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (13, 4, 17)
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    assert fake_openai.last_request.body["messages"] == MSGS
    assert r._request_id == "req_fake000001"


def test_openai_stream_with_usage_and_ttft(fake_openai):
    fake_openai.reply(
        "one two three four",
        prompt_tokens=50,
        completion_tokens=4,
        cached_tokens=32,
        model="gpt-served",
        chunk_delay=0.05,
    )
    with oai(fake_openai) as client:
        start, first, pieces, chunks = time.perf_counter(), None, [], []
        for chunk in client.chat.completions.create(
            model="gpt-test", messages=MSGS, stream=True, stream_options={"include_usage": True}
        ):
            chunks.append(chunk)
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter() - start
                pieces.append(chunk.choices[0].delta.content)
        total = time.perf_counter() - start
    assert "".join(pieces) == "one two three four" and len(pieces) == 4
    assert first < total and total >= 0.15
    assert [c.choices[0].finish_reason for c in chunks[:-1]][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.model == "gpt-served"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (50, 4, 54)
    assert last.usage.prompt_tokens_details.cached_tokens == 32
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_stream_without_usage_and_raw_sse(fake_openai):
    with oai(fake_openai) as client:
        chunks = list(client.chat.completions.create(model="m", messages=MSGS, stream=True))
    assert all(c.usage is None and c.choices for c in chunks)
    body = {"model": "m", "messages": MSGS, "stream": True}
    raw = httpx.post(
        fake_openai.base_url + "/chat/completions", json=body, headers={"Authorization": "Bearer k"}
    ).text
    assert raw.startswith("data: {") and raw.endswith("data: [DONE]\n\n") and "event:" not in raw


def test_openai_async(fake_openai):
    fake_openai.reply("hi there", prompt_tokens=9, cached_tokens=2)

    async def run():
        async with oai(fake_openai, openai.AsyncOpenAI) as client:
            r = await client.chat.completions.create(model="m", messages=MSGS)
            stream = await client.chat.completions.create(
                model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}
            )
            return r, [c async for c in stream]

    r, chunks = asyncio.run(run())
    assert r.choices[0].message.content == "hi there" and r.usage.prompt_tokens == 9
    assert r.usage.prompt_tokens_details.cached_tokens == 2 and r.usage.completion_tokens == 2
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: say hello world"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (13, 4)


@pytest.mark.parametrize(
    "status, exc",
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_openai_errors(fake_openai, status, exc):
    fake_openai.error(status, retry_after=7, retry_after_ms=7000)
    with oai(fake_openai) as client, pytest.raises(exc) as info:
        client.chat.completions.create(model="m", messages=MSGS)
    err = info.value
    assert err.status_code == status and err.response.headers["retry-after"] == "7"
    assert err.response.headers["retry-after-ms"] == "7000"
    assert set(err.body) == {"message", "type", "param", "code"} and err.message
    if status == 429:
        assert (err.type, err.code) == ("requests", "rate_limit_exceeded")


def test_openai_auth_path_timeout_disconnect_and_queue(fake_openai):
    with oai(fake_openai) as client:
        with pytest.raises(openai.AuthenticationError) as info:
            client.chat.completions.create(
                model="m", messages=MSGS, extra_headers={"Authorization": openai.omit}
            )
        assert "API key" in info.value.message and info.value.code is None
        with pytest.raises(openai.NotFoundError):
            client.models.list()
        fake_openai.reply(delay=3)
        with pytest.raises(openai.APITimeoutError):
            client.with_options(timeout=0.2).chat.completions.create(model="m", messages=MSGS)
        fake_openai.disconnect(after_chunks=2, text="a b c d")
        got = []
        with pytest.raises(openai.APIConnectionError):
            for c in client.chat.completions.create(model="m", messages=MSGS, stream=True):
                got.append(c.choices[0].delta.content)
        assert "".join(filter(None, got)) == "a b "
        fake_openai.error(429).reply("second")
        fake_openai.set_default(Reply(text="fallback"))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=MSGS)
        texts = [
            client.chat.completions.create(model="m", messages=MSGS).choices[0].message.content
            for _ in range(2)
        ]
    assert texts == ["second", "fallback"]


# -- Anthropic ----------------------------------------------------------------
def test_anthropic_non_stream(fake_anthropic):
    with ant(fake_anthropic) as client:
        m = client.messages.create(model="claude-test", max_tokens=64, system="Be terse.", messages=ANT_MSGS)
    assert m.content[0].text == "echo: say hello world" and m.stop_reason == "end_turn"
    u = m.usage  # 2 + 3 words + 7
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (
        12,
        4,
        0,
        0,
    )
    assert m.model == "claude-test" and m._request_id == "req_fake000001"
    assert fake_anthropic.last_request.headers["anthropic-version"]


def test_anthropic_raw_stream_events(fake_anthropic):
    fake_anthropic.reply(
        "alpha beta gamma",
        prompt_tokens=20,
        completion_tokens=3,
        cached_tokens=100,
        cache_creation_tokens=30,
        stop_reason="max_tokens",
    )
    with ant(fake_anthropic) as client:
        events = list(client.messages.create(model="c", max_tokens=5, messages=ANT_MSGS, stream=True))
    assert [e.type for e in events] == ["message_start", "content_block_start"] + [
        "content_block_delta"
    ] * 3 + ["content_block_stop", "message_delta", "message_stop"]
    u = events[0].message.usage
    assert (u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens, u.output_tokens) == (
        20,
        100,
        30,
        1,
    )
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "alpha beta gamma"
    assert events[-2].delta.stop_reason == "max_tokens" and events[-2].usage.output_tokens == 3
    raw = httpx.post(
        fake_anthropic.base_url + "/v1/messages",
        headers={"x-api-key": "k", "anthropic-version": "v"},
        json={"model": "c", "max_tokens": 5, "messages": ANT_MSGS, "stream": True},
    ).text
    assert (
        raw.startswith("event: message_start\ndata: {") and 'event: ping\ndata: {"type": "ping"}\n\n' in raw
    )


def test_anthropic_stream_helper_sync_and_async(fake_anthropic):
    fake_anthropic.reply("x y", prompt_tokens=11, cached_tokens=7, cache_creation_tokens=3, chunk_delay=0.02)
    with (
        ant(fake_anthropic) as client,
        client.messages.stream(model="c", max_tokens=5, messages=ANT_MSGS) as stream,
    ):
        assert list(stream.text_stream) == ["x ", "y"]
        final = stream.get_final_message()
    u = final.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (
        11,
        2,
        7,
        3,
    )

    async def run():
        async with ant(fake_anthropic, anthropic.AsyncAnthropic) as aclient:
            m = await aclient.messages.create(model="c", max_tokens=5, messages=ANT_MSGS)
            raw = [
                e.type
                async for e in await aclient.messages.create(
                    model="c", max_tokens=5, messages=ANT_MSGS, stream=True
                )
            ]
            async with aclient.messages.stream(model="c", max_tokens=5, messages=ANT_MSGS) as s:
                return m, raw, await s.get_final_message()

    m, raw, final = asyncio.run(run())
    assert m.content[0].text == final.content[0].text == "echo: say hello world"
    assert raw[0] == "message_start" and raw[-1] == "message_stop"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (10, 4)


@pytest.mark.parametrize(
    "status, exc, etype",
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_errors(fake_anthropic, status, exc, etype):
    fake_anthropic.error(status, "boom", retry_after=3)
    with ant(fake_anthropic) as client, pytest.raises(exc) as info:
        client.messages.create(model="c", max_tokens=5, messages=ANT_MSGS)
    err = info.value
    assert (err.status_code, err.type, err.api_message) == (status, etype, "boom")
    assert err.response.headers["retry-after"] == "3" and err.body["type"] == "error"


def test_anthropic_header_checks_timeout_and_disconnect(fake_anthropic):
    with ant(fake_anthropic) as client:
        with pytest.raises(anthropic.BadRequestError, match="anthropic-version"):
            client.messages.create(
                model="c",
                max_tokens=5,
                messages=ANT_MSGS,
                extra_headers={"anthropic-version": anthropic.omit},
            )
        with pytest.raises(anthropic.AuthenticationError):
            client.messages.create(
                model="c", max_tokens=5, messages=ANT_MSGS, extra_headers={"Authorization": anthropic.omit}
            )
        with pytest.raises(anthropic.NotFoundError):
            client.models.list()
        fake_anthropic.reply(delay=3)
        with pytest.raises(anthropic.APITimeoutError):
            client.with_options(timeout=0.2).messages.create(model="c", max_tokens=5, messages=ANT_MSGS)
        fake_anthropic.disconnect(after_chunks=1)
        seen = []
        # unlike openai, this SDK does not wrap transport errors raised mid-stream
        with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
            for event in client.messages.create(model="c", max_tokens=5, messages=ANT_MSGS, stream=True):
                seen.append(event.type)
        assert seen.count("content_block_delta") == 1 and "message_stop" not in seen
    assert fake_anthropic.requests[-1].body["stream"] is True


# -- secrets ------------------------------------------------------------------
def test_no_recorded_request_contains_api_keys(fake_openai, fake_anthropic):
    with oai(fake_openai) as oc, ant(fake_anthropic) as ac:
        oc.chat.completions.create(model="m", messages=MSGS)
        list(oc.chat.completions.create(model="m", messages=MSGS, stream=True))
        ac.messages.create(model="c", max_tokens=5, messages=ANT_MSGS)
        with ac.messages.stream(model="c", max_tokens=5, messages=ANT_MSGS) as s:
            s.until_done()
    for fake, url, headers in [
        (fake_openai, fake_openai.base_url + "/chat/completions", {"api-key": OAI_KEY}),
        (fake_anthropic, fake_anthropic.base_url + "/v1/messages", {"x-api-key": ANT_KEY}),
    ]:
        httpx.post(url, json={"model": "m", "max_tokens": 1, "messages": ANT_MSGS}, headers=headers)
        assert len(fake.requests) == 3
        for req in fake.requests:
            dumped = json.dumps([req.method, req.path, req.headers, req.body])
            assert OAI_KEY not in dumped and ANT_KEY not in dumped
            assert not {"authorization", "x-api-key", "api-key"} & set(req.headers)
