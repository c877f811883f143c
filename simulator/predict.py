"""`predict`: many cases from a CSV or Parquet file, checked, simulated and written a chunk at a time.

Each chunk (`case_files.CHUNK_ROWS` rows) is cut into runs of consecutive rows, one per worker process
(`worker_pool`); a worker checks its run (a bad cell is a one-line error naming its line), simulates the cases
that share a deployment as one numpy array, and formats its predictions, which the parent writes in order
(`case_files`), so a file of any length goes through in bounded memory.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from idealrt.simulator.bands import prediction_band
from idealrt.simulator.case_files import (
    CHUNK_ROWS,
    REQUIRED_COLUMNS,
    Encoded,
    PredictionWriter,
    Progress,
    check_cases_file,
    encoded,
    read_batches,
    rechunked,
    spill_folder,
)
from idealrt.simulator.context_limits import context_overflow
from idealrt.simulator.errors import UserError, shown
from idealrt.simulator.estimate import EstimateInputs, build_deployment
from idealrt.simulator.parameters import parameter_counts
from idealrt.simulator.profile import Profile, resolve_profile
from idealrt.simulator.simulation import simulate
from idealrt.simulator.validation import (
    CASE_COLUMN_LIMITS,
    MAX_BATCH,
    InvalidNumber,
    whole_number,
    writable_path,
)
from idealrt.simulator.worker_pool import worker_map

if TYPE_CHECKING:
    import pandas as pd

    from idealrt.simulator.deployment import Deployment

OPTIONAL_COLUMNS = ("ep", "weights_dtype", "act_dtype", "kv_dtype", "profile")
INTEGER_COLUMNS = ("tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens")
DEPLOYMENT_COLUMNS = ("model", "hardware", "tp", "pp", "ep", "weights_dtype", "act_dtype", "kv_dtype", "profile")
OUTPUT_COLUMNS = (
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "n_accelerators",
    "fits",
    "ttft_s_low",
    "ttft_s_high",
    "tpot_s_low",
    "tpot_s_high",
    "e2e_s_low",
    "e2e_s_high",
    "memory_bytes_per_accelerator",
    "extrapolation",
    "profile_used",
)
ROWS_PER_WORKER = 4096  # the fewest rows a worker process is given
SIMULATION_ROWS = 8192  # cases per numpy pass: small enough for the op arrays to stay in cache
_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class _Resolved:
    deployment: Deployment
    profile: Profile
    params_total: float
    band_low: float  # the p10–p90 band as factors of the prediction (`simulator.bands`)
    band_high: float


@cache
def _resolve(key: str) -> _Resolved:
    """The deployment and profile of one distinct combination of the deployment columns."""
    settings = dict(zip(DEPLOYMENT_COLUMNS, key.split(_SEPARATOR), strict=True))
    inputs = EstimateInputs(
        model=settings["model"],
        hardware=settings["hardware"],
        prompt_tokens=1,
        output_tokens=1,
        tp=int(settings["tp"]),
        pp=int(settings["pp"]),
        ep=int(settings["ep"]),
        weights_dtype=settings["weights_dtype"],
        act_dtype=settings["act_dtype"] or None,
        kv_dtype=settings["kv_dtype"] or None,
        profile=settings["profile"],
    )
    deployment = build_deployment(inputs)
    profile, _ = resolve_profile(inputs.profile, deployment.hardware)
    band = prediction_band(profile, deployment.hardware)
    return _Resolved(deployment, profile, parameter_counts(deployment.model).total, band.low_factor, band.high_factor)


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.string())


def _column(values: np.ndarray) -> pa.Array:
    """A numeric or boolean numpy array as an arrow array, without `pa.array`: its probe for masked arrays imports
    numpy.ma (about 20–40 ms in every worker)."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _skip_pandas_probe() -> None:
    """pyarrow imports pandas (half a second) on its first conversion, only to check whether values are pandas
    objects. When pandas is not loaded, let that probe find it absent; pyarrow imports it for real as soon as a
    pandas conversion is asked for (`to_pandas`), so nothing is lost."""
    if "pandas" in sys.modules:
        return
    blocker = _Unavailable("pandas")
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(blocker)


