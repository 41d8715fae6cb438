"""Tests of the synthetic corpus (speakerlib.data.synth) and the mean-MFCC baseline."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speakerlib._io import part_path
from speakerlib.baseline import baseline_report, mean_mfcc_embeddings
from speakerlib.data.librispeech import read_librispeech, read_speakers_txt
from speakerlib.data.synth import (
    SynthConfig,
    generate_corpus,
    speaker_profiles,
    synthesize_utterance,
    utterance_rng,
)
from speakerlib.errors import CorpusLayoutError, SplitError

# Small enough to generate in a few seconds; big enough that the baseline is
# neither at chance nor perfect.
SMALL = SynthConfig(num_speakers=12, utterances_per_speaker=6, seed=3, max_duration_s=3.5)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("synthetic")
    return root, generate_corpus(root, SMALL, progress=False)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.flac"))}


def frame_energy_db(y: np.ndarray, sample_rate_hz: int, frame_s: float = 0.02) -> np.ndarray:
    n = int(frame_s * sample_rate_hz)
    frames = y[: y.size // n * n].astype(np.float64).reshape(-1, n)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


# --------------------------------------------------------------------------
# Configuration and profiles


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_speakers", 1),
        ("num_speakers", 2.5),
        ("utterances_per_speaker", 1),
        ("seed", -1),
        ("sample_rate_hz", 8000),
        ("min_duration_s", 1.0),
        ("max_duration_s", 2.0),  # below the default minimum of 2.5
        ("snr_max_db", 5.0),  # below the default minimum
        ("intra_speaker_variability", -0.1),
        ("channel_eq_db", float("nan")),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"SynthConfig\.{field}: expected .*found {value!r}"):
        SynthConfig(**{field: value})


def test_config_is_frozen_and_json_ready():
    config = SynthConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1  # type: ignore[misc]
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()
    assert SynthConfig(snr_min_db=30, snr_max_db=50).to_dict() == config.to_dict()


def test_profiles_balanced_stable_and_distinct():
    profiles = speaker_profiles(SynthConfig(num_speakers=20, seed=5))
    assert [p.gender for p in profiles] == ["F", "M"] * 10
    assert [p.speaker_id for p in profiles] == [str(1000 + i) for i in range(20)]
    # the first speakers of a larger corpus are the speakers of a smaller one
    assert speaker_profiles(SynthConfig(num_speakers=4, seed=5)) == profiles[:4]
    # another seed, other voices
    assert speaker_profiles(SynthConfig(num_speakers=4, seed=6)) != profiles[:4]
    f0_f = np.array([p.f0_mean_hz for p in profiles if p.gender == "F"])
    f0_m = np.array([p.f0_mean_hz for p in profiles if p.gender == "M"])
    assert f0_f.min() > f0_m.max()  # no overlap between genders ...
    assert len(set(np.round(f0_f))) == f0_f.size  # ... but every voice its own F0
    assert np.mean([p.vtl_factor for p in profiles if p.gender == "F"]) > np.mean(
        [p.vtl_factor for p in profiles if p.gender == "M"])


# --------------------------------------------------------------------------
# One utterance


def test_synthesis_is_deterministic_and_seed_dependent():
    config = SynthConfig(num_speakers=2, max_duration_s=3.0)
    voice = speaker_profiles(config)[1]
    settings = config.utterance_settings()
    a, info_a = synthesize_utterance(voice, utterance_rng(0, 1, 4), **settings)
    b, info_b = synthesize_utterance(voice, utterance_rng(0, 1, 4), **settings)
    assert a.dtype == np.float32 and a.ndim == 1 and a.size == info_a.num_samples
    np.testing.assert_array_equal(a, b)
    assert info_a == info_b
    c, _ = synthesize_utterance(voice, utterance_rng(1, 1, 4), **settings)  # other corpus seed
    d, _ = synthesize_utterance(voice, utterance_rng(0, 1, 5), **settings)  # other utterance
    for other in (c, d):
        n = min(a.size, other.size)
        assert not np.array_equal(a[:n], other[:n])
    assert 2.5 <= info_a.duration_s <= 3.0
    assert np.max(np.abs(a)) <= 0.95 + 1e-6


def test_silences_before_after_and_inside():
    config = SynthConfig(num_speakers=4, snr_min_db=30.0, snr_max_db=30.0)  # the noisiest default
    fs = config.sample_rate_hz
    for voice in speaker_profiles(config):
        for u in range(2):
            y, info = synthesize_utterance(voice, utterance_rng(9, voice.index, u),
                                           **config.utterance_settings())
            energy = frame_energy_db(y, fs)
            t = (np.arange(energy.size) + 0.5) * 0.02
            speech_level = np.median(np.concatenate([
                energy[(t > a) & (t < b)] for a, b in info.phrases_s]))

            def quiet(start, end, margin=0.04):
                inside = (t > start + margin) & (t < end - margin)
                assert inside.any()
                return energy[inside].max() < speech_level - 15.0

            assert info.leading_silence_s >= 0.2 and info.trailing_silence_s >= 0.2
            assert quiet(0.0, info.leading_silence_s), "no leading silence"
            assert quiet(info.duration_s - info.trailing_silence_s, info.duration_s), "no trailing silence"
            assert len(info.pauses_s) >= 1
            assert all(quiet(a, b) for a, b in info.pauses_s), "a pause is not quiet"
            # and the phrases are not silent: most of their frames are loud
            loud = energy > speech_level - 15.0
            in_phrase = np.zeros_like(loud)
            for a, b in info.phrases_s:
                in_phrase |= (t > a) & (t < b)
            assert loud[in_phrase].mean() > 0.6


def test_f0_of_the_audio_follows_the_profile():
    import librosa

    config = SynthConfig(num_speakers=6, intra_speaker_variability=0.0)
    fs = config.sample_rate_hz
    measured = {}
    for voice in speaker_profiles(config):
        y, info = synthesize_utterance(voice, utterance_rng(0, voice.index, 0),
                                       **config.utterance_settings())
        f0 = librosa.yin(y, fmin=60.0, fmax=400.0, sr=fs, frame_length=1024, hop_length=160)
        energy = librosa.feature.rms(y=y, frame_length=1024, hop_length=160)[0]
        voiced = energy > 0.5 * np.median(energy[energy > np.percentile(energy, 60)])
        estimate = float(np.median(f0[voiced]))
        assert estimate == pytest.approx(info.f0_median_hz, rel=0.06)
        # without per-utterance shifts the level stays within 3 semitones of the profile
        assert abs(12 * np.log2(info.f0_median_hz / voice.f0_mean_hz)) < 3.0
        measured[voice.speaker_id] = (voice.f0_mean_hz, estimate)
    # the ranking of the measured F0 follows the configured one where they differ by > 15 %
    for a, (fa, ea) in measured.items():
        for b, (fb, eb) in measured.items():
            if fa > 1.15 * fb:
                assert ea > eb, (a, b)


# --------------------------------------------------------------------------
# The corpus on disk


def test_layout_is_librispeech_and_marked_synthetic(small_corpus):
    root, manifest = small_corpus
    libri = root / "LibriSpeech"
    assert len(manifest) == SMALL.num_speakers * SMALL.utterances_per_speaker
    assert set(manifest["corpus"]) == {"synthetic"} and set(manifest["subset"]) == {"synthetic"}
    for row in manifest.itertuples():
        path = Path(row.path)
        assert path.parent == libri / "synthetic" / row.speaker / row.chapter
        assert path.name == f"{row.utt_id}.flac"
        assert row.utt_id.startswith(f"{row.speaker}-{row.chapter}-") and len(row.utt_id.split("-")[2]) == 4
        info = sf.info(str(path))
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)
        assert info.frames == round(row.duration_s * 16000)
        assert 2.5 <= row.duration_s <= 3.5
    assert manifest.groupby("speaker")["chapter"].nunique().isin([1, 2]).all()

    profiles = {p.speaker_id: p for p in speaker_profiles(SMALL)}
    genders = read_speakers_txt(libri / "SPEAKERS.TXT")
    assert genders == {sid: p.gender for sid, p in profiles.items()}
    lines = [ln for ln in (libri / "SPEAKERS.TXT").read_text().splitlines() if not ln.startswith(";")]
    fields = [[f.strip() for f in ln.split("|")] for ln in lines]
    for f in fields:
        assert f[2] == "synthetic" and float(f[3]) > 0 and f[4].startswith("synthetic speaker")

    marker = json.loads((libri / "SYNTHETIC.json").read_text())
    assert marker["synthetic"] is True and "synthetic" in marker["note"].lower()
    assert marker["config"] == SMALL.to_dict() and marker["seed"] == SMALL.seed
    assert "synthetic" in (libri / "README.TXT").read_text().lower()

    # the LibriSpeech reader reads it back as the same manifest, labelled synthetic
    read, rejects = read_librispeech(root, progress=False)
    assert len(rejects) == 0
    columns = ["utt_id", "speaker", "chapter", "gender", "corpus", "subset", "text", "sample_rate"]
    pd.testing.assert_frame_equal(read[columns], manifest[columns])
    np.testing.assert_allclose(read["duration_s"], manifest["duration_s"])
    assert (manifest["text"].str.len() > 0).all()


def test_rerun_resumes_and_is_idempotent(small_corpus):
    root, manifest = small_corpus
    before = digests(root)
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*.flac")}
    victim = Path(manifest["path"].iloc[7])
    victim.unlink()
    stale = victim.parent / f".{victim.name}.abc123.partial"  # as an older version's interrupted write left it
    stale.write_bytes(b"half a file")
    part = part_path(victim)  # as an interrupted atomic write leaves it
    part.write_bytes(b"half a file")

    again = generate_corpus(root, SMALL, progress=False)

    pd.testing.assert_frame_equal(again, manifest)
    assert digests(root) == before  # the regenerated file is byte-identical
    changed = [p for p, m in mtimes.items() if p != victim and p.stat().st_mtime_ns != m]
    assert changed == []  # and nothing else was rewritten
    assert not stale.exists()
    assert not part.exists()


def test_jobs_do_not_change_the_bytes(tmp_path):
    config = SynthConfig(num_speakers=2, utterances_per_speaker=3, seed=11, max_duration_s=3.0)
    generate_corpus(tmp_path / "one", config, progress=False, jobs=1)
    generate_corpus(tmp_path / "two", config, progress=False, jobs=2)
    one, two = digests(tmp_path / "one"), digests(tmp_path / "two")
    assert one == two and len(one) == 6
    with pytest.raises(ValueError, match="jobs"):
        generate_corpus(tmp_path / "three", config, progress=False, jobs=0)


def test_another_config_in_the_same_root_is_refused(small_corpus):
    root, _ = small_corpus
    marker = (root / "LibriSpeech" / "SYNTHETIC.json").read_bytes()
    other = dataclasses.replace(SMALL, seed=4)
    with pytest.raises(CorpusLayoutError) as excinfo:
        generate_corpus(root, other, progress=False)
    message = str(excinfo.value)
    assert str(root) in message
    assert "'seed': 3" in message and "'seed': 4" in message
    assert "Fix:" in message
    assert (root / "LibriSpeech" / "SYNTHETIC.json").read_bytes() == marker


def test_real_librispeech_folder_is_not_overwritten(tmp_path):
    (tmp_path / "LibriSpeech").mkdir()
    (tmp_path / "LibriSpeech" / "SPEAKERS.TXT").write_text("19 | F | train-clean-100 | 25.19 | Kara\n")
    with pytest.raises(CorpusLayoutError, match="not written over real data"):
        generate_corpus(tmp_path, SMALL, progress=False)
    assert not (tmp_path / "LibriSpeech" / "SYNTHETIC.json").exists()


# --------------------------------------------------------------------------
# The baseline on it


def test_baseline_is_between_chance_and_perfect(small_corpus):
    _, manifest = small_corpus
    ids, X = mean_mfcc_embeddings(manifest)
    assert ids == manifest["utt_id"].tolist()
    assert X.dtype == np.float32 and X.shape == (len(manifest), 19) and np.isfinite(X).all()
    report = baseline_report(manifest, seed=0, embeddings=(ids, X))
    assert report["num_speakers"] == 12
    assert report["num_enrol"] == report["num_test"] == 36
    assert report["num_target_trials"] == 12 * 3
    assert report["num_target_trials"] + report["num_nontarget_trials"] == 36 * 35 // 2
    assert report["si_chance"] < report["si_accuracy"] < 1.0
    assert report["si_accuracy"] > 3 * report["si_chance"]
    assert 0.0 < report["sv_eer"] < 0.4
    # computing the embeddings inside gives the same numbers
    assert baseline_report(manifest, seed=0) == report


def test_baseline_needs_two_utterances_per_speaker(small_corpus):
    _, manifest = small_corpus
    lonely = manifest[~manifest["speaker"].eq("1000") | manifest["utt_id"].eq(manifest["utt_id"].iloc[0])]
    with pytest.raises(SplitError, match="at least 2 utterances per speaker"):
        baseline_report(lonely)
    with pytest.raises(ValueError, match="enrol_fraction"):
        baseline_report(manifest, enrol_fraction=1.0)


def test_baseline_without_target_trials_reports_no_eer(small_corpus):
    _, manifest = small_corpus
    three = manifest.groupby("speaker").head(3)
    report = baseline_report(three, enrol_fraction=0.67)  # floor(0.67 * 3) = 2 enrol + 1 test per speaker
    assert report["num_test"] == 12 and report["num_target_trials"] == 0
    assert np.isnan(report["sv_eer"]) and 0.0 <= report["si_accuracy"] <= 1.0
