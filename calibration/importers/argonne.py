"""Argonne LLM-Inference-Bench (arXiv 2411.00136): end-to-end batch latency for vLLM and TensorRT-LLM.

Validation-only data (mostly one run per point, some implausible values). Kept: metric `e2e_latency`, frameworks
vLLM and TensorRT-LLM (llama.cpp's batch is a prompt micro-batch of one sequence, not concurrent sequences).
input = output = the length column; batch = batch_size; tp = n_devices unless the parallelism label says
otherwise. One dataset per (hardware, framework).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers._source import (
    apply_rows,
    build_records,
    collapse_duplicates,
    read_source_table,
    require_values,
)
from idealrt.calibration.records import EndToEndMeasurement, Provenance

COMMIT = "4211f5d4e9bc0145ed541b6d372d5d8223b44235"
CITATION = f"https://github.com/argonne-lcf/LLM-Inference-Bench/tree/{COMMIT}/Plots"
COLUMNS = (
    "source_file",
    "hardware",
    "n_devices",
    "framework",
    "model",
    "input_len",
    "output_len",
    "batch_size",
    "parallelism",
    "weight_dtype",
    "kv_dtype",
    "metric",
    "value",
    "unit",
)
METRIC = "e2e_latency"
FRAMEWORKS = {"vLLM": "vllm", "TensorRT-LLM": "trtllm"}
# hardware as the repo names it → (short name, our id, caveat)
HARDWARE = {
    "Nvidia A100 GPU": (
        "a100",
        "a100-sxm-40gb",
        "The A100 variant is not stated in the repo; ALCF Polaris nodes are A100-SXM4-40GB (unverified).",
    ),
    "Nvidia H100 GPU": ("h100", "h100-sxm", "NVIDIA H100 80GB HBM3 (SXM5) per nvidia-smi in the repo; 4 per node."),
    "AMD MI300X GPU": ("mi300x", "mi300x", ""),
    "Nvidia GH200 GPU": ("gh200", "gh200", ""),
    "Habana Gaudi2": ("gaudi2", "gaudi2", ""),
}
MODELS = {
    "meta-llama/Llama-2-7b-hf": "llama-2-7b",
    "meta-llama/Llama-2-70b-hf": "llama-2-70b",
    "meta-llama/Meta-Llama-3-8B": "llama-3.1-8b",
    "meta-llama/Meta-Llama-3-70B": "llama-3.1-70b",
    "mistralai/Mistral-7B-v0.1": "mistral-7b",
    "mistralai/Mixtral-8x7B-v0.1": "mixtral-8x7b",
    "Qwen/Qwen2-7B": "qwen2.5-7b",
    "Qwen/Qwen2-72B": "qwen2.5-72b",
    "Qwen/Qwen1.5-7B": "qwen1.5-7b",
    "EleutherAI/gpt-j-6b": "gpt-j-6b",
    "huggyllama/llama-7b": "llama-7b",
    "facebook/opt-6.7b": "opt-6.7b",
    "bigscience/bloom-7b1": "bloom-7b1",
    "BAAI/Aquila-7B": "aquila-7b",
}  # Deci/DeciLM-7B: per-layer KV-head counts, which a spec cannot express
# Mapped to a later release with the same architecture (layers, widths, heads, KV heads, vocabulary, biases);
# they differ only in max context / RoPE scaling, which nothing at these lengths (≤ 2048 + 2048) depends on.
TWINS_NOTE = (
    "Architecture twins: Meta-Llama-3-8B/70B → llama-3.1-8b/70b and Qwen2-7B/72B → qwen2.5-7b/72b "
    "(identical layer shapes; only max context / RoPE scaling differ)."
)


def parse_parallelism(label: object, devices: int) -> tuple[int, int] | None:
    """(tp, pp) from the Fig-5 labels ('Tensor Parallelism', 'PP', 'Hybrid TP = 2 and PP = 2', ...); blank means
    tensor parallelism over every device. None for what we cannot express: expert parallelism (TRT-LLM keeps
    attention tensor-parallel over all devices, whereas our `ep` makes attention data-parallel)."""
    if not isinstance(label, str) or not label.strip():
        return devices, 1
    text = label.lower()
    if re.search(r"\bep\b|expert", text):
        return None
    if "hybrid" in text or "hybird" in text:
        tp = re.search(r"(?:tp\s*=\s*|tensor\s*\()(\d+)", text)
        pp = re.search(r"(?:pp\s*=\s*|pipeline\s*\()(\d+)", text)
        if tp is None or pp is None or int(tp.group(1)) * int(pp.group(1)) != devices:
            return None
        return int(tp.group(1)), int(pp.group(1))
    if text in ("tp", "tensor parallelism"):
        return devices, 1
    if text in ("pp", "pipeline parallelism"):
        return 1, devices
    return None


def _dtype(label: object) -> str:
    """'fp16 (default; not per-row)' → fp16; blank (KV) → fp16, the run scripts' --dtype float16."""
    return str(label).split()[0] if isinstance(label, str) and label.strip() else "fp16"


