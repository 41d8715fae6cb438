"""LibriSpeech, read in its release layout into a manifest.

The release layout (openslr 12)::

    LibriSpeech/
        SPEAKERS.TXT                        reader_id | sex | subset | minutes | name
        train-clean-100/                    a subset
            19/                             a speaker
                198/                        a chapter
                    19-198-0000.flac        <speaker>-<chapter>-<utterance>
                    19-198.trans.txt        "19-198-0000 TRANSCRIPT" per line (optional)

The synthetic corpus of this course is written in the same layout, with a
``SYNTHETIC.json`` file in its ``LibriSpeech/`` folder; it is read here too.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from speakerlib.data.layout import no_utterances_error, require_corpus_dir, visible_dirs
from speakerlib.data.manifest import finish_manifest
from speakerlib.errors import CorpusLayoutError, CorpusNotFoundError, EmptyCorpusError

__all__ = ["read_librispeech", "read_speakers_txt", "SYNTHETIC_MARKER"]

#: File in the ``LibriSpeech/`` folder that marks the synthetic corpus.
SYNTHETIC_MARKER = "SYNTHETIC.json"

_AUDIO_EXTENSIONS = (".flac", ".wav")
_UTT_NAME = re.compile(r"^(?P<speaker>[^-\s]+)-(?P<chapter>[^-\s]+)-(?P<utt>[^-\s]+)$")
_LAYOUT = "LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac"
_HOW_TO_GET = (
    "Download a subset with `speakerlib download librispeech SUBSET --root DIR` "
    "(SUBSET such as dev-clean or train-clean-100) and pass that DIR, or point root at "
    "your copy: the folder holding LibriSpeech/, LibriSpeech/ itself, or one subset folder."
)


def read_librispeech(
    root: str | Path,
    *,
    subsets: str | Iterable[str] | None = None,
    skip_unreadable: bool = False,
    jobs: int = 4,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a LibriSpeech folder (any subsets present) into a manifest, in place.

    Parameters
    ----------
    root : str or Path
        The folder holding ``LibriSpeech/``, the ``LibriSpeech/`` folder itself,
        or a single subset folder (``.../LibriSpeech/dev-clean``).
    subsets : str or iterable of str, optional
        Read only these subsets (folder names, e.g. ``"train-clean-100"``);
        default: every subset present.
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
        One row per utterance (see :mod:`speakerlib.data.manifest`):
        ``utt_id`` ``<spk>-<chapter>-<utt>``, ``speaker``, ``chapter``,
        ``subset``, ``gender`` from ``SPEAKERS.TXT``, ``text`` from the
        ``*.trans.txt`` files when present (else ``""``); ``corpus`` is
        ``librispeech``, or ``synthetic`` when ``LibriSpeech/SYNTHETIC.json`` exists.
    rejects : DataFrame
        ``utt_id``, ``path``, ``reason`` of unreadable files (``skip_unreadable``).

    Raises
    ------
    CorpusNotFoundError
        If ``root`` (or a requested subset) does not exist.
    EmptyCorpusError
        If the folder is empty or holds no speakers.
    CorpusLayoutError
        If audio files are not in the LibriSpeech layout, or a file's name
        does not match its speaker and chapter folders.
    UnreadableAudioError
        If an audio file cannot be read and ``skip_unreadable`` is False.

    Warns
    -----
    UserWarning
        If ``SPEAKERS.TXT`` is missing (every gender is then ``""``), or lacks
        some speakers.
    """
    root = require_corpus_dir(root, what="a LibriSpeech folder", how_to_get=_HOW_TO_GET,
                              layout=_LAYOUT)
    librispeech_dir, subset_dirs = _locate(root)

    if subsets is not None:
        wanted = [subsets] if isinstance(subsets, str) else list(subsets)
        present = {d.name: d for d in subset_dirs}
        missing = [name for name in wanted if name not in present]
        if missing:
            raise CorpusNotFoundError(
                f"{librispeech_dir}: expected the subset(s) {missing}, found only "
                f"{sorted(present) or 'none'}. Download a missing subset with "
                "`speakerlib download librispeech SUBSET --root DIR`, or ask for one present."
            )
        subset_dirs = [present[name] for name in wanted]

    rows: list[dict] = []
    for subset_dir in subset_dirs:
        rows.extend(_subset_rows(subset_dir))
    if not rows:
        if subsets is not None:
            raise EmptyCorpusError(
                f"{librispeech_dir}: expected speakers in the subset(s) "
                f"{[d.name for d in subset_dirs]} with the layout {_LAYOUT}, found none."
            )
        raise no_utterances_error(root, what="a LibriSpeech folder", layout=_LAYOUT,
                                  extensions=_AUDIO_EXTENSIONS, how_to_get=_HOW_TO_GET)

    genders = _speaker_genders(librispeech_dir, {row["speaker"] for row in rows})
    for row in rows:
        row["gender"] = genders.get(row["speaker"], "")

    corpus = "synthetic" if (librispeech_dir / SYNTHETIC_MARKER).is_file() else "librispeech"
    return finish_manifest(rows, corpus=corpus, root=root, skip_unreadable=skip_unreadable,
                           jobs=jobs, progress=progress)


