"""Importers: published measurements (a source folder as documented in its README) → our measurement records.

Each source has one module exposing `import_<source>(source_dir) -> ImportedDataset`; `registry.IMPORTERS`
lists them and `build` runs them all and writes the shipped data directory. Importers only translate: they
never read the catalogs. The builder drops what names hardware or models the catalogs lack, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from idealrt.calibration.records import EndToEndMeasurement, OpMeasurement, Provenance
from idealrt.simulator.model.spec import ModelSpec


@dataclass
class ImportedDataset:
    """What one source yields: several datasets (one provenance entry each), their rows, and model specs
    that the e2e rows refer to and the catalog lacks. `skipped` says, one line per reason, what was left out."""

    provenance: list[Provenance] = field(default_factory=list)
    ops: list[OpMeasurement] = field(default_factory=list)
    e2e: list[EndToEndMeasurement] = field(default_factory=list)
    models: list[ModelSpec] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def extend(self, other: ImportedDataset) -> None:
        self.provenance += other.provenance
        self.ops += other.ops
        self.e2e += other.e2e
        self.models += other.models
        self.skipped += other.skipped

    def skip(self, reason: str, count: int) -> None:
        """Record that `count` source rows were left out, and why (nothing if none were)."""
        if count:
            self.skipped.append(f"{count} row(s): {reason}")

    def dataset_ids(self) -> list[str]:
        return [entry.dataset for entry in self.provenance]


__all__ = ["ImportedDataset"]
