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

A file lands with the permissions a new file gets from the user's umask
(``0o666 & ~umask``: 0644 under umask 022, 0600 under 077), whatever mode the
writer gave the temporary file (a leftover ``.part`` file keeps its mode when it
is reopened, and some libraries create 0600 temporaries): :func:`atomic_path`
sets it just before the rename. The umask is read once per process.
"""

from __future__ import annotations

import errno
import json
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from speakerlib.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "file_mode",
    "part_path",
    "atomic_path",
    "write_text",
    "write_json",
    "json_ready",
    "json_text",
    "write_csv",
    "describe_difference",
]


_umask: int | None = None
_umask_lock = threading.Lock()


def _read_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc/self/status``).

    Elsewhere it is set to 0 and back; the lock keeps two threads of speakerlib from doing that
    at once (another thread creating a file in between would get umask 0).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The permissions of a new file under the process's umask: ``0o666 & ~umask`` (read once).

    >>> oct(file_mode())  # under umask 022  # doctest: +SKIP
    '0o644'
    """
    global _umask
    if _umask is None:
        with _umask_lock:
            if _umask is None:
                _umask = _read_umask()
    return 0o666 & ~_umask


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
        ``path`` is left as it was. Before the rename it gets :func:`file_mode`.

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
        try:
            os.chmod(tmp, file_mode())
        except OSError as exc:  # a file system without Unix permissions: keep what it gives
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_ready(value):
    """``value`` as plain JSON data: numpy scalars and arrays as Python numbers and lists, tuples as
    lists, keys as strings, NaN and infinite floats as None.

    A table (pandas ``DataFrame`` or ``Series``) becomes None too: tables are
    written as files of their own (CSV), not into a JSON record.

    >>> json_ready({"eer": np.float32("nan"), 1: (np.int64(2), np.arange(2))})
    {'eer': None, '1': [2, [0, 1]]}
    """
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if type(value).__module__.startswith("pandas") and type(value).__name__ in ("DataFrame", "Series"):
        return None
    return value


def _non_finite(record, where: str = "") -> list[str]:
    """The dotted keys of ``record`` (nested dicts and lists) whose value is a NaN or infinite float."""
    if isinstance(record, dict):
        return [k for key, value in record.items() for k in _non_finite(value, f"{where}{key}.")]
    if isinstance(record, (list, tuple)):
        return [k for i, value in enumerate(record) for k in _non_finite(value, f"{where}{i}.")]
    if isinstance(record, (float, np.floating)) and not math.isfinite(record):
        return [where.rstrip(".")]
    return []


def json_text(record, *, nulls: bool, where: str = "a run's JSON record", indent: int | None = 2) -> str:
    """``record`` as strict JSON text (a final newline), never with ``NaN`` or ``Infinity`` in it.

    Python's :mod:`json` writes a NaN float as a bare ``NaN``, which is not
    JSON (other readers refuse the file). Here a non-finite float becomes
    ``null`` (``nulls=True``: a figure that is undefined, such as the dev EER
    of a run without dev speakers) or is refused (``nulls=False``: a setting).
    Numpy values are written as the Python numbers they hold (:func:`json_ready`).

    Raises
    ------
    ConfigError
        With ``nulls=False``, a NaN or infinite value; the message names its key.

    >>> json_text({"eer": float("nan"), "epoch": 2}, nulls=True, indent=None)
    '{"eer": null, "epoch": 2}\\n'
    """
    bad = _non_finite(record)
    if bad and not nulls:
        raise ConfigError(f"{where}: expected finite numbers, found NaN or infinity at {', '.join(bad)}. "
                          "Give those settings finite values.")
    return json.dumps(json_ready(record), indent=indent, allow_nan=False) + "\n"


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
