"""The checks every corpus reader shares: the corpus folder, its visible entries, stray audio.

The readers (:mod:`speakerlib.data.librispeech`, :mod:`~speakerlib.data.timit`,
:mod:`~speakerlib.data.kaldi`, :mod:`~speakerlib.data.folder`) call these so
that a missing, empty or misplaced corpus fails with the same kind of message
whatever its layout.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from speakerlib.errors import CorpusLayoutError, CorpusNotFoundError, EmptyCorpusError

__all__ = [
    "require_corpus_dir",
    "visible_entries",
    "visible_dirs",
    "find_audio",
    "no_utterances_error",
]


def require_corpus_dir(root: str | Path, *, what: str, how_to_get: str, layout: str) -> Path:
    """Check that ``root`` is an existing, non-empty folder; return it resolved.

    Parameters
    ----------
    what : str
        What was expected there, for messages ("a LibriSpeech folder").
    how_to_get : str
        How to obtain the corpus, appended to the not-found message.
    layout : str
        The layout the reader expects, named when the folder is empty.

    Raises
    ------
    CorpusNotFoundError
        If nothing exists at ``root``.
    CorpusLayoutError
        If ``root`` is a file.
    EmptyCorpusError
        If ``root`` is an empty folder (hidden files do not count).
    """
    path = Path(root).expanduser()
    if not path.exists():
        raise CorpusNotFoundError(
            f"{path}: expected {what}, found nothing at this path. {how_to_get}"
        )
    if not path.is_dir():
        raise CorpusLayoutError(
            f"{path}: expected {what} (a folder), found a file. Point root at the folder "
            f"holding the corpus; expected layout: {layout}"
        )
    path = path.resolve()
    if not visible_entries(path):
        raise EmptyCorpusError(
            f"{path}: expected {what} with the layout {layout}, found an empty folder. "
            f"{how_to_get}"
        )
    return path


def visible_entries(folder: Path) -> list[os.DirEntry]:
    """Entries of ``folder`` whose names do not start with a dot, sorted by name."""
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def visible_dirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` (symbolic links followed), hidden ones left out, sorted."""
    return [Path(e.path) for e in visible_entries(folder) if e.is_dir()]


def find_audio(root: Path, extensions: Iterable[str], *, limit: int = 3) -> list[Path]:
    """Up to ``limit`` files below ``root`` whose extension (any case) is in ``extensions``.

    Used to tell a folder with audio in the wrong layout (CorpusLayoutError)
    from a folder with no audio at all (EmptyCorpusError).
    """
    wanted = {e.lower() for e in extensions}
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in wanted:
                found.append(Path(folder) / name)
                if len(found) >= limit:
                    return found
    return found


def no_utterances_error(root: Path, *, what: str, layout: str, extensions: Iterable[str],
                        how_to_get: str = "") -> Exception:
    """The error for a corpus folder in which the reader found no utterance.

    A :class:`CorpusLayoutError` when audio files exist but not where the
    layout puts them (the message shows some), else an :class:`EmptyCorpusError`.
    """
    stray = find_audio(root, extensions)
    if stray:
        shown = ", ".join(str(p.relative_to(root)) for p in stray)
        return CorpusLayoutError(
            f"{root}: expected {what} with the layout {layout}, found audio files that do not "
            f"fit it (for example {shown}). Point root at the corpus folder itself, or "
            "use the reader for this layout (`folder` for <root>/<speaker>/<files>)."
        )
    return EmptyCorpusError(
        f"{root}: expected {what} with speakers in the layout {layout}, found no speakers "
        f"(no audio files in that layout). {how_to_get}".rstrip()
    )
