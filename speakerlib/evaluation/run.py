"""One call (and one command) that evaluates embeddings under a named protocol.

:func:`evaluate` takes an embedding file (or arrays) and a manifest, runs one
of four protocols on the manifest's evaluation speakers, and writes
``metrics.json`` plus the protocol's figures and tables into a folder:

``si-reference``
    The seed's identification: per speaker the first half of the sorted
    utterances enrol, the rest are tested, accuracy
    (:func:`~speakerlib.evaluation.reference.si_reference`).
``si``
    Corrected identification: random enrolment for a seed, top-1/top-5,
    bootstrap interval, confusion matrix, accuracy by gender and age group
    (:func:`~speakerlib.evaluation.identification.si_protocol`).
``sv-reference``
    The seed's "SV": open-set membership detection of the first 20 speakers
    in sorted order, threshold tuned on the same scores
    (:func:`~speakerlib.evaluation.reference.membership_reference`).
``sv``
    Pairwise verification: trials built from the evaluation speakers
    (:func:`~speakerlib.evaluation.trials.make_trials`), cosine scores
    (optionally AS-norm against the training speakers' embeddings), EER,
    minDCF, and the threshold chosen on the ``dev`` speakers' trials applied
    to test (:func:`~speakerlib.evaluation.verification.verification_report`);
    and the scores calibrated to log-likelihood ratios on the dev trials
    (:func:`~speakerlib.evaluation.calibration.fit_calibration`), with Cllr,
    minimum Cllr and actual DCF on test (``calibration`` in ``metrics.json``,
    the Bayes error plot ``bayes_error.png``).

Which utterances: with a ``split`` column in the manifest, those of
``split == "test"`` (and ``dev`` for the sv threshold, ``train`` for the
AS-norm cohort); without one, all of them, and ``metrics.json`` says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib import registry
from speakerlib._io import write_json
from speakerlib.errors import ManifestError, ProtocolError
from speakerlib.evaluation.calibration import actual_dcf, cllr, fit_calibration, min_cllr
from speakerlib.evaluation.embeddings import align, load_embeddings
from speakerlib.evaluation.metrics import min_dcf
from speakerlib.evaluation.identification import si_protocol
from speakerlib.evaluation.reference import membership_reference, si_reference
from speakerlib.evaluation.trials import make_trials
from speakerlib.evaluation.verification import score_trials, verification_report

__all__ = ["PROTOCOLS", "DESCRIPTIONS", "evaluate", "age_groups"]

PROTOCOLS = registry.PROTOCOLS

DESCRIPTIONS = {
    "si-reference": "closed-set SI among the evaluation speakers; per speaker the first half of the "
                    "utterances sorted by id enrol (mean embedding), the rest are tested; cosine; "
                    "accuracy (the seed's protocol)",
    "si": "closed-set SI among the evaluation speakers; a random half of each speaker's utterances "
          "enrol (seeded); cosine to the mean of the length-normalised enrolment embeddings; top-1 and "
          "top-5 accuracy with 95 % bootstrap intervals over test utterances",
    "sv-reference": "the seed's 'SV': open-set membership detection; the first enrolled speakers in "
                    "sorted id order enrol with the first half of their utterances; every other "
                    "utterance is scored (max cosine + 1) / 2; EER at the ROC point nearest FNR = FPR "
                    "and accuracy at a threshold tuned on these same scores (not comparable with "
                    "published EERs)",
    "sv": "pairwise verification on the evaluation speakers: every same-speaker pair and as many "
          "different-speaker pairs (seeded); cosine scores; EER with interpolation and ties grouped; "
          "minDCF (C_miss = C_fa = 1) at p_target 0.01 and 0.05; threshold chosen at the dev speakers' "
          "EER and applied to test; 95 % trial-level bootstrap intervals; scores calibrated to LLRs by "
          "prior-weighted logistic regression on the dev trials (prior 0.5), Cllr and actual DCF on test",
}

assert tuple(DESCRIPTIONS) == PROTOCOLS, "every registered protocol is described"

def age_groups(age: pd.Series) -> pd.Series:
    """Age in years -> a group label (``"<13"``, ``"13-17"``, ``"18-39"``, ``"40+"``); NaN stays NaN."""
    values = pd.to_numeric(age, errors="coerce")
    labels = pd.cut(values, bins=[-np.inf, 12, 17, 39, np.inf], labels=["<13", "13-17", "18-39", "40+"])
    return labels.astype(object).where(values.notna())


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return None
    return value


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path.name


def evaluate(
    embeddings,
    manifest,
    protocol: str,
    out_dir: str | Path | None = None,
    *,
    split: str = "test",
    seed: int = 0,
    n_enrol: int | None = None,
    n_enrolled: int = 20,
    as_norm_top_k: int | None = None,
    bootstrap: int = 1000,
    figures: bool = True,
) -> dict:
    """Evaluate embeddings under one protocol; write ``metrics.json`` and figures.

    Parameters
    ----------
    embeddings : str, Path or (ids, X)
        An embedding file (:func:`~speakerlib.evaluation.embeddings.load_embeddings`)
        or ids ``(N,)`` and embeddings ``(N, dim)``.
    manifest : DataFrame, str or Path
        Must hold ``utt_id`` and ``speaker``; ``split``, ``gender`` and ``age`` are used when present.
    protocol : {"si-reference", "si", "sv-reference", "sv"}
    out_dir : str or Path, optional
        Where ``metrics.json``, tables and figures go (nothing is written when None).
    split : str
        The evaluation speakers' split (default ``test``).
    seed : int
        Enrolment (si), trials (sv) and bootstrap seed.
    n_enrol : int, optional
        si: enrolment utterances per speaker (default: half).
    n_enrolled : int
        sv-reference: enrolled speakers (the seed: 20), at most all but one.
    as_norm_top_k : int, optional
        sv: adaptive s-norm against the ``train`` speakers' embeddings, top k.
    bootstrap : int
        Bootstrap resamples for the intervals (0: none).
    figures : bool
        Also write the figures (PNG).

    Returns
    -------
    dict
        What ``metrics.json`` holds: ``protocol``, ``description``,
        ``utterances``, ``speakers``, ``split_used`` and the protocol's
        metrics (rates as fractions); figures and tables listed under ``files``.

    Raises
    ------
    KeyError
        Unknown protocol (the message lists the valid ones).
    ProtocolError
        Fewer than two evaluation speakers, or a protocol that cannot run on
        this manifest (named in the message).
    UnknownUtteranceError
        Evaluation utterances missing from the embeddings.
    """
    registry.check_name("protocol", protocol, PROTOCOLS)
    ids, X = load_embeddings(embeddings) if isinstance(embeddings, (str, os.PathLike)) else (
        np.asarray(embeddings[0]).astype(str), np.asarray(embeddings[1]))
    if isinstance(manifest, pd.DataFrame):
        frame = manifest.copy()
    else:  # only utt_id and speaker are needed here, not a full manifest
        frame = pd.read_csv(manifest, dtype={"utt_id": str, "speaker": str, "split": str, "gender": str})
    missing = [c for c in ("utt_id", "speaker") if c not in frame]
    if missing:
        raise ManifestError(
            f"{manifest if not isinstance(manifest, pd.DataFrame) else 'manifest'}: expected the columns "
            f"utt_id and speaker, found no {missing}. Use a manifest from speakerlib manifest/split."
        )
    frame["utt_id"] = frame["utt_id"].astype(str)
    frame["speaker"] = frame["speaker"].astype(str)
    has_split = "split" in frame and frame["split"].notna().any()
    chosen = frame[frame["split"] == split] if has_split else frame
    if chosen["speaker"].nunique() < 2:
        raise ProtocolError(
            f"protocol {protocol}: expected at least 2 speakers in split {split!r}, found "
            f"{chosen['speaker'].nunique()} ({len(chosen)} utterances). Evaluate another split or a "
            "bigger manifest."
        )
    chosen = chosen.sort_values("utt_id", kind="stable").reset_index(drop=True)
    E = align(ids, X, chosen["utt_id"].to_numpy())
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    record: dict = {
        "protocol": protocol,
        "description": DESCRIPTIONS[protocol],
        "split_used": split if has_split else "all (the manifest has no split column)",
        "utterances": int(len(chosen)),
        "speakers": int(chosen["speaker"].nunique()),
        "seed": int(seed),
        "files": [],
    }
    utt, spk = chosen["utt_id"].to_numpy(), chosen["speaker"].to_numpy()

    if protocol == "si-reference":
        result = si_reference(E, utt, spk)
        record.update({k: result[k] for k in ("accuracy", "correct", "total", "n_speakers")})
        record["chance"] = 1.0 / result["n_speakers"]
        if out is not None:
            result["decisions"].to_csv(out / "decisions.csv", index=False)
            record["files"].append("decisions.csv")

    elif protocol == "si":
        groups = {}
        if "gender" in chosen and chosen["gender"].notna().all():
            groups["gender"] = chosen.set_index("utt_id")["gender"]
        if "age" in chosen and pd.to_numeric(chosen["age"], errors="coerce").notna().any():
            groups["age_group"] = age_groups(chosen.set_index("utt_id")["age"]).dropna()
        result = si_protocol(E, utt, spk, n_enrol=n_enrol, seed=seed, groups=groups or None,
                             bootstrap=bootstrap)
        keep = ("top1_accuracy", "top5_accuracy", "top1_ci95", "top5_ci95", "chance", "n_speakers",
                "n_enrol_utterances", "n_test", "n_enrol")
        record.update({k: result[k] for k in keep if k in result})
        record["per_group"] = {
            name: table.reset_index().to_dict("records") for name, table in result["per_group"].items()
        }
        if out is not None:
            result["decisions"].to_csv(out / "decisions.csv", index=False)
            result["confusion"].to_csv(out / "confusion.csv")
            record["files"] += ["decisions.csv", "confusion.csv"]
            if figures:
                # matplotlib is imported only when figures are drawn: it is slow to import.
                from speakerlib.evaluation.plots import plot_confusion

                record["files"].append(_save(plot_confusion(result["confusion"]), out / "confusion.png"))

    elif protocol == "sv-reference":
        n = min(n_enrolled, int(chosen["speaker"].nunique()) - 1)
        result = membership_reference(E, utt, spk, n_enrolled=n)
        record.update(result["metrics"])
        record["n_enrolled"] = n
        record["enrolled"] = list(map(str, result["enrolled"]))
        if out is not None:
            pd.DataFrame({"utt_id": result["utt_id"], "speaker": result["speaker"],
                          "y_true": result["y_true"], "y_score": result["y_score"]}).to_csv(
                out / "scores.csv", index=False)
            record["files"].append("scores.csv")
            if figures:
                from speakerlib.evaluation.plots import plot_roc, plot_score_histograms

                record["files"].append(_save(plot_roc(result["y_score"], result["y_true"]), out / "roc.png"))
                record["files"].append(_save(plot_score_histograms(
                    result["y_score"], result["y_true"], threshold=result["metrics"]["threshold"],
                    threshold_label="threshold tuned on these scores"), out / "scores.png"))

    else:  # sv
        cohort = None
        if as_norm_top_k:
            train_ids = frame.loc[frame["split"] == "train", "utt_id"].to_numpy() if has_split else []
            if len(train_ids) == 0:
                raise ProtocolError("sv with AS-norm: expected train-split utterances for the cohort, found none.")
            cohort = align(ids, X, train_ids)
        trials = make_trials(chosen, seed=seed)
        scores = score_trials(trials, ids, X, cohort=cohort, as_norm_top_k=as_norm_top_k)
        labels = trials["label"].to_numpy()
        dev = frame[frame["split"] == "dev"] if has_split else frame.iloc[:0]
        if dev["speaker"].nunique() >= 2:
            dev_trials = make_trials(dev.reset_index(drop=True), seed=seed)
            dev_scores = score_trials(dev_trials, ids, X, cohort=cohort, as_norm_top_k=as_norm_top_k)
            report = verification_report(dev_scores, dev_trials["label"].to_numpy(), scores, labels,
                                         bootstrap=bootstrap, seed=seed)
        else:
            raise ProtocolError(
                "sv: expected dev speakers (split == 'dev', at least 2) to choose the decision "
                f"threshold on, found {dev['speaker'].nunique()}. Add a split column "
                "(speakerlib split) so that the threshold is not tuned on the test trials."
            )
        record.update(report)
        record["as_norm_top_k"] = as_norm_top_k
        calibration = fit_calibration(dev_scores, dev_trials["label"].to_numpy(), prior=0.5)
        llr = calibration.llr(scores)
        record["calibration"] = {
            **calibration.to_dict(), "fitted_on": "dev trials",
            "cllr": cllr(llr, labels), "min_cllr": min_cllr(scores, labels),
            **{f"actual_dcf_{p:g}": actual_dcf(llr, labels, p_target=p) for p in (0.01, 0.05, 0.5)},
            **{f"min_dcf_{p:g}": min_dcf(scores, labels, p_target=p)[0] for p in (0.5,)},
        }
        if out is not None:
            trials.assign(score=scores).to_csv(out / "trials_scored.csv", index=False)
            record["files"].append("trials_scored.csv")
            if figures:
                from speakerlib.evaluation.plots import (
                    plot_bayes_error,
                    plot_det,
                    plot_embeddings_2d,
                    plot_roc,
                    plot_score_histograms,
                )

                record["files"].append(_save(plot_roc(scores, labels), out / "roc.png"))
                record["files"].append(_save(plot_det(scores, labels), out / "det.png"))
                record["files"].append(_save(plot_score_histograms(
                    scores, labels, threshold=report["dev_threshold"],
                    threshold_label="threshold chosen on dev"), out / "scores.png"))
                record["files"].append(_save(plot_embeddings_2d(E, spk, seed=seed), out / "embeddings.png"))
                record["files"].append(_save(plot_bayes_error(llr, labels), out / "bayes_error.png"))

    record = _jsonable(record)
    if out is not None:
        write_json(out / "metrics.json", record, indent=1)
    return record
