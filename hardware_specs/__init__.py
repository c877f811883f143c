"""Accelerators and systems as data: one YAML file per accelerator, validated by a pydantic schema."""

from hardware_specs.catalog import hardware_ids, load_hardware
from hardware_specs.schema import HardwareSpec

__all__ = ["HardwareSpec", "hardware_ids", "load_hardware"]
