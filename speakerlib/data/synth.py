"""The synthetic default corpus: speech-like audio made offline from a seed.

The course's book and tests must run anywhere, without downloading real
speech, so its default corpus is generated here. It is **not speech**: there
are no words, only syllable-like sounds. What it has is what speaker
recognition needs to learn from: voices that differ in the ways real voices
differ, and recordings of one voice that differ in the ways real recordings
differ.

How a recording is made (a source-filter model, as in Klatt's synthesiser)
--------------------------------------------------------------------------
1. **Plan.** A duration, silence before and after, 2 or more phrases with
   pauses between them, and in each phrase a run of syllables: an optional
   consonant (a fricative such as ``S``, a plosive such as ``T`` with closure,
   burst and aspiration, a nasal ``M``/``N``, ``L`` or ``H``) and a vowel from
   a 12-vowel inventory (central vowels most frequent; weak syllables drift
   toward schwa). The syllable names make the "transcript".
2. **Source.** A glottal flow pulse train (Rosenberg's pulse: open quotient
   and speed quotient set its shape, hence the spectral slope) following an
   F0 contour (phrase declination, accents, slow drift), with jitter
   (period perturbation), shimmer (amplitude perturbation), extra spectral
   tilt, and aspiration noise (breathiness). Its time derivative (the flow
   derivative, which includes lip radiation) excites the vocal tract.
3. **Filter.** Five resonances (formants) with time-varying frequencies,
   interpolated between the targets of successive sounds; targets come from
   the vowel (or consonant) table, scaled by the speaker's vocal-tract
   length factor and personal offsets; a fixed antiresonance (spectral zero)
   near 4-5 kHz differs between speakers. Fricatives and bursts are noise
   shaped by a band around a centre frequency. Filtering is done frame by
   frame in the short-time Fourier domain (8 ms hop), so the formants can
   move without a per-sample loop.
4. **Recording.** Background noise (coloured, sometimes with mains hum) at a
   random SNR, a random mild channel (high-pass, low-pass, two peaking
   equaliser bands and a shelf) and a random level.

Who varies, and how
-------------------
*Per speaker* (:class:`SpeakerProfile`, drawn from ``(seed, speaker)``):
gender (alternating, so the corpus is balanced), mean F0 (85-150 Hz men,
160-255 Hz women: many speakers of a gender overlap), pitch range, jitter,
shimmer, breathiness, glottal pulse shape, spectral tilt, formant bandwidths,
vocal-tract length factor, a personal offset per formant, the antiresonance,
speaking rate.

*Per utterance* (drawn from ``(seed, speaker, utterance)``): the text,
duration, rate, prosody, loudness, SNR and channel; and, scaled by
``intra_speaker_variability``, small shifts of the voice itself (F0 level,
vocal-tract length, formants, pulse shape, breathiness), as a speaker's
voice differs from day to day. The channel is drawn per utterance, so it is
not a speaker cue.

The corpus on disk
------------------
:func:`generate_corpus` writes 16-bit mono FLAC in the LibriSpeech layout, so
:func:`speakerlib.data.librispeech.read_librispeech` reads it::

    <root>/LibriSpeech/
        README.TXT, SPEAKERS.TXT, SYNTHETIC.json (the config and seed)
        synthetic/<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac
        synthetic/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

How hard it is
--------------
The defaults were tuned so that the simple baseline of
:mod:`speakerlib.baseline` (mean MFCC, cosine; 10 enrolment and 10 test
utterances per speaker) identifies the speaker of about 60-67 % of the test
utterances among the 48 (chance: 2 %) and has a pairwise verification EER
of about 17-20 %, over corpus seeds 0-2: far from perfect, so that learned
embeddings have something to win. Most of the difficulty comes from what is
said (the vowels vary far more than the voices) and from the per-utterance
noise, channel and voice shifts.

Every utterance has its own random generator derived from
``(seed, speaker index, utterance index)``: the same config gives
byte-identical files whatever the order, the number of jobs, or whether a
run was interrupted and resumed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import fft as sp_fft
from scipy import signal

from speakerlib.audio import audio_info
from speakerlib.data.librispeech import SYNTHETIC_MARKER
from speakerlib.data.manifest import make_manifest
from speakerlib.errors import CorpusLayoutError, UnreadableAudioError

__all__ = [
    "SYNTH_VERSION",
    "SynthConfig",
    "SpeakerProfile",
    "UtteranceInfo",
    "speaker_profiles",
    "utterance_rng",
    "synthesize_utterance",
    "generate_corpus",
    "SUBSET",
]

#: Version of the synthesis algorithm. It is stored in ``SYNTHETIC.json``; a
#: change that alters the audio of a given config must increase it, so that
#: an old corpus folder is not silently completed with different audio.
SYNTH_VERSION = 1

SUBSET = "synthetic"

# Vowels: name, F1, F2, F3 [Hz] of an adult male voice (rounded averages of
# Hillenbrand et al. 1995, "Acoustic characteristics of American English
# vowels"), and a relative frequency of use (central vowels are common, as in
# English). F4 and F5 are common to all vowels (_F45_HZ).
_VOWELS: tuple[tuple[str, float, float, float, float], ...] = (
    ("IY", 340.0, 2320.0, 3000.0, 0.09),
    ("IH", 430.0, 2030.0, 2680.0, 0.14),
    ("EY", 480.0, 2090.0, 2690.0, 0.05),
    ("EH", 580.0, 1800.0, 2600.0, 0.09),
    ("AE", 590.0, 1950.0, 2600.0, 0.07),
    ("AA", 770.0, 1330.0, 2520.0, 0.06),
    ("AO", 650.0, 1000.0, 2540.0, 0.04),
    ("OW", 500.0, 910.0, 2460.0, 0.04),
    ("UH", 470.0, 1120.0, 2430.0, 0.03),
    ("UW", 380.0, 1000.0, 2340.0, 0.05),
    ("AH", 620.0, 1200.0, 2550.0, 0.24),
    ("ER", 470.0, 1380.0, 1710.0, 0.10),
)
_VOWEL_P = np.array([v[4] for v in _VOWELS]) / sum(v[4] for v in _VOWELS)
# Unstressed vowels move toward this neutral (schwa) target [Hz].
_SCHWA_HZ = np.array([500.0, 1500.0, 2500.0])
_F45_HZ = (3400.0, 4400.0)
_BANDWIDTHS_HZ = np.array([70.0, 90.0, 130.0, 190.0, 250.0])

# Consonants (syllable onsets). kind: "none", "fricative", "plosive",
# "sonorant" (voiced, with its own formant targets), "aspirate" (H: noise
# through the vocal tract of the following vowel).
# noise: (centre frequency [Hz, male voice], width [octaves], level) of the
# frication or burst noise; formants: F1-F3 [Hz] of a sonorant; level of a
# sonorant relative to a vowel.
_CONSONANTS: dict[str, dict] = {
    "": {"kind": "none", "p": 0.20},
    "S": {"kind": "fricative", "p": 0.09, "noise": (5800.0, 0.45, 0.9)},
    "SH": {"kind": "fricative", "p": 0.05, "noise": (3000.0, 0.45, 1.0)},
    "F": {"kind": "fricative", "p": 0.05, "noise": (4500.0, 1.6, 0.35)},
    "H": {"kind": "aspirate", "p": 0.06},
    "P": {"kind": "plosive", "p": 0.08, "noise": (900.0, 1.2, 0.7)},
    "T": {"kind": "plosive", "p": 0.10, "noise": (4200.0, 0.8, 1.0)},
    "K": {"kind": "plosive", "p": 0.09, "noise": (2000.0, 0.5, 1.0)},
    "M": {"kind": "sonorant", "p": 0.09, "formants": (280.0, 1000.0, 2200.0), "level": 0.35},
    "N": {"kind": "sonorant", "p": 0.09, "formants": (280.0, 1500.0, 2500.0), "level": 0.35},
    "L": {"kind": "sonorant", "p": 0.10, "formants": (360.0, 1100.0, 2600.0), "level": 0.6},
}
_CONSONANT_NAMES = tuple(_CONSONANTS)
_CONSONANT_P = np.array([_CONSONANTS[c]["p"] for c in _CONSONANT_NAMES])
_CONSONANT_P = _CONSONANT_P / _CONSONANT_P.sum()

# Segment kinds of the plan.
_VOICED, _FRICATION, _BURST, _ASPIRATION, _CLOSURE = range(5)

# Frame hop and window of the short-time Fourier filtering [s].
_HOP_S = 0.008
_WIN_S = 0.032

# Seed-sequence domains: speakers and utterances draw from separate streams.
_SPEAKER_STREAM = 0
_UTTERANCE_STREAM = 1

_INT_FIELDS = ("num_speakers", "utterances_per_speaker", "seed", "sample_rate_hz")


@dataclass(frozen=True)
class SynthConfig:
    """How big the synthetic corpus is and how hard.

    Attributes
    ----------
    num_speakers : int >= 2
        Speakers; genders alternate (F, M, F, ...), so an even number is balanced.
    utterances_per_speaker : int >= 2
        Utterances of each speaker (split over one or two chapters).
    seed : int >= 0
        Everything is drawn from this seed.
    sample_rate_hz : int in [16000, 48000]
        Sampling rate [Hz] of the files.
    min_duration_s, max_duration_s : float [s]
        Utterance durations are uniform in this range (silences included);
        ``2.0 <= min_duration_s <= max_duration_s <= 30``.
    snr_min_db, snr_max_db : float [dB]
        Background noise: the SNR of each utterance is uniform in this range
        (speech power over active speech / noise power).
    intra_speaker_variability : float >= 0
        Scales the per-utterance shifts of the voice itself (F0 level, vocal
        tract length, formants, pulse shape, breathiness, rate). 0 gives a
        speaker the same voice in every utterance; the channel, noise, text
        and prosody still vary.
    channel_eq_db : float >= 0 [dB]
        Standard deviation of the gain of the channel's equaliser bands.

    Notes
    -----
    The default size, 48 speakers (24 F, 24 M) x 20 utterances, is about
    76 minutes of audio and 69 MB of FLAC; with ``jobs=2`` it is generated in
    about half a minute on two cores. Enough speakers for speaker-disjoint
    train/dev/test splits, small enough to train a network on a CPU.

    Raises
    ------
    ValueError
        From ``__post_init__``, naming the field, the value and the valid range.
    """

    num_speakers: int = 48
    utterances_per_speaker: int = 20
    seed: int = 0
    sample_rate_hz: int = 16000
    min_duration_s: float = 2.5
    max_duration_s: float = 7.0
    snr_min_db: float = 30.0
    snr_max_db: float = 50.0
    intra_speaker_variability: float = 1.0
    channel_eq_db: float = 2.5

    def __post_init__(self) -> None:
        def fail(name: str, expected: str) -> None:
            raise ValueError(
                f"SynthConfig.{name}: expected {expected}, found {getattr(self, name)!r}."
            )

        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                fail(name, "an integer")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                fail(f.name, "a number")
            if not math.isfinite(value):
                fail(f.name, "a finite number")
        if self.num_speakers < 2:
            fail("num_speakers", "at least 2 speakers")
        if self.utterances_per_speaker < 2:
            fail("utterances_per_speaker", "at least 2 utterances per speaker")
        if self.seed < 0:
            fail("seed", "a seed >= 0")
        if not 16000 <= self.sample_rate_hz <= 48000:
            fail("sample_rate_hz", "a rate between 16000 and 48000 Hz")
        if not 2.0 <= self.min_duration_s <= 30.0:
            fail("min_duration_s", "a duration between 2.0 and 30.0 s")
        if not self.min_duration_s <= self.max_duration_s <= 30.0:
            fail("max_duration_s", f"a duration between min_duration_s={self.min_duration_s} and 30.0 s")
        if not -10.0 <= self.snr_min_db <= 80.0:
            fail("snr_min_db", "an SNR between -10 and 80 dB")
        if not self.snr_min_db <= self.snr_max_db <= 80.0:
            fail("snr_max_db", f"an SNR between snr_min_db={self.snr_min_db} and 80 dB")
        if not 0.0 <= self.intra_speaker_variability <= 5.0:
            fail("intra_speaker_variability", "a factor between 0 and 5")
        if not 0.0 <= self.channel_eq_db <= 12.0:
            fail("channel_eq_db", "a gain spread between 0 and 12 dB")

    def to_dict(self) -> dict:
        """The fields as plain Python ``int`` (counts, seed, rate) and ``float`` (JSON-ready)."""
        return {k: (int(v) if k in _INT_FIELDS else float(v)) for k, v in asdict(self).items()}

    def utterance_settings(self) -> dict:
        """The keyword arguments of :func:`synthesize_utterance` that this config sets."""
        return {
            "sample_rate_hz": int(self.sample_rate_hz),
            "min_duration_s": float(self.min_duration_s),
            "max_duration_s": float(self.max_duration_s),
            "snr_min_db": float(self.snr_min_db),
            "snr_max_db": float(self.snr_max_db),
            "intra_speaker_variability": float(self.intra_speaker_variability),
            "channel_eq_db": float(self.channel_eq_db),
        }


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


@dataclass(frozen=True)
class UtteranceInfo:
    """What :func:`synthesize_utterance` made, for tests, plots and captions.

    Times are in seconds from the start of the recording.

    Attributes
    ----------
    num_samples : int
        Length of the audio.
    sample_rate_hz : int
        Its sampling rate [Hz].
    text : str
        The syllables, upper case, grouped into made-up words.
    syllables : tuple of str
        The syllable names in order.
    leading_silence_s, trailing_silence_s : float [s]
        Silence (background noise only) before the first and after the last phrase.
    phrases_s : tuple of (float, float)
        Start and end [s] of each phrase (stretch of speech between pauses).
    pauses_s : tuple of (float, float)
        Start and end [s] of each pause between phrases (at least one).
    f0_median_hz : float [Hz]
        Median F0 of the voiced samples, as synthesised.
    f0_shift_semitones : float
        This utterance's shift of the speaker's F0 level.
    vtl_factor : float
        This utterance's vocal-tract length factor (speaker's, perturbed).
    speaking_rate_hz : float [syllables/s]
        This utterance's speaking rate.
    snr_db : float [dB]
        Speech power (over active speech) over background noise power.
    level_dbfs : float [dBFS]
        RMS level of the active speech in the output (before peak limiting).
    channel : dict
        The channel's settings: ``highpass_hz``, ``lowpass_hz``,
        ``peaks`` (list of ``(frequency_hz, gain_db, q)``), ``shelf_hz``,
        ``shelf_db``.
    """

    num_samples: int
    sample_rate_hz: int
    text: str
    syllables: tuple[str, ...]
    leading_silence_s: float
    trailing_silence_s: float
    phrases_s: tuple[tuple[float, float], ...]
    pauses_s: tuple[tuple[float, float], ...]
    f0_median_hz: float
    f0_shift_semitones: float
    vtl_factor: float
    speaking_rate_hz: float
    snr_db: float
    level_dbfs: float
    channel: dict

    @property
    def duration_s(self) -> float:
        """Duration [s]."""
        return self.num_samples / self.sample_rate_hz


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
        A fresh generator; pass it to :func:`synthesize_utterance`.
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

    Examples
    --------
    >>> profiles = speaker_profiles(SynthConfig(num_speakers=4, seed=1))
    >>> [p.speaker_id for p in profiles], [p.gender for p in profiles]
    (['1000', '1001', '1002', '1003'], ['F', 'M', 'F', 'M'])
    """
    if not isinstance(config, SynthConfig):
        raise TypeError(f"expected a SynthConfig, found {type(config).__name__}.")
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


