"""Training and embedding speed of every model on this machine, and the input pipeline's cost.

Usage (from the project root)::

    python benchmarks/training.py                          # every model at the cpu profile's width
    python benchmarks/training.py --widths 1.0 cpu         # also at the papers' widths (much longer)
    python benchmarks/training.py --models seresnet --steps 10
    python benchmarks/training.py --input audio --models ecapa seresnet   # the modern recipe's pipeline

For each model and width, in a fresh child process (so that its peak memory is
its own):

* **training samples/s** at batch 32 on 3-second reference features
  (299 x 40 x 1), the reference recipe (softmax over 100 classes, SGD): the
  median over ``--repeats`` epochs of ``--steps`` steps, after warm-up epochs
  (which trace the graph);
* **the input pipeline's cost**: the same steps fed by speakerlib's real
  ``tf.data`` pipeline (gather from the in-memory frame array, centre crop,
  prefetch), divided by the step time on the very same batches already
  materialised in memory. With ``--input audio`` the model trains as the
  ``modern`` recipe does, on 2-s windows (200 x 80 x 1 log-mel) cut from
  whole utterances, and the real pipeline is the modern recipe's: random
  windows of variable-length audio (2-8 s), noise, babble and reverberation
  (simulated rooms) added to each, log-mel computed in ``tf.data``; the
  in-memory feed holds the very same features. The two feeds alternate epoch by epoch. Three
  ratios of medians: the steady-state step (wall time between the ends of
  consecutive steps, data wait included), the whole ``fit`` call per step,
  and process CPU time (all threads). Target: at most 1.1. The seconds from
  the end of each epoch to ``fit`` returning are kept too: on this machine
  Keras sometimes spends about 2 s there, with either feed;
* **embedding throughput**: 3-second utterances per second through the
  embedding model, batch 64;
* **peak memory**: ``ru_maxrss`` of the child;
* per timed epoch, the whole machine's busy, idle and host-stolen CPU
  seconds (``/proc/stat``), which tell a slow epoch caused by waiting (idle)
  from one caused by the host taking the CPU away (steal) or by other work.

Results are printed and written to ``benchmarks/results/training.json``
(``training-audio.json`` with ``--input audio``).
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
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "training.json"
TARGET_PIPELINE_RATIO = 1.1
BATCH = 32
FRAMES, BINS = 299, 40
CLASSES = 100


def _machine_seconds() -> dict:
    """The whole machine's CPU seconds so far (``/proc/stat``): busy, idle and stolen by the host."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return {}
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return {"busy": (user + nice + system + irq + softirq) / tick, "idle": (idle + iowait) / tick,
            "steal": steal / tick}


def _audio_feed(n: int, labels, profile, model_name: str):
    """The modern recipe's pipeline over ``n`` variable-length utterances: ``(pipeline(epoch), RunConfig)``."""
    import numpy as np

    from speakerlib.augmentation import augment, load_sources
    from speakerlib.train import RECIPES, RunConfig
    from speakerlib.train.config import samples_for_frames
    from speakerlib.train.inputs import epoch_batches
    from speakerlib.train.recipes import AUDIO_STORE
    from speakerlib.train.waveforms import Waveforms, waveform_dataset

    recipe = RECIPES["modern"]
    rng = np.random.default_rng(1)
    rate = AUDIO_STORE.sample_rate_hz
    # Utterances of 2-8 s: a sum of tones with a noise floor (the cost of the pipeline does not
    # depend on what is said).
    arrays = []
    for _ in range(n):
        t = np.arange(int(rng.uniform(2.0, 8.0) * rate)) / rate
        tones = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 3000, size=4))
        arrays.append((0.1 * tones + 0.01 * rng.normal(size=t.size)).astype(np.float32))
    data = Waveforms.from_arrays(arrays, [str(i) for i in range(n)])
    settings = recipe.augmentation
    sources = load_sources(num_simulated_rirs=20, seed=0, babble=arrays[:50], sample_rate_hz=rate)
    features = AUDIO_STORE.features
    crop = recipe.crop_frames
    config = RunConfig(model=model_name, recipe=recipe, profile=profile, seed=0, batch_size=BATCH,
                       crop_frames=crop, eval_frames=crop, normalize=features.normalize,
                       input_bins=features.num_bins, store="synthetic audio", store_config=AUDIO_STORE,
                       crop_samples=samples_for_frames(features, crop),
                       speakers=tuple(str(k) for k in range(CLASSES)))

    def pipeline(epoch):
        batches = epoch_batches(n, BATCH, 0, epoch)
        return waveform_dataset(data, labels, batches, crop_samples=samples_for_frames(features, crop),
                                features=features, seed=0, epoch=epoch,
                                augment=lambda w, r: augment(w, config=settings, sources=sources, rng=r))

    return pipeline, config


