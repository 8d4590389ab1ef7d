"""MLflow export: call records written as MLflow traces, one run per group of calls.

The recorder's exporter (:class:`MlflowExporter`, built by :mod:`llmops_nb.session`); the read
side — ``history()``, ``findings()``, ``flush()``, feedback — is :mod:`llmops_nb.tracking`, above
this module. mlflow is imported lazily (through :mod:`llmops_nb.mlflow_setup`), in the
recorder's background thread.

Traces are written with MLflow's ``TracingClient`` bound to *our* tracking URI, so the user's
global ``mlflow.set_tracking_uri`` is never touched, writes are synchronous (the recorder knows
when a record has arrived), and the trace id is the one the call was given up front
(``Completion.trace_id``). Each trace has one ``CHAT_MODEL`` span carrying MLflow's standard
attributes for token usage (``mlflow.chat.tokenUsage``), cost (``mlflow.llm.cost``) and model,
so the MLflow UI shows them with no help; the project's own facts are trace tags
(``llmops.*``), which the readers read back without loading spans.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_nb.mlflow_setup import import_mlflow as _import_mlflow
from llmops_nb.run_totals import RunTotals, exact
from llmops_nb.types import CallRecord

TAG = "llmops."
log = logging.getLogger(__name__)


def _artifact_location(tracking_uri: str) -> str | None:
    if tracking_uri.startswith("sqlite:///"):
        return str(Path(tracking_uri[len("sqlite:///"):]).parent / "mlartifacts")
    return None


def experiment_id(client: Any, name: str, tracking_uri: str) -> str:
    """The id of experiment ``name``, created (with an absolute artifact location) if absent."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=_artifact_location(tracking_uri)))
    except Exception:  # another process created it first
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return str(exp.experiment_id)


def _tags(r: CallRecord) -> dict[str, str]:
    req = r.request
    tags = {
        "model": req["model"],
        "provider": req["provider"],
        "status": r.status,
        "cached": str(r.cached).lower(),
        "input_tokens": str(r.usage.get("input_tokens", 0)),
        "output_tokens": str(r.usage.get("output_tokens", 0)),
        "cache_read_tokens": str(r.usage.get("cache_read_tokens", 0)),
        "cache_write_tokens": str(r.usage.get("cache_write_tokens", 0)),
        "latency_ms": f"{(r.ended_at_ns - r.started_at_ns) / 1e6:.3f}",
        "stream": str(req.get("stream", False)).lower(),
    }
    optional = {
        "prompt": r.prompt,
        "estimated_input_tokens": None if r.estimated_input_tokens is None else str(r.estimated_input_tokens),
        "cost_usd": None if r.cost_usd is None else f"{r.cost_usd:.10g}",
        "ttft_ms": None if r.ttft_s is None else f"{r.ttft_s * 1000:.3f}",
        "original_latency_ms": None if r.original_latency_s is None else f"{r.original_latency_s * 1000:.3f}",
        "error_type": r.error_type,
        "error": (r.error or "")[:1000] or None,
        "finish_reason": r.finish_reason,
        "cut_by": r.cut_by,
        "cut_detail": r.cut_detail,
        "cost_simulated": "true" if r.cost_simulated else None,
        "usage_estimated": "true" if r.usage_estimated else None,
        "group": r.group_name,
        "notes": "; ".join(r.notes) or None,
        "route": r.route,
        "route_reason": r.route_reason,
        "user": r.user,
        "attempts": json.dumps(_attempt_summary(r.attempts)) if r.attempts else None,
        "findings": json.dumps(r.findings[:50]) if r.findings else None,  # hashes, never values
        "guard_calls": json.dumps(_guard_summary(r.guard_calls)) if r.guard_calls else None,
        "guard_cost_usd": _guard_cost(r.guard_calls),
    }
    tags.update({k: v for k, v in optional.items() if v is not None})
    return {TAG + k: v for k, v in tags.items()}


def _attempt_summary(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("model", "ok", "error_type", "duration_ms", "retry_wait_s", "rate_limit_wait_s", "cut_off")
    return [{k: a[k] for k in keep if k in a} for a in attempts]


def _guard_summary(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "started_at_ns"} for c in calls[:50]]


def _guard_cost(calls: list[dict[str, Any]]) -> str | None:
    """What the call's model-backed scanners cost, summed; None without such calls or while one
    of them has no price (its ``note`` says why, in ``guard_calls``)."""
    from llmops_nb.guardrails.scanner_calls import total_cost

    cost = total_cost(calls) if calls else None
    return None if cost is None else f"{cost:.10g}"


def _guard_span_id(r: CallRecord, i: int) -> str:
    """Stable (a retried export writes the same span), and apart from the root's and attempts' ids."""
    import hashlib

    return hashlib.blake2b(f"{r.record_id}/guard/{i}".encode(), digest_size=8).hexdigest()


def _child_span(r: CallRecord, root_id: str, span_id: str, name: str, span_type: str, start_ns: int,
                duration_ns: int, detail: tuple[str, dict[str, Any]], error: str | None, otlp: bool) -> Any:
    """A child span of the call's root: ``detail`` is its one attribute of ours (key, value);
    ``error`` None means OK (``otlp``: attributes as :func:`_wire` sends them)."""
    from mlflow.entities import Span
    from mlflow.tracing.constant import SpanAttributeKey as K
    from mlflow.tracing.utils import dump_span_attribute_value as dump

    attrs = {K.REQUEST_ID: dump(r.trace_id), K.SPAN_TYPE: dump(span_type), detail[0]: dump(detail[1])}
    return Span.from_dict({
        "trace_id": r.trace_id, "span_id": span_id, "parent_span_id": root_id, "name": name,
        "start_time_unix_nano": start_ns, "end_time_unix_nano": start_ns + max(duration_ns, 1),
        "status": {"code": "STATUS_CODE_OK" if error is None else "STATUS_CODE_ERROR", "message": error or ""},
        "attributes": _wire(attrs) if otlp else attrs, "events": [], "links": [],
    })


