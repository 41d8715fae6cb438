"""Losses for training speaker-embedding networks, and the batches they need.

Three ways to train an embedding, from the seed's recipe to the modern one:

* **softmax** (the reference recipe): a ``Dense`` head over the training
  speakers and :func:`softmax_loss`, cross-entropy on its logits.
* **additive angular margin** (ArcFace, Deng et al. 2019, arXiv 1801.07698;
  the WeSpeaker / ECAPA recipe): a :class:`CosineClassifier` head, whose
  outputs are cosines between the embedding and one weight vector per
  speaker, and :class:`AAMSoftmaxLoss`, which penalises the angle to the true
  speaker by a margin before a scaled softmax cross-entropy.
* **triplet fine-tuning** (DeepSpeaker, Li et al. 2017, arXiv 1705.02304):
  :class:`BatchHardTripletLoss` on the embeddings themselves, with batches of
  P speakers x K utterances from :func:`pk_batch_indices`.

Angles are in radians, cosines in [-1, 1]. The Keras objects here are
registered under the ``speakerlib`` package, so a ``.keras`` file that uses
them loads with ``safe_mode=True`` once this module is imported.

Examples
--------
>>> import keras
>>> embeddings = keras.Input(shape=(512,))
>>> cosines = CosineClassifier(251, name="speaker_cosines")(embeddings)
>>> head = keras.Model(embeddings, cosines)
>>> head.compile(optimizer="sgd", loss=AAMSoftmaxLoss(margin=0.2, scale=30.0))
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
from keras import ops

from speakerlib.errors import ConfigError

__all__ = [
    "CosineClassifier",
    "AAMSoftmaxLoss",
    "BatchHardTripletLoss",
    "softmax_loss",
    "pk_batch_indices",
]

#: Floor of a squared L2 norm before dividing by its square root: a zero
#: vector normalises to zero instead of NaN.
NORM_EPS = 1e-12

#: Floor of ``1 - cos**2`` under the square root in :class:`AAMSoftmaxLoss`:
#: keeps the gradient finite at cos = +-1 (where sin(theta) = 0).
SINE_EPS = 1e-12


def _l2_normalize(x, axis: int):
    """``x / ||x||`` along ``axis``, with the squared norm floored at :data:`NORM_EPS`."""
    squared = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, NORM_EPS))


def _check_real(owner: str, name: str, value, *, low: float, high: float, fix: str) -> float:
    """``float(value)`` if it is a finite real in [low, high], else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{owner}: expected {name} a finite real number, got {value!r}; {fix}")
    if not low <= value <= high:
        raise ConfigError(f"{owner}: expected {name} in [{low:g}, {high:g}], got {value!r}; {fix}")
    return float(value)


