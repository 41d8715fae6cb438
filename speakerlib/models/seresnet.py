"""The reference implementation's SE-ResNet speaker encoder.

A small residual network with squeeze-and-excitation, the model the seed
proposes. With channels times ``width``::

    input (frames, bins, 1)
    stem: conv 3x3, 64 channels -> BN -> ELU -> max-pool 2x2
    3 residual blocks with 256, 256, 512 output channels, each:
        bottleneck unit, stride 2, projection shortcut (conv 1x1 stride 2 -> BN)
        bottleneck unit, stride 1, identity shortcut
        squeeze-excitation (reduction 8)
        dropout 0.1
    bottleneck unit: conv 1x1 -> BN -> ELU -> conv 3x3 (carries the stride)
        -> BN -> ELU -> conv 1x1 -> BN, + shortcut -> ELU;
        inner width = output channels / 4 (64, 64, 128)
    mean over time and frequency              (pooling="stats": see below)
    Dense(embedding_dim) -> BN -> ELU: the embedding

The inner width is not recorded in the seed; output / 4 (ResNet's
bottleneck ratio) gives 1,384,384 parameters on ``(299, 40, 1)`` with
``embedding_dim=512`` (1,375,040 trainable, 9,344 BN moving statistics),
against the reference's "about 1.39 M". With the biases Keras adds by
default to every conv and to the Dense (4,672 parameters, all cancelled by
the batch norms that follow, left out here) the count would be 1,389,056,
1.39 M: the reference most likely used this ratio. The count does not
depend on the input size with the own pooling.

Layout choices the seed leaves open: ELU everywhere (the stem's activation),
one SE per block applied to the output of its second unit, dropout after the
SE, max-pool with ``"same"`` padding (time x frequency: 299 x 40 -> 150 x 20
after the pool -> 75 x 10 -> 38 x 5 -> 19 x 3 after the blocks; total
stride 16). Convolutions (and the Dense) feeding a BN have no bias.

``pooling="stats"`` flattens frequency and channels, as the ResNets do, and
takes mean and standard deviation over time: on 40 bins that is
2 * 3 * 512 = 3072 features, so the Dense grows to 1,572,864 weights
(2,695,104 parameters in all).
"""

from __future__ import annotations

import keras

from speakerlib.models.layers import (
    conv2d,
    POOLINGS,
    SqueezeExcitation,
    check_input_shape,
    check_pooling,
    flatten_frequency,
    kernel_regularizer,
    pool_over_time,
    scale_channels,
)

__all__ = [
    "build_seresnet",
    "SERESNET_STEM_CHANNELS",
    "SERESNET_CHANNELS",
    "SERESNET_INNER_RATIO",
    "SE_REDUCTION",
    "DROPOUT_RATE",
    "TOTAL_STRIDE",
]

#: Channels of the 3x3 stem at width 1.
SERESNET_STEM_CHANNELS = 64
#: Output channels of the three residual blocks at width 1.
SERESNET_CHANNELS = (256, 256, 512)
#: Output channels of a bottleneck unit divided by its inner channels.
SERESNET_INNER_RATIO = 4
#: Squeeze-excitation reduction ratio.
SE_REDUCTION = 8
#: Dropout after each block.
DROPOUT_RATE = 0.1
#: Downsampling of time and frequency: max-pool 2, three stride-2 blocks.
TOTAL_STRIDE = 16




