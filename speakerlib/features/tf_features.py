"""The features of :mod:`speakerlib.features`, computed with TensorFlow.

This module imports TensorFlow and Keras; :mod:`speakerlib.features` does not
import it, so that the numpy side never loads TensorFlow. Import it as
``from speakerlib.features.tf_features import FeatureExtractor``.

The same four kinds (``reference``, ``logmel``, ``spectrogram``, ``mfcc``),
for a batch of signals at once, with ``tf.signal``: framing with
``tf.signal.frame``, ``tf.signal.rfft``, then a matrix product with the mel
filterbank. Everything here is a TensorFlow op, so it works eagerly, inside a
``tf.data.Dataset.map`` and inside a Keras model (:class:`FeatureExtractor`),
on CPU or GPU.

Exactness. The mel filterbanks, windows and DCT matrices are not rebuilt with
TensorFlow's own helpers: they are the numpy module's matrices, embedded as
constants. (``tf.signal.linear_to_mel_weight_matrix`` builds HTK-style
filters in the frequency domain without Slaney's area normalisation, and
python_speech_features' bin rounding is not available at all.) The framing
rules and the arithmetic are the same; the differences with numpy come from
float32 arithmetic alone (numpy works in float64): see the tests for the
tolerances.

Checks. A signal whose length is known when the graph is built and is shorter
than one window raises :class:`~speakerlib.errors.AudioTooShortError` right
away; a dynamic length is checked when the graph runs
(``tf.errors.InvalidArgumentError``). Samples are not checked for NaN or
infinity here (NaN propagates to the features): :func:`speakerlib.features.compute_features`
does that check when features are precomputed.
"""

from __future__ import annotations

import functools

import numpy as np

from speakerlib._tensorflow import keras, tf
from speakerlib.errors import FeatureError
from speakerlib.features.config import FeatureConfig
from speakerlib.features.dsp import window_function
from speakerlib.features.kinds import NORMALIZE_EPS
from speakerlib.registry import NORMALIZE_MODES

__all__ = ["compute_features_tf", "normalize_tf", "FeatureExtractor"]


@functools.lru_cache(maxsize=16)
def _constants(config: FeatureConfig) -> dict[str, np.ndarray]:
    """The float32 window, ``(bins, n_mels)`` filterbank and DCT of a config."""
    constants = {"window": window_function(config.window, config.win_samples).astype(np.float32)}
    if config.kind != "spectrogram":
        constants["mel"] = np.ascontiguousarray(config.mel_filterbank().T, dtype=np.float32)
    if config.kind == "mfcc":
        constants["dct"] = config.dct_matrix().astype(np.float32)
    return constants


