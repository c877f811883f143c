"""Every command that costs takes --price-usd-per-hour; a part without a catalog price says how to give one."""

from __future__ import annotations

import json

import pytest
import yaml

from idealrt.hardware_specs import CATALOG_DIR
from idealrt.simulator.cli import main
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.planner.cost import device_price
from idealrt.simulator.planner.prices import parse_price_argument, price_for

PARTS = sorted(path.stem for path in CATALOG_DIR.glob("*.yaml"))
NO_PRICE = "no price: pass --price-usd-per-hour"


@pytest.mark.parametrize("part", PARTS)
def test_every_part_has_a_dated_sourced_price_or_says_how_to_give_one(part: str) -> None:
    spec = load_hardware(part)
    raw = yaml.safe_load((CATALOG_DIR / f"{part}.yaml").read_text())
    if spec.price_usd_per_hour is not None:
        assert spec.price_date and raw["sources"]["price_usd_per_hour"]
        assert device_price(spec) == spec.price_usd_per_hour
    else:
        with pytest.raises(UserError, match=NO_PRICE):
            device_price(spec)
    assert device_price(spec, 1.25) == 1.25


def test_price_arguments_are_one_price_or_one_per_hardware() -> None:
    assert parse_price_argument(None) is None
    assert price_for(parse_price_argument("2.5"), "mi300x") == 2.5
    per_part = parse_price_argument("mi300x=2.1, h100-sxm=3")
    assert price_for(per_part, "mi300x") == 2.1 and price_for(per_part, "h100-sxm") == 3.0
    assert price_for(per_part, "b200") is None
    for bad in ("cheap", "mi300x=", "=2", "-1"):
        with pytest.raises(UserError, match="--price-usd-per-hour"):
            parse_price_argument(bad)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


PLAN = ("plan", "--model", "llama-3.2-1b", "--hardware", "mi300x", "--prompt", "128", "--output", "8")
PLAN += ("--max-devices", "1", "--json")
CAPACITY = ("capacity", "--model", "llama-3.2-1b", "--hardware", "mi300x", "--qps", "1")
CAPACITY += ("--prompt-dist", "const:128", "--output-dist", "const:8", "--ttft-p99", "5", "--tpot", "0.5")
CAPACITY += ("--max-devices", "1", "--json")
CLOSED = ("closed", "--spec", "closed_model_gpt4_rumoured", "--hardware", "mi300x", "--prompt", "128")
CLOSED += ("--output", "8", "--samples", "2", "--profile", "ideal", "--json")


@pytest.mark.parametrize("command", [PLAN, CAPACITY, CLOSED], ids=["plan", "capacity", "closed"])
def test_costing_commands_take_the_price_of_an_unpriced_part(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    code, _, err = run(capsys, *command)
    assert code == 2 and NO_PRICE in err and err.count("\n") == 1
    code, out, _ = run(capsys, *command, "--price-usd-per-hour", "2")
    assert code == 0
    record = json.loads(out)
    if command is CLOSED:
        assert record["percentiles"]["usd_per_million_tokens"]["p50"] > 0
    else:
        rows = record["configurations" if command is PLAN else "options"]
        assert {row["price_usd_per_device_hour"] for row in rows} == {2.0}


def test_a_price_for_hardware_not_compared_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *PLAN, "--price-usd-per-hour", "mi325x=2")
    assert code == 2 and "mi325x, not among --hardware" in err
