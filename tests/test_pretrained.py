"""The pretrained encoder's command path at the smoke size: speakerlib pretrain trains, calibrates,
packages and measures it; load() checks every file's SHA-256; the model card states what was measured;
the command line uses it when no --model is given."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from speakerlib.cli import main  # noqa: E402
from speakerlib.data.synth import SynthConfig, generate_corpus  # noqa: E402
from speakerlib.errors import PretrainedModelError, SplitError  # noqa: E402
from speakerlib.inference import pretrained  # noqa: E402
from speakerlib.inference.pretrained import CARD_NAME, MANIFEST_NAME, WEIGHTS_NAME, load  # noqa: E402
from speakerlib.pretrain import pretrain  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A smoke-size encoder: 20 synthetic speakers (12 train, 2 dev, 2 calibration, 4 test), tested also on 6
    others."""
    root = tmp_path_factory.mktemp("pretrain")
    generate_corpus(root / "corpus", SynthConfig(num_speakers=20, utterances_per_speaker=7, min_duration_s=2.0,
                                                 max_duration_s=3.5, seed=3), progress=False, jobs=2)
    generate_corpus(root / "other", SynthConfig(num_speakers=6, utterances_per_speaker=6, min_duration_s=2.0,
                                                max_duration_s=3.0, seed=5), progress=False, jobs=2)
    manifest = pretrain("librispeech", root / "corpus", root / "encoder", work=root / "work",
                        cross=[("librispeech", root / "other")], profile="smoke", bootstrap=50, progress=False,
                        command="speakerlib pretrain ... (test)", calibration_fraction=0.5)
    return root, manifest


def test_pretrain_packages_a_calibrated_encoder_with_measured_figures(built):
    root, manifest = built
    folder = root / "encoder"
    assert set(manifest["files"]) == {WEIGHTS_NAME, "config.json", "calibration.json"}
    assert manifest["data"]["speakers"] == {"calibration": 2, "dev": 2, "test": 4, "train": 12}
    # the calibration was fitted on speakers that neither trained nor chose the kept epoch
    fitted = manifest["calibration"]["fitted_on"]
    assert fitted["split"] == "calibration" and fitted["speakers"] == 2
    split = pd.read_csv(root / "work" / "manifest.csv", dtype=str)
    calibration = set(split.loc[split["split"] == "calibration", "speaker"])
    assert calibration.isdisjoint(split.loc[split["split"] != "calibration", "speaker"])
    assert list(manifest["test"]) == ["corpus", "librispeech (other)"]
    assert manifest["cross"] == ["librispeech (other)"] and manifest["test"]["librispeech (other)"]["speakers"] == 4
    mine = manifest["test"]["corpus"]
    assert manifest["stages"]["main_epochs"] == 2 and manifest["stages"]["fine_tune_epochs"] == 2
    assert mine["speakers"] == 4 and 0 <= mine["eer"] <= 1 and 0 <= mine["si_top1"] <= 1
    assert mine["min_cllr"] <= mine["cllr"] + 1e-9 and mine["refused"] == []
    assert manifest["float16_agreement"]["min_cosine"] > 0.999
    assert json.loads((folder / MANIFEST_NAME).read_text()) == manifest
    card = (folder / CARD_NAME).read_text()
    assert f"{100 * mine['eer']:.1f} %" in card and manifest["files"][WEIGHTS_NAME] in card
    assert "speakerlib pretrain ... (test)" in card and "Apache-2.0" not in card  # synthetic data only
    assert "not one of the course's corpora" in card
    assert "2 calibration, 2 dev, 4 test, 12 train (the dev speakers chose the kept epoch, the calibration " \
        "speakers fitted the calibration" in card and "on 2 calibration speakers' trials" in card
    # half-precision kernels: the file holds float16 matrices and float32 vectors
    with np.load(folder / WEIGHTS_NAME) as data:
        kinds = {data[k].dtype for k in data.files}
    assert kinds == {np.dtype("float16"), np.dtype("float32")}


def test_a_resumed_pretrain_keeps_the_split_it_was_made_with(built):
    root, _ = built
    with pytest.raises(SplitError, match="made with a calibration part, and this call asks for none"):
        pretrain("librispeech", root / "corpus", root / "unused", work=root / "work", profile="smoke",
                 progress=False, calibration_fraction=0.0)
    assert not (root / "unused").exists()


def test_load_checks_every_file_and_gives_a_calibrated_encoder(built, tmp_path):
    root, manifest = built
    encoder = load(root / "encoder")
    assert encoder.calibration is not None and encoder.identity["sha256"] == manifest["files"][WEIGHTS_NAME]
    files = sorted((root / "corpus").rglob("*.flac"))
    result = encoder.verify(files[0], files[1])
    assert result.same_speaker == (result.llr >= result.threshold)
    tampered = tmp_path / "tampered"
    shutil.copytree(root / "encoder", tampered)
    data = bytearray((tampered / WEIGHTS_NAME).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tampered / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(PretrainedModelError, match="SHA-256.*changed"):
        load(tampered)
    shutil.copyfile(root / "encoder" / WEIGHTS_NAME, tampered / WEIGHTS_NAME)
    (tampered / "calibration.json").unlink()
    with pytest.raises(PretrainedModelError, match="calibration.json"):
        load(tampered)
    with pytest.raises(PretrainedModelError, match="pretrain"):
        load(tmp_path / "nothing")


def test_the_command_line_uses_the_pretrained_encoder_by_default(built, monkeypatch, capsys):
    root, _ = built
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root / "encoder")
    files = sorted((root / "corpus").rglob("*.flac"))
    assert main(["verify", str(files[0]), str(files[1]), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"]["name"] == "seresnet-corpus"
    # the word the commands use, e.g. speakerlib export --format onnx pretrained --out FILE
    assert main(["verify", str(files[0]), str(files[1]), "--model", "pretrained", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == answer
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root / "missing")
    assert main(["verify", str(files[0]), str(files[1])]) == 2
    assert "expected a pretrained encoder" in capsys.readouterr().err


def test_export_names_the_pretrained_encoder_by_its_word(built, monkeypatch, tmp_path, capsys):
    pytest.importorskip("tf2onnx")
    root, manifest = built
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root / "encoder")
    assert main(["export", "--format", "onnx", "pretrained", "--out", str(tmp_path / "e.onnx")]) == 0
    assert "seresnet-corpus exported" in capsys.readouterr().out
    front_end = json.loads((tmp_path / "e.onnx.json").read_text())
    assert front_end["identity"]["sha256"] == manifest["files"][WEIGHTS_NAME]
    # a run folder called pretrained is still reachable as ./pretrained, and a missing one is named
    monkeypatch.chdir(tmp_path)
    assert main(["export", "./pretrained", "--out", str(tmp_path / "f.onnx")]) == 2
    assert "pretrained" in capsys.readouterr().err and not (tmp_path / "f.onnx").exists()


def test_the_shipped_encoder_loads_or_its_absence_is_stated():
    if (pretrained.PRETRAINED_DIR / MANIFEST_NAME).is_file():
        encoder = load()
        assert encoder.calibration is not None and (pretrained.PRETRAINED_DIR / CARD_NAME).is_file()
        size = sum(p.stat().st_size for p in pretrained.PRETRAINED_DIR.iterdir())
        assert size < 10.5e6  # "at most about 10 MB" of package data
    else:
        with pytest.raises(PretrainedModelError, match="Reinstall speakerlib"):
            load()
