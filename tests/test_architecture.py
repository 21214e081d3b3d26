"""ARCHITECTURE.md matches the code: every module is placed in a layer, and imports go down."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "postpress_async"
LAYERS = ("public", "clients", "resources", "request", "values")


def documented_layers() -> dict[str, int]:
    """Module name (``_client``, ``testing``) -> layer rank, from ARCHITECTURE.md's drawing."""
    text = (ROOT / "ARCHITECTURE.md").read_text("utf-8")
    drawing = text.split("```", 2)[1]
    rank, layers = -1, {}
    for line in drawing.splitlines():
        head = line[:12].strip()
        if head in LAYERS:
            rank = LAYERS.index(head)
        match = re.match(r"\s*([a-z_]+)(?:\.py|/)\s", line[12:] + " ")
        if match and rank >= 0:
            layers[match.group(1)] = rank
    return layers


def internal_imports(path: Path) -> set[str]:
    """The package modules a file imports (first component below the package)."""
    names = set()
    tree = ast.parse(path.read_text("utf-8"))
    in_testing = path.parent.name == "testing"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = (node.module or "").split(".")[0]
            if in_testing and node.level == 1:
                continue  # within the testing package itself
            if base:
                names.add(base)
            else:
                names.update(alias.name for alias in node.names)
    return names


def test_every_module_is_placed_in_a_layer() -> None:
    layers = documented_layers()
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {"testing"}
    modules -= {"_version", "_cli"}  # the version string; the CLI is drawn as __main__.py
    assert modules - set(layers) == set(), "modules missing from ARCHITECTURE.md"
    assert set(layers) - modules - {"_cli"} == set(), "ARCHITECTURE.md names modules that are gone"


def test_imports_go_down_the_layers_never_up() -> None:
    layers = documented_layers()
    layers["_cli"] = layers["__main__"]
    upward = []
    files = [*PACKAGE.glob("*.py"), *(PACKAGE / "testing").glob("*.py")]
    for path in files:
        owner = "testing" if path.parent.name == "testing" else path.stem
        if owner not in layers:
            continue
        for name in internal_imports(path):
            if name in layers and layers[name] < layers[owner]:
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert upward == []