def _guard_spans(r: CallRecord, root_id: str, *, otlp: bool = False) -> list[Any]:
    """One GUARDRAIL child span per model-backed scanner call made for the call (the input's
    before the request, the output's after the answer), at the time it was made."""
    return [_child_span(r, root_id, _guard_span_id(r, i), f"guardrail {c.get('direction')}: {c.get('scanner')} "
                        f"({c.get('model')})", "GUARDRAIL", int(c.get("started_at_ns") or r.started_at_ns),
                        int(float(c.get("latency_ms", 0.0)) * 1e6),
                        ("llmops.guard_call", {k: v for k, v in c.items() if k != "started_at_ns"}),
                        str(c["error"]) if c.get("error") else None, otlp)
            for i, c in enumerate(r.guard_calls)]


def _attempt_spans(r: CallRecord, root_id: str, *, otlp: bool = False) -> list[Any]:
    """One child span per attempt (model tried, how long, why it failed), laid end to end
    (``otlp``: attributes as :func:`_wire` sends them)."""
    spans, at = [], r.started_at_ns
    for i, a in enumerate(r.attempts):
        duration = int(float(a.get("duration_ms", 0.0)) * 1e6)
        error = None if a.get("ok", False) else f"{a.get('error_type')}: {a.get('error', '')}"
        spans.append(_child_span(r, root_id, f"{r.record_id[16:28]}{i:04x}", f"attempt {i + 1}: {a.get('model')}",
                                 "LLM", at, duration, ("llmops.attempt", {k: v for k, v in a.items() if k != "streamed"}),
                                 error, otlp))
        at += duration + int(float(a.get("retry_wait_s", 0.0)) * 1e9)
    return spans


def _prompt_ref(prompt: str | None) -> tuple[str, str] | None:
    """``"name@3"`` → ``("name", "3")``; None for anything else."""
    if not prompt or "@" not in prompt:
        return None
    name, _, version = prompt.rpartition("@")
    return (name, version) if version.isdigit() else None


def trace_tags(r: CallRecord) -> dict[str, str]:
    """The trace's tags: our facts (``llmops.*``) and MLflow's prompt link."""
    from mlflow.tracing.constant import TraceTagKey

    tags = _tags(r)
    ref = _prompt_ref(r.prompt)
    if ref is not None:
        tags[TraceTagKey.LINKED_PROMPTS] = json.dumps([{"name": ref[0], "version": ref[1]}])
    return tags


FACTS = TAG + "facts"  # our other facts in one tag, on a tracking server (see packed_tags)
# always tags of their own: what readers filter on (findings) and a team searches by; the
# model is searchable as the trace's name (MLflow's own column, no tag row: see packed_tags)
SEARCHED = (TAG + "user", TAG + "prompt", TAG + "findings")


def packed_tags(tags: Mapping[str, str], limit: int = 8000) -> dict[str, str]:
    """``tags`` as the batched server path writes them: the tags readers search by
    (:data:`SEARCHED`) and any other namespace's (MLflow's prompt link) as they are, the rest
    of ours as one JSON object in the ``llmops.facts`` tag. A tracking server stores each tag
    carried on a span with its own query and insert (~0.65 ms of server CPU a tag), so 17 tags
    cost 3x what the whole trace costs without them. The model (``llmops.model``) is packed
    too: the trace's name is the same model, which the server keeps in a column of the
    trace's own row (``mlflow.traceName``, searchable as ``tags.mlflow.traceName``) at no
    extra cost. ``limit``: MLflow's longest tag value; the longest facts go apart, as tags of
    their own, until the rest fits. :func:`unpacked` is the inverse."""
    out = {k: v for k, v in tags.items() if k in SEARCHED or not k.startswith(TAG)}
    rest = {k: v for k, v in tags.items() if k not in out}
    while rest:
        packed = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))
        if len(packed) <= limit:
            out[FACTS] = packed
            break
        longest = max(rest, key=lambda k: len(rest[k]))
        out[longest] = rest.pop(longest)
    return out


def unpacked(tags: Mapping[str, str]) -> Mapping[str, str]:
    """A trace's tags with ``llmops.facts`` (:func:`packed_tags`) unpacked into the tags it
    holds: what every reader sees, whichever path wrote the trace (``tags`` as it is when it
    has no such tag)."""
    packed = tags.get(FACTS)
    if not packed:
        return tags
    try:
        facts = json.loads(packed)
    except ValueError:
        return tags
    if not isinstance(facts, dict):
        return tags
    out = {k: str(v) for k, v in facts.items() if isinstance(k, str) and k.startswith(TAG)}
    out.update((k, v) for k, v in tags.items() if k != FACTS)
    return out


def _span(r: CallRecord, *, otlp: bool = False) -> Any:
    """The call's CHAT_MODEL span. Its trace's tags are written apart, with the trace's info,
    unless ``otlp`` (the span as sent to a tracking server: it also carries the trace's tags,
    attributes as :func:`_wire` sends them); only the trace name always rides on it, as
    MLflow's ``mlflow.traceTag.mlflow.traceName``."""
    from mlflow.entities import Span

    data = _span_data(r)
    if otlp:
        from mlflow.tracing.constant import SpanAttributeKey as K
        from mlflow.tracing.utils import dump_span_attribute_value

        # JSON-encoded as every attribute: a number-like value ("250.000") stays a string
        data["attributes"].update({K.TRACE_TAG_PREFIX + k: dump_span_attribute_value(v)
                                   for k, v in packed_tags(trace_tags(r)).items()})
        data["attributes"] = _wire(data["attributes"])
    return Span.from_dict(data)


def _wire(attributes: dict[str, str]) -> dict[str, str]:
    """MLflow-encoded span attributes (JSON text each) in the form that costs a tracking server
    least to read from OTLP: an object or array travels as its JSON text, one OTLP string, as
    MLflow's own OTLP export sends it, where ``Span.to_otel_proto`` would nest it as OTLP
    key-value lists that the server decodes value by value in Python, then encodes back to
    the same text. The server's ``sanitize_attributes`` undoes the one extra layer of JSON,
    so it stores what it stores for the nested form (tested: ``tests/test_team_server.py``).
    Strings and scalars travel as they are: the server reads some (the span type) unsanitised."""
    from mlflow.tracing.utils import dump_span_attribute_value

    return {k: dump_span_attribute_value(v) if v.startswith(("{", "[")) else v for k, v in attributes.items()}


