"""Using a trained model: the encoder embeds files and arrays as the evaluation embeds the store, its
calibration comes from dev speakers, verify and identify decide on calibrated LLRs, the speaker
database round-trips and refuses what it should; and the command line around them."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("tensorflow")

from speakerlib.audio import AudioConversionWarning, load_audio  # noqa: E402
from speakerlib.cli import main  # noqa: E402
from speakerlib.embed import embed_store  # noqa: E402
from speakerlib.errors import (  # noqa: E402
    AudioTooShortError,
    CalibrationError,
    ConfigError,
    InvalidAudioError,
    ModelMismatchError,
    NothingLeftAfterVadError,
    SpeakerDatabaseError,
)
from speakerlib.inference import (  # noqa: E402
    MIN_SPEECH_S,
    UNKNOWN,
    SpeakerDatabase,
    SpeakerEncoder,
    calibrate_run,
)
from speakerlib.inference.frontend import CALIBRATION_NAME  # noqa: E402
from speakerlib.store import load_store  # noqa: E402
from speakerlib.train import PROFILES, train  # noqa: E402


@pytest.fixture(scope="module")
def calibrated_run(synthetic_audio_store, tmp_path_factory):
    """A smoke-size modern_noaug run on the synthetic corpus, calibrated on its dev speakers."""
    manifest, store = synthetic_audio_store
    run = tmp_path_factory.mktemp("inference") / "run"
    profile = dataclasses.replace(PROFILES["smoke"], epochs=2)
    train(store, run, model="seresnet", recipe="modern_noaug", profile=profile, progress=False)
    record = calibrate_run(run)
    return manifest, store, run, record


@pytest.fixture(scope="module")
def encoder(calibrated_run):
    return SpeakerEncoder.from_run(calibrated_run[2])


def _rows(manifest, split):
    part = manifest[manifest["split"] == split].sort_values("utt_id")
    return part


def test_the_calibration_is_fitted_on_dev_speakers_and_kept_with_the_model(calibrated_run):
    manifest, _, run, record = calibrated_run
    written = json.loads((run / CALIBRATION_NAME).read_text())
    assert written["model_sha256"] == record["model_sha256"]
    assert written["fitted_on"]["split"] == "dev"
    assert written["fitted_on"]["speakers"] == manifest.loc[manifest["split"] == "dev", "speaker"].nunique()
    assert record["target_trials"] > 0 and record["nontarget_trials"] > 0
    assert 0 <= record["min_cllr"] <= record["cllr"] + 1e-9
    assert record["actual_dcf_0.01"] >= record["min_dcf_0.01"] - 1e-9
    assert len(record["target_llr_quantiles"]) == 1001
    with pytest.raises(CalibrationError, match="trained on"):
        calibrate_run(run, split="train")


def test_a_file_is_embedded_as_the_evaluation_embeds_its_stored_audio(calibrated_run, encoder):
    manifest, store, run, _ = calibrated_run
    rows = _rows(manifest, "test").head(3)
    ids, stored = embed_store(run, load_store(store), ids=rows["utt_id"].tolist())
    fresh = encoder.embed(rows["path"].tolist())
    assert fresh.shape == (3, encoder.embedding_dim)
    np.testing.assert_allclose(fresh, stored, atol=2e-5)
    one = encoder.embed(rows["path"].iloc[0])
    assert one.shape == (encoder.embedding_dim,)
    np.testing.assert_allclose(np.linalg.norm(one), 1.0, rtol=1e-5)


def test_arrays_at_any_rate_and_channel_count_are_converted_with_a_warning(calibrated_run, encoder):
    manifest = calibrated_run[0]
    path = _rows(manifest, "test")["path"].iloc[0]
    y, _ = load_audio(path, sample_rate_hz=None)
    from_file = encoder.embed(path)
    np.testing.assert_allclose(encoder.embed(y, sample_rate_hz=16000), from_file, atol=2e-5)
    with pytest.warns(AudioConversionWarning, match="downmix"):
        stereo = encoder.embed(np.stack([y, y], axis=1), sample_rate_hz=16000)
    np.testing.assert_allclose(stereo, from_file, atol=2e-5)
    with pytest.warns(AudioConversionWarning, match="resampl"):
        other_rate = encoder.embed(y[::2].copy(), sample_rate_hz=8000)
    assert float(other_rate @ from_file) > 0.5  # the same voice, its upper band lost
    with pytest.raises(ConfigError, match="sample_rate_hz"):
        encoder.embed(y)
    with pytest.raises(InvalidAudioError, match=r"\.T"):
        encoder.embed(np.stack([y, y]), sample_rate_hz=16000)


def test_silent_short_and_unreadable_recordings_are_refused_by_name(encoder, tmp_path):
    with pytest.raises(NothingLeftAfterVadError, match="recording 0"):
        encoder.embed(np.zeros(32000, np.float32), sample_rate_hz=16000)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32000, np.float32), 16000)
    with pytest.raises(NothingLeftAfterVadError, match="silent.wav"):
        encoder.embed(silent)
    rng = np.random.default_rng(0)
    t = np.arange(int(0.3 * 16000)) / 16000
    burst = np.concatenate([np.zeros(8000), 0.5 * np.sin(2 * np.pi * 200 * t) * (1 + rng.normal(0, 0.3, t.size)),
                            np.zeros(8000)]).astype(np.float32)
    with pytest.raises(AudioTooShortError, match=f"at least {MIN_SPEECH_S} s of speech"):
        encoder.embed(burst, sample_rate_hz=16000)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(Exception, match="junk.wav"):
        encoder.embed(junk)


def test_verify_decides_on_the_calibrated_llr_at_the_bayes_threshold(calibrated_run, encoder):
    manifest = calibrated_run[0]
    test = _rows(manifest, "test")
    speakers = sorted(test["speaker"].unique())
    a, b = test.loc[test["speaker"] == speakers[0], "path"].iloc[:2]
    c = test.loc[test["speaker"] == speakers[1], "path"].iloc[0]
    result = encoder.verify(a, b)
    assert result.score == pytest.approx(float(encoder.embed(a) @ encoder.embed(b)), abs=1e-5)
    assert result.llr == pytest.approx(encoder.calibration.llr(result.score))
    assert result.threshold == 0.0 and result.prior == 0.5
    assert result.same_speaker == (result.llr >= 0.0)
    assert 0 <= result.false_accept_rate <= 1 and 0 <= result.false_reject_rate <= 1
    strict = encoder.verify(a, b, prior=0.01)
    assert strict.threshold == pytest.approx(np.log(99)) and strict.llr == pytest.approx(result.llr)
    assert strict.false_accept_rate <= result.false_accept_rate
    assert encoder.verify(a, c).score < 1.0


def test_an_encoder_is_recalibrated_on_other_speakers_without_changing_its_embeddings(calibrated_run, encoder):
    from speakerlib.inference import calibrate_encoder

    manifest = calibrated_run[0]
    test = _rows(manifest, "test")
    again = calibrate_encoder(encoder, test)
    assert again.identity == encoder.identity and again.calibration != encoder.calibration
    assert again.calibration_record["fitted_on"] == {"recordings": len(test), "speakers": 2, "trial_seed": 0}
    a, b = test["path"].iloc[:2]
    assert again.score(a, b) == pytest.approx(encoder.score(a, b), abs=1e-6)
    assert again.verify(a, b).llr == pytest.approx(again.calibration.llr(again.score(a, b)))
    with pytest.raises(CalibrationError, match="at least 2 speakers"):
        calibrate_encoder(encoder, test[test["speaker"] == test["speaker"].iloc[0]])


def test_an_uncalibrated_or_mismatched_calibration_is_refused(calibrated_run, tmp_path):
    run = calibrated_run[2]
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / CALIBRATION_NAME).unlink()
    uncalibrated = SpeakerEncoder.from_run(copy)
    assert uncalibrated.calibration is None and "not calibrated" in repr(uncalibrated)
    with pytest.raises(CalibrationError, match="speakerlib calibrate"):
        uncalibrated.verify(calibrated_run[0]["path"].iloc[0], calibrated_run[0]["path"].iloc[1])
    record = json.loads((run / CALIBRATION_NAME).read_text())
    (copy / CALIBRATION_NAME).write_text(json.dumps({**record, "model_sha256": "0" * 64}))
    with pytest.raises(CalibrationError, match="Fit it again"):
        SpeakerEncoder.from_run(copy)
    (copy / CALIBRATION_NAME).write_text("{not json")
    with pytest.raises(CalibrationError, match="cannot read"):
        SpeakerEncoder.from_run(copy)


def test_enrol_identify_save_and_load(calibrated_run, encoder, tmp_path):
    manifest = calibrated_run[0]
    test = _rows(manifest, "test")
    database = SpeakerDatabase.for_encoder(encoder)
    with pytest.raises(SpeakerDatabaseError, match="none"):
        database.identify(test["path"].iloc[0], encoder)
    names = sorted(test["speaker"].unique())
    held_out = {}
    for name in names:
        files = test.loc[test["speaker"] == name, "path"].tolist()
        assert database.enroll(name, files[:-1], encoder) == len(files) - 1
        held_out[name] = files[-1]
    assert database.names == names and len(database) == len(names) and names[0] in database
    with pytest.raises(SpeakerDatabaseError, match="already enrolled"):
        database.enroll(names[0], held_out[names[0]], encoder)
    with pytest.raises(SpeakerDatabaseError, match="at least one recording"):
        database.enroll("nobody", [], encoder)
    for name, path in held_out.items():
        answer = database.identify(path, encoder, top_k=5)
        x = encoder.embed(path)
        expected = [float(np.mean(encoder.embed(test.loc[test["speaker"] == n, "path"].tolist()[:-1]) @ x))
                    for n in names]
        by_name = {c.name: c for c in answer.candidates}
        for n, score in zip(names, expected):
            assert by_name[n].score == pytest.approx(score, abs=1e-5)
        assert [c.score for c in answer.candidates] == sorted((c.score for c in answer.candidates), reverse=True)
        best = answer.candidates[0]
        assert answer.name == (best.name if best.llr >= answer.threshold else UNKNOWN)
    assert database.identify(held_out[names[0]], encoder, prior=1e-9).name == UNKNOWN  # nobody that likely
    folder = database.save(tmp_path / "db")
    loaded = SpeakerDatabase.load(folder, encoder)
    assert loaded.names == names and loaded.recordings(names[0]) == database.recordings(names[0])
    np.testing.assert_array_equal(loaded.scores(encoder.embed(held_out[names[1]])),
                                  database.scores(encoder.embed(held_out[names[1]])))
    assert loaded.enroll(names[0], held_out[names[0]], encoder, append=True) == len(database.recordings(names[0])) + 1
    loaded.remove(names[0])
    assert names[0] not in loaded
    other = SpeakerEncoder(encoder.model, encoder.config, source=encoder.source,
                           identity={"name": "other", "sha256": "f" * 64})
    with pytest.raises(ModelMismatchError, match="cannot be compared"):
        SpeakerDatabase.load(folder, other)
    with pytest.raises(SpeakerDatabaseError, match="no such folder"):
        SpeakerDatabase.load(tmp_path / "missing")


def test_the_command_line_verifies_enrols_and_identifies(calibrated_run, tmp_path, capsys):
    manifest, _, run, _ = calibrated_run
    test = _rows(manifest, "test")
    names = sorted(test["speaker"].unique())
    files = {n: test.loc[test["speaker"] == n, "path"].tolist() for n in names}
    assert main(["verify", files[names[0]][0], files[names[0]][1], "--model", str(run), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert set(answer) >= {"score", "llr", "same_speaker", "threshold", "false_accept_rate", "model"}
    assert main(["verify", files[names[0]][0], files[names[1]][0], "--model", str(run)]) == 0
    out = capsys.readouterr().out
    assert "same speaker:" in out and "false accepts" in out
    db = tmp_path / "db"
    for name in names:
        assert main(["enroll", "--db", str(db), name, *files[name][:-1], "--model", str(run)]) == 0
    assert main(["enroll", "--db", str(db), names[0], files[names[0]][-1], "--model", str(run)]) == 2
    assert "--append" in capsys.readouterr().err
    assert main(["identify", "--db", str(db), files[names[0]][-1], "--model", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result[0]["file"] == files[names[0]][-1] and len(result[0]["candidates"]) == min(3, len(names))
    assert main(["identify", "--db", str(tmp_path / "none"), files[names[0]][-1], "--model", str(run)]) == 2
    assert "speakerlib enroll" in capsys.readouterr().err
    assert main(["calibrate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fitted_on"]["split"] == "dev"


def test_the_command_line_calibrates_a_model_on_your_own_recordings(calibrated_run, tmp_path, capsys):
    from speakerlib.data.manifest import write_manifest

    manifest, _, run, _ = calibrated_run
    test = _rows(manifest, "test")
    recordings = write_manifest(test, tmp_path / "mine.csv")
    out = tmp_path / "mine-calibration.json"
    assert main(["calibrate", "--recordings", str(recordings), "--model", str(run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"speakers of {recordings}" in printed and f"--calibration {out}" in printed
    record = json.loads(out.read_text())
    assert record["fitted_on"]["speakers"] == test["speaker"].nunique()
    a, b = test["path"].iloc[0], test["path"].iloc[1]
    assert main(["verify", a, b, "--model", str(run), "--calibration", str(out), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    scale, offset = record["calibration"]["scale"], record["calibration"]["offset"]
    assert answer["llr"] == pytest.approx(scale * answer["score"] + offset, abs=1e-6)
    assert main(["calibrate", "--recordings", str(recordings), "--model", str(run)]) == 2
    assert "add --out FILE.json" in capsys.readouterr().err
    assert main(["calibrate"]) == 2
    assert "--recordings MANIFEST" in capsys.readouterr().err
    for model in ("pretrained", str(run)):  # a run folder's calibration is its own: --model is refused
        assert main(["calibrate", str(run), "--model", model]) == 2
        assert "--model and --out go with --recordings" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**record, "model_sha256": "0" * 64}))
    assert main(["verify", a, b, "--model", str(run), "--calibration", str(other)]) == 2
    assert "fitted for sha256 000000000000" in capsys.readouterr().err


# --------------------------------------------------------------------------- export
def _real_or_synthetic(calibrated_run, request) -> list:
    """Four recordings to check parity on: TIMIT's (SPHERE files) when the real corpora are there."""
    try:
        corpora = request.getfixturevalue("shared_corpora")
    except pytest.skip.Exception:
        return _rows(calibrated_run[0], "test")["path"].tolist()[:4]
    return sorted((corpora / "TIMIT").rglob("*.WAV"))[:4]


