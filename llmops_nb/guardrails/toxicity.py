"""Offline toxicity scorer: a small curated lexicon with severity weights, no model download.

Matching is on whole words (so *Scunthorpe*, *assassin*, *cocktail*, *therapist*, *Dickens* or
*spicy* never match) with a few exception phrases (*Dick Van Dyke*, *chink in the armor*,
*Maine Coon*). Simple obfuscation is undone for tokens that show it: leetspeak (``sh1t``,
``a$$``), masking (``f*ck``), repeated letters (``fuuuuck``) and spaced letters (``f u c k``).

Score: each hit weighs its lexicon weight, plus ``TARGET_BONUS`` when it is aimed at the reader
(``you``/``your``/``ur`` up to two words before it); the text's score is the noisy-OR of the hits.
A hit not aimed at the reader that is quoted, negated or reported ("he called me a …", "not a
…", "the word …") counts ``DISTANCED`` of its weight, a pattern hit (a threat, a hateful
statement) nothing: counter-speech is left to the classifier.
Patterns and obfuscation passes run only when a cheap pre-check (their words in the text's word
list, an obfuscation character) says they can match.
A text is toxic when its score reaches the threshold (default 0.55): one strong term or a few
milder ones; a lone "damn" or "stupid printer" is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from llmops_nb.guardrails import lazy_re as re
from llmops_nb.guardrails import textmodel
from llmops_nb.guardrails._common import make_finding
from llmops_nb.types import Finding

SCANNER = "toxicity"
DEFAULT_THRESHOLD = 0.55  # the default policy's: out-of-fold precision ≥ 0.8 (model card)
MODEL = "toxicity_model"
LEXICON_FLOOR = 0.5  # weaker lexicon evidence is left to the classifier
TARGET_BONUS = 0.25
_SUFFIXES = ("s", "es", "ed", "ing", "er", "ers", "y", "ier", "iest", "ty", "ly", "bag", "head", "face")
_WORD = re.compile(r"[a-z]+")
_OBFUSCATION_GATE = re.compile(r"[g-z][0-9@$!|*]|[0-9@$!|*][g-z]|[a-z]\*|([a-z])\1\1")
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@$!|*")
_BANG = re.compile(r"!+(?![a-z0-9])")  # "idiot!" is punctuation, "sh!t" is leet
_SPACED = re.compile(r"(?<![\w])(?:[a-z][ .\-_]){2,}[a-z](?!\w)")
_LEET = str.maketrans("0134578@$!|+", "oieastbasiit")
_TARGET = re.compile(r"\b(?:you|you're|youre|ur|u|ya|your|yo)\b(?:\W+\w+){0,3}\W*$|\b(?:bunch|pack|load)\s+of\s+$")
_TARGET_AFTER = re.compile(r"\W{1,3}(?:you|u|ya)\b")
# an insult used as a form of address: set off by a comma, or after "hey", ending its sentence
# ("Get lost, loser.", "Hey idiot!"). Not a sentence's first word before a comma: "Trash,
# recycling and compost go out on Monday." opens that way too
_VOCATIVE_BEFORE = re.compile(r"(?:,|\bhey|\boi)\s*$")
_VOCATIVE_AFTER = re.compile(r"[ \t]*(?:[.!?]|$)")
# the insults that name a person (a list's last item "…, plastic, trash." is no address)
_NAME_CALLING = frozenset(["idiot", "moron", "dumbass", "imbecile", "loser", "scumbag", "retard", "cretin", "jerk", "freak",
                           "clown", "muppet", "buffoon", "halfwit", "dimwit", "nitwit", "numpty", "dunce", "doofus", "bozo",
                           "crybaby", "snowflake"])


@dataclass(frozen=True)
class Lexicon:
    """The parsed lexicon: single-word forms, phrases and exceptions."""

    words: dict[str, tuple[str, float, str]]  # form → (term, weight, category)
    prefixes: tuple[tuple[str, float, str], ...]
    phrases: dict[str, tuple[float, str]]
    exceptions: tuple[str, ...]
    collapsed: dict[str, str]  # form with repeated letters squeezed → form
    word_set: frozenset[str] = frozenset()  # every single-word form (the pre-check's set)
    phrase_first: frozenset[str] = frozenset()  # first word of each phrase


def _squeeze(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The bundled lexicon (``data/toxicity_lexicon.tsv``), parsed once."""
    text = resources.files("llmops_nb.guardrails").joinpath("data/toxicity_lexicon.tsv").read_text("utf-8")
    words: dict[str, tuple[str, float, str]] = {}
    prefixes, phrases, exceptions = [], {}, []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, weight, category, *rest = (line.split("\t") + [""])[:4]
        flags, w = rest[0] if rest else "", float(weight)
        if "!" in flags:
            exceptions.append(term)
        elif " " in term:
            phrases[term] = (w, category)
        else:
            words[term] = (term, w, category)
            if "+" in flags:
                words.update({term + s: (term, w, category) for s in _SUFFIXES})
            if "*" in flags:
                prefixes.append((term, w, category))
    collapsed = {_squeeze(f): f for f in words}
    return Lexicon(words, tuple(prefixes), phrases, tuple(exceptions), collapsed, frozenset(words),
                   frozenset(_WORD.findall(p)[0] for p in phrases))


@dataclass(frozen=True)
class Hit:
    """One lexicon hit: the term, its category, weight (with any target bonus) and span."""

    term: str
    category: str
    weight: float
    start: int
    end: int


def _lookup(token: str, lex: Lexicon) -> tuple[str, float, str] | None:
    if token in lex.words:
        return lex.words[token]
    for prefix, w, cat in lex.prefixes:
        if token.startswith(prefix):
            return prefix, w, cat
    return None


def _deobfuscate(token: str, lex: Lexicon) -> tuple[str, float, str] | None:
    bare = token.strip("*!")
    plain = bare.translate(_LEET)
    found = _lookup(plain, lex) or (lex.words.get(lex.collapsed.get(_squeeze(plain), "")))
    if found is None:
        masked = _masked_form(token, lex)
        found = masked[1] if masked else None
    return found


