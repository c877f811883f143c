"""Reading the data files users and the catalogs hand us (YAML or JSON), with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from simulator.errors import UserError, first_validation_problem

Schema = TypeVar("Schema", bound=BaseModel)


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """The file's top-level mapping; `what` names the file kind in the not-found message."""
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    text = path.read_text()
    data = _parse_json(path, text) if path.suffix == ".json" else _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of fields")
    return data


def validated(schema: type[Schema], data: dict[str, Any], path: Path) -> Schema:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{path}: {first_validation_problem(exc)}") from None


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
