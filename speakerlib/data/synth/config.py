"""The settings of the synthetic corpus: :class:`SynthConfig`, and the synthesis version."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from speakerlib.audio.load import SAMPLE_RATE_HZ
from speakerlib.errors import ConfigError, ConfigTypeError

__all__ = ["SYNTH_VERSION", "SUBSET", "SynthConfig"]

#: Version of the synthesis algorithm. It is stored in ``SYNTHETIC.json``; a
#: change that alters the audio of a given config must increase it, so that
#: an old corpus folder is not silently completed with different audio.
SYNTH_VERSION = 1

#: The subset (folder and ``subset`` column) of the synthetic corpus.
SUBSET = "synthetic"

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
    ConfigError
        From ``__post_init__``, naming the field, the value and the valid range
        (:class:`~speakerlib.errors.ConfigTypeError` when it is not a number,
        or not an integer where one is needed).
    """

    num_speakers: int = 48
    utterances_per_speaker: int = 20
    seed: int = 0
    sample_rate_hz: int = SAMPLE_RATE_HZ
    min_duration_s: float = 2.5
    max_duration_s: float = 7.0
    snr_min_db: float = 30.0
    snr_max_db: float = 50.0
    intra_speaker_variability: float = 1.0
    channel_eq_db: float = 2.5

    def __post_init__(self) -> None:
        def fail(name: str, expected: str, error: type[ConfigError] = ConfigError) -> None:
            raise error(
                f"SynthConfig.{name}: expected {expected}, found {getattr(self, name)!r}."
            )

        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                fail(name, "an integer", ConfigTypeError)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                fail(f.name, "a number", ConfigTypeError)
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
        """The keyword arguments of :func:`~speakerlib.data.synth.voice.synthesize_utterance` it sets."""
        return {
            "sample_rate_hz": int(self.sample_rate_hz),
            "min_duration_s": float(self.min_duration_s),
            "max_duration_s": float(self.max_duration_s),
            "snr_min_db": float(self.snr_min_db),
            "snr_max_db": float(self.snr_max_db),
            "intra_speaker_variability": float(self.intra_speaker_variability),
            "channel_eq_db": float(self.channel_eq_db),
        }
