"""A plain folder of speakers (VoxCeleb-style), read into a manifest.

Layout: one sub-folder per speaker, audio files anywhere below it::

    <root>/
        speakers.csv                    speaker,gender[,age]   (optional)
        id10001/
            1zcIwhmdeo4/00001.wav       utt_id "id10001/1zcIwhmdeo4/00001"
            1zcIwhmdeo4/00002.wav
        id10002/
            00001.flac                  utt_id "id10002/00001"

Audio files are those ending in ``.wav``, ``.flac``, ``.sph`` or ``.ogg`` (any
letter case); other files and hidden files and folders are left alone.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import pandas as pd

from speakerlib.data.layout import no_utterances_error, require_corpus_dir, visible_entries
from speakerlib.data.manifest import finish_manifest
from speakerlib.errors import CorpusLayoutError, CorpusNotFoundError

__all__ = ["read_folder", "AUDIO_EXTENSIONS"]

#: File extensions (lower case) read as audio.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".sph", ".ogg")

_LAYOUT = "<root>/<speaker>/**/<file>.{wav,flac,sph,ogg}"
_HOW_TO_GET = "Point root (--root) at a folder holding one sub-folder per speaker."


def read_folder(
    root: str | Path,
    *,
    speakers_csv: str | Path | None = None,
    skip_unreadable: bool = False,
    jobs: int = 4,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a folder with one sub-folder per speaker into a manifest, in place.

    Parameters
    ----------
    root : str or Path
        The folder holding the speaker folders.
    speakers_csv : str or Path, optional
        A CSV with columns ``speaker`` and ``gender`` (and optionally ``age``
        [years]). Default: ``<root>/speakers.csv`` when it exists; without it
        gender is ``""`` and age NaN.
    skip_unreadable : bool
        False: an unreadable audio file raises. True: it is left out and
        listed in ``rejects``.
    jobs : int
        Threads reading audio headers.
    progress : bool
        Show a progress bar.

    Returns
    -------
    manifest : DataFrame
        One row per audio file: ``speaker`` the speaker folder's name,
        ``utt_id`` ``<speaker>/<path below it without extension>`` (forward
        slashes), ``subset`` ``""``.
    rejects : DataFrame
        ``utt_id``, ``path``, ``reason`` of unreadable files (``skip_unreadable``).

    Raises
    ------
    CorpusNotFoundError
        If ``root`` or a given ``speakers_csv`` does not exist.
    EmptyCorpusError
        If the folder is empty or no speaker folder holds audio.
    CorpusLayoutError
        If audio files lie directly in ``root`` with no speaker folder, or
        ``speakers_csv`` lacks the ``speaker``/``gender`` columns.
    UnreadableAudioError
        If a file cannot be read and ``skip_unreadable`` is False.

    Warns
    -----
    UserWarning
        If audio files lie directly in ``root`` beside speaker folders (they
        are left out: they have no speaker).
    """
    root = require_corpus_dir(root, what="a folder of speaker folders", how_to_get=_HOW_TO_GET,
                              layout=_LAYOUT)
    loose: list[str] = []
    rows: list[dict] = []
    for entry in visible_entries(root):
        if entry.is_dir():
            rows.extend(_speaker_rows(Path(entry.path)))
        elif _is_audio(entry.name):
            loose.append(entry.name)
    if loose and not rows:
        raise CorpusLayoutError(
            f"{root}: expected one sub-folder per speaker (layout {_LAYOUT}), found "
            f"{len(loose)} audio file(s) directly in the folder (first: {loose[:3]}) and no "
            "speaker folder. Move each speaker's files into a folder named after the speaker."
        )
    if loose:
        warnings.warn(
            f"{root}: left out {len(loose)} audio file(s) lying directly in the corpus folder "
            f"(first: {loose[:3]}): they belong to no speaker folder.",
            UserWarning,
            stacklevel=2,
        )
    if not rows:
        raise no_utterances_error(root, what="a folder of speaker folders", layout=_LAYOUT,
                                  extensions=AUDIO_EXTENSIONS, how_to_get=_HOW_TO_GET)

    if speakers_csv is None and (root / "speakers.csv").is_file():
        speakers_csv = root / "speakers.csv"
    if speakers_csv is not None:
        table = _read_speakers_csv(Path(speakers_csv))
        for row in rows:
            gender, age = table.get(row["speaker"], ("", math.nan))
            row["gender"], row["age"] = gender, age
    return finish_manifest(rows, corpus="folder", root=root, skip_unreadable=skip_unreadable,
                           jobs=jobs, progress=progress)


def _is_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def _speaker_rows(speaker_dir: Path) -> list[dict]:
    speaker = speaker_dir.name
    rows = []
    # os.walk does not descend into linked folders below the speaker (no loops);
    # the speaker folder itself may be a link.
    for folder, dirs, files in os.walk(speaker_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not _is_audio(name):
                continue
            path = Path(folder) / name
            relative = path.relative_to(speaker_dir).with_suffix("").as_posix()
            rows.append({"utt_id": f"{speaker}/{relative}", "speaker": speaker,
                         "path": str(path), "subset": ""})
    return rows


def _read_speakers_csv(path: Path) -> dict[str, tuple[str, float]]:
    """speaker -> (gender, age) from a ``speaker,gender[,age]`` CSV."""
    if not path.is_file():
        raise CorpusNotFoundError(
            f"{path}: expected a speakers CSV (columns speaker,gender), found nothing there. "
            "Check the path, or leave speakers_csv unset."
        )
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in ("speaker", "gender") if c not in table.columns]
    if missing:
        raise CorpusLayoutError(
            f"{path}: expected the columns speaker and gender, found {list(table.columns)} "
            f"(no {missing}). Add a header line `speaker,gender`."
        )
    ages = (pd.to_numeric(table["age"], errors="coerce") if "age" in table.columns
            else pd.Series(math.nan, index=table.index))
    return {
        str(speaker).strip(): (str(gender).strip(), float(age))
        for speaker, gender, age in zip(table["speaker"], table["gender"], ages)
    }
