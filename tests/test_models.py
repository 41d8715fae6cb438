"""The embedding models: sizes, shapes, save/load, shortcuts, errors, seeds.

Independent checks: the parameter counts of DeepSpeaker and the thin
ResNet-34 are recomputed from the papers' layer tables by hand-written
formulas (not from the builders), and the custom layers are compared with
numpy. Full-width models are built once per module and only run on batches
of one or two; everything saved, loaded or rebuilt uses width 0.25.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from speakerlib.errors import SpeakerlibError  # noqa: E402
from speakerlib.models import (  # noqa: E402
    MODEL_NAMES,
    build_embedding_model,
    count_parameters,
)
from speakerlib.models.layers import PointwiseConv2D, SqueezeExcitation, StatisticsPooling  # noqa: E402
from speakerlib.models.resnet import build_resnet  # noqa: E402

# Keras' own model.save converts variables with np.array(variable), which
# numpy 2 flags; the warning is Keras', not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

REFERENCE_SHAPE = (299, 40, 1)
SMALL = 0.25  # width of the models that are saved, loaded or rebuilt

# Exact counts at width 1, each family's default embedding_dim (512; ECAPA
# 192), own pooling, on (299, 40, 1), trainable + non-trainable (BN moving
# statistics); also in the docstrings. ECAPA's count is checked against the
# paper's in tests/test_models_ecapa.py.
EXPECTED_PARAMETERS = {
    "deepspeaker": 23_916_864,
    "resnet34": 5_595_808,
    "resnet50": 6_965_152,
    "seresnet": 1_384_384,
    "ecapa": 14_478_720,
}
# The documented ranges (SEED.md and the models' docstrings).
EXPECTED_RANGES = {
    "deepspeaker": (14e6, 24e6),
    "resnet34": (2e6, 10e6),
    "resnet50": (2e6, 10e6),
    "seresnet": (1.3e6, 1.5e6),
    "ecapa": (14e6, 15e6),  # the paper's 14.7 M on 80 bins; 40 bins: 204,800 fewer
}
# The embedding size each family builds when none is given.
EMBEDDING_DIMS = {"deepspeaker": 512, "resnet34": 512, "resnet50": 512, "seresnet": 512,
                  "ecapa": 192}
# The tensor "stats" pooling pools: the frequency-flattened map, or ECAPA's MFA output.
POOLED_LAYER = {"ecapa": "mfa_relu"}


def _np(value) -> np.ndarray:
    """A tensor or variable as a numpy array (without numpy's __array__ warning)."""
    return keras.ops.convert_to_numpy(value)


def _batch(frames: int, bins: int, size: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((size, frames, bins, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def full_models() -> dict[str, keras.Model]:
    """The five models at width 1 on the reference shape, built once."""
    return {name: build_embedding_model(name, REFERENCE_SHAPE, seed=0) for name in MODEL_NAMES}


@pytest.fixture(scope="module")
def full_outputs(full_models) -> dict[str, np.ndarray]:
    x = _batch(299, 40)
    return {name: _np(model(x, training=False)) for name, model in full_models.items()}


# ----------------------------------------------------------------------------
# Registry and sizes
# ----------------------------------------------------------------------------


def test_model_names():
    assert MODEL_NAMES == ("deepspeaker", "resnet34", "resnet50", "seresnet", "ecapa")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_count_exact_and_in_range(full_models, name):
    model = full_models[name]
    count = count_parameters(model)
    assert count == EXPECTED_PARAMETERS[name]
    low, high = EXPECTED_RANGES[name]
    assert low <= count <= high
    assert count == model.count_params()  # Keras' own count agrees


def _deepspeaker_formula(bins: int, embedding_dim: int = 512) -> int:
    """DeepSpeaker's count from its layer table: bias-free convs, BN, Dense."""
    total, c_in = 0, 1
    for c in (64, 128, 256, 512):
        total += 5 * 5 * c_in * c + 4 * c  # stride-2 conv + BN (gamma, beta, mean, var)
        total += 3 * 2 * (3 * 3 * c * c + 4 * c)  # 3 residual blocks of two 3x3 convs + BN
        c_in = c
    freq = bins
    for _ in range(4):
        freq = math.ceil(freq / 2)
    return total + freq * 512 * embedding_dim + embedding_dim


def _resnet34_formula(bins: int, embedding_dim: int = 512) -> int:
    """Thin ResNet-34's count: 7x7 stem, [3,4,6,3] basic blocks, 1x1 projections."""
    total = 7 * 7 * 1 * 32 + 4 * 32
    c_in = 32
    for stage, (c, blocks) in enumerate(zip((32, 64, 128, 256), (3, 4, 6, 3))):
        for block in range(blocks):
            total += 9 * c_in * c + 4 * c + 9 * c * c + 4 * c
            if c_in != c or (stage > 0 and block == 0):
                total += c_in * c + 4 * c
            c_in = c
    freq = bins
    for _ in range(5):  # stem conv, max-pool, three stride-2 stages
        freq = math.ceil(freq / 2)
    return total + freq * 256 * embedding_dim + embedding_dim


@pytest.mark.parametrize("bins", [40, 64])
def test_parameter_counts_match_hand_formulas(full_models, bins):
    if bins == 40:
        deepspeaker, resnet34 = full_models["deepspeaker"], full_models["resnet34"]
    else:
        deepspeaker = build_embedding_model("deepspeaker", (299, bins, 1))
        resnet34 = build_embedding_model("resnet34", (299, bins, 1))
    assert count_parameters(deepspeaker) == _deepspeaker_formula(bins)
    assert count_parameters(resnet34) == _resnet34_formula(bins)


def test_count_parameters_rejects_non_models():
    with pytest.raises(TypeError, match="keras.Model"):
        count_parameters(np.zeros(3))


# ----------------------------------------------------------------------------
# Shapes and outputs
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_reference_shape_output(full_models, full_outputs, name):
    model = full_models[name]
    assert model.name == f"{name}_embedding"
    assert model.input_shape == (None, 299, 40, 1)
    dim = EMBEDDING_DIMS[name]
    assert model.output_shape == (None, dim)
    out = full_outputs[name]
    assert out.shape == (2, dim) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert not np.allclose(out[0], out[1])  # the two inputs differ, so do the embeddings


def test_deepspeaker_embeddings_have_unit_norm(full_outputs):
    norms = np.linalg.norm(full_outputs["deepspeaker"].astype(np.float64), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_seresnet_ends_with_elu(full_outputs):
    assert full_outputs["seresnet"].min() > -1.0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_spectrogram_shaped_input(name):
    model = build_embedding_model(name, (301, 257, 1), width=SMALL, embedding_dim=64, seed=1)
    out = _np(model(_batch(301, 257, size=1), training=False))
    assert out.shape == (1, 64)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_variable_length_input(name):
    variable = build_embedding_model(name, (None, 40, 1), width=SMALL, seed=3)
    assert variable.input_shape == (None, None, 40, 1)
    for frames, size in ((150, 1), (317, 2)):
        out = _np(variable(_batch(frames, 40, size=size), training=False))
        assert out.shape == (size, EMBEDDING_DIMS[name])
        assert np.all(np.isfinite(out))
    # The same weights in a fixed-length model give the same embeddings.
    fixed = build_embedding_model(name, (299, 40, 1), width=SMALL, seed=3)
    x = _batch(299, 40, size=1, seed=5)
    np.testing.assert_allclose(
        _np(variable(x, training=False)), _np(fixed(x, training=False)),
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_stats_pooling(name):
    stats = build_embedding_model(name, (None, 40, 1), width=SMALL, pooling="stats", seed=2)
    dense = {"deepspeaker": "embedding_affine", "seresnet": "embedding_dense",
             "ecapa": "embedding_dense"}.get(name, "embedding")
    flat = stats.get_layer(POOLED_LAYER.get(name, "flatten_frequency")).output
    pooled = stats.get_layer("temporal_pooling").output
    assert pooled.shape[-1] == 2 * flat.shape[-1]
    assert stats.get_layer(dense).kernel.shape[0] == pooled.shape[-1]
    # The pooled vector is the mean and standard deviation over time of the
    # frequency-flattened map, computed here with numpy.
    probe = keras.Model(stats.input, [flat, pooled, stats.output])
    flat_x, pooled_x, out = (_np(t) for t in probe(_batch(77, 40, size=2), training=False))
    flat_x = flat_x.astype(np.float64)
    expected = np.concatenate([flat_x.mean(axis=1), np.sqrt(flat_x.var(axis=1) + 1e-5)], axis=-1)
    np.testing.assert_allclose(pooled_x, expected, rtol=1e-4, atol=1e-5)
    assert out.shape == (2, EMBEDDING_DIMS[name]) and np.all(np.isfinite(out))


# ----------------------------------------------------------------------------
# Structure
# ----------------------------------------------------------------------------

_AUTO_NAME = re.compile(
    r"^(input_layer|conv[12]d|batch_normalization|re_lu|relu|elu|add|dense|reshape|dropout|"
    r"max_pooling2d|global_average_pooling[12]d|unit_normalization|statistics_pooling|"
    r"squeeze_excitation|concatenate|multiply|channel_split|attentive_statistics_pooling)"
    r"(_\d+)?$"
)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_layer_is_named(full_models, name):
    names = [layer.name for layer in full_models[name].layers]
    assert len(names) == len(set(names))
    assert [n for n in names if _AUTO_NAME.match(n)] == []


def _proj(model, prefix):
    try:
        return model.get_layer(f"{prefix}_proj_conv")
    except ValueError:
        return None


def test_resnet34_projection_shortcuts(full_models):
    model = full_models["resnet34"]
    channels = (32, 64, 128, 256)
    for stage, blocks in enumerate((3, 4, 6, 3), start=1):
        for block in range(1, blocks + 1):
            proj = _proj(model, f"stage{stage}_block{block}")
            changes = stage > 1 and block == 1  # stride 2 and twice the channels
            assert (proj is not None) == changes, (stage, block)
            if changes:
                assert proj.kernel_size == (1, 1)
                # stride 2, as a PointwiseConv2D (every other frame and bin, then a 1x1)
                assert isinstance(proj, PointwiseConv2D)
                assert (proj.subsample, proj.strides) == (2, (1, 1))
                assert proj.filters == channels[stage - 1]
                # it reads the previous block's output, and its BN feeds the addition
                previous = f"stage{stage - 1}_block{(3, 4, 6, 3)[stage - 2]}_out"
                assert proj.input is model.get_layer(previous).output
                bn = model.get_layer(f"stage{stage}_block{block}_proj_bn")
                add = model.get_layer(f"stage{stage}_block{block}_add")
                assert any(t is bn.output for t in add.input)
    # Every addition adds tensors of one shape.
    for layer in model.layers:
        if layer.name.endswith("_add"):
            a, b = layer.input
            assert tuple(a.shape) == tuple(b.shape)


def _stride(conv) -> tuple[int, int]:
    """A convolution's stride: a PointwiseConv2D's subsample, a Conv2D's strides."""
    if isinstance(conv, PointwiseConv2D):
        assert conv.strides == (1, 1)
        return (conv.subsample, conv.subsample)
    return tuple(conv.strides)


def test_resnet50_projection_shortcuts(full_models):
    model = full_models["resnet50"]
    first = _proj(model, "stage1_block1")  # 32 -> 128 channels, stride 1
    assert first is not None and _stride(first) == (1, 1) and first.filters == 128
    assert _proj(model, "stage1_block2") is None
    for stage, filters in ((2, 256), (3, 512), (4, 1024)):
        proj = _proj(model, f"stage{stage}_block1")
        assert _stride(proj) == (2, 2) and proj.filters == filters
        assert model.get_layer(f"stage{stage}_block1_conv2").strides == (2, 2)
        assert _proj(model, f"stage{stage}_block2") is None


def test_resnet_stem_pool_ablation():
    with_pool = build_resnet(34, (299, 40, 1), width=SMALL)
    without = build_resnet(34, (299, 40, 1), width=SMALL, stem_pool=False)
    assert with_pool.get_layer("stage4_block3_out").output.shape[1:3] == (10, 2)
    assert without.get_layer("stage4_block3_out").output.shape[1:3] == (19, 3)


def test_seresnet_structure(full_models):
    model = full_models["seresnet"]
    for block, out in enumerate((256, 256, 512), start=1):
        proj = model.get_layer(f"block{block}_unit1_proj_conv")
        assert _stride(proj) == (2, 2) and proj.filters == out
        assert model.get_layer(f"block{block}_unit1_conv2").filters == out // 4
        assert _proj(model, f"block{block}_unit2") is None
        se = model.get_layer(f"block{block}_se")
        assert isinstance(se, SqueezeExcitation) and se.squeeze.units == out // 8
        assert model.get_layer(f"block{block}_dropout").rate == pytest.approx(0.1)


def test_width_scales_channels():
    model = build_embedding_model("deepspeaker", REFERENCE_SHAPE, width=0.3)
    assert [model.get_layer(f"stage{s}_conv5x5").filters for s in (1, 2, 3, 4)] == [
        19, 38, 77, 154,
    ]
    tiny = build_embedding_model("seresnet", REFERENCE_SHAPE, width=0.001)
    assert tiny.get_layer("stem_conv3x3").filters == 1
    assert tiny.get_layer("block1_se").squeeze.units == 1


@pytest.mark.parametrize("weight_decay, expected", [(1e-5, True), (0.0, False)])
def test_weight_decay(weight_decay, expected):
    model = build_embedding_model("seresnet", REFERENCE_SHAPE, width=SMALL,
                                  weight_decay=weight_decay)
    layers = []
    for layer in model.layers:
        layers += [layer.squeeze, layer.excite] if isinstance(layer, SqueezeExcitation) else [layer]
    kernels = [
        layer for layer in layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    assert sum(isinstance(layer, keras.layers.Dense) for layer in kernels) == 7  # 3 SE x 2 + 1
    regularised = [layer for layer in kernels if layer.kernel_regularizer is not None]
    assert len(regularised) == (len(kernels) if expected else 0)
    assert len(model.losses) == len(regularised)
    if expected:
        assert regularised[0].kernel_regularizer.l2 == pytest.approx(weight_decay)


# ----------------------------------------------------------------------------
# Save / load, seeds
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, pooling",
    [("deepspeaker", None), ("resnet34", "stats"), ("resnet50", None), ("seresnet", "stats")],
)
def test_save_load_round_trip(tmp_path, name, pooling):
    model = build_embedding_model(name, (None, 40, 1), width=SMALL, pooling=pooling, seed=7)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.name == model.name
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(_np(a), _np(b))
    x = _batch(123, 40, size=2, seed=11)
    np.testing.assert_array_equal(
        _np(loaded(x, training=False)), _np(model(x, training=False))
    )


def test_same_seed_same_weights():
    a = build_embedding_model("seresnet", REFERENCE_SHAPE, width=SMALL, seed=42)
    b = build_embedding_model("seresnet", REFERENCE_SHAPE, width=SMALL, seed=42)
    c = build_embedding_model("seresnet", REFERENCE_SHAPE, width=SMALL, seed=43)
    assert len(a.weights) == len(b.weights)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(_np(wa), _np(wb))
    kernel = "stem_conv3x3"
    assert not np.array_equal(
        _np(a.get_layer(kernel).kernel), _np(c.get_layer(kernel).kernel)
    )


# ----------------------------------------------------------------------------
# Custom layers against numpy
# ----------------------------------------------------------------------------


def test_statistics_pooling_matches_numpy():
    x = np.random.default_rng(0).standard_normal((3, 17, 5)).astype(np.float32) * 3 + 1
    layer = StatisticsPooling(eps=1e-5)
    out = _np(layer(x))
    expected = np.concatenate(
        [x.astype(np.float64).mean(axis=1), np.sqrt(x.astype(np.float64).var(axis=1) + 1e-5)],
        axis=-1,
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert StatisticsPooling.from_config(layer.get_config()).eps == 1e-5


def test_squeeze_excitation_matches_numpy():
    x = np.random.default_rng(1).standard_normal((2, 6, 4, 16)).astype(np.float32)
    layer = SqueezeExcitation(reduction=4)
    out = _np(layer(x))
    w1, b1 = (_np(v).astype(np.float64) for v in layer.squeeze.weights)
    w2, b2 = (_np(v).astype(np.float64) for v in layer.excite.weights)
    assert w1.shape == (16, 4)
    pooled = x.astype(np.float64).mean(axis=(1, 2))
    gate = 1 / (1 + np.exp(-(np.maximum(pooled @ w1 + b1, 0) @ w2 + b2)))
    np.testing.assert_allclose(out, x * gate[:, None, None, :], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as info:
        build_embedding_model("resnet18")
    assert isinstance(info.value, SpeakerlibError)
    for name in MODEL_NAMES:
        assert name in str(info.value)
    assert "resnet18" in str(info.value)


@pytest.mark.parametrize(
    "shape, fragment",
    [
        ((299, 40), "2-D"),
        ((1, 299, 40, 1), "4-D"),
        ((299, 40, 3), "3 channels"),
        ((299, None, 1), "bins=None"),
        ((5, 40, 1), "frames=5"),
        ((299, 8, 1), "bins=8"),
        ((299.0, 40, 1), "frames=299.0"),
    ],
)
def test_bad_input_shape(shape, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)) as info:
        build_embedding_model("deepspeaker", shape)
    assert "expected input_shape (frames, bins, 1)" in str(info.value)
    assert isinstance(info.value, SpeakerlibError)


def test_resnet_needs_more_bins_than_deepspeaker():
    build_embedding_model("deepspeaker", (299, 9, 1), width=SMALL)  # total stride 16: >= 9
    with pytest.raises(ValueError, match="bins=16"):  # total stride 32: >= 17
        build_embedding_model("resnet34", (299, 16, 1), width=SMALL)


@pytest.mark.parametrize(
    "settings",
    [
        {"pooling": "attention"},
        {"pooling": "mean"},
        {"width": 0},
        {"width": float("nan")},
        {"embedding_dim": 0},
        {"embedding_dim": 512.0},
        {"weight_decay": -1e-5},
        {"seed": -1},
    ],
)
def test_bad_settings(settings):
    with pytest.raises(ValueError, match="expected"):
        build_embedding_model("resnet34", **settings)


@pytest.mark.parametrize("subsample, frames, bins", [(2, 299, 40), (2, 10, 7), (3, 11, 5), (1, 4, 4)])
def test_pointwise_conv_equals_a_strided_keras_conv(subsample, frames, bins):
    x = _batch(frames, bins, size=2)[..., :1].repeat(3, axis=-1)
    ours = PointwiseConv2D(4, subsample=subsample, use_bias=False, name="ours")
    keras_conv = keras.layers.Conv2D(4, 1, strides=subsample, padding="same", use_bias=False)
    want_shape = keras_conv.compute_output_shape(x.shape)
    keras_out = _np(keras_conv(x))
    ours.build(x.shape)
    ours.set_weights(keras_conv.get_weights())
    got = _np(ours(x))
    assert got.shape == keras_out.shape == tuple(want_shape) == ours.compute_output_shape(x.shape)
    np.testing.assert_allclose(got, keras_out, rtol=1e-5, atol=1e-5)


def test_pointwise_conv_refuses_a_kernel_or_a_bad_subsample():
    with pytest.raises(SpeakerlibError, match="kernel_size is always 1"):
        PointwiseConv2D(4, kernel_size=3)
    with pytest.raises(SpeakerlibError, match="subsample an integer"):
        PointwiseConv2D(4, subsample=0)
