"""The four kinds of features, their normalisation, and :func:`compute_features`.

:func:`reference_logfbank`, :func:`log_mel`, :func:`linear_spectrogram` and
:func:`mfcc` compute one kind each from explicit settings; :func:`normalize`
is the mean and variance normalisation; :func:`compute_features` computes the
kind a :class:`~speakerlib.features.config.FeatureConfig` describes and
normalises it. The conventions are those of :mod:`speakerlib.features`.
"""

from __future__ import annotations

import math

import numpy as np

from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.errors import FeatureError
from speakerlib.features.config import FeatureConfig
from speakerlib.features.dsp import (
    DEFAULT_LOG_FLOOR,
    INT16_SCALE,
    REFERENCE_LOG_FLOOR,
    check_fft_length,
    check_signal,
    dct_matrix,
    floored_log,
    frame_signal,
    reference_mel_filterbank,
    round_half_up,
    slaney_mel_filterbank,
    spectrum_rows,
)
from speakerlib.registry import NORMALIZE_MODES

__all__ = [
    "NORMALIZE_EPS",
    "reference_logfbank",
    "log_mel",
    "linear_spectrogram",
    "mfcc",
    "normalize",
    "compute_features",
]

#: The smallest standard deviation :func:`normalize` divides by.
NORMALIZE_EPS = 1e-12


# ----------------------------------------------------------------------------
# The four kinds of features
# ----------------------------------------------------------------------------


def _reference_logfbank64(
    y, *, sample_rate_hz, win_s, hop_s, n_fft, n_mels, fmin_hz, fmax_hz, preemphasis,
    window, input_scale, log_floor,
) -> np.ndarray:
    win, hop = round_half_up(win_s * sample_rate_hz), round_half_up(hop_s * sample_rate_hz)
    check_fft_length(win, n_fft, "reference_logfbank")
    y = check_signal(y, win=win, what="reference_logfbank")
    fb = reference_mel_filterbank(
        sample_rate_hz=sample_rate_hz, n_fft=n_fft, n_mels=n_mels, fmin_hz=fmin_hz,
        fmax_hz=fmax_hz,
    )
    frames = frame_signal(
        y, win=win, hop=hop, n_fft=n_fft, rule="reference", scale=input_scale,
        preemphasis=preemphasis,
    )
    energies = spectrum_rows(frames, window=window, n_fft=n_fft, square=True, filterbank=fb)
    # The 1 / n_fft of the power spectrum, folded into the floor: ln(max(E / N, f)).
    return floored_log(energies, log_floor * n_fft) - math.log(n_fft)


