"""Make the pretrained encoder: train, calibrate, package and measure it with the course's own steps.

:func:`pretrain` (the ``speakerlib pretrain`` command) runs

1. :func:`speakerlib.reproduce.reproduce` for one model and recipe on the
   corpora given (the split: train, dev and test speakers of ``corpus``; every
   speaker of ``also`` trains);
2. :func:`speakerlib.inference.calibrate_run` on the calibration speakers (a
   share of the corpus's dev speakers kept apart, so that the speakers that
   fit the calibration did not choose the kept epoch; with
   ``calibration_fraction=0``, on the dev speakers);
3. :func:`speakerlib.inference.pretrained.package_run` into ``out`` (the
   package's ``speakerlib/pretrained/`` for the shipped encoder);
4. the packaged encoder, loaded as a user loads it, on the test speakers (the
   same trials as the experiment's) and on every corpus of ``cross`` (none of
   whose speakers trained: a quarter of them choose the SV threshold):
   EER, minDCF, Cllr, actual DCF, SI top-1, and the agreement of its
   embeddings with the float32 model's;

and writes the figures into the manifest and ``MODEL_CARD.md``. A killed run
resumes: every step before packaging is resumable, the rest takes minutes.
"""

from __future__ import annotations

import datetime
import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib import __version__
from speakerlib._io import write_json, write_text
from speakerlib.data.corpora import read_corpus
from speakerlib.data.manifest import read_manifest
from speakerlib.data.splits import CALIBRATION, CALIBRATION_FRACTION, speaker_split
from speakerlib.errors import SpeakerlibError
from speakerlib.evaluation.calibration import actual_dcf, cllr
from speakerlib.evaluation.embeddings import align, load_embeddings
from speakerlib.evaluation.run import evaluate
from speakerlib.inference import calibrate_run
from speakerlib.inference.encoder import final_stage
from speakerlib.inference.pretrained import CARD_NAME, MANIFEST_NAME, load, package_run
from speakerlib.paths import Layout
from speakerlib.reproduce import reproduce
from speakerlib.train import load_run

__all__ = ["pretrain"]

#: Licence and attribution of the corpora the course uses, by a name their folders' paths hold.
_LICENCES = {
    "speechocean762": "speechocean762 (openslr 101), Apache-2.0. Zhang et al., \"speechocean762: An Open-Source "
             "Non-native English Speech Corpus for Pronunciation Assessment\", Interspeech 2021",
    "LibriSpeech": "LibriSpeech (openslr 12), (c) 2014 Vassil Panayotov, CC BY 4.0. Panayotov, Chen, Povey, "
                   "Khudanpur, \"LibriSpeech: an ASR corpus based on public domain audio books\", ICASSP 2015",
    "TIMIT": "TIMIT (LDC93S1) sample distributed by NLTK, CC BY-NC-SA (c) 1993 LDC: used for testing only",
}


def _embed_files(encoder, manifest: pd.DataFrame) -> tuple[list[str], np.ndarray, list[dict]]:
    """Embed each utterance from its file; those the encoder refuses are listed with the reason."""
    ids, rows, refused = [], [], []
    for utt_id, path in zip(manifest["utt_id"].astype(str), manifest["path"].astype(str)):
        try:
            rows.append(encoder.embed(path))
            ids.append(utt_id)
        except SpeakerlibError as error:
            refused.append({"utt_id": utt_id, "reason": str(error)})
    return ids, np.asarray(rows, dtype=np.float32), refused


def _measure(encoder, manifest: pd.DataFrame, folder: Path, *, seed: int,
             bootstrap: int) -> tuple[dict, list[str], np.ndarray]:
    """SV (with calibration) and SI of the packaged encoder on a split manifest's test speakers; also the
    embeddings it computed ``(ids, X)``."""
    ids, X, refused = _embed_files(encoder, manifest)
    kept = manifest[manifest["utt_id"].astype(str).isin(set(ids))]
    sv = evaluate((ids, X), kept, "sv", folder / "sv", seed=seed, bootstrap=bootstrap)
    si = evaluate((ids, X), kept, "si", folder / "si", seed=seed, bootstrap=bootstrap, figures=False)
    # the encoder's own calibration (dev speakers of the training experiment) on these test trials
    trials = pd.read_csv(folder / "sv" / "trials_scored.csv")
    llr, labels = encoder.calibration.llr(trials["score"].to_numpy()), trials["label"].to_numpy()
    threshold = encoder.calibration_record["decision_threshold_llr"]
    return {
        "speakers": int(sv["speakers"]), "utterances": int(sv["utterances"]), "refused": refused,
        "target_trials": int(sv["n_target"]), "nontarget_trials": int(sv["n_nontarget"]),
        "eer": sv["eer"], "eer_ci95": sv["ci95"].get("eer"), "min_dcf_0.01": sv["min_dcf_0.01"],
        "cllr": cllr(llr, labels), "min_cllr": sv["calibration"]["min_cllr"],
        "actual_dcf_0.01": actual_dcf(llr, labels, p_target=0.01),
        "false_accept_rate": float(np.mean(llr[labels == 0] >= threshold)),
        "false_reject_rate": float(np.mean(llr[labels == 1] < threshold)),
        "si_top1": si["top1_accuracy"], "si_top1_ci95": si["top1_ci95"], "si_test_utterances": int(si["n_test"]),
    }, ids, X


