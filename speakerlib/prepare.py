"""Prepare a corpus for training: VAD, fixed length and features, into a feature store.

:func:`prepare` takes every utterance of a manifest through the reference
pipeline (read at 16 kHz -> voice activity detection -> pad or centre-crop
to 3 s -> 40 log filterbanks) and writes the result to a *feature store*, a
folder of plain numpy arrays that :func:`speakerlib.store.load_store` reads
back. Each stage is configurable (:class:`speakerlib.store.PrepareConfig`).

The store's format (its layout, what each file holds, why it holds
un-normalised features, how a killed run resumes) is described in
:mod:`speakerlib.store`. This module is the runner: it checks the manifest,
opens (or creates) the store, prepares the utterances in worker processes and
writes the summary files last.

Resuming
--------
Every utterance file is written to a temporary name beside it and renamed
into place (:func:`speakerlib._io.atomic_path`), so a file that exists is
complete: a run that is killed can be started again and only the missing
utterances are computed (rejected ones are tried again). The summary files
(index, rejects, ``features.npy``) are removed before a run writes its first
utterance file, and rewritten when it ends, ``index.csv`` last: a store
without ``index.csv`` is incomplete, and :func:`speakerlib.store.load_store`
says so. A rerun with nothing to do writes no file at all. Re-running with a
different configuration in the same folder raises
:class:`~speakerlib.errors.StoreConfigError`.

One writer at a time
--------------------
A run holds the store's lock (``STORE/.lock``, :func:`speakerlib._lock.folder_lock`)
from before it writes anything until it ends: a second run into the same
store stops at once with :class:`~speakerlib.errors.FolderInUseError` naming
the first one's PID. The lock of a run that was killed is taken over (with a
warning).
"""

from __future__ import annotations

import multiprocessing
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from speakerlib._checks import is_int
from speakerlib._lock import folder_lock
from speakerlib.audio import AudioConversionWarning, load_audio
from speakerlib.errors import (
    ConfigError,
    ConfigTypeError,
    EmptyCorpusError,
    ManifestError,
    SpeakerlibError,
    StoreConfigError,
)
from speakerlib.features import compute_features
from speakerlib.framing import fix_length
from speakerlib.store import (
    INDEX_NAME,
    REJECTS_NAME,
    PrepareConfig,
    read_utterance_file,
)
from speakerlib.store.files import utterance_file_name, write_utterance_file
from speakerlib.store.writer import drop_summary_files, open_store, write_summary_files
from speakerlib.vad import vad

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where it is used, not here: the worker processes import this
# module and never need it, and a spawned worker starts about 0.4 s sooner without it.

__all__ = ["PrepareSummary", "UtteranceContent", "prepare", "utterance_content"]

_REJECT_COLUMNS = ["utt_id", "path", "error", "reason"]


@dataclass(frozen=True)
class PrepareSummary:
    """What a :func:`prepare` run did.

    Attributes
    ----------
    store : Path
        The feature store.
    written : int
        Utterances computed and written in this run.
    skipped : int
        Utterances already in the store (from an earlier run), not recomputed.
    rejected : int
        Utterances left out (listed with their reasons in ``rejects_path``).
    seconds : float
        Wall-clock time of the run [s].
    audio_s : float
        Audio processed in this run (the written utterances, as loaded) [s].
    converted : int
        Utterances of the index whose audio was resampled, downmixed or
        clipped on loading (the ``conversions`` column says how).
    rejects_path : Path
        The rejects report (``STORE/rejects.csv``).
    """

    store: Path
    written: int
    skipped: int
    rejected: int
    seconds: float
    audio_s: float
    converted: int
    rejects_path: Path

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio processed per second of wall-clock time in this run."""
        return self.audio_s / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        return (
            f"{self.written} written, {self.skipped} skipped as already done, "
            f"{self.rejected} rejected ({self.seconds:.1f} s, {self.audio_s:.0f} s of audio) "
            f"-> {self.store}"
        )


# ---------------------------------------------------------------------------
# The work on one utterance (runs in the worker processes)


_METADATA_KEYS = (
    "audio_s", "speech_s", "num_samples", "padded", "cropped", "resampled", "downmixed",
    "original_sample_rate_hz", "original_channels", "clipped_samples", "conversions",
)


def _index_row(meta: dict, shape: tuple[int, ...], num_segments: int, config: PrepareConfig) -> dict:
    """One index row; ``shape`` is the stored array's: features ``(frames, bins)`` or audio ``(samples,)``."""
    row = {key: meta[key] for key in _METADATA_KEYS}
    row["num_frames"], row["num_bins"] = config.features.output_shape(shape[0]) if len(shape) == 1 else shape
    row["num_segments"] = int(num_segments)
    return row


