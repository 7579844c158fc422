"""PURE: evaluation metrics for a 0-4 classifier against gold labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tracker.scoring.base import HOSTILE_LEVEL, N_LEVELS, TARGET_CODES, TextScore


@dataclass(frozen=True)
class Metrics:
    n: int
    accuracy: float
    macro_f1: float
    qwk: float
    spearman: float
    auc_hostile: float | None
    confusion: list[list[int]]
    levels_present: list[int]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def evaluate(labels: Sequence[int], scores: Sequence[TextScore]) -> Metrics:
    """Accuracy, macro-F1 (over the levels present in the gold labels), quadratic weighted kappa, Spearman
    of hostility against the label, ROC-AUC of P(level >= 3) for hostile vs the rest, confusion matrix."""
    from scipy.stats import spearmanr
    from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score, roc_auc_score

    if len(labels) != len(scores) or not labels:
        raise ValueError("need as many scores as labels, and at least one")
    y = [int(v) for v in labels]
    pred = [s.level for s in scores]
    present = sorted(set(y))
    hostile_true = [1 if v >= HOSTILE_LEVEL else 0 for v in y]
    hostile_prob = [sum(s.probabilities[HOSTILE_LEVEL:]) for s in scores]
    auc = roc_auc_score(hostile_true, hostile_prob) if len(set(hostile_true)) == 2 else None
    rho = spearmanr(y, [s.hostility for s in scores]).statistic
    return Metrics(
        n=len(y),
        accuracy=float(accuracy_score(y, pred)),
        macro_f1=float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        qwk=float(cohen_kappa_score(y, pred, weights="quadratic", labels=list(range(N_LEVELS)))),
        spearman=float(rho) if rho == rho else 0.0,
        auc_hostile=None if auc is None else float(auc),
        confusion=confusion_matrix(y, pred, labels=list(range(N_LEVELS))).tolist(),
        levels_present=present,
    )


TARGET_CUT = 0.5  # a text counts toward a code when its probability is at least this (fixed downstream)


NONE = "NONE"


def predicted_targets(targets: Sequence[tuple[str, float]], cut: float = TARGET_CUT) -> tuple[str, ...]:
    """The codes a text counts toward: those with a probability >= `cut`. NONE stands alone (LABELING.md): when it
    passes the cut beside other codes, the more probable side wins (NONE alone, or the others without it). A code
    given twice (stored targets from elsewhere) counts once, at its higher probability."""
    probability: dict[str, float] = {}
    for code, p in targets:
        probability[code] = max(p, probability.get(code, p))
    codes = tuple(code for code, p in probability.items() if p >= cut)
    if NONE not in codes or len(codes) == 1:
        return codes
    if probability[NONE] >= max(probability[c] for c in codes if c != NONE):
        return (NONE,)
    return tuple(c for c in codes if c != NONE)


def evaluate_targets(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, dict[str, float | int]]:
    """Per-code precision, recall, F1 and support of multi-label predictions, for every code that is in the gold
    labels or predicted (in TARGET_CODES order), plus `micro` (pooled over all codes) and `macro` (the mean over
    the codes with support): a code nobody uses says nothing, a code only predicted is all false positives."""
    if len(gold) != len(predicted):
        raise ValueError("need as many predictions as gold target sets")
    seen = {code for row in (*gold, *predicted) for code in row}
    rank = {code: i for i, code in enumerate(TARGET_CODES)}
    counts = {
        code: [0, 0, 0] for code in sorted(seen, key=lambda c: (rank.get(c, len(rank)), c))
    }  # true positives, false positives, false negatives
    for g, p in zip(gold, predicted, strict=True):
        gs, ps = set(g), set(p)
        for code in gs | ps:
            counts[code][0 if code in gs and code in ps else 1 if code in ps else 2] += 1
    out = {code: _prf(*c) for code, c in counts.items()}
    out["micro"] = _prf(*(sum(c[i] for c in counts.values()) for i in range(3)))
    supported = [out[code] for code in counts if out[code]["support"]]
    out["macro"] = {
        key: sum(float(m[key]) for m in supported) / len(supported) if supported else 0.0
        for key in ("precision", "recall", "f1")
    } | {"support": sum(int(m["support"]) for m in supported)}
    return out


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
