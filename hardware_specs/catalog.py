"""Find accelerator specs by catalog id (shipped YAML files) or by path (a user's file, or one `measure` wrote)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from hardware_specs.schema import HardwareSpec
from simulator.errors import UserError, first_validation_problem, unknown_name_error

CATALOG_DIR = Path(__file__).parent / "data"


def hardware_ids() -> list[str]:
    return sorted(path.stem for path in CATALOG_DIR.glob("*.yaml"))


def load_hardware(id_or_path: str) -> HardwareSpec:
    """A catalog id (`h100-sxm`) or a path to a spec YAML file."""
    if id_or_path.endswith((".yaml", ".yml")) or "/" in id_or_path:
        return _load_file(Path(id_or_path))
    path = CATALOG_DIR / f"{id_or_path}.yaml"
    if not path.exists():
        raise unknown_name_error("hardware", id_or_path, hardware_ids())
    return _load_file(path)


@cache
def _load_file(path: Path) -> HardwareSpec:
    if not path.exists():
        raise UserError(f"hardware spec file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of fields")
    try:
        return HardwareSpec.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{path}: {first_validation_problem(exc)}") from None
