"""Audio files: what is in them, and reading them.

:func:`audio_info` reads a file's header (the corpus readers use it to fill a
manifest's duration and sample-rate columns). :func:`load_audio` reads the
samples as float32 in [-1, 1], downmixed and resampled as asked, and says what
it did: it returns a :class:`LoadReport` and warns with
:class:`AudioConversionWarning` whenever it resamples, downmixes or clips.

Decoders, chosen by the file's first bytes rather than its name:

* WAV (any PCM width, float), FLAC, OGG, AIFF, NIST SPHERE: :mod:`soundfile`
  (libsndfile). SPHERE that libsndfile refuses falls back to
  :func:`speakerlib.data.sphere.read_sphere`; shorten-compressed SPHERE fails
  with a message saying how to decompress it.
* Anything else (MP3, M4A/AAC, Opus in WebM...): :mod:`pydub` driving the
  ffmpeg binary that :mod:`imageio_ffmpeg` ships. No system ffmpeg and no
  ffprobe are needed: the codec is read from ``ffmpeg -i`` and passed to
  pydub explicitly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from speakerlib.data.sphere import read_sphere, read_sphere_header
from speakerlib.errors import AudioTooShortError, InvalidAudioError, UnreadableAudioError

__all__ = [
    "AudioInfo",
    "audio_info",
    "AudioConversionWarning",
    "LoadReport",
    "load_audio",
    "sphere_header_text",
]


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

    The same facts are in the :class:`LoadReport` it returns. Silence the
    warning where the conversion is intended::

        warnings.filterwarnings("ignore", category=AudioConversionWarning)
    """


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_audio` read, and what it did to the samples.

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


def load_audio(
    path: str | Path,
    *,
    sample_rate_hz: int | None = 16000,
    mono: bool = True,
) -> tuple[np.ndarray, LoadReport]:
    """Read an audio file as float32 samples in [-1, 1], saying what was done to them.

    The decoder is chosen by the file's first bytes, not its name: WAV (8-,
    16-, 24-, 32-bit PCM, float, double), FLAC, OGG, AIFF and NIST SPHERE
    through libsndfile (SPHERE headers it refuses through
    :func:`speakerlib.data.sphere.read_sphere`); MP3, M4A and the rest through
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
    ValueError
        If ``sample_rate_hz`` is not a positive integer or None.

    Examples
    --------
    >>> y, report = load_audio("19-198-0000.flac")  # doctest: +SKIP
    >>> y.dtype, y.shape, report.sample_rate_hz, report.changes  # doctest: +SKIP
    (dtype('float32'), (225360,), 16000, ())
    """
    path = Path(path)
    rate = _check_rate(sample_rate_hz)
    decoded = _decode(path)
    samples, report = _to_float(decoded, path, sample_rate_hz=rate, mono=mono)
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


# --------------------------------------------------------------------------
# Decoding. Every decoder returns the samples as stored (integers stay
# integers) so that convert.py can copy them exactly; _to_float scales them.

_PYDUB_IMPORT_LOCK = threading.Lock()  # only guards the one-time import of pydub
_FIX_COPY = "Re-download or re-copy this file, or leave it out of the manifest."
_FFMPEG_TIMEOUT_S = 600
_INT16_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "ULAW", "ALAW"})
_INT32_SUBTYPES = frozenset({"PCM_24", "PCM_32"})
_UNKNOWN_LENGTH = 2**62  # libsndfile's frame count when a stream does not say its length

# (first bytes, libsndfile format) of the containers libsndfile reads
_SOUNDFILE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"NIST_1A\n", "NIST"),
    (b"RIFF", "WAV"),
    (b"RIFX", "WAV"),
    (b"RF64", "WAV"),
    (b"riff", "W64"),
    (b"fLaC", "FLAC"),
    (b"OggS", "OGG"),
    (b"FORM", "AIFF"),
    (b".snd", "AU"),
    (b"caff", "CAF"),
)
# extensions whose files libsndfile decodes: if it cannot, nothing else should try
_SOUNDFILE_EXTENSIONS: dict[str, str] = {
    ".wav": "WAV or NIST SPHERE",
    ".wave": "WAV",
    ".flac": "FLAC",
    ".sph": "NIST SPHERE",
    ".nist": "NIST SPHERE",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
    ".au": "AU",
    ".snd": "AU",
    ".w64": "Wave64",
    ".rf64": "RF64",
    ".caf": "CAF",
}


@dataclass(frozen=True)
class _Decoded:
    """Samples as stored, with what is needed to scale them and report on them."""

    samples: np.ndarray  # (n, channels): int16, int32, float32 or float64
    full_scale: float  # divide by this to get [-1, 1]
    sample_rate_hz: int
    format: str
    subtype: str
    decoder: str


class _OpenError(Exception):
    """libsndfile could not open the file at all (as opposed to failing mid-way)."""


def _check_rate(sample_rate_hz: object) -> int | None:
    if sample_rate_hz is None:
        return None
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, (int, np.integer, float)):
        raise ValueError(
            f"expected sample_rate_hz as a positive integer [Hz] or None, found "
            f"{sample_rate_hz!r} ({type(sample_rate_hz).__name__})."
        )
    if sample_rate_hz <= 0 or int(sample_rate_hz) != sample_rate_hz:
        raise ValueError(
            f"expected sample_rate_hz as a positive integer [Hz] or None, found {sample_rate_hz!r}."
        )
    return int(sample_rate_hz)


def _check_file(path: Path) -> bytes:
    """Fail clearly on a missing, non-regular or empty file; return its first bytes."""
    if not path.exists():
        raise UnreadableAudioError(
            f"{path}: expected an audio file, found nothing there. "
            "Check the path, or rebuild the manifest if the corpus moved."
        )
    if not path.is_file():
        raise UnreadableAudioError(
            f"{path}: expected an audio file, found a directory or another non-file. "
            "Check the path."
        )
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise UnreadableAudioError(
            f"{path}: expected a readable audio file, could not open it ({exc}). "
            "Check its permissions."
        ) from exc
    if not head:
        raise UnreadableAudioError(
            f"{path}: expected audio, found an empty file (0 bytes). {_FIX_COPY}"
        )
    return head


def _sniff(head: bytes) -> str | None:
    """Name the container from the first bytes: a libsndfile format, "ffmpeg", or None."""
    for magic, name in _SOUNDFILE_MAGIC:
        if head.startswith(magic):
            return name
    mpeg_sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0  # MP3, ADTS AAC
    if (
        mpeg_sync
        or head.startswith(b"ID3")  # MP3 (or FLAC) behind an ID3 tag
        or head[4:8] == b"ftyp"  # MP4 / M4A
        or head.startswith(b"\x1a\x45\xdf\xa3")  # Matroska / WebM
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # ASF / WMA
        or head.startswith(b"#!AMR")
    ):
        return "ffmpeg"
    return None


def _decode(path: Path) -> _Decoded:
    """Decode any supported file to its stored samples, and check them."""
    head = _check_file(path)
    kind = _sniff(head)
    if kind == "NIST":
        decoded = _decode_sphere(path)
    elif kind == "ffmpeg":
        decoded = _decode_ffmpeg(path)
    elif kind is not None:
        if kind == "WAV":
            _check_riff_length(path)
        try:
            decoded = _decode_soundfile(path)
        except _OpenError as exc:
            if kind != "OGG":  # Ogg may hold codecs libsndfile lacks (Speex, FLAC...)
                raise UnreadableAudioError(
                    f"{path}: expected {kind} audio (the file starts like {kind}), found a file "
                    f"libsndfile cannot open ({exc}): it is truncated or corrupted. {_FIX_COPY}"
                ) from exc
            decoded = _decode_ffmpeg(path, libsndfile_error=str(exc))
    elif path.suffix.lower() in _SOUNDFILE_EXTENSIONS:
        expected = _SOUNDFILE_EXTENSIONS[path.suffix.lower()]
        try:
            decoded = _decode_soundfile(path)
        except _OpenError as exc:
            raise UnreadableAudioError(
                f"{path}: expected {expected} audio, as the extension {path.suffix!r} says, "
                f"found bytes starting {head[:12]!r} that are not audio libsndfile recognises "
                f"({exc}). The file is corrupted or not audio at all (an HTML error page "
                f"saved under an audio name is a common case). {_FIX_COPY}"
            ) from exc
    else:
        # ffmpeg reads what libsndfile reads and more; libsndfile's MP3 probe would
        # also print notes on stderr for a .mp3 that is not MP3
        decoded = _decode_ffmpeg(path)
    return _check_samples(path, decoded)


def _check_samples(path: Path, decoded: _Decoded) -> _Decoded:
    samples = decoded.samples
    if samples.shape[0] == 0:
        raise AudioTooShortError(
            f"{path}: expected at least one sample, found a valid {decoded.format} "
            f"{decoded.subtype} file holding none (0 s of audio). {_FIX_COPY}"
        )
    if samples.dtype.kind == "f":
        finite = np.isfinite(samples)
        if not finite.all():
            bad = ~finite
            n_nan = int(np.count_nonzero(np.isnan(samples)))
            n_inf = int(np.count_nonzero(bad)) - n_nan
            first = int(np.flatnonzero(bad.any(axis=1))[0])
            raise InvalidAudioError(
                f"{path}: expected finite samples, found {n_nan} NaN and {n_inf} infinite "
                f"value(s) in this {decoded.subtype} file, the first at sample {first} "
                f"({first / decoded.sample_rate_hz:.3f} s). Re-export the file from the tool "
                "that made it, replacing NaN and inf (numpy.nan_to_num) before saving, or "
                "leave it out of the manifest."
            )
    return decoded


def _native_dtype(subtype: str) -> tuple[str, float]:
    """The dtype that holds a libsndfile subtype exactly, and its full scale."""
    if subtype in _INT16_SUBTYPES:
        return "int16", 32768.0
    if subtype in _INT32_SUBTYPES:
        return "int32", 2.0**31
    if subtype == "DOUBLE":
        return "float64", 1.0
    return "float32", 1.0  # FLOAT, and decoders that produce floats (Vorbis, Opus, MP3)


def _decode_soundfile(path: Path) -> _Decoded:
    try:
        handle = sf.SoundFile(str(path))
    except Exception as exc:  # LibsndfileError, RuntimeError, TypeError across versions
        raise _OpenError(str(exc)) from exc
    with handle:
        fmt, subtype = str(handle.format), str(handle.subtype)
        rate, channels, frames = int(handle.samplerate), int(handle.channels), int(handle.frames)
        if rate <= 0 or channels <= 0:
            raise UnreadableAudioError(
                f"{path}: expected a positive sample rate and channel count, found a {fmt} "
                f"header announcing {rate} Hz and {channels} channel(s). {_FIX_COPY}"
            )
        dtype, full_scale = _native_dtype(subtype)
        try:
            samples = handle.read(dtype=dtype, always_2d=True)
        except Exception as exc:
            raise UnreadableAudioError(
                f"{path}: expected {frames} samples of {fmt} {subtype} audio, as the header "
                f"announces, found data on which decoding stops part-way ({exc}): the file is "
                f"truncated or corrupted. {_FIX_COPY}"
            ) from exc
    if 0 < frames < _UNKNOWN_LENGTH and samples.shape[0] < frames:
        raise UnreadableAudioError(
            f"{path}: expected {frames} samples, as the {fmt} header announces, found only "
            f"{samples.shape[0]}: the file is truncated. {_FIX_COPY}"
        )
    return _Decoded(samples, full_scale, rate, fmt, subtype, "soundfile")


def _check_riff_length(path: Path) -> None:
    """Raise when a RIFF WAV's data chunk announces more bytes than the file holds.

    libsndfile reads such files without complaint, returning only the samples
    present, so a truncated WAV would otherwise pass as a shorter one.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        riff = handle.read(12)
        if len(riff) < 12 or riff[:4] not in (b"RIFF", b"RIFX") or riff[8:12] != b"WAVE":
            return  # RF64 or malformed: libsndfile judges
        order = "little" if riff[:4] == b"RIFF" else "big"
        pos = 12
        while pos + 8 <= size:
            handle.seek(pos)
            chunk = handle.read(8)
            length = int.from_bytes(chunk[4:8], order)
            if chunk[:4] == b"data":
                available = size - pos - 8
                if length in (0, 0xFFFFFFFF):  # written by a stream that never knew its length
                    return
                if length > available:
                    raise UnreadableAudioError(
                        f"{path}: expected {length} bytes of samples, as the WAV data chunk "
                        f"announces, found {available}: the file is truncated. {_FIX_COPY}"
                    )
                return
            pos += 8 + length + (length & 1)


def _decode_sphere(path: Path) -> _Decoded:
    header = read_sphere_header(path)
    if header.is_compressed:
        read_sphere(path)  # raises, saying how to decompress (sph2pipe, sox)
    if header.sample_count is not None and header.sample_n_bytes:
        expected = header.sample_count * header.sample_n_bytes * header.channel_count
        available = path.stat().st_size - header.header_size
        if available < expected:
            raise UnreadableAudioError(
                f"{path}: expected {header.sample_count} samples x {header.channel_count} "
                f"channel(s) x {header.sample_n_bytes} bytes = {expected} bytes after the "
                f"{header.header_size}-byte SPHERE header, found {max(available, 0)}: the file "
                "is truncated. Re-copy it from the corpus release."
            )
    try:
        return _decode_soundfile(path)
    except _OpenError as exc:
        try:
            samples, rate = read_sphere(path)
        except UnreadableAudioError as inner:
            raise UnreadableAudioError(f"{inner} (libsndfile cannot read it either: {exc})") from exc
    return _Decoded(samples.reshape(samples.shape[0], -1), 32768.0, rate, "NIST", "PCM_16", "sphere")


def _ffmpeg_exe(path: Path) -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # ImportError, or RuntimeError when no binary fits
        raise UnreadableAudioError(
            f"{path}: expected ffmpeg to decode this file (it is not WAV, FLAC, OGG or "
            f"SPHERE), found none ({exc}). Install imageio-ffmpeg (`pip install "
            "imageio-ffmpeg`), or convert the file to WAV or FLAC."
        ) from exc


