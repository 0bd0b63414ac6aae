"""Annotation formats behind one face: detect a source's format and read it into rows and rejections.

One module per format (``table``, ``paddle_rec``, ``paddle_det``, ``page_xml``,
``alto``, ``jsonl``, ``imagefolder``), each with ``sniff(path)``,
``read(path, resolver, log)`` and ``default_root(path, source)``; formats that
span a folder of files add ``sources(folder)``. Shared records live in
:mod:`inkwell.data.formats.base`. Imports lower stages only (and its own modules).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from inkwell.data.formats import alto, imagefolder, jsonl, paddle_det, paddle_rec, page_xml, table
from inkwell.data.formats.base import (PADDLE_DIFFICULT, TABLE_SUFFIXES, DataFormatError, RawRow, ReadLog, Rejection,
                                  decode_text_file)
from inkwell.data.formats.resolve import AS_WRITTEN, Resolver
from inkwell.data.formats.xmlpages import count_by_folder, mets_files, root_kind, xml_files
from inkwell.data.images import MAX_IMAGE_PIXELS
from inkwell.core.paths import project_path

__all__ = ["FORMATS", "PADDLE_DIFFICULT", "PPOCRLABEL_FILES", "REGISTRY", "DataFormatError", "RawRow", "ReadResult", "Rejection", "detect_format", "read_rows"]

#: Format name -> its module, in the order a single file is sniffed (the first match wins; table last).
REGISTRY: dict[str, ModuleType] = {
    m.NAME: m for m in (imagefolder, page_xml, alto, jsonl, paddle_det, paddle_rec, table)
}

#: The format names ``format`` accepts besides ``"auto"``.
FORMATS = tuple(REGISTRY)

_ANNOTATION_SUFFIXES = (*TABLE_SUFFIXES, ".jsonl", ".ndjson", ".json")

#: PPOCRLabel's own files beside its ``Label.txt`` (lower-case name -> what the file is); never read as labels.
PPOCRLABEL_FILES = {
    "filestate.txt": "PPOCRLabel's record of which images were checked",
    "cache.cach": "PPOCRLabel's autosave of labels not yet confirmed",
}
_PPOCR_LABEL = "label.txt"
_PPOCR_REC = "rec_gt.txt"


@dataclass
class ReadResult:
    """What :func:`read_rows` found.

    Attributes:
        rows: Rows whose image path resolved (images not validated yet).
        rejected: Rows refused while reading, with reason and fix.
        skipped: PaddleOCR ``"###"`` regions skipped.
        format: The format read.
        images_root: Folder image paths were resolved against.
        notes: Remarks for the report made while reading, each naming its file (duplicates dropped): where
            images were found when not where the paths say, files beside the source that were not read
            and why, regions marked difficult, pages used against their EXIF orientation.
        difficult: PaddleOCR regions marked ``"difficult": true`` (skipped or kept, per ``paddle_difficult``).
    """

    rows: list[RawRow]
    rejected: list[Rejection]
    skipped: int
    format: str
    images_root: Path
    notes: list[str] = field(default_factory=list)
    difficult: int = 0


def _sniff_file(path: Path) -> str | None:
    """The format of a single annotation file, or None if it is not one."""
    return next((name for name, module in REGISTRY.items() if module.sniff(path)), None)


def _is_empty(path: Path) -> bool:
    """True for a file with nothing but blank lines (an undecodable file is not empty: reading reports it)."""
    try:
        return path.stat().st_size == 0 or not decode_text_file(path).strip()
    except (OSError, DataFormatError):
        return False


def _empty_error(path: Path) -> DataFormatError:
    """The error for an empty annotation file, with the fix."""
    how = (" In PPOCRLabel, confirm the checked images (Check) and use File > Export Label, which writes Label.txt."
           if path.name.lower() == _PPOCR_LABEL else "")
    return DataFormatError(
        f"{path}, line 1: the annotation file is empty (no lines to read). Save or export the annotations into "
        f"it again, or set `source` to the file that holds them.{how}")


def _refuse_workspace_file(path: Path) -> None:
    """Stop with a clear message when ``source`` is a METS workspace file (it lists pages, holds no text)."""
    if path.suffix.lower() == ".xml" and root_kind(path) == "mets":
        raise DataFormatError(
            f"{path}, line 1: {path.name} is the workspace's METS file (OCR-D/Transkribus): it lists the page "
            f"files and holds no transcriptions. Set `source` to its folder ({path.parent}) and `format` to "
            "'page_xml' or 'alto'.")


def _ppocrlabel_folder(folder: Path) -> Path | None:
    """The ``Label.txt`` of a PPOCRLabel folder (one holding Label.txt beside fileState.txt, Cache.cach or
    rec_gt.txt), or None."""
    names = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    label = names.get(_PPOCR_LABEL)
    if label is None or not any(n in names for n in (*PPOCRLABEL_FILES, _PPOCR_REC)):
        return None
    return label


def _ppocrlabel_notes(folder: Path, label: Path) -> list[str]:
    """Name PPOCRLabel's bookkeeping files, and other annotation files beside ``Label.txt``, as not read."""
    notes = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p == label or p.name.startswith("."):
            continue
        what = PPOCRLABEL_FILES.get(p.name.lower())
        if what is not None:
            notes.append(f"{p.name} is {what} (bookkeeping, not read); labels are read from {label.name}.")
        elif p.name.lower() == _PPOCR_REC:
            try:
                n = sum(1 for line in decode_text_file(p).splitlines() if line.strip())
            except DataFormatError:
                n = 0
            crops = " with its crops in crop_img/" if (folder / "crop_img").is_dir() else ""
            notes.append(
                f"{p.name} ({n} line crop(s) exported by PPOCRLabel{crops}) was not used: lines are cut out of the "
                f"pages with {label.name}. To train on the exported crops instead, set format = \"paddle_rec\" and "
                f"source = \"{p}\".")
        elif p.suffix.lower() in _ANNOTATION_SUFFIXES and _sniff_file(p) is not None:
            notes.append(f"{p.name} ({_sniff_file(p)}) was not read: this PPOCRLabel folder is read from "
                         f"{label.name}. To read {p.name} instead, set source = \"{p}\".")
    return notes


