"""Speaker embedding models: a registry of five architectures and one builder.

Every model maps a batch of feature maps, time first and frequency second,
to one embedding per utterance::

    (batch, frames, bins, 1) float32  ->  (batch, embedding_dim) float32

=============  =====================================================  ===========
name           architecture                                           parameters
=============  =====================================================  ===========
deepspeaker    DeepSpeaker ResCNN (Li et al. 2017), L2-normalised      23,916,864
resnet34       thin ResNet-34, basic blocks (VggVox line)               5,595,808
resnet50       thin ResNet-50, bottleneck blocks                        6,965,152
seresnet       the reference's SE-ResNet                                1,384,384
ecapa          ECAPA-TDNN (Desplanques et al. 2020), C = 1024          14,478,720
=============  =====================================================  ===========

(on ``(299, 40, 1)``, width 1, each family's default ``embedding_dim``
(:data:`DEFAULT_EMBEDDING_DIMS`: 512, and 192 for ECAPA-TDNN), own pooling;
trainable and non-trainable weights together, as :func:`count_parameters`
counts them. ECAPA-TDNN on the paper's 80 bins: 14,683,520 at width 1
(C = 1024), 6,207,296 at width 0.5 (C = 512); trainable only
14,657,280 and 6,190,912, the paper's 14.7 M and 6.2 M.)

``frames`` may be None: the models pool over time, so one model evaluates
utterances of any length (at least 9 frames, 17 for the ResNets, whose
stem max-pools; 1 for ECAPA-TDNN, which has no stride). Pooling has no
mask: a batch must hold utterances of one length. The frequency axis must be
known, since the heads flatten frequency x channels (the number of bins sets
the size of the final Dense for all but the SE-ResNet's own pooling) and
ECAPA-TDNN takes the bins as the channels of its 1-D convolutions.

The package also holds what training puts around an embedding model:
:mod:`~speakerlib.models.losses` (the cosine classifier, AAM softmax, the
batch-hard triplet loss and its batches) and :mod:`~speakerlib.models.augment`
(SpecAugment). One file per architecture family
(:mod:`~speakerlib.models.deepspeaker`, :mod:`~speakerlib.models.resnet`,
:mod:`~speakerlib.models.seresnet`, :mod:`~speakerlib.models.ecapa`), their
shared layers and checks in
:mod:`~speakerlib.models.layers`.

Saving: ``model.save("x.keras")`` and ``keras.saving.load_model("x.keras",
safe_mode=True)`` round-trip exactly; import :mod:`speakerlib.models` before
loading: it registers every custom layer and loss of the package
(:class:`StatisticsPooling`, :class:`SqueezeExcitation`, ECAPA-TDNN's
:class:`AttentiveStatisticsPooling` and :class:`ChannelSplit`, SpecAugment,
the cosine classifier and the losses).

Examples
--------
>>> from speakerlib.models import build_embedding_model, count_parameters
>>> model = build_embedding_model("resnet34", (None, 40, 1), width=0.25, seed=0)
>>> model.name, model.output_shape
('resnet34_embedding', (None, 512))
"""

from __future__ import annotations

from collections.abc import Callable

from speakerlib import registry, seeds
from speakerlib._tensorflow import keras
from speakerlib.errors import ConfigTypeError, ModelConfigError, UnknownModelError
from speakerlib.models import augment, losses  # noqa: F401  (registers their layers and losses)
from speakerlib.models.deepspeaker import build_deepspeaker
from speakerlib.models.ecapa import AttentiveStatisticsPooling, ChannelSplit, build_ecapa
from speakerlib.models.layers import SqueezeExcitation, StatisticsPooling, check_settings
from speakerlib.models.resnet import build_resnet34, build_resnet50
from speakerlib.models.seresnet import build_seresnet

__all__ = [
    "MODEL_NAMES",
    "DEFAULT_EMBEDDING_DIMS",
    "build_embedding_model",
    "count_parameters",
    "ModelConfigError",
    "UnknownModelError",
    "StatisticsPooling",
    "SqueezeExcitation",
    "AttentiveStatisticsPooling",
    "ChannelSplit",
    "describe",
]

#: The registered architectures, in the order the course presents them.
MODEL_NAMES = registry.MODELS

_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "deepspeaker": build_deepspeaker,
    "resnet34": build_resnet34,
    "resnet50": build_resnet50,
    "seresnet": build_seresnet,
    "ecapa": build_ecapa,
}
assert tuple(_BUILDERS) == MODEL_NAMES

#: Each family's embedding size when ``embedding_dim`` is None (its paper's; the
#: same default as its builder's).
DEFAULT_EMBEDDING_DIMS: dict[str, int] = {
    "deepspeaker": 512,
    "resnet34": 512,
    "resnet50": 512,
    "seresnet": 512,
    "ecapa": 192,
}
assert tuple(DEFAULT_EMBEDDING_DIMS) == MODEL_NAMES


