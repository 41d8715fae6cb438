"""Training driver: recipes x models, learning, determinism, resume after a kill, errors, devices."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from child_runs import kill_after_first_epoch

pytest.importorskip("tensorflow")

from speakerlib.data.splits import carve_part  # noqa: E402
from speakerlib.errors import CheckpointError, FeatureError, TrainingError  # noqa: E402
from speakerlib.models import MODEL_NAMES  # noqa: E402
from speakerlib.store import load_store  # noqa: E402
from speakerlib.train import (  # noqa: E402
    PROFILES,
    RECIPES,
    Profile,
    load_run,
    precision_policy,
    runs_table,
    train,
    training_parts,
)

# A profile for tests: the smoke profile, one epoch unless a test asks for more.
TINY = Profile(name="test", epochs=1, width=0.125, batch_size=16, max_dev_utterances=40, bn_momentum=0.5)


def _weights(path: Path) -> list[np.ndarray]:
    import keras

    import speakerlib.models  # noqa: F401  (registers the custom layers and losses)

    return [np.asarray(w) for w in keras.saving.load_model(path, safe_mode=True).get_weights()]


def test_profiles_and_recipes_exist():
    assert set(PROFILES) == {"smoke", "cpu", "laptop", "gpu"}
    assert set(RECIPES) == {"reference", "improved", "modern", "modern_noaug"}
    modern, plain = RECIPES["modern"], RECIPES["modern_noaug"]
    assert (modern.input, modern.crop_frames, modern.margin_warmup_epochs) == ("audio", 200, 3)
    assert modern.augmentation.noise_probability > 0 and modern.large_margin is not None
    assert plain.augmentation is None and plain.speed_factors == ()
    assert dataclasses.replace(plain, name="modern", augmentation=modern.augmentation,
                               simulated_rirs=modern.simulated_rirs,
                               spec_augment_off_for=()) == modern  # only augmentation and the adaptation differ
    assert plain.spec_augment and plain.for_model("seresnet").spec_augment
    assert not plain.for_model("resnet50").spec_augment and not plain.for_model("ecapa").spec_augment
    assert "spec_augment_off_for" not in plain.for_model("resnet34").to_dict()  # a run records the adapted recipe
    assert type(plain).from_dict(plain.to_dict()) == plain
    ref = RECIPES["reference"]
    # The reference's recipe, as SEED.md reads it from its code.
    assert (ref.loss, ref.optimizer, ref.learning_rate, ref.momentum, ref.batch_size) == \
        ("softmax", "sgd", 0.01, 0.9, 32)
    assert (ref.crop, ref.normalize, ref.weight_decay, ref.spec_augment) == \
        ("fixed", "per_frame", 1e-5, False)
    imp = RECIPES["improved"]
    assert (imp.loss, imp.crop, imp.normalize, imp.spec_augment) == \
        ("aam", "random", "per_frame", True)
    assert PROFILES["gpu"].epochs == 300 and PROFILES["gpu"].width == 1.0
    with pytest.raises(ValueError, match="Recipe.loss"):
        type(ref)(name="x", loss="hinge")


def test_training_parts_are_speaker_disjoint(synthetic_store):
    manifest, store_path = synthetic_store
    store = load_store(store_path)
    parts = training_parts(store.index, seed=0, val_fraction=0.2)
    by_part = {p: set(parts.loc[parts["part"] == p, "speaker"]) for p in ("train", "val", "dev", "test")}
    assert by_part["val"] <= by_part["train"]          # val: held-out utterances of train speakers
    assert not by_part["train"] & by_part["dev"]
    assert not by_part["train"] & by_part["test"]
    assert not by_part["dev"] & by_part["test"]
    val_share = (parts["part"] == "val").sum() / parts["split"].eq("train").sum()
    assert 0.15 <= val_share <= 0.25
    # Without a split column the run's seed makes one, the same every time.
    no_split = store.index.drop(columns=["split"])
    a = training_parts(no_split, seed=5, val_fraction=0.2)
    b = training_parts(no_split.sample(frac=1, random_state=1), seed=5, val_fraction=0.2)
    assert a.sort_values("utt_id").reset_index(drop=True).equals(b.sort_values("utt_id").reset_index(drop=True))
    # A calibration part (carve_part) is kept as it is: its speakers neither train nor choose checkpoints.
    # (the test speakers join dev first, so that both halves of the carve have at least 2 speakers)
    pooled = store.index.assign(split=store.index["split"].replace({"test": "dev"}))
    carved = carve_part(pooled, fraction=0.5, seed=0)
    kept = training_parts(carved, seed=0, val_fraction=0.2)
    calibration = set(carved.loc[carved["split"] == "calibration", "speaker"])
    assert len(calibration) >= 2 and set(kept.loc[kept["part"] == "calibration", "speaker"]) == calibration
    assert (kept["split"] == carved["split"].to_numpy()).all()  # no new split was drawn
    assert set(kept.loc[kept["part"].isin(["train", "val", "dev"]), "speaker"]).isdisjoint(calibration)


@pytest.mark.parametrize("recipe", ["reference", "improved"])
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_model_trains_under_both_recipes(synthetic_store, tmp_path, model, recipe):
    _, store = synthetic_store
    result = train(store, tmp_path / "run", model=model, recipe=recipe, profile=TINY, progress=False)
    row = result.history.iloc[-1]
    assert np.isfinite(row["loss"]) and np.isfinite(row["val_loss"])
    assert 0 <= row["dev_eer"] <= 1
    assert result.state["finished"] and result.embedding_path.is_file()
    assert result.config.recipe.name == recipe


@pytest.fixture(scope="module")
def learned(synthetic_store, tmp_path_factory):
    """A 6-epoch SE-ResNet run (reference recipe, small width) on the small synthetic corpus."""
    _, store = synthetic_store
    profile = Profile(name="test", epochs=6, width=0.25, batch_size=16, bn_momentum=0.5)
    run = tmp_path_factory.mktemp("learned") / "run"
    return train(store, run, model="seresnet", recipe="reference", profile=profile, progress=False)


def test_training_lowers_the_loss_and_beats_chance_on_dev(learned):
    h = learned.history
    assert len(h) == 6
    assert h["loss"].iloc[-1] < 0.8 * h["loss"].iloc[0]
    n_dev = len(set(pd.read_csv(learned.run_dir / "split.csv").query("part == 'dev'")["speaker"]))
    best = h.loc[h["epoch"] == learned.state["best_epoch"]].iloc[0]
    # Chance: EER 0.5, and 1/n_dev for identification among the dev speakers.
    assert best["dev_eer"] < 0.35
    assert best["dev_si_accuracy"] > 1.5 / n_dev
    # The closed-set val accuracy (held-out utterances of the training speakers) beats chance too.
    assert h["val_accuracy"].max() > 2.0 / len(learned.config.speakers)
    assert learned.state["best_dev_eer"] == pytest.approx(h["dev_eer"].min())


def test_best_row_and_runs_table(learned):
    h = learned.history
    kept = h.iloc[int(np.argmin(h["dev_eer"].to_numpy()))]  # the first epoch with the lowest dev EER
    row = learned.best()
    assert row["best epoch"] == kept["epoch"] and row["dev EER"] == kept["dev_eer"]
    assert row["dev SI accuracy"] == kept["dev_si_accuracy"] and row["val accuracy"] == kept["val_accuracy"]
    assert row["epochs"] == len(h) and row["minutes"] == pytest.approx(learned.state["train_seconds"] / 60)
    assert row["samples/s"] == pytest.approx(np.median(h["samples_per_s"].to_numpy()[1:]))
    table = runs_table({"a": learned, "b": learned}, index="model")
    assert list(table.index) == ["a", "b"] and table.index.name == "model"
    assert table.loc["b"].to_dict() == pytest.approx(row)


def test_history_files_and_run_folder(learned):
    run = learned.run_dir
    for name in ("config.json", "split.csv", "history.csv", "history.json", "state.json",
                 "checkpoints/last.keras", "checkpoints/best.keras", "embedding.keras"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["store_config"]["features"]["kind"] == "reference"
    assert config["input_bins"] == 40 and config["hardware"]["cpu_count"] >= 1
    assert json.loads((run / "history.json").read_text())[0]["epoch"] == 1
    again = load_run(run)
    assert again.history.equals(learned.history)


def test_a_finished_run_is_not_trained_again(learned, synthetic_store):
    _, store = synthetic_store
    before = (learned.run_dir / "embedding.keras").stat().st_mtime_ns
    profile = Profile(name="test", epochs=6, width=0.25, batch_size=16, bn_momentum=0.5)
    again = train(store, learned.run_dir, model="seresnet", recipe="reference", profile=profile,
                  progress=False)
    assert (learned.run_dir / "embedding.keras").stat().st_mtime_ns == before
    assert again.state == learned.state


def test_exported_embedding_model_round_trips(learned, synthetic_store):
    import keras

    from speakerlib.embed import embed_store, load_embedding_model
    from speakerlib.train.run_folder import BEST_NAME, load_checkpoint

    _, store_path = synthetic_store
    store = load_store(store_path)
    model = load_embedding_model(learned.run_dir)
    best = load_checkpoint(learned.run_dir / BEST_NAME, "seresnet_reference_training")
    x = store.features(store.ids[:8], normalize="per_frame")[..., None]
    a = np.asarray(model(x, training=False))
    b = np.asarray(best.get_layer("seresnet_embedding")(x, training=False))
    np.testing.assert_array_equal(a, b)
    assert isinstance(model, keras.Model)
    ids, emb = embed_store(learned.run_dir, store)
    assert ids == store.ids and emb.shape[0] == len(store)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_same_seed_same_weights(synthetic_store, tmp_path):
    _, store = synthetic_store
    a = train(store, tmp_path / "a", model="resnet34", recipe="improved", profile=TINY, seed=4,
              progress=False)
    b = train(store, tmp_path / "b", model="resnet34", recipe="improved", profile=TINY, seed=4,
              progress=False)
    for wa, wb in zip(_weights(a.run_dir / "checkpoints/last.keras"),
                      _weights(b.run_dir / "checkpoints/last.keras")):
        np.testing.assert_array_equal(wa, wb)
    pd.testing.assert_series_equal(a.history["loss"], b.history["loss"])


_CHILD = """
import sys
from speakerlib.train import Profile, train
profile = Profile(name="test", epochs=3, width=0.125, batch_size=16, max_dev_utterances=40,
                  bn_momentum=0.5)
