"""Build the shipped measurement datasets from the published sources (a developer command, never run by the product):

    python -m calibration.importers.build --source /path/to/shared/data --out calibration/data

Runs every importer on its folder under --source, keeps what the hardware and model catalogs can predict, drops
end-to-end points that are physically impossible, and writes the data-dir layout of `calibration.store`
(tables over ~200 KB gzipped, deterministically) plus a README listing every dataset.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers.floor import is_below_floor
from idealrt.calibration.importers.readme import TableSummary, render_readme
from idealrt.calibration.importers.registry import IMPORTERS
from idealrt.calibration.records import EndToEndMeasurement, OpMeasurement
from idealrt.calibration.store import read_records, write_provenance, write_records
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import hardware_ids, load_hardware
from idealrt.simulator.model.catalog import load_model, model_ids
from idealrt.simulator.model.spec import ModelSpec

GZIP_ABOVE_BYTES = 200_000
ROUND_TRIP_TOLERANCE = 1e-5  # tables keep 6 significant digits


@dataclass(frozen=True)
class WrittenTable:
    dataset: str
    kind: str  # "ops" or "e2e"
    rows: int
    what: str  # op kinds or metrics in the table
    path: Path
    size_bytes: int


@dataclass
class BuildReport:
    imported: ImportedDataset
    tables: list[WrittenTable] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # what the builder removed after importing

    def total_bytes(self) -> int:
        return sum(table.size_bytes for table in self.tables)


def import_all(source_dir: Path) -> ImportedDataset:
    imported = ImportedDataset()
    for folder_name, importer in IMPORTERS.items():
        folder = source_dir / folder_name
        if not folder.is_dir():
            raise UserError(
                f"source folder missing: {folder} (expected one folder per importer: {', '.join(IMPORTERS)})"
            )
        imported.extend(importer(folder))
    return imported


def keep_predictable(imported: ImportedDataset, known_hardware: set[str], known_models: set[str]) -> list[str]:
    """Drop datasets on hardware without an id and e2e rows on models without a spec (in place); say what went."""
    dropped = []
    unknown = {p.dataset: p.hardware for p in imported.provenance if p.hardware not in known_hardware}
    for dataset, hardware in sorted(unknown.items()):
        rows = sum(r.dataset == dataset for r in imported.ops) + sum(r.dataset == dataset for r in imported.e2e)
        dropped.append(f"{rows} row(s): dataset {dataset} dropped, hardware '{hardware}' is not in the catalog")
    imported.provenance = [p for p in imported.provenance if p.dataset not in unknown]
    imported.ops = [r for r in imported.ops if r.dataset not in unknown]
    imported.e2e = [r for r in imported.e2e if r.dataset not in unknown]
    missing = Counter(r.model for r in imported.e2e if r.model not in known_models)
    dropped += [f"{n} row(s): model '{model}' is not in the model catalog" for model, n in sorted(missing.items())]
    imported.e2e = [r for r in imported.e2e if r.model in known_models]
    return dropped


def drop_impossible(imported: ImportedDataset, specs: dict[str, ModelSpec]) -> list[str]:
    """Drop e2e rows longer than the model's context or faster than streaming its weights once per step."""
    hardware_of = {p.dataset: p.hardware for p in imported.provenance}
    bandwidth = {hw: load_hardware(hw).hbm_bandwidth_gb_s for hw in set(hardware_of.values())}
    too_long: Counter[str] = Counter()
    too_fast: Counter[str] = Counter()
    kept = []
    for record in imported.e2e:
        spec = specs[record.model]
        if record.prompt_tokens + record.output_tokens > spec.max_context:
            too_long[record.dataset] += 1
        elif is_below_floor(record, spec, bandwidth[hardware_of[record.dataset]]):
            too_fast[record.dataset] += 1
        else:
            kept.append(record)
    imported.e2e = kept
    return [
        f"{n} row(s): {d}: prompt + output exceeds the model's max context" for d, n in sorted(too_long.items())
    ] + [
        f"{n} row(s): {d}: faster than reading the weights and KV cache once per decode step (impossible)"
        for d, n in sorted(too_fast.items())
    ]


def drop_empty_datasets(imported: ImportedDataset) -> list[str]:
    """Forget the provenance of datasets that lost every row to the checks above."""
    with_rows = {r.dataset for r in imported.ops} | {r.dataset for r in imported.e2e}
    empty = [p.dataset for p in imported.provenance if p.dataset not in with_rows]
    imported.provenance = [p for p in imported.provenance if p.dataset in with_rows]
    return [f"0 row(s): dataset {dataset} dropped, no row left" for dataset in empty]


