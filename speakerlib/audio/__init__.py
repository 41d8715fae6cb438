"""Audio: reading any corpus's files as float32 samples, and the NIST SPHERE format.

:mod:`~speakerlib.audio.load`
    :func:`load_audio` (decode, downmix, resample, and say so),
    :func:`audio_info` (a file's header), :data:`SAMPLE_RATE_HZ` (the course's rate).
:mod:`~speakerlib.audio.decode`
    The decoders behind it: samples as stored
    (:func:`~speakerlib.audio.decode.decode_audio`), scaled to float
    (:func:`~speakerlib.audio.decode.to_float`).
:mod:`~speakerlib.audio.records`
    What they return: :class:`~speakerlib.audio.records.DecodedAudio` and
    :class:`LoadReport`.
:mod:`~speakerlib.audio.sphere`
    The NIST SPHERE header and its samples (TIMIT's ``.WAV`` files).
"""

from speakerlib.audio.load import (
    SAMPLE_RATE_HZ,
    AudioConversionWarning,
    AudioInfo,
    audio_info,
    load_audio,
    sphere_header_text,
)
from speakerlib.audio.records import LoadReport

__all__ = [
    "SAMPLE_RATE_HZ",
    "AudioInfo",
    "audio_info",
    "AudioConversionWarning",
    "LoadReport",
    "load_audio",
    "sphere_header_text",
]
