"""Audio files: what is in them, and reading them.

This module grows with the audio pipeline; the corpus readers use
:func:`audio_info` to fill a manifest's duration and sample-rate columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from speakerlib.errors import UnreadableAudioError

__all__ = ["AudioInfo", "audio_info"]


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says.

    Attributes
    ----------
    num_samples : int
        Samples per channel.
    sample_rate_hz : int
        Sampling rate [Hz].
    num_channels : int
        Number of channels.
    format : str
        Container, as libsndfile names it (``"FLAC"``, ``"WAV"``, ``"NIST"``...).
    subtype : str
        Sample encoding (``"PCM_16"``, ``"FLOAT"``...).
    """

    num_samples: int
    sample_rate_hz: int
    num_channels: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        """Duration [s]."""
        return self.num_samples / self.sample_rate_hz


def audio_info(path: str | Path) -> AudioInfo:
    """Read an audio file's header (WAV, FLAC, NIST SPHERE, OGG...).

    Parameters
    ----------
    path : str or Path
        The audio file.

    Returns
    -------
    AudioInfo

    Raises
    ------
    UnreadableAudioError
        If the file is missing, empty, truncated, or not audio that
        libsndfile can decode (for example shorten-compressed SPHERE).
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableAudioError(
            f"{path}: expected an audio file, found nothing there. "
            "Check the path, or rebuild the manifest if the corpus moved."
        )
    if path.stat().st_size == 0:
        raise UnreadableAudioError(
            f"{path}: expected audio, found an empty file (0 bytes). "
            "Re-download or re-copy this file, or remove it from the corpus."
        )
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise UnreadableAudioError(
            f"{path}: expected WAV, FLAC or NIST SPHERE audio that libsndfile can "
            f"decode, found a file it cannot read ({exc}). The file is probably "
            "truncated, corrupted or in another format: re-download or re-copy it, "
            "or remove it from the corpus."
        ) from exc
    if info.frames <= 0 or info.samplerate <= 0:
        raise UnreadableAudioError(
            f"{path}: expected audio samples, found a header announcing "
            f"{info.frames} samples at {info.samplerate} Hz. Re-download or re-copy "
            "this file, or remove it from the corpus."
        )
    return AudioInfo(
        num_samples=int(info.frames),
        sample_rate_hz=int(info.samplerate),
        num_channels=int(info.channels),
        format=str(info.format),
        subtype=str(info.subtype),
    )
