"""The ``speakerlib`` command: everything a notebook does, scriptable.

Run ``speakerlib --help`` for the sub-commands and ``speakerlib CMD --help``
for each one's options. Every error of speakerlib (a bad setting, a missing
file, a corpus it cannot read) ends the command with a message saying what
was expected, what was found and what to do, and exit code 2; never with a
traceback.

The commands that train or embed import TensorFlow, and ``synth`` imports
scipy.signal (seconds, and a second, to import); they import their modules
(:mod:`speakerlib.train`, :mod:`speakerlib.embed`, :mod:`speakerlib.reproduce`,
:mod:`speakerlib.data.synth`) when they run, so that ``--help`` and the other
commands answer without loading them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from speakerlib import registry
from speakerlib.baseline import baseline_report
from speakerlib.cli.arguments import (
    HelpFormatter,
    corpus_folder,
    non_negative_float,
    non_negative_int,
    output_file,
    output_folder,
    positive_int,
)
from speakerlib.cli.use import add_use_commands
from speakerlib.data.convert import SUMMARY_ATTR, convert_corpus
from speakerlib.data.corpora import read_corpus
from speakerlib.data.download import download_librispeech, format_librispeech_catalogue
from speakerlib.data.manifest import read_manifest, summarize, write_manifest
from speakerlib.data.splits import carve_part, corpus_split, enrolment_split, has_own_partition, split_summary
from speakerlib.errors import ConfigError, ScoreError, SpeakerlibError
from speakerlib.evaluation.reference import reference_metrics
from speakerlib.evaluation.results import headline_table
from speakerlib.evaluation.run import evaluate
from speakerlib.framing import DEFAULT_LENGTH_S
from speakerlib.prepare import prepare
from speakerlib.store import CONTENTS, INDEX_NAME, PrepareConfig

__all__ = ["main", "build_parser", "EXIT_ERROR"]

#: The exit code of a command that ended with a speakerlib error (argparse uses it for usage errors too).
EXIT_ERROR = 2

_UNSET = object()  # an option left out (when its default depends on another option)


def _cmd_download(args: argparse.Namespace) -> int:
    if args.list or args.subset is None:
        print(format_librispeech_catalogue(args.root))
        if args.subset is None and not args.list:
            print("name a subset to download it, e.g. speakerlib download librispeech dev-clean --root DIR")
        return 0
    if args.root is None:
        raise SpeakerlibError("expected --root DIR (the folder to download into), found none.")
    folder = download_librispeech(args.subset, args.root, mirror=args.mirror, progress=not args.quiet)
    print(f"LibriSpeech {args.subset} is ready in {folder}")
    print(f"next: speakerlib manifest --corpus librispeech --root {args.root} --out manifest.csv")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from speakerlib.data.synth import SynthConfig, generate_corpus  # scipy.signal (see the module docstring)

    sizes = {"num_speakers": args.speakers, "utterances_per_speaker": args.utterances}
    config = SynthConfig(seed=args.seed, **{k: v for k, v in sizes.items() if v is not None})
    manifest = generate_corpus(args.root, config, progress=not args.quiet, jobs=args.jobs)
    print(f"synthetic corpus (not real speech) in {Path(args.root).resolve()}")
    print(summarize(manifest).to_string())
    if args.manifest:
        print(f"manifest written to {write_manifest(manifest, args.manifest)}")
    return 0


def _cmd_manifest(args: argparse.Namespace) -> int:
    manifest, rejects = read_corpus(
        args.corpus, args.root, skip_unreadable=args.skip_unreadable, jobs=args.jobs, progress=not args.quiet
    )
    out = write_manifest(manifest, args.out)
    print(summarize(manifest).to_string())
    print(f"{len(manifest)} utterances written to {out}")
    if len(rejects):
        rejects_path = out.with_name(out.stem + ".rejects.csv")
        write_manifest(rejects, rejects_path)
        print(f"{len(rejects)} unreadable files left out; reasons in {rejects_path}", file=sys.stderr)
    return 0


def _cmd_split(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.manifest)
    parts = corpus_split(manifest, fractions=tuple(args.fractions), dev_fraction=args.dev_fraction, seed=args.seed)
    parts = carve_part(parts, fraction=args.calibration_fraction, seed=args.seed,
                       stratify="gender" if "gender" in parts.columns else None)
    if has_own_partition(manifest):
        print(f"kept the corpus's own train/test partition; {args.dev_fraction:g} of its train speakers "
              "held out as dev (--dev-fraction)")
    else:
        shares = "/".join(f"{100 * f:g}" for f in args.fractions)
        print(f"the corpus has no train/test partition of its own: speakers split {shares} % into "
              "train/dev/test (--fractions)")
    if args.calibration_fraction:
        print(f"{args.calibration_fraction:g} of the dev speakers kept apart as calibration speakers "
              "(--calibration-fraction): they neither train nor choose checkpoints; speakerlib calibrate uses them")
    held_out = parts["split"].isin(["dev", "test"])
    roles = enrolment_split(
        parts[held_out], n_enrol=args.enrol, seed=args.seed, method=args.enrol_method
    )["role"]
    parts["role"] = ""
    parts.loc[roles.index, "role"] = roles
    out = write_manifest(parts, args.out)
    print(split_summary(parts).to_string())
    print(f"split manifest written to {out}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    print(summarize(read_manifest(args.manifest), by=args.by).to_string())
    return 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    report = baseline_report(read_manifest(args.manifest), seed=args.seed, progress=not args.quiet)
    # JSON has no NaN: an undefined metric (no target trial) is written as null
    clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in report.items()}
    print(json.dumps(clean, indent=2, default=float))
    return 0


def _length_s(text: str) -> float | None:
    """``--length-s``: a duration [s], or ``none`` for variable length."""
    if text.strip().lower() in ("none", "variable"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration in seconds (e.g. 3) or 'none', got {text!r}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive duration in seconds, got {text!r}")
    return value


def _prepare_config(args: argparse.Namespace) -> PrepareConfig:
    """The store config of ``speakerlib prepare``'s parsed flags."""
    audio = args.content == "audio"
    if audio and args.length_s not in (_UNSET, None):
        raise ConfigError(f"--content audio keeps every utterance whole, so --length-s {args.length_s:g} "
                          "cannot apply: leave --length-s out (crops are drawn at training time)")
    return PrepareConfig.from_flags(
        features=args.features, vad=not args.no_vad, vad_mode=args.vad_mode,
        length_s=None if audio else (DEFAULT_LENGTH_S if args.length_s is _UNSET else args.length_s),
        content=args.content, mels=args.mels,
    )


