"""load_audio: exact scaling of every PCM width, reported and warned conversions, clear errors.

Every file is written here (soundfile for WAV/FLAC/SPHERE, the ffmpeg binary of
imageio-ffmpeg for MP3/M4A), plus real FLAC (LibriSpeech) and SPHERE (TIMIT)
from the shared corpora, compared with soundfile's own integer read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import subprocess
import warnings

import numpy as np
import pytest
import soundfile as sf

from speakerlib.audio import AudioConversionWarning, LoadReport, load_audio, sphere_header_text
from speakerlib.errors import AudioTooShortError, InvalidAudioError, UnreadableAudioError


def sine(freq_hz: float, *, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def peak_hz(y: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / rate)[np.argmax(spectrum)])


@contextlib.contextmanager
def no_conversion_warning():
    """A block in which an AudioConversionWarning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioConversionWarning)
        yield


def sphere_bytes(fields: list[str], samples: np.ndarray, *, header_size: int = 1024) -> bytes:
    """A NIST SPHERE file built by hand: header lines, padding, little-endian int16 samples."""
    text = f"NIST_1A\n{header_size:7d}\n" + "".join(f"{line}\n" for line in fields) + "end_head\n"
    return text.encode("ascii").ljust(header_size, b" ") + samples.astype("<i2").tobytes()


# --- exact scaling ---------------------------------------------------------------------------

INT16 = np.array([-32768, -20000, -1, 0, 1, 256, 12345, 32767], dtype=np.int16)


@pytest.mark.parametrize(
    ("subtype", "stored", "expected"),
    [
        # 8-bit WAV is unsigned; libsndfile maps int16 k*256 to the byte k+128
        ("PCM_U8", np.arange(-128, 128, 17, dtype=np.int16) * 256,
         np.arange(-128, 128, 17) / 128),
        ("PCM_16", INT16, INT16 / 32768),
        ("PCM_24", np.array([-(2**23), -5, 0, 7, 2**23 - 1], dtype=np.int32) * 256,
         np.array([-(2**23), -5, 0, 7, 2**23 - 1]) / 2**23),
        ("PCM_32", np.array([-(2**31), -123456789, 0, 987654321, 2**31 - 1], dtype=np.int32),
         np.array([-(2**31), -123456789, 0, 987654321, 2**31 - 1]) / 2**31),
        ("FLOAT", np.array([-1.0, -0.25, 0.0, 1e-7, 0.75], dtype=np.float32),
         np.array([-1.0, -0.25, 0.0, 1e-7, 0.75], dtype=np.float32)),
        ("DOUBLE", np.array([-1.0, -1 / 3, 0.0, 2 / 3, 1.0]), np.array([-1.0, -1 / 3, 0.0, 2 / 3, 1.0])),
    ],
)
def test_every_wav_width_is_read_at_its_full_scale(tmp_path, subtype, stored, expected):
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, stored, 16000, subtype=subtype)
    with no_conversion_warning():
        y, report = load_audio(path)
    assert y.dtype == np.float32 and y.shape == (len(stored),)
    np.testing.assert_array_equal(y, np.asarray(expected).astype(np.float32))
    assert (report.decoder, report.format, report.subtype) == ("soundfile", "WAV", subtype)
    assert report.changes == () and not report.resampled and not report.downmixed


def test_24_bit_flac_is_exact(tmp_path):
    path = tmp_path / "deep.flac"
    ints = np.array([-(2**23), -1, 0, 1, 2**23 - 1, 4_000_000], dtype=np.int32)
    sf.write(path, ints * 256, 48000, subtype="PCM_24")
    y, report = load_audio(path, sample_rate_hz=None)
    np.testing.assert_array_equal(y, (ints / 2**23).astype(np.float32))
    assert (report.format, report.subtype, report.sample_rate_hz) == ("FLAC", "PCM_24", 48000)


def test_report_is_frozen(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, INT16, 16000)
    _, report = load_audio(path)
    assert isinstance(report, LoadReport) and report.path == path
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.resampled = True


# --- conversions: reported and warned ----------------------------------------------------------

@pytest.mark.parametrize(("rate", "freq_hz"), [(44100, 1000.0), (48000, 3125.0)])
def test_resampling_keeps_the_frequency_and_says_so(tmp_path, rate, freq_hz):
    path = tmp_path / f"tone_{rate}.wav"
    sf.write(path, sine(freq_hz, rate=rate), rate, subtype="PCM_16")
    with pytest.warns(AudioConversionWarning, match=re.escape(str(path))) as caught:
        y, report = load_audio(path)
    assert f"from {rate} Hz to 16000 Hz" in str(caught[0].message)
    assert report.resampled and (report.original_sample_rate_hz, report.sample_rate_hz) == (rate, 16000)
    assert report.num_samples == len(y) == 16000  # one second
    assert peak_hz(y, 16000) == pytest.approx(freq_hz, abs=1.0)
    # the middle of the tone keeps its amplitude (the filter's edges aside)
    assert np.max(np.abs(y[1000:-1000])) == pytest.approx(0.5, rel=0.01)


