"""The manifest: schema, round trip, atomic write, clear errors, summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speakerlib.audio import audio_info
from speakerlib.data.manifest import (
    MANIFEST_COLUMNS,
    combine_manifests,
    finish_manifest,
    make_manifest,
    normalize_gender,
    read_manifest,
    summarize,
    write_manifest,
)
from speakerlib.errors import ManifestError, UnreadableAudioError


def write_tone(path, seconds=0.5, sr=16000, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * 220 * t)
    if channels > 1:
        y = np.stack([y] * channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr)
    return path


def rows_for(tmp_path, n=4):
    rows = []
    for i in range(n):
        p = write_tone(tmp_path / f"s{i % 2}" / f"u{i}.flac", seconds=0.25 * (i + 1))
        rows.append({"utt_id": f"u{i}", "speaker": f"{i % 2:04d}", "path": str(p), "subset": "x",
                     "gender": "f" if i % 2 else "M"})
    return rows


def test_finish_manifest_fills_headers_and_orders_columns(tmp_path):
    manifest, rejects = finish_manifest(rows_for(tmp_path), corpus="folder", root=tmp_path, progress=False)
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert rejects.empty
    assert manifest["duration_s"].tolist() == pytest.approx([0.25, 0.75, 0.5, 1.0])
    assert set(manifest["sample_rate"]) == {16000}
    assert manifest["speaker"].tolist() == ["0000", "0000", "0001", "0001"]
    assert set(manifest["gender"]) == {"M", "F"}


def test_round_trip_keeps_ids_as_text(tmp_path):
    manifest, _ = finish_manifest(rows_for(tmp_path), corpus="folder", root=tmp_path, progress=False)
    path = write_manifest(manifest, tmp_path / "out" / "m.csv")
    back = read_manifest(path)
    pd.testing.assert_frame_equal(back, manifest, check_dtype=False)
    assert back["speaker"].iloc[0] == "0000"
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_unreadable_file_raises_naming_it_or_is_rejected(tmp_path):
    rows = rows_for(tmp_path)
    bad = tmp_path / "s0" / "broken.flac"
    bad.write_bytes(b"this is not audio at all" * 10)
    rows.append({"utt_id": "bad", "speaker": "0000", "path": str(bad), "subset": "x", "gender": ""})
    with pytest.raises(UnreadableAudioError, match="broken.flac") as info:
        finish_manifest(rows, corpus="folder", root=tmp_path, progress=False)
    assert "--skip-unreadable" in str(info.value)
    manifest, rejects = finish_manifest(rows, corpus="folder", root=tmp_path, skip_unreadable=True, progress=False)
    assert len(manifest) == 4 and rejects["utt_id"].tolist() == ["bad"]


def test_empty_and_truncated_audio_named(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableAudioError, match="empty file"):
        audio_info(empty)
    good = write_tone(tmp_path / "good.wav")
    truncated = tmp_path / "trunc.wav"
    truncated.write_bytes(good.read_bytes()[:30])
    with pytest.raises(UnreadableAudioError, match="trunc.wav"):
        audio_info(truncated)
    with pytest.raises(UnreadableAudioError, match="found nothing"):
        audio_info(tmp_path / "missing.wav")


def test_stereo_header(tmp_path):
    info = audio_info(write_tone(tmp_path / "st.wav", seconds=1.0, sr=44100, channels=2))
    assert (info.num_channels, info.sample_rate_hz, info.num_samples) == (2, 44100, 44100)
    assert info.duration_s == pytest.approx(1.0)


def test_duplicate_ids_and_missing_columns_are_errors(tmp_path):
    row = {"utt_id": "a", "speaker": "s", "path": "/x", "duration_s": 1.0, "sample_rate": 16000,
           "subset": "", "gender": ""}
    with pytest.raises(ManifestError, match="unique utt_id"):
        make_manifest([row, dict(row)], corpus="folder")
    pd.DataFrame([{"utt_id": "a", "speaker": "s"}]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ManifestError, match="duration_s"):
        read_manifest(tmp_path / "bad.csv")
    with pytest.raises(ManifestError, match="speakerlib manifest"):
        read_manifest(tmp_path / "nope.csv")


def test_summarize_counts_speakers_hours_and_gender():
    frame = pd.DataFrame({
        "corpus": ["a"] * 4 + ["b"] * 2,
        "speaker": ["1", "1", "2", "3", "9", "9"],
        "gender": ["F", "F", "M", "", "M", "M"],
        "duration_s": [1800.0, 1800.0, 900.0, 900.0, 3600.0, 0.0],
        "utt_id": list("abcdef"),
    })
    table = summarize(frame)
    assert table.loc["a", "speakers"] == 3 and table.loc["a", "utterances"] == 4
    assert table.loc["a", "hours"] == pytest.approx(1.5)
    assert (table.loc["a", "female_speakers"], table.loc["a", "male_speakers"],
            table.loc["a", "unknown_gender_speakers"]) == (1, 1, 1)
    assert table.loc["b", "hours"] == pytest.approx(1.0)


def test_normalize_gender():
    assert [normalize_gender(v) for v in ["f", "F", "female", "m", " M", "x", None, np.nan]] == [
        "F", "F", "F", "M", "M", "", "", ""]


def test_combined_manifests_keep_speakers_apart_and_name_a_clash():
    so762 = pd.DataFrame({"utt_id": ["a1", "a2"], "speaker": ["19", "20"], "corpus": "kaldi"})
    libri = pd.DataFrame({"utt_id": ["19-1-1", "26-1-1"], "speaker": ["19", "26"], "corpus": "librispeech"})
    combined = combine_manifests({"kaldi": so762, "librispeech": libri}, prefixed=["librispeech"])
    assert combined["speaker"].tolist() == ["19", "20", "librispeech:19", "librispeech:26"]
    assert combined["source"].tolist() == ["kaldi", "kaldi", "librispeech", "librispeech"]
    assert combined["speaker"].nunique() == 4
    with pytest.raises(ManifestError, match=r"share 1 speaker values \(first: \['19'\]\).*prefixed=\['librispeech'\]"):
        combine_manifests({"kaldi": so762, "librispeech": libri})
    with pytest.raises(ManifestError, match="prefixed: expected names of the manifests given"):
        combine_manifests({"kaldi": so762}, prefixed=["timit"])
    with pytest.raises(ManifestError, match="expected the columns utt_id and speaker"):
        combine_manifests({"kaldi": so762.drop(columns="speaker")})
