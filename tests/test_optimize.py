"""optimize(): MLflow's optimizers driven by sim: models whose optimum is known.

The task model answers an invoice's total only when its instruction says "Reply with the
total only" (else it summarises), so the exact-match scorer's optimum is that instruction; the
reflection model proposes it (in the metaprompt's JSON or GEPA's fenced block) after seeing
the failures. Everything runs through complete(), offline, recorded in the test store.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from llmops_nb import evaluation as ev
from llmops_nb import prompts
from llmops_nb.errors import CostConfirmationRequired
from llmops_nb.providers import sim

OPTIMUM = "Reply with the total only"
PARENT = "Summarize this invoice:\n{{text}}"


def task(request):  # the answer follows the instruction
    text = "\n".join(m.content for m in request.messages)
    if OPTIMUM.lower() in text.lower():
        found = re.search(r"Total due: ([\d.]+)", text)
        return found.group(1) if found else "unknown"
    return "This invoice lists several items and a total amount due."


def proposer(instruction):
    def reflect(request):
        text = request.messages[-1].content
        new = instruction + "\n{{text}}"
        if "JSON object" in text:  # the metaprompt names the prompt it wants back
            return json.dumps({re.search(r"Prompt name: (\S+)", text).group(1): new})
        return f"```\n{new}\n```"
    return reflect


def invoices(n, start=10, cents="50"):
    return [{"text": f"Invoice {i}. Items: paper, ink. Total due: {start + i}.{cents} EUR",
             "expected": f"{start + i}.{cents}"} for i in range(n)]


@pytest.fixture
def models(llm):
    def setup(instruction=OPTIMUM + ", digits and the decimal point, of this invoice:", name="task"):
        sim.configure_model(name, respond=task, ttft_s=0.0, tokens_per_s=0)
        sim.configure_model("reflect", respond=proposer(instruction), ttft_s=0.0, tokens_per_s=0)
    setup()
    return setup


@pytest.fixture
def name():
    """A prompt name of this test alone (the test store is shared by the whole run)."""
    return f"invoice-{uuid.uuid4().hex[:8]}"


def _store_tags(llm, name, version):
    """The version's tags read back from the real sqlite store with a fresh client."""
    import mlflow

    uri = llm.settings().tracking_uri
    return mlflow.MlflowClient(uri, registry_uri=uri).get_prompt_version(name, version).tags


@pytest.mark.parametrize("optimizer", ["metaprompt", "gepa"])
def test_finds_the_known_optimum_and_registers_it_with_lineage(llm, models, name, optimizer):
    if optimizer == "gepa":
        pytest.importorskip("gepa")
    parent = prompts.register(name, PARENT, aliases=["production"]).version
    data, held = invoices(8), invoices(8, start=40, cents="25")
    r = llm.optimize(f"{name}@production", data, [ev.exact()], model="sim:task", reflection_model="sim:reflect",
                     optimizer=optimizer, eval_data=held, alias="production", max_metric_calls=16)
    assert OPTIMUM in r.candidate and "{{text}}" in r.candidate
    assert r.winner and r.comparison.winner == "candidate" and r.comparison.p_value <= 0.05
    assert r.scores.loc["exact", "parent"] == 0.0 and r.scores.loc["exact", "candidate"] == 1.0
    assert r.version.version == parent.version + 1 and prompts.get(f"{name}@production").version == r.version.version
    assert prompts.get(f"{name}@1").template == PARENT  # the parent is untouched
    tags = _store_tags(llm, name, r.version.version)
    assert tags["llmops.optimize.parent"] == f"{name}@1"
    assert tags["llmops.optimize.optimizer"] == optimizer
    from llmops_nb.optimization import digest

    assert tags["llmops.optimize.dataset"] == digest(data) and tags["llmops.optimize.dataset_size"] == "8"
    assert tags["llmops.optimize.eval_dataset"] == digest(held)
    assert tags["llmops.optimize.run_id"] == r.run_id
    fixed = r.addressed.set_index("cause").loc["low score: exact < 0.5"]
    assert (fixed["parent"], fixed["candidate"], fixed["status"]) == (8, 0, "fixed")
    assert "+" + OPTIMUM in r.diff()


def test_a_candidate_that_does_not_win_is_not_registered(llm, models, name):
    models(instruction="Summarize this invoice briefly:")  # proposes a rewrite that scores no better
    prompts.register(name, PARENT)
    r = llm.optimize(f"{name}@1", invoices(8), {"exact": ev.exact()}, model="sim:task",
                     reflection_model="sim:reflect")
    assert r.candidate is not None and not r.winner and r.version is None
    assert "no winner" in r.decision
    assert [v.version for v in prompts.versions(name)] == [1]
    assert any("optimistic" in n for n in r.notes)  # compared on the data it learned from


def test_starts_from_known_failures_and_says_which_it_addressed(llm, models, name):
    prompts.register(name, PARENT)
    parent = prompts.get(f"{name}@1")
    sim.configure_model("down", failures=["500"])
    with pytest.raises(llm.ProviderError):  # failures of this prompt in the history: an error,
        prompts.complete("sim:down", prompt=parent, variables={"text": "x"})
    prompts.complete("sim:task", prompt=parent, variables={"text": "x"}, expect_json=True)  # and prose, not JSON
    llm.flush()
    # the answer must be JSON: the parent's prose fails that output check, the bare total passes it
    r = llm.optimize(f"{name}@1", invoices(6), [ev.exact()], model="sim:task", reflection_model="sim:reflect",
                     expect_json=True)
    history = r.failures[r.failures["source"] == "history"]
    assert history["cause"].str.contains("ProviderUnavailable").any()
    data = r.failures[r.failures["source"] == "data"].set_index("cause")["count"]
    assert data["output format: invalid_json"] == 6  # every baseline answer failed the format check
    status = r.addressed.set_index("cause")["status"]
    assert status["output format: invalid_json"] == "fixed"
    assert status["error: ProviderUnavailable"] == "not seen on the data"
    assert set(history["cause"]) == {"error: ProviderUnavailable", "output format: invalid_json"}
    assert r.winner


