"""Any text the package accepts — arbitrary Unicode, lone surrogates included (a Python str may
hold one: ``json.loads('"\\ud83d"')``) — is keyed, cached, journaled and exported; no call is
lost to an encoding error and no ``.tmp`` file is ever left behind."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import uuid

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from llmops_nb import errors as E
from llmops_nb.cache import CachedAnswer, cache_key, lookup
from llmops_nb.config import settings
from llmops_nb.pipeline import prepare
from llmops_nb.recording import JournalRecorder
from llmops_nb.session import session
from llmops_nb.tracking import MlflowExporter
from llmops_nb.types import CallRecord, Usage

LONE = json.loads('"x \\ud83d"')  # the issue's example: a high surrogate with no partner
# Every code point, with surrogates (category Cs, which st.text() leaves out by default) drawn
# often: from the whole range alone they would almost never come up.
ANY_TEXT = st.text(st.one_of(st.characters(exclude_categories=()), st.characters(categories=["Cs"])), max_size=40)
SURROGATE = re.compile("[\ud800-\udfff]")
FAST = hsettings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _record(text: str, trace_id: str | None = None) -> CallRecord:
    return CallRecord(
        record_id=uuid.uuid4().hex, trace_id=trace_id or "tr-" + uuid.uuid4().hex, started_at_ns=1_700_000_000 * 10**9,
        ended_at_ns=1_700_000_001 * 10**9,
        request={"model": "sim:echo", "provider": "sim", "model_name": "echo", "system": text or None,
                 "messages": [{"role": "user", "content": text}], "params": {"stop": [text]}, "stream": False},
        status="OK", text=text, notes=[text], route_reason=text, usage={"input_tokens": 1, "output_tokens": 1})


@given(a=ANY_TEXT, b=ANY_TEXT)
@FAST
def test_any_text_is_keyed_and_distinct_texts_get_distinct_keys(llm, a, b):
    ka = cache_key(prepare("sim:echo", "p", system=a or None, params={"stop": [a]}).request, {})
    kb = cache_key(prepare("sim:echo", "p", system=b or None, params={"stop": [b]}).request, {})
    assert (ka == kb) == (a == b)


@given(text=ANY_TEXT)
@FAST
def test_any_text_is_cached_and_read_back(llm, text):
    key = f"llm:{uuid.uuid4().hex}"
    answer = CachedAnswer(text, Usage(1, 2), 0.001, 0.5, None, "stop", "tr-1")
    session().cache.set(key, answer.to_json())
    got = lookup(session().cache, key)
    assert got is not None
    # JSON joins a high and a low surrogate written next to each other into the character they
    # spell (the same UTF-16 text); a lone one comes back as it was.
    assert got.text == text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


class _Collect:
    """An in-package exporter (the Exporter protocol): keeps what arrives."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def export(self, records: list[CallRecord]) -> None:
        self.records.extend(records)


def test_any_text_is_journaled_exactly_and_nothing_is_left_behind(tmp_path):
    journal = tmp_path / "journal"
    sink = _Collect()
    recorder = JournalRecorder(journal, lambda: sink, quiet_s=0.0, max_defer_s=0.0)

    @given(text=ANY_TEXT)
    @hsettings(deadline=None, max_examples=150)
    def check(text: str) -> None:
        record = _record(text)
        recorder.record(record)
        recorder.flush(10)
        assert sink.records[-1] == record  # exactly the text recorded, lone surrogates and all

    try:
        check()
    finally:
        recorder.close()
    assert list(journal.iterdir()) == []  # every file exported and removed; no .tmp


def test_a_journal_write_that_fails_leaves_no_tmp_file(tmp_path, monkeypatch):
    journal = tmp_path / "journal"
    recorder = JournalRecorder(journal, _Collect, quiet_s=0.0)
    try:
        with pytest.raises(TypeError):  # not JSON: fails before a file exists
            recorder.record(dataclasses.replace(_record("x"), notes=[object()]))

        real_write = os.write

        def full_disk(fd, data):  # half the line reaches the file, then the disk is full
            real_write(fd, bytes(data[:len(data) // 2]))
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "write", full_disk)
        with pytest.raises(OSError):
            recorder.record(_record(LONE))
        monkeypatch.undo()
        assert all(p.stat().st_size == 0 for p in journal.iterdir())  # the half line was cut off again
        recorder.record(_record("after"))  # the next record is whole and arrives
        recorder.flush(10)
        assert list(journal.iterdir()) == []
    finally:
        recorder.close()


def test_any_text_is_exported_to_a_real_sqlite_mlflow_store(llm):
    import mlflow

    exporter = MlflowExporter(settings().tracking_uri, settings().experiment)
    client = mlflow.MlflowClient(settings().tracking_uri)

    @given(texts=st.lists(ANY_TEXT, min_size=1, max_size=4))
    @hsettings(deadline=None, max_examples=8)  # each example is a real MLflow write and read
    def check(texts: list[str]) -> None:
        records = [_record(t) for t in texts]
        exporter.export(records)
        for text, record in zip(texts, records, strict=True):
            stored = SURROGATE.sub("\ufffd", text)  # a UTF-8 store cannot hold a lone surrogate
            trace = client.get_trace(record.trace_id)
            span = trace.data.spans[0]
            assert span.inputs["messages"][-1]["content"] == stored
            assert span.outputs["choices"][0]["message"]["content"] == stored
            assert trace.info.tags.get("llmops.notes", "") == stored

    check()


def test_the_issues_call_is_answered_cached_and_traced(llm):
    c = llm.complete("sim:echo", LONE)
    again = llm.complete("sim:echo", LONE)
    assert again.cached and again.text == c.text and LONE in c.text
    llm.flush()
    journal = settings().journal_dir
    assert not [p for p in journal.rglob("*") if p.is_file()]  # exported: nothing left, no .tmp
    row = llm.history(2)
    assert list(row.status) == ["OK", "OK"]


@pytest.mark.parametrize("model", ["openai:gpt-5.4-mini", "anthropic:claude-haiku-4-5"])
def test_a_real_sdk_that_cannot_encode_it_is_a_typed_error_and_sends_nothing(llm, openai_env, anthropic_env, model):
    with pytest.raises(E.BadRequest, match="lone surrogate.*nothing was sent"):
        llm.complete(model, LONE, cache=False)
    assert openai_env.requests == [] and anthropic_env.requests == []
    llm.flush()
    assert llm.history(1).iloc[0].error_type == "BadRequest"


def test_storable_changes_only_lone_surrogates():
    from llmops_nb.tracking import storable

    clean = _record("héllo 😀 wörld")
    assert storable(clean) is clean  # nothing to change: the same record, no copy
    dirty = storable(_record(LONE))
    assert dirty.text == "x \ufffd" and dirty.request["messages"][0]["content"] == "x \ufffd"
