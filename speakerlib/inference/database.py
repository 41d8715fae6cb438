"""Named speakers: enrol them from recordings, identify who is speaking, keep them on disk.

A :class:`SpeakerDatabase` holds, for every name, the embeddings of the
recordings it was enrolled from, made by one model (its identity, the SHA-256
of the model file, is stored with them: another model's embeddings cannot be
compared, so such a database is refused). A recording is scored against a
speaker by the *mean of its cosine scores against each enrolled recording*
(the dot product with the mean enrolled embedding, not re-normalised): that
score has the mean of a single pair's score, so the encoder's calibration,
fitted on pairs of single recordings, reads it as a likelihood ratio (slightly
conservatively: an average of several pairs varies less than one pair).

On disk, a folder with ``speakers.json`` (names in order, their recordings,
the model, the format version) and ``embeddings.npz`` (``embeddings`` ``(n, dim)``
float32 and ``speaker`` ``(n,)`` int64 indices into the names; no pickle),
each written atomically, the JSON last.

Enrolling a name that is already there is refused unless ``append=True``,
which adds the recordings to it: a second person under the same name would
otherwise be merged without a word.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speakerlib._io import atomic_path, write_json
from speakerlib.errors import ModelMismatchError, SpeakerDatabaseError
from speakerlib.evaluation.calibration import bayes_threshold
from speakerlib.inference.encoder import SpeakerEncoder
from speakerlib.inference.frontend import as_recordings

__all__ = ["UNKNOWN", "Candidate", "Identification", "SpeakerDatabase"]

#: The name :meth:`SpeakerDatabase.identify` answers when nobody enrolled is likely enough.
UNKNOWN = "unknown"

_FORMAT = "speakerlib-speaker-database"
_VERSION = 1
_JSON = "speakers.json"
_ARRAYS = "embeddings.npz"


@dataclass(frozen=True)
class Candidate:
    """One enrolled speaker's score against a recording."""

    name: str
    score: float
    llr: float | None


@dataclass(frozen=True)
class Identification:
    """Who is speaking (:meth:`SpeakerDatabase.identify`).

    Attributes
    ----------
    name : str
        The best-scoring enrolled speaker, or :data:`UNKNOWN` when their LLR is
        below ``threshold`` (open-set rejection).
    candidates : tuple of Candidate
        The ``top_k`` best, best first.
    threshold : float
        The LLR threshold of the decision (the Bayes threshold of ``prior``).
    prior : float
    """

    name: str
    candidates: tuple[Candidate, ...]
    threshold: float
    prior: float

    def to_dict(self) -> dict:
        return {"name": self.name, "threshold": self.threshold, "prior": self.prior,
                "candidates": [vars(c) for c in self.candidates]}