train(sys.argv[1], sys.argv[2], model="seresnet", recipe="improved", profile=profile, seed=1,
      progress=False)
"""


def test_killed_run_resumes_from_its_last_epoch_and_matches_an_uninterrupted_one(synthetic_store, tmp_path):
    _, store = synthetic_store
    profile = Profile(name="test", epochs=3, width=0.125, batch_size=16, max_dev_utterances=40,
                  bn_momentum=0.5)
    killed = tmp_path / "killed"
    state = killed / "state.json"
    done = kill_after_first_epoch(_CHILD, [str(store), str(killed)], state, timeout_s=300)
    assert 1 <= done < 3, "the child should have been killed part-way"
    resumed = train(store, killed, model="seresnet", recipe="improved", profile=profile, seed=1,
                    progress=False)
    assert resumed.state["resumed_from"] == done
    assert list(resumed.history["epoch"]) == [1, 2, 3]

    straight = train(store, tmp_path / "straight", model="seresnet", recipe="improved",
                     profile=profile, seed=1, progress=False)
    np.testing.assert_allclose(resumed.history["loss"], straight.history["loss"], rtol=1e-5)
    for wa, wb in zip(_weights(killed / "checkpoints/last.keras"),
                      _weights(tmp_path / "straight" / "checkpoints/last.keras")):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_resume_refuses_another_configuration_and_bad_checkpoints(learned, synthetic_store, tmp_path):
    _, store = synthetic_store
    profile = Profile(name="test", epochs=6, width=0.25, batch_size=16, bn_momentum=0.5)
    with pytest.raises(TrainingError, match="another configuration.*model"):
        train(store, learned.run_dir, model="resnet34", recipe="reference", profile=profile, progress=False)

    # An unfinished run whose checkpoint is corrupted, missing, or from another model.
    run = tmp_path / "copy"
    shutil.copytree(learned.run_dir, run)
    state = json.loads((run / "state.json").read_text())
    state.update(finished=False, epochs_done=3)
    (run / "state.json").write_text(json.dumps(state))
    config = json.loads((run / "config.json").read_text())
    (run / "checkpoints/last.keras").write_bytes(b"not a keras file")
    with pytest.raises(CheckpointError, match="cannot be read.*corrupted"):
        train(store, run, model="seresnet", recipe="reference", profile=profile, progress=False)
    (run / "checkpoints/last.keras").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        train(store, run, model="seresnet", recipe="reference", profile=profile, progress=False)
    shutil.copy(learned.run_dir / "embedding.keras", run / "checkpoints/last.keras")
    with pytest.raises(CheckpointError, match="another model"):
        train(store, run, model="seresnet", recipe="reference", profile=profile, progress=False)
    assert json.loads((run / "config.json").read_text())["speakers"] == config["speakers"]


def test_bad_inputs_give_clear_errors(synthetic_store, tmp_path):
    from speakerlib.prepare import prepare

    manifest, store = synthetic_store
    with pytest.raises(KeyError, match="valid"):
        train(store, tmp_path / "x", model="resnet18", profile=TINY, progress=False)
    with pytest.raises(KeyError, match="valid"):
        train(store, tmp_path / "x", model="seresnet", recipe="fancy", profile=TINY, progress=False)

    # One training speaker only.
    one = manifest[manifest["speaker"] == manifest["speaker"].iloc[0]].assign(split="train")
    prepare(one, tmp_path / "one", progress=False, jobs=1)
    with pytest.raises(TrainingError, match="at least 2 training speakers, found 1"):
        train(tmp_path / "one", tmp_path / "run_one", profile=TINY, progress=False)

    # NaN features.
    nan_store = tmp_path / "nan"
    shutil.copytree(store, nan_store)
    features = np.load(nan_store / "features.npy")
    features[3, 10, 5] = np.nan
    np.save(nan_store / "features.npy", features)
    bad_id = load_store(nan_store).index.loc[load_store(nan_store).index["row"] == 3, "utt_id"].iloc[0]
    with pytest.raises(FeatureError, match=f"NaN or infinite.*{bad_id}"):
        train(nan_store, tmp_path / "run_nan", model="seresnet", profile=TINY, progress=False)

    # Features with another number of bins than the run was made with.
    run = tmp_path / "run40"
    train(store, run, model="seresnet", profile=TINY, progress=False)
    state = json.loads((run / "state.json").read_text())
    state["finished"] = False
    (run / "state.json").write_text(json.dumps(state))
    from speakerlib.features import FeatureConfig
    from speakerlib.store import PrepareConfig

    mfcc = tmp_path / "mfcc"
    prepare(manifest, mfcc, config=PrepareConfig(features=FeatureConfig.for_kind("mfcc")),
            progress=False, jobs=2)
    with pytest.raises(TrainingError, match="input_bins: run folder has 40, asked for 20"):
        train(mfcc, run, model="seresnet", profile=TINY, progress=False)


_TWO_DEVICES = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from speakerlib.train import Profile, train
profile = Profile(name="test", epochs=1, width=0.125, batch_size=16, max_dev_utterances=40,
                  bn_momentum=0.5)
result = train(sys.argv[1], sys.argv[2], model="resnet34", recipe="reference", profile=profile,
               progress=False)
print(json.dumps({"replicas": result.state["replicas"], "loss": result.history["loss"].iloc[-1]}))
"""