def _existing(target: Path, utt_id: str, config: PrepareConfig) -> dict | None:
    """The index row of a complete utterance file at ``target``, or None to (re)compute it."""
    if not target.is_file():
        return None
    try:
        meta, shape, segments = read_utterance_file(target)
    except Exception:  # only complete files are renamed into place; recompute anything odd
        return None
    if meta.get("utt_id") != utt_id:
        raise StoreConfigError(
            f"{target}: expected the features of utterance {utt_id!r}, found those of "
            f"{meta.get('utt_id')!r} (two ids map to one file name). Rename one of them in "
            "the manifest."
        )
    expected = config.output_shape
    if expected is not None and shape != expected or (len(shape) == 1) != (config.content == "audio"):
        return None
    return _index_row(meta, shape, segments.shape[0], config)


@dataclass(frozen=True)
class UtteranceContent:
    """What a store keeps of one utterance's samples (:func:`utterance_content`).

    Attributes
    ----------
    kept : np.ndarray [shape=(samples,) for a store of audio, (frames, bins) else, dtype=float32]
        The audio after VAD (and fixed length, if the config has one), or its features.
    segments_s : np.ndarray [shape=(segments, 2), dtype=float64]
        Start and end [s] of each speech segment VAD kept (the whole signal without VAD).
    speech_s : float
        Seconds of speech VAD kept, before padding or cropping.
    num_samples : int
        Samples after fixing the length.
    padded, cropped : bool
        Whether fixing the length padded or cropped the speech.
    """

    kept: np.ndarray
    segments_s: np.ndarray
    speech_s: float
    num_samples: int
    padded: bool
    cropped: bool


def utterance_content(y: np.ndarray, config: PrepareConfig) -> UtteranceContent:
    """Take mono samples through a store's pipeline: VAD, fixed length, then features (or not).

    The same steps :func:`prepare` applies to every file, on samples already
    read (so that a recording in memory is treated exactly as a stored one).

    Parameters
    ----------
    y : np.ndarray [shape=(samples,), dtype=float32]
        Mono samples in [-1, 1] at ``config.sample_rate_hz``.
    config : PrepareConfig

    Returns
    -------
    UtteranceContent

    Raises
    ------
    NothingLeftAfterVadError
        If VAD finds no speech.
    AudioTooShortError
        If what is left is shorter than one feature frame.
    """
    rate = config.sample_rate_hz
    if config.vad is not None:
        result = vad(y, sample_rate_hz=rate, config=config.vad)
        speech, segments = result.audio, result.segments_s
    else:
        speech, segments = y, np.array([[0.0, y.size / rate]], dtype=np.float64)
    target = config.num_samples
    if target is None:
        fixed, padded, cropped = speech, False, False
    else:
        fixed = fix_length(speech, num_samples=target, mode=config.length_mode)
        padded, cropped = speech.size < target, speech.size > target
    if config.content == "audio":
        kept = np.ascontiguousarray(fixed, dtype=np.float32)
        config.features.output_shape(kept.size)  # raises AudioTooShortError for less than one frame
    else:
        kept = compute_features(fixed, config.stored_features)
    return UtteranceContent(kept=kept, segments_s=np.asarray(segments, dtype=np.float64).reshape(-1, 2),
                            speech_s=float(speech.size / rate), num_samples=int(fixed.size),
                            padded=bool(padded), cropped=bool(cropped))


def _compute(utt_id: str, path: str, config: PrepareConfig) -> tuple[np.ndarray, dict, np.ndarray]:
    """What the store keeps of one file (its features, or its audio after VAD), its metadata and VAD
    segments; raises SpeakerlibError subclasses."""
    rate = config.sample_rate_hz
    with warnings.catch_warnings():
        # recorded per utterance and summarised once by prepare(): no warning per file
        warnings.simplefilter("ignore", AudioConversionWarning)
        y, report = load_audio(path, sample_rate_hz=rate, mono=True)
    content = utterance_content(y, config)
    meta = {
        "audio_s": float(y.size / rate),
        "speech_s": content.speech_s,
        "num_samples": content.num_samples,
        "padded": content.padded,
        "cropped": content.cropped,
        "resampled": bool(report.resampled),
        "downmixed": bool(report.downmixed),
        "original_sample_rate_hz": int(report.original_sample_rate_hz),
        "original_channels": int(report.original_channels),
        "clipped_samples": int(report.clipped_samples),
        "conversions": "; ".join(report.changes),
        "decoder": str(report.decoder),
    }
    return content.kept, meta, content.segments_s