@pytest.fixture(scope="module")
def exported(calibrated_run, tmp_path_factory):
    from speakerlib.inference.export import export_encoder

    folder = tmp_path_factory.mktemp("export")
    run = calibrated_run[2]
    records = {fmt: export_encoder(run, folder / f"encoder.{fmt}", format=fmt) for fmt in ("onnx", "tflite")}
    return folder, records


# Exported graphs compute in float32 with other kernels: embeddings agree to about 1e-5 (measured
# 2e-6 to 3e-5 on random weights of every family); the tests allow 1e-4 on L2-normalised rows.
PARITY_ATOL = 1e-4


def test_the_onnx_encoder_matches_keras_without_tensorflow(calibrated_run, encoder, exported, request):
    from speakerlib.inference.portable import OnnxSpeakerEncoder

    folder, records = exported
    record = records["onnx"]
    assert record["calibration"]["calibration"] == encoder.calibration_record["calibration"]
    assert record["identity"] == encoder.identity and record["input"]["shape"][1] is None
    files = _real_or_synthetic(calibrated_run, request)
    portable = OnnxSpeakerEncoder(folder / "encoder.onnx")
    np.testing.assert_allclose(portable.embed(files), encoder.embed(files), atol=PARITY_ATOL)
    ours, theirs = portable.verify(files[0], files[1]), encoder.verify(files[0], files[1])
    assert ours.llr == pytest.approx(theirs.llr, abs=1e-2) and ours.threshold == theirs.threshold
    script = ("import sys; from speakerlib.inference.portable import OnnxSpeakerEncoder as E; "
              f"e = E({str(folder / 'encoder.onnx')!r}); e.embed({str(files[0])!r}); "
              "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_tflite_model_matches_keras(calibrated_run, encoder, exported, request):
    import warnings

    from speakerlib._tensorflow import tf
    from speakerlib.features import normalize

    folder, _ = exported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation in favour of ai_edge_litert
        interpreter = tf.lite.Interpreter(model_path=str(folder / "encoder.tflite"))
    files = _real_or_synthetic(calibrated_run, request)
    for path, expected in zip(files, encoder.embed(files)):
        x = normalize(encoder.features(path), mode=encoder.config.normalize)[None, :, :, None].astype(np.float32)
        (detail,) = interpreter.get_input_details()
        interpreter.resize_tensor_input(detail["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
        np.testing.assert_allclose(y / np.linalg.norm(y), expected, atol=PARITY_ATOL)


def test_export_from_the_command_line(calibrated_run, tmp_path, capsys):
    run = calibrated_run[2]
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "e.onnx")]) == 0
    assert "with its calibration" in capsys.readouterr().out
    assert json.loads((tmp_path / "e.onnx.json").read_text())["model_format"] == "onnx"
