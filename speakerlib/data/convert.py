"""WAV copies of a corpus: the seed's conversion scripts, as one resumable call.

The seed converted LibriSpeech's FLAC to WAV with a shell script around
ffmpeg/sox, renamed TIMIT's folders and files to lower case by hand, and
rewrote TIMIT's NIST SPHERE ``.WAV`` files with another ffmpeg script.
speakerlib reads all of these directly (:func:`speakerlib.audio.load.load_audio`),
so converting is optional; :func:`convert_corpus` is for users who want RIFF
WAV copies anyway, for other tools.

The copies keep the samples exactly (16-bit FLAC and SPHERE become 16-bit
WAV, 24-bit stays 24-bit, float stays float) unless a sample rate is asked
for. Output paths mirror the input tree below the corpus root (the deepest
folder holding every file of the manifest). Every file is written to a
temporary name and renamed into place, so an interrupted run leaves no
half-written WAV and a second run converts only what is missing.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from speakerlib import __version__
from speakerlib._io import atomic_path, write_json
from speakerlib.audio.decode import check_riff_length, check_sample_rate, decode_audio, to_float
from speakerlib.audio.load import AudioInfo, audio_info
from speakerlib.data.manifest import manifest_table
from speakerlib.errors import ConfigError, SpeakerlibError, UnreadableAudioError

__all__ = ["ConversionSummary", "convert_corpus", "SUMMARY_ATTR", "CONFIG_NAME"]

#: Key of the :class:`ConversionSummary` in the returned manifest's ``attrs``.
SUMMARY_ATTR = "conversion_summary"
#: File written into ``out_dir``: the settings and counts of the last run.
CONFIG_NAME = "conversion.json"

# subtypes a RIFF WAV stores exactly as read; others become PCM_16 or FLOAT
_EXACT_WAV_SUBTYPES = frozenset({"PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"})
_SUBTYPE_FOR_DTYPE = {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT", "float64": "DOUBLE"}
_REJECT_COLUMNS = ["utt_id", "path", "reason"]


@dataclass(frozen=True)
class ConversionSummary:
    """What a :func:`convert_corpus` run did.

    Attributes
    ----------
    root : Path
        The corpus root: the deepest folder holding every input file.
    out_dir : Path
        Where the WAV tree was written.
    written : int
        Files converted in this run.
    skipped : int
        Files whose complete WAV was already there (from an earlier run).
    rejected : int
        Files that could not be converted (listed with reasons in the rejects).
    seconds : float
        Wall-clock time of the run [s].
    """

    root: Path
    out_dir: Path
    written: int
    skipped: int
    rejected: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.written} written, {self.skipped} skipped as already done, "
            f"{self.rejected} rejected ({self.seconds:.1f} s) -> {self.out_dir}"
        )


def convert_corpus(
    manifest: pd.DataFrame | str | Path,
    out_dir: str | Path,
    *,
    lower_case: bool = False,
    sample_rate_hz: int | None = None,
    jobs: int = 2,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write a RIFF WAV copy of every file of a manifest, mirroring the corpus tree.

    FLAC and NIST SPHERE become WAV with the same samples (16-bit stays
    16-bit); anything else :func:`speakerlib.audio.load.load_audio` reads (MP3,
    M4A...) becomes 16-bit WAV. Channels are kept. A file whose complete WAV
    already exists is skipped, so an interrupted run can simply be started
    again.

    Parameters
    ----------
    manifest : DataFrame, or str or Path of a manifest CSV
        Needs the columns ``utt_id`` and ``path``; not modified.
    out_dir : str or Path
        Root of the WAV tree. ``<root>/a/b.flac`` becomes ``<out_dir>/a/b.wav``,
        where ``<root>`` is the deepest folder holding every input file.
    lower_case : bool
        Lower-case the output folders and names (``TRAIN/DR1/FVMH0/SA1.WAV``
        becomes ``train/dr1/fvmh0/sa1.wav``), as the seed did for TIMIT.
    sample_rate_hz : int > 0 or None
        Resample to this rate [Hz] (soxr, high quality; the result is 16-bit
        for sources of up to 16 bits, float otherwise). None keeps each file's
        rate and samples exactly.
    jobs : int >= 1
        Files converted at once (threads: libsndfile releases the GIL).
    progress : bool
        Show a progress bar.

    Returns
    -------
    manifest : DataFrame
        The input's rows that were converted (or already were), in their
        order, with ``path`` pointing at the WAV copy, ``duration_s``,
        ``sample_rate`` and ``num_channels`` read from it, and a
        ``source_path`` column naming the original. ``attrs["conversion_summary"]``
        (:data:`SUMMARY_ATTR`) holds a :class:`ConversionSummary`.
    rejects : DataFrame
        Columns ``utt_id``, ``path``, ``reason``: every file not converted and
        why (unreadable audio, two inputs mapping to one output...).

    Raises
    ------
    ManifestError
        If the manifest is empty or lacks ``utt_id`` or ``path``.
    ConfigError
        If ``sample_rate_hz`` or ``jobs`` is out of range (a ValueError).
    OSError
        If an output cannot be written (disk full, no permission): the run
        stops; what was written stays and counts as done next time.

    Examples
    --------
    >>> wav_manifest, rejects = convert_corpus(manifest, "data/timit_wav",
    ...                                        lower_case=True)  # doctest: +SKIP
    >>> print(wav_manifest.attrs["conversion_summary"])  # doctest: +SKIP
    160 written, 0 skipped as already done, 0 rejected (1.2 s) -> data/timit_wav
    """
    started = time.perf_counter()
    frame, _ = manifest_table(manifest, purpose="convert")
    rate = check_sample_rate(sample_rate_hz)
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ConfigError(f"expected jobs as an integer >= 1, found {jobs!r}.")

    out_dir = Path(out_dir).expanduser().absolute()
    sources = [Path(os.path.abspath(Path(str(p)).expanduser())) for p in frame["path"]]
    utt_ids = [str(u) for u in frame["utt_id"]]
    root = _corpus_root(sources)

    plan: list[tuple[int, Path, Path]] = []
    rejects: list[tuple[int, dict]] = []
    claimed: dict[Path, str] = {}
    for index, (utt_id, source) in enumerate(zip(utt_ids, sources)):
        target = _wav_path(source, root=root, out_dir=out_dir, lower_case=lower_case)
        if target in claimed:
            reason = (
                f"{source}: expected its own output file, found {target} already the output "
                f"of {claimed[target]!r} (the .wav suffix{' or lower-casing' if lower_case else ''} "
                "maps both files to one name). Rename one of the two"
                f"{', or convert without lower_case' if lower_case else ''}."
            )
        elif target == source or (target.exists() and os.path.samefile(target, source)):
            reason = (
                f"{source}: expected an output path apart from the input, found the output "
                f"would overwrite it. Choose an out_dir outside {root}."
            )
        else:
            claimed[target] = utt_id
            plan.append((index, source, target))
            continue
        rejects.append((index, {"utt_id": utt_id, "path": str(source), "reason": reason}))

    out_dir.mkdir(parents=True, exist_ok=True)
    done: dict[int, tuple[str, Path, AudioInfo]] = {}
    pool = ThreadPoolExecutor(max_workers=int(jobs))
    try:
        futures = {
            pool.submit(_convert_one, source, target, rate): (index, target)
            for index, source, target in plan
        }
        bar = tqdm(as_completed(futures), total=len(futures), desc="converting to WAV",
                   unit="file", disable=not progress)
        for future in bar:
            index, target = futures[future]
            try:
                status, info = future.result()
            except SpeakerlibError as exc:
                rejects.append((index, {"utt_id": utt_ids[index], "path": str(sources[index]),
                                        "reason": str(exc)}))
                continue
            done[index] = (status, target, info)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    order = sorted(done)
    converted = frame.iloc[order].copy()
    converted["source_path"] = [str(sources[i]) for i in order]
    converted["path"] = [str(done[i][1]) for i in order]
    converted["duration_s"] = [done[i][2].duration_s for i in order]
    converted["sample_rate"] = [done[i][2].sample_rate_hz for i in order]
    converted["num_channels"] = [done[i][2].num_channels for i in order]
    converted = converted.reset_index(drop=True)
    rejected = pd.DataFrame([row for _, row in sorted(rejects, key=lambda item: item[0])],
                            columns=_REJECT_COLUMNS)

    summary = ConversionSummary(
        root=root,
        out_dir=out_dir,
        written=sum(1 for status, _, _ in done.values() if status == "written"),
        skipped=sum(1 for status, _, _ in done.values() if status == "skipped"),
        rejected=len(rejected),
        seconds=time.perf_counter() - started,
    )
    converted.attrs[SUMMARY_ATTR] = summary
    _write_config(out_dir / CONFIG_NAME, summary, lower_case=lower_case, sample_rate_hz=rate,
                  files=len(frame))
    return converted, rejected


