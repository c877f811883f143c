"""The command line as a contract: JSON field names, CSV columns, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idealrt.simulator.cli import main
from idealrt.simulator.predict import ROWS_PER_WORKER

ESTIMATE_FIELDS = {
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "n_accelerators",
    "params_total",
    "params_active",
    "weights_bytes",
    "kv_cache_bytes_per_token",
    "prefill_flops",
    "decode_flops",
    "prefill_bytes",
    "decode_bytes",
    "memory_bytes_per_accelerator",
    "fits",
    "ops",
    "profile",
    "ttft_s_low",
    "ttft_s_high",
    "tpot_s_low",
    "tpot_s_high",
    "e2e_s_low",
    "e2e_s_high",
}
PREDICT_INPUT = ("model", "hardware", "tp", "pp", "batch", "prompt_tokens", "output_tokens")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def estimate_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, _ = run(capsys, "estimate", "--json", *args)
    assert code == 0
    return json.loads(out)


def test_estimate_json_has_the_public_fields(capsys: pytest.CaptureFixture[str]) -> None:
    record = estimate_json(
        capsys, "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--prompt", "512", "--output", "64"
    )
    assert set(record) >= ESTIMATE_FIELDS
    assert record["e2e_s"] == pytest.approx(record["ttft_s"] + 63 * record["tpot_s"])
    assert record["fits"] is True and record["n_accelerators"] == 1
    assert {"phase", "name", "flops", "bytes", "time_s", "bound"} <= set(record["ops"][0])


def test_estimate_is_deterministic_to_the_byte(capsys: pytest.CaptureFixture[str]) -> None:
    args = (
        "estimate",
        "--json",
        "--model",
        "mixtral-8x7b",
        "--hardware",
        "a100-sxm-80gb",
        "--tp",
        "4",
        "--batch",
        "8",
        "--prompt",
        "300",
        "--output",
        "50",
        "--profile",
        "auto",
    )
    assert run(capsys, *args)[1] == run(capsys, *args)[1]


def test_a_config_json_path_works_like_a_catalog_id(capsys: pytest.CaptureFixture[str]) -> None:
    config = Path(__file__).parent / "data" / "hf_configs" / "llama.json"
    from_file = estimate_json(
        capsys, "--model", str(config), "--hardware", "h100-sxm", "--tp", "8", "--prompt", "128", "--output", "8"
    )
    from_catalog = estimate_json(
        capsys, "--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--tp", "8", "--prompt", "128", "--output", "8"
    )
    assert from_file["e2e_s"] == pytest.approx(from_catalog["e2e_s"], rel=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "lama-3.1-70b", "--hardware", "h100-sxm"], "did you mean 'llama-3.1-70b'"),
        (["--model", "llama-3.1-70b", "--hardware", "h100-sxn"], "did you mean 'h100-sxm'"),
        (["--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--tp", "3"], "does not divide"),
        (["--model", "llama-3.1-405b", "--hardware", "h100-sxm"], "would fit (--tp 8 --pp 2)"),
        (["--model", "llama-3.1-8b", "--hardware", "a100-sxm-80gb", "--weights-dtype", "fp8"], "no fp8 math"),
        (["--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--ep", "2"], "has no experts"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _out, err = run(capsys, "estimate", "--prompt", "128", "--output", "8", *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_a_model_that_does_not_fit_says_how_much_memory_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(
        capsys, "estimate", "--model", "llama-3.1-405b", "--hardware", "h100-sxm", "--prompt", "128", "--output", "8"
    )
    assert "needs 8" in err and "GB per device" in err and "16 × h100-sxm would fit" in err


def test_malformed_config_json_is_a_one_line_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama", "hidden_size": 4096')
    code, _, err = run(
        capsys, "estimate", "--model", str(bad), "--hardware", "h100-sxm", "--prompt", "1", "--output", "1"
    )
    assert code == 2 and str(bad) in err and err.count("\n") == 1


def test_usage_errors_are_one_line_too() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "idealrt.simulator.cli", "estimate", "--model", "x"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")


def test_the_command_exits_with_main_s_code_and_everything_it_printed() -> None:
    """`idealrt` leaves without tearing the interpreter down (`cli.run`): what it printed to a pipe still arrives
    whole, and a bad input still exits with 2."""
    command = [sys.executable, "-m", "idealrt.simulator.cli", "estimate", "--model", "llama-3.1-8b", "--hardware"]
    result = subprocess.run([*command, "h100-sxm", "--prompt", "512", "--output", "64", "--json"], capture_output=True)
    assert result.returncode == 0 and json.loads(result.stdout)["e2e_s"] > 0
    result = subprocess.run([*command, "h100-sxm", "--prompt", "512", "--output", "0"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def write_cases(path: Path, rows: list[str]) -> Path:
    path.write_text(",".join(PREDICT_INPUT) + ",weights_dtype\n" + "\n".join(rows) + "\n")
    return path


def test_predict_writes_the_input_columns_and_the_predictions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import pandas as pd

    cases = write_cases(
        tmp_path / "cases.csv",
        [
            "llama-3.1-8b,h100-sxm,1,1,1,512,64,bf16",
            "llama-3.1-70b,h100-sxm,4,1,8,1024,128,bf16",
            "llama-3.1-8b,h100-sxm,1,1,4,128,16,fp8",
        ],
    )
    out = tmp_path / "out.csv"
    code, _, _ = run(capsys, "predict", "--cases", str(cases), "--out", str(out))
    assert code == 0
    table = pd.read_csv(out)
    assert list(table.columns[: len(PREDICT_INPUT)]) == list(PREDICT_INPUT)
    assert {"ttft_s", "tpot_s", "e2e_s", "n_accelerators", "fits", "e2e_s_low", "e2e_s_high"} <= set(table.columns)
    single = estimate_json(
        capsys,
        "--model",
        "llama-3.1-70b",
        "--hardware",
        "h100-sxm",
        "--tp",
        "4",
        "--batch",
        "8",
        "--prompt",
        "1024",
        "--output",
        "128",
    )
    assert table.loc[1, "e2e_s"] == pytest.approx(single["e2e_s"], rel=1e-12)
    assert table["n_accelerators"].tolist() == [1, 4, 1]


DEPLOYMENTS = ["llama-3.1-8b,h100-sxm,1,1", "mixtral-8x7b,a100-sxm-80gb,2,1", "llama-3.1-70b,h100-sxm,4,1"]


def _many_cases(count: int) -> list[str]:
    """More rows than one worker is given (predict.ROWS_PER_WORKER), over three deployments."""
    return [f"{DEPLOYMENTS[i % 3]},{1 + i % 7},{16 * (1 + i % 97)},{1 + i % 5},bf16" for i in range(count)]


def _predict_in_a_process(cases: Path, out: Path, workers: str) -> subprocess.CompletedProcess[str]:
    """Run as a real process (one that has imported jax, as this test session may have, simulates in itself),
    with a temporary folder of its own next to `out`: where its workers leave their predictions for the writer."""
    command = ["predict", "--cases", str(cases), "--out", str(out), "--workers", workers, "--quiet"]
    temporary = out.parent / "tmp"
    temporary.mkdir(exist_ok=True)
    environment = {**os.environ, "TMPDIR": str(temporary)}
    return subprocess.run(
        [sys.executable, "-m", "idealrt.simulator.cli", *command], capture_output=True, text=True, env=environment
    )


def _left_behind(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "tmp").iterdir())


def test_predict_is_byte_identical_on_any_number_of_worker_processes(tmp_path: Path) -> None:
    """Worker processes only change where a run of consecutive cases is checked, simulated and formatted, never
    what comes out: 9,000 cases make two runs on 2 workers and three on 3."""
    assert 2 * ROWS_PER_WORKER < 9000
    cases = write_cases(tmp_path / "cases.csv", _many_cases(9000))
    written = []
    for workers in ("1", "2", "3"):
        out = tmp_path / f"out-{workers}.csv"
        assert _predict_in_a_process(cases, out, workers).returncode == 0
        written.append(out.read_bytes())
    assert written[0] == written[1] == written[2]
    assert written[0].count(b"\n") == 9001
    assert not _left_behind(tmp_path)


def test_without_a_temporary_folder_the_predictions_come_back_through_the_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spill files are a shortcut: where no temporary folder can be made, or a spill file cannot be written, the
    text goes back the slower way and the output is the same."""
    import tempfile

    import pyarrow as pa

    from idealrt.simulator.case_files import encoded
    from idealrt.simulator.predict import predict_file

    table = pa.table({"x": [1.5, 2.5]})
    assert encoded(table, True, tmp_path / "gone")[2] == b"1.5\n2.5\n"  # a folder that does not exist
    cases = write_cases(tmp_path / "cases.csv", _many_cases(9000))
    predict_file(cases, tmp_path / "serial.csv", workers=1, progress=False)

    def no_folder(*args: object, **kwargs: object) -> str:
        raise OSError("no space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", no_folder)
    predict_file(cases, tmp_path / "parallel.csv", workers=2, progress=False)
    assert (tmp_path / "parallel.csv").read_bytes() == (tmp_path / "serial.csv").read_bytes()