@lru_cache(maxsize=1)
def _by_shape() -> dict[tuple[int, str], tuple[str, ...]]:
    """The lexicon's words by (length, first letter): the few a masked token can spell."""
    shapes: dict[tuple[int, str], list[str]] = {}
    for form in lexicon().words:
        shapes.setdefault((len(form), form[0]), []).append(form)
    return {k: tuple(v) for k, v in shapes.items()}


def _fits(masked: str, word: str) -> bool:
    """Whether ``word`` is ``masked`` with each asterisk a letter (same length)."""
    return all(c == "*" or c == w for c, w in zip(masked, word, strict=True))


def _masked_form(token: str, lex: Lexicon) -> tuple[str, tuple[str, float, str]] | None:
    """``(word, lexicon entry)`` of the lexicon word that ``token`` spells with asterisks for
    some of its letters ("f***", "s**t", "f**king" for a prefix entry), or None. Of several that
    fit the lightest is taken ("f***" is "fuck", not a slur of four letters): a mask says a word
    was meant, not which. A token must start with a letter: a word between asterisks ("**bit**")
    is markdown emphasis, not a mask."""
    token = token.rstrip("!")
    if len(token) < 3 or "*" not in token or not token[0].isalpha():
        return None
    found = [(f, lex.words[f]) for f in _by_shape().get((len(token), token[0]), ()) if _fits(token, f)]
    for prefix, w, cat in lex.prefixes:
        head, rest = token[:len(prefix)], token[len(prefix):]
        if rest and "*" in head and "*" not in rest and len(head) == len(prefix) and _fits(head, prefix):
            found.append((prefix + rest, (prefix, w, cat)))
    return min(found, key=lambda f: f[1][1], default=None)


def _unmasked(low: str) -> str | None:
    """``low`` with each asterisk-masked lexicon word spelled out (``go f*** yourself`` → ``go
    fuck yourself``), for the classifier, whose features would read the asterisks as letters
    ("f***" as "fuu"); None when there is none."""
    if "*" not in low:
        return None
    lex = lexicon()
    pieces, last = [], 0
    for start, end in sorted(_obfuscated_tokens(low).items()):
        masked = _masked_form(low[start:end], lex) if "*" in low[start:end] else None
        if masked:
            pieces += [low[last:start], masked[0]]
            last = end
    return "".join(pieces) + low[last:] if pieces else None


