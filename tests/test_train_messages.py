"""What training, embedding and synthesis tell their user: progress inside epochs, one summary, resume and
finished runs announced, refused dev splits, strict JSON, the empty store's path, no TensorFlow start-up
lines, and embed reusing the run's own store."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from speakerlib.errors import ConfigError, SpeakerlibError, TrainingError  # noqa: E402
from speakerlib.train import Profile, load_run, train  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]

# Lines TensorFlow's runtime and absl write on their own: C++ log lines ("I0000 00:00:17... file.cc:12] ..."),
# and the start-up lines of the import.
TF_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
                     r"use_unbounded_threadpool|Memory patch applied|TensorFlow binary is optimized", re.M)

# A smaller run than the smoke profile where a test only needs one epoch.
ONE_EPOCH = Profile(name="test", epochs=1, width=0.125, batch_size=16, max_dev_utterances=40, bn_momentum=0.5)


def _strict_json(path: Path):
    """``json.loads`` that refuses NaN and Infinity (which Python's json would accept)."""
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _store_with_split(store: Path, out: Path, splits: dict[str, str]) -> Path:
    """A copy of ``store`` whose index gives the speakers of ``splits`` another split."""
    shutil.copytree(store, out)
    index = pd.read_csv(out / "index.csv", dtype={"utt_id": str, "speaker": str}, keep_default_na=False)
    index["split"] = [splits.get(s, split) for s, split in zip(index["speaker"], index["split"])]
    index.to_csv(out / "index.csv", index=False)
    return out


@pytest.fixture(scope="module")
def shown(synthetic_store, tmp_path_factory):
    """A smoke run trained with its progress bars on: (result, what they wrote on standard error)."""
    _, store = synthetic_store
    run = tmp_path_factory.mktemp("shown") / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        result = train(store, run, model="seresnet", profile="smoke", progress=True)
    return result, err.getvalue()


# --------------------------------------------------------------------------- 1. progress inside epochs
def test_the_bars_count_steps_within_each_epoch_with_the_running_loss(shown):
    result, err = shown
    text = err.replace("\r", "\n")
    parts = pd.read_csv(result.run_dir / "split.csv")
    steps = max(1, int((parts["part"] == "train").sum()) // result.config.batch_size)
    assert steps >= 2
    for epoch in (1, 2):
        # the epoch's bar counts its steps (not epochs) up to the last one, with the running loss
        assert re.search(rf"seresnet/reference {epoch}/2: 100%.*\| {steps}/{steps} \[.*step.*loss=\d", text), text
        # the dev scoring after it is a phase of its own
        assert f"seresnet/reference {epoch}/2 dev scoring" in text
        assert f"seresnet/reference {epoch}/2 val" in text
    # the line an epoch leaves has its figures, as the history has them
    last = [line for line in text.splitlines() if line.startswith("seresnet/reference 2/2:")][-1]
    assert f"dev_eer={result.history['dev_eer'].iloc[-1]:.3f}" in last
    assert "epoch/s" not in text and "0/2 [" not in text  # no bar over epochs


# --------------------------------------------------------------------------- 2. finished runs, one summary
def test_a_finished_run_returns_at_once_flagged_without_training(shown, synthetic_store, monkeypatch, capfd):
    import speakerlib.train.stages as stages

    result, _ = shown
    _, store = synthetic_store

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run loaded its data or built a model")

    monkeypatch.setattr(stages, "training_data", must_not_run)
    monkeypatch.setattr(stages, "build_training_model", must_not_run)
    files = {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*") if p.is_file()}
    again = train(store, result.run_dir, model="seresnet", profile="smoke", progress=True)
    assert again.already_finished and not result.already_finished
    assert again.state == result.state
    assert {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*") if p.is_file()} == files
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # the library prints nothing: no bar, no summary


def test_the_train_command_prints_the_summary_once(shown, synthetic_store, capsys):
    from speakerlib.cli import main

    result, _ = shown
    _, store = synthetic_store
    assert main(["train", "--model", "seresnet", "--profile", "smoke", "--features", str(store),
                 "--out", str(result.run_dir)]) == 0
    out, err = capsys.readouterr()
    assert (out + err).count(result.summary()) == 1, out + err


def test_a_resumed_run_is_announced_on_the_command_line(shown, synthetic_store, tmp_path, capsys):
    from speakerlib.cli import main

    result, _ = shown
    _, store = synthetic_store
    run = tmp_path / "run"
    shutil.copytree(result.run_dir, run)
    state = json.loads((run / "state.json").read_text())
    state.update(finished=False, epochs_done=1, best_epoch=1, best_dev_eer=float(result.history["dev_eer"].iloc[0]))
    (run / "state.json").write_text(json.dumps(state))
    (run / "embedding.keras").unlink()
    assert main(["train", "--model", "seresnet", "--profile", "smoke", "--features", str(store),
                 "--out", str(run), "--quiet"]) == 0
    _, err = capsys.readouterr()
    assert f"warning: resuming run {run} from epoch 1 of 2" in err, err
    again = load_run(run)
    assert again.state["resumed_from"] == 1 and again.state["epochs_done"] == 2 and again.state["finished"]


# --------------------------------------------------------------------------- 3. dev speakers, strict JSON
def test_one_dev_speaker_is_refused_before_training(synthetic_store, tmp_path):
    manifest, store = synthetic_store
    dev = sorted(manifest.loc[manifest["split"] == "dev", "speaker"].unique())
    assert len(dev) >= 2
    one = _store_with_split(store, tmp_path / "one_dev", {s: "test" for s in dev[1:]})
    run = tmp_path / "run"
    with pytest.raises(TrainingError) as caught:
        train(one, run, model="seresnet", profile=ONE_EPOCH, progress=False)
    message = str(caught.value)
    assert str(run) in message and "expected at least 2 dev speakers, found 1" in message
    assert dev[0] in message and "speakerlib split --fractions" in message
    assert not (run / "state.json").exists()


def test_no_json_file_of_a_run_holds_nan(synthetic_store, tmp_path, capfd):
    manifest, store = synthetic_store
    dev = manifest.loc[manifest["split"] == "dev", "speaker"].unique()
    none = _store_with_split(store, tmp_path / "no_dev", {s: "test" for s in dev})
    with pytest.warns(UserWarning, match="has no dev speakers.*last epoch is the kept one"):
        result = train(none, tmp_path / "run", model="seresnet", profile=ONE_EPOCH, progress=False)
    out, err = capfd.readouterr()
    assert out == "" and not re.search(r"\d+/\d+ \[", err)  # progress=False: no bar
    files = sorted(result.run_dir.glob("*.json"))
    assert [p.name for p in files] == ["config.json", "history.json", "state.json"]
    records = {p.name: _strict_json(p) for p in files}
    assert records["state.json"]["best_dev_eer"] is None and records["state.json"]["best_epoch"] == 1
    assert records["history.json"][0]["dev_eer"] is None
    assert "best dev EER undefined" in result.summary()


def test_json_text_writes_null_for_figures_and_refuses_settings():
    from speakerlib._io import json_text

    assert json.loads(json_text({"a": [1.0, float("inf")], "b": {"c": float("nan")}}, nulls=True)) == \
        {"a": [1.0, None], "b": {"c": None}}
    with pytest.raises(ConfigError, match=r"recipe\.aam_margin"):
        json_text({"recipe": {"aam_margin": float("nan")}}, nulls=False, where="config.json")


# --------------------------------------------------------------------------- 4. the empty store
def test_an_empty_store_is_named_with_the_fix(tmp_path):
    from speakerlib.prepare import prepare

    rows = []
    for k in range(2):
        path = tmp_path / f"broken{k}.wav"
        path.write_bytes(b"not audio at all" * 64)
        rows.append({"utt_id": f"u{k}", "speaker": f"s{k}", "path": str(path), "duration_s": 1.0,
                     "sample_rate": 16000, "num_channels": 1, "subset": "x", "gender": "F"})
    store = tmp_path / "store"
    with pytest.raises(SpeakerlibError):
        prepare(pd.DataFrame(rows), store, progress=False, jobs=1)
    assert (store / "index.csv").is_file() and (store / "rejects.csv").is_file()
    with pytest.raises(TrainingError) as caught:
        train(store, tmp_path / "run", model="seresnet", profile=ONE_EPOCH, progress=False)
    message = str(caught.value)
    assert str(store) in message and str(store / "rejects.csv") in message
    assert "empty index" in message and "speakerlib prepare" in message


# --------------------------------------------------------------------------- 5. TensorFlow's own lines
_CHILD = """
import sys
from speakerlib.train import Profile, train
profile = Profile(name="test", epochs=1, width=0.125, batch_size=16, max_dev_utterances=40, bn_momentum=0.5)
train(sys.argv[1], sys.argv[2], model="seresnet", recipe="modern_noaug", profile=profile, progress=False)
"""


def _quiet_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "SPEAKERLIB_VERBOSE")}
    return {**env, **extra}


def test_a_smoke_train_writes_no_tensorflow_lines_on_stderr(synthetic_audio_store, tmp_path):
    # the waveform pipeline (from_generator, tf.signal features) of the modern recipes, under op determinism
    _, store = synthetic_audio_store
    run = tmp_path / "run"
    child = subprocess.run([sys.executable, "-c", _CHILD, str(store), str(run)], capture_output=True, text=True,
                           env=_quiet_env(), cwd=PROJECT, timeout=420)
    assert child.returncode == 0, child.stderr[-3000:]
    assert json.loads((run / "state.json").read_text())["finished"]
    assert not TF_LINE.search(child.stderr), child.stderr


def test_speakerlib_verbose_lets_tensorflow_speak():
    code = "import speakerlib._tensorflow"
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_quiet_env(),
                           cwd=PROJECT, timeout=300)
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_quiet_env(SPEAKERLIB_VERBOSE="1"), cwd=PROJECT, timeout=300)
    assert quiet.returncode == 0 and loud.returncode == 0
    assert quiet.stderr == ""
    assert TF_LINE.search(loud.stderr), loud.stderr  # what it hides without the switch


