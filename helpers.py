"""Inkwell: teach a vision-language model to read one person's handwriting.

This module holds all the logic behind the four notebooks in ``notebooks/``:

* ``01_data``: read labelled line images, validate them, split them, save a
  ``datasets.DatasetDict`` (see :func:`prepare_dataset`).
* ``02_finetune``: load a base model (Unsloth ``FastVisionModel`` in 4-bit when
  a CUDA GPU is present, transformers + PEFT otherwise), attach LoRA, train with
  TRL's ``SFTTrainer`` on the answer tokens only, save ``adapters/<run>/``
  (see :func:`load_model`, :func:`train_adapter`).
* ``03_evaluate``: greedy, batched decoding of a split by the base model and any
  number of adapters, CER/WER with jiwer, inline diffs and an inspector widget
  (see :func:`predict_lines`, :func:`evaluate_systems`, :func:`make_inspector`).
* ``04_demo``: read new images with the base model plus an adapter.

It also builds what the project needs to run without a GPU or hub access: a
tiny random-weight model of a real architecture (:func:`build_tiny_model`) and
synthetic handwriting lines (:func:`make_synthetic_lines`).

Functions return values (dataclasses, strings, figures) and never print, so the
same result serves a notebook, a widget, a log and a test. Importing this module
has no side effects; heavy libraries (torch, transformers, Unsloth) are
imported inside the functions that need them.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as _dt
import hashlib
import html
import io
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import struct
import sys
import tempfile
import unicodedata
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import datasets
import ipywidgets as widgets
import jiwer
import matplotlib.figure
import numpy as np
import pandas as pd
import PIL.Image
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

if TYPE_CHECKING:  # pragma: no cover - imports for type checkers only
    import torch
    from PIL import Image as PILImage

#: The folder that holds this file.
PROJECT_ROOT = Path(__file__).resolve().parent


def workspace() -> Path:
    """The folder that relative paths (``data/``, ``adapters/``) are resolved against.

    The project folder, unless the environment variable ``INKWELL_HOME`` names
    another one (the tests use that to keep their files out of yours).
    """
    home = os.environ.get("INKWELL_HOME")
    return Path(home).expanduser().resolve() if home else PROJECT_ROOT


def project_path(path: str | os.PathLike[str]) -> Path:
    """Resolve ``path`` against :func:`workspace` unless it is absolute.

    Relative paths in notebook parameters go through here, so notebooks work
    from any working directory.

    Args:
        path: A path as written in a notebook parameter, e.g. ``"data/processed"``.

    Returns:
        An absolute path.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else workspace() / p


# ---------------------------------------------------------------------------
# Model families: every per-family difference lives in this one table.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilySettings:
    """What differs between model families.

    Attributes:
        name: Short family name used in parameters and file names.
        model_types: ``config.model_type`` values that belong to the family.
        instruction: The user prompt that asks for a transcription.
        end_of_turn: The token that ends the assistant's answer; the training
            target ends with it and generation stops on it.
        patch_multiple: Image sides are rounded to a multiple of this
            (vision patch size times the spatial merge size).
        max_aspect_ratio: The widest aspect ratio the vision tower accepts.
        language_prefix: Regex prefix of language-model module names.
        vision_prefix: Regex prefix of vision-tower module names.
        attention_modules: Leaf names of attention projections.
        mlp_modules: Leaf names of MLP projections.
    """

    name: str
    model_types: tuple[str, ...]
    instruction: str
    end_of_turn: str
    patch_multiple: int
    max_aspect_ratio: float
    language_prefix: str
    vision_prefix: str
    attention_modules: tuple[str, ...]
    mlp_modules: tuple[str, ...]


_TRANSCRIBE = "Transcribe the handwritten text in this image exactly. Reply with the text only."

FAMILIES: dict[str, FamilySettings] = {
    "qwen2_5_vl": FamilySettings(
        name="qwen2_5_vl",
        model_types=("qwen2_5_vl", "qwen2_vl"),
        instruction=_TRANSCRIBE,
        end_of_turn="<|im_end|>",
        patch_multiple=28,
        max_aspect_ratio=200.0,
        language_prefix=r"model\.language_model",
        vision_prefix=r"model\.visual",
        attention_modules=("q_proj", "k_proj", "v_proj", "o_proj", "qkv", "proj"),
        mlp_modules=("gate_proj", "up_proj", "down_proj", "linear_fc1", "linear_fc2"),
    ),
    "qwen3_vl": FamilySettings(
        name="qwen3_vl",
        model_types=("qwen3_vl",),
        instruction=_TRANSCRIBE,
        end_of_turn="<|im_end|>",
        patch_multiple=32,
        max_aspect_ratio=200.0,
        language_prefix=r"model\.language_model",
        vision_prefix=r"model\.visual",
        attention_modules=("q_proj", "k_proj", "v_proj", "o_proj", "qkv", "proj"),
        mlp_modules=("gate_proj", "up_proj", "down_proj", "linear_fc1", "linear_fc2"),
    ),
}


def family_for_model_type(model_type: str) -> FamilySettings:
    """Return the family settings for a ``config.model_type``.

    Args:
        model_type: e.g. ``"qwen2_5_vl"``.

    Raises:
        ValueError: The architecture is not one Inkwell supports yet.
    """
    for fam in FAMILIES.values():
        if model_type in fam.model_types:
            return fam
    supported = ", ".join(t for f in FAMILIES.values() for t in f.model_types)
    raise ValueError(
        f"Model type {model_type!r} is not supported yet (supported: {supported}). "
        "Pick a Qwen2.5-VL or Qwen3-VL checkpoint in `model_name`."
    )


def lora_target_regex(
    family: FamilySettings,
    *,
    vision: bool = False,
    language: bool = True,
    attention: bool = True,
    mlp: bool = True,
) -> str:
    """Build the regex of module names that receive LoRA adapters.

    The same regex is handed to Unsloth and to PEFT, so both backends adapt
    exactly the same layers.

    Args:
        family: The model family.
        vision: Adapt the vision tower.
        language: Adapt the language model.
        attention: Adapt attention projections.
        mlp: Adapt MLP projections.

    Returns:
        A regex for ``peft.LoraConfig(target_modules=...)`` (full match).

    Raises:
        ValueError: Every switch is off, so nothing would be trained.
    """
    parts = [p for p, on in ((family.language_prefix, language), (family.vision_prefix, vision)) if on]
    leaves = [*(family.attention_modules if attention else ()), *(family.mlp_modules if mlp else ())]
    if not parts or not leaves:
        raise ValueError(
            "No LoRA target left: set at least one of finetune_language_layers / finetune_vision_layers "
            "and at least one of finetune_attention_modules / finetune_mlp_modules to True."
        )
    return rf"(?:{'|'.join(parts)})\..*\.(?:{'|'.join(sorted(set(leaves)))})"


# ---------------------------------------------------------------------------
# Data classes and constants
# ---------------------------------------------------------------------------

FORMATS = ("table", "paddle_rec", "paddle_det", "page_xml", "alto", "jsonl", "imagefolder")
SPLITS = ("train", "validation", "test")

_IMAGE_KEYS = ("image", "file", "filename", "file_name", "path", "image_path", "img",
               "image_file", "image_filename", "filepath", "file_path")
_TEXT_KEYS = ("text", "label", "transcription", "transcript", "ground_truth", "groundtruth", "gt")
_GROUP_KEYS = ("group", "page", "document", "doc", "page_id", "document_id", "doc_id")
_WRITER_KEYS = ("writer", "author", "writer_id", "author_id", "scribe", "hand")
_SPLIT_KEYS = ("split", "subset", "partition")
_SPLIT_VALUES = {"train": "train", "training": "train", "validation": "validation",
                 "valid": "validation", "val": "validation", "dev": "validation",
                 "test": "test", "testing": "test"}
_TABLE_EXTS = {".csv", ".tsv", ".txt", ".tab"}
_IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".jp2"}
_ALLOWED_FORMAT_CHARS = {"\u200c", "\u200d"}  # ZWNJ / ZWJ carry meaning in several scripts
_PARALLEL_MIN_FILES = 256  # below this many image files, validation runs in-process
_SHARD_BYTES = 500 * 1024 * 1024  # target size of one saved Arrow shard
_FIXES = {
    "missing_file": ("Check that the image exists under images_root and that the path in the annotation "
                     "is spelled correctly."),
    "path_escapes_root": ("Use an image path relative to images_root (no '..', no absolute paths or symlinks "
                          "leading outside it), or pass the correct images_root."),
    "corrupt_image": "Re-export or re-save the image; the file is empty, truncated or not an image PIL can decode.",
    "too_small": "Crop the line less tightly or drop it; each side must be at least min_side pixels.",
    "too_large": "Downscale or split the image, or raise max_image_pixels if the size is intended.",
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
    """

    source: str
    line: int
    image: str
    reason: str
    fix: str


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


@dataclass
class DataReport:
    """Summary of a ``prepare_dataset`` run; ``to_dict()`` is what ``report.json`` holds.

    Attributes:
        output_dir: Folder the dataset was written to.
        format: Detected or requested input format.
        n_rows: Input rows seen (lines/regions; ``###`` regions not included).
        n_accepted: Rows written to the dataset.
        n_duplicates_dropped: Rows dropped because an identical image with the same text came earlier.
        n_skipped_regions: PaddleOCR ``"###"`` regions skipped.
        split_sizes: Rows per split.
        groups_per_split: Distinct groups per split.
        charset: Sorted unique characters of the accepted texts.
        unseen_chars: Split -> characters occurring there (validation/test) but never in train.
        rejected: Every row not accepted, with reason and fix (duplicates included).
        notes: Plain-language remarks, e.g. about empty splits.
        images_root: Folder image paths were resolved against.
    """

    output_dir: Path
    format: str
    n_rows: int
    n_accepted: int
    n_duplicates_dropped: int
    n_skipped_regions: int
    split_sizes: dict[str, int]
    groups_per_split: dict[str, int]
    charset: str
    unseen_chars: dict[str, str]
    rejected: list[Rejection]
    notes: list[str] = field(default_factory=list)
    images_root: Path | None = None

    def to_dict(self) -> dict:
        """Return a JSON-ready dictionary of the report.

        Returns:
            The report with paths as strings and rejections as plain dictionaries.
        """
        out = asdict(self)
        out["output_dir"] = str(self.output_dir)
        out["images_root"] = None if self.images_root is None else str(self.images_root)
        out["n_rejected"] = len(self.rejected)
        out["rejected_by_reason"] = dict(Counter(r.reason for r in self.rejected).most_common())
        return out


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _norm_key(name: Any) -> str:
    """Normalise a column/key name for synonym matching."""
    return re.sub(r"[\s\-]+", "_", str(name).replace("\ufeff", "").strip().lower())


def _find_key(keys: list[str], synonyms: tuple[str, ...]) -> int | None:
    """Return the index of the first key matching a synonym (synonym order wins), or None."""
    normed = [_norm_key(k) for k in keys]
    for syn in synonyms:
        if syn in normed:
            return normed.index(syn)
    return None


def _decode_text_file(path: Path) -> str:
    """Decode an annotation file as spreadsheets save it (UTF-8 +-BOM, UTF-16 BOM, cp1251)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"{path.name}, line 1: cannot read the file ({exc}).") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)
    elif data.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    else:
        encodings = ("utf-8", "cp1251")
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise DataFormatError(
        f"{path.name}, line 1: cannot decode the file. Expected UTF-8 (with or without BOM), "
        "UTF-16 with BOM, or Windows-1251 text.")


def _first_line(text: str) -> str:
    """Return the first non-blank line of a text."""
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _pick_delimiter(text: str) -> str:
    """Choose the delimiter (tab, semicolon, comma) that splits the header into the most fields."""
    header = _first_line(text)
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


def _clean_opt(value: Any) -> str | None:
    """Return a stripped string, or None for empty/missing values."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    s = str(value).strip()
    return s or None


def _looks_like_table_header(line: str) -> bool:
    """True when a first line contains a recognisable image column name."""
    fields = next(csv.reader([line], delimiter=_pick_delimiter(line)), [])
    return _find_key(fields, _IMAGE_KEYS) is not None


def _xml_root_kind(path: Path) -> str | None:
    """Return "page_xml"/"alto" from an XML file's root element (without parsing it whole),
    "broken" when not even the root element parses, else None."""
    try:
        for _event, elem in ET.iterparse(str(path), events=("start",)):
            local = elem.tag.rsplit("}", 1)[-1].lower()
            if local == "pcgts":
                return "page_xml"
            if local == "alto":
                return "alto"
            return None
    except ET.ParseError:
        return "broken"
    except OSError:
        return None
    return None


def _local(tag: str) -> str:
    """Strip the namespace from an element tag."""
    return tag.rsplit("}", 1)[-1]


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    """Direct children with the given local name (namespace-agnostic)."""
    return [c for c in elem if _local(c.tag) == name]


def _descendants(elem: ET.Element, name: str) -> Iterator[ET.Element]:
    """All descendants with the given local name (namespace-agnostic)."""
    for e in elem.iter():
        if _local(e.tag) == name:
            yield e


def _xml_files(folder: Path) -> list[tuple[Path, str]]:
    """PAGE/ALTO files (with their kind) in a folder, or in its sub-folders when none sit at the top
    (Transkribus puts them in page/ beside mets.xml). Files that do not parse are kept (kind "broken")
    so that reading them reports the error."""
    def scan(paths: Iterable[Path]) -> list[tuple[Path, str]]:
        found = []
        for p in sorted(paths):
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts):
                kind = _xml_root_kind(p)
                if kind in ("page_xml", "alto", "broken"):
                    found.append((p, kind))
        return found

    return scan(folder.glob("*.xml")) or scan(folder.rglob("*.xml"))


def _metadata_files(folder: Path) -> list[Path]:
    """imagefolder metadata files (top level, or one per split sub-folder)."""
    found = []
    for name in ("metadata.jsonl", "metadata.csv"):
        if (folder / name).is_file():
            return [folder / name]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for name in ("metadata.jsonl", "metadata.csv"):
            if (sub / name).is_file():
                found.append(sub / name)
                break
    return found


# ---------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------


def _detect_file_format(path: Path) -> str | None:
    """Detect the format of a single annotation file, or None if it is not one."""
    suffix = path.suffix.lower()
    if path.name.lower() in ("metadata.jsonl", "metadata.csv"):
        return "imagefolder"
    if suffix == ".xml":
        return _xml_root_kind(path)
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix not in _TABLE_EXTS and suffix != ".json":
        return None
    try:
        text = _decode_text_file(path)
    except DataFormatError:
        return None
    first = _first_line(text).lstrip("\ufeff")
    if not first:
        return None
    if first.lstrip().startswith("{"):
        return "jsonl"
    if suffix == ".json":
        return None
    if "\t" in first:
        rest = first.split("\t", 1)[1].strip()
        if rest.startswith("["):
            try:
                value = json.loads(rest)
                if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                    return "paddle_det"
            except json.JSONDecodeError:
                pass
        if not _looks_like_table_header(first):
            return "paddle_rec"
    if suffix == ".txt" and not _looks_like_table_header(first):
        return None
    return "table"


def _find_annotation_file(folder: Path) -> tuple[Path, str]:
    """Find the single annotation file in a folder and its format."""
    candidates = []
    for p in sorted(folder.iterdir()):
        annotation_exts = _TABLE_EXTS | {".jsonl", ".ndjson", ".json"}
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in annotation_exts:
            kind = _detect_file_format(p)
            if kind is not None:
                candidates.append((p, kind))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataFormatError(
            f"{folder}: no annotation file found. Expected a CSV/TSV table, PaddleOCR label file, "
            "JSONL file, PAGE-XML/ALTO files, or metadata.jsonl/metadata.csv (imagefolder).")
    names = ", ".join(p.name for p, _ in candidates)
    raise DataFormatError(
        f"{folder}: several annotation files found ({names}). Pass the one to use as `source`.")


def detect_format(source: str | Path) -> str:
    """Detect the annotation format of a file or folder.

    Args:
        source: An annotation file, or a folder holding one (or holding XML files or an imagefolder).

    Returns:
        One of ``"table"``, ``"paddle_rec"``, ``"paddle_det"``, ``"page_xml"``, ``"alto"``,
        ``"jsonl"``, ``"imagefolder"``.

    Raises:
        FileNotFoundError: If ``source`` does not exist.
        DataFormatError: If no (or more than one) annotation file is recognised.
    """
    path = project_path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder.")
    if path.is_dir():
        if _metadata_files(path):
            return "imagefolder"
        kinds = Counter(k for _, k in _xml_files(path) if k != "broken")
        if kinds:
            return kinds.most_common(1)[0][0]
        return _find_annotation_file(path)[1]
    kind = _detect_file_format(path)
    if kind is None:
        raise DataFormatError(
            f"{path.name}, line 1: format not recognised. Expected a CSV/TSV table with a header, "
            "PaddleOCR labels (path<TAB>text or path<TAB>[regions]), JSONL, PAGE-XML or ALTO.")
    return kind


# ---------------------------------------------------------------------------
# Path resolution (never opens anything outside images_root)
# ---------------------------------------------------------------------------


class _Resolver:
    """Resolve image paths under a root, case-insensitively as a fallback, refusing escapes."""

    def __init__(self, root: Path):
        self.root = root
        self._root_abs = os.path.normpath(os.path.abspath(root))
        self._root_real = os.path.realpath(root)
        self._listings: dict[Path, dict[str, str]] = {}

    @staticmethod
    def _under(path: str, root: str) -> bool:
        return path == root or path.startswith(root.rstrip(os.sep) + os.sep)

    def _inside(self, p: str) -> bool:
        """True when p stays under the root both lexically and with symlinks followed."""
        return (self._under(os.path.normpath(os.path.abspath(p)), self._root_abs)
                and self._under(os.path.realpath(p), self._root_real))

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            listing: dict[str, str] = {}
            for n in sorted(names):
                listing.setdefault(n.lower(), n)
            self._listings[folder] = listing
        return self._listings[folder]

    def resolve(self, written: str, base: Path | None = None) -> tuple[Path | None, str | None]:
        """Return (path, None) or (None, reason) for an image path as written.

        Args:
            written: The path as written in the annotation.
            base: Folder relative paths start from (default: the root).
        """
        raw = (written or "").strip().replace("\\", "/")
        if not raw:
            return None, "missing_file"
        if "://" in raw and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw):
            return None, "missing_file"
        if os.sep == "/" and re.match(r"^[a-zA-Z]:/", raw):
            return None, "path_escapes_root"  # a Windows drive path cannot lie under a POSIX root
        candidate = raw if os.path.isabs(raw) else os.path.join(base or self.root, raw)
        if not self._inside(candidate):
            return None, "path_escapes_root"
        if os.path.isfile(candidate):
            return Path(candidate), None
        found = self._case_insensitive(Path(candidate))
        if found is None:
            return None, "missing_file"
        if not self._inside(str(found)):
            return None, "path_escapes_root"
        return found, None

    def _case_insensitive(self, candidate: Path) -> Path | None:
        try:
            rel = Path(os.path.normpath(os.path.abspath(candidate))).relative_to(
                Path(os.path.normpath(os.path.abspath(self.root))))
        except ValueError:
            return None
        current = self.root
        for part in rel.parts:
            exact = current / part
            if exact.exists():
                current = exact
                continue
            name = self._listing(current).get(part.lower())
            if name is None:
                return None
            current = current / name
        return current if current.is_file() else None


# ---------------------------------------------------------------------------
# Image loading / normalisation
# ---------------------------------------------------------------------------


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB (alpha composited on white, 16-bit scaled down)."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        if mode.startswith("I;16") or 255 < hi <= 65535:
            arr = arr / 257.0
        elif hi > 65535:
            arr = arr * (255.0 / hi)
        elif mode == "F" and hi <= 1.0:
            arr = arr * 255.0
        gray = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
        return gray.convert("RGB")
    if mode == "P" or (mode in ("RGB", "L") and "transparency" in img.info):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _open_checked(data: bytes, max_image_pixels: int) -> tuple[Image.Image | None, str | None]:
    """Open image bytes with a size guard and decode fully; return (image, None) or (None, reason)."""
    if not data:
        return None, "corrupt_image"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_image_pixels:
                return None, "too_large"
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return None, "too_large"
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error):
            return None, "corrupt_image"
    return img, None


def _exif_orientation(img: Image.Image) -> int:
    """Return the EXIF orientation tag (1 when absent or unreadable)."""
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - broken EXIF blocks should not reject an image
        return 1


def _check_image_file(task: tuple[str, int, int, float]) -> tuple:
    """Read, hash, decode and validate one image file (runs in worker processes too).

    Args:
        task: (path, min_side, max_image_pixels, max_aspect_ratio).

    Returns:
        ``("ok", digest, png_or_original_bytes, width, height)`` or ``("reject", reason, detail)``.
    """
    path, min_side, max_pixels, max_aspect = task
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ("reject", "missing_file", str(exc))
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    img, reason = _open_checked(data, max_pixels)
    if img is None:
        return ("reject", reason, "empty file" if not data else "")
    try:
        orientation = _exif_orientation(img)
        passthrough = (img.format in ("PNG", "JPEG") and img.mode == "RGB" and orientation == 1
                       and "transparency" not in img.info and getattr(img, "n_frames", 1) == 1)
        if not passthrough:
            img = _to_rgb(ImageOps.exif_transpose(img) if orientation != 1 else img)
    except (OSError, ValueError, SyntaxError) as exc:
        return ("reject", "corrupt_image", str(exc))
    reason = _size_problem(img.size, min_side, max_aspect)
    if reason:
        return ("reject", reason, f"{img.size[0]}x{img.size[1]} px")
    if passthrough:
        return ("ok", digest, data, img.size[0], img.size[1])
    return ("ok", digest, _png_bytes(img), img.size[0], img.size[1])


def _size_problem(size: tuple[int, int], min_side: int, max_aspect: float) -> str | None:
    """Return "too_small"/"aspect_ratio" for a bad (width, height), else None."""
    w, h = size
    if w < max(min_side, 1) or h < max(min_side, 1):
        return "too_small"
    if max(w / h, h / w) > max_aspect:
        return "aspect_ratio"
    return None


def _png_bytes(img: Image.Image) -> bytes:
    """Encode an image as PNG (fast compression)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _check_image_memory(img: Image.Image, min_side: int, max_aspect: float) -> tuple:
    """Validate an in-memory line image (cut out of a page); same result shape as ``_check_image_file``."""
    img = _to_rgb(img)
    reason = _size_problem(img.size, min_side, max_aspect)
    if reason:
        return ("reject", reason, f"{img.size[0]}x{img.size[1]} px")
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{img.mode}{img.size}".encode())
    h.update(img.tobytes())
    return ("ok", h.hexdigest(), _png_bytes(img), img.size[0], img.size[1])


