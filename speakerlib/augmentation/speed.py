"""Speed perturbation: play an utterance faster or slower, changing its duration and pitch.

As in Kaldi's and WeSpeaker's recipes (sox's ``speed`` effect): the samples are
resampled as if they had been recorded at ``factor`` times the rate, so the
duration is divided by ``factor`` and every frequency multiplied by it. The
voice changes enough that recipes treat each factor as a new speaker (a
speaker ``s`` at 0.9 becomes class ``s-sp0.9``), which is why
:func:`speakerlib.augmentation.augment` does not apply it: the caller applies
it to whole utterances, with the labels to match.
"""

from __future__ import annotations

import numpy as np
import soxr

from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.augmentation.checks import check_real, check_signal

__all__ = ["speed_perturb"]

#: Factors outside this range are refused: they are not speed perturbation any more.
_FACTOR_RANGE = (0.25, 4.0)


def speed_perturb(y: np.ndarray, factor: float) -> np.ndarray:
    """Resample ``y`` so that it plays ``factor`` times faster (duration / factor, pitch x factor).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float or int], n >= 1
        The signal, at any sample rate (the output is at the same rate).
    factor : float in [0.25, 4]
        Speed: 1.1 is 10 % faster (shorter, higher), 0.9 slower (longer,
        lower). The recipes use 0.9, 1.0 and 1.1.

    Returns
    -------
    np.ndarray [shape=(round(n / factor),), dtype=float32, or float64 for float64 input]
        A new array (a copy of ``y`` for ``factor == 1``). soxr (high quality)
        resamples from ``factor * r`` to ``r`` for any rate ``r`` (only the
        ratio matters), so the output has ``round(n / factor)`` samples and
        a tone of frequency ``f`` becomes one of ``factor * f``; content above
        the Nyquist frequency after speeding up is filtered out.

    Raises
    ------
    ConfigError
        ``factor`` outside [0.25, 4] or not finite; ``y`` not 1-D real samples.
    ConfigTypeError
        ``factor`` is not a number.
    AudioTooShortError
        ``y`` is empty.
    InvalidAudioError
        ``y`` holds NaN or infinite values.

    Examples
    --------
    >>> speed_perturb(np.zeros(16000, dtype=np.float32), 1.1).shape
    (14545,)
    """
    y = check_signal(y)
    factor = check_real("factor", factor, low=_FACTOR_RANGE[0], high=_FACTOR_RANGE[1])
    dtype = np.float64 if y.dtype == np.float64 else np.float32
    samples = np.ascontiguousarray(y, dtype=dtype)
    if factor == 1.0:
        return samples.copy()
    out = soxr.resample(samples, SAMPLE_RATE_HZ * factor, SAMPLE_RATE_HZ, quality="HQ")
    return np.asarray(out, dtype=dtype)
