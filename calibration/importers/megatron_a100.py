"""Megatron-LM end-to-end generation times on A100 80GB (HELM-efficiency logs, Narayanan et al. 2023).

Each row is one request: batch 1, `prompt_tokens` in, exactly `output_tokens` out, mean of 50 runs. The five
architectures are Megatron's own GPT model at other sizes, so they ship as model specs with the dataset.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers._source import apply_rows, build_records, read_source_table, require_values
from idealrt.calibration.records import EndToEndMeasurement, Provenance
from idealrt.simulator.errors import UserError
from idealrt.simulator.model.spec import ModelSpec

COMMIT = "c31b8fcc2b990b629173d7c898f1cdfae929c9a4"
CITATION = f"https://github.com/stanford-crfm/helm-efficiency/tree/{COMMIT}/logs/a100"
DATASET = "megatron-a100"
HARDWARE = "a100-sxm-80gb"
ARCHITECTURE = ("layers", "hidden", "heads", "ffn", "padded_vocab", "tp", "pp", "params_rank0")
COLUMNS = ("model", "gpu", *ARCHITECTURE, "dtype", "prompt_tokens", "output_tokens", "runtime_s", "std_s")
# log name → (our id, display name)
MODELS = {
    "openai_ada": ("megatron-openai-ada", "OpenAI ada-sized GPT (350M) in Megatron-LM"),
    "gptj_6b": ("megatron-gptj-6b", "GPT-J-6B-sized GPT in Megatron-LM"),
    "gpt_neox_20b": ("megatron-gpt-neox-20b", "GPT-NeoX-20B-sized GPT in Megatron-LM"),
    "anthropic": ("megatron-anthropic-52b", "Anthropic 52B-sized GPT in Megatron-LM"),
    "openai_davinci": ("megatron-openai-davinci", "OpenAI davinci-sized GPT (175B) in Megatron-LM"),
}
MAX_CONTEXT = 2048
REPEATS = 50


def import_megatron_a100(source_dir: Path) -> ImportedDataset:
    path = source_dir / "megatron_a100_generate.csv"
    frame = read_source_table(path, COLUMNS)
    require_values(frame, COLUMNS, path)
    imported = ImportedDataset()
    unknown = ~frame["model"].isin(list(MODELS))
    for model, count in frame.loc[unknown, "model"].value_counts().sort_index().items():
        imported.skip(f"megatron model '{model}' has no spec here", int(count))
    kept = frame[~unknown]
    for log_name, rows in kept.groupby("model", sort=True):
        shapes = rows[list(ARCHITECTURE)].drop_duplicates()
        if len(shapes) != 1:
            raise UserError(f"{path}: model '{log_name}' has {len(shapes)} different architectures or TP degrees")
        imported.models.append(model_spec(str(log_name), shapes.iloc[0]))
    imported.e2e += build_records(apply_rows(kept, _e2e_row), EndToEndMeasurement, path)
    imported.provenance.append(
        Provenance(
            dataset=DATASET,
            citation=CITATION,
            device="A100 SXM4 80GB (HGX A100 8-GPU server, NVLink)",
            hardware=HARDWARE,
            software="Megatron-LM fork deepakn94/megatron-lm, fp16, random weights",
            date="2022 (logs; paper NeurIPS 2023)",
            method="wall clock of generate_and_post_process, mean of 50 runs after 10 warm-ups (std given)",
            notes="metric e2e: the whole request (prompt encoding + all output tokens; greedy, no early stop). "
            "Batch 1, fp16 weights and KV, TP inside one node, PP 1. Five architectures, 270 (prompt, output) points "
            "each: megatron-openai-ada, -gptj-6b, -gpt-neox-20b (TP1), -anthropic-52b (TP4), -openai-davinci (TP8); "
            "their specs ship in models/. The time includes Megatron's Python-side generation loop and "
            "post-processing (detokenisation): host overhead is part of the measurement. Whether the LM head runs "
            "on every prompt position is not stated; the fit should tell.",
        )
    )
    return imported


def model_spec(log_name: str, shape: pd.Series) -> ModelSpec:
    model_id, name = MODELS[log_name]
    tp = int(shape["tp"])
    logged = int(shape["params_rank0"]) * tp
    return ModelSpec(
        id=model_id,
        name=name,
        source=f"{CITATION} (Megatron-LM GPT model; shape from the profiling logs)",
        params_source=f"params_rank0 x tp from the log: {int(shape['params_rank0'])} x {tp} = {logged} "
        "(an upper bound: replicated parameters counted on every rank)",
        notes="Megatron runs its own GPT model for every shape: learned positions, LayerNorm, GELU, MHA, biases "
        "on all linears, input embedding tied to the output projection, sequential (not parallel-residual) "
        "blocks. GPT-J and GPT-NeoX are therefore NOT parallel-residual here, unlike their HF releases. "
        "Vocabulary: GPT-2 BPE padded as Megatron printed it.",
        num_layers=int(shape["layers"]),
        hidden_size=int(shape["hidden"]),
        num_heads=int(shape["heads"]),
        ffn_dim=int(shape["ffn"]),
        mlp="gelu",
        norm="layernorm",
        norms_per_layer=2,
        position="learned",
        vocab_size=int(shape["padded_vocab"]),
        max_context=MAX_CONTEXT,
        tied_embeddings=True,
        qkv_bias=True,
        attn_out_bias=True,
        mlp_bias=True,
        lm_head_bias=False,
        parallel_attention_mlp=False,
    )


def _e2e_row(row: pd.Series) -> dict:
    return dict(
        dataset=DATASET,
        model=MODELS[row["model"]][0],
        tp=int(row["tp"]),
        pp=int(row["pp"]),
        batch=1,
        prompt_tokens=int(row["prompt_tokens"]),
        output_tokens=int(row["output_tokens"]),
        weights_dtype="fp16",
        kv_dtype="fp16",
        metric="e2e",
        time_s=float(row["runtime_s"]),
        time_s_std=float(row["std_s"]),
        repeats=REPEATS,
    )
