"""Downloading LibriSpeech: a catalogue, a resumable verified download, a safe extraction.

LibriSpeech (openslr.org resource 12) comes as one ``.tar.gz`` per subset. Each
unpacks to ``LibriSpeech/<subset>/<speaker>/<chapter>/`` (FLAC files plus a
``<speaker>-<chapter>.trans.txt``) and to five top-level files shared by all
subsets (``SPEAKERS.TXT``, ``CHAPTERS.TXT``, ``BOOKS.TXT``, ``LICENSE.TXT``,
``README.TXT``), so several subsets live side by side in one ``LibriSpeech/``.

Three steps, each safe to interrupt and to run again:

1. :func:`download_file` streams into ``<dest>.part``, resumes it with an HTTP
   ``Range`` request, retries a cut connection, checks the SHA-256 and only
   then renames the file into place.
2. :func:`extract_tar` refuses members that would land outside the target,
   unpacks into a hidden temporary folder inside the target, moves the result
   into place and writes a completion marker.
3. :func:`download_librispeech` chains the two for one subset and returns at
   once when that subset is already there.

The base URL can point at a mirror: the ``mirror`` argument, else the
environment variable ``SPEAKERLIB_LIBRISPEECH_MIRROR``, else openslr.org.

Example
-------
>>> from speakerlib.data.download import download_librispeech
>>> folder = download_librispeech("dev-clean", "data")  # doctest: +SKIP
>>> folder  # doctest: +SKIP
PosixPath('data/LibriSpeech/dev-clean')
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import json
import lzma
import os
import re
import shutil
import ssl
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from speakerlib.errors import (
    ArchiveError,
    ChecksumMismatchError,
    CorpusLayoutError,
    CorpusNotFoundError,
    DownloadError,
    UnsafeArchiveError,
)

__all__ = [
    "LIBRISPEECH_BASE_URL",
    "LIBRISPEECH_MIRROR_ENV",
    "LIBRISPEECH_SHARED_FILES",
    "LIBRISPEECH_SUBSETS",
    "LibriSpeechSubset",
    "librispeech_url",
    "librispeech_subset_ready",
    "format_librispeech_catalogue",
    "download_file",
    "extract_tar",
    "download_librispeech",
    "sha256_file",
]

LIBRISPEECH_BASE_URL = "https://www.openslr.org/resources/12"
LIBRISPEECH_MIRROR_ENV = "SPEAKERLIB_LIBRISPEECH_MIRROR"
LIBRISPEECH_SHARED_FILES: tuple[str, ...] = (
    "SPEAKERS.TXT",
    "CHAPTERS.TXT",
    "BOOKS.TXT",
    "LICENSE.TXT",
    "README.TXT",
)

_USER_AGENT = "speakerlib (deep speaker recognition course)"
_HASH_CHUNK_BYTES = 1 << 20
# HTTP answers worth asking again: the server or a proxy is busy, not wrong.
_RETRIABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# FLAC barely compresses further, so a subset unpacks to about its archive's size.
_UNPACKED_PER_ARCHIVE_BYTE = 1.05
_EXTRACT_TMP_PREFIX = ".extracting-"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSIZED_RANGE_RE = re.compile(r"bytes\s+\*/(\d+)")
# Python >= 3.11.4 re-checks every member itself; older versions rely on our checks alone.
_TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
_ARCHIVE_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class LibriSpeechSubset:
    """One downloadable LibriSpeech subset.

    Attributes
    ----------
    name : str
        Subset name, e.g. ``"dev-clean"``; also the archive's stem and the
        folder it unpacks to (``LibriSpeech/<name>/``).
    approx_size_bytes : int > 0
        Archive size [bytes] as listed on openslr.org (rounded, e.g. 337 MB);
        used for the free-space check and for display, never for verification.
    sha256 : str
        SHA-256 of the archive, 64 lowercase hex digits.
    """

    name: str
    approx_size_bytes: int
    sha256: str

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"expected a subset name like 'dev-clean', found {self.name!r}.")
        if self.approx_size_bytes <= 0:
            raise ValueError(
                f"{self.name}: expected approx_size_bytes > 0, found {self.approx_size_bytes}."
            )
        if not _SHA256_RE.fullmatch(self.sha256):
            raise ValueError(
                f"{self.name}: expected sha256 as 64 lowercase hex digits, found {self.sha256!r}."
            )

    @property
    def archive_name(self) -> str:
        """File name of the archive, ``"<name>.tar.gz"``."""
        return f"{self.name}.tar.gz"

    @property
    def size_text(self) -> str:
        """The approximate archive size for people, e.g. ``"337 MB"`` or ``"6.3 GB"``."""
        return _format_bytes(self.approx_size_bytes)


class _Catalogue(dict):
    """A dict whose missing keys raise a KeyError listing the valid names."""

    def __missing__(self, key: object) -> LibriSpeechSubset:
        raise KeyError(
            f"unknown LibriSpeech subset {key!r}; expected one of: {', '.join(self)}."
        )


def _subset(name: str, size_bytes: float, sha256: str) -> tuple[str, LibriSpeechSubset]:
    return name, LibriSpeechSubset(name=name, approx_size_bytes=int(size_bytes), sha256=sha256)


#: The LibriSpeech subsets on openslr.org resource 12, by name. Looking up an
#: unknown name raises a ``KeyError`` that lists the valid ones.
LIBRISPEECH_SUBSETS: dict[str, LibriSpeechSubset] = _Catalogue(
    [
        _subset("dev-clean", 337e6, "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
        _subset("dev-other", 314e6, "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"),
        _subset("test-clean", 346e6, "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
        _subset("test-other", 328e6, "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"),
        _subset("train-clean-100", 6.3e9, "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"),
        _subset("train-clean-360", 23e9, "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"),
        _subset("train-other-500", 30e9, "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"),
    ]
)


def librispeech_url(subset: str, *, mirror: str | None = None) -> str:
    """The download URL of one subset's archive.

    Parameters
    ----------
    subset : str
        A key of :data:`LIBRISPEECH_SUBSETS`, e.g. ``"train-clean-100"``.
    mirror : str, optional
        Base URL replacing ``https://www.openslr.org/resources/12`` (the
        folder holding the ``.tar.gz`` files). Default: the environment variable
        ``SPEAKERLIB_LIBRISPEECH_MIRROR`` if set and not empty, else openslr.org.

    Returns
    -------
    str
        ``"<base>/<subset>.tar.gz"``.

    Raises
    ------
    KeyError
        If ``subset`` is not in the catalogue (the message lists valid names).
    ValueError
        If the mirror is not a URL (``scheme://...``).

    Examples
    --------
    >>> librispeech_url("dev-clean", mirror="https://example.org/12/")
    'https://example.org/12/dev-clean.tar.gz'
    """
    info = LIBRISPEECH_SUBSETS[subset]
    base = mirror if mirror else os.environ.get(LIBRISPEECH_MIRROR_ENV, "") or LIBRISPEECH_BASE_URL
    if "://" not in base:
        raise ValueError(
            f"expected the LibriSpeech mirror as a URL like 'https://host/resources/12', "
            f"found {base!r} (from {'mirror=' if mirror else '$' + LIBRISPEECH_MIRROR_ENV})."
        )
    return f"{base.rstrip('/')}/{info.archive_name}"


def librispeech_subset_ready(subset: str, root: str | Path) -> bool:
    """Whether ``root/LibriSpeech/<subset>`` was completely extracted by :func:`download_librispeech`.

    Raises
    ------
    KeyError
        If ``subset`` is not in the catalogue.
    """
    info = LIBRISPEECH_SUBSETS[subset]
    root = Path(root).expanduser()
    return (
        _marker_path(root / info.archive_name, root).is_file()
        and (root / "LibriSpeech" / subset).is_dir()
    )


def format_librispeech_catalogue(root: str | Path | None = None) -> str:
    """The catalogue as a text table, for a command line's ``--list``.

    Parameters
    ----------
    root : str or Path, optional
        A download folder; when given, a ``status`` column says what is already
        there (``ready``, ``archive only``, ``partial download``).

    Returns
    -------
    str
        One line per subset: name, approximate size, SHA-256 (and status).
    """
    lines = []
    for name, info in LIBRISPEECH_SUBSETS.items():
        line = f"{name:<16} {info.size_text:>8}  {info.sha256}"
        if root is not None:
            folder = Path(root).expanduser()
            archive = folder / info.archive_name
            part = _part_path(archive)
            if librispeech_subset_ready(name, folder):
                status = "ready"
            elif archive.is_file():
                status = "archive only"
            elif part.is_file():
                status = f"partial download ({_format_bytes(part.stat().st_size)})"
            else:
                status = "-"
            line += f"  {status}"
        lines.append(line)
    header = f"{'subset':<16} {'size':>8}  {'sha256':<64}" + ("  status" if root is not None else "")
    return "\n".join([header, *lines])


# --------------------------------------------------------------------------- download


def sha256_file(path: str | Path, *, progress: bool = False) -> str:
    """SHA-256 of a file, as 64 lowercase hex digits.

    Parameters
    ----------
    path : str or Path
        The file; read in 1 MiB chunks, so any size works.
    progress : bool
        Show a progress bar (worth it for multi-gigabyte archives).
    """
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle, tqdm(
        total=path.stat().st_size,
        desc=f"checking {path.name}",
        unit="B",
        unit_scale=True,
        disable=not progress,
    ) as bar:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    progress: bool = True,
    chunk_bytes: int = 1 << 20,
    timeout_s: float = 60.0,
    retries: int = 5,
    retry_wait_s: float = 2.0,
) -> Path:
    """Download a file resumably and verify it before it appears at ``dest``.

    Bytes go to ``<dest>.part``. When that file exists (an earlier run was
    interrupted), the download resumes with an HTTP ``Range`` request; a
    server that answers the whole file instead (200) makes it start afresh.
    A cut or stalled connection is retried up to ``retries`` times, each
    time resuming. The SHA-256 covers the whole file, resumed part included;
    only a verified file is renamed to ``dest`` (atomically, ``os.replace``).

    Parameters
    ----------
    url : str
        What to download (``http(s)://``; ``file://`` works but cannot resume).
    dest : str or Path
        Where the finished file goes; its folder is created.
    sha256 : str, optional
        Expected SHA-256 (64 hex digits). If ``dest`` already exists with this
        digest, nothing is downloaded. Without it, an existing ``dest`` is
        taken as done and a new download is not verified.
    progress : bool
        Show a progress bar (``tqdm.auto``).
    chunk_bytes : int > 0
        Bytes read from the connection at a time [bytes].
    timeout_s : float > 0
        Seconds a connect or a single read may wait before the attempt counts
        as failed [s].
    retries : int >= 0
        Further attempts after a network failure, an HTTP 5xx/408/429, or a
        connection that closed early.
    retry_wait_s : float >= 0
        Pause before the n-th retry is ``n * retry_wait_s`` (at most 30 s) [s].

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        On an HTTP error such as 404 (at once), when the retries are used up
        (the ``.part`` file is kept: running again resumes), or when the disk
        has less free space than the server announces for the rest.
    ChecksumMismatchError
        If the downloaded file's SHA-256 differs from ``sha256``; the bad
        ``.part`` file is deleted, so running again downloads afresh.
    ValueError
        If a setting is out of range or ``sha256`` is not 64 hex digits.
    """
    dest = Path(dest).expanduser()
    expected = _normalize_sha256(sha256)
    if chunk_bytes < 1:
        raise ValueError(f"expected chunk_bytes >= 1, found {chunk_bytes}.")
    if not timeout_s > 0:
        raise ValueError(f"expected timeout_s > 0, found {timeout_s}.")
    if retries < 0:
        raise ValueError(f"expected retries >= 0, found {retries}.")
    if retry_wait_s < 0:
        raise ValueError(f"expected retry_wait_s >= 0, found {retry_wait_s}.")

    part = _part_path(dest)
    if dest.is_file():
        if expected is None or sha256_file(dest, progress=progress) == expected:
            part.unlink(missing_ok=True)
            return dest
        # A wrong file at dest stays until a verified download replaces it.
    dest.parent.mkdir(parents=True, exist_ok=True)

    state = _PartFile(part, progress=progress)
    with tqdm(
        desc=dest.name, unit="B", unit_scale=True, disable=not progress
    ) as bar:
        _fetch(
            url,
            state,
            bar,
            chunk_bytes=chunk_bytes,
            timeout_s=timeout_s,
            retries=retries,
            retry_wait_s=retry_wait_s,
        )

    found = state.hexdigest()
    if expected is not None and found != expected:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"{dest}: expected SHA-256 {expected}, found {found} "
            f"({state.size} bytes downloaded from {url}). The bad download {part} was "
            "deleted, so running the same command again downloads it afresh. If the "
            "digest differs again, the server sends a different file: try another "
            "mirror, or check the expected digest."
        )
    with open(part, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(part, dest)
    return dest


class _Retry(Exception):
    """One attempt failed in a way worth trying again (internal)."""


class _PartFile:
    """The ``.part`` file and a running SHA-256 of exactly the bytes in it."""

    def __init__(self, path: Path, *, progress: bool) -> None:
        self.path = path
        self.progress = progress
        self.size = 0
        self.total: int | None = None
        self._digest = hashlib.sha256()

    def sync(self) -> None:
        """Make the digest match the file on disk (hashing an existing file once)."""
        on_disk = self.path.stat().st_size if self.path.is_file() else 0
        if on_disk != self.size:
            self._digest = hashlib.sha256()
            self.size = 0
            if on_disk:
                with open(self.path, "rb") as handle, tqdm(
                    total=on_disk,
                    desc=f"checking partial {self.path.name}",
                    unit="B",
                    unit_scale=True,
                    disable=not self.progress,
                ) as bar:
                    while chunk := handle.read(_HASH_CHUNK_BYTES):
                        self._digest.update(chunk)
                        self.size += len(chunk)
                        bar.update(len(chunk))

    def restart(self) -> None:
        """Empty the file: the next bytes are the file's first."""
        with open(self.path, "wb"):
            pass
        self._digest = hashlib.sha256()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        """Account for a chunk just appended to the file."""
        self._digest.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        self.sync()
        return self._digest.hexdigest()


def _fetch(
    url: str,
    state: _PartFile,
    bar: tqdm,
    *,
    chunk_bytes: int,
    timeout_s: float,
    retries: int,
    retry_wait_s: float,
) -> None:
    """Bring ``state.path`` to the complete file, resuming across at most ``retries + 1`` requests."""
    failures: list[str] = []
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(30.0, attempt * retry_wait_s))
        state.sync()
        try:
            _request_once(url, state, bar, chunk_bytes=chunk_bytes, timeout_s=timeout_s)
            return
        except _Retry as exc:
            failures.append(str(exc))
    state.sync()
    of_total = f" of {state.total}" if state.total is not None else ""
    saved = (
        f"{state.size}{of_total} bytes are saved in {state.path}"
        if state.size
        else "nothing was saved yet"
    )
    raise DownloadError(
        f"{url}: download failed after {retries + 1} attempts; {saved} "
        f"(last error: {failures[-1]}). Fix: check the network (or the mirror), then "
        "run the same command again: it resumes from the saved bytes."
    )


def _request_once(url: str, state: _PartFile, bar: tqdm, *, chunk_bytes: int, timeout_s: float) -> None:
    """One HTTP request that appends to (or restarts) the ``.part`` file; raise ``_Retry`` if cut."""
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if state.size:
        headers["Range"] = f"bytes={state.size}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        with exc:
            content_range = exc.headers.get("Content-Range", "") if exc.headers else ""
        if exc.code == 416 and state.size:
            match = _UNSIZED_RANGE_RE.search(content_range)
            if match and int(match.group(1)) == state.size:
                state.total = state.size  # the .part already holds the whole file
                return
            state.restart()
            raise _Retry(f"HTTP 416: the saved {state.path.name} does not fit the file; restarting") from exc
        if exc.code in _RETRIABLE_STATUS:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(
            f"{url}: expected the file, the server answered HTTP {exc.code} {exc.reason}. "
            "Fix: check the URL (for LibriSpeech: the subset name and the mirror, "
            f"--mirror / ${LIBRISPEECH_MIRROR_ENV})."
        ) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise DownloadError(
                f"{url}: the server's TLS certificate could not be verified ({exc.reason}). "
                "Fix: check the URL or mirror; on a managed network, make Python trust "
                "its certificates (SSL_CERT_FILE)."
            ) from exc
        if isinstance(exc.reason, OSError):
            raise _Retry(f"cannot connect: {exc.reason}") from exc
        raise DownloadError(f"{url}: cannot download it ({exc.reason}). Fix: check the URL.") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Retry(f"cannot connect: {exc!r}") from exc
    except ValueError as exc:
        raise DownloadError(f"{url}: expected a URL like https://host/file, found this ({exc}).") from exc

    with response:
        status = response.status or 200  # file:// answers without a status
        if status == 206:
            match = _CONTENT_RANGE_RE.search(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != state.size:
                state.restart()
                raise _Retry(
                    f"the server resumed at the wrong byte (Content-Range "
                    f"{response.headers.get('Content-Range')!r}, asked for {state.size}); restarting"
                )
            if match.group(3) != "*":
                state.total = int(match.group(3))
            else:
                state.total = int(match.group(2)) + 1
        else:
            if state.size:
                state.restart()  # the server ignored Range and sends the whole file
            length = response.headers.get("Content-Length")
            state.total = int(length) if length and length.isdigit() else None
        bar.reset(total=state.total)
        bar.update(state.size)
        if state.total is not None:
            _require_free_space(
                state.path.parent,
                needed_bytes=state.total - state.size,
                what=f"the rest of {url}",
                keep_note=f"The partial download {state.path} is kept; the same command resumes it.",
            )
        with open(state.path, "ab") as handle:
            while True:
                try:
                    # read1: what has arrived (up to chunk_bytes), so a stall loses nothing.
                    chunk = response.read1(chunk_bytes)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retry(f"connection lost after {state.size} bytes: {exc!r}") from exc
                if not chunk:
                    break
                handle.write(chunk)
                state.add(chunk)
                bar.update(len(chunk))
    if state.total is not None and state.size < state.total:
        raise _Retry(f"connection closed after {state.size} of {state.total} bytes")


# --------------------------------------------------------------------------- extraction


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
    marker = _marker_path(archive, target)
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
        _write_marker(marker, {"archive": archive.name, "archive_size_bytes": size_bytes,
                               "members": count,
                               "extracted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _extract_checked(archive: Path, staging: Path, *, target: Path, progress: bool) -> int:
    """Extract every member into ``staging`` after checking it; return the member count."""
    root = os.path.realpath(staging)
    count = 0
    fix = "Fix: delete the archive and download it again."
    with open(archive, "rb") as raw, tqdm(
        total=archive.stat().st_size,
        desc=f"extracting {archive.name}",
        unit="B",
        unit_scale=True,
        disable=not progress,
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
                while tar.fileobj.read(_HASH_CHUNK_BYTES):
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


def _marker_path(archive: Path, target: Path) -> Path:
    return target / f".{archive.name}.extracted"


def _read_marker(marker: Path) -> dict:
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_marker(marker: Path, content: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f"{marker.name}.", suffix=".tmp", dir=marker.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)
        os.replace(tmp, marker)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- LibriSpeech


def download_librispeech(
    subset: str,
    root: str | Path,
    *,
    mirror: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    keep_archive: bool = True,
    timeout_s: float = 60.0,
    retries: int = 5,
    retry_wait_s: float = 2.0,
) -> Path:
    """Download, verify and extract one LibriSpeech subset; return its folder.

    The archive goes to ``root/<subset>.tar.gz`` (resumable, see
    :func:`download_file`) and unpacks into ``root/LibriSpeech/``, which
    several subsets share; the top-level ``SPEAKERS.TXT`` etc. are added only
    if absent. When the subset was already extracted, this returns at once
    without touching the network.

    Parameters
    ----------
    subset : str
        A key of :data:`LIBRISPEECH_SUBSETS`, e.g. ``"dev-clean"``.
    root : str or Path
        Download folder; created if missing.
    mirror : str, optional
        Base URL replacing openslr.org (see :func:`librispeech_url`).
    sha256 : str, optional
        Expected SHA-256 of the archive. Default: the catalogue's. Giving
        another one means another archive (for example a test's), whose size
        the catalogue does not know: the free-space check then uses the size
        the server announces.
    progress : bool
        Show progress bars.
    keep_archive : bool
        Keep ``root/<subset>.tar.gz`` after extraction (default) or delete it.
    timeout_s, retries, retry_wait_s
        Passed to :func:`download_file`.

    Returns
    -------
    Path
        ``root/LibriSpeech/<subset>``.

    Raises
    ------
    KeyError
        If ``subset`` is not in the catalogue (the message lists valid names).
    DownloadError
        If the disk lacks free space for the archive plus its extracted files
        (checked before anything is downloaded), or the download fails.
    ChecksumMismatchError
        If the archive's SHA-256 is wrong (the bad file is deleted).
    ArchiveError, UnsafeArchiveError
        If the archive is damaged or has members outside ``LibriSpeech/``.
    CorpusLayoutError
        If the archive holds no ``LibriSpeech/<subset>/`` folder.
    """
    info = LIBRISPEECH_SUBSETS[subset]
    url = librispeech_url(subset, mirror=mirror)
    root = Path(root).expanduser()
    archive = root / info.archive_name
    folder = root / "LibriSpeech" / subset
    if librispeech_subset_ready(subset, root):
        return folder
    _marker_path(archive, root).unlink(missing_ok=True)  # the folder was removed: redo

    root.mkdir(parents=True, exist_ok=True)
    if sha256 is None:
        part = _part_path(archive)
        to_download = 0
        if not archive.is_file():
            done = part.stat().st_size if part.is_file() else 0
            to_download = max(0, info.approx_size_bytes - done)
        to_unpack = int(info.approx_size_bytes * _UNPACKED_PER_ARCHIVE_BYTE)
        _require_free_space(
            root,
            needed_bytes=to_download + to_unpack,
            what=(
                f"LibriSpeech {subset} ({_format_bytes(to_download)} still to download, "
                f"about {_format_bytes(to_unpack)} to unpack)"
            ),
            keep_note="Nothing was downloaded.",
        )
    download_file(
        url,
        archive,
        sha256=sha256 if sha256 is not None else info.sha256,
        progress=progress,
        timeout_s=timeout_s,
        retries=retries,
        retry_wait_s=retry_wait_s,
    )
    extract_tar(archive, root, progress=progress)
    if not folder.is_dir():
        _marker_path(archive, root).unlink(missing_ok=True)
        shared = root / "LibriSpeech"
        found = sorted(p.name for p in shared.iterdir()) if shared.is_dir() else []
        raise CorpusLayoutError(
            f"{archive}: expected it to unpack to LibriSpeech/{subset}/, found "
            f"LibriSpeech/ holding {found or 'nothing'}. Fix: check that the mirror serves "
            f"the LibriSpeech {subset} archive, delete {archive} and run again."
        )
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return folder


# --------------------------------------------------------------------------- helpers


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _normalize_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    digest = value.strip().lower()
    if not _SHA256_RE.fullmatch(digest):
        raise ValueError(f"expected sha256 as 64 hex digits, found {value!r}.")
    return digest


def _require_free_space(folder: Path, *, needed_bytes: int, what: str, keep_note: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise DownloadError(
            f"{folder}: expected at least {_format_bytes(needed_bytes)} free for {what}, "
            f"found {_format_bytes(free)} free. {keep_note} Fix: free some space, or "
            "download to a folder on a larger disk."
        )


def _format_bytes(n: float) -> str:
    """Bytes for people, in decimal units as openslr.org lists them: ``337 MB``, ``6.3 GB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n)} B"
