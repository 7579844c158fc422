"""The labeled data keep their promises: format, counts, targets on every text, dev sets apart from training."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

from tracker.pipeline.train import TRAINING_SETS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tracker" / "data"
CHECK = REPO / "scripts" / "data" / "check_labeled.py"
CODES = {"US", "ISR", "IQG", "TUR", "KRG", "GULF", "IRN", "UK", "FAC", "OTHER", "NONE"}


def rows(*patterns: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for pattern in patterns:
        for f in sorted(DATA.glob(pattern)):
            with open(f, encoding="utf-8", newline="") as fh:
                out.extend(csv.DictReader(fh))
    return out


TRAINING = tuple(f"{name}/*.csv" for name in TRAINING_SETS)
ROLES_AR = ("seed_roles/ar-r1.csv", "seed_roles/ar-r2.csv")
ROLES_EN = ("seed_roles/en-r1.csv", "seed_roles/en-r2.csv")
STATE_AR = ("seed_state/ar-s1.csv", "seed_state/ar-s2.csv")
STATE_EN = tuple(f"seed_state/en-s{i}.csv" for i in range(1, 5))
GOVT_AR = ("seed_govt/ar-g1.csv", "seed_govt/ar-g2.csv")
GOVT_EN = tuple(f"seed_govt/en-g{i}.csv" for i in range(1, 7))


def norm(text: str) -> str:
    return re.sub(r"\W+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def test_every_file_passes_the_checker() -> None:
    for args in (
        ["seed_ar", "seed_world/ar-w.csv", "seed_targets/ar-t.csv", *ROLES_AR, *STATE_AR, *GOVT_AR, "--lang", "ar"],
        ["seed_world/en-w.csv", "seed_targets/en-t.csv", *ROLES_EN, *STATE_EN, *GOVT_EN, "--lang", "en"],
        ["dev/ar.csv", "--lang", "ar"],
        ["dev/en.csv", "seed_en_extra", "seed", "--lang", "en"],
        ["heldout/en.csv", "--lang", "en"],
    ):
        paths = [str(DATA / a) if not a.startswith("--") and a not in ("ar", "en") else a for a in args]
        result = subprocess.run([sys.executable, str(CHECK), *paths], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout[-2000:]
        assert "format OK" in result.stdout


def test_the_counts_the_data_issue_asks_for() -> None:
    arabic = rows("seed_ar/*.csv")
    levels = Counter(r["label"] for r in arabic)
    assert len(arabic) >= 2500 and all(levels[str(i)] >= 400 for i in range(5))
    registers = Counter(r["register"] for r in arabic)
    assert abs(registers["statement"] - registers["news"]) <= 0.1 * len(arabic)  # about half and half
    assert sum(1 for r in arabic if r["hard_case"]) >= 0.3 * len(arabic)
    assert len({r["writer"] for r in arabic}) >= 4
    dev_ar, dev_en = rows("dev/ar.csv"), rows("dev/en.csv")
    assert len(dev_ar) >= 600 and len(dev_en) >= 600
    for dev in (dev_ar, dev_en):
        assert all(Counter(r["label"] for r in dev)[str(i)] >= 100 for i in range(5))


def test_parallel_pairs_carry_the_same_level_and_targets_in_both_languages() -> None:
    ar = {r["pair_id"]: r for r in rows("dev/ar.csv") if r["pair_id"]}
    en = {r["pair_id"]: r for r in rows("dev/en.csv") if r["pair_id"]}
    assert len(ar) >= 200 and set(ar) == set(en)
    for pid in ar:
        assert ar[pid]["label"] == en[pid]["label"], pid
        assert set(ar[pid]["targets"].split(";")) == set(en[pid]["targets"].split(";")), pid


def test_every_labeled_text_has_valid_targets() -> None:
    for r in rows(*TRAINING, "dev/*.csv", "heldout/*.csv"):
        codes = r["targets"].split(";")
        assert codes and set(codes) <= CODES and ("NONE" not in codes or codes == ["NONE"]), r["text"][:60]


def test_no_dev_text_is_in_a_training_set_and_dev_writers_wrote_no_training_data() -> None:
    train = rows(*TRAINING)
    dev = rows("dev/*.csv")
    assert not {norm(r["text"]) for r in dev} & {norm(r["text"]) for r in train}
    assert not {r["writer"] for r in dev} & {r.get("writer", "en-v1") for r in train}


def test_the_held_out_set_is_apart_from_training_and_dev_and_from_their_writers() -> None:
    heldout = rows("heldout/en.csv")
    assert len(heldout) >= 600 and all(Counter(r["label"] for r in heldout)[str(i)] >= 100 for i in range(5))
    others = rows(*TRAINING, "dev/*.csv")
    assert not {norm(r["text"]) for r in heldout} & {norm(r["text"]) for r in others}
    assert not {r["writer"] for r in heldout} & {r.get("writer", "en-v1") for r in others}
    assert not set(TRAINING_SETS) & {"heldout", "dev"}


def test_the_second_reading_records_hold_every_training_text_and_its_current_targets() -> None:
    """relabel/train_targets_*.csv: both readings of every text of the sets read again, and what the files now carry;
    relabel/govt_targets.csv: the same for seed_govt/, whose targets were read twice from the start."""
    for record in ("train_targets_en.csv", "train_targets_ar.csv", "govt_targets.csv"):
        rec = rows(f"relabel/{record}")
        files = {r["file"] for r in rec}
        assert files and len(rec) == len({(r["file"], r["line"]) for r in rec})
        for name in files:
            current = rows(name)
            mine = {int(r["line"]): r for r in rec if r["file"] == name}
            assert sorted(mine) == list(range(2, len(current) + 2)), name  # every row, by CSV line
            for line, r in mine.items():
                assert current[line - 2]["targets"] == r["final"], (name, line)
                differ = set(r["first"].split(";")) != set(r["second"].split(";"))
                assert bool(r["adjudicated"]) == differ, (name, line)
                assert r["final"] == (r["adjudicated"] or r["first"]), (name, line)
    govt = {r["file"] for r in rows("relabel/govt_targets.csv")}
    assert govt == {f"seed_govt/{f.name}" for f in DATA.glob("seed_govt/*.csv")} == {*GOVT_AR, *GOVT_EN}


def test_reading_agreement_scores_a_known_record(tmp_path: Path) -> None:
    record = tmp_path / "record.csv"
    with open(record, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerows([["first", "second"], ["US;IQG", "US"], ["NONE", "NONE"], ["ISR", "ISR;IQG"]])
    script = REPO / "scripts" / "data" / "reading_agreement.py"
    result = subprocess.run([sys.executable, str(script), str(record)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # US 1 of 1 agreed; IQG one added and one dropped; micro: 3 agreed, 1 added, 1 dropped -> 6 / 8
    assert "the same set of codes on 1 (33.3%)" in result.stdout
    assert "US 1.000" in result.stdout and "IQG 0.000" in result.stdout and "micro 0.750" in result.stdout
