"""The Python API: the CLI's answers as pandas DataFrames with the public column names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from idealrt.simulator import api
from idealrt.simulator.errors import UserError
from idealrt.simulator.planner.idealized import PAPER_MODELS, PROMPT_SIZES
from idealrt.simulator.predict import OUTPUT_COLUMNS

CASES = pd.DataFrame(
    {
        "model": ["llama-3.1-8b", "llama-3.1-8b", "gpt-j-6b"],
        "hardware": ["h100-sxm"] * 3,
        "tp": [1, 2, 1],
        "pp": [1, 1, 1],
        "batch": [1, 4, 1],
        "prompt_tokens": [128, 512, 64],
        "output_tokens": [16, 32, 8],
    }
)


def test_estimate_is_one_row_of_the_json_record_without_ops() -> None:
    frame = api.estimate("llama-3.1-8b", "h100-sxm", 512, 64, tp=2, batch=4)
    assert len(frame) == 1
    for column in (
        "model",
        "hardware",
        "tp",
        "pp",
        "batch",
        "prompt_tokens",
        "output_tokens",
        "ttft_s",
        "tpot_s",
        "e2e_s",
        "n_accelerators",
        "fits",
        "memory_bytes_per_accelerator",
        "profile",
    ):
        assert column in frame.columns
    assert "ops" not in frame.columns
    row = frame.iloc[0]
    assert (row["tp"], row["batch"], row["n_accelerators"]) == (2, 4, 2)
    assert row["e2e_s"] == pytest.approx(row["ttft_s"] + 63 * row["tpot_s"])


def test_estimate_ops_is_one_row_per_op_and_phase() -> None:
    frame = api.estimate_ops("llama-3.1-8b", "h100-sxm", 512, 64)
    for column in (
        "phase",
        "name",
        "op_class",
        "flops",
        "bytes",
        "arithmetic_intensity",
        "time_s",
        "compute_s",
        "memory_s",
        "comm_s",
        "overhead_s",
        "bound",
    ):
        assert column in frame.columns
    assert set(frame["phase"]) == {"prefill", "decode"}
    assert frame["time_s"].sum() == pytest.approx(api.estimate("llama-3.1-8b", "h100-sxm", 512, 64)["e2e_s"][0])


def test_unknown_estimate_options_are_named() -> None:
    with pytest.raises(UserError, match="unknown estimate option.*tensor_parallel"):
        api.estimate("llama-3.1-8b", "h100-sxm", 512, 64, tensor_parallel=2)


def test_predict_takes_a_frame_or_a_csv_path(tmp_path: Path) -> None:
    from_frame = api.predict(CASES)
    assert len(from_frame) == 3
    assert set(OUTPUT_COLUMNS) <= set(from_frame.columns)
    path = tmp_path / "cases.csv"
    CASES.to_csv(path, index=False)
    from_csv = api.predict(path)
    pd.testing.assert_series_equal(from_csv["e2e_s"].astype(float), from_frame["e2e_s"].astype(float))


def test_paper_is_one_row_per_model_with_alpha_columns() -> None:
    frame = api.paper(profile="ideal")
    assert list(frame["model"]) == list(PAPER_MODELS)
    for column in (
        "n_accelerators",
        "tp",
        "pp",
        "beta_s",
        *(f"alpha_s_{p}" for p in PROMPT_SIZES),
        "runtime_s_p512_o32",
        "usd_p512_o32",
        "usd_per_million_output_tokens_p1920_o64",
    ):
        assert column in frame.columns
    assert frame.loc[frame["model"] == "gpt3-175b", "n_accelerators"].item() == 8


def test_plan_and_capacity_return_frames() -> None:
    from idealrt.simulator import api

    planned = api.plan("llama-3.1-8b", ["h100-sxm"], prompt=512, output=64, profile="ideal", max_devices=2)
    assert {"hardware", "tp", "pp", "e2e_s", "usd_per_million_tokens", "pareto"} <= set(planned.columns)
    sized = api.capacity(
        "llama-3.1-8b",
        ["h100-sxm"],
        qps=2.0,
        prompt_dist="const:512",
        output_dist="const:64",
        ttft_p99_s=2.0,
        tpot_s=0.1,
        profile="ideal",
    )
    assert len(sized) == 1 and sized["devices"].iloc[0] >= 1