@dataclass
class SpeakerDatabase:
    """Enrolled speakers of one model.

    Parameters
    ----------
    model : dict
        The identity of the encoder (``SpeakerEncoder.identity``: its name and sha256).

    Examples
    --------
    >>> db = SpeakerDatabase.for_encoder(encoder)                 # doctest: +SKIP
    >>> db.enroll("alice", ["alice-1.wav", "alice-2.wav"], encoder)  # doctest: +SKIP
    >>> db.identify("who.wav", encoder).name                      # doctest: +SKIP
    'alice'
    """

    model: dict
    _embeddings: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _recordings: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def for_encoder(cls, encoder: SpeakerEncoder) -> SpeakerDatabase:
        """An empty database for ``encoder``'s embeddings."""
        return cls(model=dict(encoder.identity))

    # ------------------------------------------------------------------ contents
    @property
    def names(self) -> list[str]:
        """Enrolled names, in the order they were enrolled."""
        return list(self._embeddings)

    def __len__(self) -> int:
        return len(self._embeddings)

    def __contains__(self, name: object) -> bool:
        return name in self._embeddings

    def recordings(self, name: str) -> list[str]:
        """What ``name`` was enrolled from (file paths; ``<array>`` for samples)."""
        self._check_known(name)
        return list(self._recordings[name])

    def _check_known(self, name: str) -> None:
        if name not in self._embeddings:
            enrolled = ", ".join(self.names[:10]) or "nobody"
            raise SpeakerDatabaseError(f"expected an enrolled name, found {name!r}; enrolled: {enrolled}.")

    def _check_model(self, encoder: SpeakerEncoder, where: str = "this database") -> None:
        if encoder.identity.get("sha256") != self.model.get("sha256"):
            raise ModelMismatchError(
                f"{where}: made with the model {self.model.get('name')!r} (sha256 "
                f"{str(self.model.get('sha256'))[:12]}...), asked to use {encoder.identity.get('name')!r} "
                f"(sha256 {str(encoder.identity.get('sha256'))[:12]}...). Embeddings of two models cannot be "
                "compared: enrol the speakers again with this model, or use the model the database was made "
                "with (--model).")

    # ------------------------------------------------------------------ changes
    def enroll(self, name: str, recordings, encoder: SpeakerEncoder, *, append: bool = False,
               sample_rate_hz: int | None = None) -> int:
        """Enrol ``name`` from one or more recordings; return how many recordings it now has.

        Parameters
        ----------
        name : str
            Any non-empty name other than :data:`UNKNOWN`.
        recordings : a recording or a sequence of them (see :meth:`SpeakerEncoder.features`)
        encoder : SpeakerEncoder
            The database's model.
        append : bool
            Add to a name already enrolled (False: refuse it).
        sample_rate_hz : int, optional
            The rate of array recordings.

        Raises
        ------
        SpeakerDatabaseError
            An empty name or list of recordings, or a name already enrolled without ``append``.
        ModelMismatchError
            ``encoder`` is not the database's model.
        """
        self._check_model(encoder)
        name = str(name).strip()
        if not name or name == UNKNOWN:
            raise SpeakerDatabaseError(f"expected a speaker's name, found {name!r} (empty names and "
                                       f"{UNKNOWN!r} are reserved).")
        items = as_recordings(recordings)
        if not items:
            raise SpeakerDatabaseError(f"enrolling {name!r}: expected at least one recording, found none.")
        if name in self._embeddings and not append:
            raise SpeakerDatabaseError(
                f"{name!r} is already enrolled (from {len(self._recordings[name])} recording(s)). Pass "
                "append=True (speakerlib enroll --append) to add these recordings to it, or remove it first.")
        emb = encoder.embed(items, sample_rate_hz=sample_rate_hz)
        labels = [str(x) if isinstance(x, (str, Path)) else "<array>" for x in items]
        if name in self._embeddings:
            self._embeddings[name] = np.concatenate([self._embeddings[name], emb])
            self._recordings[name] += labels
        else:
            self._embeddings[name] = emb
            self._recordings[name] = labels
        return len(self._recordings[name])

    def remove(self, name: str) -> None:
        """Forget ``name``."""
        self._check_known(name)
        del self._embeddings[name]
        del self._recordings[name]

    # ------------------------------------------------------------------ use
    def scores(self, embedding: np.ndarray) -> np.ndarray:
        """Mean cosine score of one embedding ``(dim,)`` against each name's recordings, ``(len(self),)``."""
        x = np.asarray(embedding, dtype=np.float64)
        return np.array([float(np.mean(E.astype(np.float64) @ x)) for E in self._embeddings.values()])

    def identify(self, recording, encoder: SpeakerEncoder, *, top_k: int = 5, prior: float | None = None,
                 sample_rate_hz: int | None = None) -> Identification:
        """Who of the enrolled speakers is speaking in ``recording``, or :data:`UNKNOWN`.

        The best candidate is named when its calibrated LLR reaches the Bayes
        threshold of ``prior`` (the probability that the recording is of that
        enrolled speaker; default: the calibration's decision prior), else the
        answer is :data:`UNKNOWN`.

        Raises
        ------
        SpeakerDatabaseError
            Nobody is enrolled.
        ModelMismatchError
            ``encoder`` is not the database's model.
        CalibrationError
            The encoder has no calibration.
        """
        self._check_model(encoder)
        if not self._embeddings:
            raise SpeakerDatabaseError("expected enrolled speakers to identify against, found none. Enrol some "
                                       "first (speakerlib enroll --db DIR NAME FILE...; SpeakerDatabase.enroll).")
        calibration = encoder.require_calibration()
        if prior is None:
            prior = float(encoder.calibration_record.get("decision_prior", 0.5))
        threshold = bayes_threshold(prior)
        scores = self.scores(encoder.embed(recording, sample_rate_hz=sample_rate_hz))
        order = np.argsort(-scores, kind="stable")[:max(1, int(top_k))]
        names = self.names
        candidates = tuple(Candidate(names[k], float(scores[k]), float(calibration.llr(scores[k]))) for k in order)
        best = candidates[0]
        return Identification(name=best.name if best.llr >= threshold else UNKNOWN, candidates=candidates,
                              threshold=threshold, prior=float(prior))

    # ------------------------------------------------------------------ files
    def save(self, folder: str | Path) -> Path:
        """Write the database to ``folder`` (created): ``embeddings.npz``, then ``speakers.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        names = self.names
        dim = next(iter(self._embeddings.values())).shape[1] if names else 0
        X = np.concatenate([self._embeddings[n] for n in names]) if names else np.zeros((0, dim), np.float32)
        speaker = np.concatenate([np.full(len(self._embeddings[n]), k, dtype=np.int64)
                                  for k, n in enumerate(names)]) if names else np.zeros(0, np.int64)
        with atomic_path(folder / _ARRAYS) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, allow_pickle=False, embeddings=X.astype(np.float32), speaker=speaker)
        write_json(folder / _JSON, {"format": _FORMAT, "version": _VERSION, "model": self.model,
                                    "speakers": [{"name": n, "recordings": self._recordings[n]} for n in names]})
        return folder

    @classmethod
    def load(cls, folder: str | Path, encoder: SpeakerEncoder | None = None) -> SpeakerDatabase:
        """Read a database written by :meth:`save`; with ``encoder``, refuse it if it is another model's.

        Raises
        ------
        SpeakerDatabaseError
            A folder that is not a speaker database, or whose files disagree.
        ModelMismatchError
            The database was made with another model than ``encoder``.
        """
        folder = Path(folder)
        meta_path, arrays_path = folder / _JSON, folder / _ARRAYS
        if not meta_path.is_file() or not arrays_path.is_file():
            present = [p.name for p in (meta_path, arrays_path) if p.is_file()]
            found = "no such folder" if not folder.is_dir() else f"only {present[0]}" if present else "neither"
            raise SpeakerDatabaseError(
                f"{folder}: expected a speaker database ({_JSON} and {_ARRAYS}), found {found}. Enrol a "
                "speaker to create one (speakerlib enroll --db DIR NAME FILE...; SpeakerDatabase.save).")
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(arrays_path, allow_pickle=False) as data:
                X, speaker = np.asarray(data["embeddings"]), np.asarray(data["speaker"])
        except (OSError, ValueError, KeyError) as error:
            raise SpeakerDatabaseError(f"{folder}: unreadable speaker database ({error}). Enrol the speakers "
                                       "again into a new folder.") from None
        if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
            raise SpeakerDatabaseError(f"{meta_path}: expected format {_FORMAT!r} version {_VERSION}, found "
                                       f"{meta.get('format')!r} version {meta.get('version')!r}.")
        speakers = meta["speakers"]
        if len(X) != len(speaker) or len(X) != sum(len(s["recordings"]) for s in speakers):
            raise SpeakerDatabaseError(f"{folder}: {_JSON} lists {sum(len(s['recordings']) for s in speakers)} "
                                       f"recordings, {_ARRAYS} holds {len(X)} embeddings. Enrol them again.")
        database = cls(model=meta["model"])
        for k, entry in enumerate(speakers):
            database._embeddings[entry["name"]] = X[speaker == k].astype(np.float32)
            database._recordings[entry["name"]] = list(entry["recordings"])
        if encoder is not None:
            database._check_model(encoder, where=str(folder))
        return database
