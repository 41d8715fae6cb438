"""Evaluation figures: each returns a Figure with the expected artists, and renders."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.stats import norm  # noqa: E402

from speakerlib.evaluation.calibration import bayes_error_curve  # noqa: E402
from speakerlib.evaluation.plots import (  # noqa: E402
    plot_bayes_error,
    plot_confusion,
    plot_det,
    plot_embeddings_2d,
    plot_roc,
    plot_score_histograms,
)
from speakerlib.evaluation.metrics import eer, error_rates  # noqa: E402


@pytest.fixture
def trials():
    rng = np.random.default_rng(0)
    labels = rng.random(400) < 0.25
    scores = rng.normal(size=400) + 2.0 * labels
    return scores, labels


@pytest.fixture
def closing():
    figures: list[Figure] = []
    yield figures.append
    for fig in figures:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")  # renders without error
        assert buffer.getbuffer().nbytes > 1000
        plt.close(fig)


def test_plot_roc(trials, closing):
    scores, labels = trials
    fig = plot_roc(scores, labels, label="system A")
    closing(fig)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    curve = ax.lines[0]
    _, fpr, fnr = error_rates(scores, labels)
    np.testing.assert_allclose(curve.get_xdata(), fpr)
    np.testing.assert_allclose(curve.get_ydata(), 1 - fnr)
    assert ax.get_legend().get_texts()[0].get_text().startswith("system A (AUC 0.9")
    plot_roc(-scores, labels, ax=ax, label="B")  # overlay: one more curve, still one chance line
    assert len([line for line in ax.lines if line.get_gid() == "chance"]) == 1
    assert len(ax.lines) == 3


def test_plot_det_uses_normal_deviates_and_percent_ticks(trials, closing):
    scores, labels = trials
    fig = plot_det(scores, labels, label="A")
    closing(fig)
    ax = fig.axes[0]
    curve, marker = ax.lines[0], ax.lines[1]
    _, fpr, fnr = error_rates(scores, labels)
    inside = (fpr > 0) & (fpr < 1) & (fnr > 0) & (fnr < 1)
    np.testing.assert_allclose(curve.get_xdata(), norm.ppf(fpr[inside]))
    np.testing.assert_allclose(curve.get_ydata(), norm.ppf(fnr[inside]))
    np.testing.assert_allclose(marker.get_xydata(), [[norm.ppf(eer(scores, labels))] * 2])
    labels_x = [t.get_text() for t in ax.get_xticklabels()]
    assert labels_x == ["0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "40"]
    np.testing.assert_allclose(ax.get_xticks(), norm.ppf(np.array([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40]) / 100))
    assert ax.get_xlim() == pytest.approx(tuple(norm.ppf([0.001, 0.5])))
    assert "%" in ax.get_xlabel() and "%" in ax.get_ylabel()


def test_plot_score_histograms(trials, closing):
    scores, labels = trials
    fig = plot_score_histograms(scores, labels, threshold=0.7, bins=30)
    closing(fig)
    ax = fig.axes[0]
    assert len(ax.patches) == 60  # two histograms of 30 bars
    (line,) = ax.lines
    assert line.get_xdata()[0] == 0.7
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0] == "non-target (%d)" % (~labels).sum() and texts[1] == "target (%d)" % labels.sum()


def test_plot_bayes_error_draws_actual_and_minimum_dcf(trials, closing):
    scores, labels = trials
    llr = 2.0 * scores - 2.0  # the true LLR of these Gaussian scores (unit variance, means 0 and 2)
    fig = plot_bayes_error(llr, labels.astype(int))
    closing(fig)
    actual, minimum = fig.axes[0].lines[:2]
    curve = bayes_error_curve(llr, labels.astype(int))
    np.testing.assert_allclose(actual.get_ydata(), curve["actual_dcf"])
    np.testing.assert_allclose(minimum.get_ydata(), curve["min_dcf"])
    assert (actual.get_ydata() >= minimum.get_ydata() - 1e-12).all()


def test_plot_confusion(closing):
    names = ["a", "b", "c"]
    confusion = pd.DataFrame([[4, 1, 0], [0, 5, 0], [2, 0, 2]], index=names, columns=names)
    fig = plot_confusion(confusion)
    closing(fig)
    ax = fig.axes[0]
    (image,) = ax.images
    np.testing.assert_allclose(image.get_array(), [[0.8, 0.2, 0], [0, 1, 0], [0.5, 0, 0.5]])
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert len(fig.axes) == 2  # the colour bar
    counts = plot_confusion(confusion.to_numpy(), normalise=False)
    closing(counts)
    np.testing.assert_array_equal(counts.axes[0].images[0].get_array(), confusion.to_numpy())


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_plot_embeddings_2d(method, closing):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 3
    X = np.repeat(centres, 10, axis=0) + rng.normal(size=(30, 8))
    speakers = np.repeat(["x", "y", "z"], 10)
    fig = plot_embeddings_2d(X, speakers, method=method, seed=0)
    closing(fig)
    ax = fig.axes[0]
    collections = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(collections) == 3 and all(len(c.get_offsets()) == 10 for c in collections)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["x", "y", "z"]
    with pytest.raises(KeyError, match="pca"):
        plot_embeddings_2d(X, speakers, method="umap")


def test_plots_draw_into_a_given_axes(trials):
    scores, labels = trials
    fig, axes = plt.subplots(1, 2)
    try:
        assert plot_roc(scores, labels, ax=axes[0]) is fig
        assert plot_det(scores, labels, ax=axes[1]) is fig
        assert len(fig.axes) == 2
    finally:
        plt.close(fig)
