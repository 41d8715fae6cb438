"""A reader's check in a real browser: every page of the book, opened in headless Chromium.

The book is built from the committed notebook outputs with execution off (about
half a minute, instead of the twenty of ``make book``) into pytest's temporary
folder, served on 127.0.0.1 and read page by page, in the order of
``_toc.yml``. Each page must render (HTTP 200, a title, an article body with
text), show no error output, load every figure, and carry at least as many
playable ``<audio>`` players and figures as its notebook's committed outputs.
Two screenshots are kept in ``_build/browser-check/`` for the record.

``SPEAKERLIB_BOOK_HTML=_build/html`` reads an existing build instead (e.g. the
executed one of ``make book``); the build check is then skipped.

Chromium comes from Debian (``make browser``, which ``make test`` runs first);
without it these tests are skipped with the command that installs it. The last
two tests show that the checks can fail: on a broken copy of the built book and
on a tiny notebook whose cell raises, built by MyST-NB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

import book_browser as bb

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAGES = bb.toc_docnames(PROJECT_ROOT)
RECORD_DIR = PROJECT_ROOT / "_build" / "browser-check"
SCREENSHOT_SIZE = (1280, 900)


def _say(config, line: str) -> None:
    """Print through pytest's capturing, so that timings and paths show in every run."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n[browser check] {line}", flush=True)


@pytest.fixture(scope="session")
def record(request):
    """Timings of this run; written to _build/browser-check/summary.json at the end."""
    numbers = {"pages": {}}
    yield numbers
    if len(numbers) > 1 or numbers["pages"]:
        numbers["browse_seconds"] = round(sum(numbers["pages"].values()), 2)
        RECORD_DIR.mkdir(parents=True, exist_ok=True)
        (RECORD_DIR / "summary.json").write_text(json.dumps(numbers, indent=2) + "\n")
        _say(request.config, f"browsed {len(numbers['pages'])} pages in {numbers['browse_seconds']:.1f} s; "
                             f"summary in {RECORD_DIR / 'summary.json'}")


@pytest.fixture(scope="session")
def browser(tmp_path_factory, record):
    reason = bb.chromium_missing()
    if reason:
        pytest.skip(reason)
    start = time.perf_counter()
    with bb.Chromium(tmp_path_factory.mktemp("chromium")) as chromium:
        record["browser_start_seconds"] = round(time.perf_counter() - start, 2)
        record["chromium"] = chromium.version
        yield chromium


@pytest.fixture(scope="session")
def book(tmp_path_factory, request, record) -> bb.BuildResult | None:
    """The built HTML: $SPEAKERLIB_BOOK_HTML, or a build without execution into a temporary folder."""
    existing = os.environ.get("SPEAKERLIB_BOOK_HTML")
    if existing:
        html = Path(existing).resolve()
        if not (html / "index.html").is_file():
            pytest.fail(f"SPEAKERLIB_BOOK_HTML={existing}: no index.html there")
        _say(request.config, f"reading the existing build {html}")
        return bb.BuildResult(html=html, returncode=-1, seconds=0.0, log=Path())
    out = tmp_path_factory.mktemp("book")
    result = bb.build_book(PROJECT_ROOT, out)
    record["build_seconds"] = round(result.seconds, 1)
    _say(request.config, f"book built from the committed outputs (no execution) in {result.seconds:.1f} s "
                         f"into {result.html} (return code {result.returncode}, log {result.log})")
    return result


@pytest.fixture(scope="session")
def server(book):
    with bb.BookServer(book.html) as serving:
        yield serving


def test_toc_lists_the_pages():
    assert PAGES[0] == "book/intro" and len(PAGES) >= 10, PAGES
    assert len(set(PAGES)) == len(PAGES), f"a page is listed twice in _toc.yml: {PAGES}"


