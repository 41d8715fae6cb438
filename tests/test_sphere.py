"""NIST SPHERE: our header parser and reader against libsndfile and hand-built files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speakerlib.audio.sphere import (
    SphereHeader,
    is_sphere,
    parse_sphere_header,
    read_sphere,
    read_sphere_header,
)
from speakerlib.errors import UnreadableAudioError


def write_sphere(
    path: Path,
    samples: np.ndarray,
    *,
    sample_rate: int = 16000,
    byte_format: str = "01",
    header_size: int = 1024,
    coding: str | None = None,
    extra: str = "",
    sample_count: int | None = None,
) -> Path:
    """Write a SPHERE file with a header built by hand, field by field."""
    samples = np.asarray(samples, dtype=np.int16)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    count = samples.shape[0] if sample_count is None else sample_count
    lines = [
        "NIST_1A",
        f"{header_size:7d}",
        "database_id -s5 TIMIT",
        "utterance_id -s10 test sa1 x",  # a string value with spaces
        f"channel_count -i {channels}",
        f"sample_count -i {count}",
        f"sample_rate -i {sample_rate}",
        "sample_n_bytes -i 2",
        f"sample_byte_format -s{len(byte_format)} {byte_format}",
        "sample_sig_bits -i 16",
        "recording_gain -r 1.5",
    ]
    if coding is not None:
        lines.append(f"sample_coding -s{len(coding)} {coding}")
    if extra:
        lines.append(extra)
    lines.append("end_head")
    header = ("\n".join(lines) + "\n").encode("ascii")
    assert len(header) <= header_size
    header += b" " * (header_size - len(header))
    dtype = "<i2" if byte_format == "01" else ">i2"
    path.write_bytes(header + samples.astype(dtype).tobytes())
    return path


def tone(n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    mono = (8000 * np.sin(2 * np.pi * 440 * t / 16000)).astype(np.int16)
    if channels == 1:
        return mono
    return np.stack([mono] + [rng.integers(-32768, 32767, n, dtype=np.int16)
                              for _ in range(channels - 1)], axis=1)


@pytest.mark.parametrize("byte_format", ["01", "10"])
@pytest.mark.parametrize("channels", [1, 2])
def test_hand_built_files_read_exactly_and_agree_with_libsndfile(tmp_path, byte_format, channels):
    samples = tone(1234, channels)
    # extreme values catch a wrong byte order or sign
    samples[:2] = np.array([-32768, 32767]).reshape((2,) + (() if channels == 1 else (1,)))
    path = write_sphere(tmp_path / "x.wav", samples, sample_rate=8000, byte_format=byte_format)

    ours, rate = read_sphere(path)
    assert rate == 8000
    assert ours.dtype == np.int16
    assert ours.shape == samples.shape
    np.testing.assert_array_equal(ours, samples)

    theirs, their_rate = sf.read(path, dtype="int16", always_2d=False)
    assert their_rate == 8000
    np.testing.assert_array_equal(ours, theirs)


def test_header_fields_and_types(tmp_path):
    path = write_sphere(tmp_path / "x.sph", tone(100), byte_format="10", header_size=2048,
                        extra="; a comment line\nspeaking_mode -s4 read")
    header = read_sphere_header(path)
    assert isinstance(header, SphereHeader)
    assert header.header_size == 2048
    assert (header.sample_rate, header.channel_count, header.sample_n_bytes) == (16000, 1, 2)
    assert header.sample_count == 100
    assert header.sample_byte_format == "10"
    assert header.sample_coding == "pcm"  # the default when the field is absent
    assert not header.is_compressed
    assert header.duration_s == pytest.approx(100 / 16000)
    assert header.fields["utterance_id"] == "test sa1 x"
    assert header.fields["recording_gain"] == 1.5
    assert isinstance(header.fields["sample_rate"], int)
    assert header.fields["speaking_mode"] == "read"
    with pytest.raises(TypeError):
        header.fields["sample_rate"] = 8000  # read-only
    np.testing.assert_array_equal(read_sphere(path)[0], tone(100))


def test_parse_from_bytes_needs_the_whole_header():
    data = b"NIST_1A\n   1024\nsample_rate -i 16000\nend_head\n"
    with pytest.raises(UnreadableAudioError, match="only"):
        parse_sphere_header(data, source="mem")
    header = parse_sphere_header(data.ljust(1024, b" "))
    assert header.sample_rate == 16000 and header.channel_count == 1


def test_truncated_file_names_it(tmp_path):
    path = write_sphere(tmp_path / "cut.wav", tone(500), sample_count=1000)
    with pytest.raises(UnreadableAudioError, match="truncated") as info:
        read_sphere(path)
    assert str(path) in str(info.value)


def test_header_cut_short(tmp_path):
    full = write_sphere(tmp_path / "full.wav", tone(50)).read_bytes()
    path = tmp_path / "short.wav"
    path.write_bytes(full[:100])
    assert is_sphere(path)
    with pytest.raises(UnreadableAudioError, match="short.wav"):
        read_sphere(path)


def test_missing_end_head(tmp_path):
    path = tmp_path / "noend.wav"
    path.write_bytes(b"NIST_1A\n   1024\nsample_rate -i 16000\n".ljust(1024, b"\0"))
    with pytest.raises(UnreadableAudioError, match="end_head"):
        read_sphere_header(path)


def test_shorten_header_gives_the_fix(tmp_path):
    path = write_sphere(tmp_path / "shn.wav", tone(100), coding="pcm,embedded-shorten-v2.00")
    assert read_sphere_header(path).is_compressed
    with pytest.raises(UnreadableAudioError, match="sph2pipe") as info:
        read_sphere(path)
    assert str(path) in str(info.value)


def test_ulaw_is_refused_with_the_fix(tmp_path):
    path = write_sphere(tmp_path / "ulaw.wav", tone(100), coding="ulaw")
    with pytest.raises(UnreadableAudioError, match="ulaw.*sox|sox.*ulaw"):
        read_sphere(path)


def test_non_sphere_files(tmp_path):
    riff = tmp_path / "riff.wav"
    sf.write(riff, tone(100), 16000)
    assert not is_sphere(riff)
    assert not is_sphere(tmp_path / "missing.wav")
    with pytest.raises(UnreadableAudioError, match="NIST SPHERE") as info:
        read_sphere(riff)
    assert str(riff) in str(info.value)
    with pytest.raises(UnreadableAudioError):
        read_sphere(tmp_path / "missing.wav")


def test_soundfile_written_sphere_is_read(tmp_path):
    """A header written by libsndfile (another implementation) parses the same."""
    samples = tone(777, 2)
    path = tmp_path / "lib.wav"
    sf.write(path, samples, 22050, format="NIST", subtype="PCM_16")
    header = read_sphere_header(path)
    assert (header.sample_rate, header.channel_count, header.sample_count) == (22050, 2, 777)
    ours, rate = read_sphere(path)
    assert rate == 22050
    np.testing.assert_array_equal(ours, samples)


@pytest.mark.corpora
def test_every_timit_file_matches_libsndfile(shared_corpora):
    files = sorted((shared_corpora / "TIMIT").glob("*/DR*/*/*.WAV"))
    if not files:
        pytest.skip(f"no TIMIT .WAV files under {shared_corpora / 'TIMIT'}")
    assert len(files) == 160
    for path in files:
        assert is_sphere(path), path
        header = read_sphere_header(path)
        ours, rate = read_sphere(path)
        theirs, their_rate = sf.read(path, dtype="int16")
        assert rate == their_rate == 16000
        assert ours.shape == (header.sample_count,)
        np.testing.assert_array_equal(ours, theirs, err_msg=str(path))