def _work_chunk(tasks: list[tuple[int, str, str, str]], config_dict: dict,
                store: str) -> list[tuple[int, str, dict]]:
    """Prepare a chunk of utterances; return ``(position, status, row or reject)`` each.

    ``status`` is ``"written"``, ``"skipped"`` or ``"rejected"``; the result
    holds metadata only, never feature values. Before the first utterance file
    it writes, the store's summary files are dropped (the store is incomplete
    until the run writes them again), so a rerun with nothing to write leaves
    every file as it was.
    """
    config = PrepareConfig.from_dict(config_dict)
    root = Path(store)
    results = []
    dropped = False
    for position, utt_id, path, relative in tasks:
        target = root / relative
        row = _existing(target, utt_id, config)
        if row is not None:
            results.append((position, "skipped", row))
            continue
        try:
            kept, meta, segments = _compute(utt_id, path, config)
        except SpeakerlibError as exc:
            results.append((position, "rejected", {"error": type(exc).__name__, "reason": str(exc)}))
            continue
        if not dropped:  # once per chunk: the store is incomplete from the first write on
            drop_summary_files(root)
            dropped = True
        write_utterance_file(target, kept, segments, {"utt_id": utt_id, "source_path": path, **meta})
        shape = tuple(int(n) for n in kept.shape)
        results.append((position, "written", _index_row(meta, shape, segments.shape[0], config)))
    return results


# ---------------------------------------------------------------------------
# The run


def manifest_frame(manifest: pd.DataFrame | str | Path, *, purpose: str = "prepare") -> tuple[pd.DataFrame, str]:
    """A manifest (table or CSV path) checked for what preprocessing needs, unique utt_ids included;
    and the words that name it in a message."""
    # speakerlib.data.manifest imports pandas at its top: imported here, like pandas (see above).
    from speakerlib.data.manifest import manifest_table

    frame, where = manifest_table(manifest, purpose=purpose)
    ids = frame["utt_id"].astype(str)
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        raise ManifestError(
            f"{where}: expected unique utt_id values, found {int(duplicated.sum())} rows sharing "
            f"an id (first: {sorted(set(ids[duplicated]))[:5]}). Fix the manifest."
        )
    return frame.reset_index(drop=True), where


