"""speakerlib.evaluation.run.evaluate and the evaluate / refmetrics commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from speakerlib.cli import main
from speakerlib.evaluation import ProtocolError, UnknownUtteranceError, save_embeddings
from speakerlib.evaluation.reference import find_reference_dir
from speakerlib.evaluation.run import PROTOCOLS, age_groups, evaluate


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
