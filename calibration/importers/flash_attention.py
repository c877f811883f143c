"""FlashAttention-2/-3 forward-pass throughput on H100 (FA3 paper figure), turned back into kernel times.

Only forward rows are inference; fwd+bwd rows (every A100 row among them) cannot calibrate inference and are
skipped. Time = FLOPs / throughput with the FA benchmark convention, fwd FLOPs = 4·batch·seqlen²·heads·head_dim,
halved when causal — the same count as the simulator's causal pairs up to seqlen vs seqlen+1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers._source import MS, apply_rows, build_records, read_source_table, require_values
from idealrt.calibration.records import OpMeasurement, Provenance
from idealrt.simulator.errors import UserError

COLUMNS = (
    "figure",
    "repo_commit",
    "gpu",
    "pass",
    "causal",
    "head_dim",
    "n_heads",
    "batch",
    "seqlen",
    "method",
    "tflops",
    "value_status",
    "implied_time_ms",
)
SHAPE_COLUMNS = ("causal", "head_dim", "n_heads", "batch", "seqlen")
METHODS = ("FlashAttention-2", "FlashAttention-3")  # the kernels our flash-attention formula describes
HARDWARE = {"H100-80GB-SXM5": "h100-sxm"}
DATASET = "flash-attention-h100-fwd"
ESTIMATED = "estimated"
OOM = "OOM"


def forward_flops(frame: pd.DataFrame) -> pd.Series:
    flops = 4.0 * frame["batch"] * frame["seqlen"] ** 2 * frame["n_heads"] * frame["head_dim"]
    return flops / frame["causal"].astype(int).map({0: 1, 1: 2})


def import_flash_attention(source_dir: Path) -> ImportedDataset:
    path = source_dir / "flash_attention_benchmark_figures.csv"
    frame = read_source_table(path, COLUMNS)
    require_values(frame, [c for c in COLUMNS if c not in ("tflops", "implied_time_ms")], path)
    imported = ImportedDataset()
    forward = frame[frame["pass"] == "fwd"]
    imported.skip("FlashAttention fwd+bwd (training) rows: cannot calibrate inference", len(frame) - len(forward))
    oom = forward["value_status"] == OOM
    imported.skip("FlashAttention fwd: standard attention out of memory (no value)", int(oom.sum()))
    forward = forward[~oom]
    flash = forward[forward["method"].isin(METHODS)]
    for method, count in forward.loc[~forward["method"].isin(METHODS), "method"].value_counts().sort_index().items():
        imported.skip(f"FlashAttention fwd method '{method}': not a FlashAttention-2/3 kernel", int(count))
    unknown_gpu = ~flash["gpu"].isin(list(HARDWARE))
    imported.skip("FlashAttention fwd on a GPU without an id", int(unknown_gpu.sum()))
    flash = flash[~unknown_gpu].copy()
    require_values(flash, ["tflops", "implied_time_ms"], path)
    flash["time_s"] = forward_flops(flash) / (flash["tflops"] * 1e12)
    _check_against_derived(flash, path)
    imported.ops += build_records(apply_rows(flash, _attention_row), OpMeasurement, path)
    estimated = flash.loc[flash["value_status"].str.startswith(ESTIMATED), "method"]
    commit = flash["repo_commit"].iloc[0]
    figure = flash["figure"].iloc[0]
    imported.provenance.append(
        Provenance(
            dataset=DATASET,
            citation=f"https://github.com/Dao-AILab/flash-attention/blob/{commit}/{figure}",
            device="H100 80GB SXM5",
            hardware=HARDWARE["H100-80GB-SXM5"],
            software="FlashAttention-2 and FlashAttention-3 (FA3 paper benchmark), fp16",
            date="2024-07 (FA3 paper)",
            method="FA benchmark script timing; throughput read by eye from the figure's bar labels; time recomputed "
            "as FLOPs / throughput (agrees with the table's derived column)",
            notes="Forward pass only, hidden 2048 (heads = 2048 / head_dim), batch = 16384 / seqlen, MHA "
            "(kv_heads = heads), new_tokens = context = seqlen. FLOP convention 4·b·s²·heads·head_dim, ÷2 if causal. "
            f"Values estimated from bar height (label hidden by the legend) are kept and marked in `name`: "
            f"{len(estimated)} row(s) ({', '.join(sorted(set(estimated)))}). Values are read off a figure: "
            "~1% reading error.",
        )
    )
    return imported


def _check_against_derived(frame: pd.DataFrame, path: Path) -> None:
    derived = frame["implied_time_ms"] * MS
    disagree = (frame["time_s"] - derived).abs() > 1e-3 * derived + 0.6e-4 * MS  # the column has 4 decimals
    if disagree.any():
        line = frame.loc[disagree, "_line"].iloc[0]
        raise UserError(f"{path}:{line}: implied_time_ms disagrees with the FLOP convention; units or convention?")


def _attention_row(row: pd.Series) -> dict:
    estimated = str(row["value_status"]).startswith(ESTIMATED)
    return dict(
        dataset=DATASET,
        op="attention_prefill",
        name=row["method"] + (" (estimated from bar height)" if estimated else ""),
        dtype="fp16",
        batch=int(row["batch"]),
        heads=int(row["n_heads"]),
        kv_heads=int(row["n_heads"]),
        head_dim=int(row["head_dim"]),
        new_tokens=int(row["seqlen"]),
        context=int(row["seqlen"]),
        causal=bool(int(row["causal"])),
        time_s=row["time_s"],
    )
