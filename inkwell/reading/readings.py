"""Writing what was read: a CSV of every line, a text file per page, and PAGE-XML with the page image.

Stage ``reading``: imports lower stages, :mod:`inkwell.data.sources` (the pages read)
and :mod:`inkwell.data.formats.page_xml` (the PAGE-XML writer, beside its reader).
:func:`save_readings` writes into a new folder only, atomically: a reader never
sees half of it and nothing already there is overwritten. The folder opens in
Transkribus or eScriptorium (each ``<name>.xml`` beside its ``<name>.png``) and
reads back into 01_data with ``format="page_xml"``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from inkwell.core.csvsafe import write_frame
from inkwell.data.formats import page_xml
from inkwell.data.images import png_bytes
from inkwell.core.paths import atomic_folder, project_path, unique_path
from inkwell.data.sources import SourcePage

__all__ = [
    "CSV_COLUMNS",
    "CSV_NAME",
    "LineReading",
    "SavedReadings",
    "readings_folder",
    "save_readings",
]

#: The table of every line read, in the folder :func:`save_readings` writes.
CSV_NAME = "readings.csv"
#: Its columns: the input file, page and line, the line's polygon as ``"x,y x,y ..."``, the text,
#: warnings about the reading (``"; "``-joined), the page's name (its ``.txt``/``.xml``/``.png`` files),
#: the reading's confidence and lowest token probability, 0 to 1 (empty when the reader gave none;
#: see :class:`~inkwell.models.decode.Prediction`), and the line's baseline as ``"x,y x,y ..."`` (empty: none).
CSV_COLUMNS = ("file", "page", "line", "box", "text", "flags", "name", "confidence", "lowest", "baseline")


@dataclass
class LineReading:
    """One line read on a page.

    Attributes:
        source: The page's :attr:`SourcePage.name`.
        file: The input file.
        page: 1-based page number in the file.
        line: 1-based line number on the page, in reading order.
        polygon: The line in page pixels (4 or more points); the whole image for a line image.
        text: What was read.
        flags: ``""`` or warnings, ``"; "``-joined (e.g. ``"repetition_loop; length_limit"``).
        confidence: How sure the reader was, 0 to 1 (:attr:`~inkwell.models.decode.Prediction.confidence`), or None.
        lowest: The least sure token's probability (:attr:`~inkwell.models.decode.Prediction.lowest`), or None.
        baseline: The line's baseline in page pixels (empty: none known; the PAGE-XML then gets one drawn
            from the polygon). One running up or down the page marks a line written sideways.
    """

    source: str
    file: Path
    page: int
    line: int
    polygon: list[tuple[int, int]]
    text: str
    flags: str = ""
    confidence: float | None = None
    lowest: float | None = None
    baseline: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def whole(cls, page: SourcePage, text: str, flags: str = "", line: int = 1,
              confidence: float | None = None) -> LineReading:
        """The reading of an image that is one line: its polygon is the whole image."""
        w, h = page.image.size
        return cls(page.name, Path(page.file), page.page, line, [(0, 0), (w, 0), (w, h), (0, h)], text, flags,
                   confidence)


@dataclass
class SavedReadings:
    """The files :func:`save_readings` wrote (paths in their final folder).

    Attributes:
        folder: The folder holding everything.
        csv: ``readings.csv``, every line of every page.
        txt: One text file per page, its lines in order.
        xml: One PAGE-XML 2019 file per page.
        images: One PNG per page, the image its PAGE-XML names.
    """

    folder: Path
    csv: Path
    txt: list[Path] = field(default_factory=list)
    xml: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        """One line: how many pages were written where."""
        n = len(self.xml)
        return (f"{n} page{'' if n == 1 else 's'} written to {self.folder}: {self.csv.name}, "
                "a .txt, a PAGE-XML .xml and a .png per page")


def readings_folder(run: Path | None, output_dir: str = "") -> Path:
    """A new folder for a demo's readings; nothing is created, and an existing folder is never chosen.

    Args:
        run: The adapter run folder read with (``adapters/<run>``), or None for the base model.
        output_dir: Where to write instead (relative paths are resolved against the workspace);
            when it exists, ``<output_dir>-2``, ``-3``, ... is chosen.

    Returns:
        ``adapters/<run>/readings/<YYYYmmdd-HHMMSS>`` (``adapters/base-model/readings/...`` without
        a run), or ``output_dir``, made unique.
    """
    if output_dir:
        target = project_path(output_dir)
        return unique_path(target.parent, target.name)
    root = project_path(run) if run is not None else project_path("adapters") / "base-model"
    return unique_path(root / "readings", dt.datetime.now().strftime("%Y%m%d-%H%M%S"))


def _rounded(value: float | None) -> float | None:
    """A confidence as written (4 decimals), or None."""
    return None if value is None else round(float(value), 4)


def _box_text(polygon: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{round(x)},{round(y)}" for x, y in polygon)


def _one_line(text: str) -> str:
    """A text as one line of a .txt file (line breaks inside a reading become spaces)."""
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


def _lines_by_page(pages: Sequence[SourcePage], lines: Sequence[LineReading]) -> dict[str, list[LineReading]]:
    """Each page's lines in reading order; every line must belong to one of the pages."""
    names = [p.name for p in pages]
    if len({n.lower() for n in names}) != len(names):
        twice = sorted({n for n in names if [m.lower() for m in names].count(n.lower()) > 1})
        raise ValueError(f"Pages share the name(s) {', '.join(twice)}: their files would overwrite each other. "
                         "Pass the pages of one scan_inputs/scan_upload call, whose names are unique.")
    by_page: dict[str, list[LineReading]] = {n: [] for n in names}
    for reading in lines:
        if reading.source not in by_page:
            raise ValueError(f"A line reads page {reading.source!r} ({reading.file}, line {reading.line}), "
                             f"which is not among the pages given ({', '.join(names[:5])}"
                             f"{', ...' if len(names) > 5 else ''}). Pass every page the lines were read on.")
        if len(reading.polygon) < 3:
            raise ValueError(f"{reading.source}, line {reading.line}: the polygon has {len(reading.polygon)} "
                             "point(s); give 4 or more (the whole image for a line image: LineReading.whole).")
        by_page[reading.source].append(reading)
    for group in by_page.values():
        group.sort(key=lambda r: r.line)
    return by_page