def _cmd_prepare(args: argparse.Namespace) -> int:
    config = _prepare_config(args)
    summary = prepare(args.manifest, args.out, config=config, jobs=args.jobs, progress=not args.quiet)
    total = summary.written + summary.skipped + summary.rejected
    print(f"{total} utterances: {summary.written} written, {summary.skipped} skipped as already done, "
          f"{summary.rejected} rejected ({summary.seconds:.1f} s, {summary.audio_s:.0f} s of audio "
          "processed)")
    print(f"feature store: {summary.store} (index: {summary.store / INDEX_NAME})")
    if summary.converted:
        print(f"{summary.converted} utterances resampled or downmixed on loading: see the "
              f"conversions column of {summary.store / INDEX_NAME}")
    print(f"rejects report: {summary.rejects_path} ({summary.rejected} rejected)")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    converted, rejects = convert_corpus(args.manifest, args.out, lower_case=args.lower_case,
                                        jobs=args.jobs, progress=not args.quiet)
    summary = converted.attrs[SUMMARY_ATTR]
    total = summary.written + summary.skipped + summary.rejected
    print(f"{total} files: {summary.written} written, {summary.skipped} skipped as already done, "
          f"{summary.rejected} rejected ({summary.seconds:.1f} s)")
    if len(converted):
        manifest_path = write_manifest(converted, summary.out_dir / "manifest.csv")
        print(f"WAV copies in {summary.out_dir}; their manifest: {manifest_path}")
    rejects_path = write_manifest(rejects, summary.out_dir / "rejects.csv")
    print(f"rejects report: {rejects_path} ({summary.rejected} rejected)")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    # TensorFlow (see the module docstring)
    from speakerlib.train import RECIPES, finetune_large_margin, finetune_triplet, train

    result = train(args.features, args.out, model=args.model, recipe=args.recipe, profile=args.profile,
                   seed=args.seed, epochs=args.epochs, progress=not args.quiet, noise_dir=args.noise_dir,
                   rir_dir=args.rir_dir)
    if result.already_finished:
        print(f"run {result.run_dir} was already finished, nothing trained: {result.summary()}")
    else:
        print(result.summary())
    print(f"run folder: {result.run_dir} (history: {result.run_dir / 'history.csv'}; "
          f"embedding model: {result.embedding_path})")
    if RECIPES[args.recipe].large_margin is not None:
        _print_finetune("large-margin", finetune_large_margin(result.run_dir, progress=not args.quiet))
    if args.triplet_epochs:
        _print_finetune("triplet", finetune_triplet(result.run_dir, epochs=args.triplet_epochs,
                                                    progress=not args.quiet))
    return 0


