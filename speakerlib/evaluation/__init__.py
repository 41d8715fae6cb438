"""Evaluation: embedding files, the seed's protocols reproduced, and the corrected ones.

Modules
-------
:mod:`~speakerlib.evaluation.embeddings`
    The ``.npz`` embedding file (:func:`save_embeddings`, :func:`load_embeddings`,
    :func:`align`).
:mod:`~speakerlib.evaluation.reference`
    The seed project's metrics and protocols, faults included, to reproduce
    its numbers (:func:`reference_metrics`, :func:`si_reference`,
    :func:`membership_reference`).
:mod:`~speakerlib.evaluation.verification`
    Pairwise verification: trial lists, cosine scoring with AS-norm, EER,
    minDCF, the dev-to-test threshold transfer, bootstrap intervals.
:mod:`~speakerlib.evaluation.identification`
    Closed-set identification with random enrolment, top-1/top-5, confusion,
    per-group accuracy.
:mod:`~speakerlib.evaluation.run`
    :func:`evaluate`: one protocol on an embedding file and a manifest, written
    to a folder as ``metrics.json`` and figures (the ``speakerlib evaluate`` command).
:mod:`~speakerlib.evaluation.plots`
    ROC, DET, score histograms, confusion matrix, 2-D embedding maps (import
    it explicitly; it loads matplotlib).
"""

from speakerlib.evaluation.embeddings import align, load_embeddings, save_embeddings
from speakerlib.evaluation.errors import (
    EmbeddingFileError,
    EvaluationError,
    ProtocolError,
    ScoreError,
    TrialListError,
    UnknownUtteranceError,
)
from speakerlib.evaluation.identification import closed_set_accuracy, si_protocol
from speakerlib.evaluation.reference import membership_reference, reference_metrics, si_reference
from speakerlib.evaluation.run import PROTOCOLS, evaluate
from speakerlib.evaluation.verification import (
    apply_threshold,
    det_curve,
    make_trials,
    min_dcf,
    read_trials,
    score_trials,
    threshold_at_eer,
    verification_report,
    write_trials,
)

__all__ = [
    "evaluate",
    "PROTOCOLS",
    "EvaluationError",
    "EmbeddingFileError",
    "UnknownUtteranceError",
    "TrialListError",
    "ScoreError",
    "ProtocolError",
    "save_embeddings",
    "load_embeddings",
    "align",
    "reference_metrics",
    "si_reference",
    "membership_reference",
    "make_trials",
    "write_trials",
    "read_trials",
    "score_trials",
    "min_dcf",
    "det_curve",
    "threshold_at_eer",
    "apply_threshold",
    "verification_report",
    "si_protocol",
    "closed_set_accuracy",
]
