"""The exceptions speakerlib raises.

Every error derives from :class:`SpeakerlibError`, so a caller can catch the
package's failures in one place. A message always says what was expected,
what was found, where (the file or folder), and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "SpeakerlibError",
    "CorpusNotFoundError",
    "EmptyCorpusError",
    "CorpusLayoutError",
    "UnreadableAudioError",
    "ManifestError",
    "DownloadError",
    "ChecksumMismatchError",
    "UnsafeArchiveError",
    "ArchiveError",
    "SplitError",
    "InvalidAudioError",
    "AudioTooShortError",
    "NothingLeftAfterVadError",
    "FeatureError",
    "StoreConfigError",
]


class SpeakerlibError(Exception):
    """Base class of every error raised by speakerlib."""


class CorpusNotFoundError(SpeakerlibError, FileNotFoundError):
    """A corpus folder (or a file a corpus needs) does not exist."""


class EmptyCorpusError(SpeakerlibError):
    """A corpus folder exists but holds no speakers or no audio."""


class CorpusLayoutError(SpeakerlibError):
    """A corpus folder does not have the layout its reader expects."""


class UnreadableAudioError(SpeakerlibError):
    """An audio file cannot be decoded (truncated, corrupted, wrong format)."""


class ManifestError(SpeakerlibError):
    """A manifest is missing columns, has duplicate ids or bad values."""


class DownloadError(SpeakerlibError):
    """A download failed (network error, HTTP error, interrupted stream)."""


class ChecksumMismatchError(DownloadError):
    """A downloaded file's SHA-256 differs from the catalogue's."""


class ArchiveError(SpeakerlibError):
    """An archive is truncated or corrupted and cannot be extracted."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be written outside the extraction folder."""


class SplitError(SpeakerlibError):
    """A split cannot be made as asked (too few speakers or utterances)."""


class InvalidAudioError(UnreadableAudioError):
    """Audio decodes but its samples are unusable (NaN or infinite values)."""


class AudioTooShortError(SpeakerlibError):
    """Audio is shorter than the processing step needs (for example one frame)."""


class NothingLeftAfterVadError(SpeakerlibError):
    """Voice activity detection found no speech: nothing is left to process."""


class FeatureError(SpeakerlibError):
    """Features cannot be computed as configured, or have the wrong shape or values."""


class StoreConfigError(SpeakerlibError):
    """A feature store was made with another configuration than the one asked for,
    or its files are not a complete feature store."""


class TrainingError(SpeakerlibError):
    """A training run cannot start or continue as asked (too few speakers, a run
    folder made with another configuration, ...)."""


class CheckpointError(TrainingError):
    """A checkpoint is missing, corrupted, or belongs to another model or configuration."""
