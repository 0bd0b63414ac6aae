"""PAGE-XML (2013 and 2019 schemas, Transkribus exports): text lines cut out of page images by their polygons.

Imports :mod:`inkwell.formats.xmlpages`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from inkwell.formats.base import ReadLog
from inkwell.formats.resolve import Resolver
from inkwell.formats.xmlpages import (PageLines, Points, children, declared_size, descendants, page_folder_root,
                                      parse_points, parse_root, read_pages, root_kind, sources_of_kind)

__all__ = ["NAME", "default_root", "read", "sniff", "sources"]

NAME = "page_xml"
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


def read(path: Path, resolver: Resolver, log: ReadLog) -> None:
    """Cut every TextLine of every Page into ``log``."""
    root = parse_root(path, NAME)
    pages: list[PageLines] = []
    for page_el in descendants(root, "Page"):
        declared = declared_size(page_el.get("imageWidth"), page_el.get("imageHeight"))
        lines = [(_line_points(tl), _line_text(tl)) for tl in descendants(page_el, "TextLine")]
        pages.append((page_el.get("imageFilename", ""), declared, lines))
    read_pages(path, pages, resolver, log)
