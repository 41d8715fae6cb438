"""A plain folder of speakers (VoxCeleb-style), read into a manifest.

Layout: one sub-folder per speaker, audio files anywhere below it::

    <root>/
        speakers.csv                    speaker,gender[,age]   (optional)
        id10001/
            1zcIwhmdeo4/00001.wav       utt_id "id10001/1zcIwhmdeo4/00001"
            1zcIwhmdeo4/00002.mp3
        id10002/
            00001.flac                  utt_id "id10002/00001"

Audio files are those whose extension (any letter case) is in
:data:`AUDIO_EXTENSIONS`: the formats :func:`speakerlib.audio.load.load_audio`
decodes, through libsndfile (WAV, FLAC, OGG/Opus, AIFF, SPHERE...) or ffmpeg
(MP3, M4A/AAC, WebM, WMA...). Other files are left out with a warning that
counts them by extension; hidden files and folders (names starting with a dot)
are left alone. Symbolic links are followed, below the speaker folders too,
but the same file or folder reached twice (a link to a speaker already in the
corpus, a hard link, a link looping back) is an error: it would put the same
audio in the manifest twice.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd

from speakerlib.data.layout import no_utterances_error, require_corpus_dir, visible_entries
from speakerlib.data.manifest import finish_manifest
from speakerlib.errors import CorpusLayoutError, CorpusNotFoundError, EmptyCorpusError, ManifestError

__all__ = ["read_folder", "AUDIO_EXTENSIONS"]

#: File extensions (lower case) read as audio: those that libsndfile decodes, then those
#: that :func:`~speakerlib.audio.load.load_audio` hands to ffmpeg.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".sph", ".nist", ".aif", ".aiff",
    ".aifc", ".au", ".snd", ".w64", ".rf64", ".caf",
    ".mp3", ".mp2", ".m4a", ".mp4", ".aac", ".3gp", ".webm", ".mka", ".wma", ".amr", ".wv",
    ".ac3",
)

_LAYOUT = "<root>/<speaker>/**/<audio file>"
_HOW_TO_GET = "Point root (--root) at a folder holding one sub-folder per speaker."
_SHOWN = 3  # examples a message shows


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
        Threads reading audio headers (and decoding MP3, M4A... to count their samples).
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
        If the folder is empty or no speaker folder holds audio (the message
        names the extensions found and those read as audio).
    CorpusLayoutError
        If audio files lie directly in ``root`` with no speaker folder, or
        ``speakers_csv`` lacks the ``speaker``/``gender`` columns or has an
        age that is not a number.
    ManifestError
        If the same file or folder is reached by two paths (symbolic or hard links).
    UnreadableAudioError
        If a file cannot be read and ``skip_unreadable`` is False.

    Warns
    -----
    UserWarning
        If audio files lie directly in ``root`` beside speaker folders (they
        are left out: they have no speaker), and if files whose extension is
        not in :data:`AUDIO_EXTENSIONS` are left out (counted by extension,
        with an example of each).
    """
    root = require_corpus_dir(root, what="a folder of speaker folders", how_to_get=_HOW_TO_GET,
                              layout=_LAYOUT)
    if speakers_csv is None and (root / "speakers.csv").is_file():
        speakers_csv = root / "speakers.csv"
    table_path = Path(speakers_csv).expanduser().resolve() if speakers_csv is not None else None

    seen = _SeenOnce()
    seen.add(root, "folder")  # a link back up to the corpus folder is a loop
    loose: list[str] = []
    others: list[Path] = []  # files that are not audio
    rows: list[dict] = []
    for entry in visible_entries(root):
        path = Path(entry.path)
        if entry.is_dir():
            if seen.add(path, "folder"):
                rows.extend(_speaker_rows(path, seen, others))
        elif _is_audio(entry.name):
            loose.append(entry.name)
        elif path.resolve() != table_path:
            others.append(path)
    seen.raise_if_twice(root)
    if loose and not rows:
        raise CorpusLayoutError(
            f"{root}: expected one sub-folder per speaker (layout {_LAYOUT}), found "
            f"{len(loose)} audio file(s) directly in the folder (first: {loose[:3]}) and no "
            "speaker folder. Move each speaker's files into a folder named after the speaker."
        )
    if not rows:
        if others:
            raise EmptyCorpusError(
                f"{root}: expected audio files in the speaker folders (layout {_LAYOUT}), found "
                f"none: the {len(others)} file(s) there end in {_by_extension(others)}, and "
                f"the extensions read as audio are {_accepted()} (any letter case). Convert the "
                "recordings to one of these (for example `ffmpeg -i IN OUT.flac`), or point root "
                "at the folder holding the speaker folders.",
                cli={"point root at": "point --root at"},
            )
        raise no_utterances_error(root, what="a folder of speaker folders", layout=_LAYOUT,
                                  extensions=AUDIO_EXTENSIONS, how_to_get=_HOW_TO_GET)
    if loose:
        warnings.warn(
            f"{root}: left out {len(loose)} audio file(s) lying directly in the corpus folder "
            f"(first: {loose[:3]}): they belong to no speaker folder.",
            UserWarning,
            stacklevel=2,
        )
    if others:
        warnings.warn(
            f"{root}: left out {len(others)} file(s) that are not audio the folder reader takes, "
            f"by extension: {_by_extension(others)}. Audio files are those ending in "
            f"{_accepted()} (any letter case); convert other recordings to one of these (for "
            "example `ffmpeg -i IN OUT.flac`) to include them.",
            UserWarning,
            stacklevel=2,
        )

    if table_path is not None:
        table = _read_speakers_csv(table_path)
        for row in rows:
            gender, age = table.get(row["speaker"], ("", math.nan))
            row["gender"], row["age"] = gender, age
    return finish_manifest(rows, corpus="folder", root=root, skip_unreadable=skip_unreadable,
                           jobs=jobs, progress=progress)