def test_no_resampling_when_the_rate_is_kept(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, sine(440, rate=44100), 44100, subtype="PCM_16")
    with no_conversion_warning():
        y, report = load_audio(path, sample_rate_hz=None)
    assert len(y) == 44100 and report.sample_rate_hz == 44100 and not report.resampled


def test_stereo_downmix_is_the_channel_mean(tmp_path):
    path = tmp_path / "stereo.wav"
    left = (sine(300, rate=16000, seconds=0.25) * 32767).astype(np.int16)
    right = (sine(1700, rate=16000, seconds=0.25, amplitude=0.2) * 32767).astype(np.int16)
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="PCM_16")
    with pytest.warns(AudioConversionWarning, match="downmixed 2 channels"):
        mono, report = load_audio(path)
    expected = ((left / 32768.0 + right / 32768.0) / 2).astype(np.float32)
    np.testing.assert_array_equal(mono, expected)
    assert report.downmixed and report.original_channels == 2 and report.num_channels == 1

    with no_conversion_warning():
        both, report = load_audio(path, mono=False)
    assert both.shape == (len(left), 2) and not report.downmixed
    np.testing.assert_array_equal(both[:, 1], (right / 32768.0).astype(np.float32))


def test_float_beyond_full_scale_is_clipped_with_a_warning(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(path, np.array([0.5, 1.5, -2.0, 0.25], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.warns(AudioConversionWarning, match="clipped 2 sample"):
        y, report = load_audio(path)
    np.testing.assert_array_equal(y, np.array([0.5, 1.0, -1.0, 0.25], dtype=np.float32))
    assert report.clipped_samples == 2


@pytest.mark.parametrize(("suffix", "codec_args", "codec"), [
    (".mp3", ["-c:a", "libmp3lame", "-b:a", "128k"], "mp3"),
    (".m4a", ["-c:a", "aac", "-b:a", "128k"], "aac"),
])
def test_mp3_and_m4a_through_ffmpeg_without_ffprobe(tmp_path, monkeypatch, suffix, codec_args, codec):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    source = tmp_path / "tone.wav"
    sf.write(source, np.stack([sine(1000, rate=44100), sine(1000, rate=44100)], axis=1), 44100)
    path = tmp_path / f"tone{suffix}"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i",
                    str(source), *codec_args, str(path)], check=True, timeout=60)
    # no system ffmpeg or ffprobe can be found: pydub must use the binary it is given
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.warns(AudioConversionWarning, match=re.escape(str(path))):
        y, report = load_audio(path)
    assert (report.decoder, report.subtype) == ("ffmpeg", codec)
    assert (report.original_sample_rate_hz, report.original_channels) == (44100, 2)
    assert report.resampled and report.downmixed and report.sample_rate_hz == 16000
    assert len(y) == pytest.approx(16000, rel=0.05)
    assert peak_hz(y, 16000) == pytest.approx(1000, abs=2.0)
    from pydub import AudioSegment

    assert AudioSegment.converter != ffmpeg  # pydub's own setting was left alone


# --- SPHERE ------------------------------------------------------------------------------------

FIELDS = ["sample_rate -i 16000", "sample_n_bytes -i 2", "sample_byte_format -s2 01",
          "sample_count -i 8"]


def test_sphere_that_libsndfile_refuses_falls_back_to_our_reader(tmp_path):
    # no channel_count: libsndfile refuses the header, read_sphere assumes one channel
    path = tmp_path / "SA1.WAV"
    path.write_bytes(sphere_bytes(FIELDS, INT16))
    with pytest.raises(Exception):
        sf.read(path)
    y, report = load_audio(path)
    np.testing.assert_array_equal(y, (INT16 / 32768).astype(np.float32))
    assert (report.decoder, report.format) == ("sphere", "NIST")


def test_sphere_read_by_libsndfile(tmp_path):
    path = tmp_path / "SA2.WAV"
    path.write_bytes(sphere_bytes(["channel_count -i 1", *FIELDS], INT16))
    y, report = load_audio(path)
    np.testing.assert_array_equal(y, (INT16 / 32768).astype(np.float32))
    assert (report.decoder, report.format, report.subtype) == ("soundfile", "NIST", "PCM_16")


def test_shorten_sphere_says_how_to_decompress(tmp_path):
    path = tmp_path / "SX1.WAV"
    fields = ["channel_count -i 1", *FIELDS, "sample_coding -s26 pcm,embedded-shorten-v2.00"]
    path.write_bytes(sphere_bytes(fields, np.zeros(3, np.int16)))
    with pytest.raises(UnreadableAudioError, match="sph2pipe") as caught:
        load_audio(path)
    assert str(path) in str(caught.value)


def test_sphere_header_text_is_the_header_without_padding(tmp_path):
    path = tmp_path / "SA1.WAV"
    path.write_bytes(sphere_bytes(["channel_count -i 1", *FIELDS], INT16))
    expected = "NIST_1A\n   1024\nchannel_count -i 1\n" + "".join(f"{f}\n" for f in FIELDS) + "end_head\n"
    assert sphere_header_text(path) == expected
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(UnreadableAudioError, match=re.escape(str(junk))):
        sphere_header_text(junk)


# --- errors: the specific exception, naming the file --------------------------------------------

def _missing(tmp_path):
    return tmp_path / "nowhere" / "gone.flac"


def _empty(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    return path


def _truncated(suffix, fmt):
    def make(tmp_path):
        path = tmp_path / f"cut{suffix}"
        sf.write(path, sine(440, rate=16000), 16000, format=fmt, subtype="PCM_16")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path
    return make


def _truncated_sphere(tmp_path):
    path = tmp_path / "SI1.WAV"
    data = sphere_bytes(["channel_count -i 1", *FIELDS[:3], "sample_count -i 1000"],
                        np.arange(1000, dtype=np.int16))
    path.write_bytes(data[: 1024 + 1200])
    return path


def _not_audio(suffix):
    def make(tmp_path):
        path = tmp_path / f"page{suffix}"
        path.write_bytes(b"<html><body>404 Not Found</body></html>\n" * 40)
        return path
    return make


def _float_with(value, subtype):
    def make(tmp_path):
        path = tmp_path / f"bad_{subtype}.wav"
        y = np.linspace(-0.5, 0.5, 100)
        y[37] = value
        sf.write(path, y, 16000, subtype=subtype)
        return path
    return make


def _zero_length(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(0), 16000, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (_missing, UnreadableAudioError, "found nothing there"),
        (_empty, UnreadableAudioError, "empty file"),
        (_truncated(".wav", "WAV"), UnreadableAudioError, "truncated"),
        (_truncated(".flac", "FLAC"), UnreadableAudioError, "truncated"),
        (_truncated_sphere, UnreadableAudioError, "truncated"),
        (_not_audio(".wav"), UnreadableAudioError, "not audio"),
        (_not_audio(".flac"), UnreadableAudioError, "not audio"),
        (_not_audio(".mp3"), UnreadableAudioError, "not recognise as audio"),
        (_float_with(np.nan, "FLOAT"), InvalidAudioError, "1 NaN and 0 infinite"),
        (_float_with(np.inf, "DOUBLE"), InvalidAudioError, "0 NaN and 1 infinite"),
        (_zero_length, AudioTooShortError, "found a valid WAV PCM_16 file holding none"),
    ],
    ids=["missing", "empty", "truncated-wav", "truncated-flac", "truncated-sphere",
         "html-as-wav", "html-as-flac", "html-as-mp3", "nan", "inf", "zero-length"],
)
def test_bad_input_raises_the_specific_error_naming_the_file(tmp_path, make, error, words):
    path = make(tmp_path)
    with pytest.raises(error) as caught:
        load_audio(path)
    assert type(caught.value) is error
    assert str(path) in str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, "16000", True])
