"""Microsoft Vidur profiling data: fp16 GEMMs, elementwise ops, attention, collectives (times in ms).

Source folder layout and semantics: `vidur/README.md` of the shared data (compute/, attention_a100_legacy/,
network/). Elementwise ops and attention live in their own modules; this one holds the GEMMs, the
collectives, the provenance texts and the entry point.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers._source import (
    MS,
    apply_rows,
    build_records,
    collapse_duplicates,
    read_source_table,
    require_values,
)
from idealrt.calibration.importers._vidur_common import CITATION, COMPUTE_HARDWARE, compute_provenance
from idealrt.calibration.importers.vidur_attention import import_vidur_attention
from idealrt.calibration.importers.vidur_elementwise import import_vidur_elementwise
from idealrt.calibration.records import OpMeasurement, Provenance
from idealrt.simulator.errors import UserError

# network_device → (our hardware id, device as the source names it). a40: no id for it.
NETWORK_HARDWARE = {
    "a100_dgx": ("a100-sxm-80gb", "DGX A100: 8x A100-80GB SXM, NVSwitch"),
    "h100_dgx": ("h100-sxm", "DGX H100: 8x H100 SXM, NVSwitch"),
    "a100_pairwise_nvlink": ("a100-pcie-80gb", "Azure NC96ads A100 v4: 4x A100-80GB PCIe, NVLink bridges in pairs"),
    "h100_pairwise_nvlink": ("h100-nvl", "4x H100 NVL, NVLink bridges in pairs"),
    "a40_pairwise_nvlink": ("a40", "A40, NVLink bridges in pairs"),
}
# README: this file is a byte-identical copy of the A100 pairwise one, not an H100 measurement.
DUPLICATED_BLOB = ("h100_pairwise_nvlink", "send_recv")

GEMM_COLUMNS = ("gpu", "model", "tp", "op", "M", "N", "K", "dtype", "median_ms", "std_ms", "flops")
COLLECTIVE_COLUMNS = (
    "network_device",
    "collective",
    "num_workers",
    "devices_per_node",
    "rank",
    "size_elems_fp16",
    "size_bytes",
    "median_ms",
    "std_ms",
)


def import_vidur(source_dir: Path) -> ImportedDataset:
    imported = ImportedDataset()
    imported.extend(import_vidur_gemms(source_dir / "compute" / "gemm_ops_long.csv"))
    imported.extend(import_vidur_elementwise(source_dir / "compute" / "mlp_ops_median_ms.csv"))
    imported.extend(import_vidur_attention(source_dir / "attention_a100_legacy" / "attention_long.csv"))
    imported.extend(import_vidur_collectives(source_dir / "network" / "collectives_long.csv"))
    return imported


def import_vidur_gemms(path: Path) -> ImportedDataset:
    frame = read_source_table(path, GEMM_COLUMNS)
    require_values(frame, GEMM_COLUMNS, path)
    wrong_flops = frame[frame["flops"] != 2 * frame["M"] * frame["N"] * frame["K"]]
    if len(wrong_flops):
        raise UserError(f"{path}:{wrong_flops['_line'].iloc[0]}: flops column is not 2*M*N*K; shapes misread?")
    imported = ImportedDataset()
    for gpu, rows in frame.groupby("gpu", sort=True):
        if gpu not in COMPUTE_HARDWARE:
            imported.skip(f"vidur GEMM on '{gpu}': no hardware id", len(rows))
            continue
        dataset = f"vidur-{gpu}-gemm"
        # Same op and shape from another model or a repeated num_tokens: one kernel, one row. Different ops of one
        # shape stay apart (attn_pre_proj may carry a fused bias; the source shows ~5% between them).
        collapsed, merged = collapse_duplicates(rows, ["op", "M", "N", "K", "dtype"], ["median_ms", "std_ms"])
        imported.ops += build_records(apply_rows(collapsed, lambda row: _gemm_row(dataset, row)), OpMeasurement, path)
        imported.provenance.append(
            compute_provenance(
                dataset,
                gpu,
                f"Linear-layer GEMMs (attn_pre_proj, attn_post_proj, mlp_up_proj, mlp_down_proj) of "
                f"{rows['model'].nunique()} models at TP 1-8 emulated on one GPU (per-GPU shard shapes), "
                "M = tokens. `name` = the source op.",
                f"{merged} of {len(rows)} rows repeated an (op, M, N, K) already seen (another model with the same "
                "shard shape, or a repeated num_tokens measurement) and were collapsed to one row: the median of their "
                "medians and of their stds.",
            )
        )
    return imported


def _gemm_row(dataset: str, row: pd.Series) -> dict:
    return dict(
        dataset=dataset,
        op="gemm",
        name=row["op"],
        dtype=row["dtype"],
        m=int(row["M"]),
        n=int(row["N"]),
        k=int(row["K"]),
        time_s=row["median_ms"] * MS,
        time_s_std=row["std_ms"] * MS,
        repeats=20,
    )


def import_vidur_collectives(path: Path) -> ImportedDataset:
    frame = read_source_table(path, COLLECTIVE_COLUMNS)
    require_values(frame, COLLECTIVE_COLUMNS, path)
    if not (frame["size_bytes"] == 2 * frame["size_elems_fp16"]).all():
        raise UserError(f"{path}: size_bytes is not 2 x size_elems_fp16; units changed?")
    imported = ImportedDataset()
    rank0 = frame[frame["rank"] == 0]
    imported.skip("vidur collectives: ranks other than 0 (same call timed on another GPU)", len(frame) - len(rank0))
    is_duplicate_blob = (rank0["network_device"] == DUPLICATED_BLOB[0]) & (rank0["collective"] == DUPLICATED_BLOB[1])
    imported.skip(
        "vidur h100_pairwise_nvlink send_recv: byte-identical copy of the A100 pairwise file (README)",
        int(is_duplicate_blob.sum()),
    )
    multi_node_all_reduce = (rank0["collective"] == "all_reduce") & (rank0["devices_per_node"] != rank0["num_workers"])
    imported.skip(
        "vidur all_reduce spanning several nodes (only single-node TP groups kept)", int(multi_node_all_reduce.sum())
    )
    kept = rank0[~is_duplicate_blob & ~multi_node_all_reduce]
    for device, rows in kept.groupby("network_device", sort=True):
        if device not in NETWORK_HARDWARE:
            imported.skip(f"vidur collectives on '{device}': no hardware id", len(rows))
            continue
        hardware, device_name = NETWORK_HARDWARE[device]
        dataset = f"vidur-{device.replace('_', '-')}-collectives"
        keys = ["collective", "num_workers", "devices_per_node", "size_elems_fp16"]
        collapsed, merged = collapse_duplicates(rows, keys, ["median_ms", "std_ms"])
        records = apply_rows(collapsed, lambda row: _collective_row(dataset, row))
        imported.ops += build_records(records, OpMeasurement, path)
        imported.provenance.append(
            Provenance(
                dataset=dataset,
                citation=CITATION,
                device=device_name,
                hardware=hardware,
                software="Vidur collectives profiler (torch.distributed, NCCL)",
                date="2024-11-19 (commit)",
                method="collective inside a CUDA graph, 5 warm-ups; median over the measured calls; rank 0's timing",
                notes=_collective_notes(device, set(rows["collective"]), merged),
            )
        )
    return imported


def _collective_notes(device: str, collectives: set[str], merged: int) -> str:
    notes = [f"{', '.join(sorted(collectives))}; payload_bytes = 2 x fp16 elements."]
    if "all_reduce" in collectives:
        notes.append("all_reduce: only groups inside one node (devices_per_node == group_size).")
    if "send_recv" in collectives:
        notes.append("send_recv: devices_per_node 1 means the two GPUs sit on two nodes.")
    if device == DUPLICATED_BLOB[0]:
        notes.append("The source's send_recv file here is a byte-identical copy of the A100 pairwise one: dropped.")
    notes.append(
        f"{merged} duplicate shapes collapsed to their median. Vidur's CUDA-graph timing looks optimistic: "
        "8-GPU A100 all-reduce of 64 MiB gives ~286 GB/s busbw vs 171 GB/s from nccl-tests (ml-engineering)."
    )
    return " ".join(notes)


def _collective_row(dataset: str, row: pd.Series) -> dict:
    return dict(
        dataset=dataset,
        op="collective",
        name=row["collective"],
        dtype="fp16",
        collective=row["collective"],
        group_size=int(row["num_workers"]),
        payload_bytes=2.0 * row["size_elems_fp16"],
        devices_per_node=int(row["devices_per_node"]),
        time_s=row["median_ms"] * MS,
        time_s_std=row["std_ms"] * MS,
    )