def _span_data(r: CallRecord) -> dict[str, Any]:
    """:func:`_span`'s ``Span.from_dict`` input: hex ids, attributes in MLflow's encoding."""
    from mlflow.tracing.constant import SpanAttributeKey as K
    from mlflow.tracing.constant import TraceTagKey
    from mlflow.tracing.utils import dump_span_attribute_value

    req = r.request
    messages = ([{"role": "system", "content": req["system"]}] if req.get("system") else []) + req["messages"]
    usage = _span_usage(r)
    attrs: dict[str, Any] = {
        K.REQUEST_ID: r.trace_id,
        K.SPAN_TYPE: "CHAT_MODEL",
        K.INPUTS: {"messages": messages, "model": req["model"], **req.get("params", {})},
        # OpenAI's response shape: MLflow previews it and shows an assistant message
        K.OUTPUTS: {"choices": [{"index": 0, "message": {"role": "assistant", "content": r.text},
                                 "finish_reason": r.finish_reason}]} if r.status == "OK" else None,
        K.CHAT_USAGE: usage,
        K.MODEL: req["model_name"],
        K.MESSAGE_FORMAT: "openai",
    }
    if r.cost_usd is not None:  # never None: MLflow would fail the whole batch
        attrs[K.LLM_COST] = _cost_split(r)
    attrs[f"{K.TRACE_TAG_PREFIX}{TraceTagKey.TRACE_NAME}"] = req["model"]
    # MLflow's own encoding (JSON, non-ASCII kept): a span reads back the same from any store
    encoded = {k: dump_span_attribute_value(v) for k, v in attrs.items() if v is not None}
    events = []
    status = {"code": "STATUS_CODE_OK", "message": ""}
    if r.status != "OK":
        status = {"code": "STATUS_CODE_ERROR", "message": f"{r.error_type}: {r.error}"}
        events.append({"name": "exception", "time_unix_nano": r.ended_at_ns, "attributes": {
            "exception.type": r.error_type or "", "exception.message": r.error or ""}})
    return {
        "trace_id": r.trace_id, "span_id": r.record_id[:16],  # stable: a retried export is the same span
        "parent_span_id": None,
        "name": req["provider"], "start_time_unix_nano": r.started_at_ns,
        "end_time_unix_nano": max(r.ended_at_ns, r.started_at_ns + 1), "status": status,
        "attributes": encoded, "events": events, "links": [],
    }


def _trace_figures(r: CallRecord) -> dict[str, str]:
    """The trace's own token usage and cost (``mlflow.trace.tokenUsage`` / ``mlflow.trace.cost``
    metadata: the trace header in the MLflow UI), the same figures as its span. A trace started
    with ``start_trace`` is final: MLflow does not fill these in from the spans afterwards on
    every version, so they are written here (no cost when the price is unknown)."""
    from mlflow.tracing.constant import TraceMetadataKey

    out = {TraceMetadataKey.TOKEN_USAGE: json.dumps(_span_usage(r))}
    if r.cost_usd is not None:
        out[TraceMetadataKey.COST] = json.dumps(_cost_split(r))
    return out


def _span_usage(r: CallRecord) -> dict[str, int]:
    # A cache hit used no tokens: MLflow's totals must not count it (our tags keep its usage).
    counted = {} if r.cached else r.usage
    return {
        "input_tokens": counted.get("input_tokens", 0),
        "output_tokens": counted.get("output_tokens", 0),
        "total_tokens": counted.get("input_tokens", 0) + counted.get("output_tokens", 0),
        "cache_read_input_tokens": counted.get("cache_read_tokens", 0),
        "cache_creation_input_tokens": counted.get("cache_write_tokens", 0),
    }


def _cost_split(r: CallRecord) -> dict[str, float]:
    """Total cost split into input and output shares by token proportion of the price."""
    from llmops_nb.pricing import price_of
    from llmops_nb.types import Usage

    total = exact(r.cost_usd or 0.0)
    if total == 0.0:
        return {"input_cost": 0.0, "output_cost": 0.0, "total_cost": 0.0}
    u = Usage(**r.usage) if r.usage else Usage()
    output_only = price_of(Usage(output_tokens=u.output_tokens), r.request["model"]).cost_usd
    output = exact(min(total, output_only)) if output_only is not None else 0.0
    return {"input_cost": exact(total - output), "output_cost": output, "total_cost": total}


def _spans(r: CallRecord, *, otlp: bool = False) -> list[Any]:
    """The trace's spans: the call, then its attempts when the path is worth showing.
    ``otlp``: as sent to a tracking server: the root span also carries the trace's tags,
    packed (:func:`packed_tags`), as ``mlflow.traceTag.*`` attributes — how a trace's tags
    reach a server over OTLP — and attributes are in :func:`_wire`'s form."""
    root = _span(r, otlp=otlp)
    return [root, *(_attempt_spans(r, root.span_id, otlp=otlp) if _shows_attempts(r) else []),
            *_guard_spans(r, root.span_id, otlp=otlp)]


def _otlp_proto(span: Any) -> Any:
    """``span`` as an OTLP protobuf span for a tracking server, without its request id: the
    server derives ``mlflow.traceRequestId`` from the OTLP trace id and drops the one sent."""
    from mlflow.tracing.constant import SpanAttributeKey as K

    proto = span.to_otel_proto()
    for i, attribute in enumerate(proto.attributes):
        if attribute.key == K.REQUEST_ID:
            del proto.attributes[i]
            break
    return proto


def _shows_attempts(r: CallRecord) -> bool:
    return len(r.attempts) > 1 or bool(r.route)