def test_a_bad_case_in_a_later_workers_run_writes_nothing_and_names_its_line(tmp_path: Path) -> None:
    rows = _many_cases(9000)
    rows[8000] = "nope,h100-sxm,1,1,1,512,64,bf16"  # in the second run of two
    cases, out = write_cases(tmp_path / "cases.csv", rows), tmp_path / "out.csv"
    result = _predict_in_a_process(cases, out, "2")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "cases.csv:8002: unknown model 'nope'" in result.stderr
    assert not out.exists() and not _left_behind(tmp_path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("llama-3.1-8b,h100-sxm,1,1,one,512,64,bf16", "cases.csv:3: column 'batch' must be a whole number"),
        ("llama-3.1-8b,h100-sxm,1,1,0x10,512,64,bf16", "cases.csv:3: column 'batch' must be a whole number"),
        ("llama-3.1-8b,h100-sxm,3,1,1,512,64,bf16", "cases.csv:3: --tp 3 does not divide"),
        ("nope,h100-sxm,1,1,1,512,64,bf16", "cases.csv:3: unknown model 'nope'"),
        ("llama-3.1-8b,h100-sxm,1,1,1,0,64,bf16", "cases.csv:3: column 'prompt_tokens' must be ≥ 1"),
    ],
)
def test_bad_csv_rows_name_their_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, row: str, message: str
) -> None:
    cases = write_cases(tmp_path / "cases.csv", ["llama-3.1-8b,h100-sxm,1,1,1,512,64,bf16", row])
    code, _, err = run(capsys, "predict", "--cases", str(cases), "--out", str(tmp_path / "out.csv"))
    assert code == 2 and message in err and err.count("\n") == 1


