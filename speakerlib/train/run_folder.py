"""The run folder and its lifecycle, the same for every training stage.

A *run* trains one model in one folder::

    RUN/
      config.json        the RunConfig (speakerlib.train.config) and where it was made
      split.csv          utt_id, speaker, split, part: which utterance did what
                         (part = train / val / dev / test)
      history.csv        one row per finished epoch (also history.json)
      state.json         epochs done, best epoch, early stopping, timings
      checkpoints/last.keras   the whole training model with its optimiser, every epoch
      checkpoints/best.keras   the epoch with the lowest dev EER so far
      embedding.keras    the exported embedding model (from best.keras) at the end

A training *stage* (:class:`Stage`) supplies its model, one epoch of training
and its export; :func:`run_stage` does the rest, once for all stages: refuse
a folder made with another configuration, resume from the last finished
epoch, score the dev speakers after every epoch, keep the best checkpoint,
stop early, write history and state, export the kept model.

Resume
------
Every epoch ends by writing ``checkpoints/last.keras`` (model *and* optimiser
state), ``history.csv`` and ``state.json``, each atomically
(:mod:`speakerlib._io`), so a run killed at any moment restarts (same
command) from its last finished epoch, and says so (a warning: ``resuming run
RUN from epoch k of N``). Rerunning a finished run returns it at once,
without loading its data or a model (:func:`finished_run`;
:attr:`TrainResult.already_finished`). The batches, crops and random masks
(dropout, SpecAugment) of epoch ``e`` depend only on ``(seed, e)``
(:mod:`speakerlib.seeds`), so a resumed run sees exactly what an uninterrupted
one would have, and ends with the same weights. A run folder made with
another configuration, or whose checkpoint is missing or unreadable while
``state.json`` says epochs were done, raises
:class:`~speakerlib.errors.TrainingError` /
:class:`~speakerlib.errors.CheckpointError`: a resume never silently starts
again from scratch.

The kept epoch
--------------
After every epoch the dev speakers' EER is measured; the epoch with the
lowest so far is kept (``checkpoints/best.keras``), and with a ``patience``
the stage stops when that many epochs have not improved on it. A stage that
starts from a trained model (a fine-tune) scores its starting point as epoch
0, which stays the kept one unless an epoch does better. Without dev
speakers (EER undefined) the latest epoch counts as the best; an undefined
figure is ``null`` in the JSON files (never a bare ``NaN``, which is not JSON).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import speakerlib.models  # noqa: F401  (registers the custom layers and losses for loading)
from speakerlib import seeds
from speakerlib._io import atomic_path, describe_difference, json_text, write_csv, write_text
from speakerlib._lock import folder_lock
from speakerlib._tensorflow import keras, tf
from speakerlib.errors import CheckpointError, TrainingError
from speakerlib.train.assemble import hardware, precision_policy, reseed, strategy
from speakerlib.train.config import CONFIG_NAME, RunConfig
from speakerlib.train.progress import RunProgress

__all__ = [
    "CONFIG_NAME",
    "STATE_NAME",
    "HISTORY_NAME",
    "SPLIT_NAME",
    "EMBEDDING_NAME",
    "LAST_NAME",
    "BEST_NAME",
    "TrainResult",
    "runs_table",
    "load_run",
    "load_embedding_model",
    "save_model",
    "load_checkpoint",
    "Stage",
    "finished_run",
    "run_stage",
]

STATE_NAME = "state.json"
HISTORY_NAME = "history.csv"
SPLIT_NAME = "split.csv"
EMBEDDING_NAME = "embedding.keras"
LAST_NAME = "checkpoints/last.keras"
BEST_NAME = "checkpoints/best.keras"


# --------------------------------------------------------------------------- reading a run
@dataclass
class TrainResult:
    """A run folder as read back (:func:`load_run`): what :func:`speakerlib.train.train` returns.

    Attributes
    ----------
    run_dir : Path
    config : RunConfig
        ``config.json``.
    history : DataFrame
        One row per epoch: ``epoch`` (1-based; 0 for a fine-tune's starting
        point), the stage's training figures (``loss``; the softmax stage also
        ``accuracy``, ``val_loss``, ``val_accuracy``), ``dev_eer``,
        ``dev_si_accuracy``, ``learning_rate``, ``seconds`` (the whole epoch,
        dev evaluation and checkpoints included), ``samples_per_s``
        (training utterances per second of the fit, val evaluation included;
        the first epoch also pays for tracing the graph).
    state : dict
        ``state.json``: ``epochs_done``, ``best_epoch``, ``best_dev_eer``
        (None when undefined: no dev speakers), ``stopped_early``,
        ``finished``, ``train_seconds``, ``resumed_from`` (the epoch a resumed
        run continued from, or None), ``replicas`` (devices the batches were
        split across).
    already_finished : bool
        The call that returned this found the run already finished and
        trained nothing (:func:`finished_run`); a command says so.
    """

    run_dir: Path
    config: RunConfig
    history: pd.DataFrame
    state: dict = field(default_factory=dict)
    already_finished: bool = False

    @property
    def embedding_path(self) -> Path:
        """The exported embedding model (``embedding.keras``)."""
        return self.run_dir / EMBEDDING_NAME

    def summary(self) -> str:
        """``model / recipe / profile: N epochs, best dev EER x at epoch k, s seconds``.

        The dev EER reads ``undefined`` when the run had no dev speakers to score.
        """
        s = self.state
        eer = s.get("best_dev_eer")
        eer = f"{eer:.3f}" if isinstance(eer, (int, float)) and math.isfinite(eer) else "undefined"
        return (f"{self.config.model} / {self.config.recipe.name} / {self.config.profile.name}: "
                f"{s.get('epochs_done')} epochs, best dev EER {eer} "
                f"at epoch {s.get('best_epoch')}, {s.get('train_seconds') or 0:.0f} s")

    def best(self) -> dict:
        """The run in one table row: its length, and the kept epoch's figures.

        Returns
        -------
        dict
            ``epochs`` (run), ``best epoch`` (the kept checkpoint, chosen on
            dev EER), that epoch's ``dev EER``, ``dev SI accuracy`` and
            ``val accuracy``, ``samples/s`` (the median over epochs after
            the first, which also pays for tracing; the first when there is
            only one) and ``minutes`` of training.
        """
        h = self.history
        best_epoch = int(self.state["best_epoch"])
        row = h.loc[h["epoch"] == best_epoch].iloc[0]
        speeds = h["samples_per_s"].iloc[1:] if len(h) > 1 else h["samples_per_s"]
        return {
            "epochs": int(len(h)),
            "best epoch": best_epoch,
            "dev EER": float(row["dev_eer"]),
            "dev SI accuracy": float(row["dev_si_accuracy"]),
            "val accuracy": float(row.get("val_accuracy", np.nan)),
            "samples/s": float(speeds.median()),
            "minutes": float(self.state.get("train_seconds", np.nan)) / 60,
        }


def runs_table(results: Mapping[str, TrainResult], index: str = "run") -> pd.DataFrame:
    """One row per run (:meth:`TrainResult.best`), indexed by the mapping's keys.

    >>> runs_table({"ResNet-34": r34, "ResNet-50": r50}, index="model")  # doctest: +SKIP
    """
    table = pd.DataFrame([result.best() for result in results.values()], index=list(results))
    table.index.name = index
    return table


def load_run(run_dir: str | Path) -> TrainResult:
    """Read a run folder (see the module docstring).

    Raises
    ------
    TrainingError
        If the folder has no ``config.json``.
    ConfigError
        If its ``config.json`` cannot be read as a :class:`RunConfig`.
    """
    run_dir = Path(run_dir)
    config = RunConfig.read(run_dir)
    history = pd.read_csv(run_dir / HISTORY_NAME) if (run_dir / HISTORY_NAME).is_file() else pd.DataFrame()
    state = json.loads((run_dir / STATE_NAME).read_text()) if (run_dir / STATE_NAME).is_file() else {}
    return TrainResult(run_dir, config, history, state)


def load_embedding_model(run_or_file: str | Path):
    """Load an exported embedding model with Keras' safe mode on.

    Parameters
    ----------
    run_or_file : str or Path
        A run folder (its ``embedding.keras``) or a ``.keras`` file.

    Returns
    -------
    keras.Model

    Raises
    ------
    TrainingError
        If there is no exported model there (the run has not finished).
    """
    path = Path(run_or_file)
    if path.is_dir():
        path = path / EMBEDDING_NAME
    if not path.is_file():
        raise TrainingError(
            f"expected an exported embedding model at {path}, found none. Finish the training run "
            "first (speakerlib train ... with the same --out resumes it)."
        )
    return keras.saving.load_model(path, safe_mode=True)


def save_model(model, path: Path) -> None:
    """``model.save`` to ``path`` atomically (a kill never leaves half a checkpoint)."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def load_checkpoint(path: Path, expected_name: str, *, compile: bool = True):
    """Load a checkpoint written by :func:`save_model`, checking which model it holds.

    ``compile=False`` loads the weights without the optimizer and loss (for a
    stage that compiles its own, e.g. the large-margin fine-tune).

    Raises
    ------
    CheckpointError
        If the file cannot be read, or holds another model than ``expected_name``.
    """
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}). It is corrupted or "
            f"was not written by speakerlib. Restore it from a backup, or delete the run folder "
            f"{path.parent.parent} to train again from scratch."
        ) from exc
    if model.name != expected_name:
        raise CheckpointError(
            f"checkpoint {path} holds model {model.name!r}, expected {expected_name!r}: it comes "
            "from another model or recipe. Use another --out folder for this run."
        )
    return model