def test_training_on_two_logical_cpu_devices(synthetic_store, tmp_path):
    _, store = synthetic_store
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", _TWO_DEVICES, str(store), str(tmp_path / "run")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert np.isfinite(report["loss"])


def test_triplet_finetune_starts_from_the_kept_model_and_never_does_worse_on_dev(learned, synthetic_store,
                                                                                   tmp_path):
    from speakerlib.embed import embed_store
    from speakerlib.train import finetune_triplet

    _, store = synthetic_store
    result = finetune_triplet(learned.run_dir, epochs=2, speakers_per_batch=4, utterances_per_speaker=3,
                              progress=False)
    h = result.history
    assert h["epoch"].tolist() == [0, 1, 2]
    # Epoch 0 is the softmax run's kept model, scored on the same dev utterances.
    assert h["dev_eer"].iloc[0] == pytest.approx(learned.state["best_dev_eer"])
    assert np.isfinite(h["loss"].iloc[1:]).all() and (h["loss"].iloc[1:] >= 0).all()
    assert result.state["best_dev_eer"] == pytest.approx(h["dev_eer"].min())
    assert result.run_dir == learned.run_dir / "triplet" and result.state["finished"]
    ids, emb = embed_store(result.run_dir, store)
    assert emb.shape == (len(ids), 512)
    assert finetune_triplet(learned.run_dir, epochs=2, speakers_per_batch=4, utterances_per_speaker=3,
                            progress=False).state == result.state
    with pytest.raises(TrainingError, match="other settings"):
        finetune_triplet(learned.run_dir, epochs=3, speakers_per_batch=4, utterances_per_speaker=3,
                         progress=False)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(learned.run_dir, unfinished)
    state = json.loads((unfinished / "state.json").read_text())
    (unfinished / "state.json").write_text(json.dumps({**state, "finished": False}))
    with pytest.raises(TrainingError, match="not a finished run"):
        finetune_triplet(unfinished, epochs=1, progress=False)


