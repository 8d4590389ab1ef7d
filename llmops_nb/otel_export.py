"""Every call as OpenTelemetry spans (GenAI semantic conventions), exported over OTLP/HTTP.

On when the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is
set (``OTEL_EXPORTER_OTLP_HEADERS`` and the other standard variables are read by the official
exporter), in addition to MLflow, never instead. Records reach it through their own journal (see
:func:`llmops_nb.session.build_recorder`), so an unreachable collector loses nothing: what did
not arrive is retried, also by the next process.

One span per call, kind CLIENT, named ``chat <model>``:

- ``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.request.<parameter>`` (temperature, max_tokens, top_p, …), ``gen_ai.response.model``,
  ``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens`` / ``output_tokens`` and the
  cache read / creation counts, ``error.type`` on a failure;
- ``llmops.cost_usd``, ``llmops.cached``, ``llmops.saved_latency_ms``, ``llmops.ttft_ms``,
  ``llmops.prompt`` (name@version), ``llmops.route``, ``llmops.user``, ``llmops.findings``
  (types, actions and hashes — never values), ``llmops.trace_id`` (the MLflow trace of the
  same call);
- message content only when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` (the
  GenAI instrumentations' own opt-in): ``gen_ai.system_instructions``, ``gen_ai.input.messages``
  and ``gen_ai.output.messages`` — what the provider saw, so redacted values stay redacted.

A call that tried more than one model gets a child span per attempt.
"""

from __future__ import annotations

import json
import os
from typing import Any

from llmops_nb.errors import TrackingError
from llmops_nb.types import CallRecord

CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_REQUEST_PARAMS = {
    "temperature": "temperature", "max_tokens": "max_tokens", "max_completion_tokens": "max_tokens",
    "top_p": "top_p", "top_k": "top_k", "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty", "seed": "seed", "stop": "stop_sequences",
}


def otlp_endpoint() -> str | None:
    """The OTLP/HTTP traces endpoint the standard environment names, or None (export off)."""
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return base.rstrip("/") + "/v1/traces" if base else None


def capture_content() -> bool:
    return os.environ.get(CONTENT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _int_id(hex_text: str, bits: int) -> int:
    digits = "".join(ch for ch in hex_text.lower() if ch in "0123456789abcdef")
    value = int(digits[-bits // 4:] or "0", 16)
    return value or 1  # an all-zero id is invalid in OTLP


def call_attributes(r: CallRecord, *, content: bool) -> dict[str, Any]:
    """The span attributes of one call (GenAI conventions plus ``llmops.*``)."""
    req = r.request
    usage = r.usage or {}
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": req.get("provider", ""),
        "gen_ai.request.model": req.get("model_name", ""),
        "gen_ai.usage.input_tokens": int(usage.get("input_tokens", 0)),
        "gen_ai.usage.output_tokens": int(usage.get("output_tokens", 0)),
        "gen_ai.usage.cache_read.input_tokens": int(usage.get("cache_read_tokens", 0)),
        "gen_ai.usage.cache_creation.input_tokens": int(usage.get("cache_write_tokens", 0)),
        "llmops.model": req.get("model", ""),
        "llmops.status": r.status,
        "llmops.cached": bool(r.cached),
        "llmops.stream": bool(req.get("stream", False)),
        "llmops.trace_id": r.trace_id,
        "llmops.latency_ms": (r.ended_at_ns - r.started_at_ns) / 1e6,
    }
    for name, value in (req.get("params") or {}).items():
        key = _REQUEST_PARAMS.get(name)
        if key is None or value is None:
            continue
        attrs[f"gen_ai.request.{key}"] = list(map(str, value)) if isinstance(value, (list, tuple)) else value
    if r.status == "OK":
        attrs["gen_ai.response.model"] = req.get("model_name", "")
        attrs["gen_ai.response.finish_reasons"] = [r.finish_reason or "stop"]
    else:
        attrs["error.type"] = r.error_type or "error"
    optional = {
        "llmops.cost_usd": r.cost_usd,
        "llmops.ttft_ms": None if r.ttft_s is None else r.ttft_s * 1000,
        "llmops.original_latency_ms": None if r.original_latency_s is None else r.original_latency_s * 1000,
        "llmops.prompt": r.prompt,
        "llmops.route": r.route,
        "llmops.route_reason": r.route_reason,
        "llmops.group": r.group_name,
        "llmops.user": getattr(r, "user", None),
        "llmops.experiment": r.experiment or None,
        "llmops.findings": json.dumps(r.findings[:50]) if r.findings else None,  # hashes, never values
        "llmops.finding_types": sorted({str(f.get("type")) for f in r.findings}) if r.findings else None,
        "llmops.notes": "; ".join(r.notes) or None,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    if content:  # what the provider saw: placeholders, never the restored values
        if req.get("system"):
            attrs["gen_ai.system_instructions"] = json.dumps([{"type": "text", "content": req["system"]}])
        attrs["gen_ai.input.messages"] = json.dumps(
            [{"role": m.get("role"), "parts": [{"type": "text", "content": m.get("content", "")}]}
             for m in req.get("messages", [])], ensure_ascii=False)
        if r.status == "OK":
            attrs["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": r.text}],
                  "finish_reason": r.finish_reason or "stop"}], ensure_ascii=False)
    return attrs


