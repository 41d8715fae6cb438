"""Read any supported corpus by name.

>>> manifest, rejects = read_corpus("timit", "/data/TIMIT", progress=False)  # doctest: +SKIP

Readers (each returns ``(manifest, rejects)``, see
:func:`speakerlib.data.manifest.finish_manifest`):

- ``librispeech``: ``LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac``,
  :func:`speakerlib.data.librispeech.read_librispeech`;
- ``timit``: ``TIMIT/{TRAIN,TEST}/DR<n>/<SPK>/<UTT>.WAV`` (any case),
  :func:`speakerlib.data.timit.read_timit`;
- ``kaldi``: a data directory with ``wav.scp`` and ``utt2spk``,
  :func:`speakerlib.data.kaldi.read_kaldi`;
- ``folder``: ``<root>/<speaker>/**/<audio file>``, any format
  :func:`speakerlib.audio.load.load_audio` decodes (WAV, FLAC, OGG, MP3,
  M4A...: :data:`speakerlib.data.folder.AUDIO_EXTENSIONS`),
  :func:`speakerlib.data.folder.read_folder`.

The checks the readers share are in :mod:`speakerlib.data.layout`. The
synthetic corpus is written in the LibriSpeech layout and is read with
the ``librispeech`` reader (its ``SYNTHETIC.json`` marker sets the corpus
column to ``synthetic``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from speakerlib import registry
from speakerlib.data.folder import read_folder
from speakerlib.data.kaldi import read_kaldi
from speakerlib.data.librispeech import read_librispeech
from speakerlib.data.timit import read_timit

__all__ = ["CORPUS_KINDS", "get_reader", "read_corpus"]

#: Corpus kinds :func:`read_corpus` knows (:data:`speakerlib.registry.CORPUS_READERS`).
CORPUS_KINDS: tuple[str, ...] = registry.CORPUS_READERS

_READERS: dict[str, Callable[..., tuple[pd.DataFrame, pd.DataFrame]]] = {
    "librispeech": read_librispeech,
    "timit": read_timit,
    "kaldi": read_kaldi,
    "folder": read_folder,
}
assert tuple(_READERS) == CORPUS_KINDS


def get_reader(kind: str) -> Callable[..., tuple[pd.DataFrame, pd.DataFrame]]:
    """Return the reader function for a corpus kind.

    The kind is matched without regard to case or surrounding spaces. Besides
    :data:`CORPUS_KINDS`, ``"synthetic"`` is accepted: the generated corpus
    (:mod:`speakerlib.data.synth`) is written in LibriSpeech's layout and read
    with that reader.

    Raises
    ------
    UnknownNameError
        If ``kind`` is not one of :data:`speakerlib.registry.CORPORA` (a KeyError); the message lists them.
    """
    key = str(kind).strip().lower()
    key = "librispeech" if key == "synthetic" else key
    if key not in _READERS:
        registry.check_name("corpus kind", kind, registry.CORPORA)  # raises, listing the kinds
    return _READERS[key]


def read_corpus(kind: str, root: str | Path, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a corpus folder into a manifest with the reader for ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`CORPUS_KINDS` (``librispeech``, ``timit``, ``kaldi``, ``folder``), or
        ``synthetic`` (see :func:`get_reader`).
    root : str or Path
        The corpus folder, as the reader accepts it.
    **kwargs
        Passed to the reader (``skip_unreadable``, ``jobs``, ``progress``, ...).

    Returns
    -------
    manifest, rejects : DataFrame, DataFrame

    Raises
    ------
    UnknownNameError
        If ``kind`` is unknown (a KeyError).
    CorpusNotFoundError, EmptyCorpusError, CorpusLayoutError, UnreadableAudioError
        As the reader raises them.
    """
    return get_reader(kind)(root, **kwargs)
