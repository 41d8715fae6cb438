"""Features in TensorFlow, checked against the numpy module, in tf.data and in Keras.

Tolerances, TensorFlow (float32 throughout) vs numpy (float64 inside):

* log features (reference, log-mel, MFCC), raw or normalised: max abs
  difference 1e-3. Why: a float32 FFT's error is about 1e-7 of the frame's
  largest spectral amplitude, so a mel band ``D`` dB below its frame's
  strongest band carries a relative energy error of about ``1e-7 *
  10^(D/20)``, which is also the error of its log: 1e-4 at 60 dB, 1e-3 at
  80 dB. Speech, noise and a chirp over a -60 dB noise floor stay within
  about 3e-4 for log-mel and MFCC and 1e-4 for the reference (a rectangular
  window keeps less dynamic range), measured on these signals and 28 real
  clips. A clean synthetic tone, whose Hamming sidelobes go 90 dB and more
  down, can exceed 1e-3 in its empty bands: the tolerance is for audio, not
  for arbitrary signals.
* magnitude spectrogram: 1e-5 of the clip's largest magnitude (float32
  rounding), and 1e-3 once normalised per frequency bin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from speakerlib.errors import AudioTooShortError, FeatureError  # noqa: E402
from speakerlib.features import FEATURE_KINDS, FeatureConfig, compute_features  # noqa: E402
from speakerlib.features.tf_features import (  # noqa: E402
    FeatureExtractor,
    compute_features_tf,
    normalize_tf,
)

RATE = 16000
THREE_S = 3 * RATE
LOG_TOLERANCE = 1e-3


def chirp(num_samples: int = THREE_S) -> np.ndarray:
    """A linear chirp from 100 Hz to 7.9 kHz at amplitude 0.5 over a -60 dB white noise floor."""
    t = np.arange(num_samples) / RATE
    duration = num_samples / RATE
    phase = 2 * np.pi * (100 * t + (7900 - 100) / (2 * duration) * t**2)
    return 0.5 * np.sin(phase) + np.random.default_rng(0).normal(0, 5e-4, num_samples)


def noise(num_samples: int = THREE_S) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 0.1, num_samples)


def half_silent(num_samples: int = THREE_S) -> np.ndarray:
    """Two tones and noise for the first half, then digital silence (a padded clip)."""
    y = np.zeros(num_samples)
    t = np.arange(num_samples // 2) / RATE
    y[: num_samples // 2] = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 3100 * t)
    y[: num_samples // 2] += np.random.default_rng(2).normal(0, 0.01, num_samples // 2)
    return y


def first_three_seconds(path: Path) -> np.ndarray:
    """The first 3 s of a file as float64 in [-1, 1], zero-padded when shorter."""
    y, rate = sf.read(str(path), dtype="float64", frames=THREE_S)
    assert rate == RATE
    return np.pad(y, (0, THREE_S - len(y)))


@pytest.fixture(scope="module")
def synthetic_batch() -> np.ndarray:
    """(3, 48000) float32: a chirp over a -60 dB floor, white noise, half silence."""
    return np.stack([chirp(), noise(), half_silent()]).astype(np.float32)


@pytest.fixture(scope="module")
def speech_batch(request) -> np.ndarray:
    """(2, 48000) float32: the LibriSpeech FLAC and TIMIT SPHERE clips, or skip."""
    speech = request.getfixturevalue("speech")
    return np.stack(list(speech.values())).astype(np.float32)


@pytest.fixture(scope="module")
def speech(shared_corpora: Path) -> dict[str, np.ndarray]:
    """A LibriSpeech FLAC (1.97 s, so padded) and a TIMIT SPHERE file, first 3 s."""
    flac = sorted((shared_corpora / "LibriSpeech" / "train-clean-100").glob("*/*/*.flac"))[0]
    sphere = sorted((shared_corpora / "TIMIT" / "TRAIN").glob("*/*/*.WAV"))[0]
    return {"librispeech": first_three_seconds(flac), "timit": first_three_seconds(sphere)}


def numpy_features(batch: np.ndarray, config: FeatureConfig) -> np.ndarray:
    return np.stack([compute_features(y, config) for y in batch])


def assert_tf_matches_numpy(batch: np.ndarray, kind: str, normalize: str) -> None:
    config = FeatureConfig.for_kind(kind, normalize=normalize)
    expected = numpy_features(batch, config)
    got = compute_features_tf(tf.constant(batch), config).numpy()
    assert got.dtype == np.float32
    assert got.shape == expected.shape == (len(batch), *config.output_shape(batch.shape[1]))
    if kind == "spectrogram" and normalize == "none":
        tolerance = 1e-5 * np.abs(expected).max()
    else:
        tolerance = LOG_TOLERANCE
    assert np.abs(got - expected).max() < tolerance


@pytest.mark.parametrize("normalize", ["none", "default"])
@pytest.mark.parametrize("kind", FEATURE_KINDS)
def test_tf_matches_numpy_on_synthetic_audio(synthetic_batch, kind, normalize):
    mode = FeatureConfig.for_kind(kind).normalize if normalize == "default" else normalize
    assert_tf_matches_numpy(synthetic_batch, kind, mode)


@pytest.mark.corpora
@pytest.mark.parametrize("kind", FEATURE_KINDS)
def test_tf_matches_numpy_on_real_speech(speech_batch, kind):
    assert_tf_matches_numpy(speech_batch, kind, "none")
    assert_tf_matches_numpy(speech_batch, kind, FeatureConfig.for_kind(kind).normalize)


def test_tf_reference_is_within_1e_4_of_numpy(synthetic_batch):
    config = FeatureConfig(normalize="none")
    got = compute_features_tf(tf.constant(synthetic_batch), config).numpy()
    assert np.abs(got - numpy_features(synthetic_batch, config)).max() < 1e-4


def test_silent_frames_normalise_to_exact_zeros_as_in_numpy():
    batch = half_silent()[None].astype(np.float32)
    got = compute_features_tf(tf.constant(batch), FeatureConfig()).numpy()[0]
    np.testing.assert_array_equal(got[-100:], 0.0)
    np.testing.assert_array_equal(compute_features(batch[0], FeatureConfig())[-100:], 0.0)


@pytest.mark.parametrize("mode", ["per_frame", "per_utterance"])
def test_constant_features_normalise_to_exact_zeros(mode):
    # A float32 mean of equal values is often not that value (a third of the
    # time here), which would turn silence into +-1 noise; float64 statistics
    # make it exact.
    values = np.random.default_rng(0).uniform(-40, 40, 30).astype(np.float32)
    feats = tf.constant(np.broadcast_to(values[:, None, None], (30, 301, 64)))
    np.testing.assert_array_equal(normalize_tf(feats, mode=mode).numpy(), 0.0)


@pytest.mark.parametrize("mode", ["per_frame", "per_utterance"])
def test_normalize_tf_moments(mode):
    feats = tf.random.stateless_normal((2, 50, 8), seed=(1, 2), mean=3.0, stddev=2.0)
    out = normalize_tf(feats, mode=mode).numpy()
    axis = -1 if mode == "per_frame" else -2
    np.testing.assert_allclose(out.mean(axis=axis), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=axis), 1.0, atol=1e-5)
    with pytest.raises(FeatureError, match="'bogus'"):
        normalize_tf(feats, mode="bogus")


def test_single_signal_gives_frames_by_bins():
    config = FeatureConfig.for_kind("mfcc")
    y = noise().astype(np.float32)
    got = compute_features_tf(tf.constant(y), config)
    assert tuple(got.shape) == config.output_shape(THREE_S)


def test_static_shape_is_known_and_dynamic_length_gives_the_same_numbers(synthetic_batch):
    config = FeatureConfig()
    static = tf.function(
        lambda y: compute_features_tf(y, config),
        input_signature=[tf.TensorSpec([None, THREE_S], tf.float32)],
    )
    assert static.get_concrete_function().structured_outputs.shape.as_list() == [None, 299, 40]
    dynamic = tf.function(
        lambda y: compute_features_tf(y, config),
        input_signature=[tf.TensorSpec([None, None], tf.float32)],
    )
    assert dynamic.get_concrete_function().structured_outputs.shape.as_list() == [None, None, 40]
    batch = tf.constant(synthetic_batch)
    np.testing.assert_array_equal(static(batch).numpy(), dynamic(batch).numpy())
    # A length that is not a whole number of hops, through the dynamic path.
    odd = synthetic_batch[:, :16077]
    expected = numpy_features(odd, config)
    got = dynamic(tf.constant(odd)).numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < LOG_TOLERANCE


def test_too_short_static_and_dynamic():
    config = FeatureConfig()
    with pytest.raises(AudioTooShortError, match="got 399 samples"):
        compute_features_tf(tf.zeros((2, 399)), config)
    dynamic = tf.function(
        lambda y: compute_features_tf(y, config),
        input_signature=[tf.TensorSpec([None, None], tf.float32)],
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="400 samples"):
        dynamic(tf.zeros((2, 399)))
    with pytest.raises(FeatureError, match="shape"):
        compute_features_tf(tf.zeros((2, 3, 48000)), config)


def test_works_in_tf_data_map_before_and_after_batching(synthetic_batch):
    config = FeatureConfig.for_kind("logmel")
    expected = compute_features_tf(tf.constant(synthetic_batch), config).numpy()
    per_clip = (
        tf.data.Dataset.from_tensor_slices(synthetic_batch)
        .map(lambda y: compute_features_tf(y, config))
        .batch(3)
    )
    assert per_clip.element_spec.shape.as_list() == [None, 301, 64]
    np.testing.assert_allclose(next(iter(per_clip)).numpy(), expected, atol=1e-5)
    batched = (
        tf.data.Dataset.from_tensor_slices(synthetic_batch)
        .batch(3)
        .map(lambda y: compute_features_tf(y, config))
    )
    np.testing.assert_allclose(next(iter(batched)).numpy(), expected, atol=1e-5)


def test_keras_layer_round_trips_through_a_keras_file(tmp_path, synthetic_batch):
    config = FeatureConfig.for_kind("mfcc", n_mfcc=13)
    inputs = keras.Input(shape=(THREE_S,), name="audio")
    outputs = FeatureExtractor(config, name="features")(inputs)
    assert tuple(outputs.shape) == (None, 301, 13)
    model = keras.Model(inputs, outputs)
    before = model.predict(synthetic_batch, verbose=0)
    path = tmp_path / "front_end.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.get_layer("features")
    assert isinstance(layer, FeatureExtractor)
    assert layer.feature_config == config
    np.testing.assert_array_equal(loaded.predict(synthetic_batch, verbose=0), before)
    np.testing.assert_allclose(before, numpy_features(synthetic_batch, config), atol=LOG_TOLERANCE)


def test_keras_layer_config_and_errors():
    layer = FeatureExtractor(FeatureConfig.for_kind("spectrogram"), name="spec")
    config = layer.get_config()
    assert config["config"]["kind"] == "spectrogram"
    clone = FeatureExtractor.from_config(config)
    assert clone.feature_config == layer.feature_config and clone.name == "spec"
    assert FeatureExtractor().feature_config == FeatureConfig()
    assert layer.compute_output_shape((None, THREE_S)) == (None, 301, 257)
    assert layer.compute_output_shape((None, None)) == (None, None, 257)
    with pytest.raises(FeatureError, match="FeatureConfig or a dict"):
        FeatureExtractor("logmel")
