"""What a run trains on and with: devices, precision, the training model, its random layers.

Devices
-------
On one device (this CPU) training is deterministic for a seed
(``tf.config.experimental.enable_op_determinism``). With several GPUs, or
several logical CPU devices, :class:`tf.distribute.MirroredStrategy` splits
each batch across them (:func:`strategy`). Several machines (``TF_CONFIG``)
are refused with a clear error: Keras 3's ``Model.fit`` fails under
``MultiWorkerMirroredStrategy`` (tried here with two local workers; upstream
keras-team/keras#20585). On a GPU a mixed-precision profile trains in float16
compute with float32 heads (:func:`precision_policy`).
"""

from __future__ import annotations

import os
import platform

import numpy as np

from speakerlib._tensorflow import keras, tf
from speakerlib import seeds
from speakerlib.errors import TrainingError
from speakerlib.models import build_embedding_model
from speakerlib.models.augment import SpecAugment
from speakerlib.models.losses import AAMSoftmaxLoss, CosineClassifier, softmax_loss
from speakerlib.train.config import RunConfig
from speakerlib.train.recipes import Profile

__all__ = [
    "precision_policy",
    "strategy",
    "hardware",
    "batch_norms",
    "seed_generators",
    "reseed",
    "build_training_model",
    "embedding_submodel",
]


def precision_policy(profile: Profile, num_gpus: int) -> str:
    """The Keras dtype policy a run uses: ``mixed_float16`` for a mixed-precision profile on a GPU.

    On a CPU float16 arithmetic is emulated and slower than float32, so a
    mixed-precision profile (``gpu``) falls back to ``float32`` there. Under
    ``mixed_float16`` the classifier heads and the losses stay in float32
    (they are built with ``dtype="float32"``).
    """
    return "mixed_float16" if profile.mixed_precision and num_gpus > 0 else "float32"


def strategy():
    """The distribution strategy for the devices present (see the module docstring).

    Several GPUs (or, for tests, several logical CPUs) of one machine:
    :class:`tf.distribute.MirroredStrategy`. Several machines (``TF_CONFIG``)
    are refused: ``keras.Model.fit`` of Keras 3 fails under
    ``MultiWorkerMirroredStrategy`` (measured here with two local workers:
    "Attempt to convert a value (PerReplica...) to a Tensor"; upstream,
    keras-team/keras#20585).

    Raises
    ------
    TrainingError
        If ``TF_CONFIG`` is set.
    """
    if os.environ.get("TF_CONFIG"):
        raise TrainingError(
            "TF_CONFIG is set, asking for multi-worker training, which Keras 3's Model.fit does not "
            "support (MultiWorkerMirroredStrategy fails on its PerReplica batches; keras-team/keras#20585). "
            "Unset TF_CONFIG and train on one machine: all of its GPUs are used through MirroredStrategy."
        )
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    if not gpus:
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) > 1:
            return tf.distribute.MirroredStrategy([d.name for d in cpus])
    return tf.distribute.get_strategy()


def hardware() -> dict:
    """The machine a run is made on: platform, processor, CPU count, GPUs, TensorFlow version."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
        "tensorflow": tf.__version__,
    }


def batch_norms(model):
    """Every BatchNormalization layer of a model, nested models included."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from batch_norms(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            yield layer


def seed_generators(model) -> list:
    """Every ``keras.random.SeedGenerator`` held by a layer of the model, in layer order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += seed_generators(layer)
            continue
        found += [v for _, v in sorted(vars(layer).items()) if isinstance(v, keras.random.SeedGenerator)]
    return found


def reseed(model, seed: int, epoch: int) -> None:
    """Set the state of the model's random layers (dropout, SpecAugment) from ``(seed, epoch)``.

    Their state advances with every step, and a checkpoint does not restore
    it; resetting it at the start of each epoch makes epoch ``e`` draw the
    same masks whether or not the run was interrupted before it. Layer ``k``
    starts from stream ``"train.layers"`` keyed by ``k``.
    """
    for k, generator in enumerate(seed_generators(model)):
        base = int(seeds.rng(seed, "train.layers", k).integers(0, 2**30))
        generator.state.assign(np.array([base, epoch * 1_000_000], dtype=generator.state.dtype))


def build_training_model(config: RunConfig, num_classes: int, steps_per_epoch: int):
    """The model a softmax-stage run trains: augmentation, embedding model, classifier; compiled.

    Parameters
    ----------
    config : RunConfig
        Model, recipe (loss, optimiser, schedule, augmentation, pooling), profile (width,
        batch-norm momentum, epochs), seed, input bins.
    num_classes : int
        Training speakers.
    steps_per_epoch : int
        Batches per epoch (the learning-rate schedule counts steps).

    Returns
    -------
    keras.Model
        Named :attr:`RunConfig.training_model_name`; its layer
        ``<model>_embedding`` is the embedding model (:func:`embedding_submodel`).
    """
    recipe, profile, bins = config.recipe, config.profile, config.input_bins
    embedding = build_embedding_model(
        config.model, (None, bins, 1), weight_decay=recipe.weight_decay,
        width=config.width, pooling=config.pooling, seed=config.seed,
    )
    for layer in batch_norms(embedding):
        layer.momentum = profile.bn_momentum  # saved with the layer's config
    inputs = keras.Input((None, bins, 1), name="features")
    x = inputs
    if recipe.spec_augment:
        x = SpecAugment(seed=config.seed, name="spec_augment")(x)
    emb = embedding(x)
    regularizer = keras.regularizers.L2(recipe.weight_decay) if recipe.weight_decay else None
    if recipe.loss == "softmax":
        outputs = keras.layers.Dense(num_classes, kernel_regularizer=regularizer, dtype="float32",
                                     name="speaker_logits")(emb)
        loss = softmax_loss()
    else:
        outputs = CosineClassifier(num_classes, dtype="float32", name="speaker_cosines")(emb)
        loss = AAMSoftmaxLoss(margin=recipe.aam_margin, scale=recipe.aam_scale)
    model = keras.Model(inputs, outputs, name=config.training_model_name)

    total_steps = max(1, profile.epochs * steps_per_epoch)
    if recipe.schedule == "constant":
        lr = recipe.learning_rate
    else:
        warmup = min(recipe.warmup_epochs * steps_per_epoch, total_steps - 1)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=recipe.learning_rate / 10, decay_steps=max(1, total_steps - warmup),
            alpha=0.01, warmup_target=recipe.learning_rate, warmup_steps=warmup,
        )
    if recipe.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=recipe.momentum)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=lr)
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def embedding_submodel(training_model, model_name: str):
    """The embedding model inside a training model built by :func:`build_training_model`."""
    return training_model.get_layer(f"{model_name}_embedding")
