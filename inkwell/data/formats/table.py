"""CSV/TSV tables with a header naming an image column and a text column (any delimiter, any spreadsheet encoding).

Imports :mod:`inkwell.data.formats.base` and :mod:`inkwell.data.formats.resolve`. Optional
columns: group/page/document, writer, split.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from inkwell.data.formats.base import (GROUP_KEYS, IMAGE_KEYS, SPLIT_KEYS, TABLE_SUFFIXES, TEXT_KEYS, WRITER_KEYS,
                                  DataFormatError, ReadLog, annotation_first_line, clean_opt, decode_text_file,
                                  find_key, looks_like_table_header, pick_delimiter)
from inkwell.data.formats.resolve import Resolver, add_file_row

__all__ = [
    "NAME",
    "columns",
    "default_root",
    "read",
    "read_records",
    "records",
    "sniff",
]

NAME = "table"


def sniff(path: Path) -> bool:
    """True for a table file: a header line (needed for ``.txt`` and tab-separated files) that is not JSON."""
    first = annotation_first_line(path, TABLE_SUFFIXES)
    if first is None or first.lstrip().startswith("{"):
        return False
    if "\t" in first or path.suffix.lower() == ".txt":
        return looks_like_table_header(first)
    return True


def default_root(path: Path, source: Path) -> Path:
    """Image paths are relative to the table's folder."""
    return path.parent


def records(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Parse a CSV/TSV file into (header, [(line_number, fields), ...])."""
    text = decode_text_file(path)
    delim = pick_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    prev = 0
    try:
        for fields in reader:
            start = prev + 1
            prev = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = fields
                continue
            rows.append((start, fields))
    except csv.Error as exc:
        raise DataFormatError(f"{path.name}, line {prev + 1}: cannot parse the table ({exc}). "
                              "Expected a CSV/TSV file with a header row.") from exc
    if header is None:
        raise DataFormatError(f"{path.name}, line 1: the file is empty. Expected a header with an image "
                              "column (image/file/path) and a text column (text/label/transcription).")
    return header, rows


def columns(path: Path, header: list[str], image_keys: tuple[str, ...] = IMAGE_KEYS) -> dict[str, int | None]:
    """Map roles (image/text/group/writer/split) to column indexes, raising if image or text is missing."""
    cols = {"image": find_key(header, image_keys), "text": find_key(header, TEXT_KEYS),
            "group": find_key(header, GROUP_KEYS), "writer": find_key(header, WRITER_KEYS),
            "split": find_key(header, SPLIT_KEYS)}
    expected = ("Expected a header with an image column (image/file/path) and a text column "
                "(text/label/transcription).")
    shown = ", ".join(str(h).strip() for h in header)
    if cols["image"] is None:
        raise DataFormatError(f"{path.name}, line 1: no image column found (columns: {shown}). {expected}")
    if cols["text"] is None:
        raise DataFormatError(f"{path.name}, line 1: no text column found (columns: {shown}). {expected}")
    return cols


def read_records(path: Path, resolver: Resolver, log: ReadLog, image_keys: tuple[str, ...] = IMAGE_KEYS,
                 split_default: str | None = None, base: Path | None = None) -> None:
    """Read a table whose image column may go by other names (``image_keys``) and whose rows
    default to ``split_default``; image paths are relative to ``base`` (default: the root)."""
    header, rows = records(path)
    cols = columns(path, header, image_keys)

    def get(fields: list[str], role: str) -> str | None:
        i = cols[role]
        return fields[i] if i is not None and i < len(fields) else None

    for line, fields in rows:
        image = get(fields, "image") or ""
        add_file_row(log, resolver, path, line, image, get(fields, "text"), clean_opt(get(fields, "group")),
                     clean_opt(get(fields, "writer")), clean_opt(get(fields, "split")) or split_default, base=base)


def read(path: Path, resolver: Resolver, log: ReadLog) -> None:
    """Read every row of a table into ``log``."""
    read_records(path, resolver, log)