def _audio_segment_class(ffmpeg: str) -> type:
    """A pydub AudioSegment subclass that runs ``ffmpeg``; pydub itself is left as it is."""
    if "pydub.audio_segment" not in sys.modules:
        with _PYDUB_IMPORT_LOCK, warnings.catch_warnings():
            # pydub warns at import that audioop is deprecated (Python 3.11) and that
            # no ffmpeg is on PATH; neither matters: the ffmpeg used is given here.
            warnings.simplefilter("ignore")
            import pydub.audio_segment  # noqa: F401
    base = sys.modules["pydub.audio_segment"].AudioSegment
    return type("_ImageioFfmpegSegment", (base,), {"converter": ffmpeg})


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _decode_ffmpeg(path: Path, *, libsndfile_error: str | None = None) -> _Decoded:
    ffmpeg = _ffmpeg_exe(path)
    target = os.path.abspath(path)  # a leading "/" keeps ffmpeg from reading "x:" as a protocol
    also = f" (libsndfile cannot read it either: {libsndfile_error})" if libsndfile_error else ""
    # `ffmpeg -i FILE` with no output describes the input and exits with 1;
    # that gives the codec to pass to pydub, which would otherwise call ffprobe.
    try:
        probe = subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", "-i", target],
            capture_output=True,
            timeout=_FFMPEG_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UnreadableAudioError(
            f"{path}: expected ffmpeg ({ffmpeg}) to describe this file, could not run it "
            f"({exc}). Reinstall imageio-ffmpeg, or convert the file to WAV or FLAC."
        ) from exc
    text = probe.stderr.decode("utf-8", errors="replace")
    container = re.search(r"^Input #0, (.+?), from ", text, re.MULTILINE)
    stream = re.search(r"^\s*Stream #0:\d+\S*: Audio: (\w+)", text, re.MULTILINE)
    if container is None or stream is None:
        found = (
            f"a {container.group(1)} file without an audio stream"
            if container
            else f"bytes that ffmpeg does not recognise as audio ({_last_line(text)})"
        )
        raise UnreadableAudioError(
            f"{path}: expected audio (WAV, FLAC, OGG, SPHERE, MP3, M4A...), found {found}{also}. "
            f"The file is corrupted or not audio. {_FIX_COPY}"
        )
    fmt, codec = container.group(1), stream.group(1)
    segment_class = _audio_segment_class(ffmpeg)
    try:
        segment = segment_class.from_file(target, codec=codec)
    except Exception as exc:  # pydub's CouldntDecodeError, or a bad WAV from ffmpeg
        raise UnreadableAudioError(
            f"{path}: expected {codec} audio in a {fmt} file that ffmpeg decodes, found data "
            f"it fails on ({_last_line(str(exc))}): the file is truncated or corrupted. "
            f"{_FIX_COPY}"
        ) from exc
    width = int(segment.sample_width)
    if width not in (2, 4):
        raise UnreadableAudioError(
            f"{path}: expected ffmpeg to decode to 16- or 32-bit PCM, found {8 * width}-bit. "
            "Convert the file to WAV or FLAC with another tool and read that."
        )
    raw = np.frombuffer(segment.raw_data, dtype="<i2" if width == 2 else "<i4")
    samples = raw.astype(np.int16 if width == 2 else np.int32).reshape(-1, int(segment.channels))
    full_scale = 32768.0 if width == 2 else 2.0**31
    return _Decoded(samples, full_scale, int(segment.frame_rate), fmt, codec, "ffmpeg")


