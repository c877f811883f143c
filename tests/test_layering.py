"""The layers depend on each other in one direction only, and light commands stay light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The three folders and the names they install under (pyproject.toml: package-dir).
PROJECT = ("idealrt.simulator", "idealrt.hardware_specs", "idealrt.calibration")
UPPER = (
    "idealrt.simulator.planner",
    "idealrt.simulator.cli",
    "idealrt.simulator.plots",
    "idealrt.simulator.api",
    "idealrt.simulator.serving",
)


def _imports(path: Path) -> set[str]:
    """Every module a file imports (at any depth: lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _top_level_imports(path: Path) -> set[str]:
    """The modules a file imports when it is imported (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _files(package: str) -> list[Path]:
    """The source files of an installed package name, e.g. idealrt.simulator.model → simulator/model/*.py."""
    return sorted(ROOT.joinpath(*package.split(".")[1:]).rglob("*.py"))


def _module(path: Path) -> str:
    return ".".join(("idealrt", *path.relative_to(ROOT).with_suffix("").parts))


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def test_hardware_specs_imports_no_project_package() -> None:
    others = tuple(package for package in PROJECT if package != "idealrt.hardware_specs")
    for path in _files("idealrt.hardware_specs"):
        assert not {m for m in _imports(path) if _under(m, others)}, path


def test_the_core_never_imports_the_planner_cli_or_plots() -> None:
    core = [p for p in _files("idealrt.simulator") if not _under(_module(p), UPPER)]
    assert core
    for path in core:
        assert not {m for m in _imports(path) if _under(m, UPPER)}, path


def test_the_hot_path_never_imports_sympy_or_networkx() -> None:
    """Estimating runs on the compiled formulas; sympy and networkx only generate them (on a cache miss, lazily)
    and teach (explain)."""
    symbolic = (
        "idealrt.simulator.ops",
        "idealrt.simulator.graph",
        "idealrt.simulator.evaluate",
        "idealrt.simulator.compiled.generate",
    )
    allowed = {*symbolic, "idealrt.simulator.compiled.build", "idealrt.simulator.cli.explain_cmd"}
    for path in _files("idealrt.simulator"):
        module = _module(path)
        if _under(module, tuple(allowed)) or _under(module, UPPER):
            continue
        imported = _top_level_imports(path)
        assert not {m for m in imported if _under(m, ("sympy", "networkx", *symbolic))}, path


def test_the_simulator_never_imports_calibration() -> None:
    for path in _files("idealrt.simulator"):
        assert not {m for m in _imports(path) if _under(m, ("idealrt.calibration",))}, path


def test_model_schema_and_catalogs_do_not_depend_on_the_op_graph() -> None:
    graph = (
        "idealrt.simulator.graph",
        "idealrt.simulator.ops",
        "idealrt.simulator.counting",
        "idealrt.simulator.compiled",
        "idealrt.simulator.pass_timing",
    )
    for path in _files("idealrt.simulator.model"):
        assert not {m for m in _imports(path) if _under(m, graph)}, path


@pytest.mark.parametrize("command", [["--help"], ["models"], ["hardware"], ["predict", "--help"]])
def test_light_commands_import_no_heavy_library(command: list[str]) -> None:
    code = (
        "import sys\nfrom idealrt.simulator.cli import main\n"
        f"try:\n    main({command!r})\nexcept SystemExit:\n    pass\n"
        "heavy = ('sympy', 'pandas', 'matplotlib', 'torch', 'jax', 'networkx', 'scipy')\n"
        "print('HEAVY:' + ','.join(name for name in heavy if name in sys.modules), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert "HEAVY:\n" in result.stderr + "\n", result.stderr
