"""Fixed length: pad or crop every utterance to the same number of samples.

The reference makes every utterance exactly 3 s long (48 000 samples at
16 kHz), after VAD: shorter audio is zero-padded at the end, longer audio is
centre-cropped, one crop per utterance. :func:`fix_length` does that
(``mode="reference"``) and offers repeat-padding instead (``mode="repeat"``),
which fills the gap with more of the same voice rather than silence.

For training, :func:`random_crop` draws a different window each time; for
evaluation, :func:`evenly_spaced_crops` covers a long utterance with several
windows whose embeddings can be averaged.

Conventions shared by every function here
-----------------------------------------
* The signal is 1-D, ``shape=(n,)``, of any dtype; the output has the same
  dtype and exactly ``num_samples`` samples along its last axis.
* **Centre crop**: ``start = (n - num_samples) // 2``, so when ``n -
  num_samples`` is odd the extra sample is dropped at the end.
* **Padding** (``n < num_samples``): ``"zero"`` appends zeros at the end;
  ``"repeat"`` tiles the signal from its start, ``y[0], ..., y[n-1], y[0],
  ...``, and cuts the tiling at ``num_samples``.
* Pure functions: the input is never modified, and the output never shares
  memory with it.
"""

from __future__ import annotations

import numpy as np

from speakerlib._checks import is_int
from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.errors import AudioTooShortError, ConfigError, ConfigTypeError

__all__ = [
    "DEFAULT_LENGTH_S",
    "DEFAULT_NUM_SAMPLES",
    "WHOLE_MIN_FRAMES",
    "FIX_LENGTH_MODES",
    "fix_length",
    "pad_to_length",
    "centre_crop_start",
    "random_crop",
    "evenly_spaced_crops",
    "padded_fraction",
]

#: The reference's fixed length [s].
DEFAULT_LENGTH_S = 3.0
#: The reference's fixed length [samples]: 3 s at :data:`speakerlib.audio.SAMPLE_RATE_HZ`
#: (48 000 at 16 kHz).
DEFAULT_NUM_SAMPLES = int(round(DEFAULT_LENGTH_S * SAMPLE_RATE_HZ))
#: The fewest feature frames a whole utterance is embedded from (shorter ones are repeated up to
#: it): the ResNets' strides need 17. Keras (:mod:`speakerlib.embed`) and the exported ONNX
#: encoder (:mod:`speakerlib.inference.portable`) both use it.
WHOLE_MIN_FRAMES = 32

#: The modes of :func:`fix_length`: pad with zeros (the reference) or repeat the signal.
FIX_LENGTH_MODES = ("reference", "repeat")
_PAD_MODES = ("repeat", "zero")


def _check_num(name: str, value: object) -> int:
    if not is_int(value) or value < 1:
        raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def _check_signal(y: object) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ConfigError(f"y: expected a mono signal of shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise AudioTooShortError(
            "y: expected at least one sample to pad or crop, got an empty signal. "
            "Drop empty utterances (or those VAD emptied) before fixing their length."
        )
    return y


def _check_pad_mode(pad_mode: object) -> str:
    if pad_mode not in _PAD_MODES:
        raise ConfigError(f"pad: expected one of {_PAD_MODES}, got {pad_mode!r}")
    return str(pad_mode)


def centre_crop_start(num_input: int, num_samples: int) -> int:
    """Where the centre crop starts: ``(num_input - num_samples) // 2``.

    Parameters
    ----------
    num_input : int >= num_samples
        Length of the signal [samples].
    num_samples : int >= 1
        Length of the crop [samples].

    Returns
    -------
    int
        First sample of the crop.

    Raises
    ------
    ConfigError
        If ``num_samples < 1`` or the signal is shorter than the crop.
    """
    num_samples = _check_num("num_samples", num_samples)
    if num_input < num_samples:
        raise ConfigError(
            f"num_input: a centre crop of {num_samples} samples needs at least that many, "
            f"got {num_input}"
        )
    return (int(num_input) - num_samples) // 2


