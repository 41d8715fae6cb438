"""The book's own Sphinx extension: reading and run times measured by the build, never typed.

Roles, usable in any page or notebook of the book:

``{run-time}`DOC```
    How long the notebook ``DOC`` took to execute when it last ran (MyST-NB's
    execution record: this build's run, or the cached run it reused).
    ``this`` names the page the role is on.
``{run-time-total}`all```
    The sum over every executed notebook of the book.
``{reading-time}`DOC```
    An estimate from the page's own text: prose at :data:`WORDS_PER_MINUTE`,
    code at :data:`CODE_LINES_PER_MINUTE`, rounded up to 5 minutes.

The directive ``{chapter-times}`` renders the table of every page of the table
of contents with both times, and the machine this build ran on.

The values exist only once every page has been read (and its notebook run), so
the roles leave a placeholder node that a post-transform, which runs when pages
are written, replaces with text. A page that shows times is read and written
again in every build, even when its source has not changed. A page whose notebook did not execute in this
build (``execute_notebooks: off``) says so instead of a time.
"""

from __future__ import annotations

import math
import os
import platform
import re
from datetime import datetime, timezone

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

#: Reading speed of prose [words per minute].
WORDS_PER_MINUTE = 200
#: Reading speed of code [lines per minute].
CODE_LINES_PER_MINUTE = 15


class course_time(nodes.Inline, nodes.Element):
    """Placeholder of a time, filled in by :class:`FillTimes` (``kind``, ``target``)."""


class chapter_times(nodes.General, nodes.Element):
    """Placeholder of the table of every chapter's times, filled in by :class:`FillTimes`."""


def _role(kind: str):
    def role(name, rawtext, text, lineno, inliner, options=None, content=None):
        env = inliner.document.settings.env
        _note_user(env, env.docname)
        target = text.strip()
        if target in ("this", ""):
            target = env.docname
        node = course_time(rawtext, kind=kind, target=target, source_doc=env.docname)
        return [node], []

    return role


class ChapterTimes(SphinxDirective):
    """``{chapter-times}``: a table of each page's reading and run time, and the build machine."""

    has_content = False

    def run(self):
        _note_user(self.env, self.env.docname)
        return [chapter_times()]


def _note_user(env, docname: str) -> None:
    """Remember that ``docname`` shows times, so that every build reads (and writes) it again."""
    if not hasattr(env, "coursetools_users"):
        env.coursetools_users = set()
    env.coursetools_users.add(docname)


def _outdated(app, env, added, changed, removed):
    """The pages that show times: read again in every build, since the times they show may have changed
    even where their own source has not (a notebook that ran again, reused from the cache or not)."""
    return sorted(getattr(env, "coursetools_users", set()) - set(removed))


def _purge(app, env, docname):
    getattr(env, "coursetools_users", set()).discard(docname)


def _merge(app, env, docnames, other):
    _note = getattr(other, "coursetools_users", set())
    if not hasattr(env, "coursetools_users"):
        env.coursetools_users = set()
    env.coursetools_users |= _note & set(docnames)


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"


def _exec_data(env, docname: str) -> dict | None:
    from myst_nb.sphinx_ import NbMetadataCollector

    if docname not in getattr(env, "nb_metadata", {}):
        return None
    return NbMetadataCollector.get_exec_data(env, docname)


def run_time(env, docname: str) -> str:
    """The notebook's last run time in words, or why there is none."""
    data = _exec_data(env, docname)
    if data is None or data.get("runtime") is None:
        return "an unmeasured time (this build did not run the notebook)"
    if not data.get("succeeded", True):
        return f"{_minutes(float(data['runtime']))} (failed)"
    return _minutes(float(data["runtime"]))


def total_run_time(env) -> tuple[float, int]:
    """Seconds and number of notebooks of every recorded execution."""
    total, count = 0.0, 0
    for docname in sorted(getattr(env, "nb_metadata", {})):
        data = _exec_data(env, docname)
        if data is not None and data.get("runtime") is not None:
            total += float(data["runtime"])
            count += 1
    return total, count


