"""Tiny transformer models built inside the tests (config + save_pretrained), so the real loading, batching,
windowing and storing code runs without any download."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "the",
    "a",
    "we",
    "our",
    "they",
    "attack",
    "attacked",
    "drone",
    "drones",
    "rocket",
    "base",
    "troops",
    "killed",
    "warn",
    "warning",
    "threat",
    "will",
    "pay",
    "price",
    "death",
    "to",
    "america",
    "occupation",
    "condemn",
    "reject",
    "demand",
    "thank",
    "welcome",
    "agreement",
    "calm",
    "talks",
    "meeting",
    "budget",
    "minister",
    "said",
    "on",
    "monday",
    "tuesday",
    "government",
    "parliament",
    "election",
    "sales",
    "exploded",
    "market",
    "news",
    "report",
    "group",
    "resistance",
    "fighters",
    "forces",
    "soldiers",
    "us",
    "iraq",
    "syria",
    "baghdad",
    "city",
    "road",
    "reopened",
    "years",
    "after",
    "strike",
    "peace",
]


def write_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]]
    vocab += list("abcdefghijklmnopqrstuvwxyz0123456789.,'!?-")
    path = folder / "vocab.txt"
    path.write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    return path


def _tokenizer(vocab: Path, tokenizer_cls):  # type: ignore[no-untyped-def]
    """transformers 5 takes `vocab=`, 4.x takes `vocab_file=`."""
    import inspect

    key = "vocab_file" if "vocab_file" in inspect.signature(tokenizer_cls.__init__).parameters else "vocab"
    return tokenizer_cls(**{key: str(vocab)}, model_max_length=128)


def _config(vocab_size: int, **extra: object):  # type: ignore[no-untyped-def]
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **extra,
    )


def build_encoder(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BERT encoder with its tokenizer, saved with save_pretrained."""
    import torch
    from transformers import BertModel, BertTokenizerFast

    vocab = write_vocab(folder)
    tokenizer = _tokenizer(vocab, BertTokenizerFast)
    torch.manual_seed(seed)
    BertModel(_config(tokenizer.vocab_size)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_head(folder: Path, dim: int = 32, seed: int = 0, scale: float = 3.0) -> Path:
    import torch

    from tracker.scoring.transformer import save_head

    g = torch.Generator().manual_seed(seed)
    save_head(folder, torch.randn(5, dim, generator=g) * scale, torch.randn(5, generator=g), {"name": "tiny"})
    return folder


def build_classifier(folder: Path, labels: list[str], seed: int = 0) -> Path:
    """A 2-layer BERT sequence classifier with the given label names."""
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    vocab = write_vocab(folder)
    tokenizer = _tokenizer(vocab, BertTokenizerFast)
    torch.manual_seed(seed)
    config = _config(
        tokenizer.vocab_size,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