def _print_finetune(what: str, tuned) -> None:
    eer = tuned.state["best_dev_eer"]
    shown = "undefined" if eer is None else f"{eer:.3f}"
    done = "already finished, " if tuned.already_finished else ""
    print(f"{what} fine-tune: {done}best dev EER {shown} at epoch {tuned.state['best_epoch']} (0 = before); "
          f"embedding model: {tuned.embedding_path}")


def _cmd_embed(args: argparse.Namespace) -> int:
    from speakerlib.embed import embed_manifest  # TensorFlow (see the module docstring)

    result = embed_manifest(
        args.model, args.manifest, args.out, store=args.features, num_crops=args.crops,
        crop_frames=args.crop_frames, jobs=args.jobs, progress=not args.quiet,
    )
    out, written, rejected = result
    if result.reused_run_store or args.features is not None:  # otherwise a warning has said why and where
        print(result.store_note)
    print(f"{written} utterances embedded into {out}; {rejected} rejected by preprocessing "
          f"(see rejects.csv in {result.store})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    record = evaluate(args.embeddings, args.manifest, args.protocol, args.out, split=args.split,
                      seed=args.seed, n_enrol=args.enrol, n_enrolled=args.enrolled,
                      as_norm_top_k=args.as_norm, bootstrap=args.bootstrap, trials=args.trials,
                      trials_root=args.trials_root, run_dir=args.run, wccn=args.wccn)
    shown = {k: v for k, v in record.items() if not isinstance(v, (dict, list)) or k in ("ci95", "wccn")}
    print(json.dumps(shown, indent=1))
    print(f"written to {args.out / 'metrics.json'} with {', '.join(record['files']) or 'no other files'}")
    return 0


def _load_array(path: Path, flag: str) -> np.ndarray:
    """A plain numeric ``.npy`` array, or an error naming the flag."""
    if not path.is_file():
        raise ScoreError(f"{flag} {path}: expected a .npy file of numbers, found "
                         f"{'a folder' if path.is_dir() else 'nothing'} there. Save the array with numpy.save.")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ScoreError(f"{flag} {path}: expected a .npy file of numbers written by numpy.save, found a file "
                         f"numpy cannot read that way ({str(exc).split('. ')[0]}). Save the array with "
                         "numpy.save(path, array) from a numeric array, not a list of objects.") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise ScoreError(f"{flag} {path}: expected numbers, found an array of {getattr(array, 'dtype', type(array))}.")
    return array


def _cmd_refmetrics(args: argparse.Namespace) -> int:
    metrics = reference_metrics(_load_array(args.labels, "--labels"), _load_array(args.scores, "--scores"))
    print(json.dumps({k: metrics[k] for k in ("eer", "prauc", "acc", "auc", "ap", "eer_interp", "threshold",
                                                "positives", "trials")}, indent=1))
    return 0


