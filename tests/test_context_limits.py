"""A request longer than the model's context is refused in one line, unless explicitly allowed (and then said)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from idealrt.simulator import api
from idealrt.simulator.cli import main
from idealrt.simulator.context_limits import OVERRIDE_FLAG, context_overflow
from idealrt.simulator.errors import UserError
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.planner.plan import plan_frame

LLAMA_8B = load_model("llama-3.1-8b")  # max_context 131,072 (config.json max_position_embeddings)


def test_within_the_context_is_no_message() -> None:
    assert context_overflow(LLAMA_8B, np.array([1000, 131_000]), np.array([72, 72])) is None


def test_the_first_offending_case_is_named_in_one_line() -> None:
    with pytest.raises(UserError) as caught:
        context_overflow(LLAMA_8B, np.array([10, 131_000, 200_000]), np.array([5, 100, 64]))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("case 2 of 3: prompt 131,000 + output 100 = 131,100 tokens")
    assert "max_context of 131,072" in message and "(1 more cases also do)" in message
    assert OVERRIDE_FLAG in message


def test_case_labels_name_the_case() -> None:
    with pytest.raises(UserError, match=r"^cases.csv:3: prompt 4,000"):
        context_overflow(load_model("gpt2-xl"), [100, 4000], 24, case_labels=["cases.csv:2", "cases.csv:3"])


def test_allowed_overflow_returns_a_warning_instead() -> None:
    warning = context_overflow(LLAMA_8B, 200_000, 64, allow_longer=True)
    assert warning is not None and "estimated anyway" in warning and OVERRIDE_FLAG in warning


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("model", "prompt"), [("llama-3.1-8b", "200000"), ("gpt2-xl", "4000")])
def test_estimate_refuses_a_request_beyond_the_context(
    capsys: pytest.CaptureFixture[str], model: str, prompt: str
) -> None:
    code, out, err = run(
        capsys, "estimate", "--model", model, "--hardware", "h100-sxm", "--prompt", prompt, "--output", "8"
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "max_context" in err and OVERRIDE_FLAG in err


def test_estimate_with_the_override_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--model", "gpt2-xl", "--hardware", "h100-sxm", "--prompt", "4000", "--output", "8", OVERRIDE_FLAG)
    code, out, _ = run(capsys, "estimate", "--json", *args)
    assert code == 0
    assert any("exceeds gpt2-xl's max_context of 1,024" in w for w in json.loads(out)["extrapolation"])
    code, out, _ = run(capsys, "estimate", *args)
    assert code == 0 and "estimated anyway" in out


def test_the_api_and_the_planner_check_too() -> None:
    with pytest.raises(UserError, match="max_context"):
        api.estimate("gpt2-xl", "h100-sxm", prompt=4000, output=8)
    assert "max_context" in api.estimate("gpt2-xl", "h100-sxm", 4000, 8, allow_longer_context=True)["extrapolation"][0]
    with pytest.raises(UserError, match="max_context"):
        plan_frame("gpt2-xl", ["h100-sxm"], 1000, 100, max_devices=1)
    allowed = plan_frame("gpt2-xl", ["h100-sxm"], 1000, 100, max_devices=1, allow_longer_context=True)
    assert any("max_context" in w for w in allowed.attrs["warnings"])


def test_capacity_checks_the_longest_lengths_of_its_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "capacity",
        "--model",
        "gpt2-xl",
        "--hardware",
        "h100-sxm",
        "--qps",
        "1",
        "--prompt-dist",
        "uniform:100:1000",
        "--output-dist",
        "const:100",
        "--ttft-p99",
        "1",
        "--tpot",
        "0.05",
    )
    assert code == 2 and "max_context of 1,024" in err
