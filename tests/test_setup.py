"""The set-up files agree with each other: pyproject, environment.yml, Makefile, CI, README."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
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
        elif not item.startswith(("python=", "pip")) or item.startswith("pip "):
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


def test_python_version_agrees(pyproject, environment):
    assert "python=3.11" in environment["dependencies"]
    assert pyproject["project"]["requires-python"] == ">=3.11,<3.12"


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
