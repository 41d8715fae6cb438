"""Audio files: what is in them, and reading them.

:func:`audio_info` reads a file's header (the corpus readers use it to fill a
manifest's duration and sample-rate columns). :func:`load_audio` reads the
samples as float32 in [-1, 1], downmixed and resampled as asked, and says what
it did: it returns a :class:`~speakerlib.audio.records.LoadReport` and warns with
:class:`AudioConversionWarning` whenever it resamples, downmixes or clips.

The decoders (libsndfile, speakerlib's SPHERE reader, ffmpeg), chosen by the
file's first bytes rather than its name, are in :mod:`speakerlib.audio.decode`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from speakerlib.audio.decode import check_sample_rate, decode_audio, to_float
from speakerlib.audio.records import LoadReport
from speakerlib.audio.sphere import read_sphere_header
from speakerlib.errors import UnreadableAudioError

__all__ = [
    "SAMPLE_RATE_HZ",
    "AudioInfo",
    "audio_info",
    "AudioConversionWarning",
    "load_audio",
    "sphere_header_text",
]

#: The course's sample rate [Hz]: every corpus is read at it (resampling is reported), and it
#: is the default of every stage that takes a rate (VAD, features, the synthetic corpus).
SAMPLE_RATE_HZ = 16_000


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


class AudioConversionWarning(UserWarning):
    """:func:`load_audio` changed the samples: it resampled, downmixed or clipped them.

    The same facts are in the :class:`~speakerlib.audio.records.LoadReport` it
    returns. Silence the warning where the conversion is intended::

        warnings.filterwarnings("ignore", category=AudioConversionWarning)
    """



def load_audio(
    path: str | Path,
    *,
    sample_rate_hz: int | None = SAMPLE_RATE_HZ,
    mono: bool = True,
) -> tuple[np.ndarray, LoadReport]:
    """Read an audio file as float32 samples in [-1, 1], saying what was done to them.

    The decoder (:func:`speakerlib.audio.decode.decode_audio`) is chosen by
    the file's first bytes, not its name: WAV (8-,
    16-, 24-, 32-bit PCM, float, double), FLAC, OGG, AIFF and NIST SPHERE
    through libsndfile (SPHERE headers it refuses through
    :func:`speakerlib.audio.sphere.read_sphere`); MP3, M4A and the rest through
    pydub and the ffmpeg binary of imageio-ffmpeg (no system ffmpeg needed).
    Integer PCM is scaled by its full scale (16-bit: ``x / 32768``, exactly).

    Parameters
    ----------
    path : str or Path
        The audio file.
    sample_rate_hz : int > 0 or None
        Rate of the returned samples [Hz]. A file at another rate is resampled
        with soxr (high quality). None keeps the file's rate.
    mono : bool
        True: average the channels into one. False: keep every channel.

    Returns
    -------
    samples : np.ndarray [shape=(n,) if mono else (n, channels), dtype=float32]
        The samples, in [-1, 1].
    report : LoadReport
        The file's rate, channels, format and decoder, and whether the samples
        were resampled, downmixed or clipped.

    Warns
    -----
    AudioConversionWarning
        When the samples were resampled, downmixed or clipped, naming the file.

    Raises
    ------
    UnreadableAudioError
        If the file is missing, empty, truncated (its header announces more
        samples than it holds), not audio, or shorten-compressed SPHERE.
    InvalidAudioError
        If the samples include NaN or infinite values (float files).
    AudioTooShortError
        If the file holds no samples.
    ConfigError
        If ``sample_rate_hz`` is not a positive integer or None
        (:class:`~speakerlib.errors.ConfigTypeError` if it is not a number).

    Examples
    --------
    >>> y, report = load_audio("19-198-0000.flac")  # doctest: +SKIP
    >>> y.dtype, y.shape, report.sample_rate_hz, report.changes  # doctest: +SKIP
    (dtype('float32'), (225360,), 16000, ())
    """
    path = Path(path)
    rate = check_sample_rate(sample_rate_hz)
    decoded = decode_audio(path)
    samples, report = to_float(decoded, path, sample_rate_hz=rate, mono=mono)
    if report.changes:
        warnings.warn(
            f"{path}: {'; '.join(report.changes)}. Pass sample_rate_hz=None and mono=False "
            "to get the samples as stored, or filter AudioConversionWarning when this is "
            "intended.",
            AudioConversionWarning,
            stacklevel=2,
        )
    return samples, report


def sphere_header_text(path: str | Path) -> str:
    """Return the text of a NIST SPHERE header, from ``NIST_1A`` to ``end_head``.

    The padding after ``end_head`` is left out. Useful to show what a TIMIT
    ``.WAV`` file says about itself.

    Raises
    ------
    UnreadableAudioError
        If the file is missing, not SPHERE, or its header is malformed.

    Examples
    --------
    >>> print(sphere_header_text("TIMIT/TRAIN/DR1/FVMH0/SA1.WAV"))  # doctest: +SKIP
    NIST_1A
       1024
    ...
    end_head
    """
    path = Path(path)
    header = read_sphere_header(path)  # validates the header, names the file on errors
    with open(path, "rb") as handle:
        text = handle.read(header.header_size).decode("latin-1")
    end = re.search(r"^end_head[ \t\r]*$", text, re.MULTILINE)
    if end is None:  # the parser accepted it, so this means a changed file
        raise UnreadableAudioError(
            f"{path}: expected a SPHERE header ending in end_head, found none. "
            "Re-copy the file from the corpus release."
        )
    return text[: end.start()] + "end_head\n"
