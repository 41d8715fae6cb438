"""The building blocks of the features: windows, mel filterbanks, the DCT, framing, spectra.

Everything the four kinds of :mod:`speakerlib.features.kinds` are made of, and
the numbers they share (log floors, the int16 scale). The framing rules
(``"reference"``, ``"center"``, ``"start"``) are described in
:mod:`speakerlib.features`. Matrices are cached and returned read-only; the
arithmetic is float64.
"""

from __future__ import annotations

import decimal
import functools
import math

import numpy as np

from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.errors import AudioTooShortError, FeatureError

__all__ = [
    "WINDOWS",
    "REFERENCE_LOG_FLOOR",
    "DEFAULT_LOG_FLOOR",
    "INT16_SCALE",
    "round_half_up",
    "window_function",
    "reference_mel_filterbank",
    "slaney_mel_filterbank",
    "dct_matrix",
    "check_signal",
    "check_fft_length",
    "frame_count",
    "center_left_pad",
    "frame_signal",
    "spectrum_rows",
    "floored_log",
]

#: The analysis windows :func:`window_function` builds.
WINDOWS = ("rectangular", "hamming", "hann")

#: The floor of the reference's filterbank energies (python_speech_features
#: replaces zero energies by float64's machine epsilon, 2.2e-16).
REFERENCE_LOG_FLOOR = float(np.finfo(np.float64).eps)
#: The floor of the other kinds' energies (librosa's ``amin`` in ``power_to_db``).
DEFAULT_LOG_FLOOR = 1e-10
#: The int16 scale the reference applies to float audio before its features.
INT16_SCALE = 32768.0


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
    *, sample_rate_hz: int = SAMPLE_RATE_HZ, n_fft: int = 512, n_mels: int = 40,
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
    *, sample_rate_hz: int = SAMPLE_RATE_HZ, n_fft: int = 512, n_mels: int = 64,
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
def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix: ``x @ D`` keeps the first ``n_out`` coefficients.

    Parameters
    ----------
    n_in : int > 0
        Length of the transformed axis (the mel bands).
    n_out : int in [1, n_in]
        Coefficients kept.

    Returns
    -------
    np.ndarray [shape=(n_in, n_out), dtype=float64]
        ``D[n, k] = cos(pi k (2 n + 1) / (2 n_in)) sqrt(2 / n_in)``, column 0
        divided by ``sqrt(2)``: the first columns of ``scipy.fft.dct(...,
        type=2, norm="ortho")``. Read-only (cached).
    """
    k = np.arange(n_out)[None, :]
    n = np.arange(n_in)[:, None]
    matrix = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    matrix[:, 0] /= math.sqrt(2.0)
    return _read_only(matrix)


# ----------------------------------------------------------------------------
# Input checks and framing
# ----------------------------------------------------------------------------


def check_signal(y: np.ndarray, *, win: int, what: str) -> np.ndarray:
    """Check a signal for the features and return it as float64 (a copy only when needed).

    Parameters
    ----------
    y : np.ndarray [shape=(samples,), dtype=float]
        Audio in [-1, 1].
    win : int > 0
        Window length [samples]: the shortest signal accepted.
    what : str
        The caller's name, for the messages.

    Returns
    -------
    np.ndarray [shape=(samples,), dtype=float64]

    Raises
    ------
    AudioTooShortError
        If ``y`` is shorter than one window.
    FeatureError
        If ``y`` is not 1-D, not floating-point, or holds NaN or infinite values.
    """
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


def check_fft_length(win: int, n_fft: int, what: str) -> None:
    """Raise :class:`FeatureError` (naming ``what``) unless ``n_fft >= win``."""
    if n_fft < win:
        raise FeatureError(
            f"{what}: expected n_fft >= window length ({win} samples), got n_fft={n_fft}; "
            "raise n_fft or shorten win_s"
        )


def frame_count(num_samples: int, *, win: int, hop: int, n_fft: int, rule: str) -> int:
    """Number of frames of a signal under a framing rule (see :mod:`speakerlib.features`).

    Parameters
    ----------
    num_samples : int >= win
        Length of the signal [samples].
    win, hop, n_fft : int > 0
        Window length, hop and FFT length [samples].
    rule : {"reference", "center", "start"}
        ``1 + ceil((n - win) / hop)``, ``1 + (n + 2 (n_fft // 2) - n_fft) // hop``
        or ``1 + (n - win) // hop``.

    Returns
    -------
    int
    """
    if rule == "reference":
        return 1 + max(0, -(-(num_samples - win) // hop))
    if rule == "center":
        return 1 + (num_samples + 2 * (n_fft // 2) - n_fft) // hop
    return 1 + (num_samples - win) // hop


def center_left_pad(*, win: int, n_fft: int) -> int:
    """Zeros put before the signal so that frame ``t`` is centred on sample ``t * hop``.

    ``n_fft // 2 - (n_fft - win) // 2`` [samples] (librosa pads ``n_fft // 2``
    and centres the window of ``win`` samples in each ``n_fft`` frame).
    """
    return n_fft // 2 - (n_fft - win) // 2


def frame_signal(
    y: np.ndarray, *, win: int, hop: int, n_fft: int, rule: str, scale: float = 1.0,
    preemphasis: float = 0.0,
) -> np.ndarray:
    """Frames of ``win`` samples as rows of a strided view, ``(frames, win)``.

    The signal is scaled, pre-emphasised (``x[0] = y[0]``, ``x[n] = y[n] -
    a y[n-1]``, python_speech_features' rule) and zero-padded as ``rule``
    needs, all in one new buffer; ``y`` itself is never modified.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,), dtype=float64]
        A signal checked by :func:`check_signal`.
    win, hop, n_fft : int > 0
        Window length, hop and FFT length [samples].
    rule : {"reference", "center", "start"}
        The framing rule (:func:`frame_count`).
    scale : float
        Factor applied to the signal.
    preemphasis : float in [0, 1)
        Pre-emphasis coefficient; 0 disables it.

    Returns
    -------
    np.ndarray [shape=(frame_count(...), win), dtype=float64]
        A read-only strided view (of ``y`` itself when nothing had to change).
    """
    n = y.shape[0]
    count = frame_count(n, win=win, hop=hop, n_fft=n_fft, rule=rule)
    left = center_left_pad(win=win, n_fft=n_fft) if rule == "center" else 0
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


def spectrum_rows(
    frames: np.ndarray, *, window: str, n_fft: int, square: bool,
    filterbank: np.ndarray | None = None,
) -> np.ndarray:
    """Spectra of frames: ``|rfft(frame * window, n_fft)|``, squared if asked.

    Parameters
    ----------
    frames : np.ndarray [shape=(frames, win), dtype=float64]
        From :func:`frame_signal`.
    window : {"rectangular", "hamming", "hann"}
        Analysis window (:func:`window_function`).
    n_fft : int >= win
        FFT length; each frame is zero-padded to it.
    square : bool
        Powers (True) or magnitudes (False).
    filterbank : np.ndarray [shape=(n_filters, n_fft // 2 + 1)] or None
        When given, the spectra are multiplied by its transpose.

    Returns
    -------
    np.ndarray [shape=(frames, n_fft // 2 + 1) or (frames, n_filters), dtype=float64]
        Magnitudes or powers, or filterbank energies.
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


def floored_log(values: np.ndarray, floor: float) -> np.ndarray:
    """``ln(max(values, floor))``, in place (``values`` is overwritten and returned)."""
    np.maximum(values, floor, out=values)
    return np.log(values, out=values)
