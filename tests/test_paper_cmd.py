"""`idealrt paper`: the paper's comparison as a table, a JSON list (public field names) and a plot."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import simulator.cli as cli
from simulator.planner.idealized import PAPER_MODELS, PROMPT_SIZES

CONTRACT_FIELDS = ("model", "n_accelerators", "tp", "pp", "beta_s", "alpha_s")


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])  # plugins are not under test here
    return cli.main(args)


@pytest.fixture(scope="module")
def paper_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[dict], str, Path]:
    plot = tmp_path_factory.mktemp("paper") / "alpha.png"
    out, err = io.StringIO(), io.StringIO()  # capsys is per test; this runs once for the module
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        code = run_cli(["paper", "--profile", "ideal", "--json", "--plot", str(plot)], patch)
    return code, json.loads(out.getvalue()), err.getvalue(), plot


def test_json_lists_the_ten_paper_models_with_the_contract_fields(paper_json) -> None:  # type: ignore[no-untyped-def]
    code, records, _, _ = paper_json
    assert code == 0
    assert [record["model"] for record in records] == list(PAPER_MODELS)
    for record in records:
        assert all(record[field] is not None for field in CONTRACT_FIELDS), record["model"]
        assert list(record["alpha_s"]) == [str(p) for p in PROMPT_SIZES]
        assert len(record["alpha_s"]) == 27
        assert record["n_accelerators"] == record["tp"] * record["pp"]
        assert record["hardware"] == "a100-sxm-80gb" and record["profile"] == "ideal"
        assert record["price_usd_per_device_hour"] == 4.096


def test_json_carries_the_example_requests_costs(paper_json) -> None:  # type: ignore[no-untyped-def]
    davinci = paper_json[1][0]
    assert davinci["paper_name"] == "davinci"
    request = davinci["requests"][0]
    assert (request["prompt_tokens"], request["output_tokens"]) == (512, 32)
    expected = davinci["alpha_s"]["512"] + 31 * davinci["beta_s"]
    assert request["runtime_s"] == pytest.approx(expected)
    assert request["usd"] == pytest.approx(expected * 8 * 4.096 / 3600)


def test_plot_goes_to_a_png_and_its_message_keeps_stdout_json(paper_json) -> None:  # type: ignore[no-untyped-def]
    _, _, err, plot = paper_json
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {plot}" in err


def test_human_table_names_the_hardware_profile_and_price(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["paper", "--profile", "ideal", "--price-usd-per-hour", "2"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "a100-sxm-80gb" in out and "profile 'ideal'" in out and "$2 per device-hour (given)" in out
    assert "davinci" in out and "mt-nlg-530b" in out
    for hardware in ("h100-sxm", "h200-sxm", "b200"):  # with --profile auto: its pick, or why it was skipped
        assert hardware in out
    assert "auto" in out


def test_unknown_hardware_is_one_line_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["paper", "--hardware", "a100-sxm-81gb", "--profile", "ideal"], monkeypatch) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "unknown hardware 'a100-sxm-81gb'" in captured.err


def test_unknown_profile_is_one_line_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["paper", "--profile", "no-such-profile", "--json"], monkeypatch) == 2
    assert capsys.readouterr().err.count("\n") == 1