# --------------------------------------------------------------------------- the lifecycle
@dataclass
class Stage:
    """What one training stage supplies to :func:`run_stage`.

    Attributes
    ----------
    name : str
        For the progress bars (``"<model>/<recipe>"``, ``"<model>/triplet"``).
    epochs : int
        Epochs to train (at most).
    patience : int or None
        Stop after this many epochs without a better dev EER (None: never).
    build : callable () -> keras.Model
        A new, compiled model to train (called under the distribution
        strategy's scope, after the global seed is set).
    fit_epoch : callable (model, epoch, callbacks) -> (dict, int)
        Trains one epoch (0-based) and returns its figures (``loss``...) and
        the number of training utterances it saw; ``callbacks`` (the progress
        bars, :class:`~speakerlib.train.progress.RunProgress`) go to ``model.fit``.
    dev_metrics : callable (model, callbacks) -> dict
        ``dev_eer`` and ``dev_si_accuracy`` of the model on the dev speakers;
        ``callbacks`` go to the ``predict`` that embeds them.
    export : callable (model) -> keras.Model
        The embedding model of a checkpoint.
    scores_start : bool
        The model :attr:`build` returns is already trained (a fine-tune): its
        dev figures are epoch 0, the kept epoch until one does better.
    postfix : tuple of str
        History columns shown beside an epoch's progress bar once it is done
        (its ``loss`` is shown while it trains).
    """

    name: str
    epochs: int
    patience: int | None
    build: Callable
    fit_epoch: Callable
    dev_metrics: Callable
    export: Callable
    scores_start: bool = False
    postfix: tuple[str, ...] = ("loss", "dev_eer")


