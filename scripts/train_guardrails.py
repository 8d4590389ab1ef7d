"""Train the learned guardrail classifiers (prompt injection, toxicity) and write their weights,
dev-split metrics and data sizes.

    python scripts/train_guardrails.py [--data /work/shared/data/guardrails] [--bits 20]

``--only injection`` / ``--only toxicity`` retrain one of the two shipped models (both NBSVM on
the same features; see the model card).

Reads ``injection.jsonl`` and ``toxicity.jsonl`` of the guardrail development corpus (see its
README: sources, licences, the hash-based ``train``/``dev`` split). Trains on ``train`` only:

1. every text → its window feature vectors (:func:`llmops_nb.guardrails.textmodel.window_vectors`,
   the very code the runtime scores with); a long positive with a known span (an instruction
   spliced into an e-mail) contributes the windows that overlap the span, a long negative up to
   8 windows, each text weighing 1 in total;
2. extra negatives from the other families' train splits (PII and secret samples, benign
   prompts; toxic texts for injection) and 240 authored output-format instructions
   (:func:`format_instructions`); toxicity: 661 authored benign negatives (:func:`authored_negatives`:
   instructions, technical and figurative "violent" words, identity terms) and obfuscated copies of some rows (leetspeak, masked and repeated letters, spaced
   letters) of both labels, so the model sees what the normaliser leaves of them; toxicity
   reads every text with its identity words masked (``textmodel.mask_identities``: "women",
   "Muslims", "gay" … become one placeholder) and trains without the placeholder's own n-grams
   (``textmodel.identity_buckets``, weight 0), so naming a group adds nothing by itself;
3. L2-regularised logistic regression (scikit-learn, training time only) on the hashed features;
4. Platt scaling fitted on 3-fold out-of-fold margins (folds by ``group`` when a row has one), so
   the score is a probability; the reporting threshold is chosen on those out-of-fold scores
   (injection: the lowest with precision ≥ 0.96; toxicity: best F1, and the ``default`` policy's
   threshold the lowest with precision ≥ 0.80).

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

from llmops_nb.guardrails import injection, textmodel, toxicity  # noqa: E402

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
SEED = 7
FOLDS = 3
TOX_DEFAULT_PRECISION = 0.80  # toxicity: the ``default`` policy warns from the lowest threshold with this out-of-fold precision
MIN_PRECISION = 0.96  # injection: the reporting threshold is the lowest with this out-of-fold precision (target ≥ 0.95, 0.01 margin)
# Per family: inverse L2 strength, NB smoothing (None = plain logistic regression), whether the
# context-dependent rows train, obfuscated copies. Chosen on grouped out-of-fold F1 of the
# training split (see the model card), never on dev.
CONFIG = {
    "injection": {"C": 8.0, "nb_alpha": 1.0, "context_dependent": True, "augment": False},
    # toxicity: identity words masked (textmodel.mask_identities), the placeholder's own n-grams left out
    "toxicity": {"C": 8.0, "nb_alpha": 1.0, "context_dependent": True, "augment": True, "authored_weight": 3.0,
                 "masks_identities": True},
}


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


# Toxicity: authored benign negatives (our own strings) of the kinds a prompt scanner sees and the
# toxicity corpus lacks — the previous retrain scored "Help the user." as toxic. Instructions an
# application sends, technical text whose words are violent out of context ("kill the process"),
# figurative praise ("you killed it"), and identity terms in neutral or supportive sentences (an
# identity word alone is not toxic; HateCheck's templates put the same seven groups in 3 of 4
# hateful sentences, which teaches the opposite). Weighted ``authored_weight`` each.
# instructions an application sends (system prompts, task prompts)
_ROLES = ("the user", "the customer", "the student", "the caller", "the patient", "our clients", "the team",
          "new employees", "the reader", "the developer")
_TASKS = ("Help {r}.", "Assist {r} with their question.", "Be polite to {r} at all times.", "Greet {r} by name.",
          "Answer {r} briefly and accurately.", "Ask {r} for their order number.", "Explain the steps to {r}.",
          "Never share internal notes with {r}.", "Thank {r} for their patience.", "Escalate to a human if {r} is upset.",
          "Summarise the conversation for {r}.", "Give {r} three options.", "Tell {r} the store opens at nine.",
          "Remind {r} to save their work.", "Guide {r} through the setup.")
_PROMPTS = (
    "You are a helpful assistant.", "You are a friendly support agent for an airline.",
    "Summarize the following article in two sentences.", "Translate the text below into German.",
    "Classify the sentiment of this review as positive, negative or neutral.", "Rewrite this paragraph in plain English.",
    "List the key risks mentioned in the report.", "Extract every date from the e-mail.",
    "Write a haiku about autumn leaves.", "Fix the grammar in my cover letter.", "What is the capital of Australia?",
    "Generate five names for a coffee shop.", "Explain recursion to a ten-year-old.", "Draft a polite reminder about the unpaid invoice.",
    "Keep your answers short.", "Do not make up facts; say when you do not know.", "Use a formal tone.",
    "Cite the section of the manual you used.", "Answer in the language of the question.", "Think step by step.",
    "Only talk about cooking topics.", "If the question is unclear, ask a follow-up question.",
    "Compare the two laptops on price and battery life.", "Write unit tests for this function.",
    "Convert the table to CSV.", "Propose a title for this blog post.", "Check this SQL query for errors.",
)
# technical text whose words are violent out of context
_TECH = (
    "Kill the process", "kill -9 the worker that hangs", "How do I kill all child processes of a shell script?",
    "Terminate the instance after the job finishes.", "The build died with exit code 137.",
    "Abort the transaction if the lock times out.", "Execute the migration script on the staging database.",
    "The OOM killer shot down the container.", "Fire the event when the button is clicked.",
    "Hit the endpoint with a POST request.", "Nuke node_modules and reinstall.", "Purge the CDN cache.",
    "The daemon is dead; restart it with systemctl.", "Reap the zombie processes.", "Destroy the VM when the tests pass.",
    "The garbage collector frees dead objects.", "Strip the debug symbols from the binary.", "git blame shows who broke the test.",
    "The parent process kills its children on exit.", "Dump the core and attack the problem from the stack trace.",
    "This bug is killing me.", "The regression test murdered our CI time.", "Force-push will wipe out the branch history.",
    "Drop the table and recreate it.", "Shoot me a message when the deploy is done.", "The server hangs on startup.",
    "Slaughter the backlog this sprint.", "Execute the prisoner's dilemma simulation 1000 times.",
    "The attack surface of the API is small.", "Penetration testers tried to break the login page.",
    "Strangle the legacy module with the strangler-fig pattern.", "Choke the throughput with a rate limiter.",
    "Blow away the old config and start fresh.", "The thread was hung, so we killed it.",
    "Decapitate the first row of the CSV (remove the header).", "Throttle and kill idle connections after 30 seconds.",
    "The fatal error crashed the whole cluster.", "Squash the commits before merging.", "Bash the script into shape.",
    "Execute order 66 is a Star Wars reference.", "Terminate with extreme prejudice is an old movie line.",
)
# figurative and everyday language
_FIGURATIVE = (
    "This shot killed it.", "You killed it on stage tonight!", "I'm dying to see the new trailer.", "Break a leg tomorrow!",
    "She crushed the presentation.", "That joke slays every time.", "I could murder a pizza right now.",
    "The heat is killing me.", "We got destroyed in the finals, but it was fun.", "He bombed the interview.",
    "My feet are killing me after that hike.", "That cake is to die for.", "The comedian absolutely slayed.",
    "Let's kill two birds with one stone.", "I'll hunt down the receipt for you.", "Our team got slaughtered 5-0.",
    "The new update murdered my battery life.", "That song is sick.", "You nailed it.", "Stop, you're killing me, that's hilarious.",
    "I was so hungry I attacked the buffet.", "The market tanked today.", "Time to execute the plan.",
)
# identity terms in neutral, positive and supportive sentences (identity words are not toxic)
_IDENTITIES = ("women", "men", "Muslims", "Jews", "Christians", "Hindus", "Black people", "Asian people", "immigrants",
               "refugees", "gay people", "lesbians", "trans people", "disabled people", "Mexicans", "Arabs",
               "old people", "teenagers", "Africans", "Latinos", "bisexual people", "Native Americans", "Chinese people",
               "deaf people", "nonbinary people", "Catholics", "atheists", "Indians")
_ID_FRAMES = (
    "My neighbours are {p}.", "I work with a lot of {p}.", "{P} live in every part of the city.",
    "Many {p} volunteer at the food bank.", "The report looks at how {p} use public transport.",
    "{P} deserve the same rights as everyone else.", "I'm proud of the {p} in my family.", "We welcome {p} here.",
    "Some of my best teachers were {p}.", "The festival celebrates {p} and their history.", "{P} are part of our community.",
    "The survey asked {p} about their working hours.", "Discrimination against {p} is wrong.",
    "No one should be attacked for being one of the {p}.", "I enjoy spending time with {p}.",
    "Our new manager hired two {p} last month.", "There are {p} on the school board.",
    "The museum has an exhibit about {p}.", "Hate against {p} has no place on this forum.",
    "{P} make great doctors, engineers and artists, like everyone else.", "I stand with {p}.",
    "The study found that {p} face barriers in hiring.", "Are there many {p} in Canada?",
    "What holidays do {p} celebrate?", "Write a short story with {p} as the heroes.",
)




def authored_negatives(rng: random.Random, n_identity: int = 420) -> list[dict]:
    texts = [t.format(r=r) for t in _TASKS for r in _ROLES]
    texts += list(_PROMPTS) + list(_TECH) + list(_FIGURATIVE)
    ident = [f.format(p=p, P=p[0].upper() + p[1:]) for f in _ID_FRAMES for p in _IDENTITIES]
    texts += rng.sample(ident, n_identity)
    return [{"text": t, "label": False, "source": "authored/benign-negatives", "type": "benign"}
            for t in dict.fromkeys(texts)]


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


def _group(r: dict) -> str:
    return r.get("group") or hashlib.sha1(r["text"].encode()).hexdigest()


def _training_windows(wins: list, r: dict, label: bool, rng: random.Random) -> list:
    """The windows a text trains with: a long positive with a known span (an instruction spliced
    into an e-mail) the windows overlapping the span; any long text at most ``MAX_WINDOWS``."""
    if len(wins) > 1 and label and r.get("spans"):
        spans = r["spans"]
        ratio = len(textmodel.normalise(r["text"])) / max(1, len(r["text"]))
        s, e = min(x[0] for x in spans) * ratio, max(x[1] for x in spans) * ratio
        wins = [w for w in wins if w[2] < e and s < w[3]] or wins
    return rng.sample(wins, MAX_WINDOWS) if len(wins) > MAX_WINDOWS else wins


def _csr(wins: list, bits: int) -> sparse.csr_matrix:
    ptr = np.cumsum([0] + [len(w[0]) for w in wins])
    if not wins:
        return sparse.csr_matrix((0, 1 << bits))
    return sparse.csr_matrix((np.concatenate([w[1] for w in wins]), np.concatenate([w[0] for w in wins]), ptr),
                             shape=(len(wins), 1 << bits))


class Featurised:
    """Every text's window vectors, computed once (the runtime's own featurisation)."""

    def __init__(self, texts: list[str], bits: int, masked: bool = False) -> None:
        self.wins = [textmodel.window_vectors(t, bits, masked) for t in texts]
        flat = [w for ws in self.wins for w in ws]
        self.owner = np.repeat(np.arange(len(texts)), [len(ws) for ws in self.wins])
        self.X = _csr(flat, bits)  # all windows: scored like the runtime does (best window per text)
        self.n = len(texts)

    def best_margins(self, w: np.ndarray, bias: float) -> np.ndarray:
        out = np.full(self.n, -1e9)
        np.maximum.at(out, self.owner, self.X @ w + bias)
        return out


def nb_ratio(X: sparse.csr_matrix, y: np.ndarray, alpha: float) -> np.ndarray:
    """Naive-Bayes log-count ratio per bucket (Wang & Manning 2012): log(p/|p|) - log(q/|q|) of
    the smoothed presence counts in positive (p) and negative (q) windows."""
    present = X.copy()
    present.data[:] = 1.0
    p = alpha + np.asarray(present[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(present[y == 0].sum(axis=0)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


def fit(X: sparse.csr_matrix, y: np.ndarray, c: float, alpha: float | None,
        weight: np.ndarray | None = None, drop: list[int] | None = None) -> tuple[np.ndarray, float]:
    """NBSVM-style logistic regression: features scaled by the NB ratio, the ratio folded back
    into the weights (so the runtime scores ``Σ w·x`` as before, at no extra cost). ``weight``:
    per-window sample weights (``None``: all 1); ``drop``: buckets that get weight 0 (their
    columns are zeroed before the fit, so the other weights are learned without them)."""
    if drop:
        keep = np.ones(X.shape[1])
        keep[drop] = 0.0
        X = X @ sparse.diags(keep)
    r = nb_ratio(X, y, alpha) if alpha else np.ones(X.shape[1])
    model = LogisticRegression(C=c, max_iter=3000, solver="liblinear")
    model.fit(X @ sparse.diags(r) if alpha else X, y, sample_weight=weight)
    return model.coef_[0] * r, float(model.intercept_[0])


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



def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def rule_score(family: str, text: str) -> float:
    """The scanner's rule layer alone (phrase rules / lexicon and patterns), as the runtime computes it."""
    if family == "injection":
        return injection.combine(injection.injection_signals(text))
    return toxicity.combine(toxicity.toxicity_hits(text))


