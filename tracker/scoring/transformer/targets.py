"""The target head: toward whom a text's hostility or cooperation is directed, as independent probabilities per code
(multi-label), read from the same encoder pass that gives the level.

Mean pooling keeps what the level needs and blurs who is named: a linear head on the level head's pooled embedding
reached dev F1 0.70-0.74 for US, 0.55-0.58 for ISR and 0.53-0.54 for IQG (docs/model-card.md). So each code attends
over the window's tokens (the hidden states of a few layers of that pass, concatenated), pools them with its own
attention weights and reads a logit from the pooled vector. Before pooling, a projection shared by every code
(linear, GELU; `hidden` wide, dropout while training) lets a token's features combine, so a code can tell "the
government" that acts from "the government" that is acted upon: 295k shared parameters plus 514 per code for a
384-wide encoder read at three layers and `hidden` 256, about 1.5% of the encoder's arithmetic (`hidden` 0: pool the
raw states, 2,306 parameters per code). Three such heads (`members`), trained alike from consecutive seeds, are
averaged on their logits: cross-validation put the mean of three about 0.01 above one head in micro-F1, for 8-17%
more scoring time than one head (two timings of the dev sets, docs/model-card.md). A long text's windows combine
by the highest probability per code (a target named anywhere in the text counts). The tuned per-code thresholds are
folded into the bias, so 0.5 is the cut for every code.

Saved beside the level head: `targets.safetensors` (query, query_bias, weight, bias, and proj_weight, proj_bias
where there is a projection; with several members each tensor has the members on a first axis) and a `targets`
section in head.json (codes, layers, how it was trained, its metrics).
Training is seeded and single-pass deterministic: the same states, settings, torch version and thread count give
the same file.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tracker.errors import ScoringError
from tracker.scoring.base import Targets
from tracker.scoring.evaluation import evaluate_targets, predicted_targets
from tracker.scoring.transformer.files import HEAD_META

TARGETS_WEIGHTS = "targets.safetensors"
TARGETS_KEY = "targets"  # the section of head.json
TENSORS = ("query", "query_bias", "weight", "bias")
PROJECTION = ("proj_weight", "proj_bias")  # present only in a head with a projection
_PLAIN_DIMS = {"query": 2, "query_bias": 1, "weight": 2, "bias": 1, "proj_weight": 2, "proj_bias": 1}
THRESHOLD_GRID = tuple(round(0.05 + 0.01 * i, 2) for i in range(91))  # 0.05 .. 0.95


@dataclass(frozen=True)
class TargetSettings:
    layers: tuple[int, ...] | None = None  # hidden-state indices (0: embeddings); None: middle, 3/4 and last
    epochs: int = 10  # chosen by 5-fold cross-validation on the training texts (micro-F1), docs/model-card.md
    hidden: int = 256  # width of the shared projection before pooling (0: none); chosen by that cross-validation
    dropout: float = 0.1  # on the projected token states, while training
    batch_size: int = 64
    lr: float = 1e-2  # AdamW, linear decay to 0
    weight_decay: float = 1e-4
    balance: bool = True  # positive weight sqrt(negatives / positives) per code
    folds: int = 5  # cross-validation on the training texts picks each code's threshold; 0: every threshold 0.5
    min_positives: int = 20  # a code with fewer training texts keeps 0.5 (a threshold picked on a handful is noise)
    seed: int = 13
    members: int = 3  # heads trained from seeds seed, seed+1, ...; logits averaged (tensors stacked); by CV
    threads: int = 2


@dataclass(frozen=True)
class TargetHead:
    """A loaded head: its codes, the layers it reads and its tensors (on the scoring device)."""

    codes: tuple[str, ...]
    layers: tuple[int, ...]
    tensors: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class TargetFit:
    head: TargetHead
    thresholds: tuple[float, ...]  # already folded into the bias
    cv: dict[str, Any]  # out-of-fold metrics on the training texts, at 0.5 and at the tuned thresholds


def default_layers(depth: int) -> tuple[int, ...]:
    """The middle, three-quarter and last hidden states (6, 9, 12 for a 12-layer encoder)."""
    return tuple(sorted({max(1, round(depth / 2)), max(1, round(depth * 3 / 4)), depth}))


# --- files (no torch needed to find or hash them) ------------------------------------------------------------


def target_section(folder: Path) -> dict[str, Any] | None:
    """The `targets` section of a head folder's card, or None when the folder has no target head."""
    if not folder.is_dir() or not (folder / TARGETS_WEIGHTS).is_file():
        return None
    card = folder / HEAD_META
    try:
        section = json.loads(card.read_text(encoding="utf-8")).get(TARGETS_KEY) if card.is_file() else None
    except (OSError, json.JSONDecodeError) as exc:
        raise ScoringError(f"{card}: unreadable head card ({exc})") from None
    if not isinstance(section, dict) or "codes" not in section or "layers" not in section:
        raise ScoringError(f"{folder / TARGETS_WEIGHTS} has no targets section (codes, layers) in {card}; retrain it")
    return section


