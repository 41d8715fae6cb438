"""The whole pipeline for one corpus in one call: read, split, prepare, train, embed, evaluate.

:func:`reproduce` is what the results chapter runs on each corpus. Its output
folder is an experiment :class:`~speakerlib.paths.Layout`, the same the
book's chapters use::

    OUT/
      manifest.csv        the corpus's utterances with a speaker-disjoint split column
      store/              the reference features (speakerlib.prepare)
      audio-store/        whole utterances' audio, for the recipes that train on it
      runs/<model>-<recipe>/        one training run each (speakerlib.train)
      embeddings/<model>-<recipe>.npz   every utterance of the store, embedded
      eval/<model>-<recipe>/<protocol>/ metrics.json and figures (speakerlib.evaluation.run)
      embeddings/mfcc-lda.npz, embeddings/fusion-best.npz   the classical system, and its fusion
      results.json        one entry per model and recipe (below), the systems, the corpus and machine
      results.csv         the headline numbers, one row per model and recipe
                          (speakerlib.evaluation.results.headline_table)

Every step resumes: a finished store, run, embedding file or evaluation is
reused, so an interrupted call continues where it stopped when made again.

:func:`transfer` takes the runs of one :func:`reproduce` folder to another
corpus, without training: every speaker of the new corpus is unseen, and so is
the corpus (its microphones, language and speaking style).

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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib._tensorflow import tf
from speakerlib import registry
from speakerlib._io import write_csv, write_json
from speakerlib.baseline import mfcc_lda, mfcc_stats_embeddings
from speakerlib.data.corpora import read_corpus
from speakerlib.data.manifest import combine_manifests, read_manifest, write_manifest
from speakerlib.data.splits import CALIBRATION, carve_part, corpus_split, speaker_split
from speakerlib.data.synth import SynthConfig, generate_corpus
from speakerlib.embed import embed_manifest, embed_store
from speakerlib.errors import SplitError, TrainingError
from speakerlib.evaluation.backend import fuse, fusion_weights, scores_of
from speakerlib.evaluation.embeddings import load_embeddings, save_embeddings
from speakerlib.evaluation.results import headline_table
from speakerlib.evaluation.run import evaluate
from speakerlib.evaluation.trials import make_trials
from speakerlib.models import build_embedding_model, count_parameters
from speakerlib.paths import Layout
from speakerlib.prepare import prepare
from speakerlib.store import load_store
from speakerlib.train import RECIPES, RunConfig, finetune_large_margin, load_run, train

__all__ = ["reproduce", "transfer"]


def _manifest(corpus: str, root: Path, layout: Layout, seed: int, progress: bool,
              fractions: tuple[float, float, float],
              also: Sequence[tuple[str, Path]] = (), calibration_fraction: float = 0.0) -> pd.DataFrame:
    """The experiment's split manifest: read back when it exists, else made (and written) once.

    The corpus is split by speaker (:func:`speakerlib.data.splits.corpus_split`),
    then ``calibration_fraction`` of its dev speakers become the ``calibration``
    part (:func:`speakerlib.data.splits.carve_part`); every speaker of the
    corpora in ``also`` trains, their ids prefixed with the corpus kind so that
    they stay apart from the corpus's.
    """
    if layout.manifest.is_file():
        manifest = read_manifest(layout.manifest)
        has_part = bool((manifest["split"] == CALIBRATION).any())
        if has_part != (calibration_fraction > 0):
            raise SplitError(
                f"{layout.manifest}: the experiment's split was made "
                + ("with" if has_part else "without") + f" a {CALIBRATION} part, and this call asks for "
                + (f"calibration_fraction={calibration_fraction:g}" if calibration_fraction else "none")
                + ". Resume it with the setting it was made with, or give a new output folder.",
                cli={"calibration_fraction=": "--calibration-fraction "})
        return manifest
    if corpus == "synthetic":
        manifest = generate_corpus(root, SynthConfig(seed=seed), progress=progress, jobs=2)
    else:
        manifest, _ = read_corpus(corpus, root, progress=progress)
    manifest = corpus_split(manifest, seed=seed, fractions=fractions)
    manifest = carve_part(manifest, fraction=calibration_fraction, source="dev", part=CALIBRATION, seed=seed,
                          stratify="gender" if "gender" in manifest.columns else None)
    if also:
        extra = {}
        for kind, folder in also:
            name = kind if kind not in extra else f"{kind}{len(extra)}"
            extra[name] = read_corpus(kind, folder, progress=progress)[0].assign(split="train")
        manifest = combine_manifests({corpus: manifest, **extra}, prefixed=list(extra))
    write_manifest(manifest, layout.manifest)
    return read_manifest(layout.manifest)


def reproduce(
    corpus: str,
    root: str | Path,
    out: str | Path,
    *,
    profile: str = "cpu",
    models: tuple[str, ...] | None = None,
    recipes: tuple[str, ...] = registry.RECIPES,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    jobs: int = 2,
    bootstrap: int = 1000,
    progress: bool = True,
    noise_dir: str | Path | None = None,
    rir_dir: str | Path | None = None,
    also: Sequence[tuple[str, str | Path]] = (),
    as_norm_top_k: int | None = None,
    calibration_fraction: float = 0.0,
) -> dict:
    """Run the whole pipeline on one corpus and write ``results.json``.

    Every recipe trains from the store its :meth:`~speakerlib.train.Recipe.store_config`
    names, and every run is evaluated on the same utterances (those of the
    reference feature store) and so on the same trials. A recipe with a
    large-margin stage is evaluated after it (:func:`speakerlib.train.finetune_large_margin`).

    Parameters
    ----------
    corpus : str
        One of :data:`speakerlib.registry.CORPORA`: the layout of ``root``
        (``synthetic``: generate the default corpus there if missing).
    root : str or Path
        The corpus folder.
    out : str or Path
        The output folder (see the module docstring).
    profile : str
        One of :data:`speakerlib.registry.PROFILES`.
    models : tuple of str, optional
        Default: every model in :data:`speakerlib.registry.MODELS`.
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
    noise_dir, rir_dir : str or Path, optional
        MUSAN and OpenSLR 28 folders for the recipes that augment the waveform
        (:func:`speakerlib.train.train`).
    also : sequence of (kind, folder)
        More corpora whose every speaker trains (never evaluated on), e.g.
        ``[("librispeech", "/data/LibriSpeech")]``; their speaker and utterance
        ids are prefixed with the kind. Fixed when the manifest is made.
    as_norm_top_k : int, optional
        Also score the pairwise trials with adaptive S-norm against the
        training speakers' embeddings (top k), as the protocol ``sv-as-norm``
        of every run (beside plain cosine ``sv``).
    calibration_fraction : float
        Share of the dev speakers kept apart as a ``calibration`` part, which
        neither trains nor chooses checkpoints or thresholds (for a score
        calibration fitted on speakers of its own, as
        :func:`speakerlib.pretrain.pretrain` does). Default 0: none. Fixed when
        the manifest is made.

    Returns
    -------
    dict
        ``results.json``: ``corpus``, ``root``, ``profile``, ``seed``,
        ``hardware``, ``split`` (speakers and utterances per part), and
        ``runs``: one entry per model and recipe with ``model``, ``recipe``,
        ``parameters``, ``width``, ``epochs``, ``best_epoch``, ``train_minutes``,
        ``train_samples_per_s``, ``dev_eer``, ``val_accuracy`` (closed-set,
        held-out utterances of the training speakers; null for a recipe that
        holds none out) and ``protocols``
        (each protocol's ``metrics.json``).

    Raises
    ------
    UnknownNameError
        (a KeyError) Unknown corpus, model, recipe or profile.
    SpeakerlibError
        Any step's error (unreadable corpus, too few speakers, ...).
    """
    registry.check_name("corpus", corpus, registry.CORPORA)
    registry.check_name("profile", profile, registry.PROFILES)
    models = tuple(models or registry.MODELS)
    for name in models:
        registry.check_name("model", name, registry.MODELS)
    for name in recipes:
        registry.check_name("recipe", name, registry.RECIPES)
    root = Path(root).expanduser().absolute()
    layout = Layout(Path(out))
    layout.root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    also = tuple((registry.check_name("corpus", kind, registry.CORPORA), Path(folder).expanduser().absolute())
                 for kind, folder in also)
    manifest = _manifest(corpus, root, layout, seed, progress, tuple(fractions), also, calibration_fraction)
    summary = prepare(manifest, layout.store, jobs=jobs, progress=progress)
    store = load_store(summary.store)
    index = store.index.copy()
    split_table = index.groupby("split").agg(speakers=("speaker", "nunique"), utterances=("utt_id", "size"))
    if store.rejects is not None and len(store.rejects):
        print(f"{len(store.rejects)} utterances rejected by preprocessing: {store.path / 'rejects.csv'}")
    n_enrolled = _n_enrolled(int(index.loc[index["split"] == "test", "speaker"].nunique()))

    stores = {"features": store}

    def store_for(recipe: str):
        config = RECIPES[recipe].store_config()
        if config.content not in stores:
            prepared = prepare(manifest, layout.audio_store, config=config, jobs=jobs, progress=progress)
            stores[config.content] = load_store(prepared.store)
        return stores[config.content]

    runs = []
    for model in models:
        for recipe in recipes:
            result = train(store_for(recipe), layout.run(model, recipe), model=model, recipe=recipe,
                           profile=profile, seed=seed, progress=progress, noise_dir=noise_dir, rir_dir=rir_dir)
            if RECIPES[recipe].large_margin is not None:
                result = finetune_large_margin(result.run_dir, progress=progress)
            emb_path = layout.embeddings(model, recipe)
            if not emb_path.is_file():
                save_embeddings(emb_path, *embed_store(result.run_dir, store_for(recipe), ids=store.ids,
                                                       progress=False), run_dir=result.run_dir)
            ids, X = load_embeddings(emb_path)
            protocols = _evaluate_all((ids, X), index, layout.evaluation(model, recipe), seed=seed,
                                      n_enrolled=n_enrolled, bootstrap=bootstrap, as_norm_top_k=as_norm_top_k,
                                      run_dir=result.run_dir)
            best = result.best()
            if result.config.stage == "large_margin":  # the whole run: its main stage and the fine-tune
                main_stage = load_run(result.config.base_run).best()
                # The fine-tune's epoch 0 is its starting point, the main stage's kept epoch; its
                # epoch k is epoch main + k of the whole run.
                kept = best["best epoch"]
                best = {**best, "epochs": main_stage["epochs"] + len(result.history) - 1,
                        "best epoch": main_stage["best epoch"] if kept == 0 else main_stage["epochs"] + kept,
                        "minutes": main_stage["minutes"] + best["minutes"], "samples/s": main_stage["samples/s"]}
            config = result.config
            width = config.width
            params = count_parameters(build_embedding_model(
                model, (None, config.input_bins, 1), width=width, pooling=config.pooling))
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
                # null where the recipe holds no utterances out (its val accuracy is NaN, which JSON lacks)
                "val_accuracy": None if np.isnan(best["val accuracy"]) else best["val accuracy"],
                "protocols": protocols,
            })
            if progress:
                sv = protocols["sv"]
                print(f"{corpus} {Layout.run_name(model, recipe)}: SI top-1 {protocols['si']['top1_accuracy']:.3f}, "
                      f"SV EER {sv['eer']:.3f}, minDCF0.01 {sv['min_dcf_0.01']:.3f}")

    systems = _systems(layout, manifest[manifest["utt_id"].astype(str).isin(set(store.ids))], runs,
                       seed=seed, n_enrolled=n_enrolled, bootstrap=bootstrap, as_norm_top_k=as_norm_top_k,
                       progress=progress)

    record = {
        "corpus": corpus,
        "root": str(root),
        "profile": profile,
        "seed": seed,
        "split_fractions": list(fractions),
        "calibration_fraction": calibration_fraction,
        "hardware": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
            "tensorflow": tf.__version__,
        },
        "split": {part: {k: int(v) for k, v in row.items()} for part, row in split_table.iterrows()},
        "also": [{"corpus": kind, "root": str(folder)} for kind, folder in also],
        "as_norm_top_k": as_norm_top_k,
        "rejected": int(len(store.rejects)) if store.rejects is not None else 0,
        "sv_reference_enrolled_speakers": n_enrolled,
        "minutes": (time.perf_counter() - started) / 60,
        "runs": runs,
        "systems": systems,
    }
    return _finish(layout, record)


def _systems(layout: Layout, manifest: pd.DataFrame, runs: list[dict], *, seed: int, progress: bool,
             **options) -> list[dict]:
    """The systems beside the runs: the classical MFCC + LDA one, and its fusion with the best run.

    The best run is the one with the lowest dev EER of the ``sv`` protocol
    (chosen on dev speakers); the fusion weights come from the dev speakers'
    trials (:func:`speakerlib.evaluation.backend.fusion_weights`). Nothing
    here sees the test speakers' labels.
    """
    split = set(manifest["split"].astype(str))
    if not {"train", "dev"} <= split or manifest.loc[manifest["split"] == "dev", "speaker"].nunique() < 2:
        return []
    stats_path = layout.embeddings("mfcc", "stats")
    if not stats_path.is_file():  # the statistics need no labels: computed once, reused when resumed
        save_embeddings(stats_path, *mfcc_stats_embeddings(manifest, include_c0=True, progress=progress))
    stats = load_embeddings(stats_path)
    classical = mfcc_lda(manifest, seed=seed, embeddings=stats)
    ids = classical["ids"]
    classical_path = layout.embeddings("mfcc", "lda")
    save_embeddings(classical_path, ids, classical["embeddings"])
    systems = [{
        "name": "mfcc-lda", "description": "20 MFCCs (with c0): mean and deviation per utterance, "
        f"z-normalised over the corpus, LDA to {classical['dims']} directions fitted on the training speakers "
        "(the number chosen on dev EER); cosine",
        "dims": classical["dims"], "dev_eer_by_dims": {str(k): v for k, v in classical["dev_eer_by_dims"].items()},
        "protocols": _evaluate_all((ids, classical["embeddings"]), manifest, layout.evaluation("mfcc", "lda"),
                                   seed=seed, **options),
    }]
    if runs:
        best = min(runs, key=lambda run: run["protocols"]["sv"]["dev_eer"])
        name = Layout.run_name(best["model"], best["recipe"])
        parts = {name: load_embeddings(layout.embeddings(best["model"], best["recipe"])),
                 "mfcc-lda": (ids, classical["embeddings"])}
        dev = manifest[manifest["split"] == "dev"].sort_values("utt_id", kind="stable").reset_index(drop=True)
        trials = make_trials(dev, seed=seed)
        weights = fusion_weights(scores_of(trials, parts), trials["label"].to_numpy())
        fused = fuse(list(parts.values()), weights, ids)
        save_embeddings(layout.embeddings("fusion", "best"), ids, fused)
        systems.append({
            "name": f"{name} + mfcc-lda", "parts": list(parts),
            "weights": [float(w) for w in weights],
            "description": f"linear fusion of {name} (the run with the lowest dev EER) and mfcc-lda, "
            "weights from a logistic regression on the dev speakers' trials; one fused embedding per "
            "utterance whose cosine is the weighted sum of the two cosines",
            "protocols": _evaluate_all((ids, fused), manifest, layout.evaluation("fusion", "best"),
                                       seed=seed, **options),
        })
    if progress:
        for system in systems:
            sv = system["protocols"]["sv"]
            print(f"{system['name']}: SI top-1 {system['protocols']['si']['top1_accuracy']:.3f}, "
                  f"SV EER {sv['eer']:.3f}, minDCF0.01 {sv['min_dcf_0.01']:.3f}")
    return systems


def _n_enrolled(n_test_speakers: int) -> int:
    """Speakers enrolled by the seed's membership "SV": its 20, or half of a smaller test set."""
    return 20 if n_test_speakers >= 40 else max(1, n_test_speakers // 2)


def _evaluate_all(embeddings, manifest: pd.DataFrame, folder: Path, *, as_norm_top_k: int | None = None,
                  n_enrolled: int | None = None, **options) -> dict:
    """Every protocol of :data:`speakerlib.registry.PROTOCOLS` into ``folder/<protocol>/`` (and ``sv`` with
    AS-norm as ``sv-as-norm`` when ``as_norm_top_k`` is given); a finished one is read back. ``n_enrolled``
    goes to sv-reference only (evaluate refuses a setting given to a protocol that does not use it)."""
    jobs = [(p, p, {"n_enrolled": n_enrolled} if p == "sv-reference" else {}) for p in registry.PROTOCOLS]
    if as_norm_top_k:
        jobs.append(("sv-as-norm", "sv", {"as_norm_top_k": as_norm_top_k}))
    protocols = {}
    for name, protocol, extra in jobs:
        done = folder / name / "metrics.json"
        protocols[name] = (json.loads(done.read_text()) if done.is_file()
                           else evaluate(embeddings, manifest, protocol, folder / name, **options, **extra))
    return protocols


def _finish(layout: Layout, record: dict) -> dict:
    """Write ``results.json`` and ``results.csv`` (atomically); return the record."""
    write_json(layout.results, record, indent=1)
    write_csv(layout.results_table, headline_table(record), index=True)
    return record


def transfer(
    source: str | Path,
    corpus: str,
    root: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    dev_fraction: float = 0.25,
    jobs: int = 2,
    bootstrap: int = 1000,
    progress: bool = True,
) -> dict:
    """Evaluate the trained runs of a :func:`reproduce` folder on another corpus.

    Every utterance of ``root`` is embedded by each run (through the run's own
    preprocessing); nothing is trained. The new corpus's speakers, all unseen,
    are split by speaker (balanced by gender) into ``dev_fraction``
    development speakers, on whose trials the SV decision threshold is
    chosen, and test speakers, on whom the protocols of :func:`reproduce` run.

    Parameters
    ----------
    source : str or Path
        A finished :func:`reproduce` output folder (``results.json`` and ``runs/``).
    corpus : str
        One of :data:`speakerlib.registry.CORPORA`: the layout of ``root``.
    root : str or Path
        The corpus to evaluate on.
    out : str or Path
        The output folder: ``manifest.csv``, ``stores/``, ``embeddings/``,
        ``eval/<model>-<recipe>/<protocol>/`` and ``results.json`` (the same
        format as :func:`reproduce`'s, with ``trained_on`` naming the source
        and ``split`` counting the dev and test speakers). Resumable.
    seed : int
        Split, enrolment, trial and bootstrap seed.
    dev_fraction : float
        The share of the new corpus's speakers that choose the SV threshold.
    jobs : int
        Worker processes for preprocessing.
    bootstrap : int
        Bootstrap resamples for the intervals.

    Returns
    -------
    dict
        ``results.json``.

    Raises
    ------
    UnknownNameError
        (a KeyError) Unknown corpus.
    TrainingError
        ``source`` holds no finished :func:`reproduce` results.
    """
    registry.check_name("corpus", corpus, registry.CORPORA)
    source, root = Layout(Path(source)), Path(root).expanduser().absolute()
    layout = Layout(Path(out))
    results = source.results
    if not results.is_file():
        raise TrainingError(
            f"{source.root}: expected the output folder of a finished `speakerlib reproduce` (with "
            "results.json), found no results.json. Run reproduce first, or point at its --out folder."
        )
    trained = json.loads(results.read_text())
    layout.root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    if not layout.manifest.is_file():
        manifest, _ = read_corpus(corpus, root, progress=progress)
        # Every speaker is unseen; a few of them choose the SV threshold.
        manifest = speaker_split(manifest, fractions=(0.0, dev_fraction, 1.0 - dev_fraction), seed=seed)
        write_manifest(manifest, layout.manifest)
    manifest = read_manifest(layout.manifest)
    n_enrolled = _n_enrolled(int(manifest.loc[manifest["split"] == "test", "speaker"].nunique()))

    runs, embedded = [], set()
    for trained_run in trained["runs"]:
        model, recipe = trained_run["model"], trained_run["recipe"]
        run_dir = source.run(model, recipe)
        # Runs prepared the same way share one store of the new corpus's features.
        store_id = RunConfig.read(run_dir).store_config.store_id()
        emb_path = layout.embeddings(model, recipe)
        if not emb_path.is_file():
            embed_manifest(run_dir, manifest, emb_path, store=layout.root / "stores" / store_id, jobs=jobs,
                           progress=progress)
        ids, X = load_embeddings(emb_path)
        embedded = set(ids)
        protocols = _evaluate_all((ids, X), manifest, layout.evaluation(model, recipe), seed=seed,
                                  n_enrolled=n_enrolled, bootstrap=bootstrap)
        runs.append({**{k: v for k, v in trained_run.items() if k != "protocols"}, "protocols": protocols})
        if progress:
            print(f"{trained['corpus']} -> {corpus} {Layout.run_name(model, recipe)}: SI top-1 {protocols['si']['top1_accuracy']:.3f}, "
                  f"SV EER {protocols['sv']['eer']:.3f}")

    record = {
        "corpus": corpus,
        "root": str(root),
        "trained_on": {"corpus": trained["corpus"], "folder": str(source.root), "split": trained["split"]},
        "profile": trained["profile"],
        "seed": seed,
        "hardware": trained["hardware"],
        "split": {part: {"speakers": int(g["speaker"].nunique()), "utterances": int(len(g))}
                  for part, g in manifest.groupby("split")},
        "rejected": int(len(manifest) - len(embedded & set(manifest["utt_id"].astype(str)))),
        "sv_reference_enrolled_speakers": n_enrolled,
        "minutes": (time.perf_counter() - started) / 60,
        "runs": runs,
    }
    return _finish(layout, record)
