"""Losses checked against independent numpy references, brute force and Keras' own losses.

References: cosines from normalised numpy rows and columns; cross-entropy as
``logsumexp(z) - z[label]`` in float64; the ArcFace target logit from
``arccos`` (the implementation under test never calls it); the triplet loss
by looping over every (anchor, positive, negative) triple.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from speakerlib.models.losses import (  # noqa: E402
    AAMSoftmaxLoss,
    BatchHardTripletLoss,
    CosineClassifier,
    pk_batch_indices,
    softmax_loss,
)


# ---------------------------------------------------------------- references
def numpy_cosines(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    wn = w / np.linalg.norm(w, axis=0, keepdims=True)
    return xn @ wn


def numpy_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    top = z.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return lse - z[np.arange(len(labels)), labels]


def numpy_arcface_logits(cos, labels, *, margin, scale, easy_margin=False):
    """ArcFace logits from the angle itself, one element at a time."""
    cos = np.asarray(cos, np.float64)
    out = scale * cos.copy()
    for i, c in enumerate(labels):
        value = cos[i, c]
        theta = math.acos(value)
        if easy_margin:
            target = math.cos(theta + margin) if value > 0 else value
        elif theta + margin <= math.pi:
            target = math.cos(theta + margin)
        else:  # past pi: shifted cosine, continuous at theta = pi - margin
            target = value - (1.0 - math.cos(margin))
        out[i, c] = scale * target
    return out


def brute_force_triplet(labels, embeddings, margin) -> float:
    """Mean over ordered (anchor, positive) pairs of the hinge with the hardest negative."""
    e = embeddings.astype(np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    n = len(labels)
    total, count = 0.0, 0
    for a in range(n):
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            worst = None
            for neg in range(n):
                if labels[neg] == labels[a]:
                    continue
                hinge = max(0.0, float(e[a] @ e[neg] - e[a] @ e[p] + margin))
                worst = hinge if worst is None else max(worst, hinge)
            if worst is not None:
                total += worst
                count += 1
    return total / count if count else 0.0


# ---------------------------------------------------------- CosineClassifier
def test_cosine_classifier_matches_numpy():
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.1, 10, size=(6, 1))
    x = (rng.normal(size=(6, 5)) * scales).astype("float32")
    layer = CosineClassifier(4, name="cos_head")
    out = np.asarray(layer(x))
    w = np.asarray(layer.kernel)
    assert w.shape == (5, 4)
    assert out.shape == (6, 4)
    np.testing.assert_allclose(out, numpy_cosines(x, w), atol=2e-6)


def test_cosine_classifier_range_and_zero_vector():
    layer = CosineClassifier(3)
    layer.build((None, 4))
    w = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    layer.kernel.assign(w)
    # Rows parallel / antiparallel to class columns, and a zero row.
    x = np.stack([7.0 * w[:, 0], -0.01 * w[:, 2], np.zeros(4, "float32")])
    out = np.asarray(layer(x))
    assert np.all(out <= 1.0) and np.all(out >= -1.0)
    np.testing.assert_allclose(out[0, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[1, 2], -1.0, atol=1e-6)
    np.testing.assert_array_equal(out[2], 0.0)


def test_cosine_classifier_shapes_and_errors():
    inputs = keras.Input(shape=(16,))
    assert tuple(CosineClassifier(7)(inputs).shape) == (None, 7)
    assert CosineClassifier(7).compute_output_shape((None, 16)) == (None, 7)
    with pytest.raises(ValueError, match="num_classes"):
        CosineClassifier(0)
    with pytest.raises(ValueError, match="known dim"):
        CosineClassifier(3).build((None, None))


def test_cosine_classifier_config_round_trip():
    layer = CosineClassifier(5, kernel_regularizer=keras.regularizers.L2(1e-4), name="head")
    clone = CosineClassifier.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.num_classes == 5 and clone.name == "head"


def test_model_with_head_and_loss_saves_and_loads(tmp_path):
    inputs = keras.Input(shape=(8,))
    embedding = keras.layers.Dense(6, name="embedding")(inputs)
    cosines = CosineClassifier(3, name="speaker_cosines")(embedding)
    model = keras.Model(inputs, cosines)
    model.compile(optimizer="sgd", loss=AAMSoftmaxLoss(margin=0.3, scale=16.0, easy_margin=True))
    x = np.random.default_rng(2).normal(size=(4, 8)).astype("float32")
    path = tmp_path / "head.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.get_layer("speaker_cosines"), CosineClassifier)
    loss = loaded.loss
    assert isinstance(loss, AAMSoftmaxLoss)
    assert (loss.scale, loss.easy_margin) == (16.0, True)
    assert loss.margin == pytest.approx(0.3)


# ------------------------------------------------------------ AAMSoftmaxLoss
def random_cosines(rng, batch=8, classes=5):
    cos = rng.uniform(-1, 1, size=(batch, classes)).astype("float32")
    return cos, rng.integers(0, classes, batch)


def test_aam_margin_zero_is_softmax_cross_entropy_of_scaled_cosines():
    cos, labels = random_cosines(np.random.default_rng(3))
    loss = AAMSoftmaxLoss(margin=0.0, scale=30.0)
    ours = float(loss(labels, cos))
    keras_ce = float(softmax_loss()(labels, 30.0 * cos))
    numpy_ce = numpy_cross_entropy(30.0 * cos.astype(np.float64), labels).mean()
    assert ours == pytest.approx(keras_ce, rel=1e-6, abs=1e-6)
    assert ours == pytest.approx(numpy_ce, rel=1e-5, abs=1e-5)
    # Labels as a (batch, 1) column give the same value.
    assert float(loss(labels[:, None], cos)) == pytest.approx(ours, rel=1e-7)


def test_aam_matches_numpy_arcface_including_past_pi():
    margin, scale = 0.3, 10.0
    # True-class cosines: 1 and -1 (the ends), theta + m just below and above
    # pi, a very wrong embedding, and ordinary angles.
    true_cos = np.array(
        [1.0, -1.0, math.cos(math.pi - margin - 0.05), math.cos(math.pi - margin + 0.05),
         -0.999, 0.0, 0.6, -0.4],
        dtype=np.float32,
    )
    rng = np.random.default_rng(4)
    cos = rng.uniform(-0.9, 0.9, size=(len(true_cos), 4)).astype("float32")
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    cos[np.arange(len(labels)), labels] = true_cos
    thetas = np.arccos(true_cos.astype(np.float64))
    assert np.any(thetas + margin > math.pi) and np.any(thetas + margin <= math.pi)

    for easy in (False, True):
        loss = AAMSoftmaxLoss(margin=margin, scale=scale, easy_margin=easy, reduction=None)
        expected = numpy_arcface_logits(cos, labels, margin=margin, scale=scale, easy_margin=easy)
        np.testing.assert_allclose(np.asarray(loss.logits(labels, cos)), expected, atol=2e-5)
        np.testing.assert_allclose(
            np.asarray(loss(labels, cos)), numpy_cross_entropy(expected, labels), atol=5e-5
        )


def test_aam_target_logit_is_continuous_and_decreasing_in_theta():
    margin = 0.2
    loss = AAMSoftmaxLoss(margin=margin, scale=1.0)
    thetas = np.linspace(0.0, math.pi, 2001)
    cos = np.cos(thetas).astype("float32")[:, None]
    target = np.asarray(loss.logits(np.zeros(len(cos), int), cos))[:, 0]
    assert np.all(np.diff(target) < 1e-6)
    assert np.max(np.abs(np.diff(target))) < 5e-3  # no jump at theta = pi - m


def test_aam_loss_is_larger_with_margin():
    cos, labels = random_cosines(np.random.default_rng(5), batch=32)
    # scale 8 keeps every per-example loss well above float32 underflow.
    with_margin = np.asarray(AAMSoftmaxLoss(margin=0.2, scale=8.0, reduction=None)(labels, cos))
    without = np.asarray(AAMSoftmaxLoss(margin=0.0, scale=8.0, reduction=None)(labels, cos))
    assert np.all(with_margin > without)


@pytest.mark.parametrize("easy_margin", [False, True])
def test_aam_gradient_finite_at_plus_minus_one(easy_margin):
    cos = tf.Variable(
        [[1.0, -1.0, 0.0], [-1.0, 1.0, -1.0], [0.5, 1.0, -1.0]], dtype=tf.float32
    )
    labels = np.array([0, 0, 2])
    loss = AAMSoftmaxLoss(margin=0.2, scale=30.0, easy_margin=easy_margin)
    with tf.GradientTape() as tape:
        value = loss(labels, cos)
    grad = tape.gradient(value, cos).numpy()
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(grad))
    # Through the head too: an embedding exactly on its class column.
    head = CosineClassifier(2)
    head.build((None, 3))
    head.kernel.assign(np.eye(3, 2, dtype="float32"))
    x = tf.Variable([[2.0, 0.0, 0.0], [0.0, -3.0, 0.0]])
    with tf.GradientTape() as tape:
        value = loss(np.array([0, 1]), head(x))
    grads = tape.gradient(value, [x, head.kernel])
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_aam_margin_is_settable_after_tracing():
    cos, labels = random_cosines(np.random.default_rng(6))
    loss = AAMSoftmaxLoss(margin=0.0)
    compiled = tf.function(lambda: loss(labels, cos), autograph=False)
    at_zero = float(compiled())
    loss.margin = 0.25
    assert loss.margin == pytest.approx(0.25)
    assert loss.get_config()["margin"] == pytest.approx(0.25)
    fresh = float(AAMSoftmaxLoss(margin=0.25)(labels, cos))
    assert float(compiled()) == pytest.approx(fresh, rel=1e-6)
    assert float(compiled()) > at_zero
    with pytest.raises(ValueError, match="radians"):
        loss.margin = 20.0
    assert loss.margin == pytest.approx(0.25)


def test_aam_margin_warmup_reaches_model_fit():
    """lr = 0 keeps the weights fixed, so each epoch's loss shows the margin it used."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.integers(0, 3, 16)
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, CosineClassifier(3)(inputs))
    loss = AAMSoftmaxLoss(margin=0.0, scale=8.0)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=loss)
    margins = [0.0, 0.4]
    schedule = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: setattr(loss, "margin", margins[epoch])
    )
    history = model.fit(x, y, batch_size=16, epochs=2, callbacks=[schedule], verbose=0)
    cos = model.predict(x, verbose=0)
    for epoch, m in enumerate(margins):
        expected = float(AAMSoftmaxLoss(margin=m, scale=8.0)(y, cos))
        assert history.history["loss"][epoch] == pytest.approx(expected, rel=1e-5)