def read_speakers_txt(path: str | Path) -> dict[str, str]:
    """Read LibriSpeech's ``SPEAKERS.TXT``: speaker id -> ``"F"``/``"M"`` as written.

    Lines starting with ``;`` are comments; the others are pipe-separated
    ``id | sex | subset | minutes | name`` (a name may itself contain ``|``).

    Raises
    ------
    CorpusLayoutError
        If a data line has fewer than two fields.
    """
    path = Path(path)
    genders: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            fields = [f.strip() for f in line.split("|")]
            if len(fields) < 2 or not fields[0]:
                raise CorpusLayoutError(
                    f"{path}, line {number}: expected `id | sex | subset | minutes | name`, "
                    f"found {line!r}. Restore SPEAKERS.TXT from the release."
                )
            genders[fields[0]] = fields[1]
    return genders


def _locate(root: Path) -> tuple[Path, list[Path]]:
    """Return (the LibriSpeech/ folder, the subset folders to read) for any accepted root."""
    for child in visible_dirs(root):
        if child.name == "LibriSpeech":
            return child, visible_dirs(child)
    if _is_subset_dir(root):
        return root.parent, [root]
    return root, visible_dirs(root)


def _is_subset_dir(folder: Path) -> bool:
    """True when audio sits two folder levels down (``<speaker>/<chapter>/<file>``)."""
    for speaker in visible_dirs(folder):
        for chapter in visible_dirs(speaker):
            with os.scandir(chapter) as entries:
                if any(e.is_file() and e.name.lower().endswith(_AUDIO_EXTENSIONS)
                       for e in entries):
                    return True
    return False


def _subset_rows(subset_dir: Path) -> list[dict]:
    """One row dict per audio file of ``<subset>/<speaker>/<chapter>/``."""
    rows: list[dict] = []
    for speaker_dir in visible_dirs(subset_dir):
        for chapter_dir in visible_dirs(speaker_dir):
            texts: dict[str, str] = {}
            audio: list[tuple[str, str]] = []
            with os.scandir(chapter_dir) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_file():
                        continue
                    if entry.name.endswith(".trans.txt"):
                        texts.update(_read_transcripts(Path(entry.path)))
                        continue
                    stem, ext = os.path.splitext(entry.name)
                    if ext.lower() in _AUDIO_EXTENSIONS:
                        audio.append((stem, entry.path))
            for stem, path in sorted(audio):
                match = _UTT_NAME.match(stem)
                if (match is None or match["speaker"] != speaker_dir.name
                        or match["chapter"] != chapter_dir.name):
                    raise CorpusLayoutError(
                        f"{path}: expected a file named "
                        f"{speaker_dir.name}-{chapter_dir.name}-<utt> in this speaker/chapter "
                        f"folder (layout {_LAYOUT}), found {Path(path).name!r}. Rename or move "
                        "the file, or read the folder with the `folder` reader."
                    )
                rows.append(
                    {
                        "utt_id": stem,
                        "speaker": speaker_dir.name,
                        "chapter": chapter_dir.name,
                        "path": path,
                        "subset": subset_dir.name,
                        "text": texts.get(stem, ""),
                    }
                )
    return rows


def _read_transcripts(path: Path) -> dict[str, str]:
    """``<utt_id> TRANSCRIPT`` lines of a ``*.trans.txt`` file."""
    texts: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.strip().split(maxsplit=1)
            if parts:
                texts[parts[0]] = parts[1] if len(parts) > 1 else ""
    return texts


def _speaker_genders(librispeech_dir: Path, speakers: set[str]) -> dict[str, str]:
    """Genders of ``speakers`` from SPEAKERS.TXT, warning about what is missing."""
    path = librispeech_dir / "SPEAKERS.TXT"
    if not path.is_file():
        warnings.warn(
            f"{path}: expected SPEAKERS.TXT (speaker genders), found none; every gender "
            "is left unknown (\"\"). Copy SPEAKERS.TXT from the LibriSpeech release into "
            f"{librispeech_dir} to fill them.",
            UserWarning,
            stacklevel=3,
        )
        return {}
    genders = read_speakers_txt(path)
    unknown = sorted(speakers - set(genders))
    if unknown:
        warnings.warn(
            f"{path}: expected every speaker listed, found no line for {len(unknown)} "
            f"speaker(s) (first: {unknown[:5]}); their gender is left unknown (\"\").",
            UserWarning,
            stacklevel=3,
        )
    return genders
