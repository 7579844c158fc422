"""Transformer scorers: the only package that imports torch and transformers.

Two kinds of model, both behind `score_batch(texts)`:
- `encoder_head`: a sentence encoder (mean pooling, L2-normalised) plus a small linear head trained by
  `tracker train` (the shipped default: all-MiniLM-L6-v2 + a 5-level head);
- `sequence_classification`: any Hugging Face sequence-classification checkpoint, its labels mapped to 0-4.

An encoder head folder may also hold a target head (`targets.py`: who the text is directed at, one probability
per code, from the same forward pass); scores then carry `targets`, otherwise `()`.

Fast batch inference: texts are cut into overlapping windows of at most `max_tokens` tokens (never silently
truncated), windows are sorted by length and padded per batch, run under `torch.inference_mode`, with bf16
autocast where a measured probe finds it faster without loss (or CUDA), threads set from the machine.
"""

from tracker.scoring.transformer.files import HEAD_META, HEAD_WEIGHTS, WEIGHT_FILES, model_version, resolve_path
from tracker.scoring.transformer.head import load_head, save_head
from tracker.scoring.transformer.scorer import TransformerScorer, mean_pool
from tracker.scoring.transformer.targets import TARGETS_WEIGHTS, TargetSettings, fit_target_head, save_target_head

__all__ = [
    "HEAD_META",
    "HEAD_WEIGHTS",
    "TARGETS_WEIGHTS",
    "WEIGHT_FILES",
    "TargetSettings",
    "TransformerScorer",
    "fit_target_head",
    "load_head",
    "mean_pool",
    "model_version",
    "resolve_path",
    "save_head",
    "save_target_head",
]
