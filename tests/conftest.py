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


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory):
    """A small synthetic corpus (12 speakers x 10 utterances), split and prepared.

    Returns ``(manifest with split column, store path)``. The reference
    pipeline (VAD, 3 s, 40 log filterbanks); 7/3/2 train/dev/test speakers.
    """
    from speakerlib.data.splits import speaker_split
    from speakerlib.data.synth import SynthConfig, generate_corpus
    from speakerlib.prepare import prepare

    root = tmp_path_factory.mktemp("synthetic_small")
    config = SynthConfig(num_speakers=12, utterances_per_speaker=10, min_duration_s=2.0,
                         max_duration_s=3.5, seed=3)
    manifest = generate_corpus(root / "corpus", config, progress=False, jobs=2)
    manifest = speaker_split(manifest, fractions=(0.6, 0.25, 0.15), seed=0)
    store = root / "store"
    prepare(manifest, store, progress=False, jobs=2)
    return manifest, store


@pytest.fixture(scope="session")
def synthetic_audio_store(synthetic_store):
    """The corpus of ``synthetic_store`` prepared as a store of audio (the modern recipe's input).

    Returns ``(manifest with split column, store path)``.
    """
    from speakerlib.prepare import prepare
    from speakerlib.train.recipes import AUDIO_STORE

    manifest, features_store = synthetic_store
    store = features_store.parent / "audio-store"
    prepare(manifest, store, config=AUDIO_STORE, progress=False, jobs=2)
    return manifest, store
