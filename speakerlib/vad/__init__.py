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

Its modules:

:mod:`~speakerlib.vad.detect`
    :class:`VadConfig`, :func:`classify_frames`, :func:`vad`, :class:`VadResult`.
:mod:`~speakerlib.vad.segments`
    The collector, trimming, and per-sample masks, on arrays of decisions.
"""

from speakerlib.vad.detect import (
    REFERENCE_VAD_CONFIG,
    SUPPORTED_FRAME_MS,
    SUPPORTED_SAMPLE_RATES_HZ,
    VadConfig,
    VadResult,
    classify_frames,
    vad,
)
from speakerlib.vad.segments import ring_buffer_segments, segments_to_mask, trim_segments

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