def pad_to_length(y: np.ndarray, *, num_samples: int, pad: str = "repeat") -> np.ndarray:
    """Lengthen a signal to exactly ``num_samples`` samples.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), any dtype], n >= 1, n <= num_samples
        The signal.
    num_samples : int >= n
        Output length [samples].
    pad : {"repeat", "zero"}
        ``"repeat"`` tiles ``y`` from its start; ``"zero"`` appends zeros.

    Returns
    -------
    np.ndarray [shape=(num_samples,), dtype=y.dtype]
        A new array (a copy of ``y`` when ``n == num_samples``).

    Raises
    ------
    ConfigError
        ``num_samples < 1`` or ``< n``, unknown ``pad``, ``y`` not 1-D.
    AudioTooShortError
        ``y`` is empty.

    Examples
    --------
    >>> pad_to_length(np.array([1, 2, 3]), num_samples=7)
    array([1, 2, 3, 1, 2, 3, 1])
    >>> pad_to_length(np.array([1, 2, 3]), num_samples=5, pad="zero")
    array([1, 2, 3, 0, 0])
    """
    num_samples = _check_num("num_samples", num_samples)
    y = _check_signal(y)
    pad_mode = _check_pad_mode(pad)
    if y.size > num_samples:
        raise ConfigError(
            f"y: padding to {num_samples} samples needs at most that many, got {y.size}; "
            "use fix_length to crop as well"
        )
    if pad_mode == "zero":
        out = np.zeros(num_samples, dtype=y.dtype)
        out[: y.size] = y
        return out
    num_tiles = -(-num_samples // y.size)  # ceiling division
    return np.tile(y, num_tiles)[:num_samples].copy()


def fix_length(y: np.ndarray, *, num_samples: int, mode: str = "reference") -> np.ndarray:
    """Pad or centre-crop a signal to exactly ``num_samples`` samples.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), any dtype], n >= 1
        The signal (typically after VAD).
    num_samples : int >= 1
        Output length [samples]; the reference uses 48 000 (3 s at 16 kHz,
        :data:`DEFAULT_NUM_SAMPLES`).
    mode : {"reference", "repeat"}
        When ``n < num_samples``: ``"reference"`` appends zeros (the
        reference's behaviour), ``"repeat"`` tiles the signal. When ``n >
        num_samples`` both take the centre crop ``y[s : s + num_samples]``
        with ``s = (n - num_samples) // 2``.

    Returns
    -------
    np.ndarray [shape=(num_samples,), dtype=y.dtype]
        A new array (never a view of ``y``).

    Raises
    ------
    ConfigError
        ``num_samples < 1``, unknown ``mode``, ``y`` not 1-D.
    AudioTooShortError
        ``y`` is empty.

    Examples
    --------
    >>> fix_length(np.arange(5), num_samples=3)
    array([1, 2, 3])
    >>> fix_length(np.arange(1, 4), num_samples=5)
    array([1, 2, 3, 0, 0])
    >>> fix_length(np.arange(1, 4), num_samples=5, mode="repeat")
    array([1, 2, 3, 1, 2])
    """
    num_samples = _check_num("num_samples", num_samples)
    if mode not in FIX_LENGTH_MODES:
        raise ConfigError(f"mode: expected one of {FIX_LENGTH_MODES}, got {mode!r}")
    y = _check_signal(y)
    if y.size >= num_samples:
        start = centre_crop_start(y.size, num_samples)
        return y[start : start + num_samples].copy()
    return pad_to_length(
        y, num_samples=num_samples, pad="zero" if mode == "reference" else "repeat"
    )


def random_crop(
    y: np.ndarray, *, num_samples: int, rng: np.random.Generator, pad: str = "repeat"
) -> np.ndarray:
    """A window of ``num_samples`` samples at a uniformly random start (training).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), any dtype], n >= 1
        The signal.
    num_samples : int >= 1
        Output length [samples].
    rng : np.random.Generator
        Source of randomness, e.g. ``np.random.default_rng(seed)``. One
        integer is drawn when ``n > num_samples``; nothing is drawn otherwise.
    pad : {"repeat", "zero"}
        How a signal shorter than ``num_samples`` is lengthened (see
        :func:`pad_to_length`); it is then returned whole, with no random shift.

    Returns
    -------
    np.ndarray [shape=(num_samples,), dtype=y.dtype]
        ``y[s : s + num_samples]`` with ``s`` uniform on ``0 .. n - num_samples``
        (both ends included), or the padded signal.

    Raises
    ------
    ConfigTypeError
        ``rng`` is not a ``numpy.random.Generator``.
    ConfigError
        ``num_samples < 1``, unknown ``pad``, ``y`` not 1-D.
    AudioTooShortError
        ``y`` is empty.
    """
    num_samples = _check_num("num_samples", num_samples)
    pad_mode = _check_pad_mode(pad)
    if not isinstance(rng, np.random.Generator):
        raise ConfigTypeError(
            f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    y = _check_signal(y)
    if y.size <= num_samples:
        return pad_to_length(y, num_samples=num_samples, pad=pad_mode)
    start = int(rng.integers(0, y.size - num_samples, endpoint=True))
    return y[start : start + num_samples].copy()


def evenly_spaced_crops(
    y: np.ndarray, *, num_samples: int, num_crops: int, pad: str = "repeat"
) -> np.ndarray:
    """``num_crops`` windows spread evenly over the signal (evaluation).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), any dtype], n >= 1
        The signal.
    num_samples : int >= 1
        Length of each crop [samples].
    num_crops : int >= 1
        Number of crops.
    pad : {"repeat", "zero"}
        How a signal shorter than ``num_samples`` is lengthened; every crop
        is then that same padded signal.

    Returns
    -------
    np.ndarray [shape=(num_crops, num_samples), dtype=y.dtype]
        Crop ``k`` starts at ``k * (n - num_samples) // (num_crops - 1)``: the
        first at 0, the last ending at ``n``, the gaps between starts differing
        by at most one sample. Crops overlap when ``num_crops * num_samples >
        n``. With ``num_crops == 1`` the single crop is the centre crop of
        :func:`fix_length`.

    Raises
    ------
    ConfigError
        ``num_samples < 1``, ``num_crops < 1``, unknown ``pad``, ``y`` not 1-D.
    AudioTooShortError
        ``y`` is empty.

    Examples
    --------
    >>> evenly_spaced_crops(np.arange(10), num_samples=4, num_crops=3)
    array([[0, 1, 2, 3],
           [3, 4, 5, 6],
           [6, 7, 8, 9]])
    """
    num_samples = _check_num("num_samples", num_samples)
    num_crops = _check_num("num_crops", num_crops)
    pad_mode = _check_pad_mode(pad)
    y = _check_signal(y)
    if y.size <= num_samples:
        padded = pad_to_length(y, num_samples=num_samples, pad=pad_mode)
        return np.repeat(padded[np.newaxis, :], num_crops, axis=0)
    starts = _evenly_spaced_starts(y.size, num_samples, num_crops)
    windows = np.lib.stride_tricks.sliding_window_view(y, num_samples)
    return windows[starts]  # fancy indexing copies


def _evenly_spaced_starts(num_input: int, num_samples: int, num_crops: int) -> np.ndarray:
    if num_crops == 1:
        return np.array([centre_crop_start(num_input, num_samples)], dtype=np.int64)
    span = num_input - num_samples
    return np.arange(num_crops, dtype=np.int64) * span // (num_crops - 1)


def padded_fraction(durations_s: np.ndarray, *, target_s: float = DEFAULT_LENGTH_S) -> float:
    """Share of utterances shorter than the fixed length, hence padded.

    Parameters
    ----------
    durations_s : array-like [shape=(m,), float] [s]
        Durations (e.g. after VAD); ``m >= 1``.
    target_s : float > 0 [s]
        The fixed length (3 s in the reference).

    Returns
    -------
    float in [0, 1]
        ``mean(durations_s < target_s)``; an utterance exactly ``target_s``
        long is neither padded nor cropped.

    Raises
    ------
    ConfigError
        Empty input, negative or non-finite durations, ``target_s <= 0``.

    Examples
    --------
    >>> padded_fraction([1.0, 2.5, 3.0, 4.2])
    0.5
    """
    durations = np.asarray(durations_s, dtype=np.float64).reshape(-1)
    if durations.size == 0:
        raise ConfigError("durations_s: expected at least one duration, got none")
    if not np.all(np.isfinite(durations)) or np.any(durations < 0):
        raise ConfigError("durations_s: expected finite durations >= 0 [s]")
    if not np.isfinite(target_s) or target_s <= 0:
        raise ConfigError(f"target_s: expected a positive duration [s], got {target_s!r}")
    return float(np.mean(durations < target_s))
