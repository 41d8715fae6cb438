"""benchmarks/ablation.py: every variant it trains is a valid recipe, one change from the recipe it varies."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

from speakerlib.models import MODEL_NAMES
from speakerlib.train import RECIPES, Recipe

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("ablation_benchmark", PROJECT_ROOT / "benchmarks" / "ablation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("recipe", ["improved", "modern", "modern_noaug", "modern_noaug_parts"])
def test_every_variant_is_a_recipe_of_its_own_name(ablation, recipe):
    variants = ablation.variants(recipe)
    names = [r.name for r in variants.values()]
    assert len(set(names)) == len(names)  # each trains in its own run folder
    for label, variant in variants.items():
        assert isinstance(variant, Recipe), label
        for model in MODEL_NAMES:
            Recipe.from_dict(variant.for_model(model).to_dict())  # what a run records reads back


def test_the_parts_of_the_adapted_recipe_differ_from_it_only_where_their_label_says(ablation):
    base = dataclasses.asdict(RECIPES["modern_noaug"])
    changed = {label: {k for k, v in dataclasses.asdict(r).items() if v != base[k]} - {"name"}
               for label, r in ablation.variants("modern_noaug_parts").items()}
    assert changed["modern_noaug"] == set()
    assert changed["modern_noaug, model's own pooling"] == {"pooling"}
    assert changed["modern_noaug, 3-s windows"] == {"crop_frames", "large_margin"}
    assert {"loss", "optimizer", "learning_rate"} <= changed[
        "modern_noaug, softmax + SGD (the reference's loss and optimiser)"]