def test_aam_config_round_trip_and_errors():
    loss = AAMSoftmaxLoss(margin=0.15, scale=32.0, easy_margin=True, name="aam")
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, AAMSoftmaxLoss)
    assert clone.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="margin"):
        AAMSoftmaxLoss(margin=-0.1)
    with pytest.raises(ValueError, match="scale"):
        AAMSoftmaxLoss(scale=0.0)
    with pytest.raises(ValueError, match="scale"):
        AAMSoftmaxLoss(scale=float("nan"))


def test_softmax_loss_is_sparse_cross_entropy_on_logits():
    loss = softmax_loss()
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    logits, labels = random_cosines(np.random.default_rng(8))
    logits *= 5
    assert float(loss(labels, logits)) == pytest.approx(
        numpy_cross_entropy(logits, labels).mean(), rel=1e-5
    )


# ------------------------------------------------------ BatchHardTripletLoss
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triplet_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    speakers = int(rng.integers(3, 5))
    labels = np.repeat(np.arange(speakers), rng.integers(2, 4, size=speakers))
    labels = rng.permutation(labels)
    embeddings = rng.normal(size=(len(labels), 6)).astype("float32") * 3.0
    for margin in (0.1, 0.5):
        expected = brute_force_triplet(labels, embeddings, margin)
        assert expected > 0  # the comparison means something
        value = float(BatchHardTripletLoss(margin=margin)(labels, embeddings))
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_triplet_zero_when_separated_by_more_than_margin():
    rng = np.random.default_rng(9)
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3])
    centres = np.eye(4, 8)  # cosine 0 between speakers
    embeddings = (centres[labels] + 0.05 * rng.normal(size=(len(labels), 8))).astype("float32")
    loss = BatchHardTripletLoss(margin=0.1)
    assert float(loss(labels, embeddings)) == 0.0
    # A margin bigger than the gap makes it positive again.
    assert float(BatchHardTripletLoss(margin=1.5)(labels, embeddings)) > 0.0


