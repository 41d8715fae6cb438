"""The set-up files agree with each other: pyproject, environment.yml, Makefile, CI, README."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

# conda-forge names of packages whose PyPI name differs
CONDA_TO_PYPI = {"pysoundfile": "soundfile", "soxr-python": "soxr"}


@pytest.fixture(scope="module")
def pyproject(project_root):
    return tomllib.loads((project_root / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment(project_root):
    return yaml.safe_load((project_root / "environment.yml").read_text())


def _pyproject_requirements(pyproject, extras):
    reqs = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in pyproject["project"]["optional-dependencies"][extra]]
    return {canonicalize_name(r.name): r for r in reqs}


def _environment_requirements(environment):
    conda, pip = {}, {}
    for item in environment["dependencies"]:
        if isinstance(item, dict):
            for line in item["pip"]:
                if not line.startswith("-e"):
                    r = Requirement(line)
                    pip[canonicalize_name(r.name)] = r
        elif not re.match(r"python[<>=!]|pip$", item):
            name = re.split(r"[<>=! ]", item, maxsplit=1)[0]
            spec = item[len(name):]
            r = Requirement(CONDA_TO_PYPI.get(name, name) + spec)
            conda[canonicalize_name(r.name)] = r
    return conda, pip


def _extras_of_editable_line(environment):
    for item in environment["dependencies"]:
        if isinstance(item, dict):
            for line in item["pip"]:
                if line.startswith("-e"):
                    return set(re.search(r"\[(.*)\]", line).group(1).split(","))
    raise AssertionError("environment.yml does not install the project itself (-e .[...])")


def test_environment_installs_what_pyproject_lists(pyproject, environment):
    extras = _extras_of_editable_line(environment)
    assert extras == {"cpu", "book", "dev", "export"}
    wanted = _pyproject_requirements(pyproject, sorted(extras))
    conda, pip = _environment_requirements(environment)
    both = set(conda) & set(pip)
    assert not both, f"listed twice in environment.yml: {both}"
    listed = {**conda, **pip}
    assert set(listed) == set(wanted), (
        f"only in pyproject: {sorted(set(wanted) - set(listed))}; "
        f"only in environment.yml: {sorted(set(listed) - set(wanted))}"
    )
    for name, req in wanted.items():
        assert listed[name].specifier == req.specifier, f"{name}: {listed[name]} vs {req}"
        assert listed[name].extras == req.extras, f"{name}: extras differ"


SUPPORTED = ["3.11", "3.12", "3.13"]


def _makefile_words(makefile, variable):
    match = re.search(rf"^{variable} :?= (.+)$", makefile, re.M)
    assert match, f"the Makefile does not set {variable}"
    return match.group(1).split()


def _admitted(specifier):
    """The versions 3.8 to 3.20 whose first release (3.X.0) a version specifier admits."""
    return [f"3.{minor}" for minor in range(8, 21) if specifier.contains(f"3.{minor}.0")]


def test_python_version_agrees(pyproject, environment, project_root):
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    assert _admitted(requires) == SUPPORTED
    assert all(requires.contains(v + ".5") for v in SUPPORTED)  # later patch releases too
    # conda's python spec in environment.yml admits the same versions
    pins = [d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python")
            and not d.startswith("python-")]
    assert len(pins) == 1, pins
    conda_spec = pins[0][len("python"):]
    assert _admitted(SpecifierSet(conda_spec)) == SUPPORTED, pins[0]

    makefile = (project_root / "Makefile").read_text()
    # the version check accepts exactly the supported versions
    assert sorted(_makefile_words(makefile, "SUPPORTED_PYTHONS")) == SUPPORTED
    assert "$(SUPPORTED_PYTHONS)" in makefile.split("$(STAMP): pyproject.toml", 1)[1]
    # candidates: every supported version, newest first, then plain python3
    candidates = _makefile_words(makefile, "PYTHON_CANDIDATES")
    assert candidates == [f"python{v}" for v in reversed(SUPPORTED)] + ["python3"]
    # a candidate is run, not only looked up (a pyenv shim exists but may fail)
    assert re.search(r"for p in \$\(VENV_PYTHON\) \$\(PYTHON_CANDIDATES\); do.*-c 'import sys'", makefile, re.S)
    # make PYTHON=... still wins over the search
    assert "ifeq ($(origin PYTHON),undefined)" in makefile


def _make(project_root, *args, path=None):
    """Run make in the project with a clean make environment (no MAKEFLAGS of a parent make)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items()
           if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTHON"}}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([make, "--no-print-directory", "-C", str(project_root), *args],
                          capture_output=True, text=True, env=env, timeout=60)