# ---------------------------------------------------------------------------
# Cutting lines out of pages
# ---------------------------------------------------------------------------


def _perspective_crop(page: Image.Image, quad: list[tuple[float, float]]) -> Image.Image | None:
    """Warp a 4-point region (clockwise from top-left) into an upright rectangle.

    Follows the PaddleOCR convention: a crop at least 1.5x taller than wide is rotated 90 degrees.
    Returns None for a degenerate quad.
    """
    pts = np.asarray(quad, dtype=np.float64)
    width = int(round(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[3] - pts[2]))))
    height = int(round(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))))
    if width < 1 or height < 1:
        return None
    dst = [(0.0, 0.0), (float(width), 0.0), (float(width), float(height)), (0.0, float(height))]
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(dst, pts)):
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * i], b[2 * i + 1] = u, v
    try:
        coeffs = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(coeffs)):
        return None
    out = page.transform((width, height), Image.Transform.PERSPECTIVE, tuple(coeffs.tolist()),
                         resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    if height / width >= 1.5:
        out = out.transpose(Image.Transpose.ROTATE_90)
    return out


def _polygon_crop(page: Image.Image, points: list[tuple[float, float]]) -> Image.Image | None:
    """Cut the bounding box of a polygon out of a page, painting outside the polygon white."""
    if len(set(points)) < 2:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    left, top = max(0, int(math.floor(min(xs)))), max(0, int(math.floor(min(ys))))
    right, bottom = min(page.width, int(math.ceil(max(xs)))), min(page.height, int(math.ceil(max(ys))))
    if right - left < 1 or bottom - top < 1:
        return None
    crop = page.crop((left, top, right, bottom))
    if len(set(points)) >= 3:
        mask = Image.new("L", crop.size, 0)
        ImageDraw.Draw(mask).polygon([(x - left, y - top) for x, y in points], fill=255)
        white = Image.new("RGB", crop.size, (255, 255, 255))
        crop = Image.composite(crop, white, mask)
    return crop


def _parse_points(text: str | None) -> list[tuple[float, float]]:
    """Parse "x,y x,y ..." or "x y x y ..." into points."""
    nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text or "")]
    return list(zip(nums[0::2], nums[1::2]))


def _load_page(path: Path, max_pixels: int, declared: tuple[int, int] | None) -> tuple[Image.Image | None, str | None]:
    """Open a page image for cutting lines; EXIF rotation applied only when it matches declared size."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, "missing_file"
    img, reason = _open_checked(data, max_pixels)
    if img is None:
        return None, reason
    try:
        if declared and img.size != declared and _exif_orientation(img) != 1:
            turned = ImageOps.exif_transpose(img)
            if turned.size == declared:
                img = turned
        return _to_rgb(img), None
    except (OSError, ValueError):
        return None, "corrupt_image"


# ---------------------------------------------------------------------------
# Readers, one per format. Each yields RawRow / Rejection items and counts ### regions.
# ---------------------------------------------------------------------------


@dataclass
class _ReadState:
    rows: list[RawRow] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: int = 0

    def reject(self, source: Path, line: int, image: str, reason: str, detail: str = "") -> None:
        fix = _FIXES.get(reason, "Check this row.")
        if detail:
            fix = f"{detail}: {fix}"
        self.rejected.append(Rejection(str(source), line, image, reason, fix))


def _table_records(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Parse a CSV/TSV file into (header, [(line_number, fields), ...])."""
    text = _decode_text_file(path).lstrip("\ufeff")
    delim = _pick_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    records: list[tuple[int, list[str]]] = []
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
            records.append((start, fields))
    except csv.Error as exc:
        raise DataFormatError(f"{path.name}, line {prev + 1}: cannot parse the table ({exc}). "
                              "Expected a CSV/TSV file with a header row.") from exc
    if header is None:
        raise DataFormatError(f"{path.name}, line 1: the file is empty. Expected a header with an image "
                              "column (image/file/path) and a text column (text/label/transcription).")
    return header, records


def _columns(path: Path, header: list[str], image_keys: tuple[str, ...] = _IMAGE_KEYS) -> dict[str, int | None]:
    """Map roles (image/text/group/writer/split) to column indexes, raising if image or text is missing."""
    cols = {"image": _find_key(header, image_keys), "text": _find_key(header, _TEXT_KEYS),
            "group": _find_key(header, _GROUP_KEYS), "writer": _find_key(header, _WRITER_KEYS),
            "split": _find_key(header, _SPLIT_KEYS)}
    expected = ("Expected a header with an image column (image/file/path) and a text column "
                "(text/label/transcription).")
    shown = ", ".join(str(h).strip() for h in header)
    if cols["image"] is None:
        raise DataFormatError(f"{path.name}, line 1: no image column found (columns: {shown}). {expected}")
    if cols["text"] is None:
        raise DataFormatError(f"{path.name}, line 1: no text column found (columns: {shown}). {expected}")
    return cols


def _add_file_row(st: _ReadState, resolver: _Resolver, src: Path, line: int, image: str, text: str | None,
                  group: str | None, writer: str | None, split: str | None, base: Path | None = None) -> None:
    """Resolve an image path and append a RawRow, or a Rejection."""
    split_norm = None
    if split is not None:
        split_norm = _SPLIT_VALUES.get(split.strip().lower())
        if split_norm is None:
            st.reject(src, line, image, "unknown_split", f"split value {split!r}")
            return
    path, reason = resolver.resolve(image, base)
    if path is None:
        st.reject(src, line, image, reason or "missing_file", "" if image.strip() else "image path is empty")
        return
    st.rows.append(RawRow(str(src), line, image, path, "" if text is None else str(text), group, writer,
                          split_norm, f"{src.name}:{line}"))


def _read_table(path: Path, resolver: _Resolver, st: _ReadState, image_keys: tuple[str, ...] = _IMAGE_KEYS,
                split_default: str | None = None, base: Path | None = None) -> None:
    header, records = _table_records(path)
    cols = _columns(path, header, image_keys)

    def get(fields: list[str], role: str) -> str | None:
        i = cols[role]
        return fields[i] if i is not None and i < len(fields) else None

    for line, fields in records:
        image = get(fields, "image") or ""
        _add_file_row(st, resolver, path, line, image, get(fields, "text"), _clean_opt(get(fields, "group")),
                      _clean_opt(get(fields, "writer")), _clean_opt(get(fields, "split")) or split_default,
                      base=base)


def _read_jsonl(path: Path, resolver: _Resolver, st: _ReadState, image_keys: tuple[str, ...] = _IMAGE_KEYS,
                split_default: str | None = None, base: Path | None = None) -> None:
    expected = 'Expected one JSON object per line, e.g. {"image": "lines/a.png", "text": "..."}.'
    for line, raw in enumerate(_decode_text_file(path).lstrip("\ufeff").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path.name}, line {line}: malformed JSON ({exc.msg}). {expected}") from exc
        if not isinstance(obj, dict):
            raise DataFormatError(f"{path.name}, line {line}: not a JSON object. {expected}")
        keys = list(obj.keys())
        ii, ti = _find_key(keys, image_keys), _find_key(keys, _TEXT_KEYS)
        if ii is None or ti is None:
            missing = "image" if ii is None else "text"
            raise DataFormatError(f"{path.name}, line {line}: no {missing} key found (keys: {', '.join(keys)}). "
                                  f"{expected}")

        def opt(syn: tuple[str, ...]) -> str | None:
            i = _find_key(keys, syn)
            return _clean_opt(obj[keys[i]]) if i is not None else None

        image_val = obj[keys[ii]]
        if isinstance(image_val, dict):  # {"path": ...} style
            image_val = image_val.get("path") or ""
        text_val = obj[keys[ti]]
        _add_file_row(st, resolver, path, line, "" if image_val is None else str(image_val),
                      None if text_val is None else str(text_val), opt(_GROUP_KEYS), opt(_WRITER_KEYS),
                      opt(_SPLIT_KEYS) or split_default, base=base)


def _read_paddle_rec(path: Path, resolver: _Resolver, st: _ReadState) -> None:
    for line, raw in enumerate(_decode_text_file(path).lstrip("\ufeff").splitlines(), start=1):
        if not raw.strip():
            continue
        if "\t" not in raw:
            raise DataFormatError(f"{path.name}, line {line}: no tab found. Expected PaddleOCR recognition "
                                  "labels: image_path<TAB>text, one per line.")
        image, text = raw.split("\t", 1)
        _add_file_row(st, resolver, path, line, image, text, None, None, None)


def _read_paddle_det(path: Path, resolver: _Resolver, st: _ReadState, max_pixels: int) -> None:
    expected = ('Expected PaddleOCR detection labels: image_path<TAB>[{"transcription": "...", '
                '"points": [[x,y],[x,y],[x,y],[x,y]]}, ...].')
    for line, raw in enumerate(_decode_text_file(path).lstrip("\ufeff").splitlines(), start=1):
        if not raw.strip():
            continue
        if "\t" not in raw:
            raise DataFormatError(f"{path.name}, line {line}: no tab found. {expected}")
        image, payload = raw.split("\t", 1)
        try:
            regions = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path.name}, line {line}: malformed JSON ({exc.msg}). {expected}") from exc
        if not isinstance(regions, list) or not all(isinstance(r, dict) for r in regions):
            raise DataFormatError(f"{path.name}, line {line}: regions are not a list of objects. {expected}")
        wanted = []
        for k, region in enumerate(regions, start=1):
            text = region.get("transcription", region.get("text"))
            if text is not None and str(text).strip() == "###":
                st.skipped += 1
                continue
            wanted.append((k, region, text))
        if not wanted:
            continue
        page_path, reason = resolver.resolve(image, None)
        page = None
        if page_path is not None:
            page, reason = _load_page(page_path, max_pixels, None)
        for k, region, text in wanted:
            if page is None:
                st.reject(path, line, image, reason or "missing_file", f"region {k}, page image")
                continue
            try:
                pts = [(float(p[0]), float(p[1])) for p in region.get("points") or []]
            except (TypeError, ValueError, IndexError):
                pts = []
            crop = _perspective_crop(page, pts) if len(pts) == 4 else (
                _polygon_crop(page, pts) if len(pts) >= 3 else None)
            if crop is None:
                st.reject(path, line, image, "bad_region", f"region {k}")
                continue
            st.rows.append(RawRow(str(path), line, image, crop, "" if text is None else str(text),
                                  image, None, None, f"{path.name}:{line}:{k}"))


def _read_xml_pages(files: list[Path], resolver_for: Any, st: _ReadState, kind: str, max_pixels: int) -> None:
    for xml_path in files:
        try:
            root = ET.parse(str(xml_path)).getroot()
        except ET.ParseError as exc:
            line = exc.position[0] if getattr(exc, "position", None) else 1
            expected = "PAGE-XML (PcGts/Page/TextRegion/TextLine)" if kind == "page_xml" else "ALTO v4"
            raise DataFormatError(f"{xml_path.name}, line {line}: XML does not parse ({exc}). "
                                  f"Expected {expected}.") from exc
        root_kind = _local(root.tag).lower()
        if (kind == "page_xml" and root_kind != "pcgts") or (kind == "alto" and root_kind != "alto"):
            raise DataFormatError(f"{xml_path.name}, line 1: root element <{_local(root.tag)}> is not "
                                  f"{'PcGts (PAGE-XML)' if kind == 'page_xml' else 'alto (ALTO)'}.")
        resolver: _Resolver = resolver_for(xml_path)
        if kind == "page_xml":
            pages = list(_descendants(root, "Page"))
            items = []
            for page_el in pages:
                image = page_el.get("imageFilename", "")
                declared = _declared_size(page_el.get("imageWidth"), page_el.get("imageHeight"))
                lines = [(_page_line_points(tl), _page_line_text(tl)) for tl in _descendants(page_el, "TextLine")]
                items.append((image, declared, lines))
        else:
            fname = next((e.text or "" for e in _descendants(root, "fileName")), "")
            page_el = next(_descendants(root, "Page"), None)
            declared = None
            if page_el is not None:
                declared = _declared_size(page_el.get("WIDTH"), page_el.get("HEIGHT"))
            lines = [(_alto_line_points(tl), _alto_line_text(tl)) for tl in _descendants(root, "TextLine")]
            items = [(fname.strip(), declared, lines)]
        for image, declared, lines in items:
            if not lines:
                continue
            page_path, reason = resolver.resolve(image, None)
            page = None
            if page_path is not None:
                page, reason = _load_page(page_path, max_pixels, declared)
            for idx, (pts, text) in enumerate(lines, start=1):
                if page is None:
                    st.reject(xml_path, idx, image, reason or "missing_file", "page image")
                    continue
                crop = _polygon_crop(page, pts) if pts else None
                if crop is None:
                    st.reject(xml_path, idx, image, "bad_region", f"TextLine {idx}")
                    continue
                st.rows.append(RawRow(str(xml_path), idx, image, crop, text or "", image, None, None,
                                      f"{xml_path.name}:{idx}"))


def _declared_size(w: str | None, h: str | None) -> tuple[int, int] | None:
    try:
        return int(float(w)), int(float(h))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _page_line_points(tl: ET.Element) -> list[tuple[float, float]]:
    coords = next(iter(_children(tl, "Coords")), None)
    if coords is None:
        return []
    if coords.get("points"):
        return _parse_points(coords.get("points"))
    return [(float(p.get("x", 0)), float(p.get("y", 0))) for p in _children(coords, "Point")]


def _textequiv_text(elem: ET.Element) -> str | None:
    equivs = _children(elem, "TextEquiv")
    if not equivs:
        return None
    equivs.sort(key=lambda e: int(e.get("index", "0")) if (e.get("index") or "0").lstrip("-").isdigit() else 0)
    uni = next(iter(_children(equivs[0], "Unicode")), None)
    return None if uni is None else (uni.text or "")


def _page_line_text(tl: ET.Element) -> str:
    text = _textequiv_text(tl)
    if text is None:  # fall back to the words
        words = [_textequiv_text(w) for w in _children(tl, "Word")]
        text = " ".join(w for w in words if w)
    return text


def _alto_line_points(tl: ET.Element) -> list[tuple[float, float]]:
    for shape in _children(tl, "Shape"):
        poly = next(iter(_children(shape, "Polygon")), None)
        if poly is not None and poly.get("POINTS"):
            return _parse_points(poly.get("POINTS"))
    try:
        x, y = float(tl.get("HPOS", "")), float(tl.get("VPOS", ""))
        w, h = float(tl.get("WIDTH", "")), float(tl.get("HEIGHT", ""))
    except ValueError:
        return []
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _alto_line_text(tl: ET.Element) -> str:
    parts: list[str] = []
    for child in tl:
        name = _local(child.tag)
        if name == "String":
            parts.append(child.get("CONTENT", ""))
        elif name == "SP":
            if parts and parts[-1] != " ":
                parts.append(" ")
        elif name == "HYP":
            parts.append(child.get("CONTENT", ""))
    return "".join(parts)


def _paddle_default_root(path: Path) -> Path:
    """Default image root for PaddleOCR labels: the label file's folder, or its parent when the paths
    start with that folder's name (as PPOCRLabel writes them, e.g. ``imgs/Label.txt`` -> ``imgs/a.jpg``)."""
    try:
        first = _first_line(_decode_text_file(path).lstrip("\ufeff")).split("\t", 1)[0].strip().replace("\\", "/")
    except DataFormatError:
        return path.parent
    parts = PurePosixPath(first).parts
    if (first and not (path.parent / first).exists() and len(parts) > 1
            and parts[0] == path.parent.name and (path.parent.parent / first).exists()):
        return path.parent.parent
    return path.parent


