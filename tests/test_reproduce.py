"""speakerlib reproduce: the whole pipeline on a small corpus, resumable, results.json complete."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from speakerlib.cli import main  # noqa: E402
from speakerlib.evaluation.results import HEADLINE  # noqa: E402
from speakerlib.paths import Layout  # noqa: E402
from speakerlib.reproduce import reproduce, transfer  # noqa: E402


@pytest.fixture(scope="module")
def reproduced(synthetic_store, tmp_path_factory):
    _, store = synthetic_store
    corpus = store.parent / "corpus"
    out = tmp_path_factory.mktemp("reproduce") / "out"
    record = reproduce("librispeech", corpus, out, profile="smoke", models=("seresnet",), bootstrap=50,
                       progress=False)
    return corpus, out, record


def test_results_cover_every_recipe_and_protocol(reproduced):
    _, out, record = reproduced
    assert json.loads((out / "results.json").read_text()) == record
    assert [(r["model"], r["recipe"]) for r in record["runs"]] == [("seresnet", "reference"),
                                                                    ("seresnet", "improved"),
                                                                    ("seresnet", "modern"),
                                                                    ("seresnet", "modern_noaug")]
    split = record["split"]
    assert set(split) == {"train", "dev", "test"}
    assert sum(p["speakers"] for p in split.values()) == 12
    for run in record["runs"]:
        assert set(run["protocols"]) == {"si-reference", "si", "sv-reference", "sv"}
        sv = run["protocols"]["sv"]
        assert 0 <= sv["eer"] <= 1 and sv["n_target"] > 0 and "ci95" in sv
        assert run["protocols"]["si"]["n_speakers"] == split["test"]["speakers"]
        assert run["parameters"] > 0 and run["train_minutes"] > 0
        assert 1 <= run["best_epoch"] <= run["epochs"], run  # an epoch of the whole run, fine-tune included
        for protocol in run["protocols"]:
            assert (out / "eval" / f"seresnet-{run['recipe']}" / protocol / "metrics.json").is_file()
    assert (out / "eval" / "seresnet-improved" / "sv" / "det.png").is_file()
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns[-len(HEADLINE):]) == [column for column, _, _ in HEADLINE]
    assert len(table) == len(record["runs"]) + len(record["systems"])


def test_the_classical_system_and_the_fusion_are_scored_on_the_same_trials(reproduced):
    _, out, record = reproduced
    names = [system["name"] for system in record["systems"]]
    assert names[0] == "mfcc-lda" and names[1].endswith("+ mfcc-lda")
    fusion = record["systems"][1]
    assert sum(fusion["weights"]) == pytest.approx(1.0) and len(fusion["parts"]) == 2
    best = min(record["runs"], key=lambda run: run["protocols"]["sv"]["dev_eer"])
    assert fusion["parts"][0] == f"{best['model']}-{best['recipe']}"  # the run chosen on dev
    trials = {}
    for folder in ("seresnet-reference", "mfcc-lda", "fusion-best"):
        scored = pd.read_csv(out / "eval" / folder / "sv" / "trials_scored.csv")
        trials[folder] = scored[["label", "enrol", "test"]]
        assert (out / "eval" / folder / "si" / "metrics.json").is_file()
    assert trials["mfcc-lda"].equals(trials["seresnet-reference"]) and trials["fusion-best"].equals(trials["mfcc-lda"])


def test_split_fractions_are_used_and_recorded(reproduced, tmp_path):
    from speakerlib.reproduce import _manifest

    corpus, _, record = reproduced
    assert record["split_fractions"] == [0.6, 0.2, 0.2]
    manifest = _manifest("librispeech", corpus, Layout(tmp_path), 0, False, (0.4, 0.2, 0.4))
    speakers = manifest.groupby("split")["speaker"].nunique()
    assert speakers.sum() == 12 and speakers["test"] > record["split"]["test"]["speakers"]
    assert (tmp_path / "manifest.csv").is_file()


def test_a_second_call_reuses_everything(reproduced):
    corpus, out, record = reproduced
    weights = out / "runs" / "seresnet-reference" / "embedding.keras"
    before = weights.stat().st_mtime_ns
    again = reproduce("librispeech", corpus, out, profile="smoke", models=("seresnet",), bootstrap=50,
                      progress=False)
    assert weights.stat().st_mtime_ns == before
    assert [r["protocols"] for r in again["runs"]] == [r["protocols"] for r in record["runs"]]


def test_reproduce_command_and_errors(reproduced, tmp_path, capsys):
    corpus, out, _ = reproduced
    code = main(["reproduce", "--corpus", "librispeech", "--root", str(corpus), "--profile", "smoke",
                 "--out", str(out), "--models", "seresnet", "--bootstrap", "50", "--quiet"])
    assert code == 0
    assert "SV EER" in capsys.readouterr().out
    with pytest.raises(KeyError, match="valid"):
        reproduce("voxceleb", corpus, tmp_path)
    assert main(["reproduce", "--corpus", "timit", "--root", str(tmp_path / "none"), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2


def test_transfer_evaluates_every_speaker_of_another_corpus_without_training(reproduced, tmp_path):
    from speakerlib.errors import TrainingError
    from speakerlib.evaluation.embeddings import load_embeddings

    corpus, out, record = reproduced
    weights = out / "runs" / "seresnet-improved" / "embedding.keras"
    before = weights.stat().st_mtime_ns
    moved = transfer(out, "librispeech", corpus, tmp_path / "t", bootstrap=50, progress=False)
    assert weights.stat().st_mtime_ns == before  # nothing trained
    assert moved["trained_on"]["corpus"] == "librispeech"
    manifest = pd.read_csv(tmp_path / "t" / "manifest.csv")
    speakers = manifest.groupby("split")["speaker"].nunique()
    assert set(speakers.index) == {"dev", "test"} and speakers.sum() == 12 and speakers["dev"] >= 2
    assert {k: v["speakers"] for k, v in moved["split"].items()} == speakers.to_dict()
    for run, trained in zip(moved["runs"], record["runs"]):
        assert (run["model"], run["recipe"], run["dev_eer"]) == (trained["model"], trained["recipe"],
                                                                 trained["dev_eer"])
        # every utterance of the corpus, every speaker an evaluation speaker
        ids, X = load_embeddings(tmp_path / "t" / "embeddings" / f"seresnet-{run['recipe']}.npz")
        assert len(ids) == len(manifest) - moved["rejected"] and X.shape[1] == 512
        assert run["protocols"]["si"]["n_speakers"] == speakers["test"]
        assert run["protocols"]["sv"]["speakers"] == speakers["test"]
        assert run["protocols"]["sv"]["n_dev_target"] > 0 and "test_hter_at_dev_threshold" in run["protocols"]["sv"]
    assert json.loads((tmp_path / "t" / "results.json").read_text()) == moved
    with pytest.raises(TrainingError, match="results.json"):
        transfer(tmp_path / "nothing", "librispeech", corpus, tmp_path / "t2")
    assert main(["transfer", "--from", str(out), "--corpus", "librispeech", "--root", str(corpus),
                 "--out", str(tmp_path / "t"), "--bootstrap", "50", "--quiet"]) == 0