def _word_hits(low: str, lex: Lexicon, words: list[str]) -> list[Hit]:
    hits = []
    if not lex.word_set.isdisjoint(words) or any(prefix in low for prefix, _, _ in lex.prefixes):
        for m in _WORD.finditer(low):
            found = _lookup(m.group(), lex)
            if found:
                hits.append(Hit(found[0], found[2], found[1], m.start(), m.end()))
    if not lex.phrase_first.isdisjoint(words):
        present = set(words)
        for phrase, (w, cat) in lex.phrases.items():
            if _phrase_words(phrase) <= present:
                hits += [Hit(phrase, cat, w, m.start(), m.end())
                         for m in re.finditer(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", low)]
    return hits


@lru_cache(maxsize=1024)
def _phrase_words(phrase: str) -> frozenset[str]:
    return frozenset(_WORD.findall(phrase))


def _obfuscated_tokens(low: str) -> dict[int, int]:
    """Spans (start → end) of the tokens around each obfuscation sign (see the gate)."""
    spans: dict[int, int] = {}
    last_end = -1
    for m in _OBFUSCATION_GATE.finditer(low):
        if m.start() < last_end:
            continue
        s, e = m.start(), m.end()
        while s > 0 and low[s - 1] in _TOKEN_CHARS:
            s -= 1
        while e < len(low) and low[e] in _TOKEN_CHARS:
            e += 1
        token = low[s:e]
        letters = sum(map(str.isalpha, token))
        if e - s <= 24 and (letters >= 2 or (letters == 1 and token[0].isalpha() and token.count("*") >= 2)):
            spans[s] = e  # "f***": one letter and its mask
        last_end = e
    return spans


def _obfuscated_hits(low: str, lex: Lexicon) -> list[Hit]:
    hits = []
    for start, end in _obfuscated_tokens(low).items():
        token = low[start:end]
        found = _deobfuscate(token, lex)
        if found and token not in lex.words:
            hits.append(Hit(found[0], found[2], found[1], start, end))
    for m in _SPACED.finditer(low):
        found = _lookup(re.sub(r"[ .\-_]", "", m.group()), lex)
        if found:
            hits.append(Hit(found[0], found[2], found[1], m.start(), m.end()))
    return hits


_VIOLENT = (r"(?:kill|hurt|murder|stab|shoot|strangle|choke|rape|slaughter|torture|behead|lynch|hang|drown|execute|"
            r"gut|skin)")
_BODY_HARM = (r"(?:(?:break|smash|snap|cut|slit|bash\s+in)\s+(?:your|his|her|their|ur)\s+(?:legs?|neck|arms?|face|bones|jaw|"
              r"skull|throat|head|teeth|knees?)|beat\s+(?:you|u|him|her|them)\s+(?:up|to\s+death|senseless|to\s+a\s+pulp)|"
              r"beat\s+the\s+(?:crap|shit|hell|living\s+daylights|snot|stuffing|piss|fuck)\s+out\s+of\s+(?:you|u|ya|him|her|them)\b|"
              r"break\s+every\s+(?:single\s+)?bone\s+in\s+(?:your|ur|his|her|their)\s+(?:body|face|hands?|fingers)\b|"
              r"burn\s+(?:down\s+)?(?:your|ur|his|her|their)\s+(?:house|home|car|place|shop|store|family))")
# what is done to a person in a call for violence (past participles)
_FATES = (r"shot|hanged|hung|killed|murdered|tortured|executed|lynched|stabbed|beaten|burned|burnt|gassed|exterminated|"
          r"raped|strangled|drowned|beheaded|flayed|whipped|lashed|slaughtered|castrated|skinned|butchered|put\s+down")
_TECH_OBJECTS = (r"(?:process|processes|thread|threads|job|jobs|task|tasks|container|containers|pod|pods|instance|"
                 r"instances|tab|tabs|window|windows|session|sessions|quer(?:y|ies)|workers?|connections?|servers?|"
                 r"services?|apps?|programs?|bugs?|weeds?|lights?|engines?|the\s+(?:lights|engine|power|music)|"
                 # what is killed, burned or shot in ordinary speech: "we should kill the feature"
                 r"features?|bills?|deals?|ideas?|plans?|projects?|proposals?|mood|vibe|buzz|jokes?|conversations?|"
                 r"noise|music|power|evidence|toast|bridges?|boats|ships|midnight|calories|fat|candles?|messenger|"
                 r"time|pain|germs|bacteria|virus(?:es)?|mosquito(?:e?s)?|flies|pests|ants|leaves|trash|garbage|"
                 r"rubbish|breeze|shit|crap)")
# who a threat is made against: the reader, a third person, the reader's family, everyone, or
# members of a group ("I'm going to stab a woman tomorrow"); a possessive needs a person after it
# ("I'll kill your family", not "we'll execute your order")
_KIN = (r"(?:family|families|kids|children|child|wife|husband|mother|mom|mum|father|dad|parents|brother|sister|son|"
        r"daughter|friends?|girlfriend|boyfriend|baby|babies|dog|cat|pets?)")
_GROUP_WORD = "(?:" + "|".join(sorted(textmodel.IDENTITY_WORDS, key=len, reverse=True)) + ")"
_GROUP = _GROUP_WORD + r"(?:\s+(?:people|persons?|folks|men|women|guys|kids|community|communities|population))?"
# a group word is a person only where no noun follows it ("shoot a Mexican restaurant ad" is not)
_CONTINUE = (r"tomorrow|today|tonight|now|again|soon|next|in|on|at|with|if|when|and|or|for|because|like|who|that|to|"
             r"the|this|one|some|day|ever|while|before|after|as|i|we")
_AS_PERSON = r"(?=\s*(?:[^\w\s]|$)|\s+(?:" + _CONTINUE + r")\b)"
_OBJECT = (r"(?:(?:you|u|him|her|them|y'all|everyone|everybody|(?:your|ur|his|their)\s+(?:\w+\s+)?" + _KIN + r")\b"
           r"|(?:(?:an?|the|some|every|all|any|those|these)\s+)?" + _GROUP + r"\b" + _AS_PERSON + ")")
# the words a threat puts between its verb and its object ("kill every last one of you") — not
# any words ("I'll kill it with you at the gig")
_BETWEEN = (r"(?:(?:all|both|each|every|single|last|one|of|and|the|rest|some|any|fucking|freaking|effing|damn|right|"
            r"now|slowly|personally|myself|ourselves|first|again|too|also|just)\s+){0,5}?")
# a violent verb in an everyday idiom is no threat: "hang out with you", "choke you up", "shoot
# you an email", "drown you in compliments"
_NOT_IDIOM_VERB = r"(?!\s+(?:out|around|up|on|over|together|tight|loose|with)\b)"
_NOT_IDIOM_OBJECT = (r"(?!\s+(?:an?\s+|some\s+|the\s+|my\s+)?(?:quick\s+|short\s+|brief\s+)?(?:e-?mails?|messages?|"
                     r"texts?|dms?|pms?|notes?|lines?|invites?|links?|reminders?|photos?|pics?|videos?|updates?|"
                     r"questions?|calls?|pings?)\b|\s+up\b|\s+in\s+(?:compliments|love|kisses|praise|gifts|paperwork|"
                     r"work|emails|details)\b|\s+with\s+(?:kindness|love|compliments)\b)")


_VERDICT_ADJ = (r"(?:ugly|stupid|dumb|worthless|pathetic|disgusting|useless|ignorant|hideous|repulsive|brainless|"
                r"clueless|incompetent|gross|fat|retarded)")
_INSULT_ADJ = (r"(?:sick|twisted|pathetic|miserable|stupid|ugly|disgusting|worthless|filthy|dirty|fat|lazy|useless|"
               r"little|dumb|brainless|spineless|sad|creepy|psycho|demented|deranged|ignorant|arrogant|smug|"
               r"insufferable|annoying|goddamn|damn|fucking|stinking|lying|spoiled|spoilt|cowardly|gutless)")


# a group dehumanised ("… are a cancer", "… are not even human") and its death called for
_DEHUMANISED = (r"\s+(?:are|is|r)\s+(?:(?:all|just|nothing\s+but|such|only|basically|literally|truly|really|simply|"
                r"a\s+bunch\s+of)\s+)*(?:(?:an?|the)\s+)?(?:(?:absolute|total|complete|fucking|filthy|dirty|disgusting|"
                r"worthless|human|utter)\s+)?(?:cancer|plague|disease|virus|infestation|vermin|parasites?|animals|beasts|"
                r"subhumans?|sub-humans?|scum|filth|trash|garbage|rats|cockroaches|pigs|savages|apes|monkeys|dogs|inferior|"
                r"abominations?|not\s+(?:even\s+)?human|less\s+than\s+human)\b")
_DOOMED = (r"\s+(?:should|must|need\s+to|needs\s+to|deserve\s+to|ought\s+to)\s+(?:all\s+)?(?:die|be\s+"
           r"(?:killed|exterminated|eradicated|wiped\s+out|gassed|shot|hanged|lynched|sterili[sz]ed|put\s+down))\b")


# what matters when cutting a pattern: escapes and character classes (skipped whole), parentheses, bars
_SYNTAX = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]\\])*\]|[()|]", re.DOTALL)


def _top_level(pattern: str) -> list[str]:
    """``pattern`` cut at its top-level ``|`` (not inside a group or a character class)."""
    parts, depth, start = [], 0, 0
    for m in _SYNTAX.finditer(pattern):
        t = m.group()
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif t == "|" and depth == 0:
            parts.append(pattern[start:m.start()])
            start = m.end()
    return [*parts, pattern[start:]]


def _closing(pattern: str, i: int) -> int:
    """The index just past the group that opens at ``pattern[i]``."""
    depth = 0
    for m in _SYNTAX.finditer(pattern, i):
        t = m.group()
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
            if depth == 0:
                return m.end()
    raise ValueError(f"unbalanced: {pattern!r}")


