"""Reading and writing measurement tables (CSV, optionally gzipped) and the provenance index.

Layout of a data directory (the shipped one is `calibration/data/`, a `measure` run writes the same layout):
    provenance.json         list of Provenance entries, one per dataset
    ops/<dataset>.csv[.gz]  OpMeasurement rows
    e2e/<dataset>.csv[.gz]  EndToEndMeasurement rows
    models/<id>.yaml        model specs that datasets refer to and the catalog lacks
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from idealrt.calibration.records import EndToEndMeasurement, OpMeasurement, Provenance
from idealrt.simulator.errors import UserError, first_validation_problem, shown
from idealrt.simulator.files import read_csv, read_list, validated

SHIPPED_DATA_DIR = Path(__file__).parent / "data"

Record = TypeVar("Record", bound=BaseModel)


def write_records(records: Iterable[BaseModel], path: Path) -> None:
    """One row per record, columns in schema order; `.csv.gz` paths are gzipped."""
    rows = [record.model_dump() for record in records]
    if not rows:
        raise ValueError(f"no records to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False, float_format="%.10g")


def read_records(path: Path, record_type: type[Record]) -> list[Record]:
    frame = read_csv(path, "measurement table", keep_default_na=True)
    records = []
    for line, row in enumerate(frame.to_dict(orient="records"), start=2):
        clean = {key: value for key, value in row.items() if not _is_missing(value)}
        try:
            records.append(record_type.model_validate(clean))
        except ValidationError as exc:
            raise UserError(f"{shown(str(path))}:{line}: {first_validation_problem(exc)}") from None
    return records


def read_op_records(data_dir: Path = SHIPPED_DATA_DIR, dataset: str | None = None) -> list[OpMeasurement]:
    return _read_all(data_dir / "ops", OpMeasurement, dataset)


def read_e2e_records(data_dir: Path = SHIPPED_DATA_DIR, dataset: str | None = None) -> list[EndToEndMeasurement]:
    return _read_all(data_dir / "e2e", EndToEndMeasurement, dataset)


def read_provenance(data_dir: Path = SHIPPED_DATA_DIR) -> dict[str, Provenance]:
    path = data_dir / "provenance.json"
    if not path.exists():
        return {}
    entries = [validated(Provenance, entry, path) for entry in read_list(path, "provenance")]
    return {entry.dataset: entry for entry in entries}


def provenance_of(provenance: dict[str, Provenance], dataset: str, data_dir: Path) -> Provenance:
    """The entry of a dataset that records name; a one-line error when provenance.json lacks it."""
    if dataset not in provenance:
        listed = ", ".join(sorted(provenance)) or "none"
        raise UserError(
            f"{shown(str(data_dir / 'provenance.json'))}: no entry for dataset '{shown(dataset)}' that the "
            f"measurements name (entries: {shown(listed)})"
        )
    return provenance[dataset]


def write_provenance(entries: Iterable[Provenance], data_dir: Path) -> None:
    """Merge `entries` into the directory's provenance index (same dataset id: replaced)."""
    merged = read_provenance(data_dir) | {entry.dataset: entry for entry in entries}
    data_dir.mkdir(parents=True, exist_ok=True)
    ordered = [merged[name].model_dump() for name in sorted(merged)]
    (data_dir / "provenance.json").write_text(json.dumps(ordered, indent=2) + "\n")


def _read_all(directory: Path, record_type: type[Record], dataset: str | None) -> list[Record]:
    paths = sorted(directory.glob("*.csv")) + sorted(directory.glob("*.csv.gz"))
    if dataset is not None:
        paths = [p for p in paths if p.name.split(".csv")[0] == dataset]
        if not paths:
            raise UserError(f"no dataset '{dataset}' in {directory}")
    return [record for path in paths for record in read_records(path, record_type)]


def _is_missing(value: object) -> bool:
    return isinstance(value, float) and value != value  # NaN from an empty CSV cell
