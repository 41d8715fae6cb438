"""The modern recipe: whole utterances, fresh augmented windows, speed perturbation, margin warm-up,
the large-margin stage; all deterministic for a seed and resumable."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from child_runs import kill_after_first_epoch

pytest.importorskip("tensorflow")

from speakerlib.errors import TrainingError  # noqa: E402
from speakerlib.features import FeatureConfig  # noqa: E402
from speakerlib.store import load_store  # noqa: E402
from speakerlib.train import (  # noqa: E402
    RECIPES,
    LargeMarginSettings,
    Profile,
    Recipe,
    RunConfig,
    finetune_large_margin,
    margin_at,
    train,
)
from speakerlib.train.config import samples_for_frames  # noqa: E402
from speakerlib.train.waveforms import Waveforms, crop_windows, speed_perturbed, waveform_dataset  # noqa: E402

TINY = Profile(name="test", epochs=1, width=0.125, batch_size=16, max_dev_utterances=40, bn_momentum=0.5)
# The modern recipe, cheaper for tests (fewer simulated rooms, a short large-margin stage), with its
# speed-perturbation switch on.
MODERN = dataclasses.replace(
    RECIPES["modern"], simulated_rirs=4, large_margin=LargeMarginSettings(epochs=1, crop_frames=300),
    augmentation=dataclasses.replace(RECIPES["modern"].augmentation, speed_factors=(0.9, 1.0, 1.1)))


# --------------------------------------------------------------------------- the pieces
def test_windows_wrap_around_short_utterances_and_are_centred_without_a_generator():
    data = Waveforms.from_arrays([np.arange(10, dtype=np.float32), 100 + np.arange(4, dtype=np.float32)], ["a", "b"])
    centred = crop_windows(data, np.array([0, 1]), crop_samples=6, rng=None)
    np.testing.assert_array_equal(centred[0], [2, 3, 4, 5, 6, 7])  # (10 - 6) // 2 = 2
    np.testing.assert_array_equal(centred[1], [100, 101, 102, 103, 100, 101])  # shorter: repeated
    rng = np.random.default_rng(0)
    random = crop_windows(data, np.array([0, 0, 0, 0]), crop_samples=6, rng=rng)
    for row in random:  # every random window is 6 consecutive samples of utterance a
        assert row[0] in range(5) and np.array_equal(row, row[0] + np.arange(6))


def test_speed_perturbed_copies_are_new_classes():
    data = Waveforms.from_arrays([np.ones(100, np.float32), np.ones(50, np.float32)], ["a", "b"])
    out, labels = speed_perturbed(data, np.array([0, 1]), factors=(0.5, 2.0), num_classes=2,
                                  perturb=lambda y, f: y[:: int(2 * f)] if f > 1 else np.repeat(y, 2))
    assert out.ids == ["a", "b", "a@0.5", "b@0.5", "a@2", "b@2"]
    assert labels.tolist() == [0, 1, 2, 3, 4, 5] and out.lengths.tolist() == [100, 50, 200, 100, 25, 13]


def test_the_margin_warms_up_linearly():
    recipe = Recipe(name="x", loss="aam", aam_margin=0.2, margin_warmup_epochs=4)
    assert [margin_at(recipe, e) for e in range(6)] == pytest.approx([0, 0.05, 0.1, 0.15, 0.2, 0.2])
    assert margin_at(RECIPES["improved"], 0) == RECIPES["improved"].aam_margin


def test_samples_for_frames_is_the_fewest_samples_with_that_many_frames():
    for config in (FeatureConfig(), FeatureConfig.for_kind("logmel", n_mels=80), FeatureConfig.for_kind("mfcc")):
        for frames in (1, 50, 200, 299):
            n = samples_for_frames(config, frames)
            assert config.output_shape(n)[0] >= frames and (n == config.win_samples or
                                                            config.output_shape(n - 1)[0] < frames)


def test_the_waveform_pipeline_is_deterministic_and_augments(synthetic_audio_store):
    _, store_path = synthetic_audio_store
    store = load_store(store_path)
    ids = store.ids[:20]
    data = Waveforms.from_arrays([store.audio(u) for u in ids], ids)
    labels = np.arange(20) % 4
    batches = np.arange(16).reshape(2, 8)
    features = FeatureConfig.for_kind("logmel", n_mels=80, normalize="per_utterance")
    crop = samples_for_frames(features, 150)

    def first_batch(epoch, augment=None):
        ds = waveform_dataset(data, labels, batches, crop_samples=crop, features=features, seed=1,
                              epoch=epoch, augment=augment)
        x, y = next(iter(ds))
        return x.numpy(), y.numpy()

    a, ya = first_batch(0)
    b, _ = first_batch(0)
    c, _ = first_batch(1)
    assert a.shape == (8, 150, 80, 1) and ya.tolist() == labels[:8].tolist()
    np.testing.assert_array_equal(a, b)  # same seed and epoch: the same windows
    assert not np.array_equal(a, c)  # another epoch: other windows
    np.testing.assert_allclose(a.mean(axis=1), 0.0, atol=1e-4)  # normalised per utterance
    noisy, _ = first_batch(0, augment=lambda w, rng: w + 0.1 * rng.standard_normal(w.size).astype(np.float32))
    assert not np.allclose(noisy, a)


def test_a_recipe_on_audio_needs_a_store_of_audio(synthetic_store, tmp_path):
    _, features_store = synthetic_store
    with pytest.raises(TrainingError, match="--content audio"):
        train(features_store, tmp_path / "run", model="seresnet", recipe=MODERN, profile=TINY, progress=False)


# --------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def modern_run(synthetic_audio_store, tmp_path_factory):
    _, store = synthetic_audio_store
    run = tmp_path_factory.mktemp("modern") / "run"
    profile = dataclasses.replace(TINY, epochs=2)
    return train(store, run, model="seresnet", recipe=MODERN, profile=profile, progress=False)


def test_the_modern_recipe_trains_on_augmented_windows_of_every_speed(modern_run):
    config = modern_run.config
    assert isinstance(config, RunConfig) and config.crop_samples == samples_for_frames(
        config.store_config.features, 200)
    assert config.num_classes == 3 * len(config.speakers)  # speeds 0.9, 1.0, 1.1
    h = modern_run.history
    assert len(h) == 2 and np.isfinite(h["loss"]).all() and 0 <= h["dev_eer"].iloc[-1] <= 1
    assert modern_run.state["finished"] and modern_run.embedding_path.is_file()


def test_the_large_margin_stage_starts_from_the_kept_model(modern_run):
    tuned = finetune_large_margin(modern_run.run_dir, progress=False)
    h = tuned.history
    assert h["epoch"].tolist() == [0, 1]
    assert h["dev_eer"].iloc[0] == pytest.approx(modern_run.state["best_dev_eer"])
    assert tuned.config.stage == "large_margin" and tuned.run_dir == modern_run.run_dir / "large_margin"
    assert tuned.state["best_dev_eer"] == pytest.approx(h["dev_eer"].min())
    assert finetune_large_margin(modern_run.run_dir, progress=False).state == tuned.state  # done: reused


_CHILD = """
import dataclasses, sys
from speakerlib.train import RECIPES, LargeMarginSettings, Profile, finetune_large_margin
settings = LargeMarginSettings(epochs=3, crop_frames=300)
finetune_large_margin(sys.argv[1], settings=settings, progress=False)
"""


def test_a_killed_large_margin_stage_resumes_to_the_same_weights(modern_run, tmp_path):
    import shutil

    from speakerlib._tensorflow import keras

    settings = LargeMarginSettings(epochs=3, crop_frames=300)
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    for folder in (killed, straight):
        shutil.copytree(modern_run.run_dir, folder, ignore=shutil.ignore_patterns("large_margin"))
    state = killed / "large_margin" / "state.json"
    done = kill_after_first_epoch(_CHILD, [str(killed)], state, timeout_s=600)
    assert 1 <= done < 3, "the child should have been killed part-way"
    resumed = finetune_large_margin(killed, settings=settings, progress=False)
    assert resumed.state["resumed_from"] == done
    finetune_large_margin(straight, settings=settings, progress=False)
    a = keras.saving.load_model(killed / "large_margin" / "checkpoints" / "last.keras").get_weights()
    b = keras.saving.load_model(straight / "large_margin" / "checkpoints" / "last.keras").get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
