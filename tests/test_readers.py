"""Corpus readers: exact counts on the real corpora, and trees built here in every layout."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speakerlib.audio.load import load_audio
from speakerlib.audio.sphere import is_sphere, read_sphere_header
from speakerlib.data.corpora import CORPUS_KINDS, read_corpus
from speakerlib.data.folder import AUDIO_EXTENSIONS, read_folder
from speakerlib.data.kaldi import read_kaldi
from speakerlib.data.librispeech import read_librispeech
from speakerlib.data.manifest import MANIFEST_COLUMNS
from speakerlib.data.timit import read_timit
from speakerlib.errors import (
    CorpusLayoutError,
    CorpusNotFoundError,
    EmptyCorpusError,
    ManifestError,
    UnreadableAudioError,
)

RATE = 16000
QUIET = {"progress": False, "jobs": 2}


def write_tone(path: Path, *, seconds: float = 0.05, freq: float = 300.0,
               format: str | None = None, subtype: str = "PCM_16") -> Path:
    """A short sine tone; ``format`` picks the container (``"NIST"``, ``"FLAC"``...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), RATE, format=format, subtype=subtype)
    return path


def write_junk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not audio, just text bytes\n" * 4)
    return path


# ---------------------------------------------------------------------------
# the real corpora


@pytest.mark.corpora
def test_librispeech_real_counts(shared_corpora):
    manifest, rejects = read_librispeech(shared_corpora, **QUIET)
    assert rejects.empty
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert manifest["speaker"].nunique() == 13
    assert len(manifest) == 467
    assert set(manifest["corpus"]) == {"librispeech"}

    train = manifest[manifest["subset"] == "train-clean-100"]
    assert train.groupby("speaker").size().to_dict() == {"19": 111, "26": 118, "27": 138}
    assert (train["text"].str.len() > 0).all()

    test = manifest[manifest["subset"] == "test-other"]
    assert test["speaker"].nunique() == 10
    assert (test.groupby("speaker").size() == 10).all()
    assert (test["text"] == "").all()

    # genders against SPEAKERS.TXT, parsed here independently
    expected = {}
    for line in (shared_corpora / "LibriSpeech" / "SPEAKERS.TXT").read_text().splitlines():
        if line.strip() and not line.startswith(";"):
            spk, sex = (x.strip() for x in line.split("|")[:2])
            expected[spk] = sex
    per_speaker = manifest.drop_duplicates("speaker").set_index("speaker")["gender"]
    assert per_speaker.to_dict() == {s: expected[s] for s in per_speaker.index}
    assert set(per_speaker) == {"F", "M"}

    for row in manifest.itertuples():
        assert Path(row.path).stem == row.utt_id
        assert row.utt_id.startswith(f"{row.speaker}-{row.chapter}-")
    assert (manifest["sample_rate"] == 16000).all()
    first = manifest.iloc[0]
    assert first["duration_s"] == pytest.approx(sf.info(first["path"]).duration)


@pytest.mark.corpora
def test_librispeech_real_root_forms_agree(shared_corpora):
    from_parent, _ = read_librispeech(shared_corpora, **QUIET)
    from_folder, _ = read_librispeech(shared_corpora / "LibriSpeech", **QUIET)
    pd.testing.assert_frame_equal(from_parent, from_folder)
    one, _ = read_librispeech(shared_corpora / "LibriSpeech" / "test-other", **QUIET)
    assert len(one) == 100 and set(one["subset"]) == {"test-other"}
    assert set(one["gender"]) <= {"F", "M"} and "" not in set(one["gender"])
    filtered, _ = read_librispeech(shared_corpora, subsets=["train-clean-100"], **QUIET)
    assert len(filtered) == 111 + 118 + 138