def import_argonne(source_dir: Path) -> ImportedDataset:
    path = source_dir / "llm_inference_bench_long.csv"
    frame = read_source_table(path, COLUMNS)
    imported = ImportedDataset()
    latency = frame[frame["metric"] == METRIC]
    imported.skip(
        "argonne metrics other than e2e_latency (throughput, derived per-token, TTFT files)", len(frame) - len(latency)
    )
    require_values(
        latency, ("hardware", "n_devices", "framework", "model", "input_len", "output_len", "batch_size", "value"), path
    )
    framework_ok = latency["framework"].isin(list(FRAMEWORKS))
    imported.skip(
        "argonne frameworks other than vLLM / TensorRT-LLM (llama.cpp batch semantics differ)",
        int((~framework_ok).sum()),
    )
    latency = latency[framework_ok]
    hardware_ok = latency["hardware"].isin(list(HARDWARE))
    for name, count in latency.loc[~hardware_ok, "hardware"].value_counts().sort_index().items():
        imported.skip(f"argonne hardware '{name}' has no id", int(count))
    latency = latency[hardware_ok]
    model_ok = latency["model"].isin(list(MODELS))
    for name, count in latency.loc[~model_ok, "model"].value_counts().sort_index().items():
        imported.skip(f"argonne model '{name}' has no id", int(count))
    latency = latency[model_ok].copy()
    parsed = [
        parse_parallelism(label, int(n)) for label, n in zip(latency["parallelism"], latency["n_devices"], strict=True)
    ]
    understood = pd.Series([p is not None for p in parsed], index=latency.index)
    for label, count in latency.loc[~understood, "parallelism"].value_counts().sort_index().items():
        imported.skip(f"argonne parallelism '{label}' cannot be expressed (expert parallelism)", int(count))
    latency["tp"] = [p[0] if p else 0 for p in parsed]
    latency["pp"] = [p[1] if p else 0 for p in parsed]
    latency = latency[understood]
    latency["weights"] = latency["weight_dtype"].map(_dtype)
    latency["kv"] = latency["kv_dtype"].map(_dtype)
    for (hardware, framework), rows in latency.groupby(["hardware", "framework"], sort=True):
        short, hardware_id, caveat = HARDWARE[hardware]
        dataset = f"argonne-{short}-{FRAMEWORKS[framework]}"
        keys = ["model", "tp", "pp", "batch_size", "input_len", "output_len", "weights", "kv"]
        collapsed, merged = collapse_duplicates(rows, keys, ["value"])
        imported.e2e += build_records(
            apply_rows(collapsed, lambda row: _e2e_row(dataset, row)), EndToEndMeasurement, path
        )
        imported.provenance.append(_provenance(dataset, hardware, hardware_id, framework, caveat, rows, merged))
    return imported


def _e2e_row(dataset: str, row: pd.Series) -> dict:
    return dict(
        dataset=dataset,
        model=MODELS[row["model"]],
        tp=int(row["tp"]),
        pp=int(row["pp"]),
        batch=int(row["batch_size"]),
        prompt_tokens=int(row["input_len"]),
        output_tokens=int(row["output_len"]),
        weights_dtype=row["weights"],
        kv_dtype=row["kv"],
        metric="e2e",
        time_s=float(row["value"]),
    )


def _provenance(
    dataset: str, hardware: str, hardware_id: str, framework: str, caveat: str, rows: pd.DataFrame, merged: int
) -> Provenance:
    files = ", ".join(sorted(rows["source_file"].unique()))
    return Provenance(
        dataset=dataset,
        citation=CITATION,
        device=hardware,
        hardware=hardware_id,
        software=f"{framework} (release not pinned in the repo; mid-2024), fp16 unless weights_dtype says otherwise",
        date="2024 (paper arXiv 2411.00136; repo commit 2025-07-18)",
        method="wall time to finish a static batch (prefill + decode of output_len tokens); mostly one run per "
        "point; values unchanged from the repo's plot CSVs",
        notes=f"VALIDATION ONLY, moderate trust. From {files}. metric e2e; prompt = output = the repo's single "
        "'Input Output Length' value; batch = concurrent sequences; tp = n_devices unless the Fig-5 parallelism "
        "label says PP or hybrid TP x PP (expert-parallel labels skipped). KV dtype fp16 where not given. "
        f"{merged} duplicate points (same model, parallelism, batch, length, dtypes; mostly the same value in two "
        "of the repo's files, some up to 1.9x apart) collapsed to their median. "
        f"Some points are physically implausible (e.g. 2048 output tokens in ~0.05 s: runs that stopped early "
        f"or exceeded the model's context); the builder drops rows below the memory floor "
        f"(weights + KV cache read once per decode step) or beyond the model's max context. {TWINS_NOTE} {caveat}",
    )
