"""The LibriSpeech catalogue: the subsets on openslr.org, their sizes and digests, their URLs.

Nothing here touches the network or the disk; :mod:`speakerlib.data.download.librispeech`
downloads and extracts a subset with :mod:`~speakerlib.data.download.fetch` and
:mod:`~speakerlib.data.download.extract`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from speakerlib.errors import ConfigError, UnknownNameError

__all__ = [
    "LIBRISPEECH_BASE_URL",
    "LIBRISPEECH_MIRROR_ENV",
    "LIBRISPEECH_SHARED_FILES",
    "LIBRISPEECH_SUBSETS",
    "LibriSpeechSubset",
    "librispeech_url",
    "SHA256_RE",
    "format_bytes",
]

#: Where the archives are (openslr.org resource 12).
LIBRISPEECH_BASE_URL = "https://www.openslr.org/resources/12"
#: The environment variable naming a mirror of :data:`LIBRISPEECH_BASE_URL`.
LIBRISPEECH_MIRROR_ENV = "SPEAKERLIB_LIBRISPEECH_MIRROR"
#: The top-level files of ``LibriSpeech/`` that every subset's archive holds.
LIBRISPEECH_SHARED_FILES: tuple[str, ...] = (
    "SPEAKERS.TXT",
    "CHAPTERS.TXT",
    "BOOKS.TXT",
    "LICENSE.TXT",
    "README.TXT",
)

#: A SHA-256 digest as 64 lowercase hex digits.
SHA256_RE = re.compile(r"[0-9a-f]{64}")


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

    Raises
    ------
    ConfigError
        If the name is empty or has a ``/``, the size is not positive, or the
        digest is not 64 lowercase hex digits.
    """

    name: str
    approx_size_bytes: int
    sha256: str

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ConfigError(f"expected a subset name like 'dev-clean', found {self.name!r}.")
        if self.approx_size_bytes <= 0:
            raise ConfigError(
                f"{self.name}: expected approx_size_bytes > 0, found {self.approx_size_bytes}."
            )
        if not SHA256_RE.fullmatch(self.sha256):
            raise ConfigError(
                f"{self.name}: expected sha256 as 64 lowercase hex digits, found {self.sha256!r}."
            )

    @property
    def archive_name(self) -> str:
        """File name of the archive, ``"<name>.tar.gz"``."""
        return f"{self.name}.tar.gz"

    @property
    def size_text(self) -> str:
        """The approximate archive size for people, e.g. ``"337 MB"`` or ``"6.3 GB"``."""
        return format_bytes(self.approx_size_bytes)


class _Catalogue(dict):
    """A dict whose missing keys raise an UnknownNameError (a KeyError) listing the valid names."""

    def __missing__(self, key: object) -> LibriSpeechSubset:
        raise UnknownNameError(
            f"unknown LibriSpeech subset {key!r}; expected one of: {', '.join(self)}."
        )


def _subset(name: str, size_bytes: float, sha256: str) -> tuple[str, LibriSpeechSubset]:
    return name, LibriSpeechSubset(name=name, approx_size_bytes=int(size_bytes), sha256=sha256)


#: The LibriSpeech subsets on openslr.org resource 12, by name. Looking up an
#: unknown name raises an :class:`~speakerlib.errors.UnknownNameError` (a ``KeyError``)
#: that lists the valid ones.
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
    UnknownNameError
        If ``subset`` is not in the catalogue (a KeyError; the message lists valid names).
    ConfigError
        If the mirror is not a URL (``scheme://...``).

    Examples
    --------
    >>> librispeech_url("dev-clean", mirror="https://example.org/12/")
    'https://example.org/12/dev-clean.tar.gz'
    """
    info = LIBRISPEECH_SUBSETS[subset]
    base = mirror if mirror else os.environ.get(LIBRISPEECH_MIRROR_ENV, "") or LIBRISPEECH_BASE_URL
    if "://" not in base:
        raise ConfigError(
            f"expected the LibriSpeech mirror as a URL like 'https://host/resources/12', "
            f"found {base!r} (from {'mirror=' if mirror else '$' + LIBRISPEECH_MIRROR_ENV})."
        )
    return f"{base.rstrip('/')}/{info.archive_name}"


def format_bytes(n: float) -> str:
    """Bytes for people, in decimal units as openslr.org lists them.

    >>> format_bytes(337e6), format_bytes(6.3e9), format_bytes(512)
    ('337 MB', '6.3 GB', '512 B')
    """
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n)} B"
