"""Readers of the standard noise and impulse-response folders: MUSAN and OpenSLR 28.

MUSAN (Snyder, Chen & Povey 2015, https://www.openslr.org/17/)::

    <root>/music/**/*.wav     music (about 42 h)
    <root>/noise/**/*.wav     technical and ambient noises (about 6 h)
    <root>/speech/**/*.wav    read speech in several languages (about 60 h)

OpenSLR 28, RIRS_NOISES (Ko et al. 2017, https://www.openslr.org/28/)::

    <root>/simulated_rirs/{smallroom,mediumroom,largeroom}/Room*/Room*-*.wav
    <root>/real_rirs_isotropic_noises/*.wav

Every category (and every RIR kind) is optional, but a folder must hold at
least one file of the ones asked for. Every ``.wav`` file in the layout has
its header read when the catalogue is made, so an unreadable one fails then,
naming it, rather than in the middle of training: no file is dropped. Files
that are not ``.wav`` (MUSAN's ``README``, ``ANNOTATIONS`` and ``LICENSE``,
OpenSLR 28's ``rir_list``) are not audio and are not listed; names starting
with a dot are hidden and left out, as in every corpus reader
(:mod:`speakerlib.data.layout`). In ``real_rirs_isotropic_noises/``, the files
whose name contains ``noise`` are recordings of isotropic noise, not RIRs:
they are listed apart (:attr:`RirCatalogue.isotropic_noises`).

Noise is read from disk a window at a time (:func:`read_noise_segment`), since
MUSAN is about 25 GB as float32; RIRs are loaded into memory
(:func:`load_rirs`), as :class:`~speakerlib.augmentation.reverb.RirBank`.
Audio at another sample rate is resampled with soxr, and multi-channel audio
reduced to one channel, with an
:class:`~speakerlib.audio.AudioConversionWarning` that says so.
"""

from __future__ import annotations

import fnmatch
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from speakerlib.audio import SAMPLE_RATE_HZ, AudioConversionWarning, audio_info, load_audio
from speakerlib.augmentation.checks import check_count, check_rng
from speakerlib.augmentation.reverb import RirBank
from speakerlib.data.layout import require_corpus_dir
from speakerlib.errors import (
    CorpusLayoutError,
    EmptyCorpusError,
    InvalidAudioError,
    UnreadableAudioError,
)
from speakerlib.registry import check_name

__all__ = [
    "MUSAN_CATEGORIES",
    "RIR_KINDS",
    "NoiseFile",
    "NoiseCatalogue",
    "read_musan",
    "read_noise_segment",
    "RirFile",
    "RirCatalogue",
    "read_rirs_noises",
    "load_rirs",
]

#: MUSAN's categories, each a folder of the root.
MUSAN_CATEGORIES: tuple[str, ...] = ("music", "noise", "speech")
#: OpenSLR 28's kinds of RIR: the three simulated room sizes and the real recordings.
RIR_KINDS: tuple[str, ...] = ("smallroom", "mediumroom", "largeroom", "real")

MUSAN_LAYOUT = "<root>/{music,noise,speech}/**/*.wav"
RIRS_LAYOUT = ("<root>/simulated_rirs/{smallroom,mediumroom,largeroom}/Room*/Room*-*.wav and "
               "<root>/real_rirs_isotropic_noises/*.wav")
_MUSAN_HOW = ("Download MUSAN from https://www.openslr.org/17/ (musan.tar.gz), extract it, and pass "
              "the folder holding music/, noise/ and speech/ as musan_root.")
_RIRS_HOW = ("Download RIRS_NOISES from https://www.openslr.org/28/ (rirs_noises.zip), extract it, "
             "and pass the RIRS_NOISES folder as rirs_root (or simulate RIRs instead).")
_SIMULATED = "simulated_rirs"
_REAL = "real_rirs_isotropic_noises"


