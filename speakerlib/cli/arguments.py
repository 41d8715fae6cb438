"""Argument types of the command line: each turns an option's text into a value or a usage error."""

from __future__ import annotations

import argparse
from pathlib import Path

from speakerlib import registry

__all__ = ["corpus_folder", "positive_int", "probability"]


def probability(text: str) -> float:
    """An option that takes a probability strictly between 0 and 1 (``--prior``)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability strictly between 0 and 1, found {text!r}")
    return value


def positive_int(text: str) -> int:
    """An option that takes an integer >= 1 (``--jobs``, ``--mels``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def corpus_folder(text: str) -> tuple[str, Path]:
    """``--also KIND:FOLDER``: a corpus kind of the registry and its folder."""
    kind, sep, folder = text.partition(":")
    if not sep or kind not in registry.CORPORA or not folder:
        raise argparse.ArgumentTypeError(
            f"expected KIND:FOLDER with KIND one of {', '.join(registry.CORPORA)}, got {text!r}")
    return kind, Path(folder)
