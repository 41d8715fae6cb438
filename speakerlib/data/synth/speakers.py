"""The synthetic voices, and the random streams they and their utterances are drawn from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speakerlib.data.synth.config import SynthConfig
from speakerlib.errors import ConfigTypeError

__all__ = ["SpeakerProfile", "speaker_profiles", "utterance_rng"]

# Seed-sequence domains: speakers and utterances draw from separate streams.
_SPEAKER_STREAM = 0
_UTTERANCE_STREAM = 1


@dataclass(frozen=True)
class SpeakerProfile:
    """One synthetic voice.

    Attributes
    ----------
    index : int
        Position in the corpus (0-based).
    speaker_id : str
        Numeric id as text, ``str(1000 + index)``.
    gender : str
        ``"F"`` or ``"M"``.
    f0_mean_hz : float [Hz]
        Typical fundamental frequency.
    f0_range : float
        Scale of the pitch movements (accents, declination); 1 is average.
    jitter : float
        Standard deviation of the period perturbation (fraction of the period).
    shimmer : float
        Standard deviation of the cycle-to-cycle log amplitude.
    breathiness : float
        Aspiration noise level relative to the voiced source.
    open_quotient : float in (0, 1)
        Fraction of a glottal period during which the glottis is open.
    speed_quotient : float > 0
        Opening time over closing time of the glottal pulse.
    spectral_tilt : float in [0, 1)
        Coefficient of an extra one-pole low-pass on the source (0: none).
    bandwidth_factor : float
        Scales the formant bandwidths.
    antiresonance_hz : float [Hz]
        A spectral zero of the voice (as the side cavities of the lower
        vocal tract make, about 4-5 kHz in men), before the vtl scaling.
    antiresonance_bandwidth_hz : float [Hz]
        Its bandwidth (wider: shallower and broader notch).
    vtl_factor : float
        Scales all formant frequencies (shorter vocal tract: larger factor).
    formant_offsets : tuple of 5 float
        Personal relative offset of F1..F5 (0.03 = 3 % higher).
    speaking_rate_hz : float [syllables/s]
        Typical speaking rate.
    num_chapters : int
        1 or 2: how many chapter folders the speaker's utterances are split into.
    """

    index: int
    speaker_id: str
    gender: str
    f0_mean_hz: float
    f0_range: float
    jitter: float
    shimmer: float
    breathiness: float
    open_quotient: float
    speed_quotient: float
    spectral_tilt: float
    bandwidth_factor: float
    antiresonance_hz: float
    antiresonance_bandwidth_hz: float
    vtl_factor: float
    formant_offsets: tuple[float, float, float, float, float]
    speaking_rate_hz: float
    num_chapters: int

    def chapters(self) -> tuple[str, ...]:
        """Chapter ids of this speaker: ``str(10 * (1000 + index) + c)``."""
        base = 10 * (1000 + self.index)
        return tuple(str(base + c) for c in range(self.num_chapters))




# --------------------------------------------------------------------------
# Random streams


def _speaker_rng(seed: int, speaker_index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), _SPEAKER_STREAM, int(speaker_index)]))


def utterance_rng(seed: int, speaker_index: int, utterance_index: int) -> np.random.Generator:
    """The random generator of one utterance, derived from ``(seed, speaker, utterance)``.

    Parameters
    ----------
    seed : int >= 0
        The corpus seed (:attr:`SynthConfig.seed`).
    speaker_index : int >= 0
        :attr:`SpeakerProfile.index`.
    utterance_index : int >= 0
        0-based utterance number within the speaker (over all chapters).

    Returns
    -------
    numpy.random.Generator
        A fresh generator; pass it to :func:`speakerlib.data.synth.voice.synthesize_utterance`.
    """
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), _UTTERANCE_STREAM, int(speaker_index), int(utterance_index)])
    )


def speaker_profiles(config: SynthConfig) -> list[SpeakerProfile]:
    """Draw the voices of a corpus.

    Speaker ``i`` is drawn from its own generator (``seed``, ``i``), so the
    first speakers of a larger corpus are the speakers of a smaller one.

    Parameters
    ----------
    config : SynthConfig

    Returns
    -------
    list of SpeakerProfile
        ``config.num_speakers`` profiles, genders alternating F, M, F, ...

    Raises
    ------
    ConfigTypeError
        If ``config`` is not a :class:`~speakerlib.data.synth.config.SynthConfig`.

    Examples
    --------
    >>> profiles = speaker_profiles(SynthConfig(num_speakers=4, seed=1))
    >>> [p.speaker_id for p in profiles], [p.gender for p in profiles]
    (['1000', '1001', '1002', '1003'], ['F', 'M', 'F', 'M'])
    """
    if not isinstance(config, SynthConfig):
        raise ConfigTypeError(f"expected a SynthConfig, found {type(config).__name__}.")
    return [_draw_speaker(config.seed, i) for i in range(config.num_speakers)]


def _draw_speaker(seed: int, index: int) -> SpeakerProfile:
    rng = _speaker_rng(seed, index)
    female = index % 2 == 0
    if female:
        f0 = rng.uniform(160.0, 255.0)
        vtl = rng.normal(1.16, 0.055)
        oq = rng.uniform(0.5, 0.8)
        breath = rng.uniform(0.04, 0.3)
    else:
        f0 = rng.uniform(85.0, 150.0)
        vtl = rng.normal(1.0, 0.055)
        oq = rng.uniform(0.4, 0.7)
        breath = rng.uniform(0.02, 0.2)
    return SpeakerProfile(
        index=int(index),
        speaker_id=str(1000 + index),
        gender="F" if female else "M",
        f0_mean_hz=float(f0),
        f0_range=float(rng.uniform(0.6, 1.5)),
        jitter=float(rng.uniform(0.003, 0.015)),
        shimmer=float(rng.uniform(0.02, 0.09)),
        breathiness=float(breath),
        open_quotient=float(oq),
        speed_quotient=float(rng.uniform(1.5, 3.5)),
        spectral_tilt=float(rng.uniform(0.0, 0.7)),
        bandwidth_factor=float(rng.uniform(0.8, 1.35)),
        antiresonance_hz=float(rng.uniform(3800.0, 5000.0)),
        antiresonance_bandwidth_hz=float(rng.uniform(200.0, 600.0)),
        vtl_factor=float(np.clip(vtl, 0.85, 1.35)),
        formant_offsets=tuple(float(x) for x in np.clip(
            rng.normal(0.0, 1.0, 5) * np.array([0.04, 0.04, 0.045, 0.06, 0.07]), -0.15, 0.15)),
        speaking_rate_hz=float(rng.uniform(3.2, 5.2)),
        num_chapters=int(1 + (rng.random() < 0.5)),
    )
