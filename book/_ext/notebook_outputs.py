"""Write the outputs of the book's last build into the committed notebooks (``make outputs``).

``make book`` executes every notebook into the execution cache
(``_build/.jupyter_cache``) and renders from there; the notebooks in
``notebooks/`` keep whatever outputs they were committed with. After a change
to a notebook or to speakerlib, run ``make book`` and then ``make outputs``:
each notebook's code cells take the outputs (and the kernel and widget
metadata) of the cached execution that matches its code, so a reader who
opens the notebook in JupyterLab, or on GitHub, sees what the book shows.

The cache hashes the code cells only, so a change to speakerlib alone does not
invalidate it: remove ``_build/.jupyter_cache`` (and ``data/`` for run times
and training outputs from scratch) before ``make book`` in that case.

A notebook with no matching execution (its code changed since the build) is
named with the fix, and no notebook is written: the notebooks stay from one
build. Each file is replaced atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def merged_notebooks(notebooks: list[Path], cache_dir: Path) -> dict[Path, object]:
    """Each notebook with its code cells' outputs from the execution cache in ``cache_dir``.

    Raises
    ------
    SystemExit
        No cache, or notebooks without a matching execution (all named), with the fix.
    """
    import nbformat
    from jupyter_cache import get_cache

    if not (cache_dir / "global.db").is_file():
        raise SystemExit(f"{cache_dir}: expected the execution cache of a book build, found none; "
                         "run `make book` first")
    cache = get_cache(cache_dir)
    merged, unmatched = {}, []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        try:
            _, merged[path] = cache.merge_match_into_notebook(notebook)
        except KeyError:
            unmatched.append(path)
    if unmatched:
        names = ", ".join(str(p.relative_to(PROJECT_ROOT)) if p.is_relative_to(PROJECT_ROOT) else str(p)
                          for p in unmatched)
        raise SystemExit(f"no execution in {cache_dir} matches the code of {names} (changed since the "
                         "last build?); run `make book` again, then `make outputs`. No notebook was written.")
    return merged


def notebook_text(notebook) -> str:
    """The file text of ``notebook``, as ``nbformat.write`` writes it (ending with a newline)."""
    import nbformat

    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its folder."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to update (default: every notebooks/*.ipynb)")
    parser.add_argument("--cache", type=Path, default=PROJECT_ROOT / "_build" / ".jupyter_cache",
                        help="the execution cache (default: _build/.jupyter_cache)")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise SystemExit(f"no such notebook: {', '.join(missing)}")
    merged = merged_notebooks(notebooks, args.cache)
    changed = 0
    for path, notebook in merged.items():
        text = notebook_text(notebook)
        if text != path.read_text(encoding="utf-8"):
            write_atomically(path, text)
            changed += 1
    print(f"{changed} of {len(merged)} notebooks given the outputs of the last build ({args.cache})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