def test_bad_sample_rate_is_refused(tmp_path, rate):
    path = tmp_path / "a.wav"
    sf.write(path, INT16, 16000)
    with pytest.raises(ValueError, match="sample_rate_hz"):
        load_audio(path, sample_rate_hz=rate)


# --- real speech ----------------------------------------------------------------------------------

@pytest.mark.corpora
def test_librispeech_flac_equals_soundfile_int16_over_32768(shared_corpora):
    paths = sorted((shared_corpora / "LibriSpeech").rglob("*.flac"))[:12]
    assert paths
    for path in paths:
        y, report = load_audio(path)
        stored, rate = sf.read(path, dtype="int16")
        np.testing.assert_array_equal(y, stored.astype(np.float32) / np.float32(32768))
        assert (report.format, report.subtype, rate, report.changes) == ("FLAC", "PCM_16", 16000, ())


@pytest.mark.corpora
def test_timit_sphere_equals_soundfile_int16_over_32768(shared_corpora):
    paths = sorted((shared_corpora / "TIMIT").rglob("*.WAV"))[:12]
    assert paths
    for path in paths:
        y, report = load_audio(path)
        stored, _ = sf.read(path, dtype="int16")
        np.testing.assert_array_equal(y, stored.astype(np.float32) / np.float32(32768))
        assert (report.format, report.decoder) == ("NIST", "soundfile")
        header = sphere_header_text(path)
        assert header.startswith("NIST_1A\n") and header.endswith("end_head\n")
        assert f"sample_count -i {len(stored)}\n" in header