def pretrain(corpus: str, root: str | Path, out: str | Path, *, work: str | Path,
             also: Sequence[tuple[str, str | Path]] = (), cross: Sequence[tuple[str, str | Path]] = (),
             profile: str = "laptop", model: str = "seresnet", recipe: str = "modern_noaug", seed: int = 0,
             name: str | None = None, jobs: int = 2, bootstrap: int = 1000, progress: bool = True,
             command: str | None = None, calibration_fraction: float = CALIBRATION_FRACTION) -> dict:
    """Train, calibrate, package and measure a pretrained encoder (see the module docstring).

    Parameters
    ----------
    corpus, root : str, Path
        The corpus that gives the train, dev and test speakers (as :func:`speakerlib.reproduce.reproduce`).
    out : str or Path
        The pretrained encoder's folder.
    work : str or Path
        The experiment folder (the reproduce layout; resumable).
    also : sequence of (kind, folder)
        Corpora whose every speaker trains.
    cross : sequence of (kind, folder)
        Corpora to test on, none of whose speakers trains.
    profile, model, recipe, seed
        As for reproduce.
    name : str, optional
        Default ``<model>-<folder of root>``.
    command : str, optional
        The command line that made it, for the model card.
    calibration_fraction : float
        Share of the corpus's dev speakers that fit the calibration instead of
        choosing the kept epoch (:func:`speakerlib.data.splits.carve_part`;
        default :data:`~speakerlib.data.splits.CALIBRATION_FRACTION`, 0.4: 10 of
        speechocean762's 25). 0 fits it on the dev speakers.

    Returns
    -------
    dict
        The manifest written to ``out/pretrained.json``.
    """
    started = time.perf_counter()
    name = name or f"{model}-{Path(root).name}"
    layout = Layout(Path(work))
    record = reproduce(corpus, root, layout.root, profile=profile, models=(model,), recipes=(recipe,), seed=seed,
                       also=also, jobs=jobs, bootstrap=bootstrap, progress=progress,
                       calibration_fraction=calibration_fraction)
    run_dir = layout.run(model, recipe)
    calibration = calibrate_run(run_dir, progress=progress)  # on the calibration part when there is one
    run = record["runs"][0]
    kept = load_run(final_stage(run_dir))
    main_stage = load_run(kept.config.base_run) if kept.config.base_run else kept
    stages = {"main_epochs": int(len(main_stage.history)), "main_best_epoch": int(main_stage.best()["best epoch"]),
              "fine_tune_epochs": int(len(kept.history)) - 1 if kept is not main_stage else 0,
              "fine_tune_kept": bool(kept is not main_stage and kept.best()["best epoch"] > 0)}
    manifest = read_manifest(layout.manifest)
    counts = {part: int(n) for part, n in manifest.groupby("split")["speaker"].nunique().items()}
    extra = {
        "speakerlib": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "model": model, "recipe": recipe, "profile": profile, "seed": seed, "width": run["width"],
        "parameters": run["parameters"], "train_minutes": run["train_minutes"], "epochs": run["epochs"],
        "best_epoch": run["best_epoch"], "dev_eer": run["dev_eer"], "stages": stages,
        "data": {"corpus": corpus, "root": str(root), "also": [[k, str(f)] for k, f in also],
                 "speakers": counts},
        "calibration": {k: calibration[k] for k in ("calibration", "eer", "cllr", "min_cllr", "fitted_on",
                                                    "false_accept_rate", "false_reject_rate")},
    }
    package_run(run_dir, out, name=name, extra=extra)
    encoder = load(out)
    measured_at = layout.root / "pretrained"
    parts = manifest[manifest["split"].isin(["dev", "test"])]
    home = Path(root).name
    tests = {}
    tests[home], shipped_ids, shipped = _measure(encoder, parts, measured_at / home, seed=seed, bootstrap=bootstrap)
    # the shipped (float16-kernel) weights against the float32 model reproduce evaluated, on the test utterances
    ids, X = load_embeddings(layout.embeddings(model, recipe))
    test_ids = set(parts.loc[parts["split"] == "test", "utt_id"].astype(str))
    keep = [k for k, u in enumerate(shipped_ids) if u in test_ids]
    cosines = np.sum(shipped[keep] * align(ids, X, [shipped_ids[k] for k in keep]), axis=1)
    crossed = []
    for kind, folder in cross:
        key = f"{kind} ({Path(folder).name})"
        other, _ = read_corpus(kind, folder, progress=progress)
        other = speaker_split(other, fractions=(0.0, 0.25, 0.75), seed=seed)
        tests[key], _, _ = _measure(encoder, other, measured_at / key.replace(" ", "_"), seed=seed,
                                    bootstrap=bootstrap)
        crossed.append(key)
    final = {**json.loads((Path(out) / MANIFEST_NAME).read_text()),
        "test": tests, "cross": crossed, "cross_folders": [str(f) for _, f in cross],
        "float16_agreement": {"utterances": int(cosines.size), "min_cosine": float(cosines.min()),
                              "mean_cosine": float(cosines.mean()),
                              "reproduce_test_eer": run["protocols"]["sv"]["eer"]},
        "minutes": (time.perf_counter() - started) / 60,
    }
    write_json(Path(out) / MANIFEST_NAME, final, indent=1)  # the figures; the files' hashes are unchanged
    write_text(Path(out) / CARD_NAME, model_card(final, cross=crossed))
    write_json(layout.root / "pretrained.json", final, indent=1)
    return final