def prepare(
    manifest: pd.DataFrame | str | Path,
    store: str | Path,
    *,
    config: PrepareConfig = PrepareConfig(),
    jobs: int = 2,
    progress: bool = True,
) -> PrepareSummary:
    """Take every utterance of a manifest through VAD, fixed length and features into a store.

    Per utterance: :func:`speakerlib.audio.load_audio` at
    ``config.sample_rate_hz`` (mono; resampling and downmixing are recorded),
    :func:`speakerlib.vad.vad`, :func:`speakerlib.framing.fix_length`, and
    :func:`speakerlib.features.compute_features` without normalisation. The
    store's layout is in :mod:`speakerlib.store`. The run is resumable: what a
    killed run wrote is kept and not recomputed.

    Parameters
    ----------
    manifest : DataFrame, or str or Path of a manifest CSV
        Needs ``utt_id`` and ``path``; ``speaker`` names the sub-folder of
        each utterance's file. Every column is copied to the index. Not modified.
    store : str or Path
        The feature store folder: new, empty, or made earlier with the same
        config (then only what is missing is computed).
    config : PrepareConfig
        The pipeline's settings (default: the reference's).
    jobs : int >= 1
        Worker processes.
    progress : bool
        Show a progress bar.

    Returns
    -------
    PrepareSummary
        Counts written / skipped as already done / rejected, timings, paths.

    Warns
    -----
    AudioConversionWarning
        Once, with the count, when audio was resampled, downmixed or clipped
        (the index's ``conversions`` column says which and how).

    Raises
    ------
    StoreConfigError
        If ``store`` holds a store made with another config (the message shows
        both and the fix), or other files.
    FolderInUseError
        If another running process writes ``store`` (the message names its PID).
    EmptyCorpusError
        If every utterance was rejected: the store and ``rejects.csv`` are
        written, and the message gives the most common reasons and the fix.
    ManifestError
        If the manifest is empty, lacks ``utt_id`` or ``path``, or repeats an id.
    ConfigError, ConfigTypeError
        If ``jobs`` or ``config`` is invalid.
    OSError
        If the store cannot be written; what was written counts as done next time.

    Warns
    -----
    StaleLockWarning
        When the lock of a run that was killed is taken over.

    Notes
    -----
    Utterances that cannot be prepared (unreadable, truncated, NaN samples,
    too short, nothing left after VAD: any :class:`~speakerlib.errors.SpeakerlibError`)
    are listed in ``rejects.csv`` with the reason; nothing is dropped silently.
    Other exceptions are bugs and stop the run.

    Examples
    --------
    >>> summary = prepare("timit.csv", "stores/timit_ref", progress=False)  # doctest: +SKIP
    >>> print(summary)  # doctest: +SKIP
    160 written, 0 skipped as already done, 0 rejected (1.1 s, 490 s of audio) -> stores/timit_ref
    >>> load_store("stores/timit_ref").features().shape  # doctest: +SKIP
    (160, 299, 40)
    """
    started = time.perf_counter()
    if not isinstance(config, PrepareConfig):
        raise ConfigTypeError(f"config: expected a PrepareConfig, got {type(config).__name__}")
    if not is_int(jobs) or jobs < 1:
        raise ConfigError(f"jobs: expected an integer >= 1, got {jobs!r}")
    frame, _ = manifest_frame(manifest)
    store = Path(store).expanduser().absolute()

    utt_ids = frame["utt_id"].astype(str).tolist()
    paths = [str(Path(str(p)).expanduser()) for p in frame["path"]]
    speakers = (frame["speaker"].astype(str).tolist() if "speaker" in frame.columns
                else [""] * len(frame))
    relatives = [utterance_file_name(u, s) for u, s in zip(utt_ids, speakers)]
    owners: dict[str, list[str]] = {}
    for utt_id, relative in zip(utt_ids, relatives):
        owners.setdefault(relative, []).append(utt_id)
    clashes = [ids for ids in owners.values() if len(ids) > 1]
    if clashes:
        first = clashes[:3]
        raise ManifestError(
            f"expected a distinct feature file per utterance, found ids that map to the same "
            f"file name (first: {first}). Rename them in the manifest."
        )
    tasks = list(zip(range(len(frame)), utt_ids, paths, relatives))

    with folder_lock(store, purpose="prepare a feature store"):
        open_store(store, config)
        results = _run_chunks(store, tasks, config, jobs=int(jobs), progress=progress)
        summary = _finish(store, frame, relatives, results, config, started)
    if summary.converted:
        warnings.warn(
            f"{store}: {summary.converted} of {summary.written + summary.skipped} utterances "
            f"were converted on loading (resampled to {config.sample_rate_hz} Hz, downmixed to "
            f"mono or clipped); the 'conversions' column of {store / INDEX_NAME} says which "
            "and how.",
            AudioConversionWarning,
            stacklevel=2,
        )
    if summary.written + summary.skipped == 0:
        rejects = [row for status, row in results.values() if status == "rejected"]
        raise _nothing_kept(summary, rejects, config)
    return summary