def _parallel(fn: Any, items: list[Any], workers: int) -> None:
    """``fn`` on every item, up to ``workers`` at once; the first failure is raised."""
    if len(items) <= 1 or workers <= 1:
        for item in items:
            fn(item)
        return
    futures: list[Any] = []
    pool = None
    try:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="llmops_nb-export")
        for item in items:
            futures.append(pool.submit(fn, item))
    except RuntimeError:  # the interpreter is exiting (the atexit flush): no new threads then
        for item in items[len(futures):]:
            fn(item)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    for future in futures:
        future.result()


# the first MLflow whose tracking server was seen keeping an OTLP root span's ``mlflow.traceTag.*``
# attributes as trace tags (tested here: 3.17.2); older servers get a request per trace's info
BATCHED_SINCE = "3.17"


class _Refused(Exception):
    """The server's ``/v1/traces`` does not take OTLP batches (absent, or not for its store)."""


class MlflowExporter:
    """Writes call records as MLflow traces into one tracking store (see module docstring)."""

    WORKERS = 8  # requests in flight at once to a tracking server: 2 per worker of `mlflow server`'s default 4
    TRACES_PER_REQUEST = 50  # traces (and their spans) in one OTLP request to a tracking server

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        mlflow = _import_mlflow()
        from mlflow.tracing.client import TracingClient

        self.tracking_uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
        self.tracing = TracingClient(tracking_uri)
        self.default_experiment = experiment
        self._experiments: dict[str, str] = {}
        self._runs: dict[str, str] = {}
        self._prompt_versions: dict[tuple[str, str], Any] = {}
        self._totals: dict[str, RunTotals] = {}  # per run: the sums of its calls so far
        self._counted: dict[str, set[str]] = {}  # per run: the trace ids in those sums
        self._lock = threading.Lock()
        self._rows = _SqlRows.for_store(self.tracing.store)
        self._batched: bool | None = None  # a tracking server: whole traces in OTLP batches (asked at first send)
        _prewarm()

    def _experiment(self, name: str) -> str:
        if name not in self._experiments:
            self._experiments[name] = experiment_id(self.client, name, self.tracking_uri)
        return self._experiments[name]

    def _run(self, r: CallRecord, exp: str) -> str:
        """The run of the record's group: found by tag (after a restart) or created."""
        assert r.group_id is not None
        run_id = self._runs.get(r.group_id)
        if run_id is None:
            found = self.client.search_runs([exp], filter_string=f"tags.`{TAG}group_id` = '{r.group_id}'",
                                            max_results=1)
            if found:  # a rejoined group, or a new process: go on from the run's totals
                run_id = found[0].info.run_id
                self._totals[run_id] = RunTotals.from_metrics(found[0].data.metrics)
            else:
                run = self.client.create_run(exp, run_name=r.group_name, start_time=r.started_at_ns // 10**6,
                                             tags={TAG + "group_id": r.group_id, TAG + "kind": "calls"})
                run_id = run.info.run_id
                self._totals[run_id] = RunTotals()
            self._runs[r.group_id] = run_id
        return run_id

    def export(self, records: list[CallRecord]) -> None:
        """Write ``records`` as traces (one batch per experiment) and link them to their runs.

        Into a SQL store, a batch is one transaction (:class:`_SqlRows`): trace rows, spans, tags
        and run metadata in bulk. Into a tracking server, see :meth:`_send`.
        """
        records = [storable(r) for r in records]  # the store takes UTF-8 only: no lone surrogates
        with self._lock:
            by_exp: dict[str, list[CallRecord]] = {}
            for r in records:
                by_exp.setdefault(self._experiment(r.experiment or self.default_experiment), []).append(r)
            for exp, batch in by_exp.items():
                linked = False  # each trace to its group's run, with the traces
                if self._rows is None:
                    self._send(exp, batch)
                else:
                    tags = {r.trace_id: trace_tags(r) for r in batch}
                    runs = {r.trace_id: self._run(r, exp) for r in batch if r.group_id}
                    metadata = {t: {"mlflow.sourceRun": run_id} for t, run_id in runs.items()}
                    written = self._rows.write_traces(exp, batch, tags, metadata, runs)
                    linked = written and self._rows.links_in_bulk
                    if not written:
                        # MLflow's own path (a retried batch)
                        self.tracing.log_spans(exp, [span for r in batch for span in _spans(r)])
                        self._rows.write(tags, metadata)
                self._link_runs(exp, batch, linked=linked)
                self._link_prompts(batch)

    def _send(self, exp: str, batch: list[CallRecord]) -> None:
        """Into a tracking server: whole traces in OTLP batches (:meth:`_send_batched`) where the
        server stores the tags they carry (MLflow >= :data:`BATCHED_SINCE`), else — an older
        server, or one whose ``/v1/traces`` refuses them — each trace's info with its own
        ``StartTraceV3`` and then the spans in OTLP batches (:meth:`_send_each`)."""
        if self._batched is None:
            self._batched = self._server_stores_span_tags()
        if self._batched:
            try:
                self._send_batched(exp, batch)
                return
            except _Refused as exc:
                log.warning("llmops_nb: %s refused OTLP batches (%s); sending each trace's info apart",
                            self.tracking_uri, exc)
                self._batched = False
        self._send_each(exp, batch)

    def _server_stores_span_tags(self) -> bool:
        """Whether the server is an MLflow that keeps the ``mlflow.traceTag.*`` attributes of an
        OTLP root span as the trace's tags (asked once: ``GET /version``). A server that does
        not answer raises (the batch is retried later); one that answers without a version, or
        with an older one, gets the per-trace path."""
        from mlflow.utils.rest_utils import http_request
        from packaging.version import InvalidVersion, Version

        response = http_request(host_creds=self.tracing.store.get_host_creds(), endpoint="/version", method="GET",
                                timeout=10, max_retries=0, retry_timeout_seconds=1)
        if response.status_code != 200:
            if response.status_code >= 500:
                response.raise_for_status()
            return False
        try:
            return Version(response.text.strip()) >= Version(BATCHED_SINCE)
        except InvalidVersion:
            return False

    def _send_batched(self, exp: str, batch: list[CallRecord]) -> None:
        """Whole traces, ``TRACES_PER_REQUEST`` in each OTLP request to the server's
        ``/v1/traces``, up to ``WORKERS`` in flight; the server writes all the traces of a
        request in one ``log_spans`` transaction. Each root span carries its trace's tags as
        ``mlflow.traceTag.*`` attributes, packed (:func:`packed_tags`); the rest of a trace's
        info the server derives from its spans as the SQL path does: state, times, name,
        request/response previews, token usage and cost (its columns, read back as the
        ``mlflow.trace.tokenUsage`` / ``mlflow.trace.cost`` metadata). Runs are linked after
        (:meth:`_link_runs`). A retried batch is sent again as it is: spans and tags are upserts.

        ~8-9 ms of the server's CPU a trace (most of it MLflow's ORM: a flush, an update and
        a query and insert per tag for each trace), where ``StartTraceV3`` and the spans cost
        ~21-25 ms (``benchmarks/results/team.json``)."""
        from mlflow.tracing.utils.otlp import MLFLOW_EXPERIMENT_ID_HEADER, OTLP_TRACES_PATH
        from mlflow.utils.rest_utils import http_request, verify_rest_response
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        creds = self.tracing.store.get_host_creds()

        def post(records: list[CallRecord]) -> None:
            request = ExportTraceServiceRequest()
            spans = request.resource_spans.add().scope_spans.add().spans
            spans.extend(_otlp_proto(span) for r in records for span in _spans(r, otlp=True))
            response = http_request(host_creds=creds, endpoint=OTLP_TRACES_PATH, method="POST",
                                    data=request.SerializeToString(),
                                    extra_headers={"Content-Type": "application/x-protobuf",
                                                   MLFLOW_EXPERIMENT_ID_HEADER: exp})
            if response.status_code in (404, 405, 415, 501):  # no such endpoint, or not for this store
                raise _Refused(f"HTTP {response.status_code}")
            verify_rest_response(response, OTLP_TRACES_PATH)

        n = self.TRACES_PER_REQUEST
        _parallel(post, [batch[i:i + n] for i in range(0, len(batch), n)], self.WORKERS)

    def _send_each(self, exp: str, batch: list[CallRecord]) -> None:
        """Each trace's info — its tags and metadata, exactly what the SQL path writes as rows —
        with MLflow's ``StartTraceV3`` (the server stores them in a few bulk inserts), then the
        spans, ``TRACES_PER_REQUEST`` traces in each OTLP request to the server's
        ``/v1/traces`` (MLflow's ``log_spans``). Up to ``WORKERS`` requests are in flight at
        once, two for each of the server's default four workers (one writing while the other
        waits on PostgreSQL).

        MLflow has no batch endpoint for trace info, so ``StartTraceV3`` is one request per
        trace, and it is most of the server's cost: ~10-13 ms of server CPU a trace (the
        request stack, the experiment lookup, the ORM insert), the spans ~5-9 ms more.
        Both writes are idempotent, so a retried batch is sent again as it is."""
        spans = {r.trace_id: _spans(r) for r in batch}
        infos = [self._trace_info(r, exp, spans[r.trace_id]) for r in batch]
        _parallel(self.tracing.start_trace, infos, self.WORKERS)
        chunks = [[span for r in batch[i:i + self.TRACES_PER_REQUEST] for span in spans[r.trace_id]]
                  for i in range(0, len(batch), self.TRACES_PER_REQUEST)]
        _parallel(lambda chunk: self.tracing.log_spans(exp, chunk), chunks, self.WORKERS)

    def _trace_info(self, r: CallRecord, exp: str, spans: list[Any]) -> Any:
        """The trace's info as the SQL path stores it: times from its spans (ms), tags, the
        group's run (``mlflow.sourceRun``: the UI's Run name column) and its usage and cost."""
        from mlflow.entities import TraceInfo, TraceLocation, TraceState

        start_ms = min(s.start_time_ns for s in spans) // 10**6
        metadata = _trace_figures(r)
        if r.group_id:
            metadata["mlflow.sourceRun"] = self._run(r, exp)
        return TraceInfo(trace_id=r.trace_id, trace_location=TraceLocation.from_experiment_id(exp),
                         request_time=start_ms,
                         execution_duration=max(s.end_time_ns for s in spans) // 10**6 - start_ms,
                         state=TraceState.OK if r.status == "OK" else TraceState.ERROR,
                         trace_metadata=metadata, tags=trace_tags(r))

    def _link_prompts(self, batch: list[CallRecord]) -> None:
        """Link each trace to the prompt version that produced it (MLflow's prompt lineage).

        Through our own store: MLflow's client helper for this reads the *global* URI. The
        ``mlflow.linkedPrompts`` tag was already written with the span; a failure here leaves
        that tag and is logged, never retried (the trace itself has arrived).
        """
        def link(r: CallRecord) -> None:
            ref = _prompt_ref(r.prompt)
            assert ref is not None
            try:
                if ref not in self._prompt_versions:
                    self._prompt_versions[ref] = self.client.get_prompt_version(*ref)
                self.tracing.store.link_prompts_to_trace(r.trace_id, [self._prompt_versions[ref]])
            except Exception as exc:
                log.warning("llmops_nb: could not link trace %s to prompt %s@%s: %s", r.trace_id, *ref, exc)

        linked = [r for r in batch if _prompt_ref(r.prompt) is not None]
        first: dict[Any, CallRecord] = {}
        for r in linked:
            first.setdefault(_prompt_ref(r.prompt), r)
        for r in first.values():  # one at a time: each looks its prompt version up once
            link(r)
        rest = [r for r in linked if first[_prompt_ref(r.prompt)] is not r]
        _parallel(link, rest, self.WORKERS if self._rows is None else 1)  # a SQL store: one writer

    def _link_runs(self, exp: str, batch: list[CallRecord], *, linked: bool = False) -> None:
        """Link each grouped trace to its run (unless ``linked``: written with the traces) and
        log the run's metrics: once per run and batch (its metrics in batches of 1000)."""
        from mlflow.entities import Metric

        by_run: dict[str, list[CallRecord]] = {}
        for r in batch:
            if r.group_id:
                by_run.setdefault(self._run(r, exp), []).append(r)
        for run_id, rs in by_run.items():
            if not linked:
                for i in range(0, len(rs), 100):  # MLflow links at most 100 traces per request
                    self.client.link_traces_to_run([r.trace_id for r in rs[i:i + 100]], run_id)
            # on a copy, kept once written: a retried batch is not counted twice
            totals = dataclasses.replace(self._totals.setdefault(run_id, RunTotals()))
            counted = self._counted.setdefault(run_id, set())
            rs = [r for r in rs if r.trace_id not in counted]
            if not rs:
                continue
            metrics = []
            for r in rs:  # per call: one step each, so the run's charts show every call
                step, ts = totals.calls, r.ended_at_ns // 10**6
                metrics.append(Metric("call_latency_ms", round((r.ended_at_ns - r.started_at_ns) / 1e6, 3), ts, step))
                if r.cost_usd is not None and r.status == "OK":
                    metrics.append(Metric("call_cost_usd", exact(r.cost_usd), ts, step))
                totals.add(r)
            # the run's own figures: the sums of its calls (the latest value is what the run shows)
            ts = max(r.ended_at_ns for r in rs) // 10**6
            metrics += [Metric(k, v, ts, totals.calls - 1) for k, v in totals.metrics().items()]
            for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
                self.client.log_batch(run_id, metrics=metrics[i:i + 1000])
            self._totals[run_id] = totals
            counted.update(r.trace_id for r in rs)
            self.client.set_terminated(run_id, end_time=ts)


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(record: CallRecord) -> CallRecord:
    """``record`` as a UTF-8 store can hold it: each lone surrogate (which a Python str may
    hold, and the journal keeps) becomes U+FFFD; any other text is unchanged (and a record
    without one is returned as it is)."""
    fields = {name: getattr(record, name) for name in record.__dataclass_fields__}
    if not any(_has_surrogate(v) for v in fields.values()):
        return record
    return CallRecord(**{name: _without_surrogates(v) for name, v in fields.items()})


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return not value.isascii() and _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_surrogate(v) for v in value)
    return False


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_surrogates(v) for v in value]
    return value


