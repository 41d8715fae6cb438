"""Kaldi-style data directories, read into a manifest.

A data directory holds plain-text lists, one ``key value`` per line (tab or
spaces between them)::

    wav.scp      <utt> <audio path>          required; path absolute or relative
    utt2spk      <utt> <speaker>             required
    spk2gender   <speaker> <m|f>             optional
    spk2age      <speaker> <years>           optional
    text         <utt> <transcript>          optional

As in speechocean762, the data directories (``train/``, ``test/``) usually sit
in the corpus folder and ``wav.scp`` paths are relative to that folder::

    speechocean762/
        WAVE/SPEAKER0001/000010011.flac
        train/wav.scp       000010011  WAVE/SPEAKER0001/000010011.flac
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from speakerlib.data.layout import require_corpus_dir, visible_dirs, visible_entries
from speakerlib.data.manifest import finish_manifest
from speakerlib.errors import CorpusLayoutError, EmptyCorpusError

__all__ = ["read_kaldi", "read_kaldi_list"]

_LAYOUT = "<root>/<data dir>/{wav.scp, utt2spk[, spk2gender, spk2age, text]}"
_HOW_TO_GET = (
    "Point root (--root) at the corpus folder holding the data directories (train/, "
    "test/ with wav.scp and utt2spk), or at one data directory."
)
_ARK_OFFSET = re.compile(r"\.ark:\d+$")


def read_kaldi(
    root: str | Path,
    *,
    skip_unreadable: bool = False,
    jobs: int = 4,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read Kaldi-style data directories into a manifest, in place.

    Parameters
    ----------
    root : str or Path
        A data directory (holding ``wav.scp``), or the corpus folder whose
        sub-folders are data directories (every one with a ``wav.scp`` is read).
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
        One row per ``wav.scp`` line: ``utt_id`` and ``speaker`` as in the
        lists, ``subset`` the data directory's name, ``gender`` from
        ``spk2gender``, ``age`` [years] from ``spk2age``, ``text`` from ``text``.
        A relative path is resolved against the data directory's parent (the
        corpus folder), else against the data directory itself.
    rejects : DataFrame
        ``utt_id``, ``path``, ``reason`` of unreadable files (``skip_unreadable``).

    Raises
    ------
    CorpusNotFoundError
        If ``root`` does not exist.
    EmptyCorpusError
        If the folder is empty or ``wav.scp`` lists no utterance.
    CorpusLayoutError
        If there is no ``wav.scp`` or ``utt2spk``, a ``wav.scp`` entry is a
        command (``... |``) or an archive offset, a ``segments`` file is present,
        an utterance of ``wav.scp`` is missing from ``utt2spk``, a key repeats,
        or an age is not a number.
    UnreadableAudioError
        If a file cannot be read and ``skip_unreadable`` is False.
    """
    root = require_corpus_dir(root, what="a Kaldi-style corpus folder or data directory",
                              how_to_get=_HOW_TO_GET, layout=_LAYOUT)
    if (root / "wav.scp").is_file():
        data_dirs = [root]
    else:
        data_dirs = [d for d in visible_dirs(root) if (d / "wav.scp").is_file()]
    if not data_dirs:
        found = [e.name for e in visible_entries(root)][:10]
        raise CorpusLayoutError(
            f"{root}: expected a data directory with wav.scp and utt2spk, or a folder whose "
            f"sub-folders are such data directories (layout {_LAYOUT}), found {found}. "
            f"{_HOW_TO_GET}"
        )
    rows: list[dict] = []
    for data_dir in data_dirs:
        rows.extend(_data_dir_rows(data_dir))
    if not rows:
        raise EmptyCorpusError(
            f"{root}: expected utterances listed in wav.scp (layout {_LAYOUT}), found "
            f"empty lists in {[str(d) for d in data_dirs]}."
        )
    return finish_manifest(rows, corpus="kaldi", root=root, skip_unreadable=skip_unreadable,
                           jobs=jobs, progress=progress)