def _check_count(owner: str, name: str, value, *, low: int) -> int:
    """``int(value)`` if it is an integer >= low, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{owner}: expected {name} an integer >= {low}, got {value!r}")
    return int(value)


@keras.saving.register_keras_serializable(package="speakerlib")
class CosineClassifier(keras.layers.Layer):
    """Keras layer: cosine similarity of an embedding with one weight vector per class.

    ``cos[b, c] = <x_b / ||x_b||, W[:, c] / ||W[:, c]||>``: the head of an
    additive-margin softmax (:class:`AAMSoftmaxLoss`). It has no bias; the
    output is clipped to [-1, 1] (float32 rounding can step just outside).
    A zero embedding or column gives a cosine of 0, not NaN.

    The layer computes in float32 by default whatever the global dtype policy:
    under mixed precision the margin is applied to these cosines, and float16
    loses too much near cos = 1. Pass ``dtype`` to override.

    Input shape: ``(batch, dim)`` embeddings, any scale.

    Output shape: ``(batch, num_classes)`` cosines in [-1, 1].

    Parameters
    ----------
    num_classes : int >= 1
        Number of classes (training speakers).
    kernel_initializer : str or keras.initializers.Initializer
        Initialiser of ``W``. Its scale does not matter (columns are
        normalised); its directions do.
    kernel_regularizer : str or keras.regularizers.Regularizer or None
        Regulariser of the raw (unnormalised) ``W``.
    **kwargs
        Keras layer arguments (``name``, ``dtype``...).

    Attributes
    ----------
    kernel : keras.Variable [shape=(dim, num_classes), dtype=float32]
        ``W``, one column per class; created when the layer is built.

    Raises
    ------
    ValueError
        If ``num_classes`` is not a positive integer, or the input's last
        dimension is unknown when the layer is built.

    Examples
    --------
    >>> import numpy as np
    >>> layer = CosineClassifier(3)
    >>> tuple(layer(np.ones((4, 8), "float32")).shape)
    (4, 3)
    """

    def __init__(
        self,
        num_classes: int,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_classes = _check_count("CosineClassifier", "num_classes", num_classes, low=1)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape) -> None:
        dim = input_shape[-1]
        if dim is None:
            raise ConfigError(
                f"CosineClassifier: expected inputs of shape (batch, dim) with a known dim, "
                f"got shape {tuple(input_shape)}; give the embedding layer a fixed size"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(dim), self.num_classes),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            trainable=True,
        )

    def call(self, inputs):
        x = _l2_normalize(inputs, axis=-1)
        w = _l2_normalize(ops.cast(self.kernel, x.dtype), axis=0)
        return ops.clip(ops.matmul(x, w), -1.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def get_config(self) -> dict:
        base = super().get_config()
        base.update(
            num_classes=self.num_classes,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
        )
        return base


@keras.saving.register_keras_serializable(package="speakerlib")
class AAMSoftmaxLoss(keras.losses.Loss):
    """Additive angular margin softmax (ArcFace) on the cosines of a :class:`CosineClassifier`.

    With ``theta`` the angle between an embedding and its speaker's weight
    vector, the true class's logit is ``scale * psi(theta)`` and every other
    class's ``scale * cos(theta_c)``; the loss is the softmax cross-entropy of
    these logits (mean over the batch by default)::

        psi(theta) = cos(theta + m)                 if theta + m <= pi
                   = cos(theta) - (1 - cos(m))      otherwise

    **Past pi.** ``cos(theta + m)`` stops decreasing once ``theta + m > pi``,
    so a very wrong embedding would be pushed the wrong way. The usual fix
    (insightface, WeSpeaker) replaces it there by a shifted cosine, which
    keeps ``psi`` decreasing in ``theta``. This class uses WeSpeaker's shift
    ``1 - cos(m)``, which makes ``psi`` continuous at ``theta = pi - m``
    (both sides equal -1); insightface's original shift ``m * sin(m)`` is its
    first-order approximation. With ``easy_margin=True`` the margin applies
    only where ``cos(theta) > 0`` (``psi = cos(theta)`` elsewhere).

    ``margin=0`` gives exactly sparse categorical cross-entropy on
    ``scale * cos``. ``cos(theta + m)`` is computed as
    ``cos*cos(m) - sin*sin(m)`` with ``sin = sqrt(max(1 - cos**2, 1e-12))``
    (no ``arccos``), so the gradient stays finite at cos = +-1. Inputs are
    clipped to [-1, 1].

    **Changing the margin during training** (a margin warm-up, as in
    WeSpeaker's schedule from 0 to 0.2): the margin lives in a non-trainable
    float32 variable, read each time the loss runs, so assigning
    ``loss.margin = value`` takes effect on the next batch even inside a
    compiled ``model.fit``::

        loss = AAMSoftmaxLoss(margin=0.0)
        warmup = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: setattr(loss, "margin", min(0.2, 0.02 * epoch)))

    ``get_config`` stores the margin's current value.

    Parameters
    ----------
    margin : float in [0, pi/2] [radians]
        Additive angular margin ``m``; 0.2 in WeSpeaker, 0.5 in ArcFace.
    scale : float > 0
        Logit scale ``s`` (the radius of the hypersphere); 30-32 is usual.
    easy_margin : bool
        Apply the margin only where ``cos(theta) > 0``.
    name : str
        Name of the loss.
    reduction : str
        Keras reduction of the per-example losses; ``"sum_over_batch_size"``
        (the mean) by default.
    dtype : str or None
        Computation dtype; ``keras.backend.floatx()`` (float32) by default.

    Notes
    -----
    ``y_true`` holds integer class indices, shape ``(batch,)`` or
    ``(batch, 1)``, in ``[0, num_classes)``. An index out of range raises
    ``InvalidArgumentError`` on CPU without XLA; on GPU or under XLA it is
    not checked and the loss is meaningless.
    ``y_pred`` holds cosines, shape ``(batch, num_classes)``.

    Raises
    ------
    ValueError
        If ``margin`` is not in [0, pi/2] (a margin in degrees is the usual
        mistake) or ``scale`` is not a positive finite number.
    """

    def __init__(
        self,
        margin: float = 0.2,
        scale: float = 30.0,
        easy_margin: bool = False,
        name: str = "aam_softmax_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        margin = self._check_margin(margin)
        self.scale = _check_real(
            "AAMSoftmaxLoss", "scale", scale, low=0.0, high=math.inf,
            fix="the usual scale is 30-32",
        )
        if self.scale == 0.0:
            raise ConfigError("AAMSoftmaxLoss: expected scale > 0, got 0; the usual scale is 30-32")
        self.easy_margin = bool(easy_margin)
        self._margin = keras.Variable(
            margin, trainable=False, dtype="float32", name="aam_margin"
        )

    @staticmethod
    def _check_margin(value) -> float:
        return _check_real(
            "AAMSoftmaxLoss", "margin", value, low=0.0, high=math.pi / 2,
            fix="the margin is an angle in radians (0.2 rad = 11.5 degrees)",
        )

    @property
    def margin(self) -> float:
        """The current margin [radians]; assign a float to change it (validated)."""
        return float(self._margin.numpy())

    @margin.setter
    def margin(self, value: float) -> None:
        self._margin.assign(self._check_margin(value))

    @property
    def margin_variable(self) -> keras.Variable:
        """The non-trainable variable behind :attr:`margin` (for ``assign`` in graphs)."""
        return self._margin

    def logits(self, y_true, y_pred):
        """The margin-penalised, scaled logits ``(batch, num_classes)`` the loss is the CE of.

        Parameters
        ----------
        y_true : tensor [shape=(batch,) or (batch, 1), integer class indices]
        y_pred : tensor [shape=(batch, num_classes), cosines in [-1, 1]]

        Returns
        -------
        tensor [shape=(batch, num_classes), dtype=self.dtype]
        """
        cos = ops.clip(ops.convert_to_tensor(y_pred, dtype=self.dtype), -1.0, 1.0)
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        num_classes = cos.shape[-1] if cos.shape[-1] is not None else ops.shape(cos)[-1]
        is_true = ops.equal(
            ops.expand_dims(labels, -1),
            ops.expand_dims(ops.arange(num_classes, dtype="int32"), 0),
        )
        margin = ops.cast(self._margin, cos.dtype)
        cos_m, sin_m = ops.cos(margin), ops.sin(margin)
        sin = ops.sqrt(ops.maximum(1.0 - ops.square(cos), SINE_EPS))
        psi = cos * cos_m - sin * sin_m  # cos(theta + m)
        if self.easy_margin:
            psi = ops.where(cos > 0.0, psi, cos)
        else:
            # theta + m <= pi  <=>  cos(theta) >= cos(pi - m) = -cos(m)
            psi = ops.where(cos >= -cos_m, psi, cos - (1.0 - cos_m))
        return self.scale * ops.where(is_true, psi, cos)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        return ops.sparse_categorical_crossentropy(
            labels, self.logits(y_true, y_pred), from_logits=True
        )

    def get_config(self) -> dict:
        base = super().get_config()
        base.update(margin=self.margin, scale=self.scale, easy_margin=self.easy_margin)
        return base


@keras.saving.register_keras_serializable(package="speakerlib")
class BatchHardTripletLoss(keras.losses.Loss):
    """Cosine triplet loss with the hardest negative in the batch (DeepSpeaker fine-tuning).

    Embeddings are L2-normalised and compared by cosine similarity
    ``s_ij``. The triplets used: **every ordered pair** ``(a, p)`` with
    ``label[a] == label[p]`` and ``a != p`` (so both ``(a, p)`` and
    ``(p, a)``), each with **the hardest negative of its anchor**,
    ``n*(a) = argmax_{n : label[n] != label[a]} s_an`` (the same negative for
    all positives of an anchor). The loss is the mean over those pairs::

        L = mean_{(a, p)} max(0, s_{a n*(a)} - s_ap + margin)

    The DeepSpeaker paper (Li et al. 2017, Sec. 2.3) uses this hinge on
    cosine similarities with margin 0.1 and picks hard negatives within the
    (multi-GPU) batch.

    **Degenerate batches.** Pairs whose anchor has no negative do not count.
    When the batch holds no valid pair (no speaker with two utterances, or a
    single speaker) the loss is **0** with zero gradient: training silently
    learns nothing from it. Build batches with :func:`pk_batch_indices`
    (P >= 2 speakers x K >= 2 utterances) so that this never happens.

    The loss is a batch-level quantity, so ``sample_weight`` is not supported
    and ``reduction`` has no effect (the value is already a scalar).

    Parameters
    ----------
    margin : float in [0, 2]
        Margin on the cosine similarity (0.1 in DeepSpeaker).
    name : str
        Name of the loss.
    reduction : str
        Kept for Keras compatibility; ignored.
    dtype : str or None
        Computation dtype; float32 by default.

    Notes
    -----
    ``y_true``: integer speaker labels, shape ``(batch,)`` or ``(batch, 1)``.
    ``y_pred``: embeddings, shape ``(batch, dim)``, any scale.
    Ties for the hardest negative share its gradient equally.

    Raises
    ------
    ValueError
        If ``margin`` is not in [0, 2], or on call with a ``sample_weight``.
    """

    def __init__(
        self,
        margin: float = 0.1,
        name: str = "batch_hard_triplet_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = _check_real(
            "BatchHardTripletLoss", "margin", margin, low=0.0, high=2.0,
            fix="cosine similarities lie in [-1, 1]; DeepSpeaker uses 0.1",
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ConfigError(
                "BatchHardTripletLoss: expected sample_weight=None, got a sample_weight; the "
                "loss is a mean over the batch's (anchor, positive) pairs, not per example: "
                "balance speakers with pk_batch_indices instead"
            )
        return super().__call__(y_true, y_pred)

    def call(self, y_true, y_pred):
        labels = ops.reshape(y_true, (-1,))
        embeddings = _l2_normalize(y_pred, axis=-1)
        sim = ops.matmul(embeddings, ops.transpose(embeddings))
        index = ops.arange(ops.shape(labels)[0])
        same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
        diagonal = ops.equal(ops.expand_dims(index, 1), ops.expand_dims(index, 0))
        negative = ops.logical_not(same)
        positive = ops.logical_and(same, ops.logical_not(diagonal))
        # Cosines are >= -1, so -4 never wins the max where a negative exists.
        hardest_negative = ops.max(ops.where(negative, sim, -4.0), axis=1, keepdims=True)
        has_negative = ops.any(negative, axis=1, keepdims=True)
        valid = ops.logical_and(positive, has_negative)
        hinge = ops.relu(hardest_negative - sim + self.margin)
        total = ops.sum(ops.where(valid, hinge, 0.0))
        count = ops.sum(ops.cast(valid, hinge.dtype))
        return total / ops.maximum(count, 1.0)

    def get_config(self) -> dict:
        base = super().get_config()
        base["margin"] = self.margin
        return base


def softmax_loss() -> keras.losses.SparseCategoricalCrossentropy:
    """The reference recipe's loss: softmax cross-entropy on a ``Dense`` head's logits.

    Returns
    -------
    keras.losses.SparseCategoricalCrossentropy
        With ``from_logits=True``: the head has no softmax activation.
        ``y_true`` holds integer speaker indices, shape ``(batch,)``.
    """
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _describe_counts(speakers: np.ndarray, counts: np.ndarray, limit: int = 20) -> str:
    """``'a' (3), 'b' (1), ...`` for at most ``limit`` speakers, most utterances first."""
    order = np.argsort(-counts, kind="stable")
    shown = ", ".join(f"{speakers[i].item()!r} ({counts[i]})" for i in order[:limit])
    if len(order) > limit:
        shown += f", ... and {len(order) - limit} more"
    return shown or "none"


def pk_batch_indices(
    labels: np.ndarray,
    *,
    speakers_per_batch: int,
    utterances_per_speaker: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """One epoch of batches of P speakers x K utterances, as indices into ``labels``.

    Every batch holds ``K`` distinct utterances of each of ``P`` distinct
    speakers, so :class:`BatchHardTripletLoss` always has positive pairs and
    negatives. An epoch uses every utterance at most once:

    1. each speaker with at least K utterances has its utterances shuffled
       and cut into groups of K (the ``n mod K`` left over are skipped this
       epoch; which ones changes with the shuffle);
    2. while at least P speakers have groups left, P of them are drawn
       without replacement, with probability proportional to their remaining
       groups, and one group of each makes a batch. Groups left when fewer
       than P speakers remain are skipped.

    Speakers with fewer than K utterances never appear. Call again (same
    generator) for the next epoch; the result depends only on the labels,
    the settings and the generator's state.

    Parameters
    ----------
    labels : np.ndarray [shape=(n,), any dtype with equality: ints or strings]
        Speaker label of each utterance.
    speakers_per_batch : int >= 2
        P.
    utterances_per_speaker : int >= 2
        K.
    rng : np.random.Generator
        The source of randomness.

    Returns
    -------
    list of np.ndarray [shape=(P * K,), dtype=int64]
        Indices into ``labels``; within a batch, the K indices of a speaker
        are consecutive. At least one batch whenever no error is raised.

    Raises
    ------
    ValueError
        If ``labels`` is not one-dimensional, P or K is not an integer >= 2,
        ``rng`` is not a Generator, fewer than 2 speakers have at least K
        utterances (the message names them and the counts of the others), or
        fewer than P speakers do.

    Examples
    --------
    >>> labels = np.repeat(["a", "b", "c"], 4)
    >>> batches = pk_batch_indices(labels, speakers_per_batch=2, utterances_per_speaker=2,
    ...                            rng=np.random.default_rng(0))
    >>> [b.shape for b in batches][:2]
    [(4,), (4,)]
    """
    owner = "pk_batch_indices"
    p = _check_count(owner, "speakers_per_batch", speakers_per_batch, low=2)
    k = _check_count(owner, "utterances_per_speaker", utterances_per_speaker, low=2)
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            f"{owner}: expected rng a numpy.random.Generator, got {type(rng).__name__}; "
            f"use numpy.random.default_rng(seed)"
        )
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(
            f"{owner}: expected labels of shape (n,), got shape {labels.shape}; flatten them"
        )
    speakers, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    eligible = np.flatnonzero(counts >= k)
    if eligible.size < 2 or eligible.size < p:
        short = counts < k
        needed = max(2, p)
        raise ConfigError(
            f"{owner}: expected at least {needed} speakers with >= {k} utterances "
            f"(P={p} speakers x K={k} utterances per batch), found {eligible.size}: "
            f"{_describe_counts(speakers[eligible], counts[eligible])}; speakers with fewer "
            f"than {k}: {_describe_counts(speakers[short], counts[short])}. Fix: lower "
            f"utterances_per_speaker or speakers_per_batch, or add utterances"
        )

    groups: list[list[np.ndarray]] = []
    for speaker in eligible:
        members = rng.permutation(np.flatnonzero(inverse == speaker)).astype(np.int64)
        n_groups = members.size // k
        groups.append([members[g * k:(g + 1) * k] for g in range(n_groups)])
    remaining = np.array([len(g) for g in groups], dtype=np.int64)

    batches: list[np.ndarray] = []
    while np.count_nonzero(remaining) >= p:
        chosen = rng.choice(remaining.size, size=p, replace=False, p=remaining / remaining.sum())
        remaining[chosen] -= 1
        batches.append(np.concatenate([groups[c][remaining[c]] for c in chosen]))
    return batches
