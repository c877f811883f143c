"""Cases files in, predictions out: reading a CSV or Parquet file of cases as text columns a chunk at a time,
the progress line on stderr, and writing the predictions (CSV text or Parquet) in order as they come."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa

from idealrt.simulator.errors import UserError, shown
from idealrt.simulator.files import decoded
from idealrt.simulator.validation import check_path_text

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = ("model", "hardware", "tp", "pp", "batch", "prompt_tokens", "output_tokens")
CHUNK_ROWS = 1 << 17  # rows read, simulated and written at a time


# --- reading ----------------------------------------------------------------------------------------------------


def _header(path: Path) -> list[str]:
    """The column names, after checking that the file starts as UTF-8 text (`files.decoded` names what else it is)."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    first_lines = head[: head.rfind(b"\n") + 1] if b"\n" in head else head
    text = decoded(first_lines, path)
    return next(csv.reader(io.StringIO(text)), [])


def read_batches(path: Path, progress: Progress) -> Iterator[pa.Table]:
    """The file's rows as tables of text columns, CHUNK_ROWS at a time."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
        progress.total = parquet.metadata.num_rows
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            table = pa.Table.from_batches([batch])
            progress.advance(table.num_rows)
            yield table.cast(pa.schema([(name, pa.string()) for name in table.column_names]))
        return
    import pyarrow.csv as pacsv

    names = _header(path)
    if not names:
        raise UserError(f"{path}: empty file (expected a header row with {', '.join(REQUIRED_COLUMNS)})")
    handle = path.open("rb")
    progress.total = path.stat().st_size
    try:
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            progress.reached(handle.tell())
            yield pa.Table.from_batches([batch])
    except pa.ArrowInvalid as exc:
        raise UserError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    finally:
        handle.close()


def rechunked(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    for table in tables:
        for start in range(0, table.num_rows, CHUNK_ROWS):
            yield table.slice(start, CHUNK_ROWS)


# --- progress and writing ---------------------------------------------------------------------------------------


class Progress:
    """A one-line progress report on stderr, shown once a run has taken more than a second."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.started = time.perf_counter()
        self.total = 0
        self.done = 0
        self.cases = 0
        self.shown = 0.0

    def reached(self, position: int) -> None:
        self.done = position

    def advance(self, amount: int) -> None:
        self.done += amount

    def predicted(self, cases: int) -> None:
        self.cases += cases
        elapsed = time.perf_counter() - self.started
        if self.stream is None or elapsed < 1.0 or elapsed - self.shown < 0.2:
            return
        self.shown = elapsed
        share = f" ({100 * min(self.done / self.total, 1):.0f}%)" if self.total else ""
        rate = self.cases / elapsed
        self.stream.write(f"\rpredict: {self.cases:,} cases{share}, {elapsed:.1f} s, {rate:,.0f} cases/s")
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is not None and self.shown:
            self.stream.write("\n")


# A run's schema, rows, and its CSV text (no header), a spill file holding that text, or the table (Parquet).
Encoded = tuple[pa.Schema, int, bytes | Path | pa.Table]


def encoded(predictions: pa.Table, csv_text: bool, spill_dir: Path | None = None) -> Encoded:
    """A run's predictions as `PredictionWriter` takes them: CSV text without the header (formatted where they were
    computed, in a worker), or the table itself for Parquet. With a `spill_dir`, the text goes into a new file
    there: a worker hands back its name instead of sending the text through a pipe, and the writer appends the
    file in the kernel (`PredictionWriter.write`)."""
    if not csv_text:
        return predictions.schema, predictions.num_rows, predictions
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False)
    if spill_dir is not None:
        try:
            descriptor, name = tempfile.mkstemp(dir=spill_dir, suffix=".csv")
            os.close(descriptor)
            pacsv.write_csv(predictions, name, options)
            return predictions.schema, predictions.num_rows, Path(name)
        except OSError:  # no room in the temporary folder: the text goes back the slower way
            pass
    text = io.BytesIO()
    pacsv.write_csv(predictions, text, options)
    return predictions.schema, predictions.num_rows, text.getvalue()


@contextmanager
def spill_folder(wanted: bool) -> Iterator[Path | None]:
    """A temporary folder for workers' spill files, removed with whatever is left in it on leaving; None when not
    `wanted` or where none can be made (the text then goes back through the pipe)."""
    try:
        folder = Path(tempfile.mkdtemp(prefix="idealrt-predict-")) if wanted else None
    except OSError:
        folder = None
    try:
        yield folder
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


class PredictionWriter:
    """The output file, opened at the first predictions (whose schema a Parquet file and a CSV header need)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.csv = out.suffix != ".parquet"
        self.handle: Any = None

    def write(self, encoded: Iterator[Encoded]) -> int:
        """Write every run of a chunk in order, once all are predicted; the rows written."""
        rows = 0
        for schema, run_rows, data in list(encoded):
            if self.handle is None:
                self.out.parent.mkdir(parents=True, exist_ok=True)
                self.handle = self._open(schema)
            if isinstance(data, bytes):
                self.handle.write(data)
            elif isinstance(data, Path):
                _append(self.handle, data)
            else:
                self.handle.write_table(data)
            rows += run_rows
        return rows

    def _open(self, schema: pa.Schema) -> Any:
        if self.csv:
            import pyarrow.csv as pacsv

            handle = self.out.open("wb", buffering=0)  # unbuffered: spill files are appended at its offset
            header = io.BytesIO()
            pacsv.write_csv(schema.empty_table(), header)
            handle.write(header.getvalue())
            return handle
        import pyarrow.parquet as pq

        return pq.ParquetWriter(self.out, schema)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _append(handle: IO[bytes], spilled: Path) -> None:
    """The spill file's bytes at the end of `handle` (unbuffered), copied in the kernel where the system can
    (Linux), and the file removed."""
    with spilled.open("rb", buffering=0) as source:
        remaining = os.fstat(source.fileno()).st_size
        try:
            while remaining > 0 and (copied := os.copy_file_range(source.fileno(), handle.fileno(), remaining)):
                remaining -= copied
        except (AttributeError, OSError):  # no copy_file_range (not Linux), or not between these two files
            pass
        shutil.copyfileobj(source, handle)  # what the kernel did not copy (nothing, where it copied it all)
    spilled.unlink()


def check_cases_file(path: Path) -> None:
    check_path_text(str(path), "cases file")
    where = shown(str(path))
    try:
        if path.is_dir():
            raise UserError(f"cases file '{where}' is a folder, not a file")
        if not path.is_file():
            raise UserError(f"cases file not found: {where}")
    except OSError as exc:
        raise UserError(f"cannot read cases file '{where}': {exc.strerror or exc}") from None


def read_cases(path: Path) -> pd.DataFrame:
    """A cases file (CSV or Parquet) as a DataFrame of text columns."""
    check_cases_file(path)
    tables = list(read_batches(path, Progress(None)))
    if not tables:
        raise UserError(f"{path}: no cases (a header but no rows)")
    return pa.concat_tables(tables).to_pandas()
