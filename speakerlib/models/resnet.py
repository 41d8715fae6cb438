"""Thin ResNet-34 and ResNet-50 speaker encoders (the VggVox line).

Chung et al. 2018 (VoxCeleb2, arXiv 1806.05622) used ResNet-34 and -50 on
spectrograms; the "thin" variants (Xie et al. 2019, Chung et al. 2020) keep
the depth and use a quarter of ImageNet ResNet's channels. Here, with
``c = (32, 64, 128, 256)`` channels times ``width``::

    input (frames, bins, 1)
    stem: conv 7x7 stride 2, c[0] channels -> BN -> ReLU -> max-pool 2x2
    4 stages of [3, 4, 6, 3] residual blocks; the first block of stages 2-4
    has stride 2
        resnet34: basic block, conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN,
                  c[s] output channels
        resnet50: bottleneck block, conv 1x1 -> BN -> ReLU -> conv 3x3
                  (carries the stride) -> BN -> ReLU -> conv 1x1 -> BN,
                  c[s] inner and 4 * c[s] output channels
        shortcut: identity when the shape is unchanged; otherwise a
                  projection, conv 1x1 with the block's stride -> BN
        + shortcut -> ReLU
    reshape (frames', bins' * channels)        (frequency and channels flattened)
    average over time                          (or mean and std, pooling="stats")
    Dense(embedding_dim), affine: the embedding (not normalised)

Choices, and why:

* **Stem with a 2x2 max-pool** (stride 2, ``"same"`` padding), as in
  ImageNet's ResNet and VggVox's thin ResNet. It divides the work of every
  later layer by 4, which is what makes CPU training possible: measured
  here (299 x 40, batch 32, training, 2 shared cores), resnet34 at width 1
  ran at about 24 samples/s with the pool against 16 without (28 against 8 in a
  busier run), at width 0.5 about 115 against 43. The price is resolution:
  the total stride is 32, so 299 x 40 ends as 10 x 2 after the last stage
  (19 x 3 without the pool), and inputs need at least 17 frames and bins.
  ``build_resnet(..., stem_pool=False)`` builds the variant without it.
* **Pooling: flatten, then average over time**, as DeepSpeaker does, not
  VggVox's frequency-collapsing convolution: the same head then serves the
  mean ("own") and mean+std ("stats") poolings, and the stats pooling is
  the one of the modern ResNet recipes (WeSpeaker), which flatten
  frequency x channels the same way.
* **Correct projection shortcuts** (1x1 conv + BN, with the block's stride)
  wherever the number of channels or the resolution changes: stages 2-4's
  first block, and stage 1's first block of resnet50 (32 -> 128 channels).
  The reference implementation's shortcut is broken; it is not copied.
* Bottleneck blocks put the stride on the 3x3 conv ("ResNet v1.5").
* Convolutions feeding a BN have no bias; He-normal conv initialisation.

Parameters at width 1, ``embedding_dim=512``, on ``(299, 40, 1)``:
resnet34 5,595,808 (5,587,296 trainable, 8,512 BN moving statistics);
resnet50 6,965,152 (6,938,592 trainable). Only the final Dense depends on
the input: 2 frequency cells at the end for 40 or 64 bins, 9 for 257
spectrogram bins (resnet34 6,513,312, resnet50 10,635,168 parameters).
With ``pooling="stats"`` the Dense takes twice as many features.
"""

from __future__ import annotations

import keras

from speakerlib.models.layers import (
    conv2d,
    POOLINGS,
    ModelConfigError,
    check_input_shape,
    check_pooling,
    flatten_frequency,
    kernel_regularizer,
    pool_over_time,
    scale_channels,
)

__all__ = [
    "build_resnet",
    "build_resnet34",
    "build_resnet50",
    "RESNET_CHANNELS",
    "RESNET_BLOCKS",
    "BOTTLENECK_EXPANSION",
    "TOTAL_STRIDE",
]

#: Channels of the four stages at width 1 (inner channels for bottlenecks).
RESNET_CHANNELS = (32, 64, 128, 256)
#: Blocks per stage, ResNet-34 and ResNet-50 alike.
RESNET_BLOCKS = (3, 4, 6, 3)
#: Output channels of a bottleneck block, relative to its inner channels.
BOTTLENECK_EXPANSION = 4
#: Downsampling of time and frequency: stem conv 2, max-pool 2, stages 2-4 2 each.
TOTAL_STRIDE = 32




def _bn(name: str):
    return keras.layers.BatchNormalization(name=name)


def _shortcut(x, filters: int, stride: int, regularizer, prefix: str):
    """Identity, or a 1x1 conv + BN projection when the shape changes."""
    if stride == 1 and x.shape[-1] == filters:
        return x
    x = conv2d(filters, 1, stride, regularizer, f"{prefix}_proj_conv")(x)
    return _bn(f"{prefix}_proj_bn")(x)


