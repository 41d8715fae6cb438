"""Training figures: loss, accuracy and dev EER per epoch, with the reference's own curves.

Evaluation figures (ROC, DET, score histograms, confusion matrices,
embedding maps) are in :mod:`speakerlib.evaluation.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["reference_curves", "plot_history", "REFERENCE_CURVE_FOLDERS"]

#: speakerlib model name -> the reference's folder name under ``curves/<dataset>/``.
REFERENCE_CURVE_FOLDERS = {"deepspeaker": "deepSpk", "resnet34": "VggVox", "resnet50": "VggVox",
                           "seresnet": "SEResNet"}


def reference_curves(model: str, dataset: str = "timit", reference_dir: str | Path | None = None
                     ) -> pd.DataFrame | None:
    """The reference implementation's saved Keras history for a model, or None when absent.

    Parameters
    ----------
    model : str
        A speakerlib model name (mapped by :data:`REFERENCE_CURVE_FOLDERS`)
        or the reference's own folder name.
    dataset : {"timit", "librispeech"}
    reference_dir : str or Path, optional
        Default: :func:`speakerlib.evaluation.reference.find_reference_dir`
        (``$SPEAKERLIB_REFERENCE`` or ``../shared/reference``).

    Returns
    -------
    DataFrame or None
        One row per epoch: ``epoch`` (1-based), ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy`` (the reference's loss includes its L2
        penalty; its "val" is 20 % of the training speakers' utterances).
        None when the folder or its files are missing.
    """
    from speakerlib.evaluation.reference import find_reference_dir

    root = Path(reference_dir) if reference_dir is not None else find_reference_dir()
    if root is None:
        return None
    folder = root / "curves" / dataset / REFERENCE_CURVE_FOLDERS.get(model, model)
    names = {"loss": "losses", "accuracy": "accuracy", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    if not all((folder / f"{f}.npy").is_file() for f in names.values()):
        return None
    columns = {k: np.load(folder / f"{f}.npy", allow_pickle=False).astype(float).ravel() for k, f in names.items()}
    n = min(len(v) for v in columns.values())
    frame = pd.DataFrame({k: v[:n] for k, v in columns.items()})
    frame.insert(0, "epoch", np.arange(1, n + 1))
    return frame


def plot_history(histories: Mapping[str, pd.DataFrame], *, title: str | None = None) -> Figure:
    """Loss, closed-set accuracy and dev EER per epoch for one or more runs.

    Parameters
    ----------
    histories : mapping of label -> DataFrame
        ``TrainResult.history`` frames (``epoch``, ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy``, ``dev_eer``).
        :func:`reference_curves` frames work too (no dev EER panel then).
    title : str, optional
        A title over the three panels.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: loss (solid: training, dashed: val), accuracy (same),
        dev EER (lower is better; the best epoch marked).
    """
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
    colours = [f"C{i}" for i in range(10)]
    for (label, h), colour in zip(histories.items(), colours):
        axes[0].plot(h["epoch"], h["loss"], color=colour, label=f"{label}: train")
        axes[1].plot(h["epoch"], h["accuracy"], color=colour, label=f"{label}: train")
        if "val_loss" in h:
            axes[0].plot(h["epoch"], h["val_loss"], color=colour, ls="--", label=f"{label}: val")
            axes[1].plot(h["epoch"], h["val_accuracy"], color=colour, ls="--", label=f"{label}: val")
        if "dev_eer" in h and h["dev_eer"].notna().any():
            axes[2].plot(h["epoch"], 100 * h["dev_eer"], color=colour, marker="o", ms=3, label=label)
            best = h.loc[h["dev_eer"].idxmin()]
            axes[2].plot(best["epoch"], 100 * best["dev_eer"], marker="*", ms=12, color=colour)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss (dashed: val utterances)")
    axes[1].set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02),
                title="closed-set accuracy (training speakers)")
    axes[2].set(xlabel="epoch", ylabel="EER [%]", title="dev EER (unseen speakers; * = kept)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    if axes[2].lines:
        axes[2].legend(fontsize=7)
    else:
        axes[2].text(0.5, 0.5, "no dev speakers in this history", ha="center", va="center",
                     transform=axes[2].transAxes, color="0.4")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
