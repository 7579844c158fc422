"""PURE: a keyword-lexicon baseline, reported beside the model by `tracker eval` so its gains are visible.

A text gets the highest level whose keywords it contains; cooperative keywords give 0; otherwise 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from tracker.scoring.base import ModelVersion, TextScore, score_from_probabilities

KEYWORDS: dict[int, tuple[str, ...]] = {
    4: (
        "attack",
        "attacked",
        "attacks",
        "drone",
        "drones",
        "rocket",
        "rockets",
        "missile",
        "missiles",
        "killed",
        "killing",
        "wounded",
        "injured",
        "casualties",
        "bomb",
        "bombing",
        "explosion",
        "exploded",
        "ied",
        "ambush",
        "clash",
        "clashes",
        "shelling",
        "shelled",
        "airstrike",
        "airstrikes",
        "strike",
        "strikes",
        "targeted",
        "assassinated",
        "assassination",
        "kidnapped",
        "raid",
        "martyred",
        "fired",
        "gunmen",
    ),
    3: (
        "threat",
        "threaten",
        "threatened",
        "threatens",
        "warn",
        "warned",
        "warns",
        "warning",
        "revenge",
        "avenge",
        "retaliate",
        "retaliation",
        "ultimatum",
        "death to",
        "will pay",
        "by force",
        "all options",
        "deadline",
        "legitimate target",
        "legitimate targets",
        "mobilise",
        "mobilize",
        "respond forcefully",
    ),
    2: (
        "condemn",
        "condemns",
        "condemned",
        "denounce",
        "denounced",
        "reject",
        "rejects",
        "rejected",
        "accuse",
        "accused",
        "accuses",
        "demand",
        "demands",
        "demanded",
        "protest",
        "protests",
        "criticise",
        "criticize",
        "criticised",
        "criticized",
        "blame",
        "blamed",
        "sanction",
        "sanctions",
        "violation",
        "occupation",
    ),
    0: (
        "thank",
        "thanks",
        "welcome",
        "welcomed",
        "welcomes",
        "agreement",
        "agreed",
        "ceasefire",
        "truce",
        "cooperation",
        "dialogue",
        "restraint",
        "reconciliation",
        "peace",
        "calm",
        "partnership",
        "praise",
    ),
}
_PATTERNS = {level: re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b") for level, words in KEYWORDS.items()}


def lexicon_level(text: str) -> int:
    lowered = text.lower()
    for level in (4, 3, 2):
        if _PATTERNS[level].search(lowered):
            return level
    return 0 if _PATTERNS[0].search(lowered) else 1


class LexiconScorer:
    """The baseline as a Scorer: probability 0.8 on the keyword level, the rest spread evenly."""

    version = ModelVersion("keyword-lexicon", "baseline")

    def score_batch(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[TextScore]:
        out = []
        for text in texts:
            level = lexicon_level(text)
            probs = [0.05] * 5
            probs[level] = 0.8
            out.append(score_from_probabilities(probs))
        if progress is not None:
            progress(len(texts))
        return out