def _basic_block(x, filters: int, stride: int, regularizer, prefix: str):
    shortcut = _shortcut(x, filters, stride, regularizer, prefix)
    x = conv2d(filters, 3, stride, regularizer, f"{prefix}_conv1")(x)
    x = _bn(f"{prefix}_bn1")(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu1")(x)
    x = conv2d(filters, 3, 1, regularizer, f"{prefix}_conv2")(x)
    x = _bn(f"{prefix}_bn2")(x)
    x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(x)


def _bottleneck_block(x, filters: int, stride: int, regularizer, prefix: str):
    out_filters = BOTTLENECK_EXPANSION * filters
    shortcut = _shortcut(x, out_filters, stride, regularizer, prefix)
    x = conv2d(filters, 1, 1, regularizer, f"{prefix}_conv1")(x)
    x = _bn(f"{prefix}_bn1")(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu1")(x)
    x = conv2d(filters, 3, stride, regularizer, f"{prefix}_conv2")(x)
    x = _bn(f"{prefix}_bn2")(x)
    x = keras.layers.ReLU(name=f"{prefix}_relu2")(x)
    x = conv2d(out_filters, 1, 1, regularizer, f"{prefix}_conv3")(x)
    x = _bn(f"{prefix}_bn3")(x)
    x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(x)


def build_resnet(
    depth: int,
    input_shape=(299, 40, 1),
    *,
    embedding_dim: int = 512,
    weight_decay: float = 1e-5,
    width: float = 1.0,
    pooling: str | None = None,
    stem_pool: bool = True,
) -> keras.Model:
    """Build a thin ResNet-34 or ResNet-50 embedding model (see the module docstring).

    Use :func:`speakerlib.models.build_embedding_model` (it checks the
    settings and handles the seed); this builder assumes checked settings.

    Parameters
    ----------
    depth : {34, 50}
        34: basic blocks; 50: bottleneck blocks.
    input_shape : (frames, bins, 1)
        ``frames`` an int >= 17 or None (variable length), ``bins`` an int >= 17
        (9 with ``stem_pool=False``).
    embedding_dim : int >= 1
    weight_decay : float >= 0
        L2 penalty on every conv and dense kernel; 0 disables it.
    width : float > 0
        Multiplies every channel count (rounded, at least 1).
    pooling : None or "stats"
        None: average over time of the flattened map; "stats": mean and
        standard deviation over time, concatenated.
    stem_pool : bool
        Whether the stem ends with the 2x2 max-pool (the default, and the only
        choice :func:`~speakerlib.models.build_embedding_model` makes).
        Without it the total stride is 16 and training costs about 4 times
        more (the ablation of the module docstring).

    Returns
    -------
    keras.Model named ``"resnet34_embedding"`` or ``"resnet50_embedding"``
        ``(batch, frames, bins, 1) float32 -> (batch, embedding_dim) float32``.

    Raises
    ------
    ModelConfigError
        (a ValueError) for another depth, a bad input shape or pooling.
    """
    if depth not in (34, 50):
        raise ModelConfigError(f"build_resnet: expected depth 34 or 50, got {depth!r}")
    name = f"resnet{depth}"
    total_stride = TOTAL_STRIDE if stem_pool else TOTAL_STRIDE // 2
    shape = check_input_shape(name, input_shape, total_stride=total_stride)
    pooling = check_pooling(name, pooling, POOLINGS)
    regularizer = kernel_regularizer(weight_decay)
    block_fn = _basic_block if depth == 34 else _bottleneck_block

    inputs = keras.Input(shape=shape, dtype="float32", name="features")
    x = conv2d(scale_channels(RESNET_CHANNELS[0], width), 7, 2, regularizer, "stem_conv7x7")(inputs)
    x = _bn("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    if stem_pool:
        x = keras.layers.MaxPooling2D(2, padding="same", name="stem_pool")(x)
    for stage, (channels, blocks) in enumerate(zip(RESNET_CHANNELS, RESNET_BLOCKS), start=1):
        filters = scale_channels(channels, width)
        for block in range(1, blocks + 1):
            stride = 2 if (stage > 1 and block == 1) else 1
            x = block_fn(x, filters, stride, regularizer, f"stage{stage}_block{block}")

    x = flatten_frequency(x, name="flatten_frequency")
    x = pool_over_time(x, pooling, name="temporal_pooling")
    outputs = keras.layers.Dense(
        embedding_dim,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=regularizer,
        dtype="float32",
        name="embedding",
    )(x)
    return keras.Model(inputs, outputs, name=f"{name}_embedding")


def build_resnet34(input_shape=(299, 40, 1), **settings) -> keras.Model:
    """:func:`build_resnet` with ``depth=34`` (basic blocks)."""
    return build_resnet(34, input_shape, **settings)


def build_resnet50(input_shape=(299, 40, 1), **settings) -> keras.Model:
    """:func:`build_resnet` with ``depth=50`` (bottleneck blocks, expansion 4)."""
    return build_resnet(50, input_shape, **settings)
