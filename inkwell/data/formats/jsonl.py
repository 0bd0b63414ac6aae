"""JSON Lines: one object per line with an image key and a text key (optional group, writer, split).

Imports :mod:`inkwell.data.formats.base` and :mod:`inkwell.data.formats.resolve`.
"""

from __future__ import annotations

import json
from pathlib import Path

from inkwell.data.formats.base import (GROUP_KEYS, IMAGE_KEYS, SPLIT_KEYS, TABLE_SUFFIXES, TEXT_KEYS, WRITER_KEYS,
                                  DataFormatError, ReadLog, annotation_first_line, clean_opt, decode_text_file,
                                  find_key)
from inkwell.data.formats.resolve import Resolver, add_file_row

__all__ = ["NAME", "default_root", "read", "read_records", "sniff"]

NAME = "jsonl"


def sniff(path: Path) -> bool:
    """True for ``.jsonl``/``.ndjson`` files, and for text files whose first line is a JSON object."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    first = annotation_first_line(path, (*TABLE_SUFFIXES, ".json"))
    return first is not None and first.lstrip().startswith("{")


def default_root(path: Path, source: Path) -> Path:
    """Image paths are relative to the file's folder."""
    return path.parent


def read_records(path: Path, resolver: Resolver, log: ReadLog, image_keys: tuple[str, ...] = IMAGE_KEYS,
                 split_default: str | None = None, base: Path | None = None) -> None:
    """Read JSON objects whose image key may go by other names (``image_keys``) and whose rows
    default to ``split_default``; image paths are relative to ``base`` (default: the root)."""
    expected = 'Expected one JSON object per line, e.g. {"image": "lines/a.png", "text": "..."}.'
    for line, raw in enumerate(decode_text_file(path).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path.name}, line {line}: malformed JSON ({exc.msg}). {expected}") from exc
        if not isinstance(obj, dict):
            raise DataFormatError(f"{path.name}, line {line}: not a JSON object. {expected}")
        keys = list(obj.keys())
        ii, ti = find_key(keys, image_keys), find_key(keys, TEXT_KEYS)
        if ii is None or ti is None:
            missing = "image" if ii is None else "text"
            raise DataFormatError(f"{path.name}, line {line}: no {missing} key found (keys: {', '.join(keys)}). "
                                  f"{expected}")

        def opt(syn: tuple[str, ...]) -> str | None:
            i = find_key(keys, syn)
            return clean_opt(obj[keys[i]]) if i is not None else None

        image_val = obj[keys[ii]]
        if isinstance(image_val, dict):  # {"path": ...} style
            image_val = image_val.get("path") or ""
        text_val = obj[keys[ti]]
        add_file_row(log, resolver, path, line, "" if image_val is None else str(image_val),
                     None if text_val is None else str(text_val), opt(GROUP_KEYS), opt(WRITER_KEYS),
                     opt(SPLIT_KEYS) or split_default, base=base)


def read(path: Path, resolver: Resolver, log: ReadLog) -> None:
    """Read every object of a JSON Lines file into ``log``."""
    read_records(path, resolver, log)
