"""Stories: forwards, reposts and lightly edited copies of one text, grouped (pure: text in, values out).

Two texts are one story when, after normalising away what reposting adds (a "BREAKING:" or "عاجل |" prefix, a
forward header, emojis, hashtags, links, Arabic spelling variants, diacritics and tatweel), most of the shorter
one's word shingles are in the longer one and no fact differs: a template about another place, day, count,
statement number or party is another event. MinHash LSH (`tracker.storage.stories`) finds the candidates; this
module decides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

# --- normalisation --------------------------------------------------------------------------------------------

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
_ARABIC_MAP = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
        **{chr(0x660 + i): str(i) for i in range(10)},  # Arabic-Indic digits
        **{chr(0x6F0 + i): str(i) for i in range(10)},  # Persian digits
    }
)
_URL = re.compile(r"(?:https?://|www\.|t\.me/)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_FORWARD = re.compile(  # a forward header on its own line (inline, containment absorbs it)
    r"^\s*(?:forwarded from|معاد توجيهه من|معاد توجيه من|منقول من|repost(?:ed)? from)\b[^\n]*\n",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE = re.compile(r"[.!?؟:|\n;]+|\s[-–—]+\s")
_CAPITALISED_COMMON = {"i", "god", "him", "his", "he", "we", "our", "islamic", "resistance", "mr"}

# Words for small numbers and days, so that "two drones" and "2 drones" agree and "Friday" vs "Wednesday" is a
# fact that differs. Arabic forms are normalised (ة -> ه, أ -> ا) before lookup.
_NUMBER_WORDS = {
    **dict.fromkeys(("one", "واحد", "واحده"), "1"),
    **dict.fromkeys(("two", "اثنان", "اثنين", "اثنتان", "اثنتين"), "2"),
    **dict.fromkeys(("three", "ثلاث", "ثلاثه"), "3"),
    **dict.fromkeys(("four", "اربع", "اربعه"), "4"),
    **dict.fromkeys(("five", "خمس", "خمسه"), "5"),
    **dict.fromkeys(("six", "ست", "سته"), "6"),
    **dict.fromkeys(("seven", "سبع", "سبعه"), "7"),
    **dict.fromkeys(("eight", "ثماني", "ثمان", "ثمانيه"), "8"),
    **dict.fromkeys(("nine", "تسع", "تسعه"), "9"),
    **dict.fromkeys(("ten", "عشر", "عشره"), "10"),
    **{w: str(n) for n, w in enumerate(["eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"], 11)},
    **{w: str(n) for n, w in enumerate(["seventeen", "eighteen", "nineteen"], 17)},
    "twenty": "20",
}


def _words(*groups: str) -> frozenset[str]:
    return frozenset(w for g in groups for w in g.split())


# Words that name a fact of an event (besides numbers and names): its day, month, order in a series, time of day
# and the nationality of a party. Arabic entries are stems (`_stem`: no clitics, no "ال", no final ه or ي).
_FACT_WORDS = _words(
    "monday tuesday wednesday thursday friday saturday sunday",
    "january february march april may june july august september october november december",
    "first second third fourth fifth sixth seventh eighth ninth tenth",
    "احد اثنين ثلاثاء اربعاء خميس جمع سبت",
    "كانون شباط اذار نيسان ايار حزيران تموز اب ايلول تشرين يناير فبراير مارس ابريل مايو يونيو يوليو اغسطس",
    "سبتمبر اكتوبر نوفمبر ديسمبر",
    "اول ثان ثالث رابع خامس سادس سابع ثامن تاسع عاشر",
)
_OTHER_FACT_WORDS = _words(  # facts a rewrite may word differently: time of day, nationality
    "dawn morning noon afternoon evening night midnight yesterday today tonight last next previous",
    "american british turkish iranian israeli zionist french german russian kurdish iraqi syrian saudi",
    "فجر صباح ظهر عصر مساء ليل امس اخير",
    "امريك اميرك بريطان ترك ايران صهيون اسرائيل فرنس الما روس كرد عراق سور سعود",
)
_PROCLITICS = ("و", "ف", "ب", "ل", "ك")


def _stem(word: str) -> str:
    """A light stem for lexicon lookups and content overlap: Arabic clitics and the article off, and the
    nisba/feminine ending; Latin words unchanged."""
    if not ("\u0600" <= word[:1] <= "\u06ff"):
        return word
    w = word
    if len(w) > 4 and w[0] in _PROCLITICS and w[1:3] == "ال":
        w = w[1:]
    if len(w) > 3 and w.startswith("ال"):
        w = w[2:]
    for end in ("يه", "ه", "ي", "ين", "ون", "ان"):
        if len(w) > len(end) + 2 and w.endswith(end):
            return w[: -len(end)]
    return w


def _when(word: str) -> bool:
    return word in _FACT_WORDS or _stem(word) in _FACT_WORDS


def is_fact(word: str) -> bool:
    """A number, or a word that names a day, month, order, time or nationality."""
    return _is_number(word) or _when(word) or word in _OTHER_FACT_WORDS or _stem(word) in _OTHER_FACT_WORDS


def _is_number(word: str) -> bool:
    return (word.isdigit() and word.strip("0") != "") or word in _NUMBER_WORDS


def _clean(text: str) -> str:
    t = unicodedata.normalize("NFKC", text)
    t = _FORWARD.sub("", t)
    t = _URL.sub(" ", t)
    t = _HANDLE.sub(" ", t)
    t = _DIACRITICS.sub("", t).replace(_TATWEEL, "")
    return t.translate(_ARABIC_MAP).replace("_", " ")  # hashtags: "#عين_الأسد" reads as the words


def normalize(text: str) -> str:
    """The text as reposting leaves it: lower case, NFKC, no links, handles, hashtag signs, emojis or
    punctuation, one spelling of Arabic letters that vary (alef, yaa, taa marbuta, hamza seats), no diacritics
    or tatweel, ASCII digits. Words and their order are kept."""
    return " ".join(_WORD.findall(_clean(text).lower()))


def tokens(text: str) -> list[str]:
    """Normalised words."""
    return normalize(text).split()


def names(text: str) -> set[int]:
    """Positions (in `tokens(text)`) of capitalised words that do not open a sentence: names in Latin script."""
    out: set[int] = set()
    i = 0
    for sentence in _SENTENCE.split(_clean(text)):
        for n, word in enumerate(_WORD.findall(sentence)):
            if n > 0 and word[:1].isupper() and word.lower() not in _CAPITALISED_COMMON:
                out.add(i)
            i += 1
    return out


def shingles(words: Sequence[str], k: int = 3) -> set[str]:
    """Word k-shingles (a text shorter than k is one shingle)."""
    if len(words) < k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


# --- the decision ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryRule:
    """When two texts are one story.

    A copy: at least `containment` of the shorter text's word 3-shingles are in the longer, and no replaced word
    names another fact. A rewrite (the same item worded anew): at least `overlap` of the shorter text's content
    words are in the longer, it has at least `min_facts` facts (numbers, days, names...) and every one of them is
    in the longer text. `variant`: how alike two differing words must be (difflib ratio) to be one spelling."""

    containment: float = 0.5
    overlap: float = 0.5
    min_facts: int = 2
    variant: float = 0.75


@dataclass(frozen=True)
class Parsed:
    """What the decision needs of one text."""

    words: tuple[str, ...]
    names: frozenset[int]
    shingles: frozenset[str]
    content: frozenset[str]
    numbers: frozenset[str]  # counts, statement numbers, dates
    when: frozenset[str]  # days, months, ordinals
    named: frozenset[str]  # names, nationalities, times of day

    @classmethod
    def of(cls, text: str) -> Parsed:
        words = tuple(tokens(text))
        at = frozenset(names(text))
        numbers = frozenset(_NUMBER_WORDS.get(w, w).lstrip("0") for w in words if _is_number(w))
        when = frozenset(_stem(w) for w in words if _when(w))
        named = frozenset({words[i] for i in at} | {_stem(w) for w in words if is_fact(w) and not _is_number(w)})
        content = frozenset(_stem(w) for w in words if len(_stem(w)) >= 3 and w not in _STOPWORDS)
        return cls(words, at, frozenset(shingles(words)), content, numbers, when, named - when)

    @property
    def facts(self) -> int:
        return len(self.numbers) + len(self.when) + len(self.named)

    def fact_at(self, i: int) -> bool:
        return i in self.names or is_fact(self.words[i])

    def agrees_with(self, longer: Parsed, variant: float) -> bool:
        """The same counts, no day the other contradicts, and every name of this text in `longer` (spelling
        variants allowed)."""
        return (
            self.numbers == longer.numbers
            and (self.when <= longer.when or longer.when <= self.when)  # a day one text leaves out is no conflict
            and all(any(_alike(n, m, variant) for m in longer.named) for n in self.named)
        )


_STOPWORDS = _words(
    "the and for with from that this was were are has have had its their his her they into over after before",
    "said says say also not but than then who which while when where what about against between during",
    "في من على الى عن مع ان او ثم التي الذي الذين هذا هذه ذلك تلك كما وقد قد كان كانت بعد قبل حيث اثر خلال",
)


@dataclass(frozen=True)
class Comparison:
    containment: float
    overlap: float
    conflicts: tuple[tuple[str, str], ...]  # replaced words that name another fact
    facts_agree: bool  # the shorter text's facts are all in the longer, and it has enough of them
    copy: bool
    rewrite: bool

    @property
    def same_story(self) -> bool:
        return self.copy or self.rewrite


def _alike(a: str, b: str, threshold: float) -> bool:
    if a == b:
        return True
    if _is_number(a) or _is_number(b):
        return _NUMBER_WORDS.get(a, a) == _NUMBER_WORDS.get(b, b)
    if _when(a) or _when(b):
        return _stem(a) == _stem(b)  # Thursday / Saturday are not one spelling
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= threshold


def _acronym(short: Sequence[str], long: Sequence[str]) -> bool:
    """ "un" for "united nations": one alphabetic word made of the initials of two or more words."""
    return len(short) == 1 and len(long) >= 2 and short[0].isalpha() and short[0] == "".join(w[:1] for w in long)


def conflicts(a: Parsed, b: Parsed, rule: StoryRule = StoryRule()) -> list[tuple[str, str]]:
    """Words that one text has where the other has a different one, when either names a fact (a number, day,
    month, order, time, nationality or a capitalised name) or is Arabic (where names carry no capitals): another
    place, day, count or party. Dropped or added passages (a prefix, a signature, a sentence) are not conflicts
    unless they are a count; a replaced word that is a spelling variant or an acronym of its counterpart is not."""
    out: list[tuple[str, str]] = []
    matcher = SequenceMatcher(None, list(a.words), list(b.words), autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = a.words[i1:i2], b.words[j1:j2]
        if op in ("delete", "insert"):
            span = left or right
            if len(span) <= 2 and any(_is_number(w) for w in span):  # zeros ignored: 3:00 pm / 3 pm
                out.append((" ".join(left), " ".join(right)))  # "two drones" vs "drones"
            continue
        if op != "replace" or max(i2 - i1, j2 - j1) > 6:
            continue  # equal, or a rewritten passage rather than a replaced fact
        if len(left) == len(right) and all(_alike(x, y, rule.variant) for x, y in zip(left, right, strict=True)):
            continue
        joined_l, joined_r = "".join(left), "".join(right)
        if _alike(joined_l, joined_r, rule.variant) or _acronym(left, right) or _acronym(right, left):
            continue  # "u s" / "us", "un" / "united nations"
        factual = any(a.fact_at(i) for i in range(i1, i2)) or any(b.fact_at(j) for j in range(j1, j2))
        arabic = any("\u0600" <= ch <= "\u06ff" for ch in joined_l + joined_r)
        if factual or arabic:
            out.append((" ".join(left), " ".join(right)))
    return out


def compare_parsed(a: Parsed, b: Parsed, rule: StoryRule = StoryRule()) -> Comparison:
    if not a.shingles or not b.shingles:
        return Comparison(0.0, 0.0, (), False, False, False)
    short, long = (a, b) if len(a.shingles) <= len(b.shingles) else (b, a)
    containment = len(short.shingles & long.shingles) / len(short.shingles)
    c_short, c_long = (a.content, b.content) if len(a.content) <= len(b.content) else (b.content, a.content)
    overlap = len(c_short & c_long) / len(c_short) if c_short else 0.0
    f_short, f_long = (a, b) if a.facts <= b.facts else (b, a)
    anchored = bool(f_short.numbers or f_short.when)  # a count or a day: names alone do not pin an event
    facts_agree = anchored and f_short.facts >= rule.min_facts and f_short.agrees_with(f_long, rule.variant)
    found = tuple(conflicts(a, b, rule)) if containment >= rule.containment else ()
    copy = containment >= rule.containment and not found
    rewrite = containment < rule.containment and overlap >= rule.overlap and facts_agree
    return Comparison(containment, overlap, found, facts_agree, copy, rewrite)


def compare(a: str, b: str, rule: StoryRule = StoryRule()) -> Comparison:
    """How alike two texts are as copies of one another."""
    return compare_parsed(Parsed.of(a), Parsed.of(b), rule)


def same_story(a: str, b: str, rule: StoryRule = StoryRule()) -> bool:
    return compare(a, b, rule).same_story


def pair_metrics(predicted: Iterable[bool], gold: Iterable[bool]) -> dict[str, float]:
    """Precision, recall and F1 of "same story" over labeled pairs."""
    tp = fp = fn = 0
    for p, g in zip(predicted, gold, strict=True):
        tp += p and g
        fp += p and not g
        fn += g and not p
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
