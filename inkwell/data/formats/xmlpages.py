"""What PAGE-XML and ALTO share: namespace-agnostic element access, root sniffing, finding XML files,
and cutting each page's text lines out of its image.

Imports lower stages and :mod:`inkwell.data.formats.base`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from inkwell.data.formats.base import DataFormatError, RawRow, ReadLog
from inkwell.data.formats.resolve import Resolver, open_page
from inkwell.data.images import baseline_crop

__all__ = [
    "KIND_LABELS",
    "PageLines",
    "Points",
    "children",
    "declared_size",
    "descendants",
    "count_by_folder",
    "local",
    "mets_files",
    "page_folder_root",
    "parse_points",
    "parse_root",
    "read_pages",
    "root_kind",
    "sources_of_kind",
    "xml_files",
]

Points = list[tuple[float, float]]
#: One page: (image path as written, declared (width, height) or None, [(line polygon, line text), ...]);
#: a line may carry its baseline as a third item (then it is cut turned along it, see ``read_pages``).
PageLines = tuple[str, "tuple[int, int] | None", "list[tuple[Points, str] | tuple[Points, str, Points]]"]

_ROOTS = {"pcgts": "page_xml", "alto": "alto", "mets": "mets"}
#: What users call each XML format in messages.
KIND_LABELS = {"page_xml": "PAGE", "alto": "ALTO", "broken": "unparsable XML"}
_EXPECTED = {"page_xml": ("PAGE-XML (PcGts/Page/TextRegion/TextLine)", "PcGts (PAGE-XML)"),
             "alto": ("ALTO v4", "alto (ALTO)")}


def root_kind(path: Path) -> str | None:
    """``"page_xml"``/``"alto"`` (``"mets"`` for a METS workspace file such as OCR-D's and Transkribus'
    ``mets.xml``) from an XML file's root element (without parsing it whole), ``"broken"`` when not even the root element parses, else None."""
    try:
        for _event, elem in ET.iterparse(str(path), events=("start",)):
            return _ROOTS.get(elem.tag.rsplit("}", 1)[-1].lower())
    except ET.ParseError:
        return "broken"
    except OSError:
        return None
    return None


def local(tag: str) -> str:
    """Strip the namespace from an element tag."""
    return tag.rsplit("}", 1)[-1]


def children(elem: ET.Element, name: str) -> list[ET.Element]:
    """Direct children with the given local name (namespace-agnostic)."""
    return [c for c in elem if local(c.tag) == name]


def descendants(elem: ET.Element, name: str) -> Iterator[ET.Element]:
    """All descendants with the given local name (namespace-agnostic)."""
    for e in elem.iter():
        if local(e.tag) == name:
            yield e


def xml_files(folder: Path) -> list[tuple[Path, str]]:
    """PAGE/ALTO files (with their kind) in a folder, or in its sub-folders when none sit at the top
    (Transkribus puts them in page/ beside mets.xml). Files that do not parse are kept (kind "broken")
    so that reading them reports the error."""
    def scan(paths: Iterable[Path]) -> list[tuple[Path, str]]:
        found = []
        for p in sorted(paths):
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts):
                kind = root_kind(p)
                if kind in ("page_xml", "alto", "broken"):
                    found.append((p, kind))
        return found

    return scan(folder.glob("*.xml")) or scan(folder.rglob("*.xml"))


def mets_files(folder: Path) -> list[Path]:
    """The METS workspace files (OCR-D's, Transkribus' ``mets.xml``) at the top of a folder: they list the
    pages and hold no transcriptions, so they are never read as annotations."""
    return [p for p in sorted(folder.glob("*.xml")) if p.is_file() and root_kind(p) == "mets"]


def count_by_folder(folder: Path, found: list[tuple[Path, str]]) -> list[str]:
    """Describe XML files per format and sub-folder, e.g. ``["2 PAGE files in OCR-D-GT-PAGE/"]``."""
    counts = Counter((kind, p.parent) for p, kind in found)
    described = []
    for (kind, parent), n in counts.items():
        rel = parent.relative_to(folder).as_posix() if parent != folder else folder.name
        described.append(f"{n} {KIND_LABELS.get(kind, kind)} file{'' if n == 1 else 's'} in {rel}/")
    return described


def parse_points(text: str | None) -> Points:
    """Parse "x,y x,y ..." or "x y x y ..." into points."""
    nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text or "")]
    return list(zip(nums[0::2], nums[1::2]))


def declared_size(w: str | None, h: str | None) -> tuple[int, int] | None:
    """The page size an XML file declares, or None when it declares none."""
    try:
        return int(float(w)), int(float(h))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def parse_root(xml_path: Path, kind: str) -> ET.Element:
    """Parse an XML file and check its root element is the one ``kind`` needs.

    Raises:
        DataFormatError: The file does not parse, or its root is another format's.
    """
    described, root_name = _EXPECTED[kind]
    try:
        root = ET.parse(str(xml_path)).getroot()
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else 1
        raise DataFormatError(f"{xml_path.name}, line {line}: XML does not parse ({exc}). "
                              f"Expected {described}.") from exc
    if _ROOTS.get(local(root.tag).lower()) != kind:
        raise DataFormatError(f"{xml_path.name}, line 1: root element <{local(root.tag)}> is not {root_name}.")
    return root


def read_pages(xml_path: Path, pages: list[PageLines], resolver: Resolver, log: ReadLog) -> None:
    """Cut each page's lines out of its image into ``log`` (one rejection per line when the page is unusable).

    A line given with a vertical baseline is turned so its text reads left to right
    (:func:`inkwell.data.images.baseline_crop`); a page image whose EXIF orientation contradicts the
    declared size is used in the XML's frame, with a note in ``log.notes``.
    """
    for image, declared, lines in pages:
        if not lines:
            continue
        page, page_path, reason = open_page(resolver, image, log, declared, declared_by=xml_path.name)
        for idx, (pts, text, *more) in enumerate(lines, start=1):
            if page is None:
                why = resolver.explain(image) if (reason or "missing_file") == "missing_file" else ""
                log.reject(xml_path, idx, image, reason or "missing_file", f"page image {why}".strip(), page_path)
                continue
            crop = baseline_crop(page, pts, more[0] if more else None) if pts else None
            if crop is None:
                log.reject(xml_path, idx, image, "bad_region", f"TextLine {idx}", page_path)
                continue
            log.rows.append(RawRow(str(xml_path), idx, image, crop, text or "", image, None, None,
                                   f"{xml_path.name}:{idx}", page=page_path))


def page_folder_root(path: Path, source: Path) -> Path:
    """Image paths are relative to the XML file's folder, or to its parent for a folder named ``page``
    (as Transkribus exports it), or to the workspace folder read when it holds a METS file (OCR-D
    workspaces name images from there, e.g. ``OCR-D-IMG/0001.tif``)."""
    if source.is_dir() and source != path.parent and mets_files(source):
        return source
    return path.parent.parent if path.parent.name.lower() == "page" else path.parent


def sources_of_kind(folder: Path, kind: str) -> list[Path]:
    """The XML files of one kind in a folder (files that do not parse included, so reading reports them)."""
    files = [p for p, k in xml_files(folder) if k in (kind, "broken")]
    if not files:
        raise DataFormatError(f"{folder}: no XML files found. Expected PAGE-XML or ALTO files.")
    return files