def reference_logfbank(
    y: np.ndarray,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    win_s: float = 0.025,
    hop_s: float = 0.010,
    n_fft: int = 512,
    n_mels: int = 40,
    fmin_hz: float = 0.0,
    fmax_hz: float | None = None,
    preemphasis: float = 0.97,
    window: str = "rectangular",
    input_scale: float = INT16_SCALE,
    log_floor: float = REFERENCE_LOG_FLOOR,
) -> np.ndarray:
    """The reference implementation's features: python_speech_features' ``logfbank``.

    Step by step, with the defaults the seed uses:

    1. scale the float signal to the int16 range: ``x = y * 32768`` (the
       reference read its audio as int16 and never divided by 32768; the
       scale shifts every log energy by ``2 ln 32768 = 20.8``);
    2. pre-emphasis ``x[n] - 0.97 x[n-1]`` (``x[0]`` kept);
    3. frames of 400 samples every 160 samples, ``1 + ceil((n - 400) / 160)``
       of them, the last one completed with zeros (see :mod:`speakerlib.features`);
    4. rectangular window (none), power spectrum ``|rfft(frame, 512)|^2 / 512``
       (257 bins);
    5. 40 triangular filters on the HTK mel scale, 0 to 8 kHz, with
       python_speech_features' bin rounding (:func:`reference_mel_filterbank`);
    6. energies below float64's machine epsilon (2.2e-16) raised to it, then the
       natural log.

    Equal to ``python_speech_features.logfbank(y * 32768, 16000, nfilt=40,
    nfft=512)`` to within 1e-4 (float32 rounding of the result). One
    difference, on purpose: python_speech_features replaces only energies that
    are exactly 0 by the epsilon, here every energy below it is raised to it;
    int16-scaled speech never has a positive filter energy that small.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,), dtype=float]
        Audio in [-1, 1] at ``sample_rate_hz``.
    sample_rate_hz : int > 0 [Hz]
    win_s, hop_s : float > 0 [s]
        Frame length and step (400 and 160 samples at 16 kHz).
    n_fft : int >= window length [samples]
    n_mels : int > 0
        Number of mel filters.
    fmin_hz, fmax_hz : float [Hz]
        Filterbank band; ``fmax_hz=None`` means ``sample_rate_hz / 2``.
    preemphasis : float in [0, 1)
        Pre-emphasis coefficient; 0 disables it.
    window : {"rectangular", "hamming", "hann"}
        Analysis window; the reference uses none (rectangular).
    input_scale : float > 0
        Factor applied to ``y`` first (32768: int16 scale; 1: leave as is).
    log_floor : float > 0
        Energy floor before the log [input_scale^2 units].

    Returns
    -------
    np.ndarray [shape=(1 + ceil((samples - win) / hop), n_mels), dtype=float32]
        Log mel energies [ln of (int16 units)^2]; ``(299, 40)`` for 3 s at 16 kHz.

    Raises
    ------
    AudioTooShortError
        If ``y`` is shorter than one window.
    FeatureError
        If ``y`` is not a 1-D float array of finite values, or the settings are
        inconsistent.

    Examples
    --------
    >>> import numpy as np
    >>> reference_logfbank(np.zeros(48000)).shape
    (299, 40)
    """
    return _reference_logfbank64(
        y, sample_rate_hz=sample_rate_hz, win_s=win_s, hop_s=hop_s, n_fft=n_fft,
        n_mels=n_mels, fmin_hz=fmin_hz, fmax_hz=fmax_hz, preemphasis=preemphasis,
        window=window, input_scale=input_scale, log_floor=log_floor,
    ).astype(np.float32)


def _stft_rows(
    y, *, sample_rate_hz, win_s, hop_s, n_fft, window, center, preemphasis, what, scale=1.0,
    square=False, filterbank=None,
):
    """Checks, frames and spectra (:func:`~speakerlib.features.dsp.spectrum_rows`) of the
    centred and uncentred kinds."""
    win, hop = round_half_up(win_s * sample_rate_hz), round_half_up(hop_s * sample_rate_hz)
    check_fft_length(win, n_fft, what)
    y = check_signal(y, win=win, what=what)
    frames = frame_signal(
        y, win=win, hop=hop, n_fft=n_fft, rule="center" if center else "start",
        preemphasis=preemphasis, scale=scale,
    )
    return spectrum_rows(
        frames, window=window, n_fft=n_fft, square=square, filterbank=filterbank
    )


def _log_mel64(
    y, *, sample_rate_hz, n_mels, win_s, hop_s, n_fft, window, fmin_hz, fmax_hz, center,
    preemphasis, log_floor, what="log_mel", scale=1.0,
) -> np.ndarray:
    fb = slaney_mel_filterbank(
        sample_rate_hz=sample_rate_hz, n_fft=n_fft, n_mels=n_mels, fmin_hz=fmin_hz,
        fmax_hz=fmax_hz,
    )
    energies = _stft_rows(
        y, sample_rate_hz=sample_rate_hz, win_s=win_s, hop_s=hop_s, n_fft=n_fft,
        window=window, center=center, preemphasis=preemphasis, what=what, scale=scale,
        square=True, filterbank=fb,
    )
    return floored_log(energies, log_floor)


