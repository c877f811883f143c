"""Find accelerator specs (`hardware_specs/`) by catalog id or by path (a user's file, or one `measure` wrote)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from idealrt.hardware_specs import CATALOG_DIR, HardwareSpec, hardware_ids
from idealrt.simulator.errors import unknown_name_error
from idealrt.simulator.files import check_path_text, read_mapping, validated

__all__ = ["hardware_ids", "load_hardware"]


def load_hardware(id_or_path: str) -> HardwareSpec:
    """A catalog id (`h100-sxm`) or a path to a spec YAML file."""
    check_path_text(id_or_path, "hardware")
    if id_or_path.endswith((".yaml", ".yml")) or "/" in id_or_path:
        return _load_file(Path(id_or_path))
    if id_or_path not in hardware_ids():
        raise unknown_name_error("hardware", id_or_path, hardware_ids())
    return _load_file(CATALOG_DIR / f"{id_or_path}.yaml")


@cache
def _load_file(path: Path) -> HardwareSpec:
    return validated(HardwareSpec, read_mapping(path, "hardware spec"), path)
