"""The manifest: one row per utterance, the same columns for every corpus.

Columns (:data:`MANIFEST_COLUMNS`), in this order:

============== ======= ====================================================
column         type    meaning
============== ======= ====================================================
utt_id         str     utterance id, unique within the manifest
speaker        str     speaker id (kept as text: ``"0001"`` stays ``"0001"``)
path           str     absolute path of the audio file
duration_s     float   duration [s]
sample_rate    int     sampling rate [Hz] of the file as stored
num_channels   int     channels of the file as stored
subset         str     the corpus's own partition (``train-clean-100``,
                       ``train``/``test`` for TIMIT, ...); may be empty
gender         str     ``"F"``, ``"M"`` or ``""`` when unknown
corpus         str     ``librispeech``, ``timit``, ``kaldi``, ``folder``,
                       ``synthetic``
chapter        str     LibriSpeech chapter (else empty)
dialect_region str     TIMIT dialect region ``dr1``..``dr8`` (else empty)
sentence_type  str     TIMIT ``SA``/``SI``/``SX`` (else empty)
age            float   speaker age [years] where the corpus gives it, else NaN
text           str     transcript where the corpus has one, else empty
============== ======= ====================================================

Manifests are written as CSV (UTF-8) atomically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from speakerlib._io import write_csv
from speakerlib.audio.load import audio_info
from speakerlib.errors import EmptyCorpusError, ManifestError, UnreadableAudioError

__all__ = [
    "MANIFEST_COLUMNS",
    "REQUIRED_COLUMNS",
    "make_manifest",
    "probe_rows",
    "finish_manifest",
    "read_manifest",
    "write_manifest",
    "manifest_table",
    "combine_manifests",
    "summarize",
    "normalize_gender",
]

MANIFEST_COLUMNS: tuple[str, ...] = (
    "utt_id",
    "speaker",
    "path",
    "duration_s",
    "sample_rate",
    "num_channels",
    "subset",
    "gender",
    "corpus",
    "chapter",
    "dialect_region",
    "sentence_type",
    "age",
    "text",
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "utt_id",
    "speaker",
    "path",
    "duration_s",
    "sample_rate",
    "subset",
    "gender",
)
_TEXT_COLUMNS = tuple(
    c for c in MANIFEST_COLUMNS if c not in ("duration_s", "sample_rate", "num_channels", "age")
)
_GENDER = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M"}


def normalize_gender(value: object) -> str:
    """Map a corpus's gender label to ``"F"``, ``"M"`` or ``""`` (unknown).

    >>> normalize_gender("f"), normalize_gender(" M "), normalize_gender(None)
    ('F', 'M', '')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _GENDER.get(str(value).strip().lower(), "")


def probe_rows(
    rows: Sequence[dict],
    *,
    jobs: int = 4,
    progress: bool = True,
    desc: str = "reading audio headers",
) -> tuple[list[dict], list[dict]]:
    """Fill ``duration_s``, ``sample_rate`` and ``num_channels`` from each file's header.

    Parameters
    ----------
    rows : sequence of dict
        Each with at least ``utt_id`` and ``path``; not modified.
    jobs : int
        Threads reading headers (header reads are I/O bound).
    progress : bool
        Show a progress bar.

    Returns
    -------
    ok : list of dict
        Copies of the readable rows with the three columns filled.
    rejects : list of dict
        ``{"utt_id", "path", "reason"}`` for every file that could not be read.
    """
    def probe(row: dict) -> tuple[dict, str | None]:
        try:
            info = audio_info(row["path"])
        except UnreadableAudioError as exc:
            return row, str(exc)
        out = dict(row)
        out["duration_s"] = info.duration_s
        out["sample_rate"] = info.sample_rate_hz
        out["num_channels"] = info.num_channels
        return out, None

    ok: list[dict] = []
    rejects: list[dict] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = pool.map(probe, rows)
        for row, error in tqdm(results, total=len(rows), desc=desc, disable=not progress, unit="file"):
            if error is None:
                ok.append(row)
            else:
                rejects.append({"utt_id": row["utt_id"], "path": str(row["path"]), "reason": error})
    return ok, rejects