def test_book_builds_from_committed_outputs_without_warnings(book):
    if os.environ.get("SPEAKERLIB_BOOK_HTML"):
        pytest.skip("SPEAKERLIB_BOOK_HTML is set: reading an existing build, not building")
    shown = "\n  ".join(book.warnings[:30]) or "(no WARNING line found, see the log)"
    assert book.returncode == 0, (
        f"jupyter-book build --warningiserror (execution off) returned {book.returncode}; "
        f"warning/error lines of {book.log}:\n  {shown}")


def test_index_opens_the_first_page(browser, server):
    browser.open(server.base_url)
    assert browser.wait_for(f"return location.pathname.endsWith('/{PAGES[0]}.html')", timeout_s=10), (
        f"index.html: expected to land on {PAGES[0]}.html, found {browser.run('return location.href')}")


@pytest.mark.parametrize("docname", PAGES)
def test_page_reads_well(docname, browser, server, record):
    facts, _, problems = bb.check_page(browser, server, PROJECT_ROOT, docname)
    record["pages"][docname] = round(facts["seconds"], 2)
    assert not problems, "\n".join(problems)


CHAPTERS = bb.chapter_docnames(PROJECT_ROOT)


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_is_a_course_page(docname, browser, server):
    """Every chapter: the box at its top, exercises with folded solutions, a self-check that opens."""
    bb.inspect_page(browser, server.url(f"{docname}.html"))
    facts = bb.course_facts(browser)
    assert not bb.course_problems(f"{docname}.html", facts), "\n".join(bb.course_problems(
        f"{docname}.html", facts))


def test_the_course_check_fails_on_a_page_without_course_elements(browser, server):
    bb.inspect_page(browser, server.url("book/api.html"))
    problems = bb.course_problems("book/api.html", bb.course_facts(browser))
    for words in ("no 'Before you start' box", "expected at least 2 exercises", "no self-check section",
                  "expected at least 5 self-check questions"):
        assert any(words in line for line in problems), (words, problems)


def test_the_run_times_page_lists_every_chapter(browser, server):
    bb.inspect_page(browser, server.url("book/runtimes.html"))
    rows = browser.run("return [...document.querySelectorAll('table.chapter-times tbody tr')]"
                       ".map(r => [...r.querySelectorAll('td')].map(c => c.innerText.trim()));")
    titles = [row[0] for row in rows]
    assert titles[-1] == "All notebooks", titles
    numbered = [title for title in titles if re.match(r"\d+\. ", title)]
    assert len(numbered) == sum(1 for d in CHAPTERS if d.startswith("notebooks/")), titles
    assert all(row[1].isdigit() and int(row[1]) >= 5 for row in rows[:-1]), rows
    text = browser.run("return document.querySelector('article').innerText;")
    assert "Measured on the machine that built this page" in text and "cores" in text


def test_screenshots(browser, server, tmp_path, request):
    with_audio = [d for d in PAGES if (s := bb.source_of(PROJECT_ROOT, d)) is not None
                  and s.suffix == ".ipynb" and bb.expected_outputs(s).audio > 0]
    second = "notebooks/03_vad" if "notebooks/03_vad" in PAGES else (with_audio or PAGES[1:])[0]
    browser.set_viewport(*SCREENSHOT_SIZE)
    problems, kept = [], []
    try:
        for docname in (PAGES[0], second):
            browser.open(server.url(f"{docname}.html"))
            # On a notebook page, show the first audio player with the figure above it.
            browser.run("const a = document.querySelector('article audio');"
                        "if (a) a.scrollIntoView({block: 'end'}); else window.scrollTo(0, 0);")
            bb.wait_until_settled(browser)
            name = docname.replace("/", "_") + ".png"
            shot = browser.screenshot(tmp_path / name)
            problems += bb.png_problems(shot, SCREENSHOT_SIZE)
            RECORD_DIR.mkdir(parents=True, exist_ok=True)
            kept.append(shutil.copy2(shot, RECORD_DIR / name))
    finally:
        browser.cdp("Emulation.clearDeviceMetricsOverride")
    _say(request.config, "screenshots: " + ", ".join(str(p) for p in kept))
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# The checks can fail
# --------------------------------------------------------------------------

