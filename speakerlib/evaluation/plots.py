"""Figures: training curves, ROC, DET, score histograms, confusion matrix, embedding maps.

Every function returns the :class:`matplotlib.figure.Figure` it drew on and
takes an optional ``ax`` to draw into (to overlay systems, or to build a
grid of panels). Without ``ax`` a new figure is made with
:class:`matplotlib.figure.Figure` directly, not through ``pyplot``: no global
state, nothing to close, and a notebook shows the returned figure once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from speakerlib.errors import ConfigError, ScoreError, UnknownNameError
from speakerlib.evaluation.embeddings import l2_normalize
from speakerlib.evaluation.metrics import check_trials, eer, error_rates

__all__ = [
    "plot_history",
    "plot_roc",
    "plot_det",
    "plot_bayes_error",
    "plot_score_histograms",
    "plot_confusion",
    "plot_embeddings_2d",
]

DET_TICKS_PERCENT: tuple[float, ...] = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (4.5, 4.5)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def plot_history(histories: Mapping[str, pd.DataFrame], *, title: str | None = None) -> Figure:
    """Loss, closed-set accuracy and dev EER per epoch for one or more runs.

    Parameters
    ----------
    histories : mapping of label -> DataFrame
        ``TrainResult.history`` frames (``epoch``, ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy``, ``dev_eer``).
        :func:`speakerlib.evaluation.reference.reference_curves` frames work too (no dev EER panel then).
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


def plot_roc(
    scores: ArrayLike, labels: ArrayLike, *, ax: Axes | None = None, label: str | None = None
) -> Figure:
    """ROC curve: true positive rate against false positive rate, every operating point.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        Finite trial scores.
    labels : array_like [shape=(n,)]
        1 target, 0 non-target.
    ax : Axes, optional
        Draw here (call again with the same ``ax`` to overlay systems).
    label : str, optional
        Legend entry; the AUC is appended.

    Returns
    -------
    Figure
        Axes: FPR on x, TPR on y, both in [0, 1]; a dashed chance diagonal.
    """
    s, y = check_trials(scores, labels)
    _, fpr, fnr = error_rates(s, y)
    tpr = 1.0 - fnr
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    fig, ax = _axes(ax)
    name = f"{label} (AUC {auc:.3f})" if label else f"AUC {auc:.3f}"
    ax.plot(fpr, tpr, label=name)
    if not any(line.get_gid() == "chance" for line in ax.lines):
        ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=0.8, gid="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate",
           title="ROC")
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return fig


def plot_det(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    ax: Axes | None = None,
    label: str | None = None,
    limits_percent: tuple[float, float] = (0.1, 50.0),
    mark_eer: bool = True,
) -> Figure:
    """DET curve on normal-deviate axes (as NIST DET plots): miss rate against false alarm rate.

    Both rates are mapped through the inverse normal CDF
    (:func:`scipy.stats.norm.ppf`), so that two Gaussian score distributions
    give a straight line; ticks are labelled in percent. Points with a rate of
    0 or 1 (infinite deviates) are left out.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        Finite trial scores.
    labels : array_like [shape=(n,)]
        1 target, 0 non-target.
    ax : Axes, optional
        Draw here (to overlay systems).
    label : str, optional
        Legend entry; the EER is appended.
    limits_percent : (float, float) [%]
        Axis range for both rates, within (0, 100).
    mark_eer : bool
        Mark the EER (where the curve meets the diagonal) with a dot.

    Returns
    -------
    Figure
    """
    from scipy.stats import norm

    low, high = limits_percent
    if not 0 < low < high < 100:
        raise ConfigError(f"expected 0 < low < high < 100 percent, found {limits_percent}.")
    s, y = check_trials(scores, labels)
    _, fpr, fnr = error_rates(s, y)
    inside = (fpr > 0) & (fpr < 1) & (fnr > 0) & (fnr < 1)
    rate = eer(s, y)
    fig, ax = _axes(ax)
    name = f"{label} (EER {100 * rate:.2f} %)" if label else f"EER {100 * rate:.2f} %"
    (line,) = ax.plot(norm.ppf(fpr[inside]), norm.ppf(fnr[inside]), label=name)
    if mark_eer and 0 < rate < 1:
        ax.plot([norm.ppf(rate)], [norm.ppf(rate)], "o", color=line.get_color(), ms=4)
    ticks = [t for t in DET_TICKS_PERCENT if low <= t <= high]
    positions = norm.ppf(np.asarray(ticks) / 100.0)
    text = [f"{t:g}" for t in ticks]
    ax.set_xticks(positions, text)
    ax.set_yticks(positions, text)
    bounds = norm.ppf(np.array([low, high]) / 100.0)
    ax.set(xlim=bounds, ylim=bounds, xlabel="false alarm rate (%)", ylabel="miss rate (%)", title="DET")
    if not any(line.get_gid() == "diagonal" for line in ax.lines):
        ax.plot(bounds, bounds, ls=":", color="0.6", lw=0.8, gid="diagonal")
    ax.set_aspect("equal")
    ax.grid(True, lw=0.4, alpha=0.6)
    ax.legend(loc="upper right")
    return fig


