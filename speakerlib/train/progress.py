"""What a training run shows while it works: one progress bar per epoch over its steps, and its short phases.

:class:`RunProgress` is the progress output of one training stage
(:func:`speakerlib.train.run_folder.run_stage`), in tqdm's style (the bars of
the rest of speakerlib), on standard error::

    seresnet/reference 1/4: 100%|##########| 40/40 [00:21<00:00, 1.9step/s, loss=2.273, accuracy=0.104, dev_eer=0.267]
    seresnet/reference 2/4:  30%|###       | 12/40 [00:05<00:12, 2.3step/s, loss=1.901]
    seresnet/reference 2/4 val: 2 batches [00:00, 9.1 batches/s]

An epoch's bar counts its training steps, with the running loss (Keras' mean
over the epoch so far) beside it. The held-out val batches Keras evaluates at
the end of the epoch and the dev scoring after it (embedding the dev
utterances for the dev EER) are short phases with bars of their own, which
disappear when done. The epoch's bar then shows the epoch's figures and
stays: one line per epoch, as Keras' own progress bar leaves.

Everything is a Keras callback (:meth:`RunProgress.callbacks`) given to
``model.fit`` and ``model.predict``; disabled (``enabled=False``), there are
no callbacks and nothing is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from tqdm.auto import tqdm

from speakerlib._tensorflow import keras

__all__ = ["RunProgress"]


class _Bars(keras.callbacks.Callback):
    """The Keras callback of a :class:`RunProgress`: the epoch's step bar and the phase bars."""

    def __init__(self, owner: RunProgress) -> None:
        super().__init__()
        self._owner = owner

    # training steps
    def on_epoch_begin(self, epoch, logs=None):
        self._owner.open_epoch(steps=(self.params or {}).get("steps"))

    def on_train_batch_end(self, batch, logs=None):
        self._owner.step(logs or {})

    # the val batches Keras evaluates after the steps (inside fit)
    def on_test_begin(self, logs=None):
        self._owner.open_phase("val", steps=None)

    def on_test_batch_end(self, batch, logs=None):
        self._owner.phase_step()

    def on_test_end(self, logs=None):
        self._owner.close_phase()

    # the dev scoring (model.predict of the dev utterances)
    def on_predict_begin(self, logs=None):
        self._owner.open_phase("dev scoring", steps=(self.params or {}).get("steps"))

    def on_predict_batch_end(self, batch, logs=None):
        self._owner.phase_step()

    def on_predict_end(self, logs=None):
        self._owner.close_phase()


class RunProgress:
    """The progress bars of one training stage (see the module docstring).

    Parameters
    ----------
    name : str
        The stage (``"<model>/<recipe>"``), at the start of every bar.
    epochs : int
        The stage's number of epochs (the ``E`` of ``e/E``).
    enabled : bool
        False: no bars, and :meth:`callbacks` is empty.
    """

    #: The Keras logs shown beside the step bar while the epoch trains.
    running: tuple[str, ...] = ("loss",)

    def __init__(self, name: str, epochs: int, *, enabled: bool = True) -> None:
        self.name, self.epochs, self.enabled = name, int(epochs), bool(enabled)
        self._epoch = 0
        self._bar = None
        self._phase = None
        self._callback = _Bars(self) if self.enabled else None

    def _label(self) -> str:
        return f"{self.name} {self._epoch}/{self.epochs}" if self._epoch else f"{self.name} start"

    def start(self, epoch: int) -> None:
        """The next bars are those of epoch ``epoch`` (1-based; 0: the starting point of a fine-tune)."""
        self.close()
        self._epoch = int(epoch)

    def callbacks(self) -> list:
        """The Keras callbacks to give ``model.fit`` and ``model.predict`` (empty when disabled)."""
        return [] if self._callback is None else [self._callback]

    def open_epoch(self, steps: int | None) -> None:
        """Open the epoch's bar over ``steps`` training steps (None: unknown)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        self._bar = tqdm(total=steps, desc=self._label(), unit="step", leave=True, dynamic_ncols=True)

    def step(self, logs: Mapping) -> None:
        """One training step done; ``logs`` are Keras' (running means over the epoch)."""
        if self._bar is None:
            return
        self._bar.update(1)
        shown = {k: f"{float(logs[k]):.3f}" for k in self.running if k in logs}
        if shown:
            self._bar.set_postfix(shown, refresh=False)

    def open_phase(self, what: str, steps: int | None) -> None:
        """A short phase of the epoch (``"val"``, ``"dev scoring"``): a bar of its own, gone when done."""
        if not self.enabled:
            return
        self.close_phase()
        # without a total tqdm writes "3batch": the unit then gets its space
        self._phase = tqdm(total=steps, desc=f"{self._label()} {what}", unit="batch" if steps else " batches",
                           leave=False, dynamic_ncols=True)

    def phase_step(self) -> None:
        if self._phase is not None:
            self._phase.update(1)

    def close_phase(self) -> None:
        if self._phase is not None:
            self._phase.close()
            self._phase = None

    def finish(self, figures: Mapping[str, float]) -> None:
        """End the epoch: its bar shows ``figures`` (the epoch's loss, dev EER...) and stays."""
        self.close_phase()
        if not self.enabled:
            return
        if self._bar is None:  # no steps (the starting point of a fine-tune): one line
            tqdm.write(f"{self._label()}: " + ", ".join(f"{k}={float(v):.3f}" for k, v in figures.items()),
                       file=sys.stderr)
            return
        self._bar.set_postfix({k: f"{float(v):.3f}" for k, v in figures.items()}, refresh=False)
        self._bar.close()
        self._bar = None

    def close(self) -> None:
        """Close any open bar (an interrupted epoch)."""
        self.close_phase()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
