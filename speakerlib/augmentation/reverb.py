"""Reverberation: convolving a signal with a room impulse response (RIR), and banks of RIRs.

:func:`reverberate` is the pure operation. :class:`RirBank` holds the impulse
responses a training run draws from, in memory, scaled to unit energy; they
come from files (:func:`speakerlib.augmentation.corpora.load_rirs`, e.g. OpenSLR
28) or from simulation (:mod:`speakerlib.augmentation.simulate`).

Alignment
---------
A measured or simulated RIR starts with the sound's travel time from source
to microphone (and a simulator's interpolation filter) before its direct-path
peak. Convolving with it as it is would delay the speech by that much, and
crop its end. :func:`reverberate` instead takes the *peak* ``p = argmax |h|``
as time zero: ``out[t] = sum_k h[k] y[t + p - k]``, i.e. ``(y * h)[p : p + n]``
of the full convolution. So

* a unit impulse at ``t = p`` in ``y`` gives back ``h`` itself (its first
  ``n`` samples, zero-padded when ``h`` is shorter than ``y``);
* a unit impulse at ``t = 0`` gives ``h[p:]``, the response from its peak on;
* the direct sound of ``y`` stays where it was; the reverberant tail that
  would spill past the end is dropped, so the length stays ``n``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.signal

from speakerlib.augmentation.checks import (
    SILENCE_POWER,
    check_count,
    check_rng,
    check_signal,
    float_dtype,
)
from speakerlib.errors import ConfigError, InvalidAudioError

__all__ = ["direct_path_index", "reverberate", "RirBank"]

#: An RIR whose energy is within this of 1 is stored unchanged (float32 rounding of a
#: unit-energy RIR), so that a bank saved and loaded again holds the same samples.
_UNIT_ENERGY_TOLERANCE = 1e-5


def direct_path_index(rir: np.ndarray) -> int:
    """Index of the RIR's direct path: its largest absolute value (the first, on ties).

    Parameters
    ----------
    rir : np.ndarray [shape=(m,), real], m >= 1

    Returns
    -------
    int in [0, m)
    """
    rir = check_signal(rir, "rir")
    return int(np.argmax(np.abs(rir)))


def reverberate(y: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve ``y`` with ``rir``, aligned on the RIR's direct path, keeping ``y``'s length.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float or int], n >= 1
        The dry signal.
    rir : np.ndarray [shape=(m,), float or int], m >= 1
        The impulse response, at ``y``'s sample rate. It is used as given (no
        scaling): :class:`RirBank` stores unit-energy RIRs, so that the
        reverberant signal keeps roughly the dry one's power.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32, or float64 if an input is float64]
        ``(y * rir)[p : p + n]`` with ``p = direct_path_index(rir)`` (see the
        module docstring), computed with :func:`scipy.signal.fftconvolve`; a
        new array, not clipped.

    Raises
    ------
    ConfigError
        An input is not 1-D real samples.
    AudioTooShortError
        An input is empty.
    InvalidAudioError
        An input holds NaN or infinite values.

    Examples
    --------
    >>> out = reverberate(np.array([0.0, 1.0, 0.0, 0.0]), np.array([0.1, 1.0, 0.5]))
    >>> out.round(12) + 0.0  # the RIR itself: the impulse sits at its peak (t = 1)
    array([0.1, 1. , 0.5, 0. ])
    """
    y = check_signal(y, "y")
    rir = check_signal(rir, "rir")
    dtype = float_dtype(y, rir)
    peak = direct_path_index(rir)
    full = scipy.signal.fftconvolve(y.astype(dtype, copy=False), rir.astype(dtype, copy=False))
    return full[peak : peak + y.size].astype(dtype, copy=True)


@dataclass(frozen=True)
class RirBank:
    """Room impulse responses held in memory, each scaled to unit energy (``sum(h**2) == 1``).

    Attributes
    ----------
    rirs : tuple of np.ndarray [shape=(m_i,), dtype=float32]
        The responses, read-only. Given arrays are copied, converted to
        float32 and scaled to unit energy, so that RIRs recorded or simulated
        at different levels reverberate speech at about the same power (one
        already at unit energy, within 1e-5, is kept as it is, so a bank
        written and read back is unchanged).
    sample_rate_hz : int > 0
        Their sample rate [Hz]: the rate of the signals they reverberate.
    names : tuple of str
        Where each came from (a file path, or the simulated room); same
        length as ``rirs``. Default: ``"rir-0"``, ``"rir-1"``...

    Raises
    ------
    ConfigError
        No RIRs, names of another length, a bad sample rate, an RIR that is
        not 1-D real samples.
    InvalidAudioError
        An RIR that is silent (energy at most ``m * SILENCE_POWER``) or holds
        NaN or infinite values; the message names it.

    Notes
    -----
    Memory: 4 bytes a sample; OpenSLR 28's 60 000 simulated RIRs (about 1 s
    each at 16 kHz) take about 4 GB, so load a subset for a small machine.
    """

    rirs: tuple[np.ndarray, ...]
    sample_rate_hz: int
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rate = check_count("sample_rate_hz", self.sample_rate_hz)
        rirs = tuple(self.rirs)
        if not rirs:
            raise ConfigError(
                "rirs: expected at least one impulse response, got none. Load RIRs from a folder "
                "(read_rirs_noises + load_rirs) or simulate some (simulated_rir_bank)."
            )
        names = tuple(self.names) if self.names else tuple(f"rir-{i}" for i in range(len(rirs)))
        if len(names) != len(rirs):
            raise ConfigError(f"names: expected one name per RIR ({len(rirs)}), got {len(names)}")
        scaled = []
        for name, rir in zip(names, rirs):
            h = check_signal(rir, f"RIR {name}").astype(np.float64)
            energy = float(np.dot(h, h))
            if energy <= SILENCE_POWER * h.size:
                raise InvalidAudioError(
                    f"RIR {name}: expected an impulse response, found a silent one (energy "
                    f"{energy:.3g}). Remove it from the RIR folder, or check how it was made."
                )
            if abs(energy - 1.0) <= _UNIT_ENERGY_TOLERANCE:  # already scaled: keep it bit for bit
                h = np.array(rir, dtype=np.float32)
            else:
                h = (h / np.sqrt(energy)).astype(np.float32)
            h.setflags(write=False)
            scaled.append(h)
        object.__setattr__(self, "rirs", tuple(scaled))
        object.__setattr__(self, "sample_rate_hz", rate)
        object.__setattr__(self, "names", tuple(str(n) for n in names))

    def __len__(self) -> int:
        return len(self.rirs)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One RIR, uniformly at random (one integer drawn from ``rng``)."""
        return self.rirs[int(check_rng(rng).integers(len(self.rirs)))]

    @staticmethod
    def concat(banks: Sequence[RirBank]) -> RirBank:
        """One bank holding every RIR of ``banks``, in order (all at one sample rate).

        Raises
        ------
        ConfigError
            No banks, or banks at different sample rates.
        """
        banks = list(banks)
        if not banks:
            raise ConfigError("banks: expected at least one RirBank, got none")
        rates = sorted({b.sample_rate_hz for b in banks})
        if len(rates) > 1:
            raise ConfigError(
                f"banks: expected RIRs at one sample rate, got {rates} Hz; load or simulate them "
                "at the signals' rate"
            )
        return RirBank(
            rirs=tuple(h for b in banks for h in b.rirs),
            sample_rate_hz=rates[0],
            names=tuple(n for b in banks for n in b.names),
        )
