"""ECAPA-TDNN: parameter counts against the paper, shapes, the custom layers
against numpy, the Res2Net block against a numpy convolution, save/load,
mixed precision, the "stats" pooling, and the error messages.

Independent references: the paper's (and WeSpeaker's) parameter counts; a
hand-written count from the paper's layer table; numpy versions of the
attentive pooling and of a Res2Net block's dilated convolutions; the
receptive field measured by perturbing one frame. Everything but the
parameter counts runs at small widths.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from speakerlib.errors import ModelConfigError, SpeakerlibError, UnknownNameError  # noqa: E402
from speakerlib.models import (  # noqa: E402
    DEFAULT_EMBEDDING_DIMS,
    MODEL_NAMES,
    build_embedding_model,
    count_parameters,
)
from speakerlib.models.deepspeaker import build_deepspeaker  # noqa: E402
from speakerlib.models.ecapa import (  # noqa: E402
    AttentiveStatisticsPooling,
    ChannelSplit,
    build_ecapa,
    ecapa_channels,
    receptive_field,
)
from speakerlib.models.layers import StatisticsPooling  # noqa: E402
from speakerlib.models.resnet import build_resnet  # noqa: E402
from speakerlib.models.seresnet import build_seresnet  # noqa: E402

# Each family's builder (the ResNets' named variants pass their settings on to build_resnet).
BUILDERS = {"deepspeaker": build_deepspeaker, "resnet34": build_resnet,
            "resnet50": build_resnet, "seresnet": build_seresnet, "ecapa": build_ecapa}

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

TINY = 0.125  # C = 128: the width of everything that is run, saved or trained


def _np(value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value)


def _trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _batch(frames: int, bins: int = 80, size: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((size, frames, bins, 1)).astype(np.float32)


def _randomise_batch_norms(model, seed: int = 0) -> None:
    """Give every BN non-trivial statistics, so inference-mode checks see them."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n),
                               rng.normal(0, 0.1, n), rng.uniform(0.5, 1.5, n)])


# ----------------------------------------------------------------------------
# Parameter counts
# ----------------------------------------------------------------------------


def _ecapa_formula(bins: int, c: int, mfa: int, se: int, att: int, emb: int = 192,
                   stats: bool = False) -> int:
    """Trainable parameters from the paper's layer table (biases on every conv,
    gamma and beta per BN channel, no bias on the embedding Dense)."""
    group = c // 8
    total = 5 * bins * c + c + 2 * c  # stem conv k=5, BN
    block = 2 * (c * c + c + 2 * c)  # two 1x1 conv + BN
    block += 7 * (3 * group * group + group + 2 * group)  # Res2Net convs k=3 + BN
    block += c * se + se + se * c + c  # SE
    total += 3 * block
    total += 3 * c * mfa + mfa  # MFA 1x1 conv
    if not stats:
        total += 3 * mfa * att + att + att * mfa + mfa  # attention on [h, mean, std]
    total += 2 * (2 * mfa)  # BN on the pooled statistics
    return total + 2 * mfa * emb + 2 * emb  # Dense, BN


@pytest.fixture(scope="module")
def paper_models():
    """The paper's two sizes on 80 bins, built once (not run)."""
    return {c: build_embedding_model("ecapa", (None, 80, 1), width=c / 1024, seed=0)
            for c in (1024, 512)}


@pytest.mark.parametrize("c, published", [(1024, 14.7e6), (512, 6.2e6), (512, 6.19e6)])
def test_parameter_counts_match_the_published_ones(paper_models, c, published):
    # ECAPA-TDNN paper, Table 2: 14.7 M (C=1024), 6.2 M (C=512); WeSpeaker's
    # ECAPA_TDNN_GLOB_c512: 6.19 M. Both count trainable parameters.
    count = _trainable(paper_models[c])
    assert abs(count - published) / published < 0.02, count
    assert count == _ecapa_formula(80, c, 1536, 128, 128)


def test_count_parameters_adds_the_moving_statistics(paper_models):
    model = paper_models[1024]
    bn_channels = sum(layer.gamma.shape[0] for layer in model.layers
                      if isinstance(layer, keras.layers.BatchNormalization))
    assert count_parameters(model) == _trainable(model) + 2 * bn_channels == 14_683_520
    assert count_parameters(paper_models[512]) == 6_207_296  # the docstrings' figures