@pytest.mark.corpora
def test_timit_real_counts(shared_corpora):
    manifest, rejects = read_timit(shared_corpora, **QUIET)
    assert rejects.empty
    assert len(manifest) == 160
    assert manifest["speaker"].nunique() == 16
    genders = manifest.drop_duplicates("speaker")["gender"].value_counts().to_dict()
    assert genders == {"F": 8, "M": 8}
    assert manifest["subset"].value_counts().to_dict() == {"train": 80, "test": 80}
    for speaker, group in manifest.groupby("speaker"):
        assert len(group) == 10, speaker
        assert group["sentence_type"].value_counts().to_dict() == {"SX": 5, "SI": 3, "SA": 2}
        assert group["gender"].iloc[0] == speaker[0].upper()
    assert sorted(manifest["dialect_region"].unique()) == [f"dr{i}" for i in range(1, 9)]
    assert all(is_sphere(p) for p in manifest["path"])
    row = manifest.set_index("utt_id").loc["fblv0_sa1"]
    assert row["speaker"] == "fblv0" and row["dialect_region"] == "dr7"
    assert row["text"] == "She had your dark suit in greasy wash water all year."
    # duration from the SPHERE header, read by our own parser
    header = read_sphere_header(row["path"])
    assert row["duration_s"] == pytest.approx(header.sample_count / 16000)
    # age at recording from DOC/SPKRINFO.TXT: MCPM0 born 02/18/62, recorded 01/30/86
    assert manifest.set_index("utt_id").loc["mcpm0_sa1", "age"] == 23.0
    same, _ = read_timit(shared_corpora / "TIMIT", **QUIET)
    pd.testing.assert_frame_equal(manifest, same)


@pytest.mark.corpora
def test_speechocean762_real_counts(shared_corpora):
    root = shared_corpora / "speechocean762"
    manifest, rejects = read_kaldi(root, **QUIET)
    assert rejects.empty
    assert manifest["speaker"].nunique() == 125
    assert len(manifest) == 1500
    assert (manifest.groupby("speaker").size() == 12).all()
    assert manifest["gender"].isin(["F", "M"]).all()
    assert manifest["age"].notna().all()
    assert set(manifest["subset"]) == {"train"}
    assert (manifest["text"].str.len() > 0).all()

    lists = root / "train"
    gender = pd.read_csv(lists / "spk2gender", sep=r"\s+", header=None, dtype=str,
                         names=["speaker", "gender"]).set_index("speaker")["gender"]
    age = pd.read_csv(lists / "spk2age", sep=r"\s+", header=None, dtype={0: str},
                      names=["speaker", "age"]).set_index("speaker")["age"]
    per_speaker = manifest.drop_duplicates("speaker").set_index("speaker")
    assert per_speaker["gender"].to_dict() == gender.str.upper().loc[per_speaker.index].to_dict()
    np.testing.assert_array_equal(per_speaker["age"].to_numpy(),
                                  age.loc[per_speaker.index].to_numpy(float))
    assert all(Path(p).is_file() for p in manifest["path"])

    from_data_dir, _ = read_kaldi(root / "train", **QUIET)
    pd.testing.assert_frame_equal(manifest, from_data_dir)


# ---------------------------------------------------------------------------
# TIMIT trees


def make_timit(base: Path, *, case: str = "upper", riff: bool = False) -> Path:
    """A 3-speaker TIMIT tree; ``case`` upper, lower or mixed; SPHERE or RIFF audio."""
    speakers = [("TRAIN", "DR1", "FABC0"), ("TRAIN", "DR2", "MDEF1"), ("TEST", "DR8", "MGHI0")]
    utterances = ["SA1", "SI1027", "SX37"]

    def cased(name: str, kind: str) -> str:
        if case == "upper":
            return name
        if case == "lower":
            return name.lower()
        # mixed: folders and files disagree with one another
        return {"subset": name.capitalize(), "region": name.lower(), "speaker": name,
                "utt": name.lower()}[kind]

    timit = base / "TIMIT"
    for subset, region, speaker in speakers:
        folder = (timit / cased(subset, "subset") / cased(region, "region")
                  / cased(speaker, "speaker"))
        for i, utt in enumerate(utterances):
            ext = ".wav" if case == "lower" else ".WAV"
            write_tone(folder / f"{cased(utt, 'utt')}{ext}", freq=200 + 50 * i,
                       format="WAV" if riff else "NIST")
            (folder / f"{cased(utt, 'utt')}.{'TXT' if case != 'lower' else 'txt'}").write_text(
                f"0 800 Sentence {utt} of {speaker}.\n")
            (folder / f"{cased(utt, 'utt')}.PHN").write_text("0 800 h#\n")
    return timit