def log_mel(
    y: np.ndarray,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    n_mels: int = 64,
    win_s: float = 0.025,
    hop_s: float = 0.010,
    n_fft: int = 512,
    window: str = "hamming",
    fmin_hz: float = 20.0,
    fmax_hz: float | None = 7600.0,
    center: bool = True,
    preemphasis: float = 0.0,
    log_floor: float = DEFAULT_LOG_FLOOR,
) -> np.ndarray:
    """Log mel energies, librosa's way.

    ``ln(max(M P, log_floor))`` where ``P`` is the power spectrogram
    ``|STFT|^2`` (no 1/n_fft scaling) of the (optionally pre-emphasised)
    signal and ``M`` librosa's Slaney mel filterbank
    (:func:`slaney_mel_filterbank`). With ``center=True`` (the default) the
    frames are librosa's centred, zero-padded frames, so the result equals
    ``np.log(np.maximum(librosa.feature.melspectrogram(y=y, sr=16000,
    n_fft=512, win_length=400, hop_length=160, window="hamming", n_mels=64,
    fmin=20, fmax=7600), 1e-10))`` transposed. The floor 1e-10 is librosa's
    ``amin``; ``10 / ln(10)`` times this is librosa's ``power_to_db`` with
    ``top_db=None``.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,), dtype=float]
        Audio in [-1, 1] at ``sample_rate_hz``.
    sample_rate_hz : int > 0 [Hz]
    n_mels : int > 0
        Number of mel bands.
    win_s, hop_s : float > 0 [s]
        Window length and hop (400 and 160 samples at 16 kHz).
    n_fft : int >= window length [samples]
        FFT length; each window is zero-padded to it.
    window : {"hamming", "hann", "rectangular"}
    fmin_hz, fmax_hz : float [Hz]
        Filterbank band; ``fmax_hz=None`` means ``sample_rate_hz / 2``.
    center : bool
        Centred frames (librosa) or frames starting at sample 0 (see
        :mod:`speakerlib.features`).
    preemphasis : float in [0, 1)
        Pre-emphasis coefficient; 0 (the default) disables it.
    log_floor : float > 0
        Energy floor before the log.

    Returns
    -------
    np.ndarray [shape=(frames, n_mels), dtype=float32]
        ``frames = 1 + samples // hop`` when centred (301 for 3 s at 16 kHz).

    Raises
    ------
    AudioTooShortError
        If ``y`` is shorter than one window.
    FeatureError
        If ``y`` is not a 1-D float array of finite values, or the settings are
        inconsistent.
    """
    return _log_mel64(
        y, sample_rate_hz=sample_rate_hz, n_mels=n_mels, win_s=win_s, hop_s=hop_s,
        n_fft=n_fft, window=window, fmin_hz=fmin_hz, fmax_hz=fmax_hz, center=center,
        preemphasis=preemphasis, log_floor=log_floor,
    ).astype(np.float32)


def linear_spectrogram(
    y: np.ndarray,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    win_s: float = 0.025,
    hop_s: float = 0.010,
    n_fft: int = 512,
    window: str = "hamming",
    center: bool = True,
    preemphasis: float = 0.0,
    log: bool = False,
    log_floor: float = DEFAULT_LOG_FLOOR,
) -> np.ndarray:
    """VggVox's linear spectrogram: STFT magnitudes of every FFT bin.

    VggVox (Nagrani et al. 2017; Chung et al. 2018) feeds a ResNet the
    *magnitude* spectrogram, 512-point FFT of 25 ms Hamming windows every
    10 ms (257 bins), mean-and-variance normalised per frequency bin over the
    utterance: that normalisation is ``normalize(..., mode="per_utterance")``,
    which :class:`FeatureConfig` applies by default for this kind. With
    ``log=True`` the log power ``ln(max(|STFT|^2, log_floor))`` is returned
    instead, the usual choice when the spectrogram is not normalised (it
    compresses the dynamic range).

    With ``center=True`` the magnitudes equal ``np.abs(librosa.stft(y,
    n_fft=512, win_length=400, hop_length=160, window="hamming"))`` transposed.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,), dtype=float]
        Audio in [-1, 1] at ``sample_rate_hz``.
    sample_rate_hz : int > 0 [Hz]
    win_s, hop_s : float > 0 [s]
    n_fft : int >= window length [samples]
    window : {"hamming", "hann", "rectangular"}
    center : bool
        Centred frames (librosa) or frames starting at sample 0.
    preemphasis : float in [0, 1)
    log : bool
        Magnitude (False) or natural log of the floored power (True).
    log_floor : float > 0
        Power floor when ``log=True``.

    Returns
    -------
    np.ndarray [shape=(frames, n_fft // 2 + 1), dtype=float32]
        Magnitudes [input units] or log powers; bin ``k`` is at
        ``k * sample_rate_hz / n_fft`` Hz.

    Raises
    ------
    AudioTooShortError
        If ``y`` is shorter than one window.
    FeatureError
        If ``y`` is not a 1-D float array of finite values, or the settings are
        inconsistent.
    """
    values = _stft_rows(
        y, sample_rate_hz=sample_rate_hz, win_s=win_s, hop_s=hop_s, n_fft=n_fft,
        window=window, center=center, preemphasis=preemphasis, what="linear_spectrogram",
        square=log,
    )
    return (floored_log(values, log_floor) if log else values).astype(np.float32)