def test_triplet_known_value_on_hand_made_batch():
    # Unit vectors at angles; s_ap = cos(0.2), the hardest negative cos(1.0).
    def at(angle):
        return [math.cos(angle), math.sin(angle)]

    embeddings = np.array([at(0.0), at(0.2), at(1.2), at(2.5)], dtype="float32")
    labels = np.array([5, 5, 7, 9])
    margin = 0.6
    pair = max(0.0, math.cos(1.0) - math.cos(0.2) + margin)  # anchor 1: nearest negative at 1.0
    first = max(0.0, math.cos(1.2) - math.cos(0.2) + margin)  # anchor 0: at 1.2
    expected = (first + pair) / 2
    value = float(BatchHardTripletLoss(margin=margin)(labels, embeddings))
    assert value == pytest.approx(expected, abs=1e-6)
    assert value == pytest.approx(brute_force_triplet(labels, embeddings, margin), abs=1e-6)


def test_triplet_no_positive_or_no_negative_gives_zero_with_zero_gradient():
    rng = np.random.default_rng(10)
    loss = BatchHardTripletLoss(margin=0.1)
    for labels in (np.arange(5), np.zeros(5, int)):  # no positive pair / no negative
        x = tf.Variable(rng.normal(size=(5, 4)).astype("float32"))
        with tf.GradientTape() as tape:
            value = loss(labels, x)
        assert float(value) == 0.0
        np.testing.assert_array_equal(tape.gradient(value, x).numpy(), 0.0)


