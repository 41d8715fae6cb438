"""A lock file on a folder that one process writes at a time: a feature store, a run folder.

Two processes writing one folder break each other's files: both write the same
temporary name (:func:`speakerlib._io.part_path`), and the second rename finds
it gone. :func:`folder_lock` makes the second writer stop at once with a
message instead. The lock is ``FOLDER/.lock`` (:data:`LOCK_NAME`), created with
``O_CREAT | O_EXCL`` (so exactly one process can create it), holding a JSON
record of who holds it::

    {"pid": 4242, "host": "lab-3", "purpose": "prepare a feature store",
     "command": ["speakerlib", "prepare", "..."], "started": "2025-03-01T10:12:44+01:00"}

It is removed when the block ends, however it ends (an exception, Ctrl-C). A
process that is killed (``SIGKILL``, a power cut) leaves it behind: the next
:func:`folder_lock` finds that its PID is no longer running on this host and
takes the folder over, with a :class:`StaleLockWarning` saying so. A lock made
on another host (a shared file system) cannot be checked from here and counts
as held. Whatever lists or compares a folder's files skips :data:`LOCK_NAME`.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from speakerlib.errors import FolderInUseError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the take-over is then unguarded
    fcntl = None

__all__ = ["LOCK_NAME", "StaleLockWarning", "describe_holder", "folder_lock", "lock_holder"]

#: The lock file's name inside the locked folder.
LOCK_NAME = ".lock"

#: How long a lock file that does not parse is taken for one being written [s].
_SETTLE_S = 2.0


class StaleLockWarning(UserWarning):
    """A lock left by a process that is no longer running was removed; the folder is taken over."""


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, dead but not reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS), or it ended meanwhile: trust os.kill
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _parse(raw: bytes) -> dict | None:
    """The holder's record, or None if ``raw`` is not a lock record."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int) \
            or not isinstance(record.get("host"), str):
        return None
    return record


def _read(path: Path) -> tuple[bytes, dict | None] | None:
    """The lock's bytes and record (None: not a record, and old enough not to be half written),
    or None if the file is gone."""
    deadline = time.monotonic() + _SETTLE_S
    while True:
        try:
            raw = path.read_bytes()
            age_s = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return None
        record = _parse(raw)
        if record is not None or age_s > _SETTLE_S or time.monotonic() > deadline:
            return raw, record
        time.sleep(0.05)  # just created: its writer has not written the record yet


def _held(record: dict) -> bool:
    return record["host"] != socket.gethostname() or _running(record["pid"])


def lock_holder(folder: str | os.PathLike) -> dict | None:
    """The record of the process that holds ``folder``'s lock, or None when nobody does.

    A lock whose process is gone, or that cannot be read, is held by nobody.

    Returns
    -------
    dict or None
        ``pid``, ``host``, ``purpose``, ``command``, ``started`` (ISO 8601, local time).
    """
    found = _read(Path(folder) / LOCK_NAME)
    if found is None or found[1] is None:
        return None
    return found[1] if _held(found[1]) else None


def describe_holder(holder: dict) -> str:
    """``PID 4242 on this host to prepare a feature store, started ...``: who holds a lock, in words."""
    here = holder["host"] == socket.gethostname()
    where = "this host" if here else f"host {holder['host']!r} (its process cannot be checked from here)"
    return (f"PID {holder['pid']} on {where} to {holder.get('purpose') or 'write it'}, started "
            f"{holder.get('started') or 'at an unknown time'}")


def _in_use(folder: Path, path: Path, holder: dict) -> FolderInUseError:
    command = " ".join(str(part) for part in holder.get("command") or []) or "unknown"
    return FolderInUseError(
        f"{folder}: expected no other process writing this folder, found it locked by "
        f"{describe_holder(holder)} (command: {command}). Two writers at once "
        f"would break each other's files. Fix: wait for that process to finish, or if that process "
        f"is gone, delete {path}."
    )


@contextmanager
def _take_over_guard(folder: Path) -> Iterator[None]:
    """Hold an advisory lock (``flock``) on ``folder`` itself while a stale lock is checked and removed.

    Without it, two processes that both find the same stale lock could both
    remove it, and the second would remove the lock the first has just made.
    The guard is held only for the check, never while the folder is written.
    """
    if fcntl is None:
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the flock


def _take_over_if_stale(folder: Path, path: Path) -> None:
    """Remove ``path`` if its holder is gone (with a warning); raise FolderInUseError if it is held."""
    with _take_over_guard(folder):
        found = _read(path)
        if found is None:
            return  # released meanwhile: try again
        raw, holder = found
        if holder is not None and _held(holder):
            raise _in_use(folder, path, holder)
        try:
            path.unlink()
        except FileNotFoundError:
            return
    if holder is None:
        what = f"an unreadable lock file {path} ({len(raw)} bytes, not a lock record)"
    else:
        what = (f"a stale lock of PID {holder['pid']} ({holder.get('purpose', 'unknown purpose')}, "
                f"started {holder.get('started', 'at an unknown time')}), a process that is no "
                "longer running")
    warnings.warn(f"{folder}: removed {what}; an interrupted run's files there are taken over.",
                  StaleLockWarning, stacklevel=4)


@contextmanager
def folder_lock(folder: str | os.PathLike, *, purpose: str) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block: no other process can hold it meanwhile.

    Parameters
    ----------
    folder : path-like
        The folder to write; created (with its parents) if missing.
    purpose : str
        What the holder does, in words another user reads in the error
        ("prepare a feature store", "train a run").

    Yields
    ------
    Path
        The lock file, ``folder / LOCK_NAME``.

    Raises
    ------
    FolderInUseError
        If a running process (on this host, or any process on another host)
        holds the lock: the message names it, when it started, and the fix.

    Warns
    -----
    StaleLockWarning
        When a lock whose process is no longer running (or an unreadable
        lock file) is removed and the folder taken over.

    Examples
    --------
    >>> with folder_lock(store, purpose="prepare a feature store"):  # doctest: +SKIP
    ...     write_everything(store)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": str(purpose),
              "command": [str(part) for part in sys.argv],
              "started": datetime.now().astimezone().isoformat(timespec="seconds")}
    data = (json.dumps(record, indent=1) + "\n").encode("utf-8")
    for _ in range(20):
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            _take_over_if_stale(folder, path)
            continue
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        break
    else:
        raise FolderInUseError(
            f"{folder}: expected to take its lock {path}, found it taken by another process each of "
            "20 times. Fix: run one writer of this folder at a time."
        )
    try:
        yield path
    finally:
        try:
            if path.read_bytes() == data:
                path.unlink()
        except FileNotFoundError:
            pass
