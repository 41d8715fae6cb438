"""prepare(): VAD -> fixed length -> features into a resumable feature store; the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speakerlib._lock import LOCK_NAME, StaleLockWarning
from speakerlib.audio import AudioConversionWarning, load_audio
from speakerlib.cli import _prepare_config, build_parser, main
from speakerlib.data.manifest import read_manifest, write_manifest
from speakerlib.errors import (
    ConfigError,
    ConfigTypeError,
    EmptyCorpusError,
    ManifestError,
    StoreConfigError,
    UnknownUtteranceError,
)
from speakerlib.features import FeatureConfig, compute_features, normalize
from speakerlib.framing import fix_length
from speakerlib.prepare import PrepareSummary, prepare
from speakerlib.store import (
    CONFIG_NAME,
    FEATURES_NAME,
    INDEX_NAME,
    REJECTS_NAME,
    PrepareConfig,
    load_store,
)
from speakerlib.vad import REFERENCE_VAD_CONFIG, VadConfig, vad

pytestmark = pytest.mark.filterwarnings("ignore::speakerlib.audio.AudioConversionWarning")

SR = 16000
QUIET = {"progress": False, "jobs": 1}


def speech_like(duration_s: float, *, seed: int, rate: int = SR, silence_s: float = 0.5) -> np.ndarray:
    """A buzz (harmonics of a wandering f0) in syllable-like bursts, between silences, plus faint noise."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate))
    t = np.arange(n) / rate
    f0 = 110.0 + 80.0 * rng.random() + 15.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(0.3 / k * np.sin(k * phase) for k in range(1, 20))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * (3.0 + rng.random()) * t) ** 2
    gap = int(silence_s * rate)
    y = np.concatenate([np.zeros(gap), voice * envelope, np.zeros(gap)])
    return (y + 1e-3 * rng.standard_normal(y.size)).astype(np.float32)