def write_data_dir(imported: ImportedDataset, out_dir: Path) -> list[WrittenTable]:
    """Replace the tables, model specs and provenance index in `out_dir` by the imported ones."""
    for stale in [*out_dir.glob("ops/*.csv*"), *out_dir.glob("e2e/*.csv*"), *out_dir.glob("models/*.yaml")]:
        stale.unlink()
    (out_dir / "provenance.json").unlink(missing_ok=True)
    tables = []
    kinds = (("ops", imported.ops, OpMeasurement), ("e2e", imported.e2e, EndToEndMeasurement))
    for kind, records, record_type in kinds:
        by_dataset: dict[str, list] = {}
        for record in records:
            by_dataset.setdefault(record.dataset, []).append(record)
        for dataset, rows in sorted(by_dataset.items()):
            path = _write_table(rows, out_dir / kind / f"{dataset}.csv")
            _check_round_trip(rows, path, record_type)
            what = ", ".join(sorted({r.op if kind == "ops" else r.metric for r in rows}))
            tables.append(WrittenTable(dataset, kind, len(rows), what, path, path.stat().st_size))
    write_provenance(imported.provenance, out_dir)
    for spec in imported.models:
        _write_model(spec, out_dir / "models" / f"{spec.id}.yaml")
    return tables


def _write_table(rows: list, csv_path: Path) -> Path:
    write_records(rows, csv_path)
    if csv_path.stat().st_size <= GZIP_ABOVE_BYTES:
        return csv_path
    gz_path = csv_path.with_name(csv_path.name + ".gz")
    with csv_path.open("rb") as plain, gzip.GzipFile(gz_path, "wb", compresslevel=9, mtime=0) as packed:
        shutil.copyfileobj(plain, packed)  # mtime 0: identical sources give identical bytes
    csv_path.unlink()
    return gz_path


def _check_round_trip(rows: Sequence[BaseModel], path: Path, record_type: type[BaseModel]) -> None:
    back = read_records(path, record_type)
    for written, read in zip(rows, back, strict=True):
        for name, value in written.model_dump().items():
            again = getattr(read, name)
            if isinstance(value, float) and isinstance(again, float):
                if abs(value - again) > ROUND_TRIP_TOLERANCE * abs(value):
                    raise AssertionError(f"{path}: {name} {value} read back as {again}")
            elif value != again:
                raise AssertionError(f"{path}: {name} {value!r} read back as {again!r}")


def _write_model(spec: ModelSpec, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by calibration.importers.build from the dataset that measured this model. Do not edit.\n"
    path.write_text(
        header + yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False, width=110)
    )


def build(source_dir: Path, out_dir: Path) -> BuildReport:
    imported = import_all(source_dir)
    report = BuildReport(imported)
    shipped_models = {spec.id: spec for spec in imported.models}
    report.dropped += keep_predictable(imported, set(hardware_ids()), set(model_ids()) | set(shipped_models))
    specs = shipped_models | {m: load_model(m) for m in {r.model for r in imported.e2e} - set(shipped_models)}
    report.dropped += drop_impossible(imported, specs)
    report.dropped += drop_empty_datasets(imported)
    report.tables = write_data_dir(imported, out_dir)
    # WrittenTable is frozen; readme.TableSummary declares settable attributes (read-only ones would match)
    tables: Sequence[TableSummary] = report.tables  # type: ignore[assignment]
    (out_dir / "README.md").write_text(
        render_readme(tables, imported.provenance, imported.models, imported.skipped + report.dropped)
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m calibration.importers.build", description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="folder with one subfolder per published source")
    parser.add_argument("--out", type=Path, required=True, help="data directory to (re)write, e.g. calibration/data")
    args = parser.parse_args(argv)
    try:
        report = build(args.source, args.out)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UserError.exit_code
    for table in report.tables:
        print(f"{table.kind}/{table.path.name:55s} {table.rows:7d} rows {table.size_bytes / 1024:8.1f} KiB")
    print(f"total {report.total_bytes() / 1024 / 1024:.2f} MiB in {len(report.tables)} tables")
    for line in report.imported.skipped + report.dropped:
        print(f"skipped {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
