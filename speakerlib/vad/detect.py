"""Voice activity detection with webrtcvad: settings, per-frame decisions, and the kept speech.

:class:`VadConfig` holds the settings (the reference's by default, or its
exact segment boundaries with :data:`REFERENCE_VAD_CONFIG`);
:func:`classify_frames` runs webrtcvad on every frame; :func:`vad` smooths the
decisions into segments (:mod:`speakerlib.vad.segments`) and returns the kept
audio with them (:class:`VadResult`). The method, and what the segment
boundaries mean, is described in :mod:`speakerlib.vad`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import webrtcvad

from speakerlib._checks import is_int, is_real
from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.errors import (
    AudioTooShortError,
    ConfigError,
    ConfigTypeError,
    InvalidAudioError,
    NothingLeftAfterVadError,
)
from speakerlib.vad.segments import ring_buffer_segments, trim_segments

__all__ = [
    "SUPPORTED_SAMPLE_RATES_HZ",
    "SUPPORTED_FRAME_MS",
    "VadConfig",
    "REFERENCE_VAD_CONFIG",
    "VadResult",
    "vad",
    "classify_frames",
]

#: Sampling rates webrtcvad accepts [Hz].
SUPPORTED_SAMPLE_RATES_HZ: tuple[int, ...] = (8000, 16000, 32000, 48000)
#: Frame durations webrtcvad accepts [ms].
SUPPORTED_FRAME_MS: tuple[int, ...] = (10, 20, 30)
_BOUNDARIES = ("trim", "reference")


@dataclass(frozen=True)
class VadConfig:
    """Settings of :func:`vad`; the defaults are the reference's, except ``boundaries``.

    Attributes
    ----------
    mode : int in {0, 1, 2, 3}
        webrtcvad's aggressiveness: 0 keeps the most audio, 3 the least.
        The reference uses 1.
    frame_ms : int in {10, 20, 30} [ms]
        Frame duration; webrtcvad accepts no others.
    padding_ms : int [ms]
        Length of the ring buffer; a positive multiple of ``frame_ms``
        (``padding_ms // frame_ms`` frames, 10 by default).
    start_ratio : float in [0, 1)
        A segment starts when more than ``start_ratio * num_padding_frames``
        frames in the buffer are voiced.
    stop_ratio : float in [0, 1)
        A segment stops when more than ``stop_ratio * num_padding_frames``
        frames in the buffer are unvoiced.
    boundaries : {"trim", "reference"}
        ``"trim"`` trims each segment to its first and last voiced frame;
        ``"reference"`` keeps the segment as the collector closes it (with up
        to ``padding_ms`` of trailing non-speech). See the module docstring.

    Raises
    ------
    ConfigError
        If a field is out of range or of the wrong type.

    Examples
    --------
    >>> import dataclasses
    >>> cfg = VadConfig()
    >>> cfg.num_padding_frames
    10
    >>> dataclasses.replace(cfg, mode=3).mode
    3
    """

    mode: int = 1
    frame_ms: int = 30
    padding_ms: int = 300
    start_ratio: float = 0.9
    stop_ratio: float = 0.9
    boundaries: str = "trim"

    def __post_init__(self) -> None:
        if not is_int(self.mode) or not 0 <= self.mode <= 3:
            raise ConfigError(
                f"VadConfig.mode: expected webrtcvad's aggressiveness, an integer 0-3 "
                f"(0 keeps the most audio), got {self.mode!r}"
            )
        if not is_int(self.frame_ms) or self.frame_ms not in SUPPORTED_FRAME_MS:
            raise ConfigError(
                f"VadConfig.frame_ms: webrtcvad accepts frames of 10, 20 or 30 ms, "
                f"got {self.frame_ms!r}"
            )
        if (
            not is_int(self.padding_ms)
            or self.padding_ms < self.frame_ms
            or self.padding_ms % self.frame_ms != 0
        ):
            raise ConfigError(
                f"VadConfig.padding_ms: expected a positive multiple of frame_ms "
                f"({self.frame_ms} ms), such as {10 * self.frame_ms}, got {self.padding_ms!r}"
            )
        for name in ("start_ratio", "stop_ratio"):
            value = getattr(self, name)
            if not is_real(value) or not 0.0 <= float(value) < 1.0:
                raise ConfigError(
                    f"VadConfig.{name}: expected a fraction in [0, 1) (1 would never be "
                    f"exceeded), got {value!r}"
                )
        if self.boundaries not in _BOUNDARIES:
            raise ConfigError(
                f"VadConfig.boundaries: expected one of {_BOUNDARIES}, got {self.boundaries!r}"
            )
        # Plain Python numbers (numpy scalars pass the checks), so to_dict is JSON-ready.
        for name in ("mode", "frame_ms", "padding_ms"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("start_ratio", "stop_ratio"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def num_padding_frames(self) -> int:
        """Capacity of the ring buffer [frames]."""
        return self.padding_ms // self.frame_ms

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


#: The reference implementation's VAD, boundaries included.
REFERENCE_VAD_CONFIG = VadConfig(boundaries="reference")


@dataclass(frozen=True, eq=False)
class VadResult:
    """What :func:`vad` kept, and why.

    Attributes
    ----------
    audio : np.ndarray [shape=(m,), dtype=float32]
        The kept samples (the input's values, not re-quantised), segments
        concatenated in order.
    segments_s : np.ndarray [shape=(k, 2), dtype=float64] [s]
        Start and end of each kept segment, half-open ``[start, end)``, in
        seconds from the start of the input; ``k >= 1``, sorted, disjoint.
    frame_decisions : np.ndarray [shape=(num_frames,), dtype=bool]
        webrtcvad's decision per frame (``True`` = speech), before the ring
        buffer; frame ``i`` covers ``[i, i + 1) * frame_ms`` milliseconds.
    kept_fraction : float in (0, 1]
        ``len(audio) / len(y)``.
    sample_rate_hz : int [Hz]
        The input's sampling rate.
    config : VadConfig
        The settings that produced this result.
    """

    audio: np.ndarray
    segments_s: np.ndarray
    frame_decisions: np.ndarray
    kept_fraction: float
    sample_rate_hz: int
    config: VadConfig

    @property
    def frame_s(self) -> float:
        """Frame duration [s]."""
        return self.config.frame_ms / 1000.0


def _check_sample_rate(sample_rate_hz: object) -> int:
    if not is_int(sample_rate_hz) or int(sample_rate_hz) not in SUPPORTED_SAMPLE_RATES_HZ:
        raise ConfigError(
            f"sample_rate_hz: webrtcvad accepts {SUPPORTED_SAMPLE_RATES_HZ} Hz, got "
            f"{sample_rate_hz!r}. Resample the audio first (the pipeline uses "
            f"{SAMPLE_RATE_HZ} Hz); speakerlib never resamples silently."
        )
    return int(sample_rate_hz)


def _check_signal(y: object) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ConfigError(
            f"y: expected a mono signal of shape (n,), got shape {y.shape}. "
            "Mix down or pick a channel first."
        )
    if not np.issubdtype(y.dtype, np.floating):
        raise ConfigError(
            f"y: expected floating-point samples in [-1, 1], got dtype {y.dtype}. "
            "Convert int16 PCM with y / 32768 (soundfile.read(..., dtype='float32') does)."
        )
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise InvalidAudioError(
            f"y: expected finite samples, found {bad} NaN or infinite value(s) of {y.size}. "
            "Check the decoder or the processing step that produced them."
        )
    return y


def _frame_length(sample_rate_hz: int, frame_ms: int) -> int:
    return sample_rate_hz * frame_ms // 1000


def _to_pcm16(y: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16: scaled by 32768, clipped, rounded to nearest.

    Float32 arithmetic throughout (scaling by a power of two is exact), which
    is about three times faster than float64 here.
    """
    scaled = np.multiply(y, np.float32(32768.0), dtype=np.float32)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.int16)


def _classify(y: np.ndarray, sample_rate_hz: int, mode: int, frame_ms: int) -> np.ndarray:
    """:func:`classify_frames` without the argument checks."""
    frame_length = _frame_length(sample_rate_hz, frame_ms)
    num_frames = y.size // frame_length
    pcm = memoryview(_to_pcm16(y[: num_frames * frame_length])).cast("B")
    frame_bytes = 2 * frame_length
    # One fresh detector per signal (it adapts to what it has heard), and a
    # zero-copy memoryview slice per frame: the loop costs little more than
    # webrtcvad itself.
    is_speech = webrtcvad.Vad(int(mode)).is_speech
    decisions = [
        is_speech(pcm[offset : offset + frame_bytes], sample_rate_hz)
        for offset in range(0, num_frames * frame_bytes, frame_bytes)
    ]
    return np.array(decisions, dtype=bool).reshape(num_frames)


def classify_frames(
    y: np.ndarray, *, sample_rate_hz: int, mode: int = 1, frame_ms: int = 30
) -> np.ndarray:
    """webrtcvad's speech/non-speech decision for each whole frame.

    One fresh detector runs over the frames in order (webrtcvad adapts its
    noise model as it goes, so a decision depends on the frames before it).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), floating dtype]
        Mono signal, samples in [-1, 1] (values outside are clipped when
        converted to 16-bit PCM for the detector).
    sample_rate_hz : int in {8000, 16000, 32000, 48000} [Hz]
        Sampling rate of ``y``.
    mode : int in {0, 1, 2, 3}
        Aggressiveness.
    frame_ms : int in {10, 20, 30} [ms]
        Frame duration.

    Returns
    -------
    np.ndarray [shape=(n // frame_length,), dtype=bool]
        ``True`` where the frame is speech. A trailing partial frame is not
        classified.

    Raises
    ------
    ConfigError
        Unsupported sampling rate, frame duration or mode; ``y`` not 1-D or
        not floating-point.
    InvalidAudioError
        ``y`` holds NaN or infinite values.
    """
    sample_rate_hz = _check_sample_rate(sample_rate_hz)
    VadConfig(mode=mode, frame_ms=frame_ms, padding_ms=frame_ms)  # validates mode, frame_ms
    y = _check_signal(y)
    return _classify(y, sample_rate_hz, int(mode), int(frame_ms))


def vad(
    y: np.ndarray, *, sample_rate_hz: int, config: VadConfig = VadConfig()
) -> VadResult:
    """Remove non-speech with webrtcvad and the reference's ring buffer.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), floating dtype]
        Mono signal, samples in [-1, 1]. Converted internally to 16-bit PCM
        (rounded, clipped) for the detector; the kept samples are the
        original values, as float32. Not modified.
    sample_rate_hz : int in {8000, 16000, 32000, 48000} [Hz]
        Sampling rate of ``y``. Other rates raise: resample first.
    config : VadConfig
        Detector and collector settings (default: the reference's, with
        trimmed boundaries; :data:`REFERENCE_VAD_CONFIG` for the reference).

    Returns
    -------
    VadResult
        Kept audio, segments [s], per-frame decisions and the kept fraction.

    Raises
    ------
    ConfigError
        Unsupported sampling rate; ``y`` not 1-D or not floating-point.
    ConfigTypeError
        ``config`` is not a :class:`VadConfig`.
    InvalidAudioError
        ``y`` holds NaN or infinite values.
    AudioTooShortError
        ``y`` is shorter than one frame.
    NothingLeftAfterVadError
        No segment was found (silence, or speech too quiet for the mode).

    Notes
    -----
    A trailing partial frame is never kept (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> sr = 16000
    >>> t = np.arange(sr) / sr  # 1 s of a 150 Hz buzz (19 harmonics) between 1 s silences
    >>> buzz = sum(0.3 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 20))
    >>> y = np.concatenate([np.zeros(sr), buzz, np.zeros(sr)]).astype(np.float32)
    >>> result = vad(y, sample_rate_hz=sr)
    >>> result.segments_s.round(2).tolist()  # webrtcvad's hangover lengthens the end
    [[0.99, 2.16]]
    >>> vad(y, sample_rate_hz=sr, config=REFERENCE_VAD_CONFIG).segments_s.round(2).tolist()
    [[0.99, 2.46]]
    >>> result.kept_fraction > 0.35
    True
    """
    if not isinstance(config, VadConfig):
        raise ConfigTypeError(f"config: expected a VadConfig, got {type(config).__name__}")
    sample_rate_hz = _check_sample_rate(sample_rate_hz)
    y = _check_signal(y)
    frame_length = _frame_length(sample_rate_hz, config.frame_ms)
    duration_s = y.size / sample_rate_hz
    if y.size < frame_length:
        raise AudioTooShortError(
            f"VAD needs at least one {config.frame_ms} ms frame ({frame_length} samples at "
            f"{sample_rate_hz} Hz), got {y.size} samples ({duration_s * 1000:.1f} ms). "
            "Drop such utterances from the manifest, or use a shorter frame_ms."
        )

    decisions = _classify(y, sample_rate_hz, config.mode, config.frame_ms)
    segments = ring_buffer_segments(
        decisions,
        num_padding_frames=config.num_padding_frames,
        start_ratio=config.start_ratio,
        stop_ratio=config.stop_ratio,
    )
    if segments.shape[0] == 0:
        raise NothingLeftAfterVadError(
            f"VAD found no speech in {duration_s:.2f} s of audio (webrtcvad mode "
            f"{config.mode}, {config.frame_ms} ms frames: {int(decisions.sum())} of "
            f"{decisions.size} frames voiced, never more than {config.start_ratio:g} of a "
            f"{config.padding_ms} ms window). Lower the aggressiveness "
            "(VadConfig(mode=0)) or start_ratio, or check that the file is not silence."
        )
    if config.boundaries == "trim":
        segments = trim_segments(decisions, segments)

    sample_bounds = segments * frame_length
    y32 = y.astype(np.float32, copy=False)
    audio = np.concatenate([y32[start:end] for start, end in sample_bounds])  # a new array
    return VadResult(
        audio=audio,
        segments_s=sample_bounds.astype(np.float64) / sample_rate_hz,
        frame_decisions=decisions,
        kept_fraction=audio.size / y.size,
        sample_rate_hz=sample_rate_hz,
        config=config,
    )