def _run_chunks(store: Path, tasks: list[tuple[int, str, str, str]], config: PrepareConfig, *,
                jobs: int, progress: bool) -> dict[int, tuple[str, dict]]:
    """:func:`_work_chunk` on chunks of ``tasks``, in ``jobs`` worker processes (or this one)."""
    from tqdm.auto import tqdm

    chunk = max(1, min(16, len(tasks) // (jobs * 8) or 1))
    chunks = [tasks[i:i + chunk] for i in range(0, len(tasks), chunk)]
    results: dict[int, tuple[str, dict]] = {}
    config_dict = config.to_dict()
    bar = tqdm(total=len(tasks), desc="preparing features", unit="utt", disable=not progress)
    try:
        if jobs == 1:
            for part in chunks:
                for position, status, row in _work_chunk(part, config_dict, str(store)):
                    results[position] = (status, row)
                bar.update(len(part))
        else:
            # "spawn": safe whatever the caller's process holds (threads, TensorFlow)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = {pool.submit(_work_chunk, part, config_dict, str(store)): len(part)
                           for part in chunks}
                try:
                    for future in as_completed(futures):
                        for position, status, row in future.result():
                            results[position] = (status, row)
                        bar.update(futures[future])
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    return results


def _finish(store: Path, frame: pd.DataFrame, relatives: list[str],
            results: dict[int, tuple[str, dict]], config: PrepareConfig,
            started: float) -> PrepareSummary:
    """Write rejects, the consolidated features and the index (last), each only if it changed."""
    import pandas as pd

    kept = [i for i in range(len(frame)) if results[i][0] != "rejected"]
    rejected = [i for i in range(len(frame)) if results[i][0] == "rejected"]

    rejects = pd.DataFrame(
        [{"utt_id": str(frame["utt_id"].iloc[i]), "path": str(frame["path"].iloc[i]),
          **results[i][1]} for i in rejected],
        columns=_REJECT_COLUMNS,
    )

    index = frame.iloc[kept].reset_index(drop=True).copy()
    index["feature_file"] = [relatives[i] for i in kept]
    rows = pd.DataFrame([results[i][1] for i in kept],
                        columns=[*_METADATA_KEYS, "num_frames", "num_bins", "num_segments"])
    index["row"] = np.arange(len(kept)) if config.num_samples is not None else -1
    for column in ("num_frames", "num_bins", *(("num_samples",) if config.content == "audio" else ()),
                   "audio_s", "speech_s"):
        index[column] = rows[column].to_numpy()
    index["speech_fraction"] = (rows["speech_s"] / rows["audio_s"]).to_numpy()
    for column in ("num_segments", "padded", "cropped", "resampled", "downmixed",
                   "original_sample_rate_hz", "original_channels", "clipped_samples",
                   "conversions"):
        index[column] = rows[column].to_numpy()

    written = [i for i in kept if results[i][0] == "written"]
    write_summary_files(store, index, rejects, config, files_changed=bool(written))
    return PrepareSummary(
        store=store,
        written=len(written),
        skipped=len(kept) - len(written),
        rejected=len(rejected),
        seconds=time.perf_counter() - started,
        audio_s=float(sum(results[i][1]["audio_s"] for i in written)),
        converted=int(sum(1 for i in kept if results[i][1]["conversions"])),
        rejects_path=store / REJECTS_NAME,
    )


#: What to do when many utterances are rejected for one reason (the name of its error).
_FIXES = {
    "UnreadableAudioError": "check the files the report lists (a truncated download: download it again)",
    "InvalidAudioError": "check the files the report lists (their samples hold NaN or infinite values)",
    "AudioTooShortError": "check that the manifest's paths point at the recordings (these are "
                          "shorter than one feature window)",
}


def _nothing_kept(summary: PrepareSummary, rejects: list[dict], config: PrepareConfig) -> EmptyCorpusError:
    """The error of a run that rejected every utterance: the commonest reasons, and the fix."""
    counts = Counter(reject["error"] for reject in rejects).most_common(3)
    first: dict[str, str] = {}
    for reject in rejects:
        reason = reject["reason"]
        first.setdefault(reject["error"], reason if len(reason) <= 160 else reason[:157] + "...")
    reasons = "; ".join(f"{name} x{count} (first: {first[name]})" for name, count in counts)
    off = "pass config=dataclasses.replace(config, vad=None)"
    gentler = (f"with a gentler VAD (config.vad.mode is {config.vad.mode}; config=dataclasses.replace("
               "config, vad=dataclasses.replace(config.vad, mode=0)) keeps the most audio)"
               if config.vad is not None else "")
    fixes = []
    for name, _ in counts:
        if name == "NothingLeftAfterVadError" and config.vad is not None:
            fixes.append(f"for {name} (VAD found no speech), prepare again into a new store folder "
                         f"without VAD ({off})" + (f" or {gentler}" if config.vad.mode else ""))
        elif name in _FIXES:
            fixes.append(f"for {name}, {_FIXES[name]}")
    cli = {off: "add --no-vad", "a new store folder": "a new --out folder",
           gentler: (f"with a gentler VAD (--vad-mode 0 keeps the most audio; this store's mode is "
                     f"{config.vad.mode})" if gentler else ""),
           "(VadConfig(mode=0))": "(--vad-mode 0)"}
    return EmptyCorpusError(
        f"{summary.store}: expected at least one utterance in the feature store, found none: all "
        f"{summary.rejected} utterances of the manifest were rejected (each with its reason in "
        f"{summary.rejects_path}; the store and that report are written). Most common reasons: "
        f"{reasons}. Fix: {'; '.join(fixes or [f'see each reason in {summary.rejects_path}'])}.",
        cli={python: command for python, command in cli.items() if python},
    )