def target_digest(folder: Path) -> str | None:
    """Hash of the target head's weights, codes and layers (None without one): part of the model version."""
    section = target_section(folder)
    if section is None:
        return None
    h = hashlib.sha256((folder / TARGETS_WEIGHTS).read_bytes())
    h.update(json.dumps([section["codes"], section["layers"]]).encode())
    return h.hexdigest()


def load_target_head(folder: Path, device: str) -> TargetHead | None:
    """The target head saved in a head folder, or None when there is none."""
    section = target_section(folder)
    if section is None:
        return None
    from safetensors.torch import load_file

    tensors = load_file(str(folder / TARGETS_WEIGHTS))
    codes, layers = tuple(section["codes"]), tuple(int(n) for n in section["layers"])
    stacked = {t.dim() - _PLAIN_DIMS.get(k, 0) for k, t in tensors.items()}
    members = {int(t.shape[0]) for t in tensors.values()} if stacked == {1} else {1}
    if (
        set(tensors) not in (set(TENSORS), {*TENSORS, *PROJECTION})
        or stacked not in ({0}, {1})
        or len(members) != 1
        or tensors["weight"].shape[-2] != len(codes)
    ):
        raise ScoringError(f"{folder / TARGETS_WEIGHTS} does not match its card ({len(codes)} codes); retrain it")
    return TargetHead(codes, layers, {k: v.float().to(device) for k, v in tensors.items()})


def save_target_head(folder: Path, fit: TargetFit, section: dict[str, Any]) -> None:
    """Write targets.safetensors and the card's `targets` section (the rest of head.json is kept)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in fit.head.tensors.items()}, str(folder / TARGETS_WEIGHTS))
    card = folder / HEAD_META
    info = json.loads(card.read_text(encoding="utf-8")) if card.is_file() else {}
    info[TARGETS_KEY] = {**section, "codes": list(fit.head.codes), "layers": list(fit.head.layers)}
    card.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --- inference --------------------------------------------------------------------------------------------------


def window_states(torch: Any, hidden_states: Sequence[Any], layers: Sequence[int]) -> Any:
    """The token states the head reads: the chosen layers' hidden states side by side, in fp32."""
    if max(layers) >= len(hidden_states):
        raise ScoringError(f"the target head reads layer {max(layers)}; the encoder has {len(hidden_states) - 1}")
    return torch.cat([hidden_states[n].float() for n in layers], dim=-1)


def target_logits(torch: Any, tensors: dict[str, Any], states: Any, mask: Any, dropout: float = 0.0) -> Any:
    """The shared projection where the head has one, per-code attention pooling over the tokens, then one logit per
    code: (batch, tokens, dim) -> (batch, codes). `dropout` > 0 only while training. A head of several members
    (each tensor stacked on a first axis) gives the mean of their logits."""
    if tensors["bias"].dim() == 2:
        members = [{k: v[m] for k, v in tensors.items()} for m in range(int(tensors["bias"].shape[0]))]
        return torch.stack([target_logits(torch, one, states, mask, dropout) for one in members]).mean(0)
    if "proj_weight" in tensors:
        states = torch.nn.functional.gelu(states @ tensors["proj_weight"].T + tensors["proj_bias"])
        if dropout > 0:
            states = torch.nn.functional.dropout(states, dropout, training=True)
    scores = states @ tensors["query"].T + tensors["query_bias"]
    scores = scores.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
    pooled = torch.einsum("btk,btd->bkd", scores.softmax(dim=1), states)
    return (pooled * tensors["weight"]).sum(-1) + tensors["bias"]


def target_probabilities(torch: Any, head: TargetHead, hidden_states: Sequence[Any], mask: Any) -> Any:
    return torch.sigmoid(target_logits(torch, head.tensors, window_states(torch, hidden_states, head.layers), mask))


