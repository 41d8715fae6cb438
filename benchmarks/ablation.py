"""What each ingredient of a recipe buys: one change at a time, measured on dev speakers only.

Usage (from the project root)::

    # the improved recipe on the reference's 3-s features (a features store)
    python benchmarks/ablation.py --features data/experiments/speechocean762-cpu/store --model resnet34
    # the modern recipe on whole utterances (a store of audio)
    python benchmarks/ablation.py --features data/experiments/speechocean762-laptop/audio-store \\
        --model ecapa --recipe modern --profile cpu

Trains ``--model`` once per variant below at ``--profile``, each a single
change from the recipe (or, for the improved recipe, back to the reference's
parts), and records the kept epoch's dev EER and dev SI accuracy (development
speakers only: the test speakers are not touched). A recipe with a
large-margin stage is measured after it. For the modern recipe two more rows
score the full recipe's kept model differently: with AS-norm against the
training speakers (top 100), and from one 3-s crop instead of the whole
utterance. Runs go to ``--runs`` (resumable: a finished variant is not
trained again; the recipes' own runs are reused from the experiment folder
the store is in, where ``speakerlib reproduce`` puts them:
:class:`speakerlib.paths.Layout`) and the table to
``benchmarks/results/ablation-<model>[-<recipe>].json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def variants(recipe_name: str) -> dict:
    """Label -> Recipe: the recipe, and the recipe with one part changed."""
    from speakerlib.train import RECIPES

    reference, improved, modern = RECIPES["reference"], RECIPES["improved"], RECIPES["modern"]
    if recipe_name == "improved":
        return {
            "reference": reference,
            "improved": improved,
            "improved, model's own pooling": dataclasses.replace(improved, name="improved_ownpool", pooling=None),
            "improved, no SpecAugment": dataclasses.replace(improved, name="improved_nospec", spec_augment=False),
            "improved, fixed 3-s crop": dataclasses.replace(improved, name="improved_fixedcrop", crop="fixed",
                                                            crop_frames=None),
            "improved, softmax + SGD": dataclasses.replace(
                improved, name="improved_softmax_sgd", loss="softmax", optimizer="sgd", learning_rate=0.01,
                schedule="constant", warmup_epochs=0),
            "reference + stats pooling": dataclasses.replace(reference, name="reference_stats", pooling="stats"),
        }
    if recipe_name == "modern_noaug":  # what suits the ResNets (the improved recipe's ablation: SpecAugment)
        noaug = RECIPES["modern_noaug"]
        return {
            "modern_noaug": noaug,
            "modern_noaug, no SpecAugment": dataclasses.replace(noaug, name="modern_noaug_nospec", spec_augment=False),
        }
    if recipe_name == "modern_noaug_parts":  # the adapted recipe with one part put back to the reference's
        noaug = RECIPES["modern_noaug"]
        return {
            "modern_noaug": noaug,
            "modern_noaug, softmax + SGD (the reference's loss and optimiser)": dataclasses.replace(
                noaug, name="modern_noaug_softmax_sgd", loss="softmax", optimizer="sgd", learning_rate=0.01,
                schedule="constant", warmup_epochs=0, margin_warmup_epochs=0, large_margin=None),
            "modern_noaug, model's own pooling": dataclasses.replace(noaug, name="modern_noaug_ownpool",
                                                                     pooling=None),
            "modern_noaug, 3-s windows": dataclasses.replace(
                noaug, name="modern_noaug_3s", crop_frames=300,
                large_margin=dataclasses.replace(noaug.large_margin, crop_frames=450)),
        }
    augmentation = modern.augmentation
    return {
        "modern": modern,
        "improved recipe, on whole utterances": dataclasses.replace(improved, name="improved_whole"),
        # the registered recipe, so the run `speakerlib reproduce` made of it is reused
        "modern, no augmentation (modern_noaug)": RECIPES["modern_noaug"],
        "modern, no noise or babble": dataclasses.replace(
            modern, name="modern_nonoise",
            augmentation=dataclasses.replace(augmentation, noise_probability=0.0, babble_probability=0.0)),
        "modern, no reverberation": dataclasses.replace(
            modern, name="modern_noreverb", augmentation=dataclasses.replace(augmentation, reverb_probability=0.0)),
        "modern, with speed perturbation (0.9, 1.1)": dataclasses.replace(
            modern, name="modern_speed", augmentation=dataclasses.replace(augmentation, speed_factors=(0.9, 1.0, 1.1))),
        "modern, no margin warm-up": dataclasses.replace(modern, name="modern_nowarmup", margin_warmup_epochs=0),
        "modern, no SpecAugment": dataclasses.replace(modern, name="modern_nospec", spec_augment=False),
        "modern, per-utterance normalisation": dataclasses.replace(modern, name="modern_uttnorm",
                                                                   normalize="per_utterance"),
    }


def _same_run(run_dir: Path, model: str, recipe, profile: str) -> bool:
    """Whether ``run_dir`` is a run of this recipe (all its settings, as the model trains with it) at this profile."""
    import json

    path = run_dir / "config.json"
    if not path.is_file():
        return False
    config = json.loads(path.read_text())
    return config["recipe"] == recipe.for_model(model).to_dict() and config["profile"]["name"] == profile


def _dev_eer_of(run_dir: Path, store, *, as_norm_top_k=None, crop_frames=None) -> dict:
    """Dev EER (on the dev speakers' balanced trial list) and dev SI accuracy of a finished run."""
    from speakerlib.embed import embed_store
    from speakerlib.evaluation.embeddings import align
    from speakerlib.evaluation.metrics import eer
    from speakerlib.evaluation.run import evaluate
    from speakerlib.evaluation.trials import make_trials
    from speakerlib.evaluation.verification import score_trials

    ids, X = embed_store(run_dir, store, num_crops=1 if crop_frames else None, crop_frames=crop_frames)
    index = store.index
    dev = index[index["split"] == "dev"].sort_values("utt_id", kind="stable").reset_index(drop=True)
    trials = make_trials(dev, seed=0)
    cohort = align(ids, X, index.loc[index["split"] == "train", "utt_id"].to_numpy()) if as_norm_top_k else None
    scores = score_trials(trials, ids, X, cohort=cohort, as_norm_top_k=as_norm_top_k)
    si = evaluate((ids, X), index, "si", None, split="dev", bootstrap=0, figures=False)
    return {"dev EER": eer(scores, trials["label"].to_numpy()), "dev SI accuracy": si["top1_accuracy"]}


def main() -> None:
    from speakerlib._io import write_json
    from speakerlib.models import MODEL_NAMES
    from speakerlib.paths import Layout
    from speakerlib.store import load_store
    from speakerlib.train import finetune_large_margin, train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", required=True, type=Path, help="a feature store (of audio for modern)")
    parser.add_argument("--model", choices=MODEL_NAMES, default="resnet34")
    parser.add_argument("--recipe", choices=["improved", "modern", "modern_noaug", "modern_noaug_parts"],
                        default="improved",
                        help="the recipe whose parts are varied (modern_noaug_parts: the adapted modern_noaug "
                             "with its loss and optimiser, pooling or window length put back to the reference's)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=None, help="run folders (default: beside the store)")
    parser.add_argument("--only", nargs="+", default=None, help="variant names to run (default: all)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    store = load_store(args.features)
    runs_root = args.runs or args.features.parent / "ablation"
    suffix = "" if args.recipe == "improved" else f"-{args.recipe}"
    out = args.out or PROJECT_ROOT / "benchmarks" / "results" / f"ablation-{args.model}{suffix}.json"
    main_recipe = "modern_noaug" if args.recipe == "modern_noaug_parts" else args.recipe
    rows, full = [], None
    for label, recipe in variants(args.recipe).items():
        if args.only and label not in args.only and recipe.name not in args.only:
            continue
        run_dir = runs_root / f"{args.model}-{recipe.name}"
        shared = Layout(args.features.parent).run(args.model, recipe.name)
        registered = recipe.name in ("reference", "improved", "modern", "modern_noaug")
        if registered and _same_run(shared, args.model, recipe, args.profile):
            run_dir = shared  # the run `speakerlib reproduce` made: same store, recipe and profile
        result = train(store, run_dir, model=args.model, recipe=recipe, profile=args.profile, seed=args.seed)
        if recipe.large_margin is not None:
            if recipe.name == main_recipe:  # the recipe without its last stage: the main stage's kept epoch
                best = result.best()
                rows.append({"variant": f"{label}, no large-margin stage", "recipe": recipe.to_dict(), **best})
                print(f"{rows[-1]['variant']:32s} dev EER {best['dev EER']:.3f}  "
                      f"dev SI {best['dev SI accuracy']:.3f}", flush=True)
            result = finetune_large_margin(result.run_dir)
        if recipe.name == main_recipe:
            full = result
        best = result.best()
        rows.append({"variant": label, "recipe": recipe.to_dict(), **best})
        print(f"{label:32s} dev EER {best['dev EER']:.3f}  dev SI {best['dev SI accuracy']:.3f}  "
              f"best epoch {best['best epoch']}/{best['epochs']}", flush=True)
    if args.recipe in ("modern", "modern_noaug") and full is not None:
        # Scored on the dev trial list (not the training's all-pairs sample): compare these three rows.
        for label, options in ((f"{args.recipe}, dev trials, whole utterances, cosine", {}),
                               (f"{args.recipe}, dev trials, scored with AS-norm (top 100)", {"as_norm_top_k": 100}),
                               (f"{args.recipe}, dev trials, one 3-s crop per utterance", {"crop_frames": 300})):
            scored = _dev_eer_of(full.run_dir, store, **options)
            rows.append({"variant": label, **scored})
            print(f"{label:32s} dev EER {scored['dev EER']:.3f}  dev SI {scored['dev SI accuracy']:.3f}", flush=True)
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "store": str(args.features),
        "model": args.model,
        "recipe": args.recipe,
        "profile": args.profile,
        "seed": args.seed,
        "speakers": {part: int(n) for part, n in store.index.groupby("split")["speaker"].nunique().items()},
        "variants": rows,
    }
    write_json(out, record, indent=1)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
