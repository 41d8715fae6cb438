"""Voice activity detection: keep the speech, drop the silence.

The reference implementation runs WebRTC's voice activity detector
(``webrtcvad``) on 30 ms frames and smooths its frame-by-frame decisions with
a ring buffer, the "collector" of the classic py-webrtcvad example:

* **not triggered**: each frame enters a ring buffer of
  ``padding_ms / frame_ms`` frames (10 by default). When more than
  ``start_ratio`` of the buffer's *capacity* is voiced, a segment starts at
  the first frame in the buffer, and the buffer is cleared;
* **triggered**: each frame joins the segment and enters the buffer. When
  more than ``stop_ratio`` of the buffer's capacity is unvoiced, the segment
  ends at the end of this frame, and the buffer is cleared;
* a segment still open when the audio ends ends with the last whole frame;
* the kept audio is the segments' samples, concatenated.

With the defaults a segment starts only after 10 voiced frames in a row
(300 ms) and stops only after 10 unvoiced frames in a row, so short clicks
and short pauses do not split the speech.

Segment boundaries: ``"trim"`` (default) or ``"reference"``
-----------------------------------------------------------
The reference keeps each segment exactly as the collector closes it, so a
segment *ends* only once enough unvoiced frames have filled the buffer: with
the defaults every segment that the audio's end does not cut carries 10
frames (300 ms) of trailing non-speech, and in general
``floor(stop_ratio * num_padding_frames) + 1`` frames. With a ``start_ratio``
below ``1 - 1 / num_padding_frames`` a segment can also start with a few
unvoiced frames. With ``VadConfig(boundaries="trim")``, the default here, the
same segments are found (the collector is unchanged) and each is then trimmed
to its first and last voiced frame. Trimming only removes frames the detector
called unvoiced, at the edges of a segment; a pause inside a segment is kept.
Choose ``boundaries="reference"`` (:data:`REFERENCE_VAD_CONFIG`) to reproduce
the reference exactly.

What the boundaries mean, measured on a synthetic 1 s voiced burst in
silence at every supported rate and frame length (``tests/test_vad.py``
checks it):

* the **start** is within one frame of the burst onset with ``"trim"``, and
  with ``"reference"`` at the default settings;
* the **end**, with ``"trim"``, lags the burst end by webrtcvad's own
  *hangover* plus less than one frame: after speech stops, the detector keeps
  reporting speech for a fixed time, at most 160 ms in modes 0 and 1 and
  100 ms in modes 2 and 3 (5 and 3 frames of 30 ms). The ring buffer adds
  nothing to it. "Within one frame of the true end" is therefore not
  reachable from webrtcvad's decisions without undoing that hangover, which
  we do not do (it also protects weak word endings);
* the **end**, with ``"reference"``, lags by the hangover plus the stopping
  frames above (300 ms with the defaults).

On real recordings, note that webrtcvad in modes 0 and 1 calls the first few
frames of a file speech whenever they hold any noise at all (about 100 ms
while its noise model settles), and that TIMIT's 0.1-0.2 s of trailing
silence is about one hangover long: mode 1 removes only about a fifth of
TIMIT's leading and trailing silence, mode 2 about 70 % while keeping 99 %
of the speech (measured on the 160-file TIMIT sample).

The trailing partial frame
--------------------------
Frames tile the signal from sample 0. When the length is not a multiple of
the frame length, the last ``len(y) % frame_length`` samples (less than one
frame, at most 29 ms) are never classified and never kept, as in the
reference (its frame generator drops them). ``frame_decisions`` therefore has
``len(y) // frame_length`` entries.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import webrtcvad

from speakerlib.errors import AudioTooShortError, InvalidAudioError, NothingLeftAfterVadError

__all__ = [
    "SUPPORTED_SAMPLE_RATES_HZ",
    "SUPPORTED_FRAME_MS",
    "VadConfig",
    "REFERENCE_VAD_CONFIG",
    "VadResult",
    "vad",
    "classify_frames",
    "ring_buffer_segments",
    "trim_segments",
    "segments_to_mask",
]

#: Sampling rates webrtcvad accepts [Hz].
SUPPORTED_SAMPLE_RATES_HZ: tuple[int, ...] = (8000, 16000, 32000, 48000)
#: Frame durations webrtcvad accepts [ms].
SUPPORTED_FRAME_MS: tuple[int, ...] = (10, 20, 30)
_BOUNDARIES = ("trim", "reference")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> bool:
    return _is_int(value) or isinstance(value, (float, np.floating))


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
    ValueError
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
        if not _is_int(self.mode) or not 0 <= self.mode <= 3:
            raise ValueError(
                f"VadConfig.mode: expected webrtcvad's aggressiveness, an integer 0-3 "
                f"(0 keeps the most audio), got {self.mode!r}"
            )
        if not _is_int(self.frame_ms) or self.frame_ms not in SUPPORTED_FRAME_MS:
            raise ValueError(
                f"VadConfig.frame_ms: webrtcvad accepts frames of 10, 20 or 30 ms, "
                f"got {self.frame_ms!r}"
            )
        if (
            not _is_int(self.padding_ms)
            or self.padding_ms < self.frame_ms
            or self.padding_ms % self.frame_ms != 0
        ):
            raise ValueError(
                f"VadConfig.padding_ms: expected a positive multiple of frame_ms "
                f"({self.frame_ms} ms), such as {10 * self.frame_ms}, got {self.padding_ms!r}"
            )
        for name in ("start_ratio", "stop_ratio"):
            value = getattr(self, name)
            if not _is_real(value) or not 0.0 <= float(value) < 1.0:
                raise ValueError(
                    f"VadConfig.{name}: expected a fraction in [0, 1) (1 would never be "
                    f"exceeded), got {value!r}"
                )
        if self.boundaries not in _BOUNDARIES:
            raise ValueError(
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
    if not _is_int(sample_rate_hz) or int(sample_rate_hz) not in SUPPORTED_SAMPLE_RATES_HZ:
        raise ValueError(
            f"sample_rate_hz: webrtcvad accepts {SUPPORTED_SAMPLE_RATES_HZ} Hz, got "
            f"{sample_rate_hz!r}. Resample the audio first (the pipeline uses 16 000 Hz); "
            "speakerlib never resamples silently."
        )
    return int(sample_rate_hz)


def _check_signal(y: object) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"y: expected a mono signal of shape (n,), got shape {y.shape}. "
            "Mix down or pick a channel first."
        )
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(
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
    ValueError
        Unsupported sampling rate, frame duration or mode; ``y`` not 1-D or
        not floating-point.
    InvalidAudioError
        ``y`` holds NaN or infinite values.
    """
    sample_rate_hz = _check_sample_rate(sample_rate_hz)
    VadConfig(mode=mode, frame_ms=frame_ms, padding_ms=frame_ms)  # validates mode, frame_ms
    y = _check_signal(y)
    return _classify(y, sample_rate_hz, int(mode), int(frame_ms))