class OtlpExporter:
    """An :class:`~llmops_nb.recording.Exporter` that sends records as OTLP/HTTP spans.

    Synchronous on purpose: it runs on the recorder's background thread, and a failed export
    raises so the journal keeps the records and retries (the SDK's batch processor would drop
    them when its queue is full).
    """

    def __init__(self, endpoint: str | None = None, *, content: bool | None = None, timeout_s: float = 5.0) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from llmops_nb import __version__

        self.endpoint = endpoint or otlp_endpoint()
        self.content = capture_content() if content is None else content
        self._exporter = OTLPSpanExporter(endpoint=self.endpoint, timeout=timeout_s)
        self._resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "llmops_nb")})
        self._scope = InstrumentationScope("llmops_nb", __version__)

    def spans(self, r: CallRecord) -> list[Any]:
        """The call's span, and a child span per attempt when it tried more than one model."""
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        trace_id = _int_id(r.trace_id, 128)
        root = SpanContext(trace_id, _int_id(r.record_id, 64), is_remote=False, trace_flags=TraceFlags(1))
        status = (Status(StatusCode.OK) if r.status == "OK"
                  else Status(StatusCode.ERROR, f"{r.error_type}: {(r.error or '')[:500]}"))
        end = max(r.ended_at_ns, r.started_at_ns + 1)
        spans = [ReadableSpan(
            name=f"chat {r.request.get('model_name', '')}", context=root, parent=None,
            resource=self._resource, attributes=call_attributes(r, content=self.content),
            kind=SpanKind.CLIENT, status=status, start_time=r.started_at_ns, end_time=end,
            instrumentation_scope=self._scope)]
        if len(r.attempts) > 1:
            t = r.started_at_ns
            for i, a in enumerate(r.attempts):
                duration = int(float(a.get("duration_ms") or 0) * 1e6)
                ctx = SpanContext(trace_id, _int_id(f"{r.record_id[16:]}{i:04x}", 64), is_remote=False,
                                  trace_flags=TraceFlags(1))
                attrs = {"gen_ai.operation.name": "chat", "llmops.attempt": i + 1,
                         "llmops.model": str(a.get("model", "")), "llmops.ok": bool(a.get("ok"))}
                if a.get("error_type"):
                    attrs["error.type"] = str(a["error_type"])
                spans.append(ReadableSpan(
                    name=f"attempt {i + 1} {a.get('model', '')}", context=ctx, parent=root,
                    resource=self._resource, attributes=attrs, kind=SpanKind.CLIENT,
                    status=Status(StatusCode.OK if a.get("ok") else StatusCode.ERROR),
                    start_time=t, end_time=max(t + duration, t + 1), instrumentation_scope=self._scope))
                t += duration
        for i, c in enumerate(r.guard_calls):  # the model-backed scanners' calls, when they were made
            start = int(c.get("started_at_ns") or r.started_at_ns)
            ctx = SpanContext(trace_id, _int_id(f"{r.record_id[:8]}{i:04x}{r.record_id[-4:]}", 64),
                              is_remote=False, trace_flags=TraceFlags(1))
            attrs = {"llmops.guardrail.scanner": str(c.get("scanner")), "llmops.guardrail.direction":
                     str(c.get("direction")), "llmops.model": str(c.get("model")),
                     "gen_ai.usage.input_tokens": int(c.get("input_tokens") or 0),
                     "gen_ai.usage.output_tokens": int(c.get("output_tokens") or 0),
                     "llmops.guardrail.flagged": bool(c.get("flagged"))}
            if c.get("cost_usd") is not None:
                attrs["llmops.cost_usd"] = float(c["cost_usd"])
            if c.get("error"):
                attrs["error.type"] = str(c["error"])
            spans.append(ReadableSpan(
                name=f"guardrail {c.get('scanner')}", context=ctx, parent=root, resource=self._resource,
                attributes=attrs, kind=SpanKind.CLIENT,
                status=Status(StatusCode.ERROR if c.get("error") else StatusCode.OK),
                start_time=start, end_time=start + max(int(float(c.get("latency_ms") or 0) * 1e6), 1),
                instrumentation_scope=self._scope))
        return spans

    def export(self, records: list[CallRecord]) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        spans = [s for r in records for s in self.spans(r)]
        if self._exporter.export(spans) is not SpanExportResult.SUCCESS:
            raise TrackingError(f"the OTLP receiver at {self.endpoint} did not accept {len(records)} record(s)")
