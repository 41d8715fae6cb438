"""The whole pipeline for one corpus in one call: read, split, prepare, train, embed, evaluate.

:func:`reproduce` is what the results chapter runs on each corpus::

    OUT/
      manifest.csv        the corpus's utterances with a speaker-disjoint split column
      store/              the reference features (speakerlib.prepare)
      runs/<model>-<recipe>/        one training run each (speakerlib.train)
      embeddings/<model>-<recipe>.npz   every utterance of the store, embedded
      eval/<model>-<recipe>/<protocol>/ metrics.json and figures (speakerlib.evaluation.run)
      results.json        one entry per model and recipe (below), plus the corpus and machine
      results.csv         the headline numbers, one row per model and recipe

Every step resumes: a finished store, run, embedding file or evaluation is
reused, so an interrupted call continues where it stopped when made again.

The protocols evaluated on the *test* speakers for every model and recipe:
the seed's SI (``si-reference``), the corrected SI (``si``, with gender and
age groups when the corpus has them), the seed's membership "SV"
(``sv-reference``, half of the test speakers enrolled when there are fewer
than 40 of them) and pairwise SV (``sv``, threshold from the dev speakers).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["reproduce", "headline_table", "CORPORA", "HEADLINE"]

CORPORA = ("synthetic", "librispeech", "timit", "kaldi", "folder")
PROTOCOLS = ("si-reference", "si", "sv-reference", "sv")

#: The columns of ``results.csv``: (column, protocol, metric key).
HEADLINE = (
    ("SI acc (seed protocol)", "si-reference", "accuracy"),
    ("SI top-1", "si", "top1_accuracy"),
    ("SI top-5", "si", "top5_accuracy"),
    ("SV EER", "sv", "eer"),
    ("SV minDCF 0.01", "sv", "min_dcf_0.01"),
    ("SV minDCF 0.05", "sv", "min_dcf_0.05"),
    ("seed 'SV' EER", "sv-reference", "eer"),
    ("seed 'SV' acc", "sv-reference", "acc"),
)


def _write_json(path: Path, record: dict) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def _manifest(corpus: str, root: Path, out: Path, seed: int, progress: bool,
              fractions: tuple[float, float, float]) -> pd.DataFrame:
    from speakerlib.data.corpora import read_corpus
    from speakerlib.data.manifest import read_manifest, write_manifest
    from speakerlib.data.splits import corpus_split

    target = out / "manifest.csv"
    if target.is_file():
        return read_manifest(target)
    if corpus == "synthetic":
        from speakerlib.data.synth import SynthConfig, generate_corpus

        manifest = generate_corpus(root, SynthConfig(seed=seed), progress=progress, jobs=2)
    else:
        manifest, _ = read_corpus(corpus, root, progress=progress)
    manifest = corpus_split(manifest, seed=seed, fractions=fractions)
    write_manifest(manifest, target)
    return read_manifest(target)


def reproduce(
    corpus: str,
    root: str | Path,
    out: str | Path,
    *,
    profile: str = "cpu",
    models: tuple[str, ...] | None = None,
    recipes: tuple[str, ...] = ("reference", "improved"),
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    jobs: int = 2,
    bootstrap: int = 1000,
    progress: bool = True,
) -> dict:
    """Run the whole pipeline on one corpus and write ``results.json``.

    Parameters
    ----------
    corpus : {"synthetic", "librispeech", "timit", "kaldi", "folder"}
        The layout of ``root`` (``synthetic``: generate the default corpus there if missing).
    root : str or Path
        The corpus folder.
    out : str or Path
        The output folder (see the module docstring).
    profile : {"smoke", "cpu", "gpu"}
    models : tuple of str, optional
        Default: every model in :data:`speakerlib.models.MODEL_NAMES`.
    recipes : tuple of str
    seed : int
        The split, the training and the evaluation seed.
    fractions : (train, dev, test)
        Speaker fractions of the split for a corpus without its own train/test
        partition (TIMIT keeps its own; see :func:`speakerlib.data.splits.corpus_split`).
        The manifest is split once: a resumed call reuses ``manifest.csv``.
    jobs : int
        Worker processes for preprocessing.
    bootstrap : int
        Bootstrap resamples for the confidence intervals.

    Returns
    -------
    dict
        ``results.json``: ``corpus``, ``root``, ``profile``, ``seed``,
        ``hardware``, ``split`` (speakers and utterances per part), and
        ``runs``: one entry per model and recipe with ``model``, ``recipe``,
        ``parameters``, ``width``, ``epochs``, ``best_epoch``, ``train_minutes``,
        ``train_samples_per_s``, ``dev_eer``, ``val_accuracy`` (closed-set,
        held-out utterances of the training speakers) and ``protocols``
        (each protocol's ``metrics.json``).

    Raises
    ------
    KeyError
        Unknown corpus, model, recipe or profile.
    SpeakerlibError
        Any step's error (unreadable corpus, too few speakers, ...).
    """
    from speakerlib.embed import embed_store
    from speakerlib.evaluation.embeddings import load_embeddings, save_embeddings
    from speakerlib.evaluation.run import evaluate
    from speakerlib.models import MODEL_NAMES, build_embedding_model, count_parameters
    from speakerlib.prepare import load_store, prepare
    from speakerlib.train import PROFILES, train

    if corpus not in CORPORA:
        raise KeyError(f"unknown corpus {corpus!r}; valid: {list(CORPORA)}")
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; valid: {sorted(PROFILES)}")
    models = tuple(models or MODEL_NAMES)
    root, out = Path(root).expanduser().absolute(), Path(out).expanduser().absolute()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    manifest = _manifest(corpus, root, out, seed, progress, tuple(fractions))
    summary = prepare(manifest, out / "store", jobs=jobs, progress=progress)
    store = load_store(summary.store)
    index = store.index.copy()
    split_table = index.groupby("split").agg(speakers=("speaker", "nunique"), utterances=("utt_id", "size"))
    if store.rejects is not None and len(store.rejects):
        print(f"{len(store.rejects)} utterances rejected by preprocessing: {store.path / 'rejects.csv'}")
    n_test_speakers = int(index.loc[index["split"] == "test", "speaker"].nunique())
    n_enrolled = 20 if n_test_speakers >= 40 else max(1, n_test_speakers // 2)

    runs = []
    for model in models:
        for recipe in recipes:
            name = f"{model}-{recipe}"
            result = train(store, out / "runs" / name, model=model, recipe=recipe, profile=profile,
                           seed=seed, progress=progress)
            emb_path = out / "embeddings" / f"{name}.npz"
            if not emb_path.is_file():
                emb_path.parent.mkdir(parents=True, exist_ok=True)
                ids, X = embed_store(result.run_dir, store, progress=False)
                save_embeddings(emb_path, ids, X)
            ids, X = load_embeddings(emb_path)
            protocols = {}
            for protocol in PROTOCOLS:
                folder = out / "eval" / name / protocol
                if (folder / "metrics.json").is_file():
                    protocols[protocol] = json.loads((folder / "metrics.json").read_text())
                    continue
                protocols[protocol] = evaluate((ids, X), index, protocol, folder, seed=seed,
                                               n_enrolled=n_enrolled, bootstrap=bootstrap)
            best = result.best()
            width = PROFILES[profile].width_for(model)
            pooling = None if model == "deepspeaker" else result.config["recipe"]["pooling"]
            params = count_parameters(build_embedding_model(
                model, (None, int(result.config["input_bins"]), 1), width=width, pooling=pooling))
            runs.append({
                "model": model,
                "recipe": recipe,
                "parameters": int(params),
                "width": width,
                "epochs": best["epochs"],
                "best_epoch": best["best epoch"],
                "train_minutes": best["minutes"],
                "train_samples_per_s": best["samples/s"],
                "dev_eer": best["dev EER"],
                "val_accuracy": best["val accuracy"],
                "protocols": protocols,
            })
            if progress:
                sv = protocols["sv"]
                print(f"{corpus} {name}: SI top-1 {protocols['si']['top1_accuracy']:.3f}, "
                      f"SV EER {sv['eer']:.3f}, minDCF0.01 {sv['min_dcf_0.01']:.3f}")

    import tensorflow as tf

    record = {
        "corpus": corpus,
        "root": str(root),
        "profile": profile,
        "seed": seed,
        "split_fractions": list(fractions),
        "hardware": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
            "tensorflow": tf.__version__,
        },
        "split": {part: {k: int(v) for k, v in row.items()} for part, row in split_table.iterrows()},
        "rejected": int(len(store.rejects)) if store.rejects is not None else 0,
        "sv_reference_enrolled_speakers": n_enrolled,
        "minutes": (time.perf_counter() - started) / 60,
        "runs": runs,
    }
    _write_json(out / "results.json", record)
    headline_table(record).to_csv(out / "results.csv")
    return record


def headline_table(record: dict) -> pd.DataFrame:
    """``results.csv``: one row per model and recipe, the headline metrics as columns."""
    rows = []
    for run in record["runs"]:
        row = {"model": run["model"], "recipe": run["recipe"], "parameters": run["parameters"],
               "dev EER": run["dev_eer"], "train minutes": run["train_minutes"]}
        for column, protocol, key in HEADLINE:
            row[column] = run["protocols"].get(protocol, {}).get(key)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "recipe"])

