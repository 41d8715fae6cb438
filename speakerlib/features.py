"""Acoustic features: log mel filterbanks, spectrograms and MFCCs, in numpy.

Four kinds of features, each a pure function of a 1-D float signal:

=============== ============================= ===================================== ====
kind            function                      what                                  bins
=============== ============================= ===================================== ====
``reference``   :func:`reference_logfbank`    the seed's features (the defaults of  40
                                              ``python_speech_features.logfbank``)
``logmel``      :func:`log_mel`               log mel energies, librosa's way       64
``spectrogram`` :func:`linear_spectrogram`    VggVox's linear magnitude spectrogram 257
``mfcc``        :func:`mfcc`                  orthonormal DCT-II of the log-mel     20
=============== ============================= ===================================== ====

:class:`FeatureConfig` gathers every setting of one kind (with the kind's
defaults), :func:`compute_features` turns a signal and a config into a
``float32`` array of shape ``(frames, bins)`` and applies the config's
:func:`normalize` mode.

Conventions shared by every function here:

* the signal is a float array in [-1, 1] at ``sample_rate_hz``; nothing is
  ever resampled;
* the arithmetic is done in float64 and the result returned as float32;
* frames are rows: the output is ``(frames, bins)``, time first;
* "log" is the natural logarithm of an energy floored at ``log_floor``;
* window and hop lengths in samples are ``round_half_up(win_s *
  sample_rate_hz)`` and ``round_half_up(hop_s * sample_rate_hz)`` (400 and 160
  at 16 kHz).

Framing. Three rules are used:

``reference`` (python_speech_features)
    Frames of ``win`` samples start at ``0, hop, 2 hop, ...``; there are
    ``1 + ceil((n - win) / hop)`` of them and the last one is completed with
    zeros. 3 s at 16 kHz gives 299 frames.
``center=True`` (librosa's default, used by the other kinds)
    Frame ``t`` is the window of ``win`` samples centred on sample ``t * hop``
    (``n_fft // 2 - (n_fft - win) // 2`` zeros are added before the signal and
    as many as needed after it); there are
    ``1 + (n + 2 * (n_fft // 2) - n_fft) // hop`` frames (``1 + n // hop`` for
    an even ``n_fft``): 3 s at 16 kHz gives 301 frames. This is exactly
    ``librosa.stft(..., center=True, pad_mode="constant")``.
``center=False`` (the other kinds, on request)
    Frames of ``win`` samples start at ``0, hop, ...`` and the incomplete tail
    is dropped: ``1 + (n - win) // hop`` frames, 298 for 3 s (the
    ``tf.signal.stft`` and Kaldi ``snip-edges`` convention). Note that this
    differs from ``librosa.stft(center=False)``, which frames ``n_fft``
    samples and centres the window in them.
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
import math
from dataclasses import dataclass

import numpy as np

from speakerlib.errors import AudioTooShortError, FeatureError

__all__ = [
    "FEATURE_KINDS",
    "NORMALIZE_MODES",
    "WINDOWS",
    "FeatureConfig",
    "compute_features",
    "reference_logfbank",
    "log_mel",
    "linear_spectrogram",
    "mfcc",
    "normalize",
    "reference_mel_filterbank",
    "slaney_mel_filterbank",
    "window_function",
    "round_half_up",
]

#: The kinds of features :class:`FeatureConfig` knows.
FEATURE_KINDS = ("reference", "logmel", "spectrogram", "mfcc")
#: The modes of :func:`normalize`.
NORMALIZE_MODES = ("none", "per_frame", "per_utterance")
#: The analysis windows :func:`window_function` builds.
WINDOWS = ("rectangular", "hamming", "hann")

#: The floor of the reference's filterbank energies (python_speech_features
#: replaces zero energies by float64's machine epsilon, 2.2e-16).
REFERENCE_LOG_FLOOR = float(np.finfo(np.float64).eps)
#: The floor of the other kinds' energies (librosa's ``amin`` in ``power_to_db``).
DEFAULT_LOG_FLOOR = 1e-10
#: The int16 scale the reference applies to float audio before its features.
INT16_SCALE = 32768.0
#: The smallest standard deviation :func:`normalize` divides by.
NORMALIZE_EPS = 1e-12


# ----------------------------------------------------------------------------
# Small building blocks
# ----------------------------------------------------------------------------


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves away from zero, as python_speech_features does.

    The value is taken exactly as the float it is (``0.025 * 16000`` is
    ``400.00000000000006``, which gives 400).

    Parameters
    ----------
    value : float

    Returns
    -------
    int
    """
    return int(decimal.Decimal(value).to_integral_value(rounding=decimal.ROUND_HALF_UP))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=32)
