"""Base for the local fake LLM API servers used by the test-suite.

A :class:`FakeServer` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral
port) served from a daemon thread.  Every request is recorded in ``requests``
(``authorization``/``x-api-key``/``api-key`` headers removed), then answered by
the next scripted behaviour (:class:`Reply` / :class:`ErrorReply`) from a FIFO
queue, or by ``default`` when the queue is empty.  Requests rejected by the
provider checks (path, auth, body) get an error without consuming the queue.
Subclasses supply the wire format through four hooks: ``check``,
``error_body``, ``completion`` and ``stream_frames``.

Default reply (``Reply()``), deterministic so tests can assert exact numbers:

* text = ``"echo: " + <text of the last user message>``
* prompt tokens = whitespace-separated words in the text of *all* messages
  (plus Anthropic's ``system`` prompt) ``+ 7``
* completion tokens = whitespace-separated words in the reply text
* streamed text chunks = one per word (surrounding whitespace kept)

Limits, as a real server applies them: with ``context_window`` set (``fake.context_window =
512``; None, the default, means no limits), a derived reply stops at the request's
``max_tokens`` / ``max_completion_tokens`` or where prompt plus answer fill the window,
whichever comes first, one token per word, with the provider's ``cut_reason`` as finish
reason (OpenAI ``length``; Anthropic ``max_tokens`` or ``model_context_window_exceeded``).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import socketserver
import sys
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})
DEFAULT_PROMPT_OVERHEAD = 7
_S = TypeVar("_S", bound="FakeServer")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; ``headers`` has lower-case names, secrets removed."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, else the raw text; None when empty


@dataclass
class Reply:
    """A successful completion; ``None`` fields are derived from the request.

    ``cached_tokens``: OpenAI ``prompt_tokens_details.cached_tokens`` / Anthropic
    ``cache_read_input_tokens``; ``cache_creation_tokens``: Anthropic
    ``cache_creation_input_tokens``.  Counts are emitted verbatim (OpenAI
    ``prompt_tokens`` includes cached tokens, Anthropic ``input_tokens`` does
    not).  ``finish_reason`` is OpenAI ``finish_reason`` / Anthropic
    ``stop_reason``.  ``delay`` sleeps before responding; ``chunk_delay`` before
    each streamed text chunk but the first.  ``disconnect_after=N`` drops the
    connection after N streamed text chunks (non-stream: instead of responding).
    """

    text: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    finish_reason: str | None = None
    chunks: list[str] | None = None
    chunk_delay: float = 0.0
    delay: float = 0.0
    disconnect_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ErrorReply:
    """An HTTP error in the provider's error body (``None`` -> per-status default)."""

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: int | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    def response_headers(self) -> dict[str, str]:
        extra = {"retry-after": self.retry_after, "retry-after-ms": self.retry_after_ms}
        return {**self.headers, **{k: str(v) for k, v in extra.items() if v is not None}}


Behaviour = Reply | ErrorReply


def _text_of(content: Any) -> list[str]:
    """Text of a ``content``: a string or a list of parts with a ``text`` key."""
    parts = [content] if isinstance(content, str) else content if isinstance(content, list) else []
    return [
        p if isinstance(p, str) else p["text"]
        for p in parts
        if isinstance(p, str) or (isinstance(p, dict) and isinstance(p.get("text"), str))
    ]


def request_texts(body: dict[str, Any]) -> list[str]:
    """All text of a request body: ``system`` (Anthropic) then every message."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    return _text_of(body.get("system")) + [t for m in messages for t in _text_of(m.get("content"))]


def last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    return " ".join(_text_of(users[-1].get("content"))) if users else ""


def sse(data: Any, event: str | None = None) -> bytes:
    """One Server-Sent Event frame; ``data`` is JSON-encoded unless already a str."""
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler; streams use chunked transfer encoding."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else Nagle + delayed ACK stall every keep-alive call ~40 ms
    server: _HTTPServer

    def _dispatch(self) -> None:
        self.server.fake._dispatch(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, *args: Any) -> None:  # no access log on stderr
        pass

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def send_json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self._head(status, {"content-type": "application/json", **headers, "content-length": str(len(data))})
        self.wfile.write(data)

    def start_stream(self, headers: dict[str, str]) -> None:
        self._head(
            200,
            {
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                **headers,
                "transfer-encoding": "chunked",
            },
        )

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def abort(self) -> None:
        """Drop the connection without completing the response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _HTTPServer(ThreadingHTTPServer):
    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's reverse-DNS lookup
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.fake._lock:  # tracked so that stop() can shut live connections
            self.fake._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.fake._lock:
            self.fake._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # a real bug: print it


