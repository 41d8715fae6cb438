"""A trained model as a tool: embed recordings, score two of them, decide on a calibrated ratio.

:class:`SpeakerEncoder` wraps a finished run folder (or the pretrained
encoder, :mod:`speakerlib.inference.pretrained`): it takes files or arrays at
any sample rate and channel count, puts them through the run's own pipeline
(read at the run's rate and downmixed, with a warning; its VAD; its features)
and embeds each whole utterance as the evaluation does. With the run's
calibration (:mod:`speakerlib.inference.calibrate`) :meth:`SpeakerEncoder.verify`
turns the cosine score of two recordings into a log-likelihood ratio and a
decision at the Bayes threshold of a stated prior.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from speakerlib._io import write_json
from speakerlib.embed import default_crops, embed_features
from speakerlib.errors import CalibrationError
from speakerlib.evaluation.calibration import Calibration
from speakerlib.features import compute_features
from speakerlib.inference.frontend import (
    CALIBRATION_NAME,
    Verification,
    as_recordings,
    check_speech,
    decide,
    file_sha256,
    recording_name,
    samples_of,
)
from speakerlib.prepare import utterance_content
from speakerlib.train.config import RunConfig
from speakerlib.train.run_folder import EMBEDDING_NAME, load_embedding_model

__all__ = ["SpeakerEncoder", "final_stage"]


def final_stage(run_dir: Path) -> Path:
    """The folder of a run's last finished stage: ``RUN/large_margin`` when that stage exported a model
    (the recipes with a large-margin fine-tune), else ``RUN`` itself."""
    stage = run_dir / "large_margin"
    return stage if (stage / EMBEDDING_NAME).is_file() else run_dir


def read_calibration(path: Path, identity: dict, *, fix: str) -> dict:
    """A calibration record (JSON) checked to be readable and fitted for the model ``identity`` names.

    Raises
    ------
    CalibrationError
        An unreadable file, or one fitted for another model (``fix`` ends the message).
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        Calibration.from_dict(record["calibration"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CalibrationError(f"{path}: expected a calibration file written by speakerlib, found one it "
                               f"cannot read ({exc!r}). {fix}") from None
    if record.get("model_sha256") != identity.get("sha256"):
        raise CalibrationError(
            f"{path}: expected a calibration of {identity.get('name')} (sha256 {str(identity.get('sha256'))[:12]}"
            f"...), found one fitted for sha256 {str(record.get('model_sha256'))[:12]}...: scores of two models "
            f"do not share a calibration. {fix}")
    return record


class SpeakerEncoder:
    """Embed recordings with a trained model, and verify two of them.

    Make one with :meth:`from_run` (any finished run folder) or
    :func:`speakerlib.inference.pretrained.load` (the encoder shipped with the package).

    Examples
    --------
    >>> encoder = SpeakerEncoder.from_run("runs/seresnet-modern_noaug")   # doctest: +SKIP
    >>> encoder.verify("alice-1.wav", "alice-2.wav").same_speaker          # doctest: +SKIP
    True
    """

    def __init__(self, model, config: RunConfig, *, source: Path, identity: dict,
                 calibration: dict | None = None) -> None:
        self.model = model
        self.config = config
        self.source = Path(source)
        self.identity = dict(identity)
        self.calibration_record = calibration
        self.calibration = Calibration.from_dict(calibration["calibration"]) if calibration else None
        self.crop_frames, self.num_crops = default_crops(config, config.store_config)

    @classmethod
    def from_run(cls, run_dir: str | Path) -> SpeakerEncoder:
        """The encoder of a finished run folder (its last stage), with its calibration when it has one.

        Raises
        ------
        TrainingError
            If the folder holds no finished run (no exported ``embedding.keras``).
        """
        folder = final_stage(Path(run_dir).expanduser())
        model = load_embedding_model(folder)
        config = RunConfig.read(folder)
        identity = {"name": folder.name if folder.name != "large_margin" else folder.parent.name,
                    "sha256": file_sha256(folder / EMBEDDING_NAME)}
        path = folder / CALIBRATION_NAME
        fix = f"Fit it again: speakerlib calibrate {run_dir} (calibrate_run in Python)."
        calibration = read_calibration(path, identity, fix=fix) if path.is_file() else None
        return cls(model, config, source=folder, identity=identity, calibration=calibration)

    def with_calibration(self, path: str | Path) -> SpeakerEncoder:
        """The same encoder with the calibration of a file written by :meth:`save_calibration`
        (``speakerlib calibrate --recordings ... --out FILE``).

        Raises
        ------
        CalibrationError
            If the file is missing or unreadable, or was fitted for another model.
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise CalibrationError(f"{path}: expected a calibration file, found nothing there. Write one with "
                                   "speakerlib calibrate --recordings MANIFEST --out FILE (save_calibration in "
                                   "Python).")
        record = read_calibration(path, self.identity, fix="Fit one for this model (speakerlib calibrate "
                                  "--recordings MANIFEST --out FILE).")
        return SpeakerEncoder(self.model, self.config, source=self.source, identity=self.identity,
                              calibration=record)

    def save_calibration(self, path: str | Path) -> Path:
        """Write this encoder's calibration record (JSON) for :meth:`with_calibration`."""
        self.require_calibration()
        return write_json(Path(path).expanduser(), self.calibration_record)

    def __repr__(self) -> str:
        calibrated = "calibrated" if self.calibration else "not calibrated"
        return (f"SpeakerEncoder({self.identity['name']!r}: {self.config.model}, {self.config.recipe.name}, "
                f"{self.embedding_dim}-d, {calibrated}, from {self.source})")

    @property
    def sample_rate_hz(self) -> int:
        """The rate the model's features are computed at [Hz]; other rates are resampled to it."""
        return self.config.store_config.sample_rate_hz

    @property
    def embedding_dim(self) -> int:
        return int(self.model.output_shape[-1])

    def features(self, x, *, sample_rate_hz: int | None = None, name: str | None = None) -> np.ndarray:
        """One recording through the run's pipeline: mono at its rate, VAD, features.

        Parameters
        ----------
        x : str, Path or np.ndarray [shape=(samples,) or (samples, channels)]
            A file (any format :func:`speakerlib.audio.load_audio` reads), or samples.
        sample_rate_hz : int, optional
            The rate of ``x`` when it is an array [Hz].
        name : str, optional
            What to call it in messages.

        Returns
        -------
        np.ndarray [shape=(frames, bins), dtype=float32]
            Un-normalised features, as the run's store holds them.

        Warns
        -----
        AudioConversionWarning
            When the recording was resampled or downmixed.

        Raises
        ------
        UnreadableAudioError, InvalidAudioError
            A file that cannot be read, samples that are not audio.
        NothingLeftAfterVadError
            A silent recording.
        AudioTooShortError
            Less than :data:`~speakerlib.inference.frontend.MIN_SPEECH_S` of speech.
        """
        y, name = samples_of(x, sample_rate_hz, self.sample_rate_hz, name)
        store_config = self.config.store_config
        content = check_speech(lambda: utterance_content(y, store_config), name, y.size / self.sample_rate_hz)
        if store_config.content == "audio":
            return compute_features(content.kept, store_config.stored_features)
        return content.kept

    def embed(self, recordings, *, sample_rate_hz: int | None = None, batch_size: int = 64,
              progress: bool = False) -> np.ndarray:
        """Embed one recording or several, each whole, as the run's evaluation does.

        Parameters
        ----------
        recordings : a recording, or a sequence of them
            A recording is a path or an array (see :meth:`features`); a list of
            arrays shares ``sample_rate_hz``.
        sample_rate_hz : int, optional
            The rate of array recordings [Hz].
        batch_size : int
            Utterances of one length per forward pass.
        progress : bool

        Returns
        -------
        np.ndarray [shape=(dim,) for one recording, (n, dim) for a sequence, dtype=float32]
            L2-normalised embeddings: the cosine of two is their dot product.
        """
        single = isinstance(recordings, (str, Path, np.ndarray))
        items = as_recordings(recordings)
        if not items:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        feats = [self.features(x, sample_rate_hz=sample_rate_hz, name=recording_name(x, k))
                 for k, x in enumerate(items)]
        emb = embed_features(self.model, feats, normalize=self.config.normalize, crop_frames=self.crop_frames,
                             num_crops=self.num_crops, batch_size=batch_size, progress=progress)
        return emb[0] if single else emb

    def score(self, a, b, *, sample_rate_hz: int | None = None) -> float:
        """Cosine similarity of two recordings' embeddings."""
        emb = self.embed([a, b], sample_rate_hz=sample_rate_hz)
        return float(np.dot(emb[0], emb[1]))

    def decision(self, score: float, *, prior: float | None = None) -> Verification:
        """The calibrated answer for a cosine ``score`` (see :meth:`verify`)."""
        return decide(self.require_calibration(), self.calibration_record, score, prior)

    def verify(self, a, b, *, prior: float | None = None, sample_rate_hz: int | None = None) -> Verification:
        """Whether two recordings are of one speaker: cosine score, calibrated LLR, decision, threshold.

        Parameters
        ----------
        a, b : recordings (see :meth:`features`)
        prior : float in (0, 1), optional
            Prior probability that the two are the same speaker; the decision
            accepts when the LLR reaches the Bayes threshold ``log((1 - prior) / prior)``.
            Default: the calibration's ``decision_prior`` (0.5: threshold 0).
        sample_rate_hz : int, optional
            The rate of array recordings.

        Raises
        ------
        CalibrationError
            If the model has no calibration (``speakerlib calibrate RUN`` fits one).
        """
        self.require_calibration()
        return self.decision(self.score(a, b, sample_rate_hz=sample_rate_hz), prior=prior)

    def require_calibration(self) -> Calibration:
        """The calibration, or a CalibrationError that says how to fit one."""
        if self.calibration is None:
            raise CalibrationError(
                f"{self.source}: expected a calibration ({CALIBRATION_NAME}) beside the model, found none, so "
                "scores cannot be read as likelihood ratios. Fit one on the run's dev speakers: speakerlib "
                f"calibrate {self.source} (speakerlib.inference.calibrate_run in Python); or compare scores "
                "with SpeakerEncoder.score.")
        return self.calibration
