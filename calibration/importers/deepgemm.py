"""DeepSeek DeepGEMM FP8 GEMM throughput on H800 (early-2025 README table) → kernel times.

kind `normal`: one GEMM (groups 1). Grouped kinds: `groups` GEMMs of M_per_group × N × K each (MoE experts).
Time = 2·groups·M·N·K / throughput.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers._source import US, apply_rows, build_records, read_source_table, require_values
from idealrt.calibration.records import OpMeasurement, Provenance
from idealrt.simulator.errors import UserError

COLUMNS = ("kind", "groups", "M_per_group", "N", "K", "tflops", "implied_time_us")
KINDS = ("normal", "grouped_contiguous", "grouped_masked")
DATASET = "deepgemm-h800-fp8"
HARDWARE = "h100-sxm"  # H800 = export H100 SXM: same SMs and HBM3, reduced NVLink


def import_deepgemm(source_dir: Path) -> ImportedDataset:
    path = source_dir / "deepgemm_h800_fp8_gemm.csv"
    frame = read_source_table(path, COLUMNS)
    require_values(frame, COLUMNS, path)
    unknown = frame.loc[~frame["kind"].isin(KINDS), "_line"]
    if len(unknown):
        raise UserError(f"{path}:{unknown.iloc[0]}: unknown GEMM kind; expected one of {', '.join(KINDS)}")
    frame["groups"] = frame["groups"].where(frame["kind"] != "normal", 1)
    flops = 2.0 * frame["groups"] * frame["M_per_group"] * frame["N"] * frame["K"]
    frame["time_s"] = flops / (frame["tflops"] * 1e12)
    derived = frame["implied_time_us"] * US
    disagree = (frame["time_s"] - derived).abs() > 1e-3 * derived
    if disagree.any():
        raise UserError(
            f"{path}:{frame.loc[disagree, '_line'].iloc[0]}: implied_time_us disagrees with 2·groups·M·N·K / TFLOPS"
        )
    imported = ImportedDataset()
    imported.ops += build_records(apply_rows(frame, _gemm_row), OpMeasurement, path)
    imported.provenance.append(
        Provenance(
            dataset=DATASET,
            citation="https://github.com/deepseek-ai/DeepGEMM README.md (early-2025 version with the performance "
            "table; the current README no longer carries it)",
            device="H800 SXM (Hopper)",
            hardware=HARDWARE,
            software="DeepGEMM (Feb-2025), NVCC 12.8",
            date="2025-02",
            method="DeepGEMM's own benchmark; throughput as reported in the README table",
            notes="FP8 E4M3 inputs with 1x128 / 128x128 block scaling, BF16 output. H800 = export H100 SXM: "
            "H100-class compute and, assumed, the same 3.35 TB/s HBM3 (only NVLink is reduced), so the rows are "
            "predicted on h100-sxm. kind normal → groups 1; grouped_contiguous / grouped_masked → `groups` GEMMs "
            "of M_per_group rows each (MoE experts); `name` keeps the kind. time = 2·groups·M·N·K / TFLOPS "
            "(agrees with the table's derived implied_time_us). Shapes are DeepSeek-V3/R1 inference shapes, no TP.",
        )
    )
    return imported


def _gemm_row(row: pd.Series) -> dict:
    return dict(
        dataset=DATASET,
        op="gemm",
        name=f"deepgemm_{row['kind']}",
        dtype="fp8",
        m=int(row["M_per_group"]),
        n=int(row["N"]),
        k=int(row["K"]),
        groups=int(row["groups"]),
        time_s=row["time_s"],
    )
