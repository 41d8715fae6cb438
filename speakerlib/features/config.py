"""Every setting of one kind of features: :class:`FeatureConfig`, with each kind's defaults."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from speakerlib._checks import is_int
from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.errors import AudioTooShortError, FeatureError
from speakerlib.features.dsp import (
    DEFAULT_LOG_FLOOR,
    INT16_SCALE,
    REFERENCE_LOG_FLOOR,
    WINDOWS,
    center_left_pad,
    dct_matrix,
    frame_count,
    reference_mel_filterbank,
    round_half_up,
    slaney_mel_filterbank,
)
from speakerlib.registry import FEATURE_KINDS, NORMALIZE_MODES, check_name

__all__ = ["FeatureConfig"]

_KIND_DEFAULTS: dict[str, dict[str, object]] = {
    "reference": dict(
        n_mels=40, fmin_hz=0.0, fmax_hz=None, preemphasis=0.97, window="rectangular",
        center=False, input_scale=INT16_SCALE, log=True, log_floor=REFERENCE_LOG_FLOOR,
        normalize="per_frame",
    ),
    "logmel": dict(
        n_mels=64, fmin_hz=20.0, fmax_hz=7600.0, preemphasis=0.0, window="hamming",
        center=True, input_scale=1.0, log=True, log_floor=DEFAULT_LOG_FLOOR,
        normalize="per_utterance",
    ),
    "spectrogram": dict(
        n_mels=None, fmin_hz=0.0, fmax_hz=None, preemphasis=0.0, window="hamming",
        center=True, input_scale=1.0, log=False, log_floor=DEFAULT_LOG_FLOOR,
        normalize="per_utterance",
    ),
    "mfcc": dict(
        n_mels=64, fmin_hz=20.0, fmax_hz=7600.0, preemphasis=0.0, window="hamming",
        center=True, input_scale=1.0, log=True, log_floor=DEFAULT_LOG_FLOOR,
        normalize="per_utterance",
    ),
}
if tuple(_KIND_DEFAULTS) != FEATURE_KINDS:  # the registry lists the kinds; this module defines them
    raise RuntimeError(
        f"speakerlib.features.config: expected defaults for exactly the registry's feature kinds "
        f"{FEATURE_KINDS}, found {tuple(_KIND_DEFAULTS)}"
    )


@dataclass(frozen=True)
class FeatureConfig:
    """Every setting of one kind of features, with that kind's defaults.

    A field left at ``None`` takes the kind's default when the config is made
    (so ``FeatureConfig(kind="logmel")`` is the usual 64-band log-mel); after
    construction every field holds its actual value, and ``fmax_hz`` is a
    number. Make variants with ``dataclasses.replace``; note that replacing
    only ``kind`` keeps the other (already resolved) values.

    ============== =========== =========== ============= ===========
    field          reference   logmel      spectrogram   mfcc
    ============== =========== =========== ============= ===========
    n_mels         40          64          (unused)      64
    n_mfcc         (unused)    (unused)    (unused)      20
    fmin_hz        0           20          (unused)      20
    fmax_hz        8000        7600        (unused)      7600
    preemphasis    0.97        0           0             0
    window         rectangular hamming     hamming       hamming
    center         False       True        True          True
    input_scale    32768       1           1             1
    log            True        True        False         True
    log_floor      2.2e-16     1e-10       1e-10         1e-10
    normalize      per_frame   per_utter.  per_utter.    per_utter.
    ============== =========== =========== ============= ===========

    (``fmax_hz`` 8000 is ``sample_rate_hz / 2``.) Common to all kinds:
    ``sample_rate_hz=16000`` (:data:`speakerlib.audio.SAMPLE_RATE_HZ`), ``win_s=0.025``,
    ``hop_s=0.010``, ``n_fft=512``.
    The reference's ``per_frame`` normalisation is the one its data loader
    applies; its saved features were not normalised.

    Attributes
    ----------
    kind : {"reference", "logmel", "spectrogram", "mfcc"}
    sample_rate_hz : int > 0 [Hz]
        Rate the audio must already have (nothing is resampled).
    win_s, hop_s : float > 0 [s]
        Window length and hop.
    n_fft : int >= window length [samples]
    n_mels : int > 0
        Mel bands (reference, logmel, mfcc).
    n_mfcc : int in [1, n_mels]
        Cepstral coefficients kept (mfcc).
    fmin_hz, fmax_hz : float [Hz]
        Mel filterbank band, ``0 <= fmin_hz < fmax_hz <= sample_rate_hz / 2``.
    preemphasis : float in [0, 1)
    window : {"rectangular", "hamming", "hann"}
    center : bool
        Centred frames (librosa) or frames from sample 0; must be False for
        the reference, whose framing rule has no centring.
    input_scale : float > 0
        Factor applied to the signal first (32768 for the reference).
    log : bool
        Log power or magnitude; only the spectrogram may be linear.
    log_floor : float > 0
        Energy floor before the log.
    normalize : {"none", "per_frame", "per_utterance"}
        Applied by :func:`~speakerlib.features.compute_features` (see
        :func:`~speakerlib.features.normalize`).

    Raises
    ------
    UnknownNameError
        (a :class:`KeyError`) If ``kind`` is unknown (the message lists the valid kinds).
    FeatureError
        If any other value is out of range or the combination is inconsistent.

    Examples
    --------
    >>> FeatureConfig().output_shape(48000)
    (299, 40)
    >>> FeatureConfig.for_kind("logmel", n_mels=80).output_shape(48000)
    (301, 80)
    """

    kind: str = "reference"
    sample_rate_hz: int = SAMPLE_RATE_HZ
    win_s: float = 0.025
    hop_s: float = 0.010
    n_fft: int = 512
    n_mels: int | None = None
    n_mfcc: int = 20
    fmin_hz: float | None = None
    fmax_hz: float | None = None
    preemphasis: float | None = None
    window: str | None = None
    center: bool | None = None
    input_scale: float | None = None
    log: bool | None = None
    log_floor: float | None = None
    normalize: str | None = None

    def __post_init__(self) -> None:
        check_name("feature kind", self.kind, FEATURE_KINDS)
        for name, value in _KIND_DEFAULTS[self.kind].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.fmax_hz is None:
            object.__setattr__(self, "fmax_hz", self.sample_rate_hz / 2)
        self._validate()

    def _validate(self) -> None:
        def bad(field: str, expected: str) -> FeatureError:
            return FeatureError(
                f"FeatureConfig({self.kind!r}).{field}: expected {expected}, "
                f"got {getattr(self, field)!r}"
            )

        if not is_int(self.sample_rate_hz) or self.sample_rate_hz <= 0:
            raise bad("sample_rate_hz", "a positive integer [Hz]")
        for field in ("win_s", "hop_s"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise bad(field, "a positive duration [s]")
        if self.hop_samples < 1:
            raise bad("hop_s", f"at least one sample (1 / {self.sample_rate_hz} s)")
        if not is_int(self.n_fft) or self.n_fft < self.win_samples:
            raise bad("n_fft", f"an integer >= the window length ({self.win_samples} samples)")
        if self.kind != "spectrogram" and (not is_int(self.n_mels) or self.n_mels < 1):
            raise bad("n_mels", "a positive integer")
        if self.kind == "mfcc" and (not is_int(self.n_mfcc) or not 1 <= self.n_mfcc <= self.n_mels):
            raise bad("n_mfcc", f"an integer in [1, n_mels={self.n_mels}]")
        if not 0.0 <= self.preemphasis < 1.0:
            raise bad("preemphasis", "a coefficient in [0, 1)")
        if self.window not in WINDOWS:
            raise bad("window", f"one of {list(WINDOWS)}")
        if not isinstance(self.center, bool):
            raise bad("center", "True or False")
        if self.kind == "reference" and self.center:
            raise bad(
                "center",
                "False (the reference frames from sample 0, python_speech_features' rule)",
            )
        if not isinstance(self.log, bool):
            raise bad("log", "True or False")
        if self.kind != "spectrogram" and not self.log:
            raise bad("log", "True (only the 'spectrogram' kind can be linear)")
        if not self.input_scale > 0 or not math.isfinite(self.input_scale):
            raise bad("input_scale", "a positive factor")
        if not self.log_floor > 0:
            raise bad("log_floor", "a positive energy floor")
        if self.normalize not in NORMALIZE_MODES:
            raise bad("normalize", f"one of {list(NORMALIZE_MODES)}")
        if self.kind != "spectrogram":
            # Builds (and caches) the filterbank: checks the band and empty filters.
            self.mel_filterbank()

    @classmethod
    def for_kind(cls, kind: str, **overrides: object) -> FeatureConfig:
        """The config of ``kind`` with its defaults, some overridden.

        Parameters
        ----------
        kind : {"reference", "logmel", "spectrogram", "mfcc"}
        **overrides
            Any other field.

        Raises
        ------
        UnknownNameError
            (a :class:`KeyError`) If the kind is unknown (the message lists the valid kinds).
        FeatureError
            If an override is invalid.
        """
        check_name("feature kind", kind, FEATURE_KINDS)
        return cls(kind=kind, **overrides)

    @classmethod
    def from_dict(cls, values: dict) -> FeatureConfig:
        """Inverse of :meth:`to_dict` (for JSON files and Keras configs)."""
        return cls(**values)

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @property
    def win_samples(self) -> int:
        """Window length [samples]: ``round_half_up(win_s * sample_rate_hz)``."""
        return round_half_up(self.win_s * self.sample_rate_hz)

    @property
    def hop_samples(self) -> int:
        """Hop [samples]: ``round_half_up(hop_s * sample_rate_hz)``."""
        return round_half_up(self.hop_s * self.sample_rate_hz)

    @property
    def framing(self) -> str:
        """``"reference"``, ``"center"`` or ``"start"``: the framing rule
        (:mod:`speakerlib.features`)."""
        if self.kind == "reference":
            return "reference"
        return "center" if self.center else "start"

    @property
    def num_bins(self) -> int:
        """Feature dimension: mel bands, FFT bins or cepstral coefficients."""
        if self.kind == "spectrogram":
            return self.n_fft // 2 + 1
        if self.kind == "mfcc":
            return self.n_mfcc
        return self.n_mels

    def num_frames(self, num_samples: int) -> int:
        """Number of frames for ``num_samples`` samples.

        Raises
        ------
        AudioTooShortError
            If ``num_samples`` is shorter than one window.
        """
        if num_samples < self.win_samples:
            raise AudioTooShortError(
                f"expected at least one analysis window of {self.win_samples} samples "
                f"({self.win_s * 1000:g} ms at {self.sample_rate_hz} Hz), got {num_samples} "
                "samples; pad the audio or use a shorter window"
            )
        return frame_count(
            num_samples, win=self.win_samples, hop=self.hop_samples, n_fft=self.n_fft,
            rule=self.framing,
        )

    def output_shape(self, num_samples: int) -> tuple[int, int]:
        """``(frames, bins)`` of :func:`~speakerlib.features.compute_features` for ``num_samples``
        samples.

        Raises
        ------
        AudioTooShortError
            If ``num_samples`` is shorter than one window.
        """
        return self.num_frames(num_samples), self.num_bins

    def center_left_pad(self) -> int:
        """Zeros put before the signal by the centred framing [samples]; 0 otherwise."""
        if self.framing != "center":
            return 0
        return center_left_pad(win=self.win_samples, n_fft=self.n_fft)

    def mel_filterbank(self) -> np.ndarray:
        """This kind's mel filterbank, ``(n_mels, n_fft // 2 + 1)`` float64, read-only.

        python_speech_features' for the reference, librosa's (Slaney) for
        logmel and mfcc.

        Raises
        ------
        FeatureError
            For the spectrogram kind, which has none.
        """
        if self.kind == "spectrogram":
            raise FeatureError("FeatureConfig('spectrogram') has no mel filterbank")
        build = reference_mel_filterbank if self.kind == "reference" else slaney_mel_filterbank
        return build(
            sample_rate_hz=int(self.sample_rate_hz), n_fft=int(self.n_fft),
            n_mels=int(self.n_mels), fmin_hz=float(self.fmin_hz), fmax_hz=float(self.fmax_hz),
        )

    def dct_matrix(self) -> np.ndarray:
        """Orthonormal DCT-II, ``(n_mels, n_mfcc)`` float64 (``log_mel @ D`` gives MFCCs)."""
        return dct_matrix(int(self.n_mels), int(self.n_mfcc))