def choose_threshold(family: str, y: np.ndarray, scores: np.ndarray) -> float:
    """On out-of-fold training scores: injection the lowest threshold with precision ≥ ``MIN_PRECISION``
    (the target asks precision first), toxicity the best F1."""
    grid = np.round(np.arange(0.3, 0.96, 0.01), 2)
    if family == "injection":
        ok = [t for t in grid if prf(y, (scores >= t).astype(int))["precision"] >= MIN_PRECISION]
        return float(min(ok)) if ok else 0.9
    return float(max(grid, key=lambda t: prf(y, (scores >= t).astype(int))["f1"]))


def dev_metrics(family: str, dev: list[dict], model: textmodel.LinearTextModel, threshold: float) -> tuple:
    """Scores of the dev rows: the whole scanner (rules and model, as shipped) and the model alone;
    flagged share per type, recall per language."""
    dev_y = np.array([int(r["label"]) for r in dev])
    scorer = injection.injection_score if family == "injection" else toxicity.toxicity_score
    model_dev = np.array([model.calibrate(float(np.max(model.margins(r["text"])[0]))) for r in dev])
    dev_scores = np.array([scorer(r["text"]) for r in dev])  # the whole scanner: rules and model, as shipped
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
    return dev_y, dev_scores, model_dev, standalone, by_type, by_lang