def plot_bayes_error(llr: ArrayLike, labels: ArrayLike, *, ax: Axes | None = None,
                     label: str | None = None) -> Figure:
    """Bayes error-rate plot: actual and minimum normalised DCF over the prior log-odds.

    The solid curve is the cost of deciding at the Bayes threshold of each
    prior with these LLRs; the dashed one the cost of the best threshold chosen
    on the same trials. Where they meet, the calibration is right for that
    prior; a gap is the cost of miscalibration. The dotted line is the cost of
    the better fixed decision (1).

    Parameters
    ----------
    llr : array_like [shape=(n,)]
        Calibrated log-likelihood ratios of (test) trials.
    labels : array_like [shape=(n,)]
        1 target, 0 non-target.
    ax : Axes, optional
    label : str, optional
        Legend prefix.

    Returns
    -------
    Figure
    """
    from speakerlib.evaluation.calibration import bayes_error_curve

    curve = bayes_error_curve(llr, labels)
    fig, ax = _axes(ax, figsize=(5.5, 4.0))
    prefix = f"{label}: " if label else ""
    (line,) = ax.plot(curve["log_odds"], curve["actual_dcf"], label=f"{prefix}actual DCF (Bayes threshold)")
    ax.plot(curve["log_odds"], curve["min_dcf"], ls="--", color=line.get_color(), label=f"{prefix}minimum DCF")
    ax.axhline(1.0, ls=":", color="0.6", lw=0.8)
    ax.set(xlabel="prior log-odds  logit(P_target)", ylabel="normalised DCF", ylim=(0, 1.2),
           title="Bayes error rate")
    ax.grid(True, lw=0.4, alpha=0.6)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def plot_score_histograms(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    threshold: float | None = None,
    ax: Axes | None = None,
    bins: int = 50,
    threshold_label: str = "threshold",
) -> Figure:
    """Histograms of target and non-target scores (as densities), with a threshold line.

    Parameters
    ----------
    scores : array_like [shape=(n,)]
        Finite trial scores.
    labels : array_like [shape=(n,)]
        1 target, 0 non-target.
    threshold : float, optional
        Draw a vertical line here (e.g. the dev threshold).
    ax : Axes, optional
        Draw here.
    bins : int
        Bins shared by both histograms over the score range.
    threshold_label : str
        Legend entry of the line.

    Returns
    -------
    Figure
    """
    s, y = check_trials(scores, labels)
    edges = np.histogram_bin_edges(s, bins=bins)
    fig, ax = _axes(ax, figsize=(6.0, 3.5))
    ax.hist(s[~y], bins=edges, density=True, alpha=0.55, label=f"non-target ({int((~y).sum())})")
    ax.hist(s[y], bins=edges, density=True, alpha=0.55, label=f"target ({int(y.sum())})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1.0, label=f"{threshold_label} {threshold:.3f}")
    ax.set(xlabel="score", ylabel="density", title="Score distributions")
    ax.legend()
    return fig


def plot_confusion(
    confusion: pd.DataFrame | ArrayLike,
    *,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    normalise: bool = True,
    show_labels: bool | None = None,
) -> Figure:
    """Confusion matrix as an image: rows true speaker, columns predicted speaker.

    Parameters
    ----------
    confusion : DataFrame or array_like [shape=(k, k)]
        Counts (e.g. ``si_protocol(...)["confusion"]``).
    labels : sequence of str, optional
        Class names (default: the DataFrame's index, else 0..k-1).
    ax : Axes, optional
        Draw here.
    normalise : bool
        Divide each row by its total (so the diagonal is per-speaker accuracy).
    show_labels : bool, optional
        Write class names on the axes; default when k <= 30.

    Returns
    -------
    Figure
    """
    if isinstance(confusion, pd.DataFrame):
        names = list(map(str, confusion.index)) if labels is None else list(labels)
        M = confusion.to_numpy(dtype=np.float64)
    else:
        M = np.asarray(confusion, dtype=np.float64)
        names = [str(i) for i in range(M.shape[0])] if labels is None else list(labels)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or len(names) != M.shape[0]:
        raise ScoreError(f"expected a square (k, k) matrix with k labels, found {M.shape} and {len(names)} labels.")
    if normalise:
        totals = M.sum(axis=1, keepdims=True)
        M = np.divide(M, totals, out=np.zeros_like(M), where=totals > 0)
    fig, ax = _axes(ax, figsize=(5.5, 5.0))
    image = ax.imshow(M, cmap="Blues", vmin=0, vmax=1 if normalise else None, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="fraction of row" if normalise else "count", shrink=0.8)
    if show_labels if show_labels is not None else len(names) <= 30:
        ax.set_xticks(np.arange(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(np.arange(len(names)), names, fontsize=7)
    ax.set(xlabel="predicted speaker", ylabel="true speaker", title="Confusion")
    return fig


def plot_embeddings_2d(
    X: ArrayLike,
    speakers: Sequence[str],
    *,
    method: str = "pca",
    ax: Axes | None = None,
    seed: int = 0,
    perplexity: float = 30.0,
    legend: bool | None = None,
) -> Figure:
    """Embeddings projected to 2-D, one colour per speaker.

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Embeddings (rows are length-normalised first, as cosine scoring sees them).
    speakers : sequence of str [shape=(n,)]
        Speaker of each row.
    method : {"pca", "tsne"}
        Linear PCA (default; distances comparable across the map) or t-SNE
        (local neighbourhoods only; cluster sizes and gaps are not meaningful;
        exact gradients up to 500 points, Barnes-Hut above; slow for thousands).
    ax : Axes, optional
        Draw here.
    seed : int
        Seed of t-SNE.
    perplexity : float
        t-SNE perplexity (capped at ``n - 1``).
    legend : bool, optional
        Show a speaker legend; default when there are at most 20 speakers.

    Returns
    -------
    Figure
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    M = np.asarray(X, dtype=np.float64)
    spk = np.asarray([str(s) for s in speakers], dtype=object)
    if M.ndim != 2 or M.shape[0] != spk.size or M.shape[0] < 3:
        raise ScoreError(f"expected X of shape (n >= 3, d) and n speakers, found {M.shape} and {spk.size}.")
    M = l2_normalize(M)
    if method == "pca":
        P = PCA(n_components=2).fit_transform(M)
        axis_names = ("PC 1", "PC 2")
    elif method == "tsne":
        # Exact gradients are faster than Barnes-Hut for a few hundred points.
        P = TSNE(n_components=2, perplexity=min(perplexity, M.shape[0] - 1.0), random_state=seed,
                 init="pca", method="exact" if M.shape[0] <= 500 else "barnes_hut").fit_transform(M)
        axis_names = ("t-SNE 1", "t-SNE 2")
    else:
        raise UnknownNameError(f"unknown method {method!r}; valid: pca, tsne")
    names = sorted(set(spk))
    fig, ax = _axes(ax, figsize=(5.5, 5.0))
    cmap = _colormap(len(names))
    for i, name in enumerate(names):
        member = spk == name
        ax.scatter(P[member, 0], P[member, 1], s=12, color=cmap(i), label=name, alpha=0.8)
    ax.set(xlabel=axis_names[0], ylabel=axis_names[1], title=f"Embeddings ({method.upper()})")
    if legend if legend is not None else len(names) <= 20:
        ax.legend(fontsize=7, markerscale=1.5, loc="best", ncols=2 if len(names) > 10 else 1)
    return fig


def _colormap(n: int):
    from matplotlib import colormaps

    if n <= 10:
        return colormaps["tab10"]
    if n <= 20:
        return colormaps["tab20"]
    base = colormaps["turbo"]
    return lambda i: base(i / max(1, n - 1))
