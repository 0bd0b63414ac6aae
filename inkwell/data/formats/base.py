"""Shared records of the annotation readers: rows, rejections, the read log, errors and text decoding.

Imports only lower stages. Every format module reads into a :class:`ReadLog`:
accepted rows as :class:`RawRow`, rows it cannot use as :class:`Rejection` with
a reason and a fix. Structural problems (a file that is not the format it claims)
raise :class:`DataFormatError` naming the file and line.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from inkwell.data.images import MAX_IMAGE_PIXELS

__all__ = [
    "DataFormatError",
    "FIXES",
    "GROUP_KEYS",
    "IMAGE_KEYS",
    "PADDLE_DIFFICULT",
    "RawRow",
    "ReadLog",
    "Rejection",
    "SPLIT_KEYS",
    "SPLIT_VALUES",
    "TABLE_SUFFIXES",
    "TEXT_KEYS",
    "WRITER_KEYS",
    "annotation_first_line",
    "clean_opt",
    "decode_text_file",
    "find_key",
    "first_line",
    "looks_like_table_header",
    "norm_key",
    "pick_delimiter",
]

IMAGE_KEYS = ("image", "file", "filename", "file_name", "path", "image_path", "img",
              "image_file", "image_filename", "filepath", "file_path")
TEXT_KEYS = ("text", "label", "transcription", "transcript", "ground_truth", "groundtruth", "gt")
GROUP_KEYS = ("group", "page", "document", "doc", "page_id", "document_id", "doc_id")
WRITER_KEYS = ("writer", "author", "writer_id", "author_id", "scribe", "hand")
SPLIT_KEYS = ("split", "subset", "partition")
SPLIT_VALUES = {"train": "train", "training": "train", "validation": "validation",
                "valid": "validation", "val": "validation", "dev": "validation",
                "test": "test", "testing": "test"}
#: Suffixes of files read as tables (and sniffed for PaddleOCR labels).
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
#: What ``paddle_difficult`` accepts: PaddleOCR detection regions marked ``"difficult": true`` (PPOCRLabel's
#: checkbox for illegible or uncertain text) are left out (``"skip"``, as PPOCRLabel's own export does) or read.
PADDLE_DIFFICULT = ("skip", "keep")

#: Reason code -> one sentence telling the user how to fix the row.
FIXES = {
    "missing_file": ("Check that the path in the annotation is spelled correctly, or set the images_root "
                     "parameter (01_data) to the folder that holds the images."),
    "path_escapes_root": ("Use an image path relative to images_root (no '..', no absolute paths or symlinks "
                          "leading outside it), or pass the correct images_root."),
    "corrupt_image": "Re-export or re-save the image; the file is empty, truncated or not an image PIL can decode.",
    "too_small": "Crop the line less tightly (keep a margin around the writing) or drop the row.",
    "too_large": ("Raise max_image_pixels (01_data) above the image's size if the scan is real; larger images "
                  "are refused unread, a guard against decompression bombs. Otherwise downscale or split it."),
    "empty_text": "Type the transcription for this line, or remove the row.",
    "control_characters": "Remove tabs, line breaks and other invisible control characters from the transcription.",
    "aspect_ratio": "Check that the image is a single text line and not a sliver, or raise max_aspect_ratio.",
    "duplicate": "Nothing to do: this image already occurs earlier with the same text; the earlier row was kept.",
    "conflict": "The same image occurs with different transcriptions; keep one row with the correct text.",
    "bad_region": "Redraw the line polygon/box: it has fewer than 3 distinct points or no area.",
    "unknown_split": "Use one of train, validation (valid/val/dev) or test in the split column, or leave it empty.",
}


class DataFormatError(ValueError):
    """Raised for structural problems in an annotation source (file, line and expected form in the message)."""


@dataclass
class Rejection:
    """One input row that was not accepted.

    Attributes:
        source: Annotation file (or page file) the row came from.
        line: 1-based line/row number in that file (for XML: the TextLine's index within the page).
        image: Image path as written in the source.
        reason: Short machine-friendly code, e.g. ``"missing_file"``.
        fix: One sentence telling the user how to fix it.
        resolved: The image file the path led to (the page for a line cut out of one),
            or None when it was never found or lies outside ``images_root``.
    """

    source: str
    line: int
    image: str
    reason: str
    fix: str
    resolved: str | None = None


@dataclass
class RawRow:
    """One line read from an annotation source, before validation.

    Attributes:
        source: Annotation file the row came from.
        line: 1-based line/row number in that file (TextLine index for XML).
        image: Image path as written in the source.
        resolved: Resolved image file, or an in-memory RGB image for lines cut out of a page.
        text: Transcription as written (not yet normalised).
        group: Page/document the line belongs to, or None when the data gives none.
        writer: Writer/author when the data says so.
        split: User-supplied split (train/validation/test) or None.
        id: Unique, stable identifier of the row.
        page: The page file a cut-out line came from.
    """

    source: str
    line: int
    image: str
    resolved: Path | Image.Image
    text: str
    group: str | None = None
    writer: str | None = None
    split: str | None = None
    id: str = ""
    page: Path | None = None

    @property
    def origin(self) -> Path | None:
        """The file on disk this row's image came from."""
        return self.resolved if isinstance(self.resolved, Path) else self.page


@dataclass
class ReadLog:
    """What the readers collect: rows, rejections, skipped ``"###"`` regions and regions marked difficult.

    Attributes:
        max_pixels: Largest page image opened to cut lines out of.
        notes: Remarks for the report made while reading (e.g. a page image used against its EXIF orientation).
        difficult: PaddleOCR regions marked ``"difficult": true`` (skipped or kept, per ``paddle_difficult``).
        paddle_difficult: ``"skip"`` or ``"keep"`` regions marked difficult (see :data:`PADDLE_DIFFICULT`).
    """

    rows: list[RawRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: int = 0
    max_pixels: int = MAX_IMAGE_PIXELS
    notes: list[str] = field(default_factory=list)
    difficult: int = 0
    paddle_difficult: str = "skip"

    def reject(self, source: Path, line: int, image: str, reason: str, detail: str = "",
               resolved: Path | None = None) -> None:
        """Record a rejected row with the fix for its reason (``detail`` first, when given)."""
        fix = FIXES.get(reason, "Check this row.")
        if detail:
            fix = f"{detail}: {fix}"
        self.rejected.append(Rejection(str(source), line, image, reason, fix,
                                       None if resolved is None else str(resolved)))


def norm_key(name: Any) -> str:
    """Normalise a column/key name for synonym matching."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def find_key(keys: list[str], synonyms: tuple[str, ...]) -> int | None:
    """Return the index of the first key matching a synonym (synonym order wins), or None."""
    normed = [norm_key(k) for k in keys]
    for syn in synonyms:
        if syn in normed:
            return normed.index(syn)
    return None


def decode_text_file(path: Path) -> str:
    """Decode an annotation file as spreadsheets save it (UTF-8 +-BOM, UTF-16 BOM, cp1251), BOM removed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"{path.name}, line 1: cannot read the file ({exc}).") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    elif data.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    else:
        encodings = ("utf-8", "cp1251")
    for enc in encodings:
        try:
            return data.decode(enc).lstrip("\ufeff")
        except UnicodeDecodeError:
            continue
    raise DataFormatError(
        f"{path.name}, line 1: cannot decode the file. Expected UTF-8 (with or without BOM), "
        "UTF-16 with BOM, or Windows-1251 text.")


def first_line(text: str) -> str:
    """Return the first non-blank line of a text."""
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def pick_delimiter(text: str) -> str:
    """Choose the delimiter (tab, semicolon, comma) that splits the header into the most fields."""
    header = first_line(text)
    best, best_n = ",", 1
    for delim in ("\t", ";", ","):
        try:
            n = len(next(csv.reader([header], delimiter=delim)))
        except (csv.Error, StopIteration):
            continue
        if n > best_n:
            best, best_n = delim, n
    if best_n == 1:
        try:
            best = csv.Sniffer().sniff(text[:4096], delimiters="\t;,").delimiter
        except csv.Error:
            pass
    return best


def looks_like_table_header(line: str) -> bool:
    """True when a first line contains a recognisable image column name."""
    fields = next(csv.reader([line], delimiter=pick_delimiter(line)), [])
    return find_key(fields, IMAGE_KEYS) is not None


def clean_opt(value: Any) -> str | None:
    """Return a stripped string, or None for empty/missing values."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    s = str(value).strip()
    return s or None


def annotation_first_line(path: Path, suffixes: tuple[str, ...] | None = (*TABLE_SUFFIXES, ".json")) -> str | None:
    """The first non-blank line of a text annotation file (decoded once per file version), or None when it is
    not one; ``suffixes=None`` accepts any file name."""
    if suffixes is not None and path.suffix.lower() not in suffixes:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return _cached_first_line(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _cached_first_line(path: Path, _mtime_ns: int, _size: int) -> str | None:
    try:
        return first_line(decode_text_file(path)) or None
    except DataFormatError:
        return None
