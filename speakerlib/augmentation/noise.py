"""Additive noise: mixing at a signal-to-noise ratio, coloured noise, babble.

Pure functions on arrays: no file is read here (the readers of noise folders are in
:mod:`speakerlib.augmentation.corpora`), and every random choice comes from the
:class:`numpy.random.Generator` passed in.

Conventions
-----------
* **Power** is the mean square, ``P(x) = mean(x ** 2)``, accumulated in float64;
  the signal-to-noise ratio is ``10 log10(P(signal) / P(noise)) [dB]``.
* **Silence**: a signal whose power is at most
  :data:`~speakerlib.augmentation.checks.SILENCE_POWER` (-100 dB re full scale).
  Mixing into a silent signal, or with silent noise, is a no-op (documented
  below): the ratio is undefined, and a training crop of digital silence, or a
  quiet stretch of a noise file, must not stop an epoch.
* **Length**: noise is tiled from its start (``n[0], ..., n[m-1], n[0], ...``)
  when shorter than the signal and cropped to its first samples when longer;
  a random window of a longer noise is the caller's choice (its generator).
* Outputs are float32, or float64 when an input is float64; they are new
  arrays, never views of the inputs, and are not clipped to [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

from speakerlib.augmentation.checks import (
    SILENCE_POWER,
    check_count,
    check_real,
    check_rng,
    check_signal,
    float_dtype,
    mean_power,
)
from speakerlib.errors import ConfigError
from speakerlib.framing import random_crop

__all__ = [
    "measure_snr_db",
    "fit_noise_length",
    "mix_at_snr",
    "coloured_noise",
    "NOISE_COLOURS",
    "babble",
]

#: The named colours of :func:`coloured_noise`: spectrum exponent of white, pink and brown noise.
NOISE_COLOURS: dict[str, float] = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def measure_snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """The signal-to-noise ratio ``10 log10(mean(signal**2) / mean(noise**2))`` [dB].

    Parameters
    ----------
    signal, noise : np.ndarray [shape=(n,) and (m,), real]
        The clean signal and the noise that was added to it (for a mixture
        ``x = s + v``: ``measure_snr_db(s, x - s)``). Lengths may differ: each power is
        its own mean square.

    Returns
    -------
    float [dB]
        ``inf`` for silent noise, ``-inf`` for a silent signal.

    Examples
    --------
    >>> round(measure_snr_db(np.ones(4), 0.1 * np.ones(4)), 6)
    20.0
    """
    p_signal = mean_power(check_signal(signal, "signal"))
    p_noise = mean_power(check_signal(noise, "noise"))
    with np.errstate(divide="ignore"):
        return float(10.0 * (np.log10(p_signal) - np.log10(p_noise)))


def fit_noise_length(noise: np.ndarray, num_samples: int) -> np.ndarray:
    """Tile ``noise`` from its start, or crop it to its first samples, to ``num_samples``.

    Parameters
    ----------
    noise : np.ndarray [shape=(m,), real], m >= 1
    num_samples : int >= 1

    Returns
    -------
    np.ndarray [shape=(num_samples,), dtype=noise.dtype]
        A new array.

    Examples
    --------
    >>> fit_noise_length(np.array([1, 2, 3]), 7)
    array([1, 2, 3, 1, 2, 3, 1])
    """
    noise = check_signal(noise, "noise")
    num_samples = check_count("num_samples", num_samples)
    if noise.size >= num_samples:
        return noise[:num_samples].copy()
    return np.tile(noise, -(-num_samples // noise.size))[:num_samples]


def mix_at_snr(y: np.ndarray, noise: np.ndarray, *, snr_db: float) -> np.ndarray:
    """Add ``noise`` to ``y``, scaled so that the mixture has the signal-to-noise ratio ``snr_db``.

    The noise is fitted to the signal's length (:func:`fit_noise_length`: tiled
    or cropped from its start) and multiplied by
    ``g = sqrt(P(y) / (P(noise) * 10 ** (snr_db / 10)))``, so that
    ``10 log10(P(y) / P(g * noise)) = snr_db`` exactly (up to float rounding),
    powers being mean squares over the signal's length.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float or int], n >= 1
        The signal (samples, full scale 1 for float audio).
    noise : np.ndarray [shape=(m,), float or int], m >= 1
        The noise, at the signal's sample rate; its level does not matter.
    snr_db : float [dB]
        The ratio to reach; any finite value (negative: noise louder than signal).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32, or float64 if an input is float64]
        ``y + g * noise``, a new array, not clipped. **No-op** when ``y`` or
        the fitted noise is silent (power at most
        :data:`~speakerlib.augmentation.checks.SILENCE_POWER`): ``y`` is
        returned unchanged (as a copy), since no gain reaches a ratio there.

    Raises
    ------
    ConfigError
        An input is not 1-D real samples; ``snr_db`` is not finite.
    AudioTooShortError
        An input is empty.
    InvalidAudioError
        An input holds NaN or infinite values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.sin(np.arange(16000) * 0.1)
    >>> x = mix_at_snr(y, rng.standard_normal(8000), snr_db=10.0)
    >>> round(float(10 * np.log10(np.mean(y**2) / np.mean((x - y) ** 2))), 6)
    10.0
    """
    y = check_signal(y, "y")
    noise = check_signal(noise, "noise")
    target = check_real("snr_db", snr_db)
    dtype = float_dtype(y, noise)
    fitted = fit_noise_length(noise, y.size).astype(np.float64)
    p_signal, p_noise = mean_power(y), mean_power(fitted)
    if p_signal <= SILENCE_POWER or p_noise <= SILENCE_POWER:
        return y.astype(dtype, copy=True)
    gain = np.sqrt(p_signal / (p_noise * 10.0 ** (target / 10.0)))
    return (y.astype(np.float64) + gain * fitted).astype(dtype)


def coloured_noise(num_samples: int, *, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power spectrum falls as ``1 / f ** exponent``, at unit power.

    White Gaussian noise is shaped in the frequency domain: its real FFT is
    multiplied by ``f ** (-exponent / 2)`` (so the *power* goes as
    ``f ** -exponent``), the DC bin is set to zero (the law is infinite
    there for ``exponent > 0``), and the inverse FFT is scaled to a mean
    square of exactly 1. The noise is therefore periodic with period
    ``num_samples`` and has zero mean. The sample rate does not enter: the
    slope is the same in every unit of frequency.

    Parameters
    ----------
    num_samples : int >= 2
        Length [samples].
    exponent : float, finite
        Spectral slope: 0 white, 1 pink (-3 dB per octave), 2 brown / red
        (-6 dB per octave); negative values give blue-ish noise. The names
        are in :data:`NOISE_COLOURS`.
    rng : np.random.Generator
        Source of the white noise (``num_samples`` standard normal draws).

    Returns
    -------
    np.ndarray [shape=(num_samples,), dtype=float32]
        Unit power (``mean(x**2) == 1`` up to float32 rounding), so peaks are
        a few times above 1: scale it (for example with :func:`mix_at_snr`)
        before adding it to audio.

    Raises
    ------
    ConfigError
        ``num_samples < 2``, ``exponent`` not finite.
    ConfigTypeError
        ``rng`` is not a Generator.
    """
    num_samples = check_count("num_samples", num_samples, minimum=2)
    exponent = check_real("exponent", exponent)
    rng = check_rng(rng)
    spectrum = scipy.fft.rfft(rng.standard_normal(num_samples))
    freqs = scipy.fft.rfftfreq(num_samples)
    shape = np.zeros_like(freqs)
    shape[1:] = freqs[1:] ** (-exponent / 2.0)
    shaped = scipy.fft.irfft(spectrum * shape, n=num_samples)
    return (shaped / np.sqrt(mean_power(shaped))).astype(np.float32)


