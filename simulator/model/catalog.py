"""Find model specs by catalog id (shipped YAML files), or by path: one of our spec files or an HF `config.json`."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulator.errors import UserError, first_validation_problem, unknown_name_error
from simulator.model.hf_import import is_hf_config, spec_from_hf_config
from simulator.model.spec import ModelSpec

CATALOG_DIR = Path(__file__).parent / "catalog"
_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def model_ids() -> list[str]:
    return sorted(path.stem for path in CATALOG_DIR.glob("*.yaml"))


def load_model(id_or_path: str) -> ModelSpec:
    """A catalog id (`llama-3.1-70b`), or a path to a spec YAML/JSON file, to an HF-style `config.json`, or to
    a downloaded model folder holding one."""
    if id_or_path.endswith(_FILE_SUFFIXES) or "/" in id_or_path:
        path = Path(id_or_path)
        return _load_file(path / "config.json" if path.is_dir() else path)
    path = CATALOG_DIR / f"{id_or_path}.yaml"
    if not path.exists():
        raise unknown_name_error("model", id_or_path, model_ids())
    return _load_file(path)


@cache
def _load_file(path: Path) -> ModelSpec:
    data = _read_mapping(path)
    if is_hf_config(data):
        return spec_from_hf_config(data, source=str(path))
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{path}: {first_validation_problem(exc)}") from None


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(
            f"model spec file not found: {path} (give a catalog id, or a local spec YAML/JSON or config.json path)"
        )
    text = path.read_text()
    data = _parse_json(path, text) if path.suffix == ".json" else _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of fields")
    return data


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
