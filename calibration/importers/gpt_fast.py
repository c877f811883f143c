"""PyTorch gpt-fast batch-1 decode speeds (README tables at two commits) → mean decode-step times (tpot).

time_s = 1 / tokens_per_s. gpt-fast's generate.py measures tokens/s over a whole `generate` call (5-token
prefill + `max_new_tokens`, default 200, as the README benchmarks ran); the one prefill is ~0.5% of that time
and is not removed. Datasets per GPU: the newer commit (TP with ENABLE_INTRA_NODE_COMM=1) holds every row it
has; the older commit contributes only its TP>1 rows (TP without intra-node comm), its TP1 rows repeat the newer
commit's exactly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers._source import apply_rows, build_records, read_source_table, require_values
from idealrt.calibration.records import EndToEndMeasurement, Provenance
from idealrt.simulator.errors import UserError

COLUMNS = ("source_commit", "gpu", "model", "weights", "tp", "batch", "prompt_len", "metric", "value", "unit")
NEW_COMMIT = "0f925b5d4ce457b89a7ca6c9ce50f42bf2576945"
OLD_COMMIT = "d2c5d8223fd00ab5ce469d8fdd93a7de78fb8b4a"
DATASET_SUFFIX = {NEW_COMMIT: "", OLD_COMMIT: "-tp-no-intranode-comm"}
OUTPUT_TOKENS = 200  # generate.py --max_new_tokens default, used by the README's benchmark runs
MODELS = {
    "meta-llama/Llama-2-7b-chat-hf": "llama-2-7b",
    "meta-llama/Llama-2-13b-chat-hf": "llama-2-13b",
    "meta-llama/Llama-2-70b-chat-hf": "llama-2-70b",
}
# gpu label prefix → (dataset stem, our id, device, caveat)
GPUS = {
    "A100-80GB": (
        "gpt-fast-a100",
        "a100-sxm-80gb",
        "A100-80GB SXM, power-limited to 330 W (8xA100 node)",
        "The A100s were power-capped at 330 W (stock 400 W): README says the empirical peak bandwidth was "
        "~1700 GB/s, below the 2039 GB/s datasheet; expect lower efficiency than stock.",
    ),
    "MI250X (1 GCD)": (
        "gpt-fast-mi250x",
        "mi250x",
        "AMD MI250X, one GCD",
        "One GCD of an MI250X package (our mi250x id is one GCD).",
    ),
}


def weights_dtype(label: str) -> str:
    """'bf16 (Base)' → bf16, 'int8 weight-only' → int8, 'int4 weight-only G=32' → int4."""
    for dtype in ("bf16", "int8", "int4"):
        if label.startswith(dtype):
            return dtype
    raise ValueError(label)


def import_gpt_fast(source_dir: Path) -> ImportedDataset:
    path = source_dir / "gpt_fast_decode_bs1.csv"
    frame = read_source_table(path, COLUMNS)
    require_values(frame, COLUMNS, path)
    if not (frame["unit"] == "tokens/s").all():
        raise UserError(f"{path}: expected every value in tokens/s")
    imported = ImportedDataset()
    frame["gpu_key"] = frame["gpu"].map(lambda label: next((key for key in GPUS if label.startswith(key)), None))
    imported.skip("gpt-fast rows on a GPU without an id", int(frame["gpu_key"].isna().sum()))
    known_model = frame["model"].isin(list(MODELS))
    for model, count in frame.loc[~known_model, "model"].value_counts().sort_index().items():
        imported.skip(f"gpt-fast model '{model}' has no catalog id", int(count))
    old_tp1 = (frame["source_commit"] == OLD_COMMIT) & (frame["tp"] == 1)
    imported.skip("gpt-fast TP1 rows of the older commit: identical to the newer commit's", int(old_tp1.sum()))
    kept = frame[frame["gpu_key"].notna() & known_model & ~old_tp1]
    unknown_commit = ~kept["source_commit"].isin(list(DATASET_SUFFIX))
    if unknown_commit.any():
        raise UserError(f"{path}:{kept.loc[unknown_commit, '_line'].iloc[0]}: unknown source_commit")
    for (gpu_key, commit), rows in kept.groupby(["gpu_key", "source_commit"], sort=False):
        dataset = GPUS[gpu_key][0] + DATASET_SUFFIX[commit]
        imported.e2e += build_records(
            apply_rows(rows, lambda row: _tpot_row(dataset, row, path)), EndToEndMeasurement, path
        )
        imported.provenance.append(_provenance(dataset, gpu_key, commit, has_tp=bool((rows["tp"] > 1).any())))
    return imported


def _tpot_row(dataset: str, row: pd.Series, path: Path) -> dict:
    try:
        dtype = weights_dtype(str(row["weights"]))
    except ValueError:
        raise UserError(f"{path}:{row['_line']}: unknown weights '{row['weights']}'") from None
    return dict(
        dataset=dataset,
        model=MODELS[row["model"]],
        tp=int(row["tp"]),
        batch=int(row["batch"]),
        prompt_tokens=int(row["prompt_len"]),
        output_tokens=OUTPUT_TOKENS,
        weights_dtype=dtype,
        kv_dtype="bf16",
        metric="tpot",
        time_s=1.0 / float(row["value"]),
    )


def _provenance(dataset: str, gpu_key: str, commit: str, has_tp: bool) -> Provenance:
    stem, hardware, device, caveat = GPUS[gpu_key]
    tp_note = (
        ""
        if not has_tp
        else "TP with ENABLE_INTRA_NODE_COMM=1 (8xA100 hybrid cube mesh)."
        if commit == NEW_COMMIT
        else f"Only the TP>1 rows: TP without ENABLE_INTRA_NODE_COMM (older README); TP1 rows are in {stem}."
    )
    return Provenance(
        dataset=dataset,
        citation=f"https://github.com/pytorch-labs/gpt-fast/blob/{commit}/README.md",
        device=device,
        hardware=hardware,
        software="gpt-fast (torch.compile, bf16 activations; int8/int4 weight-only quantisation)",
        date="2023-12 / 2024 (README tables)",
        method="generate.py: tokens generated / wall time of generate(), batch 1, 5-token prompt; transcribed",
        notes="metric tpot: time_s = 1 / (tokens/s). output_tokens = 200 assumed: generate.py's --max_new_tokens "
        "default, which the README benchmarks ran with; the rate includes the one 5-token prefill (~0.5% of "
        f"the time, not removed). {caveat} int4 = group size 32. KV cache bf16. {tp_note}".strip(),
    )