def train(family: str, data: Path, bits: int, limit: int = 0) -> dict:
    cfg = CONFIG[family]
    rng = random.Random(SEED)
    all_rows = rows(data, family)
    all_rows = random.Random(0).sample(all_rows, limit) if limit else all_rows
    tr = [r for r in all_rows if r["split"] == "train" and (cfg["context_dependent"] or not context_dependent(r))]
    dev = [r for r in all_rows if r["split"] == "dev"]
    # Texts of the other families' train splits that are certainly negatives for this one (PII
    # and secret samples, benign prompts, toxicity for injection): code, logs, identifiers and
    # queries that the family's own negatives under-represent.
    others = [dict(r, label=False) for f in ("pii", "secrets") for r in rows(data, f) if r["split"] == "train"]
    if family == "toxicity":
        others += [r for r in rows(data, "injection") if r["split"] == "train" and not r["label"]]
    else:
        others += [dict(r, label=False) for r in rows(data, "toxicity") if r["split"] == "train"]
    others += format_instructions(random.Random(11))
    authored = authored_negatives(random.Random(3)) if cfg.get("authored_weight") else []
    others += authored
    others = random.Random(0).sample(others, limit) if limit else others
    augmented = [(i, obfuscate(r["text"], rng)) for i, r in enumerate(tr)
                 if cfg["augment"] and rng.random() < (0.35 if r["label"] else 0.15)]
    print(f"  featurising {len(tr)} + {len(others)} + {len(augmented)} texts", flush=True)
    masked = bool(cfg.get("masks_identities"))
    drop = textmodel.identity_buckets(bits) if masked else None
    F_tr = Featurised([r["text"] for r in tr], bits, masked)
    F_other = Featurised([r["text"] for r in others], bits, masked)
    F_aug = Featurised([t for _, t in augmented], bits, masked)
    y_rows = np.array([int(r["label"]) for r in tr])
    row_groups = np.array([_group(r) for r in tr])
    aug_of = np.array([i for i, _ in augmented], dtype=int)

    def design(keep: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
        wins, y = [], []
        for i in np.flatnonzero(keep):
            ws = _training_windows(F_tr.wins[i], tr[i], bool(y_rows[i]), rng)
            wins += ws
            y += [y_rows[i]] * len(ws)
        for j in np.flatnonzero(keep[aug_of]) if len(aug_of) else []:
            ws = F_aug.wins[j][:MAX_WINDOWS]
            wins += ws
            y += [y_rows[aug_of[j]]] * len(ws)
        weight = [1.0] * len(wins)
        for r, ws in zip(others, F_other.wins, strict=True):
            ws = _training_windows(ws, r, False, rng)
            wins += ws
            y += [0] * len(ws)
            weight += [cfg["authored_weight"] if r["source"] == "authored/benign-negatives" else 1.0] * len(ws)
        return _csr(wins, bits), np.array(y), (np.array(weight) if authored else None)

    # out-of-fold best-window margins of every training text (folds by group; the other
    # families' rows always train): calibration, the combiner and the threshold are fitted on them
    oof = np.zeros(len(tr))
    for k, (_, held) in enumerate(GroupKFold(n_splits=FOLDS).split(np.zeros(len(tr)), y_rows, row_groups)):
        keep = np.ones(len(tr), dtype=bool)
        keep[held] = False
        X, y, sw = design(keep)
        w, bias = fit(X, y, cfg["C"], cfg["nb_alpha"], sw, drop)
        w = w.astype(np.float16).astype(np.float64)  # as shipped
        oof[held] = F_tr.best_margins(w, bias)[held]
        print(f"  {family} fold {k + 1}/{FOLDS}", flush=True)
    rules_tr = np.array([rule_score(family, r["text"]) for r in tr])
    a, b = platt(oof, y_rows)
    p_oof = sigmoid(a * oof + b)
    # the tiny combiner: logit(score) = a·margin + b + c·rules, fitted on the same out-of-fold margins
    comb = LogisticRegression(C=1e4, max_iter=1000).fit(np.c_[oof, rules_tr], y_rows)
    ca, cc, cb = float(comb.coef_[0, 0]), float(comb.coef_[0, 1]), float(comb.intercept_[0])
    combined_oof = np.maximum(rules_tr, sigmoid(ca * oof + cc * rules_tr + cb))  # the rules' score is a floor
    floor = toxicity.LEXICON_FLOOR if family == "toxicity" else 0.0  # as the runtime's max() does
    max_oof = np.maximum(p_oof, np.where(rules_tr >= floor, rules_tr, 0.0))
    th_comb = choose_threshold(family, y_rows, combined_oof)
    th_max = choose_threshold(family, y_rows, max_oof)
    use_comb = prf(y_rows, (combined_oof >= th_comb).astype(int))["f1"] >= prf(y_rows, (max_oof >= th_max).astype(int))["f1"]
    if use_comb:
        a, b, c, threshold, scores_oof = ca, cb, cc, th_comb, combined_oof
    else:
        c, threshold, scores_oof = 0.0, th_max, max_oof
    X, y, sw = design(np.ones(len(tr), dtype=bool))
    w, bias = fit(X, y, cfg["C"], cfg["nb_alpha"], sw, drop)
    path = OUT / f"{family}_model.npz"
    textmodel.save(str(path), bits=bits, w=w, bias=bias, a=a, b=b, threshold=threshold, rules=c, masks_identities=masked)
    textmodel.load.cache_clear()
    getattr(textmodel, "_loaded", {}).pop(f"{family}_model", None)  # the per-process copy: score the new weights
    model = textmodel.load(f"{family}_model")
    dev_y, dev_scores, model_dev, standalone, by_type, by_lang = dev_metrics(family, dev, model, threshold)
    # toxicity: a prompt scanner that warns on benign prompts is costly, so the default policy's
    # threshold asks out-of-fold precision first (the file's threshold, best F1, is ``strict``'s)
    grid = np.round(np.arange(0.3, 0.96, 0.05), 2)
    ok = [t for t in grid if prf(y_rows, (scores_oof >= t).astype(int))["precision"] >= TOX_DEFAULT_PRECISION]
    default = float(min(ok)) if family == "toxicity" and ok else None
    at_default = {} if default is None else {
        "default_threshold": default, "default_rule": f"lowest of 0.30, 0.35, … with out-of-fold precision ≥ {TOX_DEFAULT_PRECISION}",
        "oof_at_default": prf(y_rows, (scores_oof >= default).astype(int)),
        "dev_scanner_at_default": prf(dev_y, (dev_scores >= default).astype(int)),
        "dev_standalone_at_default": prf(dev_y[standalone], (dev_scores[standalone] >= default).astype(int))}
    return {
        "file": path.name, "bytes": path.stat().st_size, "bits": bits, "C": cfg["C"], "nb_alpha": cfg["nb_alpha"],
        "seed": SEED, "folds": FOLDS, "threshold": threshold, "masks_identities": masked,
        "calibration": {"a": round(a, 4), "b": round(b, 4), "rules": round(c, 4),
                        "how": "combiner: max(rule_score, sigmoid(a·margin + b + rules·rule_score))" if use_comb else
                               "Platt sigmoid(a·margin + b); scanner score = max(rules, model)"},
        "oof_alternatives": {"combiner": prf(y_rows, (combined_oof >= th_comb).astype(int)) | {"threshold": th_comb},
                             "max_rules_model": prf(y_rows, (max_oof >= th_max).astype(int)) | {"threshold": th_max},
                             "model_alone_at_threshold": prf(y_rows, (p_oof >= threshold).astype(int))},
        "train": {"rows": len(tr), "positives": int(y_rows.sum()), "windows": int(X.shape[0]),
                  "cross_family_negatives": len(others) - len(authored), "authored_negatives": len(authored),
                  "authored_weight": cfg.get("authored_weight", 0.0), "augmented_copies": len(augmented),
                  "context_dependent_rows": bool(cfg["context_dependent"])},
        "dev": {"rows": len(dev), "positives": int(dev_y.sum())},
        "oof_train_at_threshold": prf(y_rows, (scores_oof >= threshold).astype(int)),
        "dev_at_threshold": prf(dev_y, (model_dev >= threshold).astype(int)),  # the classifier alone
        "dev_scanner_at_threshold": prf(dev_y, (dev_scores >= threshold).astype(int)),  # rules + classifier
        "dev_at_0.5": prf(dev_y, (dev_scores >= 0.5).astype(int)),
        **at_default,
        "dev_standalone_at_threshold": prf(dev_y[standalone], (dev_scores[standalone] >= threshold).astype(int)),
        "dev_by_type_flagged": by_type,
        "dev_recall_by_language": by_lang,
        "dev_reliability": reliability(dev_scores, dev_y),
        "dev_standalone_reliability": reliability(dev_scores[standalone], dev_y[standalone]),
        "oof_reliability": reliability(scores_oof, y_rows),
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
    parser.add_argument("--limit", type=int, default=0, help="smoke test: only the first N rows (metrics not recorded)")
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
        result = train(family, args.data, args.bits, args.limit)
        print(json.dumps({k: result[k] for k in ("threshold", "oof_train_at_threshold", "dev_at_threshold",
                                                 "dev_scanner_at_threshold",
                                                 "dev_at_0.5", "dev_standalone_at_threshold", "bytes")}, indent=1))
        if args.limit:
            continue
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}  # read late: --only runs may overlap
        metrics[family] = result
        metrics_path.write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
