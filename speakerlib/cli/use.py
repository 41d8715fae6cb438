"""The commands that use a trained model: calibrate, verify, enroll, identify, export, pretrain.

They import TensorFlow when they run (through :mod:`speakerlib.inference`), not when the
parser is built. ``--model`` is a run folder, or by default the pretrained encoder
(:func:`speakerlib.inference.pretrained.load`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from speakerlib import registry
from speakerlib.errors import ConfigError
from speakerlib.cli.arguments import (
    corpus_folder,
    model_source,
    non_negative_int,
    output_file,
    output_folder,
    positive_int,
    probability,
)
from speakerlib.data.splits import CALIBRATION_FRACTION

__all__ = ["add_use_commands"]


def _encoder(args: argparse.Namespace):
    from speakerlib.inference import SpeakerEncoder  # TensorFlow (see the module docstring)
    from speakerlib.inference.pretrained import load

    encoder = load() if args.model is None else SpeakerEncoder.from_run(args.model)
    calibration = getattr(args, "calibration", None)
    return encoder if calibration is None else encoder.with_calibration(calibration)


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from speakerlib.pretrain import command_line, pretrain  # TensorFlow (see the module docstring)

    manifest = pretrain(args.corpus, args.root, args.out, work=args.work, also=args.also, cross=args.cross,
                        profile=args.profile, model=args.model, recipe=args.recipe, seed=args.seed,
                        name=args.name, jobs=args.jobs, bootstrap=args.bootstrap, progress=not args.quiet,
                        command=command_line(sys.argv[1:]), calibration_fraction=args.calibration_fraction)
    for corpus, t in manifest["test"].items():
        print(f"{manifest['name']} on {corpus} ({t['speakers']} speakers): EER {100 * t['eer']:.1f} %, minDCF0.01 "
              f"{t['min_dcf_0.01']:.3f}, Cllr {t['cllr']:.3f}, SI top-1 {100 * t['si_top1']:.1f} %")
    print(f"written to {args.out} (model card: {args.out / 'MODEL_CARD.md'})")
    return 0


def _calibrate_on_recordings(args: argparse.Namespace) -> dict:
    from speakerlib.data.manifest import read_manifest
    from speakerlib.inference import calibrate_encoder

    if args.out is None:
        raise ConfigError("--recordings fits a calibration for the model named by --model (default: the "
                          "pretrained encoder) and writes it to a file: add --out FILE.json, then pass "
                          "--calibration FILE.json to verify and identify")
    if args.store is not None or args.split is not None:
        raise ConfigError("--store and --split choose a run's own dev trials; with --recordings the trials "
                          "are every pair of those recordings: leave --store and --split out")
    encoder = _encoder(args)
    tuned = calibrate_encoder(encoder, read_manifest(args.recordings), prior=args.prior,
                              decision_prior=args.decision_prior)
    tuned.save_calibration(args.out)
    return tuned.calibration_record


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from speakerlib.inference import calibrate_run  # TensorFlow (see the module docstring)

    model_given = hasattr(args, "model")  # --model pretrained is None, like no --model: tell them apart
    args.model = getattr(args, "model", None)
    if args.recordings is not None:
        record = _calibrate_on_recordings(args)
    elif args.run is None:
        raise ConfigError("expected a run folder (speakerlib calibrate RUN) to calibrate on its calibration (or "
                          "dev) speakers, "
                          "or --recordings MANIFEST --out FILE.json to calibrate a model on your own recordings")
    elif model_given or args.out is not None:
        raise ConfigError("--model and --out go with --recordings; a run folder's calibration is written into "
                          "it (RUN/calibration.json): leave them out, or add --recordings MANIFEST")
    else:
        record = calibrate_run(args.run, store=args.store, split=args.split, prior=args.prior,
                               decision_prior=args.decision_prior, progress=not args.quiet)
    shown = {k: v for k, v in record.items() if not k.endswith("_quantiles")}
    if args.json:
        print(json.dumps(shown, indent=1))
        return 0
    fit = record["fitted_on"]
    whose = f"speakers of {args.recordings}" if args.recordings is not None else f"{fit['split']} speakers"
    print(f"calibrated on {fit['speakers']} {whose} ({record['target_trials']} same-speaker and "
          f"{record['nontarget_trials']} different-speaker trials): llr = {record['calibration']['scale']:.3f} x "
          f"cosine {record['calibration']['offset']:+.3f}")
    print(f"on those trials: EER {100 * record['eer']:.1f} %, Cllr {record['cllr']:.3f} (minimum "
          f"{record['min_cllr']:.3f}), at the decision threshold (prior {record['decision_prior']:g}): "
          f"{100 * record['false_accept_rate']:.1f} % false accepts, {100 * record['false_reject_rate']:.1f} % "
          "false rejects")
    if args.recordings is not None:
        print(f"calibration written to {args.out}: pass --calibration {args.out} to speakerlib verify and identify")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    encoder = _encoder(args)
    result = encoder.verify(args.a, args.b, prior=args.prior)
    if args.json:
        print(json.dumps({"a": str(args.a), "b": str(args.b), "model": encoder.identity, **result.to_dict()},
                         indent=1))
        return 0
    relation = ">=" if result.same_speaker else "<"
    print(f"same speaker: {'yes' if result.same_speaker else 'no'} (LLR {result.llr:+.2f} {relation} threshold "
          f"{result.threshold:+.2f} for a prior of {result.prior:g}; cosine {result.score:.3f})")
    print(f"expected at this threshold (the calibration's dev trials): {100 * result.false_accept_rate:.1f} % "
          f"false accepts, {100 * result.false_reject_rate:.1f} % false rejects")
    return 0


def _cmd_enroll(args: argparse.Namespace) -> int:
    from speakerlib.inference import SpeakerDatabase

    encoder = _encoder(args)
    exists = (args.db / "speakers.json").is_file()
    database = SpeakerDatabase.load(args.db, encoder) if exists else SpeakerDatabase.for_encoder(encoder)
    count = database.enroll(args.name, args.files, encoder, append=args.append)
    database.save(args.db)
    if args.json:
        print(json.dumps({"name": args.name, "recordings": count, "speakers": database.names}, indent=1))
    else:
        print(f"{args.name!r} enrolled from {count} recording(s); {len(database)} speaker(s) in {args.db}")
    return 0


def _cmd_identify(args: argparse.Namespace) -> int:
    from speakerlib.inference import SpeakerDatabase

    encoder = _encoder(args)
    database = SpeakerDatabase.load(args.db, encoder)
    answers = []
    for path in args.files:
        answers.append({"file": str(path), **database.identify(path, encoder, top_k=args.top_k,
                                                              prior=args.prior).to_dict()})
    if args.json:
        print(json.dumps(answers, indent=1))
        return 0
    for answer in answers:
        best = answer["candidates"][0]
        others = ", ".join(f"{c['name']} {c['llr']:+.2f}" for c in answer["candidates"][1:])
        print(f"{answer['file']}: {answer['name']} (best: {best['name']}, LLR {best['llr']:+.2f}, threshold "
              f"{answer['threshold']:+.2f}{'; then ' + others if others else ''})")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from speakerlib.inference.export import export_encoder  # TensorFlow (see the module docstring)

    record = export_encoder(_encoder(args), args.out, format=args.format)
    calibrated = "with its calibration" if record["calibration"] else "without a calibration (speakerlib calibrate)"
    size_mb = args.out.stat().st_size / 1e6
    print(f"{record['identity']['name']} exported to {args.out} ({args.format}, {size_mb:.1f} MB) and "
          f"its front end to {args.out}.json, {calibrated}")
    return 0


def add_use_commands(add) -> None:
    """Register the commands on ``add(name, help, func)``, the sub-parser factory of
    :func:`speakerlib.cli.build_parser`."""
    p = add("calibrate", "fit a model's score-to-likelihood-ratio map: a run's on its calibration (or dev) "
            "speakers (writes "
            "RUN/calibration.json), or any model's on recordings of your own speakers (--recordings, --out)",
            _cmd_calibrate)
    p.add_argument("run", type=Path, nargs="?", default=None, help="a finished run folder")
    p.add_argument("--recordings", type=Path, default=None, metavar="MANIFEST",
                   help="a manifest CSV (utt_id, speaker, path) of recordings of at least two speakers the "
                        "model never trained on, e.g. from speakerlib manifest --corpus folder")
    p.add_argument("--model", type=model_source, default=argparse.SUPPRESS,
                   help="with --recordings: the run folder whose model to calibrate, or 'pretrained' (default: "
                        "the pretrained encoder)")
    p.add_argument("--out", type=output_file, default=None, metavar="FILE.json",
                   help="with --recordings: where to write the calibration")
    p.add_argument("--store", type=Path, default=None, help="the store of the trials' utterances (default: "
                   "the run's training store)")
    p.add_argument("--split", default=None, help="the part of the store's split to use (default: calibration "
                   "when the split has that part, else dev)")
    p.add_argument("--prior", type=probability, default=0.5, help="prior the fit is weighted for (default 0.5)")
    p.add_argument("--decision-prior", type=probability, default=0.5,
                   help="prior whose Bayes threshold decides by default (default 0.5: LLR threshold 0)")
    p.add_argument("--json", action="store_true", help="print the calibration as JSON")

    calibration_help = ("a calibration fitted on your own recordings (speakerlib calibrate --recordings "
                        "... --out FILE.json) instead of the model's own")
    model_help = ("a finished run folder whose model to use, calibrated with speakerlib calibrate, or "
                  "'pretrained' (default: the pretrained encoder shipped with speakerlib)")
    p = add("verify", "are two recordings the same speaker? cosine score, calibrated LLR and decision",
            _cmd_verify)
    p.add_argument("a", type=Path, help="a recording (any format and rate)")
    p.add_argument("b", type=Path, help="another recording")
    p.add_argument("--model", type=model_source, default=None, help=model_help)
    p.add_argument("--calibration", type=Path, default=None, metavar="FILE.json", help=calibration_help)
    p.add_argument("--prior", type=probability, default=None,
                   help="prior probability of the same speaker (default: the calibration's, 0.5)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = add("enroll", "enrol a named speaker from recordings into a speaker database folder", _cmd_enroll)
    p.add_argument("--db", required=True, type=output_folder, help="the database folder (created when missing)")
    p.add_argument("name", help="the speaker's name")
    p.add_argument("files", nargs="+", type=Path, help="recordings of that speaker")
    p.add_argument("--model", type=model_source, default=None, help=model_help)
    p.add_argument("--append", action="store_true", help="add the recordings to a name already enrolled "
                   "(without it, enrolling a name twice is refused)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = add("identify", "who of a database's speakers is speaking in each recording (or 'unknown')",
            _cmd_identify)
    p.add_argument("--db", required=True, type=Path, help="a database folder made by speakerlib enroll")
    p.add_argument("files", nargs="+", type=Path, help="recordings to identify")
    p.add_argument("--model", type=model_source, default=None, help=model_help)
    p.add_argument("--calibration", type=Path, default=None, metavar="FILE.json", help=calibration_help)
    p.add_argument("--top-k", type=positive_int, default=3, help="candidates to show (default 3)")
    p.add_argument("--prior", type=probability, default=None,
                   help="prior probability that the speaker is the best candidate (default: the calibration's)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")

    p = add("export", "write a run's encoder as ONNX or TFLite, with its front end file (FILE.json)", _cmd_export)
    p.add_argument("model", type=model_source, nargs="?", default=None, metavar="RUN_DIR|pretrained",
                   help="a finished run folder, or 'pretrained' (default: the pretrained encoder; a run folder "
                        "called pretrained is ./pretrained)")
    p.add_argument("--format", choices=["onnx", "tflite"], default="onnx", help="default onnx")
    p.add_argument("--out", required=True, type=output_file, help="the model file to write, e.g. encoder.onnx")

    p = add("pretrain", "train, calibrate, package and measure a pretrained encoder (model card included)",
            _cmd_pretrain)
    p.add_argument("--corpus", required=True, choices=registry.CORPORA, help="the corpus of train, dev, test speakers")
    p.add_argument("--root", required=True, type=Path, help="its folder")
    p.add_argument("--also", nargs="+", type=corpus_folder, default=(), metavar="KIND:FOLDER",
                   help="more corpora whose every speaker trains")
    p.add_argument("--cross", nargs="+", type=corpus_folder, default=(), metavar="KIND:FOLDER",
                   help="corpora to test on, none of whose speakers trains (e.g. timit:/data/TIMIT)")
    p.add_argument("--out", required=True, type=output_folder,
                   help="the encoder's folder (speakerlib/pretrained to ship it)")
    p.add_argument("--work", required=True, type=output_folder, help="the experiment folder (resumable)")
    p.add_argument("--profile", choices=registry.PROFILES, default="laptop", help="default laptop")
    p.add_argument("--model", choices=registry.MODELS, default="seresnet", help="default seresnet")
    p.add_argument("--recipe", choices=registry.RECIPES, default="modern_noaug", help="default modern_noaug")
    p.add_argument("--seed", type=int, default=0, help="random seed of the split and the training run")
    p.add_argument("--name", default=None, help="the encoder's name (default: MODEL-<folder of --root>)")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes for preprocessing")
    p.add_argument("--bootstrap", type=non_negative_int, default=1000, help="bootstrap resamples for the intervals")
    p.add_argument("--calibration-fraction", type=float, default=CALIBRATION_FRACTION, metavar="F",
                   help=f"share of the corpus's dev speakers that fit the calibration instead of choosing the kept "
                        f"epoch (default {CALIBRATION_FRACTION:g}; 0: the dev speakers do both)")