def _chosen_python(project_root, *args, path=None):
    result = _make(project_root, "--eval", "print-python: ; @echo '$(PYTHON)'", *args,
                   "print-python", path=path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _fake_python(folder, name, *, works=True, version=None):
    """An executable `name` in folder: this interpreter (reporting `version` if given), or a
    stand-in that fails the way an unselected pyenv shim does."""
    folder.mkdir(exist_ok=True)
    exe = folder / name
    if not works:
        exe.write_text(f"#!/bin/sh\necho 'pyenv: {name}: command not found' >&2\nexit 127\n")
    elif version is None:
        exe.write_text(f"#!/bin/sh\nexec '{sys.executable}' \"$@\"\n")
    else:
        site = folder / f"site-{name}"
        site.mkdir()
        major, minor = version
        (site / "sitecustomize.py").write_text(f"import sys\nsys.version_info = ({major}, {minor}, 0)\n")
        exe.write_text(f"#!/bin/sh\nPYTHONPATH='{site}' exec '{sys.executable}' \"$@\"\n")
    exe.chmod(0o755)
    return exe


def test_make_takes_the_newest_python_that_runs(project_root, tmp_path):
    bins = tmp_path / "bin"
    _fake_python(bins, "python3.13", works=False)
    _fake_python(bins, "python3.12", works=False)
    _fake_python(bins, "python3.11")
    _fake_python(bins, "python3")
    path = f"{bins}:/usr/bin:/bin"
    fresh = f"VENV={tmp_path / 'no-venv-yet'}"
    assert _chosen_python(project_root, fresh, path=path) == str(bins / "python3.11")
    _fake_python(bins, "python3.12")  # now 3.12 runs as well
    assert _chosen_python(project_root, fresh, path=path) == str(bins / "python3.12")
    assert _chosen_python(project_root, fresh, "PYTHON=/some/python", path=path) == "/some/python"
    # an environment made with 3.11 keeps it, though 3.12 is newer
    (tmp_path / "venv").mkdir()
    _fake_python(tmp_path / "venv" / "bin", "python", version=(3, 11))
    made = f"VENV={tmp_path / 'venv'}"
    assert _chosen_python(project_root, made, path=path) == str(bins / "python3.11")


@pytest.mark.parametrize("version", [(3, 10), (3, 14)])
def test_make_refuses_an_unsupported_python(project_root, tmp_path, version):
    fake = _fake_python(tmp_path / "bin", "python", version=version)
    venv = tmp_path / "venv"
    result = _make(project_root, "venv", f"VENV={venv}", f"PYTHON={fake}")
    assert result.returncode != 0
    found = "%d.%d" % version
    assert f"found Python {found} at {fake}" in result.stderr, result.stderr
    assert "3.11, 3.12, 3.13" in result.stderr and "PYTHON=" in result.stderr
    assert not venv.exists()


def test_newer_pythons_get_audioop(pyproject, environment):
    """pydub imports audioop, which Python 3.13 removed: audioop-lts replaces it there."""
    reqs = _pyproject_requirements(pyproject, [])
    audioop = reqs["audioop-lts"]
    assert audioop.marker is not None
    assert not audioop.marker.evaluate({"python_version": "3.12"})
    assert audioop.marker.evaluate({"python_version": "3.13"})
    _, pip = _environment_requirements(environment)
    assert str(pip["audioop-lts"].marker) == str(audioop.marker)


def test_tensorflow_only_through_cpu_or_gpu_extra(pyproject):
    base = _pyproject_requirements(pyproject, [])
    assert not any(name.startswith("tensorflow") for name in base)
    cpu = {canonicalize_name(Requirement(r).name) for r in pyproject["project"]["optional-dependencies"]["cpu"]}
    gpu = [Requirement(r) for r in pyproject["project"]["optional-dependencies"]["gpu"]]
    assert "tensorflow-cpu" in cpu and "tensorflow" not in cpu
    assert any(r.name == "tensorflow" and "and-cuda" in r.extras for r in gpu)


def test_make_default_extras_are_cpu_only(project_root):
    makefile = (project_root / "Makefile").read_text()
    assert re.search(r"^EXTRAS \?= cpu,book,dev,export$", makefile, re.M)


def test_ci_runs_the_readme_test_command(project_root):
    readme = (project_root / "README.md").read_text()
    ci = (project_root / ".ci" / "run").read_text()
    assert "make test" in readme and "make book" in readme
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert commands[-1].strip() == "make test"