# --------------------------------------------------------------------------
# Planning: what is said when


@dataclass(frozen=True)
class _Plan:
    num_samples: int
    syllables: tuple[str, ...]
    text: str
    lead_s: float
    trail_s: float
    phrases_s: tuple[tuple[float, float], ...]
    pauses_s: tuple[tuple[float, float], ...]
    rate_hz: float
    # Segments, sorted and non-overlapping [s]; kinds from _VOICED.._CLOSURE.
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_kind: np.ndarray
    seg_level: np.ndarray
    seg_formants: np.ndarray  # (n_seg, 3) F1-F3 targets of a male voice [Hz]; NaN: none
    seg_noise: np.ndarray  # (n_seg, 2) centre [Hz], width [octaves] of frication/burst noise
    # Syllable nuclei (vowels) [s] and whether each carries a pitch accent.
    vowel_center_s: np.ndarray
    accent_height: np.ndarray  # semitones, 0 for unaccented syllables


def _plan_utterance(
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    *,
    sample_rate_hz: int,
    min_duration_s: float,
    max_duration_s: float,
    intra_speaker_variability: float,
) -> _Plan:
    """Draw the timing and content of one utterance (cheap: no audio)."""
    duration = rng.uniform(min_duration_s, max_duration_s)
    num_samples = int(round(duration * sample_rate_hz))
    duration = num_samples / sample_rate_hz
    lead = rng.uniform(0.2, 0.5)
    trail = rng.uniform(0.2, 0.5)
    rate = speaker.speaking_rate_hz * math.exp(rng.normal(0.0, 0.08 * intra_speaker_variability))
    budget = duration - lead - trail
    num_phrases = max(2, int(budget / rng.uniform(1.4, 2.2)) + 1)
    pause_lengths = rng.uniform(0.18, 0.45, num_phrases - 1)
    weights = rng.uniform(0.7, 1.3, num_phrases)
    phrase_lengths = (budget - pause_lengths.sum()) * weights / weights.sum()

    starts: list[float] = []
    ends: list[float] = []
    kinds: list[int] = []
    levels: list[float] = []
    formants: list[tuple[float, float, float]] = []
    noises: list[tuple[float, float]] = []
    syllables: list[str] = []
    words: list[str] = []
    vowel_centers: list[float] = []
    accents: list[float] = []
    phrases: list[tuple[float, float]] = []
    pauses: list[tuple[float, float]] = []

    def add(start: float, end: float, kind: int, level: float,
            formant: tuple[float, float, float] | None = None,
            noise: tuple[float, float] | None = None) -> None:
        starts.append(start)
        ends.append(end)
        kinds.append(kind)
        levels.append(level)
        formants.append(formant if formant is not None else (math.nan,) * 3)
        noises.append(noise if noise is not None else (math.nan, math.nan))

    t = lead
    for p in range(num_phrases):
        phrase_start = t
        length = phrase_lengths[p]
        n_syl = max(1, int(round(length * rate)))
        w = np.exp(rng.normal(0.0, 0.25, n_syl))
        w[-1] *= 1.4  # phrase-final lengthening
        syl_lengths = length * w / w.sum()
        vowel_ids = rng.choice(len(_VOWELS), size=n_syl, p=_VOWEL_P)
        consonant_ids = rng.choice(len(_CONSONANT_NAMES), size=n_syl, p=_CONSONANT_P)
        stress = rng.uniform(0.55, 1.0, n_syl)
        accented = rng.random(n_syl) < 0.35
        accent_heights = rng.uniform(1.0, 3.5, n_syl) * speaker.f0_range
        cons_fraction = rng.uniform(0.25, 0.45, n_syl)
        plosive_split = rng.uniform(0.3, 0.5, n_syl)  # closure share of a plosive
        word_break = rng.random(n_syl) < 0.45
        word = ""
        for k in range(n_syl):
            vowel_name, f1, f2, f3, _ = _VOWELS[vowel_ids[k]]
            # Vowel reduction: the weaker the syllable, the nearer its vowel to schwa.
            reduction = 0.6 * min(1.0, max(0.0, (0.8 - stress[k]) / 0.25))
            f1, f2, f3 = (np.array([f1, f2, f3]) + reduction * (_SCHWA_HZ - np.array([f1, f2, f3]))).tolist()
            cname = _CONSONANT_NAMES[consonant_ids[k]]
            cons = _CONSONANTS[cname]
            syl_start, syl_end = t, t + syl_lengths[k]
            c_len = 0.0 if cons["kind"] == "none" else min(0.14, cons_fraction[k] * syl_lengths[k])
            v_start = syl_start + c_len
            level = float(stress[k])
            if cons["kind"] == "fricative":
                fc, width, lvl = cons["noise"]
                add(syl_start, v_start, _FRICATION, lvl * level, noise=(fc, width))
            elif cons["kind"] == "plosive":
                fc, width, lvl = cons["noise"]
                if cname == "K":  # velar burst follows the vowel's F2
                    fc = 1.1 * f2
                closure = plosive_split[k] * c_len
                burst = min(0.015, 0.3 * (c_len - closure))
                add(syl_start, syl_start + closure, _CLOSURE, 0.0)
                add(syl_start + closure, syl_start + closure + burst, _BURST, lvl * level,
                    noise=(fc, width))
                add(syl_start + closure + burst, v_start, _ASPIRATION, 0.5 * level,
                    formant=(f1, f2, f3))
            elif cons["kind"] == "aspirate":
                add(syl_start, v_start, _ASPIRATION, 0.6 * level, formant=(f1, f2, f3))
            elif cons["kind"] == "sonorant":
                add(syl_start, v_start, _VOICED, cons["level"] * level, formant=cons["formants"])
            add(v_start, syl_end, _VOICED, level, formant=(f1, f2, f3))
            vowel_centers.append(0.5 * (v_start + syl_end))
            accents.append(float(accent_heights[k]) if accented[k] else 0.0)
            name = cname + vowel_name
            syllables.append(name)
            word += name
            if word_break[k] or k == n_syl - 1 or len(word) >= 9:
                words.append(word)
                word = ""
            t = syl_end
        phrases.append((phrase_start, t))
        if p < num_phrases - 1:
            pauses.append((t, t + pause_lengths[p]))
            t += pause_lengths[p]

    return _Plan(
        num_samples=num_samples,
        syllables=tuple(syllables),
        text=" ".join(words),
        lead_s=float(lead),
        trail_s=float(duration - t),
        phrases_s=tuple((float(a), float(b)) for a, b in phrases),
        pauses_s=tuple((float(a), float(b)) for a, b in pauses),
        rate_hz=float(rate),
        seg_start=np.array(starts),
        seg_end=np.array(ends),
        seg_kind=np.array(kinds, dtype=np.int64),
        seg_level=np.array(levels),
        seg_formants=np.array(formants, dtype=np.float64).reshape(-1, 3),
        seg_noise=np.array(noises, dtype=np.float64).reshape(-1, 2),
        vowel_center_s=np.array(vowel_centers),
        accent_height=np.array(accents),
    )