def _licence(folder: str) -> str:
    for key, text in _LICENCES.items():
        if key.lower() in str(folder).lower():
            return text
    return f"`{folder}`: not one of the course's corpora; state its licence and attribution here"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * float(x):.1f} %"


def _ci(interval) -> str:
    return "" if not interval else f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def _stages(manifest: dict) -> str:
    s = manifest["stages"]
    text = f"{s['main_epochs']} epochs, of which epoch {s['main_best_epoch']} was kept for its dev EER"
    if s["fine_tune_epochs"]:
        text += (f", then a large-margin fine-tune of {s['fine_tune_epochs']} epochs, "
                 + ("kept" if s["fine_tune_kept"] else "not kept because it did not lower the dev EER"))
    return text + f" (dev EER {_pct(manifest['dev_eer'])})"


def _calibration_caveat(manifest: dict, cross: Sequence[str]) -> list[str]:
    """A paragraph when the calibration does not carry over to a cross-corpus test set (Cllr above 1)."""
    off = {k: t for k, t in manifest["test"].items() if k in cross and t["cllr"] > 1.0}
    if not off:
        return []
    worst = ", ".join(f"{k}: Cllr {t['cllr']:.2f}, actual DCF 0.01 {t['actual_dcf_0.01']:.2f}" for k, t in off.items())
    return [f"**The calibration does not carry over to every corpus** ({worst}): there the LLRs mislead more "
            "than they inform, although the scores still rank trials (see minimum Cllr). On recordings unlike the "
            "training data, read the LLRs and the default decision with caution and check a threshold on a few "
            "speakers of your own; a model trained on your own data is calibrated on its calibration (or dev) speakers "
            "(`speakerlib calibrate RUN`).", ""]


def _roles(calibration: dict) -> str:
    """What the dev (and calibration) speakers did, for the model card."""
    if calibration["fitted_on"]["split"] == CALIBRATION:
        return "the dev speakers chose the kept epoch, the calibration speakers fitted the calibration"
    return "the dev speakers chose the kept epoch and fitted the calibration"


