"""DeepSpeaker's ResCNN (Li et al. 2017, arXiv 1705.02304), as the reference builds it.

Architecture, with ``c = (64, 128, 256, 512)`` channels times ``width``::

    input (frames, bins, 1)
    4 x stage s:
        conv 5x5 stride 2, c[s] channels  -> BN -> clipped ReLU
        3 x residual block:
            conv 3x3 -> BN -> clipped ReLU -> conv 3x3 -> BN
            + identity shortcut -> clipped ReLU
    reshape (frames', bins' * c[3])       (frequency and channels flattened)
    average over time                     (or mean and std with pooling="stats")
    Dense(embedding_dim), affine (no activation)
    L2 normalisation                      (every embedding has norm 1)

Clipped ReLU is ``min(max(x, 0), 20)``. Convolutions use ``"same"`` padding,
so each stride-2 conv maps ``n`` to ``ceil(n / 2)``: with 299 frames the
time axis goes 299 -> 150 -> 75 -> 38 -> 19. Along frequency:

* 40 bins (the reference's filterbanks): 40 -> 20 -> 10 -> 5 -> 3, so the
  time average is over 1536 = 3 * 512 features per frame;
* 64 bins (the DeepSpeaker paper's): 64 -> 32 -> 16 -> 8 -> 4, 2048 = 4 * 512
  features per frame, as in the paper's reshape to 2048.

Parameters at width 1 with ``embedding_dim=512``: 23,916,864 on
``(299, 40, 1)`` (23,903,424 trainable, 13,440 BN moving statistics) and
24,179,008 with 64 bins; the frame count does not matter. Almost all of them
are in the residual blocks (18.8 M) and the stride-2 convs (4.3 M); only the
final Dense depends on the number of bins. The reference's own versions
reportedly range from about 14 M to 23 M parameters; this build is the full
layout above.

Differences from the reference, on purpose: convolutions feeding a batch norm
carry no bias (a bias before BN is cancelled by its mean subtraction; the
reference has them, 6,720 parameters that do nothing); conv kernels use He
initialisation instead of Glorot's (the activations are ReLUs).
"""

from __future__ import annotations

import keras

from speakerlib.models.layers import (
    conv2d,
    CLIPPED_RELU_CEILING,
    POOLINGS,
    check_input_shape,
    check_pooling,
    flatten_frequency,
    kernel_regularizer,
    pool_over_time,
    scale_channels,
)

__all__ = ["build_deepspeaker", "DEEPSPEAKER_CHANNELS", "DEEPSPEAKER_BLOCKS", "TOTAL_STRIDE"]

#: Channels of the four stages at width 1.
DEEPSPEAKER_CHANNELS = (64, 128, 256, 512)
#: Residual blocks per stage.
DEEPSPEAKER_BLOCKS = 3
#: Downsampling of time and frequency by the four stride-2 convs.
TOTAL_STRIDE = 16


def _clipped_relu(name: str):
    return keras.layers.ReLU(max_value=CLIPPED_RELU_CEILING, name=name)




def _residual_block(x, filters: int, regularizer, prefix: str):
    shortcut = x
    x = conv2d(filters, 3, 1, regularizer, f"{prefix}_conv1")(x)
    x = keras.layers.BatchNormalization(name=f"{prefix}_bn1")(x)
    x = _clipped_relu(f"{prefix}_relu1")(x)
    x = conv2d(filters, 3, 1, regularizer, f"{prefix}_conv2")(x)
    x = keras.layers.BatchNormalization(name=f"{prefix}_bn2")(x)
    x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    return _clipped_relu(f"{prefix}_out")(x)


def build_deepspeaker(
    input_shape=(299, 40, 1),
    *,
    embedding_dim: int = 512,
    weight_decay: float = 1e-5,
    width: float = 1.0,
    pooling: str | None = None,
) -> keras.Model:
    """Build DeepSpeaker's ResCNN embedding model (see the module docstring).

    Use :func:`speakerlib.models.build_embedding_model` (it checks the
    settings and handles the seed); this builder assumes checked settings.

    Parameters
    ----------
    input_shape : (frames, bins, 1)
        ``frames`` an int >= 9 or None (variable length), ``bins`` an int >= 9.
    embedding_dim : int >= 1
        Size of the L2-normalised embedding.
    weight_decay : float >= 0
        L2 penalty on every conv and dense kernel; 0 disables it.
    width : float > 0
        Multiplies the four stages' channels (rounded, at least 1).
    pooling : None or "stats"
        None: average over time (the paper); "stats": mean and standard
        deviation over time, concatenated.

    Returns
    -------
    keras.Model named ``"deepspeaker_embedding"``
        ``(batch, frames, bins, 1) float32 -> (batch, embedding_dim) float32``,
        each row of unit L2 norm.

    Raises
    ------
    ModelConfigError
        (a ValueError) for a bad input shape or pooling.
    """
    shape = check_input_shape("deepspeaker", input_shape, total_stride=TOTAL_STRIDE)
    pooling = check_pooling("deepspeaker", pooling, POOLINGS)
    regularizer = kernel_regularizer(weight_decay)

    inputs = keras.Input(shape=shape, dtype="float32", name="features")
    x = inputs
    for stage, channels in enumerate(DEEPSPEAKER_CHANNELS, start=1):
        filters = scale_channels(channels, width)
        prefix = f"stage{stage}"
        x = conv2d(filters, 5, 2, regularizer, f"{prefix}_conv5x5")(x)
        x = keras.layers.BatchNormalization(name=f"{prefix}_bn")(x)
        x = _clipped_relu(f"{prefix}_relu")(x)
        for block in range(1, DEEPSPEAKER_BLOCKS + 1):
            x = _residual_block(x, filters, regularizer, f"{prefix}_block{block}")

    x = flatten_frequency(x, name="flatten_frequency")
    x = pool_over_time(x, pooling, name="temporal_pooling")
    x = keras.layers.Dense(
        embedding_dim,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=regularizer,
        name="embedding_affine",
    )(x)
    outputs = keras.layers.UnitNormalization(axis=-1, dtype="float32", name="l2_normalize")(x)
    return keras.Model(inputs, outputs, name="deepspeaker_embedding")