def test_train_and_embed_commands(synthetic_store, tmp_path, capsys):
    from speakerlib.cli import main
    from speakerlib.data.manifest import write_manifest
    from speakerlib.evaluation import load_embeddings

    manifest, store = synthetic_store
    run = tmp_path / "run"
    assert main(["train", "--model", "resnet34", "--recipe", "improved", "--profile", "smoke",
                 "--features", str(store), "--out", str(run), "--epochs", "1", "--quiet"]) == 0
    assert "run folder" in capsys.readouterr().out
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    test_part = manifest[manifest["split"] == "test"]
    csv = write_manifest(test_part, tmp_path / "test.csv")
    out = tmp_path / "emb.npz"
    assert main(["embed", "--model", str(run), "--manifest", str(csv), "--out", str(out), "--quiet"]) == 0
    ids, X = load_embeddings(out)
    assert sorted(ids) == sorted(test_part["utt_id"]) and X.shape == (len(test_part), 512)
    # The embeddings from audio equal those from the training store (same preprocessing).
    from speakerlib.embed import embed_store

    ids2, X2 = embed_store(run, store, ids=list(ids))
    np.testing.assert_allclose(X, X2, atol=1e-5)
    assert main(["embed", "--model", str(tmp_path / "nothing"), "--manifest", str(csv), "--out",
                 str(out), "--quiet"]) == 2