def test_a_guardrail_block_is_a_failure_no_prompt_fixes(llm, models, name):
    prompts.register(name, PARENT)
    data = invoices(8)
    data[0]["text"] += " Paid with key AKIAZ2X4Q7RTWE3LKM5N."  # secrets are blocked: nothing is sent
    r = llm.optimize(f"{name}@1", data, [ev.exact()], model="sim:task", reflection_model="sim:reflect")
    assert not r.notes or not any("reflection failed" in n for n in r.notes)  # the key never reached it
    assert r.failures.set_index("cause").loc["error: GuardrailBlocked", "count"] == 1
    blocked = r.addressed.set_index("cause").loc["error: GuardrailBlocked"]
    assert (blocked["parent"], blocked["candidate"], blocked["status"]) == (1, 1, "not fixed")
    assert r.scores.loc["error_rate", "candidate"] == pytest.approx(1 / 8)
    assert r.winner  # on the seven inputs that could be sent


def test_estimates_and_asks_before_spending(llm, models, name):
    models(name="gpt-4o-mini")  # priced like gpt-4o-mini
    prompts.register(name, PARENT)
    before = llm.spend()["calls"]
    with pytest.raises(CostConfirmationRequired):
        llm.optimize(f"{name}@1", invoices(4), [ev.exact()], model="sim:gpt-4o-mini",
                     reflection_model="sim:gpt-4o-mini", confirm_above_usd=0.0)
    assert llm.spend()["calls"] == before  # nothing was sent


def test_stops_at_max_cost_with_nothing_registered(llm, models, name):
    models(name="gpt-4o-mini")
    prompts.register(name, PARENT)
    from llmops_nb.pipeline import prepare

    first = [{"role": "user", "content": PARENT.replace("{{text}}", invoices(1)[0]["text"])}]
    estimate = prepare("sim:gpt-4o-mini", first, params={"max_tokens": 8}).estimated_input_tokens
    per_call = llm.price_of(llm.Usage(input_tokens=estimate, output_tokens=8), "sim:gpt-4o-mini").cost_usd
    cap = per_call * 5  # the baseline alone needs 8 calls
    r = llm.optimize(f"{name}@1", invoices(8), [ev.exact()], model="sim:gpt-4o-mini",
                     reflection_model="sim:gpt-4o-mini", max_cost=cap, max_workers=2, max_tokens=8, cache=False)
    assert r.stopped and "max_cost" in r.stopped
    assert 0 < r.spent_usd <= cap
    assert r.calls < 8 and not r.winner and r.candidate is None
    assert [v.version for v in prompts.versions(name)] == [1]


def test_routes_answer_and_reflect(llm, models, name):
    llm.configure(routes={"answer": ["sim:task"], "think": ["sim:reflect"]})
    prompts.register(name, PARENT)
    r = llm.optimize(f"{name}@1", invoices(6), [ev.exact()], model="route:answer", reflection_model="route:think",
                     eval_data=invoices(6, start=50))
    assert r.winner and OPTIMUM in r.version.template
    llm.flush()
    calls = llm.history(40)
    assert {"sim:task", "sim:reflect"} <= set(calls["model"])
    assert (calls["prompt"] == f"{name}@1").sum() >= 12  # the parent's answers name it (lineage)


def test_magic_line_hands_off_to_optimize(ip, models, name):
    prompts.register(name, PARENT)
    ip.user_ns.update(data=invoices(6), held=invoices(6, start=70), scorers=[ev.exact()])
    ip.run_line_magic("llm", f"optimize {name}@1 --data data --scorers scorers --eval-data held "
                             "--model sim:task --reflection sim:reflect -o opt")
    r = ip.user_ns.pop("opt")
    assert r.winner and r.version.version == 2
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="no such variable"):
        ip.run_line_magic("llm", f"optimize {name}@1 --data nope --scorers scorers")
    for name in ("held", "scorers"):
        ip.user_ns.pop(name, None)


def test_what_is_logged_is_what_the_provider_saw(llm, models, name):
    """The run's scores.csv holds the answers as recorded: a redacted e-mail stays a placeholder."""
    def echo_total(request):  # repeats the contact it was given, then the answer
        text = "\n".join(m.content for m in request.messages)
        contact = re.search(r"contact (\S+)", text).group(1)
        return f"{contact}: {task(request)}"

    sim.configure_model("task", respond=echo_total, ttft_s=0.0, tokens_per_s=0)
    prompts.register(name, PARENT)
    data = [{**item, "text": item["text"] + " contact ana.lima@example.com"} for item in invoices(6)]
    r = llm.optimize(f"{name}@1", data, [ev.contains()], model="sim:task", reflection_model="sim:reflect")
    assert r.run_id
    from pathlib import Path

    import mlflow

    uri = llm.settings().tracking_uri
    path = mlflow.MlflowClient(uri).download_artifacts(r.run_id, "experiment/scores.csv")
    logged = Path(path).read_text(encoding="utf-8")
    assert "EMAIL" in logged and "ana.lima@example.com" not in logged