def read_rows(source: str | Path, images_root: str | Path | None = None,
              format: str = "auto") -> tuple[list[RawRow], list[Rejection], int]:
    """Read an annotation source into raw rows, without validating images or text.

    Paths are resolved here: rows whose image is missing or escapes ``images_root`` are returned
    as rejections and never opened. Lines of PAGE-XML/ALTO pages and PaddleOCR detection regions
    are cut out into in-memory RGB images.

    Args:
        source: Annotation file or folder.
        images_root: Folder image paths are relative to. Default: the annotation file's folder
            (for XML in a folder named ``page``, as Transkribus exports it: that folder's parent;
            for PaddleOCR labels whose paths start with the label folder's own name, as PPOCRLabel
            writes them: that folder's parent; for an imagefolder: the folder itself).
        format: ``"auto"`` or one of ``FORMATS``.

    Returns:
        (rows, rejections, number of skipped ``"###"`` regions).

    Raises:
        DataFormatError: For structural problems (unrecognised columns, undecodable file,
            malformed JSON line, XML that does not parse).
    """
    return _read_rows(source, images_root, format)[:3]


def _read_rows(source: str | Path, images_root: str | Path | None, format: str,
               max_pixels: int = 40_000_000) -> tuple[list[RawRow], list[Rejection], int, str, Path]:
    src = project_path(source)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder; check the `source` parameter.")
    kind = detect_format(src) if format == "auto" else format
    if kind not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}; got {format!r}.")
    st = _ReadState()
    root_given = project_path(images_root) if images_root is not None else None

    if kind in ("page_xml", "alto"):
        files = [p for p, k in _xml_files(src) if k in (kind, "broken")] if src.is_dir() else [src]
        if not files:
            raise DataFormatError(f"{src}: no XML files found. Expected PAGE-XML or ALTO files.")
        resolvers: dict[Path, _Resolver] = {}

        def resolver_for(xml_path: Path) -> _Resolver:
            root = root_given
            if root is None:
                root = xml_path.parent.parent if xml_path.parent.name.lower() == "page" else xml_path.parent
            return resolvers.setdefault(root, _Resolver(root))

        _read_xml_pages(files, resolver_for, st, kind, max_pixels)
        root_used = root_given or resolver_for(files[0]).root
    elif kind == "imagefolder":
        folder = src if src.is_dir() else src.parent
        metas = _metadata_files(folder) if src.is_dir() else [src]
        if not metas:
            raise DataFormatError(f"{src}: no metadata.jsonl or metadata.csv found. Expected a Hugging Face "
                                  "imagefolder with a file_name column and a text column.")
        root_used = root_given or folder
        resolver = _Resolver(root_used)
        keys = ("file_name",) + _IMAGE_KEYS
        for meta in metas:
            split_default = _SPLIT_VALUES.get(meta.parent.name.lower()) if meta.parent != folder else None
            if meta.suffix.lower() == ".jsonl":
                _read_jsonl(meta, resolver, st, keys, split_default, base=meta.parent)
            else:
                _read_table(meta, resolver, st, keys, split_default, base=meta.parent)
    else:
        path = src
        if src.is_dir():
            path, found = _find_annotation_file(src)
            if format == "auto":
                kind = found
        root_used = root_given or path.parent
        if root_given is None and kind in ("paddle_rec", "paddle_det"):
            root_used = _paddle_default_root(path)
        resolver = _Resolver(root_used)
        if kind == "table":
            _read_table(path, resolver, st)
        elif kind == "jsonl":
            _read_jsonl(path, resolver, st)
        elif kind == "paddle_rec":
            _read_paddle_rec(path, resolver, st)
        else:
            _read_paddle_det(path, resolver, st, max_pixels)
    return st.rows, st.rejected, st.skipped, kind, root_used


# ---------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------


def split_groups(groups: list[str], ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                 seed: int = 0) -> list[str]:
    """Assign each item to "train"/"validation"/"test" so that no group is in two splits.

    Groups are shuffled with ``seed`` (after sorting, so input order does not matter) and assigned
    one by one to the split furthest below its target share of items. Every split with a positive
    ratio first receives one group (chosen at random among groups no larger than that split's
    target, else the smallest), so each non-empty split gets at least one group whenever there
    are enough groups. With fewer groups, train is served first, then validation, then test.

    Args:
        groups: Group key of each item.
        ratios: Target shares of items for train, validation and test (normalised to sum 1).
        seed: Random seed; the result is deterministic given groups, ratios and seed.

    Returns:
        The split name of each item, in input order.
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"split_ratios must be three non-negative numbers with a positive sum; got {ratios}.")
    if not groups:
        return []
    total_ratio = float(sum(ratios))
    shares = [r / total_ratio for r in ratios]
    sizes = Counter(groups)
    rng = random.Random(seed)
    order = sorted(sizes)
    rng.shuffle(order)
    n_items = len(groups)
    targets = [s * n_items for s in shares]
    counts = [0.0, 0.0, 0.0]
    assignment: dict[str, int] = {}
    positive = [i for i in range(3) if shares[i] > 0]
    # seed each positive split with one group: smallest share chooses first
    seeding = sorted(positive, key=lambda i: (shares[i], i))
    if len(order) < len(positive):
        seeding = [i for i in (0, 1, 2) if i in positive][: len(order)]
    remaining = list(order)
    for i in seeding:
        fitting = [g for g in remaining if sizes[g] <= max(targets[i], 1)]
        g = fitting[0] if fitting else min(remaining, key=lambda x: (sizes[x], remaining.index(x)))
        remaining.remove(g)
        assignment[g] = i
        counts[i] += sizes[g]
    # remaining groups: largest first (shuffled order breaks ties), to the split with the largest deficit
    remaining.sort(key=lambda g: -sizes[g])
    for g in remaining:
        best = max(positive, key=lambda i: (targets[i] - counts[i], -i))
        assignment[g] = best
        counts[best] += sizes[g]
    return [SPLITS[assignment[g]] for g in groups]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


# ---------------------------------------------------------------------------
# Validation and writing
# ---------------------------------------------------------------------------


def _text_problem(text: str) -> tuple[str, str | None]:
    """Normalise a label (NFC, trimmed) and return (text, reason or None)."""
    norm = unicodedata.normalize("NFC", text).strip()
    if not norm:
        return norm, "empty_text"
    for ch in norm:
        if ch in _ALLOWED_FORMAT_CHARS:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf"):
            return norm, "control_characters"
    return norm, None


def _validate_images(rows: list[RawRow], min_side: int, max_pixels: int, max_aspect: float,
                     progress: bool) -> list[tuple]:
    """Validate every row's image, in parallel for many files; results are in row order."""
    results: list[tuple | None] = [None] * len(rows)
    file_idx = [i for i, r in enumerate(rows) if isinstance(r.resolved, Path)]
    bar = tqdm(total=len(rows), desc="Checking images", disable=not progress, unit="img")
    try:
        workers = min(os.cpu_count() or 1, 4)
        if len(file_idx) >= _PARALLEL_MIN_FILES and workers >= 2:
            ctx = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
            tasks = [(str(rows[i].resolved), min_side, max_pixels, max_aspect) for i in file_idx]
            try:
                with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                    for i, res in zip(file_idx, pool.map(_check_image_file, tasks, chunksize=64)):
                        results[i] = res
                        bar.update(1)
            except BrokenProcessPool:  # a worker died: finish the remaining files in-process
                pass
        for i in file_idx:
            if results[i] is None:
                results[i] = _check_image_file((str(rows[i].resolved), min_side, max_pixels, max_aspect))
                bar.update(1)
        for i, r in enumerate(rows):
            if results[i] is None:
                results[i] = _check_image_memory(r.resolved, min_side, max_aspect)  # type: ignore[arg-type]
                bar.update(1)
    finally:
        bar.close()
    return results  # type: ignore[return-value]


def _features() -> datasets.Features:
    return datasets.Features({
        "image": datasets.Image(), "text": datasets.Value("string"), "id": datasets.Value("string"),
        "group": datasets.Value("string"), "source": datasets.Value("string"),
        "line": datasets.Value("int32"), "writer": datasets.Value("string"),
    })


def _drop_duplicates(rows: list[RawRow], texts: list[str | None], good: list[tuple[int, tuple]],
                     rej_state: _ReadState) -> tuple[list[tuple[int, tuple]], int]:
    """Drop repeated images: same text -> keep the first ("duplicate"), different texts -> reject all ("conflict").

    Returns:
        (accepted (row index, check result) pairs, number of duplicates dropped).
    """
    by_hash: dict[str, list[int]] = defaultdict(list)
    for pos, (_i, res) in enumerate(good):
        by_hash[res[1]].append(pos)
    dropped: set[int] = set()
    n_dup = 0
    for positions in by_hash.values():
        if len(positions) < 2:
            continue
        first = rows[good[positions[0]][0]]
        same_text = len({texts[good[p][0]] for p in positions}) == 1
        for p in positions[1:] if same_text else positions:
            r = rows[good[p][0]]
            if same_text:
                detail = f"same image as {Path(first.source).name}:{first.line}"
                rej_state.reject(Path(r.source), r.line, r.image, "duplicate", detail)
                n_dup += 1
            else:
                rej_state.reject(Path(r.source), r.line, r.image, "conflict", f"{len(positions)} rows share this image")
            dropped.add(p)
    return [g for p, g in enumerate(good) if p not in dropped], n_dup


def _assign_splits(rows: list[RawRow], accepted: list[int], ratios: tuple[float, float, float], seed: int,
                   notes: list[str]) -> tuple[dict[int, str], dict[int, str]]:
    """Split accepted rows by connected group (page/document + writer); user split values win.

    Returns:
        (row index -> split, row index -> group component key). Remarks are appended to ``notes``.
    """
    def components(use_writer: bool) -> dict[int, str]:
        uf = _UnionFind()
        for i in accepted:
            r = rows[i]
            node = f"row:{r.id}"
            uf.find(node)
            if r.group:
                uf.union(node, f"group:{r.group}")
            if r.writer and use_writer:
                uf.union(node, f"writer:{r.writer}")
        return {i: uf.find(f"row:{rows[i].id}") for i in accepted}

    comp = components(use_writer=True)
    wanted = sum(1 for x in ratios if x > 0)
    if len(set(comp.values())) < wanted and any(rows[i].writer for i in accepted):
        # one person's handwriting (the usual case) would leave a single group: keep pages apart instead
        comp = components(use_writer=False)
        notes.append(f"Too few writers to keep writers apart across {wanted} splits; "
                     "splits keep pages/documents apart only.")
    pinned: dict[str, set[str]] = defaultdict(set)
    for i in accepted:
        if rows[i].split:
            pinned[comp[i]].add(rows[i].split)
    straddling = [c for c, s in pinned.items() if len(s) > 1]
    if straddling:
        notes.append(f"The user-supplied split column puts {len(straddling)} group(s) (page/document/writer) "
                     "into more than one split; kept as given, but evaluation may be optimistic.")
    free = [i for i in accepted if not rows[i].split and comp[i] not in pinned]
    assigned = dict(zip(free, split_groups([comp[i] for i in free], ratios, seed)))
    split_of: dict[int, str] = {}
    for i in accepted:
        if rows[i].split:
            split_of[i] = rows[i].split  # type: ignore[assignment]
        elif comp[i] in pinned:  # follow the group's user-given split
            split_of[i] = min(pinned[comp[i]], key=SPLITS.index)
        else:
            split_of[i] = assigned[i]
    if pinned and free:
        notes.append(f"{len(free)} row(s) without a split value were split by group with ratios {tuple(ratios)}.")
    if not any(rows[i].group or rows[i].writer for i in accepted):
        notes.append("No group/page/document or writer information: each line is its own group.")
    return split_of, comp


def prepare_dataset(source: str | Path, images_root: str | Path | None = None, dataset_name: str = "my-lines",
                    output_root: str | Path = "data/processed", *, format: str = "auto", seed: int = 0,
                    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), max_aspect_ratio: float = 200.0,
                    min_side: int = 8, max_image_pixels: int = 40_000_000, overwrite: bool = False,
                    progress: bool = True) -> DataReport:
    """Read, validate, split and write a line-image dataset.

    Every input row is either written or listed in ``rejected.csv`` with a reason and a fix.
    Splits are grouped: lines of one page/document, and of one writer when known, never straddle
    splits. When the data gives no group, each line is its own group. A user ``split`` column wins.

    Args:
        source: Annotation file or folder (see ``detect_format``).
        images_root: Folder image paths are relative to (default: the annotation file's folder).
        dataset_name: Name of the output folder under ``output_root``.
        output_root: Parent folder of processed datasets.
        format: ``"auto"`` or one of ``FORMATS``.
        seed: Seed for the split.
        split_ratios: Target shares of train, validation, test.
        max_aspect_ratio: Largest allowed width/height (or height/width).
        min_side: Smallest allowed image side in pixels.
        max_image_pixels: Largest allowed width*height, checked from the header before decoding.
        overwrite: Replace an existing dataset of the same name.
        progress: Show progress bars.

    Returns:
        The report (also written to ``report.json``).

    Raises:
        FileExistsError: If the dataset exists and ``overwrite`` is False.
        DataFormatError: For structural problems in the input, or when no row is usable.
    """
    out_root = project_path(output_root)
    target = out_root / dataset_name
    if not dataset_name or Path(dataset_name).name != dataset_name or dataset_name in (".", ".."):
        raise ValueError(f"dataset_name must be a plain folder name; got {dataset_name!r}.")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists. Pick another dataset_name or set overwrite=True.")

    rows, rejected, n_skipped, kind, root_used = _read_rows(source, images_root, format, max_image_pixels)
    src_name = Path(source).name
    n_rows = len(rows) + len(rejected)
    rej_state = _ReadState(rejected=list(rejected))

    # text first (cheap), then images
    texts: list[str | None] = []
    for r in rows:
        norm, reason = _text_problem(r.text)
        texts.append(None if reason else norm)
        if reason:
            rej_state.reject(Path(r.source), r.line, r.image, reason)
    keep = [i for i, t in enumerate(texts) if t is not None]
    checks = _validate_images([rows[i] for i in keep], min_side, max_image_pixels, max_aspect_ratio, progress)
    good: list[tuple[int, tuple]] = []
    for i, res in zip(keep, checks):
        if res[0] == "ok":
            good.append((i, res))
        else:
            r = rows[i]
            rej_state.reject(Path(r.source), r.line, r.image, res[1], res[2])

    accepted, n_dup = _drop_duplicates(rows, texts, good, rej_state)
    if not accepted:
        by_reason = ", ".join(f"{k} x{v}" for k, v in Counter(x.reason for x in rej_state.rejected).most_common())
        raise DataFormatError(
            f"{src_name}: no usable rows ({n_rows} read, {len(rej_state.rejected)} rejected"
            f"{': ' + by_reason if by_reason else ''}). Expected at least one row with an existing, "
            "readable image and a non-empty text.")
    notes: list[str] = []
    split_of, comp = _assign_splits(rows, [i for i, _ in accepted], split_ratios, seed, notes)

    columns: dict[str, dict[str, list]] = {s: {k: [] for k in _features()} for s in SPLITS}
    for i, res in accepted:
        r = rows[i]
        c = columns[split_of[i]]
        c["image"].append({"bytes": res[2], "path": None})
        c["text"].append(texts[i])
        c["id"].append(r.id)
        c["group"].append(r.group or r.id)
        c["source"].append(Path(r.source).name)
        c["line"].append(r.line)
        c["writer"].append(r.writer or "")
    split_sizes = {s: len(columns[s]["id"]) for s in SPLITS}
    groups_per_split = {s: len({comp[i] for i, _ in accepted if split_of[i] == s}) for s in SPLITS}
    for s in SPLITS:
        if split_sizes[s] == 0:
            notes.append(f"The {s} split is empty ({len(set(comp.values()))} group(s) in total); "
                         "add more pages/documents or change split_ratios.")
    charset = "".join(sorted({ch for i, _ in accepted for ch in texts[i]}))  # type: ignore[union-attr]
    train_chars = set("".join(columns["train"]["text"]))
    unseen = {s: "".join(sorted(set("".join(columns[s]["text"])) - train_chars)) for s in ("validation", "test")}

    report = DataReport(output_dir=target, format=kind, n_rows=n_rows, n_accepted=len(accepted),
                        n_duplicates_dropped=n_dup, n_skipped_regions=n_skipped, split_sizes=split_sizes,
                        groups_per_split=groups_per_split, charset=charset, unseen_chars=unseen,
                        rejected=sorted(rej_state.rejected, key=lambda x: (x.source, x.line)),
                        notes=notes, images_root=root_used)
    feats = _features()
    dsd = datasets.DatasetDict({s: datasets.Dataset.from_dict(columns[s], features=feats) for s in SPLITS})
    _write_atomically(dsd, report, target, overwrite, progress)
    return report