def ring_buffer_segments(
    frame_decisions: np.ndarray,
    *,
    num_padding_frames: int,
    start_ratio: float = 0.9,
    stop_ratio: float = 0.9,
) -> np.ndarray:
    """The reference collector's segments, from per-frame decisions.

    Exactly the ring-buffer state machine described in the module docstring,
    computed with cumulative sums and binary searches instead of a loop over
    frames: the cost is O(num_frames) once, then O(log num_frames) per
    segment. ``tests/test_vad.py`` checks it against a frame-by-frame
    implementation with a deque.

    Parameters
    ----------
    frame_decisions : np.ndarray [shape=(num_frames,), dtype=bool]
        Speech decision per frame.
    num_padding_frames : int >= 1
        Capacity of the ring buffer [frames].
    start_ratio, stop_ratio : float in [0, 1)
        Trigger when more than ``start_ratio * num_padding_frames`` buffered
        frames are voiced; stop when more than
        ``stop_ratio * num_padding_frames`` are unvoiced.

    Returns
    -------
    np.ndarray [shape=(k, 2), dtype=int64] [frames]
        Half-open ``[first_frame, end_frame)`` per segment, sorted, disjoint;
        ``k`` may be 0.

    Raises
    ------
    ValueError
        ``frame_decisions`` not 1-D, or a setting out of range.
    """
    decisions = np.asarray(frame_decisions, dtype=bool)
    if decisions.ndim != 1:
        raise ValueError(
            f"frame_decisions: expected shape (num_frames,), got {decisions.shape}"
        )
    if not _is_int(num_padding_frames) or num_padding_frames < 1:
        raise ValueError(
            f"num_padding_frames: expected an integer >= 1, got {num_padding_frames!r}"
        )
    for name, value in (("start_ratio", start_ratio), ("stop_ratio", stop_ratio)):
        if not _is_real(value) or not 0.0 <= float(value) < 1.0:
            raise ValueError(f"{name}: expected a fraction in [0, 1), got {value!r}")

    size = int(num_padding_frames)
    # The reference's test "count > ratio * capacity" on integer counts is
    # "count >= floor(ratio * capacity) + 1"; integers keep the searches exact
    # (and stop numpy from casting the cumulative counts to float each time).
    voiced_needed = math.floor(float(start_ratio) * size) + 1
    unvoiced_needed = math.floor(float(stop_ratio) * size) + 1
    num_frames = decisions.size

    # voiced_before[i] / unvoiced_before[i]: counts in frames [0, i).
    voiced_before = np.zeros(num_frames + 1, dtype=np.int64)
    np.cumsum(decisions, out=voiced_before[1:])
    unvoiced_before = np.arange(num_frames + 1, dtype=np.int64) - voiced_before

    # With a full buffer, frames [i - size + 1, i] are buffered. Frames where a
    # full buffer would trigger a start / a stop:
    if num_frames >= size:
        voiced_full = voiced_before[size:] - voiced_before[:-size]  # index i - size + 1
        full_start_hits = np.flatnonzero(voiced_full >= voiced_needed) + (size - 1)
        full_stop_hits = np.flatnonzero((size - voiced_full) >= unvoiced_needed) + (size - 1)
    else:
        full_start_hits = full_stop_hits = np.zeros(0, dtype=np.int64)

    # The loop below runs once per segment and only does binary searches; on
    # Python lists, bisect costs far less per call than np.searchsorted.
    voiced_list, unvoiced_list = voiced_before.tolist(), unvoiced_before.tolist()
    start_hits, stop_hits = full_start_hits.tolist(), full_stop_hits.tolist()

    def first_hit(cleared_at: int, counts_before: list[int], needed: int,
                  full_hits: list[int]) -> int | None:
        """First frame >= cleared_at at which the buffer (cleared just before
        frame ``cleared_at``) holds at least ``needed`` counted frames."""
        # While the buffer is filling (frames cleared_at .. cleared_at + size - 2)
        # it holds every frame since cleared_at: the count grows monotonically,
        # so a binary search on the cumulative counts finds the first hit.
        last_filling = min(cleared_at + size - 2, num_frames - 1)
        after = bisect.bisect_left(counts_before, counts_before[cleared_at] + needed,
                                   cleared_at + 1, last_filling + 2)
        if after - 1 <= last_filling:
            return after - 1
        # Afterwards the buffer is full: the precomputed full-window hits apply.
        position = bisect.bisect_left(full_hits, cleared_at + size - 1)
        return full_hits[position] if position < len(full_hits) else None

    segments: list[tuple[int, int]] = []
    cleared_at = 0
    while cleared_at < num_frames:
        trigger = first_hit(cleared_at, voiced_list, voiced_needed, start_hits)
        if trigger is None:
            break
        start = max(cleared_at, trigger - size + 1)  # the first buffered frame
        stop = first_hit(trigger + 1, unvoiced_list, unvoiced_needed, stop_hits)
        if stop is None:
            segments.append((start, num_frames))
            break
        segments.append((start, stop + 1))
        cleared_at = stop + 1
    return np.array(segments, dtype=np.int64).reshape(-1, 2)


