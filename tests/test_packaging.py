"""What `pip install .` ships and needs: a base install without torch/jax, scipy declared where it is used, an SPDX
license with its file, and the example files `closed --help` points to inside the package."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from idealrt.calibration.fit_cmd import require_fit_extras
from idealrt.simulator.errors import UserError
from idealrt.simulator.examples_dir import EXAMPLES_DIR, shipped_example

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_the_base_install_needs_neither_torch_nor_jax() -> None:
    base = requirement_names(PROJECT["dependencies"])
    assert not base & {"torch", "jax", "jaxlib"}
    extras = PROJECT["optional-dependencies"]
    assert "torch" in requirement_names(extras["measure"]) and "jax" in requirement_names(extras["fit"])


def test_scipy_is_declared_with_the_fitter_that_imports_it() -> None:
    users = [path for path in ROOT.glob("calibration/fit/*.py") if "scipy" in path.read_text()]
    assert users, "the fitter uses scipy"
    assert "scipy" in requirement_names(PROJECT["optional-dependencies"]["fit"] + PROJECT["dependencies"])


def test_license_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    for pattern in PROJECT["license-files"]:
        assert [path for path in ROOT.iterdir() if fnmatch.fnmatch(path.name, pattern)]
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    setuptools = next(r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools"))
    assert int(setuptools.split(">=")[1].split(".")[0]) >= 77  # first release reading SPDX license fields


def test_examples_and_data_files_are_package_data() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    folders = {package: folder for package, folder in setuptools["package-dir"].items()}

    def folder(package: str) -> str:
        """The repository folder of an installed package name (through package-dir)."""
        root = max((name for name in folders if package == name or package.startswith(name + ".")), key=len)
        return "/".join([folders[root], *package[len(root) + 1 :].split(".")]).rstrip("/")

    shipped = [
        f"{folder(package)}/{pattern}"
        for package, patterns in setuptools["package-data"].items()
        if package in setuptools["packages"]
        for pattern in patterns
    ]
    for path in [*EXAMPLES_DIR.iterdir(), ROOT / "calibration/profiles/validated_error.yaml"]:
        relative = str(path.relative_to(ROOT))
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in shipped), relative
    assert shipped_example("closed_model_gpt4_rumoured").is_file()


def test_closed_help_names_a_folder_that_holds_the_example() -> None:
    from idealrt.simulator.cli import build_parser

    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["closed"].format_help().split())
    assert str(EXAMPLES_DIR) in help_text.replace(" ", "") or str(EXAMPLES_DIR) in help_text
    assert (EXAMPLES_DIR / "closed_model_gpt4_rumoured.yaml").is_file()


BLOCKER = """
import importlib, importlib.abc, pkgutil, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "jax", "jaxlib", "scipy"}:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
from idealrt import simulator
for info in pkgutil.walk_packages(simulator.__path__, "idealrt.simulator."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
from idealrt.simulator.cli import main
raise SystemExit(main(["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--prompt", "64",
                       "--output", "4", "--json"]))
"""


def test_every_simulator_module_imports_and_estimates_without_torch_jax_or_scipy() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"ttft_s"' in result.stdout


def test_fitting_without_its_extras_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "scipy" else real(name, *a))
    with pytest.raises(UserError, match=r"calibrate fit needs scipy \(pip install 'idealrt\[fit\]'\)"):
        require_fit_extras("fit")
