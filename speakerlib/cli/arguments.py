"""Argument types of the command line: each turns an option's text into a value or a usage error."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from speakerlib import registry

__all__ = [
    "HelpFormatter",
    "corpus_folder",
    "model_source",
    "non_negative_float",
    "non_negative_int",
    "output_file",
    "output_folder",
    "positive_int",
    "probability",
]


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` that states every option's default.

    An option whose help text does not already say its default gets
    ``(default: VALUE)``; options without a default (required ones, flags
    that are off, values that depend on other options) are left as they are.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or action.required
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or not action.option_strings
            or type(default).__name__ == "object"  # a sentinel: the default depends on another option
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        if shown == "" or shown == ():
            return text
        return f"{text} (default: {shown})".lstrip()


#: The word that names the encoder shipped with speakerlib wherever a run folder is asked for.
PRETRAINED = "pretrained"


def model_source(text: str) -> Path | None:
    """A run folder, or the word ``pretrained`` for the shipped encoder (``None``: the default).

    A run folder that is itself called ``pretrained`` is given as ``./pretrained``.
    """
    return None if text == PRETRAINED else Path(text)


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


def non_negative_int(text: str) -> int:
    """An option that takes an integer >= 0 (``--bootstrap``: 0 turns the intervals off)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """An option that takes a finite number >= 0 (``--wccn``: 0 adds no regularisation)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def output_folder(text: str) -> Path:
    """An option naming a folder to write into: new, or an existing folder (never a file)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"expected a folder to write into, found a file at {text!r}: name a new or existing folder")
    return path


def output_file(text: str) -> Path:
    """An option naming a file to write: new, or an existing file to replace (never a folder)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(
            f"expected a file name to write, found a folder at {text!r}: name a file inside it, "
            f"e.g. {str(path / 'out')!r}")
    return path


def corpus_folder(text: str) -> tuple[str, Path]:
    """``--also KIND:FOLDER``: a corpus kind of the registry and its folder."""
    kind, sep, folder = text.partition(":")
    if not sep or kind not in registry.CORPORA or not folder:
        raise argparse.ArgumentTypeError(
            f"expected KIND:FOLDER with KIND one of {', '.join(registry.CORPORA)}, got {text!r}")
    return kind, Path(folder)
