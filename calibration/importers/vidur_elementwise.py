"""Vidur's memory-bound ops (norms, rotary, activation, residual add, embedding lookup), with bytes and FLOPs
taken from the simulator's own op formulas so that a fit compares like with like.

Each source op is rebuilt with the `simulator.ops.elementwise` function the op graph uses for it (same symbols,
same sharding over tp) and evaluated at the row's numbers; fp16 → 2 bytes per activation and parameter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers._source import MS, build_records, read_source_table, require_values
from idealrt.calibration.importers._vidur_common import COMPUTE_HARDWARE, compute_provenance
from idealrt.calibration.records import OpMeasurement
from idealrt.simulator.evaluate import evaluate
from idealrt.simulator.ops import elementwise as ew
from idealrt.simulator.ops import symbols as sym
from idealrt.simulator.ops.cost import OpCost

SOURCE_OPS = ("input_layernorm", "post_attention_layernorm", "attn_rope", "mlp_act", "add", "emb")
MODEL_COLUMNS = (
    "gpu",
    "model",
    "tp",
    "num_tokens",
    "n_head",
    "n_kv_head",
    "n_embd",
    "n_expanded_embd",
    "vocab_size",
    "use_gated_mlp",
)
FP16_BYTES = 2.0
# The table does not name the norm or activation. Gated MLPs here are Llama-style (RMSNorm, SiLU-and-mul);
# the only ungated model, phi-2, uses LayerNorm and GELU (its config), with no post-attention norm (parallel block).
GATED_KINDS = ("rmsnorm", "swiglu")
UNGATED_KINDS = ("layernorm", "gelu")


def simulator_op(source_op: str, norm_kind: str, activation_kind: str, gated: bool) -> tuple[str, OpCost]:
    """The simulator's op for a Vidur op name (as `simulator.graph` builds it), and the formula's name."""
    rows = sym.tokens
    if source_op in ("input_layernorm", "post_attention_layernorm"):
        return norm_kind, ew.norm(source_op, "norm", norm_kind, rows, sym.h)
    if source_op == "attn_rope":
        # Full head_dim rotated, as the simulator counts it (phi-2 rotates 40% of each head in HF; Vidur's
        # profiling config is not shipped, so which width its kernel rotated is unknown).
        width = (sym.n_q / sym.tp + sym.kv_heads_per_device) * sym.d_head
        return "rotary", ew.rotary(source_op, "rotary embedding of Q and K", rows, width)
    if source_op == "mlp_act":
        return activation_kind, ew.activation(
            source_op, "MLP activation", activation_kind, rows, sym.f / sym.tp, gated=gated
        )
    if source_op == "add":
        return "add", ew.add(source_op, "residual add", rows, sym.h)
    if source_op == "emb":
        return "lookup", ew.lookup(
            source_op, "vocabulary-parallel embedding lookup", rows, sym.h, table_rows=sym.V / sym.tp
        )
    raise ValueError(f"not an elementwise op: {source_op}")


def import_vidur_elementwise(path: Path) -> ImportedDataset:
    time_columns = [f"{op}_median_ms" for op in SOURCE_OPS]
    frame = read_source_table(path, MODEL_COLUMNS + tuple(time_columns))
    require_values(
        frame, [c for c in MODEL_COLUMNS + tuple(time_columns) if c != "post_attention_layernorm_median_ms"], path
    )
    imported = ImportedDataset()
    for gpu, gpu_rows in frame.groupby("gpu", sort=True):
        if gpu not in COMPUTE_HARDWARE:
            imported.skip(f"vidur elementwise on '{gpu}': no hardware id", len(gpu_rows))
            continue
        dataset = f"vidur-{gpu}-elementwise"
        long = pd.concat([_long_rows(rows) for _, rows in gpu_rows.groupby(["model", "tp"], sort=True)])
        measured = long.dropna(subset=["median_ms"])  # phi-2 has no post-attention norm
        keys = ["name", "bytes_moved", "flops"]
        collapsed = measured.groupby(keys, sort=False).agg(median_ms=("median_ms", "median"), _line=("_line", "first"))
        collapsed = collapsed.reset_index()
        merged = len(measured) - len(collapsed)
        rows = [
            dict(
                dataset=dataset,
                op="elementwise",
                name=r["name"],
                dtype="fp16",
                bytes_moved=r["bytes_moved"],
                flops=r["flops"],
                time_s=r["median_ms"] * MS,
                repeats=20,
                _line=int(r["_line"]),
            )
            for r in collapsed.to_dict(orient="records")
        ]
        imported.ops += build_records(rows, OpMeasurement, path)
        imported.provenance.append(
            compute_provenance(
                dataset,
                gpu,
                f"Memory-bound ops of {gpu_rows['model'].nunique()} models at TP 1-8 emulated on one GPU: "
                "`name` = source op / simulator formula (input_layernorm, post_attention_layernorm, attn_rope, "
                "mlp_act, add, emb). bytes_moved and flops are the simulator's formulas (simulator.ops.elementwise, "
                "as simulator.graph builds each op, tokens = num_tokens) at fp16; the source gives medians only "
                "(no std). Norm and activation kinds: RMSNorm + SiLU-and-mul for gated-MLP models, LayerNorm + "
                "GELU for phi-2. Rotary counted over the full head_dim (phi-2 rotates 40% in HF; Vidur's width "
                "unknown).",
                f"{merged} of {len(measured)} op timings had the same (name, bytes, flops) as another model's or a "
                "repeated num_tokens row and were collapsed to their median.",
            )
        )
    return imported


def _long_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """One (model, tp) block of the wide table → one row per (num_tokens, op) with bytes and FLOPs."""
    first = rows.iloc[0]
    gated = bool(first["use_gated_mlp"])
    norm_kind, activation_kind = GATED_KINDS if gated else UNGATED_KINDS
    values = {
        sym.b: rows["num_tokens"].to_numpy(dtype=float),
        sym.s: 1.0,
        sym.h: float(first["n_embd"]),
        sym.n_q: float(first["n_head"]),
        sym.n_kv: float(first["n_kv_head"]),
        sym.d_head: float(first["n_embd"]) / float(first["n_head"]),
        sym.f: float(first["n_expanded_embd"]),
        sym.V: float(first["vocab_size"]),
        sym.tp: float(first["tp"]),
        sym.a_bytes: FP16_BYTES,
        sym.p_bytes: FP16_BYTES,
    }
    blocks = []
    for source_op in SOURCE_OPS:
        formula, op = simulator_op(source_op, norm_kind, activation_kind, gated)
        blocks.append(
            pd.DataFrame(
                {
                    "name": f"{source_op}/{formula}",
                    "bytes_moved": np.round(evaluate(op.bytes_moved, values)),
                    "flops": np.round(evaluate(op.flops, values)),
                    "median_ms": rows[f"{source_op}_median_ms"].to_numpy(dtype=float),
                    "_line": rows["_line"].to_numpy(),
                }
            )
        )
    return pd.concat(blocks)
