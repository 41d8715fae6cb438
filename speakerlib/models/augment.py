"""Data augmentation for training speaker-embedding networks.

:class:`SpecAugment` masks bands of frequency bins and of frames in the
features (Park et al. 2019, arXiv 1904.08779, without time warping), inside
the model, so it runs on the accelerator and only while training.
"""

from __future__ import annotations

import numbers

import keras
from keras import ops

from speakerlib.errors import ConfigError

__all__ = ["SpecAugment"]


def _check_count(name: str, value) -> int:
    """``int(value)`` if it is an integer >= 0, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"SpecAugment: expected {name} an integer >= 0, got {value!r}")
    return int(value)


@keras.saving.register_keras_serializable(package="speakerlib")
class SpecAugment(keras.layers.Layer):
    """Keras layer: SpecAugment frequency and time masking, active only when training.

    For each example, independently:

    * ``freq_masks`` times, a width ``w`` is drawn uniformly from
      ``{0, ..., min(freq_width, bins)}`` and a start ``f0`` from
      ``{0, ..., bins - w}``; bins ``f0 .. f0 + w - 1`` are masked over all
      frames;
    * ``time_masks`` times, the same with ``time_width`` and the frames: frames
      ``t0 .. t0 + w - 1`` are masked over all bins.

    Masks may overlap (two masks can form one longer band). **Fill value:** a
    masked element is set to its example's mean over all its frames, bins
    (and channels) before masking. On features normalised to zero mean this
    is zero masking; on raw log energies it avoids the artificial edges a
    zero would make.

    At inference (``training`` false or not given) the layer is the
    identity. Randomness comes from a ``keras.random.SeedGenerator``: two
    layers made with the same ``seed`` produce the same masks, call after
    call; ``seed=None`` draws a fresh seed. The generator's state is a
    variable, so use the layer inside a model, not inside ``tf.data``.

    Input shape: ``(batch, frames, bins, channels)`` (channels usually 1) or
    ``(batch, frames, bins)``; ``frames`` may be ``None``.

    Output shape: the same as the input.

    Parameters
    ----------
    freq_masks : int >= 0
        Number of frequency masks per example.
    freq_width : int >= 0 [bins]
        Largest width of a frequency mask.
    time_masks : int >= 0
        Number of time masks per example.
    time_width : int >= 0 [frames]
        Largest width of a time mask (20 frames = 200 ms at a 10 ms hop).
    seed : int or None
        Seed of the layer's SeedGenerator.
    **kwargs
        Keras layer arguments (``name``...).

    Raises
    ------
    ValueError
        If a count or width is not a non-negative integer, or the input's
        rank is not 3 or 4.

    Examples
    --------
    >>> import numpy as np
    >>> layer = SpecAugment(seed=0)
    >>> x = np.random.default_rng(0).normal(size=(2, 299, 40, 1)).astype("float32")
    >>> bool(np.all(np.asarray(layer(x)) == x))          # inference: identity
    True
    >>> bool(np.all(np.asarray(layer(x, training=True)) == x))
    False
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: int = 20,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.freq_masks = _check_count("freq_masks", freq_masks)
        self.freq_width = _check_count("freq_width", freq_width)
        self.time_masks = _check_count("time_masks", time_masks)
        self.time_width = _check_count("time_width", time_width)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ConfigError(f"SpecAugment: expected seed an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape) -> None:
        if len(input_shape) not in (3, 4):
            raise ConfigError(
                f"SpecAugment: expected inputs of shape (batch, frames, bins, channels) or "
                f"(batch, frames, bins), got shape {tuple(input_shape)}"
            )

    def _bands(self, batch, size, count: int, max_width: int):
        """Boolean ``(batch, size)``: the union of ``count`` random bands per example."""
        size_f = ops.cast(size, "float32")
        draws = keras.random.uniform((batch, count, 2), seed=self.seed_generator)
        top = ops.minimum(float(max_width), size_f)
        # floor(u * (n + 1)) for u in [0, 1) is uniform on {0..n}; the minimum
        # guards against float32 rounding u * (n + 1) up to n + 1.
        width = ops.minimum(ops.floor(draws[..., 0] * (top + 1.0)), top)
        start = ops.minimum(
            ops.floor(draws[..., 1] * (size_f - width + 1.0)), size_f - width
        )
        positions = ops.cast(ops.arange(size), "float32")[None, None, :]
        inside = ops.logical_and(
            positions >= start[..., None], positions < (start + width)[..., None]
        )
        return ops.any(inside, axis=1)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        rank = len(inputs.shape)
        shape = ops.shape(inputs)
        batch, frames, bins = shape[0], shape[1], shape[2]
        masked = None
        if self.time_masks and self.time_width:
            time = self._bands(batch, frames, self.time_masks, self.time_width)
            masked = ops.expand_dims(time, 2)
        if self.freq_masks and self.freq_width:
            freq = ops.expand_dims(self._bands(batch, bins, self.freq_masks, self.freq_width), 1)
            masked = freq if masked is None else ops.logical_or(masked, freq)
        if masked is None:
            return inputs
        if rank == 4:
            masked = ops.expand_dims(masked, -1)
        axes = tuple(range(1, rank))
        mean = ops.mean(ops.cast(inputs, "float32"), axis=axes, keepdims=True)
        return ops.where(masked, ops.cast(mean, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        base = super().get_config()
        base.update(
            freq_masks=self.freq_masks,
            freq_width=self.freq_width,
            time_masks=self.time_masks,
            time_width=self.time_width,
            seed=self.seed,
        )
        return base