@pytest.mark.parametrize("case", ["upper", "lower", "mixed"])
@pytest.mark.parametrize("riff", [False, True])
def test_timit_tree_any_case_and_container(tmp_path, case, riff):
    timit = make_timit(tmp_path, case=case, riff=riff)
    manifest, rejects = read_timit(timit, **QUIET)
    assert rejects.empty
    assert len(manifest) == 9
    assert sorted(manifest["speaker"].unique()) == ["fabc0", "mdef1", "mghi0"]
    assert manifest["subset"].value_counts().to_dict() == {"train": 6, "test": 3}
    row = manifest.set_index("utt_id").loc["fabc0_si1027"]
    assert (row["gender"], row["dialect_region"], row["sentence_type"]) == ("F", "dr1", "SI")
    assert row["text"] == "Sentence SI1027 of FABC0."
    assert row["duration_s"] == pytest.approx(0.05)
    assert set(manifest["sentence_type"]) == {"SA", "SI", "SX"}
    assert manifest.set_index("speaker")["gender"].to_dict()["mghi0"] == "M"
    assert all(is_sphere(p) != riff for p in manifest["path"])
    assert not manifest["path"].str.upper().str.endswith(".PHN").any()
    # the parent of TIMIT/ works too
    from_parent, _ = read_timit(tmp_path, **QUIET)
    pd.testing.assert_frame_equal(manifest, from_parent)


def test_timit_spkrinfo_cross_check_and_age(tmp_path):
    timit = make_timit(tmp_path)
    doc = timit / "DOC"
    doc.mkdir()
    (doc / "SPKRINFO.TXT").write_text(
        "; comment\n;ID  Sex DR Use  RecDate   BirthDate\n"
        "ABC0  F  1  TRN  03/11/86  01/08/60  5'05\"  WHT  BS\n"
        "DEF1  F  2  TRN  03/11/86  04/08/60  5'05\"  WHT  BS\n"  # disagrees with MDEF1
        "GHI0  M  8  TST  03/11/86  ??/??/??  5'05\"  WHT  BS\n"
    )
    with pytest.warns(UserWarning, match="mdef1"):
        manifest, _ = read_timit(timit, **QUIET)
    ages = manifest.drop_duplicates("speaker").set_index("speaker")["age"]
    assert ages["fabc0"] == 26.0 and ages["mdef1"] == 25.0 and np.isnan(ages["mghi0"])
    assert manifest.set_index("speaker").loc["mdef1", "gender"].iloc[0] == "M"  # folder letter kept


def test_timit_shorten_fails_early_with_the_fix(tmp_path):
    timit = make_timit(tmp_path)
    first = timit / "TEST" / "DR8" / "MGHI0" / "SA1.WAV"
    header = ("NIST_1A\n   1024\nsample_rate -i 16000\nchannel_count -i 1\nsample_n_bytes -i 2\n"
              "sample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n").encode()
    first.write_bytes(header.ljust(1024, b" ") + b"\x01" * 500)
    with pytest.raises(UnreadableAudioError, match="sph2pipe"):
        read_timit(timit, **QUIET)


def test_timit_wrong_layout(tmp_path):
    write_tone(tmp_path / "corpus" / "someone" / "a.wav")
    with pytest.raises(CorpusLayoutError, match="TRAIN"):
        read_timit(tmp_path / "corpus", **QUIET)
    bad = make_timit(tmp_path / "b")
    (bad / "TRAIN" / "DR1" / "XYZ0").mkdir()
    with pytest.raises(CorpusLayoutError, match="XYZ0"):
        read_timit(bad, **QUIET)


# ---------------------------------------------------------------------------
# LibriSpeech trees


def make_librispeech(base: Path, *, speakers_txt: bool = True, marker: bool = False) -> Path:
    ls = base / "LibriSpeech"
    for subset, speaker, chapter, n, transcripts in [
        ("train-clean-5", "101", "2001", 3, True),
        ("train-clean-5", "102", "2002", 2, True),
        ("dev-other", "103", "2003", 2, False),
    ]:
        folder = ls / subset / speaker / chapter
        lines = []
        for i in range(n):
            utt = f"{speaker}-{chapter}-{i:04d}"
            write_tone(folder / f"{utt}.flac", freq=150 + 40 * i, format="FLAC")
            lines.append(f"{utt} WORDS OF {utt}")
        if transcripts:
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    if speakers_txt:
        (ls / "SPEAKERS.TXT").write_text(
            ";ID  |SEX| SUBSET | MINUTES | NAME\n"
            "101  | F | train-clean-5 | 1.0 | Ada | with a pipe\n"
            "102  | M | train-clean-5 | 1.0 | Bob\n"
            "103  | F | dev-other     | 1.0 | Cyd\n"
        )
    if marker:
        (ls / "SYNTHETIC.json").write_text("{}")
    return ls