def _padding(num_samples, config: FeatureConfig):
    """``(left, right, frames)`` of the config's framing rule; ints or int32 tensors."""
    win, hop, n_fft = config.win_samples, config.hop_samples, config.n_fft
    rule = config.framing
    maximum = tf.maximum if tf.is_tensor(num_samples) else max
    if rule == "reference":
        # 1 + ceil((n - win) / hop), the last frame completed with zeros.
        count = 1 + maximum(0, -((win - num_samples) // hop))
        left = 0
    elif rule == "center":
        count = 1 + (num_samples + 2 * (n_fft // 2) - n_fft) // hop
        left = config.center_left_pad()
    else:
        count = 1 + (num_samples - win) // hop
        left = 0
    right = maximum((count - 1) * hop + win - left - num_samples, 0)
    return left, right, count


def normalize_tf(features: tf.Tensor, *, mode: str, eps: float = NORMALIZE_EPS) -> tf.Tensor:
    """:func:`speakerlib.features.normalize` for a batch, ``(..., frames, bins)``.

    Statistics are computed in float64 from the float32 features, as in the
    numpy version, so a constant frame (digital silence) becomes exactly 0.

    Parameters
    ----------
    features : tf.Tensor [shape=(..., frames, bins), dtype=float32]
    mode : {"none", "per_frame", "per_utterance"}
        ``per_frame``: each frame over its bins; ``per_utterance``: each bin
        over the frames of its own utterance.
    eps : float > 0
        Smallest standard deviation divided by.

    Returns
    -------
    tf.Tensor [shape=(..., frames, bins), dtype=float32]

    Raises
    ------
    FeatureError
        If the mode is unknown.
    """
    if mode not in NORMALIZE_MODES:
        raise FeatureError(f"normalize_tf: expected mode in {list(NORMALIZE_MODES)}, got {mode!r}")
    if mode == "none":
        return features
    axis = -1 if mode == "per_frame" else -2
    x = tf.cast(features, tf.float64)
    centred = x - tf.reduce_mean(x, axis=axis, keepdims=True)
    std = tf.sqrt(tf.reduce_mean(tf.square(centred), axis=axis, keepdims=True))
    return tf.cast(centred / tf.maximum(std, tf.constant(eps, tf.float64)), tf.float32)


def compute_features_tf(signals: tf.Tensor, config: FeatureConfig) -> tf.Tensor:
    """:func:`speakerlib.features.compute_features` for a batch, in TensorFlow.

    Parameters
    ----------
    signals : tf.Tensor [shape=(batch, samples) or (samples,), dtype=float32]
        Audio in [-1, 1] at ``config.sample_rate_hz``; other float dtypes are
        cast to float32.
    config : FeatureConfig

    Returns
    -------
    tf.Tensor [shape=(batch, frames, bins) or (frames, bins), dtype=float32]
        Normalised as ``config.normalize`` says. The frame count is static
        when the number of samples is (``config.output_shape(samples)``).

    Raises
    ------
    AudioTooShortError
        If the number of samples is static and shorter than one window.
    FeatureError
        If ``config`` is not a FeatureConfig or ``signals`` has another rank.

    Examples
    --------
    >>> import tensorflow as tf
    >>> feats = compute_features_tf(tf.zeros((8, 48000)), FeatureConfig())
    >>> tuple(feats.shape)
    (8, 299, 40)
    """
    if not isinstance(config, FeatureConfig):
        raise FeatureError(
            f"compute_features_tf: expected a FeatureConfig, got {type(config).__name__}"
        )
    x = tf.convert_to_tensor(signals)
    if x.dtype != tf.float32:
        x = tf.cast(x, tf.float32)
    rank = x.shape.rank
    if rank not in (1, 2):
        raise FeatureError(
            f"compute_features_tf: expected signals of shape (batch, samples) or (samples,), "
            f"got shape {tuple(x.shape)}"
        )
    if rank == 1:
        x = x[tf.newaxis]
    c = config
    consts = _constants(c)
    win, hop = c.win_samples, c.hop_samples

    static_n = x.shape[-1]
    if static_n is not None:
        frames_out = c.num_frames(static_n)  # raises AudioTooShortError
        num_samples = static_n
    else:
        frames_out = None
        num_samples = tf.shape(x)[-1]
        tf.debugging.assert_greater_equal(
            num_samples, win,
            message=f"compute_features_tf: expected at least one analysis window of {win} samples",
        )

    if c.input_scale != 1.0:
        x = x * c.input_scale
    if c.preemphasis:
        x = tf.concat([x[:, :1], x[:, 1:] - c.preemphasis * x[:, :-1]], axis=-1)
    left, right, count = _padding(num_samples, c)
    x = tf.pad(x, [[0, 0], [left, right]])
    frames = tf.signal.frame(x, frame_length=win, frame_step=hop, axis=-1)[:, :count]
    if c.window != "rectangular":
        frames = frames * consts["window"]
    spectrum = tf.signal.rfft(frames, fft_length=[c.n_fft])
    power = tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum))

    if c.kind == "spectrogram":
        if c.log:
            feats = tf.math.log(tf.maximum(power, c.log_floor))
        else:
            feats = tf.sqrt(power)
    else:
        if c.kind == "reference":
            power = power / float(c.n_fft)
        energies = tf.matmul(power, consts["mel"])
        feats = tf.math.log(tf.maximum(energies, c.log_floor))
        if c.kind == "mfcc":
            feats = tf.matmul(feats, consts["dct"])
    feats = normalize_tf(feats, mode=c.normalize)
    feats = tf.ensure_shape(feats, [x.shape[0], frames_out, c.num_bins])
    return feats[0] if rank == 1 else feats


@keras.saving.register_keras_serializable(package="speakerlib")
class FeatureExtractor(keras.layers.Layer):
    """Keras layer: features of raw audio, ``(batch, samples) -> (batch, frames, bins)``.

    It has no weights; its whole state is its :class:`FeatureConfig`, saved in
    the model's config, so a ``.keras`` file restores the same front end.
    Needs Keras' TensorFlow backend. Computes in float32 whatever the model's
    dtype policy (FFTs in float16 lose too much).

    Parameters
    ----------
    config : FeatureConfig or dict or None
        The features; a dict is a :meth:`FeatureConfig.to_dict`; None means
        the reference config.
    **kwargs
        Keras layer arguments (``name``...).

    Examples
    --------
    >>> import keras
    >>> inputs = keras.Input(shape=(48000,))
    >>> feats = FeatureExtractor(FeatureConfig.for_kind("logmel"), name="logmel")(inputs)
    >>> tuple(feats.shape)
    (None, 301, 64)
    """

    def __init__(self, config: FeatureConfig | dict | None = None, **kwargs) -> None:
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if config is None:
            config = FeatureConfig()
        elif isinstance(config, dict):
            config = FeatureConfig.from_dict(config)
        elif not isinstance(config, FeatureConfig):
            raise FeatureError(
                f"FeatureExtractor: expected a FeatureConfig or a dict, got {type(config).__name__}"
            )
        self.feature_config = config

    def call(self, inputs):
        return compute_features_tf(inputs, self.feature_config)

    def compute_output_shape(self, input_shape):
        num_samples = input_shape[-1]
        frames = None if num_samples is None else self.feature_config.num_frames(num_samples)
        return (*input_shape[:-1], frames, self.feature_config.num_bins)

    def get_config(self) -> dict:
        base = super().get_config()
        base["config"] = self.feature_config.to_dict()
        return base