def reading_minutes(env, docname: str) -> int:
    """Minutes to read ``docname``: prose words and code lines at the module's rates, rounded up to 5."""
    try:
        doctree = env.get_doctree(docname)
    except (FileNotFoundError, OSError):
        return 0
    words = 0
    code_lines = 0
    for node in doctree.findall(nodes.literal_block):
        classes = set(node.get("classes", [])) | set(node.parent.get("classes", []))
        if "output" in classes or any(c.startswith("cell_output") for c in classes):
            continue
        code_lines += node.astext().count("\n") + 1
    for node in doctree.findall(nodes.paragraph):
        words += len(re.findall(r"\w+", node.astext()))
    minutes = words / WORDS_PER_MINUTE + code_lines / CODE_LINES_PER_MINUTE
    return max(5, int(math.ceil(minutes / 5.0)) * 5)


def machine() -> str:
    """This build machine in words: CPU model, cores, memory, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kib = int(handle.readline().split()[1])
        memory = f", {kib / 2**20:.0f} GiB of memory"
    except (OSError, ValueError, IndexError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {cores} cores available{memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def _toc_docnames(env) -> list[str]:
    """The pages of the table of contents, in reading order."""
    site_map = getattr(env, "external_site_map", None)
    if site_map is None:
        return sorted(env.found_docs)
    order: list[str] = []

    def walk(docname: str) -> None:
        if docname in order or docname not in site_map:
            return
        order.append(docname)
        for tree in site_map[docname].subtrees:
            for child in tree.files():
                walk(child)

    walk(site_map.root.docname)
    return order


def is_notebook(env, docname: str) -> bool:
    """Whether ``docname`` is a notebook: an ``.ipynb`` file, or MyST markdown with a kernelspec."""
    path = env.doc2path(docname)
    if str(path).endswith(".ipynb"):
        return True
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(2000)
    except OSError:
        return False
    return head.startswith("---") and "kernelspec:" in head.split("\n---", 1)[0]


def _title(env, docname: str) -> str:
    title = env.titles.get(docname)
    return title.astext() if title is not None else docname


class FillTimes(SphinxPostTransform):
    """Replace every time placeholder by its value (all pages are read, all notebooks run, by now)."""

    default_priority = 5

    def run(self, **kwargs):
        env = self.env
        for node in list(self.document.findall(course_time)):
            kind, target = node["kind"], node["target"]
            if kind == "run-time":
                text = run_time(env, target)
            elif kind == "run-time-total":
                total, count = total_run_time(env)
                text = (f"{_minutes(total)} for {count} notebooks" if count else
                        "not measured (this build did not run the notebooks)")
            else:
                text = f"{reading_minutes(env, target)} minutes"
            node.replace_self(nodes.Text(text))
        for node in list(self.document.findall(chapter_times)):
            node.replace_self(self._table(env))

    def _table(self, env):
        header = ("Chapter", "Reading time [min]", "Run time", "How it ran")
        # every page of the table of contents that executes code: the chapters
        rows = []
        for docname in _toc_docnames(env):
            if not is_notebook(env, docname):
                continue
            data = _exec_data(env, docname)
            if data is None or data.get("runtime") is None:
                ran, how = "-", "not run in this build (execution off)"
            else:
                ran = run_time(env, docname)
                when = datetime.fromtimestamp(float(data.get("mtime") or 0), tz=timezone.utc)
                method = {"cache": "from the execution cache", "auto": "executed",
                          "force": "executed", "inline": "executed"}.get(data.get("method"),
                                                                         str(data.get("method")))
                how = f"{method}, run {when:%Y-%m-%d %H:%M} UTC"
            rows.append((_title(env, docname), str(reading_minutes(env, docname)), ran, how))
        total, count = total_run_time(env)
        rows.append(("All notebooks", "", _minutes(total) if count else "-", f"{count} notebooks"))

        table = nodes.table(classes=["chapter-times"])
        group = nodes.tgroup(cols=len(header))
        table += group
        for width in (40, 15, 15, 30):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row(header)
        body = nodes.tbody()
        group += body
        for row in rows:
            body += self._row(row)
        note = nodes.paragraph(text=f"Measured on the machine that built this page: {machine()}.")
        return [table, note]

    @staticmethod
    def _row(cells) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=cell)
            row += entry
        return row


def setup(app):
    app.add_node(course_time)
    app.add_node(chapter_times)
    for kind in ("run-time", "run-time-total", "reading-time"):
        app.add_role(kind, _role(kind))
    app.add_directive("chapter-times", ChapterTimes)
    app.add_post_transform(FillTimes)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
