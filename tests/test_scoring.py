"""The transformer scorer through tiny real models: loading, batching, windowing, label maps, versions."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_models import build_classifier, build_head
from tracker.errors import ScoringError
from tracker.scoring.base import ModelSpec, combine_windows, hostility_of, score_from_probabilities
from tracker.scoring.transformer import TransformerScorer, model_version

TEXTS = [
    "our fighters attacked the base with drones",
    "we thank the government for the agreement",
    "the minister said on monday that the budget talks will resume",
    "death to america",
    "sales exploded on the market",
]


def encoder_scorer(encoder: Path, head: Path, **kw: object) -> TransformerScorer:
    return TransformerScorer(ModelSpec("tiny", "encoder_head", str(encoder), str(head)), precision="fp32", **kw)  # type: ignore[arg-type]


def test_probabilities_levels_and_hostility_are_consistent(tiny_encoder: Path, tiny_head: Path) -> None:
    scores = encoder_scorer(tiny_encoder, tiny_head).score_batch(TEXTS)
    assert len(scores) == len(TEXTS)
    for s in scores:
        assert math.isclose(sum(s.probabilities), 1.0, abs_tol=1e-5)
        assert s.level == max(range(5), key=lambda i: s.probabilities[i])
        assert 0.0 <= s.hostility <= 1.0
        assert math.isclose(s.hostility, sum(i * p for i, p in enumerate(s.probabilities)) / 4, abs_tol=1e-6)
    assert len({s.probabilities for s in scores}) > 1  # the texts are really read


def test_batching_and_sorting_do_not_change_scores(tiny_encoder: Path, tiny_head: Path) -> None:
    texts = [*TEXTS, "a", "we warn the occupation troops that they will pay a heavy price for this " * 3]
    batched = encoder_scorer(tiny_encoder, tiny_head, batch_size=4).score_batch(texts)
    alone = [encoder_scorer(tiny_encoder, tiny_head, batch_size=1).score_batch([t])[0] for t in texts]
    scorer = encoder_scorer(tiny_encoder, tiny_head, batch_size=3)
    ids, _ = scorer.windows(texts)
    unsorted = scorer.window_probabilities(ids, sort=False)
    for b, a, u in zip(batched, alone, unsorted, strict=True):
        assert b.probabilities == pytest.approx(a.probabilities, abs=1e-5)
        assert b.probabilities == pytest.approx(tuple(u), abs=1e-5)


def test_long_texts_are_split_into_overlapping_windows_not_truncated(tiny_encoder: Path, tiny_head: Path) -> None:
    scorer = encoder_scorer(tiny_encoder, tiny_head, max_tokens=16, stride=4)
    long_text = " ".join(["the minister said on monday"] * 30 + ["our fighters attacked the base"])
    ids, owners = scorer.windows([long_text, "short text"])
    assert owners.count(0) > 5 and owners.count(1) == 1
    assert max(len(w) for w in ids) <= 16
    # every token of the text is in some window: the last words are not cut off
    last_window = scorer._load()["tokenizer"].decode(ids[owners.count(0) - 1])
    assert "base" in last_window
    result = scorer.score_batch([long_text])[0]
    per_window = scorer.window_probabilities([w for w, o in zip(ids, owners, strict=True) if o == 0])
    assert result.windows == owners.count(0)
    assert result == combine_windows(per_window)


def test_combining_windows_takes_the_highest_level() -> None:
    calm = [0.7, 0.2, 0.1, 0.0, 0.0]
    violent = [0.1, 0.1, 0.1, 0.2, 0.5]
    threat = [0.0, 0.1, 0.2, 0.6, 0.1]
    combined = combine_windows([calm, violent, threat, calm])
    assert combined.level == 4
    assert combined.probabilities == tuple(violent)
    assert combined.windows == 4
    assert combine_windows([calm]).level == 0
    assert hostility_of([0, 0, 0, 0, 1]) == 1.0
    assert hostility_of([1, 0, 0, 0, 0]) == 0.0
    assert score_from_probabilities([0.2, 0.2, 0.2, 0.2, 0.2]).hostility == pytest.approx(0.5)


def test_sequence_classification_checkpoint_with_a_label_map(tmp_path: Path) -> None:
    folder = build_classifier(tmp_path / "clf", ["calm", "angry", "violent"])
    spec = ModelSpec("clf", "sequence_classification", str(folder), None, (("angry", 2), ("calm", 0), ("violent", 4)))
    scores = TransformerScorer(spec, precision="fp32").score_batch(TEXTS)
    for s in scores:
        assert s.probabilities[1] == 0.0 and s.probabilities[3] == 0.0
        assert math.isclose(sum(s.probabilities), 1.0, abs_tol=1e-5)
        assert s.level in (0, 2, 4)
    unmapped = ModelSpec("clf", "sequence_classification", str(folder), None, (("calm", 0),))
    with pytest.raises(ScoringError, match="label 'angry' has no level"):
        TransformerScorer(unmapped).score_batch(["x"])


def test_model_version_tracks_weights_head_and_label_map(tiny_encoder: Path, tmp_path: Path) -> None:
    head_a = build_head(tmp_path / "a", seed=1)
    head_b = build_head(tmp_path / "b", seed=2)
    spec_a = ModelSpec("tiny", "encoder_head", str(tiny_encoder), str(head_a))
    v1, v2 = model_version(spec_a), model_version(spec_a)
    assert v1 == v2 and str(v1).startswith("tiny@")
    assert model_version(ModelSpec("tiny", "encoder_head", str(tiny_encoder), str(head_b))) != v1
    assert model_version(ModelSpec("tiny", "encoder_head", str(tiny_encoder), str(head_a), (("x", 1),))) != v1


def test_computing_the_version_does_not_load_torch(tiny_encoder: Path, tiny_head: Path) -> None:
    code = (
        "import sys; from tracker.scoring.transformer import model_version; from tracker.scoring.base import ModelSpec;"
        f"v = model_version(ModelSpec('t', 'encoder_head', {str(tiny_encoder)!r}, {str(tiny_head)!r}));"
        "print(v, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_a_missing_model_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ScoringError, match="not found"):
        model_version(ModelSpec("x", "encoder_head", str(tmp_path / "nowhere" / "model"), "h"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ScoringError) as info:
        model_version(ModelSpec("x", "sequence_classification", "no-such-org/no-such-model"))
    assert "HF_HUB_OFFLINE" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ScoringError, match="not installed"):
        model_version(ModelSpec("x", "encoder_head", "package:no_such_package_xyz/model", "h"))


def test_an_encoder_without_a_head_cannot_score(tiny_encoder: Path) -> None:
    scorer = TransformerScorer(ModelSpec("bare", "encoder_head", str(tiny_encoder)), precision="fp32")
    assert scorer.embed(["a text"]).shape == (1, 32)
    with pytest.raises(ScoringError, match="no head"):
        scorer.score_batch(["a text"])