def _maybe_dumped(encoded: str) -> bool:
    """Whether MLflow's ``sanitize_attributes`` could change ``encoded``, a string attribute as
    dumped (JSON text of a str): only when that str is itself JSON text of a str, object or
    array. The others (ids, names: nearly every value) it keeps, after a second ``json.loads``
    that fails with a JSONDecodeError (~4 µs each, five a record) — skipped here."""
    raw = json.loads(encoded)
    return not isinstance(raw, str) or raw.lstrip(" \t\n\r")[:1] in ('"', "{", "[")


@dataclass(frozen=True)
class _StoredSpan:
    """A span as MLflow's SQL store writes it: its columns and its translated dict (``content``)."""

    span_id: str
    parent_id: str | None
    name: str
    span_type: str | None
    status_code: Any
    start_time_ns: int
    end_time_ns: int | None
    stored: dict[str, Any]


class _SqlRows:
    """Trace tags and metadata of a batch in one transaction, with MLflow's own tables, limits
    and upsert; only for MLflow's SQL store (sqlite, PostgreSQL, MySQL)."""

    def __init__(self, store: Any) -> None:
        from mlflow.store.tracking import sqlalchemy_store as m
        from mlflow.store.tracking.dbmodels.models import SqlTraceMetadata, SqlTraceTag
        from mlflow.store.tracking.sqlalchemy_store import _bulk_upsert
        from mlflow.utils.validation import MAX_TRACE_TAG_VAL_LENGTH, _validate_trace_tag

        self.store, self.upsert, self.validate = store, _bulk_upsert, _validate_trace_tag
        self.max_tag_value = MAX_TRACE_TAG_VAL_LENGTH
        self.tag_model, self.metadata_model = SqlTraceTag, SqlTraceMetadata
        self.m = m  # MLflow's SQL store module: its models, helpers and constants
        self._experiments: dict[str, Any] = {}
        self._valid_keys: set[str] = set()  # tag keys MLflow's validation accepted (a pure check of the key)
        # Trace-to-run links in the traces' transaction, as MLflow's link_traces_to_run writes
        # them, unless the store is one that filters or checks them (a workspace store's hooks).
        self.links_in_bulk = False
        try:
            from mlflow.entities.entity_type import EntityAssociationType
            from mlflow.store.tracking.dbmodels.models import SqlEntityAssociation
        except ImportError:  # pragma: no cover - another MLflow: MLflow links them
            pass
        else:
            self.association_model = SqlEntityAssociation
            self.trace_type, self.run_type = EntityAssociationType.TRACE, EntityAssociationType.RUN
            base = m.SqlAlchemyStore
            self.links_in_bulk = all(getattr(type(store), hook, None) is getattr(base, hook, None)
                                     for hook in ("_filter_entity_ids", "_validate_run_accessible"))
        for name in ("SqlTraceInfo", "SqlSpan", "MlflowException", "SpanAttributeKey", "TraceTagKey", "SpansLocation",
                     "SpanStatusCode", "MLFLOW_ARTIFACT_LOCATION", "TraceJSONEncoder", "translate_span_when_storing",
                     "_span_aggregation_node", "aggregate_usage_from_span_nodes", "aggregate_cost_from_span_nodes",
                     "TOKEN_COLUMN_BY_KEY", "COST_COLUMN_BY_KEY", "finite_float_or_none", "token_count_or_none",
                     "bounded_model_dimension", "_try_parse_json_string", "_get_truncated_preview",
                     "validate_trace_name", "rollups_enabled"):
            if not hasattr(m, name):  # another MLflow: its own log_spans (tags still in bulk)
                raise ImportError(name)
        self._direct = False
        try:
            from mlflow.entities.span import (
                _encode_bytes_to_base64,
                _encode_span_id_to_byte,
                _encode_trace_id_to_byte,
            )
            from mlflow.tracing.constant import SpanAttributeKey as K
            from mlflow.tracing.constant import TraceTagKey
            from mlflow.tracing.otel.translation import sanitize_attributes
        except ImportError:  # pragma: no cover - another MLflow: every span through its translation
            return
        self._b64 = (_encode_bytes_to_base64, _encode_trace_id_to_byte, _encode_span_id_to_byte)
        self._sanitize = sanitize_attributes
        # the attributes dumped from strings: the only ones MLflow's sanitising can change
        self._scalar_keys = (K.REQUEST_ID, K.SPAN_TYPE, K.MODEL, K.MESSAGE_FORMAT,
                             f"{K.TRACE_TAG_PREFIX}{TraceTagKey.TRACE_NAME}")
        self._direct = self._check_direct()

    @classmethod
    def for_store(cls, store: Any) -> _SqlRows | None:
        try:
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        except ImportError:  # pragma: no cover - mlflow without the SQL store
            return None
        if not isinstance(store, SqlAlchemyStore):
            return None
        try:
            return cls(store)
        except ImportError:  # pragma: no cover - an mlflow without these helpers: tags as attributes
            return None

    def write_traces(self, exp: str, records: list[CallRecord], tags: Mapping[str, Mapping[str, str]],
                     metadata: Mapping[str, Mapping[str, str]], runs: Mapping[str, str] | None = None) -> bool:
        """New traces of ``records``, their spans, tags and metadata in one transaction, rows
        computed with MLflow's own span translation, aggregation, previews and limits (the
        values its ``log_spans`` writes; ``tests/test_trace_rows.py`` compares the two); with
        :attr:`links_in_bulk`, also each trace's link to its run in ``runs`` (trace id → run
        id: the rows MLflow's ``link_traces_to_run`` adds). False, with nothing written, if any
        trace exists already (a retried batch) or the store has SQL rollups on: then MLflow's
        ``log_spans`` writes them."""
        m = self.m
        if m.rollups_enabled():
            return False
        experiment = self._experiments.get(exp) or self._experiments.setdefault(exp, self.store.get_experiment(exp))
        by_trace: dict[str, list[_StoredSpan]] = {}
        for r in records:
            by_trace.setdefault(r.trace_id, []).extend(self._stored_spans(r))
        infos, span_rows, extra_tags = [], [], {}
        for trace_id, trace_spans in by_trace.items():
            info, rows = self._trace_rows(trace_id, int(exp), trace_spans)
            infos.append(info)
            span_rows.extend(rows)
            extra_tags[trace_id] = {m.MLFLOW_ARTIFACT_LOCATION:
                                    self.store._get_trace_artifact_location_tag(experiment, trace_id).value,
                                    m.TraceTagKey.SPANS_LOCATION: m.SpansLocation.TRACKING_STORE.value}
        from sqlalchemy import insert
        from sqlalchemy.exc import IntegrityError

        try:
            with self.store.ManagedSessionMaker(read_only=False) as session:
                session.execute(insert(m.SqlTraceInfo.__table__), infos)
                session.execute(insert(m.SqlSpan.__table__), span_rows)
                self._write_rows(session, {t: {**extra_tags[t], **tags.get(t, {})} for t in by_trace}, metadata)
                if runs and self.links_in_bulk:  # new traces: none is linked yet
                    session.execute(insert(self.association_model.__table__), [
                        {"association_id": uuid.uuid4().hex, "source_type": self.trace_type, "source_id": t,
                         "destination_type": self.run_type, "destination_id": run_id} for t, run_id in runs.items()])
        except m.MlflowException as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True

    def _stored_spans(self, r: CallRecord) -> list[_StoredSpan]:
        """The spans of ``r`` as MLflow's ``log_spans`` stores them. The common record (answered,
        priced, no attempt path) is built straight from the record: MLflow's translation of
        that span changes nothing (checked at start, :meth:`_check_direct`), so building a
        ``Span`` and translating it back (~0.15 ms) is skipped; the rest go through MLflow."""
        if self._direct and r.status == "OK" and r.cost_usd is not None and not _shows_attempts(r) \
                and not r.guard_calls:
            return [self._direct_root(r)]
        return [self._translated(span) for span in _spans(r)]

    def _translated(self, span: Any) -> _StoredSpan:
        return _StoredSpan(span.span_id, span.parent_id, span.name, span.span_type, span.status.status_code,
                           span.start_time_ns, span.end_time_ns, self.m.translate_span_when_storing(span))

    def _direct_root(self, r: CallRecord) -> _StoredSpan:
        """The root span of an answered, priced record as ``translate_span_when_storing`` returns
        it (``Span.to_dict``'s shape: base64 ids; attributes as dumped, sanitised the same way)."""
        data = _span_data(r)
        attrs = data["attributes"]
        attrs.update(self._sanitize({k: attrs[k] for k in self._scalar_keys
                                     if k in attrs and _maybe_dumped(attrs[k])}))
        b64, trace_bytes, span_bytes = self._b64
        span_id = data["span_id"]
        d = {"trace_id": b64(trace_bytes(int(r.trace_id.removeprefix("tr-"), 16))),
             "span_id": b64(span_bytes(int(span_id, 16))), "parent_span_id": None, "name": data["name"],
             "start_time_unix_nano": data["start_time_unix_nano"], "end_time_unix_nano": data["end_time_unix_nano"],
             "events": [], "status": data["status"], "attributes": attrs, "links": []}
        return _StoredSpan(span_id, None, data["name"], "CHAT_MODEL", self.m.SpanStatusCode.OK,
                           data["start_time_unix_nano"], data["end_time_unix_nano"], d)

    def _check_direct(self) -> bool:
        """Whether :meth:`_direct_root` equals MLflow's own translation of the span (this MLflow)."""
        now = time.time_ns()
        probe = CallRecord(
            record_id=uuid.uuid4().hex, trace_id="tr-" + uuid.uuid4().hex, started_at_ns=now,
            ended_at_ns=now + 1_000_000, status="OK", text="Ça va ✓", usage={"input_tokens": 3, "output_tokens": 2},
            cost_usd=1e-6, finish_reason="stop",
            request={"model": "openai:gpt-4o-mini", "provider": "openai", "model_name": "gpt-4o-mini",
                     "system": "Be brief.", "messages": [{"role": "user", "content": "Résumé"}],
                     "params": {"temperature": 0.2}, "stream": False})
        try:
            return self._direct_root(probe) == self._translated(_span(probe))
        except Exception:  # pragma: no cover - an MLflow whose helpers changed shape
            log.debug("llmops_nb: direct span rows disabled", exc_info=True)
            return False

    def _trace_rows(self, trace_id: str, exp: int,
                    spans: list[_StoredSpan]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        m, K = self.m, self.m.SpanAttributeKey
        usage_nodes, cost_nodes, rows = [], [], []
        root: dict[str, Any] = {}
        root_span = spans[0]
        for span in spans:
            d = span.stored
            attrs = d.get("attributes", {})
            usage_nodes.append(m._span_aggregation_node(span.span_id, span.parent_id, attrs, K.CHAT_USAGE))
            cost_nodes.append(m._span_aggregation_node(span.span_id, span.parent_id, attrs, K.LLM_COST))
            cost = json.loads(attrs[K.LLM_COST]) if attrs.get(K.LLM_COST) else {}
            rows.append({
                "trace_id": trace_id, "experiment_id": exp, "span_id": span.span_id,
                "parent_span_id": span.parent_id, "name": span.name, "type": span.span_type,
                "status": span.status_code, "start_time_unix_nano": span.start_time_ns,
                "end_time_unix_nano": span.end_time_ns,
                "content": json.dumps(d, cls=m.TraceJSONEncoder, ensure_ascii=False),
                "input_cost": m.finite_float_or_none(cost.get("input_cost")),
                "output_cost": m.finite_float_or_none(cost.get("output_cost")),
                "total_cost": m.finite_float_or_none(cost.get("total_cost")),
                "model_name": m.bounded_model_dimension(m._try_parse_json_string(attrs.get(K.MODEL))),
                "model_provider": m.bounded_model_dimension(m._try_parse_json_string(attrs.get(K.MODEL_PROVIDER))),
            })
            if span.parent_id is None:
                root, root_span = attrs, span
        start_ms = min(s.start_time_ns for s in spans) // 1_000_000
        end_ms = max(s.end_time_ns for s in spans) // 1_000_000
        name = root.get(K.TRACE_TAG_PREFIX + m.TraceTagKey.TRACE_NAME)
        info: dict[str, Any] = {
            "request_id": trace_id, "experiment_id": exp, "timestamp_ms": start_ms,
            "execution_time_ms": end_ms - start_ms,
            "status": "ERROR" if root_span.status_code == m.SpanStatusCode.ERROR else "OK",
            "client_request_id": None,
            "request_preview": m._get_truncated_preview(root[K.INPUTS], role="user") if root.get(K.INPUTS) else None,
            "response_preview": (m._get_truncated_preview(root[K.OUTPUTS], role="assistant")
                                 if root.get(K.OUTPUTS) else None),
            "db_payload_generation": 1, "session_id": None,
            "trace_name": m.validate_trace_name(m._try_parse_json_string(name)) if name else None,
        }
        usage = m.aggregate_usage_from_span_nodes(usage_nodes) or {}
        for key, column in m.TOKEN_COLUMN_BY_KEY.items():
            info[column] = m.token_count_or_none(usage.get(key))
        cost = m.aggregate_cost_from_span_nodes(cost_nodes) or {}
        for key, column in m.COST_COLUMN_BY_KEY.items():
            info[column] = m.finite_float_or_none(cost.get(key))
        return info, rows

    def write(self, tags: Mapping[str, Mapping[str, str]], metadata: Mapping[str, Mapping[str, str]]) -> None:
        with self.store.ManagedSessionMaker(read_only=False) as session:
            self._write_rows(session, tags, metadata)

    def _write_rows(self, session: Any, tags: Mapping[str, Mapping[str, str]],
                    metadata: Mapping[str, Mapping[str, str]]) -> None:
        tag_rows = []
        valid, limit = self._valid_keys, self.max_tag_value
        for trace_id, values in tags.items():
            for key, value in values.items():
                if key not in valid or value is None or len(value) > limit:
                    key, value = self.validate(key, value)  # MLflow's check (and truncation) of the tag
                    valid.add(key)
                tag_rows.append({"request_id": trace_id, "key": key, "value": value})
        metadata_rows = [{"request_id": trace_id, "key": key, "value": value}
                         for trace_id, values in metadata.items() for key, value in values.items()]
        for model, rows in ((self.tag_model, tag_rows), (self.metadata_model, metadata_rows)):
            if rows:
                self._upsert(session, model, rows)

    def _upsert(self, session: Any, model: Any, rows: list[dict[str, str]]) -> None:
        dialect = session.bind.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            self.upsert(session, model, rows)  # MLflow's own, for MySQL and the rest
            return
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        # one statement executed for many rows: compiled once (a VALUES list per batch, as
        # MLflow's helper builds it, costs more to compile than the rows cost to write)
        stmt = insert(model.__table__)
        session.execute(stmt.on_conflict_do_update(index_elements=["request_id", "key"],
                                                   set_={"value": stmt.excluded.value}), rows)


def _prewarm() -> None:
    """Import now, in one go, what MLflow's write path would otherwise import lazily during an
    export — possibly while calls are in flight (a module imported in a background thread is
    visible half-initialised to every other thread; see issue 15.5)."""
    from mlflow.entities import Metric, Span, TraceInfo, TraceLocation, TraceState  # noqa: F401
    from mlflow.tracing.utils import calculate_cost_by_model_and_token_usage

    with contextlib.suppress(Exception):  # imports litellm if installed, else MLflow's own table
        calculate_cost_by_model_and_token_usage("gpt-4o-mini", {"input_tokens": 1, "output_tokens": 1})