def _print_results(record: dict, out: Path) -> int:
    print(headline_table(record).round(3).to_string())
    print(f"results: {out / 'results.json'} and {out / 'results.csv'}; figures in {out / 'eval'}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from speakerlib.reproduce import reproduce  # TensorFlow (see the module docstring)

    record = reproduce(args.corpus, args.root, args.out, profile=args.profile,
                       models=tuple(args.models) if args.models else None, recipes=tuple(args.recipes),
                       seed=args.seed, fractions=tuple(args.fractions), jobs=args.jobs,
                       bootstrap=args.bootstrap, progress=not args.quiet, noise_dir=args.noise_dir,
                       rir_dir=args.rir_dir, also=args.also, as_norm_top_k=args.as_norm)
    return _print_results(record, args.out)


def _cmd_transfer(args: argparse.Namespace) -> int:
    from speakerlib.reproduce import transfer  # TensorFlow (see the module docstring)

    record = transfer(args.source, args.corpus, args.root, args.out, seed=args.seed, jobs=args.jobs,
                      bootstrap=args.bootstrap, progress=not args.quiet)
    return _print_results(record, args.out)


def _augmentation_folders(p: argparse.ArgumentParser) -> None:
    p.add_argument("--noise-dir", type=Path, default=None,
                   help="a MUSAN folder (music/, noise/, speech/) for recipes that add noise (default: "
                        "generated coloured noise and babble of the training speakers)")
    p.add_argument("--rir-dir", type=Path, default=None,
                   help="an OpenSLR 28 folder (RIRS_NOISES) for recipes that add reverberation (default: "
                        "simulated rooms)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``speakerlib`` command."""
    parser = argparse.ArgumentParser(
        prog="speakerlib",
        description="Deep speaker recognition, reproduced and taught: corpora, pipeline, models, evaluation.",
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, formatter_class=HelpFormatter)
        p.set_defaults(func=func)
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--verbose", action="store_true",
                       help="also show TensorFlow's start-up and runtime log lines (hidden by default)")
        return p

    p = add("download", "download and unpack a corpus (LibriSpeech from openslr, resumable, checksummed)", _cmd_download)
    p.add_argument("corpus", choices=["librispeech"], help="the corpus")
    p.add_argument("subset", nargs="?", default=None, help="e.g. dev-clean, test-clean, train-clean-100")
    p.add_argument("--root", type=Path, default=None, help="folder to download into (LibriSpeech/ is created there)")
    p.add_argument("--list", action="store_true", help="list the subsets with sizes and checksums (and status in --root)")
    p.add_argument("--mirror", default=None, help="base URL of a mirror holding <subset>.tar.gz")

    p = add("synth", "generate the embedded synthetic corpus (deterministic, offline)", _cmd_synth)
    p.add_argument("--root", required=True, type=output_folder, help="output folder (LibriSpeech layout below it)")
    p.add_argument("--speakers", type=positive_int, default=None, help="number of speakers (default: the book's size)")
    p.add_argument("--utterances", type=positive_int, default=None,
                   help="utterances per speaker (default: the book's size)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--jobs", type=positive_int, default=2, help="parallel workers (default 2)")
    p.add_argument("--manifest", type=output_file, default=None, help="also write the manifest CSV here")

    p = add("manifest", "read a corpus folder in place into a manifest CSV (one row per utterance)", _cmd_manifest)
    p.add_argument("--corpus", required=True, choices=registry.CORPORA, help="the corpus layout")
    p.add_argument("--root", required=True, type=Path, help="the corpus folder")
    p.add_argument("--out", required=True, type=output_file, help="manifest CSV to write")
    p.add_argument("--jobs", type=positive_int, default=4, help="threads reading audio headers")
    p.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="leave unreadable audio files out and list them in <out>.rejects.csv (default: stop with an error)",
    )

    p = add("split", "add speaker-disjoint train/dev/test and enrol/test columns to a manifest", _cmd_split)
    p.add_argument("--manifest", required=True, type=Path, help="manifest CSV from speakerlib manifest")
    p.add_argument("--out", required=True, type=output_file,
                   help="split manifest CSV to write (the input's columns plus split and role)")
    p.add_argument("--fractions", type=float, nargs=3, default=[0.6, 0.2, 0.2], metavar=("TRAIN", "DEV", "TEST"),
                   help="speaker shares when the corpus has no train/test partition of its own")
    p.add_argument("--dev-fraction", type=float, default=0.2,
                   help="share of a corpus's own train speakers held out as dev (TIMIT)")
    p.add_argument("--calibration-fraction", type=float, default=0.0, metavar="F",
                   help="share of the dev speakers kept apart to fit a score calibration (speakerlib calibrate) "
                        "instead of choosing checkpoints (default 0: none)")
    p.add_argument("--enrol", type=positive_int, default=None,
                   help="enrolment utterances per dev/test speaker (default: half)")
    p.add_argument("--enrol-method", choices=["random", "reference"], default="random",
                   help="random: enrolment utterances drawn per speaker with the seed; reference: the seed "
                        "project's order (the first files)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the speaker split and the enrolment draw")

    p = add("summary", "print speakers, utterances, hours and gender balance of a manifest", _cmd_summary)
    p.add_argument("--manifest", required=True, type=Path, help="manifest CSV")
    p.add_argument("--by", default="corpus", help="column to group by (corpus, subset, split)")

    p = add("convert", "write RIFF WAV copies of a manifest's audio (FLAC, SPHERE...), resumable", _cmd_convert)
    p.add_argument("--manifest", required=True, type=Path, help="manifest CSV of the files to convert")
    p.add_argument("--out", required=True, type=output_folder, help="root of the WAV tree (mirrors the corpus tree)")
    p.add_argument("--lower-case", action="store_true", help="lower-case folder and file names (as the seed did for TIMIT)")
    p.add_argument("--jobs", type=positive_int, default=2, help="files converted at once (default 2)")

    p = add("prepare", "VAD, fixed length and features for every utterance, into a feature store (resumable)",
            _cmd_prepare)
    p.add_argument("--manifest", required=True, type=Path, help="manifest CSV")
    p.add_argument("--out", required=True, type=output_folder,
                   help="feature store folder (new, or made earlier with the same settings)")
    p.add_argument("--features", choices=registry.FEATURE_KINDS, default="reference",
                   help="kind of features, with that kind's defaults (default: reference, 40 log filterbanks)")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes (default 2)")
    p.add_argument("--no-vad", action="store_true", help="keep the whole file (default: the reference's webrtcvad)")
    p.add_argument("--vad-mode", type=int, choices=range(4), default=None, metavar="{0,1,2,3}",
                   help="webrtcvad's aggressiveness: 0 keeps the most audio, 3 the least (default: the "
                        "reference's, 1)")
    p.add_argument("--length-s", type=_length_s, default=_UNSET, metavar="S",
                   help="pad or centre-crop to S seconds after VAD (default 3); 'none' keeps each utterance's length")
    p.add_argument("--content", choices=CONTENTS, default="features",
                   help="what the store keeps: the features (default), or the audio after VAD, whole, for "
                        "training that crops, augments and computes the features on the fly")
    p.add_argument("--mels", type=positive_int, default=None, metavar="N",
                   help="mel bands of logmel or mfcc features (default: the kind's)")

    p = add("train", "train a speaker-embedding model on a feature store (resumes an unfinished run)",
            _cmd_train)
    p.add_argument("--model", required=True, choices=registry.MODELS)
    p.add_argument("--recipe", choices=registry.RECIPES, default="reference",
                   help="reference: the seed's softmax/SGD training; improved: AAM, random crops, SpecAugment; "
                        "modern: whole utterances of a store of audio, noise, reverberation, speed perturbation, "
                        "a large-margin fine-tune (default: reference)")
    p.add_argument("--profile", choices=registry.PROFILES, default="cpu",
                   help="smoke: seconds (tests); cpu: minutes (the book); laptop: about an hour on two cores; "
                        "gpu: paper scale (default: cpu)")
    p.add_argument("--features", required=True, type=Path, help="feature store made by speakerlib prepare")
    p.add_argument("--out", required=True, type=output_folder, help="run folder (config, history, checkpoints, model)")
    p.add_argument("--seed", type=int, default=0, help="random seed of initialisation, batches, crops and augmentation")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the profile's number of epochs")
    p.add_argument("--triplet-epochs", type=non_negative_int, default=0, metavar="N",
                   help="then fine-tune the embedding with DeepSpeaker's triplet loss for N epochs "
                        "(into RUN_DIR/triplet)")
    _augmentation_folders(p)

    p = add("embed", "embed every utterance of a manifest with a trained model, into one .npz", _cmd_embed)
    p.add_argument("--model", required=True, type=Path, help="a finished run folder (or its embedding.keras)")
    p.add_argument("--manifest", required=True, type=Path, help="manifest CSV of the utterances")
    p.add_argument("--out", required=True, type=output_file, help=".npz to write (utt_id, embeddings)")
    p.add_argument("--features", type=Path, default=None,
                   help="feature store for these utterances, made with the run's settings if missing (default: "
                        "the run's training store when it holds these utterances, else <out>.features)")
    p.add_argument("--crops", type=positive_int, default=None,
                   help="crops averaged per utterance (default 1 for 3-s stores)")
    p.add_argument("--crop-frames", type=positive_int, default=None, help="frames per crop (default: the run's)")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes for the features")

    p = add("evaluate", "SI or SV metrics of embeddings, the seed's way or the right way: metrics.json + figures",
            _cmd_evaluate)
    p.add_argument("--embeddings", required=True, type=Path, help=".npz from speakerlib embed")
    p.add_argument("--manifest", required=True, type=Path, help="manifest CSV (with a split column to use dev/test)")
    p.add_argument("--protocol", required=True, choices=registry.PROTOCOLS)
    p.add_argument("--out", required=True, type=output_folder, help="folder for metrics.json and figures")
    p.add_argument("--split", default="test", help="evaluation speakers' split (default test)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the enrolment draw and the bootstrap")
    p.add_argument("--enrol", type=positive_int, default=None,
                   help="si: enrolment utterances per speaker (default: the manifest's roles, else half)")
    p.add_argument("--enrolled", type=positive_int, default=None,
                   help="sv-reference: enrolled speakers (default: the seed's 20, or all but one when the split "
                        "has 20 or fewer)")
    p.add_argument("--as-norm", type=positive_int, default=None, metavar="K",
                   help="sv: adaptive s-norm with the top K of the train speakers' cohort")
    p.add_argument("--wccn", type=non_negative_float, default=None, metavar="R",
                   help="score through a WCCN fitted on the train speakers' embeddings, regularisation R "
                        "(e.g. 0.1; choose it with --split dev, never on test)")
    p.add_argument("--trials", type=Path, default=None, metavar="FILE",
                   help="sv: score this fixed trial list (VoxCeleb 'LABEL ENROL TEST' or Kaldi 'ENROL TEST "
                        "LABEL' lines; labels 1/0 or target/nontarget) instead of drawing the trials")
    p.add_argument("--trials-root", type=Path, default=None, metavar="DIR",
                   help="with --trials: the folder the list's paths are relative to (default: they match the "
                        "last components of the manifest's paths, or utt_ids)")
    p.add_argument("--run", type=Path, default=None, metavar="RUN",
                   help="the run folder the embeddings came from, to warn about speakers it trained on "
                        "(default: the one recorded in the embedding file)")
    p.add_argument("--bootstrap", type=non_negative_int, default=1000, help="bootstrap resamples (0: no intervals)")

    p = add("refmetrics", "the seed's metric code on saved labels and scores (.npy): JSON", _cmd_refmetrics)
    p.add_argument("--labels", required=True, type=Path, help="y_true .npy (1 = enrolled speaker)")
    p.add_argument("--scores", required=True, type=Path, help="y_pre .npy (scores)")

    p = add("reproduce", "the whole pipeline on one corpus: split, prepare, train every model with both "
            "recipes, embed, evaluate; writes results.json", _cmd_reproduce)
    p.add_argument("--corpus", required=True, choices=registry.CORPORA, help="the corpus layout")
    p.add_argument("--root", required=True, type=Path, help="the corpus folder (synthetic: generated there)")
    p.add_argument("--profile", choices=registry.PROFILES, default="cpu",
                   help="smoke, cpu, laptop or gpu: the training size of every model (see speakerlib train)")
    p.add_argument("--out", required=True, type=output_folder, help="output folder (resumable)")
    p.add_argument("--models", nargs="+", choices=registry.MODELS, default=None, help="default: all of them")
    p.add_argument("--recipes", nargs="+", choices=registry.RECIPES, default=list(registry.RECIPES),
                   help="training recipes, each run for every model")
    p.add_argument("--seed", type=int, default=0, help="random seed of the split and of every run")
    p.add_argument("--fractions", nargs=3, type=float, default=[0.6, 0.2, 0.2], metavar=("TRAIN", "DEV", "TEST"),
                   help="speaker fractions of the split when the corpus has no train/test partition of its own")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes for preprocessing")
    p.add_argument("--bootstrap", type=non_negative_int, default=1000, help="bootstrap resamples for the intervals")
    p.add_argument("--also", nargs="+", type=corpus_folder, default=(), metavar="KIND:FOLDER",
                   help="more corpora whose every speaker trains (ids prefixed with KIND), e.g. "
                        "librispeech:/data/LibriSpeech timit:/data/TIMIT")
    p.add_argument("--as-norm", type=positive_int, default=None, metavar="K",
                   help="also score the SV trials with AS-norm against the training speakers (top K), "
                        "reported as sv-as-norm")
    _augmentation_folders(p)

    p = add("transfer", "evaluate the trained runs of a reproduce folder on another corpus (every speaker "
            "unseen); writes results.json", _cmd_transfer)
    p.add_argument("--from", dest="source", required=True, type=Path, help="a finished reproduce --out folder")
    p.add_argument("--corpus", required=True, choices=registry.CORPORA, help="the new corpus's layout")
    p.add_argument("--root", required=True, type=Path, help="the new corpus's folder")
    p.add_argument("--out", required=True, type=output_folder, help="output folder (resumable)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the enrolment draw and the bootstrap")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes for preprocessing")
    p.add_argument("--bootstrap", type=non_negative_int, default=1000, help="bootstrap resamples for the intervals")

    add_use_commands(add)

    p = add("baseline", "mean-MFCC + cosine baseline: SI accuracy and pairwise EER, as JSON", _cmd_baseline)
    p.add_argument("--manifest", required=True, type=Path, help="manifest CSV")
    p.add_argument("--seed", type=int, default=0, help="random seed of the enrolment draw")
    return parser