def test_librispeech_tree(tmp_path):
    ls = make_librispeech(tmp_path)
    manifest, rejects = read_librispeech(tmp_path, **QUIET)
    assert rejects.empty
    assert len(manifest) == 7
    assert manifest.groupby("subset").size().to_dict() == {"dev-other": 2, "train-clean-5": 5}
    by_id = manifest.set_index("utt_id")
    assert by_id.loc["101-2001-0002", "text"] == "WORDS OF 101-2001-0002"
    assert by_id.loc["101-2001-0002", "chapter"] == "2001"
    assert (manifest[manifest["subset"] == "dev-other"]["text"] == "").all()
    assert manifest.drop_duplicates("speaker").set_index("speaker")["gender"].to_dict() == {
        "101": "F", "102": "M", "103": "F"}
    assert set(manifest["corpus"]) == {"librispeech"}
    one, _ = read_librispeech(ls / "dev-other", **QUIET)
    assert one["utt_id"].tolist() == ["103-2003-0000", "103-2003-0001"]
    assert one["gender"].tolist() == ["F", "F"]  # SPEAKERS.TXT found above the subset
    only, _ = read_librispeech(ls, subsets="dev-other", **QUIET)
    pd.testing.assert_frame_equal(one, only)
    with pytest.raises(CorpusNotFoundError, match="test-clean"):
        read_librispeech(ls, subsets=["test-clean"], **QUIET)


def test_librispeech_without_speakers_txt_warns(tmp_path):
    make_librispeech(tmp_path, speakers_txt=False)
    with pytest.warns(UserWarning, match="SPEAKERS.TXT"):
        manifest, _ = read_librispeech(tmp_path, **QUIET)
    assert len(manifest) == 7
    assert (manifest["gender"] == "").all()


def test_librispeech_synthetic_marker(tmp_path):
    ls = make_librispeech(tmp_path, marker=True)
    (ls / "train-clean-5").rename(ls / "synthetic")
    manifest, _ = read_librispeech(ls, **QUIET)
    assert set(manifest["corpus"]) == {"synthetic"}
    assert set(manifest["subset"]) == {"synthetic", "dev-other"}


def test_librispeech_misnamed_file(tmp_path):
    ls = make_librispeech(tmp_path)
    write_tone(ls / "dev-other" / "103" / "2003" / "999-2003-0005.flac", format="FLAC")
    with pytest.raises(CorpusLayoutError, match="999-2003-0005"):
        read_librispeech(ls, **QUIET)


def test_librispeech_wrong_layout(tmp_path):
    write_tone(tmp_path / "spk1" / "a.flac", format="FLAC")
    with pytest.raises(CorpusLayoutError, match="a.flac"):
        read_librispeech(tmp_path, **QUIET)


# ---------------------------------------------------------------------------
# Kaldi lists


def make_kaldi(base: Path) -> Path:
    corpus = base / "corpus"
    for spk in ("s1", "s2"):
        for i in range(2):
            write_tone(corpus / "audio" / spk / f"{spk}_u{i}.wav", freq=200 + 90 * i)
    train = corpus / "train"
    train.mkdir()
    # paths relative to the corpus folder, one absolute; tabs and spaces mixed
    (train / "wav.scp").write_text(
        "s1_u0\taudio/s1/s1_u0.wav\n"
        "s1_u1 audio/s1/s1_u1.wav\n"
        f"s2_u0  {corpus / 'audio' / 's2' / 's2_u0.wav'}\n"
        "\n"
    )
    (train / "utt2spk").write_text("s1_u0 s1\ns1_u1\ts1\ns2_u0 s2\n")
    (train / "spk2gender").write_text("s1\tf\ns2 m\n")
    (train / "spk2age").write_text("s1 7\ns2\t41\n")
    (train / "text").write_text("s1_u0 HELLO THERE\ns1_u1\tGOOD  DAY\n")
    # paths relative to the data directory itself (the fallback)
    test = corpus / "test"
    write_tone(test / "local" / "s2_u1.wav")
    (test / "wav.scp").write_text("s2_u1 local/s2_u1.wav\n")
    (test / "utt2spk").write_text("s2_u1 s2\n")
    return corpus


