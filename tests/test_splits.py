"""Splits: speaker-disjoint, deterministic, balanced; enrolment rules as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from speakerlib.data.splits import carve_part, corpus_split, enrolment_split, speaker_split, split_summary
from speakerlib.errors import SplitError


def toy_manifest(n_speakers=20, n_utts=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        gender = "F" if s % 2 == 0 else "M"
        for u in range(n_utts):
            rows.append({"utt_id": f"spk{s:03d}-{u:02d}", "speaker": f"spk{s:03d}", "gender": gender,
                         "subset": "", "duration_s": float(rng.uniform(1, 5))})
    return pd.DataFrame(rows)


def test_speaker_split_is_disjoint_complete_and_sized():
    m = toy_manifest(20)
    out = speaker_split(m, fractions=(0.6, 0.2, 0.2), seed=3)
    per_speaker = out.groupby("speaker")["split"].nunique()
    assert (per_speaker == 1).all()
    counts = out.drop_duplicates("speaker")["split"].value_counts().to_dict()
    assert counts == {"train": 12, "dev": 4, "test": 4}
    # gender balance kept in every part (10 F, 10 M split 6/2/2 each)
    balance = out.drop_duplicates("speaker").groupby(["split", "gender"]).size().unstack()
    assert (balance["F"] == balance["M"]).all()


def test_speaker_split_deterministic_and_order_independent():
    m = toy_manifest(30)
    a = speaker_split(m, seed=7).set_index("utt_id")["split"]
    b = speaker_split(m.sample(frac=1.0, random_state=1), seed=7).set_index("utt_id")["split"]
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index())
    c = speaker_split(m, seed=8).set_index("utt_id")["split"]
    assert not a.equals(c)


def test_speaker_split_uneven_strata_still_hits_totals():
    m = toy_manifest(13)  # 7 F, 6 M
    out = speaker_split(m, fractions=(0.6, 0.2, 0.2), seed=0)
    counts = out.drop_duplicates("speaker")["split"].value_counts()
    assert counts.sum() == 13
    assert dict(counts) == {"train": 8, "dev": 3, "test": 2} or dict(counts) == {"train": 8, "dev": 2, "test": 3}


def test_speaker_split_rejects_too_few_speakers_and_bad_fractions():
    with pytest.raises(SplitError, match="test part"):
        speaker_split(toy_manifest(2), fractions=(0.5, 0.4, 0.1), stratify=None)
    with pytest.raises(SplitError, match="summing to 1"):
        speaker_split(toy_manifest(5), fractions=(0.5, 0.5, 0.5))


def test_carve_part_moves_a_share_of_dev_and_leaves_the_other_parts_alone():
    split = speaker_split(toy_manifest(40), seed=2)  # 24 / 8 / 8 speakers, half of each F
    carved = carve_part(split, fraction=0.5, seed=2)
    speakers = carved.drop_duplicates("speaker")
    assert speakers["split"].value_counts().to_dict() == {"train": 24, "dev": 4, "calibration": 4, "test": 8}
    assert speakers.groupby(["split", "gender"]).size().to_dict() == {
        ("calibration", "F"): 2, ("calibration", "M"): 2, ("dev", "F"): 2, ("dev", "M"): 2,
        ("test", "F"): 4, ("test", "M"): 4, ("train", "F"): 12, ("train", "M"): 12}
    moved = carved["split"] != split["split"]
    assert set(split.loc[moved, "split"]) == {"dev"} and set(carved.loc[moved, "split"]) == {"calibration"}
    assert (carved.groupby("speaker")["split"].nunique() == 1).all()  # a speaker moves with all its utterances
    # deterministic, independent of row order, a draw of its own seed
    again = carve_part(split.sample(frac=1.0, random_state=0), fraction=0.5, seed=2).sort_index()
    pd.testing.assert_series_equal(again["split"], carved["split"])
    chosen = {seed: frozenset(carve_part(split, fraction=0.5, seed=seed).query("split == 'calibration'").speaker)
              for seed in range(6)}
    assert len(set(chosen.values())) > 1
    assert list(split_summary(carved).index) == ["train", "dev", "calibration", "test"]
    assert carve_part(split, fraction=0.0).equals(split)


def test_carve_part_refuses_what_cannot_give_two_parts_of_two_speakers():
    split = speaker_split(toy_manifest(40), seed=2)
    with pytest.raises(SplitError, match=r"moves 1 to 'calibration' and leaves 7.*--calibration-fraction"):
        carve_part(split, fraction=0.1)
    with pytest.raises(SplitError, match="in \\[0, 1\\)"):
        carve_part(split, fraction=1.0)
    with pytest.raises(SplitError, match="already has a 'calibration' part"):
        carve_part(carve_part(split, fraction=0.5), fraction=0.5)
    with pytest.raises(SplitError, match="'split' column"):
        carve_part(toy_manifest(4), fraction=0.5)


def test_corpus_split_keeps_timit_partition_and_carves_dev_from_train():
    m = toy_manifest(20)
    m["subset"] = np.where(m["speaker"] < "spk010", "train", "test")
    out = corpus_split(m, dev_fraction=0.2, seed=0)
    test_speakers = set(out.loc[out["split"] == "test", "speaker"])
    assert test_speakers == set(m.loc[m["subset"] == "test", "speaker"])
    dev = out.loc[out["split"] == "dev", "speaker"].unique()
    assert len(dev) == 2 and set(dev) <= set(m.loc[m["subset"] == "train", "speaker"])


def test_enrolment_split_random_counts_and_determinism():
    m = toy_manifest(5, n_utts=7)
    out = enrolment_split(m, n_enrol=3, seed=1)
    assert (out[out.role == "enrol"].groupby("speaker").size() == 3).all()
    assert (out[out.role == "test"].groupby("speaker").size() == 4).all()
    again = enrolment_split(m.iloc[::-1], n_enrol=3, seed=1)
    assert again.sort_index()["role"].equals(out.sort_index()["role"])
    assert not enrolment_split(m, n_enrol=3, seed=2)["role"].equals(out["role"])


def test_enrolment_split_reference_rule_is_first_half_sorted():
    m = toy_manifest(2, n_utts=5).sample(frac=1.0, random_state=0)
    out = enrolment_split(m, method="reference")
    for _, group in out.groupby("speaker"):
        ordered = group.sort_values("utt_id")
        assert list(ordered["role"]) == ["enrol", "enrol", "test", "test", "test"]


def test_enrolment_split_names_short_speakers():
    m = toy_manifest(3, n_utts=3)
    with pytest.raises(SplitError, match=r"spk000 \(3\)"):
        enrolment_split(m, n_enrol=3)


def test_split_summary_counts():
    m = toy_manifest(10, n_utts=4)
    parts = speaker_split(m, fractions=(0.6, 0.2, 0.2), seed=0)
    held = parts.split != "train"
    parts.loc[held, "role"] = enrolment_split(parts[held], n_enrol=1)["role"]
    table = split_summary(parts)
    assert list(table.index) == ["train", "dev", "test"]
    assert table.loc["train"].to_dict() == {"speakers": 6, "female": 3, "male": 3, "utterances": 24,
                                            "enrol": 0, "test": 0}
    assert table.loc["dev", "enrol"] == 2 and table.loc["dev", "test"] == 6
    assert table["female"].sum() == 5 and table["male"].sum() == 5
