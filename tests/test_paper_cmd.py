"""`idealrt paper`: the paper's comparison as a table, a JSON list (public field names) and a plot."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import idealrt.simulator.cli as cli
from idealrt.simulator.planner.idealized import PAPER_MODELS, PROMPT_SIZES

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
    assert "davinci" in out and "TNLG v2" in out
    assert "layouts: the paper's; architectures: the paper's stand-ins" in out
    assert "j1-grande 50×5120/40h" in out
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


def test_json_gives_the_papers_deployments_and_stand_ins(paper_json) -> None:  # type: ignore[no-untyped-def]
    by_model = {record["model"]: record for record in paper_json[1]}
    for model, devices in (("anthropic-52b", 4), ("cohere-xl", 4), ("mt-nlg-530b", 24), ("gpt3-175b", 8)):
        assert by_model[model]["n_accelerators"] == devices, model
        assert by_model[model]["layout"] == "paper" and by_model[model]["layout_source"].startswith("the paper's")
    assert (by_model["mt-nlg-530b"]["tp"], by_model["mt-nlg-530b"]["pp"]) == (8, 3)
    grande = by_model["j1-grande"]
    assert (grande["num_layers"], grande["hidden_size"], grande["num_heads"], grande["vocab_size"]) == (
        50,
        5120,
        40,
        50304,
    )
    assert grande["architecture"] == "paper" and grande["architecture_source"].startswith("paper variant")
    assert (by_model["yalm-100b"]["mlp"], by_model["yalm-100b"]["ffn_dim"]) == ("gelu", 27308)
    assert by_model["bloom-176b"]["architecture_source"].startswith("published")
    assert all(record["interpolation"] == "helm" for record in paper_json[1])


def test_layout_fewest_and_published_architectures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["paper", "--profile", "ideal", "--json", "--layout", "fewest", "--published-architectures"]
    assert run_cli([*args, "--interpolation", "linear"], monkeypatch) == 0
    by_model = {record["model"]: record for record in json.loads(capsys.readouterr().out)}
    assert by_model["anthropic-52b"]["n_accelerators"] == 2  # 104 GB of fp16 weights: two 80 GB GPUs
    assert (by_model["mt-nlg-530b"]["tp"], by_model["mt-nlg-530b"]["pp"]) == (8, 2)
    assert (by_model["j1-grande"]["num_layers"], by_model["j1-grande"]["vocab_size"]) == (43, 256000)
    assert by_model["j1-grande"]["layout"] == "fewest" and by_model["j1-grande"]["interpolation"] == "linear"


def test_the_dgx2_takes_tp_16_with_the_transferred_megatron_profile(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["paper", "--hardware", "v100-sxm3-32gb-dgx2", "--layout", "fewest", "--price-usd-per-hour", "2", "--json"]
    assert run_cli(args, monkeypatch) == 0
    by_model = {record["model"]: record for record in json.loads(capsys.readouterr().out)}
    assert (by_model["gpt3-175b"]["tp"], by_model["gpt3-175b"]["pp"]) == (16, 1)
    assert "transferred from a100-sxm-80gb to v100-sxm3-32gb-dgx2" in by_model["gpt3-175b"]["profile_note"]
    # the paper's own layout of davinci (8 × 32 GB) cannot hold it: an error record that says what to do
    assert run_cli([arg for arg in args if arg not in ("--layout", "fewest")], monkeypatch) == 0
    davinci = json.loads(capsys.readouterr().out)[0]
    assert davinci["n_accelerators"] is None and "--layout fewest" in davinci["error"]


def test_api_paper_takes_the_layout_architecture_and_interpolation() -> None:
    from idealrt.simulator import api

    frame = api.paper(profile="ideal", layout="fewest", architecture="published", interpolation="linear")
    anthropic = frame[frame["model"] == "anthropic-52b"].iloc[0]
    assert (anthropic["n_accelerators"], anthropic["layout"], anthropic["interpolation"]) == (2, "fewest", "linear")
    assert frame.loc[frame["model"] == "j1-large", "vocab_size"].item() == 256000
