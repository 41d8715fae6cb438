"""The manifest: schema, round trip, atomic write, clear errors, summaries."""

from __future__ import annotations

import re

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
    assert "pass skip_unreadable=True" in str(info.value) and "--skip" not in str(info.value)
    assert "add --skip-unreadable to leave them out" in info.value.for_command_line()
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


def test_a_truncated_wav_is_unreadable_not_shorter(tmp_path):
    # libsndfile's header read accepts it, returning the samples present; load_audio refuses it
    rows = rows_for(tmp_path)
    full = write_tone(tmp_path / "s0" / "long.wav", seconds=1.0).read_bytes()
    (tmp_path / "s0" / "long.wav").write_bytes(full[: len(full) // 2])
    assert audio_info(tmp_path / "s0" / "long.wav").duration_s == pytest.approx(0.5, abs=0.01)
    rows.append({"utt_id": "long", "speaker": "0000", "path": str(tmp_path / "s0" / "long.wav")})
    with pytest.raises(UnreadableAudioError, match=r"long\.wav: expected 32000 bytes of samples"):
        finish_manifest(rows, corpus="folder", root=tmp_path, progress=False)
    _, rejects = finish_manifest(rows, corpus="folder", root=tmp_path, skip_unreadable=True,
                                 progress=False)
    assert rejects["utt_id"].tolist() == ["long"] and "truncated" in rejects["reason"].iloc[0]


def test_a_truncated_flac_is_unreadable(tmp_path):
    # its header announces every sample; one seek to the last of them finds the file cut short
    rows = rows_for(tmp_path)
    path = tmp_path / "s1" / "cut.flac"
    path.write_bytes(write_tone(path, seconds=2.0).read_bytes()[:3000])
    assert audio_info(path).num_samples == 32000
    rows.append({"utt_id": "cut", "speaker": "0001", "path": str(path)})
    with pytest.raises(UnreadableAudioError, match=re.escape(
            f"{path}: expected 32000 samples of FLAC PCM_16 audio, as the header announces, found "
            "data on which decoding stops part-way")):
        finish_manifest(rows, corpus="folder", root=tmp_path, progress=False)


def test_sphere_that_libsndfile_refuses_is_read_as_load_audio_reads_it(tmp_path):
    # no channel_count line: libsndfile refuses the header, speakerlib's SPHERE reader does not
    samples = np.array([0, 1000, -1000, 32767, -32768, 5, 6, 7, 8, 9], dtype="<i2")
    lines = ["NIST_1A", "   1024", "sample_rate -i 8000", "sample_n_bytes -i 2",
             "sample_byte_format -s2 01", f"sample_count -i {len(samples)}", "end_head"]
    path = tmp_path / "SA1.WAV"
    path.write_bytes("\n".join(lines + [""]).encode("ascii").ljust(1024, b" ") + samples.tobytes())
    with pytest.raises(UnreadableAudioError):
        audio_info(path)
    manifest, rejects = finish_manifest([{"utt_id": "sa1", "speaker": "s", "path": str(path)}],
                                        corpus="timit", root=tmp_path, progress=False)
    assert rejects.empty
    row = manifest.iloc[0]
    assert (row.sample_rate, row.num_channels, row.duration_s) == (8000, 1, len(samples) / 8000)


def written_manifest(tmp_path, edits=(), drop=()):
    """A valid manifest of four utterances written as CSV, with ``(row, column, text)`` edits."""
    manifest, _ = finish_manifest(rows_for(tmp_path), corpus="folder", root=tmp_path, progress=False)
    path = write_manifest(manifest.drop(columns=list(drop)), tmp_path / "m.csv")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for row, column, text in edits:
        frame.loc[row, column] = text
    frame.to_csv(path, index=False)
    return path, frame["utt_id"].tolist()


@pytest.mark.parametrize(("column", "text", "reason", "expected"), [
    ("num_channels", "1.5", "not a whole number", "a positive whole number of channels"),
    ("num_channels", "0", "zero", "a positive whole number of channels"),
    ("num_channels", "two", "not a number", "a positive whole number of channels"),
    ("num_channels", "", "blank", "a positive whole number of channels"),
    ("duration_s", "abc", "not a number", "a positive duration in seconds"),
    ("duration_s", "", "blank", "a positive duration in seconds"),
    ("duration_s", "NaN", "NaN", "a positive duration in seconds"),
    ("duration_s", "-0.5", "negative", "a positive duration in seconds"),
    ("duration_s", "inf", "infinite", "a positive duration in seconds"),
    ("sample_rate", "16000.5", "not a whole number", "a positive whole number of samples per second [Hz]"),
    ("sample_rate", "16 kHz", "not a number", "a positive whole number of samples per second [Hz]"),
    ("sample_rate", "-16000", "negative", "a positive whole number of samples per second [Hz]"),
    ("age", "old", "not a number", "an age in years, zero or more (blank when unknown)"),
    ("age", "-3", "negative", "an age in years, zero or more (blank when unknown)"),
])
def test_a_bad_number_is_named_with_its_column_row_and_utterance(tmp_path, column, text, reason,
                                                                 expected):
    path, ids = written_manifest(tmp_path, [(1, column, text)])
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert str(info.value) == (
        f"{path}: column {column}: expected {expected} in every row, found 1 value(s) that are not: "
        f"{text!r} in row 2 (line 3 of the file, utt_id {ids[1]!r}: {reason}). Correct those "
        "values, or rebuild the manifest from the audio with `speakerlib manifest --corpus ... "
        "--root ...`.")


def test_every_bad_column_is_counted_and_the_first_values_shown(tmp_path):
    path, ids = written_manifest(tmp_path, [(0, "duration_s", "abc"), (2, "duration_s", "x"),
                                            (3, "duration_s", ""), (3, "num_channels", "1.5")])
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    message = str(info.value)
    assert "column duration_s: expected a positive duration in seconds in every row, found 3 " in message
    assert (f"'abc' in row 1 (line 2 of the file, utt_id {ids[0]!r}: not a number), 'x' in row 3 "
            f"(line 4 of the file, utt_id {ids[2]!r}: not a number), '' in row 4") in message
    assert f"; column num_channels: expected a positive whole number of channels" in message
    assert f"'1.5' in row 4 (line 5 of the file, utt_id {ids[3]!r}: not a whole number)" in message
    # beyond five, the rest are counted
    frame = pd.read_csv(written_manifest(tmp_path)[0], dtype=str, keep_default_na=False)
    many = pd.concat([frame] * 2, ignore_index=True)
    many["utt_id"] = [f"u{i}" for i in range(len(many))]
    many["sample_rate"] = "fast"
    many.to_csv(path, index=False)
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert str(info.value).startswith(
        f"{path}: column sample_rate: expected a positive whole number of samples per second [Hz] "
        "in every row, found 8 value(s) that are not: 'fast' in row 1 (line 2 of the file, utt_id "
        "'u0': not a number), 'fast' in row 2")
    assert "'fast' in row 5 (line 6 of the file, utt_id 'u4': not a number) and 3 more. " in str(info.value)
    assert "row 6" not in str(info.value)


def test_whole_numbers_written_as_floats_blank_ages_and_missing_channels_are_accepted(tmp_path):
    path, _ = written_manifest(tmp_path, [(0, "sample_rate", "16000.0"), (1, "num_channels", " 2 "),
                                          (2, "age", "41")])
    back = read_manifest(path)
    assert back["sample_rate"].tolist() == [16000] * 4 and back["sample_rate"].dtype == np.int64
    assert back["num_channels"].tolist() == [1, 2, 1, 1]
    assert np.isnan(back["age"].iloc[0]) and back["age"].iloc[2] == 41.0
    path, _ = written_manifest(tmp_path, drop=["num_channels"])
    assert read_manifest(path)["num_channels"].tolist() == [1] * 4


def test_make_manifest_checks_numbers_too():
    row = {"utt_id": "a", "speaker": "s", "path": "/x", "duration_s": 1.0, "sample_rate": 16000,
           "subset": "", "gender": ""}
    assert make_manifest([row], corpus="folder")["num_channels"].tolist() == [1]  # none given
    with pytest.raises(ManifestError, match=re.escape(
            "the folder reader: column num_channels: expected a positive whole number of channels "
            "in every row, found 1 value(s) that are not: 1.5 in row 2 (utt_id 'b': not a whole "
            "number)")):
        make_manifest([dict(row, num_channels=1), dict(row, utt_id="b", num_channels=1.5)],
                      corpus="folder")
    with pytest.raises(ManifestError, match=r"column duration_s: .* nan in row 1 \(utt_id 'a': missing\)"):
        make_manifest([dict(row, duration_s=np.nan)], corpus="folder")


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
