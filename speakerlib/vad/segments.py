"""From webrtcvad's per-frame decisions to speech segments: the reference's collector, trimming, masks.

:func:`ring_buffer_segments` is the reference's ring-buffer state machine
(see :mod:`speakerlib.vad`), :func:`trim_segments` cuts each segment to its
first and last voiced frame, :func:`segments_to_mask` turns segments in
seconds into a per-sample mask. Pure functions on arrays: no audio and no
webrtcvad here.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from speakerlib._checks import is_int, is_real
from speakerlib.errors import ConfigError

__all__ = ["ring_buffer_segments", "trim_segments", "segments_to_mask"]


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
    ConfigError
        ``frame_decisions`` not 1-D, or a setting out of range.
    """
    decisions = np.asarray(frame_decisions, dtype=bool)
    if decisions.ndim != 1:
        raise ConfigError(
            f"frame_decisions: expected shape (num_frames,), got {decisions.shape}"
        )
    if not is_int(num_padding_frames) or num_padding_frames < 1:
        raise ConfigError(
            f"num_padding_frames: expected an integer >= 1, got {num_padding_frames!r}"
        )
    for name, value in (("start_ratio", start_ratio), ("stop_ratio", stop_ratio)):
        if not is_real(value) or not 0.0 <= float(value) < 1.0:
            raise ConfigError(f"{name}: expected a fraction in [0, 1), got {value!r}")

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
    ConfigError
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
        raise ConfigError(
            f"segments: expected non-empty [first, end) ranges within 0..{decisions.size}, "
            f"got {segments.tolist()}"
        )
    voiced_before = np.zeros(decisions.size + 1, dtype=np.int64)
    np.cumsum(decisions, out=voiced_before[1:])
    starts, ends = segments[:, 0], segments[:, 1]
    if np.any(voiced_before[ends] == voiced_before[starts]):
        raise ConfigError("segments: every segment must hold at least one voiced frame")
    # First voiced frame at or after start: where the count first exceeds its
    # value at start. Last voiced frame before end: one before the count first
    # reaches its value at end.
    first_voiced = np.searchsorted(voiced_before, voiced_before[starts], side="right") - 1
    last_voiced = np.searchsorted(voiced_before, voiced_before[ends], side="left") - 1
    return np.stack([first_voiced, last_voiced + 1], axis=1).astype(np.int64)


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
    ConfigError
        Bad shape, negative or reversed segments, bad ``num_samples`` or
        ``sample_rate_hz``.
    """
    if not is_int(num_samples) or num_samples < 0:
        raise ConfigError(f"num_samples: expected an integer >= 0, got {num_samples!r}")
    if not is_real(sample_rate_hz) or not sample_rate_hz > 0:
        raise ConfigError(f"sample_rate_hz: expected a positive rate in Hz, got {sample_rate_hz!r}")
    segments = np.asarray(segments_s, dtype=np.float64)
    if segments.size == 0:
        segments = segments.reshape(0, 2)
    if segments.ndim != 2 or segments.shape[1] != 2:
        raise ConfigError(f"segments_s: expected shape (k, 2), got {segments.shape}")
    if not np.all(np.isfinite(segments)) or np.any(segments < 0) or np.any(
        segments[:, 1] < segments[:, 0]
    ):
        raise ConfigError(
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