def build_embedding_model(
    name: str,
    input_shape=(299, 40, 1),
    *,
    embedding_dim: int | None = None,
    weight_decay: float = 1e-5,
    width: float = 1.0,
    pooling: str | None = None,
    seed: int | None = None,
) -> keras.Model:
    """Build a speaker embedding model by name.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`: ``"deepspeaker"``, ``"resnet34"``,
        ``"resnet50"``, ``"seresnet"``, ``"ecapa"``.
    input_shape : (frames, bins, 1)
        Feature maps, time first, frequency second, one channel. ``frames``
        an int or None (variable length); ``bins`` an int. Both at least
        half the model's total stride plus one, so that every stride-2 layer
        halves at least 2 cells: 9 for deepspeaker and seresnet (stride 16),
        17 for the ResNets (stride 32); ECAPA-TDNN (no stride) takes any
        ``frames >= 1`` and ``bins >= 1``. ``(299, 40, 1)`` is 3 s of 40
        filterbanks at a 10 ms hop, the reference's features.
    embedding_dim : int >= 1 or None
        Size of the embedding; None: the family's own
        (:data:`DEFAULT_EMBEDDING_DIMS`: 512, the reference's, for the first
        four; 192, the paper's, for ECAPA-TDNN).
    weight_decay : float >= 0
        L2 regulariser on every conv and dense kernel, ``weight_decay *
        sum(w ** 2)`` added to the loss (the reference: 1e-5); 0 disables it.
    width : float > 0
        Multiplies every channel count (rounded, at least 1). 1.0 is the
        paper's (reference's) architecture; smaller widths make CPU training
        feasible. Compute grows roughly with ``width ** 2``. ECAPA-TDNN:
        1.0 is the paper's C = 1024 model and 0.5 its C = 512 model (see
        :mod:`~speakerlib.models.ecapa`); it needs ``width >= 0.0073``.
    pooling : None or "stats"
        None: the architecture's own pooling (DeepSpeaker and the ResNets:
        average over time of the map flattened over frequency x channels;
        SE-ResNet: mean over time and frequency; ECAPA-TDNN: attentive
        statistics pooling with global context). "stats": mean and standard
        deviation over time of the flattened map (ECAPA-TDNN: of its MFA
        output), concatenated (accepted by every model).
    seed : int >= 0 or None
        When given, :func:`speakerlib.seeds.set_global_seed` is called before
        building, so two builds with one seed have identical initial weights.
        This seeds Python's ``random``, NumPy's and TensorFlow's global
        generators too (Keras offers no narrower switch).

    Returns
    -------
    keras.Model
        Named ``f"{name}_embedding"``; input ``(batch, frames, bins, 1)``
        float32, output ``(batch, embedding_dim)`` float32. Not compiled.

    Raises
    ------
    UnknownModelError
        (a KeyError) if ``name`` is not registered; the message lists
        :data:`MODEL_NAMES`.
    ModelConfigError
        (a ValueError) for a bad input shape (not 3-D, channels != 1,
        unknown bins, too few frames or bins for the strides), an
        unsupported pooling, or a setting out of range.

    Examples
    --------
    >>> model = build_embedding_model("deepspeaker", (299, 40, 1), width=0.25, seed=1)
    >>> model.input_shape, model.output_shape
    ((None, 299, 40, 1), (None, 512))
    """
    if not isinstance(name, str) or name not in _BUILDERS:
        raise UnknownModelError(
            f"build_embedding_model: expected a model name in {list(MODEL_NAMES)}, "
            f"got {name!r}"
        )
    if embedding_dim is None:
        embedding_dim = DEFAULT_EMBEDDING_DIMS[name]
    check_settings(
        name, embedding_dim=embedding_dim, weight_decay=weight_decay, width=width, seed=seed
    )
    if seed is not None:
        seeds.set_global_seed(seed)
    return _BUILDERS[name](
        input_shape,
        embedding_dim=int(embedding_dim),
        weight_decay=float(weight_decay),
        width=float(width),
        pooling=pooling,
    )


def count_parameters(model: keras.Model) -> int:
    """Number of weights of a built model: trainable and non-trainable.

    Non-trainable weights are the batch norms' moving means and variances.
    Random-seed state (of dropout layers) and optimizer slots are not counted.

    Parameters
    ----------
    model : keras.Model or keras.layers.Layer
        Built (a functional model always is).

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``model`` is not a Keras layer or model.
    ModelConfigError
        If the model is not built yet (its weights do not exist).
    """
    if not isinstance(model, keras.layers.Layer):
        raise ConfigTypeError(
            f"count_parameters: expected a keras.Model, got {type(model).__name__}"
        )
    if not model.built:
        raise ModelConfigError(
            f"count_parameters: model {model.name!r} is not built; call it on a batch "
            f"or build it with an input shape first"
        )
    total = 0
    for weight in model.weights:
        size = 1
        for dim in weight.shape:
            size *= int(dim)
        total += size
    return total


def describe(model: keras.Model):
    """A compact table of a model: one row per stage or block instead of per layer.

    Layers are grouped by the prefix of their names (``stem``, ``stage1``,
    ``block2``, ``mfa``...); layers without such a prefix get a row each.

    Parameters
    ----------
    model : keras.Model
        A built model from :func:`build_embedding_model`.

    Returns
    -------
    DataFrame
        Columns ``part``, ``layers`` (how many), ``output shape`` (of the
        part's last layer, batch dimension left out) and ``parameters``
        (trainable and non-trainable), in the order data flows.

    Examples
    --------
    >>> m = build_embedding_model("seresnet", (299, 40, 1), width=0.25)
    >>> describe(m)["part"].tolist()[:4]
    ['features', 'stem', 'block1', 'block2']
    """
    import re

    import numpy as np
    import pandas as pd

    rows: list[dict] = []
    for layer in model.layers:
        match = re.match(r"^(stem|stage\d+|block\d+|mfa)_", layer.name)
        part = match.group(1) if match else layer.name
        shape = tuple(layer.output.shape[1:])
        params = int(sum(np.prod(w.shape) for w in layer.weights))
        if rows and rows[-1]["part"] == part:
            rows[-1]["layers"] += 1
            rows[-1]["output shape"] = shape
            rows[-1]["parameters"] += params
        else:
            rows.append({"part": part, "layers": 1, "output shape": shape, "parameters": params})
    return pd.DataFrame(rows)
