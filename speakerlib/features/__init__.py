"""Acoustic features: log mel filterbanks, spectrograms and MFCCs, in numpy.

Four kinds of features, each a pure function of a 1-D float signal:

=============== ============================= ===================================== ====
kind            function                      what                                  bins
=============== ============================= ===================================== ====
``reference``   :func:`reference_logfbank`    the seed's features (the defaults of  40
                                              ``python_speech_features.logfbank``)
``logmel``      :func:`log_mel`               log mel energies, librosa's way       64
``spectrogram`` :func:`linear_spectrogram`    VggVox's linear magnitude spectrogram 257
``mfcc``        :func:`mfcc`                  orthonormal DCT-II of the log-mel     20
=============== ============================= ===================================== ====

:class:`FeatureConfig` gathers every setting of one kind (with the kind's
defaults), :func:`compute_features` turns a signal and a config into a
``float32`` array of shape ``(frames, bins)`` and applies the config's
:func:`normalize` mode.

Conventions shared by every function here:

* the signal is a float array in [-1, 1] at ``sample_rate_hz``; nothing is
  ever resampled;
* the arithmetic is done in float64 and the result returned as float32;
* frames are rows: the output is ``(frames, bins)``, time first;
* "log" is the natural logarithm of an energy floored at ``log_floor``;
* window and hop lengths in samples are ``round_half_up(win_s *
  sample_rate_hz)`` and ``round_half_up(hop_s * sample_rate_hz)`` (400 and 160
  at 16 kHz).

Framing. Three rules are used:

``reference`` (python_speech_features)
    Frames of ``win`` samples start at ``0, hop, 2 hop, ...``; there are
    ``1 + ceil((n - win) / hop)`` of them and the last one is completed with
    zeros. 3 s at 16 kHz gives 299 frames.
``center=True`` (librosa's default, used by the other kinds)
    Frame ``t`` is the window of ``win`` samples centred on sample ``t * hop``
    (``n_fft // 2 - (n_fft - win) // 2`` zeros are added before the signal and
    as many as needed after it); there are
    ``1 + (n + 2 * (n_fft // 2) - n_fft) // hop`` frames (``1 + n // hop`` for
    an even ``n_fft``): 3 s at 16 kHz gives 301 frames. This is exactly
    ``librosa.stft(..., center=True, pad_mode="constant")``.
``center=False`` (the other kinds, on request)
    Frames of ``win`` samples start at ``0, hop, ...`` and the incomplete tail
    is dropped: ``1 + (n - win) // hop`` frames, 298 for 3 s (the
    ``tf.signal.stft`` and Kaldi ``snip-edges`` convention). Note that this
    differs from ``librosa.stft(center=False)``, which frames ``n_fft``
    samples and centres the window in them.

Its modules:

:mod:`~speakerlib.features.dsp`
    The building blocks: windows, mel filterbanks, the DCT, framing, spectra.
:mod:`~speakerlib.features.config`
    :class:`FeatureConfig`, with each kind's defaults.
:mod:`~speakerlib.features.kinds`
    The four kinds, :func:`normalize` and :func:`compute_features`.
:mod:`~speakerlib.features.tf_features`
    The same features in TensorFlow, for batches and Keras models
    (:class:`~speakerlib.features.tf_features.FeatureExtractor`). It imports
    TensorFlow, so this package does not import it: ``import
    speakerlib.features`` never loads TensorFlow.
"""

from speakerlib import registry
from speakerlib.features.config import FeatureConfig
from speakerlib.features.dsp import (
    DEFAULT_LOG_FLOOR,
    INT16_SCALE,
    REFERENCE_LOG_FLOOR,
    WINDOWS,
    reference_mel_filterbank,
    round_half_up,
    slaney_mel_filterbank,
    window_function,
)
from speakerlib.features.kinds import (
    NORMALIZE_EPS,
    compute_features,
    linear_spectrogram,
    log_mel,
    mfcc,
    normalize,
    reference_logfbank,
)

#: The kinds of features :class:`FeatureConfig` knows (:data:`speakerlib.registry.FEATURE_KINDS`).
FEATURE_KINDS = registry.FEATURE_KINDS
#: The modes of :func:`normalize` (:data:`speakerlib.registry.NORMALIZE_MODES`).
NORMALIZE_MODES = registry.NORMALIZE_MODES

__all__ = [
    "FEATURE_KINDS",
    "NORMALIZE_MODES",
    "WINDOWS",
    "FeatureConfig",
    "compute_features",
    "reference_logfbank",
    "log_mel",
    "linear_spectrogram",
    "mfcc",
    "normalize",
    "reference_mel_filterbank",
    "slaney_mel_filterbank",
    "window_function",
    "round_half_up",
    "REFERENCE_LOG_FLOOR",
    "DEFAULT_LOG_FLOOR",
    "INT16_SCALE",
    "NORMALIZE_EPS",
]