def test_kaldi_lists(tmp_path):
    corpus = make_kaldi(tmp_path)
    manifest, rejects = read_kaldi(corpus, **QUIET)
    assert rejects.empty
    assert len(manifest) == 4
    by_id = manifest.set_index("utt_id")
    assert by_id.loc["s1_u0", "path"] == str(corpus / "audio" / "s1" / "s1_u0.wav")
    assert by_id.loc["s2_u1", "path"] == str(corpus / "test" / "local" / "s2_u1.wav")
    assert by_id["subset"].to_dict() == {"s1_u0": "train", "s1_u1": "train", "s2_u0": "train",
                                         "s2_u1": "test"}
    assert by_id.loc["s1_u1", "text"] == "GOOD  DAY"
    assert by_id.loc["s2_u0", "text"] == ""
    assert (by_id.loc["s1_u0", "gender"], by_id.loc["s1_u0", "age"]) == ("F", 7.0)
    assert (by_id.loc["s2_u0", "gender"], by_id.loc["s2_u0", "age"]) == ("M", 41.0)
    assert by_id.loc["s2_u1", "gender"] == "" and np.isnan(by_id.loc["s2_u1", "age"])
    only_train, _ = read_kaldi(corpus / "train", **QUIET)
    assert sorted(only_train["utt_id"]) == ["s1_u0", "s1_u1", "s2_u0"]


def test_kaldi_pipe_is_refused(tmp_path):
    corpus = make_kaldi(tmp_path)
    (corpus / "train" / "wav.scp").write_text("s1_u0 sph2pipe -f wav a.sph |\n")
    with pytest.raises(CorpusLayoutError, match="not supported"):
        read_kaldi(corpus, **QUIET)


def test_kaldi_utterance_without_speaker(tmp_path):
    corpus = make_kaldi(tmp_path)
    (corpus / "train" / "utt2spk").write_text("s1_u0 s1\n")
    with pytest.raises(CorpusLayoutError, match="s1_u1"):
        read_kaldi(corpus, **QUIET)
    (corpus / "train" / "utt2spk").unlink()
    with pytest.raises(CorpusLayoutError, match="utt2spk"):
        read_kaldi(corpus, **QUIET)


def test_kaldi_wrong_layout(tmp_path):
    write_tone(tmp_path / "spk" / "a.wav")
    with pytest.raises(CorpusLayoutError, match="wav.scp"):
        read_kaldi(tmp_path, **QUIET)


# ---------------------------------------------------------------------------
# plain folders


def make_folder(base: Path) -> Path:
    root = base / "vox"
    write_tone(root / "id001" / "videoA" / "00001.wav")
    write_tone(root / "id001" / "videoA" / "deeper" / "00002.WAV")
    write_tone(root / "id001" / "00003.flac", format="FLAC")
    write_tone(root / "id002" / "clip.FLAC", format="FLAC")
    write_tone(root / "id002" / "talk.Ogg", format="OGG", subtype="VORBIS")
    write_tone(root / "id002" / ".hidden" / "x.wav")
    return root


def test_folder_nested(tmp_path):
    root = make_folder(tmp_path)
    (root / "id002" / "notes.txt").write_text("not audio")
    with pytest.warns(UserWarning, match=r"left out 1 file\(s\).*'\.txt' \(1, for example "
                      + re.escape(str(root / "id002" / "notes.txt"))):
        manifest, rejects = read_folder(root, **QUIET)
    assert rejects.empty
    assert manifest["utt_id"].tolist() == [
        "id001/00003", "id001/videoA/00001", "id001/videoA/deeper/00002", "id002/clip",
        "id002/talk"]
    assert manifest["speaker"].tolist() == ["id001"] * 3 + ["id002"] * 2
    assert (manifest["subset"] == "").all() and (manifest["gender"] == "").all()
    assert set(manifest["corpus"]) == {"folder"}

    (root / "speakers.csv").write_text("speaker,gender\nid001,female\nid002,M\n")
    (root / "id002" / "notes.txt").unlink()
    with_csv, _ = read_folder(root, **QUIET)
    assert with_csv["gender"].tolist() == ["F", "F", "F", "M", "M"]


def test_folder_loose_files_are_a_layout_error(tmp_path):
    write_tone(tmp_path / "a.wav")
    with pytest.raises(CorpusLayoutError, match="speaker"):
        read_folder(tmp_path, **QUIET)


