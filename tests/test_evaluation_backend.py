"""Back-ends on embeddings: LDA against scikit-learn, fusion weights, fused cosines, the classical system."""

from __future__ import annotations

import numpy as np
import pytest

from speakerlib.errors import ConfigError, ScoreError
from speakerlib.evaluation.backend import LDAProjection, fuse, fusion_weights


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