def _first_page_with(what: str) -> str:
    for docname in PAGES:
        source = bb.source_of(PROJECT_ROOT, docname)
        if source is not None and source.suffix == ".ipynb" and getattr(bb.expected_outputs(source), what):
            return docname
    pytest.skip(f"no notebook of the toc has committed {what} outputs")


def test_checks_fail_on_a_broken_copy_of_the_book(browser, book, tmp_path):
    """A figure pointing to a missing file, an audio player removed, a page deleted, MathJax missing:
    each is reported."""
    html = tmp_path / "html"
    shutil.copytree(book.html, html)
    figure_page, audio_page, gone_page = _first_page_with("images"), _first_page_with("audio"), PAGES[-1]

    path = html / f"{figure_page}.html"
    head, article = path.read_text().split("<article", 1)
    article, n = re.subn(r'(<img[^>]*\ssrc=")[^"]*(")', r"\1../_images/no-such-figure.png\2",
                         article, count=1)
    assert n == 1, f"{path}: no <img> in the article to break"
    path.write_text(head + "<article" + article)

    path = html / f"{audio_page}.html"
    text, n = re.subn(r"<audio\b.*?</audio>", "", path.read_text(), count=1, flags=re.S)
    assert n == 1, f"{path}: no <audio> to remove"
    path.write_text(text)

    (html / f"{gone_page}.html").unlink()
    math_page = "notebooks/10_verification"
    shutil.rmtree(html / "_static" / "mathjax")  # the offline MathJax gone: formulas stay TeX

    found = {}
    with bb.BookServer(html) as serving:
        for docname in dict.fromkeys([figure_page, audio_page, gone_page, math_page]):
            found[docname] = bb.check_page(browser, serving, PROJECT_ROOT, docname)[2]
    report = "\n".join(p for problems in found.values() for p in problems)
    print(report)

    assert any(p.startswith(f"{figure_page}.html: image ") and "no-such-figure.png" in p
               and "did not load" in p and "naturalWidth 0" in p for p in found[figure_page]), report
    assert any(p.startswith(f"{figure_page}.html: HTTP 404 for /_images/no-such-figure.png")
               for p in found[figure_page]), report
    assert any(p.startswith(f"{audio_page}.html: expected at least") and "<audio> players" in p
               for p in found[audio_page]), report
    assert any("file missing from the build" in p for p in found[gone_page]), report
    assert any("HTTP 404 for the page itself" in p for p in found[gone_page]), report
    assert any("formulas are shown as TeX, not rendered by MathJax" in p for p in found[math_page]), report


def test_checks_fail_on_an_error_cell_rendered_by_myst_nb(browser, tmp_path):
    """A throwaway notebook whose cell raises, executed with allow_errors: its traceback is reported."""
    import nbformat

    source = tmp_path / "src"
    source.mkdir()
    (source / "_config.yml").write_text(
        "title: throwaway\nonly_build_toc_files: true\n"
        "execute:\n  execute_notebooks: force\n  allow_errors: true\n  timeout: 120\n")
    (source / "_toc.yml").write_text("format: jb-book\nroot: raising\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A notebook that raises\n\n" + "Text a reader would read. " * 12),
        nbformat.v4.new_code_cell("print('this cell runs')"),
        nbformat.v4.new_code_cell("def load(name):\n    raise ValueError(f'no corpus called {name}')\n\n"
                                  "load('throwaway')"),
    ]
    nbformat.write(notebook, source / "raising.ipynb")
    built = bb.build_book(source, tmp_path / "out", execute="force", strict=False, timeout=300)
    assert (built.html / "raising.html").is_file(), f"the throwaway book did not build: {built.log}"
    with bb.BookServer(built.html) as serving:
        problems = bb.check_page(browser, serving, source, "raising")[2]
    print("\n".join(problems))
    assert problems == [
        "raising.html: error output in the page (.output.traceback or 'Traceback (most recent call last)'): "
        "ValueError: no corpus called throwaway"], problems
