"""PURE: evaluation metrics for a 0-4 classifier against gold labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tracker.scoring.base import HOSTILE_LEVEL, N_LEVELS, TextScore


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