@pytest.mark.parametrize("mode", ["per_frame", "per_utterance", "none"])
def test_pipeline_crops_equal_numpy_crops_normalised(mode):
    """The tf.data crops (centre crop, wrap-around for short utterances) against numpy."""
    from speakerlib.features import normalize
    from speakerlib.train.inputs import Frames, crop_batch_fn

    rng = np.random.default_rng(0)
    lengths = np.array([50, 20, 37])
    frames = (rng.normal(size=(lengths.sum(), 40)) * 3 + 5).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    data = Frames(frames, offsets, lengths, ["a", "b", "c"])
    got = crop_batch_fn(data, crop_frames=30, random_crop=False, normalize=mode)(
        np.arange(3), np.zeros(2, np.int64)).numpy()[..., 0]
    for i, (start, n) in enumerate(zip(offsets, lengths)):
        utt = frames[start:start + n]
        first = max(n - 30, 0) // 2
        crop = utt[(first + np.arange(30)) % n]  # short utterances repeat
        if mode == "per_frame":
            expected = normalize(crop, mode="per_frame")
        elif mode == "per_utterance":
            expected = normalize(crop, mode="per_utterance")
        else:
            expected = crop
        np.testing.assert_allclose(got[i], expected, atol=1e-5)


def test_precision_policy_is_mixed_only_for_a_mixed_profile_on_a_gpu():
    assert precision_policy(PROFILES["gpu"], 1) == "mixed_float16"
    assert precision_policy(PROFILES["gpu"], 0) == "float32"  # float16 is emulated on a CPU
    assert precision_policy(PROFILES["cpu"], 4) == "float32"


