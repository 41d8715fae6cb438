"""Step 1 of a synthetic recording: the plan of what is said when (cheap: no audio).

A plan is a duration, silences before and after, phrases with pauses between
them, and in each phrase a run of syllables (an optional consonant and a
vowel), as timed segments with their kind, level and formant or noise
targets. :func:`plan_utterance` draws it; :func:`speakerlib.data.synth.voice.synthesize_utterance`
turns it into audio, and :func:`speakerlib.data.synth.corpus.generate_corpus`
uses it to know an utterance's length and text without synthesising it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from speakerlib.data.synth.speakers import SpeakerProfile

__all__ = [
    "VOICED",
    "FRICATION",
    "BURST",
    "ASPIRATION",
    "CLOSURE",
    "F45_HZ",
    "UtterancePlan",
    "plan_utterance",
]

# Vowels: name, F1, F2, F3 [Hz] of an adult male voice (rounded averages of
# Hillenbrand et al. 1995, "Acoustic characteristics of American English
# vowels"), and a relative frequency of use (central vowels are common, as in
# English). F4 and F5 are common to all vowels (F45_HZ).
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
#: F4 and F5 [Hz] of an adult male voice, common to all vowels and sonorants.
F45_HZ = (3400.0, 4400.0)

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

# Segment kinds of a plan (:attr:`UtterancePlan.seg_kind`).
#: Voiced: the glottal source through the vocal tract (vowels, sonorants).
VOICED = 0
#: Frication: noise shaped by a band (fricatives).
FRICATION = 1
#: Burst: the release of a plosive, decaying noise shaped by a band.
BURST = 2
#: Aspiration: noise through the vocal tract of the following vowel (H, plosive aspiration).
ASPIRATION = 3
#: Closure: silence (a plosive's closure).
CLOSURE = 4


@dataclass(frozen=True)
class UtterancePlan:
    """The timing and content of one utterance, as :func:`plan_utterance` draws it.

    Attributes
    ----------
    num_samples : int
        Length of the recording.
    syllables : tuple of str
        The syllable names in order.
    text : str
        The syllables grouped into made-up words.
    lead_s, trail_s : float [s]
        Silence before the first and after the last phrase.
    phrases_s, pauses_s : tuple of (float, float) [s]
        Start and end of each phrase, and of each pause between phrases.
    rate_hz : float [syllables/s]
        This utterance's speaking rate.
    seg_start, seg_end : np.ndarray [s]
        The segments, sorted and non-overlapping.
    seg_kind : np.ndarray [dtype=int64]
        Each segment's kind: :data:`VOICED`, :data:`FRICATION`, :data:`BURST`,
        :data:`ASPIRATION` or :data:`CLOSURE`.
    seg_level : np.ndarray
        Each segment's relative level.
    seg_formants : np.ndarray [shape=(segments, 3), Hz]
        F1-F3 targets of a male voice; NaN where the segment has none.
    seg_noise : np.ndarray [shape=(segments, 2)]
        Centre [Hz] and width [octaves] of frication or burst noise; NaN where none.
    vowel_center_s : np.ndarray [s]
        The middle of each syllable's vowel.
    accent_height : np.ndarray [semitones]
        The pitch accent of each syllable, 0 for unaccented ones.
    """

    num_samples: int
    syllables: tuple[str, ...]
    text: str
    lead_s: float
    trail_s: float
    phrases_s: tuple[tuple[float, float], ...]
    pauses_s: tuple[tuple[float, float], ...]
    rate_hz: float
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_kind: np.ndarray
    seg_level: np.ndarray
    seg_formants: np.ndarray  # (n_seg, 3) F1-F3 targets of a male voice [Hz]; NaN: none
    seg_noise: np.ndarray  # (n_seg, 2) centre [Hz], width [octaves] of frication/burst noise
    # Syllable nuclei (vowels) [s] and whether each carries a pitch accent.
    vowel_center_s: np.ndarray
    accent_height: np.ndarray  # semitones, 0 for unaccented syllables


def plan_utterance(
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    *,
    sample_rate_hz: int,
    min_duration_s: float,
    max_duration_s: float,
    intra_speaker_variability: float,
) -> UtterancePlan:
    """Draw the timing and content of one utterance (cheap: no audio).

    The first draws from ``rng`` of :func:`speakerlib.data.synth.voice.synthesize_utterance`:
    a generator in the state :func:`~speakerlib.data.synth.speakers.utterance_rng`
    returns it in gives the plan of that utterance.

    Parameters
    ----------
    speaker : SpeakerProfile
        The voice (its speaking rate and pitch range are used).
    rng : numpy.random.Generator
        Source of every random choice; it is advanced.
    sample_rate_hz : int [Hz]
        Sampling rate (the duration is rounded to whole samples).
    min_duration_s, max_duration_s : float [s]
        Range of the (uniform) duration, silences included.
    intra_speaker_variability : float >= 0
        Scale of the utterance's change of speaking rate.

    Returns
    -------
    UtterancePlan
    """
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
                add(syl_start, v_start, FRICATION, lvl * level, noise=(fc, width))
            elif cons["kind"] == "plosive":
                fc, width, lvl = cons["noise"]
                if cname == "K":  # velar burst follows the vowel's F2
                    fc = 1.1 * f2
                closure = plosive_split[k] * c_len
                burst = min(0.015, 0.3 * (c_len - closure))
                add(syl_start, syl_start + closure, CLOSURE, 0.0)
                add(syl_start + closure, syl_start + closure + burst, BURST, lvl * level,
                    noise=(fc, width))
                add(syl_start + closure + burst, v_start, ASPIRATION, 0.5 * level,
                    formant=(f1, f2, f3))
            elif cons["kind"] == "aspirate":
                add(syl_start, v_start, ASPIRATION, 0.6 * level, formant=(f1, f2, f3))
            elif cons["kind"] == "sonorant":
                add(syl_start, v_start, VOICED, cons["level"] * level, formant=cons["formants"])
            add(v_start, syl_end, VOICED, level, formant=(f1, f2, f3))
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

    return UtterancePlan(
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
