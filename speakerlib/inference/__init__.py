"""Using a trained model: embed your own recordings, verify, enrol and identify speakers, export.

:mod:`~speakerlib.inference.encoder`
    :class:`SpeakerEncoder` (a run folder's model with its pipeline and calibration):
    :meth:`~SpeakerEncoder.embed`, :meth:`~SpeakerEncoder.verify` returning a :class:`Verification`.
:mod:`~speakerlib.inference.calibrate`
    :func:`calibrate_run`: the score-to-LLR map of a run, fitted on its calibration (or dev) speakers;
    :func:`calibrate_encoder`: refitted on recordings of your own speakers.
:mod:`~speakerlib.inference.database`
    :class:`SpeakerDatabase`: enrol names, identify with open-set rejection, save and load.
:mod:`~speakerlib.inference.pretrained`
    :func:`~speakerlib.inference.pretrained.load`: the encoder shipped with the package, checked.
:mod:`~speakerlib.inference.export`
    :func:`~speakerlib.inference.export.export_encoder`: ONNX and TFLite files with their front end.
:mod:`~speakerlib.inference.portable`
    :class:`~speakerlib.inference.portable.OnnxSpeakerEncoder`: the exported model without TensorFlow.
:mod:`~speakerlib.inference.frontend`
    What both encoders share: reading a recording, the speech check, the calibrated decision.

Three lines::

    from speakerlib.inference import SpeakerEncoder
    encoder = SpeakerEncoder.from_run("runs/seresnet-modern_noaug")
    print(encoder.verify("me-1.wav", "me-2.wav"))

The names below are imported when first used, so that
``speakerlib.inference.portable`` loads without TensorFlow.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "SpeakerEncoder": "encoder",
    "calibrate_run": "calibrate",
    "calibrate_encoder": "calibrate",
    "SpeakerDatabase": "database",
    "Identification": "database",
    "Candidate": "database",
    "UNKNOWN": "database",
    "Verification": "frontend",
    "MIN_SPEECH_S": "frontend",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"speakerlib.inference.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'speakerlib.inference' has no attribute {name!r}")
