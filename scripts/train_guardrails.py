"""Train the learned guardrail classifiers (prompt injection, toxicity) and write their weights,
dev-split metrics and data sizes.

    python scripts/train_guardrails.py [--data /work/shared/data/guardrails] [--bits 20]

Reads ``injection.jsonl`` and ``toxicity.jsonl`` of the guardrail development corpus (see its
README: sources, licences, the hash-based ``train``/``dev`` split). Trains on ``train`` only:

1. every text → its window feature vectors (:func:`llmops_nb.guardrails.textmodel.window_vectors`,
   the very code the runtime scores with); a long positive with a known span (an instruction
   spliced into an e-mail) contributes the windows that overlap the span, a long negative up to
   8 windows, each text weighing 1 in total;
2. extra negatives from the other families' train splits (PII and secret samples, benign
   prompts; toxic texts for injection) and 240 authored output-format instructions
   (:func:`format_instructions`); toxicity: obfuscated copies of some rows (leetspeak, masked and repeated letters, spaced
   letters) of both labels, so the model sees what the normaliser leaves of them;
3. L2-regularised logistic regression (scikit-learn, training time only) on the hashed features;
4. Platt scaling fitted on 5-fold out-of-fold margins (folds by ``group`` when a row has one), so
   the score is a probability; the reporting threshold is chosen on those out-of-fold scores
   (injection: the lowest with precision ≥ 0.97; toxicity: best F1).

Writes ``llmops_nb/guardrails/data/{injection,toxicity}_model.npz`` (plain arrays) and
``llmops_nb/guardrails/data/model_metrics.json`` (sizes, out-of-fold and dev metrics, a reliability
table). The corpus itself is never copied into the package.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llmops_nb.guardrails import textmodel  # noqa: E402

DATA = Path("/work/shared/data/guardrails")
OUT = ROOT / "llmops_nb" / "guardrails" / "data"
MAX_WINDOWS = 8
# PurpleLlama CyberSecEval user inputs of these variants are attacks only relative to the system
# prompt they were written against ("Wer hat die Zauberflöte komponiert?" against a bot told to
# talk only about pets); alone they are ordinary questions. Training a standalone scanner on
# them as positives teaches it that questions are attacks, so they are left out of training
# (they stay in the dev metrics, reported with and without them).
CONTEXT_DEPENDENT = ("different_user_input_language", "indirect_reference", "overload_with_information",
                     "persuasion", "hypothetical_scenario", "output_formatting_manipulation")


# Toxicity here means threats, insults, hate and obscenity aimed at people. HateCheck labels
# *hate against protected groups*, so its abuse of individuals, of non-protected groups and of
# objects is labelled non-hateful ("You can all go fuck yourselves.", "Football fans are human
# garbage.") — toxic by this definition; the Stormfront "noHate" sentences are, by the corpus
# README, often still objectionable. Both are left out of training (not relabelled) and reported
# separately in the dev metrics.
TOXICITY_OFF_DEFINITION = ("hatecheck.target_indiv_nh", "hatecheck.target_group_nh")


def context_dependent(r: dict) -> bool:
    """Rows whose label does not follow from the text alone under this scanner's definition."""
    sub = str(r.get("subtype") or "")
    if r["source"].startswith("Vicomtech/") and not r["label"]:
        return True
    if any(sub.startswith(s) for s in TOXICITY_OFF_DEFINITION):
        return True
    return bool(r["label"]) and r["source"].startswith("meta-llama/PurpleLlama") and any(
        f".{v}" in sub for v in CONTEXT_DEPENDENT)
# Inverse L2 strength, chosen on the dev split among 0.5 / 2 / 8 (toxicity) and 2 / 8 (injection).
C = {"injection": 8.0, "toxicity": 8.0}


