"""The 5-level linear head on mean-pooled sentence embeddings: saved as safetensors plus a JSON card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracker.errors import ScoringError
from tracker.scoring.base import N_LEVELS
from tracker.scoring.transformer.files import HEAD_META, HEAD_WEIGHTS
from tracker.scoring.transformer.targets import TARGETS_WEIGHTS


def load_head(folder: Path, device: str) -> Any:
    """A linear 5-level head saved by `save_head` (weights in safetensors, metadata in JSON)."""
    import torch
    from safetensors.torch import load_file

    weights_file = folder / HEAD_WEIGHTS if folder.is_dir() else folder
    if not weights_file.is_file():
        raise ScoringError(f"head weights {weights_file} not found; run `tracker train` or fix the head path")
    tensors = load_file(str(weights_file))
    weight, bias = tensors["weight"], tensors["bias"]
    if weight.shape[0] != N_LEVELS:
        raise ScoringError(f"head {weights_file} has {weight.shape[0]} outputs; expected {N_LEVELS}")
    head = torch.nn.Linear(weight.shape[1], N_LEVELS)
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(bias)
    return head.eval().to(device)


def save_head(folder: Path, weight: Any, bias: Any, meta: dict[str, Any]) -> None:
    """Write the level head and its card. A target head left in the folder is removed: it was read from the
    encoder this head replaces, and the new card no longer describes it (`tracker train` fits a new one)."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "weight": torch.as_tensor(weight, dtype=torch.float32).contiguous(),
            "bias": torch.as_tensor(bias, dtype=torch.float32).contiguous(),
        },
        str(folder / HEAD_WEIGHTS),
    )
    (folder / HEAD_META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (folder / TARGETS_WEIGHTS).unlink(missing_ok=True)
