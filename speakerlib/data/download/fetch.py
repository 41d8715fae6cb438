"""Downloading a file resumably, and verifying it before it appears.

:func:`download_file` streams into ``<dest>.part``, resumes it with an HTTP
``Range`` request, retries a cut connection, checks the SHA-256 and only then
renames the file into place. The ``.part`` file is the resumable download's
own mechanism, not an atomic write: it is meant to survive an interruption.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import ssl
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from tqdm.auto import tqdm

from speakerlib.data.download.catalogue import LIBRISPEECH_MIRROR_ENV, SHA256_RE, format_bytes
from speakerlib.errors import ChecksumMismatchError, ConfigError, DownloadError

__all__ = [
    "READ_CHUNK_BYTES",
    "byte_progress",
    "sha256_file",
    "download_file",
    "partial_download_path",
    "normalize_sha256",
    "require_free_space",
]

#: Bytes read from a local file at a time (hashing, reading an archive to its end) [bytes].
READ_CHUNK_BYTES = 1 << 20

_USER_AGENT = "speakerlib (deep speaker recognition course)"
# HTTP answers worth asking again: the server or a proxy is busy, not wrong.
_RETRIABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSIZED_RANGE_RE = re.compile(r"bytes\s+\*/(\d+)")


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
    _hash_into(digest, path, desc=f"checking {path.name}", progress=progress)
    return digest.hexdigest()


def byte_progress(desc: str, *, total: int | None = None, progress: bool = True, delay_s: float = 0.0) -> tqdm:
    """A progress bar counting bytes (``tqdm.auto``, in kB/MB/GB); disabled when ``progress`` is False.

    ``delay_s`` [s] keeps it hidden that long: a download's bar appears once bytes arrive, not as
    an empty bar while the connection is being made (or refused).
    """
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not progress, delay=delay_s)


def _hash_into(digest, path: Path, *, desc: str, progress: bool) -> int:
    """Feed the bytes of ``path`` to ``digest`` in chunks; return how many there were."""
    size = 0
    with open(path, "rb") as handle, byte_progress(desc, total=path.stat().st_size, progress=progress) as bar:
        while chunk := handle.read(READ_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
    return size


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
    ConfigError
        If a setting is out of range or ``sha256`` is not 64 hex digits.
    """
    dest = Path(dest).expanduser()
    expected = normalize_sha256(sha256)
    if chunk_bytes < 1:
        raise ConfigError(f"expected chunk_bytes >= 1, found {chunk_bytes}.")
    if not timeout_s > 0:
        raise ConfigError(f"expected timeout_s > 0, found {timeout_s}.")
    if retries < 0:
        raise ConfigError(f"expected retries >= 0, found {retries}.")
    if retry_wait_s < 0:
        raise ConfigError(f"expected retry_wait_s >= 0, found {retry_wait_s}.")

    part = partial_download_path(dest)
    if dest.is_file():
        if expected is None or sha256_file(dest, progress=progress) == expected:
            part.unlink(missing_ok=True)
            return dest
        # A wrong file at dest stays until a verified download replaces it.
    dest.parent.mkdir(parents=True, exist_ok=True)

    state = _PartFile(part, progress=progress)
    with byte_progress(dest.name, progress=progress, delay_s=1.0) as bar:
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
                self.size = _hash_into(self._digest, self.path, desc=f"checking partial {self.path.name}",
                                       progress=self.progress)

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
            wait_s = min(30.0, attempt * retry_wait_s)
            warnings.warn(f"{url}: attempt {attempt} of {retries + 1} failed ({failures[-1]}); trying again "
                          f"in {wait_s:g} s", stacklevel=3)
            time.sleep(wait_s)
        state.sync()
        try:
            _request_once(url, state, bar, chunk_bytes=chunk_bytes, timeout_s=timeout_s)
            return
        except _Retry as exc:
            failures.append(str(exc))
    state.sync()
    of_total = f" of {state.total}" if state.total is not None else ""
    if state.size:
        saved = f"{state.size}{of_total} bytes are saved in {state.path}"
        again = "run the same command again: it resumes from the saved bytes"
    else:
        saved = "nothing was saved"
        again = "run the same command again"
    raise DownloadError(
        f"{url}: download failed after {retries + 1} attempts; {saved} "
        f"(last error: {failures[-1]}). Fix: check the network (or the mirror), then {again}."
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
            require_free_space(
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



def partial_download_path(dest: Path) -> Path:
    """Where :func:`download_file` keeps the bytes of ``dest`` until they are verified: ``<dest>.part``.

    >>> partial_download_path(Path("data/dev-clean.tar.gz")).name
    'dev-clean.tar.gz.part'
    """
    return dest.with_name(dest.name + ".part")


def normalize_sha256(value: str | None) -> str | None:
    """An expected SHA-256 as 64 lowercase hex digits (surrounding spaces and upper case allowed).

    Raises
    ------
    ConfigError
        If ``value`` is neither None nor 64 hex digits.
    """
    if value is None:
        return None
    digest = value.strip().lower()
    if not SHA256_RE.fullmatch(digest):
        raise ConfigError(f"expected sha256 as 64 hex digits, found {value!r}.")
    return digest


def require_free_space(folder: Path, *, needed_bytes: int, what: str, keep_note: str) -> None:
    """Raise unless the disk holding ``folder`` has ``needed_bytes`` free.

    Parameters
    ----------
    folder : Path
        An existing folder on the disk to check.
    needed_bytes : int
        Bytes about to be written [bytes].
    what : str
        What they are, for the message.
    keep_note : str
        What was kept (or not done), for the message.

    Raises
    ------
    DownloadError
        If less is free, saying how much is needed and free and how to fix it.
    """
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise DownloadError(
            f"{folder}: expected at least {format_bytes(needed_bytes)} free for {what}, "
            f"found {format_bytes(free)} free. {keep_note} Fix: free some space, or "
            "download to a folder on a larger disk."
        )
