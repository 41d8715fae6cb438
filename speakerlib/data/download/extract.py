"""Extracting a tar archive safely and all-or-nothing.

:func:`extract_tar` refuses members that would land outside the target,
unpacks into a hidden temporary folder inside the target, moves the result
into place and writes a completion marker (:func:`extraction_marker_path`).
"""

from __future__ import annotations

import errno
import gzip
import json
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from datetime import datetime, timezone
from pathlib import Path

from speakerlib._io import write_json
from speakerlib.data.download.fetch import READ_CHUNK_BYTES, byte_progress
from speakerlib.errors import ArchiveError, CorpusNotFoundError, UnsafeArchiveError

__all__ = ["extract_tar", "extraction_marker_path"]

_EXTRACT_TMP_PREFIX = ".extracting-"
# Python >= 3.11.4 re-checks every member itself; older versions rely on our checks alone.
_TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
_ARCHIVE_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


def extract_tar(archive: str | Path, target: str | Path, *, progress: bool = True) -> Path:
    """Extract a tar archive (plain, gz, bz2 or xz) safely and all-or-nothing.

    Every member is checked before it is written: absolute paths, ``..``
    components, links resolving outside the target, device files and FIFOs
    are refused. Members go to a hidden folder ``target/.extracting-<archive
    name>.*`` first; only a complete extraction is moved into ``target``
    (whole folders by one rename each), so an interrupted run never leaves a
    tree that looks complete. Folders that already exist in ``target`` are
    merged into; files that already exist there are kept, not overwritten
    (so subsets share LibriSpeech's top-level ``SPEAKERS.TXT``). A marker
    ``target/.<archive name>.extracted`` is written last; while it matches
    the archive's size, running again does nothing.

    Parameters
    ----------
    archive : str or Path
        The tar file.
    target : str or Path
        Folder to extract into; created if missing.
    progress : bool
        Show a progress bar over the archive's bytes.

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    CorpusNotFoundError
        If ``archive`` does not exist.
    UnsafeArchiveError
        If a member would be written outside ``target`` or is a device file;
        nothing is moved into ``target``.
    ArchiveError
        If the archive is truncated or corrupted; nothing is moved into ``target``.
    """
    archive = Path(archive).expanduser()
    target = Path(target).expanduser()
    if not archive.is_file():
        raise CorpusNotFoundError(
            f"{archive}: expected an archive to extract, found nothing there. "
            "Fix: download it first, or check the path."
        )
    size_bytes = archive.stat().st_size
    marker = extraction_marker_path(archive, target)
    if _read_marker(marker).get("archive_size_bytes") == size_bytes:
        return target

    target.mkdir(parents=True, exist_ok=True)
    stale_prefix = f"{_EXTRACT_TMP_PREFIX}{archive.name}."
    for stale in target.iterdir():  # left by an extraction that was killed
        if stale.name.startswith(stale_prefix) and stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    marker.unlink(missing_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=stale_prefix, dir=target))
    try:
        count = _extract_checked(archive, staging, target=target, progress=progress)
        _merge_tree(staging, target)
        write_json(marker, {"archive": archive.name, "archive_size_bytes": size_bytes,
                            "members": count,
                            "extracted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                   indent=2)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _extract_checked(archive: Path, staging: Path, *, target: Path, progress: bool) -> int:
    """Extract every member into ``staging`` after checking it; return the member count."""
    root = os.path.realpath(staging)
    count = 0
    fix = "Fix: delete the archive and download it again."
    with open(archive, "rb") as raw, byte_progress(
        f"extracting {archive.name}", total=archive.stat().st_size, progress=progress
    ) as bar:
        try:
            with tarfile.open(fileobj=raw, mode="r:*") as tar:
                for member in tar:
                    reason = _unsafe_reason(member, root)
                    if reason is not None:
                        raise UnsafeArchiveError(
                            f"{archive}: refusing to extract member {member.name!r}: {reason}. "
                            f"Nothing was extracted into {target}. This is not an intact copy "
                            "of the expected archive. Fix: delete it and download it again "
                            "from a trusted source."
                        )
                    try:
                        tar.extract(member, staging, **_TAR_FILTER)
                    except tarfile.FilterError as exc:
                        raise UnsafeArchiveError(
                            f"{archive}: refusing to extract member {member.name!r}: {exc}. "
                            f"Nothing was extracted into {target}. {fix}"
                        ) from exc
                    count += 1
                    bar.update(max(0, raw.tell() - bar.n))
                # Read to the end so that a damaged tail (gzip CRC, missing end
                # of stream) is detected even after the last member.
                while tar.fileobj.read(READ_CHUNK_BYTES):
                    pass
        except _ARCHIVE_READ_ERRORS as exc:
            raise ArchiveError(
                f"{archive}: expected a complete tar archive, found a truncated or corrupted "
                f"one ({type(exc).__name__}: {exc}) after {count} members. Nothing was "
                f"extracted into {target}. {fix}"
            ) from exc
        bar.update(max(0, bar.total - bar.n))
    return count


def _unsafe_reason(member: tarfile.TarInfo, root: str) -> str | None:
    """Why ``member`` must not be extracted into the real path ``root``, or None if it is safe."""
    name = member.name
    if not name:
        return "it has an empty name"
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "it has an absolute path"
    if ".." in re.split(r"[/\\]+", name):
        return "its path has a '..' component"
    if member.ischr() or member.isblk():
        return "it is a device file"
    if member.isfifo():
        return "it is a FIFO"
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return f"it has an unsupported type ({member.type!r})"
    if not _inside(os.path.realpath(os.path.join(root, name)), root):
        return "it would be written through a link to outside the target"
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hard link"
        link = member.linkname
        if link.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", link):
            return f"it is a {kind} to the absolute path {link!r}"
        base = os.path.join(root, os.path.dirname(name)) if member.issym() else root
        if not _inside(os.path.realpath(os.path.join(base, link)), root):
            return f"it is a {kind} to {link!r}, outside the target"
    return None


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _merge_tree(source: Path, dest: Path) -> None:
    """Move ``source``'s entries into ``dest``.

    New entries go by one rename each, existing folders are merged into, and
    existing files are kept.
    """
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        there = dest / entry.name
        if not os.path.lexists(there):
            _move(Path(entry.path), there)
        elif entry.is_dir(follow_symlinks=False) and there.is_dir():
            _merge_tree(Path(entry.path), there)


def _move(source: Path, dest: Path) -> None:
    """Rename ``source`` to ``dest``; across file systems, copy beside ``dest`` then rename."""
    try:
        os.replace(source, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        landing = dest.with_name(f".{dest.name}.moving-{os.getpid()}")
        shutil.rmtree(landing, ignore_errors=True)
        shutil.move(os.fspath(source), os.fspath(landing))
        os.replace(landing, dest)


def extraction_marker_path(archive: Path, target: Path) -> Path:
    """The marker :func:`extract_tar` writes once ``archive`` is completely extracted into ``target``.

    ``target/.<archive name>.extracted``, a JSON record of the archive's name
    and size, the member count and the time.

    >>> extraction_marker_path(Path("data/dev-clean.tar.gz"), Path("data")).name
    '.dev-clean.tar.gz.extracted'
    """
    return target / f".{archive.name}.extracted"


def _read_marker(marker: Path) -> dict:
    """The marker's record, or an empty dict when it is missing or unreadable."""
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
