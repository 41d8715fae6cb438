"""Reading the built book in headless Chromium: the helpers of tests/test_browser.py.

The pieces, each small enough to check on its own:

* ``toc_docnames`` / ``expected_outputs``: which pages the reader walks
  (``_toc.yml``) and what the committed notebook outputs promise on each page
  (audio players, figures);
* ``build_book``: ``jupyter-book build`` from the committed outputs (execution
  off) into a folder of the caller's choosing;
* ``BookServer``: the HTML served on 127.0.0.1 by ``http.server`` in a thread,
  remembering the status of every request (a 404 of a page, a figure or a
  stylesheet is seen there);
* ``Chromium``: a headless Chromium driven through ``chromedriver``'s W3C
  WebDriver HTTP interface with nothing but the standard library (no Selenium,
  so no driver download can be attempted and no extra dependency is needed);
* ``inspect_page`` gathers the facts of one page in the browser and
  ``page_problems`` turns facts and expectations into readable complaints.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = os.environ.get("SPEAKERLIB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SPEAKERLIB_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL_COMMAND = "apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver"
INSTALL_HINT = f"run `make browser` (as root it runs `{INSTALL_COMMAND}`)"

# Flags this machine needs; the resolver rule keeps the reader offline (every
# host but 127.0.0.1 fails at once), so a CDN script such as MathJax can neither
# hang the page load nor make the check depend on the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--mute-audio",
)

# MyST-NB gives an ``error`` output (ename, evalue, traceback) the classes
# "output traceback" (myst_nb/core/render.py, render_error); a traceback printed
# to stderr by a cell is caught by its text instead.
ERROR_OUTPUT_SELECTOR = ".output.traceback"
TRACEBACK_TEXT = "Traceback (most recent call last)"
# The article body of sphinx-book-theme / pydata-sphinx-theme pages.
ARTICLE_SELECTOR = "article.bd-article"
MIN_ARTICLE_CHARS = 200


# --------------------------------------------------------------------------
# What the book promises: table of contents and committed notebook outputs
# --------------------------------------------------------------------------

def toc_docnames(project_root: Path) -> list[str]:
    """Docnames in reading order: the root, then every ``file`` of parts/chapters/sections."""
    import yaml

    toc = yaml.safe_load((project_root / "_toc.yml").read_text())
    names = [_strip_suffix(toc["root"])]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(_strip_suffix(entry["file"]))
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key))

    for key in ("parts", "chapters", "sections"):
        walk(toc.get(key))
    return names


#: The part of the table of contents that holds reference pages, not chapters.
REFERENCE_CAPTION = "Reference"


def chapter_docnames(project_root: Path) -> list[str]:
    """The chapters: every page of the table of contents but the root and the reference part."""
    import yaml

    toc = yaml.safe_load((project_root / "_toc.yml").read_text())
    names = []
    for part in toc.get("parts") or []:
        if part.get("caption") == REFERENCE_CAPTION:
            continue
        names += [_strip_suffix(entry["file"]) for entry in part.get("chapters") or [] if "file" in entry]
    return names


def _strip_suffix(name: str) -> str:
    return re.sub(r"\.(ipynb|md|rst)$", "", name)


def source_of(project_root: Path, docname: str) -> Path | None:
    for suffix in (".ipynb", ".md", ".rst"):
        path = project_root / f"{docname}{suffix}"
        if path.is_file():
            return path
    return None


# The HTML builder of MyST-NB shows one representation per output, the first
# of this list that the output has (myst_nb.core.render.base_render_priority).
_HTML_MIME_ORDER = (
    "application/vnd.jupyter.widget-view+json",
    "application/javascript",
    "text/html",
    "image/svg+xml",
    "image/png",
    "image/gif",
    "image/jpeg",
    "text/markdown",
    "text/latex",
    "text/plain",
)
_REMOVED_OUTPUT_TAGS = {"remove-output", "remove_output", "remove-cell", "remove_cell"}


@dataclass
class Expected:
    """What a page must show, counted from the committed notebook outputs."""

    source: str = ""
    audio: int = 0
    images: int = 0


def expected_outputs(notebook: Path) -> Expected:
    """Audio players (``<audio`` in shown text/html outputs) and figures (shown image outputs)."""
    nb = json.loads(notebook.read_text())
    found = Expected(source=notebook.name)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if _REMOVED_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            shown = next((mime for mime in _HTML_MIME_ORDER if mime in data), None)
            if shown == "text/html":
                html = data[shown]
                html = "".join(html) if isinstance(html, list) else html
                found.audio += len(re.findall(r"<audio\b", html, flags=re.I))
            elif shown is not None and shown.startswith("image/"):
                found.images += 1
    return found


# --------------------------------------------------------------------------
# Building the book from the committed outputs
# --------------------------------------------------------------------------

@dataclass
class BuildResult:
    html: Path
    returncode: int
    seconds: float
    log: Path
    warnings: list[str] = field(default_factory=list)


def build_book(project_root: Path, out_dir: Path, *, execute: str = "off", strict: bool = True,
               timeout: float = 900) -> BuildResult:
    """``jupyter-book build`` of ``project_root`` into ``out_dir``, by default with execution off.

    The project's ``_config.yml`` is copied with ``execute.execute_notebooks``
    set to ``execute`` and given with ``--config``; nothing is written into the
    project. With ``strict`` the build runs with ``--warningiserror
    --keep-going``, like ``make book``: the HTML is complete either way, the
    return code tells.
    """
    import yaml

    out_dir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((project_root / "_config.yml").read_text()) or {}
    config.setdefault("execute", {})["execute_notebooks"] = execute
    # local extensions are found relative to the config file, which moves here: make them absolute
    local = (config.get("sphinx") or {}).get("local_extensions") or {}
    for name, path in local.items():
        local[name] = str((project_root / path).resolve())
    config_path = out_dir / "_config_noexec.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    command = [_jupyter_book(), "build", str(project_root), "--path-output", str(out_dir),
               "--config", str(config_path)]
    if strict:
        command += ["--warningiserror", "--keep-going"]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log_path = out_dir / "build.log"
    start = time.perf_counter()
    with log_path.open("w") as log:
        done = subprocess.run(command, cwd=project_root, env=env, stdout=log,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    seconds = time.perf_counter() - start
    text = re.sub(r"\x1b\[[0-9;]*m", "", log_path.read_text(errors="replace"))
    warnings = [line.strip() for line in text.splitlines()
                if re.search(r"(^|: )(WARNING|ERROR|CRITICAL):", line)]
    return BuildResult(out_dir / "_build" / "html", done.returncode, seconds, log_path, warnings)


def _jupyter_book() -> str:
    beside = Path(sys.executable).with_name("jupyter-book")
    if beside.is_file():
        return str(beside)
    found = shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError("jupyter-book not found (install the `book` extra)")
    return found


# --------------------------------------------------------------------------
# Serving the HTML on localhost
# --------------------------------------------------------------------------

class BookServer:
    """``http.server`` on 127.0.0.1 (free port) in a thread; records (path, status) of each request."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.requests: list[tuple[str, int]] = []
        lock = threading.Lock()
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                with lock:
                    requests.append((self.path.split("?")[0], int(getattr(code, "value", code))))

            def log_message(self, format, *args):  # noqa: A002 - keep the test output quiet
                pass

        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(self.root)))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def url(self, relative: str) -> str:
        return self.base_url + relative

    def mark(self) -> int:
        return len(self.requests)

    def since(self, mark: int) -> list[tuple[str, int]]:
        return list(self.requests[mark:])

    def __enter__(self) -> "BookServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------
