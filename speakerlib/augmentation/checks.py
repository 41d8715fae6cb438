"""Input checks the augmentation modules share: a signal, a generator, a real number, a range.

Each raises the settings error a caller would expect (:class:`~speakerlib.errors.ConfigError`,
a ``ValueError``; :class:`~speakerlib.errors.ConfigTypeError`, a ``TypeError``) with a message
naming the argument, what was expected and what was found.
"""

from __future__ import annotations

import math

import numpy as np

from speakerlib._checks import is_int, is_real
from speakerlib.errors import AudioTooShortError, ConfigError, ConfigTypeError, InvalidAudioError

__all__ = [
    "SILENCE_POWER",
    "check_signal",
    "check_rng",
    "check_real",
    "check_count",
    "check_range",
    "float_dtype",
    "mean_power",
]

#: Mean square at or below which a signal counts as silent: -100 dB re full scale, about
#: the power of 16-bit quantisation noise (LSB**2 / 12 = 7.8e-11, -101 dB). A 16-bit file
#: of +-1 LSB dither (9.3e-10) is not silent; digital silence (exactly 0) is.
SILENCE_POWER = 1e-10


def check_signal(y: object, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D array of finite real samples with at least one sample.

    Raises
    ------
    ConfigError
        ``y`` is not 1-D, or not real numbers.
    AudioTooShortError
        ``y`` is empty.
    InvalidAudioError
        ``y`` holds NaN or infinite values.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ConfigError(f"{name}: expected a mono signal of shape (n,), got shape {y.shape}")
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise ConfigError(f"{name}: expected real samples (float or integer), got dtype {y.dtype}")
    if y.size == 0:
        raise AudioTooShortError(f"{name}: expected at least one sample, got an empty signal")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise InvalidAudioError(
            f"{name}: expected finite samples, found {int(np.count_nonzero(~np.isfinite(y)))} "
            "NaN or infinite value(s). Check the stage that produced the signal."
        )
    return y


def float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype of a result computed from ``arrays``: float32 unless one is float64."""
    return np.result_type(*(a.dtype for a in arrays), np.float32)


def mean_power(y: np.ndarray) -> float:
    """Mean square of ``y``, accumulated in float64.

    Computed with :func:`numpy.einsum`, not :func:`numpy.dot`: a training run calls this
    several times a crop, in the input pipeline's thread, while TensorFlow's threads keep
    the cores busy, and the threads of the BLAS behind ``np.dot`` then wait for a core
    (12x slower on two cores, measured: 140 us a call instead of 12 us).
    """
    y64 = np.asarray(y, dtype=np.float64)
    return float(np.einsum("i,i->", y64, y64) / y64.size)


def check_rng(rng: object) -> np.random.Generator:
    """``rng`` if it is a :class:`numpy.random.Generator`; ConfigTypeError otherwise."""
    if not isinstance(rng, np.random.Generator):
        raise ConfigTypeError(
            "rng: expected a numpy.random.Generator (np.random.default_rng(seed), or "
            f"speakerlib.seeds.rng(seed, stream, ...)), got {type(rng).__name__}"
        )
    return rng


def check_real(name: str, value: object, *, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number in ``[low, high]`` (``(low, high]``
    when ``low_open``); ConfigTypeError / ConfigError otherwise."""
    if not is_real(value):
        raise ConfigTypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    bad_low = value <= low if low_open else value < low
    if not math.isfinite(value) or bad_low or value > high:
        left = "(" if low_open else "["
        raise ConfigError(f"{name}: expected a finite number in {left}{low}, {high}], got {value!r}")
    return value


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer >= ``minimum``."""
    if not is_int(value) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_range(name: str, value: object, *, low: float = -math.inf, high: float = math.inf,
                low_open: bool = False, unit: str = "") -> tuple[float, float]:
    """``value`` as a ``(lo, hi)`` pair of finite reals with ``low <= lo <= hi <= high``.

    A list (as read back from JSON) is accepted. An inverted pair is a ConfigError that
    says to swap the two ends.
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ConfigError(f"{name}: expected a pair (low, high){unit}, got {value!r}")
    lo = check_real(f"{name}[0]", value[0], low=low, high=high, low_open=low_open)
    hi = check_real(f"{name}[1]", value[1], low=low, high=high, low_open=low_open)
    if lo > hi:
        raise ConfigError(
            f"{name}: expected a range (low, high) with low <= high{unit}, got the inverted range "
            f"({lo!r}, {hi!r}); swap the two ends: ({hi!r}, {lo!r})"
        )
    return lo, hi