def trim_segments(frame_decisions: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Trim frame segments to their first and last voiced frame.

    Parameters
    ----------
    frame_decisions : np.ndarray [shape=(num_frames,), dtype=bool]
        Speech decision per frame.
    segments : np.ndarray [shape=(k, 2), dtype=int] [frames]
        Half-open ``[first, end)`` frame ranges, each holding at least one
        voiced frame (as every collector segment does).

    Returns
    -------
    np.ndarray [shape=(k, 2), dtype=int64] [frames]
        ``[first voiced frame, last voiced frame + 1)`` of each segment.

    Raises
    ------
    ValueError
        If ``segments`` has the wrong shape, is out of range, or a segment
        holds no voiced frame.
    """
    decisions = np.asarray(frame_decisions, dtype=bool)
    segments = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    if segments.size and (
        segments.min() < 0
        or segments.max() > decisions.size
        or np.any(segments[:, 1] <= segments[:, 0])
    ):
        raise ValueError(
            f"segments: expected non-empty [first, end) ranges within 0..{decisions.size}, "
            f"got {segments.tolist()}"
        )
    voiced_before = np.zeros(decisions.size + 1, dtype=np.int64)
    np.cumsum(decisions, out=voiced_before[1:])
    starts, ends = segments[:, 0], segments[:, 1]
    if np.any(voiced_before[ends] == voiced_before[starts]):
        raise ValueError("segments: every segment must hold at least one voiced frame")
    # First voiced frame at or after start: where the count first exceeds its
    # value at start. Last voiced frame before end: one before the count first
    # reaches its value at end.
    first_voiced = np.searchsorted(voiced_before, voiced_before[starts], side="right") - 1
    last_voiced = np.searchsorted(voiced_before, voiced_before[ends], side="left") - 1
    return np.stack([first_voiced, last_voiced + 1], axis=1).astype(np.int64)


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
    ValueError
        Unsupported sampling rate; ``y`` not 1-D or not floating-point.
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
        raise TypeError(f"config: expected a VadConfig, got {type(config).__name__}")
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


def segments_to_mask(
    segments_s: np.ndarray, *, num_samples: int, sample_rate_hz: int
) -> np.ndarray:
    """A per-sample mask that is ``True`` inside the segments.

    Useful to shade what VAD removed in a waveform plot: ``~mask``.

    Parameters
    ----------
    segments_s : np.ndarray [shape=(k, 2), dtype=float] [s]
        Half-open ``[start, end)`` per segment (for example
        :attr:`VadResult.segments_s`); may overlap; ``k`` may be 0.
    num_samples : int >= 0
        Length of the signal the mask is for.
    sample_rate_hz : int > 0 [Hz]
        Its sampling rate.

    Returns
    -------
    np.ndarray [shape=(num_samples,), dtype=bool]
        Sample ``i`` is ``True`` when ``start * sr <= i < end * sr`` for a
        segment (times rounded to the nearest sample, clipped to the signal).

    Raises
    ------
    ValueError
        Bad shape, negative or reversed segments, bad ``num_samples`` or
        ``sample_rate_hz``.
    """
    if not _is_int(num_samples) or num_samples < 0:
        raise ValueError(f"num_samples: expected an integer >= 0, got {num_samples!r}")
    if not _is_real(sample_rate_hz) or not sample_rate_hz > 0:
        raise ValueError(f"sample_rate_hz: expected a positive rate in Hz, got {sample_rate_hz!r}")
    segments = np.asarray(segments_s, dtype=np.float64)
    if segments.size == 0:
        segments = segments.reshape(0, 2)
    if segments.ndim != 2 or segments.shape[1] != 2:
        raise ValueError(f"segments_s: expected shape (k, 2), got {segments.shape}")
    if not np.all(np.isfinite(segments)) or np.any(segments < 0) or np.any(
        segments[:, 1] < segments[:, 0]
    ):
        raise ValueError(
            "segments_s: expected finite [start, end) pairs with 0 <= start <= end [s], "
            f"got {segments.tolist()}"
        )
    bounds = np.clip(np.rint(segments * sample_rate_hz), 0, num_samples).astype(np.int64)
    # +1 where a segment opens, -1 where it closes; inside any segment the
    # running sum is positive.
    edges = np.zeros(num_samples + 1, dtype=np.int64)
    np.add.at(edges, bounds[:, 0], 1)
    np.add.at(edges, bounds[:, 1], -1)
    return np.cumsum(edges[:-1]) > 0