def _bottleneck_unit(x, inner: int, out: int, stride: int, regularizer, prefix: str):
    if stride == 1 and x.shape[-1] == out:
        shortcut = x
    else:
        shortcut = conv2d(out, 1, stride, regularizer, f"{prefix}_proj_conv")(x)
        shortcut = keras.layers.BatchNormalization(name=f"{prefix}_proj_bn")(shortcut)
    x = conv2d(inner, 1, 1, regularizer, f"{prefix}_conv1")(x)
    x = keras.layers.BatchNormalization(name=f"{prefix}_bn1")(x)
    x = keras.layers.ELU(name=f"{prefix}_elu1")(x)
    x = conv2d(inner, 3, stride, regularizer, f"{prefix}_conv2")(x)
    x = keras.layers.BatchNormalization(name=f"{prefix}_bn2")(x)
    x = keras.layers.ELU(name=f"{prefix}_elu2")(x)
    x = conv2d(out, 1, 1, regularizer, f"{prefix}_conv3")(x)
    x = keras.layers.BatchNormalization(name=f"{prefix}_bn3")(x)
    x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    return keras.layers.ELU(name=f"{prefix}_out")(x)


def build_seresnet(
    input_shape=(299, 40, 1),
    *,
    embedding_dim: int = 512,
    weight_decay: float = 1e-5,
    width: float = 1.0,
    pooling: str | None = None,
) -> keras.Model:
    """Build the reference's SE-ResNet embedding model (see the module docstring).

    Use :func:`speakerlib.models.build_embedding_model` (it checks the
    settings and handles the seed); this builder assumes checked settings.

    Parameters
    ----------
    input_shape : (frames, bins, 1)
        ``frames`` an int >= 9 or None (variable length), ``bins`` an int >= 9.
    embedding_dim : int >= 1
        Units of the final Dense + BN + ELU.
    weight_decay : float >= 0
        L2 penalty on every conv and dense kernel (SE's included); 0 disables it.
    width : float > 0
        Multiplies every channel count (rounded, at least 1); the SE hidden
        size is ``channels // 8``, at least 1.
    pooling : None or "stats"
        None: mean over time and frequency (the reference); "stats": mean and
        standard deviation over time of the frequency-flattened map.

    Returns
    -------
    keras.Model named ``"seresnet_embedding"``
        ``(batch, frames, bins, 1) float32 -> (batch, embedding_dim) float32``;
        after the ELU every value is > -1.

    Raises
    ------
    ModelConfigError
        (a ValueError) for a bad input shape or pooling.
    """
    shape = check_input_shape("seresnet", input_shape, total_stride=TOTAL_STRIDE)
    pooling = check_pooling("seresnet", pooling, POOLINGS)
    regularizer = kernel_regularizer(weight_decay)

    inputs = keras.Input(shape=shape, dtype="float32", name="features")
    x = conv2d(scale_channels(SERESNET_STEM_CHANNELS, width), 3, 1, regularizer, "stem_conv3x3")(
        inputs
    )
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ELU(name="stem_elu")(x)
    x = keras.layers.MaxPooling2D(2, padding="same", name="stem_pool")(x)
    for block, channels in enumerate(SERESNET_CHANNELS, start=1):
        out = scale_channels(channels, width)
        inner = scale_channels(channels / SERESNET_INNER_RATIO, width)
        prefix = f"block{block}"
        x = _bottleneck_unit(x, inner, out, 2, regularizer, f"{prefix}_unit1")
        x = _bottleneck_unit(x, inner, out, 1, regularizer, f"{prefix}_unit2")
        x = SqueezeExcitation(
            SE_REDUCTION,
            kernel_regularizer=regularizer,
            kernel_initializer="glorot_uniform",
            name=f"{prefix}_se",
        )(x)
        x = keras.layers.Dropout(DROPOUT_RATE, name=f"{prefix}_dropout")(x)

    if pooling is None:
        x = keras.layers.GlobalAveragePooling2D(dtype="float32", name="mean_pooling")(x)
    else:
        x = flatten_frequency(x, name="flatten_frequency")
        x = pool_over_time(x, pooling, name="temporal_pooling")
    x = keras.layers.Dense(
        embedding_dim,
        use_bias=False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=regularizer,
        name="embedding_dense",
    )(x)
    x = keras.layers.BatchNormalization(name="embedding_bn")(x)
    outputs = keras.layers.ELU(dtype="float32", name="embedding_elu")(x)
    return keras.Model(inputs, outputs, name="seresnet_embedding")
