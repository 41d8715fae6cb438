"""The README's walk-through runs as written, in order, from an empty folder.

The block after the ``walk-through`` marker in README.md is split into its
commands (continuation lines joined, comments dropped) and each is run as a
subprocess in a fresh folder, at the smoke size: the synthetic corpus gets
fewer speakers and utterances and ``--profile cpu`` becomes ``--profile
smoke``. Nothing else of a command is changed, so a command that reads a file
no earlier command wrote fails here.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- walk-through:"
SMOKE_SIZE = ["--speakers", "10", "--utterances", "4"]


def walkthrough_commands(text: str) -> list[list[str]]:
    """The commands of the bash block after the marker, each as its argument list."""
    after = text[text.index(MARKER):]
    block = after[after.index("```bash") + len("```bash"):]
    block = block[:block.index("```")]
    joined = block.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(words)
    return commands


def at_smoke_size(words: list[str]) -> list[str]:
    words = ["smoke" if w == "cpu" and words[i - 1] == "--profile" else w for i, w in enumerate(words)]
    if words[:2] == ["speakerlib", "synth"]:
        words = words + SMOKE_SIZE
    return words


def test_the_walkthrough_block_is_found_and_starts_from_nothing():
    commands = walkthrough_commands(README.read_text(encoding="utf-8"))
    assert [c[0] for c in commands] == ["speakerlib"] * len(commands)
    assert commands[0][1] == "synth"
    names = [c[1] for c in commands]
    for needed in ("split", "prepare", "train", "embed", "evaluate", "refmetrics"):
        assert needed in names


@pytest.mark.slow
def test_the_readme_walkthrough_runs_as_written(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}
    env.pop("SPEAKERLIB_VERBOSE", None)
    for words in walkthrough_commands(README.read_text(encoding="utf-8")):
        command = [sys.executable, "-m", "speakerlib", *at_smoke_size(words)[1:], "--quiet"]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        shown = " ".join(words)
        assert done.returncode == 0, f"{shown}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, f"{shown}\n{done.stderr[-3000:]}"
    assert (tmp_path / "data/experiments/synthetic-cpu/eval/sv/metrics.json").is_file()