def _improves(value: float, best: float | None) -> bool:
    """The kept-epoch rule: a lower dev EER; without dev speakers (NaN) the latest epoch."""
    return not math.isfinite(value) or best is None or not math.isfinite(best) or value < best


def _open(run_dir: Path, config: RunConfig) -> tuple[dict, list[dict]]:
    """State and history of the run folder: new, resumable, or in the way (raises)."""
    state = {"epochs_done": 0, "best_epoch": None, "best_dev_eer": None, "stopped_early": False,
             "finished": False, "train_seconds": 0.0, "resumed_from": None, "replicas": 1}
    stored = RunConfig.stored_record(run_dir)
    if stored is None:
        return state, []
    diff = describe_difference(stored, config.comparable(), where="run folder")
    if diff:
        raise TrainingError(
            f"run folder {run_dir} was made with another configuration, so it cannot be resumed with "
            "these other settings: " + "; ".join(diff[:6])
            + ". Use a new --out folder, or delete this one to start again."
        )
    if (run_dir / STATE_NAME).is_file():
        state = json.loads((run_dir / STATE_NAME).read_text())
    history: list[dict] = []
    if (run_dir / HISTORY_NAME).is_file():
        frame = pd.read_csv(run_dir / HISTORY_NAME)
        history = frame[frame["epoch"] <= state["epochs_done"]].to_dict("records")
    if not state.get("finished") and state["epochs_done"] > 0:
        if not (run_dir / LAST_NAME).is_file():
            raise CheckpointError(
                f"{run_dir / STATE_NAME} says {state['epochs_done']} epochs were done, but "
                f"{run_dir / LAST_NAME} is missing. Restore it, or delete the run folder to "
                "train again from scratch."
            )
        state["resumed_from"] = state["epochs_done"]
    return state, history


