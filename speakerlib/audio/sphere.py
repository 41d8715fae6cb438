"""NIST SPHERE audio: the header, and the samples of uncompressed PCM files.

TIMIT (and other LDC corpora of its time) store audio as NIST SPHERE: an ASCII
header followed by raw samples. The header looks like::

    NIST_1A
       1024
    sample_rate -i 16000
    channel_count -i 1
    sample_n_bytes -i 2
    sample_byte_format -s2 01
    sample_count -i 54682
    end_head
    <padding up to 1024 bytes, then the samples>

The first line is the magic ``NIST_1A``, the second the header size in bytes.
Every field is ``name -type value`` with the type ``-i`` (integer), ``-r``
(real) or ``-sN`` (a string of exactly N characters). ``sample_byte_format``
is ``01`` for little-endian and ``10`` for big-endian samples;
``sample_coding`` says how samples are coded (``pcm`` when absent; ``ulaw``;
``pcm,embedded-shorten-v2.00`` for shorten-compressed files).

libsndfile (and so :mod:`soundfile`) reads uncompressed SPHERE too; this module
exists so the course can show what is in the header, and so that compressed
files fail with a message that says how to decompress them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from speakerlib.errors import UnreadableAudioError

__all__ = [
    "SphereHeader",
    "is_sphere",
    "parse_sphere_header",
    "read_sphere_header",
    "read_sphere",
]

_MAGIC = b"NIST_1A\n"
_FIX_CONVERT = (
    "Convert it to uncompressed PCM first, for example "
    "`sph2pipe -f wav IN.WAV OUT.wav` or `sox IN.WAV -e signed-integer OUT.wav`, "
    "and read the converted file."
)


@dataclass(frozen=True)
class SphereHeader:
    """What a NIST SPHERE header says.

    Attributes
    ----------
    header_size : int
        Bytes before the first sample (a multiple of 1024 in practice).
    sample_rate : int or None
        Sampling rate [Hz] (``sample_rate``), None when the header has none.
    channel_count : int
        Channels (``channel_count``; 1 when absent).
    sample_n_bytes : int or None
        Bytes per sample (``sample_n_bytes``), None when absent.
    sample_count : int or None
        Samples per channel (``sample_count``), None when absent.
    sample_byte_format : str
        ``"01"`` little-endian, ``"10"`` big-endian, ``"1"`` single byte,
        ``""`` when absent.
    sample_coding : str
        ``"pcm"`` (the default when absent), ``"ulaw"``,
        ``"pcm,embedded-shorten-v2.00"``...
    fields : Mapping[str, int | float | str]
        Every field of the header, with ``-i`` values as int, ``-r`` as float
        and ``-sN`` as str.
    """

    header_size: int
    sample_rate: int | None
    channel_count: int
    sample_n_bytes: int | None
    sample_count: int | None
    sample_byte_format: str
    sample_coding: str
    fields: Mapping[str, int | float | str] = field(repr=False)

    @property
    def is_compressed(self) -> bool:
        """True when the samples are compressed (shorten, wavpack, shortpack)."""
        coding = self.sample_coding.lower()
        return any(name in coding for name in ("shorten", "wavpack", "shortpack"))

    @property
    def duration_s(self) -> float | None:
        """Duration [s], or None when the sample count or rate is missing."""
        if self.sample_count is None or not self.sample_rate:
            return None
        return self.sample_count / self.sample_rate


def is_sphere(path: str | Path) -> bool:
    """Return True when ``path`` is a file starting with the SPHERE magic ``NIST_1A``.

    The extension does not matter (TIMIT's SPHERE files end in ``.WAV``).
    A missing or unreadable file is not SPHERE: the answer is False, never an error.
    """
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_MAGIC)) == _MAGIC
    except OSError:
        return False


def parse_sphere_header(data: bytes, *, source: str = "<bytes>") -> SphereHeader:
    """Parse a SPHERE header from the first bytes of a file.

    Parameters
    ----------
    data : bytes
        At least the whole header (its size is on the second line).
    source : str
        Where the bytes came from, named in error messages.

    Returns
    -------
    SphereHeader

    Raises
    ------
    UnreadableAudioError
        If the bytes do not start with ``NIST_1A``, the header is cut short,
        has no ``end_head``, or a field is malformed.
    """

    def fail(found: str) -> UnreadableAudioError:
        return UnreadableAudioError(
            f"{source}: expected a NIST SPHERE header (NIST_1A, the header size, "
            f"`name -type value` fields, end_head), found {found}. The file is truncated, "
            "corrupted or not SPHERE: re-copy it from the corpus release."
        )

    if not data.startswith(_MAGIC):
        raise fail(f"the first bytes {data[:8]!r}")
    size_end = data.find(b"\n", len(_MAGIC))
    if size_end < 0:
        raise fail("no header size line")
    try:
        header_size = int(data[len(_MAGIC):size_end].strip())
    except ValueError:
        raise fail(f"the header size line {data[len(_MAGIC):size_end]!r}") from None
    if header_size < size_end + 1:
        raise fail(f"a header size of {header_size} bytes")
    if len(data) < header_size:
        raise fail(f"only {len(data)} bytes where the header announces {header_size}")

    text = data[:header_size]
    fields: dict[str, int | float | str] = {}
    pos = size_end + 1
    ended = False
    while pos < header_size:
        # skip blank space between fields
        while pos < header_size and text[pos:pos + 1] in (b" ", b"\t", b"\n", b"\r"):
            pos += 1
        if pos >= header_size or text[pos:pos + 1] == b"\x00":
            break
        line_end = text.find(b"\n", pos)
        line_end = header_size if line_end < 0 else line_end
        if text[pos:pos + 1] == b";":  # a comment line
            pos = line_end + 1
            continue
        name_end = text.find(b" ", pos, line_end)
        if text[pos:line_end].rstrip(b"\r ") == b"end_head":
            ended = True
            break
        if name_end < 0:
            raise fail(f"the field line {text[pos:line_end]!r} without a type")
        name = text[pos:name_end].decode("ascii", errors="replace")
        type_end = text.find(b" ", name_end + 1, line_end)
        type_end = line_end if type_end < 0 else type_end
        kind = text[name_end + 1:type_end].decode("ascii", errors="replace")
        if kind.startswith("-s"):
            try:
                length = int(kind[2:])
            except ValueError:
                raise fail(f"the string type {kind!r} of field {name!r}") from None
            start = type_end + 1
            raw = text[start:start + length]
            if len(raw) < length:
                raise fail(f"field {name!r} cut short")
            if b"\n" in raw:  # a length that overstates the string: stop at the line's end
                raw = raw[:raw.index(b"\n")]
            fields[name] = raw.decode("latin-1")
            pos = start + len(raw)
            continue
        raw_value = text[type_end + 1:line_end].strip().decode("ascii", errors="replace")
        try:
            if kind == "-i":
                fields[name] = int(raw_value)
            elif kind == "-r":
                fields[name] = float(raw_value)
            else:
                raise ValueError(kind)
        except ValueError:
            raise fail(f"field {name!r} of type {kind!r} with value {raw_value!r}") from None
        pos = line_end + 1
    if not ended:
        raise fail("no end_head line")

    def as_int(key: str) -> int | None:
        value = fields.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise fail(f"field {key!r} = {value!r}, not an integer") from None

    channels = as_int("channel_count")
    return SphereHeader(
        header_size=header_size,
        sample_rate=as_int("sample_rate"),
        channel_count=1 if channels is None else channels,
        sample_n_bytes=as_int("sample_n_bytes"),
        sample_count=as_int("sample_count"),
        sample_byte_format=str(fields.get("sample_byte_format", "")).strip(),
        sample_coding=str(fields.get("sample_coding", "pcm")).strip() or "pcm",
        fields=MappingProxyType(fields),
    )


def read_sphere_header(path: str | Path) -> SphereHeader:
    """Read and parse the SPHERE header of a file.

    Raises
    ------
    UnreadableAudioError
        If the file is missing, not SPHERE, or its header is malformed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
            if head.startswith(_MAGIC):
                # the size line says how much more to read (rarely above 1024)
                line_end = head.find(b"\n", len(_MAGIC))
                try:
                    size = int(head[len(_MAGIC):line_end].strip()) if line_end > 0 else 0
                except ValueError:
                    size = 0
                if size > len(head):
                    head += handle.read(size - len(head))
    except OSError as exc:
        raise UnreadableAudioError(
            f"{path}: expected a NIST SPHERE file, could not open it ({exc}). Check the path."
        ) from exc
    return parse_sphere_header(head, source=str(path))


def read_sphere(path: str | Path) -> tuple[np.ndarray, int]:
    """Read the samples of an uncompressed 16-bit PCM NIST SPHERE file.

    Parameters
    ----------
    path : str or Path
        The SPHERE file (TIMIT's ``.WAV`` files, for example).

    Returns
    -------
    samples : np.ndarray [shape=(n,) or (n, channels), dtype=int16]
        The samples as stored, in native byte order; one column per channel
        when there is more than one channel.
    sample_rate : int
        Sampling rate [Hz].

    Raises
    ------
    UnreadableAudioError
        If the file is not SPHERE, is shorten-compressed or coded other than
        16-bit PCM, lacks the sample rate or byte order, or holds fewer sample
        bytes than its header announces (truncated).

    Examples
    --------
    >>> samples, rate = read_sphere("TIMIT/TRAIN/DR1/FVMH0/SA1.WAV")  # doctest: +SKIP
    >>> samples.dtype, rate  # doctest: +SKIP
    (dtype('int16'), 16000)
    """
    path = Path(path)
    header = read_sphere_header(path)
    if header.is_compressed:
        raise UnreadableAudioError(
            f"{path}: expected uncompressed PCM samples, found sample_coding "
            f"{header.sample_coding!r} (compressed SPHERE, as on some LDC discs). "
            "Decompress it with `sph2pipe -f sph IN.WAV OUT.WAV` (or `-f wav` for RIFF), "
            "or convert it with `sox IN.WAV OUT.wav`, and read the result."
        )
    if header.sample_coding.lower() != "pcm":
        raise UnreadableAudioError(
            f"{path}: expected PCM samples, found sample_coding {header.sample_coding!r}, "
            f"which read_sphere does not decode. {_FIX_CONVERT}"
        )
    if header.sample_n_bytes != 2:
        raise UnreadableAudioError(
            f"{path}: expected 16-bit samples (sample_n_bytes 2), found "
            f"sample_n_bytes {header.sample_n_bytes}. {_FIX_CONVERT}"
        )
    if header.sample_byte_format not in ("01", "10"):
        raise UnreadableAudioError(
            f"{path}: expected sample_byte_format '01' (little-endian) or '10' "
            f"(big-endian), found {header.sample_byte_format or 'none'!r}. {_FIX_CONVERT}"
        )
    if not header.sample_rate or header.sample_rate <= 0:
        raise UnreadableAudioError(
            f"{path}: expected a positive sample_rate in the SPHERE header, found "
            f"{header.sample_rate}. {_FIX_CONVERT}"
        )
    channels = header.channel_count
    if channels < 1:
        raise UnreadableAudioError(f"{path}: expected channel_count >= 1, found {channels}.")
    interleaved = str(header.fields.get("channels_interleaved", "TRUE")).strip().upper()
    if channels > 1 and interleaved == "FALSE":
        raise UnreadableAudioError(
            f"{path}: expected interleaved channels, found channels_interleaved FALSE. "
            f"{_FIX_CONVERT}"
        )

    frame_bytes = 2 * channels
    data_bytes = path.stat().st_size - header.header_size
    if header.sample_count is None:
        count = max(data_bytes, 0) // frame_bytes
    else:
        count = header.sample_count
        if data_bytes < count * frame_bytes:
            raise UnreadableAudioError(
                f"{path}: expected {count} samples x {channels} channel(s) "
                f"({count * frame_bytes} bytes) after the {header.header_size}-byte header, "
                f"found {max(data_bytes, 0)} bytes: the file is truncated. Re-copy it "
                "from the corpus release."
            )
    dtype = np.dtype("<i2" if header.sample_byte_format == "01" else ">i2")
    with open(path, "rb") as handle:
        handle.seek(header.header_size)
        samples = np.fromfile(handle, dtype=dtype, count=count * channels)
    samples = samples.astype(np.int16)  # native byte order
    if channels > 1:
        samples = samples.reshape(count, channels)
    return samples, int(header.sample_rate)
