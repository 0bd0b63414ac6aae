"""Annotation formats behind one face: detect a source's format and read it into rows and rejections.

One module per format (``table``, ``paddle_rec``, ``paddle_det``, ``page_xml``,
``alto``, ``jsonl``, ``imagefolder``), each with ``sniff(path)``,
``read(path, resolver, log)`` and ``default_root(path, source)``; formats that
span a folder of files add ``sources(folder)``. Shared records live in
:mod:`inkwell.formats.base`. Imports the bottom layer only (and its own modules).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from inkwell.formats import alto, imagefolder, jsonl, paddle_det, paddle_rec, page_xml, table
from inkwell.formats.base import (TABLE_SUFFIXES, DataFormatError, RawRow, ReadLog, Rejection)
from inkwell.formats.resolve import AS_WRITTEN, Resolver
from inkwell.formats.xmlpages import xml_files
from inkwell.images import MAX_IMAGE_PIXELS
from inkwell.paths import project_path

__all__ = ["FORMATS", "REGISTRY", "DataFormatError", "RawRow", "ReadResult", "Rejection", "detect_format", "read_rows"]

#: Format name -> its module, in the order a single file is sniffed (the first match wins; table last).
REGISTRY: dict[str, ModuleType] = {
    m.NAME: m for m in (imagefolder, page_xml, alto, jsonl, paddle_det, paddle_rec, table)
}

#: The format names ``format`` accepts besides ``"auto"``.
FORMATS = tuple(REGISTRY)

_ANNOTATION_SUFFIXES = (*TABLE_SUFFIXES, ".jsonl", ".ndjson", ".json")


@dataclass
class ReadResult:
    """What :func:`read_rows` found.

    Attributes:
        rows: Rows whose image path resolved (images not validated yet).
        rejected: Rows refused while reading, with reason and fix.
        skipped: PaddleOCR ``"###"`` regions skipped.
        format: The format read.
        images_root: Folder image paths were resolved against.
        notes: Where images were found when not where the paths say (e.g. by file name in a parent folder).
    """

    rows: list[RawRow]
    rejected: list[Rejection]
    skipped: int
    format: str
    images_root: Path
    notes: list[str] = field(default_factory=list)


def _sniff_file(path: Path) -> str | None:
    """The format of a single annotation file, or None if it is not one."""
    return next((name for name, module in REGISTRY.items() if module.sniff(path)), None)


def _find_annotation_file(folder: Path) -> tuple[Path, str]:
    """Find the single annotation file in a folder and its format."""
    candidates = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _ANNOTATION_SUFFIXES:
            kind = _sniff_file(p)
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
        One of :data:`FORMATS`.

    Raises:
        FileNotFoundError: If ``source`` does not exist.
        DataFormatError: If no (or more than one) annotation file is recognised.
    """
    path = project_path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder.")
    if path.is_dir():
        if imagefolder.metadata_files(path):
            return imagefolder.NAME
        kinds = Counter(k for _, k in xml_files(path) if k != "broken")
        if kinds:
            return kinds.most_common(1)[0][0]
        return _find_annotation_file(path)[1]
    kind = _sniff_file(path)
    if kind is None:
        raise DataFormatError(
            f"{path.name}, line 1: format not recognised. Expected a CSV/TSV table with a header, "
            "PaddleOCR labels (path<TAB>text or path<TAB>[regions]), JSONL, PAGE-XML or ALTO.")
    return kind


