"""The bad-input matrix: every case through the ``speakerlib`` command as a subprocess.

Each case writes its input into a fresh folder, runs one or more commands as
a user would type them, and checks the last command's exit code (2 for bad
input, 0 where the input is fine or is handled with a note), that no
traceback reached the terminal, and a fragment of the message. The cases are
data (the tables below); the functions above them only build inputs.

Voiced audio comes from the session's small synthetic corpus
(``synthetic_store`` in conftest.py), so webrtcvad finds speech in it;
variants (bit depths, rates, channels, NaN) are written from it with
soundfile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytestmark = pytest.mark.slow

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0", "SPEAKERLIB_VERBOSE": ""}


def speakerlib(*args: str | Path, cwd: Path, shell_suffix: str = "") -> subprocess.CompletedProcess:
    words = [sys.executable, "-m", "speakerlib", *map(str, args), "--quiet"]
    if shell_suffix:
        import shlex

        return subprocess.run(["bash", "-c", " ".join(map(shlex.quote, words)) + shell_suffix], cwd=cwd,
                              env=ENV, capture_output=True, text=True, timeout=600)
    return subprocess.run(words, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


# --------------------------------------------------------------------------- inputs
@pytest.fixture(scope="module")
def voiced(synthetic_store) -> list[tuple[str, np.ndarray, int]]:
    """(speaker, samples, rate) of 12 voiced synthetic utterances of 4 speakers, 3 each."""
    manifest, _ = synthetic_store
    out = []
    for speaker, rows in list(manifest.groupby("speaker"))[:4]:
        for path in rows["path"].iloc[:3]:
            x, rate = sf.read(path, dtype="float32")
            out.append((str(speaker), x, rate))
    return out


def folder_corpus(root: Path, voiced, *, skip: int = 0) -> Path:
    """``root/<speaker>/<n>.wav`` of the voiced utterances (minus the first ``skip``)."""
    for n, (speaker, x, rate) in enumerate(voiced[skip:]):
        (root / speaker).mkdir(parents=True, exist_ok=True)
        sf.write(root / speaker / f"{n}.wav", x, rate, subtype="PCM_16")
    return root


def _resample(x: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = np.gcd(rate, new_rate)
    return resample_poly(x, new_rate // g, rate // g).astype(np.float32)


def _variant(kind: str, x: np.ndarray, rate: int, path: Path) -> Path:
    """Write one utterance as ``kind`` (a bad or unusual file) at ``path`` (suffix chosen here)."""
    path = path.with_suffix(".flac" if kind.endswith("flac") else ".wav")
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "not-audio":
        path.write_text("this is a text file with a .wav name\n")
    elif kind in ("truncated-wav", "truncated-flac"):
        sf.write(path, x, rate)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "header-only":
        sf.write(path, x, rate)
        path.write_bytes(path.read_bytes()[:30])
    elif kind == "silent":
        sf.write(path, np.zeros(3 * rate, np.float32), rate, subtype="PCM_16")
    elif kind == "too-short":
        sf.write(path, x[: rate // 20], rate, subtype="PCM_16")
    elif kind == "nan":
        bad = x.copy()
        bad[len(bad) // 2] = np.nan
        sf.write(path, bad, rate, subtype="FLOAT")
    elif kind == "inf":
        bad = x.copy()
        bad[len(bad) // 3] = np.inf
        sf.write(path, bad, rate, subtype="FLOAT")
    elif kind in ("PCM_U8", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"):
        sf.write(path, x, rate, subtype=kind)
    elif kind == "stereo":
        sf.write(path, np.stack([x, 0.5 * x], axis=1), rate, subtype="PCM_16")
    elif kind in ("44100", "48000"):
        sf.write(path, _resample(x, rate, int(kind)), int(kind), subtype="PCM_16")
    else:  # pragma: no cover - a typo in the table
        raise AssertionError(kind)
    return path


# --------------------------------------------------------------------------- audio files
@dataclass(frozen=True)
class AudioCase:
    kind: str
    stage: str  # the command that meets the file: "manifest" or "prepare"
    code: int
    fragment: str  # in stderr (code 2) or stdout + stderr (code 0)
    names_file: bool = True  # the message names the file


AUDIO_CASES = [
    AudioCase("empty", "manifest", 2, "--skip-unreadable"),
    AudioCase("not-audio", "manifest", 2, "--skip-unreadable"),
    AudioCase("truncated-wav", "manifest", 2, "truncated"),
    AudioCase("truncated-flac", "manifest", 2, "truncated"),
    AudioCase("header-only", "manifest", 2, "truncated or corrupted"),
    AudioCase("silent", "prepare", 0, "1 rejected", names_file=False),
    AudioCase("too-short", "prepare", 0, "1 rejected", names_file=False),
    AudioCase("nan", "prepare", 0, "1 rejected", names_file=False),
    AudioCase("inf", "prepare", 0, "1 rejected", names_file=False),
    AudioCase("PCM_U8", "prepare", 0, "0 rejected", names_file=False),
    AudioCase("PCM_24", "prepare", 0, "0 rejected", names_file=False),
    AudioCase("PCM_32", "prepare", 0, "0 rejected", names_file=False),
    AudioCase("FLOAT", "prepare", 0, "0 rejected", names_file=False),
    AudioCase("DOUBLE", "prepare", 0, "0 rejected", names_file=False),
    AudioCase("stereo", "prepare", 0, "resampled or downmixed", names_file=False),
    AudioCase("44100", "prepare", 0, "resampled or downmixed", names_file=False),
    AudioCase("48000", "prepare", 0, "resampled or downmixed", names_file=False),
]


@pytest.mark.parametrize("case", AUDIO_CASES, ids=[c.kind for c in AUDIO_CASES])
def test_an_audio_file(case: AudioCase, voiced, tmp_path):
    root = folder_corpus(tmp_path / "corpus", voiced, skip=1)
    speaker, x, rate = voiced[0]
    bad = _variant(case.kind, x, rate, root / speaker / "odd")
    done = speakerlib("manifest", "--corpus", "folder", "--root", root, "--out", "m.csv", cwd=tmp_path)
    if case.stage == "prepare":
        assert done.returncode == 0, done.stderr
        done = speakerlib("prepare", "--manifest", "m.csv", "--out", "store", cwd=tmp_path)
    text = done.stderr if case.code else done.stdout + done.stderr
    assert done.returncode == case.code, text
    assert "Traceback" not in done.stderr, done.stderr
    assert case.fragment in text, text
    if case.names_file:
        assert bad.name in text, text
    if case.stage == "prepare" and case.code == 0 and "1 rejected" in case.fragment:
        rejects = pd.read_csv(tmp_path / "store" / "rejects.csv")
        assert rejects["path"].str.endswith(bad.name).any(), rejects


def test_an_unreadable_file_is_left_out_with_skip_unreadable_and_listed(voiced, tmp_path):
    root = folder_corpus(tmp_path / "corpus", voiced, skip=1)
    bad = _variant("not-audio", *voiced[0][1:], root / voiced[0][0] / "odd")
    done = speakerlib("manifest", "--corpus", "folder", "--root", root, "--out", "m.csv", "--skip-unreadable",
                      cwd=tmp_path)
    assert done.returncode == 0 and "1 unreadable files left out" in done.stderr, done.stderr
    assert pd.read_csv(tmp_path / "m.rejects.csv")["path"].str.endswith(bad.name).all()


# --------------------------------------------------------------------------- everything else
@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, list], list[list[str]]]  # writes inputs; returns the commands, the last one checked
    code: int
    fragments: tuple[str, ...]
    shell_suffix: str = ""
    stream: str = "stderr"
    marks: tuple = field(default=())


def _manifest(tmp: Path, voiced, **changes) -> Path:
    root = folder_corpus(tmp / "corpus", voiced)
    from speakerlib.data.corpora import read_corpus
    from speakerlib.data.manifest import write_manifest

    frame, _ = read_corpus("folder", root)
    for column, value in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[1], column] = value
    return write_manifest(frame, tmp / "m.csv")


def _raw_manifest(tmp: Path, voiced, mutate: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    path = _manifest(tmp, voiced)
    frame = mutate(pd.read_csv(path, dtype=str, keep_default_na=False))
    frame.to_csv(path, index=False)
    return path


def _embeddings(tmp: Path, voiced, **arrays) -> list[str]:
    manifest = _manifest(tmp, voiced)
    frame = pd.read_csv(manifest)
    rng = np.random.default_rng(0)
    contents = {"utt_id": frame["utt_id"].to_numpy().astype(str),
                "embeddings": rng.standard_normal((len(frame), 8)).astype(np.float32)}
    for key, value in arrays.items():
        if value is None:
            contents.pop(key)
        else:
            contents[key] = value(contents[key]) if callable(value) else value
    np.savez(tmp / "emb.npz", **contents)
    return ["evaluate", "--embeddings", "emb.npz", "--manifest", str(manifest), "--protocol", "si",
            "--split", "all", "--out", "eval"]


def six_speakers(voiced) -> list:
    """The 12 voiced utterances as 6 speakers of 2 (too few for a 60/20/20 split with 2 dev speakers)."""
    return [(f"s{n // 2}", x, rate) for n, (_, x, rate) in enumerate(voiced)]


def _mp3_corpus(tmp: Path, voiced) -> None:
    """``tmp/c/<speaker>/<n>.mp3``, encoded with the imageio-ffmpeg binary speakerlib decodes with."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    for n, (speaker, x, rate) in enumerate(voiced[:6]):
        folder = tmp / "c" / speaker
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(tmp / "tmp.wav", x, rate, subtype="PCM_16")
        subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(tmp / "tmp.wav"), str(folder / f"{n}.mp3")],
                       check=True)
    (tmp / "tmp.wav").unlink()


