"""Every exception speakerlib raises.

Every error derives from :class:`SpeakerlibError`, so a caller can catch the
package's failures in one place, and the command line turns each one into a
message and exit code 2 instead of a traceback. A message always says what
was expected, what was found, where (the file, folder or setting), and how to
fix it.

Errors about a *setting* (a value out of range, settings that disagree, a
name that is not registered) are also the built-in exception a Python caller
would expect: :class:`ConfigError` is a :class:`ValueError`,
:class:`ConfigTypeError` a :class:`TypeError`, :class:`UnknownNameError` a
:class:`KeyError`. The evaluation errors are :class:`ValueError` too, like the
metric functions' input checks.
"""

from __future__ import annotations

__all__ = [
    "SpeakerlibError",
    # settings
    "ConfigError",
    "ConfigTypeError",
    "UnknownNameError",
    # corpora and manifests
    "CorpusNotFoundError",
    "EmptyCorpusError",
    "CorpusLayoutError",
    "ManifestError",
    "SplitError",
    "DownloadError",
    "ChecksumMismatchError",
    "ArchiveError",
    "UnsafeArchiveError",
    # audio
    "UnreadableAudioError",
    "InvalidAudioError",
    "AudioTooShortError",
    "NothingLeftAfterVadError",
    # features and stores
    "FeatureError",
    "StoreConfigError",
    "FolderInUseError",
    # models and training
    "UnknownModelError",
    "ModelConfigError",
    "TrainingError",
    "CheckpointError",
    # evaluation
    "EvaluationError",
    "EmbeddingFileError",
    "UnknownUtteranceError",
    "TrialListError",
    "ScoreError",
    "ProtocolError",
    "CalibrationError",
    # using a model
    "SpeakerDatabaseError",
    "ModelMismatchError",
    "PretrainedModelError",
]


class SpeakerlibError(Exception):
    """Base class of every error raised by speakerlib.

    A message names a fix in the words of the Python interface (a parameter,
    ``skip_unreadable=True``). Where the command line spells that fix
    differently (a flag, ``--skip-unreadable``), ``cli`` maps each Python
    phrase of the message to the command line's; the ``speakerlib`` command
    prints :meth:`for_command_line`, Python callers see ``str(error)``::

        raise ManifestError("... pass skip_unreadable=True to leave them out",
                            cli={"pass skip_unreadable=True": "add --skip-unreadable"})
    """

    def __init__(self, *args, cli: dict[str, str] | None = None):
        super().__init__(*args)
        self.cli = dict(cli or {})

    def __str__(self) -> str:
        # KeyError would print a one-argument message in quotes; every subclass prints it as it is.
        return str(self.args[0]) if len(self.args) == 1 else Exception.__str__(self)

    def for_command_line(self) -> str:
        """The message with each Python phrase of ``cli`` replaced by its command-line spelling."""
        text = str(self)
        for python, command_line in self.cli.items():
            text = text.replace(python, command_line)
        return text


# --------------------------------------------------------------------------- settings
class ConfigError(SpeakerlibError, ValueError):
    """A setting is out of range, or two settings disagree (the message names the field)."""


class ConfigTypeError(ConfigError, TypeError):
    """A setting has the wrong type (for example a dict where a config object is expected)."""


class UnknownNameError(SpeakerlibError, KeyError):
    """A name (model, recipe, profile, protocol, corpus, feature kind...) that is not registered;
    the message lists the valid names."""


# --------------------------------------------------------------------------- corpora and manifests
class CorpusNotFoundError(SpeakerlibError, FileNotFoundError):
    """A corpus folder (or a file a corpus needs) does not exist."""


class EmptyCorpusError(SpeakerlibError):
    """A corpus folder exists but holds no speakers or no audio."""


class CorpusLayoutError(SpeakerlibError):
    """A corpus folder does not have the layout its reader expects."""


class ManifestError(SpeakerlibError):
    """A manifest is missing columns, has duplicate ids or bad values."""


class SplitError(SpeakerlibError):
    """A split cannot be made as asked (too few speakers or utterances)."""


class DownloadError(SpeakerlibError):
    """A download failed (network error, HTTP error, interrupted stream)."""


class ChecksumMismatchError(DownloadError):
    """A downloaded file's SHA-256 differs from the catalogue's."""


class ArchiveError(SpeakerlibError):
    """An archive is truncated or corrupted and cannot be extracted."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be written outside the extraction folder."""


# --------------------------------------------------------------------------- audio
class UnreadableAudioError(SpeakerlibError):
    """An audio file cannot be decoded (truncated, corrupted, wrong format)."""


class InvalidAudioError(UnreadableAudioError):
    """Audio decodes but its samples are unusable (NaN or infinite values)."""


class AudioTooShortError(SpeakerlibError):
    """Audio is shorter than the processing step needs (for example one frame)."""


class NothingLeftAfterVadError(SpeakerlibError):
    """Voice activity detection found no speech: nothing is left to process."""


# --------------------------------------------------------------------------- features and stores
class FeatureError(SpeakerlibError, ValueError):
    """Features cannot be computed as configured, or have the wrong shape or values."""


class StoreConfigError(SpeakerlibError):
    """A feature store was made with another configuration than the one asked for,
    or its files are not a complete feature store."""


class FolderInUseError(SpeakerlibError):
    """A feature store or run folder is being written by another process (its lock file
    names that process's PID); two writers at once would break each other's files."""


# --------------------------------------------------------------------------- models and training
class UnknownModelError(UnknownNameError):
    """A model name is not registered (:data:`speakerlib.registry.MODELS`)."""


class ModelConfigError(ConfigError):
    """A model cannot be built as asked: bad input shape, width, pooling..."""


class TrainingError(SpeakerlibError):
    """A training run cannot start or continue as asked (too few speakers, a run
    folder made with another configuration, ...)."""


class CheckpointError(TrainingError):
    """A checkpoint is missing, corrupted, or belongs to another model or configuration."""


# --------------------------------------------------------------------------- evaluation
class EvaluationError(SpeakerlibError, ValueError):
    """Base class of the evaluation errors."""


class EmbeddingFileError(EvaluationError):
    """An embedding file is missing, unreadable, or breaks the format
    (missing arrays, wrong shapes, duplicate ids, NaN rows)."""


class UnknownUtteranceError(EvaluationError, KeyError):
    """Utterance ids were asked for that the embeddings, the store or the manifest do not hold."""


class TrialListError(EvaluationError):
    """A trial list cannot be made, read or used: a malformed line, a label other
    than 0/1, or only target (or only non-target) trials."""


class ScoreError(EvaluationError):
    """Scores and labels do not fit together (NaN or infinite scores, different
    lengths, wrong shapes), or embeddings cannot be scored (a zero vector)."""


class ProtocolError(EvaluationError):
    """An evaluation protocol cannot be run as asked (for example more enrolled
    speakers than the set holds)."""


class CalibrationError(EvaluationError):
    """Scores cannot be turned into log-likelihood ratios: the model has no calibration
    (it was never fitted on dev trials) or its calibration does not fit the model."""


# --------------------------------------------------------------------------- using a model
class SpeakerDatabaseError(SpeakerlibError):
    """A speaker database cannot be used as asked: an empty enrolment, a name enrolled twice,
    an unknown name, nobody enrolled, an unreadable database folder."""


class PretrainedModelError(SpeakerlibError):
    """The pretrained encoder is missing, incomplete, or one of its files does not match its SHA-256."""


class ModelMismatchError(SpeakerDatabaseError):
    """A speaker database was made with another model than the one asked to use it: the
    embeddings of two models cannot be compared."""
