"""Shared test fixtures.

Real speech: tests that need it ask for the ``shared_corpora`` fixture, which
points at ``$SPEAKERLIB_CORPORA`` or, when that is unset, at
``../shared/corpora`` beside the project. When neither exists the test is
skipped with a visible reason; the synthetic corpus covers the same code paths.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _find_shared_corpora() -> Path | None:
    value = os.environ.get("SPEAKERLIB_CORPORA")
    candidate = Path(value) if value else PROJECT_ROOT.parent / "shared" / "corpora"
    return candidate.resolve() if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    """The folder of real corpora (LibriSpeech/, TIMIT/, speechocean762/), or skip."""
    path = _find_shared_corpora()
    if path is None:
        pytest.skip(
            "real corpora not found: set SPEAKERLIB_CORPORA or place them at ../shared/corpora"
        )
    return path


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