def finish_manifest(
    rows: Sequence[dict],
    *,
    corpus: str,
    root: str | Path,
    skip_unreadable: bool = False,
    jobs: int = 4,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probe every row's audio header and build the manifest: the readers' last step.

    Parameters
    ----------
    rows : sequence of dict
        One per utterance, with ``utt_id``, ``speaker``, ``path`` and whatever
        metadata the reader found (``subset``, ``gender``...).
    corpus : str
        The corpus name written into the ``corpus`` column.
    root : str or Path
        The corpus folder, named in error messages.
    skip_unreadable : bool
        False (default): any unreadable file raises, naming every such file.
        True: unreadable files are left out of the manifest and returned as
        rejects, so the caller can write and report them (never silently).

    Returns
    -------
    manifest : DataFrame
        See :data:`MANIFEST_COLUMNS`.
    rejects : DataFrame
        Columns ``utt_id``, ``path``, ``reason``; empty when all files read.

    Raises
    ------
    UnreadableAudioError
        If a file cannot be read and ``skip_unreadable`` is False.
    EmptyCorpusError
        If no file at all can be read.
    """
    ok, rejects = probe_rows(rows, jobs=jobs, progress=progress, desc=f"{corpus}: reading headers")
    if rejects and not skip_unreadable:
        listing = "\n".join(f"  {r['path']}: {r['reason']}" for r in rejects[:10])
        more = f"\n  ... and {len(rejects) - 10} more" if len(rejects) > 10 else ""
        raise UnreadableAudioError(
            f"{root}: {len(rejects)} of {len(rows)} audio files in this {corpus} corpus "
            f"cannot be read:\n{listing}{more}\n"
            "Fix: re-download or re-copy those files (or delete them) and run again; or "
            "pass skip_unreadable=True (command line: --skip-unreadable) to leave them out "
            "and list them in a rejects file."
        )
    if not ok:
        raise EmptyCorpusError(
            f"{root}: expected readable audio in this {corpus} corpus, found none of "
            f"{len(rows)} files readable."
        )
    manifest = make_manifest(ok, corpus=corpus)
    return manifest, pd.DataFrame(rejects, columns=["utt_id", "path", "reason"])


def make_manifest(rows: Iterable[Mapping], *, corpus: str) -> pd.DataFrame:
    """Build a manifest table from row dicts, with every column in order.

    Missing text columns become ``""``, a missing ``age`` becomes NaN; gender is
    normalised; rows are sorted by ``(speaker, utt_id)``.

    Raises
    ------
    ManifestError
        If a required column is missing from a row or ``utt_id`` repeats.
    """
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        raise ManifestError(f"expected at least one utterance for corpus {corpus!r}, found none.")
    for column in MANIFEST_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan if column in ("age", "num_channels") else ""
    frame["corpus"] = frame["corpus"].replace("", corpus).fillna(corpus)
    frame["gender"] = frame["gender"].map(normalize_gender)
    frame = frame[list(MANIFEST_COLUMNS)]
    frame = _coerce(frame, source=f"the {corpus} reader")
    frame = frame.sort_values(["speaker", "utt_id"], kind="stable").reset_index(drop=True)
    return frame


def _coerce(frame: pd.DataFrame, *, source: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{source}: expected the columns {list(REQUIRED_COLUMNS)}, found no {missing}. "
            "Build the manifest with `speakerlib manifest` or add the columns."
        )
    frame = frame.copy()
    for column in _TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].fillna("").astype(str)
    frame["duration_s"] = pd.to_numeric(frame["duration_s"], errors="coerce").astype(float)
    frame["sample_rate"] = pd.to_numeric(frame["sample_rate"], errors="coerce")
    if "num_channels" in frame.columns:
        frame["num_channels"] = pd.to_numeric(frame["num_channels"], errors="coerce")
    if "age" in frame.columns:
        frame["age"] = pd.to_numeric(frame["age"], errors="coerce").astype(float)
    bad = frame["duration_s"].isna() | frame["sample_rate"].isna()
    if bad.any():
        first = frame.loc[bad, "utt_id"].tolist()[:5]
        raise ManifestError(
            f"{source}: expected a duration and sample rate for every utterance, found "
            f"{int(bad.sum())} without (first: {first}). Rebuild the manifest."
        )
    frame["sample_rate"] = frame["sample_rate"].astype(int)
    if "num_channels" in frame.columns:
        frame["num_channels"] = frame["num_channels"].fillna(1).astype(int)
    dup = frame["utt_id"].duplicated(keep=False)
    if dup.any():
        first = sorted(set(frame.loc[dup, "utt_id"]))[:5]
        raise ManifestError(
            f"{source}: expected unique utt_id values, found {int(dup.sum())} rows sharing "
            f"an id (first: {first}). Two files map to the same id: rename one or "
            "read the corpora into separate manifests."
        )
    empty_speaker = frame["speaker"].str.len() == 0
    if empty_speaker.any():
        raise ManifestError(
            f"{source}: expected a speaker for every utterance, found "
            f"{int(empty_speaker.sum())} without (first: {frame.loc[empty_speaker, 'utt_id'].tolist()[:5]})."
        )
    return frame


def write_manifest(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a manifest as CSV (UTF-8), atomically (:func:`speakerlib._io.write_csv`).

    Returns the path written.
    """
    return write_csv(path, frame)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV written by :func:`write_manifest` (or by hand).

    Ids stay text; optional columns missing from the file are added empty.

    Raises
    ------
    ManifestError
        If the file is missing, not CSV, lacks a required column or repeats an id.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            f"{path}: expected a manifest CSV, found nothing there. "
            "Create one with `speakerlib manifest --corpus ... --root ... --out FILE.csv`."
        )
    try:
        frame = pd.read_csv(path, dtype={c: str for c in _TEXT_COLUMNS}, keep_default_na=False,
                            na_values={"age": [""], "duration_s": [""], "sample_rate": [""]})
    except Exception as exc:
        raise ManifestError(f"{path}: expected a CSV manifest, could not parse it ({exc}).") from exc
    frame = _coerce(frame, source=str(path))
    for column in MANIFEST_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan if column == "age" else (1 if column == "num_channels" else "")
    extra = [c for c in frame.columns if c not in MANIFEST_COLUMNS]
    return frame[list(MANIFEST_COLUMNS) + extra]


