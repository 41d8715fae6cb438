"""Which part of the improved recipe helps or hurts a model: one change at a time, on dev speakers.

Usage (from the project root)::

    python benchmarks/ablation.py --features data/experiments/speechocean762-cpu/store --model resnet34

Trains ``--model`` at the ``cpu`` profile on a feature store once per variant
below, each a single change from the reference recipe or from the improved
one, and records the best dev EER and dev SI accuracy (development speakers
only: the test speakers are not touched). Runs go to ``--runs`` (resumable:
a finished variant is not trained again; the two recipes' own runs are
reused from the experiment folder the store is in, where ``speakerlib reproduce``
puts them: :class:`speakerlib.paths.Layout`) and the table to
``benchmarks/results/ablation-<model>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def variants() -> dict:
    """Name -> Recipe: the two recipes, and the improved one with one part put back to the reference."""
    from speakerlib.train import RECIPES

    reference, improved = RECIPES["reference"], RECIPES["improved"]
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


def main() -> None:
    from speakerlib.models import MODEL_NAMES
    from speakerlib.paths import Layout
    from speakerlib.store import load_store
    from speakerlib.train import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", required=True, type=Path, help="a feature store")
    parser.add_argument("--model", choices=MODEL_NAMES, default="resnet34")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=None, help="run folders (default: beside the store)")
    parser.add_argument("--only", nargs="+", default=None, help="variant names to run (default: all)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    store = load_store(args.features)
    runs_root = args.runs or args.features.parent / "ablation"
    out = args.out or PROJECT_ROOT / "benchmarks" / "results" / f"ablation-{args.model}.json"
    rows = []
    for label, recipe in variants().items():
        if args.only and label not in args.only and recipe.name not in args.only:
            continue
        run_dir = runs_root / f"{args.model}-{recipe.name}"
        shared = Layout(args.features.parent).run(args.model, recipe.name)
        if recipe.name in ("reference", "improved") and shared.is_dir():
            run_dir = shared  # the run `speakerlib reproduce` made: same store, recipe and profile
        result = train(store, run_dir, model=args.model, recipe=recipe,
                       profile=args.profile, seed=args.seed)
        best = result.best()
        rows.append({"variant": label, "recipe": dataclasses.asdict(recipe), **best})
        print(f"{label:32s} dev EER {best['dev EER']:.3f}  dev SI {best['dev SI accuracy']:.3f}  "
              f"best epoch {best['best epoch']}/{best['epochs']}", flush=True)
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "store": str(args.features),
        "model": args.model,
        "profile": args.profile,
        "seed": args.seed,
        "speakers": {part: int(n) for part, n in store.index.groupby("split")["speaker"].nunique().items()},
        "variants": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
