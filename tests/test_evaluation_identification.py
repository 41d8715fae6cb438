"""Closed-set identification: the corrected protocol on toy embeddings with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from speakerlib.data.splits import enrolment_split
from speakerlib.errors import SplitError
from speakerlib.evaluation import ProtocolError, ScoreError, closed_set_accuracy, si_protocol
from speakerlib.evaluation.identification import bootstrap_mean_ci

SPEAKERS = ["s0", "s1", "s2", "s3", "s4", "s5"]
GENDER = pd.Series({"s0": "F", "s1": "F", "s2": "F", "s3": "M", "s4": "M", "s5": "M"})


def toy_set(n_utts=8, seed=0):
    """Speakers s0..s4 on orthogonal axes plus small noise; s5 *is* s0's voice exactly.

    Every s5 utterance equals e0 (no noise), and so does every s0 utterance: the two speaker
    models coincide, cosine ties, and the tie goes to the first speaker in sorted order (s0).
    So: s0..s4 are always right, s5 always wrong (predicted s0, true speaker ranked 2nd).
    """
    rng = np.random.default_rng(seed)
    eye = np.eye(16)
    X, utt, spk = [], [], []
    for k, name in enumerate(SPEAKERS):
        for u in range(n_utts):
            if name in ("s0", "s5"):
                X.append(eye[0])
            else:
                X.append(eye[k] + 0.05 * rng.normal(size=16))
            utt.append(f"{name}-{u:02d}")
            spk.append(name)
    order = rng.permutation(len(utt))
    return np.asarray(X)[order], [utt[i] for i in order], [spk[i] for i in order]


def test_si_protocol_known_answer():
    X, utt, spk = toy_set()
    got = si_protocol(X, utt, spk, n_enrol=3, seed=0, bootstrap=200)
    # 6 speakers x (8 - 3) = 30 test utterances; the 5 of s5 are wrong.
    assert (got["n_speakers"], got["n_test"], got["n_enrol_utterances"]) == (6, 30, 18)
    assert got["top1_accuracy"] == pytest.approx(25 / 30)
    assert got["top5_accuracy"] == 1.0
    assert got["chance"] == pytest.approx(1 / 6)
    decisions = got["decisions"]
    wrong = decisions[~decisions.correct]
    assert set(wrong.speaker) == {"s5"} and set(wrong.predicted) == {"s0"} and set(wrong["rank"]) == {2}
    confusion = got["confusion"]
    assert list(confusion.index) == SPEAKERS == list(confusion.columns) == got["labels"]
    assert confusion.loc["s5", "s0"] == 5 and confusion.loc["s5", "s5"] == 0
    assert int(np.trace(confusion.to_numpy())) == 25 and int(confusion.to_numpy().sum()) == 30
    low, high = got["top1_ci95"]
    assert low < 25 / 30 < high and got["top5_ci95"] == (1.0, 1.0)


def test_si_protocol_enrolment_is_enrolment_split():
    X, utt, spk = toy_set()
    got = si_protocol(X, utt, spk, n_enrol=2, seed=5, bootstrap=0)
    roles = enrolment_split(pd.DataFrame({"utt_id": utt, "speaker": spk}), n_enrol=2, seed=5)
    assert set(got["decisions"].utt_id) == set(roles.utt_id[roles.role == "test"])
    other = si_protocol(X, utt, spk, n_enrol=2, seed=6, bootstrap=0)
    assert set(other["decisions"].utt_id) != set(got["decisions"].utt_id)  # a new enrolment per seed
    again = si_protocol(X, utt, spk, n_enrol=2, seed=5, bootstrap=0)
    pd.testing.assert_frame_equal(again["decisions"], got["decisions"])
    assert np.isnan(got["top1_ci95"][0])
    # Default: half of each speaker's 8 utterances enrol.
    assert si_protocol(X, utt, spk, bootstrap=0)["n_enrol_utterances"] == 6 * 4


def test_si_protocol_per_group_accuracy():
    X, utt, spk = toy_set()
    got = si_protocol(X, utt, spk, n_enrol=3, groups={"gender": GENDER}, bootstrap=100)
    table = got["per_group"]["gender"]
    # F: s0 s1 s2 all right; M: s3 s4 right, s5 wrong -> 10 / 15.
    assert table.loc["F", "top1_accuracy"] == 1.0 and table.loc["M", "top1_accuracy"] == pytest.approx(2 / 3)
    assert list(table.n_test) == [15, 15] and list(table.n_speakers) == [3, 3]
    assert table.loc["M", "ci_low"] < 2 / 3 < table.loc["M", "ci_high"]
    # A Series indexed by utterance id works too; a missing value counts as "unknown".
    by_utt = pd.Series({u: ("young" if s in ("s0", "s1") else None) for u, s in zip(utt, spk)})
    ages = si_protocol(X, utt, spk, n_enrol=3, groups={"age": by_utt}, bootstrap=0)["per_group"]["age"]
    assert list(ages.index) == ["unknown", "young"] and list(ages.n_test) == [20, 10]


def test_si_protocol_errors_name_the_problem():
    X, utt, spk = toy_set(n_utts=4)
    X, utt, spk = X[1:], utt[1:], spk[1:]  # one speaker now has 3 utterances
    short = pd.Series(spk).value_counts().idxmin()
    with pytest.raises(SplitError, match=short):
        si_protocol(X, utt, spk, n_enrol=3, bootstrap=0)
    with pytest.raises(ProtocolError, match="at least 2 speakers"):
        si_protocol(np.eye(3), ["a", "b", "c"], ["A", "A", "A"], bootstrap=0)
    with pytest.raises(ScoreError, match="finite"):
        si_protocol(np.where(np.arange(len(utt))[:, None] == 2, np.nan, X), utt, spk, bootstrap=0)
    with pytest.raises(ProtocolError, match="covering"):
        si_protocol(X, utt, spk, n_enrol=1, groups={"gender": GENDER.drop("s4")}, bootstrap=0)


def test_si_protocol_with_given_roles():
    X, utt, spk = toy_set()
    # s0..s5 enrol with their utterance 00 only, everything else is identified
    roles = ["enrol" if u.endswith("-00") else "test" for u in utt]
    got = si_protocol(X, utt, spk, roles=roles, bootstrap=0)
    assert (got["n_enrol_utterances"], got["n_test"], got["enrolment"]) == (6, 42, "given roles")
    assert set(got["decisions"].utt_id) == {u for u in utt if not u.endswith("-00")}
    assert got["top1_accuracy"] == pytest.approx(35 / 42)  # s5's 7 test utterances go to s0 (the tie)
    assert got["top5_k"] == 5
    # the seed plays no part in the enrolment
    again = si_protocol(X, utt, spk, roles=roles, seed=9, bootstrap=0)
    pd.testing.assert_frame_equal(again["decisions"], got["decisions"])
    # roles equal to the random draw give the random protocol's result
    drawn = enrolment_split(pd.DataFrame({"utt_id": utt, "speaker": spk}), n_enrol=2, seed=5)["role"]
    pd.testing.assert_frame_equal(si_protocol(X, utt, spk, roles=drawn.tolist(), bootstrap=0)["decisions"],
                                  si_protocol(X, utt, spk, n_enrol=2, seed=5, bootstrap=0)["decisions"])


def test_si_protocol_given_roles_errors():
    X, utt, spk = toy_set()
    roles = ["enrol" if u.endswith("-00") else "test" for u in utt]
    with pytest.raises(ProtocolError, match="either enrolment roles or n_enrol, found both"):
        si_protocol(X, utt, spk, roles=roles, n_enrol=1, bootstrap=0)
    with pytest.raises(ProtocolError, match="one role per utterance"):
        si_protocol(X, utt, spk, roles=roles[:-1], bootstrap=0)
    only_enrol = ["enrol" if s == "s3" else r for r, s in zip(roles, spk)]
    with pytest.raises(ProtocolError, match=r"s3 \(no test\)"):
        si_protocol(X, utt, spk, roles=only_enrol, bootstrap=0)
    no_enrol = ["test" if s == "s2" else r for r, s in zip(roles, spk)]
    with pytest.raises(ProtocolError, match=r"s2 \(no enrol\)"):
        si_protocol(X, utt, spk, roles=no_enrol, bootstrap=0)


def test_top5_k_says_when_top5_is_every_speaker():
    X, utt, spk = toy_set()
    keep = [i for i, s in enumerate(spk) if s in ("s1", "s2", "s3")]
    got = si_protocol(X[keep], [utt[i] for i in keep], [spk[i] for i in keep], bootstrap=0)
    assert got["top5_k"] == 3 and got["top5_accuracy"] == 1.0


def test_closed_set_accuracy_by_hand():
    logits = np.array([[2.0, 1.0, 0.0], [0.1, 0.5, 0.4], [1.0, 1.0, 3.0], [0.0, 0.0, 0.0]])
    labels = np.array([0, 2, 1, 1])
    # top-1: row 0 right, row 1 predicts 1 (wrong), row 2 predicts 2 (wrong), row 3 ties -> class 0 (wrong)
    assert closed_set_accuracy(logits, labels) == 0.25
    # top-2: row 1 (2 is second), row 2 (1 ties with 0, loses the tie: rank 3), row 3 (rank 2) -> 3/4
    assert closed_set_accuracy(logits, labels, top_k=2) == 0.75
    with pytest.raises(ScoreError, match=r"\[0, 2\]"):
        closed_set_accuracy(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ScoreError, match="shape"):
        closed_set_accuracy(logits, labels[:3])


def test_bootstrap_mean_ci_against_the_normal_approximation():
    flags = np.r_[np.ones(300), np.zeros(100)]
    low, high = bootstrap_mean_ci(flags, bootstrap=2000, seed=0)
    half_width = 1.96 * np.sqrt(0.75 * 0.25 / 400)  # 0.0424
    assert low == pytest.approx(0.75 - half_width, abs=0.01)
    assert high == pytest.approx(0.75 + half_width, abs=0.01)
    assert bootstrap_mean_ci(np.ones(10), bootstrap=50) == (1.0, 1.0)