def model_card(manifest: dict, *, cross: Sequence[str] = ()) -> str:
    """The model card of a pretrained encoder, from its manifest (every figure measured by :func:`pretrain`)."""
    data, cal = manifest["data"], manifest["calibration"]
    cross = list(cross or manifest.get("cross", []))
    rows = []
    for corpus, t in manifest["test"].items():
        role = "cross-corpus: no speaker trained" if corpus in cross else "test speakers of the split"
        rows.append(f"| {corpus} ({role}) | {t['speakers']} | {t['target_trials']} + {t['nontarget_trials']} | "
                    f"{_pct(t['eer'])}{_ci(t['eer_ci95'])} | {t['min_dcf_0.01']:.3f} | {t['actual_dcf_0.01']:.3f} | "
                    f"{t['cllr']:.3f} ({t['min_cllr']:.3f}) | {_pct(t['si_top1'])} | {len(t['refused'])} |")
    folders = [data["root"], *(f for _, f in data["also"]), *manifest.get("cross_folders", [])]
    licences = list(dict.fromkeys(_licence(folder) for folder in folders))
    agreement = manifest["float16_agreement"]
    speakers = ", ".join(f"{n} {part}" for part, n in data["speakers"].items())
    return "\n".join([
        f"# Model card: `{manifest['name']}`",
        "",
        f"A speaker encoder ({manifest['model']}, width {manifest['width']:g}, {manifest['parameters']:,} "
        f"parameters) trained by speakerlib {manifest['speakerlib']} with the `{manifest['recipe']}` recipe at the "
        f"`{manifest['profile']}` profile, seed {manifest['seed']}, in {manifest['train_minutes']:.1f} minutes of "
        f"training: {_stages(manifest)}. Made on {manifest['date'][:10]} by:",
        "",
        "```bash",
        manifest["command"] or "(called from Python: speakerlib.pretrain.pretrain)",
        "```",
        "",
        "## Data",
        "",
        f"Speakers: {speakers} ({_roles(cal)}; the test speakers were used for nothing but the figures "
        "below). Every utterance is VAD-trimmed 16 kHz speech.",
        "",
        *[f"- {text}" for text in licences],
        "",
        "## Calibration",
        "",
        f"llr = {cal['calibration']['scale']:.3f} x cosine {cal['calibration']['offset']:+.3f} (natural log), "
        f"fitted by prior-weighted logistic regression (prior {cal['calibration']['prior']:g}) on "
        f"{cal['fitted_on']['speakers']} {cal['fitted_on']['split']} speakers' trials (EER {_pct(cal['eer'])}, "
        f"Cllr {cal['cllr']:.3f}). The default decision accepts when the LLR is at least 0 (equal priors and "
        "costs); a prior P moves the threshold to log((1 - P) / P). At 0 those trials gave "
        f"{_pct(cal['false_accept_rate'])} false accepts and {_pct(cal['false_reject_rate'])} false rejects.",
        "",
        "## Measured (the shipped file, loaded with `speakerlib.inference.pretrained.load()`)",
        "",
        "| test set | speakers | trials (same + different) | EER [95 % CI] | minDCF 0.01 | actual DCF 0.01 | "
        "Cllr (min) | SI top-1 | refused |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Trials: every same-speaker pair and as many different-speaker pairs (seeded); SI: half of each test "
        "speaker's utterances enrol, the rest are identified among the test speakers; refused: recordings "
        "with less than 0.5 s of speech after VAD.",
        f"Kernels are stored in float16: on {agreement['utterances']} test utterances the shipped embeddings "
        f"have cosine {agreement['min_cosine']:.5f} (lowest) with the float32 model's.",
        "",
        *_calibration_caveat(manifest, cross),
        "## Intended use and limits",
        "",
        "For learning, and for verifying or identifying a handful of cooperative speakers who read or speak "
        "English into a reasonable microphone, at 16 kHz (other rates are resampled). It was trained on about a "
        "hundred speakers: it is far from the error rates of encoders trained on thousands (VoxCeleb). Known "
        "limits: non-native English read speech from Mandarin speakers (half of them children aged 6-15) and "
        "three LibriSpeech readers dominate its training data, so other languages, accents, spontaneous or "
        "emotional speech, telephone channels, far-field rooms and noise will do worse, as the cross-corpus "
        "rows show; it has not been evaluated for fairness across groups, and it must not be used for "
        "surveillance or to identify people without their consent.",
        "",
        "## Files",
        "",
        *[f"- `{n}`: SHA-256 `{h}`" for n, h in manifest["files"].items()],
        f"- `{MANIFEST_NAME}`: this card's figures as JSON",
        "",
    ])


def command_line(argv: Sequence[str]) -> str:
    """``argv`` as one shell command (for the model card)."""
    return "speakerlib " + " ".join(shlex.quote(a) for a in argv)