def _to_float(
    decoded: _Decoded, path: Path, *, sample_rate_hz: int | None, mono: bool
) -> tuple[np.ndarray, LoadReport]:
    """Scale to [-1, 1], downmix, resample and clip as asked (no warning here)."""
    stored = decoded.samples
    n, channels = stored.shape
    if stored.dtype == np.int16:
        y = stored.astype(np.float32) * np.float32(1.0 / 32768.0)  # a power of two: exact
    elif stored.dtype.kind == "i":
        y = stored.astype(np.float64) / decoded.full_scale
    else:
        y = stored
    downmixed = mono and channels > 1
    if mono:
        y = y.mean(axis=1, dtype=np.float64) if downmixed else y[:, 0]
    rate = decoded.sample_rate_hz
    target = rate if sample_rate_hz is None else sample_rate_hz
    resampled = target != rate
    if resampled:
        import soxr

        y = soxr.resample(np.ascontiguousarray(y), rate, target, quality="HQ")
        if y.shape[0] == 0:
            raise AudioTooShortError(
                f"{path}: expected at least one sample after resampling {n} sample(s) from "
                f"{rate} Hz to {target} Hz, found none. Leave this file out of the manifest."
            )
    outside = np.abs(y) > 1.0
    clipped = int(np.count_nonzero(outside))
    if clipped:
        y = np.clip(y, -1.0, 1.0)
    samples = np.ascontiguousarray(y, dtype=np.float32)
    report = LoadReport(
        path=path,
        decoder=decoded.decoder,
        format=decoded.format,
        subtype=decoded.subtype,
        original_sample_rate_hz=rate,
        original_channels=channels,
        original_num_samples=n,
        sample_rate_hz=target,
        num_channels=1 if mono else channels,
        num_samples=int(samples.shape[0]),
        downmixed=downmixed,
        resampled=resampled,
        clipped_samples=clipped,
    )
    return samples, report
