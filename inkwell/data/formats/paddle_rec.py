"""PaddleOCR recognition labels: ``image_path<TAB>text``, one line image per line.

Imports :mod:`inkwell.data.formats.base` and :mod:`inkwell.data.formats.resolve`. Also
holds the image-root rule that PaddleOCR's label tools need (shared with
:mod:`inkwell.data.formats.paddle_det`).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from inkwell.data.formats.base import (TABLE_SUFFIXES, DataFormatError, ReadLog, annotation_first_line,
                                  decode_text_file, looks_like_table_header)
from inkwell.data.formats.resolve import Resolver, add_file_row

__all__ = ["NAME", "default_root", "read", "sniff"]

NAME = "paddle_rec"


def sniff(path: Path) -> bool:
    """True for a text file whose first line holds a tab and is not a table header."""
    first = annotation_first_line(path, TABLE_SUFFIXES)
    return first is not None and "\t" in first and not looks_like_table_header(first)


def default_root(path: Path, source: Path) -> Path:
    """The label file's folder, or its parent when the paths start with that folder's name
    (as PPOCRLabel writes them, e.g. ``imgs/Label.txt`` -> ``imgs/a.jpg``)."""
    first = (annotation_first_line(path, None) or "").split("\t", 1)[0].strip().replace("\\", "/")
    parts = PurePosixPath(first).parts
    if (first and not (path.parent / first).exists() and len(parts) > 1
            and parts[0] == path.parent.name and (path.parent.parent / first).exists()):
        return path.parent.parent
    return path.parent


def read(path: Path, resolver: Resolver, log: ReadLog) -> None:
    """Read every ``image<TAB>text`` line into ``log``."""
    for line, raw in enumerate(decode_text_file(path).splitlines(), start=1):
        if not raw.strip():
            continue
        if "\t" not in raw:
            raise DataFormatError(f"{path.name}, line {line}: no tab found. Expected PaddleOCR recognition "
                                  "labels: image_path<TAB>text, one per line.")
        image, text = raw.split("\t", 1)
        add_file_row(log, resolver, path, line, image, text, None, None, None)