def _find_annotation_file(folder: Path) -> tuple[Path, str]:
    """Find the single annotation file in a folder and its format (a PPOCRLabel folder: its Label.txt)."""
    label = _ppocrlabel_folder(folder)
    if label is not None:
        if _is_empty(label):
            raise _empty_error(label)
        return label, _sniff_file(label) or paddle_det.NAME
    candidates = []
    empty = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _ANNOTATION_SUFFIXES:
            kind = _sniff_file(p)
            if kind is not None:
                candidates.append((p, kind))
            elif _is_empty(p):
                empty.append(p)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        if len(empty) == 1:
            raise _empty_error(empty[0])
        if empty:
            raise DataFormatError(
                f"{folder}: no annotation file found; these files are empty: {', '.join(p.name for p in empty)}. "
                "Save or export the annotations into one of them again, or set `source` to the file that holds them.")
        raise DataFormatError(
            f"{folder}: no annotation file found. Expected a CSV/TSV table, PaddleOCR label file, "
            "JSONL file, PAGE-XML/ALTO files, or metadata.jsonl/metadata.csv (imagefolder).")
    names = ", ".join(p.name for p, _ in candidates)
    raise DataFormatError(
        f"{folder}: several annotation files found ({names}). Pass the one to use as `source`.")


def _xml_kind(folder: Path) -> str | None:
    """The XML format of a folder's PAGE/ALTO files, or None when it holds none.

    Raises:
        DataFormatError: The folder holds both PAGE and ALTO files (an OCR-D workspace does).
    """
    found = [(p, k) for p, k in xml_files(folder) if k != "broken"]
    kinds = [k for k in FORMATS if any(kind == k for _, kind in found)]
    if len(kinds) > 1:
        mets = mets_files(folder)
        beside = (f" ({', '.join(p.name for p in mets)}: the workspace's METS file, not an annotation)"
                  if mets else "")
        raise DataFormatError(
            f"{folder}: several annotation formats found: {', '.join(count_by_folder(folder, found))}{beside}. "
            f"Set `format` to one of {', '.join(repr(k) for k in kinds)} to read the files of that format; "
            "the report names the others as not read.")
    return kinds[0] if kinds else None


def detect_format(source: str | Path) -> str:
    """Detect the annotation format of a file or folder.

    Args:
        source: An annotation file, or a folder holding one (or holding XML files or an imagefolder).

    Returns:
        One of :data:`FORMATS`.

    Raises:
        FileNotFoundError: If ``source`` does not exist.
        DataFormatError: If no (or more than one) annotation file or format is recognised, or the file is empty.
    """
    path = project_path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder.")
    if path.is_dir():
        if imagefolder.metadata_files(path):
            return imagefolder.NAME
        if (path / "labels.csv").is_file() and (path / "later" / "lines.csv").is_file():
            # a folder the corrector saved: its labels.csv, not the PAGE-XML of its pages/ (see inkwell.data.corrections)
            return _find_annotation_file(path)[1]
        return _xml_kind(path) or _find_annotation_file(path)[1]
    _refuse_workspace_file(path)
    kind = _sniff_file(path)
    if kind is None:
        if _is_empty(path):
            raise _empty_error(path)
        raise DataFormatError(
            f"{path.name}, line 1: format not recognised. Expected a CSV/TSV table with a header, "
            "PaddleOCR labels (path<TAB>text or path<TAB>[regions]), JSONL, PAGE-XML or ALTO.")
    return kind


