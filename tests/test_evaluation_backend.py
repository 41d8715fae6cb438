"""Back-ends on embeddings: LDA against scikit-learn, WCCN against its kernel, fusion weights, fused cosines, the classical system."""

from __future__ import annotations

import numpy as np
import pytest

from speakerlib.errors import ConfigError, EmbeddingFileError, ScoreError
from speakerlib.evaluation.backend import WCCN, LDAProjection, fuse, fusion_weights


def _speakers(rng, n_speakers=12, per=10, dims=16, spread=3.0):
    centres = rng.normal(size=(n_speakers, dims)) * spread
    X = np.concatenate([c + rng.normal(size=(per, dims)) for c in centres])
    return X, np.repeat([f"s{i:02d}" for i in range(n_speakers)], per)


def test_lda_equals_scikit_learns_on_standardised_data(tmp_path):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(0)
    X, spk = _speakers(rng)
    X[:, 3] *= 50  # a badly scaled dimension: standardised first
    projection = LDAProjection.fit(X, spk, dims=5)
    standard = (X - X.mean(0)) / X.std(0)
    expected = LinearDiscriminantAnalysis(n_components=5, solver="svd").fit(standard, spk).transform(standard)
    np.testing.assert_allclose(projection.transform(X), expected, atol=1e-8)
    again = LDAProjection.load(projection.save(tmp_path / "lda.npz"))
    np.testing.assert_array_equal(again.transform(X), projection.transform(X))
    with pytest.raises(ConfigError, match="dims <= 11"):
        LDAProjection.fit(X, spk, dims=12)  # 12 speakers allow 11 directions


def test_lda_separates_speakers_better_than_the_raw_vectors():
    from speakerlib.evaluation.verification import all_pairs_eer

    rng = np.random.default_rng(1)
    X, spk = _speakers(rng, spread=1.0)
    nuisance = rng.normal(size=(len(X), 30)) * 5  # large dimensions that carry no speaker
    raw = np.concatenate([X, nuisance], axis=1)
    half = np.isin(spk, np.unique(spk)[:8])
    projection = LDAProjection.fit(raw[half], spk[half], dims=7)
    unseen = ~half  # speakers the LDA never saw
    assert all_pairs_eer(projection.transform(raw[unseen]), spk[unseen]) < all_pairs_eer(raw[unseen], spk[unseen])



def test_wccn_cosines_are_the_kernel_of_hatch_et_al_and_whiten_the_training_speakers(tmp_path):
    rng = np.random.default_rng(4)
    X, spk = _speakers(rng)
    wccn = WCCN.fit(X, spk, regularisation=0.0)
    # Independent reference: the within-class covariance computed by speaker, with np.cov, and the
    # WCCN kernel z1' W^-1 z2 through a linear solve (no square root).
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    z = Z - Z.mean(axis=0)
    names = np.unique(spk)
    W = sum(np.cov(z[spk == s].T, bias=True) * (spk == s).sum() for s in names) / len(z)
    kernel = z @ np.linalg.solve(W, z.T)
    norms = np.sqrt(np.diag(kernel))
    T = wccn.transform(X)
    cos = (T @ T.T) / np.outer(np.linalg.norm(T, axis=1), np.linalg.norm(T, axis=1))
    np.testing.assert_allclose(cos, kernel / np.outer(norms, norms), atol=1e-9)
    # The training speakers' within-class covariance becomes the identity.
    within = sum(np.cov(T[spk == s].T, bias=True) * (spk == s).sum() for s in names) / len(T)
    np.testing.assert_allclose(within, np.eye(X.shape[1]), atol=1e-9)
    # Regularisation adds r * tr(W) / d to every direction.
    r = WCCN.fit(X, spk, regularisation=0.5)
    expected = W + 0.5 * np.trace(W) / W.shape[0] * np.eye(W.shape[0])
    np.testing.assert_allclose(np.linalg.inv(r.whitener @ r.whitener), expected, atol=1e-9)
    again = WCCN.load(r.save(tmp_path / "wccn.npz"))
    np.testing.assert_array_equal(again.transform(X), r.transform(X))
    assert again.regularisation == 0.5