class _Unavailable:
    """An import finder for which one module does not exist."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == self.name:
            raise ImportError(f"{name} is not loaded for this probe")


_skip_pandas_probe()


# --- checking and completing the columns ------------------------------------------------------------------------


def _normalized(table: pa.Table, default_profile: str, source: str, first_line: int) -> pa.Table:
    """Required columns present, optional ones filled with their defaults, integer columns parsed and ≥ 1."""
    missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if missing:
        raise UserError(f"{source}: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}")
    defaults = {"ep": "1", "weights_dtype": "bf16", "act_dtype": "", "kv_dtype": "", "profile": default_profile}
    for name, default in defaults.items():
        if name not in table.column_names:
            table = table.append_column(name, pa.repeat(_text(default), table.num_rows))
        else:
            column = pc.utf8_trim_whitespace(table[name])
            table = table.set_column(
                table.column_names.index(name), name, pc.if_else(pc.equal(column, _text("")), _text(default), column)
            )
    for name in INTEGER_COLUMNS:
        table = table.set_column(table.column_names.index(name), name, _integers(table[name], name, source, first_line))
    return table


def _integers(column: pa.ChunkedArray, name: str, source: str, first_line: int) -> pa.Array:
    """The column as whole numbers in CASE_COLUMN_LIMITS' range: cast in bulk; the first bad cell, if any, is
    worded by `validation.whole_number`."""
    text = pc.utf8_trim_whitespace(column)
    high = CASE_COLUMN_LIMITS.get(name, MAX_BATCH)
    # arrow's cast also reads other spellings (hexadecimal '0x10'): only plain decimal digits go through it
    decimal = np.asarray(pc.fill_null(pc.ascii_is_decimal(text), False))
    numbers = pc.cast(text, pa.int64()).to_numpy() if decimal.all() else None
    bad = np.flatnonzero((numbers < 1) | (numbers > high)) if numbers is not None else np.flatnonzero(~decimal)
    cells = text.to_pylist() if len(bad) else []
    for index in bad:
        try:
            whole_number(cells[index], 1, high)
        except InvalidNumber as exc:
            raise UserError(f"{source}:{first_line + int(index)}: column '{name}' {exc}") from None
    if numbers is None:  # every other spelling was a whole number to Python (e.g. other scripts' digits)
        numbers = np.array([whole_number(cell, 1, high) for cell in cells], dtype=np.int64)
    return _column(numbers)


# --- predicting -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Groups:
    """A table's rows grouped by deployment: `order` sorts the rows by group, `members` holds each group's rows."""

    order: np.ndarray
    members: list[tuple[_Resolved, np.ndarray]]  # (a deployment, its rows)


def _grouped(table: pa.Table, source: str, first_line: int, allow_longer_context: bool) -> _Groups:
    """Every deployment of the table resolved and its cases checked against the model's context, so that a bad one
    is reported by its line before any simulation starts."""
    codes, keys = _deployment_codes(table)
    prompt = table["prompt_tokens"].to_numpy()
    output = table["output_tokens"].to_numpy()
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.diff(codes[order], prepend=-1))
    spans = [(int(a), int(b)) for a, b in zip(starts, [*starts[1:], len(order)], strict=True)]  # rows in `order`
    checked: dict[int, tuple[_Resolved, np.ndarray]] = {}
    for start, stop in sorted(spans, key=lambda span: order[span[0]]):  # by first row: the first bad line is named
        rows = order[start:stop]
        key = keys(int(rows[0]))
        try:
            resolved = _resolve(key)
        except UserError as exc:
            raise UserError(f"{source}:{first_line + int(rows[0])}: {exc}") from None
        over = np.flatnonzero(prompt[rows] + output[rows] > resolved.deployment.model.max_context)
        if len(over):
            context_overflow(
                resolved.deployment.model,
                prompt[rows[over]].astype(np.float64),
                output[rows[over]].astype(np.float64),
                allow_longer=allow_longer_context,
                case_labels=[f"{source}:{first_line + int(row)}" for row in rows[over]],
            )
        checked[start] = (resolved, rows)
    return _Groups(order, [checked[start] for start, _ in spans])


def _deployment_codes(table: pa.Table) -> tuple[np.ndarray, Callable[[int], str]]:
    """Per row, an integer naming its combination of the deployment columns, and the key of a row's combination
    (the columns' text joined by _SEPARATOR): each column dictionary-encoded and the codes mixed, so that text is
    only built for the rows asked for."""
    codes = np.zeros(table.num_rows, dtype=np.int64)
    columns: list[tuple[list[str], np.ndarray]] = []
    for name in DEPLOYMENT_COLUMNS:
        encoded = pc.dictionary_encode(table[name]).combine_chunks()
        values = [str(value) for value in encoded.dictionary.to_pylist()]
        indices = encoded.indices.to_numpy()
        if len(values) > 1:
            if (int(codes.max(initial=0)) + 1) * len(values) >= 1 << 62:  # renumber the combinations seen so far
                codes = np.unique(codes, return_inverse=True)[1].astype(np.int64)
            codes = codes * len(values) + indices
        columns.append((values, indices))

    def key(row: int) -> str:
        return _SEPARATOR.join(values[indices[row]] for values, indices in columns)

    return codes, key


def _predict_table(table: pa.Table, source: str, first_line: int, allow_longer_context: bool = False) -> pa.Table:
    """The normalized cases with the output columns appended."""
    groups = _grouped(table, source, first_line, allow_longer_context)
    rows = table.num_rows
    batch = table["batch"].to_numpy().astype(np.float64)
    prompt = table["prompt_tokens"].to_numpy().astype(np.float64)
    output = table["output_tokens"].to_numpy().astype(np.float64)
    result = {name: np.zeros(rows) for name in ("ttft_s", "tpot_s", "e2e_s", "memory_bytes_per_accelerator")}
    result |= {name: np.zeros(rows) for name in ("low", "high")}
    devices = np.zeros(rows, dtype=np.int64)
    fits = np.zeros(rows, dtype=bool)
    profile_used = np.empty(rows, dtype=object)
    warnings: list[pa.Array] = []
    for resolved, members in groups.members:
        for start in range(0, len(members), SIMULATION_ROWS):
            chosen = members[start : start + SIMULATION_ROWS]
            sim = simulate(
                resolved.deployment, resolved.profile, batch[chosen], prompt[chosen], output[chosen], detail=False
            )
            for name, column in (("ttft_s", sim.ttft_s), ("tpot_s", sim.tpot_s), ("e2e_s", sim.e2e_s)):
                result[name][chosen] = column
            result["memory_bytes_per_accelerator"][chosen] = sim.memory.total_bytes
            fits[chosen] = sim.memory.fits
        result["low"][members] = resolved.band_low
        result["high"][members] = resolved.band_high
        devices[members] = resolved.deployment.n_accelerators
        profile_used[members] = resolved.profile.name
        warnings.append(_extrapolation(resolved, members, batch, prompt, output))
    columns: dict[str, Any] = {name: table[name] for name in table.column_names}
    for name in ("ttft_s", "tpot_s", "e2e_s"):
        columns[name] = _column(result[name])
    columns["n_accelerators"] = _column(devices)
    columns["fits"] = pc.if_else(_column(fits), _text("True"), _text("False"))
    for name in ("ttft_s", "tpot_s", "e2e_s"):
        columns[f"{name}_low"] = _column(result[name] * result["low"])
        columns[f"{name}_high"] = _column(result[name] * result["high"])
    columns["memory_bytes_per_accelerator"] = _column(result["memory_bytes_per_accelerator"])
    columns["extrapolation"] = _scatter_text(warnings, groups.order, rows)
    columns["profile_used"] = pa.array(profile_used.tolist(), pa.string())
    ordered = [name for name in table.column_names] + [
        name for name in OUTPUT_COLUMNS if name not in table.column_names
    ]
    return pa.table({name: columns[name] for name in ordered})


def _extrapolation(
    resolved: _Resolved, members: np.ndarray, batch: np.ndarray, prompt: np.ndarray, output: np.ndarray
) -> pa.Array:
    """Per case, the inputs outside the profile's fitted range joined by '; ' (as `estimate` words them)."""
    deployment = resolved.deployment
    values = {
        "batch": batch[members],
        "prompt_tokens": prompt[members],
        "output_tokens": output[members],
        "params_total": np.full(len(members), resolved.params_total),
        "tp": np.full(len(members), float(deployment.tp)),
        "pp": np.full(len(members), float(deployment.pp)),
        "prefill_tokens": batch[members] * prompt[members],
    }
    joined = pa.repeat(_text(""), len(members))
    model = deployment.model
    longer = prompt[members] + output[members] > model.max_context  # only present when allowed
    if longer.any():
        text = f"prompt + output beyond {model.id}'s max_context of {model.max_context:,} (--allow-longer-context)"
        joined = pc.if_else(_column(longer), _text(text), joined)
    for name, (low, high) in resolved.profile.valid_range.items():
        if name not in values:
            continue
        outside = ~((low <= values[name]) & (values[name] <= high))
        if not outside.any():
            continue
        distinct, where = np.unique(values[name][outside], return_inverse=True)
        words = [f"{name} {value:g} outside the fitted range [{low:g}, {high:g}]" for value in distinct]
        index = np.full(len(members), len(words))  # rows inside the range take the last word, ""
        index[outside] = where
        text = pc.take(pa.array([*words, ""], pa.string()), _column(index))
        appended = pc.if_else(pc.equal(joined, _text("")), text, pc.binary_join_element_wise(joined, text, _text("; ")))
        joined = pc.if_else(_column(outside), appended, joined)
    transfer = resolved.profile.transfer_summary  # carried to hardware it was not fitted on (profile_transfer)
    if transfer:
        note = pa.repeat(_text(transfer), len(members))
        joined = pc.if_else(pc.equal(joined, _text("")), note, pc.binary_join_element_wise(joined, note, _text("; ")))
    return joined


def _scatter_text(groups: list[pa.Array], order: np.ndarray, rows: int) -> pa.Array:
    """Per-group text arrays (groups in `order`) back in row order."""
    stacked = pa.concat_arrays(groups)
    return pc.take(stacked, _column(np.argsort(order, kind="stable")))


def predict_file(
    cases: Path,
    out: Path,
    default_profile: str = "ideal",
    progress: bool = True,
    allow_longer_context: bool = False,
    workers: int = 1,
) -> int:
    """Stream `cases` (CSV, or Parquet by its suffix) through the simulator into `out` (CSV or Parquet), on
    `workers` processes; the number of cases written.

    Each chunk is cut into `workers` runs of consecutive rows that the workers check, predict and encode (CSV
    text or an arrow table) while this process reads the next chunk and writes the last. A chunk is written
    whole or not at all: a bad case stops the run with nothing of its chunk written."""
    check_cases_file(cases)
    writable_path(out)
    source = shown(str(cases))
    reporter = Progress(sys.stderr if progress else None)
    writer = PredictionWriter(out)
    written = 0
    try:
        # left in reverse order: the workers stop before their spill folder goes
        with spill_folder(writer.csv and workers > 1) as spill_dir, worker_map(workers) as mapper:
            settings = _RunSettings(source, default_profile, allow_longer_context, writer.csv, spill_dir)
            in_flight: Iterator[Encoded] | None = None
            for table in rechunked(read_batches(cases, reporter)):
                first_line = written + 2  # the header is line 1
                if not table.num_rows:
                    continue
                chunk = mapper(_predict_encoded, _runs(table, workers, first_line, settings))  # started on the workers
                if in_flight is not None:
                    reporter.predicted(writer.write(in_flight))
                in_flight = chunk
                written += table.num_rows
            if in_flight is None:
                raise UserError(f"{source}: no cases (a header but no rows)")
            reporter.predicted(writer.write(in_flight))
    finally:
        writer.close()
        reporter.finish()
    return written


@dataclass(frozen=True)
class _RunSettings:
    source: str  # the cases file as messages name it
    default_profile: str
    allow_longer_context: bool
    csv_text: bool  # encode the predictions as CSV text (else: an arrow table, for Parquet)
    spill_dir: Path | None = None  # where workers leave their CSV text for the writer (`case_files.encoded`)


def _runs(
    table: pa.Table, parts: int, first_line: int, settings: _RunSettings
) -> list[tuple[pa.Table, int, _RunSettings]]:
    """The table as up to `parts` runs of consecutive rows, each with the file line of its first row (one run for
    a small table: a worker is not worth starting for it)."""
    size = max(-(-table.num_rows // parts), ROWS_PER_WORKER)
    return [(table.slice(start, size), first_line + start, settings) for start in range(0, table.num_rows, size)]


def _predict_encoded(run: tuple[pa.Table, int, _RunSettings]) -> Encoded:
    """One run's cases checked (`_normalized`), predicted and encoded (in a worker)."""
    table, first_line, settings = run
    normalized = _normalized(table, settings.default_profile, settings.source, first_line)
    predicted = _predict_table(normalized, settings.source, first_line, settings.allow_longer_context)
    return encoded(predicted, settings.csv_text, settings.spill_dir)


def predict_cases(
    cases: pd.DataFrame, default_profile: str = "ideal", source: str = "cases", allow_longer_context: bool = False
) -> pd.DataFrame:
    """The cases (a DataFrame with the columns of `idealrt predict`) with the output columns appended."""
    text = pa.table({str(name): pa.array(cases[name].map(_cell).tolist(), pa.string()) for name in cases.columns})
    parts = [
        _predict_table(_normalized(chunk, default_profile, source, start + 2), source, start + 2, allow_longer_context)
        for start, chunk in ((s, text.slice(s, CHUNK_ROWS)) for s in range(0, max(text.num_rows, 1), CHUNK_ROWS))
        if chunk.num_rows
    ]
    if not parts:
        raise UserError(f"{source}: no cases")
    frame = pa.concat_tables(parts).to_pandas()
    frame["fits"] = frame["fits"] == "True"
    return frame


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)