def child(model_name: str, width: float, steps: int, repeats: int, input_kind: str = "features") -> dict:
    import numpy as np
    import tensorflow as tf

    from speakerlib.store import PrepareConfig
    from speakerlib.train import RECIPES, Profile, RunConfig
    from speakerlib.train.assemble import build_training_model
    from speakerlib.train.inputs import Frames, train_dataset

    threads = os.environ.get("SPEAKERLIB_BENCH_THREADS")  # "INTRA,INTER": TensorFlow's thread pools
    if threads:
        intra, inter = (int(v) for v in threads.split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)

    rng = np.random.default_rng(0)
    n = BATCH * steps
    labels = rng.integers(0, CLASSES, size=n)
    profile = Profile(name="bench", epochs=2, width=width)
    if input_kind == "audio":
        pipeline, config = _audio_feed(n, labels, profile, model_name)
    else:
        frames = rng.normal(size=(n * FRAMES, BINS)).astype(np.float32)
        data = Frames(frames, np.arange(n, dtype=np.int64) * FRAMES, np.full(n, FRAMES, np.int64),
                       [str(i) for i in range(n)])
        config = RunConfig(model=model_name, recipe=RECIPES["reference"], profile=profile, seed=0,
                           batch_size=BATCH, crop_frames=FRAMES, eval_frames=FRAMES, normalize="per_frame",
                           input_bins=BINS, store="synthetic frames", store_config=PrepareConfig(),
                           speakers=tuple(str(k) for k in range(CLASSES)))

        def pipeline(epoch):
            ds, _ = train_dataset(data, labels, batch_size=BATCH, crop_frames=FRAMES, random_crop=False,
                                   normalize="per_frame", seed=0, epoch=epoch)
            return ds

    model = build_training_model(config, CLASSES, steps)
    params = int(sum(np.prod(w.shape) for w in model.get_layer(f"{model_name}_embedding").weights))

    # The same batches, materialised once.
    batches = list(pipeline(1).as_numpy_iterator())
    xs = np.stack([b[0] for b in batches])
    ys = np.stack([b[1] for b in batches])
    memory = tf.data.Dataset.from_tensor_slices((xs, ys)).cache()
    list(memory)  # fill the cache

    model.fit(pipeline(0), epochs=1, verbose=0)  # warm-up: traces the train step
    model.fit(memory, epochs=1, verbose=0)
    # Interleaved repeats, the order alternating, so that a slow spell of the
    # machine (other work, CPU quota) falls on both feeds alike. Wall time is
    # what a user waits; process CPU time (every thread: the model's and the
    # pipeline's) is what the step costs, and is far less sensitive to the
    # machine's other load.
    wall = {"memory": [], "pipeline": []}
    cpu = {"memory": [], "pipeline": []}
    machine = {"memory": [], "pipeline": []}
    import keras

    class StepClock(keras.callbacks.Callback):
        """Wall time between the ends of consecutive steps: the steady-state step, data wait included."""

        def on_epoch_begin(self, epoch, logs=None):
            self.ends = []

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_end = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    clock = StepClock()
    inner = {"memory": [], "pipeline": []}
    teardown = {"memory": [], "pipeline": []}  # from the end of the epoch to fit() returning
    for repeat in range(repeats):
        order = ("memory", "pipeline") if repeat % 2 == 0 else ("pipeline", "memory")
        for name in order:
            ds = memory if name == "memory" else pipeline(1)
            before = _machine_seconds()
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            model.fit(ds, epochs=1, verbose=0, callbacks=[clock])
            inner[name].extend(np.diff(clock.ends).tolist())
            teardown[name].append(time.perf_counter() - clock.epoch_end)
            wall[name].append((time.perf_counter() - start_wall) / steps)
            cpu[name].append((time.process_time() - start_cpu) / steps)
            after = _machine_seconds()
            machine[name].append({k: (after[k] - before[k]) / steps for k in after})
    step_memory = float(np.median(wall["memory"]))
    step_pipeline = float(np.median(wall["pipeline"]))
    cpu_memory = float(np.median(cpu["memory"]))
    cpu_pipeline = float(np.median(cpu["pipeline"]))
    inner_memory = float(np.median(inner["memory"]))
    inner_pipeline = float(np.median(inner["pipeline"]))

    embedding = model.get_layer(f"{model_name}_embedding")
    x = np.asarray(xs[0][:BATCH])
    batch = np.concatenate([x, x])  # 64 utterances
    embedding.predict(batch, verbose=0)
    start = time.perf_counter()
    rounds = 3
    for _ in range(rounds):
        embedding.predict(batch, batch_size=64, verbose=0)
    embed_per_s = rounds * len(batch) / (time.perf_counter() - start)
    return {
        "model": model_name,
        "width": width,
        "input": input_kind,
        "embedding_parameters": params,
        "train_samples_per_s": BATCH / step_memory,
        "train_samples_per_s_with_pipeline": BATCH / step_pipeline,
        "step_seconds_memory": step_memory,
        "step_seconds_pipeline": step_pipeline,
        "pipeline_ratio": step_pipeline / step_memory,
        "pipeline_ratio_cpu_time": cpu_pipeline / cpu_memory,
        "pipeline_ratio_steady_step": inner_pipeline / inner_memory,
        "steady_step_seconds_memory": inner_memory,
        "steady_step_seconds_pipeline": inner_pipeline,
        "cpu_seconds_per_step_memory": cpu_memory,
        "cpu_seconds_per_step_pipeline": cpu_pipeline,
        "embed_utterances_per_s": embed_per_s,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tf_threads_intra_inter": [tf.config.threading.get_intra_op_parallelism_threads(),
                                   tf.config.threading.get_inter_op_parallelism_threads()],
        "step_seconds": wall,
        "steady_step_seconds": inner,
        "fit_return_seconds": teardown,
        "cpu_seconds_per_step": cpu,
        "machine_seconds_per_step": machine,
    }