def test_tensorflows_python_warnings_are_hidden_unless_verbose():
    # e.g. Keras' "triggered tf.function retracing" when a large-margin stage changes the crop length
    code = ("import logging, speakerlib._tensorflow as t; "
            "print(logging.getLevelName(t.tf.get_logger().getEffectiveLevel()))")
    levels = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             cwd=PROJECT, timeout=300).stdout.strip()
              for env in (_quiet_env(), _quiet_env(SPEAKERLIB_VERBOSE="1"))]
    assert levels == ["ERROR", "WARNING"]


# --------------------------------------------------------------------------- 6. embed and the run's store
def test_embed_reuses_the_runs_store_when_it_holds_every_utterance(shown, synthetic_store, tmp_path):
    from speakerlib.embed import embed_manifest, embed_store
    from speakerlib.evaluation import load_embeddings

    result, _ = shown
    manifest, store = synthetic_store
    test_part = manifest[manifest["split"] == "test"]
    out = tmp_path / "test.npz"
    done = embed_manifest(result.run_dir, test_part, out, progress=False)
    path, embedded, rejected = done
    assert done.reused_run_store and done.store == Path(store).absolute() and str(store) in done.store_note
    assert (path, embedded, rejected) == (out, len(test_part), 0)
    assert not out.with_name(out.name + ".features").exists()
    ids, X = load_embeddings(out)
    assert list(ids) == list(test_part["utt_id"])
    ids2, X2 = embed_store(result.run_dir, store, ids=list(ids))
    np.testing.assert_allclose(X, X2, atol=1e-6)
    # what the reuse promises: the embeddings of features computed afresh from the audio
    fresh = embed_manifest(result.run_dir, test_part, tmp_path / "fresh.npz", store=tmp_path / "fresh",
                           progress=False)
    assert not fresh.reused_run_store
    ids3, X3 = load_embeddings(tmp_path / "fresh.npz")
    assert list(ids3) == list(ids)
    np.testing.assert_allclose(X, X3, atol=1e-5)


