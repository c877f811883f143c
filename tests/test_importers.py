"""Importers of published measurements: (a) the shipped datasets in calibration/data, (b) every importer end to end
on tiny copies of its source files (tests/data/importer_fixtures/<source>/; the full sources are not in CI)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers.argonne import parse_parallelism
from idealrt.calibration.importers.build import build, main
from idealrt.calibration.importers.registry import IMPORTERS
from idealrt.calibration.records import OpMeasurement
from idealrt.calibration.store import SHIPPED_DATA_DIR, read_e2e_records, read_op_records, read_provenance
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import hardware_ids
from idealrt.simulator.model.catalog import model_ids
from idealrt.simulator.model.spec import ModelSpec

FIXTURES = Path(__file__).parent / "data" / "importer_fixtures"
MIB = 2**20


def shipped_tables() -> dict[str, tuple[str, Path]]:
    """dataset id → (kind, path) for every shipped table."""
    return {
        path.name.split(".csv")[0]: (kind, path)
        for kind in ("ops", "e2e")
        for path in sorted((SHIPPED_DATA_DIR / kind).glob("*.csv*"))
    }


def readme_row_counts() -> dict[str, int]:
    text = (SHIPPED_DATA_DIR / "README.md").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"^\| ([a-z0-9.\-]+) \| [^|]+ \| (\d+) \|", text, re.MULTILINE)}


# --- (a) the shipped datasets ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> dict[str, list]:
    """Every shipped table, read and validated through calibration.store (≈100k rows: read once)."""
    readers = {"ops": read_op_records, "e2e": read_e2e_records}
    return {dataset: readers[kind](SHIPPED_DATA_DIR, dataset) for dataset, (kind, _) in shipped_tables().items()}


def test_every_shipped_table_validates_and_matches_its_readme_row_count(shipped: dict[str, list]) -> None:
    counts = readme_row_counts()
    assert set(counts) == set(shipped)
    for dataset, records in shipped.items():
        assert len(records) == counts[dataset], dataset
        assert {r.dataset for r in records} == {dataset}


def test_every_dataset_has_provenance_on_catalog_hardware() -> None:
    provenance = read_provenance()
    assert set(provenance) == set(shipped_tables())
    for entry in provenance.values():
        assert entry.citation and entry.device and entry.method and entry.notes, entry.dataset
        assert entry.hardware in hardware_ids(), entry.dataset


def test_e2e_models_are_in_the_catalog_or_shipped_with_the_data(shipped: dict[str, list]) -> None:
    shipped_models = {path.stem for path in (SHIPPED_DATA_DIR / "models").glob("*.yaml")}
    for path in (SHIPPED_DATA_DIR / "models").glob("*.yaml"):
        assert ModelSpec.model_validate(yaml.safe_load(path.read_text())).id == path.stem
    e2e_models = {r.model for dataset, (kind, _) in shipped_tables().items() if kind == "e2e" for r in shipped[dataset]}
    assert e2e_models <= set(model_ids()) | shipped_models


def test_vidur_a100_gemm_4096x24576x8192_takes_7_306_ms(shipped: dict[str, list]) -> None:
    """Qwen-72B attn_pre_proj at TP1: two measurements (7.306 and 7.3045 ms) collapsed to their median."""
    [row] = [r for r in shipped["vidur-a100-gemm"] if (r.name, r.m, r.n, r.k) == ("attn_pre_proj", 4096, 24576, 8192)]
    assert row.dtype == "fp16"
    assert row.time_s == pytest.approx(7.306e-3, rel=1e-3)


def test_collective_times_are_seconds(shipped: dict[str, list]) -> None:
    """A 64 MiB all-reduce over 8 A100s in one node takes between 0.1 ms and 10 ms, in every source."""
    for dataset in ("vidur-a100-dgx-collectives", "mleng-allreduce-a100"):
        rows = [
            r
            for r in shipped[dataset]
            if r.collective == "all_reduce"
            and r.group_size == 8
            and r.devices_per_node == 8
            and r.payload_bytes == pytest.approx(64 * MIB, rel=1e-5)
        ]
        assert rows, dataset
        assert all(1e-4 < r.time_s < 1e-2 for r in rows), dataset


def test_megatron_has_five_models_of_270_points(shipped: dict[str, list]) -> None:
    rows = shipped["megatron-a100"]
    assert len(rows) == 1350
    per_model = pd.Series([r.model for r in rows]).value_counts()
    assert per_model.to_dict() == {
        model: 270
        for model in (
            "megatron-openai-ada",
            "megatron-gptj-6b",
            "megatron-gpt-neox-20b",
            "megatron-anthropic-52b",
            "megatron-openai-davinci",
        )
    }
    assert {(r.model, r.tp) for r in rows if r.model.endswith(("52b", "davinci"))} == {
        ("megatron-anthropic-52b", 4),
        ("megatron-openai-davinci", 8),
    }
    assert all(r.repeats == 50 and r.metric == "e2e" and r.weights_dtype == "fp16" for r in rows)


def test_gpt_fast_llama_2_7b_bf16_decode_step_is_one_over_104_9_tokens_per_s(shipped: dict[str, list]) -> None:
    [row] = [r for r in shipped["gpt-fast-a100"] if (r.model, r.tp, r.weights_dtype) == ("llama-2-7b", 1, "bf16")]
    assert row.metric == "tpot" and row.prompt_tokens == 5 and row.output_tokens == 200
    assert row.time_s == pytest.approx(1 / 104.9, rel=1e-5)


def test_shipped_times_are_plausible_seconds(shipped: dict[str, list]) -> None:
    for records in shipped.values():
        for record in records:
            bounds = (1e-7, 10) if isinstance(record, OpMeasurement) else (1e-3, 1e4)
            assert bounds[0] < record.time_s < bounds[1], record


def test_shipped_data_stays_small() -> None:
    total = sum(path.stat().st_size for path in SHIPPED_DATA_DIR.rglob("*") if path.is_file())
    assert total < 4_000_000


# --- (b) each importer end to end on fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def imported() -> dict[str, ImportedDataset]:
    return {name: importer(FIXTURES / name) for name, importer in IMPORTERS.items()}


def test_every_importer_yields_rows_with_provenance(imported: dict[str, ImportedDataset]) -> None:
    for name, result in imported.items():
        datasets = {r.dataset for r in result.ops + result.e2e}
        assert datasets and datasets == set(result.dataset_ids()), name


def test_vidur_fixture(imported: dict[str, ImportedDataset]) -> None:
    result = imported["vidur"]
    gemm = [r for r in result.ops if r.dataset == "vidur-a100-gemm" and (r.m, r.n, r.k) == (4096, 24576, 8192)]
    assert {(r.name, round(r.time_s * 1e3, 5)) for r in gemm} == {("attn_pre_proj", 7.30525), ("mlp_up_proj", 6.893)}
    decode = [r for r in result.ops if r.op == "attention_decode" and r.batch == 16]
    assert [(r.heads, r.kv_heads, r.new_tokens, r.context) for r in decode] == [(32, 4, 1, 1025)]
    prefill = [r for r in result.ops if r.op == "attention_prefill" and r.new_tokens == 512]
    assert [(r.context, r.causal) for r in prefill] == [(1024, True)]
    assert any("byte-identical" in line for line in result.skipped)
    assert any("'a40'" in line for line in result.skipped)


def test_vidur_elementwise_bytes_are_the_simulators_formulas(imported: dict[str, ImportedDataset]) -> None:
    """Llama-2-7B (h 4096, f 11008, 32 heads) at 4096 tokens, fp16."""
    rows = {(r.name, r.bytes_moved) for r in imported["vidur"].ops if r.dataset == "vidur-a100-elementwise"}
    tokens, h, f = 4096, 4096, 11008
    assert ("input_layernorm/rmsnorm", 2 * tokens * h * 2 + h * 2) in rows  # x in, y out, weight
    assert ("add/add", 3 * tokens * h * 2) in rows
    assert ("mlp_act/swiglu", 3 * tokens * f * 2) in rows  # TP1: gate and up in, one out
    assert ("mlp_act/swiglu", 3 * tokens * (f // 2) * 2) in rows  # TP2: half the width
    assert ("attn_rope/rotary", 2 * tokens * (32 + 32) * 128 * 2) in rows
    assert any(name.startswith("input_layernorm/layernorm") for name, _ in rows)  # phi-2
    assert not any(name.startswith("post_attention_layernorm/layernorm") for name, _ in rows)  # phi-2: none


def test_flash_attention_fixture(imported: dict[str, ImportedDataset]) -> None:
    rows = imported["flash_attention"].ops
    assert {r.name.split(" ")[0] for r in rows} == {"FlashAttention-2", "FlashAttention-3"}
    assert sum("estimated" in r.name for r in rows) == 1
    fa2 = next(r for r in rows if r.name == "FlashAttention-2" and r.new_tokens == 512 and not r.causal)
    assert fa2.time_s == pytest.approx(4 * 32 * 512**2 * 16 * 128 / 309e12, rel=1e-9)  # 309 TFLOPS on the figure
    assert fa2.time_s == pytest.approx(0.2224e-3, rel=1e-3)  # the table's derived column agrees


def test_deepgemm_fixture(imported: dict[str, ImportedDataset]) -> None:
    rows = imported["deepgemm"].ops
    grouped = next(r for r in rows if r.name == "deepgemm_grouped_contiguous")
    assert (grouped.groups, grouped.m, grouped.dtype) == (4, 8192, "fp8")
    assert grouped.time_s == pytest.approx(2 * 4 * 8192 * 4096 * 7168 / 1297e12)


def test_ml_engineering_fixture(imported: dict[str, ImportedDataset]) -> None:
    result = imported["ml_engineering"]
    [a100] = [r for r in result.ops if r.dataset == "mleng-mamf-a100-sxm-80gb"]
    assert a100.time_s == pytest.approx(2 * 1024 * 10240 * 5120 / 271.2e12)
    nccl = [r for r in result.ops if r.dataset == "mleng-allreduce-a100"]
    small = next(r for r in nccl if r.payload_bytes == 32768)
    assert (small.time_s, small.dtype, small.repeats) == (pytest.approx(43.83e-6), "fp32", 50)
    assert any("MI355X" in line for line in result.skipped)


def test_gpt_fast_fixture(imported: dict[str, ImportedDataset]) -> None:
    rows = imported["gpt_fast"].e2e
    assert {r.weights_dtype for r in rows} == {"bf16", "int8"}
    assert {r.dataset for r in rows if r.model == "llama-2-7b" and r.tp == 1} <= {"gpt-fast-a100", "gpt-fast-mi250x"}
    assert all(r.metric == "tpot" and r.output_tokens == 200 for r in rows)


def test_megatron_fixture_specs(imported: dict[str, ImportedDataset]) -> None:
    specs = {spec.id: spec for spec in imported["megatron_a100"].models}
    ada = specs["megatron-openai-ada"]
    assert (ada.num_layers, ada.hidden_size, ada.vocab_size, ada.max_context) == (24, 1024, 50304, 2048)
    assert ada.tied_embeddings and ada.qkv_bias and ada.mlp_bias and not ada.parallel_attention_mlp


@pytest.mark.parametrize(
    ("label", "devices", "expected"),
    [
        (None, 4, (4, 1)),
        ("Tensor Parallelism", 2, (2, 1)),
        ("PP", 4, (1, 4)),
        ("Pipeline Parallelism", 1, (1, 1)),
        ("Hybrid TP = 2 and PP = 2", 4, (2, 2)),
        ("Hybird Tensor (2) and Pipeline (2) Parallelism", 4, (2, 2)),
        ("EP", 4, None),
        ("Hybrid TP = 2 and EP = 2", 4, None),
        ("Hybrid TP = 2 and PP = 2", 8, None),
    ],
)
def test_argonne_parallelism_labels(label: str | None, devices: int, expected: tuple[int, int] | None) -> None:
    assert parse_parallelism(label, devices) == expected


def test_argonne_fixture(imported: dict[str, ImportedDataset]) -> None:
    result = imported["argonne_llm_inference_bench"]
    assert {r.dataset for r in result.e2e} >= {"argonne-a100-trtllm", "argonne-h100-vllm"}
    assert {(r.tp, r.pp) for r in result.e2e if r.batch == 64} == {(2, 2)}
    assert all(r.prompt_tokens == r.output_tokens for r in result.e2e)
    skipped = "\n".join(result.skipped)
    assert "llama.cpp" in skipped and "DeciLM" in skipped and "'EP'" in skipped


SOURCE_FILES = sorted(path.relative_to(FIXTURES) for path in FIXTURES.rglob("*.csv"))


@pytest.mark.parametrize("relative", SOURCE_FILES, ids=str)
def test_a_missing_column_names_the_file(tmp_path: Path, relative: Path) -> None:
    source = relative.parts[0]
    shutil.copytree(FIXTURES / source, tmp_path / source)
    broken = tmp_path / relative
    frame = pd.read_csv(broken)
    frame.drop(
        columns=[
            c
            for c in frame.columns
            if c in ("median_ms", "value", "tflops", "runtime_s", "time_us", "mamf_tflops", "attn_kernel_median_ms")
        ][:1]
        or frame.columns[-1:]
    ).to_csv(broken, index=False)
    with pytest.raises(UserError, match=re.escape(str(broken))):
        IMPORTERS[source](tmp_path / source)


def test_an_empty_cell_names_the_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "megatron_a100", tmp_path / "megatron_a100")
    path = tmp_path / "megatron_a100" / "megatron_a100_generate.csv"
    frame = pd.read_csv(path)
    frame.loc[2, "runtime_s"] = None
    frame.to_csv(path, index=False)
    with pytest.raises(UserError, match=re.escape(f"{path}:4")):
        IMPORTERS["megatron_a100"](tmp_path / "megatron_a100")


def test_build_writes_the_data_dir_layout_deterministically(tmp_path: Path) -> None:
    first = build(FIXTURES, tmp_path / "one")
    build(FIXTURES, tmp_path / "two")
    names = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert Path("provenance.json") in names and Path("README.md") in names
    assert Path("models/megatron-openai-ada.yaml") in names
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert set(read_provenance(tmp_path / "one")) == {table.dataset for table in first.tables}
    assert len(read_e2e_records(tmp_path / "one")) == sum(t.rows for t in first.tables if t.kind == "e2e")
    # the broken Qwen2-7B point (2048 outputs in 0.08 s) is dropped as physically impossible
    assert any("impossible" in line for line in first.dropped)


def test_build_needs_a_source_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--out", "somewhere"])
    assert "--source" in capsys.readouterr().err