# --------------------------------------------------------------------------
# DSP helpers (pure functions)


def _moving_average(x: np.ndarray, width: int, *, pad_mode: str = "edge") -> np.ndarray:
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


def _smooth(x: np.ndarray, width: int, *, pad_mode: str = "edge") -> np.ndarray:
    """Two passes of a moving average: a triangular smoother ``2 * width`` wide."""
    return _moving_average(_moving_average(x, width, pad_mode=pad_mode), width, pad_mode=pad_mode)


def _rosenberg_pulse(phase: np.ndarray, *, open_quotient: float, speed_quotient: float) -> np.ndarray:
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


def _cascade_response(freqs_hz: np.ndarray, bandwidths_hz: np.ndarray, *, n_fft: int,
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


def _antiresonance_response(freq_hz: float, bandwidth_hz: float, *, n_fft: int,
                            sample_rate_hz: int) -> np.ndarray:
    """Response of a two-zero antiresonance, unit gain at 0 Hz, at the ``n_fft // 2 + 1`` bins."""
    r = math.exp(-math.pi * bandwidth_hz / sample_rate_hz)
    c = 2.0 * r * math.cos(2.0 * math.pi * freq_hz / sample_rate_hz)
    return np.fft.rfft(np.array([1.0, -c, r * r]), n=n_fft) / (1.0 - c + r * r)


def _peaking_sos(freq_hz: float, gain_db: float, q: float, sample_rate_hz: int) -> np.ndarray:
    """Peaking equaliser biquad (Audio EQ Cookbook), as one second-order section."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate_hz
    alpha = np.sin(w0) / (2.0 * q)
    b = np.array([1.0 + alpha * amp, -2.0 * np.cos(w0), 1.0 - alpha * amp])
    a = np.array([1.0 + alpha / amp, -2.0 * np.cos(w0), 1.0 - alpha / amp])
    return np.concatenate([b / a[0], a / a[0]])[None, :]


def _high_shelf_sos(freq_hz: float, gain_db: float, sample_rate_hz: int) -> np.ndarray:
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


def _energy(spec: np.ndarray) -> float:
    """Sum of squared magnitudes of a complex array."""
    flat = spec.reshape(-1)
    return float(np.vdot(flat, flat).real)


def _stft(x: np.ndarray, *, n_fft: int, hop: int, win: int) -> np.ndarray:
    import librosa

    return librosa.stft(x, n_fft=n_fft, hop_length=hop, win_length=win, window="hann", center=True)


def _istft(spec: np.ndarray, *, n_fft: int, hop: int, win: int, length: int) -> np.ndarray:
    import librosa

    return librosa.istft(spec, n_fft=n_fft, hop_length=hop, win_length=win, window="hann",
                         center=True, length=length)


# --------------------------------------------------------------------------
# Synthesis


def synthesize_utterance(
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    *,
    sample_rate_hz: int = 16000,
    min_duration_s: float = 2.5,
    max_duration_s: float = 7.0,
    snr_min_db: float = 30.0,
    snr_max_db: float = 50.0,
    intra_speaker_variability: float = 1.0,
    channel_eq_db: float = 2.5,
) -> tuple[np.ndarray, UtteranceInfo]:
    """Synthesise one utterance of a voice: speech-like audio with silences and noise.

    A pure function of its arguments: the same profile, generator state and
    settings give the same samples. The settings have the meaning of the
    same-named :class:`SynthConfig` fields (``config.utterance_settings()``
    gives them).

    Parameters
    ----------
    speaker : SpeakerProfile
        The voice (see :func:`speaker_profiles`).
    rng : numpy.random.Generator
        Source of every random choice (see :func:`utterance_rng`); it is advanced.
    sample_rate_hz : int [Hz]
        Output sampling rate.
    min_duration_s, max_duration_s : float [s]
        Range of the (uniform) duration, silences included.
    snr_min_db, snr_max_db : float [dB]
        Range of the (uniform) speech-to-background-noise ratio.
    intra_speaker_variability : float >= 0
        Scale of the utterance's shifts of the voice (0: none).
    channel_eq_db : float >= 0 [dB]
        Spread of the channel equaliser's gains.

    Returns
    -------
    audio : np.ndarray [shape=(n,), dtype=float32]
        Samples in [-1, 1], ``n = info.num_samples``.
    info : UtteranceInfo
        Text, timing of phrases and pauses, F0, SNR, channel...

    Raises
    ------
    ValueError
        If a setting is out of the range :class:`SynthConfig` accepts.

    Examples
    --------
    >>> config = SynthConfig(num_speakers=2, seed=0)
    >>> voice = speaker_profiles(config)[0]
    >>> audio, info = synthesize_utterance(voice, utterance_rng(0, 0, 0), **config.utterance_settings())
    >>> audio.dtype, audio.shape == (info.num_samples,), len(info.pauses_s) >= 1
    (dtype('float32'), True, True)
    """
    # Validate the settings through the config's own checks.
    SynthConfig(sample_rate_hz=sample_rate_hz, min_duration_s=min_duration_s,
                max_duration_s=max_duration_s, snr_min_db=snr_min_db, snr_max_db=snr_max_db,
                intra_speaker_variability=intra_speaker_variability, channel_eq_db=channel_eq_db)
    fs = int(sample_rate_hz)
    v = float(intra_speaker_variability)
    plan = _plan_utterance(speaker, rng, sample_rate_hz=fs, min_duration_s=min_duration_s,
                           max_duration_s=max_duration_s, intra_speaker_variability=v)
    n = plan.num_samples

    # Utterance-level state of the voice.
    f0_shift = rng.normal(0.0, 1.0 * v)
    vtl = speaker.vtl_factor * math.exp(rng.normal(0.0, 0.02 * v))
    formant_scale = vtl * (1.0 + np.asarray(speaker.formant_offsets)) * np.exp(rng.normal(0.0, 0.012 * v, 5))
    open_quotient = float(np.clip(speaker.open_quotient + rng.normal(0.0, 0.03 * v), 0.3, 0.9))
    tilt = float(np.clip(speaker.spectral_tilt + rng.normal(0.0, 0.06 * v), 0.0, 0.9))
    breathiness = speaker.breathiness * math.exp(rng.normal(0.0, 0.25 * v))

    hop = int(round(_HOP_S * fs))
    win = int(round(_WIN_S * fs))
    n_fft = 1 << int(math.ceil(math.log2(2 * win)))
    n_frames = 1 + n // hop
    frame_t = np.arange(n_frames) * hop / fs
    t = np.arange(n) / fs

    # Which segment each sample is in.
    seg = np.searchsorted(plan.seg_start, t, side="right") - 1
    inside = (seg >= 0) & (t < plan.seg_end[np.maximum(seg, 0)])
    seg = np.maximum(seg, 0)
    kind = np.where(inside, plan.seg_kind[seg], -1)
    level = plan.seg_level[seg]

    voiced_gate = _smooth(np.where(kind == _VOICED, level, 0.0), int(0.012 * fs), pad_mode="constant")
    aspiration_gate = _smooth(np.where(kind == _ASPIRATION, level, 0.0), int(0.005 * fs),
                              pad_mode="constant")
    frication_gate = _smooth(np.where(kind == _FRICATION, level, 0.0), int(0.015 * fs),
                             pad_mode="constant")
    burst_decay = np.exp(-(t - plan.seg_start[seg]) / 0.004)
    frication_gate += _smooth(np.where(kind == _BURST, level * burst_decay, 0.0), int(0.001 * fs),
                              pad_mode="constant")

    # F0 contour [semitones re the speaker's mean], at frame rate, then per sample.
    phrase_starts = np.array([a for a, _ in plan.phrases_s])
    phrase_ends = np.array([b for _, b in plan.phrases_s])
    drops = rng.uniform(1.5, 4.0, len(phrase_starts)) * speaker.f0_range
    ph = np.clip(np.searchsorted(phrase_starts, frame_t, side="right") - 1, 0, len(phrase_starts) - 1)
    progress = np.clip((frame_t - phrase_starts[ph]) / (phrase_ends[ph] - phrase_starts[ph]), 0.0, 1.0)
    semitones = drops[ph] * (0.5 - progress)
    accent_width = rng.uniform(0.05, 0.09)
    semitones += (plan.accent_height[None, :] * np.exp(
        -0.5 * ((frame_t[:, None] - plan.vowel_center_s[None, :]) / accent_width) ** 2)).sum(axis=1)
    knots = np.arange(0.0, frame_t[-1] + 0.5, 0.25)
    semitones += 0.6 * np.interp(frame_t, knots, rng.normal(0.0, 1.0, knots.size))
    semitones = _smooth(semitones, 3)
    f0 = speaker.f0_mean_hz * 2.0 ** ((np.interp(t, frame_t, semitones) + f0_shift) / 12.0)
    mean_period = fs / (speaker.f0_mean_hz * 2.0 ** (f0_shift / 12.0))
    cycle_guess = (np.arange(n) / mean_period).astype(np.int64)
    f0 = f0 * (1.0 + speaker.jitter * rng.standard_normal(int(cycle_guess[-1]) + 1)[cycle_guess])

    # Glottal source: flow derivative with shimmer and extra tilt, plus aspiration.
    phase = np.cumsum(f0) / fs
    cycle = phase.astype(np.int64)
    flow = _rosenberg_pulse(phase - cycle, open_quotient=open_quotient,
                            speed_quotient=speaker.speed_quotient)
    derivative = np.diff(flow, prepend=flow[0]) * (fs / f0)
    derivative *= np.exp(speaker.shimmer * rng.standard_normal(int(cycle[-1]) + 1))[cycle]
    voice = signal.lfilter([1.0 - tilt], [1.0, -tilt], derivative)
    voice_rms = float(np.sqrt(np.mean(voice**2)))
    breath = breathiness * voice_rms * (0.3 + flow) * rng.standard_normal(n)
    tract_source = (voice + breath) * voiced_gate
    tract_source += 0.5 * voice_rms * aspiration_gate * rng.standard_normal(n)
    frication_source = frication_gate * rng.standard_normal(n)

    # Formant tracks [Hz] at frame rate: targets at segment anchors, interpolated, smoothed.
    has_formants = ~np.isnan(plan.seg_formants[:, 0])
    anchors_t: list[np.ndarray] = []
    anchors_f: list[np.ndarray] = []
    for k in np.flatnonzero(has_formants):
        a, b = plan.seg_start[k], plan.seg_end[k]
        targets = np.r_[plan.seg_formants[k], _F45_HZ]
        if plan.seg_kind[k] == _VOICED and b - a > 0.06:
            anchors_t.append(np.array([a + 0.3 * (b - a), b - 0.3 * (b - a)]))
            anchors_f.append(np.vstack([targets, targets]))
        else:
            anchors_t.append(np.array([0.5 * (a + b)]))
            anchors_f.append(targets[None, :])
    at = np.concatenate(anchors_t)
    af = np.vstack(anchors_f) * formant_scale[None, :]
    tracks = np.stack([np.interp(frame_t, at, af[:, j]) for j in range(5)], axis=1)
    tracks = _smooth(tracks, max(1, int(round(0.03 / _HOP_S))))
    bandwidths = _BANDWIDTHS_HZ * speaker.bandwidth_factor
    bandwidths = bandwidths * np.r_[1.0 + 2.0 * breathiness, np.ones(4)]  # breathy: wider B1

    freqs = np.fft.rfftfreq(n_fft, d=1.0 / fs)
    keep = (tracks < 0.45 * fs).all(axis=0)
    tract = _cascade_response(tracks[:, keep], np.broadcast_to(bandwidths[keep], tracks[:, keep].shape),
                              n_fft=n_fft, sample_rate_hz=fs)
    zero_hz = speaker.antiresonance_hz * vtl
    if zero_hz < 0.45 * fs:
        tract *= _antiresonance_response(zero_hz, speaker.antiresonance_bandwidth_hz, n_fft=n_fft,
                                         sample_rate_hz=fs)[None, :]

    # Filtering in the short-time Fourier domain. Fricatives and bursts: noise
    # through a band (Gaussian in octaves) taken from the noise segment whose
    # centre is nearest the frame.
    stft_kw = {"n_fft": n_fft, "hop": hop, "win": win}
    voiced_spec = _stft(tract_source.astype(np.float32), **stft_kw)
    voiced_spec *= tract.T.astype(np.complex64)
    noisy = np.flatnonzero(~np.isnan(plan.seg_noise[:, 0]))
    frication_weight = float(np.sum(frication_gate**2))
    if noisy.size and frication_weight > 0.0:
        centres = 0.5 * (plan.seg_start[noisy] + plan.seg_end[noisy])
        right = np.clip(np.searchsorted(centres, frame_t), 0, noisy.size - 1)
        left = np.clip(right - 1, 0, noisy.size - 1)
        nearest = np.where(np.abs(frame_t - centres[left]) <= np.abs(frame_t - centres[right]),
                           left, right)
        fc = np.minimum(plan.seg_noise[noisy, 0] * vtl, 0.42 * fs)
        octaves = np.log2(np.maximum(freqs[None, :], 20.0) / fc[:, None])
        band = np.exp(-0.5 * (octaves / plan.seg_noise[noisy, 1][:, None]) ** 2)  # (noisy, bins)
        frication_spec = _stft(frication_source.astype(np.float32), **stft_kw)
        frication_spec *= band[nearest].T.astype(np.float32)
        # Level of the noise sounds: a fricative at full level has 0.4 times the
        # amplitude (-8 dB) of a vowel at full level. Energies per unit of
        # squared gate, summed over the spectrogram (Parseval), set the ratio.
        voiced_per_gate = _energy(voiced_spec) / float(np.sum(voiced_gate**2))
        frication_per_gate = _energy(frication_spec) / frication_weight
        frication_spec *= np.float32(0.4 * math.sqrt(voiced_per_gate / max(frication_per_gate, 1e-30)))
        voiced_spec += frication_spec
    speech = _istft(voiced_spec, length=n, **stft_kw).astype(np.float64)

    # Background noise: coloured (1/f^beta), sometimes with mains hum.
    active = (voiced_gate > 0.05) | (frication_gate > 0.02) | (aspiration_gate > 0.02)
    speech_power = float(np.mean(speech[active] ** 2))
    snr_db = float(rng.uniform(snr_min_db, snr_max_db))
    beta = rng.uniform(0.6, 1.8)
    n_noise = sp_fft.next_fast_len(n, real=True)
    spectrum = sp_fft.rfft(rng.standard_normal(n_noise))
    spectrum *= np.maximum(sp_fft.rfftfreq(n_noise, d=1.0 / fs), 30.0) ** (-beta / 2.0)
    noise = sp_fft.irfft(spectrum, n=n_noise)[:n]
    noise /= np.sqrt(np.mean(noise**2))
    if rng.random() < 0.3:
        mains = 50.0 if rng.random() < 0.5 else 60.0
        harmonics = np.arange(1, 6)
        hum = (0.7 ** harmonics[:, None] * np.sin(
            2 * np.pi * mains * harmonics[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, (5, 1)))).sum(0)
        noise += rng.uniform(0.3, 1.0) * hum / np.sqrt(np.mean(hum**2))
        noise /= np.sqrt(np.mean(noise**2))
    mixture = speech + noise * math.sqrt(speech_power / 10.0 ** (snr_db / 10.0))

    # Channel: band limits, two equaliser peaks and a shelf, drawn per utterance.
    nyquist = 0.5 * fs
    highpass_hz = float(rng.uniform(50.0, 150.0))
    lowpass_hz = float(min(rng.uniform(7000.0, 7900.0), 0.95 * nyquist))
    peaks = [(float(math.exp(rng.uniform(math.log(200.0), math.log(5000.0)))),
              float(rng.normal(0.0, channel_eq_db)), float(rng.uniform(0.7, 2.0))) for _ in range(2)]
    shelf_hz = float(math.exp(rng.uniform(math.log(1000.0), math.log(4000.0))))
    shelf_db = float(rng.normal(0.0, 0.5 * channel_eq_db))
    sos = np.vstack([
        signal.butter(2, highpass_hz, btype="highpass", fs=fs, output="sos"),
        signal.butter(4, lowpass_hz, btype="lowpass", fs=fs, output="sos"),
        *[_peaking_sos(f, g, q, fs) for f, g, q in peaks],
        _high_shelf_sos(shelf_hz, shelf_db, fs),
    ])
    recorded = signal.sosfilt(sos, mixture)

    # Level: active speech at a random RMS level, then keep peaks below full scale.
    level_dbfs = float(rng.uniform(-32.0, -20.0))
    recorded *= 10.0 ** (level_dbfs / 20.0) / math.sqrt(float(np.mean(recorded[active] ** 2)))
    peak = float(np.max(np.abs(recorded)))
    if peak > 0.95:
        recorded *= 0.95 / peak
    audio = recorded.astype(np.float32)

    info = UtteranceInfo(
        num_samples=n,
        sample_rate_hz=fs,
        text=plan.text,
        syllables=plan.syllables,
        leading_silence_s=plan.lead_s,
        trailing_silence_s=plan.trail_s,
        phrases_s=plan.phrases_s,
        pauses_s=plan.pauses_s,
        f0_median_hz=float(np.median(f0[voiced_gate > 0.5 * voiced_gate.max()])),
        f0_shift_semitones=float(f0_shift),
        vtl_factor=float(vtl),
        speaking_rate_hz=plan.rate_hz,
        snr_db=snr_db,
        level_dbfs=level_dbfs,
        channel={"highpass_hz": highpass_hz, "lowpass_hz": lowpass_hz, "peaks": peaks,
                 "shelf_hz": shelf_hz, "shelf_db": shelf_db},
    )
    return audio, info


# --------------------------------------------------------------------------
# The corpus on disk

_README = """\
SYNTHETIC SPEAKER CORPUS (NOT REAL SPEECH)

Every audio file below this folder was generated by speakerlib.data.synth
(source-filter synthesis of speech-like sounds from a random seed). No person
recorded it, and it holds no words: the transcripts are made-up syllable
names. It is laid out like LibriSpeech so the same reader reads it.

SYNTHETIC.json holds the configuration and seed that made it; running
`speakerlib synth` with the same configuration reproduces the files exactly.
SPEAKERS.TXT lists the synthetic voices in LibriSpeech's format.
"""


@dataclass(frozen=True)
class _Job:
    """One utterance to write (picklable, for worker processes)."""

    settings: tuple[tuple[str, float | int], ...]
    seed: int
    speaker: SpeakerProfile
    utterance_index: int
    path: str


def _utterance_layout(profile: SpeakerProfile, utterances: int) -> list[tuple[int, str, int]]:
    """``(utterance index, chapter, number within the chapter)`` of each utterance."""
    chapters = profile.chapters()
    first = math.ceil(utterances / len(chapters))
    layout = []
    for u in range(utterances):
        c = min(u // first, len(chapters) - 1)
        layout.append((u, chapters[c], u - c * first))
    return layout


def _write_flac_atomically(path: Path, audio: np.ndarray, sample_rate_hz: int) -> None:
    """Quantise to 16-bit and write FLAC via a temporary file renamed into place."""
    pcm = np.clip(np.round(audio.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, pcm, sample_rate_hz, format="FLAC", subtype="PCM_16")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_text_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _run_job(job: _Job) -> str:
    rng = utterance_rng(job.seed, job.speaker.index, job.utterance_index)
    audio, _ = synthesize_utterance(job.speaker, rng, **dict(job.settings))
    _write_flac_atomically(Path(job.path), audio, int(dict(job.settings)["sample_rate_hz"]))
    return job.path


def _is_complete(path: Path, num_samples: int, sample_rate_hz: int) -> bool:
    """True when ``path`` is a readable file of the expected length and rate."""
    if not path.is_file():
        return False
    try:
        info = audio_info(path)
    except UnreadableAudioError:
        return False
    return (info.num_samples == num_samples and info.sample_rate_hz == sample_rate_hz
            and info.num_channels == 1 and info.subtype == "PCM_16")


def _marker(config: SynthConfig) -> dict:
    from speakerlib import __version__

    return {
        "synthetic": True,
        "note": "Synthetic speech-like audio generated by speakerlib.data.synth; "
                "not recordings of real people and not real speech.",
        "generator": "speakerlib.data.synth",
        "synth_version": SYNTH_VERSION,
        "speakerlib_version": __version__,
        "seed": int(config.seed),
        "config": config.to_dict(),
    }


def _check_root(librispeech_dir: Path, config: SynthConfig) -> None:
    """Refuse to write into a folder that holds something else."""
    marker_path = librispeech_dir / SYNTHETIC_MARKER
    if marker_path.is_file():
        try:
            old = json.loads(marker_path.read_text(encoding="utf-8"))
            old_config, old_version = old["config"], old["synth_version"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorpusLayoutError(
                f"{marker_path}: expected the JSON marker of a synthetic corpus (with "
                f"'config' and 'synth_version'), found a file that cannot be read as one "
                f"({exc}). Fix: delete {librispeech_dir} and generate the corpus again."
            ) from exc
        if old_config != config.to_dict() or old_version != SYNTH_VERSION:
            raise CorpusLayoutError(
                f"{librispeech_dir.parent}: expected a synthetic corpus made with the requested "
                f"configuration, found one made with another.\n"
                f"  existing:  {old_config} (synthesis version {old_version})\n"
                f"  requested: {config.to_dict()} (synthesis version {SYNTH_VERSION})\n"
                "A root holds one synthetic corpus. Fix: choose another root for the new "
                "configuration, or ask for the existing one (SynthConfig(**existing)), or "
                f"delete {librispeech_dir} and generate again."
            )
        return
    if (librispeech_dir / "SPEAKERS.TXT").exists() or (librispeech_dir / SUBSET).exists():
        raise CorpusLayoutError(
            f"{librispeech_dir}: expected an empty folder or a synthetic corpus (with "
            f"{SYNTHETIC_MARKER}), found other LibriSpeech content and no marker. The "
            "synthetic corpus is not written over real data. Fix: choose another root."
        )


def _speakers_txt(profiles: Sequence[SpeakerProfile], minutes: dict[str, float]) -> str:
    lines = [
        "; Synthetic speakers of speakerlib's default corpus (NOT real people), in the",
        "; pipe(|) separated format of LibriSpeech's SPEAKERS.TXT.",
        ";",
        "; The meaning of the fields in left-to-right order is as follows:",
        ";",
        "; reader_id: the ID of the synthetic speaker",
        "; gender: 'F' for female, 'M' for male (of the synthetic voice)",
        "; subset: the corpus subset to which the speaker's audio is assigned",
        "; duration: total number of minutes of audio by the speaker, silences included",
        "; name: a placeholder name",
        ";",
        ";ID  |SEX| SUBSET           |MINUTES| NAME",
    ]
    for p in profiles:
        lines.append(f"{p.speaker_id:<5}| {p.gender} | {SUBSET:<16} | {minutes[p.speaker_id]:5.2f} | "
                     f"synthetic speaker {p.index}")
    return "\n".join(lines) + "\n"


def generate_corpus(
    root: str | Path,
    config: SynthConfig = SynthConfig(),
    *,
    progress: bool = True,
    jobs: int = 1,
) -> pd.DataFrame:
    """Generate (or complete) the synthetic corpus below ``root`` and return its manifest.

    Writes ``<root>/LibriSpeech/synthetic/<spk>/<chapter>/<spk>-<chapter>-<utt:04d>.flac``
    (16-bit mono FLAC), a ``<spk>-<chapter>.trans.txt`` per chapter, and in
    ``<root>/LibriSpeech/``: ``SPEAKERS.TXT`` (LibriSpeech's format),
    ``SYNTHETIC.json`` (the config, seed and a note that the audio is
    synthetic) and ``README.TXT``.

    Deterministic and resumable: every utterance comes from its own generator
    (:func:`utterance_rng`), files are written to a temporary name and renamed
    into place, and a file already there with the expected length is kept.
    So an interrupted run can be repeated, and a repeated run writes nothing
    new; the result is byte-identical whatever ``jobs`` is.

    Parameters
    ----------
    root : str or Path
        Output folder; ``LibriSpeech/`` is created below it.
    config : SynthConfig
        Size, seed and difficulty. The default is the book's corpus
        (48 speakers x 20 utterances, seed 0).
    progress : bool
        Show a progress bar.
    jobs : int >= 1
        Worker processes synthesising in parallel.

    Returns
    -------
    DataFrame
        The manifest (see :mod:`speakerlib.data.manifest`): one row per
        utterance, ``corpus`` and ``subset`` ``"synthetic"``, with ``chapter``,
        ``gender``, ``text``, ``duration_s`` and ``sample_rate``.

    Raises
    ------
    CorpusLayoutError
        If ``root`` already holds a synthetic corpus made with another config
        (or another version of the synthesis), or LibriSpeech content that is
        not a synthetic corpus.
    ValueError
        If ``jobs`` is not a positive integer.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     manifest = generate_corpus(tmp, SynthConfig(num_speakers=2, utterances_per_speaker=2,
    ...                                                 max_duration_s=3.0), progress=False)
    >>> len(manifest), sorted(manifest["gender"].unique()), manifest["corpus"].iloc[0]
    (4, ['F', 'M'], 'synthetic')
    """
    from tqdm.auto import tqdm

    if not isinstance(config, SynthConfig):
        raise TypeError(f"expected a SynthConfig, found {type(config).__name__}.")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"expected jobs to be a positive integer, found {jobs!r}.")
    root = Path(root).expanduser().resolve()
    librispeech_dir = root / "LibriSpeech"
    _check_root(librispeech_dir, config)
    librispeech_dir.mkdir(parents=True, exist_ok=True)
    marker_path = librispeech_dir / SYNTHETIC_MARKER
    if not marker_path.is_file():
        _write_text_atomically(marker_path, json.dumps(_marker(config), indent=2) + "\n")
    _write_text_atomically(librispeech_dir / "README.TXT", _README)
    subset_dir = librispeech_dir / SUBSET
    for stale in subset_dir.glob("*/*/.*.partial"):  # left by an interrupted run
        stale.unlink(missing_ok=True)

    settings = config.utterance_settings()
    fs = settings["sample_rate_hz"]
    plan_settings = {k: settings[k] for k in ("sample_rate_hz", "min_duration_s", "max_duration_s",
                                             "intra_speaker_variability")}
    profiles = speaker_profiles(config)
    rows: list[dict] = []
    todo: list[_Job] = []
    transcripts: dict[Path, list[str]] = {}
    for profile in profiles:
        for u, chapter, number in _utterance_layout(profile, config.utterances_per_speaker):
            utt_id = f"{profile.speaker_id}-{chapter}-{number:04d}"
            chapter_dir = subset_dir / profile.speaker_id / chapter
            path = chapter_dir / f"{utt_id}.flac"
            plan = _plan_utterance(profile, utterance_rng(config.seed, profile.index, u), **plan_settings)
            rows.append({
                "utt_id": utt_id,
                "speaker": profile.speaker_id,
                "path": str(path),
                "duration_s": plan.num_samples / fs,
                "sample_rate": fs,
                "num_channels": 1,
                "subset": SUBSET,
                "gender": profile.gender,
                "corpus": "synthetic",
                "chapter": chapter,
                "text": plan.text,
            })
            transcripts.setdefault(chapter_dir / f"{profile.speaker_id}-{chapter}.trans.txt",
                                   []).append(f"{utt_id} {plan.text}")
            if not _is_complete(path, plan.num_samples, fs):
                chapter_dir.mkdir(parents=True, exist_ok=True)
                todo.append(_Job(tuple(settings.items()), int(config.seed), profile, u, str(path)))

    bar = tqdm(total=len(todo), desc="synthetic corpus", unit="utt", disable=not progress or not todo)
    try:
        if jobs == 1 or len(todo) <= 1:
            for job in todo:
                _run_job(job)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
                for _ in pool.map(_run_job, todo, chunksize=4):
                    bar.update()
    finally:
        bar.close()

    for path, lines in transcripts.items():
        _write_text_atomically(path, "\n".join(lines) + "\n")
    minutes: dict[str, float] = {}
    for row in rows:
        minutes[row["speaker"]] = minutes.get(row["speaker"], 0.0) + row["duration_s"] / 60.0
    _write_text_atomically(librispeech_dir / "SPEAKERS.TXT", _speakers_txt(profiles, minutes))
    return make_manifest(rows, corpus="synthetic")
