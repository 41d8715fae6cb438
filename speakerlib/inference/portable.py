"""Verify speakers without TensorFlow: an exported ONNX encoder, its front end in numpy.

:func:`speakerlib.inference.export.export_encoder` writes ``MODEL.onnx`` and
``MODEL.onnx.json``, a *front end* file: the run's store settings (sample
rate, VAD, features), its normalisation, the model's identity and the
calibration. :class:`OnnxSpeakerEncoder` reads both and embeds recordings the
way :class:`speakerlib.inference.SpeakerEncoder` does: the same file reader,
VAD (webrtcvad) and features (speakerlib's numpy implementation, which
``tests/test_tf_features.py`` checks against the tf.signal one training
uses), each whole utterance in one pass of onnxruntime. This module imports
numpy, soundfile, soxr, webrtcvad, onnxruntime and speakerlib's numpy modules (pandas
through the evaluation package); never TensorFlow or Keras.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from speakerlib.errors import ConfigError
from speakerlib.evaluation.calibration import Calibration
from speakerlib.features import compute_features
from speakerlib.features import normalize as normalize_features
from speakerlib.framing import WHOLE_MIN_FRAMES, evenly_spaced_crops
from speakerlib.inference.frontend import (
    FRONTEND_FORMAT,
    Verification,
    as_recordings,
    check_speech,
    decide,
    recording_name,
    samples_of,
)
from speakerlib.prepare import utterance_content
from speakerlib.store.config import PrepareConfig

__all__ = ["OnnxSpeakerEncoder", "frontend_path"]



def frontend_path(model_path: str | Path) -> Path:
    """The front end file that goes with an exported model: ``MODEL.onnx`` -> ``MODEL.onnx.json``."""
    path = Path(model_path)
    return path.with_name(path.name + ".json")


class OnnxSpeakerEncoder:
    """An exported encoder run by onnxruntime: :meth:`embed`, :meth:`score` and :meth:`verify`.

    Parameters
    ----------
    model_path : str or Path
        An ``.onnx`` file written by ``speakerlib export --format onnx``, with
        its ``.onnx.json`` front end beside it.
    threads : int
        onnxruntime's intra-op threads.
    """

    def __init__(self, model_path: str | Path, *, threads: int = 1) -> None:
        import onnxruntime  # the one dependency beyond speakerlib's own

        path = Path(model_path)
        meta_path = frontend_path(path)
        if not path.is_file() or not meta_path.is_file():
            raise ConfigError(f"{path}: expected an exported model and its front end file {meta_path.name} "
                              "beside it, found "
                              f"{'neither' if not path.is_file() and not meta_path.is_file() else 'only one'}. "
                              "Export them with speakerlib export --format onnx RUN --out MODEL.onnx.")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FRONTEND_FORMAT:
            raise ConfigError(f"{meta_path}: expected a front end file ({FRONTEND_FORMAT}), found "
                              f"{meta.get('format')!r}. Export the model again.")
        self.meta = meta
        self.store_config = PrepareConfig.from_dict(meta["store_config"])
        self.normalize = meta["normalize"]
        self.identity = meta["identity"]
        self.calibration_record = meta.get("calibration")
        self.calibration = (Calibration.from_dict(self.calibration_record["calibration"])
                            if self.calibration_record else None)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    @property
    def sample_rate_hz(self) -> int:
        return self.store_config.sample_rate_hz

    def features(self, x, *, sample_rate_hz: int | None = None, name: str | None = None) -> np.ndarray:
        """One recording through the run's front end (see :meth:`speakerlib.inference.SpeakerEncoder.features`)."""
        y, name = samples_of(x, sample_rate_hz, self.sample_rate_hz, name)
        content = check_speech(lambda: utterance_content(y, self.store_config), name, y.size / self.sample_rate_hz)
        kept = content.kept
        return compute_features(kept, self.store_config.stored_features) if kept.ndim == 1 else kept

    def embed(self, recordings, *, sample_rate_hz: int | None = None) -> np.ndarray:
        """L2-normalised embeddings of whole recordings: ``(dim,)`` for one, ``(n, dim)`` for a sequence."""
        single = isinstance(recordings, (str, Path, np.ndarray))
        out = []
        for k, x in enumerate(as_recordings(recordings)):
            feats = self.features(x, sample_rate_hz=sample_rate_hz, name=recording_name(x, k))
            if len(feats) < WHOLE_MIN_FRAMES:
                feats = evenly_spaced_crops(feats, num_samples=WHOLE_MIN_FRAMES, num_crops=1, pad="repeat")[0]
            if self.normalize != "none":
                feats = normalize_features(feats, mode=self.normalize)
            emb = self.session.run(None, {self.input_name: feats[None, :, :, None].astype(np.float32)})[0][0]
            out.append(emb / np.linalg.norm(emb))
        emb = np.asarray(out, dtype=np.float32)
        return emb[0] if single else emb

    def score(self, a, b, *, sample_rate_hz: int | None = None) -> float:
        """Cosine similarity of two recordings."""
        emb = self.embed([a, b], sample_rate_hz=sample_rate_hz)
        return float(emb[0] @ emb[1])

    def verify(self, a, b, *, prior: float | None = None, sample_rate_hz: int | None = None) -> Verification:
        """As :meth:`speakerlib.inference.SpeakerEncoder.verify`, from the calibration exported with the model."""
        if self.calibration is None:
            raise ConfigError(f"{self.identity.get('name')}: the model was exported without a calibration; "
                              "calibrate the run (speakerlib calibrate RUN) and export it again.")
        return decide(self.calibration, self.calibration_record, self.score(a, b, sample_rate_hz=sample_rate_hz),
                      prior)
