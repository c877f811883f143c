"""Stas Bekman's *Machine Learning Engineering*: best-shape matmul ceilings (MAMF) and all-reduce sweeps.

MAMF rows become one GEMM each (the best shape found, time = 2·M·N·K / measured TFLOPS), one dataset per
accelerator. All-reduce sweeps become collective records: 8×A100 nccl-tests (time measured), 8×H200
all_reduce_bench.py (time derived from algbw by the source). The B200 sweeps give busbw only: skipped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers._source import US, apply_rows, build_records, read_source_table, require_values
from idealrt.calibration.records import OpMeasurement, Provenance
from idealrt.simulator.errors import UserError

COMMIT = "744d01e18b79512572f64a6bbd8b5f4a725203a7"
REPO = f"https://github.com/stas00/ml-engineering/blob/{COMMIT}"
MAMF_COLUMNS = ("dtype", "accelerator", "mamf_tflops", "best_shape_MxNxK", "torch_version", "notes")
ALLREDUCE_COLUMNS = ("node", "tool", "collective", "n_gpus", "nodes", "payload_bytes", "time_us", "algbw_GBps", "note")
DTYPES = {"bf16": "bf16", "fp8_e4m3fn": "fp8"}
# accelerator (as the table names it) → (our id, caveat). Others have no id: skipped and listed.
MAMF_HARDWARE = {
    "NVIDIA A100 SXM": ("a100-sxm-80gb", "The table does not say 40 or 80 GB; a compute-bound GEMM does not care."),
    "NVIDIA H100 SXM": ("h100-sxm", "The source notes 'H200 is the same' for bf16."),
    "NVIDIA H200 SXM": ("h200-sxm", ""),
    "AMD MI300X": ("mi300x", ""),
    "AMD MI325X": ("mi325x", ""),
    "Intel Gaudi 3": ("gaudi3", "Shipping parts run the MME at 1.6 GHz (~1677 TFLOPS peak, not 1835)."),
    "NVIDIA B200 SXM": ("b200", ""),
    "NVIDIA GH200 SXM": ("gh200", ""),  # kept only if the catalog has the id
    "Intel Gaudi 2": ("gaudi2", ""),  # kept only if the catalog has the id
}
# node label prefix → (dataset, our id, dtype, caveat)
ALLREDUCE_NODES = {
    "8x A100": (
        "mleng-allreduce-a100",
        "a100-sxm-80gb",
        "fp32",
        "nccl-tests all_reduce_perf -g 8 -n 50, float32 (its default); time_us measured (per all-reduce). "
        "A100 memory size (40/80 GB) not stated; irrelevant to NVLink all-reduce.",
    ),
    "8x H200": (
        "mleng-allreduce-h200",
        "h200-sxm",
        "fp32",
        "all_reduce_bench.py (torch 2.9.1+cu130, NCCL 2.27.7); time DERIVED by the source as payload / algbw "
        "(algbw printed with 2 decimals: up to ~1% rounding at the smallest payloads). NVLS/SHARP was "
        "active (the doc gives 482 GB/s busbw at 16 GiB with it vs 368 without): in-switch reduction, "
        "faster than a ring. dtype assumed float32 (the script's tensor; the README does not restate it).",
    ),
}


def import_ml_engineering(source_dir: Path) -> ImportedDataset:
    imported = ImportedDataset()
    imported.extend(import_mamf(source_dir / "mamf_matmul_tflops.csv"))
    imported.extend(import_allreduce(source_dir / "allreduce_measurements.csv"))
    return imported


def import_mamf(path: Path) -> ImportedDataset:
    frame = read_source_table(path, MAMF_COLUMNS)
    require_values(frame, ("dtype", "accelerator", "mamf_tflops", "best_shape_MxNxK"), path)
    imported = ImportedDataset()
    unknown = sorted(set(frame["accelerator"]) - set(MAMF_HARDWARE))
    imported.skip(
        f"MAMF accelerators without an id: {', '.join(unknown)}",
        int((~frame["accelerator"].isin(list(MAMF_HARDWARE))).sum()),
    )
    for accelerator, rows in frame[frame["accelerator"].isin(list(MAMF_HARDWARE))].groupby("accelerator", sort=True):
        hardware, caveat = MAMF_HARDWARE[accelerator]
        dataset = f"mleng-mamf-{hardware}"
        imported.ops += build_records(apply_rows(rows, lambda row: _mamf_row(dataset, row, path)), OpMeasurement, path)
        settings = "; ".join(_setting(row) for _, row in rows.iterrows())
        imported.provenance.append(
            Provenance(
                dataset=dataset,
                citation=f"{REPO}/compute/accelerator/README.md (Maximum Achievable Matmul FLOPS comparison table)",
                device=accelerator,
                hardware=hardware,
                software=settings,
                date="2025 (table at the commit)",
                method="mamf-finder brute-force shape search; torch.matmul mean "
                "of 100 iterations after 50 warm-ups; the best shape's TFLOPS",
                notes="One GEMM per dtype: the best shape found, time = 2·M·N·K / MAMF. The realistic compute ceiling, "
                f"not a typical shape. {caveat}".strip(),
            )
        )
    return imported


def _setting(row: pd.Series) -> str:
    extra = f", {row['notes']}" if isinstance(row["notes"], str) else ""
    return f"{row['dtype']}: torch {row['torch_version']}{extra}"


def _mamf_row(dataset: str, row: pd.Series, path: Path) -> dict:
    try:
        m, n, k = (int(part) for part in str(row["best_shape_MxNxK"]).split("x"))
    except ValueError:
        raise UserError(f"{path}:{row['_line']}: best_shape_MxNxK '{row['best_shape_MxNxK']}' is not MxNxK") from None
    if row["dtype"] not in DTYPES:
        raise UserError(f"{path}:{row['_line']}: unknown dtype '{row['dtype']}'")
    return dict(
        dataset=dataset,
        op="gemm",
        name="mamf_best_shape",
        dtype=DTYPES[row["dtype"]],
        m=m,
        n=n,
        k=k,
        time_s=2.0 * m * n * k / (row["mamf_tflops"] * 1e12),
        repeats=100,
    )


def import_allreduce(path: Path) -> ImportedDataset:
    frame = read_source_table(path, ALLREDUCE_COLUMNS)
    require_values(frame, ("node", "collective", "n_gpus", "nodes", "payload_bytes"), path)
    imported = ImportedDataset()
    timed = frame.dropna(subset=["time_us"])
    imported.skip("ml-engineering all-reduce rows with busbw only (B200 nodes): no time", len(frame) - len(timed))
    for prefix, (dataset, hardware, dtype, caveat) in ALLREDUCE_NODES.items():
        rows = timed[timed["node"].str.startswith(prefix)]
        if rows.empty:
            continue
        implied = rows["payload_bytes"] / (rows["algbw_GBps"] * 1e9)
        if ((rows["time_us"] * US - implied).abs() > 0.02 * implied).any():
            raise UserError(f"{path}: time_us disagrees with payload / algbw for '{prefix}'; units?")
        records = apply_rows(rows, lambda row: _allreduce_row(dataset, dtype, row))
        imported.ops += build_records(records, OpMeasurement, path)
        imported.provenance.append(
            Provenance(
                dataset=dataset,
                citation=f"{REPO}/network/README.md",
                device=rows["node"].iloc[0],
                hardware=hardware,
                software=str(rows["tool"].iloc[0]),
                date="2025 (README at the commit)",
                method="nccl-tests / all_reduce_bench.py sweep, one time per payload",
                notes=caveat,
            )
        )
    leftover = timed[~timed["node"].str.startswith(tuple(ALLREDUCE_NODES))]
    imported.skip("ml-engineering all-reduce rows on nodes without an id", len(leftover))
    return imported


def _allreduce_row(dataset: str, dtype: str, row: pd.Series) -> dict:
    return dict(
        dataset=dataset,
        op="collective",
        name=row["collective"],
        dtype=dtype,
        collective=row["collective"],
        group_size=int(row["n_gpus"]),
        payload_bytes=float(row["payload_bytes"]),
        devices_per_node=int(row["n_gpus"]) // int(row["nodes"]),
        time_s=row["time_us"] * US,
        repeats=50 if "-n 50" in str(row["tool"]) else None,
    )
