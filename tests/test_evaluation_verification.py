"""Pairwise verification: embedding files, trial lists, scoring, AS-norm, metrics, reports.

Every metric is checked against an independent route: a brute-force sweep
over thresholds, scikit-learn, hand arithmetic written in the test, or a
direct per-trial loop.
"""

from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from speakerlib.errors import ManifestError
from speakerlib.evaluation import (
    EmbeddingFileError,
    ScoreError,
    TrialListError,
    UnknownUtteranceError,
    align,
    apply_threshold,
    det_curve,
    load_embeddings,
    make_trials,
    min_dcf,
    read_trials,
    save_embeddings,
    score_trials,
    threshold_at_eer,
    verification_report,
    write_trials,
)
from speakerlib.evaluation.embeddings import embedding_run_dir
from speakerlib.evaluation.trials import match_trials, read_trial_list
from speakerlib.evaluation.verification import _summary_from_counts
from speakerlib.evaluation.metrics import eer


# ----------------------------------------------------------------------------- helpers
def brute_force_points(scores, labels):
    """(threshold, fpr, fnr) at +inf and every distinct score, counted trial by trial."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    points = []
    for t in [np.inf] + sorted(set(scores), reverse=True):
        points.append((t, sum(s >= t for s in neg) / len(neg), sum(s < t for s in pos) / len(pos)))
    return points


def random_trials(seed, n=300, *, ties=False):
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.3
    labels[:2] = [True, False]
    scores = rng.normal(size=n) + 1.5 * labels
    return (np.round(scores, 1) if ties else scores), labels


def toy_manifest(sizes, genders=None):
    rows = []
    for s, n in enumerate(sizes):
        for u in range(n):
            rows.append({"utt_id": f"spk{s}-utt{u}", "speaker": f"spk{s}",
                         "gender": (genders[s] if genders else "F")})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- embedding files
def test_embeddings_round_trip(tmp_path):
    ids = ["b", "a", "c"]
    X = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    path = save_embeddings(tmp_path / "sub" / "emb.npz", ids, X)
    got_ids, got_X = load_embeddings(path)
    assert got_ids.dtype.kind == "U" and got_ids.tolist() == ids
    assert got_X.dtype == np.float32
    np.testing.assert_array_equal(got_X, X.astype(np.float32))
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    np.testing.assert_array_equal(align(got_ids, got_X, ["c", "a", "c"]), got_X[[2, 1, 2]])


def test_embeddings_errors_name_the_problem(tmp_path):
    with pytest.raises(EmbeddingFileError, match="found none"):
        load_embeddings(tmp_path / "missing.npz")
    np.savez(tmp_path / "nokey.npz", utt_id=np.array(["a"]))
    with pytest.raises(EmbeddingFileError, match="missing \\['embeddings'\\]"):
        load_embeddings(tmp_path / "nokey.npz")
    np.savez(tmp_path / "nan.npz", utt_id=np.array(["a", "b", "c"]),
             embeddings=np.array([[0, 1], [np.nan, 1], [1, 1]], np.float32))
    with pytest.raises(EmbeddingFileError, match="'b'"):
        load_embeddings(tmp_path / "nan.npz")
    np.savez(tmp_path / "dup.npz", utt_id=np.array(["a", "a"]), embeddings=np.ones((2, 2), np.float32))
    with pytest.raises(EmbeddingFileError, match="repeated: 'a'"):
        load_embeddings(tmp_path / "dup.npz")
    np.savez(tmp_path / "len.npz", utt_id=np.array(["a", "b"]), embeddings=np.ones((3, 2), np.float32))
    with pytest.raises(EmbeddingFileError, match="2 ids and 3 rows"):
        load_embeddings(tmp_path / "len.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(EmbeddingFileError, match="could not read"):
        load_embeddings(tmp_path / "junk.npz")
    with pytest.raises(EmbeddingFileError, match="'x'"):
        save_embeddings(tmp_path / "bad.npz", ["x", "y"], [[np.inf, 0.0], [1.0, 2.0]])
    assert not (tmp_path / "bad.npz").exists()
    with pytest.raises(UnknownUtteranceError, match="'zz'"):
        align(["a", "b"], np.ones((2, 2)), ["a", "zz"])


# ----------------------------------------------------------------------------- trial lists
def test_make_trials_default_counts_and_labels():
    manifest = toy_manifest([3, 4, 5, 1])
    trials = make_trials(manifest, seed=0)
    # Targets: every same-speaker pair, 3 + 6 + 10 = 19 (the singleton speaker has none).
    targets = trials[trials.label == 1]
    expected = {tuple(sorted(p)) for _, g in manifest.groupby("speaker") for p in combinations(g.utt_id, 2)}
    assert set(zip(targets.enrol, targets.test)) == expected and len(targets) == 19
    # Non-targets: as many as targets, distinct, different speakers.
    nontargets = trials[trials.label == 0]
    assert len(nontargets) == 19
    assert not nontargets.duplicated(["enrol", "test"]).any()
    speaker = dict(zip(manifest.utt_id, manifest.speaker))
    assert all(speaker[a] != speaker[b] for a, b in zip(nontargets.enrol, nontargets.test))
    assert (trials.enrol < trials.test).all()  # each unordered pair once, no self pairs
    assert trials.equals(trials.sort_values(["enrol", "test"]).reset_index(drop=True))


def test_make_trials_is_deterministic_and_order_free():
    manifest = toy_manifest([5, 5, 6, 4, 7])
    a = make_trials(manifest, seed=3)
    b = make_trials(manifest.sample(frac=1.0, random_state=9), seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = make_trials(manifest, seed=4)
    assert not a.equals(c)
    pd.testing.assert_frame_equal(a[a.label == 1].reset_index(drop=True),
                                  c[c.label == 1].reset_index(drop=True))  # all targets either way


def test_make_trials_per_utterance_counts():
    manifest = toy_manifest([4, 5, 6, 3])
    n = len(manifest)
    trials = make_trials(manifest, seed=1, targets_per_utterance=1, nontargets_per_utterance=2)
    n_target = int((trials.label == 1).sum())
    n_nontarget = int((trials.label == 0).sum())
    assert n / 2 <= n_target <= n  # each utterance drew 1 partner; pairs drawn twice count once
    assert n <= n_nontarget <= 2 * n
    nontargets = trials[trials.label == 0]
    appearances = pd.concat([nontargets.enrol, nontargets.test]).value_counts()
    assert (appearances.reindex(manifest.utt_id).fillna(0) >= 2).all()
    # Changing the non-target setting leaves the targets unchanged (independent streams).
    other = make_trials(manifest, seed=1, targets_per_utterance=1, nontargets_per_utterance=5)
    pd.testing.assert_frame_equal(trials[trials.label == 1].reset_index(drop=True),
                                  other[other.label == 1].reset_index(drop=True))


def test_make_trials_gender_balanced_uses_same_gender_non_targets_only():
    manifest = toy_manifest([3, 3, 3, 3, 3], genders=["F", "M", "F", "M", "F"])
    trials = make_trials(manifest, seed=0, gender_balanced=True)
    gender = dict(zip(manifest.utt_id, manifest.gender))
    nontargets = trials[trials.label == 0]
    assert all(gender[a] == gender[b] for a, b in zip(nontargets.enrol, nontargets.test))
    # 15 targets; eligible same-gender non-target pairs: F 3 speakers -> 27, M 2 -> 9, 36 > 15.
    assert (trials.label == 1).sum() == 15 and len(nontargets) == 15
    # When fewer eligible pairs exist than targets, all of them are used.
    small = toy_manifest([4, 4, 1], genders=["F", "M", "M"])
    got = make_trials(small, seed=0, gender_balanced=True)
    assert (got.label == 0).sum() == 4  # only the M speakers spk1 x spk2: 4 x 1 pairs


def test_make_trials_default_non_targets_are_uniform():
    # 3 speakers x 2 utterances: 3 targets, 12 eligible non-target pairs, 3 drawn per seed.
    manifest = toy_manifest([2, 2, 2])
    counts: dict[tuple[str, str], int] = {}
    for seed in range(200):
        trials = make_trials(manifest, seed=seed)
        for pair in zip(trials.enrol[trials.label == 0], trials.test[trials.label == 0]):
            counts[pair] = counts.get(pair, 0) + 1
    assert len(counts) == 12
    # Expected 200 * 3 / 12 = 50 each; binomial sd = sqrt(200 * .25 * .75) ~ 6.1: 23..77 is 4.4 sd.
    assert all(23 <= c <= 77 for c in counts.values()), counts


def test_make_trials_errors():
    with pytest.raises(TrialListError, match="non-target"):
        make_trials(toy_manifest([4]))
    with pytest.raises(TrialListError, match="target trial"):
        make_trials(toy_manifest([1, 1, 1]))
    with pytest.raises(TrialListError, match="same gender"):
        make_trials(toy_manifest([2, 2], genders=["F", "M"]), gender_balanced=True)
    with pytest.raises(ManifestError, match="gender"):
        make_trials(toy_manifest([2, 2]).drop(columns="gender"), gender_balanced=True)
    with pytest.raises(ManifestError, match="repeats"):
        make_trials(pd.concat([toy_manifest([2, 2])] * 2))
    with pytest.raises(TrialListError, match="targets_per_utterance"):
        make_trials(toy_manifest([2, 2]), targets_per_utterance=0)


def test_trial_file_round_trip(tmp_path):
    trials = make_trials(toy_manifest([3, 4, 2]), seed=0)
    path = write_trials(tmp_path / "lists" / "trials.txt", trials)
    assert path.read_text().splitlines()[0] == f"{trials.label[0]} {trials.enrol[0]} {trials.test[0]}"
    pd.testing.assert_frame_equal(read_trials(path), trials)


def test_trial_list_layouts_and_label_words(tmp_path):
    voxceleb = tmp_path / "veri_test2.txt"
    voxceleb.write_bytes(b"1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav\n\n"
                         b"0 id10270/x6uYqmx31kE/00001.wav id10300/ize_eiCFEg0/00003.wav\n")
    trials, sha256 = read_trial_list(voxceleb)
    assert trials["label"].tolist() == [1, 0] and trials["line"].tolist() == [1, 3]
    assert trials["test"].tolist() == ["id10270/8jEAjG6SegY/00008.wav", "id10300/ize_eiCFEg0/00003.wav"]
    assert sha256 == hashlib.sha256(voxceleb.read_bytes()).hexdigest()
    kaldi = tmp_path / "trials"
    kaldi.write_text("a b target\na c nontarget\nb c Non-Target\nc a TARGET\n")
    trials, _ = read_trial_list(kaldi)
    assert trials[["enrol", "test"]].values.tolist() == [["a", "b"], ["a", "c"], ["b", "c"], ["c", "a"]]
    assert trials["label"].tolist() == [1, 0, 0, 1]
    pd.testing.assert_frame_equal(read_trials(kaldi), trials.drop(columns="line"))
    words = tmp_path / "words.txt"
    words.write_text("target a b\nnontarget a c\n")
    assert read_trial_list(words)[0]["label"].tolist() == [1, 0]
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("a b target\n1 a c\n")
    with pytest.raises(TrialListError, match=r"mixed.txt:2: expected 'enrol test label'"):
        read_trial_list(mixed)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(TrialListError, match="found none"):
        read_trial_list(empty)


def trial_manifest():
    rows = []
    for spk, session, n in (("id1", "s1", 3), ("id2", "s1", 2), ("id3", "s9", 2)):
        for u in range(1, n + 1):
            rows.append({"utt_id": f"{spk}-{session}-{u}", "speaker": spk,
                         "path": f"/data/vox1/wav/{spk}/{session}/{u:05d}.wav"})
    return pd.DataFrame(rows)


def frame_of(lines):
    return pd.DataFrame({"label": [y for y, _, _ in lines], "enrol": [a for _, a, _ in lines],
                         "test": [b for _, _, b in lines], "line": range(1, len(lines) + 1)})


def test_match_trials_by_path_suffix_by_root_and_by_utt_id():
    manifest = trial_manifest()
    listed = frame_of([(1, "id1/s1/00001.wav", "id1-s1-2"), (0, "id1/s1/00003.wav", "wav/id2/s1/00002.wav")])
    matched, how = match_trials(listed, manifest)
    assert matched[["enrol", "test"]].values.tolist() == [["id1-s1-1", "id1-s1-2"], ["id1-s1-3", "id2-s1-2"]]
    assert matched["enrol_as_listed"][0] == "id1/s1/00001.wav" and matched["line"].tolist() == [1, 2]
    assert (how["by_utt_id"], how["by_path"], how["root"]) == (1, 3, None)
    # with the corpus root, whole relative paths only: a suffix no longer matches
    rooted, how = match_trials(frame_of([(1, "id1/s1/00001.wav", "id1/s1/00002.wav")]), manifest,
                               root="/data/vox1/wav")
    assert rooted["test"].tolist() == ["id1-s1-2"] and how["root"] == "/data/vox1/wav"
    with pytest.raises(TrialListError, match=r"matches no utterance .*Closest: \[[^]]*'id1/s1/00001.wav'"):
        match_trials(frame_of([(1, "s1/00001.wav", "id1/s1/00002.wav")]), manifest, root="/data/vox1/wav")
    # backslashes and ./ are read as the same components
    windows = frame_of([(1, ".\\id1\\s1\\00001.wav", "id1/s1/00002.wav")])
    assert match_trials(windows, manifest)[0]["enrol"][0] == "id1-s1-1"


def test_match_trials_refuses_ambiguous_missing_and_contradicting_trials():
    manifest = trial_manifest()
    with pytest.raises(TrialListError, match=r"list:2: the test utterance '00001.wav' matches 3 utterances of "
                                             r"the manifest, expected one: id1-s1-1 .*id2-s1-1 .*id3-s9-1"):
        match_trials(frame_of([(1, "id1/s1/00001.wav", "id1/s1/00002.wav"), (1, "id1/s1/00002.wav", "00001.wav")]),
                     manifest, source="list")
    with pytest.raises(TrialListError, match=r"trial list:1: the enrol utterance 'id1/s1/00009.wav' matches no "
                                             r"utterance.*1 of the list's 2 distinct.*Closest: \['id1/s1/0000"):
        match_trials(frame_of([(1, "id1/s1/00009.wav", "id1/s1/00002.wav")]), manifest)
    # an id that is also another utterance's path suffix is ambiguous, not resolved by a preference
    clash = pd.concat([manifest, pd.DataFrame([{"utt_id": "id3/s9/00001.wav", "speaker": "id3",
                                                 "path": "/elsewhere/x.wav"}])], ignore_index=True)
    with pytest.raises(TrialListError, match="matches 2 utterances"):
        match_trials(frame_of([(1, "id3/s9/00001.wav", "id3-s9-2")]), clash)
    with pytest.raises(TrialListError, match=r"trial list:1: the trial has a label that contradicts"):
        match_trials(frame_of([(0, "id1-s1-1", "id1-s1-2")]), manifest)
    with pytest.raises(TrialListError, match="pairs an utterance with itself"):
        match_trials(frame_of([(1, "id1-s1-1", "id1/s1/00001.wav")]), manifest)


def test_embedding_file_records_its_run_folder(tmp_path):
    path = save_embeddings(tmp_path / "e.npz", ["a", "b"], np.eye(2), run_dir=tmp_path / "run")
    assert embedding_run_dir(path) == (tmp_path / "run").absolute()
    ids, X = load_embeddings(path)  # read as before
    assert ids.tolist() == ["a", "b"] and X.shape == (2, 2)
    assert embedding_run_dir(save_embeddings(tmp_path / "plain.npz", ["a"], np.ones((1, 2)))) is None
    np.savez(tmp_path / "bad.npz", utt_id=np.array(["a"]), embeddings=np.ones((1, 2)), run_dir=np.array(["x", "y"]))
    with pytest.raises(EmbeddingFileError, match="one folder path"):
        embedding_run_dir(tmp_path / "bad.npz")


def test_trial_file_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 a b\n\n2 a c\n")
    with pytest.raises(TrialListError, match=r"bad.txt:3"):
        read_trials(bad)
    bad.write_text("1 a\n")
    with pytest.raises(TrialListError, match=r"bad.txt:1"):
        read_trials(bad)
    with pytest.raises(TrialListError, match="whitespace"):
        write_trials(tmp_path / "t.txt", pd.DataFrame({"label": [1], "enrol": ["a b"], "test": ["c"]}))
    with pytest.raises(TrialListError, match="found none"):
        read_trials(tmp_path / "absent.txt")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n")
    empty = read_trials(blank)
    assert len(empty) == 0 and list(empty.columns) == ["label", "enrol", "test"]
    with pytest.raises(TrialListError, match="found none"):
        read_trial_list(blank)


# ----------------------------------------------------------------------------- scoring
def _scoring_set(seed=0, n=12, d=6):
    rng = np.random.default_rng(seed)
    ids = [f"u{i:02d}" for i in range(n)]
    X = rng.normal(size=(n, d))
    trials = pd.DataFrame({"label": [1, 0, 1, 0, 0], "enrol": ["u00", "u01", "u05", "u07", "u11"],
                           "test": ["u03", "u02", "u06", "u10", "u00"]})
    cohort = rng.normal(size=(9, d))
    return ids, X, trials, cohort


def test_score_trials_cosine():
    ids, X, trials, _ = _scoring_set()
    got = score_trials(trials, ids, 3.0 * X)  # scale does not matter
    for k, (a, b) in enumerate(zip(trials.enrol, trials.test)):
        x, y = X[ids.index(a)], X[ids.index(b)]
        assert got[k] == pytest.approx(x @ y / np.linalg.norm(x) / np.linalg.norm(y), abs=1e-12)


@pytest.mark.parametrize("top_k", [None, 2, 4, 9])
def test_as_norm_matches_a_direct_computation(top_k):
    ids, X, trials, cohort = _scoring_set(seed=1)
    got = score_trials(trials, ids, X, cohort=cohort, as_norm_top_k=top_k)

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    for k, (a, b) in enumerate(zip(trials.enrol, trials.test)):
        xa, xb = X[ids.index(a)], X[ids.index(b)]
        raw = cos(xa, xb)
        terms = []
        for side in (xa, xb):
            cohort_scores = sorted((cos(side, c) for c in cohort), reverse=True)[: top_k or len(cohort)]
            mean = sum(cohort_scores) / len(cohort_scores)
            sd = (sum((c - mean) ** 2 for c in cohort_scores) / len(cohort_scores)) ** 0.5
            terms.append((raw - mean) / sd)
        assert got[k] == pytest.approx((terms[0] + terms[1]) / 2, rel=1e-10)


def test_score_trials_errors():
    ids, X, trials, cohort = _scoring_set()
    bad = trials.copy()
    bad.loc[1, "test"] = "nobody"
    with pytest.raises(UnknownUtteranceError, match="'nobody'"):
        score_trials(bad, ids, X)
    with pytest.raises(ScoreError, match="needs a cohort"):
        score_trials(trials, ids, X, as_norm_top_k=3)
    with pytest.raises(ScoreError, match="as_norm_top_k"):
        score_trials(trials, ids, X, cohort=cohort, as_norm_top_k=10)
    with pytest.raises(ScoreError, match="zero"):
        score_trials(trials, ids, np.where(np.arange(12)[:, None] == 0, 0.0, X))


# ----------------------------------------------------------------------------- metrics
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
def test_det_curve_matches_brute_force_and_sklearn(seed, ties):
    scores, labels = random_trials(seed, ties=ties)
    fpr, fnr, thr = det_curve(scores, labels)
    bf = np.array(brute_force_points(scores, labels))
    np.testing.assert_array_equal(thr, bf[:, 0])
    np.testing.assert_allclose(fpr, bf[:, 1], atol=1e-15)
    np.testing.assert_allclose(fnr, bf[:, 2], atol=1e-15)
    sk_fpr, sk_tpr, sk_thr = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_array_equal(thr, sk_thr)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(fnr, 1 - sk_tpr)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
def test_threshold_at_eer_is_the_closest_point_to_the_diagonal(seed, ties):
    scores, labels = random_trials(seed, ties=ties)
    t = threshold_at_eer(scores, labels)
    bf = brute_force_points(scores, labels)
    best = min(abs(fnr - fpr) for _, fpr, fnr in bf)
    row = [p for p in bf if p[0] == t][0]
    assert abs(row[2] - row[1]) == pytest.approx(best, abs=1e-15)
    # The EER lies between that point's two rates.
    assert min(row[1], row[2]) - 1e-12 <= eer(scores, labels) <= max(row[1], row[2]) + 1e-12


def test_eer_special_cases_any_order():
    rng = np.random.default_rng(0)
    labels = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    for _ in range(5):
        perm = rng.permutation(labels.size)
        assert eer(np.full(8, 0.3), labels[perm]) == 0.5
        separated = np.where(labels[perm] == 1, 2.0, 1.0) + rng.random(8) * 0.1
        assert eer(separated, labels[perm]) == 0.0
        assert eer(-separated, labels[perm]) == 1.0
        report = verification_report(separated, labels[perm], -separated, labels[perm], bootstrap=0)
        assert (report["eer"], report["dev_eer"]) == (1.0, 0.0)


def test_min_dcf_by_hand():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [1, 0, 1, 0, 0, 0]  # 2 targets, 4 non-targets
    # Operating points (threshold: fnr, fpr):
    #   inf: 1, 0 | .9: .5, 0 | .8: .5, .25 | .7: 0, .25 | .6: 0, .5 | .5: 0, .75 | .4: 0, 1
    # p = .01: DCF = .01 fnr + .99 fpr -> .01, .005, .2525, .2475, .495, ... min .005 at .9;
    #          C_def = min(.01, .99) = .01 -> .5
    assert min_dcf(scores, labels, p_target=0.01) == pytest.approx((0.5, 0.9))
    # p = .5: DCF = .5 fnr + .5 fpr -> .5, .25, .375, .125, .25, .375, .5: min .125 at .7; / .5 = .25
    assert min_dcf(scores, labels, p_target=0.5) == pytest.approx((0.25, 0.7))
    # p = .1, C_miss = 10: DCF = 1 fnr + .9 fpr -> 1, .5, .725, .225, .45, .675, .9: min .225 at .7;
    #   C_def = min(10 * .1, .9) = .9 -> .25
    assert min_dcf(scores, labels, p_target=0.1, c_miss=10) == pytest.approx((0.25, 0.7))
    # Ties are one operating point: scores (.5, .5, .2), labels (1, 0, 0):
    #   inf: 1, 0 | .5: 0, .5 | .2: 0, 1; p = .5 -> .5, .25, .5: min .25 / .5 = .5 at .5
    assert min_dcf([0.5, 0.5, 0.2], [1, 0, 0], p_target=0.5) == pytest.approx((0.5, 0.5))
    # Useless scores cost as much as the best fixed decision: 1.
    assert min_dcf([0.3, 0.3, 0.3, 0.3], [1, 0, 1, 0], p_target=0.05)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(3))
def test_min_dcf_matches_brute_force(seed):
    scores, labels = random_trials(seed, ties=seed == 2)
    for p in (0.01, 0.05):
        costs = [(p * fnr + (1 - p) * fpr, t) for t, fpr, fnr in brute_force_points(scores, labels)]
        value, threshold = min(costs, key=lambda c: c[0])
        got = min_dcf(scores, labels, p_target=p)
        assert got[0] == pytest.approx(value / min(p, 1 - p), abs=1e-12)
        assert got[1] == threshold


def test_apply_threshold_by_hand():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [1, 0, 1, 0, 0, 0]
    # Accept >= .65: trials .9 .8 .7 -> 1 false accept (.8) of 4, 0 misses of 2; 5 of 6 right.
    got = apply_threshold(scores, labels, 0.65)
    assert (got["fpr"], got["fnr"], got["accuracy"]) == (0.25, 0.0, 5 / 6)
    assert (got["false_accepts"], got["misses"], got["hter"]) == (1, 0, 0.125)
    assert apply_threshold(scores, labels, 0.7)["fpr"] == 0.25  # >= : the .7 trial is accepted


def test_bootstrap_summary_equals_public_metrics_on_a_resample():
    scores, labels = random_trials(5, n=200, ties=True)
    order = np.argsort(-scores, kind="stable")
    s_sorted, y_sorted = scores[order], labels[order]
    group_ends = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    counts = np.random.default_rng(1).integers(0, 3, size=200)
    counts[np.flatnonzero(y_sorted)[0]] += 1
    counts[np.flatnonzero(~y_sorted)[0]] += 1
    got = _summary_from_counts(s_sorted, group_ends, counts * y_sorted, counts * ~y_sorted, (0.01, 0.05), 0.35)
    rs, ry = np.repeat(s_sorted, counts), np.repeat(y_sorted, counts)
    assert got["eer"] == pytest.approx(eer(rs, ry), abs=1e-12)
    assert got["min_dcf_0.01"] == pytest.approx(min_dcf(rs, ry, p_target=0.01)[0], abs=1e-12)
    assert got["min_dcf_0.05"] == pytest.approx(min_dcf(rs, ry, p_target=0.05)[0], abs=1e-12)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(ry, rs), abs=1e-12)
    assert got["average_precision"] == pytest.approx(average_precision_score(ry, rs), abs=1e-12)
    transfer = apply_threshold(rs, ry, 0.35)
    assert got["test_fpr_at_dev_threshold"] == pytest.approx(transfer["fpr"], abs=1e-12)
    assert got["test_fnr_at_dev_threshold"] == pytest.approx(transfer["fnr"], abs=1e-12)
    assert got["test_accuracy_at_dev_threshold"] == pytest.approx(transfer["accuracy"], abs=1e-12)


def test_verification_report_transfers_the_dev_threshold():
    dev_s, dev_y = random_trials(10, n=400)
    test_s, test_y = random_trials(11, n=400)
    test_s = test_s + 0.8  # a calibration shift between dev and test speakers
    report = verification_report(dev_s, dev_y, test_s, test_y, bootstrap=300, seed=0)
    assert report["eer"] == eer(test_s, test_y)
    assert report["min_dcf_0.01"] == min_dcf(test_s, test_y, p_target=0.01)[0]
    assert report["roc_auc"] == pytest.approx(roc_auc_score(test_y, test_s))
    assert report["average_precision"] == pytest.approx(average_precision_score(test_y, test_s))
    assert report["dev_threshold"] == threshold_at_eer(dev_s, dev_y)
    transfer = apply_threshold(test_s, test_y, report["dev_threshold"])
    assert report["test_fpr_at_dev_threshold"] == transfer["fpr"]
    # The shift makes the dev threshold too lenient on test: many more false accepts than misses.
    assert report["test_fpr_at_dev_threshold"] > report["eer"] > report["test_fnr_at_dev_threshold"]
    assert (report["n_target"], report["n_nontarget"]) == (int(test_y.sum()), int((~test_y).sum()))
    for key, (low, high) in report["ci95"].items():
        assert low <= report[key] <= high, key
        assert high - low < 0.25, key
    again = verification_report(dev_s, dev_y, test_s, test_y, bootstrap=300, seed=0)
    assert again["ci95"] == report["ci95"]
    assert verification_report(dev_s, dev_y, test_s, test_y, bootstrap=0)["ci95"] == {}


def test_verification_report_rejects_bad_input():
    s, y = random_trials(0, n=50)
    with pytest.raises(ScoreError, match="finite"):
        verification_report(s, y, np.r_[s[:-1], np.nan], y, bootstrap=0)
    with pytest.raises(ScoreError, match="one label per score"):
        verification_report(s, y, s[:-1], y, bootstrap=0)
    with pytest.raises(TrialListError, match="only non-target"):
        verification_report(s, y, s, np.zeros_like(y), bootstrap=0)
    with pytest.raises(TrialListError, match="0 .non-target. and 1"):
        min_dcf(s, np.where(y, 2, 0))
