"""What compression costs in quality: QA over long documents, scored before and after.

    python benchmarks/compress.py [--docs 40] [--seed 7]

The task set: seeded synthetic documents (about 600 tokens, paragraphs of facility notes) with
one question each whose answer sentence sits at a random place among hard negatives (the same
fact for other gates, rooms and teams). The reader is an offline ``sim:`` model answering with
the context sentence that shares the most words with the question — a deterministic stand-in
for a model that can only answer what the context still says — so a document that lost its
answer sentence is answered wrongly, and a score is never an assertion. The scorer is
``evaluation.contains()`` on the expected value, the same before and after.

Methods, each at 50 %, 25 % and 10 % of the document's tokens (for ``openai:gpt-5.4-mini``):
``none`` (the baseline: the full document), ``truncate`` (its first N tokens: the naive
baseline), ``extractive`` (``compress()`` without a query), ``extractive+query`` (with the
question as ``query``) and ``llm`` (``compress(model=...)`` with a ``sim:`` stand-in that, like a
generic summariser, keeps each paragraph's leading sentences within the word budget it is
asked for — a real model would do better or worse; this measures the plumbing and the
trade-off's shape, not a real model). All calls go through ``complete()`` (cache and tracking
off). Also the extractive method's time per document, against counting its tokens once.

Writes benchmarks/results/compress.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")

RESULTS = Path(__file__).resolve().parent / "results"
FOR_MODEL = "openai:gpt-5.4-mini"
TARGETS = (0.5, 0.25, 0.10)
GATES = ["north", "south", "east", "west", "river", "harbour", "market", "garden"]
ROOMS = ["library", "gym", "cafeteria", "archive", "studio", "workshop", "clinic", "lounge"]
TEAMS = ["billing", "logistics", "research", "security", "support", "design", "sales", "legal"]
NAMES = ["Amara", "Bodhi", "Chiara", "Dmitri", "Esme", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kavya", "Luca"]
FILLER = [
    "Visitors are asked to sign in at the front desk before entering any of the buildings.",
    "The heating system is serviced every spring by an outside contractor.",
    "Parking is free on weekends but limited to two hours on weekdays.",
    "Lost property is kept for thirty days and then donated to charity.",
    "The newsletter goes out on the first Monday of every month.",
    "Bicycles must be left in the racks behind the main entrance.",
    "Fire drills happen without notice, so please follow the wardens' instructions.",
    "The wireless network name is printed on the card at every desk.",
    "Recycling bins are emptied on Tuesdays and Fridays.",
    "Deliveries larger than one pallet need to be booked a day ahead.",
    "Quiet hours in the residential wing start at ten in the evening.",
    "The courtyard fountain is switched off during the winter months.",
]


def fact(kind: str, key: str, rng: random.Random) -> tuple[str, str, str]:
    """(sentence, question, answer) of one fact."""
    if kind == "gate":
        code = str(rng.randint(1000, 9999))
        return (f"The access code for the {key} gate is {code}.", f"What is the access code for the {key} gate?", code)
    if kind == "room":
        hour = f"{rng.randint(6, 11)}:{rng.choice(['00', '15', '30', '45'])}"
        return (f"The {key} opens at {hour} on weekdays.", f"When does the {key} open on weekdays?", hour)
    name = rng.choice(NAMES)
    return (f"The {key} team is led by {name}.", f"Who leads the {key} team?", name)


def document(rng: random.Random) -> dict[str, str]:
    """One long document and its question: the answer among facts of the same kind."""
    kind = rng.choice(["gate", "room", "team"])
    keys = rng.sample({"gate": GATES, "room": ROOMS, "team": TEAMS}[kind], 5)
    facts = [fact(kind, k, rng) for k in keys]
    sentence, question, answer = facts[0]
    others = [f[0] for f in facts[1:]] + [fact(k, rng.choice(v), rng)[0] for k, v in
                                         (("gate", GATES), ("room", ROOMS), ("team", TEAMS)) for _ in range(2)]
    body = [rng.choice(FILLER) for _ in range(rng.randint(30, 44))] + others
    rng.shuffle(body)
    body.insert(rng.randrange(len(body) + 1), sentence)
    paragraphs, i = [], 0
    while i < len(body):
        n = rng.randint(4, 6)
        paragraphs.append(" ".join(body[i:i + n]))
        i += n
    return {"doc": "\n\n".join(paragraphs), "question": question, "expected": answer}


_WORDS = re.compile(r"[a-z0-9:]+")
_STOP = {"the", "a", "is", "at", "on", "what", "when", "who", "does", "for", "of", "by", "to"}


def _words(text: str) -> set[str]:
    return {w for w in _WORDS.findall(text.lower()) if w not in _STOP}


def reader(request: Any) -> str:
    """sim:reader — answers with the context sentence sharing the most words with the question."""
    text = request.messages[-1].content
    context, _, question = text.rpartition("Question:")
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", context.replace("Context:", "")) if s.strip()]
    q = _words(question)
    return max(sentences, key=lambda s: len(_words(s) & q), default="I do not know.").strip()


def summariser(request: Any) -> str:
    """sim:gpt-4o-mini as a generic summariser: leading sentences of each paragraph, round
    robin, within the word budget it is asked for (priced like gpt-4o-mini)."""
    text = request.messages[-1].content
    budget = int(re.search(r"about (\d+) words", text).group(1))
    body = text.split("\n\n", 1)[1]
    paragraphs = [re.split(r"(?<=[.!?])\s+", p.strip()) for p in body.split("\n\n")]
    kept: list[list[str]] = [[] for _ in paragraphs]
    words, depth = 0, 0
    while depth < max(map(len, paragraphs)):
        for i, p in enumerate(paragraphs):
            if depth < len(p) and words + len(p[depth].split()) <= budget:
                kept[i].append(p[depth])
                words += len(p[depth].split())
        depth += 1
    return "\n\n".join(" ".join(k) for k in kept if k)


def truncate(text: str, max_tokens: int) -> str:
    from llmops_nb.tokens import encoding, encoding_name_for

    enc = encoding(encoding_name_for(FOR_MODEL))
    return enc.decode(enc.encode_ordinary(text)[:max_tokens])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmops-bench-compress-"))
    import llmops_nb as llm
    from llmops_nb import evaluation as ev
    from llmops_nb.providers import sim
    from llmops_nb.tokens import count_tokens

    llm.configure(home=tmp / "home", tracking=False, cache_mode="off", default_model=FOR_MODEL, guardrails="off")
    sim.configure_model("reader", respond=reader, ttft_s=0.0, tokens_per_s=0)
    sim.configure_model("gpt-4o-mini", respond=summariser, ttft_s=0.0, tokens_per_s=0)
    rng = random.Random(args.seed)
    tasks = [document(rng) for _ in range(args.docs)]
    score = ev.contains()

    def quality(contexts: list[str]) -> float:
        hits = [score(llm.complete("sim:reader", f"Context: {c}\n\nQuestion: {t['question']}").text, t)
                for c, t in zip(contexts, tasks, strict=True)]
        return sum(hits) / len(hits)

    sizes = [count_tokens(t["doc"], FOR_MODEL) for t in tasks]
    baseline = quality([t["doc"] for t in tasks])
    rows: list[dict[str, Any]] = [{"method": "none", "target": 1.0, "tokens_before": statistics.mean(sizes),
                                   "tokens_after": statistics.mean(sizes), "within_target": True,
                                   "quality": baseline, "quality_change": 0.0, "saved_usd_per_call": 0.0,
                                   "compression_cost_usd": 0.0}]
    timing: dict[str, list[float]] = {"extractive": [], "count tokens once": []}
    for ratio in TARGETS:
        targets = [max(1, int(n * ratio)) for n in sizes]
        runs: dict[str, list[Any]] = {}
        runs["truncate"] = [truncate(t["doc"], m) for t, m in zip(tasks, targets, strict=True)]
        for name, query in (("extractive", False), ("extractive+query", True)):
            out = []
            for t, m in zip(tasks, targets, strict=True):
                t0 = time.perf_counter()
                out.append(llm.compress(t["doc"], max_tokens=m, query=t["question"] if query else None))
                if name == "extractive":
                    timing["extractive"].append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    count_tokens(t["doc"], FOR_MODEL)
                    timing["count tokens once"].append((time.perf_counter() - t0) * 1000)
            runs[name] = out
        runs["llm"] = [llm.compress(t["doc"], max_tokens=m, model="sim:gpt-4o-mini")
                       for t, m in zip(tasks, targets, strict=True)]
        for name, outs in runs.items():
            texts = [str(o) for o in outs]
            after = [count_tokens(x, FOR_MODEL) for x in texts]
            saved = [llm.price_of(llm.Usage(input_tokens=b - a, output_tokens=0), FOR_MODEL).cost_usd
                     for b, a in zip(sizes, after, strict=True)]
            q = quality(texts)
            rows.append({"method": name, "target": ratio, "tokens_before": statistics.mean(sizes),
                         "tokens_after": statistics.mean(after),
                         "within_target": all(a <= m for a, m in zip(after, targets, strict=True)),
                         "quality": q, "quality_change": q - baseline, "saved_usd_per_call": statistics.mean(saved),
                         "compression_cost_usd": statistics.mean(getattr(o, "compression_cost_usd", 0.0) or 0.0
                                                                 for o in outs)})
    print(f"{'method':<18}{'target':>7}{'tokens':>14}{'fits':>6}{'quality':>9}{'Δ':>7}{'saved $/call':>14}")
    for r in rows:
        print(f"{r['method']:<18}{r['target']:>7.0%}{r['tokens_before']:>7.0f}→{r['tokens_after']:<6.0f}"
              f"{'yes' if r['within_target'] else 'NO':>6}{r['quality']:>9.2f}{r['quality_change']:>+7.2f}"
              f"{r['saved_usd_per_call']:>14.7f}")
    speed = {k: {"p50_ms": statistics.median(v), "n": len(v)} for k, v in timing.items()}
    print(f"extractive compress: {speed['extractive']['p50_ms']:.2f} ms p50 per document "
          f"(counting its tokens once: {speed['count tokens once']['p50_ms']:.2f} ms)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compress.json").write_text(json.dumps({
        "benchmark": "compress", "docs": args.docs, "seed": args.seed, "for_model": FOR_MODEL,
        "reader": "sim:reader (best word-overlap sentence)", "llm_compressor": "sim:gpt-4o-mini (lead summariser)",
        "rows": rows, "timing": speed, "python": platform.python_version(), "machine": platform.machine(),
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
