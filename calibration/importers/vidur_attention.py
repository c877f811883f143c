"""Vidur's legacy A100 attention profile: vLLM FlashAttention kernels, Llama-2-70B shapes at TP 2 (times in ms).

Readings (the README's, made exact for our schema, whose `context` counts the new tokens too):
- decode: `batch_size` sequences, each with `kv_cache_size` cached tokens and 1 new one → new_tokens 1,
  context = kv_cache_size + 1.
- prefill: one sequence, `prefill_chunk_size` new tokens on top of `kv_cache_size` cached ones → new_tokens =
  chunk, context = kv_cache_size + chunk, causal.
Heads are per GPU (q_heads_per_gpu, kv_heads_per_gpu): the row is one GPU's kernel.
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
from idealrt.calibration.importers._vidur_common import ATTENTION_COMMIT, COMPUTE_HARDWARE, SKU_NOTE
from idealrt.calibration.records import OpMeasurement, Provenance

COLUMNS = (
    "gpu",
    "head_dim",
    "q_heads_per_gpu",
    "kv_heads_per_gpu",
    "block_size",
    "is_prefill",
    "batch_size",
    "prefill_chunk_size",
    "kv_cache_size",
    "attn_kernel_median_ms",
    "attn_kernel_std_ms",
    "backend",
)
DATASET = "vidur-a100-attention"
SHAPE = [
    "is_prefill",
    "batch_size",
    "prefill_chunk_size",
    "kv_cache_size",
    "q_heads_per_gpu",
    "kv_heads_per_gpu",
    "head_dim",
]


def import_vidur_attention(path: Path) -> ImportedDataset:
    frame = read_source_table(path, COLUMNS)
    require_values(frame, COLUMNS, path)
    imported = ImportedDataset()
    a100 = frame[frame["gpu"] == "a100"]
    imported.skip("vidur attention on a GPU other than a100", len(frame) - len(a100))
    collapsed, merged = collapse_duplicates(a100, SHAPE, ["attn_kernel_median_ms", "attn_kernel_std_ms"])
    imported.ops += build_records(apply_rows(collapsed, _attention_row), OpMeasurement, path)
    imported.provenance.append(
        Provenance(
            dataset=DATASET,
            citation=f"https://github.com/microsoft/vidur/blob/{ATTENTION_COMMIT}/data/profiling/a100/attention.csv",
            device="A100 (vidur 'a100')",
            hardware=COMPUTE_HARDWARE["a100"],
            software=f"vLLM FlashAttention backend ({', '.join(sorted(a100['backend'].unique()))}), paged KV block "
            f"{int(a100['block_size'].iloc[0])}, fp16",
            date="2024-05-08 (commit)",
            method="Kineto (CUDA kernel time of the attention kernel only), median; input/output reshapes excluded",
            notes="Llama-2-70B attention (64 q / 8 kv heads, head_dim 128) at TP 2: 32 q / 4 kv heads per GPU. "
            "Decode: batch_size sequences with kv_cache_size cached tokens + 1 new, context = kv_cache_size + 1. "
            "Prefill: batch 1, prefill_chunk_size new tokens after kv_cache_size cached, context = cached + chunk, "
            f"causal. {merged} duplicate shapes collapsed to their median. {SKU_NOTE['a100']} The only attention "
            "profile with an available blob (the current per-model files are Git-LFS pointers): no H100 attention.",
        )
    )
    return imported


def _attention_row(row: pd.Series) -> dict:
    prefill = bool(row["is_prefill"])
    new_tokens = int(row["prefill_chunk_size"]) if prefill else 1
    return dict(
        dataset=DATASET,
        op="attention_prefill" if prefill else "attention_decode",
        name="vllm_flash_attn_prefill" if prefill else "vllm_flash_attn_decode",
        dtype="fp16",
        batch=int(row["batch_size"]),
        heads=int(row["q_heads_per_gpu"]),
        kv_heads=int(row["kv_heads_per_gpu"]),
        head_dim=int(row["head_dim"]),
        new_tokens=new_tokens,
        context=int(row["kv_cache_size"]) + new_tokens,
        causal=True if prefill else None,
        time_s=row["attn_kernel_median_ms"] * MS,
        time_s_std=row["attn_kernel_std_ms"] * MS,
    )