def combine_targets(codes: Sequence[str], window_probs: Sequence[Sequence[float]]) -> Targets:
    """A text's targets from its windows: the highest probability of each code over the windows."""
    if not window_probs:
        return ()
    return tuple((code, max(float(p[i]) for p in window_probs)) for i, code in enumerate(codes))


# --- training ---------------------------------------------------------------------------------------------------


def fit_target_head(
    windows: Sequence[Any],
    owners: Sequence[int],
    targets: Sequence[Sequence[str]],
    codes: Sequence[str],
    layers: Sequence[int],
    settings: TargetSettings,
    progress: Callable[[str], None] | None = None,
) -> TargetFit:
    """Train the head on token states (one tensor per window; `owners` maps windows to texts, `targets` holds each
    text's codes): thresholds by cross-validation on these texts, then one fit on all of them, thresholds folded
    into the bias."""
    import numpy as np
    import torch

    if len(targets) < 2 or not windows or len(owners) != len(windows):
        raise ScoringError("the target head needs at least two texts with targets, and one owner per window")
    torch.set_num_threads(settings.threads)
    y = np.array([[1.0 if c in row else 0.0 for c in codes] for row in targets], dtype=np.float32)
    owner = np.asarray(owners)
    thresholds = [0.5] * len(codes)
    cv: dict[str, Any] = {}
    if settings.folds >= 2 and len(targets) >= 2 * settings.folds:
        oof = np.zeros_like(y)
        order = np.random.default_rng(settings.seed).permutation(len(targets))
        for k, held in enumerate(np.array_split(order, settings.folds)):
            if progress is not None:
                progress(f"cross-validation fold {k + 1} of {settings.folds}")
            held_set = set(held.tolist())
            train_w = [i for i in range(len(windows)) if owner[i] not in held_set]
            test_w = [i for i in range(len(windows)) if owner[i] in held_set]
            tensors = _train_members([windows[i] for i in train_w], y[owner[train_w]], settings)
            probs = _predict(torch, tensors, [windows[i] for i in test_w])
            for row, i in enumerate(test_w):
                oof[owner[i]] = np.maximum(oof[owner[i]], probs[row])
        thresholds = [
            _best_threshold(y[:, j], oof[:, j]) if y[:, j].sum() >= settings.min_positives else 0.5
            for j in range(len(codes))
        ]
        gold = [[c for c in codes if c in row] for row in targets]
        cv = {
            "folds": settings.folds,
            "at_0.5": evaluate_targets(gold, _decide(codes, oof, [0.5] * len(codes))),
            "at_thresholds": evaluate_targets(gold, _decide(codes, oof, thresholds)),
            "at_thresholds_none_alone": evaluate_targets(gold, _decide(codes, oof, thresholds, none_alone=True)),
        }
    if progress is not None:
        progress("final fit on every training text")
    tensors = _train_members(list(windows), y[owner], settings)
    with torch.no_grad():  # every member's logit moves by the same shift, so their mean does
        tensors["bias"] -= torch.tensor([math.log(t / (1 - t)) for t in thresholds])
    head = TargetHead(tuple(codes), tuple(layers), {k: v.detach() for k, v in tensors.items()})
    return TargetFit(head, tuple(thresholds), cv)


def describe_fit(settings: TargetSettings) -> dict[str, Any]:
    return {
        "head": (f"a shared projection (linear, GELU) to {settings.hidden} wide, then " if settings.hidden else "")
        + "per-code attention pooling over the token states of the given layers, then a linear logit; sigmoid"
        + (f"; {settings.members} such heads from consecutive seeds, logits averaged" if settings.members > 1 else ""),
        "loss": "binary cross-entropy" + (", positives weighted sqrt(negatives/positives)" if settings.balance else ""),
        "thresholds": "per code, maximising the out-of-fold F1 on the training texts; folded into the bias (cut 0.5)",
        "settings": asdict(settings),
    }


def _train_members(windows: Sequence[Any], y: Any, settings: TargetSettings) -> dict[str, Any]:
    """One head, or `members` heads from consecutive seeds with their tensors stacked."""
    import torch

    if settings.members <= 1:
        return _train(windows, y, settings, settings.seed)
    heads = [_train(windows, y, settings, settings.seed + m) for m in range(settings.members)]
    return {k: torch.stack([h[k].detach() for h in heads]) for k in heads[0]}