def babble(
    utterances: Sequence[np.ndarray],
    *,
    num_samples: int,
    rng: np.random.Generator,
    min_speakers: int = 3,
    max_speakers: int = 7,
) -> np.ndarray:
    """Babble: the sum of several other utterances, each equally loud, at unit power.

    ``k`` is drawn uniformly from ``min_speakers .. min(max_speakers,
    len(utterances))`` (both ends included), then ``k`` different utterances
    (uniformly, without replacement); each is cut to ``num_samples`` by
    :func:`speakerlib.framing.random_crop` (a random window, or repeated from
    its start when shorter), scaled to unit power (a silent one adds
    nothing) and summed; the sum is scaled to unit power. Kaldi's and
    WeSpeaker's recipes use 3-7 talkers.

    Parameters
    ----------
    utterances : sequence of np.ndarray [shape=(n_i,), float], n_i >= 1
        The talkers to draw from, at the signal's sample rate: other training
        speakers' audio (not the speaker being augmented: the caller chooses).
    num_samples : int >= 1
        Length of the babble [samples] (the signal's).
    rng : np.random.Generator
        Draws ``k``, the utterances, and each utterance's window.
    min_speakers, max_speakers : int, 1 <= min_speakers <= max_speakers
        Range of the number of talkers.

    Returns
    -------
    np.ndarray [shape=(num_samples,), dtype=float32]
        Unit power; all zeros (silent) when every chosen utterance is silent.

    Raises
    ------
    ConfigError
        Fewer than ``min_speakers`` utterances, an inverted or non-positive
        speaker range, an utterance that is not 1-D real samples.
    AudioTooShortError
        An empty utterance.
    InvalidAudioError
        An utterance with NaN or infinite values.
    """
    num_samples = check_count("num_samples", num_samples)
    low = check_count("min_speakers", min_speakers)
    high = check_count("max_speakers", max_speakers)
    rng = check_rng(rng)
    if low > high:
        raise ConfigError(
            f"min_speakers, max_speakers: expected min_speakers <= max_speakers, got {low} > "
            f"{high}; swap them"
        )
    if len(utterances) < low:
        raise ConfigError(
            f"utterances: babble of at least {low} talkers needs at least {low} utterances, "
            f"got {len(utterances)}. Pass more utterances of other speakers, or lower min_speakers."
        )
    count = int(rng.integers(low, min(high, len(utterances)), endpoint=True))
    chosen = rng.choice(len(utterances), size=count, replace=False)
    total = np.zeros(num_samples, dtype=np.float64)
    for index in chosen:
        talker = check_signal(utterances[int(index)], f"utterances[{int(index)}]")
        window = random_crop(talker, num_samples=num_samples, rng=rng).astype(np.float64)
        power = mean_power(window)
        if power > SILENCE_POWER:
            total += window / np.sqrt(power)
    power = mean_power(total)
    if power > SILENCE_POWER:
        total /= np.sqrt(power)
    return total.astype(np.float32)
