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
import soundfile as sf
from tqdm.auto import tqdm

from speakerlib._io import write_csv
from speakerlib.audio.decode import check_riff_length, decode_audio, sniff_format
from speakerlib.errors import AudioTooShortError, EmptyCorpusError, ManifestError, UnreadableAudioError

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
# numeric column -> (what each value must be, a whole number?, zero allowed?, blank allowed?)
_NUMBER_RULES: dict[str, tuple[str, bool, bool, bool]] = {
    "duration_s": ("a positive duration in seconds", False, False, False),
    "sample_rate": ("a positive whole number of samples per second [Hz]", True, False, False),
    "num_channels": ("a positive whole number of channels", True, False, False),
    "age": ("an age in years, zero or more (blank when unknown)", False, True, True),
}
_SHOWN = 5  # offending values a message shows
#: What a column missing from a manifest holds (others: empty text): unknown age, one channel.
_MISSING_DEFAULTS = {"age": np.nan, "num_channels": 1}


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
    """Fill ``duration_s``, ``sample_rate`` and ``num_channels`` from each file, as
    :func:`speakerlib.audio.load.load_audio` will read it.

    Files libsndfile reads (WAV, FLAC, OGG, AIFF, SPHERE...; told by their first
    bytes) are described from their header, after two cheap checks that the
    samples it announces are there: a WAV's data chunk against the file's size
    (:func:`speakerlib.audio.decode.check_riff_length`), and one seek to the last
    sample (a truncated FLAC's header still announces them all). Other files
    (MP3, M4A...), and those whose header fails, are decoded with
    :func:`speakerlib.audio.decode.decode_audio` and their samples counted (an
    MP3's header only estimates its length), or rejected with its message.

    Parameters
    ----------
    rows : sequence of dict
        Each with at least ``utt_id`` and ``path``; not modified.
    jobs : int
        Threads reading headers (header reads are I/O bound; the ffmpeg decodes run
        in their own processes).
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
            num_samples, rate, channels = _describe(Path(row["path"]))
        except (UnreadableAudioError, AudioTooShortError) as exc:
            return row, str(exc)
        out = dict(row)
        out["duration_s"] = num_samples / rate
        out["sample_rate"] = rate
        out["num_channels"] = channels
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


def _describe(path: Path) -> tuple[int, int, int]:
    """(samples per channel, rate [Hz], channels) of an audio file, as load_audio decodes it."""
    try:
        with open(path, "rb") as handle:
            kind = sniff_format(handle.read(16))
    except OSError:
        kind = None  # missing, a folder, no permission: the decoder's checks name the problem
    if kind not in (None, "ffmpeg"):
        if kind == "WAV":
            check_riff_length(path)
        described = _header(path)
        if described is not None:
            return described
    # not libsndfile's, or its header fails a check: decode_audio either reads it another way
    # (SPHERE libsndfile refuses, Ogg codecs it lacks, MP3, M4A) or says why, in load_audio's words
    decoded = decode_audio(path)
    return int(decoded.samples.shape[0]), int(decoded.sample_rate_hz), int(decoded.samples.shape[1])


def _header(path: Path) -> tuple[int, int, int] | None:
    """What libsndfile's header says, if it opens the file and the last sample it announces
    can be reached (a truncated FLAC's header still announces every sample); else None."""
    try:
        with sf.SoundFile(str(path)) as handle:
            frames, rate, channels = int(handle.frames), int(handle.samplerate), int(handle.channels)
            if frames <= 0 or rate <= 0 or channels <= 0 or frames >= 2**62:  # 2**62: length unknown
                return None
            handle.seek(frames - 1)  # one seek, not a decode of the whole file
            if len(handle.read(1, dtype="float32")) != 1:
                return None
    except Exception:  # LibsndfileError, RuntimeError, TypeError across soundfile versions
        return None
    return frames, rate, channels


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
        listing = "\n".join(  # the reasons name their file first: not twice
            f"  {r['reason']}" if r["reason"].startswith(r["path"]) else f"  {r['path']}: {r['reason']}"
            for r in rejects[:10])
        more = f"\n  ... and {len(rejects) - 10} more" if len(rejects) > 10 else ""
        raise UnreadableAudioError(
            f"{root}: {len(rejects)} of {len(rows)} audio files in this {corpus} corpus "
            f"cannot be read:\n{listing}{more}\n"
            "Fix: re-download or re-copy those files (or delete them) and run again; or "
            "pass skip_unreadable=True to leave them out and list them in a rejects file.",
            cli={"pass skip_unreadable=True": "add --skip-unreadable"},
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

    Missing text columns become ``""``, a missing ``age`` NaN, a missing
    ``num_channels`` 1 (when no row has one); gender is normalised; rows are
    sorted by ``(speaker, utt_id)``.

    Raises
    ------
    ManifestError
        If a required column is missing from a row, ``utt_id`` repeats, or a
        numeric column holds a value it cannot (see :func:`read_manifest`).
    """
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        raise ManifestError(f"expected at least one utterance for corpus {corpus!r}, found none.")
    for column in MANIFEST_COLUMNS:
        if column not in frame.columns:
            frame[column] = _MISSING_DEFAULTS.get(column, "")
    frame["corpus"] = frame["corpus"].replace("", corpus).fillna(corpus)
    frame["gender"] = frame["gender"].map(normalize_gender)
    frame = frame[list(MANIFEST_COLUMNS)]
    frame = _coerce(frame, source=f"the {corpus} reader")
    frame = frame.sort_values(["speaker", "utt_id"], kind="stable").reset_index(drop=True)
    return frame


def _number_problems(frame: pd.DataFrame, column: str, *, in_file: bool) -> tuple[pd.Series, str]:
    """A numeric column parsed (float64, or int64 for whole numbers), and what is wrong with
    it, for the message (``""`` when nothing is)."""
    expected, whole, zero_ok, blank_ok = _NUMBER_RULES[column]
    raw = frame[column]
    missing = raw.map(lambda v: not isinstance(v, str) and pd.isna(v)).to_numpy(dtype=bool)
    text = raw.map(lambda v: v.strip() if isinstance(v, str) else "" if pd.isna(v) else str(v))
    values = pd.to_numeric(text, errors="coerce").astype(float)  # "" becomes NaN
    number, given = values.to_numpy(), (text != "").to_numpy()
    finite = np.isfinite(number)
    with np.errstate(invalid="ignore"):
        negative, zero = finite & (number < 0), finite & (number == 0)
        fraction = finite & (np.floor(number) != number)
    reasons = np.full(len(frame), "", dtype=object)
    if not blank_ok:
        reasons[~given] = "blank"
        reasons[missing] = "missing"
    reasons[given & np.isnan(number)] = "not a number"
    reasons[given & text.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy()] = "NaN"
    reasons[given & np.isinf(number)] = "infinite"
    reasons[negative] = "negative"
    if not zero_ok:
        reasons[zero] = "zero"
    if whole:
        reasons[fraction & ~negative] = "not a whole number"
    bad = (reasons != "").nonzero()[0]
    if not len(bad):
        return (values.astype(np.int64) if whole else values), ""
    line = "line {} of the file, " if in_file else ""
    shown = ", ".join(
        f"{_shown(raw.iloc[i])} in row {i + 1} ({line.format(i + 2)}utt_id {frame['utt_id'].iloc[i]!r}: "
        f"{reasons[i]})"
        for i in bad[:_SHOWN]
    )
    more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    return values, (f"column {column}: expected {expected} in every row, found {len(bad)} "
                    f"value(s) that are not: {shown}{more}")


def _shown(value: object) -> str:
    """A value as a message shows it: text quoted as written, numbers as numbers."""
    return repr(value) if isinstance(value, str) else str(value)


def _coerce(frame: pd.DataFrame, *, source: str, in_file: bool = False) -> pd.DataFrame:
    """Check a manifest table and give each column its type (see :func:`read_manifest`)."""
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
    problems = []
    for column in _NUMBER_RULES:
        if column in frame.columns:
            frame[column], problem = _number_problems(frame, column, in_file=in_file)
            problems += [problem] if problem else []
    if problems:
        raise ManifestError(
            f"{source}: " + "; ".join(problems) + ". Correct those values, or rebuild the "
            "manifest from the audio with `speakerlib manifest --corpus ... --root ...`."
        )
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

    Ids stay text; optional columns missing from the file are added empty
    (``num_channels`` as 1, ``age`` as NaN).

    Every value of the numeric columns is checked: ``duration_s`` a positive
    number [s], ``sample_rate`` [Hz] and ``num_channels`` positive whole numbers
    (``16000.0`` is accepted), ``age`` [years] zero or more, or blank when
    unknown. Text that is not a number, NaN, infinite, negative and fractional
    values are refused.

    Raises
    ------
    ManifestError
        If the file is missing, not CSV, lacks a required column, repeats an
        id, or holds a numeric value it cannot: the message names the column,
        what it must hold, how many values do not, and the first of them with
        their row, line and ``utt_id``.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            f"{path}: expected a manifest CSV, found nothing there. "
            "Create one with `speakerlib manifest --corpus ... --root ... --out FILE.csv`."
        )
    try:
        # every known column as text: the checks see each value as written
        frame = pd.read_csv(path, dtype={c: str for c in MANIFEST_COLUMNS}, keep_default_na=False)
    except Exception as exc:
        raise ManifestError(f"{path}: expected a CSV manifest, could not parse it ({exc}).") from exc
    frame = _coerce(frame, source=str(path), in_file=True)
    for column in MANIFEST_COLUMNS:
        if column not in frame.columns:
            frame[column] = _MISSING_DEFAULTS.get(column, "")
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
