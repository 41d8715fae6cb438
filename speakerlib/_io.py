"""Writing files so that a crash never leaves half of one, and comparing JSON records.

Every file speakerlib writes that a later run reads back (configs, indexes,
feature arrays, checkpoints, embeddings, metrics) is written through
:func:`atomic_path`: the bytes go to a temporary file beside the target,
named ``.<stem>.part<suffix>`` (the suffix kept, because some writers, Keras
and soundfile, choose the format from it), and the temporary file is renamed
over the target with :func:`os.replace` only once it is complete. A reader
therefore sees the old file or the new one, never a partial one; a killed
writer leaves at most a ``.part`` file, which the next write of the same
target replaces.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "part_path",
    "atomic_path",
    "write_text",
    "write_json",
    "write_csv",
    "describe_difference",
]


def part_path(path: str | os.PathLike) -> Path:
    """The temporary name :func:`atomic_path` writes ``path`` under: ``.<stem>.part<suffix>``.

    >>> part_path("run/checkpoints/last.keras").name
    '.last.part.keras'
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.part{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; rename it over ``path`` when the block ends without error.

    Parameters
    ----------
    path : path-like
        The file to (re)place.
    make_parents : bool
        Create the parent folders first.

    Yields
    ------
    Path
        :func:`part_path` of ``path``. Write the complete file there (open it,
        or hand it to a library's ``save``); on an exception it is deleted and
        ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_path(folder / "x.npy") as tmp:  # doctest: +SKIP
    ...     np.save(tmp, array)
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = part_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, record, *, indent: int = 2) -> Path:
    """Write ``record`` as JSON (with a final newline) to ``path`` atomically; return ``path``."""
    return write_text(path, json.dumps(record, indent=indent) + "\n")


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, *, index: bool = False) -> Path:
    """Write a DataFrame as CSV to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index)
    return Path(path)


def describe_difference(stored: dict, asked: dict, prefix: str = "", *, where: str = "store") -> list[str]:
    """One line per setting that differs between two JSON records (nested keys dotted).

    Parameters
    ----------
    stored, asked : dict
        What a folder holds and what was asked for.
    prefix : str
        Prepended to every key (used for the recursion).
    where : str
        How the lines name the folder (``"store"``, ``"run folder"``).

    Returns
    -------
    list of str
        ``"<key>: <where> has <stored value>, asked for <asked value>"``; empty
        when the records are equal.

    Examples
    --------
    >>> describe_difference({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}})
    ['b.c: store has 2, asked for 3']
    """
    lines = []
    for key in sorted(set(stored) | set(asked)):
        a, b = stored.get(key), asked.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += describe_difference(a, b, f"{prefix}{key}.", where=where)
        elif a != b:
            lines.append(f"{prefix}{key}: {where} has {a!r}, asked for {b!r}")
    return lines
