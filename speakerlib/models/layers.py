"""Layers and building blocks shared by the embedding models.

Custom layers (registered with ``keras.saving.register_keras_serializable``
under the ``speakerlib`` package, so a ``.keras`` file loads with
``safe_mode=True``):

* :class:`StatisticsPooling`: mean and standard deviation over time,
  concatenated, ``(batch, frames, features) -> (batch, 2 * features)``.
* :class:`SqueezeExcitation`: channel attention of Hu et al. (2018),
  ``(batch, frames, bins, channels)`` in and out.
* :class:`PointwiseConv2D`: a 1x1 convolution with a stride, computed as
  subsampling then a stride-1 1x1 convolution (the same output); every
  strided 1x1 convolution here (the ResNets' projection shortcuts) is one,
  because TensorFlow 2.21's oneDNN kernel for the gradient of a strided 1x1
  convolution crashes the process (a segmentation fault) for some input
  sizes: a (160, 40, 8) map with stride 2 and 32 filters does, as SE-ResNet's
  first block meets it on 320-frame crops of 80 bands.

Where Keras already has the layer, the models use it, named:

* clipped ReLU ``min(max(x, 0), 20)`` is ``keras.layers.ReLU(max_value=20)``;
* L2 normalisation is ``keras.layers.UnitNormalization(axis=-1)``
  (``x / sqrt(max(sum(x ** 2), 1e-12))``);
* temporal average pooling is ``keras.layers.GlobalAveragePooling1D``.

The rest of the module holds the helpers every family uses: the two
exceptions, input-shape checks, channel scaling by ``width``, the L2 kernel
regulariser, and the "flatten frequency, pool over time" head.

Axis convention everywhere: ``(batch, frames, bins, channels)``: time first,
frequency second, channels last.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import keras
from keras import ops

from speakerlib._checks import is_int
from speakerlib.errors import ModelConfigError

__all__ = [
    "CLIPPED_RELU_CEILING",
    "POOLINGS",
    "StatisticsPooling",
    "SqueezeExcitation",
    "PointwiseConv2D",
    "scale_channels",
    "kernel_regularizer",
    "check_input_shape",
    "min_input_size",
    "check_settings",
    "check_pooling",
    "flatten_frequency",
    "pool_over_time",
]

#: Ceiling of DeepSpeaker's clipped ReLU, ``min(max(x, 0), 20)``.
CLIPPED_RELU_CEILING = 20.0

#: Pooling names ``build_embedding_model`` accepts besides ``None``.
POOLINGS = ("stats",)


# ----------------------------------------------------------------------------
# Custom layers
# ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="speakerlib")
class StatisticsPooling(keras.layers.Layer):
    """Mean and standard deviation over time, concatenated.

    ``[mean_t(x), sqrt(var_t(x) + eps)]`` for every feature, the pooling of
    x-vectors (Snyder et al. 2018) and of most modern speaker encoders. The
    variance is the biased one (divided by ``frames``), computed in two
    passes (``mean((x - mean) ** 2)``), so it is never negative. Every frame
    counts: there is no mask, so a batch must hold utterances of one length
    (or be a batch of one).

    Parameters
    ----------
    eps : float > 0
        Added to the variance before the square root, so the gradient stays
        finite for a constant feature.
    **kwargs
        Keras layer arguments (``name``, ``dtype``...).

    Input shape: ``(batch, frames, features)``, ``frames`` may be None.
    Output shape: ``(batch, 2 * features)``: the means, then the deviations.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[1.0, 0.0], [3.0, 0.0]]], dtype="float32")
    >>> np.round(keras.ops.convert_to_numpy(StatisticsPooling(eps=0.0)(x)), 4)
    array([[2., 0., 1., 0.]], dtype=float32)
    """

    def __init__(self, eps: float = 1e-5, **kwargs) -> None:
        super().__init__(**kwargs)
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
            raise ModelConfigError(
                f"StatisticsPooling: expected eps a finite float >= 0, got {eps!r}"
            )
        self.eps = float(eps)

    def call(self, inputs):
        mean = ops.mean(inputs, axis=1)
        centred = inputs - ops.expand_dims(mean, axis=1)
        variance = ops.mean(ops.square(centred), axis=1)
        std = ops.sqrt(variance + self.eps)
        return ops.concatenate([mean, std], axis=-1)

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        return (input_shape[0], None if features is None else 2 * features)

    def get_config(self) -> dict:
        return {**super().get_config(), "eps": self.eps}


@keras.saving.register_keras_serializable(package="speakerlib")
class SqueezeExcitation(keras.layers.Layer):
    """Squeeze-and-excitation channel attention (Hu et al. 2018, arXiv 1709.01507).

    ``s = sigmoid(W2 relu(W1 mean_{t,f}(x) + b1) + b2)``, output ``x * s``
    with ``s`` broadcast over time and frequency. ``W1`` maps ``channels`` to
    ``max(1, channels // reduction)``, ``W2`` back to ``channels``; both
    carry biases. Parameters: ``2 * channels * hidden + hidden + channels``.

    The global mean runs over every frame, so with variable-length input the
    gate depends on the utterance's length only through its content.

    Parameters
    ----------
    reduction : int >= 1
        Ratio of channels to hidden units (8 in the reference SE-ResNet).
    kernel_regularizer : keras.regularizers.Regularizer or None
        Applied to both kernels.
    kernel_initializer : str or keras.initializers.Initializer
        Initialiser of both kernels.
    **kwargs
        Keras layer arguments (``name``...).

    Input and output shape: ``(batch, frames, bins, channels)``.
    """

    def __init__(
        self,
        reduction: int = 8,
        *,
        kernel_regularizer=None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 1:
            raise ModelConfigError(
                f"SqueezeExcitation: expected reduction an int >= 1, got {reduction!r}"
            )
        self.reduction = reduction
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ModelConfigError(
                f"SqueezeExcitation {self.name!r}: expected a known channel count, "
                f"got input shape {tuple(input_shape)}"
            )
        hidden = max(1, channels // self.reduction)
        self.squeeze = keras.layers.Dense(
            hidden,
            activation="relu",
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="squeeze",
        )
        self.excite = keras.layers.Dense(
            channels,
            activation="sigmoid",
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="excite",
        )
        self.squeeze.build((input_shape[0], channels))
        self.excite.build((input_shape[0], hidden))

    def call(self, inputs):
        pooled = ops.mean(inputs, axis=(1, 2))
        gate = self.excite(self.squeeze(pooled))
        return inputs * gate[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
                if self.kernel_regularizer is not None
                else None,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config


# ----------------------------------------------------------------------------
# Helpers shared by the builders
# ----------------------------------------------------------------------------


def scale_channels(channels: int, width: float) -> int:
    """``max(1, round(channels * width))``: a channel count scaled by ``width``.

    Parameters
    ----------
    channels : int > 0
        The count of the paper's architecture (``width=1``).
    width : float > 0

    Returns
    -------
    int >= 1
    """
    return max(1, int(round(channels * width)))


@keras.saving.register_keras_serializable(package="speakerlib")
class PointwiseConv2D(keras.layers.Conv2D):
    """A 1x1 convolution with stride ``subsample``: every ``subsample``-th frame and bin, then a 1x1 convolution.

    The output equals ``keras.layers.Conv2D(filters, 1, strides=subsample, padding="same")``
    (which keeps rows and columns 0, s, 2s...), with the same weights, but
    the convolution TensorFlow runs has stride 1 (see the module docstring
    for why).

    Input shape: ``(batch, frames, bins, channels)``; output shape:
    ``(batch, ceil(frames / subsample), ceil(bins / subsample), filters)``.

    Parameters
    ----------
    filters : int >= 1
    subsample : int >= 1
        The stride along both frames and bins.
    **kwargs
        As :class:`keras.layers.Conv2D` (``use_bias``, initialisers,
        regularisers, ``name``...); ``kernel_size`` and ``strides`` are fixed
        to 1.
    """

    def __init__(self, filters: int, *, subsample: int = 2, **kwargs) -> None:
        for fixed in ("kernel_size", "strides"):
            value = kwargs.pop(fixed, 1)
            if tuple(value) != (1, 1) if isinstance(value, (tuple, list)) else value != 1:
                raise ModelConfigError(f"PointwiseConv2D: {fixed} is always 1, got {value!r}")
        kwargs.pop("padding", None)
        super().__init__(filters, 1, strides=1, padding="valid", **kwargs)
        if not is_int(subsample) or subsample < 1:
            raise ModelConfigError(f"PointwiseConv2D: expected subsample an integer >= 1, got {subsample!r}")
        self.subsample = int(subsample)

    def call(self, inputs):
        s = self.subsample
        return super().call(inputs[:, ::s, ::s, :])

    def compute_output_shape(self, input_shape):
        s = self.subsample
        frames, bins = input_shape[1], input_shape[2]
        return (input_shape[0], None if frames is None else -(-frames // s),
                None if bins is None else -(-bins // s), self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "subsample": self.subsample}


def conv2d(filters: int, kernel: int, stride: int, regularizer, name: str) -> keras.layers.Conv2D:
    """The convolution every model here uses: "same" padding, no bias (a batch
    normalisation follows), He-normal initialisation, the given L2 regulariser.

    A strided 1x1 convolution is a :class:`PointwiseConv2D` (the same output).
    """
    if kernel == 1 and stride != 1:
        return PointwiseConv2D(filters, subsample=stride, use_bias=False, kernel_initializer="he_normal",
                               kernel_regularizer=regularizer, name=name)
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizer,
        name=name,
    )


def kernel_regularizer(weight_decay: float):
    """``keras.regularizers.L2(weight_decay)``, or None when it is 0.

    The penalty added to the loss is ``weight_decay * sum(w ** 2)`` per
    kernel (Keras' convention; no factor 1/2).
    """
    return keras.regularizers.L2(weight_decay) if weight_decay > 0 else None


def check_settings(
    model: str, *, embedding_dim: int, weight_decay: float, width: float, seed: int | None
) -> None:
    """Raise :class:`ModelConfigError` if a numeric setting is out of range."""
    if (
        isinstance(embedding_dim, bool)
        or not isinstance(embedding_dim, numbers.Integral)
        or embedding_dim < 1
    ):
        raise ModelConfigError(
            f"build_embedding_model({model!r}): expected embedding_dim an int >= 1, "
            f"got {embedding_dim!r}"
        )
    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, numbers.Real)
        or not math.isfinite(weight_decay)
        or weight_decay < 0
    ):
        raise ModelConfigError(
            f"build_embedding_model({model!r}): expected weight_decay a finite float >= 0 "
            f"(0 disables the L2 penalty), got {weight_decay!r}"
        )
    if (
        isinstance(width, bool)
        or not isinstance(width, numbers.Real)
        or not math.isfinite(width)
        or width <= 0
    ):
        raise ModelConfigError(
            f"build_embedding_model({model!r}): expected width a finite float > 0 "
            f"(1.0 is the paper's architecture), got {width!r}"
        )
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
    ):
        raise ModelConfigError(
            f"build_embedding_model({model!r}): expected seed None or an int >= 0, "
            f"got {seed!r}"
        )


def check_pooling(model: str, pooling: str | None, supported: Sequence[str]) -> str | None:
    """Return ``pooling`` if it is None or in ``supported``, else raise ModelConfigError."""
    if pooling is None or pooling in supported:
        return pooling
    raise ModelConfigError(
        f"build_embedding_model({model!r}): expected pooling None (the architecture's own) "
        f"or one of {list(supported)}, got {pooling!r}"
    )


def min_input_size(total_stride: int) -> int:
    """Smallest frames/bins count a model with this total stride accepts.

    Every stride-2 layer (``"same"`` padding, ``n -> ceil(n / 2)``) must see
    at least 2 cells, otherwise it halves nothing and the deeper layers look
    at padding: with ``k`` such layers (``total_stride = 2 ** k``) that needs
    ``n > 2 ** (k - 1)``, so ``total_stride // 2 + 1`` (9 for a total stride
    of 16, 17 for 32).
    """
    return total_stride // 2 + 1


def check_input_shape(model: str, input_shape, *, total_stride: int = 1, min_bins: int | None = None,
                      reason: str | None = None) -> tuple[int | None, int, int]:
    """Validate ``(frames, bins, 1)`` and return it as a tuple.

    Parameters
    ----------
    model : str
        The model's name, for the message.
    input_shape : sequence of 3 items
        ``frames`` an int or None (variable length), ``bins`` an int, channels 1.
    total_stride : int
        The model's downsampling along each axis; frames and bins must be at
        least :func:`min_input_size` of it (1 for a model without a stride).
    min_bins : int, optional
        The fewest bins, when it is not :func:`min_input_size` (a model that
        takes the bins as channels, like ECAPA-TDNN: 1).
    reason : str, optional
        Why, in the message (default: the downsampling).

    Returns
    -------
    tuple (frames, bins, 1)

    Raises
    ------
    ModelConfigError
        (a ValueError) naming the expected and found shape.
    """
    min_size = min_input_size(total_stride)
    min_bins = min_size if min_bins is None else min_bins
    reason = reason or f"the model downsamples both by {total_stride}"
    expected = (
        f"expected input_shape (frames, bins, 1) with frames None or an int >= {min_size} "
        f"and bins an int >= {min_bins} ({reason})"
    )
    where = f"build_embedding_model({model!r})"
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ModelConfigError(f"{where}: {expected}, got {input_shape!r}") from None
    if len(shape) != 3:
        raise ModelConfigError(
            f"{where}: {expected}, got {shape!r} ({len(shape)}-D); features of shape "
            f"(frames, bins) need a trailing channel axis: (frames, bins, 1)"
        )

    frames, bins, channels = shape
    if channels != 1:
        raise ModelConfigError(
            f"{where}: {expected}, got {channels!r} channels in {shape!r}; the models take "
            f"one feature map (time first, frequency second, one channel)"
        )
    if bins is None or not is_int(bins) or bins < min_bins:
        raise ModelConfigError(
            f"{where}: {expected}, got bins={bins!r} in {shape!r}"
            + ("; the number of bins must be known" if bins is None else "")
        )
    if frames is not None and (not is_int(frames) or frames < min_size):
        raise ModelConfigError(
            f"{where}: {expected}, got frames={frames!r} in {shape!r}; pad the "
            f"features to at least {min_size} frames"
        )
    return (None if frames is None else int(frames), int(bins), 1)


def flatten_frequency(x, *, name: str = "flatten_frequency"):
    """``(batch, frames, bins, channels) -> (batch, frames, bins * channels)``.

    Frequency and channels become one feature axis (frequency major), time
    stays; ``frames`` may be None.
    """
    _, _, bins, channels = x.shape
    return keras.layers.Reshape((-1, bins * channels), name=name)(x)


def pool_over_time(x, pooling: str | None, *, name: str = "temporal_pooling"):
    """Pool ``(batch, frames, features)`` over time.

    ``None`` or ``"mean"``: the average over frames, ``(batch, features)``.
    ``"stats"``: :class:`StatisticsPooling`, ``(batch, 2 * features)``.
    Computed in float32 whatever the global dtype policy (a variance in
    bfloat16 loses too much).
    """
    if pooling == "stats":
        return StatisticsPooling(name=name, dtype="float32")(x)
    if pooling in (None, "mean"):
        return keras.layers.GlobalAveragePooling1D(name=name, dtype="float32")(x)
    raise ModelConfigError(
        f"pool_over_time: expected pooling None, 'mean' or 'stats', got {pooling!r}"
    )