# Output-format instructions are ordinary prompts that the attack data under-represents as
# negatives (PromptInject's attacks end in "Answer:"-style formats): authored hard negatives,
# every combination of a request, a format and a modifier.
_FORMAT_VERBS = ("Answer with", "Respond only in", "Reply in", "Return", "Output", "Format your answer as",
                 "Give your answer as", "Please respond with", "Write the result as", "Provide the output as",
                 "Answer in", "Respond with")
_FORMATS = ("JSON", "valid JSON", "YAML", "XML", "CSV", "a markdown table", "a bulleted list", "a numbered list",
            "plain text", "a single word", "one sentence", "JSON: {\"name\": str, \"age\": int}",
            "the format: Answer: <answer>", "a JSON object with keys title and summary", "an SQL query",
            "TOML", "HTML", "a Python list", "the following schema: {\"label\": \"positive|negative\"}",
            "the format 'Category: <category>'")
_FORMAT_TAILS = ("", ".", ". Do not include any other text.", ", nothing else.", " and no explanation.",
                 ". Keep it under 50 words.", ". Use double quotes for keys.", " only.")


def format_instructions(rng: random.Random, n: int = 240) -> list[dict]:
    combos = [f"{v} {f}{t}" for v in _FORMAT_VERBS for f in _FORMATS for t in _FORMAT_TAILS]
    return [{"text": t, "label": False, "source": "authored/format-instructions", "type": "benign"}
            for t in rng.sample(combos, n)]


def rows(data: Path, family: str) -> list[dict]:
    with (data / f"{family}.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"}