def _letter_led(pattern: str) -> str:
    """``pattern`` — an alternation of branches that each start with ``\\b`` and a lower-case
    letter, or ``\\b`` and a group of such alternatives — written so that it starts with a
    character class: ``[iw](?<!\\w[iw])(?:(?<=i)…|(?<=w)e…)`` for ``\\b(?:i|we)…``. Each match is
    the same (the same alternatives in the same order, from the same positions), but ``re`` now
    skips at C speed the positions whose character cannot start one, instead of trying the
    pattern at every position (a ``\\b`` first gives it no such hint)."""
    firsts: list[str] = []

    def led(alternative: str) -> str:
        first = alternative[0]
        if not "a" <= first <= "z":
            raise ValueError(f"not letter-led: {alternative!r}")
        firsts.append(first)
        return f"(?<={first}){alternative[1:]}"

    branches = []
    for branch in _top_level(pattern):
        if not branch.startswith("\\b"):
            raise ValueError(f"not \\b-led: {branch!r}")
        branch = branch[2:]
        if branch.startswith("(?:"):
            end = _closing(branch, 0)
            if branch[end:end + 1] in ("?", "*", "+", "{"):
                raise ValueError(f"optional head: {branch!r}")
            branch = "(?:" + "|".join(map(led, _top_level(branch[3:end - 1]))) + ")" + branch[end:]
        else:
            branch = led(branch)
        branches.append(branch)
    chars = "".join(sorted(set(firsts)))
    return f"[{chars}](?<!\\w[{chars}])(?:{'|'.join(branches)})"


