"""Properties of valid cases (README "What the numbers mean"): generated deployments and requests, each run with
its prompt/output/batch neighbours under `ideal` and every shipped profile (`tests/fuzz/valid_cases.py`).

Three invariants failed before their fixes landed (efficiencies capped at 1; decode attention's context curve on
the KV read only; one counting path for memory and simulation); they are plain tests now."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from fuzz import bad_arguments, outcome, valid_cases
from fuzz.settings import NO_SHRINK, examples
from hypothesis import given, settings
from hypothesis import strategies as st

from idealrt.simulator.estimate import EstimateInputs, run_estimate
from idealrt.simulator.predict import predict_cases


def _holds(name: str, case: valid_cases.Case) -> None:
    assert name not in valid_cases.violations(case), f"{name} violated by {case}"


@settings(max_examples=examples("valid_cases"))
@given(valid_cases.valid_cases())
def test_finite_non_negative_and_fits(case: valid_cases.Case) -> None:
    broken = valid_cases.violations(case) & {"finite", "fits"}
    assert not broken, f"{sorted(broken)} violated by {case}"


@settings(max_examples=examples("valid_cases"), phases=NO_SHRINK)
@given(valid_cases.valid_cases())
def test_monotone_in_prompt_output_and_batch(case: valid_cases.Case) -> None:
    _holds("monotone", case)


@settings(max_examples=examples("valid_cases"), phases=NO_SHRINK)
@given(valid_cases.valid_cases())
def test_ideal_is_a_lower_bound_of_every_profile(case: valid_cases.Case) -> None:
    _holds("ideal_bound", case)


@settings(max_examples=examples("valid_cases"), phases=NO_SHRINK)
@given(valid_cases.valid_cases())
def test_tpot_non_decreasing_in_prompt(case: valid_cases.Case) -> None:
    _holds("tpot_prompt", case)


@settings(max_examples=examples("valid_cases"), phases=NO_SHRINK)
@given(valid_cases.valid_cases())
def test_memory_for_agrees_with_simulate(case: valid_cases.Case) -> None:
    _holds("memory_for", case)


_ROW = st.tuples(
    st.sampled_from(("gpt3-125m", "llama-3.2-1b", "mixtral-8x7b")),
    st.sampled_from(("a100-sxm-80gb", "h100-sxm")),
    st.sampled_from(("ideal", "auto", "megatron-a100-2022")),
    st.integers(1, 64),
    st.integers(1, 4096),
    st.integers(1, 512),
)


@settings(max_examples=max(5, examples("valid_cases") // 5))
@given(st.lists(_ROW, min_size=1, max_size=6))
def test_predict_equals_estimate_row_by_row(rows: list[tuple[str, str, str, int, int, int]]) -> None:
    cases = pd.DataFrame(
        [
            {
                "model": m,
                "hardware": h,
                "tp": "2",
                "pp": "1",
                "profile": p,
                "batch": str(b),
                "prompt_tokens": str(i),
                "output_tokens": str(o),
            }
            for m, h, p, b, i, o in rows
        ]
    )
    predicted = predict_cases(cases)
    for (model, hardware, profile, batch, prompt, output), (_, row) in zip(rows, predicted.iterrows(), strict=True):
        inputs = EstimateInputs(model, hardware, prompt, output, batch=batch, tp=2, profile=profile, check_memory=False)
        sim, _ = run_estimate(inputs)
        for name in ("ttft_s", "tpot_s", "e2e_s"):
            assert float(row[name]) == float(getattr(sim, name)[0]), (name, row.to_dict())
        assert bool(row["fits"]) == bool(sim.memory.fits[0])
        assert float(row["memory_bytes_per_accelerator"]) == float(sim.memory.total_bytes[0])


def test_two_processes_give_bit_identical_output(tmp_path: Path) -> None:
    estimate = [
        "estimate",
        "--model",
        "mixtral-8x7b",
        "--hardware",
        "h100-sxm",
        "--tp",
        "2",
        "--prompt",
        "3000",
        "--output",
        "77",
        "--batch",
        "5",
        "--profile",
        "auto",
        "--json",
    ]
    first, second = outcome.run_process(estimate), outcome.run_process(estimate)
    assert first.exit_code == second.exit_code == 0, first.describe()
    assert first.stdout == second.stdout
    numbers = [v for v in pd.json_normalize(json.loads(first.stdout)).to_numpy().ravel() if isinstance(v, float)]
    assert numbers and np.all(np.isfinite(numbers))
    outputs = [tmp_path / "first.csv", tmp_path / "second.csv"]
    for out in outputs:
        ran = outcome.run_process(["predict", "--cases", bad_arguments.CASES, "--profile", "auto", "--out", str(out)])
        assert ran.exit_code == 0, ran.describe()
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
