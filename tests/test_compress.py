"""compress(): the token target holds, what matters survives, and its quality cost is measured."""

from __future__ import annotations

import random
import re

import pytest

from llmops_nb import evaluation as ev
from llmops_nb.compression import split_units
from llmops_nb.providers import sim
from llmops_nb.tokens import count_message_tokens, count_tokens

MODEL = "openai:gpt-5.4-mini"
FILLER = ["Visitors sign in at the front desk before entering.", "Parking is free on weekends.",
          "The heating is serviced every spring.", "Recycling bins are emptied on Tuesdays.",
          "Deliveries need to be booked a day ahead.", "Quiet hours start at ten in the evening."]


def document(seed: int, gate: str = "north") -> tuple[str, str, str]:
    """A long text, a question and its answer, with hard negatives (the other gates' codes)."""
    rng = random.Random(seed)
    codes = {g: str(rng.randint(1000, 9999)) for g in ("north", "south", "east", "west")}
    body = [rng.choice(FILLER) for _ in range(40)] + [f"The access code for the {g} gate is {c}."
                                                      for g, c in codes.items()]
    rng.shuffle(body)
    text = "\n\n".join(" ".join(body[i:i + 5]) for i in range(0, len(body), 5))
    return text, f"What is the access code for the {gate} gate?", codes[gate]


def reader(request) -> str:  # answers with the context sentence closest to the question
    context, _, question = request.messages[-1].content.rpartition("Question:")
    words = lambda s: set(re.findall(r"[a-z0-9]+", s.lower())) - {"the", "is", "what", "for"}  # noqa: E731
    return max(re.split(r"(?<=[.!?])\s+", context), key=lambda s: len(words(s) & words(question)))


def test_split_units_join_back_exactly():
    text = "First one. Second? Third!\n\nNew paragraph here. 4 is a number.\n"
    assert "".join(u + sep for u, sep in split_units(text)) == text
    assert "".join(u + sep for u, sep in split_units(text, "paragraph")) == text
    assert [u for u, _ in split_units(text)][:3] == ["First one.", "Second?", "Third!"]


@pytest.mark.parametrize("target", [300, 120, 40, 12, 3])
def test_extractive_respects_the_token_target(llm, target):
    text, question, _ = document(1)
    c = llm.compress(text, max_tokens=target, for_model=MODEL, query=question)
    assert c.method == "extractive" and c.tokens_after <= target
    assert c.tokens_after == count_tokens(c.text, MODEL) and c.tokens_before == count_tokens(text, MODEL)
    assert c.saved_usd_per_call > 0 and str(c) == c.text
    units = [u for u, _ in split_units(text)]
    if target >= 12:  # whole sentences, in their original order
        assert c.kept == tuple(sorted(c.kept)) and len(c.kept) >= 1
        at = 0
        for i in c.kept:
            at = c.text.index(units[i], at) + len(units[i])
        assert at == len(c.text)


def test_the_query_keeps_the_answer_sentence(llm):
    for seed in range(10):
        text, question, answer = document(seed)
        c = llm.compress(text, max_tokens=40, for_model=MODEL, query=question)
        assert f"north gate is {answer}." in c.text, seed


def test_within_target_is_unchanged_and_costs_nothing(llm):
    c = llm.compress("Short text.", max_tokens=50, for_model=MODEL)
    assert (c.method, c.text, c.tokens_before, c.tokens_after, c.saved_usd_per_call) == \
        ("none", "Short text.", 3, 3, 0.0)


def test_a_template_keeps_its_variables(llm):
    from llmops_nb import prompts

    shots = "\n\n".join(f"Q: example question {i} about the invoice total?\nA: answer {i}." for i in range(20))
    v = prompts.register(f"fewshot-{random.randrange(10**9)}", f"{shots}\n\nQ: {{{{question}}}}\nA:").version
    c = llm.compress(v, max_tokens=60, for_model=MODEL, unit="paragraph")
    assert c.tokens_after <= 60 and "{{question}}" in c.text
    assert prompts.variables(c.text) == ["question"]


def test_chat_history_keeps_system_and_latest_turns(llm):
    msgs = [{"role": "system", "content": "Be brief."}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "words " * 40} for i in range(12)]
    c = llm.compress(msgs, max_tokens=150, for_model=MODEL)
    assert c.tokens_after <= 150 and c.tokens_after == count_message_tokens(c.messages, MODEL)
    assert c.messages[0]["content"] == "Be brief." and c.messages[-1]["content"].startswith("turn 11")
    assert c.kept == tuple(sorted(c.kept)) and c.kept[1:] == tuple(range(c.kept[1], 13))  # contiguous, newest


def test_llm_based_is_one_recorded_call_within_target(llm):
    sim.configure_model("gpt-4o-mini", reply="north gate code 4417. " * 200, ttft_s=0.0)
    text, _, _ = document(3)
    c = llm.compress(text, max_tokens=50, model="sim:gpt-4o-mini", for_model=MODEL)
    assert c.method == "llm" and c.tokens_after <= 50 and c.completion is not None
    assert c.compression_cost_usd == c.completion.cost_usd > 0
    llm.flush()
    assert c.completion.trace_id in set(llm.history(5)["trace_id"])  # recorded like any call


def test_bad_target_is_a_clear_error_before_any_call(llm):
    with pytest.raises(ValueError, match="positive"):
        llm.compress("text", max_tokens=0)
    with pytest.raises(TypeError, match="text, a PromptVersion or a list"):
        llm.compress(42, max_tokens=10)


def test_quality_cost_is_measured_with_the_same_scorer(llm):
    """Before vs after with the same reader and scorer: the query-aware method keeps the
    answers, naive truncation at the same size loses some (the figure the benchmark reports)."""
    sim.configure_model("reader", respond=reader, ttft_s=0.0, tokens_per_s=0)
    score = ev.contains()
    tasks = [document(seed) for seed in range(12)]

    def quality(contexts):
        return sum(score(llm.complete("sim:reader", f"Context: {c}\n\nQuestion: {q}", cache=False).text,
                         {"expected": a}) for c, (_, q, a) in zip(contexts, tasks, strict=True)) / len(tasks)

    from llmops_nb.tokens import encoding

    full = quality([t for t, _, _ in tasks])
    kept = quality([llm.compress(t, max_tokens=60, for_model=MODEL, query=q).text for t, q, _ in tasks])
    enc = encoding("o200k_base")
    cut = quality([enc.decode(enc.encode_ordinary(t)[:60]) for t, _, _ in tasks])
    assert full == 1.0 and kept == 1.0 and cut < 0.5