# Structured toxicity without a lexicon word: a first-person threat against a person, a call to
# violence against a group, a dehumanising insult aimed at the reader. As written (the scanner
# compiles each through :func:`_letter_led`).
_PATTERN_SOURCES: list[tuple[str, float, str]] = [
    ("threat", 0.9, (
        r"\b(?:i|we)(?:'m|'ll|'re|\s+am|\s+will|\s+are|\s+shall)?\s+(?:(?:going|about)\s+to|gonna|gon|to)?\s*"
        r"(?:(?!(?:never|not|no)\b)\w+\s+){0,3}?(?:" + _VIOLENT + r"(?:s|ing)?" + _NOT_IDIOM_VERB + r"\s+" + _BETWEEN +
        _OBJECT + _NOT_IDIOM_OBJECT + r"|" + _BODY_HARM + r")")),
    ("threat", 0.85, (
        r"\b(?:kill|murder|exterminate|gas|shoot|hang|lynch|eradicate|wipe\s+out|slaughter|burn)\s+"
        r"(?:(?:all(?:\s+of)?|every|the|those|these)\s+)+(?!(?:\w+\s+){0,2}" + _TECH_OBJECTS + r"\b)"
        # a group word followed by a noun is no group ("burn all the Chinese restaurants"); a
        # determiner is no object
        r"(?!" + _GROUP_WORD + r"\s+(?!(?:people|persons?|folks|men|women|guys|kids|" + _CONTINUE + r")\b)\w)"
        r"(?!(?:all|every|the|those|these|of)\b)\w{3,}")),
    ("insult", 0.8, (
        r"\b(?:you(?:'re|\s+are|r|\s+r)?|ur|u\s+r)\s+(?:a|an|such\s+a|the|nothing\s+but\s+an?|just\s+an?)?\s*"
        r"(?:\w+\s+){0,2}?(?:piece\s+of\s+(?:shit|garbage|trash|crap|filth)|waste\s+of\s+(?:(?:time|money)\s+and\s+)?(?:space|oxygen|air|skin|time)|"
        r"scum|vermin|subhuman|parasite|filth|cockroach|degenerate|disgrace|abomination|imbecile|cretin|"
        # animals as insults, where no noun follows ("you're a rat fan?" is not one)
        r"(?:pig|swine|slob|maggot|leech|rat|snake|weasel|cow|joke)(?=\s*(?:[^\w\s]|$)|\s+(?:and|who|that|like|of|to|for|if|"
        r"you|u)\b))\b")),
    # threat idioms: no violent verb, the menace is in the phrase
    ("threat", 0.85, (
        r"\bwatch\s+(?:your|ur)\s+back\b|\bsleep\s+with\s+one\s+eye\s+open\b|"
        r"\b(?:you|u)\s+(?:won'?t|will\s+not|wont)\s+(?:even\s+)?see\s+(?:me|us|it)\s+coming\b|"
        r"\b(?:i|we)\s+know\s+where\s+(?:you|u|your\s+(?:family|kids|children|wife|husband))\s+(?:live|sleep|work)s?\b|"
        r"\b(?:your|ur)\s+days\s+are\s+numbered\b|"
        r"\bmake\s+(?:you|u|ya)\s+(?:bleed|suffer|beg|scream)\b|"
        # menace without a violent verb: "I will end you", "I'll make you pay", "we'll hunt you down",
        # "I found out where you live", "You'll pay for this!" (not "destroy you at chess", "make you
        # pay less", "find you a table", "you will pay for this at the desk")
        r"\b(?:i|we)(?:'ll|\s+will|'m\s+(?:going\s+to|gonna)|\s+am\s+(?:going\s+to|gonna)|'re\s+(?:going\s+to|gonna)|"
        r"\s+are\s+(?:going\s+to|gonna)|\s+(?:gonna|shall))\s+(?:(?:fucking|personally|totally|completely|slowly)\s+)?"
        r"(?:(?:end|destroy|ruin|finish)\s+(?:you|u|ya)(?:\s+off)?(?=\s*(?:[^\w\s]|$)|\s+(?:and|if|when|for\s+(?:this|that|good)|"
        r"right\s+now|slowly|myself|personally)\b)|"
        r"make\s+(?:you|u|ya)\s+(?:pay|regret\s+(?:it|this|that|ever|being|the\s+day))\b(?!\s+(?:less|more|only|just|nothing|"
        r"the|a|an|your|for\s+(?:the|a|an|your|parking|shipping|delivery|it\s+(?:later|monthly)))\b)|"
        r"(?:hunt|track)\s+(?:you|u|ya)\s+down\b|find\s+(?:out\s+)?where\s+(?:you|u)\s+(?:live|sleep)\b)|"
        r"\b(?:i|we)(?:\s+found|'ve\s+found|\s+have\s+found|\s+figured)\s+out\s+where\s+(?:you|u)\s+(?:live|sleep)\b|"
        # "I'm coming for you." (not "I'm coming for you at 5 to pick you up"), "… before I shut it for
        # you", "If I see you again, you're dead"
        r"\b(?:i|we)(?:'m|\s+am|'re|\s+are)\s+coming\s+for\s+(?:you|u|ya)(?=\s*(?:[.!]|$)|\s+and\s+(?:your|ur)\b)|"
        r"\bshut\s+(?:your|ur)\s+(?:mouth|face|trap|pie\s*hole|gob)\b[^.!?\n]{0,20}?\b(?:before|or)\s+(?:i|we)\s+shut\s+it\s+"
        r"for\s+(?:you|u)\b|"
        r"\b(?:somebody|someone|i|we)\s+(?:should|will|'ll|ought\s+to|needs?\s+to|(?:is|am|are)\s+(?:going\s+to|gonna)|gonna)\s+"
        r"teach\s+(?:you|u|him|her|them)\s+a\s+lesson\b(?!\s+(?:on|in|about|or\s+two\s+(?:on|in|about))\b)|"
        r"\bsee\s+(?:you|u)\s+outside\b[^.!?\n]{0,30}?\bsettle\s+(?:this|it)\b|\bsettle\s+this\s+(?:outside|like\s+men)\b|"
        r"\bif\s+(?:i|we)\s+(?:ever\s+)?(?:see|catch|find|meet)\s+(?:you|u)\b[^.!?\n]{0,30}?\b(?:you(?:'re|\s+are|\s+r)|ur)\s+"
        r"(?:so\s+)?dead\b|"
        r"\b(?:you|u)(?:'ll|\s+will|'re\s+(?:going\s+to|gonna)|\s+are\s+(?:going\s+to|gonna))\s+pay\s+for\s+(?:this|that|"
        r"what\s+you(?:'ve)?\s+(?:did|done))(?=\s*(?:[.!]|$))|"
        r"\bmake\s+sure\s+(?:you|u)\s+(?:never|won'?t)\s+(?:walk|talk|see|breathe|wake\s+up)\s+again\b|"
        r"\b(?:put|send|pump|stick)\s+(?:a|some|an?\s+\w+)\s+(?:bullets?|knife|blade|slug)\s+(?:in|into|through|between)\s+"
        r"(?:you|your|his|her|their|him|them|that|this|the)\b|"
        r"\b(?:you|u)(?:'re|\s+are|\s+r)\s+(?:so\s+)?(?:dead\s+meat|a\s+dead\s+(?:man|woman|boy|girl)|(?:going\s+to|gonna)\s+die)\b|"
        r"\b(?:i|we)\s+(?:hope|wish)\s+(?:you|u|your\s+(?:family|kids|children|mother|mom|mum|wife|husband|whole\s+family))\s+"
        r"(?:(?!never\b|not\b)\w+\s+){0,3}?(?:die|dies|burn|burns|rot|rots|suffer|suffers|choke|chokes|drown|drowns|starve|starves|gets?\s+(?:cancer|raped|shot|hit\s+by))\b")),
    # a violent fate called for or wished on a person, without a first-person threat: "you should
    # be hanged", "he deserves to be shot", "I'd love to see you beaten to death"; incitement to
    # self-harm
    ("threat", 0.85, (
        r"\b(?:you|u|he|she|him|her|y'all|people\s+like\s+(?:you|u|him|her|them|that)|folks\s+like\s+(?:you|u|him|her|them))"
        r"\s+(?:all\s+)?(?:should|deserves?|ought|needs?|must)\s+(?:to\s+)?(?:all\s+)?(?:be|get)\s+(?:\w+\s+)?"
        r"(?:" + _FATES + r")\b(?!\s+off\b)|"
        r"\b(?:i|we)(?:'d|\s+would|\s+wanna|\s+want\s+to|\s+can'?t\s+wait\s+to|\s+cannot\s+wait\s+to)?\s+(?:love\s+to\s+|like\s+to\s+)?"
        r"see\s+(?:you|u|him|her|them|y'all|(?:these|those|all)\s+\w+)\s+(?:\w+\s+){0,2}?(?:" + _FATES + r"|die|dead|suffer|burn|hang)\b|"
        r"\bgo\s+(?:drink|swallow|chug|eat)\s+(?:some\s+)?(?:bleach|poison|rat\s+poison|antifreeze)\b|"
        r"\bgo\s+(?:jump|throw\s+yourself|lie\s+down|walk)\s+in\s+front\s+of\s+(?:a|the)\s+(?:train|bus|truck|car)\b|"
        r"\b(?:you|u)\s+deserve\s+(?:every\s+(?:bad|terrible|horrible|awful)\s+thing|all\s+the\s+(?:pain|suffering|hate|misery|"
        r"bad\s+things)|to\s+(?:suffer|die|rot|be\s+alone\s+forever))\b")),
    # insults without an insult word: a comparison or a verdict aimed at the reader
    ("insult", 0.8, (
        r"\b(?:you|u)(?:\s+have|\s+got|\s+have\s+got|'ve\s+got|'ve)\s+the\s+(?:brains?|iq|intelligence|personality|charm|manners|face|looks|"
        r"attention\s+span|social\s+skills|wit|common\s+sense|body|smell)\s+of\s+an?\s+\w+|"
        r"\b(?:you|u)(?:'re|\s+are|\s+r|r)\s+(?:such\s+)?(?:an?\s+)?(?:(?:complete|total|absolute|utter)\s+)?"
        r"(?:embarrassment|laughingstock|laughing\s+stock|waste\s+of\s+a\s+\w+)\b|"
        r"\bcrawl\s+back\s+(?:under|into|in)\s+(?:the|your|ur|whatever)\s+(?:\w+\s+)?(?:rock|hole|sewer|cave|gutter|swamp)\b|"
        r"\b(?:nobody|no\s+one|no-one)\s+(?:likes|loves|wants|cares\s+about|would\s+miss)\s+(?:you|u)\b(?!\s+(?:more|better|less|as|like)\b)|"
        r"\b(?:nobody|no\s+one|no-one)\s+would\s+(?:care|notice|cry|mind)\s+if\s+(?:you|u)\s+(?:just\s+)?(?:disappeared|died|"
        r"vanished|were\s+gone|were\s+dead|left\s+forever|killed\s+yourself)\b|"
        # a verdict on the reader's looks or existence ("Your face looks like a smashed potato", "Your
        # existence is a mistake"; not "my face looks like a tomato")
        r"\b(?:your|ur)\s+(?:face|head|breath|body)\s+(?:looks|smells|sounds)\s+like\s+(?:an?\s+|the\s+|some\s+)?(?:\w+\s+){0,2}?"
        r"(?:potato|pig|garbage|trash|shit|ass|butt|dog|toilet|sewer|rat|monkey|donkey|troll|goblin|orc|train\s+wreck|car\s+crash|"
        r"dumpster|roadkill|vomit|puke)\b|"
        r"\b(?:you|u)\s+(?:smell|look|sound)\s+like\s+(?:an?\s+|the\s+|some\s+)?(?:\w+\s+){0,2}?(?:pig|garbage|trash|shit|"
        r"ass|butt|toilet|sewer|rat|monkey|donkey|troll|goblin|orc|roadkill|vomit|puke|skunk|dumpster)\b|"
        r"\bare\s+(?:you|u)\s+(?:just\s+|really\s+|actually\s+|fucking\s+|that\s+)?(?:mentally\s+(?:challenged|retarded|deficient)|"
        r"brain[\s-]?dead|retarded|stupid|dumb|an?\s+idiot|an?\s+moron)\b|"
        r"\b(?:your|ur)\s+(?:existence|birth|life)\s+(?:is|was)\s+(?:a\s+|an\s+)?(?:(?:complete|total|huge|big)\s+)?"
        r"(?:mistake|waste|joke|accident|disgrace|embarrassment)\b|"
        r"\b(?:the\s+world|everyone|everybody|we)\s+(?:would|will|'d)\s+be\s+(?:a\s+)?better\s+(?:off\s+|place\s+)?without\s+(?:you|u)\b|"
        r"\b(?:your|ur)\s+(?:mother|mom|mum|parents|dad|father)\s+should\s+have\s+(?:stopped|aborted|swallowed|"
        r"pulled\s+out|used\s+a\s+condom)\b")),

    # hate against a group without a lexicon word: dehumanised ("Muslims are a cancer"), excluded
    # from the world ("Immigrants do not belong on this earth", "no place on this planet for any
    # woman like you"), their lives worthless, their death called for. Each needs a word that
    # names a group (textmodel.IDENTITY_WORDS), so the same sentence about a process, a team or a
    # sports club is not read
    ("hate", 0.85, (
        r"\b" + _GROUP + _DEHUMANISED + r"|"
        r"\b" + _GROUP + r"\s+(?:do\s+not|don't|dont|shouldn't|should\s+not)\s+belong\s+(?:on|in)\s+(?:this|our|the)\s+"
        r"(?:earth|planet|world|country|society|nation|land)\b|"
        r"\bno\s+(?:space|place|room)\s+(?:on|in)\s+(?:this|our|the)\s+(?:\w+\s+)?(?:planet|earth|world|country|society|"
        r"nation)\s+for\s+(?:any\s+|the\s+)?" + _GROUP + r"\b|"
        r"\b" + _GROUP + r"\s+(?:person'?s?\s+)?li(?:fe|ves)\s+(?:is|are)\s+(?:not\s+worth\s+(?:anything|shit|a\s+thing|"
        r"living|saving)|worth\s+nothing|worthless|meaningless)\b|"
        r"\b" + _GROUP + _DOOMED)),
    # the reader insulted through a declared hatred, a verdict or a pile of adjectives
    ("insult", 0.8, (
        # hatred declared to a person ("I hate you!", "everyone hates you", "I hate your guts"; not "I hate
        # Mondays", "I hate to tell you", "I don't hate you")
        r"\b(?:i|we|everyone|everybody|we\s+all|all\s+of\s+us)\s+(?:(?:really|so|just|fucking|freaking|truly|honestly|"
        r"absolutely|totally|all|still|always)\s+)*(?:hate|hates|despise|despises|loathe|loathes|detest|detests)\s+"
        # ("them" left out: "I bought new shoes but I hate them")
        r"(?:you|u|ya|y'all|him|her|your\s+guts|ur\s+guts)\b(?!\s+(?:guys|too|for\s+(?:being|making)\s+"
        r"(?:so|me\s+laugh)))|"
        # "a pathetic excuse for a human being" (a person, not "a sorry excuse for a pizza")
        r"\b(?:pathetic|sorry|poor|miserable|worthless|sad|lame|pitiful|disgusting)\s+excuse\s+(?:for|of)\s+an?\s+"
        r"(?:human|person|man|woman|being|parent|mother|father|mom|dad|adult|friend|boyfriend|girlfriend|husband|wife|"
        r"teacher|doctor|boss|manager|player|guy|girl|boy|kid|son|daughter|brother|sister)\b|"
        # an intensified verdict on the reader ("You're so ugly", "you are too stupid to …")
        r"\b(?:you|u)(?:'re|\s+are|\s+r|r)\s+(?:so|such\s+an?|really|very|too|extremely|incredibly|unbelievably|truly|"
        r"damn|fucking|freaking)\s+(?:(?:fucking|damn|freaking|goddamn)\s+)?" + _VERDICT_ADJ + r"(?![\w-])|"
        # insulting adjectives stacked on a name for the reader ("You sick twisted freak", "you lying coward")
        r"\b(?:you|u)\s+(?:" + _INSULT_ADJ + r"(?:\s*,\s*|\s+and\s+|\s+)){1,3}(?:freak|idiot|moron|loser|jerk|clown|"
        r"creep|pig|rat|snake|worm|fool|coward|brat|weirdo|psycho|failure|nobody|hypocrite|liar|scumbag|bastard|bitch|"
        r"cunt|twat|prick|dick|asshole|shit|muppet|dimwit|halfwit|imbecile|cretin|dork|nutjob|lunatic|maniac|pervert|"
        r"piece\s+of\s+(?:shit|garbage|trash|crap))\b")),
    # the same said of a group named without a group word ("Those people are vermin", "Their kind
    # should be exterminated"); a pattern of its own, reached only by texts with one of its nouns
    ("hate", 0.85, r"\b(?:those|these)\s+(?:people|folks)(?:" + _DEHUMANISED + "|" + _DOOMED + r")|"
                   r"\b(?:their|your)\s+kind(?:" + _DEHUMANISED + "|" + _DOOMED + ")"),
]