def _ffmpeg_encode(source: Path, target: Path, *args: str) -> Path:
    """Encode ``source`` into ``target`` with the ffmpeg binary load_audio itself uses."""
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg (the ffmpeg "
                                         "speakerlib decodes MP3 and M4A with) is not installed")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i",
                           str(source), *args, str(target)], capture_output=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"this ffmpeg cannot encode {target.suffix} ({args}): "
                    f"{done.stderr.decode(errors='replace').strip()[-200:]}")
    return target


def test_folder_reads_every_format_load_audio_decodes_with_its_decoded_length(tmp_path):
    t = np.arange(int(0.7 * 22050)) / 22050
    stereo = 0.3 * np.stack([np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 450 * t)], axis=1)
    source = tmp_path / "source.wav"
    sf.write(source, stereo, 22050, subtype="PCM_16")
    root = tmp_path / "corpus"
    # an MP3 without its Xing/LAME frame: libsndfile's header estimates 512 samples too many
    _ffmpeg_encode(source, root / "mp3" / "talk.mp3", "-c:a", "libmp3lame", "-write_xing", "0")
    _ffmpeg_encode(source, root / "m4a" / "talk.M4A", "-c:a", "aac", "-ac", "1", "-ar", "16000")
    _ffmpeg_encode(source, root / "opus" / "talk.opus", "-c:a", "libopus")
    for fmt, ext in [("AIFF", ".aiff"), ("AU", ".au"), ("CAF", ".caf"), ("W64", ".w64")]:
        write_tone(root / fmt.lower() / f"talk{ext}", format=fmt)
    assert {p.suffix.lower() for p in root.rglob("talk.*")} <= set(AUDIO_EXTENSIONS)

    manifest, rejects = read_folder(root, **QUIET)
    assert rejects.empty
    assert manifest["speaker"].tolist() == ["aiff", "au", "caf", "m4a", "mp3", "opus", "w64"]
    for row in manifest.itertuples():
        y, report = load_audio(row.path, sample_rate_hz=None, mono=False)
        assert (row.sample_rate, row.num_channels) == (report.original_sample_rate_hz, y.shape[1])
        assert row.duration_s == len(y) / row.sample_rate, row.path
    mp3 = manifest.set_index("speaker").loc["mp3"]
    assert (mp3.sample_rate, mp3.num_channels) == (22050, 2)
    assert sf.info(mp3.path).frames != round(mp3.duration_s * 22050)  # the estimate is not used
    m4a = manifest.set_index("speaker").loc["m4a"]
    assert (m4a.sample_rate, m4a.num_channels) == (16000, 1)


def test_folder_of_mp3_only_is_read(tmp_path):
    source = write_tone(tmp_path / "source.wav", seconds=0.5)
    for speaker in ("anna", "ben"):
        _ffmpeg_encode(source, tmp_path / "corpus" / speaker / "one.mp3", "-c:a", "libmp3lame")
    manifest, rejects = read_folder(tmp_path / "corpus", **QUIET)
    assert rejects.empty and manifest["utt_id"].tolist() == ["anna/one", "ben/one"]
    assert manifest["duration_s"].tolist() == pytest.approx([0.5, 0.5], abs=1e-9)


def test_folder_warns_about_files_it_leaves_out_by_extension(tmp_path):
    root = make_folder(tmp_path)
    for name in ("a.txt", "b.txt", "deeper/c.TXT", "cover.jpg", "LICENSE"):
        (root / "id001" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "id001" / name).write_text("not audio")
    (root / "README.md").write_text("about this corpus")
    (root / "speakers.csv").write_text("speaker,gender\nid001,F\n")  # read, so not left out
    with pytest.warns(UserWarning) as caught:
        manifest, _ = read_folder(root, **QUIET)
    assert len(manifest) == 5
    [message] = [str(w.message) for w in caught if "not audio" in str(w.message)]
    assert message.startswith(f"{root}: left out 6 file(s)")
    assert f"'.txt' (3, for example {root / 'id001' / 'a.txt'})" in message
    assert f"'.jpg' (1, for example {root / 'id001' / 'cover.jpg'})" in message
    assert f"'.md' (1, for example {root / 'README.md'})" in message
    assert f"no extension (1, for example {root / 'id001' / 'LICENSE'})" in message
    assert ".mp3" in message and ".m4a" in message and "speakers.csv" not in message


