"""Using the pretrained encoder: import time, embeddings per second and memory of each path.

Usage (from the project root)::

    python benchmarks/use.py                      # speechocean762's files from ../shared/corpora
    python benchmarks/use.py --files a.wav b.wav ... --out /tmp/use.json

Measures, each in a fresh child process (so nothing is imported or cached beforehand):

* the import and load time of the Keras path (``speakerlib.inference.pretrained.load()``)
  and of the ONNX path (``speakerlib.inference.portable.OnnxSpeakerEncoder`` on the
  encoder exported by ``speakerlib export``);
* embeddings per second of each path on whole utterances, one file after the other
  (reading, VAD and features included; the first file, a warm-up, not counted), with one
  intra-op thread, and the largest difference between the two paths' embeddings;
* the ONNX path's steps on their own (reading, VAD, features, network: milliseconds a file)
  and the embeddings per second the front end alone would allow, the ceiling of any
  network behind it;
* ``speakerlib verify A B`` as a user runs it: wall time and peak resident memory.

Results go to ``benchmarks/results/use.json`` with the machine and its load average.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, time
start = time.perf_counter()
path, kind, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = json.loads(open(path).read())
if kind == "keras":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    from speakerlib.inference.pretrained import load
    encoder = load()
else:
    from speakerlib.inference.portable import OnnxSpeakerEncoder
    encoder = OnnxSpeakerEncoder(sys.argv[4], threads=threads)
loaded = time.perf_counter() - start
import numpy as np
encoder.embed(files[0])
t0 = time.perf_counter(); c0 = time.process_time()
embeddings = np.stack([encoder.embed(f) for f in files[1:]])
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
np.save(sys.argv[5], embeddings)
record = {"import_and_load_s": loaded, "files": len(files) - 1, "wall_s": wall, "cpu_s": cpu,
          "embeddings_per_s": (len(files) - 1) / wall, "tensorflow_imported": "tensorflow" in sys.modules}
if kind == "onnx":
    # the same files again, each step of OnnxSpeakerEncoder.embed timed on its own
    from speakerlib.inference import portable as P
    steps = {"read": 0.0, "vad": 0.0, "features": 0.0, "network": 0.0}
    for f in files[1:]:
        t0 = time.perf_counter()
        y, name = P.samples_of(f, None, encoder.sample_rate_hz, None)
        t1 = time.perf_counter()
        kept = P.utterance_content(y, encoder.store_config).kept
        t2 = time.perf_counter()
        feats = P.normalize_features(P.compute_features(kept, encoder.store_config.stored_features),
                                     mode=encoder.normalize)
        t3 = time.perf_counter()
        encoder.session.run(None, {encoder.input_name: feats[None, :, :, None].astype(np.float32)})
        t4 = time.perf_counter()
        for key, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            steps[key] += dt
    record["steps_ms_per_file"] = {k: 1000 * v / (len(files) - 1) for k, v in steps.items()}
    front = sum(v for k, v in steps.items() if k != "network")
    record["embeddings_per_s_if_the_network_took_no_time"] = (len(files) - 1) / front
print(json.dumps(record))
"""


def _child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def _verify(a: str, b: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "speakerlib", "verify", a, b, "--json"], capture_output=True,
                          text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux; the largest child so far
    return {"wall_s": wall, "peak_rss_mb": peak / 1024, "peak_is_this_process": peak > before,
            "result": json.loads(done.stdout)}


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", default=None, help="recordings (default: 61 of speechocean762)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "use.json")
    args = parser.parse_args()
    files = args.files
    if files is None:
        corpora = Path(os.environ.get("SPEAKERLIB_CORPORA", PROJECT_ROOT.parent / "shared" / "corpora"))
        files = [str(p) for p in sorted((corpora / "speechocean762" / "WAVE").rglob("*.flac"))[::24][:61]]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "files.json").write_text(json.dumps(files))
        subprocess.run([sys.executable, "-m", "speakerlib", "export", "--format", "onnx", "--out",
                        str(folder / "encoder.onnx")], check=True, capture_output=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        load_before = os.getloadavg()
        verify = _verify(files[0], files[1])  # first, while no larger child has run
        paths = {kind: _child([str(folder / "files.json"), kind, str(args.threads), str(folder / "encoder.onnx"),
                               str(folder / f"{kind}.npy")]) for kind in ("keras", "onnx")}
        difference = float(np.abs(np.load(folder / "keras.npy") - np.load(folder / "onnx.npy")).max())
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "threads": args.threads, "files": len(files), "paths": paths,
        "largest_embedding_difference": difference, "verify": verify,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    for kind, r in paths.items():
        print(f"{kind:5s}: import and load {r['import_and_load_s']:.2f} s, {r['embeddings_per_s']:.1f} embeddings/s "
              f"(TensorFlow imported: {r['tensorflow_imported']})")
    steps = paths["onnx"]["steps_ms_per_file"]
    print("onnx, each step: " + ", ".join(f"{k} {v:.1f} ms" for k, v in steps.items()) + " a file; without the "
          f"network {paths['onnx']['embeddings_per_s_if_the_network_took_no_time']:.0f} embeddings/s at most")
    print(f"largest difference between the paths' embeddings: {difference:.1e}")
    print(f"speakerlib verify A B: {verify['wall_s']:.1f} s, peak memory {verify['peak_rss_mb']:.0f} MB")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