def _unread_xml_notes(folder: Path, kind: str) -> list[str]:
    """Name the XML files of the other format, and METS workspace files, that reading ``kind`` leaves out."""
    others = [(p, k) for p, k in xml_files(folder) if k not in (kind, "broken")]
    notes = []
    if others:
        notes.append(f"{', '.join(count_by_folder(folder, others))} "
                     f"{'was' if len(others) == 1 else 'were'} not read (format = {kind!r}).")
    for mets in mets_files(folder):
        notes.append(f"{mets.name} is the workspace's METS file (it lists the pages, holds no transcriptions): "
                     "not read.")
    return notes


def read_rows(source: str | Path, images_root: str | Path | None = None, format: str = "auto",
              max_pixels: int = MAX_IMAGE_PIXELS, paddle_difficult: str = "skip") -> ReadResult:
    """Read an annotation source into raw rows, without validating images or text.

    Paths are resolved here: rows whose image is missing or escapes ``images_root`` are returned
    as rejections and never opened. Lines of PAGE-XML/ALTO pages and PaddleOCR detection regions
    are cut out into in-memory RGB images. Files beside the source that are not read (the other
    format's XML files, a METS workspace file, PPOCRLabel's bookkeeping files) are named in ``notes``.

    Args:
        source: Annotation file or folder.
        images_root: Folder image paths are relative to (searched first). Default: the annotation file's folder
            (for XML in a folder named ``page``, as Transkribus exports it: that folder's parent;
            for PaddleOCR labels whose paths start with the label folder's own name, as PPOCRLabel
            writes them: that folder's parent; for an imagefolder: the folder itself). Images not found
            there are searched for in the annotation file's folder, its parent and the export's root
            (``source`` when a folder, or the folder holding ``mets.xml``), by path and then by file name;
            :attr:`ReadResult.notes` says where.
        format: ``"auto"`` or one of :data:`FORMATS`. A folder holding both PAGE and ALTO files
            (an OCR-D workspace) needs ``"page_xml"`` or ``"alto"``.
        max_pixels: Largest page image opened to cut lines out of.
        paddle_difficult: ``"skip"`` or ``"keep"`` PaddleOCR detection regions marked ``"difficult": true``
            (PPOCRLabel's mark for illegible or uncertain text; its own export skips them).

    Returns:
        A :class:`ReadResult`.

    Raises:
        DataFormatError: For structural problems (unrecognised columns, undecodable file,
            malformed JSON line, XML that does not parse), an empty annotation file, or a folder
            holding several formats with ``format="auto"``.
        ValueError: For an unknown ``format`` or ``paddle_difficult``.
    """
    if paddle_difficult not in PADDLE_DIFFICULT:
        raise ValueError(f"paddle_difficult must be one of {', '.join(repr(v) for v in PADDLE_DIFFICULT)}; "
                         f"got {paddle_difficult!r}. 'skip' leaves regions PPOCRLabel marks difficult "
                         "(illegible or uncertain text) out of training, 'keep' trains on them.")
    src = project_path(source)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder; check the `source` parameter.")
    if format != "auto" and format not in REGISTRY:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}; got {format!r}.")
    kind = detect_format(src) if format == "auto" else format
    module = REGISTRY[kind]
    notes: list[str] = []
    if not src.is_dir():
        _refuse_workspace_file(src)
        if _is_empty(src):
            raise _empty_error(src)
        files = [src]
    elif hasattr(module, "sources"):
        files = module.sources(src)
        if kind in (page_xml.NAME, alto.NAME):
            notes.extend(_unread_xml_notes(src, kind))
    else:
        path, found = _find_annotation_file(src)
        files = [path]
        if format == "auto":
            module = REGISTRY[found]
        if _ppocrlabel_folder(src) == path:
            notes.extend(_ppocrlabel_notes(src, path))
    root_given = project_path(images_root) if images_root is not None else None
    roots = [root_given or module.default_root(path, src) for path in files]
    indexes: dict = {}
    resolvers: dict[tuple, Resolver] = {}
    log = ReadLog(max_pixels=max_pixels, paddle_difficult=paddle_difficult)
    for path, root in zip(files, roots):
        search = _search_roots(path, src, module.NAME)
        key = (root, tuple(search))
        if key not in resolvers:
            label = "images_root" if root_given else next((w for f, w in search if f == root), "default folder")
            resolvers[key] = Resolver(root, search, label, indexes)
        module.read(path, resolvers[key], log)
    notes = [*_found_notes(list(resolvers.values()), module.NAME), *notes, *dict.fromkeys(log.notes)]
    if log.difficult:
        n = log.difficult
        done, other = ("skipped", "keep") if paddle_difficult == "skip" else ("kept", "skip")
        notes.append(f"{n} region{'' if n == 1 else 's'} marked difficult {done} "
                     f"(paddle_difficult = {paddle_difficult!r}); set paddle_difficult = {other!r} to "
                     f"{'train on them' if other == 'keep' else 'leave them out'}.")
    return ReadResult(log.rows, log.rejected, log.skipped, module.NAME, roots[0], notes, log.difficult)


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