def test_folder_without_audio_names_the_extensions_found_and_accepted(tmp_path):
    for name in ("anna/talk.m4b", "anna/notes.txt", "ben/talk.m4b"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    with pytest.raises(EmptyCorpusError) as info:
        read_folder(tmp_path, **QUIET)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}: expected audio files in the speaker folders")
    assert f"'.m4b' (2, for example {tmp_path / 'anna' / 'talk.m4b'}), '.txt' (1," in message
    assert ".wav, .wave, .flac" in message and ".mp3" in message
    assert "point root at" in message
    assert "point --root at" in info.value.for_command_line()


def test_folder_link_to_a_speaker_already_read_is_an_error(tmp_path):
    root = make_folder(tmp_path)
    os.symlink(root / "id001", root / "id003")
    with pytest.raises(ManifestError) as info:
        read_folder(root, **QUIET)
    message = str(info.value)
    assert (f"found {root / 'id001'} and {root / 'id003'}, which are the same folder "
            f"(both are {root / 'id001'})") in message
    assert "Remove the link, or point root at a folder without duplicates" in message
    assert "point --root at" in info.value.for_command_line()


def test_folder_same_file_by_two_paths_is_an_error(tmp_path):
    root = make_folder(tmp_path)
    first = root / "id001" / "00003.flac"
    os.symlink(first, root / "id002" / "copy.flac")
    with pytest.raises(ManifestError, match=re.escape(
            f"found {first} and {root / 'id002' / 'copy.flac'}, which are the same file")):
        read_folder(root, **QUIET)
    (root / "id002" / "copy.flac").unlink()
    os.link(first, root / "id002" / "hard.flac")
    with pytest.raises(ManifestError, match="hard links: one device and inode"):
        read_folder(root, **QUIET)


def test_folder_link_looping_back_is_an_error(tmp_path):
    root = make_folder(tmp_path)
    os.symlink("../..", root / "id001" / "videoA" / "up")
    with pytest.raises(ManifestError, match=re.escape(
            f"found {root} and {root / 'id001' / 'videoA' / 'up'}, which are the same folder")):
        read_folder(root, **QUIET)


def test_folder_links_to_audio_outside_reached_once_are_read(tmp_path):
    root = make_folder(tmp_path)
    outside = write_tone(tmp_path / "elsewhere" / "far.wav", seconds=0.1)
    write_tone(tmp_path / "elsewhere" / "more" / "near.wav", seconds=0.2)
    os.symlink(outside, root / "id002" / "far.wav")
    os.symlink(tmp_path / "elsewhere" / "more", root / "id001" / "linked")  # a linked folder
    manifest, rejects = read_folder(root, **QUIET)
    assert rejects.empty and len(manifest) == 7
    by_id = manifest.set_index("utt_id")
    assert by_id.loc["id002/far", "path"] == str(root / "id002" / "far.wav")
    assert by_id.loc["id002/far", "duration_s"] == pytest.approx(0.1)
    assert by_id.loc["id001/linked/near", "duration_s"] == pytest.approx(0.2)


def test_folder_speakers_csv_age_must_be_a_number(tmp_path):
    root = make_folder(tmp_path)
    (root / "speakers.csv").write_text("speaker,gender,age\nid001,F,31\nid002,M,thirty\n")
    with pytest.raises(CorpusLayoutError, match=r"found 1 other value\(s\): 'thirty' \(row 2, "
                                                r"speaker 'id002'\)"):
        read_folder(root, **QUIET)
    (root / "speakers.csv").write_text("speaker,gender,age\nid001,F,31\nid002,M,\n")
    manifest, _ = read_folder(root, **QUIET)
    assert manifest.drop_duplicates("speaker")["age"].tolist()[0] == 31.0
    assert np.isnan(manifest.drop_duplicates("speaker")["age"].tolist()[1])


# ---------------------------------------------------------------------------
# errors every reader shares


def make_valid(kind: str, base: Path) -> Path:
    """A small valid corpus of each kind; returns the root to read."""
    if kind == "librispeech":
        make_librispeech(base)
        return base
    if kind == "timit":
        return make_timit(base)
    if kind == "kaldi":
        return make_kaldi(base)
    return make_folder(base)


