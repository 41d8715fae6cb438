"""Corpora: download, read into manifests, generate the synthetic default, split, convert.

A *manifest* is a table with one row per utterance (see
:mod:`speakerlib.data.manifest`); every reader here turns a corpus folder in its
release layout into one, so everything downstream works the same on
LibriSpeech, TIMIT, Kaldi-style lists, plain folders and the synthetic corpus.

:mod:`~speakerlib.data.manifest`
    The manifest's columns, building, reading and writing it.
:mod:`~speakerlib.data.corpora`
    :func:`~speakerlib.data.corpora.read_corpus`: any reader by name
    (:mod:`~speakerlib.data.librispeech`, :mod:`~speakerlib.data.timit`,
    :mod:`~speakerlib.data.kaldi`, :mod:`~speakerlib.data.folder`; the checks
    they share are in :mod:`~speakerlib.data.layout`).
:mod:`~speakerlib.data.download`
    The LibriSpeech catalogue, a resumable verified download, a safe extraction.
:mod:`~speakerlib.data.synth`
    The synthetic default corpus.
:mod:`~speakerlib.data.splits`
    Speaker-disjoint and enrolment/test splits.
:mod:`~speakerlib.data.convert`
    RIFF WAV copies of a corpus.
"""
