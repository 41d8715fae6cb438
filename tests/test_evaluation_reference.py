"""The seed's metrics and protocols: reproduced on its own score files and on toy sets."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from speakerlib.data.splits import enrolment_split
from speakerlib.errors import SplitError
from speakerlib.evaluation import (
    ProtocolError,
    ScoreError,
    TrialListError,
    membership_reference,
    reference_metrics,
    si_reference,
)
from speakerlib.evaluation.reference import reference_halves, reference_score_files

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# The table of ../shared/reference/README.md, copied by hand: (trials, positives, eer, prauc, acc,
# auc, ap, eer_interp). Values are rounded to 4 decimals there.
README_TABLE: dict[tuple[str, str], tuple[int, int, float, float, float, float, float, float]] = {
    ("librispeech_d6eb4ad", "SE"): (1975, 636, 0.0582, 0.8510, 0.9413, 0.9862, 0.9778, 0.0583),
    ("librispeech_d6eb4ad", "Att"): (1975, 636, 0.0655, 0.8371, 0.9352, 0.9818, 0.9741, 0.0650),
    ("librispeech_d6eb4ad", "Deep"): (1975, 636, 0.0663, 0.8325, 0.9332, 0.9743, 0.9684, 0.0665),
    ("librispeech_d6eb4ad", "xvector"): (1975, 636, 0.0643, 0.8371, 0.9352, 0.9817, 0.9748, 0.0645),
    ("librispeech_d6eb4ad", "vggvox"): (1975, 636, 0.1023, 0.7560, 0.8972, 0.9572, 0.9449, 0.1023),
    ("librispeech_d6eb4ad", "dvector"): (1975, 636, 0.1191, 0.7252, 0.8815, 0.9526, 0.9334, 0.1187),
    ("timit_6845b81", "SE"): (1260, 420, 0.0381, 0.9024, 0.9611, 0.9931, 0.9867, 0.0381),
    ("timit_6845b81", "Att"): (1260, 420, 0.0554, 0.8641, 0.9444, 0.9808, 0.9710, 0.0571),
    ("timit_6845b81", "Deep"): (1260, 420, 0.1357, 0.7030, 0.8643, 0.9379, 0.9028, 0.1333),
}
METRICS = ("eer", "prauc", "acc", "auc", "ap", "eer_interp")


def _reference_dir() -> Path | None:
    """$SPEAKERLIB_REFERENCE, else ../shared/reference beside the project."""
    value = os.environ.get("SPEAKERLIB_REFERENCE")
    candidate = Path(value) if value else PROJECT_ROOT.parent / "shared" / "reference"
    return candidate if (candidate / "scores").is_dir() else None


@pytest.fixture(scope="module")
def reference_dir() -> Path:
    path = _reference_dir()
    if path is None:
        pytest.skip("reference score files not found: set SPEAKERLIB_REFERENCE or place them at "
                    "../shared/reference")
    return path


@pytest.mark.parametrize("run, model", sorted(README_TABLE), ids=lambda v: str(v))
def test_reference_metrics_reproduce_the_readme_table(reference_dir, run, model):
    y = np.load(reference_dir / "scores" / run / f"{model}_y_true.npy")
    s = np.load(reference_dir / "scores" / run / f"{model}_y_pre.npy")
    got = reference_metrics(y, s)
    trials, positives, *values = README_TABLE[(run, model)]
    assert (got["trials"], got["positives"]) == (trials, positives)
    for name, expected in zip(METRICS, values):
        # The table is rounded to 4 decimals: the value must round to it (error <= 5e-5 < 1e-4).
        assert abs(got[name] - expected) <= 5e-5 + 1e-12, (name, got[name], expected)


def test_every_reference_score_file_is_checked(reference_dir):
    assert set(reference_score_files(reference_dir)) == set(README_TABLE)


def test_readme_table_matches_the_copy_in_this_test(reference_dir):
    text = (reference_dir / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and re.fullmatch(r"\d+", cells[2] or ""):
            rows[(cells[0], cells[1])] = (int(cells[2]), int(cells[3]), *map(float, cells[4:]))
    assert rows == README_TABLE


def test_reference_metrics_by_hand():
    # roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]):
    #   thr = [inf, 0.8, 0.4, 0.35, 0.1], fpr = [0, 0, .5, .5, 1], tpr = [0, .5, .5, 1, 1]
    #   |1 - tpr - fpr| = [1, .5, 0, .5, 0] -> i = 2 (first minimum), threshold 0.4
    #   eer = ((1 - .5) + .5) / 2 = 0.5; decisions s > 0.4 = [0, 0, 0, 1] -> acc 3/4
    #   prauc = AP of the decisions: (recall .5, precision 1), then (1, .5) -> .5*1 + .5*.5 = .75
    #   auc: of the 4 target/non-target pairs, 3 are ordered right -> .75
    got = reference_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert got["threshold"] == 0.4
    assert got["eer"] == 0.5
    assert got["acc"] == 0.75
    assert got["prauc"] == pytest.approx(0.75)
    assert got["auc"] == pytest.approx(0.75)
    # eer_interp: points (fpr, fnr) = (0,1) (0,.5) (.5,.5) (.5,0) (1,0): (.5, .5) is on the diagonal.
    assert got["eer_interp"] == 0.5
    assert (got["positives"], got["trials"]) == (2, 4)


def test_reference_metrics_rejects_bad_input():
    with pytest.raises(ScoreError, match="one label per score"):
        reference_metrics([0, 1, 1], [0.2, 0.4])
    with pytest.raises(ScoreError, match="finite"):
        reference_metrics([0, 1], [0.2, np.nan])
    with pytest.raises(TrialListError, match="only target"):
        reference_metrics([1, 1], [0.2, 0.3])


# ----------------------------------------------------------------------------- protocols on toy sets
def _toy(n_speakers: int, n_utts: int, dim: int = 8, seed: int = 0, noise: float = 0.3):
    rng = np.random.default_rng(seed)
    # TIMIT-like ids: female speakers (f...) sort before male ones (m...).
    names = [f"f{i:03d}" for i in range(n_speakers // 3)] + [f"m{i:03d}" for i in range(n_speakers - n_speakers // 3)]
    centres = rng.normal(size=(n_speakers, dim))
    utt, spk, rows = [], [], []
    for name, centre in zip(names, centres):
        for u in range(n_utts):
            utt.append(f"{name}_s{u:02d}")
            spk.append(name)
            rows.append(centre + noise * rng.normal(size=dim))
    order = rng.permutation(len(utt))  # the input order must not matter
    return np.asarray(rows)[order], [utt[i] for i in order], [spk[i] for i in order]


def test_reference_halves_agree_with_enrolment_split():
    X, utt, spk = _toy(7, 5)
    table = pd.DataFrame({"utt_id": utt, "speaker": spk})
    ours = reference_halves(table)
    theirs = enrolment_split(table, method="reference")["role"] == "enrol"
    pd.testing.assert_series_equal(ours, theirs, check_names=False)
    # 5 utterances: 2 enrol with floor, 3 with ceil; always the first ones in sorted id order.
    ceil = reference_halves(table, rounding="ceil")
    for _, group in table.assign(floor=ours, ceil=ceil).sort_values("utt_id").groupby("speaker"):
        assert group["floor"].tolist() == [True, True, False, False, False]
        assert group["ceil"].tolist() == [True, True, True, False, False]


def test_si_reference_known_answer():
    # Three speakers on orthogonal axes; utterance ids sorted: a0 a1 | a2 a3 enrol first half.
    e = np.eye(3)
    X = np.array([e[0], e[0], e[0], e[1], e[1], e[1], e[1], e[2], e[2], 0.9 * e[0] + 0.1 * e[2]])
    utt = ["a0", "a1", "a2", "b0", "b1", "b2", "b3", "c0", "c1", "c2"]
    spk = ["A"] * 3 + ["B"] * 4 + ["C"] * 3
    got = si_reference(X, utt, spk)
    # Enrol: A {a0}, B {b0, b1}, C {c0}. Tests: a1 a2 -> A, b2 b3 -> B, c1 -> C, c2 -> A (wrong).
    assert (got["correct"], got["total"]) == (5, 6)
    assert got["accuracy"] == pytest.approx(5 / 6)
    decisions = got["decisions"].set_index("utt_id")
    assert list(decisions.index) == ["a1", "a2", "b2", "b3", "c1", "c2"]
    assert decisions.loc["c2", "predicted"] == "A" and not decisions.loc["c2", "correct"]
    assert decisions.loc["c2", "score"] == pytest.approx(0.9 / np.hypot(0.9, 0.1))


def test_si_reference_needs_two_utterances_per_speaker():
    with pytest.raises(SplitError, match="B"):
        si_reference(np.eye(3), ["a0", "a1", "b0"], ["A", "A", "B"])


@pytest.mark.parametrize("n_enrolled, positives, negatives", [(20, 100, 1480), (84, 420, 840)])
def test_membership_reference_counts_match_the_seed(n_enrolled, positives, negatives):
    # TIMIT test: 168 speakers x 10 utterances. README run: 20 enrolled -> 100 / 1480;
    # the timit_6845b81 score files: 420 positives in 1260 trials.
    X, utt, spk = _toy(168, 10, seed=1)
    got = membership_reference(X, utt, spk, n_enrolled=n_enrolled)
    assert int(got["y_true"].sum()) == positives
    assert int((got["y_true"] == 0).sum()) == negatives
    assert got["enrolled"] == sorted(set(spk))[:n_enrolled]
    assert got["metrics"]["trials"] == positives + negatives
    if n_enrolled == 20:
        assert all(name.startswith("f") for name in got["enrolled"])  # the gender confound


def test_membership_reference_scores_by_direct_computation():
    X, utt, spk = _toy(6, 4, seed=2)
    got = membership_reference(X, utt, spk, n_enrolled=2)
    table = pd.DataFrame({"utt_id": utt, "speaker": spk, "row": range(len(utt))}).sort_values("utt_id")
    members = sorted(set(spk))[:2]
    models = []
    for name in members:
        rows = table[table.speaker == name]["row"].to_numpy()[:2]  # first half of sorted ids
        models.append(X[rows].mean(axis=0))
    for utt_id, y, score in zip(got["utt_id"], got["y_true"], got["y_score"]):
        x = X[utt.index(utt_id)]
        best = max(x @ m / np.linalg.norm(x) / np.linalg.norm(m) for m in models)
        assert score == pytest.approx((best + 1) / 2, abs=1e-12)
        assert y == (spk[utt.index(utt_id)] in members)
    assert len(got["utt_id"]) == 2 * 2 + 4 * 4
    assert got["metrics"] == reference_metrics(got["y_true"], got["y_score"])


def test_membership_reference_rejects_impossible_settings():
    X, utt, spk = _toy(3, 4)
    with pytest.raises(ProtocolError, match="n_enrolled"):
        membership_reference(X, utt, spk, n_enrolled=3)
    with pytest.raises(ScoreError, match="one utterance id and one speaker"):
        membership_reference(X[:-1], utt, spk, n_enrolled=1)
