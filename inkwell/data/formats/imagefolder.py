"""Hugging Face imagefolder: ``metadata.jsonl`` or ``metadata.csv`` with a ``file_name`` column,
at the top or one per split sub-folder (``train/``, ``validation/``, ``test/``).

Imports the table and JSON Lines readers, whose rows it reads.
"""

from __future__ import annotations

from pathlib import Path

from inkwell.data.formats import jsonl, table
from inkwell.data.formats.base import IMAGE_KEYS, SPLIT_VALUES, DataFormatError, ReadLog
from inkwell.data.formats.resolve import Resolver

__all__ = ["NAME", "default_root", "metadata_files", "read", "sniff", "sources"]

NAME = "imagefolder"
_METADATA = ("metadata.jsonl", "metadata.csv")


def sniff(path: Path) -> bool:
    """True for a file named ``metadata.jsonl`` or ``metadata.csv``."""
    return path.name.lower() in _METADATA


def metadata_files(folder: Path) -> list[Path]:
    """imagefolder metadata files (top level, or one per split sub-folder)."""
    for name in _METADATA:
        if (folder / name).is_file():
            return [folder / name]
    found = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for name in _METADATA:
            if (sub / name).is_file():
                found.append(sub / name)
                break
    return found


def sources(folder: Path) -> list[Path]:
    """The metadata files of an imagefolder."""
    metas = metadata_files(folder)
    if not metas:
        raise DataFormatError(f"{folder}: no metadata.jsonl or metadata.csv found. Expected a Hugging Face "
                              "imagefolder with a file_name column and a text column.")
    return metas


def default_root(path: Path, source: Path) -> Path:
    """Image paths stay inside the imagefolder: the folder given, or the metadata file's folder."""
    return source if source.is_dir() else source.parent


def read(path: Path, resolver: Resolver, log: ReadLog) -> None:
    """Read one metadata file; rows in a split sub-folder default to that split."""
    split_default = SPLIT_VALUES.get(path.parent.name.lower()) if path.parent != resolver.root else None
    reader = jsonl.read_records if path.suffix.lower() == ".jsonl" else table.read_records
    reader(path, resolver, log, ("file_name", *IMAGE_KEYS), split_default, base=path.parent)
