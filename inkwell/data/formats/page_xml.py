"""PAGE-XML (2013 and 2019 schemas, Transkribus exports): text lines cut out of page images by their polygons,
and pages of read lines written as PAGE-XML 2019 (:func:`write`), so the format's reading and writing live together.

Imports :mod:`inkwell.data.formats.xmlpages`.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from inkwell.data.formats.base import ReadLog
from inkwell.data.formats.resolve import Resolver
from inkwell.data.formats.xmlpages import (PageLines, Points, children, declared_size, descendants, page_folder_root,
                                      parse_points, parse_root, read_pages, root_kind, sources_of_kind)

__all__ = ["NAME", "NAMESPACE_2019", "baseline_of", "default_root", "pages", "read", "sniff", "sources", "write"]

NAME = "page_xml"
#: The namespace of the PAGE-XML schema :func:`write` follows.
NAMESPACE_2019 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
_SCHEMA = f"{NAMESPACE_2019} {NAMESPACE_2019}/pagecontent.xsd"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: Characters XML 1.0 cannot hold; they are dropped from written text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
default_root = page_folder_root


def sniff(path: Path) -> bool:
    """True for an ``.xml`` file whose root is ``PcGts``, or one that does not parse (reading reports where)."""
    return path.suffix.lower() == ".xml" and root_kind(path) in (NAME, "broken")


def sources(folder: Path) -> list[Path]:
    """The PAGE-XML files in a folder (or its sub-folders)."""
    return sources_of_kind(folder, NAME)


def _line_points(tl: ET.Element) -> Points:
    coords = next(iter(children(tl, "Coords")), None)
    if coords is None:
        return []
    if coords.get("points"):
        return parse_points(coords.get("points"))
    return [(float(p.get("x", 0)), float(p.get("y", 0))) for p in children(coords, "Point")]


def _line_baseline(tl: ET.Element) -> Points:
    """The line's ``Baseline`` points (empty when it has none)."""
    base = next(iter(children(tl, "Baseline")), None)
    points = parse_points(base.get("points")) if base is not None else []
    return points if len(points) >= 2 else []


def _textequiv_text(elem: ET.Element) -> str | None:
    equivs = children(elem, "TextEquiv")
    if not equivs:
        return None
    equivs.sort(key=lambda e: int(e.get("index", "0")) if (e.get("index") or "0").lstrip("-").isdigit() else 0)
    uni = next(iter(children(equivs[0], "Unicode")), None)
    return None if uni is None else (uni.text or "")


def _line_text(tl: ET.Element) -> str:
    text = _textequiv_text(tl)
    if text is None:  # fall back to the words
        words = [_textequiv_text(w) for w in children(tl, "Word")]
        text = " ".join(w for w in words if w)
    return text


def pages(path: Path) -> list[PageLines]:
    """Every Page of the file: its image name, declared size, and every TextLine's polygon, text and baseline.

    Raises:
        DataFormatError: The file does not parse, or is not PAGE-XML.
    """
    root = parse_root(path, NAME)
    found: list[PageLines] = []
    for page_el in descendants(root, "Page"):
        declared = declared_size(page_el.get("imageWidth"), page_el.get("imageHeight"))
        lines = [(_line_points(tl), _line_text(tl), _line_baseline(tl)) for tl in descendants(page_el, "TextLine")]
        found.append((page_el.get("imageFilename", ""), declared, lines))
    return found


def read(path: Path, resolver: Resolver, log: ReadLog) -> None:
    """Cut every TextLine of every Page into ``log``."""
    read_pages(path, pages(path), resolver, log)


def _clamped(points: Sequence[tuple[float, float]], size: tuple[int, int]) -> list[tuple[int, int]]:
    """Whole, non-negative points inside the page (PAGE coordinates are pixel positions)."""
    w, h = size
    return [(min(max(0, round(x)), w), min(max(0, round(y)), h)) for x, y in points]


def _points(points: Sequence[tuple[int, int]]) -> str:
    return " ".join(f"{x},{y}" for x, y in points)