@pytest.mark.parametrize(
    "width, bins, sizes",
    [
        (0.25, 80, (256, 768, 64, 64)),
        (0.125, 40, (128, 384, 32, 32)),
        (0.3, 64, (307, 922, 77, 77)),  # C not a multiple of 8: a wider pass-through group
        (1.5, 80, (1536, 1536, 128, 128)),  # above the paper's sizes only C grows
    ],
)
def test_parameter_count_matches_the_layer_table_at_other_widths(width, bins, sizes):
    model = build_embedding_model("ecapa", (None, bins, 1), width=width)
    c, mfa, se, att = sizes
    assert ecapa_channels(width) == {"channels": c, "mfa": mfa, "se": se, "attention": att,
                                     "group": c // 8}
    assert model.get_layer("stem_conv").filters == c
    assert model.get_layer("mfa_conv").filters == mfa
    assert model.get_layer("block2_se_squeeze").units == se
    assert model.get_layer("temporal_pooling").attention_hidden.units == att
    if width != 1.5:  # the 1.5 build only checks the sizes (a 30 M count is not cheap to keep)
        assert _trainable(model) == _ecapa_formula(bins, c, mfa, se, att)
    split = model.get_layer("block1_res2_split")
    assert split.sizes == [c // 8] * 7 + [c - 7 * (c // 8)]


# ----------------------------------------------------------------------------
# Shapes and structure
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    model = build_embedding_model("ecapa", (None, 80, 1), width=TINY, seed=4)
    _randomise_batch_norms(model, seed=4)
    return model


def test_variable_length_input(tiny):
    assert tiny.name == "ecapa_embedding"
    assert tiny.input_shape == (None, None, 80, 1) and tiny.output_shape == (None, 192)
    mfa = keras.Model(tiny.input, tiny.get_layer("mfa_relu").output)
    for frames, size in ((1, 1), (2, 3), (57, 2), (200, 2)):
        x = _batch(frames, size=size, seed=frames)
        out = _np(tiny(x, training=False))
        assert out.shape == (size, 192) and out.dtype == np.float32
        assert np.all(np.isfinite(out))
        assert _np(mfa(x, training=False)).shape == (size, frames, 384)  # no stride
    # A fixed-length model with the same weights gives the same embeddings.
    fixed = build_ecapa((200, 80, 1), width=TINY)
    fixed.set_weights(tiny.get_weights())
    x = _batch(200, size=2, seed=9)
    np.testing.assert_allclose(_np(fixed(x, training=False)), _np(tiny(x, training=False)),
                               rtol=1e-5, atol=1e-5)


def test_other_embedding_sizes_and_bins():
    model = build_embedding_model("ecapa", (300, 40, 1), width=TINY, embedding_dim=32, seed=0)
    assert model.output_shape == (None, 32)
    assert _np(model(_batch(300, 40, size=2), training=False)).shape == (2, 32)


def test_block_inputs_are_summed_and_the_mfa_concatenates_the_blocks(tiny):
    def source(tensor):
        return tensor._keras_history.operation.name

    outputs = ["block1_residual", "block2_residual", "block3_residual"]
    assert [source(t) for t in tiny.get_layer("block2_input").input] == ["stem_bn", outputs[0]]
    assert [source(t) for t in tiny.get_layer("block3_input").input] == ["stem_bn", *outputs[:2]]
    assert [source(t) for t in tiny.get_layer("mfa_concat").input] == outputs
    for block, dilation in enumerate((2, 3, 4), start=1):
        residual = tiny.get_layer(f"block{block}_residual")
        expected_input = "stem_bn" if block == 1 else f"block{block}_input"
        assert [source(t) for t in residual.input] == [f"block{block}_se_scale", expected_input]
        for i in range(1, 8):
            conv = tiny.get_layer(f"block{block}_res2_conv{i}")
            assert conv.kernel_size == (3,) and conv.dilation_rate == (dilation,)
    assert tiny.get_layer("stem_conv").kernel_size == (5,)


def test_receptive_field_of_the_first_block(tiny):
    # The SE's mean over time reaches every frame, so measure before the first SE:
    # stem (k=5) and block 1's 7 cascaded k=3, dilation-2 convolutions: 1 + 4 + 28 = 33.
    probe = keras.Model(tiny.input, tiny.get_layer("block1_out_bn").output)
    x = _batch(121, size=1, seed=3)
    y = x.copy()
    y[0, 60] += 10.0
    changed = np.flatnonzero(
        np.abs(_np(probe(y, training=False)) - _np(probe(x, training=False))).max(axis=-1) > 1e-6
    )
    assert changed.tolist() == list(range(60 - 16, 60 + 17))
    assert receptive_field() == 1 + 4 + 14 * (2 + 3 + 4) == 131


def _conv1d_same(x, kernel, bias, dilation):
    """numpy 'same' dilated convolution: (frames, c_in) -> (frames, c_out)."""
    k = kernel.shape[0]
    pad = (k - 1) // 2 * dilation
    padded = np.pad(x, ((pad, pad), (0, 0)))
    out = np.zeros((x.shape[0], kernel.shape[2])) + bias
    for j in range(k):
        out += padded[j * dilation: j * dilation + x.shape[0]] @ kernel[j]
    return out


def _bn(layer, x):
    gamma, beta, mean, var = (_np(w).astype(np.float64) for w in layer.weights)
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def test_res2net_block_matches_numpy(tiny):
    block, dilation = 2, 3
    prefix = f"block{block}_res2"
    probe = keras.Model(tiny.input, [tiny.get_layer(f"block{block}_in_bn").output,
                                     tiny.get_layer(f"{prefix}_concat").output])
    inp, out = (_np(t).astype(np.float64) for t in probe(_batch(40, size=1, seed=8),
                                                         training=False))
    x = inp[0]
    group = x.shape[1] // 8
    chunks = [x[:, i * group:(i + 1) * group] for i in range(8)]
    expected, y = [], None
    for i in range(7):
        part = chunks[i] if y is None else chunks[i] + y
        conv = tiny.get_layer(f"{prefix}_conv{i + 1}")
        y = _conv1d_same(part, _np(conv.kernel).astype(np.float64),
                         _np(conv.bias).astype(np.float64), dilation)
        y = _bn(tiny.get_layer(f"{prefix}_bn{i + 1}"), np.maximum(y, 0))
        expected.append(y)
    expected.append(chunks[7])
    np.testing.assert_allclose(out[0], np.concatenate(expected, axis=-1), rtol=1e-4, atol=1e-4)


def test_batch_norms_are_standard_top_level_layers(tiny):
    from speakerlib.train.assemble import batch_norms

    found = list(batch_norms(tiny))
    # stem, 3 blocks x (2 + 7), after the pooling, on the embedding
    assert len(found) == 1 + 3 * 9 + 2
    assert all(type(layer) is keras.layers.BatchNormalization for layer in found)
    # No other state: the non-trainable weights are exactly their moving statistics.
    moving = sum(int(np.prod(w.shape)) for w in tiny.non_trainable_weights)
    assert moving == 2 * sum(layer.gamma.shape[0] for layer in found)


@pytest.mark.parametrize("weight_decay", [1e-4, 0.0])
def test_weight_decay_reaches_every_kernel(weight_decay):
    model = build_embedding_model("ecapa", (None, 40, 1), width=TINY, weight_decay=weight_decay)
    layers = []
    for layer in model.layers:
        if isinstance(layer, AttentiveStatisticsPooling):
            layers += [layer.attention_hidden, layer.attention_scores]
        else:
            layers.append(layer)
    kernels = [layer for layer in layers
               if isinstance(layer, (keras.layers.Conv1D, keras.layers.Dense))]
    # 1 stem + 3 x (2 + 7) convs + MFA; 3 x 2 SE dense, 2 attention, 1 embedding
    assert len(kernels) == 1 + 27 + 1 + 6 + 2 + 1
    regularised = [layer for layer in kernels if layer.kernel_regularizer is not None]
    assert len(regularised) == (len(kernels) if weight_decay else 0)
    assert len(model.losses) == len(regularised)


# ----------------------------------------------------------------------------
# Poolings against numpy
# ----------------------------------------------------------------------------


def _attentive_numpy(layer, x, eps=1e-5):
    w1, b1, w2, b2 = (_np(v).astype(np.float64) for v in
                      (*layer.attention_hidden.weights, *layer.attention_scores.weights))
    x = x.astype(np.float64)
    if layer.global_context:
        mean = x.mean(axis=1, keepdims=True)
        std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
        context = np.concatenate([x, np.broadcast_to(mean, x.shape),
                                  np.broadcast_to(std, x.shape)], axis=-1)
    else:
        context = x
    scores = np.tanh(context @ w1 + b1) @ w2 + b2
    alpha = np.exp(scores - scores.max(axis=1, keepdims=True))
    alpha /= alpha.sum(axis=1, keepdims=True)
    mu = (alpha * x).sum(axis=1)
    sigma = np.sqrt((alpha * x ** 2).sum(axis=1) - mu ** 2 + eps)  # the paper's eq. 3
    return np.concatenate([mu, sigma], axis=-1)


@pytest.mark.parametrize("global_context", [True, False])
def test_attentive_statistics_pooling_matches_numpy(global_context):
    x = np.random.default_rng(2).standard_normal((3, 23, 12)).astype(np.float32) * 2 + 1
    layer = AttentiveStatisticsPooling(6, global_context=global_context)
    out = _np(layer(x))
    assert out.shape == (3, 24)
    assert layer.attention_hidden.kernel.shape == ((36 if global_context else 12), 6)
    np.testing.assert_allclose(out, _attentive_numpy(layer, x), rtol=1e-4, atol=1e-4)
    again = AttentiveStatisticsPooling.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()


def test_attentive_pooling_with_uniform_attention_is_plain_statistics():
    x = np.random.default_rng(3).standard_normal((2, 31, 8)).astype(np.float32)
    layer = AttentiveStatisticsPooling(4)
    layer(x)
    layer.attention_scores.set_weights([np.zeros((4, 8)), np.full(8, 0.7)])  # equal scores
    np.testing.assert_allclose(_np(layer(x)), _np(StatisticsPooling()(x)), rtol=1e-5, atol=1e-5)


def test_stats_pooling_option():
    stats = build_embedding_model("ecapa", (None, 80, 1), width=TINY, pooling="stats", seed=1)
    own = build_embedding_model("ecapa", (None, 80, 1), width=TINY, seed=1)
    pooling = stats.get_layer("temporal_pooling")
    assert type(pooling) is StatisticsPooling
    assert isinstance(own.get_layer("temporal_pooling"), AttentiveStatisticsPooling)
    assert _trainable(own) - _trainable(stats) == 3 * 384 * 32 + 32 + 32 * 384 + 384
    assert _trainable(stats) == _ecapa_formula(80, 128, 384, 32, 32, stats=True)
    probe = keras.Model(stats.input, [stats.get_layer("mfa_relu").output, pooling.output])
    h, pooled = (_np(t).astype(np.float64) for t in probe(_batch(64), training=False))
    expected = np.concatenate([h.mean(axis=1), np.sqrt(h.var(axis=1) + 1e-5)], axis=-1)
    np.testing.assert_allclose(pooled, expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# Save / load, mixed precision, defaults
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", [None, "stats"])
def test_save_load_round_trip(tmp_path, pooling):
    model = build_embedding_model("ecapa", (None, 80, 1), width=TINY, pooling=pooling,
                                  weight_decay=1e-4, seed=7)
    _randomise_batch_norms(model, seed=7)
    path = tmp_path / "ecapa.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.name == model.name
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert len(loaded.losses) == len(model.losses)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(_np(a), _np(b))
    x = _batch(93, size=2, seed=11)
    np.testing.assert_array_equal(_np(loaded(x, training=False)), _np(model(x, training=False)))


def test_channel_split_layer():
    x = np.arange(2 * 3 * 10, dtype=np.float32).reshape(2, 3, 10)
    layer = ChannelSplit([3, 3, 4])
    parts = [_np(p) for p in layer(x)]
    assert [p.shape for p in parts] == [(2, 3, 3), (2, 3, 3), (2, 3, 4)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=-1), x)
    assert ChannelSplit.from_config(layer.get_config()).sizes == [3, 3, 4]
    with pytest.raises(ModelConfigError, match=r"expected 9 channels \(the sum of sizes \[3, 3, 3\]\), got input shape \(2, 3, 10\)"):
        ChannelSplit([3, 3, 3])(x)


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_trains_under_mixed_precision(mixed_float16, tmp_path):
    """float16 compute, float32 weights, pooling, head and loss, on the CPU."""
    embedding = build_embedding_model("ecapa", (None, 40, 1), width=TINY, seed=0)
    convs = [layer for layer in embedding.layers if isinstance(layer, keras.layers.Conv1D)]
    assert len(convs) == 29
    assert all(c.compute_dtype == "float16" and c.kernel.dtype == "float32" for c in convs)
    for name in ("temporal_pooling", "pooling_bn", "embedding_dense", "embedding_bn"):
        assert embedding.get_layer(name).compute_dtype == "float32"
    inputs = keras.Input((None, 40, 1))
    outputs = keras.layers.Dense(5, dtype="float32", name="speaker_logits")(embedding(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 60, 40, 1)).astype(np.float32)
    y = np.arange(16) % 5
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    out = embedding(x[:4], training=False)
    assert out.dtype == "float32" and tuple(out.shape) == (4, 192)
    assert np.isfinite(_np(out)).all()
    path = tmp_path / "embedding.keras"
    embedding.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(again(x[:4], training=False)), _np(out), atol=1e-3)


def test_default_embedding_sizes_are_each_familys_own():
    assert tuple(DEFAULT_EMBEDDING_DIMS) == MODEL_NAMES
    assert tuple(BUILDERS) == MODEL_NAMES
    for name, builder in BUILDERS.items():
        default = inspect.signature(builder).parameters["embedding_dim"].default
        assert DEFAULT_EMBEDDING_DIMS[name] == default, name
    assert DEFAULT_EMBEDDING_DIMS["ecapa"] == 192
    assert set(DEFAULT_EMBEDDING_DIMS[n] for n in MODEL_NAMES if n != "ecapa") == {512}
    assert build_embedding_model("ecapa", (None, 80, 1), width=TINY).output_shape == (None, 192)
    seresnet = build_embedding_model("seresnet", (None, 40, 1), width=0.25)
    assert seresnet.output_shape == (None, 512)
    assert build_embedding_model("seresnet", (None, 40, 1), width=0.25,
                                 embedding_dim=None).count_params() == seresnet.count_params()


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, fragment",
    [
        ({"pooling": "attention"}, "expected pooling None (the architecture's own) or one of "
                                   "['stats'], got 'attention'"),
        ({"pooling": "mean"}, "got 'mean'"),
        ({"width": 0.005}, "expected width >= 0.0073"),
        ({"width": 0}, "expected width a finite float > 0"),
        ({"embedding_dim": 0}, "expected embedding_dim an int >= 1"),
        ({"weight_decay": -1.0}, "expected weight_decay a finite float >= 0"),
        ({"input_shape": (200, 80)}, "(200, 80) (2-D)"),
        ({"input_shape": (200, 80, 3)}, "got 3 channels"),
        ({"input_shape": (200, None, 1)}, "the number of bins must be known"),
        ({"input_shape": (0, 80, 1)}, "got frames=0"),
        ({"input_shape": (200.0, 80, 1)}, "got frames=200.0"),
        ({"input_shape": 80}, "got 80"),
    ],
)
def test_bad_settings_are_model_config_errors(settings, fragment):
    settings = {"input_shape": (None, 80, 1), "width": TINY, **settings}
    shape = settings.pop("input_shape")
    with pytest.raises(ModelConfigError, match=re.escape(fragment)) as info:
        build_embedding_model("ecapa", shape, **settings)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SpeakerlibError)
    assert "'ecapa'" in str(info.value)


def test_unknown_name_lists_ecapa():
    with pytest.raises(UnknownNameError) as info:
        build_embedding_model("ecapa_tdnn", (None, 80, 1))
    assert "ecapa_tdnn" in str(info.value) and "'ecapa'" in str(info.value)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: ChannelSplit([]), "expected sizes a non-empty list of ints >= 1"),
        (lambda: ChannelSplit([2, 0]), "got [2, 0]"),
        (lambda: AttentiveStatisticsPooling(0), "expected bottleneck_units an int >= 1"),
        (lambda: AttentiveStatisticsPooling(8, global_context=1), "True or False"),
        (lambda: AttentiveStatisticsPooling(8, eps=-1.0), "expected eps a finite float >= 0"),
        (lambda: AttentiveStatisticsPooling(8)(np.zeros((2, 3, 4, 5), np.float32)),
         "expected input (batch, frames, channels)"),
    ],
)
def test_bad_layer_settings(make, fragment):
    with pytest.raises(ModelConfigError, match=re.escape(fragment)):
        make()
