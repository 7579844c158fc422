"""Fine-tuning an encoder for the 5-level scale: a LoRA adapter (peft) on every linear layer of the encoder and
a linear head on the mean-pooled, L2-normalised embedding, trained together. Seeded: the same data, settings,
torch version and thread count give the same adapter and head.

Loss: cross-entropy plus an ordinal term, the squared distance between the expected level and the gold level
(a 0 read as a 3 costs more than a 0 read as a 1). With `target_weight` > 0 and texts that carry targets, a target
head of the plain form `targets.py` builds (per-code attention pooling over the middle, 3/4 and last hidden states,
without the shipped head's projection) is trained alongside, and its binary cross-entropy (times `target_weight`)
joins the loss: the adapter then also learns who a text is aimed at, not only how hostile it is. That auxiliary
head is not saved; `tracker train` fits the shipped target head afterwards on the adapted encoder, with thresholds
by cross-validation. Batches are drawn by similar length, so little padding is computed. What is saved is small:
the adapter (about 2.5 MB) and the head; the base weights stay in their package.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tracker.errors import ScoringError
from tracker.scoring.base import N_LEVELS, TARGET_CODES
from tracker.scoring.transformer.files import ADAPTER_DIR
from tracker.scoring.transformer.head import save_head
from tracker.scoring.transformer.precision import choose_cpu_precision
from tracker.scoring.transformer.scorer import mean_pool
from tracker.scoring.transformer.targets import (
    default_layers,
    new_head_tensors,
    positive_weights,
    target_logits,
    window_states,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    epochs: int = 4
    batch_size: int = 16
    lr: float = 3e-4  # adapter
    head_lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: float = 0.06  # share of the steps with a rising learning rate
    max_tokens: int = 128  # longer training texts are cut (scoring windows long texts instead)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    modules: tuple[str, ...] = ("query", "key", "value", "dense")  # every linear layer of the encoder's blocks
    layers: tuple[int, ...] | None = None  # adapted blocks (None: all); fewer, higher ones train faster
    bf16: bool | None = None  # autocast to bf16; None: the precision probe decides (faster only on some CPUs)
    ordinal_weight: float = 0.5
    target_weight: float = 1.0  # weight of the auxiliary target loss where texts carry targets (0: level loss only)
    prefix: str = "query: "  # E5's prefix for classification-like tasks
    seed: int = 13
    threads: int = 2
    limit_steps: int | None = None  # for smoke tests


@dataclass
class FinetuneResult:
    steps: int
    seconds: float
    last_loss: float
    losses: list[float] = field(default_factory=list)
    target_losses: list[float] = field(default_factory=list)  # the auxiliary target term of each step, if any


def _target_pattern(settings: FinetuneSettings) -> str:
    """peft's target_modules as a regex: the chosen linear layers of the chosen blocks (never the pooler)."""
    layers = r"\d+" if settings.layers is None else "(" + "|".join(map(str, settings.layers)) + ")"
    return rf".*encoder\.layer\.{layers}\..*({'|'.join(settings.modules)})$"


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices of similar length (sorted within pools of 50 batches)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        part = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def finetune(
    encoder_folder: Path,
    texts: Sequence[str],
    labels: Sequence[int],
    out: Path,
    settings: FinetuneSettings,
    *,
    base_name: str,
    meta: dict[str, Any],
    progress: Callable[[int, int, float], None] | None = None,
    precision_cache: Path | None = None,
    targets: Sequence[Sequence[str]] | None = None,
) -> FinetuneResult:
    """Train an adapter and a head on (text, level) pairs; write them to `out` (adapter/ and head.*). `targets`
    (each text's codes, () for none) feed the auxiliary target loss when settings.target_weight > 0."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    if len(texts) != len(labels) or not texts:
        raise ScoringError("fine-tuning needs as many labels as texts, and at least one")
    if targets is not None and len(targets) != len(texts):
        raise ScoringError("fine-tuning needs one target list per text (empty where a text has none)")
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = random.Random(settings.seed)

    tokenizer = AutoTokenizer.from_pretrained(str(encoder_folder), local_files_only=True)
    encoded = tokenizer(
        [settings.prefix + t for t in texts], truncation=True, max_length=settings.max_tokens, padding=False
    )["input_ids"]
    base = AutoModel.from_pretrained(str(encoder_folder), local_files_only=True)
    bf16 = settings.bf16
    if bf16 is None:
        bf16 = choose_cpu_precision(torch, base, f"{base_name} (base)", precision_cache) == "bf16"
    depth = int(base.config.num_hidden_layers)
    settings = replace(settings, bf16=bf16, layers=settings.layers or tuple(range(depth)))
    log.info("fine-tuning %s on %d texts: %s, layers %s", base_name, len(texts), "bf16" if bf16 else "fp32",
             "all" if settings.layers is None else f"{settings.layers[0]}-{settings.layers[-1]}")  # fmt: skip
    lora = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=_target_pattern(settings),
        bias="none",
    )
    model = get_peft_model(base, lora)
    hidden = int(base.config.hidden_size)
    head = torch.nn.Linear(hidden, N_LEVELS)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    adapter_params = [p for p in model.parameters() if p.requires_grad]
    with_targets = settings.target_weight > 0 and targets is not None and any(targets)
    aux = _AuxTargets.build(torch, targets, hidden, depth) if with_targets and targets is not None else None
    head_params = [*head.parameters(), *(aux.tensors.values() if aux else ())]
    optimizer = torch.optim.AdamW(
        [
            {"params": adapter_params, "lr": settings.lr},
            {"params": head_params, "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    per_epoch = -(-len(texts) // settings.batch_size)
    total = per_epoch * settings.epochs
    if settings.limit_steps is not None:
        total = min(total, settings.limit_steps)
    warm = max(1, int(total * settings.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    levels = torch.arange(N_LEVELS, dtype=torch.float32)
    pad = tokenizer.pad_token_id or 0
    y_all = torch.tensor(list(labels), dtype=torch.long)
    lengths = [len(ids) for ids in encoded]
    model.train()
    head.train()
    step, losses, target_losses, began = 0, [], [], time.perf_counter()
    for _epoch in range(settings.epochs):
        for batch in _batches(lengths, settings.batch_size, rng):
            if step >= total:
                break
            width = max(lengths[i] for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = torch.tensor(encoded[i])
                mask[row, : lengths[i]] = 1
            y = y_all[batch]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                outputs = model(input_ids=ids, attention_mask=mask, output_hidden_states=aux is not None)
            states = outputs.last_hidden_state
            logits = head(mean_pool(torch, states.float(), mask))
            probs = torch.softmax(logits, dim=-1)
            expected = (probs * levels).sum(-1)
            loss = (
                torch.nn.functional.cross_entropy(logits, y)
                + settings.ordinal_weight * (((expected - y.float()) / (N_LEVELS - 1)) ** 2).mean()
            )
            if aux is not None:
                target_loss = aux.loss(torch, outputs.hidden_states, mask, batch)
                target_losses.append(float(target_loss.detach()))
                loss = loss + settings.target_weight * target_loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*adapter_params, *head_params], 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(step, total, float(np.mean(losses[-50:])))
    seconds = time.perf_counter() - began
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out / ADAPTER_DIR))
    (out / ADAPTER_DIR / "README.md").unlink(missing_ok=True)  # peft's blank model card; docs/ has ours
    config_file = out / ADAPTER_DIR / "adapter_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_name  # not this machine's cache path
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    save_head(
        out,
        head.weight.detach(),
        head.bias.detach(),
        {**meta, "adapter": ADAPTER_DIR, "text_prefix": settings.prefix, "finetune": asdict(settings)},
    )
    return FinetuneResult(step, seconds, losses[-1] if losses else float("nan"), losses, target_losses)


@dataclass
class _AuxTargets:
    """The auxiliary target head of fine-tuning: the same form as the shipped one (targets.py), its own tensors,
    binary cross-entropy with positives weighted sqrt(negatives/positives) per code; texts without targets are
    left out of this loss."""

    tensors: dict[str, Any]
    labels: Any  # (texts, codes) 0/1
    known: Any  # (texts,) bool: the text carries targets
    layers: tuple[int, ...]
    pos_weight: Any

    @classmethod
    def build(cls, torch: Any, targets: Sequence[Sequence[str]], hidden: int, depth: int) -> _AuxTargets:
        layers = default_layers(depth)
        labels = torch.tensor([[1.0 if c in row else 0.0 for c in TARGET_CODES] for row in targets])
        known = torch.tensor([bool(row) for row in targets])  # built only when some text carries targets
        tensors = new_head_tensors(torch, len(TARGET_CODES), hidden * len(layers))
        return cls(tensors, labels, known, layers, positive_weights(torch, labels[known]))

    def loss(self, torch: Any, hidden_states: Sequence[Any], mask: Any, batch: Sequence[int]) -> Any:
        rows = [r for r, i in enumerate(batch) if bool(self.known[i])]
        if not rows:
            return torch.zeros(())
        states = window_states(torch, hidden_states, self.layers)[rows]
        logits = target_logits(torch, self.tensors, states, mask[rows])
        gold = self.labels[[batch[r] for r in rows]]
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, gold, pos_weight=self.pos_weight)
