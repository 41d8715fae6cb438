"""Downloading one LibriSpeech subset: what is already there, and fetching and unpacking the rest.

:func:`download_librispeech` chains :func:`~speakerlib.data.download.fetch.download_file`
and :func:`~speakerlib.data.download.extract.extract_tar` for one subset of
:data:`~speakerlib.data.download.catalogue.LIBRISPEECH_SUBSETS`, and returns at
once when that subset is already there (:func:`librispeech_subset_ready`).
"""

from __future__ import annotations

from pathlib import Path

from speakerlib.data.download.catalogue import LIBRISPEECH_SUBSETS, format_bytes, librispeech_url
from speakerlib.data.download.extract import extract_tar, extraction_marker_path
from speakerlib.data.download.fetch import download_file, partial_download_path, require_free_space
from speakerlib.errors import CorpusLayoutError

__all__ = ["librispeech_subset_ready", "format_librispeech_catalogue", "download_librispeech"]

# FLAC barely compresses further, so a subset unpacks to about its archive's size.
_UNPACKED_PER_ARCHIVE_BYTE = 1.05


def librispeech_subset_ready(subset: str, root: str | Path) -> bool:
    """Whether ``root/LibriSpeech/<subset>`` was completely extracted by :func:`download_librispeech`.

    Raises
    ------
    UnknownNameError
        If ``subset`` is not in the catalogue (a KeyError).
    """
    info = LIBRISPEECH_SUBSETS[subset]
    root = Path(root).expanduser()
    return (
        extraction_marker_path(root / info.archive_name, root).is_file()
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
            part = partial_download_path(archive)
            if librispeech_subset_ready(name, folder):
                status = "ready"
            elif archive.is_file():
                status = "archive only"
            elif part.is_file():
                status = f"partial download ({format_bytes(part.stat().st_size)})"
            else:
                status = "-"
            line += f"  {status}"
        lines.append(line)
    header = f"{'subset':<16} {'size':>8}  {'sha256':<64}" + ("  status" if root is not None else "")
    return "\n".join([header, *lines])


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
    UnknownNameError
        If ``subset`` is not in the catalogue (a KeyError; the message lists valid names).
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
    extraction_marker_path(archive, root).unlink(missing_ok=True)  # the folder was removed: redo

    root.mkdir(parents=True, exist_ok=True)
    if sha256 is None:
        part = partial_download_path(archive)
        to_download = 0
        if not archive.is_file():
            done = part.stat().st_size if part.is_file() else 0
            to_download = max(0, info.approx_size_bytes - done)
        to_unpack = int(info.approx_size_bytes * _UNPACKED_PER_ARCHIVE_BYTE)
        require_free_space(
            root,
            needed_bytes=to_download + to_unpack,
            what=(
                f"LibriSpeech {subset} ({format_bytes(to_download)} still to download, "
                f"about {format_bytes(to_unpack)} to unpack)"
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
        extraction_marker_path(archive, root).unlink(missing_ok=True)
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
