"""What decoding returns, and what loading did: :class:`DecodedAudio` and :class:`LoadReport`.

:func:`speakerlib.audio.decode.decode_audio` returns a :class:`DecodedAudio`
(the samples as stored); :func:`speakerlib.audio.decode.to_float` and
:func:`speakerlib.audio.load.load_audio` return a :class:`LoadReport` with the
float samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DecodedAudio", "LoadReport"]


@dataclass(frozen=True)
class DecodedAudio:
    """Samples as stored in a file, with what is needed to scale them and report on them.

    Attributes
    ----------
    samples : np.ndarray [shape=(n, channels), dtype=int16, int32, float32 or float64]
        The samples as decoded: integer PCM stays integer (24-bit in int32).
    full_scale : float
        Divide the samples by this to get [-1, 1] (32768 for 16-bit, 2**31 for
        32-bit containers, 1 for float).
    sample_rate_hz : int
        Sampling rate of the file [Hz].
    format : str
        The container, as in :attr:`LoadReport.format`.
    subtype : str
        The sample encoding, as in :attr:`LoadReport.subtype`.
    decoder : str
        ``"soundfile"``, ``"sphere"`` or ``"ffmpeg"`` (see :attr:`LoadReport.decoder`).
    """

    samples: np.ndarray
    full_scale: float
    sample_rate_hz: int
    format: str
    subtype: str
    decoder: str


@dataclass(frozen=True)
class LoadReport:
    """What :func:`speakerlib.audio.load.load_audio` read, and what it did to the samples.

    Also returned by :func:`speakerlib.audio.decode.to_float`.

    Attributes
    ----------
    path : Path
        The file read.
    decoder : str
        ``"soundfile"`` (libsndfile), ``"sphere"`` (speakerlib's own NIST SPHERE
        reader, for headers libsndfile refuses) or ``"ffmpeg"`` (pydub driving
        the ffmpeg binary of imageio-ffmpeg).
    format : str
        The container: libsndfile's name (``"WAV"``, ``"FLAC"``, ``"NIST"``,
        ``"OGG"``...) or ffmpeg's demuxer (``"mp3"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``...).
    subtype : str
        The sample encoding: libsndfile's name (``"PCM_16"``, ``"PCM_24"``,
        ``"FLOAT"``...) or ffmpeg's codec (``"mp3"``, ``"aac"``...).
    original_sample_rate_hz : int
        Sampling rate of the file [Hz].
    original_channels : int
        Channels in the file.
    original_num_samples : int
        Samples per channel in the file (as decoded).
    sample_rate_hz : int
        Sampling rate of the returned samples [Hz].
    num_channels : int
        Channels returned (1 after a downmix).
    num_samples : int
        Samples per channel returned.
    downmixed : bool
        True when the channels were averaged into one.
    resampled : bool
        True when the samples were resampled (soxr, high quality) from
        ``original_sample_rate_hz`` to ``sample_rate_hz``.
    clipped_samples : int
        Samples outside [-1, 1] that were set to -1 or 1: float files louder
        than full scale, or resampling overshoot next to full-scale peaks.
    """

    path: Path
    decoder: str
    format: str
    subtype: str
    original_sample_rate_hz: int
    original_channels: int
    original_num_samples: int
    sample_rate_hz: int
    num_channels: int
    num_samples: int
    downmixed: bool
    resampled: bool
    clipped_samples: int

    @property
    def duration_s(self) -> float:
        """Duration of the returned samples [s]."""
        return self.num_samples / self.sample_rate_hz

    @property
    def changes(self) -> tuple[str, ...]:
        """What was done to the samples, in words; empty when they are as stored."""
        done = []
        if self.resampled:
            done.append(
                f"resampled from {self.original_sample_rate_hz} Hz to {self.sample_rate_hz} Hz "
                "(soxr, high quality)"
            )
        if self.downmixed:
            done.append(f"downmixed {self.original_channels} channels to mono (channel mean)")
        if self.clipped_samples:
            done.append(f"clipped {self.clipped_samples} sample(s) outside [-1, 1]")
        return tuple(done)
