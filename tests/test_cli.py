"""The ``speakerlib`` command line: help, manifests, splits, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from speakerlib.cli import build_parser, main
from speakerlib.data.manifest import read_manifest


def test_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "speakerlib", "--help"], capture_output=True, text=True,
                            check=True)
    for command in ("download", "synth", "manifest", "split", "summary", "baseline"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["download", "synth", "manifest", "split", "summary", "baseline"])
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    assert "usage: speakerlib " + command in capsys.readouterr().out


def test_manifest_and_split_on_timit(shared_corpora, tmp_path, capsys):
    out = tmp_path / "timit.csv"
    assert main(["manifest", "--corpus", "timit", "--root", str(shared_corpora / "TIMIT"), "--out", str(out),
                 "--quiet"]) == 0
    manifest = read_manifest(out)
    assert len(manifest) == 160 and manifest["speaker"].nunique() == 16
    assert "160 utterances written" in capsys.readouterr().out

    split_path = tmp_path / "split.csv"
    assert main(["split", "--manifest", str(out), "--out", str(split_path), "--seed", "1"]) == 0
    parts = read_manifest(split_path)
    # TIMIT keeps its own test speakers; dev comes out of train
    assert set(parts.loc[parts.split == "test", "speaker"]) == set(manifest.loc[manifest.subset == "test", "speaker"])
    assert parts.loc[parts.split == "dev", "speaker"].nunique() == 2
    assert set(parts.loc[parts.split.isin(["dev", "test"]), "role"]) == {"enrol", "test"}
    assert set(parts.loc[parts.split == "train", "role"]) == {""}


def test_missing_corpus_is_a_clear_error_with_exit_code_2(tmp_path, capsys):
    missing = tmp_path / "no_such_timit"
    code = main(["manifest", "--corpus", "timit", "--root", str(missing), "--out", str(tmp_path / "m.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert str(missing) in err and "error" in err
    assert not (tmp_path / "m.csv").exists()


def test_unreadable_file_skip_writes_rejects(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    for speaker in ("alice", "bob"):
        (tmp_path / "corpus" / speaker).mkdir(parents=True)
        sf.write(tmp_path / "corpus" / speaker / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
    (tmp_path / "corpus" / "bob" / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    out = tmp_path / "m.csv"
    args = ["manifest", "--corpus", "folder", "--root", str(tmp_path / "corpus"), "--out", str(out), "--quiet"]
    assert main(args) == 2
    assert "broken.wav" in capsys.readouterr().err
    assert main(args + ["--skip-unreadable"]) == 0
    rejects = (tmp_path / "m.rejects.csv").read_text()
    assert "broken.wav" in rejects
    assert len(read_manifest(out)) == 2


def test_download_list_and_unknown_subset(tmp_path, capsys):
    assert main(["download", "librispeech", "--list"]) == 0
    out = capsys.readouterr().out
    assert "train-clean-100" in out and "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2" in out
    assert main(["download", "librispeech", "dev-cleen", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "dev-cleen" in err and "dev-clean" in err
    assert not any(tmp_path.iterdir())