def _write_progress(run_dir: Path, state: dict, history: list[dict]) -> None:
    """``history.csv``, ``history.json`` and ``state.json``; an undefined figure (NaN) is JSON's null."""
    frame = pd.DataFrame(history)
    write_csv(run_dir / HISTORY_NAME, frame)
    write_text(run_dir / "history.json", frame.to_json(orient="records", indent=1))  # NaN -> null
    write_text(run_dir / STATE_NAME, json_text(state, nulls=True))


def finished_run(run_dir: str | Path, config: RunConfig) -> TrainResult | None:
    """The run in ``run_dir`` when it is already finished with ``config``, else None (nothing loaded).

    A stage calls it before loading its data or building its model, so that
    rerunning a finished run returns at once; the result has
    :attr:`TrainResult.already_finished` set.

    Raises
    ------
    TrainingError
        The folder holds a run made with another configuration.
    """
    run_dir = Path(run_dir)
    state, _ = _open(run_dir, config)
    if not state.get("finished"):
        return None
    result = load_run(run_dir)
    result.already_finished = True
    return result


def run_stage(run_dir: str | Path, config: RunConfig, stage: Stage, *, parts: pd.DataFrame,
              progress: bool = True, deterministic: bool = True,
              check_model: Callable | None = None) -> TrainResult:
    """Train ``stage`` in ``run_dir``: the lifecycle of the module docstring.

    Parameters
    ----------
    run_dir : str or Path
        The run folder (created when missing).
    config : RunConfig
        The run's configuration (compared with an existing folder's).
    stage : Stage
        What this stage trains and how.
    parts : DataFrame
        ``split.csv``: ``utt_id``, ``speaker``, ``split``, ``part``.
    progress : bool
        Progress bars (:class:`~speakerlib.train.progress.RunProgress`): each
        epoch's steps with the running loss, its val and dev scoring phases,
        and its figures once done. Nothing is printed when False.
    deterministic : bool
        Enable TensorFlow's op determinism (same seed, same weights on CPU).
    check_model : callable (model, path), optional
        Called on a model loaded from ``last.keras`` to resume, to refuse one
        that does not fit the data (raises).

    Returns
    -------
    TrainResult
        The finished run. An already finished one is returned as it is, with
        :attr:`TrainResult.already_finished` set.

    Warns
    -----
    UserWarning
        ``resuming run RUN from epoch k of N``, when the folder holds an
        unfinished run (the command line shows it as one line, even with --quiet).

    Raises
    ------
    TrainingError
        The folder holds a run made with another configuration.
    FolderInUseError
        Another process is training in the folder (its ``.lock`` names it).
    CheckpointError
        A resume whose checkpoint is missing, corrupted or from another model.
    """
    run_dir = Path(run_dir)
    distribution = strategy()  # refuses what cannot run (several machines) before the folder is made
    with folder_lock(run_dir, purpose=f"train {stage.name}"):
        return _run_locked(run_dir, config, stage, distribution, parts=parts, progress=progress,
                           deterministic=deterministic, check_model=check_model)