# Headless Chromium through chromedriver's W3C WebDriver interface
# --------------------------------------------------------------------------

def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None when Chromium and chromedriver are present."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return f"{' and '.join(missing)} not found: {INSTALL_HINT}"
    return None


class WebDriverError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium session: ``open``, ``run`` (JavaScript), ``screenshot``, ``cdp``."""

    def __init__(self, workdir: Path, *, window=(1280, 900), page_load_timeout_s: float = 120):
        self.workdir = Path(workdir)
        self.window = window
        self.page_load_timeout_s = page_load_timeout_s
        self._driver: subprocess.Popen | None = None
        self._session: str | None = None
        self._base = ""

    def __enter__(self) -> "Chromium":
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.driver_log = self.workdir / "chromedriver.log"
        self._driver = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}", f"--log-path={self.driver_log}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if self._call("GET", "/status").get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or self._driver.poll() is not None:
                self._stop_driver()
                raise WebDriverError(f"chromedriver did not start (log: {self.driver_log})")
            time.sleep(0.1)
        profile = tempfile.mkdtemp(prefix="profile-", dir=self.workdir)
        args = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                f"--window-size={self.window[0]},{self.window[1]}"]
        capabilities = {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": int(self.page_load_timeout_s * 1000), "script": 60_000},
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }
        try:
            value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        except Exception:
            self._stop_driver()
            raise
        self._session = value["sessionId"]
        self.version = value.get("capabilities", {}).get("browserVersion", "?")
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._session is not None:
                self._call("DELETE", f"/session/{self._session}")
        except (OSError, WebDriverError):
            pass
        finally:
            self._session = None
            self._stop_driver()

    def _stop_driver(self) -> None:
        if self._driver is not None and self._driver.poll() is None:
            self._driver.terminate()
            try:
                self._driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait()
        self._driver = None

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.page_load_timeout_s + 30) as response:
                payload = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            try:
                value = json.loads(err.read()).get("value", {})
            except ValueError:
                value = {}
            raise WebDriverError(f"{method} {path}: {value.get('error', err.code)}: "
                                 f"{value.get('message', '')[:500]}") from None
        return payload.get("value")

    def _session_call(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self._session}{path}", body)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event (page load strategy "normal")."""
        self._session_call("POST", "/url", {"url": url})

    def run(self, script: str, *args):
        """Run JavaScript as a function body (``return`` gives the value back)."""
        return self._session_call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, timeout_s: float = 20, interval_s: float = 0.1) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.run(script):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(interval_s)

    def cdp(self, command: str, params: dict | None = None):
        """A Chrome DevTools Protocol command through chromedriver."""
        return self._session_call("POST", "/goog/cdp/execute", {"cmd": command, "params": params or {}})

    def set_viewport(self, width: int, height: int) -> None:
        self.cdp("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def screenshot(self, path: Path) -> Path:
        png = base64.b64decode(self._session_call("GET", "/screenshot"))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------
# One page: facts gathered in the browser, then the problems found in them
# --------------------------------------------------------------------------

_SETTLED = """
const article = document.querySelector(arguments[0]) || document.body;
const images = [...article.querySelectorAll('img')];
const audio = [...article.querySelectorAll('audio')].filter(a => a.currentSrc || a.src);
const math = [...article.querySelectorAll('.math')];
return images.every(i => i.complete) && audio.every(a => a.readyState >= 1 || a.error)
    && math.every(m => m.querySelector('mjx-container'));
"""

_EAGER_IMAGES = """
for (const img of document.querySelectorAll('img[loading="lazy"]')) img.loading = 'eager';
"""

_FACTS = """
const [articleSelector, errorSelector, tracebackText] = arguments;
const article = document.querySelector(articleSelector);
const scope = article || document.body;
const short = s => (s && s.length > 90) ? s.slice(0, 87) + '...' : s;
const lastLine = text => (text || '').trim().split('\\n').filter(l => l.trim()).pop() || '';
const errorNodes = [...scope.querySelectorAll(errorSelector)];
const printed = [...scope.querySelectorAll('.cell_output')].filter(
    o => o.innerText.includes(tracebackText) && !o.querySelector(errorSelector));
return {
  url: location.href,
  title: document.title,
  article: !!article,
  h1: (scope.querySelector('h1') || {}).innerText || '',
  text_chars: article ? article.innerText.trim().length : 0,
  // formulas: Sphinx writes them as .math elements holding TeX; MathJax replaces the TeX by mjx-container
  math: [...scope.querySelectorAll('.math')].map(m => ({
    rendered: !!m.querySelector('mjx-container') || m.tagName === 'MJX-CONTAINER',
    tex: short(m.textContent.trim())})),
  errors: errorNodes.map(n => ({kind: 'error output', last_line: lastLine(n.innerText)}))
    .concat(printed.map(n => ({kind: 'printed traceback', last_line: lastLine(n.innerText)}))),
  images: [...scope.querySelectorAll('img')].map((img, i) => ({
    index: i + 1, src: short(img.getAttribute('src') || ''), complete: img.complete,
    natural_width: img.naturalWidth, natural_height: img.naturalHeight})),
  audio: [...scope.querySelectorAll('audio')].map((a, i) => {
    const sources = [...a.querySelectorAll('source')].map(s => s.getAttribute('src') || '');
    const src = a.getAttribute('src') || sources.find(s => s) || '';
    return {index: i + 1, src: short(src), has_source: !!src, ready_state: a.readyState,
            duration: Number.isFinite(a.duration) ? a.duration : null,
            error: a.error ? a.error.code : null};
  }),
};
"""


def inspect_page(browser: Chromium, url: str, *, settle_timeout_s: float = 20) -> dict:
    """Open ``url`` and return what a reader would meet there (see ``_FACTS``)."""
    start = time.perf_counter()
    browser.open(url)
    browser.run(_EAGER_IMAGES)
    wait_until_settled(browser, settle_timeout_s)
    facts = browser.run(_FACTS, ARTICLE_SELECTOR, ERROR_OUTPUT_SELECTOR, TRACEBACK_TEXT)
    facts["seconds"] = time.perf_counter() - start
    return facts


def wait_until_settled(browser: Chromium, timeout_s: float = 20) -> bool:
    """Until every figure has finished (loaded or failed), every audio player knows its length and
    MathJax has rendered every formula."""
    return browser.wait_for(_wrap(_SETTLED, ARTICLE_SELECTOR), timeout_s=timeout_s)


def _wrap(script: str, *args) -> str:
    """A script body with its arguments baked in (``wait_for`` passes none)."""
    return f"return (function(){{{script}}}).apply(null, {json.dumps(list(args))});"


def page_problems(page: str, facts: dict, expected: Expected,
                  statuses: list[tuple[str, int]], page_path: str) -> list[str]:
    """Everything wrong with one page, each line naming the page, the expectation and the finding."""
    problems = []
    own = [code for path, code in statuses if path == "/" + page_path]
    if own and own[0] not in (200, 304):  # 304: the browser's cached copy is still the file served
        problems.append(f"{page}: HTTP {own[0]} for the page itself (expected 200)")
    for path, code in statuses:
        if code >= 400 and path != "/" + page_path and path != "/favicon.ico":
            problems.append(f"{page}: HTTP {code} for {path} requested by the page")
    title = facts.get("title", "")
    if not title.strip():
        problems.append(f"{page}: the page has no <title>")
    elif re.search(r"\b404\b|not found|error response", title, flags=re.I):
        problems.append(f"{page}: the title reads like an error page: {title!r}")
    if not facts.get("article"):
        problems.append(f"{page}: no article body ({ARTICLE_SELECTOR}) on the page")
    elif facts.get("text_chars", 0) < MIN_ARTICLE_CHARS:
        problems.append(f"{page}: the article has {facts.get('text_chars', 0)} characters of text "
                        f"(expected at least {MIN_ARTICLE_CHARS})")
    if not facts.get("h1", "").strip():
        problems.append(f"{page}: no <h1> heading")
    for error in facts.get("errors", []):
        problems.append(f"{page}: {error['kind']} in the page ({ERROR_OUTPUT_SELECTOR} or "
                        f"'{TRACEBACK_TEXT}'): {error['last_line']}")
    unrendered = [m["tex"] for m in facts.get("math", []) if not m["rendered"]]
    if unrendered:
        problems.append(f"{page}: {len(unrendered)} of {len(facts['math'])} formulas are shown as TeX, "
                        f"not rendered by MathJax (first: {unrendered[0]!r})")
    for image in facts.get("images", []):
        if not image["complete"] or not image["natural_width"]:
            problems.append(f"{page}: image {image['index']} (src={image['src']}) did not load "
                            f"(complete={image['complete']}, naturalWidth {image['natural_width']})")
    images = len(facts.get("images", []))
    if images < expected.images:
        problems.append(f"{page}: expected at least {expected.images} figures (image outputs of "
                        f"{expected.source}), found {images} <img> in the article")
    players = [a for a in facts.get("audio", []) if a["has_source"]]
    if len(players) < expected.audio:
        problems.append(f"{page}: expected at least {expected.audio} <audio> players with a source "
                        f"(Audio outputs of {expected.source}), found {len(players)}")
    for player in players:
        if player["error"] is not None or player["ready_state"] < 1 or not player["duration"]:
            problems.append(f"{page}: audio {player['index']} (src={player['src']}) cannot be played "
                            f"(MediaError {player['error']}, readyState {player['ready_state']}, "
                            f"duration {player['duration']})")
    return problems


def check_page(browser: Chromium, server: BookServer, project_root: Path, docname: str):
    """Open one page of the table of contents; return (facts, expectations, problems)."""
    page_path = f"{docname}.html"
    source = source_of(project_root, docname)
    if source is None:
        expected = Expected(source=f"{docname}.*")
    elif source.suffix == ".ipynb":
        expected = expected_outputs(source)
    else:
        expected = Expected(source=source.name)
    problems = []
    if source is None:
        problems.append(f"{page_path}: no source {docname}.ipynb/.md in the project for this toc entry")
    if not (server.root / page_path).is_file():
        problems.append(f"{page_path}: file missing from the build ({server.root / page_path})")
    mark = server.mark()
    facts = inspect_page(browser, server.url(page_path))
    problems += page_problems(page_path, facts, expected, server.since(mark), page_path)
    return facts, expected, problems


# --------------------------------------------------------------------------
# A chapter as a course page: before-you-start box, exercises, self-check
# --------------------------------------------------------------------------

#: What every chapter carries (issue: a course people finish).
MIN_EXERCISES = 2
MIN_QUESTIONS = 5
SELF_CHECK_ID = "check-yourself"

_COURSE_FACTS = """
const article = document.querySelector(arguments[0]) || document.body;
const visible = el => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const bodyOf = el => [...el.children].filter(c => !c.classList.contains('admonition-title'));
const boxes = [...article.querySelectorAll('.admonition')].filter(
    a => (a.querySelector('.admonition-title') || {}).innerText?.trim().startsWith('Before you start'));
const box = boxes[0];
const firstH2 = article.querySelector('section section h2, h2');
const boxFirst = !!box && (!firstH2 || (box.compareDocumentPosition(firstH2) & Node.DOCUMENT_POSITION_FOLLOWING));
const exercises = [...article.querySelectorAll('div.exercise')];
const solutions = [...article.querySelectorAll('div.solution')];
const solutionFacts = solutions.map(sol => {
  const hiddenBefore = bodyOf(sol).every(c => !visible(c));
  const title = sol.querySelector('.admonition-title');
  if (title) title.click();
  const shownAfter = bodyOf(sol).some(c => visible(c));
  if (title) title.click();
  return {id: sol.id, target: (sol.querySelector('.admonition-title a, .admonition-title') || {}).innerText || '',
          folded: hiddenBefore, opens: shownAfter, code_cells: sol.querySelectorAll('.cell').length};
});
const section = document.getElementById(arguments[1]);
const questions = section ? [...section.querySelectorAll('details')] : [];
const questionFacts = questions.map(d => {
  const closedBefore = !d.open;
  const summary = d.querySelector('summary');
  if (summary) summary.click();
  const body = [...d.children].filter(c => c.tagName !== 'SUMMARY');
  const shownAfter = d.open && body.some(c => visible(c) && c.innerText.trim().length > 0);
  if (summary) summary.click();
  return {closed: closedBefore, opens: shownAfter};
});
return {
  before_you_start: !!box, before_you_start_first: boxFirst,
  before_you_start_text: box ? box.innerText : '',
  exercises: exercises.map(e => e.id),
  solutions: solutionFacts,
  self_check: !!section, questions: questionFacts,
};
"""


def course_facts(browser: Chromium) -> dict:
    """The course elements of the page open in ``browser`` (see ``_COURSE_FACTS``); clicks each fold."""
    return browser.run(_COURSE_FACTS, ARTICLE_SELECTOR, SELF_CHECK_ID)


def course_problems(page: str, facts: dict) -> list[str]:
    """What a chapter page lacks as a course page, each line naming the page and the finding."""
    problems = []
    if not facts.get("before_you_start"):
        problems.append(f"{page}: no 'Before you start' box (expected one at the top of the chapter)")
    else:
        if not facts.get("before_you_start_first"):
            problems.append(f"{page}: the 'Before you start' box is not above the chapter's first section")
        text = facts.get("before_you_start_text", "")
        for words in ("You need", "to read", "to run", "At the end"):
            if words not in text:
                problems.append(f"{page}: the 'Before you start' box lacks {words!r}: {text[:200]!r}")
    exercises = facts.get("exercises", [])
    if len(exercises) < MIN_EXERCISES:
        problems.append(f"{page}: expected at least {MIN_EXERCISES} exercises (div.exercise), found "
                        f"{len(exercises)}")
    solutions = facts.get("solutions", [])
    if len(solutions) < len(exercises):
        problems.append(f"{page}: {len(exercises)} exercises but {len(solutions)} solutions")
    if solutions and not any(solution["code_cells"] for solution in solutions):
        problems.append(f"{page}: no solution holds a code cell (a solution that is code is a notebook "
                        "cell between solution-start and solution-end, executed with the chapter)")
    for n, solution in enumerate(solutions, 1):
        if not solution["folded"]:
            problems.append(f"{page}: solution {n} ({solution['id']}) is not folded away before a click")
        if not solution["opens"]:
            problems.append(f"{page}: solution {n} ({solution['id']}) does not open when its title is clicked")
    if not facts.get("self_check"):
        problems.append(f"{page}: no self-check section (id {SELF_CHECK_ID!r}, a heading 'Check yourself')")
    questions = facts.get("questions", [])
    if len(questions) < MIN_QUESTIONS:
        problems.append(f"{page}: expected at least {MIN_QUESTIONS} self-check questions with a folded "
                        f"answer (<details>), found {len(questions)}")
    for n, question in enumerate(questions, 1):
        if not question["closed"]:
            problems.append(f"{page}: self-check answer {n} is shown before a click")
        if not question["opens"]:
            problems.append(f"{page}: self-check answer {n} does not open when clicked")
    return problems


def png_problems(path: Path, size: tuple[int, int]) -> list[str]:
    """A screenshot must be a PNG of ``size`` (width, height) with more than a few colours."""
    from PIL import Image

    if not path.is_file() or path.stat().st_size == 0:
        return [f"{path}: missing or empty"]
    with Image.open(path) as image:
        problems = []
        if image.format != "PNG":
            problems.append(f"{path}: format {image.format}, expected PNG")
        if image.size != tuple(size):
            problems.append(f"{path}: {image.size[0]}x{image.size[1]} pixels, expected {size[0]}x{size[1]}")
        colours = image.convert("RGB").getcolors(maxcolors=4096)
        if colours is not None and len(colours) < 16:
            problems.append(f"{path}: only {len(colours)} colours, looks blank")
    return problems