@dataclass(frozen=True)
class NoiseFile:
    """One noise recording, as its header describes it.

    Attributes
    ----------
    path : Path
    category : str
        ``"music"``, ``"noise"``, ``"speech"`` (MUSAN) or ``"isotropic"`` (OpenSLR 28).
    sample_rate_hz : int [Hz]
    num_samples : int
        Samples per channel.
    num_channels : int
    """

    path: Path
    category: str
    sample_rate_hz: int
    num_samples: int
    num_channels: int

    @property
    def duration_s(self) -> float:
        """Duration [s]."""
        return self.num_samples / self.sample_rate_hz


@dataclass(frozen=True)
class NoiseCatalogue:
    """The noise files of a folder, by category (as :func:`read_musan` found them).

    Attributes
    ----------
    root : Path
        The folder read.
    files : tuple of NoiseFile
        Sorted by category, then path.
    """

    root: Path
    files: tuple[NoiseFile, ...]

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories holding at least one file, in :data:`MUSAN_CATEGORIES` order."""
        present = {f.category for f in self.files}
        return tuple(c for c in (*MUSAN_CATEGORIES, "isotropic") if c in present)

    def in_category(self, category: str) -> tuple[NoiseFile, ...]:
        """The files of one category (empty if it has none)."""
        return tuple(f for f in self.files if f.category == category)

    def duration_s(self, category: str | None = None) -> float:
        """Total duration [s] of one category, or of every file."""
        files = self.files if category is None else self.in_category(category)
        return float(sum(f.duration_s for f in files))

    def __len__(self) -> int:
        return len(self.files)


def _wav_files(folder: Path) -> list[Path]:
    """Every visible ``*.wav`` (any case) below ``folder``, sorted, hidden folders skipped."""
    found = []
    for here, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(here) / n for n in sorted(files)
                  if not n.startswith(".") and n.lower().endswith(".wav")]
    return found


def _header(path: Path, *, what: str, root: Path):
    try:
        return audio_info(path)
    except UnreadableAudioError as exc:
        raise UnreadableAudioError(
            f"{exc} (It is part of {what} at {root}: every .wav file there is used, none is "
            "skipped; re-copy it from the release or delete it.)"
        ) from exc


def _noise_file(path: Path, category: str, *, what: str, root: Path) -> NoiseFile:
    info = _header(path, what=what, root=root)
    return NoiseFile(path=path, category=category, sample_rate_hz=info.sample_rate_hz,
                     num_samples=info.num_samples, num_channels=info.num_channels)


def read_musan(root: str | Path) -> NoiseCatalogue:
    """Catalogue a MUSAN folder: every ``.wav`` of ``music/``, ``noise/`` and ``speech/``.

    Parameters
    ----------
    root : str or Path
        The folder holding ``music/``, ``noise/`` and ``speech/`` (each optional).

    Returns
    -------
    NoiseCatalogue
        One :class:`NoiseFile` per ``.wav`` file, its header read.

    Raises
    ------
    CorpusNotFoundError
        Nothing at ``root``.
    CorpusLayoutError
        ``root`` is a file, or holds ``.wav`` files but none under a category
        folder (the message shows some and says where to point ``root``).
    EmptyCorpusError
        ``root`` is empty, or its category folders hold no ``.wav`` file.
    UnreadableAudioError
        A ``.wav`` file cannot be decoded (named, with the fix).
    """
    root = require_corpus_dir(root, what="a MUSAN folder", how_to_get=_MUSAN_HOW, layout=MUSAN_LAYOUT)
    present = [c for c in MUSAN_CATEGORIES if (root / c).is_dir()]
    files = [_noise_file(p, c, what="the MUSAN folder", root=root)
             for c in present for p in _wav_files(root / c)]
    if files:
        return NoiseCatalogue(root=root, files=tuple(files))
    stray = _wav_files(root)[:3]
    if stray:
        shown = ", ".join(str(p.relative_to(root)) for p in stray)
        raise CorpusLayoutError(
            f"{root}: expected a MUSAN folder with the layout {MUSAN_LAYOUT}, found .wav files "
            f"outside music/, noise/ and speech/ (for example {shown}). Pass the folder that "
            "holds music/, noise/ and speech/ as musan_root (often <download>/musan)."
        )
    checked = ", ".join(f"{c}/" for c in present) or "no music/, noise/ or speech/ folder"
    raise EmptyCorpusError(
        f"{root}: expected a MUSAN folder with at least one .wav file in the layout {MUSAN_LAYOUT}, "
        f"found none (checked: {checked}). {_MUSAN_HOW}"
    )


def _to_mono_at_rate(samples: np.ndarray, *, rate: int, target: int, path: Path, what: str,
                     downmix: bool) -> np.ndarray:
    """Reduce ``(n, channels)`` samples to one channel at ``target`` Hz, warning if anything changed."""
    changes = []
    if samples.shape[1] > 1:
        if downmix:
            changes.append(f"downmixed {samples.shape[1]} channels to mono (channel mean)")
            samples = samples.mean(axis=1, dtype=np.float64).astype(np.float32)
        else:
            changes.append(f"kept channel 0 of {samples.shape[1]} (each channel is one microphone; "
                           "a mean would blur the direct path)")
            samples = samples[:, 0]
    else:
        samples = samples[:, 0]
    if rate != target:
        changes.append(f"resampled from {rate} Hz to {target} Hz (soxr, high quality)")
        samples = soxr.resample(np.ascontiguousarray(samples, dtype=np.float32), rate, target,
                                quality="HQ")
    if changes:
        warnings.warn(
            f"{path}: {what}: {'; '.join(changes)}. Store the files as mono at {target} Hz to skip "
            "this, or filter AudioConversionWarning when it is intended.",
            AudioConversionWarning, stacklevel=3,
        )
    return np.ascontiguousarray(samples, dtype=np.float32)


def read_noise_segment(file: NoiseFile, *, num_samples: int, rng: np.random.Generator,
                       sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A window of ``num_samples`` samples of a noise file at a uniformly random start.

    Only the window is read (with libsndfile's seek). A file shorter than the
    window is returned whole (:func:`~speakerlib.augmentation.noise.mix_at_snr`
    then tiles it).

    Parameters
    ----------
    file : NoiseFile
    num_samples : int >= 1
        Length wanted, at ``sample_rate_hz`` [samples].
    rng : np.random.Generator
        Draws the start (one integer; none when the file is not longer than the window).
    sample_rate_hz : int > 0 [Hz]
        Rate of the signal the noise is for.

    Returns
    -------
    np.ndarray [shape=(min(num_samples, file length at sample_rate_hz),), dtype=float32]
        In [-1, 1] for integer PCM files.

    Warns
    -----
    AudioConversionWarning
        The file is at another rate (resampled) or has several channels (downmixed).

    Raises
    ------
    UnreadableAudioError
        The file cannot be read any more (moved, truncated since it was catalogued).
    InvalidAudioError
        The window holds NaN or infinite values.
    """
    num_samples = check_count("num_samples", num_samples)
    target = check_count("sample_rate_hz", sample_rate_hz)
    rng = check_rng(rng)
    need = num_samples if file.sample_rate_hz == target else \
        int(np.ceil(num_samples * file.sample_rate_hz / target)) + 1
    need = min(need, file.num_samples)
    start = int(rng.integers(0, file.num_samples - need, endpoint=True))
    try:
        samples, _ = sf.read(str(file.path), start=start, frames=need, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError
        raise UnreadableAudioError(
            f"{file.path}: expected the {file.category} noise file catalogued there, found a file "
            f"that cannot be read ({exc}). Re-copy it, or read the noise folder again."
        ) from exc
    if samples.shape[0] == 0:
        raise UnreadableAudioError(
            f"{file.path}: expected {need} samples from sample {start}, read none: the file is "
            "shorter than when it was catalogued. Re-copy it, or read the noise folder again."
        )
    if not np.all(np.isfinite(samples)):
        raise InvalidAudioError(f"{file.path}: expected finite samples, found NaN or infinite values. "
                                "Re-copy the file or delete it and read the folder again.")
    mono = _to_mono_at_rate(samples, rate=file.sample_rate_hz, target=target, path=file.path,
                            what="noise", downmix=True)
    return mono[:num_samples].copy()


@dataclass(frozen=True)
class RirFile:
    """One impulse-response file of OpenSLR 28.

    Attributes
    ----------
    path : Path
    kind : str
        One of :data:`RIR_KINDS`.
    room : str
        The simulated room's folder name (``"Room001"``), or the real
        recording's file stem.
    sample_rate_hz : int [Hz]
    num_samples : int
    num_channels : int
    """

    path: Path
    kind: str
    room: str
    sample_rate_hz: int
    num_samples: int
    num_channels: int


@dataclass(frozen=True)
class RirCatalogue:
    """The RIR files of an OpenSLR 28 folder (:func:`read_rirs_noises`).

    Attributes
    ----------
    root : Path
    files : tuple of RirFile
        Sorted by kind (:data:`RIR_KINDS` order), then path.
    isotropic_noises : tuple of NoiseFile
        The noise recordings of ``real_rirs_isotropic_noises/`` (category
        ``"isotropic"``); usable with :func:`read_noise_segment`.
    """

    root: Path
    files: tuple[RirFile, ...]
    isotropic_noises: tuple[NoiseFile, ...] = ()

    def of_kind(self, *kinds: str) -> tuple[RirFile, ...]:
        """The files of the given kinds (every file when none is given)."""
        for kind in kinds:
            check_name("RIR kind", kind, RIR_KINDS)
        return tuple(f for f in self.files if not kinds or f.kind in kinds)

    def __len__(self) -> int:
        return len(self.files)


def _simulated(root: Path, kinds: Sequence[str]) -> list[RirFile]:
    folder = root / _SIMULATED
    if not folder.is_dir():
        return []
    found, stray = [], []
    for path in _wav_files(folder):
        parts = path.relative_to(folder).parts
        fits = (len(parts) == 3 and parts[0] in RIR_KINDS[:3]
                and fnmatch.fnmatchcase(parts[1], "Room*") and fnmatch.fnmatchcase(parts[2], "Room*-*.wav"))
        if not fits:
            stray.append(path)
        elif parts[0] in kinds:
            info = _header(path, what="the RIRS_NOISES folder", root=root)
            found.append(RirFile(path=path, kind=parts[0], room=parts[1], sample_rate_hz=info.sample_rate_hz,
                                 num_samples=info.num_samples, num_channels=info.num_channels))
    if stray:
        shown = ", ".join(str(p.relative_to(root)) for p in stray[:3])
        raise CorpusLayoutError(
            f"{folder}: expected only RIR files in the layout {RIRS_LAYOUT}, found {len(stray)} .wav "
            f"file(s) elsewhere (for example {shown}). Move them into a "
            "<kind>/Room*/Room*-*.wav place or out of simulated_rirs/: none is skipped."
        )
    return sorted(found, key=lambda f: (RIR_KINDS.index(f.kind), str(f.path)))


def read_rirs_noises(root: str | Path, *, kinds: Iterable[str] = RIR_KINDS) -> RirCatalogue:
    """Catalogue an OpenSLR 28 (RIRS_NOISES) folder: its simulated and real RIRs.

    Parameters
    ----------
    root : str or Path
        The ``RIRS_NOISES`` folder (holding ``simulated_rirs/`` and/or
        ``real_rirs_isotropic_noises/``; its ``pointsource_noises/`` is not read).
    kinds : iterable of str
        Which of :data:`RIR_KINDS` to list.

    Returns
    -------
    RirCatalogue
        Its headers read; the isotropic noises listed apart.

    Raises
    ------
    CorpusNotFoundError
        Nothing at ``root``.
    CorpusLayoutError
        ``root`` is a file; or ``.wav`` files under ``simulated_rirs/`` that
        do not fit the layout; or ``.wav`` files only outside the layout.
    EmptyCorpusError
        No RIR of the kinds asked for (the message says what was found).
    UnknownNameError
        A kind not in :data:`RIR_KINDS`.
    UnreadableAudioError
        A ``.wav`` file cannot be decoded (named, with the fix).
    """
    kinds = tuple(dict.fromkeys(check_name("RIR kind", k, RIR_KINDS) for k in kinds))
    root = require_corpus_dir(root, what="an OpenSLR 28 RIRS_NOISES folder", how_to_get=_RIRS_HOW,
                              layout=RIRS_LAYOUT)
    files = _simulated(root, kinds)
    noises: list[NoiseFile] = []
    real = root / _REAL
    if real.is_dir():
        below = [p for p in _wav_files(real) if p.parent != real]
        if below:
            raise CorpusLayoutError(
                f"{real}: expected the real RIRs and noises directly in it ({RIRS_LAYOUT}), found "
                f"{len(below)} .wav file(s) in sub-folders (for example {below[0].relative_to(root)}). "
                "Move them up into real_rirs_isotropic_noises/ or out of it: none is skipped."
            )
        for path in _wav_files(real):
            if "noise" in path.stem.lower():
                noises.append(_noise_file(path, "isotropic", what="the RIRS_NOISES folder", root=root))
            elif "real" in kinds:
                info = _header(path, what="the RIRS_NOISES folder", root=root)
                files.append(RirFile(path=path, kind="real", room=path.stem, sample_rate_hz=info.sample_rate_hz,
                                     num_samples=info.num_samples, num_channels=info.num_channels))
    if files:
        return RirCatalogue(root=root, files=tuple(files), isotropic_noises=tuple(noises))
    others = [k for k in RIR_KINDS if k not in kinds and _has_kind(root, k)]
    found = (f"RIRs of the other kinds {others} only" if others else
             f"{len(noises)} isotropic noise file(s) and no RIR" if noises else "no RIR file")
    if not others and not noises and _wav_files(root):
        shown = ", ".join(str(p.relative_to(root)) for p in _wav_files(root)[:3])
        raise CorpusLayoutError(
            f"{root}: expected RIRs in the layout {RIRS_LAYOUT}, found .wav files outside it (for "
            f"example {shown}). Pass the RIRS_NOISES folder itself as rirs_root."
        )
    raise EmptyCorpusError(
        f"{root}: expected RIRs of the kinds {list(kinds)} in the layout {RIRS_LAYOUT}, found {found}. "
        f"Ask for the kinds the folder holds, or: {_RIRS_HOW}"
    )


def _has_kind(root: Path, kind: str) -> bool:
    """Whether ``root`` (an OpenSLR 28 folder) holds at least one RIR file of ``kind``."""
    if kind == "real":
        real = root / _REAL
        return real.is_dir() and any("noise" not in p.stem.lower() for p in real.glob("*.wav"))
    return any((root / _SIMULATED / kind).glob("Room*/Room*-*.wav"))


def load_rirs(files: Sequence[RirFile | str | Path], *,
              sample_rate_hz: int = SAMPLE_RATE_HZ) -> RirBank:
    """Read impulse-response files into a :class:`~speakerlib.augmentation.reverb.RirBank`.

    Parameters
    ----------
    files : sequence of RirFile or path
        For example ``read_rirs_noises(root).of_kind("smallroom")[:1000]``.
    sample_rate_hz : int > 0 [Hz]
        Rate of the signals to reverberate; RIRs at another rate are resampled.

    Returns
    -------
    RirBank
        Channel 0 of each file, at ``sample_rate_hz``, scaled to unit energy,
        named by its path.

    Warns
    -----
    AudioConversionWarning
        A file was resampled, had several channels (channel 0 is kept: each
        channel is another microphone), or was clipped.

    Raises
    ------
    ConfigError
        No files.
    UnreadableAudioError
        A file cannot be decoded.
    InvalidAudioError
        A file is silent or holds NaN or infinite values.
    """
    target = check_count("sample_rate_hz", sample_rate_hz)
    rirs, names = [], []
    for item in files:
        path = Path(item.path if isinstance(item, RirFile) else item)
        samples, report = load_audio(path, sample_rate_hz=None, mono=False)
        rir = _to_mono_at_rate(samples, rate=report.sample_rate_hz, target=target, path=path,
                               what="impulse response", downmix=False)
        if not np.any(rir):
            raise InvalidAudioError(
                f"{path}: expected an impulse response, found a silent file (every sample 0). "
                "Re-copy it from the release, or delete it."
            )
        rirs.append(rir)
        names.append(str(path))
    return RirBank(rirs=tuple(rirs), sample_rate_hz=target, names=tuple(names))
