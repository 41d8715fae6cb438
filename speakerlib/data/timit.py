"""TIMIT, read in the LDC release layout into a manifest.

The layout (LDC93S1), in upper or lower case or a mix of both::

    TIMIT/
        DOC/SPKRINFO.TXT                 speaker table (sex, region, dates), optional
        TRAIN/ and TEST/
            DR1/ ... DR8/                dialect regions
                FVMH0/                   speaker: sex letter + initials + digit
                    SA1.WAV              audio: NIST SPHERE, or RIFF WAV in converted copies
                    SA1.TXT              "0 54682 She had your dark suit ..." (optional)
                    SA1.PHN, SA1.WRD     phone and word alignments (not read)

TIMIT is licensed by the LDC and is never downloaded by speakerlib: the reader
is pointed at a copy the user has.
"""

from __future__ import annotations

import os
import re
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib.audio.sphere import is_sphere, read_sphere_header
from speakerlib.data.layout import no_utterances_error, require_corpus_dir, visible_dirs
from speakerlib.data.manifest import finish_manifest
from speakerlib.errors import CorpusLayoutError, UnreadableAudioError

__all__ = ["read_timit", "read_spkrinfo"]

_LAYOUT = "TIMIT/{TRAIN,TEST}/DR<n>/<SPEAKER>/<UTT>.WAV (upper or lower case)"
_HOW_TO_GET = (
    "TIMIT is licensed by the LDC (LDC93S1) and speakerlib cannot download it: point "
    "root (--root) at your TIMIT copy, the folder holding TRAIN/ and TEST/ or its parent."
)
_REGION = re.compile(r"^dr[1-8]$", re.IGNORECASE)
_SPEAKER = re.compile(r"^[fm][a-z0-9]+$", re.IGNORECASE)
_UTTERANCE = re.compile(r"^s[aix]\d+$", re.IGNORECASE)