def manifest_table(
    manifest: pd.DataFrame | str | Path,
    *,
    purpose: str,
    columns: Sequence[str] = ("utt_id", "path"),
) -> tuple[pd.DataFrame, str]:
    """A manifest given as a table or as the path of a CSV, checked for the columns and rows a stage needs.

    Parameters
    ----------
    manifest : DataFrame, or str or Path of a manifest CSV
        A table is used as it is (not copied); a path is read with :func:`read_manifest`.
    purpose : str
        What the stage does with the utterances, for the message (``"convert"``).
    columns : sequence of str
        The columns the stage needs.

    Returns
    -------
    frame : DataFrame
        The manifest.
    where : str
        How messages name it: ``"the manifest"`` or the path.

    Raises
    ------
    ManifestError
        If the file cannot be read as a manifest, a column is missing, or
        there is no row.

    Examples
    --------
    >>> frame, where = manifest_table("timit.csv", purpose="convert")  # doctest: +SKIP
    """
    if isinstance(manifest, pd.DataFrame):
        frame, where = manifest, "the manifest"
    else:
        frame, where = read_manifest(manifest), str(manifest)
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ManifestError(
            f"{where}: expected the columns {' and '.join(columns)}, found no {missing}. "
            "Build the manifest with `speakerlib manifest` or read_corpus."
        )
    if frame.empty:
        raise ManifestError(f"{where}: expected at least one utterance to {purpose}, found none.")
    return frame, where