class FakeServer:
    """Lifecycle, request log and behaviour queue (see the module docstring)."""

    request_id_header = "x-request-id"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Behaviour = Reply()
        self.context_window: int | None = None  # see "Limits" in the module docstring
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self: _S) -> _S:
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer(self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                args=(0.02,),
                daemon=True,
                name=f"{type(self).__name__}-serve",
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers, close all sockets, join threads."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        self._stopping.set()
        with self._lock:
            live = list(self._connections)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # closes the listener and joins the handler threads
        if self._thread is not None:
            self._thread.join()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        assert self._httpd is not None, "server is not running; call start() first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` to hand to the SDK client."""
        return self.root_url

    # -- scripting -------------------------------------------------------
    def enqueue(self: _S, *behaviours: Behaviour) -> _S:
        """Queue behaviours; each accepted request consumes one.  Returns self."""
        with self._lock:
            self._queue.extend(behaviours)
        return self

    def reply(self: _S, text: str | None = None, **fields: Any) -> _S:
        """Queue a :class:`Reply` (keyword arguments are its fields)."""
        return self.enqueue(Reply(text=text, **fields))

    def error(self: _S, status: int, message: str | None = None, **fields: Any) -> _S:
        """Queue an :class:`ErrorReply` (``type``, ``code``, ``retry_after`` ...)."""
        return self.enqueue(ErrorReply(status, message, **fields))

    def disconnect(self: _S, after_chunks: int = 1, **fields: Any) -> _S:
        """Queue a reply whose connection drops after ``after_chunks`` text chunks."""
        return self.enqueue(Reply(disconnect_after=after_chunks, **fields))

    def set_default(self, behaviour: Behaviour | None) -> None:
        """Behaviour for an empty queue (``None`` restores the echo reply)."""
        self.default = behaviour if behaviour is not None else Reply()

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            return self.requests[-1]

    # -- machinery for the provider subclasses -----------------------------
    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it is stopping."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()

    def resolve(self, request: RecordedRequest, reply: Reply) -> Reply:
        """Fill a reply's ``None`` fields from the request (module docstring)."""
        body = request.body if isinstance(request.body, dict) else {}
        text = reply.text
        if text is None:
            text = "".join(reply.chunks) if reply.chunks is not None else "echo: " + last_user_text(body)
        prompt = sum(len(t.split()) for t in request_texts(body)) + DEFAULT_PROMPT_OVERHEAD
        resolved = replace(
            reply,
            text=text,
            model=reply.model or body.get("model") or "fake-model",
            chunks=reply.chunks if reply.chunks is not None else re.findall(r"\s*\S+\s*", text) or [text],
            prompt_tokens=prompt if reply.prompt_tokens is None else reply.prompt_tokens,
            completion_tokens=len(text.split())
            if reply.completion_tokens is None
            else reply.completion_tokens,
        )
        return self._limited(body, resolved) if reply.completion_tokens is None else resolved

    def _limited(self, body: dict[str, Any], reply: Reply) -> Reply:
        """``reply`` stopped at the first limit it reaches (see "Limits" above)."""
        if self.context_window is None:
            return reply
        asked = body.get("max_completion_tokens", body.get("max_tokens"))
        room = max(0, self.context_window - (reply.prompt_tokens or 0))
        limits = {**({"max_tokens": int(asked)} if isinstance(asked, int) else {}), "context_window": room}
        by, limit = min(limits.items(), key=lambda kv: kv[1])
        words = re.findall(r"\s*\S+\s*", reply.text or "")
        if len(words) <= limit:
            return reply
        text = "".join(words[:limit]).rstrip()
        return replace(reply, text=text, chunks=re.findall(r"\s*\S+\s*", text) or [text],
                       completion_tokens=limit, finish_reason=self.cut_reason(by))

    def cut_reason(self, by: str) -> str:
        """The finish reason of an answer cut by ``by`` (``max_tokens`` or ``context_window``)."""
        return "length"

    def handle(self, http: _Handler, request: RecordedRequest) -> None:
        """``check`` the request, take a behaviour, answer with JSON, SSE or an error."""
        behaviour = self.check(http, request) or self.next_behaviour()
        if self.sleep(behaviour.delay):
            return http.abort()
        ids = {self.request_id_header: f"req_fake{len(self.requests):06d}"}
        if isinstance(behaviour, ErrorReply):
            headers = {**ids, **behaviour.response_headers()}
            return http.send_json(behaviour.status, self.error_body(behaviour), headers)
        reply = self.resolve(request, behaviour)
        headers = {**ids, **reply.headers}
        if isinstance(request.body, dict) and request.body.get("stream") is True:
            return self._stream(http, reply, self.stream_frames(request, reply), headers)
        if reply.disconnect_after is not None:
            return http.abort()
        http.send_json(200, self.completion(request, reply), headers)

    def _stream(
        self, http: _Handler, reply: Reply, frames: list[tuple[bytes, bool]], headers: dict[str, str]
    ) -> None:
        """Write SSE ``(frame, is_text_chunk)`` pairs honouring chunk_delay/disconnect."""
        http.start_stream(headers)
        sent = 0
        for frame, is_text in frames:
            if is_text:
                if reply.disconnect_after is not None and sent >= reply.disconnect_after:
                    return http.abort()
                if sent and self.sleep(reply.chunk_delay):
                    return http.abort()
                sent += 1
            http.write_chunk(frame)
        http.write_chunk(b"")  # the terminating zero-length chunk

    def _dispatch(self, http: _Handler) -> None:
        raw = http.rfile.read(int(http.headers.get("content-length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in http.headers.items() if k.lower() not in SECRET_HEADERS}
        request = RecordedRequest(http.command, http.path, headers, body)
        with self._lock:
            self.requests.append(request)
        self.handle(http, request)

    # -- provider hooks, implemented by the subclasses ------------------------
    def check(self, http: _Handler, request: RecordedRequest) -> ErrorReply | None:
        """An error for a bad path / auth / body, else None."""
        raise NotImplementedError

    def error_body(self, error: ErrorReply) -> dict[str, Any]:
        raise NotImplementedError

    def completion(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        """The non-streaming response body."""
        raise NotImplementedError

    def stream_frames(self, request: RecordedRequest, reply: Reply) -> list[tuple[bytes, bool]]:
        """SSE frames as ``(bytes, is_text_chunk)`` pairs."""
        raise NotImplementedError