def _run_locked(run_dir: Path, config: RunConfig, stage: Stage, distribution, *, parts: pd.DataFrame,
                progress: bool, deterministic: bool, check_model: Callable | None) -> TrainResult:
    """:func:`run_stage` once the folder is locked (FolderInUseError says which process holds it)."""
    state, history = _open(run_dir, config)
    if state.get("finished"):  # finished by another process while this one waited for its data or the lock
        result = load_run(run_dir)
        result.already_finished = True
        return result
    run_dir.mkdir(parents=True, exist_ok=True)
    config.write(run_dir, hardware=hardware(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_csv(run_dir / SPLIT_NAME, parts)

    seeds.set_global_seed(config.seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(
        precision_policy(config.profile, len(tf.config.list_logical_devices("GPU"))))
    state["replicas"] = int(distribution.num_replicas_in_sync)
    with distribution.scope():
        if state["epochs_done"] > 0:
            model = load_checkpoint(run_dir / LAST_NAME, config.training_model_name)
            if check_model is not None:
                check_model(model, run_dir / LAST_NAME)
            done = state["epochs_done"]
            warnings.warn(
                f"resuming run {run_dir} from epoch {done} of {stage.epochs}: "
                + ("epoch 1 is" if done == 1 else f"epochs 1-{done} are")
                + f" kept from its {LAST_NAME}, training goes on with epoch {done + 1} "
                "(delete the folder to start again)", stacklevel=3)
        else:
            model = stage.build()
    shown = RunProgress(stage.name, stage.epochs, enabled=progress)
    try:
        if stage.scores_start and state["epochs_done"] == 0:
            shown.start(0)
            history = [{"epoch": 0, "loss": float("nan"), **stage.dev_metrics(model, shown.callbacks())}]
            state["best_epoch"], state["best_dev_eer"] = 0, history[0]["dev_eer"]
            shown.finish({k: history[0][k] for k in stage.postfix if k in history[0] and k != "loss"})
            save_model(model, run_dir / BEST_NAME)
        best = state["best_epoch"]
        since_best = 0 if best is None else state["epochs_done"] - best
        for epoch in range(state["epochs_done"], stage.epochs):
            start = time.perf_counter()
            shown.start(epoch + 1)
            reseed(model, config.seed, epoch)
            logs, samples = stage.fit_epoch(model, epoch, shown.callbacks())
            train_time = time.perf_counter() - start
            row = {"epoch": epoch + 1, **logs, **stage.dev_metrics(model, shown.callbacks())}
            row["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            row["seconds"] = time.perf_counter() - start
            row["samples_per_s"] = samples / train_time
            history.append(row)
            save_model(model, run_dir / LAST_NAME)
            if _improves(row["dev_eer"], state["best_dev_eer"]):
                save_model(model, run_dir / BEST_NAME)
                state["best_epoch"], state["best_dev_eer"] = epoch + 1, row["dev_eer"]
                since_best = 0
            else:
                since_best += 1
            state["epochs_done"] = epoch + 1
            state["train_seconds"] = float(state["train_seconds"]) + row["seconds"]
            if stage.patience and since_best >= stage.patience and epoch + 1 < stage.epochs:
                state["stopped_early"] = True
            _write_progress(run_dir, state, history)
            shown.finish({k: row[k] for k in stage.postfix if k in row})
            if state["stopped_early"]:
                break
    finally:
        shown.close()

    kept = load_checkpoint(run_dir / BEST_NAME, config.training_model_name, compile=False)  # weights, to export
    save_model(stage.export(kept), run_dir / EMBEDDING_NAME)
    state["finished"] = True
    _write_progress(run_dir, state, history)
    return load_run(run_dir)
