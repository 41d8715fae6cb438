"""book/_ext/notebook_outputs.py (``make outputs``): a build's outputs written into the committed notebooks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("notebook_outputs", PROJECT_ROOT / "book" / "_ext" / "notebook_outputs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _notebook(code: str, output: str | None = None):
    cell = nbformat.v4.new_code_cell(code)
    if output is not None:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
        cell.execution_count = 1
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A chapter"), cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


@pytest.fixture
def built(tmp_path):
    """A notebook without outputs, and a cache holding its execution (as `make book` leaves them)."""
    executed = tmp_path / "executed.ipynb"
    nbformat.write(_notebook("print(6 * 7)", "42\n"), executed)
    cache = tmp_path / "cache"
    get_cache(cache).cache_notebook_file(executed, check_validity=False)
    committed = tmp_path / "chapter.ipynb"
    nbformat.write(_notebook("print(6 * 7)"), committed)
    return committed, cache


def test_the_outputs_of_the_build_are_written_into_the_notebook(tool, built, capsys):
    committed, cache = built
    assert tool.main([str(committed), "--cache", str(cache)]) == 0
    cell = nbformat.read(committed, as_version=4).cells[1]
    assert cell.outputs[0]["text"] == "42\n" and cell.source == "print(6 * 7)"
    assert "1 of 1 notebooks" in capsys.readouterr().out
    assert tool.main([str(committed), "--cache", str(cache)]) == 0  # nothing left to change
    assert "0 of 1 notebooks" in capsys.readouterr().out
    assert not list(committed.parent.glob(".chapter.ipynb.*"))  # no temporary file left behind


def test_a_notebook_changed_since_the_build_is_named_and_nothing_is_written(tool, built, tmp_path):
    committed, cache = built
    changed = tmp_path / "changed.ipynb"
    nbformat.write(_notebook("print(7 * 7)"), changed)
    before = committed.read_text()
    with pytest.raises(SystemExit, match=r"changed\.ipynb.*run `make book` again"):
        tool.main([str(committed), str(changed), "--cache", str(cache)])
    assert committed.read_text() == before


def test_without_a_build_the_fix_is_make_book(tool, built, tmp_path):
    committed, _ = built
    with pytest.raises(SystemExit, match="run `make book` first"):
        tool.main([str(committed), "--cache", str(tmp_path / "nowhere")])