def _write_atomically(dsd: datasets.DatasetDict, report: DataReport, target: Path, overwrite: bool,
                      progress: bool) -> None:
    """Write the dataset, report.json and rejected.csv to a temporary folder, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    was_enabled = datasets.is_progress_bar_enabled()
    try:
        if not progress:
            datasets.disable_progress_bars()
        # explicit shard counts: datasets cannot estimate the size of an empty split
        num_shards = {name: max(1, math.ceil(split.data.nbytes / _SHARD_BYTES)) for name, split in dsd.items()}
        dsd.save_to_disk(str(tmp), num_shards=num_shards)
        (tmp / "report.json").write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        with open(tmp / "rejected.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["source", "line", "image", "reason", "fix"])
            for r in report.rejected:
                writer.writerow([r.source, r.line, r.image, r.reason, r.fix])
        if target.exists():
            if not overwrite:
                raise FileExistsError(f"{target} already exists. Pick another dataset_name or set overwrite=True.")
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if was_enabled and not progress:
            datasets.enable_progress_bars()


def load_processed(dataset_name: str, output_root: str | Path = "data/processed") -> datasets.DatasetDict:
    """Load a dataset written by ``prepare_dataset``.

    Args:
        dataset_name: Name given to ``prepare_dataset``.
        output_root: Parent folder of processed datasets.

    Returns:
        The ``DatasetDict`` with splits train, validation and test.

    Raises:
        FileNotFoundError: If no such dataset exists.
    """
    path = project_path(output_root) / dataset_name
    if not (path / "dataset_dict.json").is_file():
        raise FileNotFoundError(f"{path}: no processed dataset here. Run prepare_dataset(..., "
                                f"dataset_name={dataset_name!r}) first.")
    dsd = datasets.load_from_disk(str(path))
    if not isinstance(dsd, datasets.DatasetDict):  # pragma: no cover - prepare_dataset always writes a dict
        raise DataFormatError(f"{path}: expected a DatasetDict with train/validation/test splits.")
    return dsd


# ---------------------------------------------------------------------------
# Display helpers
# ---------------------------------------------------------------------------


def _splits_of(dataset_dict: datasets.DatasetDict, split: str | None = None) -> list[str]:
    names = [split] if split else [s for s in SPLITS if s in dataset_dict] + [
        s for s in dataset_dict if s not in SPLITS]
    return [s for s in names if s in dataset_dict]


def sample_grid(dataset_dict: datasets.DatasetDict, n: int = 8, split: str | None = None) -> matplotlib.figure.Figure:
    """Show up to ``n`` line images with their labels, one column per split.

    Args:
        dataset_dict: Output of ``load_processed``.
        n: Images per split (a fixed-seed sample).
        split: Only this split, if given.

    Returns:
        A matplotlib figure.
    """
    names = _splits_of(dataset_dict, split)
    n = max(1, n)
    fig = matplotlib.figure.Figure(figsize=(6 * max(1, len(names)), 1.2 * n + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, max(1, len(names)), squeeze=False))
    for col, name in enumerate(names):
        ds = dataset_dict[name]
        idx = sorted(random.Random(0).sample(range(len(ds)), min(n, len(ds))))
        for row in range(n):
            ax = axes[row, col]
            ax.set_axis_off()
            if row == 0:
                ax.set_title(f"{name} ({len(ds)} lines)", fontsize=11, parse_math=False, loc="left")
            if row >= len(idx):
                if row == 0 and not idx:
                    ax.text(0.5, 0.5, "(empty split)", ha="center", va="center", parse_math=False)
                continue
            item = ds[idx[row]]
            ax.imshow(np.asarray(item["image"].convert("RGB")))
            label = item["text"] if len(item["text"]) <= 80 else item["text"][:77] + "..."
            ax.text(0, -0.02, label, transform=ax.transAxes, va="top", fontsize=9, parse_math=False)
    return fig


def _image_sizes(ds: datasets.Dataset) -> list[tuple[int, int]]:
    """(width, height) of each image, read from the headers only."""
    raw = ds.cast_column("image", datasets.Image(decode=False))
    sizes = []
    for item in raw["image"]:
        with Image.open(io.BytesIO(item["bytes"]) if item.get("bytes") else item["path"]) as im:
            sizes.append(im.size)
    return sizes


def data_histograms(dataset_dict: datasets.DatasetDict) -> matplotlib.figure.Figure:
    """Histograms of text length, image height, width and aspect ratio, per split.

    Args:
        dataset_dict: Output of ``load_processed``.

    Returns:
        A matplotlib figure with four panels.
    """
    fig = matplotlib.figure.Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    titles = ("text length (characters)", "image height (px)", "image width (px)", "aspect ratio (width / height)")
    for name in _splits_of(dataset_dict):
        ds = dataset_dict[name]
        if len(ds) == 0:
            continue
        sizes = _image_sizes(ds)
        values = ([len(t) for t in ds["text"]], [h for _, h in sizes], [w for w, _ in sizes],
                  [w / h for w, h in sizes])
        for ax, vals in zip(axes, values):
            ax.hist(vals, bins=30, alpha=0.5, label=f"{name} (n={len(ds)})")
    for ax, title in zip(axes, titles):
        ax.set_title(title, parse_math=False)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return fig


def char_frequencies(dataset_dict: datasets.DatasetDict, top: int = 40) -> list[tuple[str, int]]:
    """Most frequent characters over all splits (spaces included).

    Args:
        dataset_dict: Output of ``load_processed``.
        top: How many to return.

    Returns:
        (character, count) pairs, most frequent first; ties in character order.
    """
    counts: Counter[str] = Counter()
    for name in _splits_of(dataset_dict):
        for text in dataset_dict[name]["text"]:
            counts.update(text)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def rejected_summary_html(report: DataReport) -> str:
    """HTML table of rejection reasons with counts and how to fix them.

    Args:
        report: A ``DataReport``.

    Returns:
        An HTML fragment.
    """
    if not report.rejected:
        return "<p>No rows were rejected.</p>"
    counts = Counter(r.reason for r in report.rejected)
    example = {}
    for r in report.rejected:
        example.setdefault(r.reason, r.fix)
    rows = "".join(
        f"<tr><td>{html.escape(reason)}</td><td style='text-align:right'>{n}</td>"
        f"<td>{html.escape(_FIXES.get(reason, example[reason]))}</td></tr>"
        for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return ("<table><thead><tr><th>reason</th><th>count</th><th>fix</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _thumbnail_b64(path: Path, max_pixels: int = 40_000_000) -> str | None:
    """Base64 PNG thumbnail of an image file, or None if it cannot be opened safely."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                if im.size[0] * im.size[1] > max_pixels:
                    return None
                im.draft("RGB", (480, 480))
                thumb = _to_rgb(ImageOps.exif_transpose(im))
                thumb.thumbnail((480, 96))
                buf = io.BytesIO()
                thumb.save(buf, format="PNG")
                return base64.b64encode(buf.getvalue()).decode("ascii")
        except Exception:  # noqa: BLE001 - any failure just means "no thumbnail"
            return None


def rejected_thumbnails_html(report: DataReport, images_root: str | Path | None = None, max_items: int = 24) -> str:
    """HTML gallery of rejected rows: a thumbnail where the image can be opened, file:line and reason.

    Images whose path escapes the root, or that were too large, are never opened.

    Args:
        report: A ``DataReport``.
        images_root: Folder the image paths are relative to (default: the report's, else each source's folder).
        max_items: Most rows shown.

    Returns:
        An HTML fragment.
    """
    if not report.rejected:
        return "<p>No rows were rejected.</p>"
    cells = []
    for r in report.rejected[:max_items]:
        thumb = None
        if r.reason not in ("path_escapes_root", "too_large", "missing_file"):
            roots = [project_path(images_root)] if images_root is not None else [
                Path(p) for p in (report.images_root, Path(r.source).parent) if p is not None]
            for root in roots:
                resolver = _Resolver(root)
                found, _ = resolver.resolve(r.image, None)
                if found is None:
                    found, _ = resolver.resolve(r.image, Path(r.source).parent)
                if found is not None:
                    thumb = _thumbnail_b64(found)
                    break
        img_html = (f"<img src='data:image/png;base64,{thumb}' style='max-width:480px'>" if thumb
                    else "<div style='color:#888'>(no preview)</div>")
        cells.append(
            "<div style='margin:6px 0;padding:4px;border:1px solid #ddd'>"
            f"{img_html}<div><code>{html.escape(Path(r.source).name)}:{r.line}</code> "
            f"<code>{html.escape(r.image)}</code> <b>{html.escape(r.reason)}</b> "
            f"{html.escape(r.fix)}</div></div>")
    more = len(report.rejected) - max_items
    tail = f"<p>... and {more} more (see rejected.csv).</p>" if more > 0 else ""
    return "<div>" + "".join(cells) + tail + "</div>"



def describe_report(report: DataReport) -> str:
    """A few lines summarising a :class:`DataReport` for a notebook or a log."""
    reasons = Counter(r.reason for r in report.rejected)
    lines = [
        f"{report.n_rows} rows read ({report.format}) -> {report.n_accepted} accepted, "
        f"{len(report.rejected)} rejected, {report.n_duplicates_dropped} duplicates dropped, "
        f"{report.n_skipped_regions} '###' regions skipped.",
        "Splits: " + ", ".join(
            f"{k} {report.split_sizes.get(k, 0)} lines / {report.groups_per_split.get(k, 0)} groups" for k in SPLITS
        ),
    ]
    if reasons:
        lines.append("Rejected by reason: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
    for split, chars in report.unseen_chars.items():
        if chars:
            lines.append(f"Characters in {split} never seen in train: {chars!r}")
    lines.extend(report.notes)
    lines.append(f"Saved to {report.output_dir}")
    return "\n".join(lines)

# ---------------------------------------------------------------------------
# A tiny random-weight model of a real architecture, built offline.
# ---------------------------------------------------------------------------

_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<unk>",
)

#: The chat template of the tiny models: the Qwen layout, without a system turn.
_QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_charset() -> list[str]:
    """Characters the tiny models' character-level tokenizer knows.

    Printable ASCII, newline, Latin-1 and Latin Extended-A letters, basic
    Cyrillic and common typographic punctuation.
    """
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    chars += [chr(c) for c in range(0xA0, 0x180)] + [chr(c) for c in range(0x400, 0x460)]
    chars += list("‘’“”–—…•€№")
    return list(dict.fromkeys(chars))


def _tiny_tokenizer() -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([*_SPECIAL_TOKENS, *tiny_charset()])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        additional_special_tokens=list(_SPECIAL_TOKENS[1:7]),
        chat_template=_QWEN_TEMPLATE,
    )


