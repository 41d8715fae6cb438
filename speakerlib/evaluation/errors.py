"""The exceptions of :mod:`speakerlib.evaluation`.

All derive from :class:`speakerlib.errors.SpeakerlibError` (so one ``except``
catches every failure of the package) and from :class:`ValueError` (the
verification metrics in :mod:`speakerlib.metrics` raise ``ValueError`` for the
same kinds of bad input, so callers that catch that keep working).
"""

from __future__ import annotations

from speakerlib.errors import SpeakerlibError

__all__ = [
    "EvaluationError",
    "EmbeddingFileError",
    "UnknownUtteranceError",
    "TrialListError",
    "ScoreError",
    "ProtocolError",
]


class EvaluationError(SpeakerlibError, ValueError):
    """Base class of the evaluation errors."""


class EmbeddingFileError(EvaluationError):
    """An embedding file is missing, unreadable, or breaks the format
    (missing arrays, wrong shapes, duplicate ids, NaN rows)."""


class UnknownUtteranceError(EvaluationError, LookupError):
    """Utterance ids were asked for that the embeddings (or the manifest) do not hold."""


class TrialListError(EvaluationError):
    """A trial list cannot be made, read or used: a malformed line, a label other
    than 0/1, or only target (or only non-target) trials."""


class ScoreError(EvaluationError):
    """Scores and labels do not fit together: NaN or infinite scores, different
    lengths, wrong shapes."""


class ProtocolError(EvaluationError):
    """An evaluation protocol cannot be run as asked (for example more enrolled
    speakers than the set holds)."""
