"""convert_corpus: exact WAV copies in a mirrored tree, resumable, lower-case option, rejects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speakerlib._io import part_path
from speakerlib.data.convert import CONFIG_NAME, SUMMARY_ATTR, ConversionSummary, convert_corpus
from speakerlib.errors import ManifestError

QUIET = {"progress": False, "jobs": 2}


def tone_ints(n: int, *, seed: int, bits: int = 16, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    high = 2 ** (bits - 1)
    ints = rng.integers(-high, high, size=(n, channels)) if channels > 1 else rng.integers(-high, high, n)
    return ints.astype(np.int16 if bits == 16 else np.int32)


def build_corpus(root: Path) -> pd.DataFrame:
    """A small corpus in TIMIT-like upper case: SPHERE, 16/24-bit FLAC, stereo, 44.1 kHz, junk."""
    files = {
        "TRAIN/DR1/FAKS0/SA1.WAV": ("NIST", "PCM_16", tone_ints(1600, seed=1), 16000),
        "TRAIN/DR1/FAKS0/SX2.WAV": ("NIST", "PCM_16", tone_ints(2400, seed=2), 16000),
        "TEST/DR2/MJAR0/SI3.flac": ("FLAC", "PCM_16", tone_ints(3200, seed=3), 16000),
        "TEST/DR2/MJAR0/Deep.flac": ("FLAC", "PCM_24", tone_ints(800, seed=4, bits=24) * 256, 16000),
        "TEST/DR2/MJAR0/Stereo.flac": ("FLAC", "PCM_16", tone_ints(900, seed=5, channels=2), 16000),
        "TEST/DR2/MJAR0/Fast.wav": ("WAV", "PCM_16", tone_ints(4410, seed=6), 44100),
    }
    rows = []
    for i, (relative, (fmt, subtype, data, rate)) in enumerate(files.items()):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, rate, format=fmt, subtype=subtype)
        rows.append({"utt_id": f"u{i}", "speaker": relative.split("/")[2], "path": str(path)})
    junk = root / "TEST/DR2/MJAR0/BROKEN.flac"
    junk.write_bytes(b"not a flac file at all" * 20)
    rows.append({"utt_id": "broken", "speaker": "MJAR0", "path": str(junk)})
    return pd.DataFrame(rows)


def outputs(out_dir: Path) -> dict[Path, bytes]:
    """Every WAV below ``out_dir`` (either case of suffix), relative path -> bytes."""
    return {p.relative_to(out_dir): p.read_bytes() for p in sorted(out_dir.rglob("*"))
            if p.is_file() and p.suffix.lower() == ".wav"}


def test_copies_are_exact_riff_wav_in_a_mirrored_tree(tmp_path):
    manifest = build_corpus(tmp_path / "corpus")
    out = tmp_path / "wav"
    converted, rejects = convert_corpus(manifest, out, **QUIET)

    summary = converted.attrs[SUMMARY_ATTR]
    assert isinstance(summary, ConversionSummary)
    assert (summary.written, summary.skipped, summary.rejected) == (6, 0, 1)
    assert summary.root == tmp_path / "corpus"
    assert rejects["utt_id"].tolist() == ["broken"]
    assert "BROKEN.flac" in rejects["reason"].iloc[0] and "not audio" in rejects["reason"].iloc[0]

    assert sorted(str(p) for p in outputs(out)) == sorted([
        "TRAIN/DR1/FAKS0/SA1.WAV", "TRAIN/DR1/FAKS0/SX2.WAV", "TEST/DR2/MJAR0/SI3.wav",
        "TEST/DR2/MJAR0/Deep.wav", "TEST/DR2/MJAR0/Stereo.wav", "TEST/DR2/MJAR0/Fast.wav",
    ])
    assert converted["utt_id"].tolist() == [f"u{i}" for i in range(6)]
    for row in converted.itertuples():
        source, copy = Path(row.source_path), Path(row.path)
        assert copy.is_relative_to(out) and copy.is_file()
        info_in, info_out = sf.info(source), sf.info(copy)
        assert copy.read_bytes()[:4] == b"RIFF" and info_out.format == "WAV"
        assert info_out.subtype == info_in.subtype  # 16-bit stays 16-bit, 24-bit stays 24-bit
        assert (row.sample_rate, row.num_channels) == (info_in.samplerate, info_in.channels)
        assert row.duration_s == pytest.approx(info_in.frames / info_in.samplerate)
        np.testing.assert_array_equal(sf.read(copy, dtype="int32")[0], sf.read(source, dtype="int32")[0])

    config = json.loads((out / CONFIG_NAME).read_text())
    assert config["written"] == 6 and config["rejected"] == 1 and config["lower_case"] is False


def test_a_run_resumes_and_leaves_finished_files_alone(tmp_path):
    manifest = build_corpus(tmp_path / "corpus")
    out = tmp_path / "wav"
    convert_corpus(manifest, out, **QUIET)
    before = outputs(out)
    stamps = {p: (out / p).stat().st_mtime_ns for p in before}

    # as if killed while writing SX2: its output is missing and a partial file is left behind
    victim = Path("TRAIN/DR1/FAKS0/SX2.WAV")
    (out / victim).unlink()
    (out / victim.parent / f".{victim.name}.part").write_bytes(b"RIFF half written")  # older versions' name
    part_path(out / victim).write_bytes(b"RIFF half written")  # the atomic writer's name
    converted, rejects = convert_corpus(manifest, out, **QUIET)

    summary = converted.attrs[SUMMARY_ATTR]
    assert (summary.written, summary.skipped, summary.rejected) == (1, 5, 1)
    assert outputs(out) == before  # byte for byte, the redone one included
    for path, stamp in stamps.items():
        if path != victim:
            assert (out / path).stat().st_mtime_ns == stamp, path
    assert not list(out.rglob("*.part"))
    assert not list(out.rglob(".*.part.*"))
    assert len(converted) == 6 and rejects["utt_id"].tolist() == ["broken"]


def test_a_damaged_output_is_redone(tmp_path):
    manifest = build_corpus(tmp_path / "corpus")
    out = tmp_path / "wav"
    convert_corpus(manifest, out, **QUIET)
    before = outputs(out)
    damaged = out / "TEST/DR2/MJAR0/SI3.wav"
    damaged.write_bytes(damaged.read_bytes()[:1000])  # cut short by something else
    converted, _ = convert_corpus(manifest, out, **QUIET)
    assert converted.attrs[SUMMARY_ATTR].written == 1
    assert outputs(out) == before


def test_m4a_becomes_16_bit_wav_and_a_damaged_copy_is_redone(tmp_path):
    # libsndfile cannot read M4A headers, so only the WAV's own checks tell a damaged copy
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    source = tmp_path / "corpus/spk/tone.m4a"
    source.parent.mkdir(parents=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
                    "-nostdin", "-f", "lavfi", "-i", "sine=frequency=500:sample_rate=22050:duration=0.5",
                    "-c:a", "aac", str(source)], check=True, timeout=60)
    manifest = pd.DataFrame([{"utt_id": "tone", "path": str(source)}])
    out = tmp_path / "wav"
    converted, rejects = convert_corpus(manifest, out, **QUIET)
    copy = out / "tone.wav"
    assert rejects.empty and converted["path"].tolist() == [str(copy)]
    info = sf.info(copy)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", 22050, 1)
    before = copy.read_bytes()
    copy.write_bytes(before[: len(before) // 2])
    again, _ = convert_corpus(manifest, out, **QUIET)
    assert again.attrs[SUMMARY_ATTR].written == 1 and copy.read_bytes() == before


def test_lower_case_names_and_collisions_are_rejected(tmp_path):
    manifest = build_corpus(tmp_path / "corpus")
    twin = tmp_path / "corpus/TEST/DR2/MJAR0/si3.WAV"  # becomes test/dr2/mjar0/si3.wav, like SI3.flac
    sf.write(twin, np.zeros(100, np.int16), 16000, subtype="PCM_16")
    manifest = pd.concat([manifest, pd.DataFrame([{"utt_id": "twin", "path": str(twin)}])],
                         ignore_index=True)
    out = tmp_path / "wav"
    converted, rejects = convert_corpus(manifest, out, lower_case=True, **QUIET)

    names = sorted(str(p) for p in outputs(out))
    assert names == [name.lower() for name in names]
    assert "train/dr1/faks0/sa1.wav" in names and "test/dr2/mjar0/si3.wav" in names
    assert rejects["utt_id"].tolist() == ["broken", "twin"]
    assert "already the output of 'u2'" in rejects.set_index("utt_id").loc["twin", "reason"]
    assert len(converted) == 6


def test_sample_rate_option_resamples_to_16_bit(tmp_path):
    source = tmp_path / "corpus/a/tone.flac"
    source.parent.mkdir(parents=True)
    t = np.arange(44100) / 44100
    sf.write(source, 0.5 * np.sin(2 * np.pi * 1000 * t), 44100, subtype="PCM_16")
    manifest = pd.DataFrame([{"utt_id": "tone", "path": str(source)}])
    converted, rejects = convert_corpus(manifest, tmp_path / "wav", sample_rate_hz=16000, **QUIET)
    y, rate = sf.read(converted["path"].iloc[0])
    assert rejects.empty and rate == 16000 and len(y) == 16000
    assert sf.info(converted["path"].iloc[0]).subtype == "PCM_16"
    assert converted["sample_rate"].iloc[0] == 16000
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.fft.rfftfreq(len(y), 1 / 16000)[np.argmax(spectrum)] == pytest.approx(1000, abs=1)
    # a second run at the same rate finds it done; a run at another rate redoes it
    again, _ = convert_corpus(manifest, tmp_path / "wav", sample_rate_hz=16000, **QUIET)
    assert again.attrs[SUMMARY_ATTR].skipped == 1
    other, _ = convert_corpus(manifest, tmp_path / "wav", sample_rate_hz=8000, **QUIET)
    assert other.attrs[SUMMARY_ATTR].written == 1 and other["sample_rate"].iloc[0] == 8000


def test_bad_arguments(tmp_path):
    with pytest.raises(ManifestError, match="utt_id and path"):
        convert_corpus(pd.DataFrame({"utt_id": ["a"]}), tmp_path, **QUIET)
    with pytest.raises(ManifestError, match="at least one"):
        convert_corpus(pd.DataFrame(columns=["utt_id", "path"]), tmp_path, **QUIET)
    manifest = build_corpus(tmp_path / "corpus")
    with pytest.raises(ValueError, match="jobs"):
        convert_corpus(manifest, tmp_path / "wav", progress=False, jobs=0)


@pytest.mark.corpora
def test_timit_sphere_to_lower_case_wav_keeps_the_samples(shared_corpora):
    import tempfile

    from speakerlib.data.timit import read_timit

    manifest, _ = read_timit(shared_corpora / "TIMIT", progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        converted, rejects = convert_corpus(manifest, tmp, lower_case=True, **QUIET)
        assert rejects.empty and len(converted) == len(manifest) == 160
        for row in converted.itertuples():
            relative = Path(row.path).relative_to(tmp)
            assert str(relative) == str(Path(row.source_path).relative_to(shared_corpora / "TIMIT")).lower()
            assert open(row.source_path, "rb").read(7) == b"NIST_1A"
            assert open(row.path, "rb").read(4) == b"RIFF"
            np.testing.assert_array_equal(sf.read(row.path, dtype="int16")[0],
                                          sf.read(row.source_path, dtype="int16")[0])
        # the converted tree reads back as TIMIT with the same utterances
        again, _ = read_timit(tmp, progress=False)
        assert sorted(again["utt_id"]) == sorted(manifest["utt_id"])
