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

Enrolment (``enrolment`` in ``metrics.json``): ``si`` uses the manifest's
``role`` column (``enrol`` / ``test``, written by ``speakerlib split``) when it
gives every evaluated utterance a role, and draws a random enrolment for the
seed when it gives none (``n_enrol`` with roles is an error: choose one).
``si-reference`` and ``sv-reference`` keep the seed's rule (the first half by
``utt_id``) whatever the roles say: they reproduce the seed. ``sv`` has no
enrolment: a trial pairs two utterances.

A fixed trial list (``trials=FILE``, protocol ``sv``): instead of the trials
built from the evaluation speakers, those of a VoxCeleb-format list
(``1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav``, or
Kaldi's ``a b target``), each path matched to a manifest utterance by
:func:`~speakerlib.evaluation.trials.match_trials`; scored, thresholded on
dev and calibrated as the built trials are, with the file's name and
SHA-256 in ``metrics.json`` (``trial_list``). It is a setting of ``sv``
rather than a protocol of its own because everything but the source of the
trials is ``sv``'s, and every registered protocol must run on any split
manifest (``speakerlib reproduce`` runs them all).

Speakers the model has seen: when the embedding file records the run folder
that made it (:func:`~speakerlib.evaluation.embeddings.embedding_run_dir`),
or ``run_dir`` names it, the evaluated speakers are looked up in
``RUN/split.csv``; a training speaker (part ``train`` or ``val``), or a dev
speaker (part ``dev``, which chose the kept epoch) when evaluating another
split than dev, gives a warning, and ``training_overlap`` in ``metrics.json``
counts them.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib import registry
from speakerlib._io import atomic_path, json_ready, write_json
from speakerlib.errors import ManifestError, ProtocolError, TrialListError
from speakerlib.evaluation.backend import wccn_normalised
from speakerlib.evaluation.calibration import actual_dcf, cllr, fit_calibration, min_cllr
from speakerlib.evaluation.embeddings import align, read_embedding_file
from speakerlib.evaluation.metrics import min_dcf
from speakerlib.evaluation.identification import si_protocol
from speakerlib.evaluation.reference import membership_reference, si_reference
from speakerlib.evaluation.trials import make_trials, match_trials, read_trial_list
from speakerlib.evaluation.verification import score_trials, verification_report

__all__ = ["PROTOCOLS", "DESCRIPTIONS", "evaluate", "age_groups", "training_overlap"]

#: The seed's number of enrolled speakers in its membership "SV" (``sv-reference``).
SEED_N_ENROLLED = 20
#: The run folder's table of which utterance did what (:mod:`speakerlib.train.run_folder`).
RUN_SPLIT_NAME = "split.csv"

PROTOCOLS = registry.PROTOCOLS

DESCRIPTIONS = {
    "si-reference": "closed-set SI among the evaluation speakers; per speaker the first half of the "
                    "utterances sorted by id enrol (mean embedding), the rest are tested; cosine; "
                    "accuracy (the seed's protocol)",
    "si": "closed-set SI among the evaluation speakers; the utterances the manifest's role column marks "
          "enrol, or without roles a random half of each speaker's utterances (seeded); cosine to the mean "
          "of the length-normalised enrolment embeddings; top-1 and top-5 accuracy with 95 % bootstrap "
          "intervals over test utterances",
    "sv-reference": "the seed's 'SV': open-set membership detection; the first enrolled speakers in "
                    "sorted id order enrol with the first half of their utterances; every other "
                    "utterance is scored (max cosine + 1) / 2; EER at the ROC point nearest FNR = FPR "
                    "and accuracy at a threshold tuned on these same scores (not comparable with "
                    "published EERs)",
    "sv": "pairwise verification on the evaluation speakers: every same-speaker pair and as many "
          "different-speaker pairs (seeded); cosine scores; EER with interpolation and ties grouped; "
          "minDCF (C_miss = C_fa = 1) at p_target 0.01 and 0.05; threshold chosen at the dev speakers' "
          "EER and applied to test; 95 % trial-level bootstrap intervals; scores calibrated to LLRs by "
          "prior-weighted logistic regression on the dev trials (prior 0.5), Cllr and actual DCF on test; "
          "or the trials of a given trial list instead of the built ones",
}

ENROLMENT = {
    "si-reference": "the seed's rule: the first half of each speaker's utterances by utt_id (manifest roles "
                    "not used)",
    "sv-reference": "the seed's rule: the first half of each enrolled speaker's utterances by utt_id "
                    "(manifest roles not used)",
    "sv": "none: each trial pairs two utterances (manifest roles not used)",
}

assert tuple(DESCRIPTIONS) == PROTOCOLS, "every registered protocol is described"

def age_groups(age: pd.Series) -> pd.Series:
    """Age in years -> a group label (``"<13"``, ``"13-17"``, ``"18-39"``, ``"40+"``); NaN stays NaN."""
    values = pd.to_numeric(age, errors="coerce")
    labels = pd.cut(values, bins=[-np.inf, 12, 17, 39, np.inf], labels=["<13", "13-17", "18-39", "40+"])
    return labels.astype(object).where(values.notna())


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path.name


def _read_frame(manifest) -> pd.DataFrame:
    if isinstance(manifest, pd.DataFrame):
        frame = manifest.copy()
    else:  # only utt_id and speaker are needed here, not a full manifest
        frame = pd.read_csv(manifest, dtype={c: str for c in ("utt_id", "speaker", "split", "gender", "path",
                                                              "role")})
    missing = [c for c in ("utt_id", "speaker") if c not in frame]
    if missing:
        raise ManifestError(
            f"{manifest if not isinstance(manifest, pd.DataFrame) else 'manifest'}: expected the columns "
            f"utt_id and speaker, found no {missing}. Use a manifest from speakerlib manifest/split."
        )
    frame["utt_id"] = frame["utt_id"].astype(str)
    frame["speaker"] = frame["speaker"].astype(str)
    return frame


def _check_settings(protocol: str, *, n_enrol, n_enrolled, as_norm_top_k, trials, trials_root) -> None:
    """A setting given to a protocol that does not use it is an error, not ignored."""
    unused = [(name, value, flag, only) for name, value, flag, only in (
        ("n_enrol", n_enrol, "--enrol", "si"), ("n_enrolled", n_enrolled, "--enrolled", "sv-reference"),
        ("as_norm_top_k", as_norm_top_k, "--as-norm", "sv"),
        ("trials", trials, "--trials", "sv")) if value is not None and protocol != only]
    for name, value, flag, only in unused:
        raise ProtocolError(
            f"protocol {protocol}: {name}={value!r} is a setting of protocol {only} only. Leave {name} out, "
            f"or evaluate protocol={only!r}.",
            cli={f"{name}={value!r}": f"{flag} {value}", f"Leave {name} out": f"Leave out {flag}",
                 f"protocol={only!r}": f"--protocol {only}"},
        )
    if trials_root is not None and trials is None:
        raise ProtocolError("trials_root (the corpus folder of a trial list's paths) needs trials=<the list>.",
                            cli={"trials_root": "--trials-root", "trials=": "--trials "})
    if n_enrolled is not None and (int(n_enrolled) != n_enrolled or n_enrolled < 1):
        raise ProtocolError(f"sv-reference: expected n_enrolled >= 1 enrolled speakers, found {n_enrolled!r}.",
                            cli={"n_enrolled": "--enrolled"})


def _n_enrolled(requested: int | None, n_speakers: int, where: str) -> tuple[int, str]:
    """sv-reference's enrolled speakers and the rule that chose them; too many asked is an error."""
    most = n_speakers - 1  # at least one speaker must stay a non-member
    if requested is None:
        rule = (f"default: the seed's {SEED_N_ENROLLED}, or all but one speaker when {where} holds "
                f"{SEED_N_ENROLLED} or fewer")
        return min(SEED_N_ENROLLED, most), rule
    if requested > most:
        raise ProtocolError(
            f"sv-reference: {where} holds {n_speakers} speakers and n_enrolled={requested} were asked to "
            f"enrol; expected n_enrolled <= {most} (at least one speaker must stay a non-member). Pass "
            f"n_enrolled={most} or fewer, or evaluate a split with more speakers.",
            cli={"n_enrolled=": "--enrolled ", "n_enrolled <=": "--enrolled <="},
        )
    return int(requested), "as asked"


def _manifest_roles(chosen: pd.DataFrame, n_enrol: int | None, where: str) -> np.ndarray | None:
    """The ``role`` column of the evaluated utterances, or None when it gives none of them a role."""
    if "role" not in chosen:
        return None
    roles = chosen["role"].fillna("").astype(str).str.strip().to_numpy()
    given = roles != ""
    if not given.any():
        return None
    if not given.all():
        raise ProtocolError(
            f"si: the manifest's role column gives {int(given.sum())} of the {roles.size} utterances of "
            f"{where} a role and leaves {int((~given).sum())} without (first: "
            f"{chosen['utt_id'].to_numpy()[~given][:5].tolist()}); expected roles for all or for none. "
            "Re-split the manifest with speakerlib split, or empty the role column to draw the enrolment "
            "at random."
        )
    if n_enrol is not None:
        raise ProtocolError(
            f"si: the manifest's role column already says which utterances of {where} enrol, and "
            f"n_enrol={n_enrol} asks for a random draw of {n_enrol} per speaker; expected one of the two. "
            f"Leave n_enrol out to use the roles, or re-split the manifest with speakerlib split --enrol "
            f"{n_enrol} to make those roles.",
            cli={"n_enrol=": "--enrol ", "Leave n_enrol out": "Leave out --enrol"},
        )
    return roles


def _trial_list(trials, root, frame: pd.DataFrame, split: str | None) -> tuple[pd.DataFrame, dict]:
    """A trial file matched to the manifest; its utterances must all be of the evaluated split."""
    path = Path(trials)
    listed, sha256 = read_trial_list(path)
    matched, how = match_trials(listed, frame, root=root, source=str(path))
    if split is not None:
        split_of = dict(zip(frame["utt_id"], frame["split"].fillna("").astype(str)))
        for side in ("enrol", "test"):
            outside = matched[matched[side].map(split_of) != split]
            if len(outside):
                row = outside.iloc[0]
                its = split_of[row[side]]
                raise TrialListError(
                    f"{path}:{int(row['line'])}: the {side} utterance {row[side + '_as_listed']!r} is "
                    f"{row[side]} of split {its!r}, expected split {split!r} (the evaluated "
                    f"speakers; dev chooses the threshold, train is the cohort); {len(outside)} trials have "
                    f"such a {side} side. Pass split={its!r} if the list is meant for those "
                    f"speakers, or re-split the manifest so that the list's speakers are all in {split}.",
                    cli={f"Pass split={its!r}": f"Pass --split {its}"},
                )
    record = {"file": path.name, "path": str(path.expanduser().absolute()), "sha256": sha256,
              "trials": int(len(matched)), "n_target": int(matched["label"].sum()),
              "n_nontarget": int((matched["label"] == 0).sum()), "matching": how}
    return matched, record


def training_overlap(speakers, run_dir: str | os.PathLike, *, split: str | None = "test",
                     recorded: bool = False) -> dict:
    """Which of ``speakers`` the run in ``run_dir`` trained on (or chose its epoch on), with a warning.

    Parameters
    ----------
    speakers : sequence of str
        The evaluated speakers.
    run_dir : path-like
        A training run folder; its ``split.csv`` (columns ``utt_id``,
        ``speaker``, ``split``, ``part``) says which speaker did what.
    split : str or None
        The evaluated split: dev speakers of the run (part ``dev``) count
        unless it is ``"dev"``.
    recorded : bool
        ``run_dir`` came from the embedding file: a folder moved or deleted
        since gives a warning and an unchecked record instead of an error.

    Returns
    -------
    dict
        ``checked``, ``run_dir``; when checked ``evaluated_speakers``,
        ``training_speakers`` and ``dev_speakers`` (counts of evaluated
        speakers that were part ``train``/``val``, or ``dev``, of the run) and
        ``training_examples`` / ``dev_examples`` (up to 10 ids each).

    Warns
    -----
    UserWarning
        When any evaluated speaker was a training or dev speaker of the run,
        naming how many, a few ids, and the fix; or when a recorded run folder has no ``split.csv``.

    Raises
    ------
    ProtocolError
        A ``run_dir`` given explicitly has no readable ``split.csv``.
    """
    folder = Path(run_dir)
    table = folder / RUN_SPLIT_NAME
    if not table.is_file():
        message = (f"{table}: expected the run's table of training speakers (utt_id, speaker, split, part), "
                   "found none")
        if not recorded:
            raise ProtocolError(f"{message}. Pass run_dir=<the training run folder the embeddings came from>.",
                                cli={"Pass run_dir=": "Pass --run "})
        warnings.warn(f"{message} (the embedding file names this run folder; was it moved?): could not check "
                      "whether the evaluated speakers trained the model.", stacklevel=3)
        return {"checked": False, "run_dir": str(folder), "reason": f"no {RUN_SPLIT_NAME} in the run folder"}
    parts = pd.read_csv(table, dtype=str, keep_default_na=False)
    if not {"speaker", "part"} <= set(parts.columns):
        raise ProtocolError(f"{table}: expected the columns speaker and part, found {list(parts.columns)}.")
    trained = set(parts.loc[parts["part"].isin(["train", "val"]), "speaker"])
    chose = set(parts.loc[parts["part"] == "dev", "speaker"]) - trained if split != "dev" else set()
    evaluated = sorted({str(s) for s in speakers})
    in_train = [s for s in evaluated if s in trained]
    in_dev = [s for s in evaluated if s in chose]
    record = {"checked": True, "run_dir": str(folder), "evaluated_speakers": len(evaluated),
              "training_speakers": len(in_train), "dev_speakers": len(in_dev),
              "training_examples": in_train[:10], "dev_examples": in_dev[:10]}
    if in_train or in_dev:
        try:
            seed = json.loads((folder / "config.json").read_text()).get("seed")
        except (OSError, ValueError):
            seed = None
        found = []
        if in_train:
            found.append(f"{len(in_train)} trained the model (part train/val in {table}: "
                         f"{', '.join(in_train[:5])}{', ...' if len(in_train) > 5 else ''})")
        if in_dev:
            found.append(f"{len(in_dev)} chose its kept epoch (part dev: {', '.join(in_dev[:5])}"
                         f"{', ...' if len(in_dev) > 5 else ''})")
        re_split = f"speakerlib split --seed {seed}" if seed is not None else "speakerlib split with the run's seed"
        warnings.warn(
            f"of the {len(evaluated)} evaluated speakers ({'split ' + repr(split) if split else 'the manifest'}), "
            f"{' and '.join(found)}; their scores are optimistic, not those of new voices. Evaluate speakers "
            f"the run never saw: take the split the run trained with ({table} holds each utterance's split), or "
            f"split the manifest again with the run's seed ({re_split}) if that is how the run's store was split.",
            stacklevel=3,
        )
    return record


def evaluate(
    embeddings,
    manifest,
    protocol: str,
    out_dir: str | Path | None = None,
    *,
    split: str = "test",
    seed: int = 0,
    n_enrol: int | None = None,
    n_enrolled: int | None = None,
    as_norm_top_k: int | None = None,
    bootstrap: int = 1000,
    figures: bool = True,
    trials: str | os.PathLike | None = None,
    trials_root: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    wccn: float | None = None,
) -> dict:
    """Evaluate embeddings under one protocol; write ``metrics.json`` and figures.

    Parameters
    ----------
    embeddings : str, Path or (ids, X)
        An embedding file (:func:`~speakerlib.evaluation.embeddings.load_embeddings`)
        or ids ``(N,)`` and embeddings ``(N, dim)``.
    manifest : DataFrame, str or Path
        Must hold ``utt_id`` and ``speaker``; ``split``, ``gender``, ``age``,
        ``role`` (si) and ``path`` (``trials``) are used when present.
    protocol : {"si-reference", "si", "sv-reference", "sv"}
    out_dir : str or Path, optional
        Where ``metrics.json``, tables and figures go (nothing is written when None).
    split : str
        The evaluation speakers' split (default ``test``).
    seed : int
        Enrolment (si without roles), trials (sv) and bootstrap seed.
    n_enrol : int, optional
        si: enrolment utterances per speaker drawn at random (default: half);
        an error when the manifest gives enrolment roles.
    n_enrolled : int, optional
        sv-reference: enrolled speakers, at most all but one of the split's
        (more is an error). Default: the seed's 20, or all but one speaker
        when the split holds 20 or fewer (``n_enrolled_rule`` in the record).
    as_norm_top_k : int, optional
        sv: adaptive s-norm against the ``train`` speakers' embeddings, top k.
    bootstrap : int
        Bootstrap resamples for the intervals (0: none).
    figures : bool
        Also write the figures (PNG).
    trials : str or Path, optional
        sv: a trial list file (:func:`~speakerlib.evaluation.trials.read_trial_list`)
        scored instead of the trials built from the split; its utterances
        must be of ``split``.
    trials_root : str or Path, optional
        The corpus folder the list's paths are relative to
        (:func:`~speakerlib.evaluation.trials.match_trials`); without it a
        path matches the manifest path that ends with it.
    run_dir : str or Path, optional
        The training run that made the embeddings, to check the evaluated
        speakers against (:func:`training_overlap`); default: the one the
        embedding file records, if any.
    wccn : float >= 0, optional
        Score through a within-class covariance normalisation
        (:class:`~speakerlib.evaluation.backend.WCCN`) fitted on the ``train``
        split's embeddings with this regularisation; every protocol then
        scores the normalised embeddings (``wccn`` in the record). Choose the
        value on the dev speakers (``split="dev"``), never on test.

    Returns
    -------
    dict
        What ``metrics.json`` holds: ``protocol``, ``description``,
        ``utterances``, ``speakers``, ``split_used``, ``enrolment``,
        ``training_overlap`` and the protocol's metrics (rates as fractions);
        ``trial_list`` for a trial file; figures and tables listed under ``files``.

    Raises
    ------
    KeyError
        Unknown protocol (the message lists the valid ones).
    ProtocolError
        Fewer than two evaluation speakers, a protocol that cannot run on
        this manifest, more enrolled speakers than the split allows, roles
        together with ``n_enrol``, or a setting the protocol does not use
        (named in the message).
    TrialListError
        A trial list line that cannot be read or matched to one utterance of
        ``split`` (the message gives the line and the closest candidates).
    UnknownUtteranceError
        Evaluation utterances missing from the embeddings.

    Warns
    -----
    UserWarning
        Evaluated speakers that trained the run (see :func:`training_overlap`).
    """
    registry.check_name("protocol", protocol, PROTOCOLS)
    _check_settings(protocol, n_enrol=n_enrol, n_enrolled=n_enrolled, as_norm_top_k=as_norm_top_k,
                    trials=trials, trials_root=trials_root)
    from_file = isinstance(embeddings, (str, os.PathLike))
    if from_file:
        ids, X, recorded_run = read_embedding_file(embeddings)
    else:
        ids, X, recorded_run = np.asarray(embeddings[0]).astype(str), np.asarray(embeddings[1]), None
    if run_dir is not None:
        recorded_run = None  # the run given overrides the one the file records
    frame = _read_frame(manifest)
    has_split = "split" in frame and frame["split"].notna().any()
    wccn_record = None
    if wccn is not None:
        X, wccn_record = wccn_normalised(ids, X, frame, wccn)
    where = f"split {split!r}" if has_split else "the manifest (no split column)"
    chosen = frame[frame["split"] == split] if has_split else frame
    matched = trial_record = None
    if trials is not None:
        matched, trial_record = _trial_list(trials, trials_root, frame, split if has_split else None)
        chosen = frame[frame["utt_id"].isin(set(matched["enrol"]) | set(matched["test"]))]
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
    if protocol in ENROLMENT:
        record["enrolment"] = ENROLMENT[protocol]
    if wccn_record is not None:
        record["wccn"] = wccn_record
    source = run_dir if run_dir is not None else recorded_run
    record["training_overlap"] = (
        training_overlap(chosen["speaker"].unique(), source, split=split if has_split else None,
                         recorded=run_dir is None)
        if source is not None else
        {"checked": False, "run_dir": None,
         "reason": "no run folder: the embeddings record none and run_dir was not given"})
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
        roles = _manifest_roles(chosen, n_enrol, where)
        result = si_protocol(E, utt, spk, n_enrol=n_enrol, seed=seed, groups=groups or None,
                             bootstrap=bootstrap, roles=roles)
        keep = ("top1_accuracy", "top5_accuracy", "top1_ci95", "top5_ci95", "chance", "n_speakers",
                "n_enrol_utterances", "n_test", "n_enrol", "top5_k")
        record.update({k: result[k] for k in keep if k in result})
        record["enrolment"] = ("manifest roles (column role)" if roles is not None else
                               f"random for seed {seed}: " + (f"{n_enrol} utterances per speaker" if n_enrol
                                                              else "half of each speaker's utterances"))
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
        n, rule = _n_enrolled(n_enrolled, int(chosen["speaker"].nunique()), where)
        result = membership_reference(E, utt, spk, n_enrolled=n)
        record.update(result["metrics"])
        record["n_enrolled"] = n
        record["n_enrolled_rule"] = rule
        record["enrolled"] = list(map(str, result["enrolled"]))
        if out is not None:
            pd.DataFrame({"utt_id": result["utt_id"], "speaker": result["speaker"],
                          "y_true": result["y_true"], "y_score": result["y_score"]}).to_csv(
                out / "scores.csv", index=False)
            # the seed saved its labels and scores under these names; speakerlib refmetrics reads them
            for name, values in (("y_true.npy", np.asarray(result["y_true"], dtype=np.int64)),
                                 ("y_pre.npy", np.asarray(result["y_score"], dtype=np.float64))):
                with atomic_path(out / name) as part, open(part, "wb") as handle:
                    np.save(handle, values, allow_pickle=False)
            record["files"] += ["scores.csv", "y_true.npy", "y_pre.npy"]
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
        if matched is None:
            trial_frame = make_trials(chosen, seed=seed)
            record["trial_list"] = {"source": f"built from {where} (make_trials, seed {seed})"}
        else:
            trial_frame = matched
            record["trial_list"] = {"source": "file", **trial_record}
        scores = score_trials(trial_frame, ids, X, cohort=cohort, as_norm_top_k=as_norm_top_k)
        labels = trial_frame["label"].to_numpy()
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
                "(speakerlib split) so that the threshold is not tuned on the test trials"
                + (", and dev speakers' utterances beside the trial list's (in the manifest and the "
                   "embeddings)." if matched is not None else ".")
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
            trial_frame.assign(score=scores).to_csv(out / "trials_scored.csv", index=False)
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

    record = json_ready(record)
    if out is not None:
        write_json(out / "metrics.json", record, indent=1)
    return record