def build_tiny_model(
    out_dir: str | os.PathLike[str],
    family: str = "qwen2_5_vl",
    *,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Build and save a tiny random-weight model of a real architecture.

    The result is a normal checkpoint folder (``config.json``, safetensors
    weights, tokenizer and processor) that loads through the same
    ``from_pretrained`` calls as a hub id. Its tokenizer is character level,
    its chat template follows the Qwen layout, and its image normalisation maps
    white paper to zero so that the vision features carry the ink.

    Args:
        out_dir: Folder to write.
        family: ``"qwen2_5_vl"`` or ``"qwen3_vl"``.
        hidden_size: Width of the language model and the vision tower.
        layers: Number of language-model and vision layers each.
        seed: Seed of the random weights.
        overwrite: Replace an existing folder (otherwise it is reused as is).

    Returns:
        The folder, ready for :func:`load_model`.
    """
    import torch
    from transformers import AutoModelForImageTextToText, Qwen2VLImageProcessor

    out = project_path(out_dir)
    if (out / "config.json").exists() and not overwrite:
        return out
    if family not in FAMILIES:
        raise ValueError(f"Unknown family {family!r}; choose one of {sorted(FAMILIES)}.")
    tokenizer = _tiny_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in _SPECIAL_TOKENS}
    heads, kv_heads = 4, 2
    head_dim = hidden_size // heads
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": _mrope_section(head_dim)}
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    tokens = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    patch = FAMILIES[family].patch_multiple // 2
    image_processor = Qwen2VLImageProcessor(
        image_mean=[1.0, 1.0, 1.0],
        image_std=[0.5, 0.5, 0.5],
        patch_size=patch,
        merge_size=2,
        min_pixels=(2 * patch) ** 2,
        max_pixels=(2 * patch) ** 2 * 256,
    )
    vision = dict(
        depth=layers,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_heads=heads,
        out_hidden_size=hidden_size,
        patch_size=patch,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor, Qwen2VLVideoProcessor

        config = Qwen2_5_VLConfig(
            text_config={**text, "rope_parameters": rope},
            vision_config={**vision, "window_size": 4 * patch, "fullatt_block_indexes": [layers - 1]},
            **tokens,
        )
        video = Qwen2VLVideoProcessor(patch_size=patch)
        processor = Qwen2_5_VLProcessor(
            image_processor=image_processor, tokenizer=tokenizer, video_processor=video, chat_template=_QWEN_TEMPLATE
        )
    else:
        from transformers import Qwen3VLConfig, Qwen3VLProcessor, Qwen3VLVideoProcessor

        config = Qwen3VLConfig(
            text_config={**text, "head_dim": head_dim, "rope_parameters": {**rope, "mrope_interleaved": True}},
            vision_config={**vision, "num_position_embeddings": 256, "deepstack_visual_indexes": [0]},
            **tokens,
        )
        video = Qwen3VLVideoProcessor(patch_size=patch)
        processor = Qwen3VLProcessor(
            image_processor=image_processor, tokenizer=tokenizer, video_processor=video, chat_template=_QWEN_TEMPLATE
        )
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _mrope_section(head_dim: int) -> list[int]:
    """Split ``head_dim / 2`` rotary frequencies over (time, height, width)."""
    half = head_dim // 2
    t = half - 2 * (half * 3 // 8)
    return [t, half * 3 // 8, half * 3 // 8]


# ---------------------------------------------------------------------------
# Loading a model: Unsloth on a CUDA GPU, transformers + PEFT otherwise.
# ---------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A base model ready for training or inference.

    Attributes:
        model: The model (a PEFT model once LoRA or an adapter is attached).
        processor: Its processor (tokenizer + image processor).
        family: Per-family settings from :data:`FAMILIES`.
        backend: ``"unsloth"`` or ``"transformers"``.
        reason: Why that backend was chosen, in words.
        quantized_4bit: Whether the weights are loaded in 4-bit.
        model_name: The hub id or folder it came from.
        device: ``"cuda"`` or ``"cpu"``.
    """

    model: Any
    processor: Any
    family: FamilySettings
    backend: str
    reason: str
    quantized_4bit: bool
    model_name: str
    device: str

    def describe(self) -> str:
        """One paragraph saying what was loaded, where and why."""
        bits = "4-bit" if self.quantized_4bit else "full precision"
        return (
            f"{self.model_name} ({self.family.name}) on {self.device}, {bits}, "
            f"backend {self.backend}: {self.reason}"
        )


def choose_backend(backend: str = "auto", load_in_4bit: bool = True) -> tuple[str, str, bool]:
    """Decide which backend runs, and say why.

    Args:
        backend: ``"auto"`` (Unsloth when CUDA is present), ``"unsloth"`` or
            ``"transformers"``.
        load_in_4bit: What the user asked for.

    Returns:
        ``(backend, reason, use_4bit)``.

    Raises:
        RuntimeError: ``"unsloth"`` was asked for on a machine without CUDA.
    """
    import torch

    cuda = torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(0) if cuda else ""
    if backend not in ("auto", "unsloth", "transformers"):
        raise ValueError(f"backend must be 'auto', 'unsloth' or 'transformers', not {backend!r}.")
    if backend == "unsloth" and not cuda:
        raise RuntimeError("backend='unsloth' needs a CUDA GPU and none is visible; use backend='auto'.")
    if cuda and backend in ("auto", "unsloth"):
        return "unsloth", f"CUDA GPU found ({gpu}): Unsloth FastVisionModel.", load_in_4bit
    if cuda:
        return "transformers", f"CUDA GPU found ({gpu}), transformers + PEFT as requested.", load_in_4bit
    note = "no CUDA GPU, so transformers + PEFT on the CPU (Unsloth needs a GPU)"
    if load_in_4bit:
        note += "; 4-bit was asked for but bitsandbytes cannot train 4-bit weights reliably on a CPU, so full precision"
    return "transformers", note + ".", False


def load_model(
    model_name: str,
    *,
    load_in_4bit: bool = True,
    backend: str = "auto",
    gradient_checkpointing: bool = True,
) -> LoadedModel:
    """Load a base model and its processor from a hub id or a local folder.

    With a CUDA GPU this is ``unsloth.FastVisionModel.from_pretrained`` (4-bit
    when asked); without one it is transformers'
    ``AutoModelForImageTextToText.from_pretrained`` in float32 on the CPU. Both
    take the same ``model_name``.

    Args:
        model_name: Hub id (e.g. ``"unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit"``)
            or a local folder (relative paths are resolved against the project).
        load_in_4bit: Load the weights in 4-bit (GPU only).
        backend: See :func:`choose_backend`.
        gradient_checkpointing: Trade compute for memory during training (GPU).

    Returns:
        A :class:`LoadedModel`.
    """
    import torch

    chosen, reason, use_4bit = choose_backend(backend, load_in_4bit)
    source = _model_source(model_name)
    if chosen == "unsloth":
        from unsloth import FastVisionModel  # imported here: it needs a GPU

        model, processor = FastVisionModel.from_pretrained(
            source,
            load_in_4bit=use_4bit,
            use_gradient_checkpointing="unsloth" if gradient_checkpointing else False,
        )
        device = "cuda"
    else:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        kwargs: dict[str, Any] = {}
        if torch.cuda.is_available():
            device = "cuda"
            kwargs["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            kwargs["device_map"] = {"": 0}
            from transformers import AutoConfig

            prequantized = getattr(AutoConfig.from_pretrained(source), "quantization_config", None) is not None
            if use_4bit and not prequantized:  # a *-bnb-4bit checkpoint brings its own quantization
                from transformers import BitsAndBytesConfig

                kwargs["quantization_config"] = BitsAndBytesConfig(
                    load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=kwargs["dtype"]
                )
        else:
            device = "cpu"
            kwargs["dtype"] = torch.float32
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
        processor = AutoProcessor.from_pretrained(source)
    family = family_for_model_type(model.config.model_type)
    return LoadedModel(model, processor, family, chosen, reason, use_4bit, model_name, device)


def _model_source(model_name: str) -> str:
    """A local folder (resolved against the project) if it exists, else the hub id as given."""
    local = project_path(model_name)
    if local.is_dir():
        return str(local)
    # a hub id is "owner/name"; anything with a path prefix, more parts or backslashes is meant as a folder
    if model_name.startswith((".", "/", "~")) or model_name.count("/") > 1 or "\\" in model_name:
        raise FileNotFoundError(
            f"Model folder {local} does not exist. Build the tiny test model with "
            "`python scripts/quickstart.py --only-model` or give a hub id such as "
            "'unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit'."
        )
    return model_name


@dataclass
class LoraSettings:
    """LoRA hyper-parameters, shared by both backends.

    Attributes:
        r: Rank of the low-rank update.
        alpha: Scale numerator (the update is multiplied by alpha / r).
        dropout: Dropout on the LoRA input.
        vision: Adapt the vision tower too.
        language: Adapt the language model.
        attention: Adapt attention projections.
        mlp: Adapt MLP projections.
        seed: Seed of the LoRA initialisation.
    """

    r: int = 16
    alpha: int = 16
    dropout: float = 0.0
    vision: bool = False
    language: bool = True
    attention: bool = True
    mlp: bool = True
    seed: int = 3407


def add_lora(loaded: LoadedModel, lora: LoraSettings) -> LoadedModel:
    """Attach fresh LoRA adapters to the base model, in place.

    Both backends get the same ``target_modules`` regex from
    :func:`lora_target_regex`, so they adapt the same layers.

    Returns:
        The same :class:`LoadedModel`, whose ``model`` is now a PEFT model.
    """
    target = lora_target_regex(
        loaded.family, vision=lora.vision, language=lora.language, attention=lora.attention, mlp=lora.mlp
    )
    if loaded.backend == "unsloth":
        from unsloth import FastVisionModel

        loaded.model = FastVisionModel.get_peft_model(
            loaded.model,
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            bias="none",
            target_modules=target,
            random_state=lora.seed,
        )
    else:
        import torch
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(lora.seed)
        config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            bias="none",
            target_modules=target,
            task_type="CAUSAL_LM",
        )
        loaded.model = get_peft_model(loaded.model, config)
    return loaded


def load_adapter(loaded: LoadedModel, adapter_dir: str | os.PathLike[str]) -> LoadedModel:
    """Attach a trained adapter (``adapters/<run>/``) to a base model and make it the active one.

    On a model that already carries adapters, the new one is added under the
    run's name and switched to, so one base serves several runs in turn.

    Raises:
        FileNotFoundError: The folder holds no ``adapter_config.json``.
    """
    from peft import PeftModel

    path = project_path(adapter_dir)
    if not (path / "adapter_config.json").exists():
        raise FileNotFoundError(
            f"{path} holds no adapter_config.json. Pass a run folder written by 02_finetune, "
            "e.g. 'adapters/my-run'."
        )
    if isinstance(loaded.model, PeftModel):
        loaded.model.load_adapter(str(path), adapter_name=path.name)
        loaded.model.set_adapter(path.name)
    else:
        loaded.model = PeftModel.from_pretrained(loaded.model, str(path), adapter_name=path.name)
    return loaded


# ---------------------------------------------------------------------------
# Prompt, images and collation: one definition shared by training and decoding.
# ---------------------------------------------------------------------------


def prepare_image(
    image: "PILImage.Image", family: FamilySettings, max_width: int = 1024, max_height: int = 128
) -> "PILImage.Image":
    """Fit a line image into the size limits and round its sides for the vision tower.

    The image is converted to RGB, scaled down (never up) to fit
    ``max_width`` x ``max_height`` with its aspect ratio kept, and each side is
    rounded to a multiple of the family's patch size (at least one patch).

    Args:
        image: A PIL image of one text line.
        family: Model family (gives the patch multiple).
        max_width: Widest allowed image, in pixels.
        max_height: Tallest allowed image, in pixels.

    Returns:
        A new RGB image.
    """
    from PIL import Image

    img = image.convert("RGB")
    m = family.patch_multiple
    box_w, box_h = max(m, max_width // m * m), max(m, max_height // m * m)
    scale = min(1.0, box_w / img.width, box_h / img.height)
    # scaled sides are at most box_w / box_h, both multiples of m, so rounding never crosses the limit
    w = max(m, int(round(img.width * scale / m)) * m)
    h = max(m, int(round(img.height * scale / m)) * m)
    if (w, h) != img.size:
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    return img


def prompt_text(processor: Any, family: FamilySettings) -> str:
    """The chat-formatted prompt up to where the answer starts (generation prompt included)."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": family.instruction}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def target_ids(processor: Any, family: FamilySettings, text: str) -> list[int]:
    """Token ids of the answer the model must produce: the text, then the end-of-turn token."""
    tok = processor.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return [*ids, tok.convert_tokens_to_ids(family.end_of_turn)]


class LineCollator:
    """Turn dataset rows (``image``, ``text``) into a training batch.

    The prompt is built by :func:`prompt_text`, the very function decoding
    uses, and the answer ids by :func:`target_ids`; each row is
    ``prompt ids + answer ids``. Labels are ``-100`` on every prompt token
    (image tokens included) and on padding, so the loss covers the answer and
    its end-of-turn token only.
    """

    def __init__(self, processor: Any, family: FamilySettings, max_width: int = 1024, max_height: int = 128):
        self.processor = processor
        self.family = family
        self.max_width = max_width
        self.max_height = max_height
        self.prompt = prompt_text(processor, family)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        images = [prepare_image(r["image"], self.family, self.max_width, self.max_height) for r in rows]
        enc = self.processor(text=[self.prompt] * len(rows), images=images, padding=False)
        pad_id = self.processor.tokenizer.pad_token_id
        seqs, labels, extras = [], [], {}
        per_token_keys = [k for k in ("mm_token_type_ids", "token_type_ids") if k in enc]
        for i, row in enumerate(rows):
            prompt_ids = list(enc["input_ids"][i])
            answer = target_ids(self.processor, self.family, row["text"])
            seqs.append(prompt_ids + answer)
            labels.append([-100] * len(prompt_ids) + answer)
            for k in per_token_keys:
                extras.setdefault(k, []).append(list(enc[k][i]) + [0] * len(answer))
        width = max(len(s) for s in seqs)
        batch: dict[str, Any] = {
            "input_ids": torch.tensor([s + [pad_id] * (width - len(s)) for s in seqs]),
            "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs]),
            "labels": torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels]),
        }
        for k, vals in extras.items():
            batch[k] = torch.tensor([v + [0] * (width - len(v)) for v in vals])
        for k in ("pixel_values", "image_grid_thw"):
            batch[k] = torch.as_tensor(enc[k])
        return batch


# ---------------------------------------------------------------------------
# Training: TRL's SFTTrainer on either backend, saved as adapters/<run>/.
# ---------------------------------------------------------------------------


@dataclass
class TrainSettings:
    """Optimiser and schedule settings (everything a user edits in 02_finetune).

    Attributes:
        max_steps: Optimiser steps; 0 or less means train ``epochs`` epochs.
        epochs: Epochs, used when ``max_steps`` <= 0.
        learning_rate: Peak learning rate.
        batch_size: Lines per device batch.
        grad_accum: Batches accumulated per optimiser step.
        warmup_steps: Linear warm-up steps.
        weight_decay: AdamW weight decay.
        scheduler: Learning-rate schedule name (``"linear"``, ``"cosine"``, ``"constant"``).
        max_image_width: Widest line image fed to the model, in pixels.
        max_image_height: Tallest line image fed to the model, in pixels.
        seed: Seed of data order and dropout.
        logging_steps: Log the loss every this many steps (0: about 50 points per run).
    """

    max_steps: int = 60
    epochs: float = 1.0
    learning_rate: float = 2e-4
    batch_size: int = 2
    grad_accum: int = 4
    warmup_steps: int = 5
    weight_decay: float = 0.0
    scheduler: str = "linear"
    max_image_width: int = 1024
    max_image_height: int = 128
    seed: int = 3407
    logging_steps: int = 0


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        run_dir: ``adapters/<run_name>/`` with the adapter and ``run.json``.
        log_history: The trainer's log entries (loss per logging step, ...).
        final_loss: Mean training loss over the run.
        steps: Optimiser steps taken.
        seconds: Wall time of training.
        run_info: The content of ``run.json``.
    """

    run_dir: Path
    log_history: list[dict[str, Any]]
    final_loss: float
    steps: int
    seconds: float
    run_info: dict[str, Any]


def new_run_dir(run_name: str, adapters_root: str | os.PathLike[str] = "adapters") -> Path:
    """Pick ``adapters/<run_name>/`` for a new run without touching earlier runs.

    An empty ``run_name`` becomes a time stamp; a name that is taken gets
    ``-2``, ``-3``, ... appended. Nothing is created yet.

    Args:
        run_name: The name the user asked for.
        adapters_root: Folder of all runs.

    Returns:
        A path that does not exist yet.
    """
    root = project_path(adapters_root)
    base = run_name.strip() or _dt.datetime.now().strftime("run-%Y%m%d-%H%M%S")
    if not re.fullmatch(r"[\w.\-]+", base):
        raise ValueError(f"run_name {run_name!r} may hold only letters, digits, '.', '_' and '-'.")
    candidate, k = root / base, 1
    while candidate.exists() or candidate.with_name(candidate.name + ".partial").exists():
        k += 1
        candidate = root / f"{base}-{k}"
    return candidate


def _trainer_class() -> type:
    """SFTTrainer that computes the loss from the model's own logits on a CPU.

    TRL's default loss path runs a fused LM-head kernel that needs a GPU; on
    a CPU the loss comes from ``transformers.Trainer.compute_loss`` with the same
    labels (prompt masked), so both backends optimise the same objective.
    """
    from transformers import Trainer
    from trl import SFTTrainer

    class InkwellSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[override]
            if inputs["input_ids"].device.type == "cpu":
                return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    return InkwellSFTTrainer


def _use_loss_bar(trainer: Any) -> None:
    """Replace the trainer's progress output by one tqdm bar that shows the latest loss."""
    from tqdm.auto import tqdm
    from transformers import PrinterCallback, TrainerCallback

    class _LossBar(TrainerCallback):
        bar: Any = None

        def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self.bar = tqdm(total=state.max_steps, desc="training", unit="step")

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

        def on_train_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self.bar.close()

    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(_LossBar())


def train_adapter(
    loaded: LoadedModel,
    train_dataset: "datasets.Dataset",
    settings: TrainSettings,
    run_dir: str | os.PathLike[str],
    *,
    lora: LoraSettings | None = None,
    extra_info: dict[str, Any] | None = None,
) -> TrainResult:
    """Fine-tune LoRA adapters with TRL's SFTTrainer and save them.

    The loss covers the answer tokens only (see :class:`LineCollator`). The
    run is written to ``run_dir + ".partial"`` and renamed to ``run_dir`` when
    complete, so an interrupted run never looks finished and an earlier run is
    never overwritten.

    Args:
        loaded: A model from :func:`load_model` with LoRA from :func:`add_lora`.
        train_dataset: Rows with ``image`` and ``text``.
        settings: Optimiser settings.
        run_dir: Target folder from :func:`new_run_dir` (must not exist).
        lora: The LoRA settings used (recorded in ``run.json``).
        extra_info: More entries for ``run.json`` (dataset, parameters, ...).

    Returns:
        A :class:`TrainResult`.
    """
    import time

    import torch
    from trl import SFTConfig

    final = Path(run_dir)
    if final.exists():
        raise FileExistsError(f"{final} exists; earlier runs are never overwritten. Pick a new run_name.")
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = _dt.datetime.now().astimezone()
    cuda = loaded.device == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    log_every = settings.logging_steps or (max(1, settings.max_steps // 50) if settings.max_steps > 0 else 10)
    args = SFTConfig(
        output_dir=str(partial / "checkpoints"),
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.scheduler,
        warmup_steps=settings.warmup_steps,
        weight_decay=settings.weight_decay,
        logging_steps=log_every,
        seed=settings.seed,
        data_seed=settings.seed,
        bf16=bf16,
        fp16=cuda and not bf16,
        optim="adamw_8bit" if cuda else "adamw_torch",
        save_strategy="no",
        report_to="none",
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        disable_tqdm=True,  # one compact bar from _LossBar instead of a table row per logged step
        # Unsloth applies its own checkpointing on the GPU; on a CPU it only costs time
        gradient_checkpointing=False,
    )
    collator = LineCollator(loaded.processor, loaded.family, settings.max_image_width, settings.max_image_height)
    if loaded.backend == "unsloth":
        from unsloth import FastVisionModel

        FastVisionModel.for_training(loaded.model)
    else:
        loaded.model.train()
    trainer = _trainer_class()(
        model=loaded.model,
        args=args,
        train_dataset=train_dataset,
        data_collator=collator,
        processing_class=loaded.processor,
    )
    _use_loss_bar(trainer)
    t0 = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - t0
    loaded.model.save_pretrained(str(partial))
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)
    history = [dict(e) for e in trainer.state.log_history]
    info = {
        "run_name": final.name,
        "base_model": loaded.model_name,
        "family": loaded.family.name,
        "backend": loaded.backend,
        "backend_reason": loaded.reason,
        "load_in_4bit": loaded.quantized_4bit,
        "device": loaded.device,
        "train_settings": dataclasses.asdict(settings),
        "lora": dataclasses.asdict(lora) if lora else None,
        "prompt": loaded.family.instruction,
        "train_lines": len(train_dataset),
        "metrics": {
            "train_loss": float(output.training_loss),
            "final_logged_loss": next((e["loss"] for e in reversed(history) if "loss" in e), None),
            "steps": int(trainer.state.global_step),
            "train_seconds": round(seconds, 2),
        },
        "log_history": history,
        "versions": library_versions(),
        "started": started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        **(extra_info or {}),
    }
    (partial / "run.json").write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    if final.exists():
        raise FileExistsError(f"{final} appeared while training; the finished run is left in {partial}.")
    partial.rename(final)
    return TrainResult(final, history, float(output.training_loss), int(trainer.state.global_step), seconds, info)


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a run's result."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "trl", "peft", "datasets", "bitsandbytes", "unsloth", "jiwer"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def update_run_info(run_dir: str | os.PathLike[str], **entries: Any) -> dict[str, Any]:
    """Add entries (e.g. validation metrics) to a run's ``run.json`` and return it."""
    path = project_path(run_dir) / "run.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    info.update(entries)
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return info


def plot_loss(log_history: Sequence[dict[str, Any]]) -> "matplotlib.figure.Figure":
    """Training loss (and learning rate) against step, as a figure."""
    from matplotlib.figure import Figure

    steps = [e["step"] for e in log_history if "loss" in e]
    losses = [e["loss"] for e in log_history if "loss" in e]
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    ax.plot(steps, losses, marker="." if len(steps) < 50 else None)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss (answer tokens)")
    ax.set_title("Training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Decoding: batched greedy generation with the training prompt.
# ---------------------------------------------------------------------------


def max_new_tokens_for(processor: Any, texts: Iterable[str], headroom: float = 1.5, extra: int = 8) -> int:
    """A ``max_new_tokens`` that fits the longest reference with headroom.

    Args:
        processor: The model's processor.
        texts: Reference texts of the lines to decode.
        headroom: Multiplier on the longest reference, in tokens.
        extra: Tokens added on top.
    """
    tok = processor.tokenizer
    longest = max((len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts), default=32)
    return int(math.ceil(longest * headroom)) + extra


@dataclass
class Prediction:
    """One decoded line.

    Attributes:
        text: The decoded text, special tokens removed.
        stopped_by_guard: True when the repetition guard cut decoding short.
        hit_limit: True when decoding reached ``max_new_tokens`` without ending.
    """

    text: str
    stopped_by_guard: bool = False
    hit_limit: bool = False


def predict_lines(
    loaded: LoadedModel,
    images: Sequence["PILImage.Image"],
    *,
    batch_size: int = 8,
    max_new_tokens: int = 128,
    max_image_width: int = 1024,
    max_image_height: int = 128,
    repetition_guard: bool = True,
    progress: bool = True,
) -> list[Prediction]:
    """Transcribe line images with greedy decoding, in batches.

    The prompt is :func:`prompt_text`, the one the adapter was trained on, and
    images go through :func:`prepare_image` with the same limits. Batches are
    left-padded so every row's answer starts right after its prompt. Results
    do not depend on ``batch_size``.

    Args:
        loaded: Base model, optionally with an adapter attached.
        images: Line images.
        batch_size: Lines decoded together.
        max_new_tokens: Hard limit on answer length (see :func:`max_new_tokens_for`).
        max_image_width: Same limit as in training.
        max_image_height: Same limit as in training.
        repetition_guard: Stop a line early when it loops on a repeated unit.
        progress: Show a progress bar.

    Returns:
        One :class:`Prediction` per image, in order.
    """
    import torch
    from tqdm.auto import tqdm

    model, processor, family = loaded.model, loaded.processor, loaded.family
    if loaded.backend == "unsloth":
        from unsloth import FastVisionModel

        FastVisionModel.for_inference(model)
    else:
        model.eval()
    tok = processor.tokenizer
    old_side = tok.padding_side
    tok.padding_side = "left"
    prompt = prompt_text(processor, family)
    eos = tok.convert_tokens_to_ids(family.end_of_turn)
    results: list[Prediction] = []
    try:
        bar = tqdm(total=len(images), desc="decoding", unit="line", disable=not progress)
        for start in range(0, len(images), batch_size):
            chunk = [prepare_image(im, family, max_image_width, max_image_height) for im in images[start : start + batch_size]]
            enc = processor(text=[prompt] * len(chunk), images=chunk, padding=True, return_tensors="pt")
            enc = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in enc.items()}
            width = enc["input_ids"].shape[1]
            criteria = _repetition_criteria(tok, width) if repetition_guard else None
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=eos,
                    pad_token_id=tok.pad_token_id,
                    stopping_criteria=criteria,
                )
            for row in out[:, width:].tolist():
                ended = eos in row
                if ended:
                    row = row[: row.index(eos)]
                text = tok.decode(row, skip_special_tokens=True)
                looped = (not ended) and repetition_guard and has_repetition_loop(text)
                results.append(Prediction(text, stopped_by_guard=looped, hit_limit=not ended and len(row) >= max_new_tokens))
            bar.update(len(chunk))
        bar.close()
    finally:
        tok.padding_side = old_side
    return results


# ---------------------------------------------------------------------------
# Synthetic handwriting lines: the embedded default data set.
# ---------------------------------------------------------------------------

#: The closed vocabulary of the embedded default: short diary-style lines.
DEMO_PHRASES: tuple[str, ...] = (
    "dear diary",
    "12 May 1921",
    "rain all day",
    "went to town",
    "letter from Anna",
    "bought bread",
    "the garden is green",
    "meeting at noon",
    "call the doctor",
    "cold morning",
    "paid 3 shillings",
    "train was late",
    "walked by the river",
    "supper with Tom",
    "new ink today",
    "see you soon",
)

#: Folders searched for handwriting-style fonts (Debian's font packages and the user's own).
FONT_DIRS: tuple[str, ...] = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")

#: File-name fragments of handwriting-style fonts (Debian's OFL handwriting font packages and common names).
HANDWRITING_FONT_HINTS: tuple[str, ...] = (
    "dkg", "breip", "bwht", "dancing", "ecolier", "femkeklaver", "humor", "kaushan", "kristi",
    "rufscript", "comicneue", "comic", "klee", "hand", "script",
)


def find_handwriting_fonts(extra_dirs: Sequence[str] = ()) -> list[Path]:
    """Find installed handwriting-style TrueType/OpenType fonts.

    Args:
        extra_dirs: More folders to search first.

    Returns:
        Sorted font paths; empty when none is installed (then Pillow's
        bundled font is used).
    """
    found: set[Path] = set()
    for d in [*extra_dirs, *FONT_DIRS]:
        root = Path(d).expanduser()
        if not root.is_dir():
            continue
        for p in root.rglob("*"):
            if p.suffix.lower() in (".ttf", ".otf") and any(h in p.name.lower() for h in HANDWRITING_FONT_HINTS):
                found.add(p)
    return sorted(found)


def render_line(
    text: str,
    rng: random.Random,
    fonts: Sequence[Path] = (),
    height: int = 64,
) -> "PILImage.Image":
    """Render one text line as a scanned handwriting-like image.

    Light, seeded augmentation: font (a handwriting font when installed, else
    Pillow's bundled font), size and stroke weight, slant, small rotation,
    baseline jitter per character, ink colour, paper tint, ruled lines, blur and
    noise.

    Args:
        text: The line's text.
        rng: Random source (seed it for reproducible images).
        fonts: Candidate font files; empty means Pillow's bundled font.
        height: Output height in pixels.

    Returns:
        An RGB image ``height`` pixels tall.
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    size = rng.randint(int(height * 0.5), int(height * 0.65))
    font_path = rng.choice(list(fonts)) if fonts else None
    font = ImageFont.truetype(str(font_path), size) if font_path else ImageFont.load_default(size)
    stroke = rng.choice([0, 0, 1]) if height >= 48 else 0
    ink = tuple(rng.randint(0, 70) for _ in range(2)) + (rng.randint(40, 140),)
    margin = height // 4
    # draw character by character with a wandering baseline
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    advance = [probe.textlength(ch, font=font) * rng.uniform(0.95, 1.08) for ch in text]
    width = int(sum(advance)) + 2 * margin + stroke * len(text)
    canvas = Image.new("L", (width, height * 2), 0)
    draw = ImageDraw.Draw(canvas)
    x, drift = float(margin), 0.0
    for ch, adv in zip(text, advance):
        drift = max(-height * 0.08, min(height * 0.08, drift + rng.uniform(-1.2, 1.2)))
        draw.text((x, height * 0.5 + drift), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        x += adv + stroke
    shear = rng.uniform(-0.35, 0.15)
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, (1, shear, -shear * height, 0, 1, 0), Image.Resampling.BICUBIC)
    canvas = canvas.rotate(rng.uniform(-1.5, 1.5), resample=Image.Resampling.BICUBIC, expand=False)
    box = canvas.getbbox() or (0, 0, width, height)
    top = max(0, box[1] - margin // 2)
    bottom = min(canvas.height, box[3] + margin // 2)
    left = max(0, box[0] - margin)
    right = min(canvas.width, box[2] + margin)
    mask = canvas.crop((left, top, right, bottom))
    mask = mask.resize((max(1, int(mask.width * height / max(1, mask.height))), height), Image.Resampling.BICUBIC)
    paper_tone = rng.randint(225, 255)
    paper = Image.new("RGB", mask.size, (paper_tone, paper_tone - rng.randint(0, 12), paper_tone - rng.randint(0, 25)))
    if rng.random() < 0.4:
        rule = ImageDraw.Draw(paper)
        y = int(height * rng.uniform(0.78, 0.9))
        rule.line([(0, y), (paper.width, y)], fill=(170, 190, 220), width=1)
    paper.paste(Image.new("RGB", mask.size, ink), (0, 0), mask)
    if rng.random() < 0.5:
        paper = paper.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.8)))
    arr = np.asarray(paper, dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(2, 8), arr.shape[:2])
    arr = np.clip(arr + noise[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


@dataclass
class SyntheticSet:
    """A synthetic handwriting set on disk, in the table format 01_data reads.

    Attributes:
        labels: ``labels.csv`` (columns image, text, page).
        images_dir: Folder of the PNG line images.
        n_lines: Number of lines.
        fonts: Font files used (empty: Pillow's bundled font).
    """

    labels: Path
    images_dir: Path
    n_lines: int
    fonts: list[str]


def make_synthetic_lines(
    out_dir: str | os.PathLike[str],
    n_lines: int = 600,
    *,
    phrases: Sequence[str] = DEMO_PHRASES,
    seed: int = 0,
    lines_per_page: int = 8,
    height: int = 64,
    fonts: Sequence[Path] | None = None,
    progress: bool = False,
) -> SyntheticSet:
    """Write synthetic handwriting lines and a ``labels.csv`` that 01_data ingests.

    Each line is a phrase from a small closed vocabulary rendered by
    :func:`render_line` with its own random style; every ``lines_per_page``
    lines share a page id (so grouped splits have pages to keep together) and
    a font. An existing set made with the same settings is reused;
    one made with other settings is never overwritten.

    Args:
        out_dir: Folder to write (``labels.csv`` and ``images/``).
        n_lines: How many lines.
        phrases: The vocabulary, cycled through in a seeded random order.
        seed: Seed of texts and styles.
        lines_per_page: Lines per page id.
        height: Image height in pixels.
        fonts: Font files; ``None`` finds installed handwriting fonts.
        progress: Show a progress bar.

    Returns:
        A :class:`SyntheticSet`.

    Raises:
        FileExistsError: ``out_dir`` holds a different set.
    """
    import csv

    from tqdm.auto import tqdm

    out = project_path(out_dir)
    font_list = list(find_handwriting_fonts() if fonts is None else fonts)
    settings = {
        "n_lines": n_lines,
        "phrases": list(phrases),
        "seed": seed,
        "lines_per_page": lines_per_page,
        "height": height,
        "fonts": [str(f) for f in font_list],
    }
    labels, images_dir, stamp = out / "labels.csv", out / "images", out / "synthetic.json"
    if labels.exists():
        old = json.loads(stamp.read_text(encoding="utf-8")) if stamp.exists() else None
        if old == settings:
            return SyntheticSet(labels, images_dir, n_lines, settings["fonts"])
        raise FileExistsError(
            f"{out} already holds a different data set; it is left as it is. "
            "Choose another folder for the synthetic lines or delete that one yourself."
        )
    rng = random.Random(seed)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    order: list[str] = []
    with open(tmp / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "text", "page"])
        for i in tqdm(range(n_lines), desc="rendering", unit="line", disable=not progress):
            if not order:
                order = list(phrases)
                rng.shuffle(order)
            text = order.pop()
            page = i // lines_per_page
            page_rng = random.Random(seed * 1_000_003 + page)
            page_fonts = [page_rng.choice(font_list)] if font_list else []
            img = render_line(text, rng, page_fonts, height)
            name = f"line_{i:05d}.png"
            img.save(tmp / "images" / name)
            writer.writerow([f"images/{name}", text, f"page_{page:04d}"])
    (tmp / "synthetic.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)
    return SyntheticSet(labels, images_dir, n_lines, settings["fonts"])


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------

#: Line CER above this value marks a runaway line.
RUNAWAY_CER = 1.0

# Colour-blind friendly palette (Okabe-Ito), used by the plots.
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

# Visible stand-ins for whitespace inside error markers.
_SPACE_MARK = "\u2423"  # open box
_EMPTY_MARK = "\u2205"  # empty set


@dataclass
class LineScore:
    """Score of one predicted line against its reference.

    Attributes:
        id: Line identifier.
        reference: Reference text as scored (NFC, outer whitespace stripped).
        prediction: Predicted text as scored (NFC, outer whitespace stripped).
        cer: Line character error rate, ``edits / ref_chars`` (may exceed 1).
        edits: Character edits (substitutions + deletions + insertions).
        ref_chars: Number of reference characters.
        word_edits: Word edits.
        ref_words: Number of reference words.
    """

    id: str
    reference: str
    prediction: str
    cer: float
    edits: int
    ref_chars: int
    word_edits: int
    ref_words: int


@dataclass
class SystemMetrics:
    """Corpus-level metrics of one system.

    Attributes:
        system: System name.
        n_lines: Number of scored lines.
        cer: Corpus CER, total character edits / total reference characters.
        wer: Corpus WER, total word edits / total reference words.
        median_cer: Median of the per-line CERs.
        exact_match: Fraction of lines predicted exactly.
        n_runaway: Number of lines with CER above 1.0.
        runaway_ids: Ids of those lines, in input order.
        cer_normalized: Corpus CER after :func:`normalize_text` on both sides.
        wer_normalized: Corpus WER after :func:`normalize_text` on both sides.
    """

    system: str
    n_lines: int
    cer: float
    wer: float
    median_cer: float
    exact_match: float
    n_runaway: int
    runaway_ids: list[str]
    cer_normalized: float
    wer_normalized: float

    def to_dict(self) -> dict:
        """Returns the metrics as a plain, JSON-ready dictionary."""
        return asdict(self)


@dataclass
class BootstrapResult:
    """Paired bootstrap confidence interval of a corpus-CER difference.

    Attributes:
        system_a: Baseline system name.
        system_b: Compared system name.
        diff: ``CER(b) - CER(a)`` on all lines; negative means b is better.
        low: Lower end of the 95% interval of the difference.
        high: Upper end of the 95% interval of the difference.
        n_resamples: Number of bootstrap resamples.
    """

    system_a: str
    system_b: str
    diff: float
    low: float
    high: float
    n_resamples: int

    @property
    def significant(self) -> bool:
        """True when the 95% interval excludes zero."""
        return self.high < 0 or self.low > 0

    @property
    def verdict(self) -> str:
        """One sentence saying whether b is better, worse or indistinguishable."""
        ci = (
            f"CER {100 * self.diff:+.2f} points, "
            f"95% CI [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"
        )
        if self.high < 0:
            return f"{self.system_b} is better than {self.system_a} ({ci})."
        if self.low > 0:
            return f"{self.system_b} is worse than {self.system_a} ({ci})."
        return f"{self.system_b} and {self.system_a} are not distinguishable at 95% ({ci})."

    def to_dict(self) -> dict:
        """Returns the result, with its verdict, as a plain dictionary."""
        return {**asdict(self), "verdict": self.verdict}


def normalize_text(text: str) -> str:
    """Normalises text for the lenient metric variants.

    Applies NFC, case folding, removes every character of a Unicode
    punctuation category (``P*``; symbols such as ``$`` are kept), collapses
    runs of whitespace to one space and strips the ends.

    Args:
        text: Text to normalise.

    Returns:
        The normalised text.

    Example:
        >>> normalize_text("  Hello,   WORLD! ")
        'hello world'
    """
    text = unicodedata.normalize("NFC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _as_text(value: Any) -> str:
    """Turns a cell value into text; None and float NaN (empty CSV cells) become ''."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def _prepare(text: Any) -> str:
    """NFC-normalises and strips one side before scoring."""
    return unicodedata.normalize("NFC", _as_text(text)).strip()


def _chunk_edits(chunks: Iterable[Any]) -> int:
    """Counts the edits of one jiwer alignment."""
    total = 0
    for chunk in chunks:
        if chunk.type in ("substitute", "delete"):
            total += chunk.ref_end_idx - chunk.ref_start_idx
        elif chunk.type == "insert":
            total += chunk.hyp_end_idx - chunk.hyp_start_idx
    return total


def _edit_counts(refs: Sequence[str], hyps: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-line character and word edits plus reference lengths.

    Lines with an empty reference are allowed here: every predicted character
    (word) then counts as an insertion against zero reference characters.

    Returns:
        Arrays ``(char_edits, ref_chars, word_edits, ref_words)``.
    """
    n = len(refs)
    char_edits = np.zeros(n, dtype=np.int64)
    word_edits = np.zeros(n, dtype=np.int64)
    ref_chars = np.array([len(r) for r in refs], dtype=np.int64)
    ref_words = np.array([len(r.split()) for r in refs], dtype=np.int64)
    keep = [i for i in range(n) if refs[i].strip()]
    for i in range(n):
        if not refs[i].strip():
            char_edits[i] = len(hyps[i].strip())
            word_edits[i] = len(hyps[i].split())
    if keep:
        kr = [refs[i] for i in keep]
        kh = [hyps[i] for i in keep]
        chars = jiwer.process_characters(kr, kh)
        words = jiwer.process_words(kr, kh)
        for j, i in enumerate(keep):
            char_edits[i] = _chunk_edits(chars.alignments[j])
            word_edits[i] = _chunk_edits(words.alignments[j])
    return char_edits, ref_chars, word_edits, ref_words


def score_lines(ids: Sequence[Any], references: Sequence[Any], predictions: Sequence[Any]) -> list[LineScore]:
    """Scores predictions line by line.

    Args:
        ids: Line identifiers (converted to ``str``; must be unique).
        references: Reference transcriptions; none may be empty.
        predictions: Predicted transcriptions; empty (or None/NaN) is allowed
            and scores CER 1.0 for that line.

    Returns:
        One :class:`LineScore` per line, in input order.

    Raises:
        ValueError: If the lengths differ, ids repeat, or a reference is empty.

    Example:
        >>> score_lines(["l1"], ["abcd"], ["abed"])[0].cer
        0.25
    """
    if not (len(ids) == len(references) == len(predictions)):
        raise ValueError(
            f"ids, references and predictions must have the same length, got "
            f"{len(ids)}, {len(references)} and {len(predictions)}."
        )
    str_ids = [str(i) for i in ids]
    dupes = sorted(k for k, c in Counter(str_ids).items() if c > 1)
    if dupes:
        raise ValueError(f"Line ids must be unique; repeated: {dupes[:10]}")
    refs = [_prepare(r) for r in references]
    hyps = [_prepare(h) for h in predictions]
    for line_id, ref in zip(str_ids, refs):
        if not ref:
            raise ValueError(
                f"Line {line_id!r} has an empty reference, so its error rate is undefined. "
                f"Fix the transcription or drop that row from the data set."
            )
    if not refs:
        return []
    char_edits, ref_chars, word_edits, ref_words = _edit_counts(refs, hyps)
    return [
        LineScore(
            id=str_ids[i],
            reference=refs[i],
            prediction=hyps[i],
            cer=float(char_edits[i]) / float(ref_chars[i]),
            edits=int(char_edits[i]),
            ref_chars=int(ref_chars[i]),
            word_edits=int(word_edits[i]),
            ref_words=int(ref_words[i]),
        )
        for i in range(len(refs))
    ]


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def system_metrics(system: str, scores: list[LineScore]) -> SystemMetrics:
    """Aggregates line scores into corpus metrics.

    Args:
        system: System name.
        scores: Line scores from :func:`score_lines`.

    Returns:
        The system's :class:`SystemMetrics`. The normalised variants are
        recomputed from the texts with :func:`normalize_text`; a line whose
        reference normalises to nothing (e.g. only punctuation) contributes
        its predicted characters as insertions and no reference characters.

    Raises:
        ValueError: If ``scores`` is empty.
    """
    if not scores:
        raise ValueError(f"System {system!r} has no scored lines.")
    edits = np.array([s.edits for s in scores], dtype=np.int64)
    chars = np.array([s.ref_chars for s in scores], dtype=np.int64)
    wedits = np.array([s.word_edits for s in scores], dtype=np.int64)
    words = np.array([s.ref_words for s in scores], dtype=np.int64)
    cers = np.array([s.cer for s in scores], dtype=float)
    runaway = [s.id for s in scores if s.cer > RUNAWAY_CER]
    n_refs = [normalize_text(s.reference) for s in scores]
    n_hyps = [normalize_text(s.prediction) for s in scores]
    n_edits, n_chars, n_wedits, n_words = _edit_counts(n_refs, n_hyps)
    return SystemMetrics(
        system=system,
        n_lines=len(scores),
        cer=_ratio(edits.sum(), chars.sum()),
        wer=_ratio(wedits.sum(), words.sum()),
        median_cer=float(np.median(cers)),
        exact_match=float(np.mean(edits == 0)),
        n_runaway=len(runaway),
        runaway_ids=runaway,
        cer_normalized=_ratio(n_edits.sum(), n_chars.sum()),
        wer_normalized=_ratio(n_wedits.sum(), n_words.sum()),
    )


def paired_bootstrap(
    scores_a: list[LineScore],
    scores_b: list[LineScore],
    n_resamples: int = 1000,
    seed: int = 0,
    system_a: str = "a",
    system_b: str = "b",
) -> BootstrapResult:
    """Paired bootstrap 95% interval of ``CER(b) - CER(a)``.

    Line indices are resampled with replacement; on each resample both
    systems' corpus CERs are recomputed as summed edits over summed reference
    characters of the same lines. The work is vectorised over per-line edit
    counts and processed in blocks to bound memory.

    Args:
        scores_a: Line scores of the baseline system.
        scores_b: Line scores of the compared system, same lines and order.
        n_resamples: Number of resamples.
        seed: Seed of the random generator; equal seeds give equal results.
        system_a: Name of system a.
        system_b: Name of system b.

    Returns:
        A :class:`BootstrapResult`; ``high < 0`` means b is better at 95%.

    Raises:
        ValueError: If the line lists are empty, differ in ids, or
            ``n_resamples < 1``.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}.")
    if not scores_a or len(scores_a) != len(scores_b):
        raise ValueError("Both systems need the same, non-empty list of lines.")
    if [s.id for s in scores_a] != [s.id for s in scores_b]:
        raise ValueError(f"{system_a!r} and {system_b!r} were not scored on the same line ids in the same order.")
    ea = np.array([s.edits for s in scores_a], dtype=np.int64)
    eb = np.array([s.edits for s in scores_b], dtype=np.int64)
    chars = np.array([s.ref_chars for s in scores_a], dtype=np.int64)
    delta = eb - ea
    n = len(chars)
    diff = float(delta.sum()) / float(chars.sum())
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, 2_000_000 // max(n, 1)))
    diffs = np.empty(n_resamples, dtype=float)
    done = 0
    while done < n_resamples:
        size = min(block, n_resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        diffs[done : done + size] = delta[idx].sum(axis=1) / chars[idx].sum(axis=1)
        done += size
    low, high = np.percentile(diffs, [2.5, 97.5])
    return BootstrapResult(
        system_a=system_a,
        system_b=system_b,
        diff=diff,
        low=float(low),
        high=float(high),
        n_resamples=int(n_resamples),
    )


_METRIC_COLUMNS = [
    "n_lines",
    "cer",
    "cer_normalized",
    "wer",
    "wer_normalized",
    "median_cer",
    "exact_match",
    "n_runaway",
]


@dataclass
class Evaluation:
    """Scores of several systems on the same lines.

    Attributes:
        ids: Line ids, in input order.
        references: Reference texts as scored.
        metrics: System name -> :class:`SystemMetrics`, in input order.
        scores: System name -> line scores, in line order.
        bootstrap: One :class:`BootstrapResult` per pair of systems
            (a before b in input order; diff is ``CER(b) - CER(a)``).
        seed: Bootstrap seed.
        n_resamples: Bootstrap resamples.
    """

    ids: list[str]
    references: list[str]
    metrics: dict[str, SystemMetrics]
    scores: dict[str, list[LineScore]]
    bootstrap: list[BootstrapResult] = field(default_factory=list)
    seed: int = 0
    n_resamples: int = 1000

    @property
    def systems(self) -> list[str]:
        """System names in input order."""
        return list(self.metrics)

    def table(self) -> pd.DataFrame:
        """One row per system with raw and normalised corpus metrics."""
        rows = [{"system": m.system, **{c: getattr(m, c) for c in _METRIC_COLUMNS}} for m in self.metrics.values()]
        return pd.DataFrame(rows, columns=["system", *_METRIC_COLUMNS])

    def bootstrap_table(self) -> pd.DataFrame:
        """One row per system pair: difference, interval and verdict."""
        rows = [b.to_dict() for b in self.bootstrap]
        cols = ["system_a", "system_b", "diff", "low", "high", "n_resamples", "verdict"]
        return pd.DataFrame(rows, columns=cols)

    def predictions_frame(self) -> pd.DataFrame:
        """Long table with columns id, system, reference, prediction, cer."""
        rows = [
            {"id": s.id, "system": name, "reference": s.reference, "prediction": s.prediction, "cer": s.cer}
            for name, line_scores in self.scores.items()
            for s in line_scores
        ]
        return pd.DataFrame(rows, columns=["id", "system", "reference", "prediction", "cer"])

    def line_cers(self, systems: Sequence[str] | None = None) -> pd.DataFrame:
        """Wide table of line CERs: index id, one column per system."""
        names = list(systems) if systems is not None else self.systems
        data = {name: [s.cer for s in self.scores[name]] for name in names}
        return pd.DataFrame(data, index=pd.Index(self.ids, name="id"))


def evaluate_systems(
    ids: Sequence[Any],
    references: Sequence[Any],
    predictions_by_system: Mapping[str, Sequence[Any]],
    n_resamples: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Scores every system on the same lines and compares each pair.

    Args:
        ids: Line identifiers.
        references: Reference transcriptions (none empty).
        predictions_by_system: System name -> predictions aligned with ``ids``.
            Put the baseline first: pair differences read later minus earlier.
        n_resamples: Bootstrap resamples per pair.
        seed: Bootstrap seed (the same for every pair).

    Returns:
        An :class:`Evaluation`.

    Raises:
        ValueError: On empty input, mismatched lengths or empty references.
    """
    if not predictions_by_system:
        raise ValueError("predictions_by_system is empty; pass at least one system.")
    if len(ids) == 0:
        raise ValueError("No lines to evaluate.")
    scores = {str(name): score_lines(ids, references, preds) for name, preds in predictions_by_system.items()}
    metrics = {name: system_metrics(name, s) for name, s in scores.items()}
    pairs = [
        paired_bootstrap(scores[a], scores[b], n_resamples=n_resamples, seed=seed, system_a=a, system_b=b)
        for a, b in itertools.combinations(scores, 2)
    ]
    first = next(iter(scores.values()))
    return Evaluation(
        ids=[s.id for s in first],
        references=[s.reference for s in first],
        metrics=metrics,
        scores=scores,
        bootstrap=pairs,
        seed=seed,
        n_resamples=n_resamples,
    )


def _json_safe(value: Any) -> Any:
    """Replaces NaN/inf by None and numpy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_evaluation(evaluation: Evaluation, out_dir: str | os.PathLike, extra: dict | None = None) -> dict[str, Path]:
    """Writes ``predictions.csv`` and ``metrics.json`` into ``out_dir``.

    ``predictions.csv`` has columns id, system, reference, prediction, cer.
    ``metrics.json`` holds ``n_lines``, ``systems`` (per-system metrics),
    ``bootstrap`` (one entry per pair, with its verdict), ``bootstrap_seed``
    and ``extra`` (e.g. dataset, split, adapter paths). NaN is written as null.

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        out_dir: Folder to write into; created if missing.
        extra: JSON-serialisable run details (non-JSON values are stringified).

    Returns:
        ``{"predictions": path, "metrics": path}``.

    Raises:
        FileExistsError: If either file already exists; nothing is written.
            Use a fresh folder per run.
    """
    out = Path(out_dir)
    paths = {"predictions": out / "predictions.csv", "metrics": out / "metrics.json"}
    for path in paths.values():
        if path.exists():
            raise FileExistsError(f"{path} already exists; write this run to a fresh folder instead of overwriting.")
    out.mkdir(parents=True, exist_ok=True)
    evaluation.predictions_frame().to_csv(paths["predictions"], index=False, encoding="utf-8")
    payload = {
        "n_lines": len(evaluation.ids),
        "systems": {name: m.to_dict() for name, m in evaluation.metrics.items()},
        "bootstrap": [b.to_dict() for b in evaluation.bootstrap],
        "bootstrap_seed": evaluation.seed,
        "extra": dict(extra or {}),
    }
    text = json.dumps(_json_safe(payload), indent=2, ensure_ascii=False, default=str)
    paths["metrics"].write_text(text + "\n", encoding="utf-8")
    return paths


_KEY_COLUMNS = ["dataset", "split", "system"]


def update_comparison(
    evaluation: Evaluation, table_path: str | os.PathLike, dataset: str, split: str
) -> pd.DataFrame:
    """Adds this run's systems to a CSV comparison table shared across runs.

    A row is keyed by (dataset, split, system): an existing row with the same
    key is replaced in place, new keys are appended. The file is created if
    missing and replaced atomically.

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        table_path: CSV file of the comparison table.
        dataset: Data set name recorded in each row.
        split: Split name recorded in each row.

    Returns:
        The full table after the update.
    """
    path = Path(table_path)
    new = evaluation.table()
    new.insert(0, "split", str(split))
    new.insert(0, "dataset", str(dataset))
    columns = [*_KEY_COLUMNS, *_METRIC_COLUMNS]
    if path.exists():
        old = pd.read_csv(path, dtype={c: str for c in _KEY_COLUMNS}, keep_default_na=False)
        for col in old.columns:
            if col not in _KEY_COLUMNS:
                converted = pd.to_numeric(old[col], errors="coerce")
                blank = old[col].astype(str).str.strip() == ""
                if bool((converted.notna() | blank).all()):
                    old[col] = converted
        columns += [c for c in old.columns if c not in columns]
    else:
        old = pd.DataFrame(columns=columns)
    old = old.reindex(columns=columns)
    new = new.reindex(columns=columns)
    keys = list(zip(*(old[c] for c in _KEY_COLUMNS)))
    position = {k: i for i, k in enumerate(keys)}
    rows = old.to_dict("records")
    for rec in new.to_dict("records"):
        key = tuple(rec[c] for c in _KEY_COLUMNS)
        if key in position:
            rows[position[key]] = rec
        else:
            position[key] = len(rows)
            rows.append(rec)
    table = pd.DataFrame(rows, columns=columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        table.to_csv(tmp, index=False, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return table


# ---------------------------------------------------------------------------
# Generation guard
# ---------------------------------------------------------------------------


def has_repetition_loop(text: str, min_repeats: int = 4, max_unit: int = 20) -> bool:
    """Detects a unit repeated back-to-back at the end of the text.

    A unit of 2..``max_unit`` characters must occur at least ``min_repeats``
    times in a row at the end ("abcabcabcabc"). A single repeated character
    must occur at least ``max(2 * min_repeats, 8)`` times, so ordinary text
    such as "Mississippi", "1000000" or "..." does not trigger.

    Args:
        text: Generated text so far.
        min_repeats: Repetitions needed for units of two or more characters.
        max_unit: Longest unit considered.

    Returns:
        True if the text ends in such a loop.

    Raises:
        ValueError: If ``min_repeats < 2`` or ``max_unit < 1``.
    """
    if min_repeats < 2 or max_unit < 1:
        raise ValueError("min_repeats must be >= 2 and max_unit >= 1.")
    n = len(text)
    for unit in range(1, max_unit + 1):
        needed = max(2 * min_repeats, 8) if unit == 1 else min_repeats
        if unit * needed > n:
            if unit > 1:
                break
            continue
        tail = text[n - unit :]
        count, pos = 1, n - unit
        while count < needed and pos >= unit and text[pos - unit : pos] == tail:
            count += 1
            pos -= unit
        if count >= needed:
            return True
    return False


class RepetitionStopper:
    """Stops generation for rows whose new text ends in a repetition loop.

    Example:
        >>> stopper = RepetitionStopper(
        ...     lambda ids: processor.decode(ids, skip_special_tokens=True), prompt_length=inputs["input_ids"].shape[1]
        ... )  # doctest: +SKIP
        >>> model.generate(**inputs, stopping_criteria=transformers.StoppingCriteriaList([stopper]))  # doctest: +SKIP

    Args:
        decode: Turns a list of token ids into text.
        prompt_length: Number of prompt tokens at the start of each row; only
            the tokens after it are checked.
        min_repeats: See :func:`has_repetition_loop`.
        max_unit: See :func:`has_repetition_loop`.
    """

    def __init__(
        self,
        decode: Callable[[list[int]], str],
        prompt_length: int,
        min_repeats: int = 4,
        max_unit: int = 20,
    ) -> None:
        self.decode = decode
        self.prompt_length = int(prompt_length)
        self.min_repeats = min_repeats
        self.max_unit = max_unit

    def __call__(self, input_ids: "torch.LongTensor", scores: Any = None, **kwargs: Any) -> "torch.BoolTensor":
        """Returns a bool tensor of shape (batch,): True where a row loops."""
        import torch

        flags = [
            has_repetition_loop(self.decode(row[self.prompt_length :].tolist()), self.min_repeats, self.max_unit)
            for row in input_ids
        ]
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)


# ---------------------------------------------------------------------------
# Alignment and diffs
# ---------------------------------------------------------------------------


def align_chars(reference: str, prediction: str) -> list[tuple[str, str, str]]:
    """Aligns two strings character by character.

    Both sides are prepared as for scoring (NFC, outer whitespace stripped).

    Args:
        reference: Reference text.
        prediction: Predicted text.

    Returns:
        A list of ``(op, ref_char, pred_char)`` with op one of "equal",
        "substitute", "delete" (``pred_char == ""``) or "insert"
        (``ref_char == ""``).

    Example:
        >>> align_chars("cat", "cot")
        [('equal', 'c', 'c'), ('substitute', 'a', 'o'), ('equal', 't', 't')]
    """
    ref, hyp = _prepare(reference), _prepare(prediction)
    if not ref:
        return [("insert", "", h) for h in hyp]
    out = jiwer.process_characters(ref, hyp)
    r_tok, h_tok = out.references[0], out.hypotheses[0]
    ops: list[tuple[str, str, str]] = []
    for chunk in out.alignments[0]:
        rs, re_, hs, he = chunk.ref_start_idx, chunk.ref_end_idx, chunk.hyp_start_idx, chunk.hyp_end_idx
        if chunk.type in ("equal", "substitute"):
            ops.extend((chunk.type, r, h) for r, h in zip(r_tok[rs:re_], h_tok[hs:he]))
        elif chunk.type == "delete":
            ops.extend(("delete", r, "") for r in r_tok[rs:re_])
        elif chunk.type == "insert":
            ops.extend(("insert", "", h) for h in h_tok[hs:he])
    return ops


def _grouped(ops: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Merges consecutive operations of the same kind into one group."""
    groups: list[tuple[str, str, str]] = []
    for op, r, h in ops:
        if groups and groups[-1][0] == op:
            _, gr, gh = groups[-1]
            groups[-1] = (op, gr + r, gh + h)
        else:
            groups.append((op, r, h))
    return groups


def _visible(text: str) -> str:
    """Shows spaces inside error markers as a visible open box."""
    return text.replace(" ", _SPACE_MARK)


def render_diff_text(reference: str, prediction: str) -> str:
    """Renders a plain-text diff of a prediction against its reference.

    Legend:
        * ``[a->o]`` reference "a" was read as "o" (substitution)
        * ``[-x]``   reference "x" is missing from the prediction (deletion)
        * ``{+s}``   "s" is extra in the prediction (insertion)
        * ``␣``      a space inside a marker

    Unmarked text is correct.

    Args:
        reference: Reference text.
        prediction: Predicted text.

    Returns:
        The marked-up text, readable without colour.

    Example:
        >>> render_diff_text("the cat", "the cot")
        'the c[a->o]t'
    """
    parts = []
    for op, r, h in _grouped(align_chars(reference, prediction)):
        if op == "equal":
            parts.append(r)
        elif op == "substitute":
            parts.append(f"[{_visible(r)}->{_visible(h)}]")
        elif op == "delete":
            parts.append(f"[-{_visible(r)}]")
        else:
            parts.append(f"{{+{_visible(h)}}}")
    return "".join(parts)


_DEL_STYLE = "text-decoration:line-through;background:#fbd9b6;color:#7a3300"
_INS_STYLE = "text-decoration:underline;background:#cfe5f7;color:#083d6b"
_SUB_STYLE = "background:#ecdff0;border-radius:2px"

_LEGEND_HTML = (
    '<div class="iw-legend" style="font-size:0.85em;color:#444;margin:0.3em 0">'
    f'<del style="{_DEL_STYLE}">struck</del> = missing from prediction &nbsp; '
    f'<ins style="{_INS_STYLE}">underlined</ins> = extra in prediction &nbsp; '
    f'<span style="{_SUB_STYLE}"><del style="{_DEL_STYLE}">a</del>\u2192<ins style="{_INS_STYLE}">o</ins></span>'
    f" = a read as o &nbsp; {_SPACE_MARK} = space</div>"
)


def render_diff_html(reference: str, prediction: str) -> str:
    """Renders an HTML diff of a prediction against its reference.

    Errors carry both a colour and a non-colour marker, so the diff reads for
    colour-blind users and in black-and-white print:

    * missing text: ``<del>`` (struck through, orange), tooltip "missing";
    * extra text: ``<ins>`` (underlined, blue), tooltip "extra";
    * substitution: struck reference, an arrow, underlined prediction.

    Spaces inside markers show as ``␣``. All text is HTML-escaped.

    Args:
        reference: Reference text.
        prediction: Predicted text.

    Returns:
        An HTML fragment (a ``<span>``).
    """
    e = html.escape
    parts = []
    for op, r, h in _grouped(align_chars(reference, prediction)):
        if op == "equal":
            parts.append(e(r))
        elif op == "delete":
            parts.append(f'<del class="iw-del" title="{e("missing: " + r)}" style="{_DEL_STYLE}">{e(_visible(r))}</del>')
        elif op == "insert":
            parts.append(f'<ins class="iw-ins" title="{e("extra: " + h)}" style="{_INS_STYLE}">{e(_visible(h))}</ins>')
        else:
            title = e(f"{r!r} read as {h!r}")
            parts.append(
                f'<span class="iw-sub" title="{title}" style="{_SUB_STYLE}">'
                f'<del style="{_DEL_STYLE}">{e(_visible(r))}</del>\u2192'
                f'<ins style="{_INS_STYLE}">{e(_visible(h))}</ins></span>'
            )
    return '<span class="iw-diff" style="font-family:monospace;white-space:pre-wrap">' + "".join(parts) + "</span>"


# ---------------------------------------------------------------------------
# Sample views
# ---------------------------------------------------------------------------


def image_to_data_uri(image: PIL.Image.Image, max_width: int = 800) -> str:
    """Encodes an image as a PNG data URI, downscaled to ``max_width``.

    Args:
        image: The image.
        max_width: Wider images are resized, keeping the aspect ratio.

    Returns:
        A ``data:image/png;base64,...`` string for an ``<img src>``.
    """
    img = image
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGB")
    if max_width and img.width > max_width:
        height = max(1, round(img.height * max_width / img.width))
        img = img.resize((max_width, height), PIL.Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _line_cer(reference: str, prediction: str) -> float:
    ref, hyp = _prepare(reference), _prepare(prediction)
    if not ref:
        return float("nan")
    edits, chars, _, _ = _edit_counts([ref], [hyp])
    return float(edits[0]) / float(chars[0])


def _format_cer(cer: float | None) -> str:
    if cer is None or (isinstance(cer, float) and math.isnan(cer)):
        return "\u2013"
    text = f"{cer:.1%}"
    return text + " runaway" if cer > RUNAWAY_CER else text


_CELL = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top"


def _sample_html(
    image_uri: str | None,
    reference: str,
    predictions: Mapping[str, str],
    sample_id: str,
    cers: Mapping[str, float] | None,
    legend: bool,
) -> str:
    e = html.escape
    parts = ['<div class="iw-sample" style="font-family:sans-serif;margin:0 0 1.2em 0">']
    if sample_id:
        parts.append(f'<div style="font-weight:bold;margin-bottom:0.3em">{e(str(sample_id))}</div>')
    if image_uri:
        parts.append(
            f'<img src="{image_uri}" alt="{e(str(sample_id) or "line image")}" '
            'style="max-width:100%;border:1px solid #ccc;display:block;margin-bottom:0.3em"/>'
        )
    parts.append('<table style="border-collapse:collapse">')
    parts.append(f'<tr><th style="{_CELL}">system</th><th style="{_CELL}">CER</th><th style="{_CELL}">text</th></tr>')
    ref_text = e(_prepare(reference))
    parts.append(
        f'<tr><td style="{_CELL}"><i>reference</i></td><td style="{_CELL}"></td>'
        f'<td style="{_CELL};font-family:monospace;white-space:pre-wrap">{ref_text}</td></tr>'
    )
    for name, pred in predictions.items():
        cer = cers.get(name) if cers is not None else _line_cer(reference, pred)
        diff = render_diff_html(reference, pred) if _prepare(reference) else e(_prepare(pred))
        parts.append(
            f'<tr><td style="{_CELL}">{e(str(name))}</td>'
            f'<td style="{_CELL};font-variant-numeric:tabular-nums">{e(_format_cer(cer))}</td>'
            f'<td style="{_CELL}">{diff}</td></tr>'
        )
    parts.append("</table>")
    if legend:
        parts.append(_LEGEND_HTML)
    parts.append("</div>")
    return "".join(parts)


def render_sample_html(
    image: PIL.Image.Image | None,
    reference: str,
    predictions: dict[str, str],
    sample_id: str = "",
    cers: dict[str, float] | None = None,
) -> str:
    """Renders one line: image, reference, and each system's marked prediction.

    Args:
        image: Line image, or None to leave it out.
        reference: Reference text.
        predictions: System name -> predicted text, shown in this order.
        sample_id: Heading shown above the image.
        cers: System name -> line CER; computed when omitted.

    Returns:
        An HTML fragment with a legend of the diff markers.
    """
    uri = image_to_data_uri(image) if image is not None else None
    return _sample_html(uri, reference, predictions, sample_id, cers, legend=True)


def _sorted_ids(evaluation: Evaluation, systems: Sequence[str], ids: Iterable[str] | None = None) -> list[str]:
    """Line ids sorted worst first by the max CER over ``systems`` (stable)."""
    frame = evaluation.line_cers(systems or evaluation.systems)
    worst = frame.max(axis=1)
    if ids is not None:
        wanted = {str(i) for i in ids}
        worst = worst[worst.index.isin(wanted)]
    order = np.argsort(-worst.to_numpy(), kind="stable")
    return [worst.index[i] for i in order]


def _lookup(evaluation: Evaluation) -> dict[str, dict[str, LineScore]]:
    return {name: {s.id: s for s in line_scores} for name, line_scores in evaluation.scores.items()}


def render_samples_html(
    images: Mapping[str, PIL.Image.Image] | None,
    evaluation: Evaluation,
    systems: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    limit: int = 20,
) -> str:
    """Renders several samples, worst first by the max CER over shown systems.

    Args:
        images: Line id -> image (missing ids are shown without an image).
        evaluation: Result of :func:`evaluate_systems`.
        systems: Systems to show, default all.
        ids: Restrict to these line ids, default all.
        limit: Most samples to render.

    Returns:
        An HTML fragment with one legend on top.
    """
    names = list(systems) if systems is not None else evaluation.systems
    by_id = _lookup(evaluation)
    images = images or {}
    parts = [_LEGEND_HTML]
    for line_id in _sorted_ids(evaluation, names, ids)[: max(0, limit)]:
        image = images.get(line_id)
        first = by_id[evaluation.systems[0]][line_id]
        parts.append(
            _sample_html(
                image_to_data_uri(image) if image is not None else None,
                first.reference,
                {n: by_id[n][line_id].prediction for n in names},
                line_id,
                {n: by_id[n][line_id].cer for n in names},
                legend=False,
            )
        )
    return "".join(parts)


def make_inspector(images: Mapping[str, PIL.Image.Image], evaluation: Evaluation) -> widgets.VBox:
    """Builds an interactive viewer that steps through samples, worst first.

    Controls: systems to show side by side, a substring filter (matched
    case-insensitively against id, reference and the shown predictions), a
    minimum CER (max over the shown systems), previous/next buttons and a
    slider. Child widgets are exposed as attributes of the returned box:
    ``systems``, ``filter_text``, ``min_cer``, ``prev_button``,
    ``next_button``, ``slider``, ``count_label`` and ``html``, plus
    ``current_ids`` (the filtered, sorted id list), so it can be driven
    without a browser.

    Args:
        images: Line id -> image (missing ids are shown without an image).
        evaluation: Result of :func:`evaluate_systems`.

    Returns:
        The viewer as an ``ipywidgets.VBox``.
    """
    by_id = _lookup(evaluation)
    all_systems = evaluation.systems
    ref_by_id = dict(zip(evaluation.ids, evaluation.references))
    uri_cache: dict[str, str | None] = {}
    max_cer = max((s.cer for ss in evaluation.scores.values() for s in ss), default=0.0)

    systems = widgets.SelectMultiple(
        options=all_systems, value=tuple(all_systems), description="Systems", rows=min(len(all_systems), 5)
    )
    filter_text = widgets.Text(value="", placeholder="substring of id / text", description="Filter")
    min_cer = widgets.FloatSlider(
        value=0.0, min=0.0, max=1.5 if max_cer > 1.0 else 1.0, step=0.01, description="Min CER", readout_format=".0%"
    )
    prev_button = widgets.Button(description="\u25c0 prev", tooltip="previous (better) sample")
    next_button = widgets.Button(description="next \u25b6", tooltip="next (better) sample")
    slider = widgets.IntSlider(value=0, min=0, max=0, readout=False, description="Sample")
    count_label = widgets.Label(value="")
    out_html = widgets.HTML(value="")

    box = widgets.VBox()
    box.current_ids = []

    def shown() -> list[str]:
        return [s for s in all_systems if s in systems.value]

    def refresh_list(*_: Any) -> None:
        names = shown()
        needle = filter_text.value.strip().casefold()
        keep = []
        for line_id in _sorted_ids(evaluation, names or all_systems):
            worst = max((by_id[n][line_id].cer for n in names or all_systems), default=0.0)
            if worst < min_cer.value:
                continue
            if needle:
                texts = [line_id, ref_by_id[line_id], *(by_id[n][line_id].prediction for n in names)]
                if not any(needle in t.casefold() for t in texts):
                    continue
            keep.append(line_id)
        box.current_ids = keep
        slider.max = max(0, len(keep) - 1)
        slider.disabled = len(keep) <= 1
        if slider.value != 0:
            slider.value = 0  # triggers render
        else:
            render()

    def render(*_: Any) -> None:
        ids = box.current_ids
        prev_button.disabled = slider.value <= 0
        next_button.disabled = slider.value >= len(ids) - 1
        if not ids:
            count_label.value = "0 of 0"
            out_html.value = "<p><i>No samples match the filter.</i></p>"
            return
        k = min(slider.value, len(ids) - 1)
        line_id = ids[k]
        count_label.value = f"{k + 1} of {len(ids)}"
        if line_id not in uri_cache:
            image = images.get(line_id) if images else None
            uri_cache[line_id] = image_to_data_uri(image) if image is not None else None
        names = shown()
        body = _sample_html(
            uri_cache[line_id],
            ref_by_id[line_id],
            {n: by_id[n][line_id].prediction for n in names},
            line_id,
            {n: by_id[n][line_id].cer for n in names},
            legend=True,
        )
        if not names:
            body = "<p><i>Select at least one system to compare.</i></p>" + body
        out_html.value = body

    def step(delta: int) -> None:
        if box.current_ids:
            slider.value = min(max(0, slider.value + delta), len(box.current_ids) - 1)

    prev_button.on_click(lambda _b: step(-1))
    next_button.on_click(lambda _b: step(1))
    slider.observe(render, names="value")
    for control in (systems, filter_text, min_cer):
        control.observe(refresh_list, names="value")

    box.children = [
        widgets.HBox([systems, widgets.VBox([filter_text, min_cer])]),
        widgets.HBox([prev_button, next_button, slider, count_label]),
        out_html,
    ]
    box.systems = systems
    box.filter_text = filter_text
    box.min_cer = min_cer
    box.prev_button = prev_button
    box.next_button = next_button
    box.slider = slider
    box.count_label = count_label
    box.html = out_html
    refresh_list()
    return box


# ---------------------------------------------------------------------------
# Plots and confusions
# ---------------------------------------------------------------------------


def plot_cer_distribution(evaluation: Evaluation, clip: float = 1.5) -> Figure:
    """Box plot of line CERs per system with every line as a point.

    Line CERs are clipped at ``clip``; the number of runaway lines (CER above
    100%) is written beside each system and the corpus CER is marked with a
    diamond.

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        clip: Upper display limit for line CER.

    Returns:
        A matplotlib Figure (not registered with pyplot).
    """
    names = evaluation.systems
    fig = Figure(figsize=(8, 1.2 + 0.8 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    data = [np.clip([s.cer for s in evaluation.scores[n]], 0, clip) for n in names]
    positions = np.arange(1, len(names) + 1)
    ax.boxplot(data, positions=positions, orientation="horizontal", widths=0.5, showfliers=False)
    for i, (name, values) in enumerate(zip(names, data)):
        color = _PALETTE[i % len(_PALETTE)]
        jitter = rng.uniform(-0.15, 0.15, size=len(values))
        ax.scatter(values, positions[i] + jitter, s=10, alpha=0.5, color=color, marker=_MARKERS[i % len(_MARKERS)])
        m = evaluation.metrics[name]
        ax.scatter([min(m.cer, clip)], [positions[i]], marker="D", s=50, color="black", zorder=3)
        ax.annotate(
            f"corpus {m.cer:.1%}, {m.n_runaway} > 100%",
            xy=(1.0, positions[i] + 0.3),
            xycoords=("axes fraction", "data"),
            ha="right",
            fontsize=8,
        )
    ax.axvline(RUNAWAY_CER, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(positions, names)
    ax.set_xlim(0, clip * 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"line CER (clipped at {clip:.0%}; diamond = corpus CER)")
    ax.set_title("Line CER per system")
    return fig


def plot_cer_vs_length(evaluation: Evaluation, clip: float = 1.5) -> Figure:
    """Scatter of line CER against reference length, one marker per system.

    A line per system shows the corpus CER within reference-length bins
    (quantiles), to show whether long or short lines fail more.

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        clip: Upper display limit for line CER.

    Returns:
        A matplotlib Figure (not registered with pyplot).
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for i, name in enumerate(evaluation.systems):
        color, marker = _PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]
        scores = evaluation.scores[name]
        length = np.array([s.ref_chars for s in scores], dtype=float)
        edits = np.array([s.edits for s in scores], dtype=float)
        cer = np.clip(edits / length, 0, clip)
        ax.scatter(length, cer, s=14, alpha=0.5, color=color, marker=marker, label=name)
        edges = np.unique(np.quantile(length, np.linspace(0, 1, 7)))
        if len(edges) >= 2:
            which = np.clip(np.searchsorted(edges, length, side="right") - 1, 0, len(edges) - 2)
            xs, ys = [], []
            for b in range(len(edges) - 1):
                sel = which == b
                if sel.any():
                    xs.append(length[sel].mean())
                    ys.append(min(edits[sel].sum() / length[sel].sum(), clip))
            ax.plot(xs, ys, color=color, linewidth=1.5)
    ax.axhline(RUNAWAY_CER, color="grey", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, clip * 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("reference length (characters)")
    ax.set_ylabel(f"line CER (clipped at {clip:.0%})")
    ax.set_title("CER vs line length (lines: corpus CER per length bin)")
    ax.legend(fontsize=8)
    return fig


def confusion_table(evaluation: Evaluation, system: str, top: int = 20) -> pd.DataFrame:
    """Most frequent character confusions of one system.

    Substitutions are counted as reference -> predicted character, deletions
    as reference -> "∅" and insertions as "∅" -> predicted. A space is shown
    as "␣".

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        system: System name.
        top: Number of rows to return.

    Returns:
        A DataFrame with columns reference, predicted, count; most frequent
        first, ties broken alphabetically.

    Raises:
        KeyError: If ``system`` is not in the evaluation.
    """
    if system not in evaluation.scores:
        raise KeyError(f"Unknown system {system!r}; known: {evaluation.systems}")
    counts: Counter[tuple[str, str]] = Counter()
    for line in evaluation.scores[system]:
        for op, r, h in align_chars(line.reference, line.prediction):
            if op != "equal":
                counts[(_visible(r) or _EMPTY_MARK, _visible(h) or _EMPTY_MARK)] += 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(0, top)]
    return pd.DataFrame(
        [{"reference": r, "predicted": h, "count": c} for (r, h), c in rows],
        columns=["reference", "predicted", "count"],
    )


# ---------------------------------------------------------------------------
# Glue used by the notebooks: small functions so cells stay short.
# ---------------------------------------------------------------------------

#: Where 01_data writes the synthetic demo set when asked for it.
DEMO_SOURCE = "data/raw/synthetic/labels.csv"


def ensure_demo_data(source: str, n_lines: int, seed: int = 0) -> SyntheticSet | None:
    """Write the synthetic demo set when ``source`` is the demo path and missing.

    Any other ``source`` is left alone (a missing one is reported by
    :func:`prepare_dataset` with the path to fix).

    Args:
        source: The ``source`` parameter of 01_data.
        n_lines: Lines to generate (0 = never generate).
        seed: Seed of the synthetic lines.

    Returns:
        The :class:`SyntheticSet` when the demo path is in use, else ``None``.
    """
    if project_path(source) != project_path(DEMO_SOURCE) or n_lines <= 0:
        return None
    return make_synthetic_lines(project_path(DEMO_SOURCE).parent, n_lines, seed=seed, progress=True)


def literal_parameters(namespace: dict[str, Any]) -> dict[str, Any]:
    """The flat literal parameters defined in a notebook namespace.

    Call it right after the ``parameters`` cell with ``globals()``: it keeps
    names that do not start with ``_`` and hold str/int/float/bool/None or a
    list of those, so ``run.json`` records every parameter of the run.
    """
    plain = (str, int, float, bool, type(None))
    skip = {"In", "Out", "exit", "quit", "get_ipython"}
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_")
        and k not in skip
        and (isinstance(v, plain) or (isinstance(v, list) and all(isinstance(x, plain) for x in v)))
    }


def take_lines(split: "datasets.Dataset", max_lines: int) -> "datasets.Dataset":
    """The first ``max_lines`` rows of a split (all when ``max_lines`` <= 0)."""
    return split if max_lines <= 0 or max_lines >= len(split) else split.select(range(max_lines))


def dataset_fingerprint(data: "datasets.DatasetDict") -> str:
    """A short hash that changes when any split of a processed set changes."""
    h = hashlib.sha256()
    for name in sorted(data):
        h.update(f"{name}:{data[name]._fingerprint}:{len(data[name])};".encode())
    return h.hexdigest()[:16]


def run_context(dataset_name: str, data: "datasets.DatasetDict", parameters: dict[str, Any]) -> dict[str, Any]:
    """Entries for ``run.json`` that describe the data and the notebook parameters."""
    return {
        "dataset": {
            "name": dataset_name,
            "path": str(project_path(f"data/processed/{dataset_name}")),
            "fingerprint": dataset_fingerprint(data),
            "splits": {k: len(v) for k, v in data.items()},
        },
        "parameters": parameters,
    }


def describe_training(result: TrainResult) -> str:
    """A short summary of a finished run."""
    m = result.run_info["metrics"]
    last = m["final_logged_loss"]
    return (
        f"Run {result.run_dir.name}: {m['steps']} steps in {m['train_seconds']:.0f} s on "
        f"{result.run_info['device']} ({result.run_info['backend']}), mean training loss {m['train_loss']:.4f}, "
        f"last logged loss {'n/a' if last is None else f'{last:.4f}'}.\nSaved to {result.run_dir}"
    )


def quick_validation(
    loaded: LoadedModel,
    split: "datasets.Dataset",
    n_lines: int,
    settings: TrainSettings,
    run_dir: str | os.PathLike[str],
) -> dict[str, Any]:
    """Decode the first ``n_lines`` of a split with the freshly trained model.

    The CER/WER are added to the run's ``run.json`` under ``validation``.

    Returns:
        ``{"lines", "cer", "wer", "examples"}``; empty when ``n_lines`` is 0.
    """
    if n_lines <= 0 or len(split) == 0:
        return {}
    lines = take_lines(split, n_lines)
    refs = list(lines["text"])
    hyps = [p.text for p in _decode(loaded, list(lines["image"]), settings, max_new_tokens_for(loaded.processor, refs))]
    metrics = system_metrics("validation", score_lines(list(lines["id"]), refs, hyps))
    summary = {"lines": len(refs), "cer": round(metrics.cer, 4), "wer": round(metrics.wer, 4)}
    update_run_info(run_dir, validation=summary)
    summary["examples"] = [{"reference": r, "prediction": h} for r, h in list(zip(refs, hyps))[:5]]
    return summary


def find_runs(adapters: str | Sequence[str], adapters_root: str | os.PathLike[str] = "adapters") -> list[Path]:
    """Finished runs to evaluate.

    Args:
        adapters: ``"all"`` (every finished run, oldest first), a run name, or
            a list of run names.
        adapters_root: Folder of all runs.

    Raises:
        FileNotFoundError: A named run does not exist (the message lists those that do).
    """
    root = project_path(adapters_root)
    existing = sorted(
        (p for p in root.glob("*") if (p / "adapter_config.json").exists() and (p / "run.json").exists()),
        key=lambda p: (p / "run.json").stat().st_mtime,
    )
    if adapters == "all":
        return existing
    names = [adapters] if isinstance(adapters, str) else list(adapters)
    runs = []
    for name in names:
        path = root / name
        if not (path / "adapter_config.json").exists():
            have = ", ".join(p.name for p in existing) or "none yet"
            raise FileNotFoundError(f"No finished run {name!r} in {root} (runs: {have}). Run 02_finetune first.")
        runs.append(path)
    return runs


def base_model_of(runs: Sequence[Path], model_name: str = "") -> str:
    """The base model to load: ``model_name`` if given, else the one the runs were trained on.

    Raises:
        ValueError: No base model is known, or the runs disagree.
    """
    if model_name:
        return model_name
    bases = {json.loads((r / "run.json").read_text(encoding="utf-8"))["base_model"] for r in runs}
    if len(bases) == 1:
        return bases.pop()
    if not bases:
        raise ValueError("No adapters found and no model_name given: set model_name or run 02_finetune first.")
    raise ValueError(f"The adapters come from different base models ({sorted(bases)}); evaluate them separately.")


def _run_settings(run: Path | None) -> TrainSettings:
    """The training settings a run recorded (image limits must match at decoding time)."""
    if run is None:
        return TrainSettings()
    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    return TrainSettings(**{k: v for k, v in info.get("train_settings", {}).items() if k in known})


def predict_systems(
    base_name: str,
    runs: Sequence[Path],
    lines: "datasets.Dataset",
    *,
    include_base: bool = True,
    batch_size: int = 8,
    backend: str = "auto",
    load_in_4bit: bool = True,
) -> dict[str, list[Prediction]]:
    """Decode a split with the base model and each adapter.

    The base model is loaded once; each adapter is attached in turn. Images
    use the size limits each run was trained with, and ``max_new_tokens``
    comes from the references (:func:`max_new_tokens_for`).

    Returns:
        ``{"base": [...], "<run name>": [...], ...}`` in the order given.
    """
    loaded = load_model(base_name, load_in_4bit=load_in_4bit, backend=backend, gradient_checkpointing=False)
    refs = list(lines["text"])
    images = list(lines["image"])
    limit = max_new_tokens_for(loaded.processor, refs)
    out: dict[str, list[Prediction]] = {}
    if include_base:  # with the image limits of the first run, so the base sees what the adapters see
        out["base"] = _decode(loaded, images, _run_settings(runs[0] if runs else None), limit, batch_size)
    for run in runs:
        load_adapter(loaded, run)
        out[run.name] = _decode(loaded, images, _run_settings(run), limit, batch_size)
    return out


def _decode(
    loaded: LoadedModel, images: Sequence["PILImage.Image"], settings: TrainSettings, max_new_tokens: int, batch_size: int = 8
) -> list[Prediction]:
    """:func:`predict_lines` with the image limits a run was trained with."""
    return predict_lines(
        loaded, images, batch_size=batch_size, max_new_tokens=max_new_tokens,
        max_image_width=settings.max_image_width, max_image_height=settings.max_image_height,
    )


def texts_of(predictions: dict[str, list[Prediction]]) -> dict[str, list[str]]:
    """Just the decoded texts, per system."""
    return {k: [p.text for p in v] for k, v in predictions.items()}


def new_evaluation_dir(dataset_name: str, split: str, root: str | os.PathLike[str] = "adapters/evaluations") -> Path:
    """A fresh folder for one evaluation's files (never an existing one)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = project_path(root) / f"{dataset_name}-{split}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def evaluation_context(
    dataset_name: str, split: str, runs: Sequence[Path], base_name: str, predictions: dict[str, list[Prediction]]
) -> dict[str, Any]:
    """Entries for ``metrics.json``: what was evaluated, and guard/limit counts per system."""
    return {
        "dataset": dataset_name,
        "split": split,
        "base_model": base_name,
        "adapters": [str(r) for r in runs],
        "stopped_by_repetition_guard": {k: sum(p.stopped_by_guard for p in v) for k, v in predictions.items()},
        "hit_max_new_tokens": {k: sum(p.hit_limit for p in v) for k, v in predictions.items()},
        "versions": library_versions(),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# ---------------------------------------------------------------------------
# 04_demo: read new images.
# ---------------------------------------------------------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")


def pick_run(adapter: str = "", adapters_root: str | os.PathLike[str] = "adapters") -> Path | None:
    """The run to demo: a name, ``""`` for the newest finished run, ``"none"`` for none."""
    if adapter.lower() == "none":
        return None
    if adapter:
        return find_runs([adapter], adapters_root)[0]
    runs = find_runs("all", adapters_root)
    if not runs:
        raise FileNotFoundError("No finished run under adapters/: run 02_finetune first, or set adapter = 'none'.")
    return runs[-1]


def list_images(inputs: str, max_images: int = 0) -> list[Path]:
    """Image files named by ``inputs``: one file, or the images in a folder (sorted).

    Raises:
        FileNotFoundError: Nothing readable at ``inputs``.
    """
    path = project_path(inputs)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither an image file nor a folder; set `inputs` to one.")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in {path}.")
    return files[:max_images] if max_images > 0 else files


@dataclass
class Reader:
    """A base model with (optionally) an adapter, and the image limits it was trained with."""

    loaded: LoadedModel
    settings: TrainSettings
    run: Path | None


def load_reader(model_name: str, run: Path | None, *, backend: str = "auto", load_in_4bit: bool = True) -> Reader:
    """Load the base model (from the run's ``run.json`` unless named) and attach the run's adapter."""
    base = base_model_of([run] if run else [], model_name)
    loaded = load_model(base, load_in_4bit=load_in_4bit, backend=backend, gradient_checkpointing=False)
    if run is not None:
        load_adapter(loaded, run)
    return Reader(loaded, _run_settings(run), run)


@dataclass
class Reading:
    """One image and the text read from it."""

    path: Path
    text: str
    flagged: bool


def read_images(reader: Reader, files: Sequence[Path], *, max_new_tokens: int = 128, batch_size: int = 8) -> list[Reading]:
    """Transcribe image files with a :class:`Reader`."""
    images = [ImageOps.exif_transpose(Image.open(f)).convert("RGB") for f in files]
    preds = _decode(reader.loaded, images, reader.settings, max_new_tokens, batch_size)
    return [Reading(f, p.text, p.stopped_by_guard or p.hit_limit) for f, p in zip(files, preds)]


def render_readings_html(readings: Sequence[Reading]) -> str:
    """A table: each image beside the text read from it (flagged when decoding looped or hit the limit)."""
    rows = []
    for r in readings:
        with Image.open(r.path) as im:
            uri = image_to_data_uri(im.convert("RGB"))
        flag = " <b title='stopped by the repetition guard or the length limit'>[check]</b>" if r.flagged else ""
        rows.append(
            f"<tr><td style='padding:4px'><img src='{uri}' style='max-width:480px'><br>"
            f"<small>{html.escape(r.path.name)}</small></td>"
            f"<td style='padding:4px;font-family:monospace;font-size:1.1em'>{html.escape(r.text)}{flag}</td></tr>"
        )
    return "<table><tr><th>image</th><th>recognised text</th></tr>" + "".join(rows) + "</table>"


def _repetition_criteria(tokenizer: Any, prompt_length: int) -> Any:
    """A stopping-criteria list holding the repetition guard for one batch."""
    from transformers import StoppingCriteriaList

    return StoppingCriteriaList([RepetitionStopper(lambda ids: tokenizer.decode(ids, skip_special_tokens=True), prompt_length)])
