"""Downloading LibriSpeech: a catalogue, a resumable verified download, a safe extraction.

LibriSpeech (openslr.org resource 12) comes as one ``.tar.gz`` per subset. Each
unpacks to ``LibriSpeech/<subset>/<speaker>/<chapter>/`` (FLAC files plus a
``<speaker>-<chapter>.trans.txt``) and to five top-level files shared by all
subsets (``SPEAKERS.TXT``, ``CHAPTERS.TXT``, ``BOOKS.TXT``, ``LICENSE.TXT``,
``README.TXT``), so several subsets live side by side in one ``LibriSpeech/``.

Three steps, each safe to interrupt and to run again, each in its module:

1. :func:`~speakerlib.data.download.fetch.download_file` streams into
   ``<dest>.part``, resumes it with an HTTP ``Range`` request, retries a cut
   connection, checks the SHA-256 and only then renames the file into place.
2. :func:`~speakerlib.data.download.extract.extract_tar` refuses members that
   would land outside the target, unpacks into a hidden temporary folder
   inside the target, moves the result into place and writes a completion
   marker.
3. :func:`~speakerlib.data.download.librispeech.download_librispeech` chains
   the two for one subset and returns at once when that subset is already
   there.

The catalogue of subsets (names, sizes, digests, URLs) is
:mod:`~speakerlib.data.download.catalogue`. The base URL can point at a
mirror: the ``mirror`` argument, else the environment variable
``SPEAKERLIB_LIBRISPEECH_MIRROR``, else openslr.org.

Example
-------
>>> from speakerlib.data.download import download_librispeech
>>> folder = download_librispeech("dev-clean", "data")  # doctest: +SKIP
>>> folder  # doctest: +SKIP
PosixPath('data/LibriSpeech/dev-clean')
"""

from speakerlib.data.download.catalogue import (
    LIBRISPEECH_BASE_URL,
    LIBRISPEECH_MIRROR_ENV,
    LIBRISPEECH_SHARED_FILES,
    LIBRISPEECH_SUBSETS,
    LibriSpeechSubset,
    librispeech_url,
)
from speakerlib.data.download.extract import extract_tar
from speakerlib.data.download.fetch import download_file, sha256_file
from speakerlib.data.download.librispeech import (
    download_librispeech,
    format_librispeech_catalogue,
    librispeech_subset_ready,
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