@pytest.fixture
def mixed_float16():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("recipe", ["reference", "improved"])
def test_training_model_under_mixed_precision(recipe, mixed_float16, tmp_path):
    """What the gpu profile does on a GPU, run on the CPU: float16 compute, float32 weights, heads and loss."""
    import keras

    from speakerlib.embed import load_embedding_model
    from speakerlib.store import PrepareConfig
    from speakerlib.train import RunConfig
    from speakerlib.train.assemble import build_training_model

    profile = dataclasses.replace(PROFILES["smoke"], mixed_precision=True)
    config = RunConfig(model="seresnet", recipe=RECIPES[recipe], profile=profile, seed=0, batch_size=8,
                       crop_frames=120, eval_frames=300, normalize="per_frame", input_bins=40,
                       store="unused", store_config=PrepareConfig(), speakers=tuple("abcde"))
    model = build_training_model(config, 5, 2)
    embedding = model.get_layer("seresnet_embedding")
    convs = [layer for layer in embedding.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(c.compute_dtype == "float16" and c.kernel.dtype == "float32" for c in convs)
    head = model.layers[-1]
    assert head.compute_dtype == "float32" and model.output.dtype == "float32"

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 120, 40, 1)).astype(np.float32)
    y = np.arange(16) % 5
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()

    out = embedding(x[:4], training=False)
    assert out.dtype == "float32" and out.shape == (4, 512)
    assert np.isfinite(np.asarray(out)).all()
    path = tmp_path / "embedding.keras"
    embedding.save(path)
    again = load_embedding_model(path)
    assert np.allclose(np.asarray(again(x[:4], training=False)), np.asarray(out), atol=1e-3)


def test_multi_worker_configuration_is_refused_with_the_reason(synthetic_store, tmp_path, monkeypatch):
    _, store = synthetic_store
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(TrainingError, match="TF_CONFIG.*MirroredStrategy"):
        train(store, tmp_path / "run", model="seresnet", profile="smoke", progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_run_config_derives_its_values_once_and_round_trips(synthetic_store, tmp_path):
    from speakerlib.errors import ConfigError
    from speakerlib.train import RunConfig

    _, store_path = synthetic_store
    store = load_store(store_path)
    config = RunConfig.for_store(store, model="seresnet", recipe=RECIPES["improved"], profile=PROFILES["cpu"],
                                 seed=3, speakers=["b", "a"])
    # The improved recipe's 2-s crops; dev and test utterances are embedded from the whole stored 3 s.
    assert (config.crop_frames, config.eval_frames, config.batch_size) == (200, 299, 32)
    assert config.normalize == "per_frame" and config.speakers == ("b", "a") and config.input_bins == 40
    # A recipe without its own normalisation takes the store's.
    plain = dataclasses.replace(RECIPES["reference"], normalize=None)
    assert RunConfig.for_store(store, model="seresnet", recipe=plain, profile=PROFILES["cpu"], seed=3,
                               speakers=["a"]).normalize == store.config.features.normalize
    config.write(tmp_path, hardware={"cpu_count": 2}, created="today")
    assert RunConfig.read(tmp_path) == config
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["hardware"] == {"cpu_count": 2} and RunConfig.stored_record(tmp_path) == config.to_dict()
    del record["eval_frames"]
    (tmp_path / "config.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="eval_frames"):
        RunConfig.read(tmp_path)
    with pytest.raises(TrainingError, match="not a training run"):
        RunConfig.read(tmp_path / "nothing")