def _show_warning(command: str):
    """Warnings as one line each, ``speakerlib CMD: warning: ...``, without the source line
    Python would print under them (a line of speakerlib's code says nothing to a user)."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"speakerlib {command}: warning: {message}", file=file or sys.stderr)

    return show


def _os_error_message(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    if exc.filename2:
        where += f" -> {exc.filename2}"
    reason = exc.strerror or str(exc)
    return (f"cannot use{where}: {reason}. Check that the path exists, is the kind asked for (file or "
            "folder), is readable and writable by you, and that the disk has space.")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    0: done; :data:`EXIT_ERROR` (2): bad input or a speakerlib error, printed
    as one line naming what was expected, what was found and the fix; 130:
    interrupted (rerunning the same command resumes the long commands). A
    closed output pipe (``speakerlib download --list | head``) ends quietly.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        os.environ["SPEAKERLIB_VERBOSE"] = "1"
    previous = warnings.showwarning
    warnings.showwarning = _show_warning(args.command)
    try:
        return int(args.func(args) or 0)
    except SpeakerlibError as exc:
        print(f"speakerlib {args.command}: error: {exc.for_command_line()}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # the reader of our output went away (``| head``): stop without a traceback, and keep
        # Python from failing again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"speakerlib {args.command}: error: {_os_error_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"speakerlib {args.command}: interrupted. Run the same command again: prepare, convert, train, "
              "reproduce, transfer and download resume where they stopped", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