def save_readings(pages: Sequence[SourcePage], lines: Sequence[LineReading],
                  out_dir: str | os.PathLike[str]) -> SavedReadings:
    """Write readings into a new folder: ``readings.csv``, and per page ``<name>.txt``, ``<name>.xml``, ``<name>.png``.

    ``readings.csv`` has the columns of :data:`CSV_COLUMNS`, formula-like text neutralised
    (see :mod:`inkwell.core.csvsafe`). Each page's PAGE-XML 2019 file names its PNG beside it, so the
    folder opens in Transkribus or eScriptorium and reads back into 01_data (``format="page_xml"``).
    A page without lines gets an empty ``.txt`` and a PAGE-XML file without text lines.

    Args:
        pages: The pages read (from :func:`~inkwell.data.sources.scan_inputs` or ``scan_upload``).
        lines: The lines read on them, each naming its page by :attr:`SourcePage.name`.
        out_dir: The folder to create (see :func:`readings_folder`); it must not exist, or be empty.

    Returns:
        The paths written, as :class:`SavedReadings`.

    Raises:
        FileExistsError: ``out_dir`` exists and is not empty (nothing is written or changed).
        ValueError: A line names no given page, or two pages share a name.
    """
    target = project_path(out_dir)
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise FileExistsError(f"out_dir = {str(out_dir)!r}: {target} already exists and is not empty; it is left "
                              "as it is. Pick a new folder (readings_folder gives one).")
    by_page = _lines_by_page(pages, lines)
    created = dt.datetime.now(dt.timezone.utc)
    rows = []
    for page in pages:
        rows += [(str(r.file), r.page, r.line, _box_text(r.polygon), r.text, r.flags, page.name,
                  _rounded(r.confidence), _rounded(r.lowest), _box_text(r.baseline)) for r in by_page[page.name]]
    pngs = [png_bytes(page.image) for page in pages]  # encoded first, so a full disk can say the size needed
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(target, needed_bytes=sum(len(png) for png in pngs)) as tmp:
        write_frame(pd.DataFrame(rows, columns=list(CSV_COLUMNS)), tmp / CSV_NAME)
        for page, png in zip(pages, pngs):
            group = by_page[page.name]
            (tmp / f"{page.name}.txt").write_text("".join(_one_line(r.text) + "\n" for r in group), encoding="utf-8")
            (tmp / f"{page.name}.png").write_bytes(png)
            page_xml.write(f"{page.name}.png", page.image.size, [(r.polygon, r.text) for r in group],
                           tmp / f"{page.name}.xml", created=created,
                           confidences=[_rounded(r.confidence) for r in group],
                           baselines=[r.baseline for r in group])
    return SavedReadings(folder=target, csv=target / CSV_NAME,
                         txt=[target / f"{p.name}.txt" for p in pages],
                         xml=[target / f"{p.name}.xml" for p in pages],
                         images=[target / f"{p.name}.png" for p in pages])
