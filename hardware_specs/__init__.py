"""Accelerators and systems as data: one YAML file per accelerator in `data/`, validated by the pydantic schema.

Data and schema only: this package imports no other project package. `simulator.hardware.load_hardware` finds
and validates a spec by catalog id or path.
"""

from pathlib import Path

from idealrt.hardware_specs.schema import HardwareSpec

CATALOG_DIR = Path(__file__).parent / "data"


def hardware_ids() -> list[str]:
    """The catalog's accelerator ids (file stems of `data/*.yaml`)."""
    return sorted(path.stem for path in CATALOG_DIR.glob("*.yaml"))


__all__ = ["CATALOG_DIR", "HardwareSpec", "hardware_ids"]
