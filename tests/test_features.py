"""Features in numpy, checked against python_speech_features, librosa and scipy.

Tolerances (absolute, on float32 outputs):

* reference vs ``python_speech_features.logfbank``: 1e-4 (the task's bound);
  both are float64 inside, so what is left is the float32 rounding of values
  up to about 36 in magnitude (at most 2e-6).
* log-mel and log spectrogram vs librosa: 1e-5; the float32 rounding of our
  output plus librosa's float32 mel matrix (relative 6e-8, i.e. 6e-8 in log).
* MFCC vs librosa: 1e-4; coefficients reach a few hundred (c0 sums 64 logs),
  whose float32 rounding is up to 3e-5.
* magnitudes vs ``|librosa.stft|``: relative 1e-6 of the clip's largest
  magnitude (float32 rounding).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.signal
import soundfile as sf

from speakerlib.errors import AudioTooShortError, FeatureError
from speakerlib.features import (
    FEATURE_KINDS,
    FeatureConfig,
    compute_features,
    linear_spectrogram,
    log_mel,
    mfcc,
    normalize,
    reference_logfbank,
    reference_mel_filterbank,
    round_half_up,
    slaney_mel_filterbank,
    window_function,
)

psf = pytest.importorskip("python_speech_features")
psf_sigproc = pytest.importorskip("python_speech_features.sigproc")

RATE = 16000
THREE_S = 3 * RATE
LIBROSA_STFT = dict(n_fft=512, win_length=400, hop_length=160, window="hamming")
LIBROSA_MEL = dict(sr=RATE, n_mels=64, fmin=20, fmax=7600, **LIBROSA_STFT)


# ----------------------------------------------------------------------------
# Signals
# ----------------------------------------------------------------------------


def chirp(num_samples: int = THREE_S, *, noise_db: float = -60.0, seed: int = 0) -> np.ndarray:
    """A linear chirp from 100 Hz to 7.9 kHz at amplitude 0.5, plus a white noise floor."""
    t = np.arange(num_samples) / RATE
    duration = num_samples / RATE
    phase = 2 * np.pi * (100 * t + (7900 - 100) / (2 * duration) * t**2)
    floor = 0.5 * 10 ** (noise_db / 20)
    return 0.5 * np.sin(phase) + np.random.default_rng(seed).normal(0, floor, num_samples)


def noise(num_samples: int = THREE_S, *, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, num_samples)


def half_silent(num_samples: int = THREE_S) -> np.ndarray:
    """Tones and noise for half the clip, then digital silence (a padded clip)."""
    y = np.zeros(num_samples)
    t = np.arange(num_samples // 2) / RATE
    y[: num_samples // 2] = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 3100 * t)
    y[: num_samples // 2] += noise(num_samples // 2, seed=2) * 0.1
    return y


SYNTHETIC = {"chirp": chirp, "noise": noise, "half_silent": half_silent}


def first_three_seconds(path: Path) -> np.ndarray:
    """The first 3 s of a file as float64 in [-1, 1], zero-padded when shorter."""
    y, rate = sf.read(str(path), dtype="float64", frames=THREE_S)
    assert rate == RATE
    return np.pad(y, (0, THREE_S - len(y)))


@pytest.fixture(scope="module")
def speech(shared_corpora: Path) -> dict[str, np.ndarray]:
    """A LibriSpeech FLAC (1.97 s, so padded) and a TIMIT SPHERE file, first 3 s."""
    flac = sorted((shared_corpora / "LibriSpeech" / "train-clean-100").glob("*/*/*.flac"))[0]
    sphere = sorted((shared_corpora / "TIMIT" / "TRAIN").glob("*/*/*.WAV"))[0]
    return {"librispeech": first_three_seconds(flac), "timit": first_three_seconds(sphere)}


def librosa_log_mel(y: np.ndarray, **kwargs) -> np.ndarray:
    """``ln(max(librosa melspectrogram, 1e-10))`` as (frames, bands)."""
    settings = {**LIBROSA_MEL, **kwargs}
    return np.log(np.maximum(librosa.feature.melspectrogram(y=y, **settings), 1e-10)).T


def assert_matches_independent_routes(y: np.ndarray) -> None:
    """Every kind against its independent implementation, on one 1-D signal."""
    expected = psf.logfbank(y * 32768, RATE, nfilt=40, nfft=512)
    got = reference_logfbank(y)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4

    expected = librosa_log_mel(y)
    got = log_mel(y)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5

    expected = librosa.feature.mfcc(S=expected.T, n_mfcc=20).T
    got = mfcc(y)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4

    stft = np.abs(librosa.stft(y, **LIBROSA_STFT)).T
    got = linear_spectrogram(y)
    assert got.shape == stft.shape == (1 + len(y) // 160, 257)
    assert np.abs(got - stft).max() <= 1e-6 * stft.max()
    got = linear_spectrogram(y, log=True)
    assert np.abs(got - np.log(np.maximum(stft**2, 1e-10))).max() < 1e-5


# ----------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hamming", "hann"])
@pytest.mark.parametrize("length", [400, 401, 512])
def test_windows_are_scipys_periodic_windows(name, length):
    expected = scipy.signal.get_window(name, length, fftbins=True)
    np.testing.assert_allclose(window_function(name, length), expected, atol=1e-15)
    np.testing.assert_array_equal(window_function("rectangular", length), np.ones(length))


def test_round_half_up_matches_python_speech_features():
    for value in (0.5, 1.5, 2.5, 399.5, 0.025 * 16000, 0.01 * 16000, 0.0255 * 8000, 3.4999):
        assert round_half_up(value) == psf_sigproc.round_half_up(value)


@pytest.mark.parametrize(
    "settings",
    [
        dict(sample_rate_hz=16000, n_fft=512, n_mels=40, fmin_hz=0.0, fmax_hz=None),
        dict(sample_rate_hz=16000, n_fft=512, n_mels=26, fmin_hz=300.0, fmax_hz=3700.0),
        dict(sample_rate_hz=8000, n_fft=256, n_mels=20, fmin_hz=0.0, fmax_hz=4000.0),
        dict(sample_rate_hz=16000, n_fft=1024, n_mels=64, fmin_hz=20.0, fmax_hz=7600.0),
    ],
)
def test_reference_filterbank_is_python_speech_features(settings):
    expected = psf.get_filterbanks(
        nfilt=settings["n_mels"], nfft=settings["n_fft"], samplerate=settings["sample_rate_hz"],
        lowfreq=settings["fmin_hz"], highfreq=settings["fmax_hz"],
    )
    np.testing.assert_allclose(reference_mel_filterbank(**settings), expected, atol=1e-15)


@pytest.mark.parametrize(
    "settings",
    [
        dict(sample_rate_hz=16000, n_fft=512, n_mels=64, fmin_hz=20.0, fmax_hz=7600.0),
        dict(sample_rate_hz=16000, n_fft=512, n_mels=40, fmin_hz=0.0, fmax_hz=None),
        dict(sample_rate_hz=16000, n_fft=400, n_mels=80, fmin_hz=0.0, fmax_hz=8000.0),
        dict(sample_rate_hz=22050, n_fft=2048, n_mels=128, fmin_hz=0.0, fmax_hz=None),
    ],
)
def test_slaney_filterbank_is_librosas(settings):
    expected = librosa.filters.mel(
        sr=settings["sample_rate_hz"], n_fft=settings["n_fft"], n_mels=settings["n_mels"],
        fmin=settings["fmin_hz"], fmax=settings["fmax_hz"],
    )
    got = slaney_mel_filterbank(**settings)
    assert got.shape == expected.shape
    # librosa returns float32: agree to its precision.
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * expected.max())


def test_filterbanks_are_cached_and_read_only():
    first = reference_mel_filterbank(n_mels=40)
    assert reference_mel_filterbank(n_mels=40) is first
    with pytest.raises(ValueError):
        first[0, 0] = 1.0


def test_too_many_mel_bands_for_the_fft_is_an_error():
    with pytest.raises(FeatureError, match="cover no FFT bin"):
        reference_mel_filterbank(n_fft=64, n_mels=40)
    with pytest.raises(FeatureError, match="cover no FFT bin"):
        FeatureConfig.for_kind("logmel", n_fft=512, n_mels=256, win_s=0.02)


# ----------------------------------------------------------------------------
# The four kinds against independent implementations
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("signal", sorted(SYNTHETIC))
def test_synthetic_signals_match_psf_and_librosa(signal):
    assert_matches_independent_routes(SYNTHETIC[signal]())


@pytest.mark.corpora
def test_real_speech_matches_psf_and_librosa(speech):
    for y in speech.values():
        assert_matches_independent_routes(y)


def test_reference_shape_for_three_seconds_is_299_by_40():
    assert reference_logfbank(chirp()).shape == (299, 40)
    assert FeatureConfig().output_shape(THREE_S) == (299, 40)


@pytest.mark.parametrize("num_samples", [400, 401, 559, 560, 561, 16077, THREE_S + 1])
def test_reference_framing_rule_matches_psf_at_every_length(num_samples):
    y = noise(num_samples)
    expected = psf.logfbank(y * 32768, RATE, nfilt=40, nfft=512)
    got = reference_logfbank(y)
    assert got.shape == expected.shape == FeatureConfig().output_shape(num_samples)
    assert np.abs(got - expected).max() < 1e-4


def test_reference_with_other_settings_matches_psf():
    y = chirp(20000)
    expected = psf.logfbank(
        y * 32768, 8000, winlen=0.032, winstep=0.016, nfilt=26, nfft=256, lowfreq=100,
        highfreq=3800, preemph=0.95,
    )
    got = reference_logfbank(
        y, sample_rate_hz=8000, win_s=0.032, hop_s=0.016, n_fft=256, n_mels=26, fmin_hz=100,
        fmax_hz=3800, preemphasis=0.95,
    )
    assert np.abs(got - expected).max() < 1e-4


def test_reference_silence_sits_at_the_machine_epsilon_floor():
    got = reference_logfbank(np.zeros(THREE_S))
    np.testing.assert_allclose(got, np.log(np.finfo(np.float64).eps), rtol=1e-7)


def test_log_mel_with_other_settings_matches_librosa():
    y = noise(30000)
    got = log_mel(y, n_mels=80, fmin_hz=0.0, fmax_hz=None, window="hann", n_fft=1024)
    expected = librosa_log_mel(
        y, n_mels=80, fmin=0.0, fmax=None, window="hann", n_fft=1024
    )
    assert np.abs(got - expected).max() < 1e-5


def test_uncentred_frames_start_at_sample_zero():
    # librosa's center=False frames n_fft samples and centres the 400-sample
    # window in them, 56 samples in; prefixing 56 zeros lines its windows up
    # with ours, which start at sample 0 (tf.signal.stft's convention).
    y = chirp()
    got = log_mel(y, center=False)
    assert got.shape == FeatureConfig.for_kind("logmel", center=False).output_shape(THREE_S)
    assert got.shape[0] == 1 + (THREE_S - 400) // 160
    shifted = librosa_log_mel(np.concatenate([np.zeros(56), y]), center=False)
    common = min(len(shifted), len(got))
    assert common >= len(got) - 1
    assert np.abs(got[:common] - shifted[:common]).max() < 1e-5


def test_preemphasis_is_python_speech_features_filter():
    y = noise()
    expected = log_mel(psf_sigproc.preemphasis(y, 0.97))
    np.testing.assert_allclose(log_mel(y, preemphasis=0.97), expected, atol=1e-5)


def test_mfcc_is_the_orthonormal_dct_of_log_mel():
    y = chirp()
    logmel = log_mel(y, n_mels=40).astype(np.float64)
    expected = scipy.fft.dct(logmel, type=2, norm="ortho", axis=-1)[:, :13]
    np.testing.assert_allclose(mfcc(y, n_mels=40, n_mfcc=13), expected, atol=1e-4)


def test_mfcc_is_librosas_decibel_mfcc_rescaled_when_nothing_is_clipped():
    # librosa.feature.mfcc(y=...) works in dB (10 / ln 10 times our natural
    # log) and clips at 80 dB below the peak; white noise never reaches that.
    y = noise()
    expected = librosa.feature.mfcc(y=y, n_mfcc=20, **LIBROSA_MEL).T * np.log(10) / 10
    np.testing.assert_allclose(mfcc(y), expected, atol=1e-4)


# ----------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------


def test_per_frame_rows_have_mean_0_and_std_1():
    feats = reference_logfbank(chirp())
    out = normalize(feats, mode="per_frame")
    assert out.dtype == np.float32 and out.shape == feats.shape
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=1), 1.0, atol=1e-5)


def test_per_utterance_columns_have_mean_0_and_std_1():
    feats = log_mel(noise())
    out = normalize(feats, mode="per_utterance")
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-5)


def test_per_frame_is_the_reference_loaders_normalisation():
    y = chirp()
    raw = psf.logfbank(y * 32768, RATE, nfilt=40, nfft=512)
    expected = (raw - raw.mean(axis=1, keepdims=True)) / raw.std(axis=1, keepdims=True)
    np.testing.assert_allclose(compute_features(y, FeatureConfig()), expected, atol=1e-4)


def test_constant_frames_become_zeros_not_nan():
    feats = reference_logfbank(half_silent())
    out = normalize(feats, mode="per_frame")
    silent = out[-100:]
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(silent, 0.0)
    column = normalize(np.ones((10, 3), np.float32), mode="per_utterance")
    np.testing.assert_array_equal(column, 0.0)


@pytest.mark.parametrize("mode", ["per_frame", "per_utterance"])
def test_constant_rows_and_columns_are_exactly_zero_for_any_value(mode):
    for value in np.random.default_rng(0).uniform(-40, 40, 30).astype(np.float32):
        feats = np.full((301, 64), value, np.float32)
        np.testing.assert_array_equal(normalize(feats, mode=mode), 0.0)


def test_normalize_none_and_inputs_untouched():
    feats = log_mel(noise())
    before = feats.copy()
    np.testing.assert_array_equal(normalize(feats, mode="none"), feats)
    normalize(feats, mode="per_frame")
    normalize(feats, mode="per_utterance")
    np.testing.assert_array_equal(feats, before)


def test_normalize_rejects_unknown_mode_and_wrong_rank():
    with pytest.raises(FeatureError, match="'per_speaker'"):
        normalize(np.zeros((3, 4)), mode="per_speaker")
    with pytest.raises(FeatureError, match=r"\(frames, bins\)"):
        normalize(np.zeros(4), mode="per_frame")


# ----------------------------------------------------------------------------
# compute_features and FeatureConfig
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FEATURE_KINDS)
@pytest.mark.parametrize("num_samples", [400, 401, 16077, THREE_S])
def test_compute_features_shape_dtype_and_output_shape_agree(kind, num_samples):
    config = FeatureConfig.for_kind(kind)
    y = noise(num_samples)
    before = y.copy()
    feats = compute_features(y, config)
    assert feats.dtype == np.float32
    assert feats.shape == config.output_shape(num_samples)
    assert np.all(np.isfinite(feats))
    np.testing.assert_array_equal(y, before)


def test_three_second_shapes_per_kind():
    shapes = {kind: FeatureConfig.for_kind(kind).output_shape(THREE_S) for kind in FEATURE_KINDS}
    assert shapes == {
        "reference": (299, 40), "logmel": (301, 64), "spectrogram": (301, 257), "mfcc": (301, 20),
    }


@pytest.mark.parametrize("kind", FEATURE_KINDS)
def test_compute_features_is_the_kind_function_then_normalize(kind):
    y = chirp()
    config = FeatureConfig.for_kind(kind)
    raw = {
        "reference": reference_logfbank, "logmel": log_mel, "spectrogram": linear_spectrogram,
        "mfcc": mfcc,
    }[kind](y)
    expected = normalize(raw, mode=config.normalize)
    np.testing.assert_allclose(compute_features(y, config), expected, atol=1e-5)


def test_float32_input_is_accepted():
    y = chirp()
    np.testing.assert_allclose(
        reference_logfbank(y.astype(np.float32)), reference_logfbank(y), atol=1e-3
    )


@pytest.mark.parametrize("kind", FEATURE_KINDS)
def test_audio_shorter_than_one_window_names_both_lengths(kind):
    with pytest.raises(AudioTooShortError, match=r"400 samples.*got 399 samples"):
        compute_features(noise(399), FeatureConfig.for_kind(kind))
    with pytest.raises(AudioTooShortError, match="got 10 samples"):
        FeatureConfig.for_kind(kind).output_shape(10)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_a_feature_error(bad):
    y = noise()
    y[1234] = bad
    with pytest.raises(FeatureError, match="index 1234"):
        compute_features(y, FeatureConfig())


def test_wrong_shapes_and_dtypes_are_feature_errors():
    with pytest.raises(FeatureError, match=r"shape \(2, 48000\)"):
        compute_features(np.zeros((2, THREE_S)), FeatureConfig())
    with pytest.raises(FeatureError, match="int16"):
        compute_features(np.zeros(THREE_S, np.int16), FeatureConfig())
    with pytest.raises(FeatureError, match="FeatureConfig"):
        compute_features(np.zeros(THREE_S), {"kind": "reference"})


def test_unknown_kind_is_a_key_error_listing_valid_kinds():
    for make in (lambda: FeatureConfig(kind="fbank"), lambda: FeatureConfig.for_kind("fbank")):
        with pytest.raises(KeyError, match="reference, logmel, spectrogram, mfcc"):
            make()


def test_kinds_and_modes_come_from_the_registry():
    from speakerlib import registry
    from speakerlib.audio import SAMPLE_RATE_HZ
    from speakerlib.errors import UnknownNameError
    from speakerlib.features import NORMALIZE_MODES

    assert FEATURE_KINDS is registry.FEATURE_KINDS
    assert NORMALIZE_MODES is registry.NORMALIZE_MODES
    with pytest.raises(UnknownNameError, match="unknown feature kind 'fbank'"):
        FeatureConfig.for_kind("fbank")
    assert FeatureConfig().sample_rate_hz == SAMPLE_RATE_HZ


def test_kind_defaults():
    ref = FeatureConfig()
    assert (ref.kind, ref.n_mels, ref.fmin_hz, ref.fmax_hz, ref.window) == (
        "reference", 40, 0.0, 8000.0, "rectangular"
    )
    assert (ref.preemphasis, ref.input_scale, ref.normalize, ref.center) == (
        0.97, 32768.0, "per_frame", False
    )
    assert (ref.win_samples, ref.hop_samples, ref.n_fft) == (400, 160, 512)
    logmel = FeatureConfig.for_kind("logmel")
    assert (logmel.n_mels, logmel.fmin_hz, logmel.fmax_hz, logmel.window, logmel.center) == (
        64, 20.0, 7600.0, "hamming", True
    )
    spec = FeatureConfig.for_kind("spectrogram")
    assert (spec.log, spec.normalize, spec.num_bins) == (False, "per_utterance", 257)
    assert FeatureConfig.for_kind("mfcc", n_mfcc=13).num_bins == 13
    assert FeatureConfig.for_kind("logmel", n_mels=80) == FeatureConfig(kind="logmel", n_mels=80)


@pytest.mark.parametrize(
    ("kind", "overrides", "field"),
    [
        ("reference", dict(n_fft=256), "n_fft"),
        ("reference", dict(center=True), "center"),
        ("reference", dict(normalize="cmvn"), "normalize"),
        ("reference", dict(preemphasis=1.0), "preemphasis"),
        ("reference", dict(sample_rate_hz=16000.0), "sample_rate_hz"),
        ("reference", dict(win_s=0.0), "win_s"),
        ("reference", dict(hop_s=1e-5), "hop_s"),
        ("logmel", dict(log=False), "log"),
        ("logmel", dict(window="kaiser"), "window"),
        ("logmel", dict(fmax_hz=9000.0), "fmax_hz"),
        ("mfcc", dict(n_mfcc=65), "n_mfcc"),
        ("spectrogram", dict(log_floor=0.0), "log_floor"),
    ],
)
def test_invalid_settings_are_feature_errors_naming_the_field(kind, overrides, field):
    with pytest.raises(FeatureError, match=field):
        FeatureConfig.for_kind(kind, **overrides)


def test_config_is_frozen_json_ready_and_replaceable():
    config = FeatureConfig.for_kind("mfcc", n_mfcc=13)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_mfcc = 20  # type: ignore[misc]
    assert FeatureConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert dataclasses.replace(config, n_mels=40).output_shape(THREE_S) == (301, 13)
    with pytest.raises(FeatureError):
        dataclasses.replace(config, n_mels=10)
    assert hash(config) == hash(FeatureConfig.from_dict(config.to_dict()))


def test_numpy_module_does_not_import_tensorflow():
    code = "import sys, speakerlib.features; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
