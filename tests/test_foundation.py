"""The foundation every stage shares: errors, registry, seeds, atomic writes, the experiment layout."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from speakerlib import _io, errors, registry, seeds
from speakerlib.cli import EXIT_ERROR, main
from speakerlib.paths import Layout, experiment


# --------------------------------------------------------------------------- errors
def test_every_exception_is_listed_and_derives_from_the_base():
    classes = {name for name, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__}
    assert classes == set(errors.__all__)
    for name in classes:
        assert issubclass(getattr(errors, name), errors.SpeakerlibError), name


def test_settings_errors_are_also_the_builtin_a_caller_expects():
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.ConfigTypeError, TypeError) and issubclass(errors.ConfigTypeError, ValueError)
    assert issubclass(errors.UnknownNameError, KeyError)
    assert issubclass(errors.UnknownModelError, errors.UnknownNameError)
    assert issubclass(errors.ModelConfigError, errors.ConfigError)
    assert issubclass(errors.UnknownUtteranceError, KeyError)
    assert issubclass(errors.EvaluationError, ValueError)
    # A KeyError would print its message in quotes; these print it as written.
    assert str(errors.UnknownNameError("unknown model 'x'; valid: a, b")) == "unknown model 'x'; valid: a, b"


# --------------------------------------------------------------------------- registry
def test_registry_names_are_checked_and_listed():
    assert registry.check_name("model", "seresnet", registry.MODELS) == "seresnet"
    with pytest.raises(errors.UnknownNameError, match="unknown recipe 'fancy'; valid: reference, improved"):
        registry.check_name("recipe", "fancy", registry.RECIPES)
    with pytest.raises(KeyError):
        registry.check_name("profile", 3, registry.PROFILES)
    assert set(registry.CORPUS_READERS) < set(registry.CORPORA) and "synthetic" in registry.CORPORA


def test_each_registered_list_matches_the_objects_behind_it():
    from speakerlib.data.corpora import CORPUS_KINDS
    from speakerlib.evaluation.run import DESCRIPTIONS, PROTOCOLS
    from speakerlib.features import FEATURE_KINDS, NORMALIZE_MODES
    from speakerlib.models import MODEL_NAMES
    from speakerlib.train import PROFILES, RECIPES

    assert MODEL_NAMES == registry.MODELS and tuple(RECIPES) == registry.RECIPES
    assert tuple(PROFILES) == registry.PROFILES and FEATURE_KINDS == registry.FEATURE_KINDS
    assert NORMALIZE_MODES == registry.NORMALIZE_MODES and CORPUS_KINDS == registry.CORPUS_READERS
    assert PROTOCOLS == registry.PROTOCOLS and tuple(DESCRIPTIONS) == registry.PROTOCOLS


# --------------------------------------------------------------------------- seeds
def test_streams_are_numpy_generators_seeded_by_seed_keys_and_salt():
    for stream, salt in seeds.STREAMS.items():
        expected = np.random.default_rng([5, 2] + ([] if salt is None else [salt])).integers(0, 10**9, 4)
        np.testing.assert_array_equal(seeds.rng(5, stream, 2).integers(0, 10**9, 4), expected)
    # A stream without a salt is the seed alone, as the split and the SV bootstrap always drew.
    np.testing.assert_array_equal(seeds.rng(7, "sv.bootstrap").permutation(9),
                                  np.random.default_rng(7).permutation(9))
    a = seeds.rng(0, "train.batches", 1).permutation(50)
    b = seeds.rng(0, "train.crops", 1).permutation(50)
    assert not np.array_equal(a, b)  # two uses of one seed and key draw different numbers
    with pytest.raises(errors.UnknownNameError, match="train.batches"):
        seeds.rng(0, "train.batch")


# --------------------------------------------------------------------------- atomic writes
def test_atomic_path_replaces_only_a_complete_file(tmp_path):
    target = tmp_path / "sub" / "config.json"
    _io.write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(RuntimeError):
        with _io.atomic_path(target) as tmp:
            assert tmp.name == ".config.part.json"
            tmp.write_text('{"a": ')  # half a file, then a crash
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.json"]
    assert _io.part_path(tmp_path / "last.keras").name == ".last.part.keras"


def test_describe_difference_names_every_nested_setting():
    lines = _io.describe_difference({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 4}, "e": 5},
                                    where="run folder")
    assert lines == ["b.c: run folder has 2, asked for 4", "b.d: run folder has 3, asked for None",
                     "e: run folder has None, asked for 5"]


# --------------------------------------------------------------------------- paths
def test_the_experiment_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEAKERLIB_DATA", str(tmp_path))
    layout = experiment("synthetic", "cpu")
    assert layout == Layout(tmp_path / "experiments" / "synthetic-cpu")
    assert layout.store == layout.root / "store" and layout.manifest.name == "manifest.csv"
    assert layout.run("seresnet", "improved") == layout.root / "runs" / "seresnet-improved"
    assert layout.embeddings("seresnet", "improved").name == "seresnet-improved.npz"
    assert layout.evaluation("seresnet", "improved", "sv") == layout.root / "eval" / "seresnet-improved" / "sv"
    assert layout.results.name == "results.json" and layout.results_table.name == "results.csv"


# --------------------------------------------------------------------------- the exception policy at the command line
def test_a_bad_setting_on_the_command_line_is_a_message_and_exit_code_2(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("utt_id,path\na,a.wav\n")
    code = main(["prepare", "--manifest", str(manifest), "--out", str(tmp_path / "s"), "--length-s", "0.001",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR == 2
    assert "PrepareConfig.length_s" in err and "Traceback" not in err