def read_kaldi_list(path: str | Path) -> dict[str, str]:
    """Read a Kaldi list file: ``key value`` per line -> ``{key: value}``.

    The key ends at the first space or tab; the value is the rest of the line,
    stripped (it may be empty, and may contain spaces). Blank lines are skipped.

    Raises
    ------
    CorpusLayoutError
        If a key repeats.
    """
    path = Path(path)
    entries: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            key = parts[0]
            if key in entries:
                raise CorpusLayoutError(
                    f"{path}, line {number}: expected each key once, found {key!r} again. "
                    "Remove the duplicate line."
                )
            entries[key] = parts[1].strip() if len(parts) > 1 else ""
    return entries


def _data_dir_rows(data_dir: Path) -> list[dict]:
    if (data_dir / "segments").is_file():
        raise CorpusLayoutError(
            f"{data_dir / 'segments'}: expected one audio file per utterance, found a segments "
            "file (utterances are stretches of longer recordings), which speakerlib does not "
            "read. Cut the segments into files (for example with sox trim, or Kaldi's "
            "extract-segments) and list those in wav.scp."
        )
    scp_path = data_dir / "wav.scp"
    wavs = read_kaldi_list(scp_path)
    for utt, value in wavs.items():
        if not value:
            raise CorpusLayoutError(
                f"{scp_path}: expected `<utt> <path>` lines, found utterance {utt!r} without a "
                "path. Add the path or remove the line."
            )
        if value.endswith("|"):
            raise CorpusLayoutError(
                f"{scp_path}: expected a file path for each utterance, found the command "
                f"{value!r} for {utt!r}. Piped commands are not supported: run the commands "
                "once to write audio files (for example `sph2pipe -f wav IN OUT.wav` or "
                "`sox IN OUT.wav`), and list those files in wav.scp."
            )
        if _ARK_OFFSET.search(value):
            raise CorpusLayoutError(
                f"{scp_path}: expected a file path for each utterance, found the archive "
                f"offset {value!r} for {utt!r}. Extract each utterance to its own .wav file "
                "(for example with Kaldi's wav-copy) and list those files in wav.scp."
            )

    spk_path = data_dir / "utt2spk"
    if not spk_path.is_file():
        raise CorpusLayoutError(
            f"{data_dir}: expected utt2spk (`<utt> <speaker>` lines) beside wav.scp, found none. "
            "Write it; speakerlib cannot know the speakers without it."
        )
    utt2spk = read_kaldi_list(spk_path)
    missing = [utt for utt in wavs if not utt2spk.get(utt)]
    if missing:
        raise CorpusLayoutError(
            f"{spk_path}: expected a speaker for every utterance of wav.scp, found none for "
            f"{len(missing)} of {len(wavs)} (first: {missing[:5]}). Add them to utt2spk, or "
            "remove them from wav.scp."
        )

    genders = _optional_list(data_dir / "spk2gender")
    ages = {spk: _parse_age(value, data_dir / "spk2age", spk)
            for spk, value in _optional_list(data_dir / "spk2age").items()}
    texts = _optional_list(data_dir / "text")

    rows = []
    for utt, value in wavs.items():
        speaker = utt2spk[utt]
        rows.append(
            {
                "utt_id": utt,
                "speaker": speaker,
                "path": str(_resolve(value, data_dir)),
                "subset": data_dir.name,
                "gender": genders.get(speaker, ""),
                "age": ages.get(speaker, math.nan),
                "text": texts.get(utt, ""),
            }
        )
    return rows


def _optional_list(path: Path) -> dict[str, str]:
    return read_kaldi_list(path) if path.is_file() else {}


def _parse_age(value: str, path: Path, speaker: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CorpusLayoutError(
            f"{path}: expected an age in years for speaker {speaker!r}, found {value!r}. "
            "Fix the line or remove it."
        ) from None


def _resolve(value: str, data_dir: Path) -> Path:
    """An absolute path for a ``wav.scp`` entry (see :func:`read_kaldi`)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    primary = data_dir.parent / path
    if primary.exists():
        return primary
    fallback = data_dir / path
    return fallback if fallback.exists() else primary