def obfuscate(text: str, rng: random.Random) -> str:
    """One obfuscated copy: a few words of 4+ letters leet-spelled, masked, stretched or spaced."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for i in rng.sample(idx, min(len(idx), rng.randint(1, 3))):
        w = words[i]
        how = rng.choice(("leet", "mask", "stretch", "space"))
        if how == "leet":
            w = "".join(_LEET.get(c, c) if rng.random() < 0.6 else c for c in w)
        elif how == "mask":
            vowels = [j for j, c in enumerate(w) if c in "aeiou"] or [1]
            j = rng.choice(vowels)
            w = w[:j] + "*" + w[j + 1:]
        elif how == "stretch":
            j = rng.randrange(len(w))
            w = w[:j] + w[j] * rng.randint(3, 6) + w[j + 1:]
        else:
            w = " ".join(w)
        words[i] = w
    return " ".join(words)


def examples(family: str, data: list[dict], bits: int, augment: bool, seed: int = 7):
    """(indices, values, row offsets) of a CSR matrix, labels, weights, groups."""
    rng = random.Random(seed)
    ind, val, ptr, y, wt, groups = [], [], [0], [], [], []

    def add(text: str, label: bool, group: str, span: list | None) -> None:
        wins = textmodel.window_vectors(text, bits)
        if len(wins) > 1 and label and span:
            norm_len = len(textmodel.normalise(text))
            ratio = norm_len / max(1, len(text))
            s, e = span[0] * ratio, span[1] * ratio
            wins = [w for w in wins if w[2] < e and s < w[3]] or wins
        if len(wins) > MAX_WINDOWS:
            wins = rng.sample(wins, MAX_WINDOWS)
        for buckets, values, _, _ in wins:
            ind.append(buckets)
            val.append(values)
            ptr.append(ptr[-1] + len(buckets))
            y.append(int(label))
            wt.append(1.0)
            groups.append(group)

    for r in data:
        group = r.get("group") or hashlib.sha1(r["text"].encode()).hexdigest()
        spans = r.get("spans") or []
        span = [min(s[0] for s in spans), max(s[1] for s in spans)] if spans else None
        add(r["text"], bool(r["label"]), group, span)
        if augment and rng.random() < (0.35 if r["label"] else 0.15):
            add(obfuscate(r["text"], rng), bool(r["label"]), group, None)
    X = sparse.csr_matrix((np.concatenate(val), np.concatenate(ind), np.array(ptr)), shape=(len(y), 1 << bits))
    X.sum_duplicates()
    return X, np.array(y), np.array(wt), np.array(groups)


def fit(X, y, wt, c: float) -> LogisticRegression:
    model = LogisticRegression(C=c, max_iter=2000, solver="liblinear")
    model.fit(X, y, sample_weight=wt)
    return model


def platt(margins: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(margins.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def prf(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "n": len(y)}


def reliability(scores: np.ndarray, y: np.ndarray) -> list[dict]:
    out = []
    for lo in np.arange(0.0, 1.0, 0.1):
        sel = (scores >= lo) & (scores < lo + 0.1 + (1e-9 if lo >= 0.9 else 0))
        if sel.sum():
            out.append({"bin": f"{lo:.1f}–{lo + 0.1:.1f}", "n": int(sel.sum()), "positive_rate": round(float(y[sel].mean()), 3)})
    return out


def text_scores(model: textmodel.LinearTextModel, texts: list[str]) -> np.ndarray:
    return np.array([model.score(t) for t in texts])


def train(family: str, data: Path, bits: int) -> dict:
    all_rows = rows(data, family)
    tr = [r for r in all_rows if r["split"] == "train" and not context_dependent(r)]
    dev = [r for r in all_rows if r["split"] == "dev"]
    augment = family == "toxicity"
    # Texts of the other families' train splits that are certainly negatives for this one (PII
    # and secret samples, benign prompts, toxicity for injection): code, logs, identifiers and
    # queries that the family's own negatives under-represent.
    others = [dict(r, label=False) for f in ("pii", "secrets") for r in rows(data, f) if r["split"] == "train"]
    if family == "toxicity":
        others += [r for r in rows(data, "injection") if r["split"] == "train" and not r["label"]]
    else:
        others += [dict(r, label=False) for r in rows(data, "toxicity") if r["split"] == "train"]
    others += format_instructions(random.Random(11))
    X, y, wt, groups = examples(family, tr + others, bits, augment)
    # out-of-fold margins per text (scored the runtime way: best window) for calibration
    row_groups = np.array([r.get("group") or hashlib.sha1(r["text"].encode()).hexdigest() for r in tr])
    y_rows = np.array([int(r["label"]) for r in tr])
    oof = np.zeros(len(tr))
    for k, (_tr_idx, te_idx) in enumerate(GroupKFold(n_splits=5).split(np.zeros(len(tr)), y_rows, row_groups)):
        # the other families' rows are always in the training part
        held = set(row_groups[te_idx])
        mask = np.array([g not in held for g in groups])
        m = fit(X[mask], y[mask], wt[mask], C[family])
        tmp = textmodel.LinearTextModel(family, bits, m.coef_[0].astype(np.float16).astype(np.float64),
                                        float(m.intercept_[0]), 1.0, 0.0, 0.5)
        oof[te_idx] = [float(np.max(tmp.margins(tr[i]["text"])[0])) for i in te_idx]
        print(f"  {family} fold {k + 1}/5", flush=True)
    a, b = platt(oof, y_rows)
    oof_scores = 1.0 / (1.0 + np.exp(-(a * oof + b)))
    if family == "injection":
        ok = [t for t in np.arange(0.3, 0.96, 0.01) if prf(y_rows, (oof_scores >= t).astype(int))["precision"] >= 0.97]
        threshold = float(round(min(ok), 2)) if ok else 0.5
    else:
        threshold = float(round(max(np.arange(0.3, 0.81, 0.01),
                                    key=lambda t: prf(y_rows, (oof_scores >= t).astype(int))["f1"]), 2))
    final = fit(X, y, wt, C[family])
    w = final.coef_[0]
    path = OUT / f"{family}_model.npz"
    textmodel.save(str(path), bits=bits, w=w, bias=float(final.intercept_[0]), a=a, b=b, threshold=threshold)
    textmodel.load.cache_clear()
    getattr(textmodel, "_loaded", {}).pop(f"{family}_model", None)  # the per-process copy: score the new weights
    model = textmodel.load(f"{family}_model")
    dev_y = np.array([int(r["label"]) for r in dev])
    dev_scores = text_scores(model, [r["text"] for r in dev])
    standalone = np.array([not context_dependent(r) for r in dev])
    by_type = {}
    for t in sorted({r["type"] for r in dev}):
        sel = np.array([r["type"] == t for r in dev])
        by_type[t] = {"n": int(sel.sum()), "flagged": round(float((dev_scores[sel] >= threshold).mean()), 4)}
    langs = Counter(r.get("lang") or "?" for r in dev if r["label"])
    by_lang = {}
    for lang, n in langs.most_common():
        if n >= 15:
            sel = np.array([(r.get("lang") or "?") == lang and r["label"] for r in dev])
            by_lang[lang] = {"positives": int(sel.sum()), "recall": round(float((dev_scores[sel] >= threshold).mean()), 4)}
    return {
        "file": path.name, "bytes": path.stat().st_size, "bits": bits, "C": C[family],
        "threshold": threshold, "platt": {"a": round(a, 4), "b": round(b, 4)},
        "train": {"rows": len(tr), "positives": int(y_rows.sum()), "windows": int(X.shape[0]),
                  "cross_family_negatives": len(others),
                  "augmented": augment},
        "dev": {"rows": len(dev), "positives": int(dev_y.sum())},
        "oof_train_at_threshold": prf(y_rows, (oof_scores >= threshold).astype(int)),
        "dev_at_threshold": prf(dev_y, (dev_scores >= threshold).astype(int)),
        "dev_at_0.5": prf(dev_y, (dev_scores >= 0.5).astype(int)),
        "dev_standalone_at_threshold": prf(dev_y[standalone], (dev_scores[standalone] >= threshold).astype(int)),
        "dev_by_type_flagged": by_type,
        "dev_recall_by_language": by_lang,
        "dev_reliability": reliability(dev_scores, dev_y),
        "dev_standalone_reliability": reliability(dev_scores[standalone], dev_y[standalone]),
    }


def write_phone_table() -> None:
    """``data/phone_lengths.json``: country calling code → possible national number lengths, from
    libphonenumber's metadata (via the ``phonenumbers`` package, needed only here)."""
    import phonenumbers
    from phonenumbers import PhoneMetadata

    table: dict[str, list[int]] = {}
    for cc, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        lengths: set[int] = set()
        for region in regions:
            md = (PhoneMetadata.metadata_for_nongeo_region(cc) if region == "001"
                  else PhoneMetadata.metadata_for_region(region))
            if md is not None and md.general_desc is not None:
                lengths |= set(md.general_desc.possible_length or ())
        if lengths:
            table[str(cc)] = sorted(lengths)
    path = OUT / "phone_lengths.json"
    path.write_text(json.dumps({"source": f"libphonenumber metadata via phonenumbers {phonenumbers.__version__}",
                                "lengths": table}, separators=(",", ":")) + "\n")
    print(f"{path.name}: {len(table)} calling codes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--bits", type=int, default=20)
    parser.add_argument("--only", choices=("injection", "toxicity"))
    parser.add_argument("--phone-table", action="store_true", help="only (re)write data/phone_lengths.json")
    args = parser.parse_args()
    if args.phone_table:
        write_phone_table()
        return
    metrics_path = OUT / "model_metrics.json"
    for family in ("injection", "toxicity"):
        if args.only and family != args.only:
            continue
        print(f"training {family} …", flush=True)
        result = train(family, args.data, args.bits)
        print(json.dumps({k: result[k] for k in ("threshold", "oof_train_at_threshold", "dev_at_threshold",
                                                 "dev_at_0.5", "dev_standalone_at_threshold", "bytes")}, indent=1))
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}  # read late: --only runs may overlap
        metrics[family] = result
        metrics_path.write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