def read_rows(source: str | Path, images_root: str | Path | None = None, format: str = "auto",
              max_pixels: int = MAX_IMAGE_PIXELS) -> ReadResult:
    """Read an annotation source into raw rows, without validating images or text.

    Paths are resolved here: rows whose image is missing or escapes ``images_root`` are returned
    as rejections and never opened. Lines of PAGE-XML/ALTO pages and PaddleOCR detection regions
    are cut out into in-memory RGB images.

    Args:
        source: Annotation file or folder.
        images_root: Folder image paths are relative to (searched first). Default: the annotation file's folder
            (for XML in a folder named ``page``, as Transkribus exports it: that folder's parent;
            for PaddleOCR labels whose paths start with the label folder's own name, as PPOCRLabel
            writes them: that folder's parent; for an imagefolder: the folder itself). Images not found
            there are searched for in the annotation file's folder, its parent and the export's root
            (``source`` when a folder, or the folder holding ``mets.xml``), by path and then by file name;
            :attr:`ReadResult.notes` says where.
        format: ``"auto"`` or one of :data:`FORMATS`.
        max_pixels: Largest page image opened to cut lines out of.

    Returns:
        A :class:`ReadResult`.

    Raises:
        DataFormatError: For structural problems (unrecognised columns, undecodable file,
            malformed JSON line, XML that does not parse).
    """
    src = project_path(source)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder; check the `source` parameter.")
    kind = detect_format(src) if format == "auto" else format
    if kind not in REGISTRY:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}; got {format!r}.")
    module = REGISTRY[kind]
    if not src.is_dir():
        files = [src]
    elif hasattr(module, "sources"):
        files = module.sources(src)
    else:
        path, found = _find_annotation_file(src)
        files = [path]
        if format == "auto":
            module = REGISTRY[found]
    root_given = project_path(images_root) if images_root is not None else None
    roots = [root_given or module.default_root(path, src) for path in files]
    indexes: dict = {}
    resolvers: dict[tuple, Resolver] = {}
    log = ReadLog(max_pixels=max_pixels)
    for path, root in zip(files, roots):
        search = _search_roots(path, src, module.NAME)
        key = (root, tuple(search))
        if key not in resolvers:
            label = "images_root" if root_given else next((w for f, w in search if f == root), "default folder")
            resolvers[key] = Resolver(root, search, label, indexes)
        module.read(path, resolvers[key], log)
    notes = _found_notes(list(resolvers.values()), module.NAME)
    return ReadResult(log.rows, log.rejected, log.skipped, module.NAME, roots[0], notes)


#: What one annotation file of each format is called in notes ("the ALTO files' parent folder").
_FILES_OF = {"alto": "ALTO files'", "page_xml": "PAGE-XML files'", "paddle_rec": "label file's",
             "paddle_det": "label file's", "jsonl": "JSONL file's", "table": "table's", "imagefolder": "metadata file's"}
#: How far up from an annotation file a ``mets.xml`` (an OCR-D or Transkribus export's root) is looked for.
_METS_LEVELS = 3


def _search_roots(path: Path, source: Path, kind: str) -> list[tuple[Path, str]]:
    """The folders an annotation file's images are searched in after the main root, with what they are."""
    files = _FILES_OF.get(kind, "annotation file's")
    found = [(path.parent, f"the {files} folder"), (path.parent.parent, f"the {files} parent folder")]
    if source.is_dir():
        found.append((source, "the folder given as source"))
    folder = path.parent
    for _ in range(_METS_LEVELS):
        if (folder / "mets.xml").is_file():
            found.append((folder, "the export's root, holding mets.xml"))
            break
        if folder.parent == folder:
            break
        folder = folder.parent
    return found


def _found_notes(resolvers: list[Resolver], kind: str) -> list[str]:
    """One note per way images were found other than by their path under the main root."""
    unit = "pages" if kind in ("alto", "page_xml", "paddle_det") else "images"
    total = sum(r.lookups for r in resolvers)
    hits: Counter[tuple[str, Path, str]] = Counter()
    main = {r.roots[0][0] for r in resolvers if r.roots}
    for r in resolvers:
        hits.update(r.hits)
    return [f"Images found {rule} under {folder} ({what}) for {n} of {total} {unit}."
            for (rule, folder, what), n in hits.most_common() if not (rule == AS_WRITTEN and folder in main)]