def _corpus_root(sources: list[Path]) -> Path:
    """The deepest folder holding every file."""
    folders = sorted({str(source.parent) for source in sources})
    return Path(os.path.commonpath(folders))


def _wav_path(source: Path, *, root: Path, out_dir: Path, lower_case: bool) -> Path:
    """Where the WAV copy of ``source`` goes: the same place below ``out_dir`` as below ``root``."""
    relative = source.relative_to(root)
    if relative.suffix.lower() != ".wav":
        relative = relative.with_suffix(".wav")
    if lower_case:
        relative = Path(*(part.lower() for part in relative.parts))
    return out_dir / relative


def _convert_one(source: Path, target: Path, sample_rate_hz: int | None) -> tuple[str, AudioInfo]:
    """Convert one file (or find it done); return ``("written" | "skipped", output header)``."""
    existing = _complete_output(source, target, sample_rate_hz)
    if existing is not None:
        return "skipped", existing
    decoded = decode_audio(source)
    if sample_rate_hz is None or sample_rate_hz == decoded.sample_rate_hz:
        data, rate = decoded.samples, decoded.sample_rate_hz
        subtype = decoded.subtype
        if subtype not in _EXACT_WAV_SUBTYPES:
            subtype = _SUBTYPE_FOR_DTYPE[decoded.samples.dtype.name]
    else:
        data, _ = to_float(decoded, source, sample_rate_hz=sample_rate_hz, mono=False)
        rate = sample_rate_hz
        subtype = "PCM_16" if decoded.samples.dtype == np.int16 else "FLOAT"
    # a fixed temporary name: a killed run's leftover is simply overwritten next time
    with atomic_path(target) as partial:
        sf.write(partial, data, rate, format="WAV", subtype=subtype)
    target.with_name(f".{target.name}.part").unlink(missing_ok=True)  # left by versions before atomic_path
    return "written", audio_info(target)


