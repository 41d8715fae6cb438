"""Classical systems: mean MFCCs compared by cosine (the baseline), and MFCC statistics with an LDA.

Nothing is trained. Each utterance becomes the average of its MFCC frames
(the long-term shape of its spectral envelope, which depends on the
speaker's vocal tract, but also on what was said, the channel and the
noise). It is the yardstick for the course: a corpus on which this baseline
is perfect is too easy to teach with, and a neural speaker embedding should
beat it clearly.

The features are the usual speech MFCCs: 25 ms Hann windows every 10 ms,
a 512-point FFT, 40 mel bands from 20 Hz to the Nyquist frequency, log power
in dB (floor 80 dB below the loudest bin) and a DCT-II (orthonormal). The
first coefficient (log energy, which follows the recording level) is left out
by default. No voice activity detection: silences count as frames too.

:func:`mfcc_stats_embeddings` is a slightly stronger variant on the same
features for comparisons with other systems: the mean *and* the standard
deviation over frames of every coefficient, z-normalised over the utterances
given (unsupervised: no speaker labels are used).

:func:`mfcc_lda` is the classical *trained* system: those statistics (with
c0) projected by a linear discriminant analysis fitted on the training
speakers (the number of directions chosen on the dev speakers). On
speechocean762 it is better than every network trained here for minutes on a
CPU, and fused with one (:mod:`speakerlib.evaluation.backend`) better than
both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tqdm.auto import tqdm

from speakerlib.audio import SAMPLE_RATE_HZ, load_audio
from speakerlib.data.splits import enrolment_split
from speakerlib.errors import ConfigError, ManifestError, SplitError
from speakerlib.evaluation.backend import LDAProjection
from speakerlib.evaluation.embeddings import align
from speakerlib.evaluation.identification import nearest_centroid
from speakerlib.evaluation.run import evaluate
from speakerlib.evaluation.verification import all_pairs_eer

__all__ = [
    "mean_mfcc",
    "mean_mfcc_embeddings",
    "mfcc_stats_embeddings",
    "baseline_report",
    "MFCC_LDA_DIMS",
    "mfcc_lda",
]

#: The numbers of LDA directions :func:`mfcc_lda` tries (the one with the lowest dev EER is kept).
MFCC_LDA_DIMS: tuple[int, ...] = (10, 20, 30, 39)


def mean_mfcc(
    y: np.ndarray,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    n_mfcc: int = 20,
    n_mels: int = 40,
    win_s: float = 0.025,
    hop_s: float = 0.010,
    include_c0: bool = False,
) -> np.ndarray:
    """Mean MFCC vector of one signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float]
        Mono samples in [-1, 1].
    sample_rate_hz : int > 0 [Hz]
        Sampling rate of ``y``.
    n_mfcc : int >= 2
        Cepstral coefficients computed (c0..c{n_mfcc-1}).
    n_mels : int >= n_mfcc
        Mel bands.
    win_s, hop_s : float > 0 [s]
        Analysis window and hop.
    include_c0 : bool
        Keep c0 (log energy). False (default) leaves it out.

    Returns
    -------
    np.ndarray [shape=(n_mfcc - 1,) or (n_mfcc,), dtype=float32]
        The average over frames of the MFCC vectors.

    Raises
    ------
    ConfigError
        (a ValueError) if ``y`` is not 1-D, holds fewer samples than one
        window, or a setting is out of range.
    """
    mfcc = _mfcc_frames(y, sample_rate_hz=sample_rate_hz, n_mfcc=n_mfcc, n_mels=n_mels, win_s=win_s,
                        hop_s=hop_s)
    mean = mfcc.mean(axis=1, dtype=np.float64)
    return (mean if include_c0 else mean[1:]).astype(np.float32)


def _mfcc_frames(y: np.ndarray, *, sample_rate_hz: int, n_mfcc: int, n_mels: int, win_s: float,
                 hop_s: float) -> np.ndarray:
    """The MFCC frames of one signal, ``(n_mfcc, frames)`` float32 (see :func:`mean_mfcc`)."""
    # librosa is imported here, not at the top: it takes seconds to import.
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ConfigError(f"expected mono samples of shape (n,), found shape {y.shape}.")
    if not 2 <= n_mfcc <= n_mels:
        raise ConfigError(f"expected 2 <= n_mfcc <= n_mels, found n_mfcc={n_mfcc}, n_mels={n_mels}.")
    win = int(round(win_s * sample_rate_hz))
    hop = int(round(hop_s * sample_rate_hz))
    if win < 2 or hop < 1:
        raise ConfigError(f"expected win_s and hop_s of at least a sample, found {win_s} and {hop_s} s.")
    if y.size < win:
        raise ConfigError(f"expected at least one {win_s} s window ({win} samples), found {y.size} samples.")
    n_fft = 1 << int(np.ceil(np.log2(win)))
    mel = librosa.feature.melspectrogram(
        y=y, sr=sample_rate_hz, n_fft=n_fft, hop_length=hop, win_length=win, window="hann",
        center=True, power=2.0, n_mels=n_mels, fmin=20.0, fmax=sample_rate_hz / 2.0,
    )
    return librosa.feature.mfcc(S=librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0),
                                n_mfcc=n_mfcc, dct_type=2, norm="ortho")


def mean_mfcc_embeddings(
    paths_or_manifest: pd.DataFrame | Sequence[str | Path],
    *,
    n_mfcc: int = 20,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    include_c0: bool = False,
    progress: bool = False,
) -> tuple[list[str], np.ndarray]:
    """Mean MFCC vector of every file (see :func:`mean_mfcc` for the features).

    Parameters
    ----------
    paths_or_manifest : DataFrame or sequence of paths
        A manifest (columns ``utt_id`` and ``path``) or audio file paths.
    n_mfcc : int
        Coefficients computed; the vectors have ``n_mfcc - 1`` dimensions
        unless ``include_c0``.
    sample_rate_hz : int [Hz]
        The rate the features are computed at. A file at another rate is
        resampled by :func:`speakerlib.audio.load_audio`, which warns.
    include_c0 : bool
        Keep c0 (log energy).
    progress : bool
        Show a progress bar.

    Returns
    -------
    ids : list of str
        The manifest's ``utt_id`` values, or the paths as given.
    X : np.ndarray [shape=(n_files, d), dtype=float32]
        One row per file, in the same order.

    Raises
    ------
    ManifestError
        If a manifest lacks ``utt_id`` or ``path``.
    UnreadableAudioError
        If a file cannot be read.
    """
    ids, paths = _ids_and_paths(paths_or_manifest)
    rows = []
    for path in tqdm(paths, desc="mean MFCC", unit="file", disable=not progress):
        samples, _ = load_audio(path, sample_rate_hz=sample_rate_hz, mono=True)
        rows.append(mean_mfcc(samples, sample_rate_hz=sample_rate_hz, n_mfcc=n_mfcc,
                              include_c0=include_c0))
    width = n_mfcc if include_c0 else n_mfcc - 1
    X = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, width), np.float32)
    return ids, X


def _ids_and_paths(paths_or_manifest: pd.DataFrame | Sequence[str | Path]) -> tuple[list[str], list[str]]:
    """Utterance ids and audio paths of a manifest (``utt_id``, ``path``), or paths used as their own ids."""
    if isinstance(paths_or_manifest, pd.DataFrame):
        missing = [c for c in ("utt_id", "path") if c not in paths_or_manifest.columns]
        if missing:
            raise ManifestError(
                f"expected a manifest with the columns utt_id and path, found no {missing}."
            )
        return (paths_or_manifest["utt_id"].astype(str).tolist(),
                paths_or_manifest["path"].astype(str).tolist())
    paths = [str(p) for p in paths_or_manifest]
    return list(paths), paths


def mfcc_stats_embeddings(
    paths_or_manifest: pd.DataFrame | Sequence[str | Path],
    *,
    n_mfcc: int = 20,
    n_mels: int = 40,
    win_s: float = 0.025,
    hop_s: float = 0.010,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    include_c0: bool = False,
    progress: bool = False,
) -> tuple[list[str], np.ndarray]:
    """Mean and standard deviation over frames of the MFCCs of every file, z-normalised over the files.

    The features are those of :func:`mean_mfcc` (25 ms Hann windows every
    10 ms, 40 mel bands, log power in dB, orthonormal DCT-II; no VAD). For
    each file, every kept coefficient gives two numbers: its mean and its
    standard deviation (population, ``ddof=0``) over the frames. Then every
    dimension is centred and scaled by the mean and standard deviation of
    that dimension over *all the files given* (a dimension that is constant
    over them is only centred). This normalisation is unsupervised (no
    speaker labels) and depends on which files are given: pass the whole
    corpus to embed it consistently. Compare the rows by cosine.

    Parameters
    ----------
    paths_or_manifest : DataFrame or sequence of paths
        A manifest (columns ``utt_id`` and ``path``) or audio file paths;
        at least 2 files.
    n_mfcc : int >= 2
        Coefficients computed (c0..c{n_mfcc-1}).
    n_mels : int >= n_mfcc
        Mel bands.
    win_s, hop_s : float > 0 [s]
        Analysis window and hop.
    sample_rate_hz : int > 0 [Hz]
        The rate the features are computed at. A file at another rate is
        resampled by :func:`speakerlib.audio.load_audio`, which warns.
    include_c0 : bool
        Keep c0 (log energy, which follows the recording level). False
        (default) leaves it out, as :func:`mean_mfcc` does.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ids : list of str
        The manifest's ``utt_id`` values, or the paths as given.
    X : np.ndarray [shape=(n_files, 2 * d), dtype=float32]
        One row per file, in the same order: the ``d`` coefficient means
        (c1..c{n_mfcc-1}, or c0..c{n_mfcc-1} with ``include_c0``; ``d`` is
        ``n_mfcc - 1`` or ``n_mfcc``), then their ``d`` standard deviations,
        each column with mean 0 and standard deviation 1 (or 0 when constant)
        over the rows. Dimensionless.

    Raises
    ------
    ManifestError
        If a manifest lacks ``utt_id`` or ``path``.
    ConfigError
        (a ValueError) if fewer than 2 files are given (the statistics of
        one file would map it to zero), a file is shorter than one window,
        or a setting is out of range.
    UnreadableAudioError
        If a file cannot be read.

    Examples
    --------
    >>> ids, X = mfcc_stats_embeddings(manifest)  # doctest: +SKIP
    >>> X.shape, X.mean(axis=0).round(6).any()  # doctest: +SKIP
    ((1500, 38), False)
    """
    ids, paths = _ids_and_paths(paths_or_manifest)
    if len(paths) < 2:
        raise ConfigError(
            f"expected at least 2 files to normalise over, found {len(paths)}. Pass the whole corpus."
        )
    first = 0 if include_c0 else 1
    rows = []
    for path in tqdm(paths, desc="MFCC stats", unit="file", disable=not progress):
        samples, _ = load_audio(path, sample_rate_hz=sample_rate_hz, mono=True)
        mfcc = _mfcc_frames(samples, sample_rate_hz=sample_rate_hz, n_mfcc=n_mfcc, n_mels=n_mels, win_s=win_s,
                            hop_s=hop_s)[first:].astype(np.float64)
        rows.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
    X = np.vstack(rows)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return ids, ((X - X.mean(axis=0)) / scale).astype(np.float32)


def baseline_report(
    manifest: pd.DataFrame,
    *,
    seed: int = 0,
    enrol_fraction: float = 0.5,
    n_mfcc: int = 20,
    embeddings: tuple[Sequence[str], np.ndarray] | None = None,
    progress: bool = False,
) -> dict:
    """Closed-set identification accuracy and pairwise verification EER of the baseline.

    Protocol
    --------
    1. Every utterance of the manifest becomes a mean-MFCC vector
       (:func:`mean_mfcc_embeddings`, c0 left out).
    2. Split: :func:`speakerlib.data.splits.enrolment_split` with
       ``enrol_fraction`` and ``seed``: per speaker, ``floor(enrol_fraction * n)``
       utterances (at least 1, leaving at least 1 to test) drawn at random
       enrol, the rest are test utterances.
    3. Normalisation: every vector has the per-dimension mean of the
       enrolment vectors subtracted and is divided by their per-dimension
       standard deviation (statistics from enrolment only), then scaled to
       unit length.
    4. Identification (SI), closed set over all speakers of the manifest: a
       speaker's model is the mean of its normalised enrolment vectors; a
       test utterance is assigned to the model with the highest cosine
       similarity. Accuracy = fraction of test utterances assigned to their
       own speaker. Chance is ``1 / num_speakers``.
    5. Verification (SV): every unordered pair of test utterances is a trial,
       scored by the cosine similarity of their vectors; same speaker =
       target (:func:`speakerlib.evaluation.verification.all_pairs_eer`); NaN
       when no speaker has two test utterances (no target trial).

    Parameters
    ----------
    manifest : DataFrame
        Columns ``utt_id``, ``speaker``, ``path``; every speaker with at least
        2 utterances.
    seed : int
        Seed of the enrolment/test split.
    enrol_fraction : float in (0, 1)
        Share of each speaker's utterances used for enrolment.
    n_mfcc : int
        MFCC coefficients computed (c0 is then dropped).
    embeddings : (ids, X), optional
        Precomputed :func:`mean_mfcc_embeddings` output for this manifest
        (any order; matched by ``utt_id``), to score several seeds without
        reading the audio again.
    progress : bool
        Show a progress bar while reading audio.

    Returns
    -------
    dict
        ``si_accuracy`` and ``si_chance`` (fractions), ``sv_eer`` (fraction;
        NaN without target trials),
        ``num_speakers``, ``num_enrol``, ``num_test`` (utterances),
        ``num_target_trials``, ``num_nontarget_trials``, ``seed``,
        ``enrol_fraction``, ``n_mfcc``.

    Raises
    ------
    ManifestError
        If a column is missing, or ``embeddings`` lacks an utterance.
    SplitError
        If a speaker has fewer than 2 utterances, or there is only one speaker.
    ConfigError
        (a ValueError) if ``enrol_fraction`` is not strictly between 0 and 1.
    """
    if not 0.0 < enrol_fraction < 1.0:
        raise ConfigError(f"expected enrol_fraction strictly between 0 and 1, found {enrol_fraction}.")
    missing = [c for c in ("utt_id", "speaker", "path") if c not in manifest.columns]
    if missing:
        raise ManifestError(
            f"expected a manifest with the columns utt_id, speaker and path, found no {missing}."
        )
    table = manifest[["utt_id", "speaker", "path"]].astype(str).sort_values("utt_id", kind="stable")
    counts = table.groupby("speaker").size()
    if len(counts) < 2:
        raise SplitError(f"expected at least 2 speakers to identify among, found {len(counts)}.")
    few = counts[counts < 2]
    if len(few):
        raise SplitError(
            f"expected at least 2 utterances per speaker (one to enrol, one to test), found "
            f"{len(few)} speaker(s) with fewer (first: {few.index.tolist()[:5]}). Drop them "
            "from the manifest first."
        )

    if embeddings is None:
        ids, X = mean_mfcc_embeddings(table, n_mfcc=n_mfcc, progress=progress)
    else:
        ids, X = embeddings
    position = {utt: i for i, utt in enumerate(ids)}
    absent = [utt for utt in table["utt_id"] if utt not in position]
    if absent:
        raise ManifestError(
            f"expected an embedding for every utterance of the manifest, found none for "
            f"{len(absent)} (first: {absent[:5]})."
        )
    X = np.asarray(X, dtype=np.float64)[[position[u] for u in table["utt_id"]]]
    speakers = table["speaker"].to_numpy(dtype=str)

    roles = enrolment_split(table, enrol_fraction=enrol_fraction, seed=seed)["role"]
    enrol = (roles == "enrol").to_numpy()
    test = ~enrol

    scale = X[enrol].std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - X[enrol].mean(axis=0)) / scale

    # Every speaker enrols (enrolment_split guarantees it), so every other utterance is a test one.
    names, _, similarity = nearest_centroid(Z, speakers, enrol)
    predicted = names[np.argmax(similarity, axis=1)]
    accuracy = float(np.mean(predicted == speakers[test]))

    test_speakers = speakers[test]
    # With one test utterance per speaker there is no target trial, hence no EER (NaN).
    sv_eer = all_pairs_eer(Z[test], test_speakers)
    n_target = int(sum(k * (k - 1) // 2 for k in pd.Series(test_speakers).value_counts()))
    n_pairs = int(test.sum()) * (int(test.sum()) - 1) // 2
    return {
        "si_accuracy": accuracy,
        "si_chance": 1.0 / len(names),
        "sv_eer": sv_eer,
        "num_speakers": int(len(names)),
        "num_enrol": int(enrol.sum()),
        "num_test": int(test.sum()),
        "num_target_trials": n_target,
        "num_nontarget_trials": n_pairs - n_target,
        "seed": int(seed),
        "enrol_fraction": float(enrol_fraction),
        "n_mfcc": int(n_mfcc),
    }


def mfcc_lda(
    manifest: pd.DataFrame,
    *,
    dims: Sequence[int] = MFCC_LDA_DIMS,
    seed: int = 0,
    embeddings: tuple[Sequence[str], np.ndarray] | None = None,
    progress: bool = False,
) -> dict:
    """The classical system: MFCC statistics projected by an LDA trained on the training speakers.

    Every utterance of the manifest becomes :func:`mfcc_stats_embeddings`
    (20 MFCCs with c0, means and deviations, z-normalised over the corpus);
    an :class:`~speakerlib.evaluation.backend.LDAProjection` is fitted on the
    rows of ``split == "train"`` with their speakers, for each number of
    directions in ``dims`` that the training speakers allow; the one with the
    lowest EER on the dev speakers' trials is kept. Test speakers are used by
    nothing here.

    Parameters
    ----------
    manifest : DataFrame
        ``utt_id``, ``speaker``, ``path`` and ``split`` (train, dev and test speakers).
    dims : sequence of int
        Candidate numbers of LDA directions.
    seed : int
        Seed of the dev trial list.
    embeddings : (ids, X), optional
        Precomputed :func:`mfcc_stats_embeddings` (``include_c0=True``) of the manifest.
    progress : bool

    Returns
    -------
    dict
        ``ids`` (list of str), ``embeddings`` (np.ndarray (n, dims) float32),
        ``projection`` (the kept LDAProjection), ``dims`` (kept),
        ``dev_eer_by_dims`` (every candidate's dev EER).

    Raises
    ------
    ManifestError
        If the manifest has no split column with train and dev speakers.
    """
    split = manifest["split"].astype(str) if "split" in manifest.columns else None
    if split is None or not {"train", "dev"} <= set(split):
        raise ManifestError("mfcc_lda: expected a manifest with a split column holding train and dev "
                            "speakers (speakerlib split), found none.")
    if embeddings is None:
        ids, X = mfcc_stats_embeddings(manifest, include_c0=True, progress=progress)
    else:
        ids, X = list(embeddings[0]), np.asarray(embeddings[1])
    train = manifest[split == "train"]
    X_train = align(ids, X, train["utt_id"].astype(str).to_numpy())
    limit = min(X.shape[1], train["speaker"].nunique() - 1)
    candidates = sorted({min(int(d), limit) for d in dims})
    scored = {}
    for d in candidates:
        projection = LDAProjection.fit(X_train, train["speaker"].astype(str).to_numpy(), dims=d)
        Z = projection.transform(X)
        dev = evaluate((ids, Z), manifest, "sv", None, split="dev", seed=seed, bootstrap=0, figures=False)
        scored[d] = (dev["eer"], projection, Z)
    best = min(scored, key=lambda d: (scored[d][0], d))
    return {"ids": list(ids), "embeddings": scored[best][2].astype(np.float32), "projection": scored[best][1],
            "dims": best, "dev_eer_by_dims": {d: float(v[0]) for d, v in scored.items()}}
