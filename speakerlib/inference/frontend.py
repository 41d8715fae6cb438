"""What the encoders share, TensorFlow or not: reading a recording, the speech check, the decision.

Used by :class:`speakerlib.inference.SpeakerEncoder` (Keras) and
:class:`speakerlib.inference.portable.OnnxSpeakerEncoder` (onnxruntime), so
that both read, check and decide in one way. Imports numpy and speakerlib's
audio modules only.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from speakerlib.audio import AudioConversionWarning, load_audio
from speakerlib.audio.decode import to_float
from speakerlib.audio.records import DecodedAudio
from speakerlib.errors import AudioTooShortError, ConfigError, InvalidAudioError, SpeakerlibError
from speakerlib.evaluation.calibration import Calibration, bayes_threshold

__all__ = ["CALIBRATION_NAME", "FRONTEND_FORMAT", "MIN_SPEECH_S", "Verification", "as_recordings",
           "check_speech", "decide", "file_sha256", "recording_name", "samples_of"]

#: The file in a run folder that holds its calibration (:func:`speakerlib.inference.calibrate_run`).
CALIBRATION_NAME = "calibration.json"

#: The ``format`` of an exported model's front end file (:mod:`speakerlib.inference.export`).
FRONTEND_FORMAT = "speakerlib-frontend-1"

#: The least speech (after VAD) a recording must hold to be embedded [s]. Shorter ones are refused:
#: a speaker's voice is not measured reliably from less (two seconds or more work best).
MIN_SPEECH_S = 0.5


@dataclass(frozen=True)
class Verification:
    """The answer to "are these two recordings the same speaker?".

    Attributes
    ----------
    score : float
        Cosine similarity of the two embeddings, in [-1, 1].
    llr : float
        Calibrated natural-log likelihood ratio: positive favours "same speaker".
    same_speaker : bool
        ``llr >= threshold``.
    threshold : float
        The Bayes threshold on the LLR for ``prior`` (equal costs): ``log((1 - prior) / prior)``.
    prior : float
        The prior probability of "same speaker" the decision assumes.
    false_accept_rate, false_reject_rate : float
        The error rates this threshold gave on the calibration trials (speakers
        the model did not train on): what to expect of the decision.
    """

    score: float
    llr: float
    same_speaker: bool
    threshold: float
    prior: float
    false_accept_rate: float
    false_reject_rate: float

    def to_dict(self) -> dict:
        return asdict(self)


def recording_name(x: object, k: int = 0) -> str:
    """What to call a recording in messages: its path, or its position for an array."""
    return str(x) if isinstance(x, (str, Path)) else f"recording {k} (an array)"


def as_recordings(recordings) -> list:
    """A list of recordings from one recording (a path or an array) or a sequence of them."""
    if isinstance(recordings, (str, Path, np.ndarray)):
        return [recordings]
    return list(recordings)


def _array_samples(x: np.ndarray, sample_rate_hz: int | None, rate: int, name: str) -> np.ndarray:
    """Samples given as an array, ``(samples,)`` or ``(samples, channels)``, as mono float32 at ``rate``."""
    if sample_rate_hz is None:
        raise ConfigError(f"{name}: samples given as an array need their rate: pass sample_rate_hz=..., "
                          f"e.g. sample_rate_hz={rate}.")
    array = np.asarray(x)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] > 16:
        raise InvalidAudioError(
            f"{name}: expected samples of shape (samples,) or (samples, channels) as soundfile reads them, "
            f"found {np.shape(x)}. A (channels, samples) array (librosa's layout) needs .T.")
    if array.dtype.kind not in "fi" or array.dtype == np.int8:
        raise InvalidAudioError(f"{name}: expected float or 16/32-bit integer samples, found {array.dtype}.")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidAudioError(f"{name}: the samples hold NaN or infinite values.")
    scale = 32768.0 if array.dtype == np.int16 else (2.0 ** 31 if array.dtype.kind == "i" else 1.0)
    decoded = DecodedAudio(samples=array, full_scale=scale, sample_rate_hz=int(sample_rate_hz),
                           format="array", subtype=str(array.dtype), decoder="array")
    y, report = to_float(decoded, Path(name), sample_rate_hz=rate, mono=True)
    if report.changes:
        warnings.warn(f"{name}: {'; '.join(report.changes)}.", AudioConversionWarning, stacklevel=4)
    return y


def samples_of(x, sample_rate_hz: int | None, rate: int, name: str | None = None) -> tuple[np.ndarray, str]:
    """A recording (a file in any format, or an array with its rate) as mono float32 samples at ``rate``.

    Returns ``(samples, name)``. Warns (:class:`~speakerlib.audio.AudioConversionWarning`) when
    the recording was resampled or downmixed.
    """
    name = name or recording_name(x)
    if isinstance(x, (str, Path)):
        y, _ = load_audio(Path(x).expanduser(), sample_rate_hz=rate, mono=True)
        return y, name
    return _array_samples(x, sample_rate_hz, rate, name), name


def check_speech(pipeline: Callable, name: str, recorded_s: float):
    """Run ``pipeline()`` (:func:`speakerlib.prepare.utterance_content` on a recording) and refuse what
    holds less than :data:`MIN_SPEECH_S` of speech; errors name the recording."""
    try:
        content = pipeline()
    except SpeakerlibError as error:  # the pipeline's messages do not know which recording it was
        raise type(error)(f"{name}: {error}") from None
    if content.speech_s < MIN_SPEECH_S:
        raise AudioTooShortError(
            f"{name}: expected at least {MIN_SPEECH_S} s of speech to embed, found {content.speech_s:.2f} s "
            f"after voice activity detection (of {recorded_s:.2f} s recorded). Record a longer sample: "
            "two seconds of speech or more work best.")
    return content


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decide(calibration: Calibration, record: dict, score: float, prior: float | None) -> Verification:
    """The calibrated decision on a cosine score: the LLR against the Bayes threshold of ``prior``
    (default: the record's ``decision_prior``), with the error rates that threshold gave on the
    calibration trials (from the record's 1001 quantiles of target and non-target LLRs)."""
    prior = float(record.get("decision_prior", 0.5) if prior is None else prior)
    threshold = bayes_threshold(prior)
    llr = float(calibration.llr(score))
    tar = np.asarray(record.get("target_llr_quantiles", []), dtype=np.float64)
    non = np.asarray(record.get("nontarget_llr_quantiles", []), dtype=np.float64)
    far = float(np.mean(non >= threshold)) if non.size else float("nan")
    frr = float(np.mean(tar < threshold)) if tar.size else float("nan")
    return Verification(score=float(score), llr=llr, same_speaker=bool(llr >= threshold), threshold=threshold,
                        prior=prior, false_accept_rate=far, false_reject_rate=frr)