def mfcc(
    y: np.ndarray,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    n_mfcc: int = 20,
    n_mels: int = 64,
    win_s: float = 0.025,
    hop_s: float = 0.010,
    n_fft: int = 512,
    window: str = "hamming",
    fmin_hz: float = 20.0,
    fmax_hz: float | None = 7600.0,
    center: bool = True,
    preemphasis: float = 0.0,
    log_floor: float = DEFAULT_LOG_FLOOR,
) -> np.ndarray:
    """Mel-frequency cepstral coefficients: the orthonormal DCT-II of :func:`log_mel`.

    The first ``n_mfcc`` coefficients of ``scipy.fft.dct(log_mel(y, ...),
    type=2, norm="ortho")`` along the mel axis, no liftering. This equals
    ``librosa.feature.mfcc(S=L, n_mfcc=n_mfcc)`` with ``L`` the natural-log mel
    spectrogram of :func:`log_mel`. (``librosa.feature.mfcc(y=...)`` uses
    decibels, ``10 / ln 10`` times these, and clips every frame to 80 dB below
    the loudest one, which makes a frame's coefficients depend on the rest of
    the utterance; there is no such clipping here.)

    Parameters
    ----------
    y : np.ndarray [shape=(samples,), dtype=float]
        Audio in [-1, 1] at ``sample_rate_hz``.
    n_mfcc : int in [1, n_mels]
        Number of coefficients kept (c0 included).
    sample_rate_hz, n_mels, win_s, hop_s, n_fft, window, fmin_hz, fmax_hz, center
        As in :func:`log_mel`.
    preemphasis, log_floor
        As in :func:`log_mel`.

    Returns
    -------
    np.ndarray [shape=(frames, n_mfcc), dtype=float32]

    Raises
    ------
    AudioTooShortError
        If ``y`` is shorter than one window.
    FeatureError
        If ``y`` is not a 1-D float array of finite values, ``n_mfcc`` is not in
        [1, n_mels], or the settings are inconsistent.
    """
    if not 1 <= n_mfcc <= n_mels:
        raise FeatureError(f"mfcc: expected 1 <= n_mfcc <= n_mels={n_mels}, got n_mfcc={n_mfcc}")
    logmel = _log_mel64(
        y, sample_rate_hz=sample_rate_hz, n_mels=n_mels, win_s=win_s, hop_s=hop_s,
        n_fft=n_fft, window=window, fmin_hz=fmin_hz, fmax_hz=fmax_hz, center=center,
        preemphasis=preemphasis, log_floor=log_floor, what="mfcc",
    )
    return (logmel @ dct_matrix(n_mels, n_mfcc)).astype(np.float32)


# ----------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------