def test_wccn_helps_unseen_speakers_whose_utterances_vary_along_shared_directions():
    from speakerlib.evaluation.verification import all_pairs_eer

    rng = np.random.default_rng(5)
    X, spk = _speakers(rng, n_speakers=30, dims=16, spread=1.0)
    channel = rng.normal(size=(3, 16))  # session directions shared by every speaker
    X = X + (rng.normal(size=(len(X), 3)) * 3.0) @ channel
    seen = np.isin(spk, np.unique(spk)[:20])
    wccn = WCCN.fit(X[seen], spk[seen])
    assert all_pairs_eer(wccn.transform(X[~seen]), spk[~seen]) < 0.7 * all_pairs_eer(X[~seen], spk[~seen])


def test_wccn_refuses_bad_inputs_with_the_reason(tmp_path):
    rng = np.random.default_rng(6)
    X, spk = _speakers(rng, n_speakers=3, per=4, dims=16)
    with pytest.raises(ConfigError, match="singular with regularisation=0; give regularisation > 0"):
        WCCN.fit(X, spk, regularisation=0.0)  # 12 utterances of 3 speakers span 9 of 16 directions
    with pytest.raises(ConfigError, match="regularisation >= 0, got -1"):
        WCCN.fit(X, spk, regularisation=-1)
    with pytest.raises(ScoreError, match="one with 2 utterances"):
        WCCN.fit(X[:3], ["a", "b", "c"])
    with pytest.raises(ScoreError, match="found shape .12, 16. and 11 speakers"):
        WCCN.fit(X, spk[:-1])
    bad = X.copy()
    bad[2, 5] = np.nan
    with pytest.raises(ScoreError, match="WCCN.fit's embeddings"):
        WCCN.fit(bad, spk)
    with pytest.raises(ScoreError, match=r"shape \(n, 16\), found \(2, 4\)"):
        WCCN.fit(X, spk).transform(np.ones((2, 4)))
    (tmp_path / "broken.npz").write_bytes(b"not an npz")
    with pytest.raises(EmbeddingFileError, match="broken.npz: expected a WCCN transform"):
        WCCN.load(tmp_path / "broken.npz")

def test_fusion_weights_favour_the_informative_system():
    rng = np.random.default_rng(2)
    labels = np.r_[np.ones(400), np.zeros(400)]
    good = labels + 0.5 * rng.normal(size=800)
    noise = rng.normal(size=800)
    w = fusion_weights(np.stack([good, noise], axis=1), labels)
    assert w.sum() == pytest.approx(1.0) and w[0] > 0.9
    with pytest.raises(ScoreError, match="one class"):
        fusion_weights(np.stack([good, noise], axis=1), np.ones(800))


def test_fused_cosines_are_the_weighted_sums_of_the_systems_cosines():
    rng = np.random.default_rng(3)
    ids = [f"u{i}" for i in range(6)]
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 9))
    fused = fuse([(ids, a), (ids[::-1], b[::-1])], [0.3, 0.7], ids).astype(np.float64)
    unit = lambda M: M / np.linalg.norm(M, axis=1, keepdims=True)  # noqa: E731
    expected = 0.3 * unit(a) @ unit(a).T + 0.7 * unit(b) @ unit(b).T
    np.testing.assert_allclose(fused @ fused.T, expected, atol=1e-6)
    with pytest.raises(ConfigError, match="summing to 1"):
        fuse([(ids, a), (ids, b)], [0.5, 0.6], ids)


def test_the_classical_system_uses_train_and_dev_speakers_only(synthetic_store):
    from speakerlib.baseline import mfcc_lda, mfcc_stats_embeddings

    manifest, _ = synthetic_store
    stats = mfcc_stats_embeddings(manifest, include_c0=True)
    result = mfcc_lda(manifest, dims=(2, 4, 6), embeddings=stats)
    assert result["dims"] == min(result["dev_eer_by_dims"], key=lambda d: (result["dev_eer_by_dims"][d], d))
    assert result["embeddings"].shape == (len(manifest), result["dims"])
    # Relabelling the test speakers changes nothing: their labels are not used.
    shuffled = manifest.copy()
    test = shuffled["split"] == "test"
    shuffled.loc[test, "speaker"] = shuffled.loc[test, "speaker"].sample(frac=1, random_state=0).to_numpy()
    again = mfcc_lda(shuffled, dims=(2, 4, 6), embeddings=stats)
    np.testing.assert_array_equal(again["embeddings"], result["embeddings"])
    with pytest.raises(Exception, match="split"):
        mfcc_lda(manifest.drop(columns="split"), embeddings=stats)
