"""CSV cells a spreadsheet will not run as formulas, and their exact text when Inkwell reads them back.

Stage ``core``: imports nothing from the package. A text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets (``=HYPERLINK(...)`` in a transcription would
run when someone opens ``predictions.csv``). Every CSV Inkwell writes with
text from users or models goes through here: such a cell gets a leading
``'``, which spreadsheets show as plain text. A text that already starts with
``'`` gets one too, so :func:`restore` (drop exactly one leading ``'``) gives
back the original text, always. Numbers are never touched: only ``str``
values are text.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "FORMULA_STARTS",
    "QUOTE",
    "neutralise",
    "neutralise_row",
    "read_frame",
    "read_csv_rows",
    "restore",
    "write_frame",
]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: The prefix that keeps a cell text (and marks a neutralised cell for :func:`restore`).
QUOTE = "'"


def neutralise(text: str) -> str:
    """``text`` with a leading ``'`` when it starts like a formula or with ``'`` itself, else unchanged.

    Example:
        >>> neutralise("=1+1"), neutralise("'quoted"), neutralise("plain")
        ("'=1+1", "''quoted", 'plain')
    """
    return QUOTE + text if text.startswith((*FORMULA_STARTS, QUOTE)) else text


def restore(text: str) -> str:
    """The original of a :func:`neutralise` d cell: one leading ``'`` dropped, if there is one.

    Example:
        >>> restore("'=1+1"), restore("''quoted"), restore("plain")
        ('=1+1', "'quoted", 'plain')
    """
    return text[1:] if text.startswith(QUOTE) else text


def neutralise_row(row: Iterable[Any]) -> list[Any]:
    """A row for ``csv.writer`` with every text cell neutralised (numbers and None as they are)."""
    return [neutralise(v) if isinstance(v, str) else v for v in row]


def write_frame(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as UTF-8 CSV without its index, every text cell neutralised.

    Returns:
        The path written.
    """
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column].dtype):
            safe[column] = safe[column].map(lambda v: neutralise(v) if isinstance(v, str) else v)
    # "\r\n" ends a row (RFC 4180), so the csv writer also quotes any cell that holds a bare "\r"
    safe.to_csv(path, index=False, encoding="utf-8", lineterminator="\r\n")
    return Path(path)


def read_frame(path: str | os.PathLike[str], text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV written by :func:`write_frame`, every text cell restored to its original.

    ``text_columns`` stay text (``"007"`` stays ``"007"``, an empty cell is ``""``).
    Any other column becomes numbers when each of its cells is a number or empty
    and none was neutralised (a neutralised cell was text when written).

    Args:
        path: The CSV file.
        text_columns: Columns that are always text.

    Returns:
        The table, with the columns in file order.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in raw.columns:
        values = raw[column]
        quoted = values.str.startswith(QUOTE)
        if column not in text_columns and not quoted.any():
            numbers = pd.to_numeric(values, errors="coerce")
            if bool((numbers.notna() | (values.str.strip() == "")).all()):
                raw[column] = numbers
                continue
        raw[column] = values.map(restore)
    return raw


def read_csv_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a CSV written with :func:`neutralise_row`, as header -> original text."""
    with open(path, encoding="utf-8", newline="") as fh:
        return [{k: restore(v) for k, v in row.items()} for row in csv.DictReader(fh)]
