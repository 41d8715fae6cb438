"""The pretrained encoder shipped with the package: load it offline, with its files' SHA-256 checked.

The package holds one encoder in ``speakerlib/pretrained/``, made by
``speakerlib pretrain`` (:func:`speakerlib.pretrain.pretrain`, the course's own
commands end to end) and described by its ``MODEL_CARD.md``:

``pretrained.json``
    The manifest: the encoder's name, each file's SHA-256, the command and the
    measured figures.
``config.json``
    The run's settings (:class:`speakerlib.train.RunConfig`): architecture, width,
    pipeline (sample rate, VAD, features), training speakers.
``weights.npz``
    The embedding model's weights in Keras' order (``w000``, ``w001``, ...):
    kernels (arrays of two or more dimensions) in float16, biases and
    normalisation statistics in float32; no pickle. Half-precision kernels
    halve the file; the model card states what that changes (embeddings agree
    with the float32 model's to the cosine it reports).
``calibration.json``
    The score-to-LLR map fitted on speakers that did not train it (its calibration
    speakers: :func:`speakerlib.inference.calibrate_run`).

:func:`load` rebuilds the architecture from ``config.json`` and sets the
weights, after checking every file against the manifest: a corrupted or
edited file is refused, never used.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from speakerlib._io import atomic_path, write_json
from speakerlib.errors import PretrainedModelError
from speakerlib.inference.encoder import SpeakerEncoder, final_stage
from speakerlib.inference.frontend import CALIBRATION_NAME, file_sha256
from speakerlib.models import build_embedding_model
from speakerlib.train.config import RunConfig
from speakerlib.train.run_folder import CONFIG_NAME, load_embedding_model

__all__ = ["MANIFEST_NAME", "PRETRAINED_DIR", "load", "package_run"]

#: Where the package keeps its pretrained encoder.
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"

#: The manifest of a pretrained encoder's folder.
MANIFEST_NAME = "pretrained.json"
WEIGHTS_NAME = "weights.npz"
CARD_NAME = "MODEL_CARD.md"


def _reinstall_hint(folder: Path) -> str:
    if folder == PRETRAINED_DIR:
        return "Reinstall speakerlib (pip install --force-reinstall speakerlib) or rebuild it with speakerlib pretrain."
    return f"Rebuild it with speakerlib pretrain --out {folder}."


def load(folder: str | Path | None = None) -> SpeakerEncoder:
    """The pretrained encoder (offline), every file checked against its SHA-256 first.

    Parameters
    ----------
    folder : str or Path, optional
        A folder written by :func:`package_run` (default: the package's own, :data:`PRETRAINED_DIR`).

    Returns
    -------
    SpeakerEncoder
        Calibrated; its ``identity`` is the manifest's name and the weights' SHA-256.

    Raises
    ------
    PretrainedModelError
        No manifest, a file missing, or a file whose SHA-256 differs from the manifest's.
    """
    folder = Path(folder).expanduser().resolve() if folder is not None else PRETRAINED_DIR
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise PretrainedModelError(f"{folder}: expected a pretrained encoder ({MANIFEST_NAME}), found none. "
                                   + _reinstall_hint(folder))
    manifest = json.loads(manifest_path.read_text())
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise PretrainedModelError(f"{path}: expected this file of the pretrained encoder, found none. "
                                       + _reinstall_hint(folder))
        found = file_sha256(path)
        if found != expected:
            raise PretrainedModelError(
                f"{path}: expected SHA-256 {expected}, found {found}: the file is corrupted or was changed, "
                "and is not used. " + _reinstall_hint(folder))
    config = RunConfig.read(folder)
    model = build_embedding_model(config.model, (None, config.input_bins, 1), width=config.width,
                                  pooling=config.pooling)
    with np.load(folder / WEIGHTS_NAME, allow_pickle=False) as data:
        weights = [np.asarray(data[f"w{k:03d}"], dtype=np.float32) for k in range(len(data.files))]
    model.set_weights(weights)
    calibration = json.loads((folder / CALIBRATION_NAME).read_text())
    identity = {"name": manifest["name"], "sha256": manifest["files"][WEIGHTS_NAME]}
    return SpeakerEncoder(model, config, source=folder, identity=identity, calibration=calibration)


def package_run(run_dir: str | Path, out: str | Path, *, name: str, extra: dict | None = None) -> dict:
    """Write a calibrated run's last stage as a pretrained encoder folder (see the module docstring).

    Parameters
    ----------
    run_dir : str or Path
        A finished run with ``calibration.json`` (:func:`speakerlib.inference.calibrate_run`).
    out : str or Path
        The folder to write (created; its files are replaced).
    name : str
        The encoder's name.
    extra : dict, optional
        More fields for the manifest (the command, the measured figures).

    Returns
    -------
    dict
        The manifest written.
    """
    folder = final_stage(Path(run_dir).expanduser())
    if not (folder / CALIBRATION_NAME).is_file():
        raise PretrainedModelError(f"{folder}: expected a calibrated run ({CALIBRATION_NAME}), found none. "
                                   f"Calibrate it first: speakerlib calibrate {run_dir}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_embedding_model(folder)
    arrays = {f"w{k:03d}": (w.astype(np.float16) if w.ndim >= 2 else w.astype(np.float32))
              for k, w in enumerate(model.get_weights())}
    with atomic_path(out / WEIGHTS_NAME) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, allow_pickle=False, **arrays)
    shutil.copyfile(folder / CONFIG_NAME, out / CONFIG_NAME)
    calibration = json.loads((folder / CALIBRATION_NAME).read_text())
    calibration["model_sha256"] = file_sha256(out / WEIGHTS_NAME)  # the map now belongs to these weights
    write_json(out / CALIBRATION_NAME, calibration, indent=1)
    files = {n: file_sha256(out / n) for n in (WEIGHTS_NAME, CONFIG_NAME, CALIBRATION_NAME)}
    manifest = {"name": name, "files": files, **(extra or {})}
    write_json(out / MANIFEST_NAME, manifest, indent=1)
    return manifest