def test_triplet_in_graph_with_unknown_batch_and_config():
    loss = BatchHardTripletLoss(margin=0.2)
    fn = tf.function(
        lambda y, e: loss(y, e),
        input_signature=[tf.TensorSpec([None]), tf.TensorSpec([None, 6])],
        autograph=False,
    )
    rng = np.random.default_rng(11)
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    emb = rng.normal(size=(7, 6)).astype("float32")
    assert float(fn(labels.astype("float32"), emb)) == pytest.approx(
        brute_force_triplet(labels, emb, 0.2), rel=1e-5
    )
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, BatchHardTripletLoss) and clone.margin == 0.2
    with pytest.raises(ValueError, match="sample_weight"):
        loss(labels, emb, sample_weight=np.ones(7))
    with pytest.raises(ValueError, match="margin"):
        BatchHardTripletLoss(margin=-1.0)


# ---------------------------------------------------------- pk_batch_indices
def pk_labels():
    counts = {"spk-a": 5, "spk-b": 4, "spk-c": 2, "spk-d": 7, "spk-e": 1, "spk-f": 3}
    labels = np.concatenate([[name] * n for name, n in counts.items()])
    return np.random.default_rng(12).permutation(labels)


def test_pk_batches_have_p_speakers_times_k_utterances():
    labels = pk_labels()
    p, k = 3, 2
    batches = pk_batch_indices(
        labels, speakers_per_batch=p, utterances_per_speaker=k, rng=np.random.default_rng(0)
    )
    assert len(batches) >= 3
    used = np.concatenate(batches)
    assert len(np.unique(used)) == len(used)  # each utterance at most once per epoch
    assert "spk-e" not in set(labels[used])  # fewer than K utterances
    for batch in batches:
        assert batch.shape == (p * k,) and batch.dtype == np.int64
        names, counts = np.unique(labels[batch], return_counts=True)
        assert len(names) == p and np.all(counts == k)
        # the K utterances of a speaker are consecutive
        assert all(len(set(labels[batch[i:i + k]])) == 1 for i in range(0, p * k, k))


def test_pk_batches_are_deterministic_for_a_seed():
    labels = pk_labels()

    def epoch(seed):
        return pk_batch_indices(
            labels, speakers_per_batch=2, utterances_per_speaker=2,
            rng=np.random.default_rng(seed),
        )

    first, again, other = epoch(3), epoch(3), epoch(4)
    assert len(first) == len(again)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    same = len(first) == len(other) and all(np.array_equal(a, b) for a, b in zip(first, other))
    assert not same


def test_pk_batches_feed_the_triplet_loss_valid_pairs():
    labels = pk_labels()
    codes = np.unique(labels, return_inverse=True)[1]
    batch = pk_batch_indices(
        labels, speakers_per_batch=2, utterances_per_speaker=3, rng=np.random.default_rng(1)
    )[0]
    emb = np.random.default_rng(2).normal(size=(len(batch), 4)).astype("float32")
    expected = brute_force_triplet(codes[batch], emb, 1.0)
    assert expected > 0
    value = float(BatchHardTripletLoss(margin=1.0)(codes[batch], emb))
    assert value == pytest.approx(expected, rel=1e-5)


def test_pk_errors_name_the_speakers():
    labels = pk_labels()
    with pytest.raises(ValueError, match=r"found 1: 'spk-d' \(7\).*'spk-e' \(1\)"):
        pk_batch_indices(labels, speakers_per_batch=2, utterances_per_speaker=6,
                         rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least 5 speakers"):
        pk_batch_indices(labels, speakers_per_batch=5, utterances_per_speaker=3,
                         rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="utterances_per_speaker"):
        pk_batch_indices(labels, speakers_per_batch=2, utterances_per_speaker=1,
                         rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="speakers_per_batch"):
        pk_batch_indices(labels, speakers_per_batch=1, utterances_per_speaker=2,
                         rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="shape"):
        pk_batch_indices(labels.reshape(2, -1), speakers_per_batch=2, utterances_per_speaker=2,
                         rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        pk_batch_indices(labels, speakers_per_batch=2, utterances_per_speaker=2, rng=0)
