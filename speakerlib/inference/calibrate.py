"""Calibrating a run: fit the score-to-LLR map on speakers it did not train on, and keep it beside the model.

:func:`calibrate_run` embeds the utterances of one part of the run's store
(by default ``calibration`` where the split has that part, else ``dev``:
speaker-disjoint from training, never the test speakers),
scores all their same-speaker pairs and as many different-speaker pairs
(:func:`speakerlib.evaluation.trials.make_trials`), fits
:func:`speakerlib.evaluation.calibration.fit_calibration`, and writes
``RUN/calibration.json`` (atomically): the map, the model file's SHA-256 it
belongs to, the trials' EER, Cllr, minimum Cllr, and 1001 quantiles of the
target and non-target LLRs, from which :class:`~speakerlib.inference.SpeakerEncoder`
states the error rates to expect at any threshold.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from speakerlib._io import write_json
from speakerlib.data.splits import CALIBRATION
from speakerlib.embed import embed_store
from speakerlib.errors import CalibrationError
from speakerlib.evaluation.calibration import actual_dcf, bayes_threshold, cllr, fit_calibration, min_cllr
from speakerlib.evaluation.metrics import eer, min_dcf
from speakerlib.evaluation.trials import make_trials
from speakerlib.evaluation.verification import score_trials
from speakerlib.inference.encoder import SpeakerEncoder, final_stage
from speakerlib.inference.frontend import CALIBRATION_NAME, file_sha256
from speakerlib.store import FeatureStore, load_store
from speakerlib.train.config import RunConfig
from speakerlib.train.run_folder import EMBEDDING_NAME

__all__ = ["calibrate_encoder", "calibrate_run", "calibration_record"]

#: Quantile levels kept of each kind of trial's LLRs.
_LEVELS = np.linspace(0.0, 1.0, 1001)


def calibration_record(scores: np.ndarray, labels: np.ndarray, *, prior: float = 0.5,
                       decision_prior: float = 0.5) -> dict:
    """The calibration of these (dev) trials and what it gives on them: the content of ``calibration.json``
    less the model and data it came from.

    Parameters
    ----------
    scores : np.ndarray [shape=(n,)]
        Cosine scores of the trials.
    labels : np.ndarray [shape=(n,)]
        1 same speaker, 0 not.
    prior : float
        The prior the logistic regression is weighted for.
    decision_prior : float
        The prior whose Bayes threshold decides by default.
    """
    calibration = fit_calibration(scores, labels, prior=prior)
    llr = calibration.llr(scores)
    threshold = bayes_threshold(decision_prior)
    labels = np.asarray(labels).astype(int)
    return {
        "calibration": calibration.to_dict(),
        "decision_prior": float(decision_prior),
        "decision_threshold_llr": threshold,
        "target_trials": int(labels.sum()),
        "nontarget_trials": int((labels == 0).sum()),
        "eer": eer(scores, labels),
        "cllr": cllr(llr, labels),
        "min_cllr": min_cllr(scores, labels),
        "min_dcf_0.01": min_dcf(scores, labels, p_target=0.01)[0],
        "actual_dcf_0.01": actual_dcf(llr, labels, p_target=0.01),
        "false_accept_rate": float(np.mean(llr[labels == 0] >= threshold)),
        "false_reject_rate": float(np.mean(llr[labels == 1] < threshold)),
        "target_llr_quantiles": np.quantile(llr[labels == 1], _LEVELS).round(4).tolist(),
        "nontarget_llr_quantiles": np.quantile(llr[labels == 0], _LEVELS).round(4).tolist(),
    }


def _dated(model_sha256: str | None, fitted_on: dict, fitted: dict) -> dict:
    """A calibration record: the model it belongs to, what it was fitted on, when, and the fit."""
    return {"model_sha256": model_sha256, "fitted_on": fitted_on,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **fitted}


def calibrate_run(run_dir: str | Path, *, store: str | Path | FeatureStore | None = None, split: str | None = None,
                  prior: float = 0.5, decision_prior: float = 0.5, seed: int = 0,
                  progress: bool = False) -> dict:
    """Fit a run's calibration on one part of a store and write it to ``RUN/calibration.json``.

    Parameters
    ----------
    run_dir : str or Path
        A finished run (its last stage is calibrated: :func:`~speakerlib.inference.encoder.final_stage`).
    store : str, Path or FeatureStore, optional
        Where the trials' utterances come from (default: the store the run trained on).
    split : str, optional
        The part of the store's index to use: speakers the run did not train on.
        Default: ``calibration`` when the split has that part
        (:func:`speakerlib.data.splits.carve_part`: speakers that did not
        choose the kept epoch either), else ``dev``.
    prior, decision_prior : float
        See :func:`calibration_record`.
    seed : int
        Of the trial list.

    Returns
    -------
    dict
        What was written.

    Raises
    ------
    CalibrationError
        If the part holds fewer than two speakers, or speakers the run trained on.
    """
    folder = final_stage(Path(run_dir).expanduser())
    config = RunConfig.read(folder)
    opened = store if isinstance(store, FeatureStore) else load_store(store if store is not None else config.store)
    index = opened.index
    if split is None:
        split = CALIBRATION if (index["split"] == CALIBRATION).any() else "dev"
    part = index[index["split"] == split].sort_values("utt_id", kind="stable").reset_index(drop=True)
    if part["speaker"].nunique() < 2:
        raise CalibrationError(
            f"{opened.path}: expected at least 2 speakers in the part {split!r} to calibrate on, found "
            f"{part['speaker'].nunique()}. Pass split= naming a part of held-out speakers (dev, or calibration "
            "where the split has one).", cli={"Pass split=": "Pass --split"})
    seen = sorted(set(part["speaker"].astype(str)) & set(config.speakers))
    if seen:
        raise CalibrationError(
            f"{opened.path}: the part {split!r} holds {len(seen)} speaker(s) the run trained on (e.g. "
            f"{seen[0]}); a calibration fitted on them would be too confident. Use the dev part (--split dev).")
    trials = make_trials(part, seed=seed)
    ids, X = embed_store(folder, opened, ids=part["utt_id"].astype(str).tolist(), progress=progress)
    scores = score_trials(trials, ids, X)
    labels = trials["label"].to_numpy()
    record = _dated(file_sha256(folder / EMBEDDING_NAME),
                    {"store": str(opened.path), "split": split, "speakers": int(part["speaker"].nunique()),
                     "utterances": int(len(part)), "trial_seed": int(seed)},
                    calibration_record(scores, labels, prior=prior, decision_prior=decision_prior))
    write_json(folder / CALIBRATION_NAME, record, indent=1)
    return record


def calibrate_encoder(encoder: SpeakerEncoder, manifest, *, prior: float = 0.5, decision_prior: float = 0.5,
                      seed: int = 0) -> SpeakerEncoder:
    """The same encoder with a calibration fitted on recordings of your own speakers.

    The LLRs of a calibration hold for recordings like the ones it was fitted
    on; on another corpus (another language, microphone, room) they may not. A
    few speakers of the new kind, none of whom the model trained on, fix that:
    every same-speaker pair of their recordings and as many different-speaker
    pairs (:func:`speakerlib.evaluation.trials.make_trials`) refit the map.

    Parameters
    ----------
    encoder : SpeakerEncoder
    manifest : DataFrame
        The recordings: columns ``utt_id``, ``speaker``, ``path``; at least two speakers.
    prior, decision_prior : float
        See :func:`calibration_record`.
    seed : int
        Of the trial list.

    Returns
    -------
    SpeakerEncoder
        Its model and identity are ``encoder``'s (a speaker database stays valid); its
        ``calibration_record`` says what it was fitted on.

    Raises
    ------
    CalibrationError
        Fewer than two speakers.
    """
    frame = manifest.sort_values("utt_id", kind="stable").reset_index(drop=True)
    if frame["speaker"].nunique() < 2:
        raise CalibrationError(f"expected recordings of at least 2 speakers to calibrate on, found "
                               f"{frame['speaker'].nunique()}. Add recordings of other speakers.")
    ids = frame["utt_id"].astype(str).tolist()
    X = encoder.embed([str(p) for p in frame["path"]])
    trials = make_trials(frame, seed=seed)
    scores = score_trials(trials, ids, X)
    record = _dated(encoder.identity.get("sha256"),
                    {"recordings": int(len(frame)), "speakers": int(frame["speaker"].nunique()),
                     "trial_seed": int(seed)},
                    calibration_record(scores, trials["label"].to_numpy(), prior=prior,
                                       decision_prior=decision_prior))
    return SpeakerEncoder(encoder.model, encoder.config, source=encoder.source, identity=encoder.identity,
                          calibration=record)
