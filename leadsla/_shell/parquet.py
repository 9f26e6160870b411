"""Parquet files as rows of text cells, for the mappings that read CSV exports.

A Parquet file's columns are typed; a mapping's columns read text. So each value is given to
the mapping as the text a CSV export would hold: a time or a date in ISO 8601 (with its offset
when the column has a time zone), a boolean as ``true``/``false``, a number as Python writes
it, a nested value as JSON, and a null as an empty cell (so "not given", as the mapping's
``missing`` says of ``""``). The file is read a batch of rows at a time, never whole.

Reading Parquet needs pyarrow: the ``parquet`` extra (``pip install 'leadsla[parquet]'``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final

from leadsla._core.errors import CsvError, Problem

__all__ = ["parquet_rows"]

#: Rows read from the file at a time.
BATCH: Final = 65_536


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CsvError(
            Problem(
                "parquet",
                None,
                "needs pyarrow, which is not installed",
                "install the extra: pip install 'leadsla[parquet]'",
            )
        ) from None
    return pq


def parquet_rows(
    path: Path, read: Callable[[int], object] | None = None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header (the file's column names) and the rows, each with its number (counting
    from 1) and its cells as text. ``read``, when given, is told the share of the file's
    bytes each batch of rows stands for (for a progress bar)."""
    pq = _pyarrow_parquet()
    try:
        file = pq.ParquetFile(path)
    except OSError:
        raise  # the caller says the file cannot be read
    except Exception as error:  # pyarrow's ArrowInvalid: not a Parquet file
        raise CsvError(
            Problem(
                "path",
                str(path),
                f"cannot be read as Parquet ({error})",
                "give a Parquet file, or a CSV file (.csv, .csv.gz or .zip)",
            )
        ) from None
    header = [str(name) for name in file.schema_arrow.names]
    total = file.metadata.num_rows
    size = path.stat().st_size

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 0
        for batch in file.iter_batches(batch_size=BATCH):
            columns = [[_text(value) for value in column.to_pylist()] for column in batch.columns]
            for cells in zip(*columns, strict=True):
                number += 1
                yield number, list(cells)
            if read is not None and total:
                read(size * batch.num_rows // total)

    return header, rows()


def _text(value: Any) -> str:
    """A Parquet value as a CSV export would write it (see the module's documentation)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)
