"""The names speakerlib knows, each list written once: models, recipes, profiles, feature
kinds, normalisations, protocols and corpora.

This module imports nothing heavy, so the command line can offer these names as
choices (and answer ``--help``) without loading TensorFlow. The objects behind
the names live with their stage: the model builders in :mod:`speakerlib.models`,
the recipes and profiles in :mod:`speakerlib.train.config`, the feature kinds'
defaults in :mod:`speakerlib.features`, the protocols in
:mod:`speakerlib.evaluation.run`, the corpus readers in
:mod:`speakerlib.data.corpora`; each of those checks at import that it covers
exactly the names listed here.
"""

from __future__ import annotations

from collections.abc import Iterable

from speakerlib.errors import UnknownNameError

__all__ = [
    "MODELS",
    "RECIPES",
    "PROFILES",
    "FEATURE_KINDS",
    "NORMALIZE_MODES",
    "PROTOCOLS",
    "CORPUS_READERS",
    "CORPORA",
    "check_name",
]

#: Speaker-embedding architectures, in the order the course presents them.
MODELS: tuple[str, ...] = ("deepspeaker", "resnet34", "resnet50", "seresnet", "ecapa")

#: How a model is trained: the seed's recipe, the improved one on the same 3-s features, the modern
#: one on whole utterances with waveform augmentation, and the modern one without augmentation.
RECIPES: tuple[str, ...] = ("reference", "improved", "modern", "modern_noaug")

#: How much it is trained: seconds (tests), minutes on two CPU cores (the book), about an hour on
#: two laptop cores, paper scale on a GPU.
PROFILES: tuple[str, ...] = ("smoke", "cpu", "laptop", "gpu")

#: Kinds of features a store can hold (the reference's 40 log filterbanks first).
FEATURE_KINDS: tuple[str, ...] = ("reference", "logmel", "spectrogram", "mfcc")

#: Feature normalisations: none, each frame over its bins, each bin over the utterance.
NORMALIZE_MODES: tuple[str, ...] = ("none", "per_frame", "per_utterance")

#: Evaluation protocols: the seed's SI and "SV", and the corrected ones.
PROTOCOLS: tuple[str, ...] = ("si-reference", "si", "sv-reference", "sv")

#: Corpus layouts that have a reader (:func:`speakerlib.data.corpora.read_corpus`).
CORPUS_READERS: tuple[str, ...] = ("librispeech", "timit", "kaldi", "folder")

#: Corpora the command line accepts: every reader, and the generated synthetic corpus
#: (read with the LibriSpeech reader: it is written in that layout).
CORPORA: tuple[str, ...] = (*CORPUS_READERS, "synthetic")


def check_name(what: str, name: object, valid: Iterable[str]) -> str:
    """Return ``name`` if it is one of ``valid``; raise :class:`UnknownNameError` otherwise.

    Parameters
    ----------
    what : str
        What the name names, for the message (``"model"``, ``"recipe"``...).
    name : object
        The name asked for.
    valid : iterable of str
        The registered names (one of this module's tuples).

    Raises
    ------
    UnknownNameError
        (a :class:`KeyError`) naming ``name`` and listing the valid names.

    Examples
    --------
    >>> check_name("profile", "cpu", PROFILES)
    'cpu'
    """
    valid = tuple(valid)
    if not isinstance(name, str) or name not in valid:
        raise UnknownNameError(f"unknown {what} {name!r}; valid: {', '.join(valid)}")
    return name
