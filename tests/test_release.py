"""What a release needs: one version everywhere, a changelog section per version, the licence,
metadata that declares what the code imports, an sdist that holds what its tests read, and a
CI script that runs the README's command word for word and checks every supported Python.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from support import clean_env, run

import postpress_async as pp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "postpress_async"
CI_RUN = ROOT / ".ci" / "run"
METADATA = importlib.metadata.metadata("postpress_async")
SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]


def pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib", reason="reading TOML needs Python 3.11+")
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return data


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- one version -----------------------------------------------------------------------------


def test_postpress_version_prints_the_package_version() -> None:
    result = run([sys.executable, "-m", "postpress_async", "--version"], env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"postpress_async {pp.__version__}\n"
    assert pp.__version__ == "0.2.0"
    assert importlib.metadata.version("postpress_async") == pp.__version__


def test_the_changelog_has_a_dated_section_per_version_newest_first() -> None:
    text = (ROOT / "CHANGELOG.md").read_text("utf-8")
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", text, re.MULTILINE)
    assert headings[0] == ("Unreleased", "")
    released = headings[1:]
    assert released[0][0] == pp.__version__  # the version being released is on top
    versions = [tuple(int(part) for part in version.split(".")) for version, _ in released]
    dates = [rest.removeprefix(" - ") for _, rest in released]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", date) for date in dates), released
    assert versions == sorted(versions, reverse=True)
    assert dates == sorted(dates, reverse=True)
    links = dict(re.findall(r"^\[([^\]]+)\]: (\S+)$", text, re.MULTILINE))
    assert set(links) == {name for name, _ in headings}


# -- licence and metadata --------------------------------------------------------------------


def test_the_licence_is_mit_and_shipped() -> None:
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 postpress\n")
    assert METADATA["License-Expression"] == "MIT"
    assert METADATA.get_all("License-File") == ["LICENSE"]
    # PEP 639: the expression replaces licence classifiers, which indexes may refuse beside it.
    assert not [c for c in METADATA.get_all("Classifier") or [] if c.startswith("License ::")]


def test_the_metadata_describes_the_project() -> None:
    urls = dict(url.split(", ", 1) for url in METADATA.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Changelog", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    assert METADATA["Keywords"]
    classifiers = set(METADATA.get_all("Classifier") or [])
    assert {
        "Development Status :: 4 - Beta",
        "Framework :: AsyncIO",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Typing :: Typed",
    } <= classifiers
    assert any(c.startswith("Topic :: ") for c in classifiers)
    claimed = sorted(c.rsplit(" :: ", 1)[1] for c in classifiers if re.search(r":: 3\.\d+$", c))
    assert claimed == SUPPORTED
    assert METADATA["Requires-Python"] == f">={SUPPORTED[0]}"


def test_dev_and_bench_are_dependency_groups_not_extras() -> None:
    assert set(METADATA.get_all("Provides-Extra") or []) == {"socks", "otel", "speed"}
    groups = pyproject()["dependency-groups"]
    assert {"dev", "bench"} <= set(groups)
    fastapi = [r for r in groups["dev"] if normalized(r).startswith("fastapi")]
    assert fastapi == ["fastapi>=0.165; python_version >= '3.11'"]  # 3.10 installs without it


def imports_of(path: Path) -> set[str]:
    """Top-level names of the modules ``path`` imports, type-checking-only imports left out."""
    tree = ast.parse(path.read_text("utf-8"))
    type_only = {
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.If) and "TYPE_CHECKING" in ast.unparse(guard.test)
        for statement in guard.body
        for node in ast.walk(statement)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_package_the_code_imports_is_declared() -> None:
    declared = {
        normalized(re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0])
        for requirement in METADATA.get_all("Requires-Dist") or []
    }
    providers: dict[str, set[str]] = {}  # packages_distributions() misses namespaces on 3.10
    for dist in importlib.metadata.distributions():
        for top in {file.parts[0] for file in dist.files or [] if file.parts}:
            providers.setdefault(top.removesuffix(".py"), set()).add(dist.metadata["Name"])
    # pydantic_core: imported only by the schema hook pydantic itself calls (_pydantic.py).
    brought_by_the_caller = {"pydantic_core"}
    undeclared = {}
    for path in PACKAGE.rglob("*.py"):
        for name in imports_of(path) - set(sys.stdlib_module_names) - {"postpress_async"}:
            dists = {normalized(d) for d in providers.get(name, {name})}
            if not dists & declared and name not in brought_by_the_caller:
                undeclared[name] = path.name
    assert undeclared == {}
    assert {"yarl", "multidict"} <= declared  # imported directly, not only through aiohttp


def test_aiohttp_internals_are_imported_for_type_checking_only() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in tree.body:  # module level, outside `if TYPE_CHECKING:`
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module in ("aiohttp", "aiohttp_socks") or not node.module.startswith(
                    "aiohttp"
                ), f"{path.name}: from {node.module} import ..."


# -- the sdist -------------------------------------------------------------------------------

NOT_SHIPPED = {"pyproject.toml", "PKG-INFO", ".gitignore", ".git", ".venv", "dist", "build"}
"""pyproject.toml and PKG-INFO are always in an sdist; the rest is never wanted there."""


def test_the_sdist_includes_every_part_of_the_project() -> None:
    include = pyproject()["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert all(entry.startswith("/") for entry in include)  # anchored: no stray README.md
    shipped = {entry.lstrip("/") for entry in include}
    present = {
        entry.name
        for entry in ROOT.iterdir()
        if entry.name not in NOT_SHIPPED
        and not entry.name.endswith((".egg-info", "_cache"))
        and entry.name not in {"__pycache__", ".hypothesis"}
    }
    assert present - shipped == set(), "new top-level files: ship them in the sdist or not?"


# -- CI --------------------------------------------------------------------------------------


def readme_test_command() -> str:
    development = (ROOT / "README.md").read_text("utf-8").split("\n## Development\n", 1)[1]
    blocks = re.findall(r"^```sh\n(.*?)^```", development, re.MULTILINE | re.DOTALL)
    (command,) = [block.strip() for block in blocks if "-m pytest" in block]
    return command


def test_the_readme_test_command_is_what_ci_runs_first() -> None:
    command = readme_test_command()
    assert len(command.splitlines()) == 1
    script = CI_RUN.read_text("utf-8")
    assert f"readme_command() {{\n{command}\n}}\n" in script  # byte for byte
    assert 'start "readme-$MAIN" readme_command' in script
    steps = [step.strip() for step in command.split("&&")]
    assert steps[-1] == ".venv/bin/python -m pytest"
    assert ".venv/bin/python -m pip install -q -e . --group dev" in steps
    assert steps.index(".venv/bin/python -m pip install -q -U pip") < steps.index(
        ".venv/bin/python -m pip install -q -e . --group dev"
    )  # --group needs pip 25.1
    assert any(shlex.split(step)[2:5] == ["mypy", "--strict", "postpress_async"] for step in steps)
    assert "[dev]" not in script


def test_ci_run_is_executable_and_strict() -> None:
    assert os.access(CI_RUN, os.X_OK)
    assert "set -euo pipefail" in CI_RUN.read_text("utf-8")


def test_ci_runs_every_supported_python_and_the_release_checks() -> None:
    script = CI_RUN.read_text("utf-8")
    assert f"SUPPORTED=({' '.join(SUPPORTED)})" in script
    for step in (
        "--resolution lowest-direct",
        'python" -m build',
        'twine" check --strict',
        "--verifytypes postpress_async --ignoreexternal",
        "scripts/ci_docs.sh",
        "UV_PYTHON_DOWNLOADS=never",  # an interpreter is found here, never downloaded
    ):
        assert step in script, step