def read_timit(
    root: str | Path,
    *,
    skip_unreadable: bool = False,
    jobs: int = 4,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a TIMIT copy (LDC layout, any letter case) into a manifest, in place.

    Parameters
    ----------
    root : str or Path
        The ``TIMIT`` folder (holding ``TRAIN/`` and/or ``TEST/``) or its parent.
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
        One row per ``.WAV`` file: ``utt_id`` ``<speaker>_<utt>`` in lower
        case (``fblv0_sa1``), ``speaker`` (``fblv0``), ``subset``
        (``train``/``test``), ``gender`` from the speaker id's first letter,
        ``dialect_region`` (``dr1``..``dr8``), ``sentence_type``
        (``SA``/``SI``/``SX``), ``text`` from the ``.TXT`` file when present,
        ``age`` [years] at recording from ``DOC/SPKRINFO.TXT`` when present.
        SPHERE and RIFF ``.WAV`` files are both read.
    rejects : DataFrame
        ``utt_id``, ``path``, ``reason`` of unreadable files (``skip_unreadable``).

    Raises
    ------
    CorpusNotFoundError
        If ``root`` does not exist.
    EmptyCorpusError
        If the folder is empty or holds no speakers.
    CorpusLayoutError
        If there is no ``TRAIN``/``TEST`` folder, or a speaker folder does not
        start with ``F``/``M``.
    UnreadableAudioError
        If the audio is shorten-compressed SPHERE (the message says how to
        decompress it), or a file cannot be read and ``skip_unreadable`` is False.

    Warns
    -----
    UserWarning
        If ``SPKRINFO.TXT`` gives a speaker another sex than the folder name,
        or ``.WAV`` files are not named like ``SA1.WAV`` (they are left out).
    """
    root = require_corpus_dir(root, what="a TIMIT folder", how_to_get=_HOW_TO_GET, layout=_LAYOUT)
    timit_dir = _locate(root)
    if timit_dir is None:
        raise _no_timit_error(root)

    rows: list[dict] = []
    ignored: list[str] = []
    for subset_dir in visible_dirs(timit_dir):
        subset = subset_dir.name.lower()
        if subset not in ("train", "test"):
            continue
        for region_dir in visible_dirs(subset_dir):
            if not _REGION.match(region_dir.name):
                continue
            for speaker_dir in visible_dirs(region_dir):
                rows.extend(_speaker_rows(speaker_dir, subset=subset,
                                          region=region_dir.name.lower(), ignored=ignored))
    if ignored:
        warnings.warn(
            f"{timit_dir}: left out {len(ignored)} .WAV file(s) not named like SA1.WAV, "
            f"SI836.WAV or SX26.WAV (first: {ignored[:3]}).",
            UserWarning,
            stacklevel=2,
        )
    if not rows:
        raise no_utterances_error(timit_dir, what="a TIMIT folder", layout=_LAYOUT,
                                  extensions=(".wav",), how_to_get=_HOW_TO_GET)

    _check_not_shortened(rows)
    info_path = _find_ci(timit_dir, "doc", "spkrinfo.txt")
    if info_path is not None:
        _apply_spkrinfo(rows, read_spkrinfo(info_path), info_path)
    return finish_manifest(rows, corpus="timit", root=root, skip_unreadable=skip_unreadable,
                           jobs=jobs, progress=progress)


def read_spkrinfo(path: str | Path) -> dict[str, dict]:
    """Read TIMIT's ``DOC/SPKRINFO.TXT``.

    Returns
    -------
    dict
        Speaker id without the sex letter, lower case (``"vmh0"``) ->
        ``{"gender": "F"/"M", "dialect_region": "dr1", "use": "TRN"/"TST",
        "age": float years at recording or NaN}``.

    Raises
    ------
    CorpusLayoutError
        If a data line has fewer than the first six columns.
    """
    path = Path(path)
    speakers: dict[str, dict] = {}
    with open(path, encoding="latin-1") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.lstrip().startswith(";"):
                continue
            fields = line.split()
            if len(fields) < 6:
                raise CorpusLayoutError(
                    f"{path}, line {number}: expected `ID Sex DR Use RecDate BirthDate ...`, "
                    f"found {line.strip()!r}. Restore SPKRINFO.TXT from the release."
                )
            speaker_id, sex, region, use, recorded, born = fields[:6]
            speakers[speaker_id.lower()] = {
                "gender": sex.upper(),
                "dialect_region": f"dr{region}",
                "use": use.upper(),
                "age": _age_years(recorded, born),
            }
    return speakers


def _locate(root: Path) -> Path | None:
    """The folder holding TRAIN/ and/or TEST/: ``root`` or its ``TIMIT`` child (any case)."""

    def has_subsets(folder: Path) -> bool:
        return any(d.name.lower() in ("train", "test") for d in visible_dirs(folder))

    if has_subsets(root):
        return root
    for child in visible_dirs(root):
        if child.name.lower() == "timit" and has_subsets(child):
            return child
    return None


def _no_timit_error(root: Path) -> Exception:
    error = no_utterances_error(root, what="a TIMIT folder", layout=_LAYOUT,
                                extensions=(".wav",), how_to_get=_HOW_TO_GET)
    if isinstance(error, CorpusLayoutError):
        return error
    names = [e.name for e in os.scandir(root) if not e.name.startswith(".")]
    return CorpusLayoutError(
        f"{root}: expected a TIMIT folder holding TRAIN/ and/or TEST/ (layout {_LAYOUT}), "
        f"found {sorted(names)[:10]}. Point root at the TIMIT folder or its parent."
    )


def _speaker_rows(speaker_dir: Path, *, subset: str, region: str, ignored: list[str]) -> list[dict]:
    if not _SPEAKER.match(speaker_dir.name):
        raise CorpusLayoutError(
            f"{speaker_dir}: expected a TIMIT speaker folder named by sex letter, initials "
            f"and a digit (FVMH0, mcpm0), found {speaker_dir.name!r}. Move or rename it."
        )
    speaker = speaker_dir.name.lower()
    texts: dict[str, Path] = {}
    audio: list[tuple[str, str]] = []
    with os.scandir(speaker_dir) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            stem, ext = os.path.splitext(entry.name)
            if ext.lower() == ".txt":
                texts[stem.lower()] = Path(entry.path)
            elif ext.lower() == ".wav":
                if _UTTERANCE.match(stem):
                    audio.append((stem.lower(), entry.path))
                else:
                    ignored.append(entry.path)
    rows = []
    for utt, path in sorted(audio):
        rows.append(
            {
                "utt_id": f"{speaker}_{utt}",
                "speaker": speaker,
                "path": path,
                "subset": subset,
                "gender": speaker[0].upper(),
                "dialect_region": region,
                "sentence_type": utt[:2].upper(),
                "text": _read_text(texts[utt]) if utt in texts else "",
            }
        )
    return rows


def _read_text(path: Path) -> str:
    """The sentence of a TIMIT ``.TXT`` file, without its two leading sample numbers."""
    with open(path, encoding="latin-1") as handle:
        parts = handle.read().strip().split(maxsplit=2)
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
        return parts[2].strip()
    return " ".join(parts)


def _find_ci(folder: Path, *names: str) -> Path | None:
    """``folder/names[0]/names[1]/...`` matching each name in any letter case."""
    current = folder
    for name in names:
        match = None
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.name.lower() == name:
                    match = Path(entry.path)
                    break
        if match is None:
            return None
        current = match
    return current if current.is_file() else None


def _age_years(recorded: str, born: str) -> float:
    """Completed years between two ``MM/DD/YY`` dates (19YY), NaN when unknown."""

    def parse(text: str) -> date | None:
        try:
            month, day, year = (int(p) for p in text.split("/"))
            return date(1900 + year, month, day)
        except ValueError:
            return None

    start, end = parse(born), parse(recorded)
    if start is None or end is None or end < start:
        return float(np.nan)
    return float(end.year - start.year - ((end.month, end.day) < (start.month, start.day)))


def _apply_spkrinfo(rows: list[dict], info: dict[str, dict], path: Path) -> None:
    """Fill ages and cross-check sexes against SPKRINFO.TXT, warning on disagreement."""
    disagree: set[str] = set()
    for row in rows:
        entry = info.get(row["speaker"][1:])
        if entry is None:
            continue
        row["age"] = entry["age"]
        if entry["gender"] != row["gender"]:
            disagree.add(f"{row['speaker']} (SPKRINFO: {entry['gender']})")
    if disagree:
        warnings.warn(
            f"{path}: expected each speaker's sex to match the first letter of its folder, "
            f"found {len(disagree)} disagreeing: {sorted(disagree)[:5]}. The manifest keeps "
            "the folder's letter; check the copy.",
            UserWarning,
            stacklevel=3,
        )


def _check_not_shortened(rows: list[dict]) -> None:
    """Fail early, with the fix, when the corpus is shorten-compressed SPHERE.

    Only the first SPHERE file is looked at: LDC copies are compressed as a whole.
    """
    for row in rows:
        if is_sphere(row["path"]):
            try:
                header = read_sphere_header(row["path"])
            except UnreadableAudioError:
                return  # reported with the other unreadable files
            if header.is_compressed:
                raise UnreadableAudioError(
                    f"{row['path']}: expected uncompressed SPHERE audio, found sample_coding "
                    f"{header.sample_coding!r} (shorten-compressed, as on some LDC discs); "
                    "probably the whole copy is compressed. Decompress every .WAV with "
                    "`sph2pipe -f sph IN.WAV OUT.WAV` (or convert with sox) and read the "
                    "decompressed copy."
                )
            return
