"""Corpora: download, read into manifests, generate the synthetic default, split.

A *manifest* is a table with one row per utterance (see
:mod:`speakerlib.data.manifest`); every reader here turns a corpus folder in its
release layout into one, so everything downstream works the same on
LibriSpeech, TIMIT, Kaldi-style lists, plain folders and the synthetic corpus.
"""
