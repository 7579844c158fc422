"""The target head through a tiny encoder built here: training on texts whose targets are known (who is named),
scoring, window combining, reproducibility, the model version, and the eval command's per-code metrics."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import fp32_config, run_tracker
from tracker.errors import ScoringError, SourceError
from tracker.scoring.base import TARGET_CODES, ModelSpec
from tracker.scoring.evaluation import evaluate_targets, predicted_targets
from tracker.scoring.training import load_labeled
from tracker.scoring.transformer import TransformerScorer, save_head
from tracker.scoring.transformer.targets import (
    PROJECTION,
    TARGETS_WEIGHTS,
    TENSORS,
    TargetSettings,
    combine_targets,
    fit_target_head,
    save_target_head,
)

US = ["death to america", "the america troops", "america will pay", "they attacked the america base"]
IQG = ["we reject the government budget", "the minister and the parliament", "the government said on monday"]
NONE = ["sales exploded on the market", "the market news on tuesday", "the road reopened in the city"]
# every US phrase with every IQG phrase: both are named
ROWS = (
    [(t, "US") for t in US]
    + [(t, "IQG") for t in IQG]
    + [(t, "NONE") for t in NONE]
    + [(f"{a} and {b}", "US;IQG") for a in US[:2] for b in IQG[:2]]
    + [(f"{t} after years", "US") for t in US]
    + [(f"{t} after years", "IQG") for t in IQG]
    + [(f"{t} after years", "NONE") for t in NONE]
)


def write_csv(path: Path, rows: list[tuple[str, str]], label: int = 1) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "targets"])
        writer.writerows((text, label, targets) for text, targets in rows)
    return path


def level_head(folder: Path, encoder: Path) -> Path:
    """A level head (random weights) whose card names the encoder, as `tracker train` writes one."""
    import torch

    g = torch.Generator().manual_seed(0)
    save_head(folder, torch.randn(5, 32, generator=g), torch.randn(5, generator=g), {"encoder": str(encoder)})
    return folder


def scorer_for(encoder: Path, head: Path, **kw: object) -> TransformerScorer:
    return TransformerScorer(ModelSpec("tiny", "encoder_head", str(encoder), str(head)), precision="fp32", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    """`tracker train --targets-only` on a small CSV (one row without targets) into a folder with a level head."""
    tmp = tmp_path_factory.mktemp("targets")
    data = write_csv(tmp / "train.csv", [*ROWS, ("the meeting on monday", "")])
    out = level_head(tmp / "model", tiny_encoder)
    args = ["train", "--targets-only", "--data", str(data), "--out", str(out), "--encoder", str(tiny_encoder)]
    result = run_tracker(*args, home=tmp / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"target head on {len(ROWS)} texts (1 without targets left out)" in result.stdout
    return out


def test_the_card_records_codes_training_counts_and_metrics(trained: Path) -> None:
    section = json.loads((trained / "head.json").read_text(encoding="utf-8"))["targets"]
    assert section["codes"] == list(TARGET_CODES) and section["layers"] == [1, 2]
    assert section["train_size"] == len(ROWS) and section["skipped_without_targets"] == 1
    assert section["code_counts"]["US"] == sum("US" in t for _, t in ROWS)
    assert set(section["cv_metrics"]) == {"folds", "at_0.5", "at_thresholds", "at_thresholds_none_alone"}
    assert set(section["dev_metrics"]) == {"ar", "en"}  # the shipped dev sets, measured with this model
    assert set(section["thresholds"]) == set(TARGET_CODES) and (trained / TARGETS_WEIGHTS).is_file()


def test_a_trained_head_finds_who_is_named_in_its_training_texts(trained: Path, tiny_encoder: Path) -> None:
    scores = scorer_for(tiny_encoder, trained).score_batch([t for t, _ in ROWS])
    for s in scores:
        assert [code for code, _ in s.targets] == list(TARGET_CODES)
        assert all(0.0 <= p <= 1.0 for _, p in s.targets)
    gold = [tuple(t.split(";")) for _, t in ROWS]
    predicted = [predicted_targets(s.targets) for s in scores]
    exact = sum(set(g) == set(p) for g, p in zip(gold, predicted, strict=True)) / len(ROWS)
    majority = max(gold.count(g) for g in set(gold)) / len(ROWS)  # always answering the commonest set
    assert exact >= majority + 0.4
    metrics = evaluate_targets(gold, predicted)
    assert metrics["US"]["f1"] >= 0.9 and metrics["IQG"]["f1"] >= 0.9


def test_a_long_text_takes_each_codes_highest_window(trained: Path, tiny_encoder: Path) -> None:
    scorer = scorer_for(tiny_encoder, trained, max_tokens=16, stride=4)
    long_text = " ".join(["sales exploded on the market"] * 12 + ["the america troops and the america base"])
    ids, _ = scorer.windows([long_text])
    assert len(ids) > 3
    levels, targets = scorer.window_outputs(ids)
    assert len(levels) == len(targets) == len(ids) and all(len(t) == len(TARGET_CODES) for t in targets)
    result = scorer.score_batch([long_text])[0]
    assert result.windows == len(ids) and result.targets == combine_targets(TARGET_CODES, targets)
    us = TARGET_CODES.index("US")
    assert dict(result.targets)["US"] == max(t[us] for t in targets) > min(t[us] for t in targets)
    assert dict(result.targets)["US"] >= 0.5  # named only in the last window, it still counts


def test_a_head_folder_without_a_target_head_gives_no_targets(tiny_encoder: Path, tiny_head: Path) -> None:
    scores = scorer_for(tiny_encoder, tiny_head).score_batch(["death to america", "the market"])
    assert [s.targets for s in scores] == [(), ()]


def test_retraining_writes_the_same_file_and_a_new_head_is_a_new_version(tmp_path: Path, tiny_encoder: Path) -> None:
    settings = TargetSettings(epochs=10, folds=3)
    texts, targets = [t for t, _ in ROWS], [tuple(c.split(";")) for _, c in ROWS]
    files = []
    for name in ("a", "b"):
        folder = level_head(tmp_path / name, tiny_encoder)
        before = scorer_for(tiny_encoder, folder).version
        windows, owners = scorer_for(tiny_encoder, folder).token_states(texts, (1, 2))
        fit = fit_target_head(windows, owners, targets, TARGET_CODES, (1, 2), settings)
        save_target_head(folder, fit, {"note": "test"})
        assert scorer_for(tiny_encoder, folder).version != before
        files.append((folder / TARGETS_WEIGHTS).read_bytes())
    assert files[0] == files[1]
    # a new level head (a retrained encoder) drops the target head it would no longer match
    level_head(tmp_path / "a", tiny_encoder)
    assert not (tmp_path / "a" / TARGETS_WEIGHTS).exists()
    assert scorer_for(tiny_encoder, tmp_path / "a").score_batch(["death to america"])[0].targets == ()


def test_a_head_with_or_without_the_projection_is_saved_loaded_and_scored(tmp_path: Path, tiny_encoder: Path) -> None:
    from safetensors.torch import load_file

    texts, targets = [t for t, _ in ROWS], [tuple(c.split(";")) for _, c in ROWS]
    for hidden, keys in ((0, set(TENSORS)), (256, {*TENSORS, *PROJECTION})):
        folder = level_head(tmp_path / f"h{hidden}", tiny_encoder)
        windows, owners = scorer_for(tiny_encoder, folder).token_states(texts, (1, 2))
        fit = fit_target_head(
            windows, owners, targets, TARGET_CODES, (1, 2), TargetSettings(hidden=hidden, members=1, folds=0)
        )
        save_target_head(folder, fit, {"note": "test"})
        saved = load_file(str(folder / TARGETS_WEIGHTS))
        assert set(saved) == keys and saved["query"].shape == (len(TARGET_CODES), hidden or 64)  # 2 layers of 32
        scorer = scorer_for(tiny_encoder, folder)
        first = scorer.score_batch(texts)
        assert [s.targets for s in first] == [s.targets for s in scorer.score_batch(texts)]  # no dropout in scoring
        gold = [set(t) for t in targets]
        exact = sum(set(predicted_targets(s.targets)) == g for s, g in zip(first, gold, strict=True)) / len(ROWS)
        majority = max(targets.count(t) for t in set(targets)) / len(ROWS)
        assert exact >= majority + 0.4, (hidden, exact)
    # a file whose tensors match neither form is refused with what to do
    bad = load_file(str(tmp_path / "h256" / TARGETS_WEIGHTS))
    bad.pop("proj_bias")
    from safetensors.torch import save_file

    save_file(bad, str(tmp_path / "h256" / TARGETS_WEIGHTS))
    with pytest.raises(ScoringError, match=r"does not match its card.*retrain it"):
        scorer_for(tiny_encoder, tmp_path / "h256").score_batch(["death to america"])


def test_a_head_of_several_members_scores_the_mean_of_their_logits(tmp_path: Path, tiny_encoder: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from tracker.scoring.transformer.targets import target_logits

    texts, targets = [t for t, _ in ROWS], [tuple(c.split(";")) for _, c in ROWS]
    folder = level_head(tmp_path / "m3", tiny_encoder)
    windows, owners = scorer_for(tiny_encoder, folder).token_states(texts, (1, 2))
    settings = TargetSettings(hidden=256, members=3, folds=3)
    fit = fit_target_head(windows, owners, targets, TARGET_CODES, (1, 2), settings)
    save_target_head(folder, fit, {"note": "test"})
    saved = load_file(str(folder / TARGETS_WEIGHTS))
    assert {k: tuple(v.shape) for k, v in saved.items()} == {
        "query": (3, len(TARGET_CODES), 256),
        "query_bias": (3, len(TARGET_CODES)),
        "weight": (3, len(TARGET_CODES), 256),
        "bias": (3, len(TARGET_CODES)),
        "proj_weight": (3, 256, 64),
        "proj_bias": (3, 256),
    }
    assert not torch.equal(saved["proj_weight"][0], saved["proj_weight"][1])  # each member from its own seed
    # the stacked head's logits are the mean of its members' logits, each member a plain head
    pad = torch.nn.utils.rnn.pad_sequence
    states = pad(list(windows[:5]), batch_first=True)
    mask = pad([torch.ones(len(w), dtype=torch.bool) for w in windows[:5]], batch_first=True)
    each = [target_logits(torch, {k: v[m] for k, v in saved.items()}, states, mask) for m in range(3)]
    assert torch.allclose(target_logits(torch, saved, states, mask), sum(each) / 3, atol=1e-6)
    # the first member alone is what a one-member fit with the same seed trains (before thresholds are folded in)
    one = fit_target_head(
        windows, owners, targets, TARGET_CODES, (1, 2), TargetSettings(hidden=256, members=1, folds=0)
    )
    assert torch.equal(one.head.tensors["proj_weight"], saved["proj_weight"][0])
    scorer = scorer_for(tiny_encoder, folder)
    scores = scorer.score_batch(texts)
    exact = sum(set(predicted_targets(s.targets)) == set(t) for s, t in zip(scores, targets, strict=True)) / len(ROWS)
    assert exact >= max(targets.count(t) for t in set(targets)) / len(ROWS) + 0.4
    # members stacked in some tensors and not in others, or a different number of members per tensor: refused
    for broken in ({**saved, "bias": saved["bias"][0]}, {**saved, "bias": saved["bias"][:2]}):
        save_file(broken, str(folder / TARGETS_WEIGHTS))
        with pytest.raises(ScoringError, match=r"does not match its card.*retrain it"):
            scorer_for(tiny_encoder, folder).score_batch(["death to america"])


def test_target_metrics_by_hand() -> None:
    gold = [("US",), ("US", "IQG"), ("IQG",), ("NONE",), ("US",)]
    pred = [("US",), ("US",), ("US", "IQG"), ("IQG",), ()]
    m = evaluate_targets(gold, pred)
    # US: predicted in rows 0, 1, 2; gold in rows 0, 1, 4 -> tp 2, fp 1, fn 1
    assert m["US"] == {"precision": 2 / 3, "recall": 2 / 3, "f1": pytest.approx(2 / 3), "support": 3}
    # IQG: predicted in rows 2, 3; gold in rows 1, 2 -> tp 1, fp 1, fn 1
    assert m["IQG"]["precision"] == 0.5 and m["IQG"]["recall"] == 0.5 and m["IQG"]["support"] == 2
    # NONE: never predicted -> recall 0, precision 0 by convention, f1 0
    assert m["NONE"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert list(m) == ["US", "IQG", "NONE", "micro", "macro"]  # only codes in use, in TARGET_CODES order
    # micro: tp 3, fp 2, fn 3
    assert m["micro"]["precision"] == 3 / 5 and m["micro"]["recall"] == 3 / 6 and m["micro"]["support"] == 6
    assert m["macro"]["f1"] == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)


def test_none_stands_alone_whichever_side_is_more_probable() -> None:
    assert predicted_targets((("US", 0.9), ("IQG", 0.6), ("NONE", 0.2))) == ("US", "IQG")
    assert predicted_targets((("US", 0.1), ("NONE", 0.7))) == ("NONE",)
    # NONE beside other codes: the more probable side wins, never both
    assert predicted_targets((("US", 0.6), ("IQG", 0.55), ("NONE", 0.8))) == ("NONE",)
    assert predicted_targets((("US", 0.9), ("IQG", 0.55), ("NONE", 0.8))) == ("US", "IQG")
    assert predicted_targets((("US", 0.4), ("NONE", 0.45))) == ()
    # a code given twice counts once, at its higher probability (it used to fail on NONE twice)
    assert predicted_targets((("NONE", 0.9), ("NONE", 0.8))) == ("NONE",)
    assert predicted_targets((("US", 0.9), ("US", 0.3), ("IQG", 0.6))) == ("US", "IQG")
    assert predicted_targets((("US", 0.3), ("NONE", 0.6), ("US", 0.7))) == ("US",)


def test_eval_json_reports_each_codes_precision_recall_and_f1(trained: Path, tiny_encoder: Path) -> None:
    rows = [*ROWS[:12], ("the america market", "NONE"), ("the government troops", "US"), ("the city", "")]
    data = write_csv(trained.parent / "eval.csv", rows)
    result = run_tracker("eval", str(data), "--model", str(trained), "--json", home=trained.parent / "home",
                         config=fp32_config(trained.parent))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout)["targets"]
    scores = scorer_for(tiny_encoder, trained).score_batch([t for t, c in rows if c])
    gold = [set(c.split(";")) for _, c in rows if c]  # the row without targets is left out
    predicted = [set(predicted_targets(s.targets)) for s in scores]
    for code in set().union(*gold, *predicted):
        tp = sum(code in g and code in p for g, p in zip(gold, predicted, strict=True))
        n_pred, n_gold = sum(code in p for p in predicted), sum(code in g for g in gold)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        assert got[code]["support"] == n_gold
        assert got[code]["precision"] == pytest.approx(precision) and got[code]["recall"] == pytest.approx(recall)
        expected_f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert got[code]["f1"] == pytest.approx(expected_f1)
    assert set(got) - {"micro", "macro"} == set().union(*gold, *predicted)
    assert got["micro"]["support"] == sum(len(g) for g in gold)


def test_eval_predictions_carry_each_rows_gold_and_predicted_targets(trained: Path, tiny_encoder: Path) -> None:
    rows = [*ROWS[:6], ("the city", "")]
    data = write_csv(trained.parent / "pred.csv", rows)
    out = trained.parent / "predictions.csv"
    result = run_tracker("eval", str(data), "--model", str(trained), "--predictions", str(out),
                         home=trained.parent / "home", config=fp32_config(trained.parent))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with out.open(encoding="utf-8", newline="") as fh:
        written = list(csv.DictReader(fh))
    scores = scorer_for(tiny_encoder, trained).score_batch([t for t, _ in rows])
    assert [r["gold_targets"] for r in written] == [c for _, c in rows]
    assert [r["targets"] for r in written] == [";".join(predicted_targets(s.targets)) for s in scores]
    for r, s in zip(written, scores, strict=True):
        assert [float(r[f"t_{c}"]) for c in TARGET_CODES] == pytest.approx([p for _, p in s.targets], abs=1e-6)


def test_an_unknown_target_code_is_refused_with_its_line(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "bad.csv", [("death to america", "US"), ("x", "USA;IQG")])
    with pytest.raises(SourceError, match=r"bad.csv:3: unknown target code\(s\) USA"):
        load_labeled([data])


def test_tracker_train_fits_the_target_head_after_the_adapter(tmp_path: Path, tiny_encoder: Path) -> None:
    data = write_csv(tmp_path / "train.csv", ROWS)
    out = tmp_path / "tuned"
    args = ["train", "--data", str(data), "--encoder", str(tiny_encoder), "--out", str(out), "--epochs", "1"]
    result = run_tracker(*args, home=tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"fine-tuned on {len(ROWS)} texts" in result.stdout and f"target head on {len(ROWS)} texts" in result.stdout
    card = json.loads((out / "head.json").read_text(encoding="utf-8"))
    assert card["adapter"] == "adapter" and card["targets"]["train_size"] == len(ROWS)
    score = scorer_for(tiny_encoder, out).score_batch(["death to america"])[0]
    assert [code for code, _ in score.targets] == list(TARGET_CODES)


def test_the_interval_script_resamples_a_predictions_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "target_interval.py"

    def run(rows: list[tuple[str, str]]) -> str:
        path = tmp_path / "pred.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(
                [("row", "gold_targets", "targets"), *((i, g, p) for i, (g, p) in enumerate(rows))]
            )
        done = subprocess.run(
            [sys.executable, str(script), str(path), "--draws", "500"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    # 2 true positives, 1 false positive, 1 false negative: F1 4 / 6
    out = run([("IQG", "IQG"), ("US;IQG", "IQG"), ("US", "US;IQG"), ("IQG", "US"), ("NONE", "NONE")])
    assert "IQG: F1 0.667 on 5 texts (3 with the code)" in out
    low, high = (float(x) for x in out.split("interval ")[1].split(";")[0].split("-"))
    assert 0.0 <= low < 0.667 < high <= 1.0
    # perfect predictions: every draw that holds the code at all scores 1 (a draw without it says nothing)
    assert "F1 1.000 on 3 texts (2 with the code); 95% interval 1.000-1.000; 100% of" in run(
        [("IQG", "IQG"), ("US", "US"), ("IQG", "IQG;US")]
    )
