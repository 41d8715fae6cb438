"""Where speakerlib reads and writes data on disk.

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
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "corpora_dir"]


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