def test_missing_csv_columns_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cases = tmp_path / "cases.csv"
    cases.write_text("model,hardware\nllama-3.1-8b,h100-sxm\n")
    code, _, err = run(capsys, "predict", "--cases", str(cases), "--out", str(tmp_path / "o.csv"))
    assert code == 2 and "missing column(s) tp, pp, batch, prompt_tokens, output_tokens" in err


def test_catalog_listings_and_explain_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "models")[0] == 0
    assert run(capsys, "hardware")[0] == 0
    code, out, _ = run(capsys, "explain", "--model", "llama-3.1-70b", "--op", "attention", "--phase", "decode")
    assert code == 0 and "flops" in out and "d_head" in out


def test_explain_unknown_op_suggests_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "explain", "--model", "llama-3.1-70b", "--op", "atention")
    assert code == 2 and "did you mean 'attention'" in err


def test_of_several_bad_cases_the_first_line_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Line 4's deployment (a known model on an unknown device) groups before line 3's (an unknown model): the
    error still names line 3."""
    rows = [
        "llama-3.1-8b,h100-sxm,1,1,1,512,64,bf16",
        "zzz,a100-sxm-80gb,1,1,1,5,5,bf16",
        "llama-3.1-8b,nope,1,1,1,5,5,bf16",
    ]
    cases = write_cases(tmp_path / "cases.csv", rows)
    code, _, err = run(capsys, "predict", "--cases", str(cases), "--out", str(tmp_path / "out.csv"))
    assert code == 2 and "cases.csv:3: unknown model 'zzz'" in err
