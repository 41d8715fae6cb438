"""Export a trained encoder for apps: ONNX (through tf2onnx) or TFLite (LiteRT), with its front end.

:func:`export_encoder` writes the embedding model of a run's last stage
(:func:`~speakerlib.inference.encoder.final_stage`) with a variable number of
frames, input ``(batch, frames, bins, 1)`` float32 and output ``(batch, dim)``
(not L2-normalised, as the Keras model), and beside it ``FILE.json``: the run's
store settings (rate, VAD, features), normalisation, the model's identity, the
calibration when the run has one, and the exported file's SHA-256. With that
file :class:`speakerlib.inference.portable.OnnxSpeakerEncoder` verifies
speakers with numpy and onnxruntime alone.

ONNX uses Keras' own ``Model.export(format="onnx")`` (tf2onnx underneath, opset
chosen by it); TFLite the TensorFlow Lite converter (``tf.lite.TFLiteConverter``)
on the same model, float32, no quantisation.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np

from speakerlib._io import atomic_path, write_json
from speakerlib._tensorflow import tf
from speakerlib.errors import ConfigError
from speakerlib.inference.encoder import SpeakerEncoder
from speakerlib.inference.frontend import FRONTEND_FORMAT, file_sha256
from speakerlib.inference.portable import frontend_path

__all__ = ["EXPORT_FORMATS", "export_encoder"]

#: The formats :func:`export_encoder` writes.
EXPORT_FORMATS = ("onnx", "tflite")


def _onnx_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx shim probes np.object
        path = Path(folder) / "model.onnx"
        model.export(str(path), format="onnx", verbose=False)
        return path.read_bytes()


def _tflite_bytes(model) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()


def export_encoder(encoder: SpeakerEncoder | str | Path, out: str | Path, *, format: str = "onnx") -> dict:
    """Write ``encoder``'s model as ONNX or TFLite to ``out`` and its front end to ``out`` + ``.json``.

    Parameters
    ----------
    encoder : SpeakerEncoder, or a run folder
    out : str or Path
        The model file to write (atomically); its parent is created.
    format : {"onnx", "tflite"}

    Returns
    -------
    dict
        The front end record written beside it.

    Raises
    ------
    ConfigError
        An unknown format.
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"expected an export format in {EXPORT_FORMATS}, found {format!r}.")
    if not isinstance(encoder, SpeakerEncoder):
        encoder = SpeakerEncoder.from_run(encoder)
    out = Path(out)
    # Keras exports only a model that has been called (a loaded one has not): one call on silence
    encoder.model(np.zeros((1, 64, encoder.config.input_bins, 1), np.float32), training=False)
    data = _onnx_bytes(encoder.model) if format == "onnx" else _tflite_bytes(encoder.model)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    calibration = encoder.calibration_record
    record = {
        "format": FRONTEND_FORMAT,
        "model_format": format,
        "model_file": out.name,
        "model_sha256": file_sha256(out),
        "identity": encoder.identity,
        "model": encoder.config.model,
        "recipe": encoder.config.recipe.name,
        "store_config": encoder.config.store_config.to_dict(),
        "normalize": encoder.config.normalize,
        "input": {"shape": [None, None, encoder.config.input_bins, 1], "dtype": "float32",
                  "layout": "(batch, frames, bins, 1): un-normalised features, normalised as 'normalize' says"},
        "output": {"shape": [None, encoder.embedding_dim], "dtype": "float32",
                   "note": "not L2-normalised: divide each row by its norm, then cosine is the dot product"},
        "calibration": json.loads(json.dumps(calibration)) if calibration else None,
    }
    write_json(frontend_path(out), record, indent=1)
    return record