def baseline_of(points: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """A baseline for a line polygon: 80% down its left and right edges for a 4-point box
    (corners clockwise from top-left, as detectors give them), else across its bounding box."""
    if len(points) == 4:
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
        return [(round(x0 + 0.8 * (x3 - x0)), round(y0 + 0.8 * (y3 - y0))),
                (round(x1 + 0.8 * (x2 - x1)), round(y1 + 0.8 * (y2 - y1)))]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    y = round(min(ys) + 0.8 * (max(ys) - min(ys)))
    return [(round(min(xs)), y), (round(max(xs)), y)]


def write(image_name: str, size: tuple[int, int], lines: Sequence[tuple[Sequence[tuple[float, float]], str]],
          path: Path, *, creator: str = "Inkwell", created: dt.datetime | None = None,
          confidences: Sequence[float | None] = (),
          baselines: Sequence[Sequence[tuple[float, float]]] = ()) -> Path:
    """Write one page of read lines as a PAGE-XML 2019 file (loadable in Transkribus and eScriptorium).

    The page gets one ``TextRegion`` enclosing all lines; each line a ``TextLine`` with its
    ``Coords``, a ``Baseline`` (see :func:`baseline_of`) and its text as ``TextEquiv/Unicode``,
    in the order given (also recorded as Transkribus' ``readingOrder``). Points are rounded and
    kept inside the page; characters XML cannot hold are dropped.

    Args:
        image_name: The page image's file name, relative to the XML file (``imageFilename``).
        size: The page image's (width, height).
        lines: ``(polygon, text)`` per line, in reading order; polygons in page pixels, 3+ points.
        path: The file to write (an existing file is replaced: callers write into fresh folders).
        creator: The ``Metadata/Creator`` text.
        created: The ``Created``/``LastChange`` time (default: now).
        confidences: Per line, how sure the reader was (0 to 1), written as ``TextEquiv@conf``
            (Transkribus and eScriptorium show it); None or a missing entry: no ``conf``.
        baselines: Per line, its own baseline (2+ points), written as its ``Baseline``; an empty or missing
            entry: one drawn from the polygon (:func:`baseline_of`).

    Returns:
        ``path``.

    Raises:
        ValueError: A line's polygon has fewer than 2 points.
    """
    when = (created or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    # elements unqualified under the namespace the root declares (ElementTree's prefixes would read ns0:)
    root = ET.Element("PcGts", {"xmlns": NAMESPACE_2019, "xmlns:xsi": _XSI, "xsi:schemaLocation": _SCHEMA})
    meta = ET.SubElement(root, "Metadata")
    for tag, text in (("Creator", creator), ("Created", when), ("LastChange", when)):
        ET.SubElement(meta, tag).text = text
    width, height = int(size[0]), int(size[1])
    page = ET.SubElement(root, "Page", {"imageFilename": image_name,
                                        "imageWidth": str(width), "imageHeight": str(height)})
    polygons = [_clamped(points, (width, height)) for points, _ in lines]
    for index, polygon in enumerate(polygons, start=1):
        if len(polygon) < 2:
            raise ValueError(f"{path.name}: line {index} has {len(polygon)} point(s); a line needs a polygon "
                             "of at least 3 points (4 for a box).")
    if lines:
        xs = [x for polygon in polygons for x, _ in polygon]
        ys = [y for polygon in polygons for _, y in polygon]
        box = [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]
        region = ET.SubElement(page, "TextRegion", {"id": "r1", "custom": "readingOrder {index:0;}"})
        ET.SubElement(region, "Coords", {"points": _points(box)})
        for index, (polygon, (_, text)) in enumerate(zip(polygons, lines), start=1):
            line = ET.SubElement(region, "TextLine",
                                 {"id": f"r1_l{index}", "custom": f"readingOrder {{index:{index - 1};}}"})
            ET.SubElement(line, "Coords", {"points": _points(polygon)})
            own = baselines[index - 1] if index <= len(baselines) else ()
            base = own if len(own) >= 2 else baseline_of(polygon)
            ET.SubElement(line, "Baseline", {"points": _points(_clamped(base, (width, height)))})
            conf = confidences[index - 1] if index <= len(confidences) else None
            equiv = ET.SubElement(line, "TextEquiv", {} if conf is None else {"conf": f"{float(conf):.4g}"})
            ET.SubElement(equiv, "Unicode").text = _NOT_XML.sub("", text)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