def combine_manifests(manifests: Mapping[str, pd.DataFrame], *, prefixed: Iterable[str] = ()) -> pd.DataFrame:
    """Several corpora's manifests as one, their speakers kept apart.

    Parameters
    ----------
    manifests : mapping of name -> DataFrame
        Each corpus's manifest, by a short name (``"speechocean762"``, ``"librispeech"``).
    prefixed : iterable of str
        Names whose ``utt_id`` and ``speaker`` values get the prefix ``"<name>:"``
        (so that ids two corpora share become distinct); the others keep theirs.

    Returns
    -------
    DataFrame
        The rows of every manifest in the order given, with a ``source`` column
        naming the manifest each came from.

    Raises
    ------
    ManifestError
        If, after prefixing, two corpora share a speaker id or an utterance id
        (the message lists them and the fix: prefix one of the corpora), or a
        manifest lacks ``utt_id`` or ``speaker``.

    Examples
    --------
    >>> a = pd.DataFrame({"utt_id": ["u1"], "speaker": ["19"]})
    >>> combine_manifests({"a": a, "b": a}, prefixed=["b"])[["utt_id", "speaker"]].values.tolist()
    [['u1', '19'], ['b:u1', 'b:19']]
    """
    prefixed = set(prefixed)
    unknown = sorted(prefixed - set(manifests))
    if unknown:
        raise ManifestError(f"prefixed: expected names of the manifests given ({sorted(manifests)}), "
                            f"found {unknown}")
    frames, owner_of = [], {"speaker": {}, "utt_id": {}}
    for name, frame in manifests.items():
        missing = [c for c in ("utt_id", "speaker") if c not in frame.columns]
        if missing:
            raise ManifestError(f"manifest {name!r}: expected the columns utt_id and speaker, found no {missing}.")
        frame = frame.copy()
        for column in ("utt_id", "speaker"):
            frame[column] = frame[column].astype(str)
            if name in prefixed:
                frame[column] = f"{name}:" + frame[column]
            clashes = sorted(v for v in set(frame[column]) if v in owner_of[column])
            if clashes:
                other = owner_of[column][clashes[0]]
                raise ManifestError(
                    f"manifests {other!r} and {name!r} share {len(clashes)} {column} values "
                    f"(first: {clashes[:5]}): their speakers would be mixed up. Give one of them a prefix "
                    f"(prefixed=[{name!r}]; speakerlib reproduce prefixes the corpora it adds with --also)."
                )
            owner_of[column].update((v, name) for v in set(frame[column]))
        frames.append(frame.assign(source=name))
    return pd.concat(frames, ignore_index=True)


def summarize(frame: pd.DataFrame, *, by: str = "corpus") -> pd.DataFrame:
    """Per-group table: speakers, utterances, hours, mean duration, gender balance.

    Parameters
    ----------
    frame : DataFrame
        A manifest.
    by : str
        Column to group by (``"corpus"`` or ``"subset"``).

    Returns
    -------
    DataFrame
        Index ``by``; columns ``speakers``, ``utterances``, ``hours``,
        ``mean_duration_s``, ``female_speakers``, ``male_speakers``,
        ``unknown_gender_speakers``.
    """
    rows = []
    for key, group in frame.groupby(by, sort=True):
        genders = group.drop_duplicates("speaker")["gender"]
        rows.append(
            {
                by: key,
                "speakers": int(group["speaker"].nunique()),
                "utterances": int(len(group)),
                "hours": float(group["duration_s"].sum() / 3600.0),
                "mean_duration_s": float(group["duration_s"].mean()),
                "female_speakers": int((genders == "F").sum()),
                "male_speakers": int((genders == "M").sum()),
                "unknown_gender_speakers": int((genders == "").sum()),
            }
        )
    return pd.DataFrame(rows).set_index(by)