def write_tree(root: Path) -> pd.DataFrame:
    """Good files (short: padded, long: cropped), and one of each kind of bad file."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []

    def add(utt_id: str, speaker: str, path: Path) -> None:
        rows.append({"utt_id": utt_id, "speaker": speaker, "path": str(path)})

    for i, duration in enumerate([1.2, 2.0, 4.0, 5.5]):
        path = root / f"spk{i % 2}" / f"good{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, speech_like(duration, seed=i), SR, subtype="PCM_16")
        add(f"good{i}", f"spk{i % 2}", path)

    stereo = np.stack([speech_like(2.5, seed=10, rate=44100), speech_like(2.5, seed=11, rate=44100)], axis=1)
    sf.write(root / "spk0" / "hifi.wav", stereo, 44100, subtype="PCM_16")
    add("hifi", "spk0", root / "spk0" / "hifi.wav")

    sf.write(root / "spk1" / "silence.wav", np.zeros(3 * SR, dtype=np.float32), SR, subtype="PCM_16")
    add("silence", "spk1", root / "spk1" / "silence.wav")

    full = root / "spk1" / "full.wav"
    sf.write(full, speech_like(3.0, seed=5), SR, subtype="PCM_16")
    (root / "spk1" / "truncated.wav").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    add("truncated", "spk1", root / "spk1" / "truncated.wav")

    bad = speech_like(2.0, seed=6)
    bad[5000] = np.nan
    sf.write(root / "spk0" / "nan.wav", bad, SR, subtype="FLOAT")
    add("nan", "spk0", root / "spk0" / "nan.wav")

    sf.write(root / "spk0" / "blip.wav", speech_like(0.01, seed=7, silence_s=0.0), SR, subtype="PCM_16")
    add("blip", "spk0", root / "spk0" / "blip.wav")
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> pd.DataFrame:
    return write_tree(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    """The small tree prepared with the default (reference) config, two workers."""
    store = tmp_path_factory.mktemp("stores") / "ref"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = prepare(tree, store, progress=False, jobs=2)
    return store, summary, caught


def test_default_store_has_reference_shapes_index_and_rejects(prepared, tree):
    store_path, summary, _ = prepared
    assert isinstance(summary, PrepareSummary)
    assert (summary.written, summary.skipped, summary.rejected) == (5, 0, 4)
    assert summary.rejects_path == store_path / REJECTS_NAME

    store = load_store(store_path)
    assert store.ids == ["good0", "good1", "good2", "good3", "hifi"]  # manifest order
    assert store.features().shape == (5, 299, 40)
    assert store.features().dtype == np.float32
    index = store.index.set_index("utt_id")
    assert (index["num_frames"] == 299).all() and (index["num_bins"] == 40).all()
    assert index.loc["good0", "padded"] and not index.loc["good0", "cropped"]  # 1.2 s of buzz
    assert index.loc["good3", "cropped"] and not index.loc["good3", "padded"]  # 5.5 s
    assert (index["speech_s"] <= index["audio_s"]).all()
    # VAD removed most of the 0.5 s silences: 1.2 s of buzz, 2.2 s of file
    assert 1.1 < index.loc["good0", "speech_s"] < 1.9
    assert index.loc["good0", "audio_s"] == pytest.approx(2.2)
    assert set(index.columns) >= {"speaker", "path", "feature_file", "row", "speech_fraction",
                                  "num_segments", "resampled", "downmixed", "conversions"}

    rejects = pd.read_csv(store_path / REJECTS_NAME, keep_default_na=False).set_index("utt_id")
    assert sorted(rejects.index) == ["blip", "nan", "silence", "truncated"]
    assert list(rejects.columns) == ["path", "error", "reason"]
    assert "no speech" in rejects.loc["silence", "reason"]
    assert rejects.loc["silence", "error"] == "NothingLeftAfterVadError"
    assert rejects.loc["truncated", "error"] == "UnreadableAudioError"
    assert "truncated.wav" in rejects.loc["truncated", "reason"]
    assert rejects.loc["nan", "error"] == "InvalidAudioError"
    assert rejects.loc["blip", "error"] == "AudioTooShortError"
    assert rejects.loc["silence", "path"] == tree.set_index("utt_id").loc["silence", "path"]


def test_resampling_and_downmixing_are_recorded_and_warned_once(prepared):
    store_path, summary, caught = prepared
    store = load_store(store_path)
    row = store.index.set_index("utt_id").loc["hifi"]
    assert row["resampled"] and row["downmixed"]
    assert (row["original_sample_rate_hz"], row["original_channels"]) == (44100, 2)
    assert "resampled from 44100 Hz to 16000 Hz" in row["conversions"]
    assert store.index.set_index("utt_id").loc["good0", "conversions"] == ""
    info = store.info("hifi")
    assert info["resampled"] and info["original_sample_rate_hz"] == 44100
    assert summary.converted == 1
    conversion_warnings = [w for w in caught if issubclass(w.category, AudioConversionWarning)]
    assert len(conversion_warnings) == 1
    assert "1 of 5 utterances" in str(conversion_warnings[0].message)


def test_stored_features_are_unnormalised_and_match_an_independent_route(prepared, tree):
    psf = pytest.importorskip("python_speech_features")
    store = load_store(prepared[0])
    path = tree.set_index("utt_id").loc["good2", "path"]
    y, _ = load_audio(path)
    fixed = fix_length(vad(y, sample_rate_hz=SR, config=REFERENCE_VAD_CONFIG).audio, num_samples=48000)
    expected = psf.logfbank(fixed.astype(np.float64) * 32768, samplerate=SR, nfilt=40, nfft=512)
    raw = store.get("good2")
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-4)
    assert abs(raw.mean()) > 1.0  # not z-normalised

    normed = store.get("good2", normalize=True)  # the config's per_frame (the reference's loader)
    np.testing.assert_allclose(normed.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(normed.std(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(store.get("good2", normalize="per_utterance"),
                                  normalize(raw, mode="per_utterance"))
    with pytest.raises(ValueError, match="normalize"):
        store.get("good2", normalize="loudness")
    with pytest.raises(ConfigError, match="normalize"):
        store.features(["good2"], normalize="loudness")


def test_consolidated_features_equal_the_utterance_files(prepared):
    store_path, _, _ = prepared
    store = load_store(store_path)
    stacked = np.load(store_path / FEATURES_NAME, mmap_mode="r")
    assert isinstance(store.features(), np.memmap)
    assert stacked.shape == (len(store), 299, 40)
    for utt_id, row, relative in store.index[["utt_id", "row", "feature_file"]].itertuples(index=False):
        with np.load(store_path / relative, allow_pickle=False) as data:
            np.testing.assert_array_equal(stacked[row], data["features"])
            assert json.loads(data["metadata"].item())["utt_id"] == utt_id
            assert sorted(data.files) == ["features", "metadata", "vad_segments_s"]
        np.testing.assert_array_equal(store.get(utt_id), stacked[row])
    picked = store.features(["hifi", "good0"])
    np.testing.assert_array_equal(picked, stacked[[4, 0]])
    np.testing.assert_array_equal(store.features(["good1"], normalize=True)[0],
                                  normalize(stacked[1], mode="per_frame"))
    with pytest.raises(KeyError, match="silence"):
        store.get("silence")  # rejected, so not in the store
    with pytest.raises(UnknownUtteranceError, match="rejects.csv"):
        store.features(["good0", "silence"])


def test_load_store_round_trip(prepared, tree):
    store_path, _, _ = prepared
    store = load_store(store_path)
    assert store.config == PrepareConfig()
    assert PrepareConfig.from_dict(json.loads(json.dumps(store.config.to_dict()))) == store.config
    record = json.loads((store_path / "config.json").read_text())
    assert record["config"]["vad"]["boundaries"] == "reference"
    assert record["config"]["features"]["kind"] == "reference"
    manifest = tree.set_index("utt_id")
    for row in store.index.itertuples():
        assert row.path == manifest.loc[row.utt_id, "path"]
        assert row.speaker == manifest.loc[row.utt_id, "speaker"]
    assert store.info("good1")["vad_segments_s"].shape[1] == 2
    assert len(store.rejects) == 4


def test_rerun_skips_everything_and_changes_nothing(tree, tmp_path):
    store = tmp_path / "s"
    first = prepare(tree, store, **QUIET)
    before = {p: p.read_bytes() for p in sorted(store.rglob("*.npz"))}
    second = prepare(tree, store, **QUIET)
    assert (second.written, second.skipped, second.rejected) == (0, first.written, first.rejected)
    assert {p: p.read_bytes() for p in sorted(store.rglob("*.npz"))} == before
    assert second.audio_s == 0.0 and first.audio_s > 0


def file_states(store: Path) -> dict[str, tuple[int, int, int]]:
    """Every file of the store (the lock and temporary files too): inode, mtime [ns], size."""
    return {str(p.relative_to(store)): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(store.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_rerun_with_nothing_to_do_writes_no_file(tree, tmp_path, jobs):
    store = tmp_path / "s"
    first = prepare(tree, store, progress=False, jobs=jobs)
    assert first.rejected == 4  # rejected ones are tried again, and rejected again
    before = file_states(store)
    assert {INDEX_NAME, FEATURES_NAME, REJECTS_NAME, CONFIG_NAME} <= set(before)
    time.sleep(0.01)  # a rewritten file would get a later mtime
    second = prepare(tree, store, progress=False, jobs=jobs)
    assert (second.written, second.skipped, second.rejected) == (0, 5, 4)
    assert file_states(store) == before  # no file rewritten, none added (no lock left behind)
    assert load_store(store).features().shape == (5, 299, 40)


def test_a_rerun_that_adds_utterances_consolidates_them(prepared, tree, tmp_path):
    store = tmp_path / "grown"
    prepare(tree.iloc[:2], store, **QUIET)
    assert load_store(store).features().shape == (2, 299, 40)
    grown = prepare(tree, store, **QUIET)
    assert (grown.written, grown.skipped, grown.rejected) == (3, 2, 4)
    # the same store as one prepared in one go
    for name in (INDEX_NAME, REJECTS_NAME, FEATURES_NAME):
        assert (store / name).read_bytes() == (prepared[0] / name).read_bytes(), name
    # and one that leaves utterances out drops them from the index and the stacked features
    prepare(tree.iloc[[4, 0]], store, **QUIET)
    shrunk = load_store(store)
    assert shrunk.ids == ["hifi", "good0"]
    np.testing.assert_array_equal(shrunk.features(), load_store(prepared[0]).features(["hifi", "good0"]))


def test_a_rerun_writes_a_rejected_file_that_can_now_be_read(tmp_path):
    tree = write_tree(tmp_path / "corpus")
    store = tmp_path / "s"
    assert prepare(tree, store, **QUIET).rejected == 4
    truncated = Path(tree.set_index("utt_id").loc["truncated", "path"])
    sf.write(truncated, speech_like(2.5, seed=5), SR, subtype="PCM_16")  # downloaded again
    again = prepare(tree, store, **QUIET)
    assert (again.written, again.skipped, again.rejected) == (1, 5, 3)
    loaded = load_store(store)
    assert "truncated" in loaded.ids and "truncated" not in set(loaded.rejects["utt_id"])
    assert loaded.features().shape == (6, 299, 40)
    np.testing.assert_array_equal(loaded.features(["truncated"])[0], loaded.get("truncated"))


def test_a_store_where_every_file_was_rejected_is_an_error_with_the_reasons(tree, tmp_path, capsys):
    manifest = tree.set_index("utt_id").loc[["silence", "truncated", "nan"]].reset_index()
    silent = tmp_path / "silence2.wav"
    sf.write(silent, np.zeros(2 * SR, dtype=np.float32), SR, subtype="PCM_16")
    manifest = pd.concat([manifest, pd.DataFrame([{"utt_id": "silence2", "speaker": "spk1",
                                                   "path": str(silent)}])], ignore_index=True)
    store = tmp_path / "s"
    with pytest.raises(EmptyCorpusError) as info:
        prepare(manifest, store, **QUIET)
    message = str(info.value)
    for part in (f"{store}: expected at least one utterance", "all 4 utterances",
                 str(store / REJECTS_NAME), "NothingLeftAfterVadError x2 (first: VAD found no speech",
                 "UnreadableAudioError x1", "InvalidAudioError x1",
                 "without VAD (pass config=dataclasses.replace(config, vad=None))",
                 "gentler VAD (config.vad.mode is 1", "new store folder"):
        assert part in message, part
    assert message.index("NothingLeftAfterVadError x2") < message.index("UnreadableAudioError x1")
    command_line = info.value.for_command_line()
    assert "without VAD (add --no-vad)" in command_line and "a new --out folder" in command_line
    assert "pass config=" not in command_line
    assert "gentler VAD (--vad-mode 0 keeps the most audio; this store's mode is 1)" in command_line
    assert "dataclasses.replace" not in command_line and "VadConfig" not in command_line
    # nothing is lost: the store and its rejects report are written
    loaded = load_store(store)
    assert len(loaded) == 0 and loaded.features().shape == (0, 299, 40)
    assert sorted(loaded.rejects["utt_id"]) == ["nan", "silence", "silence2", "truncated"]
    assert not (store / LOCK_NAME).exists()

    csv = write_manifest(manifest.assign(duration_s=1.0, sample_rate=SR, subset="x", gender=""),
                         tmp_path / "m.csv")
    assert main(["prepare", "--manifest", str(csv), "--out", str(store), "--quiet", "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "add --no-vad" in err and str(store / REJECTS_NAME) in err


def test_a_different_config_in_the_same_store_is_refused(tree, tmp_path):
    store = tmp_path / "s"
    prepare(tree.iloc[:2], store, **QUIET)
    with pytest.raises(StoreConfigError) as info:
        prepare(tree.iloc[:2], store, config=PrepareConfig(vad=None), **QUIET)
    message = str(info.value)
    assert "vad" in message and "another folder" in message and "PrepareConfig.from_dict" in message
    assert '"boundaries": "reference"' in message  # the store's config
    assert '"vad": null' in message  # this run's config
    # the normalisation is applied at load time, so it does not make another store
    per_utterance = FeatureConfig(normalize="per_utterance")
    again = prepare(tree.iloc[:2], store, config=PrepareConfig(features=per_utterance), **QUIET)
    assert again.skipped == 2


def test_other_configs_variable_length_no_vad_and_logmel(tree, tmp_path):
    config = PrepareConfig(vad=None, length_s=None, features=FeatureConfig.for_kind("logmel"))
    summary = prepare(tree.iloc[:4], tmp_path / "var", config=config, **QUIET)
    assert summary.written == 4
    store = load_store(tmp_path / "var")
    assert not (tmp_path / "var" / FEATURES_NAME).exists()
    arrays = store.features()
    assert isinstance(arrays, list) and len(arrays) == 4
    for array, row in zip(arrays, store.index.itertuples()):
        # no VAD, no fixed length: the whole file, centred librosa framing (1 + n // hop)
        assert row.speech_s == row.audio_s and not row.padded and not row.cropped
        assert array.shape == (1 + round(row.audio_s * SR) // 160, 64)
        assert row.row == -1


def test_manifest_problems_are_clear(tree, tmp_path):
    with pytest.raises(ManifestError, match="unique utt_id"):
        prepare(pd.concat([tree.iloc[:2], tree.iloc[:1]]), tmp_path / "a", **QUIET)
    with pytest.raises(ManifestError, match="utt_id and path"):
        prepare(tree.drop(columns="path"), tmp_path / "b", **QUIET)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(StoreConfigError, match="other files"):
        prepare(tree.iloc[:2], tmp_path / "c", **QUIET)
    with pytest.raises(StoreConfigError, match="found none"):
        load_store(tmp_path / "nowhere")


def test_config_validation():
    with pytest.raises(ValueError, match="length_s"):
        PrepareConfig(length_s=-1.0)
    with pytest.raises(ValueError, match="length_mode"):
        PrepareConfig(length_mode="loop")
    with pytest.raises(ValueError, match="webrtcvad"):
        PrepareConfig(features=FeatureConfig(sample_rate_hz=22050, n_fft=1024))
    # a stored top-level rate that disagrees with the features' rate
    with pytest.raises(ValueError, match="16000 Hz"):
        PrepareConfig.from_dict({"sample_rate_hz": 16000,
                                 "features": FeatureConfig(sample_rate_hz=8000).to_dict()})
    with pytest.raises(ValueError, match="unknown keys"):
        PrepareConfig.from_dict({"sample_rate": 16000})
    assert PrepareConfig(length_s=2).output_shape == (199, 40)
    assert PrepareConfig(length_s=None).output_shape is None
    for bad in (dict(length_s=-1.0), dict(length_mode="loop")):
        with pytest.raises(ConfigError):
            PrepareConfig(**bad)
    with pytest.raises(ConfigTypeError, match="FeatureConfig"):
        PrepareConfig(features={"kind": "reference"})
    with pytest.raises(ConfigTypeError, match="VadConfig"):
        PrepareConfig(vad={"mode": 1})


def test_the_sample_rate_has_one_home():
    config = PrepareConfig(features=FeatureConfig(sample_rate_hz=8000))
    assert config.sample_rate_hz == 8000 and config.num_samples == 24000
    with pytest.raises(AttributeError):
        config.sample_rate_hz = 16000  # type: ignore[misc]
    with pytest.raises(TypeError):
        PrepareConfig(sample_rate_hz=16000)  # type: ignore[call-arg]
    # to_dict records it at the top level as stores always had it; from_dict accepts it when equal
    record = config.to_dict()
    assert list(record)[0] == "sample_rate_hz" and record["sample_rate_hz"] == 8000
    assert PrepareConfig.from_dict(record) == config
    assert PrepareConfig.from_dict({"sample_rate_hz": 16000}) == PrepareConfig()
    without = {k: v for k, v in record.items() if k != "sample_rate_hz"}
    assert PrepareConfig.from_dict(without) == config
    with pytest.raises(ConfigError, match="features.sample_rate_hz"):
        PrepareConfig.from_dict({**record, "sample_rate_hz": 16000})


def test_store_id_names_the_store_not_the_normalisation():
    reference = PrepareConfig()
    per_utterance = PrepareConfig(features=FeatureConfig(normalize="per_utterance"))
    assert reference.store_key() == per_utterance.store_key()
    assert reference.store_id() == per_utterance.store_id()
    assert len(reference.store_id()) == 12 and int(reference.store_id(), 16) >= 0
    assert reference.store_id() != PrepareConfig(vad=None).store_id()
    assert reference.store_id() != PrepareConfig(length_s=2.0).store_id()
    assert PrepareConfig.from_dict(reference.to_dict()).store_id() == reference.store_id()


def test_a_store_config_with_another_rate_is_a_store_config_error(prepared, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(prepared[0], copy)
    record = json.loads((copy / CONFIG_NAME).read_text())
    record["config"]["sample_rate_hz"] = 8000
    (copy / CONFIG_NAME).write_text(json.dumps(record))
    with pytest.raises(StoreConfigError, match="sample_rate_hz"):
        load_store(copy)


# ---------------------------------------------------------------------------
# Killed part-way, resumed: the same store as an uninterrupted run

_RUN = textwrap.dedent(
    """
    import sys
    from speakerlib.data.manifest import read_manifest
    from speakerlib.prepare import prepare

    if __name__ == "__main__":
        prepare(read_manifest(sys.argv[1]), sys.argv[2], jobs=2, progress=False)
    """
)


def many_files(root: Path, count: int, duration_s: float) -> pd.DataFrame:
    root.mkdir(parents=True)
    base = speech_like(duration_s, seed=0)
    rows = []
    for i in range(count):
        path = root / f"spk{i % 4}" / f"u{i:03d}.wav"
        path.parent.mkdir(exist_ok=True)
        y = np.roll(base, 997 * i) * (0.4 + 0.5 * (i % 7) / 6)  # different audio, quickly
        if i % 9 == 0:
            y[: SR * 2] = 0.0  # some with a longer silence to cut
        sf.write(path, y, SR, subtype="PCM_16")
        rows.append({"utt_id": f"u{i:03d}", "speaker": f"spk{i % 4}", "path": str(path),
                     "duration_s": duration_s, "sample_rate": SR, "subset": "x", "gender": ""})
    return pd.DataFrame(rows)


def complete_files(store: Path) -> list[Path]:
    """The utterance files written completely (not a ``.<name>.part.npz`` being written)."""
    return [p for p in store.rglob("*.npz") if not p.name.startswith(".")]


def snapshot(store: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted(store.rglob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            out[str(path.relative_to(store))] = {key: data[key] for key in data.files}
    return out


def test_a_killed_run_resumes_to_the_same_store(tmp_path):
    manifest_path = write_manifest(many_files(tmp_path / "corpus", 72, 25.0), tmp_path / "m.csv")
    script = tmp_path / "run.py"
    script.write_text(_RUN)
    killed = tmp_path / "killed"

    process = subprocess.Popen([sys.executable, str(script), str(manifest_path), str(killed)],
                               start_new_session=True)  # its own group: the workers die with it
    done_at_kill = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            done_at_kill = len(complete_files(killed)) if killed.exists() else 0
            if done_at_kill >= 8:
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 8 <= len(complete_files(killed)) < 72
    assert not (killed / INDEX_NAME).exists()
    with pytest.raises(StoreConfigError, match="interrupted"):
        load_store(killed)

    with pytest.warns(StaleLockWarning, match="removed a stale lock of PID"):  # the killed run's
        resumed = prepare(manifest_path, killed, progress=False, jobs=2)
    assert resumed.skipped >= 8 and resumed.written + resumed.skipped == 72
    assert resumed.rejected == 0
    assert not list(killed.rglob("*.part")) and not list(killed.rglob(".*.part.*"))

    clean = tmp_path / "clean"
    prepare(manifest_path, clean, progress=False, jobs=2)

    a, b = snapshot(killed), snapshot(clean)
    assert sorted(a) == sorted(b) and len(a) == 72
    for name in a:
        assert sorted(a[name]) == sorted(b[name])
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key], b[name][key], err_msg=f"{name}:{key}")
    np.testing.assert_array_equal(np.load(killed / FEATURES_NAME), np.load(clean / FEATURES_NAME))
    assert (killed / INDEX_NAME).read_bytes() == (clean / INDEX_NAME).read_bytes()
    assert (killed / REJECTS_NAME).read_bytes() == (clean / REJECTS_NAME).read_bytes()


# ---------------------------------------------------------------------------
# Real speech


@pytest.mark.corpora
def test_timit_sample(shared_corpora, tmp_path):
    from speakerlib.data.corpora import read_corpus

    manifest, _ = read_corpus("timit", shared_corpora / "TIMIT", progress=False)
    summary = prepare(manifest, tmp_path / "timit", progress=False, jobs=2)
    assert (summary.written, summary.rejected) == (160, 0)
    assert summary.audio_s == pytest.approx(manifest["duration_s"].sum(), rel=1e-6)
    store = load_store(tmp_path / "timit")
    assert store.features().shape == (160, 299, 40)
    assert np.isfinite(store.features()).all()
    index = store.index
    assert (index["speech_s"] <= index["audio_s"] + 1e-9).all()
    assert (index["speech_fraction"] > 0.5).all()
    assert not index["resampled"].any() and not index["downmixed"].any()
    # TIMIT sentences last about 2-5 s: both padding and cropping occur
    assert index["padded"].any() and index["cropped"].any()
    assert set(index["speaker"]) == set(manifest["speaker"])


# ---------------------------------------------------------------------------
# Command line


def test_cli_prepare(tree, tmp_path, capsys):
    manifest = tree.assign(duration_s=1.0, sample_rate=SR, subset="x", gender="")
    manifest_path = write_manifest(manifest, tmp_path / "m.csv")
    store = tmp_path / "store"
    argv = ["prepare", "--manifest", str(manifest_path), "--out", str(store), "--quiet", "--jobs", "1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioConversionWarning)
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "9 utterances: 5 written, 0 skipped as already done, 4 rejected" in out
        assert f"rejects report: {store / REJECTS_NAME} (4 rejected)" in out
        assert "1 utterances resampled or downmixed" in out
        assert main(argv) == 0
        assert "0 written, 5 skipped as already done, 4 rejected" in capsys.readouterr().out

        assert main(argv + ["--no-vad"]) == 2  # another config in the same store: a speakerlib error
        err = capsys.readouterr().err
        assert "write to another folder (--out)" in err
        assert "run with the store's settings (its flags: none, the defaults)" in err

        other = tmp_path / "mfcc"
        assert main(["prepare", "--manifest", str(manifest_path), "--out", str(other), "--quiet",
                     "--features", "mfcc", "--no-vad", "--length-s", "2"]) == 0
        assert main(["prepare", "--manifest", str(manifest_path), "--out", str(other), "--quiet"]) == 2
        assert "(its flags: --features mfcc --no-vad --length-s 2)" in capsys.readouterr().err
    loaded = load_store(other)
    assert loaded.config.vad is None and loaded.config.length_s == 2.0
    # no VAD: the silence and the 10 ms blip (padded to 2 s) are kept
    assert loaded.features().shape == (7, 201, 20)
    assert sorted(loaded.rejects["utt_id"]) == ["nan", "truncated"]
    with pytest.raises(SystemExit):
        main(["prepare", "--manifest", str(manifest_path), "--out", str(other), "--length-s", "-3"])


def test_cli_convert(tree, tmp_path, capsys):
    manifest = tree.assign(duration_s=1.0, sample_rate=SR, subset="x", gender="")
    manifest_path = write_manifest(manifest, tmp_path / "m.csv")
    out = tmp_path / "wav"
    assert main(["convert", "--manifest", str(manifest_path), "--out", str(out), "--quiet",
                 "--lower-case"]) == 0
    printed = capsys.readouterr().out
    assert "9 files: 7 written, 0 skipped as already done, 2 rejected" in printed
    assert f"rejects report: {out / 'rejects.csv'} (2 rejected)" in printed
    converted = read_manifest(out / "manifest.csv")
    assert len(converted) == 7 and "truncated" not in set(converted["utt_id"])
    for row in converted.itertuples():
        assert Path(row.path).is_file() and Path(row.path).read_bytes()[:4] == b"RIFF"
    rejects = pd.read_csv(out / "rejects.csv", keep_default_na=False)  # the id "nan" stays text
    assert sorted(rejects["utt_id"]) == ["nan", "truncated"]
    assert main(["convert", "--manifest", str(manifest_path), "--out", str(out), "--quiet",
                 "--lower-case"]) == 0
    assert "0 written, 7 skipped as already done, 2 rejected" in capsys.readouterr().out


# --------------------------------------------------------------------------- stores of audio
AUDIO = PrepareConfig(length_s=None, content="audio", features=FeatureConfig.for_kind("logmel", n_mels=80))


def test_an_audio_store_keeps_each_utterance_whole_after_vad(tree, tmp_path):
    from speakerlib.errors import StoreConfigError

    summary = prepare(tree, tmp_path / "audio", config=AUDIO, **QUIET)
    store = load_store(tmp_path / "audio")
    assert summary.written == len(store) == 5 and not (tmp_path / "audio" / FEATURES_NAME).exists()
    for row in store.index.itertuples():
        y, _ = load_audio(row.path, sample_rate_hz=SR)
        speech = vad(y, sample_rate_hz=SR, config=REFERENCE_VAD_CONFIG).audio
        kept = store.audio(row.utt_id)
        assert kept.dtype == np.float32 and row.num_samples == kept.size == speech.size
        np.testing.assert_array_equal(kept, speech.astype(np.float32))  # whole, neither padded nor cropped
        # the features are the logmel of that audio, computed when asked
        features = store.get(row.utt_id)
        np.testing.assert_array_equal(features, compute_features(kept, AUDIO.stored_features))
        assert features.shape == (row.num_frames, row.num_bins) and row.num_bins == 80
    assert prepare(tree, tmp_path / "audio", config=AUDIO, **QUIET).skipped == 5
    # a store of audio is another store than one of features
    with pytest.raises(StoreConfigError, match="content"):
        prepare(tree, tmp_path / "audio", config=dataclasses.replace(AUDIO, content="features"), **QUIET)
    with pytest.raises(StoreConfigError, match="content='audio'"):
        load_store(prepare(tree.iloc[:2], tmp_path / "feat", **QUIET).store).audio("good0")


def test_audio_store_settings_are_checked():
    with pytest.raises(ConfigError, match="length_s=None"):
        PrepareConfig(content="audio")
    with pytest.raises(ConfigError, match="content"):
        PrepareConfig(length_s=None, content="waveform")
    assert "content" not in PrepareConfig().to_dict()  # features stores keep the record they always had
    assert PrepareConfig.from_dict(AUDIO.to_dict()) == AUDIO


def test_prepare_command_makes_an_audio_store(tree, tmp_path, capsys):
    csv = write_manifest(tree.iloc[:3].assign(duration_s=1.0, sample_rate=SR, subset="x", gender=""),
                         tmp_path / "m.csv")
    out = tmp_path / "audio"
    assert main(["prepare", "--manifest", str(csv), "--out", str(out), "--content", "audio", "--features",
                 "logmel", "--mels", "80", "--jobs", "1", "--quiet"]) == 0
    store = load_store(out)
    assert store.config == AUDIO and store.audio("good0").ndim == 1
    assert main(["prepare", "--manifest", str(csv), "--out", str(tmp_path / "x"), "--content", "audio",
                 "--length-s", "3", "--quiet"]) == 2
    assert "leave --length-s out" in capsys.readouterr().err


@pytest.mark.parametrize("flags, expected", [
    ({}, "none, the defaults"),
    ({"vad_mode": 0}, "--vad-mode 0"),
    ({"vad_mode": 1}, "none, the defaults"),  # the reference's mode
    ({"features": "logmel", "mels": 48, "length_s": None}, "--features logmel --length-s none --mels 48"),
    ({"vad": False, "content": "audio", "length_s": None}, "--no-vad --content audio"),
    ({"features": "mfcc", "vad_mode": 3, "length_s": 2.5}, "--features mfcc --vad-mode 3 --length-s 2.5"),
])
def test_the_flags_of_a_config_make_that_config_again(flags, expected):
    config = PrepareConfig.from_flags(**flags)
    assert config.command_line_flags() == expected
    words = expected.split() if expected != "none, the defaults" else []
    parsed = build_parser().parse_args(["prepare", "--manifest", "m.csv", "--out", "s", *words])
    assert _prepare_config(parsed) == config


def test_a_config_no_flags_make_has_no_flags_and_disagreeing_flags_are_refused():
    assert PrepareConfig(length_mode="repeat").command_line_flags() is None
    assert PrepareConfig(vad=VadConfig(start_ratio=0.5)).command_line_flags() is None
    with pytest.raises(ConfigError, match="leave one of them out") as info:
        PrepareConfig.from_flags(vad=False, vad_mode=2)
    assert "--vad-mode 2" in info.value.for_command_line() and "--no-vad" in info.value.for_command_line()