def make_no_speakers(kind: str, base: Path) -> Path:
    """The skeleton of each layout with no speaker in it."""
    if kind == "librispeech":
        (base / "LibriSpeech" / "train-clean-100").mkdir(parents=True)
        (base / "LibriSpeech" / "SPEAKERS.TXT").write_text("; nobody\n")
        return base
    if kind == "timit":
        (base / "TIMIT" / "TRAIN" / "DR1").mkdir(parents=True)
        return base / "TIMIT"
    if kind == "kaldi":
        (base / "train").mkdir()
        (base / "train" / "wav.scp").write_text("")
        (base / "train" / "utt2spk").write_text("")
        return base
    (base / "README.txt").write_text("speakers go here")
    (base / "empty_speaker").mkdir()
    return base


@pytest.mark.parametrize("kind", CORPUS_KINDS)
def test_missing_root(tmp_path, kind):
    missing = tmp_path / "nowhere"
    with pytest.raises(CorpusNotFoundError) as info:
        read_corpus(kind, missing, **QUIET)
    assert str(missing) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    hint = {"librispeech": "speakerlib download librispeech", "timit": "TIMIT copy",
            "kaldi": "wav.scp", "folder": "one sub-folder per speaker"}[kind]
    assert hint in str(info.value)


@pytest.mark.parametrize("kind", CORPUS_KINDS)
def test_empty_folder(tmp_path, kind):
    with pytest.raises(EmptyCorpusError, match=re.escape(str(tmp_path))):
        read_corpus(kind, tmp_path, **QUIET)


@pytest.mark.parametrize("kind", CORPUS_KINDS)
def test_folder_with_no_speakers(tmp_path, kind):
    root = make_no_speakers(kind, tmp_path)
    with pytest.raises(EmptyCorpusError) as info:
        read_corpus(kind, root, **QUIET)
    assert str(tmp_path) in str(info.value)
    assert "expected" in str(info.value)


def _break_one_file(kind: str, root: Path, how: str) -> tuple[str, Path]:
    """Replace one audio file of a valid tree; return its utt_id and path."""
    if kind == "librispeech":
        utt = "102-2002-0001"
        path = root / "LibriSpeech" / "train-clean-5" / "102" / "2002" / f"{utt}.flac"
    elif kind == "timit":
        utt, path = "mdef1_sx37", root / "TRAIN" / "DR2" / "MDEF1" / "SX37.WAV"
    elif kind == "kaldi":
        utt, path = "s1_u1", root / "audio" / "s1" / "s1_u1.wav"
    else:
        utt, path = "id002/clip", root / "id002" / "clip.FLAC"
    if how == "junk":
        write_junk(path)
    else:  # truncated inside the header
        path.write_bytes(path.read_bytes()[:30])
    return utt, path


@pytest.mark.parametrize("how", ["junk", "truncated"])
@pytest.mark.parametrize("kind", CORPUS_KINDS)
def test_unreadable_file_raises_or_is_rejected(tmp_path, kind, how):
    root = make_valid(kind, tmp_path)
    complete, _ = read_corpus(kind, root, **QUIET)
    utt, path = _break_one_file(kind, root, how)
    with pytest.raises(UnreadableAudioError) as info:
        read_corpus(kind, root, **QUIET)
    assert str(path) in str(info.value)

    manifest, rejects = read_corpus(kind, root, skip_unreadable=True, **QUIET)
    assert rejects["utt_id"].tolist() == [utt]
    assert rejects["path"].tolist() == [str(path)]
    assert len(manifest) == len(complete) - 1
    assert utt not in set(manifest["utt_id"])


def test_junk_flac_in_folder_corpus(tmp_path):
    root = make_folder(tmp_path)
    bad = write_junk(root / "id001" / "broken.flac")
    with pytest.raises(UnreadableAudioError, match="broken.flac"):
        read_folder(root, **QUIET)
    manifest, rejects = read_folder(root, skip_unreadable=True, **QUIET)
    assert rejects["path"].tolist() == [str(bad)]
    assert len(manifest) == 5


def test_registry(tmp_path):
    assert CORPUS_KINDS == ("librispeech", "timit", "kaldi", "folder")
    with pytest.raises(KeyError, match="librispeech, timit, kaldi, folder"):
        read_corpus("voxceleb", tmp_path)
    root = make_folder(tmp_path)
    via_registry, _ = read_corpus("Folder", root, **QUIET)
    direct, _ = read_folder(root, **QUIET)
    pd.testing.assert_frame_equal(via_registry, direct)
