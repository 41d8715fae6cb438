"""Signal-processing helpers of the synthesiser (pure functions).

Smoothing, the glottal pulse, the responses of the vocal tract's resonators
and antiresonance, the channel's equaliser biquads, and the short-time
Fourier transform pair the filtering is done in.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "moving_average",
    "smooth",
    "rosenberg_pulse",
    "cascade_response",
    "antiresonance_response",
    "peaking_sos",
    "high_shelf_sos",
    "energy",
    "stft",
    "istft",
    "load_librosa",
]


def moving_average(x: np.ndarray, width: int, *, pad_mode: str = "edge") -> np.ndarray:
    """Centred moving average over ``width`` samples along axis 0 (same length)."""
    if width <= 1:
        return x
    before = width // 2
    after = width - 1 - before
    pad = [(before, after)] + [(0, 0)] * (x.ndim - 1)
    padded = np.pad(x, pad, mode=pad_mode)
    csum = np.cumsum(padded, axis=0)
    csum = np.concatenate([np.zeros((1,) + x.shape[1:]), csum], axis=0)
    return (csum[width:] - csum[:-width]) / width


def smooth(x: np.ndarray, width: int, *, pad_mode: str = "edge") -> np.ndarray:
    """Two passes of a moving average: a triangular smoother ``2 * width`` wide."""
    return moving_average(moving_average(x, width, pad_mode=pad_mode), width, pad_mode=pad_mode)


def rosenberg_pulse(phase: np.ndarray, *, open_quotient: float, speed_quotient: float) -> np.ndarray:
    """Glottal flow of Rosenberg's pulse at positions ``phase`` in [0, 1) of the period.

    The flow rises as half a cosine for ``open_quotient * sq / (1 + sq)`` of
    the period, falls as a quarter cosine for ``open_quotient / (1 + sq)``
    and is zero (glottis closed) for the rest. Peak 1.
    """
    rise = open_quotient * speed_quotient / (1.0 + speed_quotient)
    fall = open_quotient / (1.0 + speed_quotient)
    opening = 0.5 * (1.0 - np.cos(np.pi * phase / rise))
    closing = np.cos(0.5 * np.pi * (phase - rise) / fall)
    return np.where(phase < rise, opening, np.where(phase < open_quotient, closing, 0.0))


def cascade_response(freqs_hz: np.ndarray, bandwidths_hz: np.ndarray, *, n_fft: int,
                      sample_rate_hz: int) -> np.ndarray:
    """Frequency response of a cascade of two-pole resonators, frame by frame.

    Parameters
    ----------
    freqs_hz, bandwidths_hz : np.ndarray [shape=(frames, k), Hz]
        Centre frequency and bandwidth of each resonator in each frame.
    n_fft : int
        FFT size; the response is returned at its ``n_fft // 2 + 1`` bins.

    Returns
    -------
    np.ndarray [shape=(frames, n_fft // 2 + 1), dtype=complex128]
        ``prod_k (1 - c_k + r_k^2) / (1 - c_k z^-1 + r_k^2 z^-2)`` with
        ``r = exp(-pi B / fs)``, ``c = 2 r cos(2 pi F / fs)``: unit gain at 0 Hz.
        The denominators are multiplied into one polynomial per frame and
        evaluated with one real FFT.
    """
    r = np.exp(-np.pi * bandwidths_hz / sample_rate_hz)
    c = 2.0 * r * np.cos(2.0 * np.pi * freqs_hz / sample_rate_hz)
    frames, k = freqs_hz.shape
    denominator = np.zeros((frames, 2 * k + 1))
    denominator[:, 0] = 1.0
    for j in range(k):  # multiply in (1 - c z^-1 + r^2 z^-2), all frames at once
        prev = denominator.copy()
        denominator[:, 1:] -= c[:, j : j + 1] * prev[:, :-1]
        denominator[:, 2:] += (r[:, j : j + 1] ** 2) * prev[:, :-2]
    gain = np.prod(1.0 - c + r * r, axis=1)
    return gain[:, None] / np.fft.rfft(denominator, n=n_fft, axis=1)


def antiresonance_response(freq_hz: float, bandwidth_hz: float, *, n_fft: int,
                            sample_rate_hz: int) -> np.ndarray:
    """Response of a two-zero antiresonance, unit gain at 0 Hz, at the ``n_fft // 2 + 1`` bins."""
    r = math.exp(-math.pi * bandwidth_hz / sample_rate_hz)
    c = 2.0 * r * math.cos(2.0 * math.pi * freq_hz / sample_rate_hz)
    return np.fft.rfft(np.array([1.0, -c, r * r]), n=n_fft) / (1.0 - c + r * r)


def peaking_sos(freq_hz: float, gain_db: float, q: float, sample_rate_hz: int) -> np.ndarray:
    """Peaking equaliser biquad (Audio EQ Cookbook), as one second-order section."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate_hz
    alpha = np.sin(w0) / (2.0 * q)
    b = np.array([1.0 + alpha * amp, -2.0 * np.cos(w0), 1.0 - alpha * amp])
    a = np.array([1.0 + alpha / amp, -2.0 * np.cos(w0), 1.0 - alpha / amp])
    return np.concatenate([b / a[0], a / a[0]])[None, :]


def high_shelf_sos(freq_hz: float, gain_db: float, sample_rate_hz: int) -> np.ndarray:
    """High-shelf biquad (Audio EQ Cookbook, shelf slope 1), one second-order section."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate_hz
    cos_w0 = np.cos(w0)
    two_sqrt_a_alpha = 2.0 * np.sqrt(amp) * np.sin(w0) / np.sqrt(2.0)
    b = amp * np.array([
        (amp + 1.0) + (amp - 1.0) * cos_w0 + two_sqrt_a_alpha,
        -2.0 * ((amp - 1.0) + (amp + 1.0) * cos_w0),
        (amp + 1.0) + (amp - 1.0) * cos_w0 - two_sqrt_a_alpha,
    ])
    a = np.array([
        (amp + 1.0) - (amp - 1.0) * cos_w0 + two_sqrt_a_alpha,
        2.0 * ((amp - 1.0) - (amp + 1.0) * cos_w0),
        (amp + 1.0) - (amp - 1.0) * cos_w0 - two_sqrt_a_alpha,
    ])
    return np.concatenate([b / a[0], a / a[0]])[None, :]


def energy(spec: np.ndarray) -> float:
    """Sum of squared magnitudes of a complex array."""
    flat = spec.reshape(-1)
    return float(np.vdot(flat, flat).real)


def load_librosa() -> None:
    """Import librosa's spectral functions now (seconds: numba and librosa's lazy submodules).

    :func:`stft` and :func:`istft` import them on first use. A caller calls
    this first where the wait can be shown (before a progress bar starts
    counting), and worker processes call it as they start.
    """
    # librosa loads its submodules lazily, some only inside a call: one tiny transform loads them all
    spec = stft(np.zeros(1024), n_fft=256, hop=64, win=256)
    istft(spec, n_fft=256, hop=64, win=256, length=1024)


def stft(x: np.ndarray, *, n_fft: int, hop: int, win: int) -> np.ndarray:
    """Short-time Fourier transform with a Hann window of ``win`` samples, centred frames.

    ``librosa.stft``; shape ``(n_fft // 2 + 1, frames)`` with ``frames = 1 + len(x) // hop``.
    """
    import librosa  # heavy (numba): imported when audio is synthesised, not with the package

    return librosa.stft(x, n_fft=n_fft, hop_length=hop, win_length=win, window="hann", center=True)


def istft(spec: np.ndarray, *, n_fft: int, hop: int, win: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (overlap-add), ``length`` samples long (``librosa.istft``)."""
    import librosa  # heavy (numba): imported when audio is synthesised, not with the package

    return librosa.istft(spec, n_fft=n_fft, hop_length=hop, win_length=win, window="hann",
                         center=True, length=length)