def test_embed_builds_its_own_store_and_says_why_when_an_audio_file_differs(shown, synthetic_store, tmp_path):
    from speakerlib.embed import embed_manifest
    from speakerlib.evaluation import load_embeddings

    result, _ = shown
    manifest, _ = synthetic_store
    some = manifest[manifest["split"] == "test"].head(3).copy()
    moved = tmp_path / "elsewhere" / Path(some["path"].iloc[0]).name
    moved.parent.mkdir()
    shutil.copyfile(some["path"].iloc[0], moved)
    some.loc[some.index[0], "path"] = str(moved)
    out = tmp_path / "some.npz"
    with pytest.warns(UserWarning, match=r"does not hold the manifest's 3 utterances: 1 come from another "
                                         r"audio file.*computing the features into .*some\.npz\.features"):
        done = embed_manifest(result.run_dir, some, out, progress=False, jobs=1)
    assert not done.reused_run_store and done.store == out.with_name("some.npz.features")
    assert (done.store / "index.csv").is_file() and done.embedded == 3
    assert sorted(load_embeddings(out)[0]) == sorted(some["utt_id"])


# --------------------------------------------------------------------------- 1b. synth's first phase
def test_synth_shows_its_start_up_and_counts_every_utterance(tmp_path):
    from speakerlib.data.synth import SynthConfig, generate_corpus

    config = SynthConfig(num_speakers=2, utterances_per_speaker=3, max_duration_s=3.0)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        generate_corpus(tmp_path / "two", config, progress=True, jobs=2)
    text = err.getvalue().replace("\r", "\n")
    assert "synthetic corpus (starting workers)" in text  # each worker loads librosa as it starts
    assert re.search(r"synthetic corpus: 100%.*\| 6/6 ", text), text


def test_a_run_folder_in_use_by_another_process_is_refused_with_its_pid(synthetic_store, tmp_path):
    from speakerlib.errors import FolderInUseError

    _, store = synthetic_store
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (run / ".lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                               "purpose": "train softmax", "command": ["speakerlib", "train"],
                                               "started": "2026-12-02T10:00:00+00:00"}))
        with pytest.raises(FolderInUseError) as caught:
            train(store, run, model="seresnet", profile=ONE_EPOCH, progress=False)
        assert f"PID {holder.pid}" in str(caught.value) and str(run) in str(caught.value)
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing of the run was written
    finally:
        holder.kill()
        holder.wait()
    result = train(store, run, model="seresnet", profile=ONE_EPOCH, progress=False)  # its holder is gone
    assert result.state["finished"] and not (run / ".lock").exists()