def normalize(features: np.ndarray, *, mode: str, eps: float = NORMALIZE_EPS) -> np.ndarray:
    """Mean and variance normalisation of a feature matrix.

    ``"per_frame"``
        Each frame (row) minus its mean over the bins, divided by its standard
        deviation: the reference's normalisation at load time. Rows end with
        mean 0 and standard deviation 1.
    ``"per_utterance"``
        Each bin (column) minus its mean over time, divided by its standard
        deviation: cepstral mean and variance normalisation (CMVN), VggVox's
        per-frequency normalisation. Columns end with mean 0 and std 1.
    ``"none"``
        The features, as float32.

    Standard deviations are population ones (``ddof=0``) and divisions are by
    ``max(std, eps)``: a constant row or column (a frame of digital silence,
    whose bins all sit at the log floor) becomes zeros instead of NaN. The
    statistics are accumulated in float64 from the float32 features, so a
    constant row gives exactly 0 whatever computed it (numpy or TensorFlow).

    Parameters
    ----------
    features : np.ndarray [shape=(frames, bins)]
    mode : {"none", "per_frame", "per_utterance"}
    eps : float > 0
        Smallest standard deviation divided by (in feature units).

    Returns
    -------
    np.ndarray [shape=(frames, bins), dtype=float32]
        A new array; ``features`` is not modified.

    Raises
    ------
    FeatureError
        If the mode is unknown or ``features`` is not 2-D.
    """
    if mode not in NORMALIZE_MODES:
        raise FeatureError(f"normalize: expected mode in {list(NORMALIZE_MODES)}, got {mode!r}")
    features = np.asarray(features)
    if features.ndim != 2:
        raise FeatureError(
            f"normalize: expected features of shape (frames, bins), got shape {features.shape}"
        )
    x = features.astype(np.float32).astype(np.float64)
    if mode == "none":
        return x.astype(np.float32)
    axis = 1 if mode == "per_frame" else 0
    mean = x.mean(axis=axis, keepdims=True)
    centred = x - mean
    std = np.sqrt(np.mean(centred * centred, axis=axis, keepdims=True))
    return (centred / np.maximum(std, eps)).astype(np.float32)



# ----------------------------------------------------------------------------
# Features as a config says
# ----------------------------------------------------------------------------


def compute_features(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Features of one signal as ``config`` says, normalised by ``config.normalize``.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,), dtype=float]
        Audio in [-1, 1] at ``config.sample_rate_hz`` (not checked: the
        caller knows the rate; nothing is resampled).
    config : FeatureConfig

    Returns
    -------
    np.ndarray [shape=config.output_shape(samples), dtype=float32]
        ``(frames, bins)``; ``(299, 40)`` for 3 s with the reference config.

    Raises
    ------
    AudioTooShortError
        If ``y`` is shorter than one window (the message gives both lengths).
    FeatureError
        If ``y`` is not a 1-D float array, holds NaN or infinite values, or
        ``config`` is not a :class:`FeatureConfig`.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).uniform(-0.1, 0.1, 48000)
    >>> compute_features(y, FeatureConfig.for_kind("spectrogram")).shape
    (301, 257)
    """
    if not isinstance(config, FeatureConfig):
        raise FeatureError(
            f"compute_features: expected a FeatureConfig, got {type(config).__name__}; "
            "build one with FeatureConfig.for_kind(kind)"
        )
    c = config
    common = dict(
        sample_rate_hz=c.sample_rate_hz, win_s=c.win_s, hop_s=c.hop_s, n_fft=c.n_fft,
        window=c.window, preemphasis=c.preemphasis,
    )
    if c.kind == "reference":
        feats = _reference_logfbank64(
            y, n_mels=c.n_mels, fmin_hz=c.fmin_hz, fmax_hz=c.fmax_hz,
            input_scale=c.input_scale, log_floor=c.log_floor, **common,
        )
    else:
        if c.kind == "spectrogram":
            feats = _stft_rows(
                y, center=c.center, what="compute_features", scale=c.input_scale,
                square=c.log, **common,
            )
            if c.log:
                feats = floored_log(feats, c.log_floor)
        else:
            feats = _log_mel64(
                y, n_mels=c.n_mels, fmin_hz=c.fmin_hz, fmax_hz=c.fmax_hz, center=c.center,
                log_floor=c.log_floor, what="compute_features", scale=c.input_scale, **common,
            )
            if c.kind == "mfcc":
                feats = feats @ c.dct_matrix()
    return normalize(feats, mode=c.normalize)

