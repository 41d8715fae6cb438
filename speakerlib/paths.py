"""Where speakerlib reads and writes on disk: the working folders and one experiment layout.

Nothing is hard-coded to one machine: two environment variables point the
package at folders, and every function that touches disk also takes an
explicit path, so the variables are only defaults.

``SPEAKERLIB_DATA``
    The working folder for generated corpora, downloads, feature stores and
    runs. Default: ``data/`` in the course's checkout when the current folder
    is inside one (so a notebook in ``notebooks/`` and the command line at the
    top level share it), else ``./data``.
``SPEAKERLIB_CORPORA``
    A folder holding real corpora in their release layouts
    (``LibriSpeech/``, ``TIMIT/``, ``speechocean762/``), for example a
    shared copy on a lab machine. Optional: nothing requires it.

An *experiment* is one corpus taken through the pipeline at one profile. Its
folder (:class:`Layout`) is the same whether the book's chapters or
``speakerlib reproduce`` fill it::

    ROOT/
      manifest.csv                          the corpus with its speaker-disjoint split
      store/                                the feature store (speakerlib.prepare)
      audio-store/                          the utterances' audio, for recipes that train on it
      runs/<model>-<recipe>/                one training run each (speakerlib.train)
      embeddings/<model>-<recipe>.npz       every utterance of the store, embedded
      eval/<model>-<recipe>/<protocol>/     metrics.json and figures (speakerlib.evaluation)
      results.json, results.csv             every run's numbers (speakerlib.reproduce)

The chapters use :func:`experiment` (``<data>/experiments/<corpus>-<profile>``),
so ``speakerlib reproduce --out data/experiments/synthetic-cpu ...`` and the
book share their runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["data_dir", "corpora_dir", "Layout", "experiment"]


def data_dir() -> Path:
    """Return the working data folder.

    ``$SPEAKERLIB_DATA`` if set; else ``<checkout>/data`` where ``<checkout>`` is
    the nearest folder at or above the current one holding both
    ``pyproject.toml`` and ``speakerlib/``; else ``./data``. The folder is not
    created here; writers create what they need.
    """
    value = os.environ.get("SPEAKERLIB_DATA")
    if value:
        return Path(value).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "speakerlib").is_dir():
            return folder / "data"
    return here / "data"


def corpora_dir() -> Path | None:
    """Return ``$SPEAKERLIB_CORPORA`` as a path if it is set and exists, else None."""
    value = os.environ.get("SPEAKERLIB_CORPORA")
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    return path if path.is_dir() else None


@dataclass(frozen=True)
class Layout:
    """The folders and files of one experiment (see the module docstring).

    Only paths: nothing is created or read here.

    Examples
    --------
    >>> layout = Layout(Path("/x"))
    >>> layout.run("seresnet", "improved").as_posix(), layout.evaluation("seresnet", "improved", "sv").as_posix()
    ('/x/runs/seresnet-improved', '/x/eval/seresnet-improved/sv')
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().absolute())

    @staticmethod
    def run_name(model: str, recipe: str) -> str:
        """``<model>-<recipe>``: the name of a run's folder, embedding file and evaluation folder."""
        return f"{model}-{recipe}"

    @property
    def manifest(self) -> Path:
        """The corpus's manifest with its ``split`` column."""
        return self.root / "manifest.csv"

    @property
    def store(self) -> Path:
        """The feature store (the reference's 3-s features)."""
        return self.root / "store"

    @property
    def audio_store(self) -> Path:
        """The store of whole utterances' audio, for recipes that train on it."""
        return self.root / "audio-store"

    def run(self, model: str, recipe: str) -> Path:
        """The run folder of one model and recipe."""
        return self.root / "runs" / self.run_name(model, recipe)

    def embeddings(self, model: str, recipe: str) -> Path:
        """The ``.npz`` of every stored utterance embedded by that run."""
        return self.root / "embeddings" / f"{self.run_name(model, recipe)}.npz"

    def evaluation(self, model: str, recipe: str, protocol: str | None = None) -> Path:
        """The evaluation folder of a run (of one protocol when ``protocol`` is given)."""
        folder = self.root / "eval" / self.run_name(model, recipe)
        return folder if protocol is None else folder / protocol

    @property
    def results(self) -> Path:
        """``results.json``: every run's numbers."""
        return self.root / "results.json"

    @property
    def results_table(self) -> Path:
        """``results.csv``: the headline numbers, one row per run."""
        return self.root / "results.csv"


def experiment(corpus: str, profile: str, *, root: str | os.PathLike | None = None) -> Layout:
    """The layout of an experiment in the data folder: ``<root>/experiments/<corpus>-<profile>``.

    Parameters
    ----------
    corpus : str
        The corpus's name (``"synthetic"``, ``"timit"``...).
    profile : str
        The training profile (``"smoke"``, ``"cpu"``, ``"gpu"``).
    root : path-like, optional
        Default: :func:`data_dir`.
    """
    base = Path(root) if root is not None else data_dir()
    return Layout(base / "experiments" / f"{corpus}-{profile}")