def _train(windows: Sequence[Any], y: Any, settings: TargetSettings, seed: int) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tensors = new_head_tensors(torch, int(y.shape[1]), int(windows[0].shape[-1]), settings.hidden)
    labels = torch.as_tensor(y, dtype=torch.float32)
    pos_weight = positive_weights(torch, labels) if settings.balance else torch.ones(labels.shape[1])
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.AdamW(list(tensors.values()), lr=settings.lr, weight_decay=settings.weight_decay)
    order = sorted(range(len(windows)), key=lambda i: int(windows[i].shape[0]))
    batches = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    total = settings.epochs * len(batches)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total))
    for _epoch in range(settings.epochs):
        rng.shuffle(batches)
        for batch in batches:
            states, mask = _pad(torch, [windows[i] for i in batch])
            loss = loss_fn(target_logits(torch, tensors, states, mask, settings.dropout), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return tensors


def new_head_tensors(torch: Any, n_codes: int, dim: int, hidden: int = 0) -> dict[str, Any]:
    """A head's tensors before training: the pooling and logit tensors all zero (every token weighs the same, every
    logit is 0); with `hidden` > 0, a projection drawn from torch's generator as nn.Linear draws one."""
    width = hidden or dim
    tensors = {
        "query": torch.zeros(n_codes, width, requires_grad=True),
        "query_bias": torch.zeros(n_codes, requires_grad=True),
        "weight": torch.zeros(n_codes, width, requires_grad=True),
        "bias": torch.zeros(n_codes, requires_grad=True),
    }
    if hidden:
        bound = 1 / math.sqrt(dim)
        tensors["proj_weight"] = torch.empty(hidden, dim).uniform_(-bound, bound).requires_grad_()
        tensors["proj_bias"] = torch.empty(hidden).uniform_(-bound, bound).requires_grad_()
    return tensors


def positive_weights(torch: Any, labels: Any) -> Any:
    """Per code, sqrt(negatives / positives) of a (texts, codes) 0/1 matrix (shares clamped to [0.001, 0.999])."""
    share = labels.mean(0).clamp(min=1e-3, max=1 - 1e-3)
    return ((1 - share) / share).sqrt()


def _predict(torch: Any, tensors: dict[str, Any], windows: Sequence[Any], batch_size: int = 128) -> Any:
    import numpy as np

    out = np.zeros((len(windows), int(tensors["bias"].shape[-1])), dtype=np.float32)
    order = sorted(range(len(windows)), key=lambda i: int(windows[i].shape[0]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            states, mask = _pad(torch, [windows[i] for i in chunk])
            out[chunk] = torch.sigmoid(target_logits(torch, tensors, states, mask)).numpy()
    return out


def _pad(torch: Any, windows: Sequence[Any]) -> tuple[Any, Any]:
    width = max(int(w.shape[0]) for w in windows)
    states = torch.zeros(len(windows), width, int(windows[0].shape[-1]))
    mask = torch.zeros(len(windows), width, dtype=torch.bool)
    for row, w in enumerate(windows):
        states[row, : w.shape[0]] = w
        mask[row, : w.shape[0]] = True
    return states, mask


def _best_threshold(gold: Any, probs: Any) -> float:
    """The cut that maximises this code's F1 (the one nearest 0.5 among ties); 0.5 for a code never seen."""
    if gold.sum() == 0:
        return 0.5
    best, best_f1 = 0.5, -1.0
    for t in sorted(THRESHOLD_GRID, key=lambda t: abs(t - 0.5)):
        pred = probs >= t
        tp = float((pred & (gold > 0)).sum())
        f1 = 2 * tp / (float(pred.sum()) + float(gold.sum()))
        if f1 > best_f1 + 1e-12:
            best, best_f1 = t, f1
    return best


def _decide(codes: Sequence[str], probs: Any, thresholds: Sequence[float], none_alone: bool = False) -> list[list[str]]:
    """Each row's codes at the given cuts; with `none_alone`, as `predicted_targets` decides on the shipped head
    (the cuts folded in: each probability moved so that its cut lands on 0.5)."""
    if not none_alone:
        return [[c for j, c in enumerate(codes) if row[j] >= thresholds[j]] for row in probs]
    shift = [math.log(t / (1 - t)) for t in thresholds]
    out = []
    for row in probs:
        folded = [_sigmoid(_logit(float(p)) - shift[j]) for j, p in enumerate(row)]
        out.append(list(predicted_targets(tuple(zip(codes, folded, strict=True)))))
    return out


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))