def _is_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def _accepted() -> str:
    return ", ".join(AUDIO_EXTENSIONS)


def _by_extension(paths: list[Path]) -> str:
    """``'.txt' (2, for example /r/a/x.txt), '.m4b' (1, ...)``, the most frequent first."""
    counts = Counter(os.path.splitext(p.name)[1].lower() for p in paths)
    example = {}
    for path in paths:
        example.setdefault(os.path.splitext(path.name)[1].lower(), path)
    shown = [
        f"{ext!r} ({n}, for example {example[ext]})" if ext else f"no extension ({n}, for example "
        f"{example[ext]})"
        for ext, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    more = len(shown) - 2 * _SHOWN
    return ", ".join(shown[: 2 * _SHOWN]) + (f" and {more} other extension(s)" if more > 0 else "")


class _SeenOnce:
    """The files and folders a walk reached, by their device and inode: the same one reached
    by a second path (a symbolic or hard link) is noted, not walked or listed again."""

    def __init__(self) -> None:
        self._first: dict[tuple[int, int], Path] = {}
        self.twice: list[tuple[Path, Path, str]] = []  # (first path, second path, "file"/"folder")

    def add(self, path: Path, kind: str) -> bool:
        """True if ``path`` is reached for the first time (or cannot be looked up: a broken
        link is left to the audio reader, which names it)."""
        try:
            stat = os.stat(path)
        except OSError:
            return True
        key = (stat.st_dev, stat.st_ino)
        if key in self._first:
            self.twice.append((self._first[key], path, kind))
            return False
        self._first[key] = path
        return True

    def raise_if_twice(self, root: Path) -> None:
        if not self.twice:
            return
        first, second, kind = self.twice[0]
        real = os.path.realpath(second)
        same = (f"both are {real}" if os.path.realpath(first) == real
                else "hard links: one device and inode")
        more = ""
        if len(self.twice) > 1:
            pairs = "; ".join(f"{a} and {b}" for a, b, _ in self.twice[1:1 + _SHOWN])
            etc = "; ..." if len(self.twice) > 1 + _SHOWN else ""
            more = f" ({len(self.twice)} files or folders are reached twice in all; also {pairs}{etc})"
        raise ManifestError(
            f"{root}: expected every audio file to be reached by one path, found {first} and "
            f"{second}, which are the same {kind} ({same}){more}. A symbolic "
            "or hard link to audio already in the corpus would list the same recordings twice "
            "(as a second speaker, when the link is to a speaker folder). Remove the link, or "
            "point root at a folder without duplicates.",
            cli={"point root at": "point --root at"},
        )


def _speaker_rows(speaker_dir: Path, seen: _SeenOnce, others: list[Path]) -> list[dict]:
    """The rows of one speaker folder; files that are not audio are appended to ``others``."""
    speaker = speaker_dir.name
    rows = []
    # links are followed; `seen` keeps a folder reached twice (a loop) from being walked again
    for folder, dirs, files in os.walk(speaker_dir, followlinks=True):
        dirs[:] = [d for d in sorted(dirs)
                   if not d.startswith(".") and seen.add(Path(folder) / d, "folder")]
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if not _is_audio(name):
                others.append(path)
                continue
            if not seen.add(path, "file"):
                continue
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
    if "age" in table.columns:
        text = table["age"].str.strip()
        ages = pd.to_numeric(text, errors="coerce")
        # blank is unknown; anything else must be a finite number >= 0
        bad = ((text != "") & ~((ages >= 0) & (ages < math.inf))).to_numpy()
        if bad.any():
            shown = ", ".join(f"{text.iloc[i]!r} (row {i + 1}, speaker {table['speaker'].iloc[i]!r})"
                              for i in bad.nonzero()[0][:_SHOWN])
            raise CorpusLayoutError(
                f"{path}: expected the age column to hold ages in years (zero or more, blank when "
                f"unknown), found {int(bad.sum())} other value(s): {shown}. Correct them or "
                "leave them blank."
            )
    else:
        ages = pd.Series(math.nan, index=table.index)
    return {
        str(speaker).strip(): (str(gender).strip(), float(age))
        for speaker, gender, age in zip(table["speaker"], table["gender"], ages)
    }
