"""speakerlib.evaluation.run.evaluate and the evaluate / refmetrics commands."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from speakerlib.cli import main
from speakerlib.data.manifest import write_manifest
from speakerlib.data.splits import enrolment_split
from speakerlib.evaluation import ProtocolError, TrialListError, UnknownUtteranceError, save_embeddings
from speakerlib.evaluation.embeddings import embedding_run_dir
from speakerlib.evaluation.reference import find_reference_dir
from speakerlib.evaluation.run import PROTOCOLS, age_groups, evaluate
from speakerlib.evaluation.trials import make_trials, write_trials


def toy(noise: float = 0.1, seed: int = 0):
    """10 speakers x 6 utterances: orthogonal speaker directions plus noise; 4 train, 3 dev, 3 test."""
    rng = np.random.default_rng(seed)
    rows, vectors = [], []
    for s in range(10):
        split = "train" if s < 4 else "dev" if s < 7 else "test"
        for u in range(6):
            rows.append({"utt_id": f"s{s:02d}-{u}", "speaker": f"s{s:02d}", "split": split,
                         "gender": "F" if s % 2 else "M", "age": 10 + 5 * s})
            v = np.zeros(16)
            v[s] = 1.0
            vectors.append(v + noise * rng.normal(size=16))
    return pd.DataFrame(rows), np.array(vectors, dtype=np.float32)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_writes_metrics_and_figures(tmp_path, protocol):
    manifest, X = toy()
    record = evaluate((manifest["utt_id"], X), manifest, protocol, tmp_path, bootstrap=50)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["protocol"] == protocol and on_disk["speakers"] == 3 and on_disk["utterances"] == 18
    assert on_disk == record
    for name in record["files"]:
        assert (tmp_path / name).is_file(), name
    if protocol == "si-reference":
        assert record["accuracy"] == 1.0 and record["total"] == 9  # 3 speakers x 3 test utterances
    elif protocol == "si":
        assert record["top1_accuracy"] == 1.0 and record["chance"] == pytest.approx(1 / 3)
        assert {"gender", "age_group"} <= set(record["per_group"])
        assert "confusion.png" in record["files"]
    elif protocol == "sv-reference":
        assert record["n_enrolled"] == 2  # at most all but one of the 3 test speakers
        assert record["eer"] == 0.0 and record["auc"] == 1.0
    else:
        assert record["eer"] == 0.0 and record["n_target"] == 3 * 15
        assert record["n_target"] == record["n_nontarget"]
        assert {"det.png", "roc.png", "scores.png", "embeddings.png", "bayes_error.png"} <= set(record["files"])
        assert 0 <= record["test_fpr_at_dev_threshold"] <= 1
        calibration = record["calibration"]
        assert calibration["fitted_on"] == "dev trials" and calibration["scale"] > 0
        assert 0 <= calibration["min_cllr"] <= calibration["cllr"] + 1e-9
        assert calibration["actual_dcf_0.5"] >= calibration["min_dcf_0.5"] - 1e-9


def test_sv_metrics_degrade_with_noise_and_as_norm_runs(tmp_path):
    manifest, clean = toy(noise=0.1)
    _, noisy = toy(noise=0.5)
    good = evaluate((manifest["utt_id"], clean), manifest, "sv", None, bootstrap=0)
    bad = evaluate((manifest["utt_id"], noisy), manifest, "sv", None, bootstrap=0)
    assert good["eer"] < bad["eer"] < 0.5
    assert good["calibration"]["min_cllr"] < bad["calibration"]["min_cllr"]
    normed = evaluate((manifest["utt_id"], noisy), manifest, "sv", None, bootstrap=0, as_norm_top_k=5)
    assert normed["as_norm_top_k"] == 5 and 0 <= normed["eer"] < 0.5



def _with_sessions(seed: int = 1):
    """The toy set with a strong session direction shared by every speaker (what WCCN removes)."""
    manifest, X = toy(noise=0.3, seed=seed)
    rng = np.random.default_rng(seed)
    session = rng.normal(size=16)
    return manifest, (X + np.outer(rng.normal(scale=2.0, size=len(X)), session)).astype(np.float32)


def test_wccn_scores_what_the_back_end_gives_and_is_fitted_on_train_speakers_only(tmp_path, capsys):
    from speakerlib.evaluation.backend import WCCN

    manifest, X = _with_sessions()
    ids = manifest["utt_id"]
    train = (manifest["split"] == "train").to_numpy()
    normalised = WCCN.fit(X[train], manifest["speaker"][train], regularisation=0.1).transform(X)
    for protocol in ("sv", "si"):
        got = evaluate((ids, X), manifest, protocol, None, bootstrap=0, wccn=0.1)
        expected = evaluate((ids, normalised), manifest, protocol, None, bootstrap=0)
        assert got["wccn"] == {"regularisation": 0.1, "train_speakers": 4, "train_utterances": 24}
        assert {k: v for k, v in got.items() if k != "wccn"} == expected
    plain = evaluate((ids, X), manifest, "sv", None, bootstrap=0)
    assert evaluate((ids, X), manifest, "sv", None, bootstrap=0, wccn=0.1)["eer"] < plain["eer"]
    # the test speakers' labels play no part
    relabelled = manifest.copy()
    test = relabelled["split"] == "test"
    relabelled.loc[test, "speaker"] = "anyone"
    relabelled.loc[test & (relabelled.index % 2 == 0), "speaker"] = "someone"
    again = evaluate((ids, X), relabelled, "sv", None, split="dev", bootstrap=0, wccn=0.1)
    assert again["eer"] == evaluate((ids, X), manifest, "sv", None, split="dev", bootstrap=0, wccn=0.1)["eer"]
    # the command line
    emb, man, _ = on_disk(tmp_path, manifest, X)
    assert main(["evaluate", "--embeddings", str(emb), "--manifest", str(man), "--protocol", "sv",
                 "--out", str(tmp_path / "cli"), "--bootstrap", "0", "--wccn", "0.1"]) == 0
    written = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert written["wccn"]["regularisation"] == 0.1 and written["eer"] == pytest.approx(
        evaluate((ids, X), manifest, "sv", None, bootstrap=0, wccn=0.1)["eer"])
    assert '"wccn"' in capsys.readouterr().out


def test_wccn_is_refused_with_the_fix_where_it_cannot_be_fitted(tmp_path, capsys):
    manifest, X = _with_sessions()
    no_train = manifest.assign(split=manifest["split"].replace({"train": "dev"}))
    with pytest.raises(ProtocolError, match="the manifest has 0 train speakers") as caught:
        evaluate((no_train["utt_id"], X), no_train, "sv", None, bootstrap=0, wccn=0.1)
    assert "leave out --wccn" in caught.value.for_command_line()
    emb, man, _ = on_disk(tmp_path, no_train, X)
    argv = ["evaluate", "--embeddings", str(emb), "--manifest", str(man), "--protocol", "si", "--out",
            str(tmp_path / "out")]
    assert main([*argv, "--wccn", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "--wccn 0.1: the WCCN is fitted on the train split's utterances" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main([*argv, "--wccn", "-1"])
    assert "expected a number >= 0, got '-1'" in capsys.readouterr().err
    few = manifest[(manifest["split"] != "train") | manifest["utt_id"].str.endswith(("-0", "-1"))]
    emb, man, _ = on_disk(tmp_path / "few", few.reset_index(drop=True), X[few.index])
    assert main(["evaluate", "--embeddings", str(emb), "--manifest", str(man), "--protocol", "sv", "--out",
                 str(tmp_path / "few-out"), "--wccn", "0"]) == 2
    err = capsys.readouterr().err
    assert "singular with --wccn=0; give --wccn > 0" in err and "Traceback" not in err

def test_protocol_errors_name_the_problem(tmp_path):
    manifest, X = toy()
    with pytest.raises(KeyError, match="valid"):
        evaluate((manifest["utt_id"], X), manifest, "sv-fancy")
    with pytest.raises(ProtocolError, match="dev speakers"):
        evaluate((manifest["utt_id"], X), manifest.drop(columns=["split"]), "sv")
    with pytest.raises(ProtocolError, match="at least 2 speakers"):
        evaluate((manifest["utt_id"], X), manifest, "si", split="nosuchsplit")
    with pytest.raises(UnknownUtteranceError, match="s09-5"):
        evaluate((manifest["utt_id"][:-1], X[:-1]), manifest, "si")


def test_age_groups():
    groups = age_groups(pd.Series([7, 12, 13, 17, 18, 39, 40, None]))
    assert groups.tolist()[:7] == ["<13", "<13", "13-17", "13-17", "18-39", "18-39", "40+"]
    assert pd.isna(groups.iloc[7])


def test_evaluate_command(tmp_path, capsys):
    manifest, X = toy()
    manifest.to_csv(tmp_path / "m.csv", index=False)
    save_embeddings(tmp_path / "e.npz", manifest["utt_id"], X)
    code = main(["evaluate", "--embeddings", str(tmp_path / "e.npz"), "--manifest", str(tmp_path / "m.csv"),
                 "--protocol", "sv", "--out", str(tmp_path / "out"), "--bootstrap", "20"])
    assert code == 0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["eer"] == 0.0
    assert "metrics.json" in capsys.readouterr().out


def test_sv_reference_writes_the_seeds_label_and_score_files_for_refmetrics(tmp_path, capsys):
    manifest, X = toy(noise=0.6)
    manifest.to_csv(tmp_path / "m.csv", index=False)
    save_embeddings(tmp_path / "e.npz", manifest["utt_id"], X)
    out = tmp_path / "out"
    assert main(["evaluate", "--embeddings", str(tmp_path / "e.npz"), "--manifest", str(tmp_path / "m.csv"),
                 "--protocol", "sv-reference", "--out", str(out), "--bootstrap", "0"]) == 0
    record = json.loads((out / "metrics.json").read_text())
    assert {"y_true.npy", "y_pre.npy"} <= set(record["files"])
    capsys.readouterr()
    assert main(["refmetrics", "--labels", str(out / "y_true.npy"), "--scores", str(out / "y_pre.npy")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["eer"] == pytest.approx(record["eer"]) and again["trials"] == len(np.load(out / "y_pre.npy"))


def test_refmetrics_command_reproduces_the_reference_table(capsys):
    reference = find_reference_dir()
    if reference is None:
        pytest.skip("the reference's score files were not found (../shared/reference or SPEAKERLIB_REFERENCE)")
    folder = reference / "scores" / "timit_6845b81"
    assert main(["refmetrics", "--labels", str(folder / "SE_y_true.npy"),
                 "--scores", str(folder / "SE_y_pre.npy")]) == 0
    got = json.loads(capsys.readouterr().out)
    # The row "timit_6845b81 | SE" of ../shared/reference/README.md.
    expected = {"eer": 0.0381, "prauc": 0.9024, "acc": 0.9611, "auc": 0.9931, "ap": 0.9867, "eer_interp": 0.0381}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-4), key
    assert (got["positives"], got["trials"]) == (420, 1260)


# ----------------------------------------------------------------------------- files on disk
def on_disk(tmp_path, manifest=None, X=None, *, run_dir=None):
    """The toy set as files: ``m.csv`` (with a path column: ``corpus/wav/<speaker>/sess/<u>.wav``) and
    ``e.npz`` (recording ``run_dir`` when given)."""
    if manifest is None:
        manifest, X = toy()
    manifest = manifest.copy()
    manifest["path"] = [str(tmp_path / "corpus" / "wav" / s / "sess" / f"{u.split('-')[1]}.wav")
                        for s, u in zip(manifest["speaker"], manifest["utt_id"])]
    write_manifest(manifest, tmp_path / "m.csv")
    save_embeddings(tmp_path / "e.npz", manifest["utt_id"], X, run_dir=run_dir)
    return tmp_path / "e.npz", tmp_path / "m.csv", manifest


def test_sv_reference_refuses_more_enrolled_speakers_than_the_split_holds(tmp_path, capsys):
    emb, man, _ = on_disk(tmp_path)
    with pytest.raises(ProtocolError, match=r"split 'test' holds 3 speakers and n_enrolled=20") as caught:
        evaluate(emb, man, "sv-reference", n_enrolled=20)
    assert "expected n_enrolled <= 2" in str(caught.value) and "Pass n_enrolled=2 or fewer" in str(caught.value)
    assert "--enrolled 20" in caught.value.for_command_line()
    assert "Pass --enrolled 2 or fewer" in caught.value.for_command_line()
    with pytest.raises(ProtocolError, match=r"holds 3 speakers and n_enrolled=3"):
        evaluate(emb, man, "sv-reference", n_enrolled=3)  # all enrolled: no non-member left
    with pytest.raises(ProtocolError, match="n_enrolled >= 1"):
        evaluate(emb, man, "sv-reference", n_enrolled=0)
    asked = evaluate(emb, man, "sv-reference", n_enrolled=1)
    assert (asked["n_enrolled"], asked["n_enrolled_rule"], asked["enrolled"]) == (1, "as asked", ["s07"])
    default = evaluate(emb, man, "sv-reference")
    assert default["n_enrolled"] == 2 and default["n_enrolled_rule"].startswith("default")
    assert "manifest roles not used" in default["enrolment"]
    # the command line: one line naming the flag, exit code 2
    code = main(["evaluate", "--embeddings", str(emb), "--manifest", str(man), "--protocol", "sv-reference",
                 "--out", str(tmp_path / "out"), "--enrolled", "20"])
    err = capsys.readouterr().err
    assert code == 2 and "--enrolled 20 were asked" in err and "holds 3 speakers" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("protocol, setting, flag", [
    ("sv", {"n_enrol": 2}, "--enrol 2"),
    ("si-reference", {"n_enrol": 2}, "--enrol 2"),
    ("si", {"as_norm_top_k": 3}, "--as-norm 3"),
    ("sv-reference", {"trials": "list.txt"}, "--trials list.txt"),
    ("sv", {"n_enrolled": 2}, "--enrolled 2"),
    ("si", {"n_enrolled": 2}, "--enrolled 2"),
])
def test_a_setting_of_another_protocol_is_refused_not_ignored(protocol, setting, flag):
    manifest, X = toy()
    with pytest.raises(ProtocolError, match="is a setting of protocol") as caught:
        evaluate((manifest["utt_id"], X), manifest, protocol, **setting)
    assert flag in caught.value.for_command_line()
    with pytest.raises(ProtocolError, match="needs trials"):
        evaluate((manifest["utt_id"], X), manifest, "sv", trials_root="/corpus")


def with_roles(manifest: pd.DataFrame, **options) -> pd.DataFrame:
    """The role column as ``speakerlib split`` writes it: enrol/test for dev and test speakers, empty for train."""
    held_out = manifest["split"].isin(["dev", "test"])
    roles = enrolment_split(manifest[held_out], **options)["role"]
    out = manifest.assign(role="")
    out.loc[roles.index, "role"] = roles
    return out


def test_si_uses_the_manifests_enrolment_roles(tmp_path):
    manifest, X = toy(noise=0.6)
    emb, man, _ = on_disk(tmp_path, with_roles(manifest, n_enrol=1, seed=5), X)
    record = evaluate(emb, man, "si", tmp_path / "si", bootstrap=0)
    assert record["enrolment"] == "manifest roles (column role)" and record["n_enrol"] is None
    # 3 test speakers x 1 enrolment utterance, the other 5 of each are identified
    assert (record["n_enrol_utterances"], record["n_test"]) == (3, 15)
    decisions = pd.read_csv(tmp_path / "si" / "decisions.csv")
    written = pd.read_csv(man, dtype=str)
    assert set(decisions["utt_id"]) == set(written.loc[(written["split"] == "test") & (written["role"] == "test"),
                                                       "utt_id"])
    # without the column: today's random half
    plain = evaluate((manifest["utt_id"], X), manifest, "si", None, bootstrap=0)
    assert (plain["n_enrol_utterances"], plain["n_test"]) == (9, 9)
    assert plain["enrolment"] == "random for seed 0: half of each speaker's utterances"
    # roles that are the random draw itself give exactly the random protocol's numbers
    same = evaluate((manifest["utt_id"], X), with_roles(manifest, seed=0), "si", None, bootstrap=0)
    assert {k: v for k, v in same.items() if k != "enrolment"} == {k: v for k, v in plain.items() if k != "enrolment"}
    # an empty role column (no roles anywhere) is the random protocol too
    assert evaluate((manifest["utt_id"], X), manifest.assign(role=""), "si", None, bootstrap=0) == plain


def test_si_roles_errors(tmp_path):
    manifest, X = toy()
    emb, man, _ = on_disk(tmp_path, with_roles(manifest, n_enrol=1, seed=5), X)
    with pytest.raises(ProtocolError, match=r"role column already says .* n_enrol=2 asks") as caught:
        evaluate(emb, man, "si", n_enrol=2)
    command_line = caught.value.for_command_line()
    assert "Leave out --enrol" in command_line and "--enrol 2 asks" in command_line
    partial = with_roles(manifest, seed=0)
    partial.loc[partial["utt_id"] == "s08-3", "role"] = ""
    with pytest.raises(ProtocolError, match=r"17 of the 18 utterances of split 'test' a role .*s08-3"):
        evaluate((manifest["utt_id"], X), partial, "si")
    no_test = with_roles(manifest, seed=0)
    no_test.loc[no_test["speaker"] == "s09", "role"] = "enrol"
    with pytest.raises(ProtocolError, match=r"s09 \(no test\)"):
        evaluate((manifest["utt_id"], X), no_test, "si")
    odd = with_roles(manifest, seed=0)
    odd.loc[odd["utt_id"] == "s08-3", "role"] = "train"
    with pytest.raises(ProtocolError, match="'enrol' or 'test', found \\['train'\\]"):
        evaluate((manifest["utt_id"], X), odd, "si")


def test_sv_is_the_same_with_or_without_roles():
    manifest, X = toy(noise=0.5)
    plain = evaluate((manifest["utt_id"], X), manifest, "sv", None, bootstrap=0)
    roles = evaluate((manifest["utt_id"], X), with_roles(manifest, n_enrol=1), "sv", None, bootstrap=0)
    assert roles == plain and plain["enrolment"].startswith("none: each trial pairs two utterances")


def run_folder(tmp_path, manifest, *, trained=(), dev=(), seed=7):
    """A run folder with split.csv (part train/val/dev/test) and config.json, as training writes them."""
    run = tmp_path / "run"
    run.mkdir(parents=True)
    parts = manifest[["utt_id", "speaker", "split"]].assign(part=manifest["split"])
    parts.loc[parts["speaker"].isin(trained), "part"] = "train"
    parts.loc[parts["speaker"].isin(dev), "part"] = "dev"
    parts.loc[(parts["part"] == "train") & parts["utt_id"].str.endswith("-5"), "part"] = "val"
    parts.to_csv(run / "split.csv", index=False)
    (run / "config.json").write_text(json.dumps({"seed": seed}))
    return run


def test_evaluating_the_runs_training_speakers_warns_and_is_recorded(tmp_path):
    manifest, X = toy()
    run = run_folder(tmp_path, manifest, trained=["s07", "s08"], dev=["s09"])
    emb, man, _ = on_disk(tmp_path, manifest, X, run_dir=run)
    assert embedding_run_dir(emb) == run.absolute()
    with pytest.warns(UserWarning) as caught:
        record = evaluate(emb, man, "si", tmp_path / "out", bootstrap=0)
    message = str(caught[0].message)
    assert "of the 3 evaluated speakers (split 'test'), 2 trained the model" in message
    assert "s07, s08" in message and "1 chose its kept epoch (part dev: s09)" in message
    assert "speakerlib split --seed 7" in message and str(run / "split.csv") in message
    overlap = json.loads((tmp_path / "out" / "metrics.json").read_text())["training_overlap"]
    assert overlap == record["training_overlap"] == {
        "checked": True, "run_dir": str(run.absolute()), "evaluated_speakers": 3, "training_speakers": 2,
        "dev_speakers": 1, "training_examples": ["s07", "s08"], "dev_examples": ["s09"]}
    # the run's dev speakers are expected when the dev split is evaluated; its training speakers are not
    with pytest.warns(UserWarning, match="2 trained the model"):
        dev = evaluate(emb, man, "si", None, bootstrap=0, split="dev",
                       run_dir=run_folder(tmp_path / "b", manifest, trained=["s04", "s05"], dev=["s06"]))
    assert (dev["training_overlap"]["training_speakers"], dev["training_overlap"]["dev_speakers"]) == (2, 0)


def test_no_warning_when_the_run_never_saw_the_speakers(tmp_path):
    manifest, X = toy()
    run = run_folder(tmp_path, manifest)  # its split is the manifest's
    emb, man, _ = on_disk(tmp_path, manifest, X, run_dir=run)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = evaluate(emb, man, "sv", None, bootstrap=0)
    assert record["training_overlap"]["checked"] and record["training_overlap"]["training_speakers"] == 0
    # arrays record no run: said so in the record
    arrays = evaluate((manifest["utt_id"], X), manifest, "sv", None, bootstrap=0)
    assert arrays["training_overlap"] == {"checked": False, "run_dir": None,
                                          "reason": "no run folder: the embeddings record none and run_dir "
                                                    "was not given"}


def test_run_folder_errors_and_a_moved_run(tmp_path):
    manifest, X = toy()
    emb, man, _ = on_disk(tmp_path, manifest, X, run_dir=tmp_path / "gone")
    with pytest.warns(UserWarning, match="could not check"):
        record = evaluate(emb, man, "si", None, bootstrap=0)
    assert record["training_overlap"]["checked"] is False
    with pytest.raises(ProtocolError, match="expected the run's table of training speakers") as caught:
        evaluate(emb, man, "si", None, bootstrap=0, run_dir=tmp_path)  # explicit: an error
    assert "Pass --run" in caught.value.for_command_line()
    # an explicit run_dir wins over the recorded one
    with pytest.warns(UserWarning, match="3 trained the model"):
        evaluate(emb, man, "si", None, bootstrap=0,
                 run_dir=run_folder(tmp_path / "x", manifest, trained=["s07", "s08", "s09"]))


def relative(manifest: pd.DataFrame) -> dict:
    """utt_id -> the VoxCeleb-style path relative to corpus/wav (``s07/sess/3.wav``)."""
    return {u: f"{s}/sess/{u.split('-')[1]}.wav" for u, s in zip(manifest["utt_id"], manifest["speaker"])}


def test_a_trial_list_gives_exactly_the_sv_record_of_the_same_trials(tmp_path):
    emb, man, manifest = on_disk(tmp_path, *toy(noise=0.6))
    built = evaluate(emb, man, "sv", tmp_path / "built", bootstrap=100)
    trials = make_trials(manifest[manifest["split"] == "test"].reset_index(drop=True), seed=0)
    by_id = write_trials(tmp_path / "ids.txt", trials)
    paths = tmp_path / "veri_test.txt"
    rel = relative(manifest)
    paths.write_text("".join(f"{y} {rel[a]} {rel[b]}\n" for y, a, b in zip(trials.label, trials.enrol, trials.test)))
    kaldi = tmp_path / "trials"
    kaldi.write_text("".join(f"{rel[a]} {rel[b]} {'target' if y else 'nontarget'}\n"
                             for y, a, b in zip(trials.label, trials.enrol, trials.test)))
    for name, listed in (("ids", by_id), ("paths", paths), ("kaldi", kaldi)):
        record = evaluate(emb, man, "sv", tmp_path / name, bootstrap=100, trials=listed)
        listing = record.pop("trial_list")
        assert record == {k: v for k, v in built.items() if k != "trial_list"}, name
        assert listing["file"] == listed.name and listing["sha256"] == hashlib.sha256(listed.read_bytes()).hexdigest()
        assert (listing["trials"], listing["n_target"], listing["n_nontarget"]) == (90, 45, 45)
        assert listing["matching"]["by_path" if name != "ids" else "by_utt_id"] == 18
        written = sorted(p.name for p in (tmp_path / name).iterdir())
        assert written == sorted(p.name for p in (tmp_path / "built").iterdir())
    assert built["trial_list"] == {"source": "built from split 'test' (make_trials, seed 0)"}
    scored = pd.read_csv(tmp_path / "paths" / "trials_scored.csv")
    assert scored["line"].tolist() == list(range(1, 91)) and scored["enrol_as_listed"][0] == rel[trials.enrol[0]]
    np.testing.assert_allclose(scored["score"], pd.read_csv(tmp_path / "built" / "trials_scored.csv")["score"])


def test_a_trial_list_with_a_corpus_root_and_its_errors(tmp_path):
    manifest, X = toy()
    # a train utterance whose file ends like a test one, in another folder: suffixes become ambiguous
    extra = manifest.iloc[[0]].assign(utt_id="dup-9", speaker="s00")
    X2 = np.vstack([X, X[:1]])
    emb, man, full = on_disk(tmp_path, pd.concat([manifest, extra], ignore_index=True), X2)
    full.loc[full["utt_id"] == "dup-9", "path"] = str(tmp_path / "other" / "s07" / "sess" / "0.wav")
    write_manifest(full, man)
    listed = tmp_path / "list.txt"
    listed.write_text("1 s07/sess/0.wav s07/sess/1.wav\n0 s07/sess/2.wav s08/sess/1.wav\n")
    with pytest.raises(TrialListError, match=r"list.txt:1: the enrol utterance 's07/sess/0.wav' matches 2 "
                                             r"utterances .*s07-0 .*dup-9") as caught:
        evaluate(emb, man, "sv", trials=listed)
    assert "--trials-root" in caught.value.for_command_line()
    record = evaluate(emb, man, "sv", None, bootstrap=0, trials=listed, trials_root=tmp_path / "corpus" / "wav")
    assert record["trial_list"]["matching"]["root"] == str(tmp_path / "corpus" / "wav")
    assert (record["n_target"], record["n_nontarget"], record["speakers"]) == (1, 1, 2)
    listed.write_text("1 s07/sess/0.wav s07/sess/1.wav\n\n0 s07/sess/2.wav s08/sess/7.wav\n")
    with pytest.raises(TrialListError, match=r"list.txt:3: the test utterance 's08/sess/7.wav' matches no "
                                             r"utterance.*Closest: \['s08/sess/"):
        evaluate(emb, man, "sv", trials=listed, trials_root=tmp_path / "corpus" / "wav")
    listed.write_text("1 s07/sess/1.wav s07/sess/2.wav\n0 s07/sess/2.wav s01/sess/1.wav\n")
    with pytest.raises(TrialListError, match=r"list.txt:2: the test utterance 's01/sess/1.wav' is s01-1 of "
                                             r"split 'train', expected split 'test'") as caught:
        evaluate(emb, man, "sv", trials=listed)
    assert "Pass --split train" in caught.value.for_command_line()
    listed.write_text("1 s07/sess/1.wav s07/sess/2.wav\n1 s07/sess/2.wav s08/sess/1.wav\n")
    with pytest.raises(TrialListError, match=r"list.txt:2: the trial has a label that contradicts"):
        evaluate(emb, man, "sv", trials=listed)
    listed.write_text("1 s07/sess/1.wav s07/sess/2.wav\nyes s07/sess/2.wav s08/sess/1.wav\n")
    with pytest.raises(TrialListError, match=r"list.txt:2: expected 'label enrol test'"):
        evaluate(emb, man, "sv", trials=listed)
