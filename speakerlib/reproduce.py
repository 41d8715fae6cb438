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
from pathlib import Path

import pandas as pd

__all__ = ["reproduce", "transfer", "headline_table", "CORPORA", "HEADLINE"]

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
    n_enrolled = _n_enrolled(int(index.loc[index["split"] == "test", "speaker"].nunique()))

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
            protocols = _evaluate_all((ids, X), index, out / "eval" / name, seed=seed,
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
    return _finish(out, record)


def _n_enrolled(n_test_speakers: int) -> int:
    """Speakers enrolled by the seed's membership "SV": its 20, or half of a smaller test set."""
    return 20 if n_test_speakers >= 40 else max(1, n_test_speakers // 2)


def _evaluate_all(embeddings, manifest: pd.DataFrame, folder: Path, **options) -> dict:
    """Every protocol of :data:`PROTOCOLS` into ``folder/<protocol>/``; a finished one is read back."""
    from speakerlib.evaluation.run import evaluate

    protocols = {}
    for protocol in PROTOCOLS:
        done = folder / protocol / "metrics.json"
        protocols[protocol] = (json.loads(done.read_text()) if done.is_file()
                               else evaluate(embeddings, manifest, protocol, folder / protocol, **options))
    return protocols


def _finish(out: Path, record: dict) -> dict:
    """Write ``results.json`` (atomically) and ``results.csv``; return the record."""
    _write_json(out / "results.json", record)
    headline_table(record).to_csv(out / "results.csv")
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
    corpus : {"librispeech", "timit", "kaldi", "folder", "synthetic"}
        The layout of ``root``.
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
    KeyError
        Unknown corpus.
    TrainingError
        ``source`` holds no finished :func:`reproduce` results.
    """
    import hashlib

    from speakerlib.data.corpora import read_corpus
    from speakerlib.data.manifest import read_manifest, write_manifest
    from speakerlib.data.splits import speaker_split
    from speakerlib.embed import embed_manifest
    from speakerlib.errors import TrainingError
    from speakerlib.evaluation.embeddings import load_embeddings

    if corpus not in CORPORA:
        raise KeyError(f"unknown corpus {corpus!r}; valid: {list(CORPORA)}")
    source, root, out = (Path(p).expanduser().absolute() for p in (source, root, out))
    results = source / "results.json"
    if not results.is_file():
        raise TrainingError(
            f"{source}: expected the output folder of a finished `speakerlib reproduce` (with "
            "results.json), found no results.json. Run reproduce first, or point at its --out folder."
        )
    trained = json.loads(results.read_text())
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    target = out / "manifest.csv"
    if not target.is_file():
        manifest, _ = read_corpus(corpus, root, progress=progress)
        # Every speaker is unseen; a few of them choose the SV threshold.
        manifest = speaker_split(manifest, fractions=(0.0, dev_fraction, 1.0 - dev_fraction), seed=seed)
        write_manifest(manifest, target)
    manifest = read_manifest(target)
    n_enrolled = _n_enrolled(int(manifest.loc[manifest["split"] == "test", "speaker"].nunique()))

    runs, embedded = [], set()
    for trained_run in trained["runs"]:
        name = f"{trained_run['model']}-{trained_run['recipe']}"
        run_dir = source / "runs" / name
        store_config = json.loads((run_dir / "config.json").read_text())["store_config"]
        key = hashlib.sha256(json.dumps(store_config, sort_keys=True).encode()).hexdigest()[:12]
        emb_path = out / "embeddings" / f"{name}.npz"
        if not emb_path.is_file():
            embed_manifest(run_dir, manifest, emb_path, store=out / "stores" / key, jobs=jobs,
                           progress=progress)
        ids, X = load_embeddings(emb_path)
        embedded = set(ids)
        protocols = _evaluate_all((ids, X), manifest, out / "eval" / name, seed=seed,
                                  n_enrolled=n_enrolled, bootstrap=bootstrap)
        runs.append({**{k: v for k, v in trained_run.items() if k != "protocols"}, "protocols": protocols})
        if progress:
            print(f"{trained['corpus']} -> {corpus} {name}: SI top-1 {protocols['si']['top1_accuracy']:.3f}, "
                  f"SV EER {protocols['sv']['eer']:.3f}")

    record = {
        "corpus": corpus,
        "root": str(root),
        "trained_on": {"corpus": trained["corpus"], "folder": str(source), "split": trained["split"]},
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
    return _finish(out, record)


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

