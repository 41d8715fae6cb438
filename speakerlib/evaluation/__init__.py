"""Evaluation: metrics, embedding files, the seed's protocols reproduced, and the corrected ones.

Everything here works on embeddings, whoever computed them: it imports nothing
of the models or of training, so training's dev metrics, the baseline and the
protocols all score with the same code.

Its modules:

:mod:`~speakerlib.evaluation.metrics`
    Error rates at every threshold, EER, minDCF, DET, the threshold at the EER
    and the error rates of a fixed threshold.
:mod:`~speakerlib.evaluation.embeddings`
    The ``.npz`` embedding file (:func:`save_embeddings`, :func:`load_embeddings`),
    lookup by id (:func:`align`), the one length normalisation (:func:`l2_normalize`).
:mod:`~speakerlib.evaluation.trials`
    Trial lists: made from a manifest, written and read in the VoxCeleb format.
:mod:`~speakerlib.evaluation.verification`
    Pairwise verification: cosine scoring with AS-norm, the all-pairs EER,
    the dev-to-test threshold transfer with bootstrap intervals.
:mod:`~speakerlib.evaluation.identification`
    Closed-set identification: nearest speaker model by cosine, random
    enrolment, top-1/top-5, confusion, per-group accuracy.
:mod:`~speakerlib.evaluation.reference`
    The seed project's metrics and protocols, faults included, to reproduce
    its numbers (:func:`reference_metrics`, :func:`si_reference`,
    :func:`membership_reference`), and its saved scores and training curves.
:mod:`~speakerlib.evaluation.backend`
    Back-ends fitted on training or dev speakers: LDA (:class:`LDAProjection`),
    linear score fusion of several systems (:func:`fusion_weights`, :func:`fuse`).
:mod:`~speakerlib.evaluation.run`
    :func:`evaluate`: one protocol on an embedding file and a manifest, written
    to a folder as ``metrics.json`` and figures (the ``speakerlib evaluate`` command).
:mod:`~speakerlib.evaluation.results`
    Results records (``results.json``) as tables and sentences: ``results.csv``
    and the book's results chapter.
:mod:`~speakerlib.evaluation.plots`
    Training curves, ROC, DET, score histograms, confusion matrix, 2-D
    embedding maps (import it explicitly; it loads matplotlib).
"""

from speakerlib.errors import (
    EmbeddingFileError,
    EvaluationError,
    ProtocolError,
    ScoreError,
    TrialListError,
    UnknownUtteranceError,
)
from speakerlib.evaluation.embeddings import align, l2_normalize, load_embeddings, save_embeddings
from speakerlib.evaluation.identification import closed_set_accuracy, nearest_centroid, si_protocol
from speakerlib.evaluation.metrics import (
    apply_threshold,
    det_curve,
    eer,
    error_rates,
    min_dcf,
    threshold_at_eer,
)
from speakerlib.evaluation.reference import membership_reference, reference_metrics, si_reference
from speakerlib.evaluation.run import PROTOCOLS, evaluate
from speakerlib.evaluation.trials import make_trials, read_trials, write_trials
from speakerlib.evaluation.verification import all_pairs_eer, score_trials, verification_report

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
    "l2_normalize",
    "error_rates",
    "eer",
    "min_dcf",
    "det_curve",
    "threshold_at_eer",
    "apply_threshold",
    "reference_metrics",
    "si_reference",
    "membership_reference",
    "make_trials",
    "write_trials",
    "read_trials",
    "score_trials",
    "all_pairs_eer",
    "verification_report",
    "si_protocol",
    "nearest_centroid",
    "closed_set_accuracy",
]
