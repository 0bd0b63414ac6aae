"""ALTO (v2-v4): text lines cut out of the page image by their polygon shape or box
(turned upright along an ALTO 4 ``BASELINE`` that runs vertically).

Imports :mod:`inkwell.data.formats.xmlpages`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from inkwell.data.formats import xmlpages
from inkwell.data.formats.base import ReadLog
from inkwell.data.formats.resolve import Resolver
from inkwell.data.formats.xmlpages import PageLines, Points, children, declared_size, descendants, local, parse_points

__all__ = ["NAME", "default_root", "pages", "read", "sniff", "sources"]

NAME = "alto"


def _line_points(tl: ET.Element) -> Points:
    for shape in children(tl, "Shape"):
        poly = next(iter(children(shape, "Polygon")), None)
        if poly is not None and poly.get("POINTS"):
            return parse_points(poly.get("POINTS"))
    try:
        x, y = float(tl.get("HPOS", "")), float(tl.get("VPOS", ""))
        w, h = float(tl.get("WIDTH", "")), float(tl.get("HEIGHT", ""))
    except ValueError:
        return []
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _line_baseline(tl: ET.Element) -> Points:
    """The line's baseline as points (ALTO 4's ``BASELINE="x1,y1 x2,y2 ..."``); none for older ALTO's
    single number (a height: the line is horizontal)."""
    points = parse_points(tl.get("BASELINE"))
    return points if len(points) >= 2 else []


def _line_text(tl: ET.Element) -> str:
    parts: list[str] = []
    for child in tl:
        name = local(child.tag)
        if name == "String":
            parts.append(child.get("CONTENT", ""))
        elif name == "SP":
            if parts and parts[-1] != " ":
                parts.append(" ")
        elif name == "HYP":
            parts.append(child.get("CONTENT", ""))
    return "".join(parts)


def pages(path: Path) -> list[PageLines]:
    """The file's page: its image name, declared size, and every TextLine's polygon, text and baseline.

    Raises:
        DataFormatError: The file does not parse, or is not ALTO.
    """
    root = xmlpages.parse_root(path, NAME)
    fname = next((e.text or "" for e in descendants(root, "fileName")), "")
    page_el = next(descendants(root, "Page"), None)
    declared = None if page_el is None else declared_size(page_el.get("WIDTH"), page_el.get("HEIGHT"))
    lines = [(_line_points(tl), _line_text(tl), _line_baseline(tl)) for tl in descendants(root, "TextLine")]
    return [(fname.strip(), declared, lines)]


def read(path: Path, resolver: Resolver, log: ReadLog) -> None:
    """Cut every TextLine of the file's page into ``log``."""
    xmlpages.read_pages(path, pages(path), resolver, log)


def sniff(path: Path) -> bool:
    """True for an ``.xml`` file whose root is ``alto``."""
    return path.suffix.lower() == ".xml" and xmlpages.root_kind(path) == NAME


def sources(folder: Path) -> list[Path]:
    """The ALTO files in a folder (or its sub-folders)."""
    return xmlpages.sources_of_kind(folder, NAME)


default_root = xmlpages.page_folder_root