class _LetterLed(re.LazyPattern):
    """A lazily compiled pattern rewritten by :func:`_letter_led` when it is first used (not at
    import: a fresh process's first scan pays for the patterns it reaches only)."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source

    def compiled(self) -> Any:
        try:
            return self._compiled
        except AttributeError:  # two threads may both get here: each rewrites the source, the same way
            self.pattern = _letter_led(self.source)
            return super().compiled()


_PATTERNS: list[tuple[str, float, re.Pattern[str]]] = [(name, w, _LetterLed(rx)) for name, w, rx in _PATTERN_SOURCES]


def _verb_forms(verbs: str) -> frozenset[str]:
    return frozenset(f for v in verbs.split() for f in (v, v + "s", v + "ing"))


# Each pattern needs one of these words; the pre-check skips the patterns whose words are absent.
_PATTERN_WORDS = (
    _verb_forms("kill hurt murder stab shoot strangle choke rape slaughter torture behead lynch hang drown execute "
                "gut skin break smash snap cut slit bash beat burn"),
    frozenset([
        "kill", "murder", "exterminate", "gas", "shoot", "hang", "lynch", "eradicate", "wipe", "slaughter", "burn"
    ]),
    frozenset([
        "piece", "waste", "scum", "vermin", "subhuman", "parasite", "filth", "cockroach", "degenerate", "disgrace",
        "abomination", "imbecile", "cretin", "pig", "swine", "slob", "maggot", "leech", "rat", "snake", "weasel",
        "cow", "joke"
    ]),
    frozenset(["watch", "sleep", "coming", "know", "numbered", "make", "sure", "bullet", "bullets", "knife", "blade",
               "end", "destroy", "ruin", "finish", "pay", "hunt", "track", "find", "found", "figured", "shut", "coming",
               "lesson", "settle",
               "slug", "dead", "die", "hope", "wish"]),
    frozenset(["shot", "hanged", "hung", "killed", "murdered", "tortured", "executed", "lynched", "stabbed", "beaten",
               "burned", "burnt", "gassed", "exterminated", "raped", "strangled", "drowned", "beheaded", "flayed",
               "whipped", "lashed", "slaughtered", "castrated", "skinned", "butchered", "put", "die", "dead", "suffer",
               "burn", "hang", "bleach", "poison", "antifreeze", "front", "deserve"]),
    frozenset(["brain", "brains", "iq", "intelligence", "personality", "charm", "manners", "face", "looks", "attention",
               "social", "wit", "common", "body", "smell", "embarrassment", "laughingstock", "laughing", "waste", "crawl",
               "nobody", "no", "should", "world", "everyone", "everybody", "we", "head", "breath", "existence", "birth",
               "life", "smell", "look", "sound", "mentally", "brain", "retarded", "stupid", "dumb", "idiot", "moron"]),
    textmodel.IDENTITY_WORDS,
    frozenset(["excuse", "hate", "hates", "despise", "despises", "loathe", "loathes", "detest", "detests",
               *re.findall("[a-z]+", _VERDICT_ADJ + _INSULT_ADJ)]),
    frozenset(["people", "folks", "kind"]),
)
_OBFUSCATION_CHARS = re.compile(r"[0-9@$!|*]")  # a character class: a fast scan before the slower gate
_SPACED_GATE = re.compile(r"[a-z][ .\-_][a-z][ .\-_][a-z]")
SHORT = 256  # stretched letters ("fuuuck") are looked for in texts up to this length


_ANY_PATTERN_WORD = frozenset().union(*_PATTERN_WORDS)


def _pattern_hits(low: str, words: list[str] | None = None) -> list[Hit]:
    found = None if words is None else _ANY_PATTERN_WORD.intersection(words)  # one pass over the words
    if found is not None and not found:
        return []
    return [Hit(name, name, w, m.start(), m.end()) for (name, w, rx), needed in zip(_PATTERNS, _PATTERN_WORDS, strict=True)
            if found is None or not needed.isdisjoint(found) for m in rx.finditer(low)]


def _maybe_obfuscated(low: str) -> bool:
    return bool(_OBFUSCATION_CHARS.search(low) or _SPACED_GATE.search(low)
                or (len(low) <= SHORT and _OBFUSCATION_GATE.search(low)))


def toxicity_hits(text: str) -> list[Hit]:
    """Every lexicon and pattern hit in ``text``, with the target bonus applied, minus exception
    phrases. A prompt-sized text (up to ``textmodel.SHORT`` characters) that shows obfuscation
    (non-ASCII letters, leetspeak or masking characters, spaced or stretched letters) is also read
    the way the classifier reads it — after
    :func:`~llmops_nb.guardrails.textmodel.normalise` (look-alike letters, ``k1ll``, ``i d i o t``
    undone) — so phrases and patterns match there too; the stronger reading wins (its spans
    mapped back by length ratio)."""
    low = text.lower()
    obfuscated = _maybe_obfuscated(low)  # once: its searches are a third of a clean text's rules
    hits = _hits_of(low, obfuscated)
    if len(text) > textmodel.SHORT or (low.isascii() and not obfuscated):
        return hits  # prompt-sized texts only (like the normaliser's spaced-letter pass)
    norm = textmodel.normalised(text)
    if norm == low or norm == " ".join(low.split()):
        return hits
    alt = _hits_of(norm, _maybe_obfuscated(norm))
    if combine(alt) <= combine(hits):
        return hits
    ratio = len(text) / max(1, len(norm))
    return [Hit(h.term, h.category, h.weight, min(len(text), int(h.start * ratio)),
                min(len(text), max(int(h.start * ratio) + 1, round(h.end * ratio)))) for h in alt]


def _hits_of(low: str, obfuscated: bool) -> list[Hit]:
    """The hits in ``low``; ``obfuscated``: :func:`_maybe_obfuscated` of ``low``."""
    lex = lexicon()
    words = textmodel.words_of(low)
    patterned = _pattern_hits(low, words)
    hits = _word_hits(low, lex, words) + patterned
    if obfuscated:
        hits += _obfuscated_hits(_BANG.sub(lambda m: " " * len(m.group()), low), lex)
    if not hits:
        return []
    guarded = [(m.start(), m.end()) for e in lex.exceptions if e.split()[0] in low
               for m in re.finditer(r"(?<!\w)" + re.escape(e) + r"(?!\w)", low)]
    out = []
    for h in hits:
        if any(s <= h.start and h.end <= e for s, e in guarded):
            continue
        aimed = h.category in ("insult", "profanity", "sexual", "slur") and (
            _TARGET.search(low[max(0, h.start - 40):h.start]) or _TARGET_AFTER.match(low, h.end) or _vocative(low, h))
        weight = min(1.0, h.weight + TARGET_BONUS) if aimed else h.weight
        if not aimed and _distanced(low, h.start):
            if h in patterned:  # a quoted, negated or reported statement is not one: left to the classifier
                continue
            weight *= DISTANCED
        out.append(Hit(h.term, h.category, weight, h.start, h.end))
    return out


def _vocative(low: str, h: Hit) -> bool:
    """Whether hit ``h`` calls a person a name: addressing the reader (see ``_VOCATIVE_BEFORE``), an
    exclamation ("What a moron"), or a slur the reader is then told they are ("Only an idiot would
    believe that, and you are one")."""
    if h.term not in _NAME_CALLING:
        return False
    if _AIMED_LATER.match(low, h.end):
        return True
    before = low[max(0, h.start - 24):h.start]
    return bool((_VOCATIVE_BEFORE.search(before[-8:]) and _VOCATIVE_AFTER.match(low, h.end))
                or (_WHAT_A.search(before) and _EXCLAIMED_AFTER.match(low, h.end)) or _WHAT_KIND.search(before))


_EXCLAIMED_AFTER = re.compile(r"[ \t]*(?:[.!?,]|$)")  # "What a moron, …" (not "what a clown show")
_WHAT_KIND = re.compile(r"\bwhat\s+(?:kind|sort|type)\s+of\s+(?:an?\s+)?$")  # "What kind of idiot writes …"
_WHAT_A = re.compile(r"\bwhat\s+an?\s+(?:(?:complete|total|absolute|fucking|stupid|little)\s+)?$")
_AIMED_LATER = re.compile(r"[^.!?\n]{0,60}?\b(?:and|but)\s+(?:you|u)(?:'re|\s+are|\s+r)\s+(?:definitely\s+|clearly\s+|"
                          r"certainly\s+|obviously\s+)?(?:one|the\s+biggest\s+one)\b")


DISTANCED = 0.5  # a hit that is quoted, negated or reported counts half (counter-speech)
# ("n't" follows its verb's letters: no word boundary before it)
_NEGATED = re.compile(r"(?:\b(?:not|never|no|nobody|none|stop|against|condemn\w*|wrong|unacceptable)|n't)\b(?:\W+\w+){0,3}\W*$")
_REPORTED = re.compile(r"\b(?:called|calling|call|say|says|said|saying|the\s+word|words?\s+like|term|terms|slurs?\s+like|"
                       r"use|using|used|tweeted|wrote|writes|posted|shouted|yelled|"
                       r"(?:idea|claim|notion|myth|lie|stereotype|narrative|rhetoric|propaganda)s?\s+that)\b(?:\W+\w+){0,3}\W*$")
_QUOTES = "\"“”«»„"


def _distanced(low: str, start: int) -> bool:
    """The hit at ``start`` is quoted (inside a pair of quotation marks), negated or reported
    ("not a …", "calling someone a …", "the word …"): counter-speech rather than abuse."""
    before = low[max(0, start - 40):start]
    if sum(low.count(q, 0, start) for q in _QUOTES) % 2 == 1:
        return True
    return bool(_NEGATED.search(before) or _REPORTED.search(before))


def combine(hits: list[Hit]) -> float:
    """Noisy-OR of the hits' weights."""
    remaining = 1.0
    for h in hits:
        remaining *= 1.0 - h.weight
    return round(1.0 - remaining, 4)


def model_score(text: str) -> tuple[float, int, int]:
    """The learned classifier's calibrated score and the span of its best window; a text with
    asterisk-masked lexicon words is also read with them spelled out (:func:`_unmasked`), and
    the stronger reading wins."""
    if not text.strip():
        return 0.0, 0, 0
    model = textmodel.load(MODEL)
    found = model.score_span(text)
    unmasked = _unmasked(text.lower()) if "*" in text else None
    if unmasked is not None:
        score, start, end = model.score_span(unmasked)
        if score > found[0]:
            ratio = len(text) / max(1, len(unmasked))
            return score, min(len(text), int(start * ratio)), min(len(text), round(end * ratio))
    return found


def toxicity_score(text: str) -> float:
    """The toxicity score of ``text`` in [0, 1]: the lexicon's and patterns' noisy-OR and the
    learned classifier's calibrated probability, put together by the model's combiner (or, for a
    model without one, the larger of the two, weak lexicon evidence below ``LEXICON_FLOOR`` left out)."""
    return _score(toxicity_hits(text), model_score(text)[0])


def _score(hits: list[Hit], learned: float) -> float:
    lexical = combine(hits)
    model = textmodel.load(MODEL)
    if model.rules:  # the model's learned combiner (fitted on out-of-fold training scores)
        return round(model.combine(learned, lexical), 4)
    return round(max(learned, lexical if lexical >= LEXICON_FLOOR else 0.0), 4)


def scan(text: str, threshold: float = DEFAULT_THRESHOLD) -> list[Finding]:
    """One finding per hit (type = category, score = the text's score) when the score reaches
    ``threshold``; none otherwise."""
    hits = toxicity_hits(text)
    learned, start, end = model_score(text)
    score = _score(hits, learned)
    if score < threshold:
        return []
    severity = "critical" if score >= 0.85 else "high" if score >= 0.6 else "medium"
    out = [make_finding(SCANNER, h.category, text, h.start, h.end, score=score, severity=severity)
           for h in sorted(hits, key=lambda h: h.start)]
    if not out:  # no lexicon word: the classifier's best window, typed "toxic"
        out = [make_finding(SCANNER, "toxic", text, start, end, score=score, severity=severity)]
    return out