def main() -> None:
    from speakerlib.models import MODEL_NAMES
    from speakerlib.train import PROFILES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--widths", nargs="+", default=["cpu"],
                        help="channel multipliers; 'cpu' means the cpu profile's width for each model")
    parser.add_argument("--steps", type=int, default=10, help="training steps (batch 32) per timed epoch")
    parser.add_argument("--repeats", type=int, default=6,
                        help="timed epochs per feed (memory, pipeline), interleaved")
    parser.add_argument("--threads", default=None, metavar="INTRA,INTER",
                        help="TensorFlow's intra-op and inter-op thread pools (default: TensorFlow's choice)")
    parser.add_argument("--input", choices=("features", "audio"), default="features",
                        help="features: the reference's 3-s features; audio: the modern recipe's "
                             "augmented windows of whole utterances")
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/results/training.json (training-audio.json for --input audio)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, width, steps, repeats, input_kind = args.child
        print(json.dumps(child(name, float(width), int(steps), int(repeats), input_kind)))
        return
    if args.out is None:
        args.out = RESULTS if args.input == "features" else RESULTS.with_name("training-audio.json")

    runs = []
    for model in args.models:
        widths = []
        for w in args.widths:
            value = PROFILES["cpu"].width_for(model) if w == "cpu" else float(w)
            if value not in widths:
                widths.append(value)
        for width in widths:
            load = os.getloadavg()[0]
            print(f"{model} width {width} ...", flush=True)
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            if args.threads:
                env["SPEAKERLIB_BENCH_THREADS"] = args.threads
            out = subprocess.run([sys.executable, __file__, "--child", model, str(width), str(args.steps),
                                  str(args.repeats), args.input],
                                 capture_output=True, text=True, env=env, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"{model} width {width} failed:\n{out.stderr[-3000:]}")
            record = json.loads(out.stdout.strip().splitlines()[-1])
            record["load_average_1min_before_after"] = [load, os.getloadavg()[0]]
            runs.append(record)
            print(f"  {record['embedding_parameters'] / 1e6:6.2f} M parameters  "
                  f"train {record['train_samples_per_s']:6.1f} samples/s  "
                  f"pipeline/memory step {record['pipeline_ratio']:.3f} (CPU time "
                  f"{record['pipeline_ratio_cpu_time']:.3f}, steady step "
                  f"{record['pipeline_ratio_steady_step']:.3f})  "
                  f"embed {record['embed_utterances_per_s']:6.1f} utt/s  "
                  f"peak {record['maxrss_mib']:.0f} MiB", flush=True)
    import tensorflow as tf

    result = {
        "machine": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
        },
        "batch": BATCH,
        "input": args.input,
        "input_shape": [FRAMES, BINS, 1] if args.input == "features" else [200, 80, 1],
        "steps": args.steps,
        "repeats": args.repeats,
        "threads": args.threads,
        "target_pipeline_ratio": TARGET_PIPELINE_RATIO,
        "runs": runs,
        "worst_pipeline_ratio": max(r["pipeline_ratio"] for r in runs),
        "worst_pipeline_ratio_cpu_time": max(r["pipeline_ratio_cpu_time"] for r in runs),
        "worst_pipeline_ratio_steady_step": max(r["pipeline_ratio_steady_step"] for r in runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.part")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, args.out)
    print(f"worst pipeline/memory step ratio {result['worst_pipeline_ratio']:.3f} wall, "
          f"{result['worst_pipeline_ratio_cpu_time']:.3f} CPU time, "
          f"{result['worst_pipeline_ratio_steady_step']:.3f} steady step "
          f"(target <= {TARGET_PIPELINE_RATIO}); results written to {args.out}")


if __name__ == "__main__":
    main()