def _split_embeddings(tmp: Path, voiced) -> list[str]:
    """Embeddings and a manifest split with ``speakerlib split`` (roles enrol/test); the evaluate command
    up to its protocol."""
    command = _embeddings(tmp, six_speakers(voiced))
    subprocess.run([sys.executable, "-m", "speakerlib", "split", "--manifest", command[4], "--out",
                    str(tmp / "s.csv"), "--fractions", "0.34", "0.33", "0.33", "--enrol", "1"], env=ENV, check=True,
                   capture_output=True)
    return command[:4] + [str(tmp / "s.csv"), "--split", "test"]


def _with_nan_row(E):
    E = E.copy()
    E[2] = np.nan
    return E


def _arrays(tmp: Path, labels, scores) -> list[str]:
    for name, value in (("labels.npy", labels), ("scores.npy", scores)):
        if isinstance(value, bytes):
            (tmp / name).write_bytes(value)
        elif value is not None:
            np.save(tmp / name, value, allow_pickle=True)
    return ["refmetrics", "--labels", "labels.npy", "--scores", "scores.npy"]


CASES = [
    # folders
    Case("missing corpus folder", lambda t, v: [["manifest", "--corpus", "folder", "--root", "nowhere",
                                                 "--out", "m.csv"]], 2, ("nowhere",)),
    Case("empty corpus folder", lambda t, v: ((t / "empty").mkdir(), [["manifest", "--corpus", "folder",
                                              "--root", "empty", "--out", "m.csv"]])[1], 2, ("empty",)),
    Case("one speaker cannot be split", lambda t, v: [["split", "--manifest", str(_manifest(t, v[:3])),
                                                       "--out", "s.csv"]], 2, ("gets no speaker",)),
    Case("six speakers split with a warning", lambda t, v: [["split", "--manifest",
         str(_manifest(t, six_speakers(v))), "--out", "s.csv"]],
         0, ("warning: the dev part gets 1 speaker", "60/20/20")),
    Case("a calibration share of too few dev speakers", lambda t, v: [["split", "--manifest",
         str(_manifest(t, six_speakers(v))), "--out", "s.csv", "--fractions", "0.5", "0.5", "0",
         "--calibration-fraction", "0.5"]], 2, ("moves 2 to 'calibration' and leaves 1", "--calibration-fraction")),
    Case("calibration speakers kept apart", lambda t, v: [["split", "--manifest",
         str(_manifest(t, six_speakers(v))), "--out", "s.csv", "--fractions", "0.34", "0.66", "0",
         "--calibration-fraction", "0.5"]], 0, ("kept apart as calibration speakers", "calibration  "),
         stream="stdout"),
    Case("split states its shares", lambda t, v: [["split", "--manifest", str(_manifest(t, v)),
                                                   "--out", "s.csv", "--fractions", "0.5", "0.25", "0.25"]],
         0, ("split 50/25/25 % into train/dev/test",), stream="stdout"),
    Case("a symlink to a speaker folder", lambda t, v: (folder_corpus(t / "c", v), (t / "c" / "copy").symlink_to(
         t / "c" / v[0][0]), [["manifest", "--corpus", "folder", "--root", "c", "--out", "m.csv"]])[2], 2,
         ("same folder", "Remove the link")),
    Case("a folder of mp3 only", lambda t, v: [_mp3_corpus(t, v), ["manifest", "--corpus", "folder", "--root", "c",
                                                                    "--out", "m.csv"]][1:], 0,
         ("utterances written to m.csv",)),
    Case("files that are not audio are named", lambda t, v: (folder_corpus(t / "c", v), (t / "c" / v[0][0] /
         "notes.txt").write_text("x"), [["manifest", "--corpus", "folder", "--root", "c", "--out", "m.csv"]])[2],
         0, ("warning:", "'.txt' (1"),),
    # manifests
    Case("num_channels 1.5 in a manifest", lambda t, v: [["summary", "--manifest", str(_manifest(
        t, v, num_channels="1.5"))]], 2, ("column num_channels", "'1.5'")),
    Case("duration_s abc in a manifest", lambda t, v: [["summary", "--manifest", str(_manifest(
        t, v, duration_s="abc"))]], 2, ("column duration_s", "'abc'")),
    Case("every file rejected by prepare", lambda t, v: [["prepare", "--manifest", str(_manifest(
        t, [(s, np.zeros_like(x), r) for s, x, r in v])), "--out", "store"]], 2,
         ("were rejected", "add --no-vad", "--vad-mode 0", "rejects.csv")),
    Case("prepare --vad-mode out of range", lambda t, v: [["prepare", "--manifest", str(_manifest(t, v)),
         "--out", "store", "--vad-mode", "5"]], 2, ("--vad-mode", "invalid choice")),
    Case("prepare --vad-mode with --no-vad", lambda t, v: [["prepare", "--manifest", str(_manifest(t, v)),
         "--out", "store", "--no-vad", "--vad-mode", "0"]], 2, ("--vad-mode 0", "--no-vad", "leave one")),
    Case("prepare --length-s shorter than a window", lambda t, v: [["prepare", "--manifest",
         str(_manifest(t, v)), "--out", "store", "--length-s", "0.01"]], 2, ("length_s", "feature window")),
    Case("prepare --vad-mode 3", lambda t, v: [["prepare", "--manifest", str(_manifest(t, v)),
         "--out", "store", "--vad-mode", "3"]], 0, ("utterances:", "written"), stream="stdout"),
    Case("missing manifest", lambda t, v: [["prepare", "--manifest", "none.csv", "--out", "store"]], 2,
         ("none.csv", "speakerlib manifest")),
    Case("manifest without a path column", lambda t, v: [["prepare", "--manifest", str(_raw_manifest(
        t, v, lambda f: f.drop(columns="path"))), "--out", "store"]], 2, ("path",)),
    Case("binary file as a manifest", lambda t, v: ((t / "m.csv").write_bytes(bytes(range(256)) * 4),
                                                   [["summary", "--manifest", "m.csv"]])[1], 2, ("m.csv",)),
    # options
    Case("prepare --out is a file", lambda t, v: ((t / "afile").write_text("x"), [["prepare", "--manifest",
         str(_manifest(t, v)), "--out", "afile"]])[1], 2, ("--out", "found a file")),
    Case("evaluate --bootstrap -5", lambda t, v: [["evaluate", "--embeddings", "e.npz", "--manifest", "m.csv",
                                                   "--protocol", "sv", "--out", "ev", "--bootstrap", "-5"]], 2,
         ("--bootstrap", "integer >= 0")),
    Case("download --mirror without a scheme", lambda t, v: [["download", "librispeech", "dev-clean", "--root",
                                                              "r", "--mirror", "example.org"]], 2, ("URL",)),
    Case("download --list into a closed pipe", lambda t, v: [["download", "librispeech", "--list"]], 0, (),
         shell_suffix=" | head -c 10 > /dev/null; exit ${PIPESTATUS[0]}"),
    Case("an unknown model", lambda t, v: [["train", "--model", "nope", "--features", "s", "--out", "r"]], 2,
         ("invalid choice",)),
    # embeddings and scores
    Case("missing embeddings", lambda t, v: [["evaluate", "--embeddings", "none.npz", "--manifest",
                                              str(_manifest(t, v)), "--protocol", "si", "--out", "ev"]], 2,
         ("none.npz",)),
    Case("embeddings without ids", lambda t, v: [_embeddings(t, v, utt_id=None)], 2, ("utt_id",)),
    Case("embeddings with a NaN row", lambda t, v: [_embeddings(t, v, embeddings=_with_nan_row)], 2, ("NaN",)),
    Case("embeddings not an npz", lambda t, v: [((t / "bad.npz").write_text("no"),
         ["evaluate", "--embeddings", "bad.npz", "--manifest", str(_manifest(t, v)), "--protocol", "si",
          "--out", "ev"])[1]], 2, ("bad.npz",)),
    Case("sv-reference with more enrolled speakers than there are", lambda t, v: [_embeddings(t, v)[:6] + [
         "sv-reference", "--split", "all", "--out", "eval", "--enrolled", "20"]], 2, ("--enrolled 3 or fewer",)),
    Case("si with --enrol and the manifest's roles", lambda t, v: [_split_embeddings(t, v) + [
         "--protocol", "si", "--out", "eval", "--enrol", "1"]], 2, ("Leave out --enrol",)),
    Case("a trial list with an unknown utterance", lambda t, v: [((t / "trials.txt").write_text(
         "1 nowhere/a.wav nowhere/b.wav\n"), _split_embeddings(t, v) + ["--protocol", "sv", "--out", "eval",
         "--trials", "trials.txt"])[1]], 2, ("trials.txt:1", "nowhere/a.wav")),
    Case("refmetrics without a labels file", lambda t, v: [_arrays(t, None, np.zeros(4))], 2,
         ("--labels", "found nothing")),
    Case("refmetrics on a pickle", lambda t, v: [_arrays(t, np.array([1, "a"], dtype=object), np.zeros(2))], 2,
         ("--labels", "numpy.save")),
    Case("refmetrics on garbage", lambda t, v: [_arrays(t, b"not numpy", np.zeros(2))], 2, ("--labels",)),
    Case("refmetrics with NaN scores", lambda t, v: [_arrays(t, np.array([1, 0, 1, 0]),
                                                             np.array([.9, .1, np.nan, .2]))], 2, ("NaN",)),
    Case("refmetrics with lengths that differ", lambda t, v: [_arrays(t, np.array([1, 0, 1]), np.zeros(5))], 2,
         ("3", "5")),
    # models
    Case("embed with a folder that is no run", lambda t, v: ((t / "norun").mkdir(), [["embed", "--model",
         "norun", "--manifest", str(_manifest(t, v)), "--out", "e.npz"]])[1], 2, ("norun",)),
    Case("verify a missing recording", lambda t, v: [["verify", "nowhere-a.wav", "nowhere-b.wav"]], 2,
         ("nowhere-a.wav",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input(case: Case, voiced, tmp_path):
    commands = case.build(tmp_path, voiced)
    for words in commands[:-1]:
        done = speakerlib(*words, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    done = speakerlib(*commands[-1], cwd=tmp_path, shell_suffix=case.shell_suffix)
    text = {"stdout": done.stdout, "stderr": done.stderr}[case.stream] if case.code else done.stdout + done.stderr
    assert done.returncode == case.code, (done.stdout[-1500:], done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    for fragment in case.fragments:
        assert fragment in text, (fragment, done.stdout[-1500:], done.stderr[-3000:])
    if case.code == 2 and not case.shell_suffix:
        assert done.stderr.startswith(f"speakerlib {commands[-1][0]}: error:") or "usage:" in done.stderr


def test_help_states_the_defaults():
    done = speakerlib("train", "--help", cwd=Path.cwd())
    text = " ".join(done.stdout.split())
    assert "(default: reference)" in text and "(default: cpu)" in text
    done = speakerlib("evaluate", "--help", cwd=Path.cwd())
    assert "(default: 1000)" in " ".join(done.stdout.split())
    done = speakerlib("split", "--help", cwd=Path.cwd())
    helps = " ".join(done.stdout.split())
    for flag in ("--manifest MANIFEST manifest CSV", "--out OUT split manifest", "--seed SEED random seed",
                 "--enrol-method {random,reference} random:"):
        assert flag in helps, helps


def test_a_warning_is_one_line_without_speakerlibs_source(voiced, tmp_path):
    manifest = _manifest(tmp_path, six_speakers(voiced))
    done = speakerlib("split", "--manifest", manifest, "--out", "s.csv", cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("speakerlib split: warning: ") for line in lines), done.stderr


def test_json_output_stays_json(voiced, tmp_path):
    commands = _embeddings(tmp_path, voiced)
    done = speakerlib(*commands, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert record["protocol"] == "si"
