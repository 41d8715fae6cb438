"""Feature stores: the settings that make one (:class:`PrepareConfig`), their files, reading them.

A store keeps its utterances' features, or (``content="audio"``) their audio after VAD
for training pipelines that compute features on the fly.

A *feature store* is a folder of plain numpy arrays that
:func:`speakerlib.prepare.prepare` writes and :func:`load_store` reads back:
every utterance of a manifest taken through the reference pipeline (read at
16 kHz -> voice activity detection -> pad or centre-crop to 3 s -> 40 log
filterbanks), or through another configuration (:class:`PrepareConfig`): no
VAD, variable length (for random crops at training time), another kind of
features.

The store holds **un-normalised** features
------------------------------------------
Features are computed with ``normalize="none"`` whatever
``PrepareConfig.features.normalize`` says; that field only records the
normalisation a loader should apply (:meth:`FeatureStore.features` with
``normalize=True``). This is what the reference does (it saves raw log
filterbanks and z-normalises each frame when it loads them), and it lets one
store serve several normalisations. For the same reason two configs that
differ only in ``features.normalize`` describe the same store
(:meth:`PrepareConfig.store_key`, :meth:`PrepareConfig.store_id`).

Store layout
------------
Everything is a plain ``.npy``/``.npz`` array (written with
``allow_pickle=False``), CSV or JSON::

    STORE/
      config.json          the PrepareConfig (and the speakerlib version); written first
      utterances/<speaker>/<utt_id>.npz
                           one per utterance, see below
      index.csv            one row per prepared utterance: the manifest's columns and
                           feature_file, row, num_frames, num_bins, audio_s, speech_s,
                           speech_fraction, num_segments, padded, cropped, resampled,
                           downmixed, original_sample_rate_hz, original_channels,
                           clipped_samples, conversions
      rejects.csv          utt_id, path, error, reason: every utterance left out, and why
      features.npy         fixed length only: (N, frames, bins) float32, row i of
                           index.csv is features.npy[i] (memory-mappable)
      .lock                only while a run writes the store: who (PID, host, purpose,
                           command, start time; :func:`speakerlib._lock.folder_lock`);
                           not part of the store, skipped by whatever lists its files

``config.json`` holds ``format`` (:data:`STORE_FORMAT`), ``version``
(:data:`STORE_VERSION`), ``made_by``, ``speakerlib_version`` and ``config``
(:meth:`PrepareConfig.to_dict`).

Each ``<utt_id>.npz`` holds three arrays: ``features`` ((frames, bins) float32,
un-normalised; in a store made with ``PrepareConfig(content="audio")``
``audio`` instead: (samples,) float32 in [-1, 1], the whole utterance after
VAD, and the index gains a ``num_samples`` column), ``vad_segments_s`` ((k, 2) float64 [s], the kept segments of the
loaded audio; ``[[0, audio_s]]`` without VAD) and ``metadata``, a 0-d text
array holding a JSON object: ``utt_id``, ``source_path``, ``audio_s``
(duration of the loaded audio [s]), ``speech_s`` (left after VAD [s]),
``num_samples`` (after fixing the length), ``padded``, ``cropped``,
``resampled``, ``downmixed``, ``original_sample_rate_hz``,
``original_channels``, ``clipped_samples``, ``decoder`` and ``conversions``
(what :func:`speakerlib.audio.load_audio` did, in words; empty when nothing).
Utterance ids and speakers that are not safe file names
(``[A-Za-z0-9][A-Za-z0-9._-]*``) are sanitised and suffixed with a hash.

Every file is written whole or not at all (:func:`speakerlib._io.atomic_path`),
and ``index.csv`` last: a store without ``index.csv`` is incomplete (its run
was interrupted; :func:`speakerlib.prepare.prepare` resumes it), and
:func:`load_store` says so. A summary file is only rewritten when its
content changes, so a rerun with nothing to do writes no file; one process at
a time writes a store (its ``.lock``).

Its modules:

:mod:`~speakerlib.store.config`
    :class:`PrepareConfig`: what makes a store, and its identity.
:mod:`~speakerlib.store.files`
    The file names and the readers of ``config.json`` and of one utterance's file.
:mod:`~speakerlib.store.reader`
    :func:`load_store` and :class:`FeatureStore`.
:mod:`~speakerlib.store.writer`
    Writing the store's own files: ``config.json`` first, the summary files last.
"""

from speakerlib.store.config import CONTENTS, LENGTH_MODES, PrepareConfig
from speakerlib.store.files import (
    CONFIG_NAME,
    FEATURES_NAME,
    INDEX_NAME,
    REJECTS_NAME,
    STORE_FORMAT,
    STORE_VERSION,
    UTTERANCES_DIR,
    read_config_record,
    read_store_config,
    read_utterance_file,
)
from speakerlib.store.reader import FeatureStore, load_store

__all__ = [
    "LENGTH_MODES",
    "CONTENTS",
    "CONFIG_NAME",
    "INDEX_NAME",
    "REJECTS_NAME",
    "FEATURES_NAME",
    "UTTERANCES_DIR",
    "STORE_FORMAT",
    "STORE_VERSION",
    "PrepareConfig",
    "FeatureStore",
    "load_store",
    "read_config_record",
    "read_store_config",
    "read_utterance_file",
]
