"""One default profile (`auto`) for every command and the API, named in the output; `estimate` answers first."""

from __future__ import annotations

import argparse
import json

import pytest

from idealrt.simulator import api
from idealrt.simulator.cli import build_parser, main
from idealrt.simulator.estimate import EstimateInputs

REQUEST = ("--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--prompt", "512", "--output", "16")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def subcommand_defaults() -> dict[str, str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    defaults = {}
    for name, sub in actions[0].choices.items():
        for action in sub._actions:
            if action.dest == "profile":
                defaults[name] = action.default
    return defaults


PAPER_REPRODUCTION = {"paper", "denoise"}  # the paper's reference stack (Megatron on A100) by default


def test_every_command_but_the_paper_reproduction_defaults_to_auto() -> None:
    defaults = subcommand_defaults()
    assert {"estimate", "predict", "plan", "capacity", "closed", "compare"} <= set(defaults)
    assert {name: value for name, value in defaults.items() if name not in PAPER_REPRODUCTION} == dict.fromkeys(
        set(defaults) - PAPER_REPRODUCTION, "auto"
    )


def test_the_api_and_the_inputs_default_to_auto() -> None:
    assert EstimateInputs("m", "h", 1, 1).profile == "auto"
    row = api.estimate("llama-3.1-8b", "h100-sxm", prompt=512, output=16)
    assert row.loc[0, "profile"] == "h100-sxm-kernels" and row.loc[0, "profile_note"].startswith("auto:")


def test_estimate_names_the_profile_it_picked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "estimate", "--json", *REQUEST)
    assert code == 0 and json.loads(out)["profile"] == "h100-sxm-kernels"


def test_estimate_prints_the_summary_and_op_tables_only_with_ops(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "estimate", *REQUEST)
    assert code == 0
    assert out.splitlines()[0].startswith("llama-3.1-8b on 1 × h100-sxm")
    assert "auto: 'h100-sxm-kernels'" in out and "qkv_proj" not in out and len(out.splitlines()) < 15
    code, with_ops = run(capsys, "estimate", *REQUEST, "--ops")
    assert code == 0 and with_ops.startswith(out) and "qkv_proj" in with_ops
