"""bf16 or fp32 on a CPU, chosen by measuring once per machine and model, never by assuming.

bf16 autocast is 2-4x faster on CPUs with AMX and about 2x on some without it (AVX512_BF16, AMD Zen 5), and
slower on CPUs with neither. The probe times a fixed batch both ways and compares the embeddings; bf16 is
chosen when it is at least MIN_SPEEDUP faster and every embedding keeps a cosine of at least MIN_COSINE to fp32.
The verdict is cached in the model cache, keyed by the CPU, the torch version and the model version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MIN_SPEEDUP = 1.2
MIN_COSINE = 0.995
FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


def cpu_signature(torch_version: str) -> str:
    """What the verdict depends on: the CPU model, its relevant flags, the torch build."""
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return f"{model} | {' '.join(f for f in FLAGS if f in flags)} | torch {torch_version}"


def _time(torch: Any, model: Any, ids: Any, mask: Any, bf16: bool, repeats: int = 3) -> tuple[float, Any]:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
        began = time.perf_counter()
        for _ in range(repeats):
            out = model(input_ids=ids, attention_mask=mask).last_hidden_state
        seconds = (time.perf_counter() - began) / repeats
    pooled = out.float().mean(dim=1)
    return seconds, torch.nn.functional.normalize(pooled, dim=-1)


def probe(torch: Any, model: Any, vocab_size: int) -> dict[str, Any]:
    """Time fp32 and bf16 on a fixed, seeded batch (32 windows of 64 tokens) and compare the embeddings."""
    gen = torch.Generator().manual_seed(0)
    low = min(1000, vocab_size // 4)  # clear of the special tokens, inside any vocabulary
    ids = torch.randint(low, max(low + 1, vocab_size), (32, 64), generator=gen)
    mask = torch.ones_like(ids)
    fp32, ref = _time(torch, model, ids, mask, bf16=False)
    bf16, low = _time(torch, model, ids, mask, bf16=True)
    cosine = float((ref * low).sum(-1).min())
    speedup = fp32 / bf16 if bf16 > 0 else 0.0
    choice = "bf16" if speedup >= MIN_SPEEDUP and cosine >= MIN_COSINE else "fp32"
    return {"choice": choice, "speedup": round(speedup, 2), "min_cosine": round(cosine, 5),
            "fp32_s": round(fp32, 4), "bf16_s": round(bf16, 4)}  # fmt: skip


def choose_cpu_precision(torch: Any, model: Any, model_key: str, cache_file: Path | None) -> str:
    """ "bf16" or "fp32" for this model on this CPU, from the cache or a probe (about a second)."""
    cpu = cpu_signature(torch.__version__)
    key = hashlib.sha256(f"{cpu} | {model_key}".encode()).hexdigest()[:24]
    cache: dict[str, Any] = {}
    if cache_file is not None and cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            cache = {}
    if key in cache:
        return str(cache[key]["choice"])
    result = probe(torch, model, int(getattr(model.config, "vocab_size", 30000)))
    result.update({"cpu": cpu, "model": model_key})
    log.info(
        "precision probe for %s: bf16 %.2fx fp32, min cosine %.4f -> %s",
        model_key, result["speedup"], result["min_cosine"], result["choice"],
    )  # fmt: skip
    if cache_file is not None:
        cache[key] = result
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cache, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        except OSError:
            pass
    return str(result["choice"])
