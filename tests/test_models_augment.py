"""SpecAugment: identity at inference, mask structure and bounds while training, seeds, saving.

The masks are recovered from the output alone: an element that changed
must lie in a frame (row) or a bin (column) whose elements all changed, and
all changed elements of an example hold the same value, its numpy mean.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from speakerlib.models.augment import SpecAugment  # noqa: E402


def features(batch=16, frames=60, bins=40, channels=True, seed=0):
    shape = (batch, frames, bins, 1) if channels else (batch, frames, bins)
    # Offset so the fill (the mean) is far from zero and from every element.
    return (np.random.default_rng(seed).normal(size=shape) + 3.0).astype("float32")


def runs(flags: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D boolean array."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(edges[1::2] - edges[::2])


def recover_masks(x: np.ndarray, out: np.ndarray):
    """Per example: (masked frames, masked bins, changed elements), checking the structure."""
    result = []
    for xb, ob in zip(x.reshape(x.shape[:3]), out.reshape(out.shape[:3])):
        changed = ob != xb
        frames = changed.all(axis=1)
        bins = changed.all(axis=0)
        np.testing.assert_array_equal(changed, frames[:, None] | bins[None, :])
        if changed.any():
            fill = ob[changed]
            assert np.all(fill == fill[0])
            assert fill[0] == pytest.approx(xb.astype(np.float64).mean(), rel=1e-5)
        result.append((frames, bins, changed))
    return result


def test_identity_at_inference():
    x = features()
    layer = SpecAugment(seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    inputs = keras.Input(shape=(None, 40, 1))
    model = keras.Model(inputs, SpecAugment(seed=0)(inputs))
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


@pytest.mark.parametrize("channels", [True, False])
def test_training_masks_respect_counts_and_widths(channels):
    x = features(batch=48, channels=channels)
    layer = SpecAugment(freq_masks=2, freq_width=8, time_masks=3, time_width=10, seed=1)
    out = np.asarray(layer(x, training=True))
    assert out.shape == x.shape
    total_frames = total_bins = 0
    longest_bin_run = longest_frame_run = 0
    for frames, bins, _ in recover_masks(x, out):
        frame_runs, bin_runs = runs(frames), runs(bins)
        assert len(bin_runs) <= 2 and bins.sum() <= 2 * 8
        assert len(frame_runs) <= 3 and frames.sum() <= 3 * 10
        total_frames += frames.sum()
        total_bins += bins.sum()
        longest_bin_run = max([longest_bin_run, *bin_runs])
        longest_frame_run = max([longest_frame_run, *frame_runs])
    # Masking happened, with widths up to the maximum (48 examples: certain
    # for this seed, and overwhelmingly likely for any).
    assert total_frames > 0 and total_bins > 0
    assert longest_bin_run >= 8 and longest_frame_run >= 10


def test_single_mask_widths_and_starts_cover_their_range():
    bins, width = 12, 4
    x = features(batch=400, frames=5, bins=bins)
    layer = SpecAugment(freq_masks=1, freq_width=width, time_masks=0, seed=2)
    out = np.asarray(layer(x, training=True))
    widths, starts, ends = set(), set(), set()
    for _, masked, _ in recover_masks(x, out):
        found = runs(masked)
        assert len(found) <= 1
        widths.add(found[0] if found else 0)
        if found:
            starts.add(int(np.flatnonzero(masked)[0]))
            ends.add(int(np.flatnonzero(masked)[-1]))
    assert widths == set(range(width + 1))  # uniform on {0..width}, both ends reached
    assert min(starts) == 0 and max(ends) == bins - 1  # bands can touch both edges


def test_same_seed_same_output_and_different_seed_differs():
    x = features()
    a, b, c = SpecAugment(seed=5), SpecAugment(seed=5), SpecAugment(seed=6)
    first_a, first_b = np.asarray(a(x, training=True)), np.asarray(b(x, training=True))
    np.testing.assert_array_equal(first_a, first_b)
    second_a, second_b = np.asarray(a(x, training=True)), np.asarray(b(x, training=True))
    np.testing.assert_array_equal(second_a, second_b)
    assert not np.array_equal(first_a, second_a)  # the generator moves on
    assert not np.array_equal(first_a, np.asarray(c(x, training=True)))


def test_variable_frames_in_a_graph():
    layer = SpecAugment(freq_masks=1, freq_width=6, time_masks=2, time_width=20, seed=3)
    fn = tf.function(
        lambda t: layer(t, training=True),
        input_signature=[tf.TensorSpec([None, None, 40, 1])],
        autograph=False,
    )
    for frames in (5, 37, 120):  # 5 frames: narrower than time_width
        x = features(batch=8, frames=frames)
        out = fn(x).numpy()
        assert out.shape == x.shape
        for masked_frames, masked_bins, _ in recover_masks(x, out):
            assert len(runs(masked_frames)) <= 2
            if not masked_frames.all():  # else every bin looks masked too
                assert masked_bins.sum() <= 6


def test_no_masks_is_identity_in_training():
    x = features(batch=2)
    layer = SpecAugment(freq_masks=0, time_masks=3, time_width=0, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), x)


def test_config_round_trip_and_saved_model(tmp_path):
    layer = SpecAugment(freq_masks=1, freq_width=4, time_masks=3, time_width=7, seed=11, name="aug")
    clone = SpecAugment.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = features(batch=4)
    np.testing.assert_array_equal(
        np.asarray(clone(x, training=True)), np.asarray(layer(x, training=True))
    )
    inputs = keras.Input(shape=(None, 40, 1))
    hidden = SpecAugment(seed=4, name="specaugment")(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="conv")(hidden))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "aug.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("specaugment"), SpecAugment)
    assert loaded.get_layer("specaugment").get_config()["seed"] == 4
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_invalid_settings_raise():
    with pytest.raises(ValueError, match="freq_width"):
        SpecAugment(freq_width=-1)
    with pytest.raises(ValueError, match="time_masks"):
        SpecAugment(time_masks=1.5)
    with pytest.raises(ValueError, match="seed"):
        SpecAugment(seed="abc")
    with pytest.raises(ValueError, match="shape"):
        SpecAugment()(np.zeros((2, 3), "float32"))
