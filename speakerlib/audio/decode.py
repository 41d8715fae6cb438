"""Decoding audio files to their stored samples, and scaling those to float.

The backends behind :func:`speakerlib.audio.load.load_audio`, chosen by the
file's first bytes (:func:`sniff_format`) rather than its name:

* WAV (any PCM width, float), FLAC, OGG, AIFF, NIST SPHERE: :mod:`soundfile`
  (libsndfile). SPHERE that libsndfile refuses falls back to
  :func:`speakerlib.audio.sphere.read_sphere`; shorten-compressed SPHERE fails
  with a message saying how to decompress it.
* Anything else (MP3, M4A/AAC, Opus in WebM...): :mod:`pydub` driving the
  ffmpeg binary that :mod:`imageio_ffmpeg` ships. No system ffmpeg and no
  ffprobe are needed: the codec is read from ``ffmpeg -i`` and passed to
  pydub explicitly.

:func:`decode_audio` returns the samples *as stored* (integers stay
integers, in a :class:`~speakerlib.audio.records.DecodedAudio`), so that
:func:`speakerlib.data.convert.convert_corpus` can copy them exactly;
:func:`to_float` scales, downmixes and resamples them and says what it did in
a :class:`~speakerlib.audio.records.LoadReport`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from speakerlib.audio.records import DecodedAudio, LoadReport
from speakerlib.audio.sphere import read_sphere, read_sphere_header
from speakerlib.errors import (
    AudioTooShortError,
    ConfigError,
    ConfigTypeError,
    InvalidAudioError,
    UnreadableAudioError,
)

__all__ = [
    "check_sample_rate",
    "sniff_format",
    "decode_audio",
    "check_riff_length",
    "check_samples",
    "to_float",
]

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


class _OpenError(Exception):
    """libsndfile could not open the file at all (as opposed to failing mid-way)."""


def check_sample_rate(sample_rate_hz: object) -> int | None:
    """Check a requested sample rate: a positive integer [Hz], or None (keep the file's).

    Parameters
    ----------
    sample_rate_hz : object
        The ``sample_rate_hz`` argument of a caller; an integral float
        (``16000.0``) is accepted.

    Returns
    -------
    int or None
        The rate as an ``int``, or None.

    Raises
    ------
    ConfigTypeError
        If it is not a number (a bool counts as not one).
    ConfigError
        If it is not positive or not a whole number.

    Examples
    --------
    >>> check_sample_rate(16000.0), check_sample_rate(None)
    (16000, None)
    """
    if sample_rate_hz is None:
        return None
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, (int, np.integer, float)):
        raise ConfigTypeError(
            f"expected sample_rate_hz as a positive integer [Hz] or None, found "
            f"{sample_rate_hz!r} ({type(sample_rate_hz).__name__})."
        )
    if sample_rate_hz <= 0 or int(sample_rate_hz) != sample_rate_hz:
        raise ConfigError(
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


def sniff_format(head: bytes) -> str | None:
    """Name a file's container from its first bytes.

    Parameters
    ----------
    head : bytes
        The file's first bytes (16 are enough).

    Returns
    -------
    str or None
        A libsndfile format (``"WAV"``, ``"FLAC"``, ``"NIST"``, ``"OGG"``,
        ``"AIFF"``...), ``"ffmpeg"`` for containers only ffmpeg reads (MP3,
        MP4/M4A, Matroska/WebM, ASF, AMR), or None when the bytes say nothing.

    Examples
    --------
    >>> sniff_format(b"fLaC..."), sniff_format(b"ID3..."), sniff_format(b"<html>")
    ('FLAC', 'ffmpeg', None)
    """
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


def decode_audio(path: Path) -> DecodedAudio:
    """Decode any supported file to its samples as stored, and check them.

    The backend is chosen by :func:`sniff_format` (then by the extension, then
    ffmpeg); see the module docstring. WAV files are checked with
    :func:`check_riff_length`, the samples with :func:`check_samples`.

    Parameters
    ----------
    path : Path
        The audio file.

    Returns
    -------
    DecodedAudio
        The samples as stored (not scaled, downmixed or resampled: see :func:`to_float`).

    Raises
    ------
    UnreadableAudioError
        If the file is missing, empty, truncated, not audio, or shorten-compressed SPHERE.
    InvalidAudioError
        If float samples include NaN or infinite values.
    AudioTooShortError
        If the file holds no samples.
    """
    head = _check_file(path)
    kind = sniff_format(head)
    if kind == "NIST":
        decoded = _decode_sphere(path)
    elif kind == "ffmpeg":
        decoded = _decode_ffmpeg(path)
    elif kind is not None:
        if kind == "WAV":
            check_riff_length(path)
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
    return check_samples(path, decoded)


def check_samples(path: Path, decoded: DecodedAudio) -> DecodedAudio:
    """Check that decoded samples are usable: at least one, and all finite.

    Parameters
    ----------
    path : Path
        The file they came from, named in the messages.
    decoded : DecodedAudio
        What a decoder returned.

    Returns
    -------
    DecodedAudio
        ``decoded``, unchanged.

    Raises
    ------
    AudioTooShortError
        If there is no sample.
    InvalidAudioError
        If float samples include NaN or infinite values (the message counts
        them and gives the first one's time).
    """
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


def _decode_soundfile(path: Path) -> DecodedAudio:
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
    return DecodedAudio(samples, full_scale, rate, fmt, subtype, "soundfile")


def check_riff_length(path: Path) -> None:
    """Raise when a RIFF WAV's data chunk announces more bytes than the file holds.

    libsndfile reads such files without complaint, returning only the samples
    present, so a truncated WAV would otherwise pass as a shorter one. Files
    that are not RIFF/RIFX WAV (RF64, malformed headers), and data chunks
    written by a stream that never knew its length, are left to libsndfile.

    Parameters
    ----------
    path : Path
        The file.

    Raises
    ------
    UnreadableAudioError
        If the data chunk is cut short.
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


def _decode_sphere(path: Path) -> DecodedAudio:
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
    return DecodedAudio(samples.reshape(samples.shape[0], -1), 32768.0, rate, "NIST", "PCM_16", "sphere")


def _ffmpeg_exe(path: Path) -> str:
    try:
        # imported here: an optional binary package, needed only for files libsndfile cannot read
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
    # Imported on first use: only ffmpeg files need it. The lock is taken every time, because a
    # module that another thread is still importing is already in sys.modules, half made.
    with _PYDUB_IMPORT_LOCK:
        if "pydub.audio_segment" not in sys.modules:
            with warnings.catch_warnings():
                # pydub warns at import that audioop is deprecated (Python 3.11) and that
                # no ffmpeg is on PATH; neither matters: the ffmpeg used is given here.
                warnings.simplefilter("ignore")
                import pydub.audio_segment  # noqa: F401
    base = sys.modules["pydub.audio_segment"].AudioSegment
    return type("_ImageioFfmpegSegment", (base,), {"converter": ffmpeg})


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _decode_ffmpeg(path: Path, *, libsndfile_error: str | None = None) -> DecodedAudio:
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
    return DecodedAudio(samples, full_scale, int(segment.frame_rate), fmt, codec, "ffmpeg")


def to_float(
    decoded: DecodedAudio, path: Path, *, sample_rate_hz: int | None, mono: bool
) -> tuple[np.ndarray, LoadReport]:
    """Scale stored samples to [-1, 1], downmix, resample and clip them as asked.

    Integer PCM is divided by its full scale (16-bit exactly: ``x / 32768``);
    resampling uses soxr (high quality); samples left outside [-1, 1] are
    clipped and counted. No warning is given here
    (:func:`speakerlib.audio.load.load_audio` warns).

    Parameters
    ----------
    decoded : DecodedAudio
        What :func:`decode_audio` returned.
    path : Path
        The file they came from (for the report and messages).
    sample_rate_hz : int > 0 or None
        Rate of the result [Hz] (checked by :func:`check_sample_rate`); None keeps the file's.
    mono : bool
        Average the channels into one.

    Returns
    -------
    samples : np.ndarray [shape=(n,) if mono else (n, channels), dtype=float32]
        In [-1, 1].
    report : LoadReport
        What was read and what was done.

    Raises
    ------
    AudioTooShortError
        If resampling leaves no sample.
    """
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
