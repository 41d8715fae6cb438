"""ECAPA-TDNN (Desplanques, Thienpondt and Demuynck, Interspeech 2020, arXiv 2005.07143).

A TDNN: the feature bins are the channels of 1-D convolutions over time.
With ``C`` channels (1024 times ``width``, rounded; the paper's two sizes are
C = 512 and C = 1024)::

    input (frames, bins, 1) -> reshape (frames, bins)         bins as channels
    stem: Conv1D(C, k=5) -> ReLU -> BN
    3 SE-Res2Blocks, dilations 2, 3, 4; block k reads the sum of the stem's
    and of every earlier block's output:
        Conv1D(C, k=1) -> ReLU -> BN
        Res2Net: split the channels into 8 groups x_1..x_8;
                 y_1 = K_1(x_1), y_i = K_i(x_i + y_{i-1}) for i = 2..7, y_8 = x_8,
                 K_i = Conv1D(C/8, k=3, dilation d) -> ReLU -> BN; concatenate
        Conv1D(C, k=1) -> ReLU -> BN
        squeeze-excitation: mean over time -> Dense(128, ReLU)
                            -> Dense(C, sigmoid), times the map
        + the block's input
    multi-layer feature aggregation (MFA): concatenate the 3 blocks' outputs
        (3C) -> Conv1D(1536, k=1) -> ReLU
    attentive statistics pooling, global context (2 * 1536)  (or pooling="stats")
    BN -> Dense(embedding_dim) -> BN: the embedding (192 in the paper)

Choices, and why:

* **The MFA output is 1536 channels for both C = 512 and C = 1024**, as in
  the paper's figure and WeSpeaker's code (``out_channels = 512 * 3``): with
  3072 channels at C = 1024 (SpeechBrain's layout) the count would be
  20.76 M, not the paper's 14.7 M; with 1536 it is 14.66 M.
* **Widths.** Width 1.0 is the paper's C = 1024 model, width 0.5 its
  C = 512 model; between the two only C grows, as in the paper (the MFA,
  the SE bottleneck and the attention bottleneck stay at 1536, 128 and 128).
  Below 0.5 every channel count of the C = 512 model shrinks in proportion
  (``width / 0.5``), so the CPU widths are uniformly thinner C = 512 models;
  above 1.0 only C grows. C must be at least 8 (one channel per Res2Net
  group): width >= 0.0073.
* **Summed residual inputs** (the paper's section 3.4, "aggregation and
  summation"; Tao Ruijie's reproduction does the same): the input of block 2
  is stem + block 1, of block 3 stem + block 1 + block 2. WeSpeaker feeds
  each block the previous one's output instead; it costs no parameters
  either way.
* **Attention**: ``alpha = softmax_t(W2 tanh(W1 [h_t, mean(h), std(h)] + b1)
  + b2)`` per channel, a bottleneck of 128 (WeSpeaker's ``ASTP`` with
  ``global_context_att=True``; SpeechBrain puts a ReLU and a BN before the
  tanh). The pooled vector is the attention-weighted mean and standard
  deviation, ``sqrt(sum_t alpha (h - mu) ** 2 + eps)``.
* Convolutions keep their biases (a ReLU stands between them and the batch
  norm, so the bias is not cancelled; the published counts include them);
  the embedding Dense, followed by a BN, has none (192 parameters).
  He-normal initialisation of the convolutions.
* When C is not a multiple of 8, the seven convolved groups have
  ``C // 8`` channels each and the pass-through group the rest.
* Everything after the pooling (pooling included) computes in float32, so
  the model trains under the ``mixed_float16`` policy.

Parameters on 80 bins, ``embedding_dim=192`` (trainable; the papers count
those): width 1.0 (C = 1024) 14,657,280 against the paper's 14.7 M; width
0.5 (C = 512) 6,190,912 against the paper's 6.2 M and WeSpeaker's 6.19 M
for ``ECAPA_TDNN_GLOB_c512``. :func:`~speakerlib.models.count_parameters`
also counts the batch norms' moving statistics (26,240 at width 1.0, 16,384
at 0.5): 14,683,520 and 6,207,296. Only the stem depends on the number of
bins (``5 * bins * C`` weights): on 40 bins, 14,478,720 at width 1.0.

No layer strides: the output has as many frames as the input until the
pooling, so any length of at least one frame works (``MIN_FRAMES``). The
receptive field is 131 frames (1.31 s at a 10 ms hop); shorter inputs
see the convolutions' zero padding.

Training speed measured on 2 shared CPU cores (load average about 5), batch
32 of 200 frames x 80 bins, a Dense softmax over 100 classes, Adam, median
of 4-5 steps after 2 warm-up steps: width 1.0 3.3 samples/s, 0.5 8.8,
0.25 25, 0.125 31 (at the small widths the many small Res2Net convolutions,
not the arithmetic, set the pace). No stride also means every layer works
on all 200 frames, where the 2-D models have halved time 4 or 5 times.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from speakerlib._checks import is_int
from speakerlib.errors import ModelConfigError
from speakerlib.models.layers import (
    POOLINGS,
    StatisticsPooling,
    check_input_shape,
    check_pooling,
    kernel_regularizer,
    min_input_size,
    scale_channels,
)

__all__ = [
    "build_ecapa",
    "ChannelSplit",
    "AttentiveStatisticsPooling",
    "ECAPA_CHANNELS",
    "ECAPA_MFA_CHANNELS",
    "ECAPA_SE_BOTTLENECK",
    "ECAPA_ATTENTION_BOTTLENECK",
    "ECAPA_EMBEDDING_DIM",
    "PAPER_SMALL_WIDTH",
    "RES2NET_SCALE",
    "STEM_KERNEL",
    "BLOCK_KERNEL",
    "BLOCK_DILATIONS",
    "MIN_FRAMES",
    "ecapa_channels",
    "receptive_field",
]

#: C at width 1: the paper's large model.
ECAPA_CHANNELS = 1024
#: Output channels of the multi-layer feature aggregation (paper: 1536 for both C).
ECAPA_MFA_CHANNELS = 1536
#: Hidden units of each squeeze-excitation.
ECAPA_SE_BOTTLENECK = 128
#: Hidden units of the attention of the attentive statistics pooling.
ECAPA_ATTENTION_BOTTLENECK = 128
#: The paper's embedding size (the family's default).
ECAPA_EMBEDDING_DIM = 192
#: The width of the paper's C = 512 model; below it every channel count shrinks.
PAPER_SMALL_WIDTH = 0.5
#: Res2Net groups ("scale") of every block.
RES2NET_SCALE = 8
#: Kernel of the stem convolution.
STEM_KERNEL = 5
#: Kernel of the Res2Net convolutions.
BLOCK_KERNEL = 3
#: Dilations of the three SE-Res2Blocks.
BLOCK_DILATIONS = (2, 3, 4)
#: Fewest frames the model accepts (it has no stride).
MIN_FRAMES = min_input_size(1)  # no stride: one frame is enough (what check_input_shape asks)


def receptive_field() -> int:
    """Frames one output frame of the MFA sees: 131 with the paper's kernels and dilations.

    The stem adds ``STEM_KERNEL - 1``; a block's longest path runs through
    its ``RES2NET_SCALE - 1`` cascaded convolutions, each adding
    ``(BLOCK_KERNEL - 1) * dilation``.
    """
    blocks = sum((RES2NET_SCALE - 1) * (BLOCK_KERNEL - 1) * d for d in BLOCK_DILATIONS)
    return 1 + (STEM_KERNEL - 1) + blocks


# ----------------------------------------------------------------------------
# Custom layers
# ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="speakerlib")
class ChannelSplit(keras.layers.Layer):
    """Split the last axis into consecutive groups of the given sizes.

    Parameters
    ----------
    sizes : sequence of int >= 1
        Channels of each group, in order; they must add up to the input's
        channels.
    **kwargs
        Keras layer arguments (``name``, ``dtype``...).

    Input shape: ``(batch, frames, channels)`` (any rank; the last axis is split).
    Output: a list of ``len(sizes)`` tensors, ``(batch, frames, sizes[i])``.

    Examples
    --------
    >>> import numpy as np
    >>> parts = ChannelSplit([1, 2])(np.arange(6, dtype="float32").reshape(1, 2, 3))
    >>> [keras.ops.convert_to_numpy(p).tolist() for p in parts]
    [[[[0.0], [3.0]]], [[[1.0, 2.0], [4.0, 5.0]]]]
    """

    def __init__(self, sizes, **kwargs) -> None:
        super().__init__(**kwargs)
        try:
            sizes = list(sizes)
        except TypeError:
            sizes = None
        if not sizes or not all(is_int(s) and s >= 1 for s in sizes):
            raise ModelConfigError(
                f"ChannelSplit: expected sizes a non-empty list of ints >= 1, got {sizes!r}"
            )
        self.sizes = [int(s) for s in sizes]

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels != sum(self.sizes):
            raise ModelConfigError(
                f"ChannelSplit {self.name!r}: expected {sum(self.sizes)} channels "
                f"(the sum of sizes {self.sizes}), got input shape {tuple(input_shape)}"
            )

    def call(self, inputs):
        parts, start = [], 0
        for size in self.sizes:
            parts.append(inputs[..., start : start + size])
            start += size
        return parts

    def compute_output_shape(self, input_shape):
        return [(*input_shape[:-1], size) for size in self.sizes]

    def get_config(self) -> dict:
        return {**super().get_config(), "sizes": list(self.sizes)}


@keras.saving.register_keras_serializable(package="speakerlib")
class AttentiveStatisticsPooling(keras.layers.Layer):
    """Channel- and context-dependent attentive statistics pooling (ECAPA-TDNN, eqs. 1-3).

    For frames ``h_t`` (``C`` channels) and, with ``global_context``, the
    utterance's unweighted mean ``m`` and standard deviation ``s`` over time::

        e_t   = W2 tanh(W1 [h_t, m, s] + b1) + b2          (C scores per frame)
        alpha = softmax over t of e_t                       (per channel)
        mu    = sum_t alpha_t * h_t
        sigma = sqrt(sum_t alpha_t * (h_t - mu) ** 2 + eps)

    and returns ``[mu, sigma]``. ``W1`` maps ``3C`` (``C`` without the global
    context) to ``bottleneck_units``, ``W2`` back to ``C``; both carry biases.
    ``s = sqrt(var_t(h) + eps)``, the biased variance. No mask: a batch must
    hold utterances of one length.

    Parameters
    ----------
    bottleneck_units : int >= 1
        Hidden units of the attention (128 in the paper).
    global_context : bool
        Whether the attention sees the utterance's mean and deviation too
        (the paper's context-dependent variant).
    eps : float >= 0
        Added to both variances before the square root.
    kernel_regularizer : keras.regularizers.Regularizer or None
        Applied to both kernels.
    kernel_initializer : str or keras.initializers.Initializer
        Initialiser of both kernels.
    **kwargs
        Keras layer arguments (``name``, ``dtype``...).

    Input shape: ``(batch, frames, channels)``, ``frames`` may be None.
    Output shape: ``(batch, 2 * channels)``: the means, then the deviations.
    """

    def __init__(
        self,
        bottleneck_units: int = ECAPA_ATTENTION_BOTTLENECK,
        *,
        global_context: bool = True,
        eps: float = 1e-5,
        kernel_regularizer=None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not is_int(bottleneck_units) or bottleneck_units < 1:
            raise ModelConfigError(
                f"AttentiveStatisticsPooling: expected bottleneck_units an int >= 1, "
                f"got {bottleneck_units!r}"
            )
        if not isinstance(global_context, bool):
            raise ModelConfigError(
                f"AttentiveStatisticsPooling: expected global_context True or False, "
                f"got {global_context!r}"
            )
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
            raise ModelConfigError(
                f"AttentiveStatisticsPooling: expected eps a finite float >= 0, got {eps!r}"
            )
        self.bottleneck_units = int(bottleneck_units)
        self.global_context = global_context
        self.eps = float(eps)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if len(input_shape) != 3 or channels is None:
            raise ModelConfigError(
                f"AttentiveStatisticsPooling {self.name!r}: expected input (batch, frames, "
                f"channels) with known channels, got input shape {tuple(input_shape)}"
            )
        common = dict(
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
        )
        self.attention_hidden = keras.layers.Dense(
            self.bottleneck_units, activation="tanh", name="attention_hidden", **common
        )
        self.attention_scores = keras.layers.Dense(channels, name="attention_scores", **common)
        attention_in = 3 * channels if self.global_context else channels
        self.attention_hidden.build((input_shape[0], input_shape[1], attention_in))
        self.attention_scores.build((input_shape[0], input_shape[1], self.bottleneck_units))

    def call(self, inputs):
        x = inputs
        if self.global_context:
            mean = ops.mean(x, axis=1, keepdims=True)
            std = ops.sqrt(ops.mean(ops.square(x - mean), axis=1, keepdims=True) + self.eps)
            frames = ops.shape(x)[1]
            context = ops.concatenate(
                [x, ops.repeat(mean, frames, axis=1), ops.repeat(std, frames, axis=1)], axis=-1
            )
        else:
            context = x
        scores = self.attention_scores(self.attention_hidden(context))
        # softmax over time, written out: keras.ops.softmax warns on a one-frame input
        scores = ops.exp(scores - ops.max(scores, axis=1, keepdims=True))
        alpha = scores / ops.sum(scores, axis=1, keepdims=True)
        mu = ops.sum(alpha * x, axis=1)
        variance = ops.sum(alpha * ops.square(x - ops.expand_dims(mu, axis=1)), axis=1)
        sigma = ops.sqrt(variance + self.eps)
        return ops.concatenate([mu, sigma], axis=-1)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (input_shape[0], None if channels is None else 2 * channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "bottleneck_units": self.bottleneck_units,
                "global_context": self.global_context,
                "eps": self.eps,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
                if self.kernel_regularizer is not None
                else None,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config


# ----------------------------------------------------------------------------
# The builder
# ----------------------------------------------------------------------------


def _conv_relu_bn(
    x, filters: int, kernel: int, dilation: int, regularizer, prefix: str, suffix: str = ""
):
    """Conv1D ("same", with bias) -> ReLU -> BN, the paper's frame layer."""
    x = keras.layers.Conv1D(
        filters,
        kernel,
        dilation_rate=dilation,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=regularizer,
        name=f"{prefix}_conv{suffix}",
    )(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu{suffix}")(x)
    return keras.layers.BatchNormalization(name=f"{prefix}_bn{suffix}")(x)


def _res2net(x, channels: int, dilation: int, regularizer, prefix: str):
    """The Res2Net dilated convolution: 8 groups, 7 cascaded convolutions, 1 pass-through."""
    group = channels // RES2NET_SCALE
    sizes = [group] * (RES2NET_SCALE - 1) + [channels - group * (RES2NET_SCALE - 1)]
    parts = ChannelSplit(sizes, name=f"{prefix}_split")(x)
    outputs, y = [], None
    for i, part in enumerate(parts[:-1], start=1):
        if y is not None:
            part = keras.layers.Add(name=f"{prefix}_add{i}")([part, y])
        y = _conv_relu_bn(part, group, BLOCK_KERNEL, dilation, regularizer, prefix, str(i))
        outputs.append(y)
    outputs.append(parts[-1])
    return keras.layers.Concatenate(axis=-1, name=f"{prefix}_concat")(outputs)


def _se_res2block(x, channels: int, se_units: int, dilation: int, regularizer, prefix: str):
    residual = x
    x = _conv_relu_bn(x, channels, 1, 1, regularizer, f"{prefix}_in")
    x = _res2net(x, channels, dilation, regularizer, f"{prefix}_res2")
    x = _conv_relu_bn(x, channels, 1, 1, regularizer, f"{prefix}_out")
    gate = keras.layers.GlobalAveragePooling1D(keepdims=True, name=f"{prefix}_se_pool")(x)
    gate = keras.layers.Dense(
        se_units, activation="relu", kernel_regularizer=regularizer, name=f"{prefix}_se_squeeze"
    )(gate)
    gate = keras.layers.Dense(
        channels, activation="sigmoid", kernel_regularizer=regularizer,
        name=f"{prefix}_se_excite",
    )(gate)
    x = keras.layers.Multiply(name=f"{prefix}_se_scale")([x, gate])
    return keras.layers.Add(name=f"{prefix}_residual")([x, residual])


def ecapa_channels(width: float) -> dict[str, int]:
    """The channel counts of the model at ``width`` (see the module docstring).

    Returns
    -------
    dict
        ``channels`` (C), ``mfa`` (MFA output), ``se`` (SE bottleneck),
        ``attention`` (attention bottleneck), ``group`` (channels of each
        convolved Res2Net group).

    Raises
    ------
    ModelConfigError
        If C would be under 8 (one channel per Res2Net group).
    """
    channels = scale_channels(ECAPA_CHANNELS, width)
    if channels < RES2NET_SCALE:
        raise ModelConfigError(
            f"build_embedding_model('ecapa'): expected width >= "
            f"{(RES2NET_SCALE - 0.5) / ECAPA_CHANNELS:.4f} (C = round({ECAPA_CHANNELS} * width) at "
            f"least {RES2NET_SCALE}, one channel per Res2Net group), got width={width!r} "
            f"(C = {channels})"
        )
    shrink = min(1.0, width / PAPER_SMALL_WIDTH)
    return {
        "channels": channels,
        "mfa": scale_channels(ECAPA_MFA_CHANNELS, shrink),
        "se": scale_channels(ECAPA_SE_BOTTLENECK, shrink),
        "attention": scale_channels(ECAPA_ATTENTION_BOTTLENECK, shrink),
        "group": channels // RES2NET_SCALE,
    }


def build_ecapa(
    input_shape=(None, 80, 1),
    *,
    embedding_dim: int = ECAPA_EMBEDDING_DIM,
    weight_decay: float = 1e-5,
    width: float = 1.0,
    pooling: str | None = None,
) -> keras.Model:
    """Build the ECAPA-TDNN embedding model (see the module docstring).

    Use :func:`speakerlib.models.build_embedding_model` (it checks the
    settings and handles the seed); this builder assumes checked settings.

    Parameters
    ----------
    input_shape : (frames, bins, 1)
        ``frames`` an int >= 1 or None (variable length), ``bins`` an int >= 1
        (80 log mel filterbanks in the paper); the bins become the channels.
    embedding_dim : int >= 1
        Units of the final Dense + BN (the paper: 192).
    weight_decay : float >= 0
        L2 penalty on every conv and dense kernel (SE's and the attention's
        included); 0 disables it.
    width : float >= 0.0073
        C = ``round(1024 * width)``: 1.0 is the paper's C = 1024 model, 0.5
        its C = 512 model; below 0.5 the MFA and the bottlenecks shrink too.
    pooling : None or "stats"
        None: the attentive statistics pooling with global context (the
        paper's); "stats": unweighted mean and standard deviation over time
        (:class:`~speakerlib.models.layers.StatisticsPooling`). Both give
        twice the MFA's channels.

    Returns
    -------
    keras.Model named ``"ecapa_embedding"``
        ``(batch, frames, bins, 1) float32 -> (batch, embedding_dim) float32``.

    Raises
    ------
    ModelConfigError
        (a ValueError) for a bad input shape, pooling or a width under 0.0073.
    """
    shape = check_input_shape("ecapa", input_shape, min_bins=1, reason=(
        "ECAPA-TDNN takes the bins as the channels of 1-D convolutions over time and has no stride"))
    pooling = check_pooling("ecapa", pooling, POOLINGS)
    sizes = ecapa_channels(width)
    channels = sizes["channels"]
    regularizer = kernel_regularizer(weight_decay)

    inputs = keras.Input(shape=shape, dtype="float32", name="features")
    x = keras.layers.Reshape((-1, shape[1]), name="bins_as_channels")(inputs)
    x = _conv_relu_bn(x, channels, STEM_KERNEL, 1, regularizer, "stem")
    stem = x
    outputs = []
    for block, dilation in enumerate(BLOCK_DILATIONS, start=1):
        if outputs:
            x = keras.layers.Add(name=f"block{block}_input")([stem, *outputs])
        x = _se_res2block(x, channels, sizes["se"], dilation, regularizer, f"block{block}")
        outputs.append(x)

    x = keras.layers.Concatenate(axis=-1, name="mfa_concat")(outputs)
    x = keras.layers.Conv1D(
        sizes["mfa"], 1, kernel_initializer="he_normal", kernel_regularizer=regularizer,
        name="mfa_conv",
    )(x)
    x = keras.layers.ReLU(name="mfa_relu")(x)
    if pooling is None:
        x = AttentiveStatisticsPooling(
            sizes["attention"], global_context=True, kernel_regularizer=regularizer,
            dtype="float32", name="temporal_pooling",
        )(x)
    else:
        x = StatisticsPooling(dtype="float32", name="temporal_pooling")(x)
    x = keras.layers.BatchNormalization(dtype="float32", name="pooling_bn")(x)
    x = keras.layers.Dense(
        embedding_dim, use_bias=False, kernel_initializer="glorot_uniform",
        kernel_regularizer=regularizer, dtype="float32", name="embedding_dense",
    )(x)
    outputs = keras.layers.BatchNormalization(dtype="float32", name="embedding_bn")(x)
    return keras.Model(inputs, outputs, name="ecapa_embedding")
