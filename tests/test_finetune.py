"""Fine-tuning with a LoRA adapter and a head on a tiny encoder built here: the real peft, loading and merging
code, seeded, with a known answer (two separable groups of texts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracker.scoring.base import ModelSpec
from tracker.scoring.transformer import TransformerScorer
from tracker.scoring.transformer.finetune import FinetuneSettings, finetune

VIOLENT = [
    "our fighters attacked the base with drones",
    "the resistance attacked the troops",
    "a rocket attack killed soldiers",
    "drones attacked the base on monday",
    "they attacked the occupation forces",
    "the group attacked the road with rockets",
]
CALM = [
    "we thank the government for the agreement",
    "we welcome the talks and the agreement",
    "the minister said the talks were calm",
    "we welcome peace and thank the parliament",
    "they thank us for the peace agreement",
    "the meeting ended in agreement and calm",
]


def train(tmp_path: Path, encoder: Path, name: str) -> Path:
    out = tmp_path / name
    texts = VIOLENT + CALM
    labels = [4] * len(VIOLENT) + [0] * len(CALM)
    options = FinetuneSettings(epochs=25, batch_size=4, lr=5e-3, head_lr=5e-2, threads=1, bf16=False, prefix="")
    finetune(encoder, texts, labels, out, options, base_name="tiny-base", meta={"name": name})
    return out


def test_a_fine_tuned_adapter_and_head_load_merged_and_separate_the_groups(tmp_path: Path, tiny_encoder: Path) -> None:
    out = train(tmp_path, tiny_encoder, "tuned")
    card = json.loads((out / "head.json").read_text(encoding="utf-8"))
    assert card["adapter"] == "adapter" and card["finetune"]["seed"] == 13
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["base_model_name_or_path"] == "tiny-base"  # no machine path in what ships
    scorer = TransformerScorer(ModelSpec("tuned", "encoder_head", str(tiny_encoder), str(out)), precision="fp32")
    scores = scorer.score_batch(VIOLENT + CALM)
    assert [s.level for s in scores] == [4] * len(VIOLENT) + [0] * len(CALM)
    assert all(abs(sum(s.probabilities) - 1) < 1e-5 for s in scores)


def test_fine_tuning_is_reproducible_with_a_seed(tmp_path: Path, tiny_encoder: Path) -> None:
    first, second = train(tmp_path, tiny_encoder, "a"), train(tmp_path, tiny_encoder, "b")
    for name in ("head.safetensors", "adapter/adapter_model.safetensors"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_the_version_changes_when_the_adapter_changes(tmp_path: Path, tiny_encoder: Path) -> None:
    out = train(tmp_path, tiny_encoder, "v")
    spec = ModelSpec("v", "encoder_head", str(tiny_encoder), str(out))
    before = TransformerScorer(spec).version
    weights = out / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\x00" * 8)
    assert TransformerScorer(spec).version != before


def test_fine_tuning_refuses_mismatched_labels(tmp_path: Path, tiny_encoder: Path) -> None:
    from tracker.errors import ScoringError

    with pytest.raises(ScoringError, match="as many labels as texts"):
        finetune(tiny_encoder, ["a"], [], tmp_path / "x", FinetuneSettings(), base_name="b", meta={})


def test_the_target_loss_trains_alongside_and_changes_the_adapter(tmp_path: Path, tiny_encoder: Path) -> None:
    texts = VIOLENT + CALM
    labels = [4] * len(VIOLENT) + [0] * len(CALM)
    # who is named decides the target, not the level: half of each group is about the US, half about the
    # government; one text carries no targets and stays out of that loss
    targets = [("US",) if i % 2 else ("IQG",) for i in range(len(texts))]
    targets[-1] = ()
    texts = [t + (" in washington" if i % 2 else " in baghdad") for i, t in enumerate(texts)]
    options = FinetuneSettings(epochs=25, batch_size=4, lr=5e-3, head_lr=5e-2, threads=1, bf16=False, prefix="")
    plain = finetune(tiny_encoder, texts, labels, tmp_path / "plain", options, base_name="b", meta={})
    joint_options = FinetuneSettings(**{**options.__dict__, "target_weight": 1.0})
    joint = finetune(tiny_encoder, texts, labels, tmp_path / "joint", joint_options, base_name="b", meta={},
                     targets=targets)  # fmt: skip
    assert plain.target_losses == [] and len(joint.target_losses) == joint.steps
    untargeted = finetune(tiny_encoder, texts, labels, tmp_path / "none", joint_options, base_name="b", meta={},
                          targets=[()] * len(texts))  # fmt: skip
    assert untargeted.target_losses == []  # no text carries targets: no target loss at all
    first, last = sum(joint.target_losses[:3]) / 3, sum(joint.target_losses[-3:]) / 3
    assert last < 0.5 * first, (first, last)
    adapter = "adapter/adapter_model.safetensors"
    assert (tmp_path / "plain" / adapter).read_bytes() != (tmp_path / "joint" / adapter).read_bytes()
    card = json.loads((tmp_path / "joint" / "head.json").read_text(encoding="utf-8"))
    assert card["finetune"]["target_weight"] == 1.0
    from tracker.errors import ScoringError

    with pytest.raises(ScoringError, match="one target list per text"):
        finetune(tiny_encoder, texts, labels, tmp_path / "x", joint_options, base_name="b", meta={}, targets=[()])


def test_tracker_train_fine_tunes_then_measures_both_dev_sets(tmp_path: Path, tiny_encoder: Path) -> None:
    import csv
    import os
    import subprocess
    import sys

    data = tmp_path / "small.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows([(t, 4) for t in VIOLENT] + [(t, 0) for t in CALM])
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRACKER_HOME": str(tmp_path / "home")}
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "tracker", "--config", str(repo / "config.yaml"), "train", "--data", str(data)]
    result = subprocess.run(
        [*cmd, "--encoder", str(tiny_encoder), "--out", str(out), "--epochs", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fine-tuned on 12 texts" in result.stdout
    assert "dev [ar] (649 texts)" in result.stdout and "dev [en] (650 texts)" in result.stdout
    card = json.loads((out / "head.json").read_text(encoding="utf-8"))
    assert set(card["dev_metrics"]) == {"ar", "en"} and card["encoder"] == str(tiny_encoder)
    assert card["train_size"] == 12 and card["steps"] == 1
