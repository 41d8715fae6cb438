"""The package's layout: imports only go down the layers, no private names cross modules,
modules stay short, and run configs are read as typed objects.

The layers, in the order a module may import from (``speakerlib/__init__.py`` says the same):
foundation (errors; registry, seeds, _io, _checks, _tensorflow, paths, display), audio, data, vad, framing and
augmentation, features,
store, prepare, evaluation, models, train, embed, inference, baseline, reproduce, pretrain, cli.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "speakerlib"

#: Module-name prefixes, lowest layer first; a module may import from its own layer and those before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("speakerlib.errors",),
    ("speakerlib", "speakerlib.registry", "speakerlib.seeds", "speakerlib._io", "speakerlib._lock", "speakerlib._checks",
     "speakerlib._tensorflow", "speakerlib.paths", "speakerlib.display"),
    ("speakerlib.audio",),
    ("speakerlib.data",),
    ("speakerlib.vad", "speakerlib.framing", "speakerlib.augmentation"),
    ("speakerlib.features",),
    ("speakerlib.store",),
    ("speakerlib.prepare",),
    ("speakerlib.evaluation",),
    ("speakerlib.models",),
    ("speakerlib.train",),
    ("speakerlib.embed",),
    ("speakerlib.inference",),
    ("speakerlib.baseline",),
    ("speakerlib.reproduce",),
    ("speakerlib.pretrain",),
    ("speakerlib.cli", "speakerlib.__main__"),
)

MAX_LINES = 620  # "about 600"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    best, depth = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix != "speakerlib" and module.startswith(prefix + "."))
            if matches and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _imports(module: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every speakerlib import, top level or not."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "speakerlib"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "speakerlib":
            names = [a.name for a in node.names]
            submodules = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in MODULES]
            found += [(s, [], node.lineno) for s in submodules]
            rest = [n for n in names if f"{node.module}.{n}" not in MODULES]
            if rest:
                found.append((node.module, rest, node.lineno))
    return found


def test_every_module_is_in_a_layer():
    for module in MODULES:
        _layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down_the_layers(module):
    own = _layer(module)
    for target, _, line in _imports(module, MODULES[module]):
        assert target in MODULES, f"{module}:{line} imports {target}, which does not exist"
        assert _layer(target) <= own, (
            f"{module}:{line} imports {target}, a later stage (layer {_layer(target)} > {own})")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_crosses_modules(module):
    for target, names, line in _imports(module, MODULES[module]):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module}:{line} imports private names {private} from {target}"


def test_no_module_is_longer_than_about_600_lines():
    lengths = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    assert max(lengths.values()) <= MAX_LINES, sorted(lengths.items(), key=lambda kv: -kv[1])[:5]


def test_run_configs_are_read_as_typed_objects():
    pattern = re.compile(r"config\[\"")
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}" for p in MODULES.values()
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits


def test_the_checks_can_fail(tmp_path):
    """The checks above on a module that breaks each rule."""
    bad = tmp_path / "bad.py"
    bad.write_text("from speakerlib.train import _secret\nimport speakerlib.cli\n")
    imports = _imports("speakerlib.audio.bad", bad)
    assert ("speakerlib.train", ["_secret"], 1) in imports and ("speakerlib.cli", [], 2) in imports
    assert _layer("speakerlib.cli") > _layer("speakerlib.audio.load")
    assert _layer("speakerlib.train.stages") == _layer("speakerlib.train")
    assert _layer("speakerlib.errors") < _layer("speakerlib.registry")
    with pytest.raises(AssertionError, match="no layer"):
        _layer("somewhere.else")