def _complete_output(source: Path, target: Path, sample_rate_hz: int | None) -> AudioInfo | None:
    """The header of ``target`` if it is a complete conversion of ``source``, else None.

    Outputs only ever appear by renaming a fully written file, so an existing
    one is normally complete; the checks catch files put there otherwise.
    """
    if not target.is_file():
        return None
    try:
        out = audio_info(target)
        if out.format != "WAV":
            return None
        check_riff_length(target)
    except UnreadableAudioError:
        return None
    try:
        src = audio_info(source)
    except UnreadableAudioError:  # decoded by ffmpeg or speakerlib's SPHERE reader
        src = None
    if src is None or src.format == "MPEG":  # libsndfile and ffmpeg may count MP3 frames apart
        return out if sample_rate_hz in (None, out.sample_rate_hz) else None
    rate = src.sample_rate_hz if sample_rate_hz is None else sample_rate_hz
    if out.sample_rate_hz != rate or out.num_channels != src.num_channels:
        return None
    expected = src.num_samples * rate / src.sample_rate_hz
    return out if abs(out.num_samples - expected) <= (0 if rate == src.sample_rate_hz else 1) else None


def _write_config(path: Path, summary: ConversionSummary, *, lower_case: bool,
                  sample_rate_hz: int | None, files: int) -> None:
    """Record the settings and counts of the run beside its output, atomically."""
    record = {
        "made_by": "speakerlib.data.convert.convert_corpus",
        "speakerlib_version": __version__,
        "root": str(summary.root),
        "lower_case": lower_case,
        "sample_rate_hz": sample_rate_hz,
        "files": files,
        "written": summary.written,
        "skipped": summary.skipped,
        "rejected": summary.rejected,
        "seconds": round(summary.seconds, 3),
    }
    write_json(path, record, indent=2)
