"""Reading a source table safely: required columns present, required cells filled, duplicates collapsed,
records built with errors that name the source file and line."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from idealrt.simulator.errors import UserError, first_validation_problem

Record = TypeVar("Record", bound=BaseModel)

MS = 1e-3
US = 1e-6
LINE = "_line"  # column added to every source table: the row's line in the file (the header is line 1)


def read_source_table(path: Path, required: Iterable[str]) -> pd.DataFrame:
    """The whole CSV; raises `UserError` naming the file when it is absent or lacks a required column."""
    if not path.is_file():
        raise UserError(f"source file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
    frame[LINE] = frame.index + 2
    return frame


def require_values(frame: pd.DataFrame, columns: Iterable[str], path: Path) -> None:
    """Every listed cell is filled; the first empty one is reported with its line."""
    for column in columns:
        empty = frame.loc[frame[column].isna(), LINE]
        if len(empty):
            raise UserError(f"{path}:{int(empty.iloc[0])}: empty value in column '{column}'")


def collapse_duplicates(frame: pd.DataFrame, keys: Sequence[str], medians: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """One row per distinct `keys`: the median of the `medians` columns, the first value of the others.

    Returns the collapsed table and how many rows were merged away."""
    grouped = frame.groupby(list(keys), sort=False, dropna=False)
    aggregations: dict[str, object] = {column: "first" for column in frame.columns if column not in keys}
    aggregations |= {column: "median" for column in medians}
    collapsed = grouped.agg(aggregations).reset_index()
    return collapsed, len(frame) - len(collapsed)


def build_records(rows: Iterable[dict], record_type: type[Record], path: Path) -> list[Record]:
    """Validate each row; a rejected row becomes a `UserError` naming the source file (and line, if known)."""
    records = []
    for row in rows:
        line = row.pop(LINE, None)
        try:
            records.append(record_type.model_validate(row))
        except ValidationError as exc:
            where = f"{path}:{line}" if line is not None else str(path)
            raise UserError(f"{where}: {first_validation_problem(exc)}") from None
    return records


def apply_rows(frame: pd.DataFrame, make_row: Callable[[pd.Series], dict]) -> list[dict]:
    """`make_row` for every row, each tagged with its source line for error messages."""
    rows = []
    for _, series in frame.iterrows():
        row = make_row(series)
        row[LINE] = int(series[LINE])
        rows.append(row)
    return rows