def window_function(name: str, length: int) -> np.ndarray:
    """An analysis window, periodic (DFT-even) as librosa and ``tf.signal`` make them.

    Parameters
    ----------
    name : {"rectangular", "hamming", "hann"}
        ``hamming`` is ``0.54 - 0.46 cos(2 pi k / length)`` and ``hann``
        ``0.5 - 0.5 cos(2 pi k / length)``, ``k = 0 .. length - 1`` (what
        ``scipy.signal.get_window(name, length)`` returns).
    length : int > 0
        Window length [samples].

    Returns
    -------
    np.ndarray [shape=(length,), dtype=float64]
        Read-only (the array is cached and shared).

    Raises
    ------
    FeatureError
        If the name is unknown or the length not positive.
    """
    if name not in WINDOWS:
        raise FeatureError(f"window: expected one of {list(WINDOWS)}, got {name!r}")
    if length < 1:
        raise FeatureError(f"window length: expected at least 1 sample, got {length}")
    phase = 2.0 * np.pi * np.arange(length) / length
    if name == "rectangular":
        window = np.ones(length)
    elif name == "hamming":
        window = 0.54 - 0.46 * np.cos(phase)
    else:
        window = 0.5 - 0.5 * np.cos(phase)
    return _read_only(window)


def _hz_to_mel_htk(hz: np.ndarray) -> np.ndarray:
    """python_speech_features' (HTK's) mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz_htk(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


# Slaney's mel scale (the Auditory Toolbox's, librosa's default): linear below
# 1 kHz at 200/3 Hz per mel (so 1 kHz is mel 15), logarithmic above it with
# 27 mel per factor 6.4 in frequency.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _SLANEY_HZ_PER_MEL
    with np.errstate(divide="ignore"):
        logarithmic = _SLANEY_BREAK_MEL + np.log(hz / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return np.where(hz >= _SLANEY_BREAK_HZ, logarithmic, linear)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _SLANEY_HZ_PER_MEL
    logarithmic = _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * (mel - _SLANEY_BREAK_MEL))
    return np.where(mel >= _SLANEY_BREAK_MEL, logarithmic, linear)


def _check_band(sample_rate_hz: int, fmin_hz: float, fmax_hz: float) -> None:
    if not 0.0 <= fmin_hz < fmax_hz <= sample_rate_hz / 2:
        raise FeatureError(
            f"mel band: expected 0 <= fmin_hz < fmax_hz <= sample_rate_hz / 2 = "
            f"{sample_rate_hz / 2:g} Hz, got fmin_hz={fmin_hz:g}, fmax_hz={fmax_hz:g}"
        )


def _check_no_empty_filter(weights: np.ndarray, what: str) -> None:
    empty = np.flatnonzero(~(weights > 0).any(axis=1))
    if empty.size:
        raise FeatureError(
            f"{what}: mel filters {empty.tolist()} cover no FFT bin; use fewer mel "
            f"bands, a larger n_fft, or a wider frequency range"
        )


@functools.lru_cache(maxsize=32)
def reference_mel_filterbank(
    *, sample_rate_hz: int = 16000, n_fft: int = 512, n_mels: int = 40,
    fmin_hz: float = 0.0, fmax_hz: float | None = None,
) -> np.ndarray:
    """python_speech_features' triangular mel filterbank (``get_filterbanks``).

    ``n_mels + 2`` points evenly spaced on the HTK mel scale
    ``2595 log10(1 + f / 700)`` between ``fmin_hz`` and ``fmax_hz`` are mapped
    to FFT bins ``b = floor((n_fft + 1) f / sample_rate_hz)``; filter ``j`` rises
    linearly from 0 at bin ``b[j]`` to 1 at ``b[j+1]`` and falls back to 0 at
    ``b[j+2]`` (that last bin excluded). Filters have peak 1, not unit area.

    Parameters
    ----------
    sample_rate_hz : int > 0 [Hz]
    n_fft : int > 0
        FFT length [samples]; the filters span its ``n_fft // 2 + 1`` bins.
    n_mels : int > 0
        Number of filters.
    fmin_hz, fmax_hz : float [Hz]
        Band edges; ``fmax_hz=None`` means ``sample_rate_hz / 2``.

    Returns
    -------
    np.ndarray [shape=(n_mels, n_fft // 2 + 1), dtype=float64]
        One filter per row. Read-only (cached).

    Raises
    ------
    FeatureError
        If the band is not inside [0, sample_rate_hz / 2] or a filter covers no bin.
    """
    fmax_hz = sample_rate_hz / 2 if fmax_hz is None else float(fmax_hz)
    _check_band(sample_rate_hz, float(fmin_hz), fmax_hz)
    mels = np.linspace(_hz_to_mel_htk(fmin_hz), _hz_to_mel_htk(fmax_hz), n_mels + 2)
    edges = np.floor((n_fft + 1) * _mel_to_hz_htk(mels) / sample_rate_hz)
    lower, peak, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bins = np.arange(n_fft // 2 + 1, dtype=np.float64)[None, :]
    rising = (bins >= lower) & (bins < peak)
    falling = (bins >= peak) & (bins < upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(rising, (bins - lower) / (peak - lower), 0.0)
        weights = np.where(falling, (upper - bins) / (upper - peak), weights)
    _check_no_empty_filter(weights, "reference_mel_filterbank")
    return _read_only(weights)


@functools.lru_cache(maxsize=32)
def slaney_mel_filterbank(
    *, sample_rate_hz: int = 16000, n_fft: int = 512, n_mels: int = 64,
    fmin_hz: float = 20.0, fmax_hz: float | None = 7600.0,
) -> np.ndarray:
    """librosa's default mel filterbank (Slaney's scale, Slaney's area normalisation).

    ``n_mels + 2`` points ``f[0..n_mels+1]`` evenly spaced on Slaney's mel
    scale (linear below 1 kHz, logarithmic above) between ``fmin_hz`` and
    ``fmax_hz``; filter ``j`` is the triangle through ``f[j]``, ``f[j+1]``,
    ``f[j+2]`` evaluated at the FFT bin frequencies ``k * sample_rate_hz /
    n_fft`` and scaled by ``2 / (f[j+2] - f[j])`` (constant energy per
    filter). Equal to ``librosa.filters.mel(sr=..., n_fft=..., n_mels=...,
    fmin=..., fmax=...)`` (which returns float32) to float32 precision.

    Parameters
    ----------
    sample_rate_hz : int > 0 [Hz]
    n_fft : int > 0
        FFT length [samples].
    n_mels : int > 0
        Number of filters.
    fmin_hz, fmax_hz : float [Hz]
        Band edges; ``fmax_hz=None`` means ``sample_rate_hz / 2``.

    Returns
    -------
    np.ndarray [shape=(n_mels, n_fft // 2 + 1), dtype=float64]
        One filter per row [1/Hz]. Read-only (cached).

    Raises
    ------
    FeatureError
        If the band is not inside [0, sample_rate_hz / 2] or a filter covers no bin.
    """
    fmax_hz = sample_rate_hz / 2 if fmax_hz is None else float(fmax_hz)
    _check_band(sample_rate_hz, float(fmin_hz), fmax_hz)
    mels = np.linspace(_hz_to_mel_slaney(fmin_hz), _hz_to_mel_slaney(fmax_hz), n_mels + 2)
    corners = _mel_to_hz_slaney(mels)
    bin_hz = np.arange(n_fft // 2 + 1) * (sample_rate_hz / n_fft)
    widths = np.diff(corners)
    # Distance of each bin from each corner, then the two slopes of each triangle.
    offsets = corners[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (corners[2:] - corners[:-2]))[:, None]
    _check_no_empty_filter(weights, "slaney_mel_filterbank")
    return _read_only(weights)


@functools.lru_cache(maxsize=8)
def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix: ``x @ D`` keeps the first ``n_out`` coefficients."""
    k = np.arange(n_out)[None, :]
    n = np.arange(n_in)[:, None]
    matrix = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    matrix[:, 0] /= math.sqrt(2.0)
    return _read_only(matrix)


# ----------------------------------------------------------------------------
# Input checks and framing
# ----------------------------------------------------------------------------


def _as_signal(y: np.ndarray, *, win: int, what: str) -> np.ndarray:
    """Check a signal and return it as float64 (a copy only when needed)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise FeatureError(
            f"{what}: expected a 1-D signal of shape (samples,), got shape {y.shape}; "
            "pass one channel (for example y.mean(axis=-1) or y[:, 0])"
        )
    if not np.issubdtype(y.dtype, np.floating):
        raise FeatureError(
            f"{what}: expected float samples in [-1, 1], got dtype {y.dtype}; "
            "convert integer PCM first (for int16: y / 32768)"
        )
    if y.shape[0] < win:
        raise AudioTooShortError(
            f"{what}: expected at least one analysis window of {win} samples, "
            f"got {y.shape[0]} samples; pad the audio (speakerlib pads to a fixed "
            "length before features) or use a shorter window"
        )
    y = y.astype(np.float64, copy=False)
    if not np.isfinite(y).all():
        bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
        raise FeatureError(
            f"{what}: expected finite samples, found {bad} NaN or infinite value(s) "
            f"(first at index {int(np.flatnonzero(~np.isfinite(y))[0])}); "
            "the audio is corrupted or a previous step divided by zero"
        )
    return y


def _num_frames(num_samples: int, *, win: int, hop: int, n_fft: int, rule: str) -> int:
    if rule == "reference":
        return 1 + max(0, -(-(num_samples - win) // hop))
    if rule == "center":
        return 1 + (num_samples + 2 * (n_fft // 2) - n_fft) // hop
    return 1 + (num_samples - win) // hop


def _center_left_pad(*, win: int, n_fft: int) -> int:
    """Zeros before the signal so that frame ``t`` is centred on sample ``t * hop``."""
    return n_fft // 2 - (n_fft - win) // 2


def _frames(
    y: np.ndarray, *, win: int, hop: int, n_fft: int, rule: str, scale: float = 1.0,
    preemphasis: float = 0.0,
) -> np.ndarray:
    """Frames of ``win`` samples as rows of a strided view, ``(frames, win)``.

    The signal is scaled, pre-emphasised (``x[0] = y[0]``, ``x[n] = y[n] -
    a y[n-1]``, python_speech_features' rule) and zero-padded as ``rule``
    needs, all in one new buffer; ``y`` itself is never modified.
    """
    n = y.shape[0]
    count = _num_frames(n, win=win, hop=hop, n_fft=n_fft, rule=rule)
    left = _center_left_pad(win=win, n_fft=n_fft) if rule == "center" else 0
    right = max(0, (count - 1) * hop + win - left - n)
    if left or right or preemphasis or scale != 1.0:
        x = np.zeros(left + n + right)
        body = x[left:left + n]
        if preemphasis:
            body[0] = y[0]
            np.multiply(y[:-1], -preemphasis, out=body[1:])
            body[1:] += y[1:]
        else:
            body[:] = y
        if scale != 1.0:
            body *= scale
    else:
        x = y
    view = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    return view[:count]


# Frames go through the FFT in blocks whose temporaries stay under 128 KiB:
# glibc serves larger allocations with fresh memory maps, whose page faults
# cost more than the FFT itself (measured here: 3 ms instead of 1.4 ms for a
# 3 s log-mel). librosa's stft blocks its work for the same reason.
_BLOCK_BYTES = 2**17


def _spectrum_rows(
    frames: np.ndarray, *, window: str, n_fft: int, square: bool,
    filterbank: np.ndarray | None = None,
) -> np.ndarray:
    """Spectra of frames: ``|rfft(frame * window, n_fft)|``, squared if asked.

    Returns ``(frames, n_fft // 2 + 1)`` magnitudes or powers, or
    ``(frames, n_filters)`` filterbank energies when ``filterbank`` is given.
    """
    count = frames.shape[0]
    width = n_fft // 2 + 1 if filterbank is None else filterbank.shape[0]
    out = np.empty((count, width))
    taper = None if window == "rectangular" else window_function(window, frames.shape[1])
    block = max(1, _BLOCK_BYTES // (16 * (n_fft // 2 + 1)))
    for start in range(0, count, block):
        chunk = frames[start:start + block]
        if taper is not None:
            chunk = chunk * taper
        # np.abs of the complex spectrum is one contiguous loop; squaring the
        # strided .real and .imag views is several times slower.
        magnitude = np.abs(np.fft.rfft(chunk, n=n_fft, axis=-1))
        if square:
            np.multiply(magnitude, magnitude, out=magnitude)
        if filterbank is None:
            out[start:start + block] = magnitude
        else:
            np.matmul(magnitude, filterbank.T, out=out[start:start + block])
    return out


def _floored_log(values: np.ndarray, floor: float) -> np.ndarray:
    """``ln(max(values, floor))``, in place."""
    np.maximum(values, floor, out=values)
    return np.log(values, out=values)


def _check_fft(win: int, n_fft: int, what: str) -> None:
    if n_fft < win:
        raise FeatureError(
            f"{what}: expected n_fft >= window length ({win} samples), got n_fft={n_fft}; "
            "raise n_fft or shorten win_s"
        )


# ----------------------------------------------------------------------------
# The four kinds of features
# ----------------------------------------------------------------------------


def _reference_logfbank64(
    y, *, sample_rate_hz, win_s, hop_s, n_fft, n_mels, fmin_hz, fmax_hz, preemphasis,
    window, input_scale, log_floor,
) -> np.ndarray:
    win, hop = round_half_up(win_s * sample_rate_hz), round_half_up(hop_s * sample_rate_hz)
    _check_fft(win, n_fft, "reference_logfbank")
    y = _as_signal(y, win=win, what="reference_logfbank")
    fb = reference_mel_filterbank(
        sample_rate_hz=sample_rate_hz, n_fft=n_fft, n_mels=n_mels, fmin_hz=fmin_hz,
        fmax_hz=fmax_hz,
    )
    frames = _frames(
        y, win=win, hop=hop, n_fft=n_fft, rule="reference", scale=input_scale,
        preemphasis=preemphasis,
    )
    energies = _spectrum_rows(frames, window=window, n_fft=n_fft, square=True, filterbank=fb)
    # The 1 / n_fft of the power spectrum, folded into the floor: ln(max(E / N, f)).
    return _floored_log(energies, log_floor * n_fft) - math.log(n_fft)


def reference_logfbank(
    y: np.ndarray,
    *,
    sample_rate_hz: int = 16000,
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
       of them, the last one completed with zeros (see the module notes);
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
    """Checks, frames and :func:`_spectrum_rows` for the centred/uncentred kinds."""
    win, hop = round_half_up(win_s * sample_rate_hz), round_half_up(hop_s * sample_rate_hz)
    _check_fft(win, n_fft, what)
    y = _as_signal(y, win=win, what=what)
    frames = _frames(
        y, win=win, hop=hop, n_fft=n_fft, rule="center" if center else "start",
        preemphasis=preemphasis, scale=scale,
    )
    return _spectrum_rows(
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
    return _floored_log(energies, log_floor)


def log_mel(
    y: np.ndarray,
    *,
    sample_rate_hz: int = 16000,
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
        Centred frames (librosa) or frames starting at sample 0 (see the
        module notes).
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
    sample_rate_hz: int = 16000,
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
    return (_floored_log(values, log_floor) if log else values).astype(np.float32)


def mfcc(
    y: np.ndarray,
    *,
    sample_rate_hz: int = 16000,
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
    return (logmel @ _dct_matrix(n_mels, n_mfcc)).astype(np.float32)


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
# Configuration
# ----------------------------------------------------------------------------

_KIND_DEFAULTS: dict[str, dict[str, object]] = {
    "reference": dict(
        n_mels=40, fmin_hz=0.0, fmax_hz=None, preemphasis=0.97, window="rectangular",
        center=False, input_scale=INT16_SCALE, log=True, log_floor=REFERENCE_LOG_FLOOR,
        normalize="per_frame",
    ),
    "logmel": dict(
        n_mels=64, fmin_hz=20.0, fmax_hz=7600.0, preemphasis=0.0, window="hamming",
        center=True, input_scale=1.0, log=True, log_floor=DEFAULT_LOG_FLOOR,
        normalize="per_utterance",
    ),
    "spectrogram": dict(
        n_mels=None, fmin_hz=0.0, fmax_hz=None, preemphasis=0.0, window="hamming",
        center=True, input_scale=1.0, log=False, log_floor=DEFAULT_LOG_FLOOR,
        normalize="per_utterance",
    ),
    "mfcc": dict(
        n_mels=64, fmin_hz=20.0, fmax_hz=7600.0, preemphasis=0.0, window="hamming",
        center=True, input_scale=1.0, log=True, log_floor=DEFAULT_LOG_FLOOR,
        normalize="per_utterance",
    ),
}


def _unknown_kind(kind: object) -> KeyError:
    return KeyError(f"unknown feature kind {kind!r}; valid kinds: {', '.join(FEATURE_KINDS)}")


@dataclass(frozen=True)
class FeatureConfig:
    """Every setting of one kind of features, with that kind's defaults.

    A field left at ``None`` takes the kind's default when the config is made
    (so ``FeatureConfig(kind="logmel")`` is the usual 64-band log-mel); after
    construction every field holds its actual value, and ``fmax_hz`` is a
    number. Make variants with ``dataclasses.replace``; note that replacing
    only ``kind`` keeps the other (already resolved) values.

    ============== =========== =========== ============= ===========
    field          reference   logmel      spectrogram   mfcc
    ============== =========== =========== ============= ===========
    n_mels         40          64          (unused)      64
    n_mfcc         (unused)    (unused)    (unused)      20
    fmin_hz        0           20          (unused)      20
    fmax_hz        8000        7600        (unused)      7600
    preemphasis    0.97        0           0             0
    window         rectangular hamming     hamming       hamming
    center         False       True        True          True
    input_scale    32768       1           1             1
    log            True        True        False         True
    log_floor      2.2e-16     1e-10       1e-10         1e-10
    normalize      per_frame   per_utter.  per_utter.    per_utter.
    ============== =========== =========== ============= ===========

    (``fmax_hz`` 8000 is ``sample_rate_hz / 2``.) Common to all kinds:
    ``sample_rate_hz=16000``, ``win_s=0.025``, ``hop_s=0.010``, ``n_fft=512``.
    The reference's ``per_frame`` normalisation is the one its data loader
    applies; its saved features were not normalised.

    Attributes
    ----------
    kind : {"reference", "logmel", "spectrogram", "mfcc"}
    sample_rate_hz : int > 0 [Hz]
        Rate the audio must already have (nothing is resampled).
    win_s, hop_s : float > 0 [s]
        Window length and hop.
    n_fft : int >= window length [samples]
    n_mels : int > 0
        Mel bands (reference, logmel, mfcc).
    n_mfcc : int in [1, n_mels]
        Cepstral coefficients kept (mfcc).
    fmin_hz, fmax_hz : float [Hz]
        Mel filterbank band, ``0 <= fmin_hz < fmax_hz <= sample_rate_hz / 2``.
    preemphasis : float in [0, 1)
    window : {"rectangular", "hamming", "hann"}
    center : bool
        Centred frames (librosa) or frames from sample 0; must be False for
        the reference, whose framing rule has no centring.
    input_scale : float > 0
        Factor applied to the signal first (32768 for the reference).
    log : bool
        Log power or magnitude; only the spectrogram may be linear.
    log_floor : float > 0
        Energy floor before the log.
    normalize : {"none", "per_frame", "per_utterance"}
        Applied by :func:`compute_features` (see :func:`normalize`).

    Raises
    ------
    KeyError
        If ``kind`` is unknown (the message lists the valid kinds).
    FeatureError
        If any other value is out of range or the combination is inconsistent.

    Examples
    --------
    >>> FeatureConfig().output_shape(48000)
    (299, 40)
    >>> FeatureConfig.for_kind("logmel", n_mels=80).output_shape(48000)
    (301, 80)
    """

    kind: str = "reference"
    sample_rate_hz: int = 16000
    win_s: float = 0.025
    hop_s: float = 0.010
    n_fft: int = 512
    n_mels: int | None = None
    n_mfcc: int = 20
    fmin_hz: float | None = None
    fmax_hz: float | None = None
    preemphasis: float | None = None
    window: str | None = None
    center: bool | None = None
    input_scale: float | None = None
    log: bool | None = None
    log_floor: float | None = None
    normalize: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise _unknown_kind(self.kind)
        for name, value in _KIND_DEFAULTS[self.kind].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.fmax_hz is None:
            object.__setattr__(self, "fmax_hz", self.sample_rate_hz / 2)
        self._validate()

    def _validate(self) -> None:
        def bad(field: str, expected: str) -> FeatureError:
            return FeatureError(
                f"FeatureConfig({self.kind!r}).{field}: expected {expected}, "
                f"got {getattr(self, field)!r}"
            )

        def is_int(value: object) -> bool:
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

        if not is_int(self.sample_rate_hz) or self.sample_rate_hz <= 0:
            raise bad("sample_rate_hz", "a positive integer [Hz]")
        for field in ("win_s", "hop_s"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise bad(field, "a positive duration [s]")
        if self.hop_samples < 1:
            raise bad("hop_s", f"at least one sample (1 / {self.sample_rate_hz} s)")
        if not is_int(self.n_fft) or self.n_fft < self.win_samples:
            raise bad("n_fft", f"an integer >= the window length ({self.win_samples} samples)")
        if self.kind != "spectrogram" and (not is_int(self.n_mels) or self.n_mels < 1):
            raise bad("n_mels", "a positive integer")
        if self.kind == "mfcc" and (not is_int(self.n_mfcc) or not 1 <= self.n_mfcc <= self.n_mels):
            raise bad("n_mfcc", f"an integer in [1, n_mels={self.n_mels}]")
        if not 0.0 <= self.preemphasis < 1.0:
            raise bad("preemphasis", "a coefficient in [0, 1)")
        if self.window not in WINDOWS:
            raise bad("window", f"one of {list(WINDOWS)}")
        if not isinstance(self.center, bool):
            raise bad("center", "True or False")
        if self.kind == "reference" and self.center:
            raise bad(
                "center",
                "False (the reference frames from sample 0, python_speech_features' rule)",
            )
        if not isinstance(self.log, bool):
            raise bad("log", "True or False")
        if self.kind != "spectrogram" and not self.log:
            raise bad("log", "True (only the 'spectrogram' kind can be linear)")
        if not self.input_scale > 0 or not math.isfinite(self.input_scale):
            raise bad("input_scale", "a positive factor")
        if not self.log_floor > 0:
            raise bad("log_floor", "a positive energy floor")
        if self.normalize not in NORMALIZE_MODES:
            raise bad("normalize", f"one of {list(NORMALIZE_MODES)}")
        if self.kind != "spectrogram":
            # Builds (and caches) the filterbank: checks the band and empty filters.
            self.mel_filterbank()

    @classmethod
    def for_kind(cls, kind: str, **overrides: object) -> FeatureConfig:
        """The config of ``kind`` with its defaults, some overridden.

        Parameters
        ----------
        kind : {"reference", "logmel", "spectrogram", "mfcc"}
        **overrides
            Any other field.

        Raises
        ------
        KeyError
            If the kind is unknown (the message lists the valid kinds).
        FeatureError
            If an override is invalid.
        """
        if kind not in FEATURE_KINDS:
            raise _unknown_kind(kind)
        return cls(kind=kind, **overrides)

    @classmethod
    def from_dict(cls, values: dict) -> FeatureConfig:
        """Inverse of :meth:`to_dict` (for JSON files and Keras configs)."""
        return cls(**values)

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @property
    def win_samples(self) -> int:
        """Window length [samples]: ``round_half_up(win_s * sample_rate_hz)``."""
        return round_half_up(self.win_s * self.sample_rate_hz)

    @property
    def hop_samples(self) -> int:
        """Hop [samples]: ``round_half_up(hop_s * sample_rate_hz)``."""
        return round_half_up(self.hop_s * self.sample_rate_hz)

    @property
    def framing(self) -> str:
        """``"reference"``, ``"center"`` or ``"start"``: the framing rule (module notes)."""
        if self.kind == "reference":
            return "reference"
        return "center" if self.center else "start"

    @property
    def num_bins(self) -> int:
        """Feature dimension: mel bands, FFT bins or cepstral coefficients."""
        if self.kind == "spectrogram":
            return self.n_fft // 2 + 1
        if self.kind == "mfcc":
            return self.n_mfcc
        return self.n_mels

    def num_frames(self, num_samples: int) -> int:
        """Number of frames for ``num_samples`` samples.

        Raises
        ------
        AudioTooShortError
            If ``num_samples`` is shorter than one window.
        """
        if num_samples < self.win_samples:
            raise AudioTooShortError(
                f"expected at least one analysis window of {self.win_samples} samples "
                f"({self.win_s * 1000:g} ms at {self.sample_rate_hz} Hz), got {num_samples} "
                "samples; pad the audio or use a shorter window"
            )
        return _num_frames(
            num_samples, win=self.win_samples, hop=self.hop_samples, n_fft=self.n_fft,
            rule=self.framing,
        )

    def output_shape(self, num_samples: int) -> tuple[int, int]:
        """``(frames, bins)`` of :func:`compute_features` for ``num_samples`` samples.

        Raises
        ------
        AudioTooShortError
            If ``num_samples`` is shorter than one window.
        """
        return self.num_frames(num_samples), self.num_bins

    def center_left_pad(self) -> int:
        """Zeros put before the signal by the centred framing [samples]; 0 otherwise."""
        if self.framing != "center":
            return 0
        return _center_left_pad(win=self.win_samples, n_fft=self.n_fft)

    def mel_filterbank(self) -> np.ndarray:
        """This kind's mel filterbank, ``(n_mels, n_fft // 2 + 1)`` float64, read-only.

        python_speech_features' for the reference, librosa's (Slaney) for
        logmel and mfcc.

        Raises
        ------
        FeatureError
            For the spectrogram kind, which has none.
        """
        if self.kind == "spectrogram":
            raise FeatureError("FeatureConfig('spectrogram') has no mel filterbank")
        build = reference_mel_filterbank if self.kind == "reference" else slaney_mel_filterbank
        return build(
            sample_rate_hz=int(self.sample_rate_hz), n_fft=int(self.n_fft),
            n_mels=int(self.n_mels), fmin_hz=float(self.fmin_hz), fmax_hz=float(self.fmax_hz),
        )

    def dct_matrix(self) -> np.ndarray:
        """Orthonormal DCT-II, ``(n_mels, n_mfcc)`` float64 (``log_mel @ D`` gives MFCCs)."""
        return _dct_matrix(int(self.n_mels), int(self.n_mfcc))


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
                feats = _floored_log(feats, c.log_floor)
        else:
            feats = _log_mel64(
                y, n_mels=c.n_mels, fmin_hz=c.fmin_hz, fmax_hz=c.fmax_hz, center=c.center,
                log_floor=c.log_floor, what="compute_features", scale=c.input_scale, **common,
            )
            if c.kind == "mfcc":
                feats = feats @ c.dct_matrix()
    return normalize(feats, mode=c.normalize)
