"""`compare`: one request across hardware, each on its fewest devices (or a given layout), with profile and band."""

from __future__ import annotations

import json

import pytest

from idealrt.simulator import api
from idealrt.simulator.cli import main
from idealrt.simulator.errors import UserError
from idealrt.simulator.estimate import EstimateInputs, estimate_record, run_estimate


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


ARGS = ("compare", "--model", "llama-3.1-70b", "--hardware", "h100-sxm,a100-sxm-80gb,mi300x")
ARGS += ("--prompt", "1024", "--output", "64", "--price-usd-per-hour", "mi300x=2.5")


def test_each_hardware_gets_the_fewest_devices_that_hold_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *ARGS, "--json")
    assert code == 0
    rows = {row["hardware"]: row for row in json.loads(out)["hardware"]}
    assert list(rows) == ["h100-sxm", "a100-sxm-80gb", "mi300x"]
    # 141 GB of bf16 weights: two 80 GB GPUs, one 192 GB MI300X
    assert (rows["h100-sxm"]["devices"], rows["a100-sxm-80gb"]["devices"], rows["mi300x"]["devices"]) == (2, 2, 1)
    assert rows["mi300x"]["profile"] == "derated" and rows["h100-sxm"]["profile"] == "h100-sxm-kernels"
    assert rows["mi300x"]["price_usd_per_device_hour"] == 2.5


def test_a_row_is_the_estimate_of_that_layout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *ARGS, "--json")
    assert code == 0
    row = next(r for r in json.loads(out)["hardware"] if r["hardware"] == "mi300x")
    record = estimate_record(
        *run_estimate(EstimateInputs("llama-3.1-70b", "mi300x", prompt_tokens=1024, output_tokens=64))
    )
    for field in ("ttft_s", "tpot_s", "e2e_s", "e2e_s_low", "e2e_s_high"):
        assert row[field] == pytest.approx(record[field])
    assert row["usd_per_million_tokens"] == pytest.approx(row["e2e_s"] * 2.5 / 3600 / (1024 + 64) * 1e6)


def test_the_table_shows_profiles_bands_and_the_mix_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *ARGS)
    assert code == 0
    assert "derated" in out and "a100-sxm-80gb-kernels" in out and "e2e band" in out
    assert "warning: rows mix profiles" in out and "band mi300x: the 67% median" in out


def test_a_given_layout_is_used_everywhere() -> None:
    frame = api.compare("llama-3.1-8b", ["h100-sxm", "mi300x"], prompt=128, output=8, tp=2, price_usd_per_hour=2.0)
    assert list(frame["devices"]) == [2, 2] and list(frame["tp"]) == [2, 2]


def test_nothing_fits_is_one_line() -> None:
    with pytest.raises(UserError, match="l4: does not fit") as caught:
        api.compare("llama-3.1-70b", ["l4"], prompt=128, output=8, tp=1)
    assert "\n" not in str(caught.value)
