"""The demo's steps: read line images, whole pages and PDF pages with a base model and an adapter.

Stage ``reading``: imports lower stages. A page becomes lines through
:mod:`inkwell.reading.pages` (PP-OCR's text detector, offline); the lines of *all* pages
are then decoded together in batches, so a folder of short pages keeps the
batches full. Nothing here displays anything: views are in :mod:`inkwell.views.render`,
files are written by :mod:`inkwell.reading.readings`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from inkwell.models.decode import Prediction, predict_lines
from inkwell.models.loading import LoadedModel, load_adapter, load_model
from inkwell.models.prompt import ImageLimits
from inkwell.reading.lines import LINE_FINDERS, detect_lines
from inkwell.reading.lines.cut import crop_lines
from inkwell.reading.lines.geometry import LineBox
from inkwell.reading.pages import READ_MODES, looks_like_line
from inkwell.reading.readings import LineReading, readings_folder, save_readings
from inkwell.models.runs import base_model_of, image_limits_of, trusts_remote_code
from inkwell.data.sources import InputScan, SourcePage, counted

__all__ = ["DemoReading", "LineDecoder", "PageResult", "Reader", "flags_of", "load_reader", "read_pages",
           "read_pages_with", "read_scan"]


#: Reads line images: (images, progress bar name) -> one prediction per image, in order.
LineDecoder = Callable[[list[Image.Image], str], list[Prediction]]


@dataclass
class Reader:
    """A base model with (optionally) an adapter, and the image limits it was trained with."""

    loaded: LoadedModel
    limits: ImageLimits
    run: Path | None


def load_reader(model_name: str, run: Path | None, *, backend: str = "auto", load_in_4bit: bool = True) -> Reader:
    """Load the base model (the run's, from its ``run.json``, unless named) and attach the run's adapter."""
    base = base_model_of([run] if run else [], model_name)
    loaded = load_model(base, load_in_4bit=load_in_4bit, backend=backend, gradient_checkpointing=False,
                        trust_remote_code=trusts_remote_code([run] if run else []), for_training=False)
    if run is not None:
        load_adapter(loaded, run)
    return Reader(loaded, image_limits_of(run), run)


@dataclass
class PageResult:
    """One input page and what was read on it.

    Attributes:
        page: The page (an image file, or one page of a PDF).
        as_line: True when the whole image was read as one line (mode ``"lines"``, or ``"auto"`` by its shape).
        lines: The lines read, in reading order.
    """

    page: SourcePage
    as_line: bool
    lines: list[LineReading] = field(default_factory=list)


@dataclass
class DemoReading:
    """Everything one reading produced.

    Attributes:
        mode: The ``mode`` asked for.
        pages: One :class:`PageResult` per input page, in input order.
        detect_seconds: Time spent finding lines on pages.
        read_seconds: Time spent decoding all lines.
        folder: The readings folder they were saved to (:func:`read_scan`), or None when not saved.
        line_finder: How lines were found on pages (:data:`~inkwell.reading.lines.LINE_FINDERS`).
    """

    mode: str
    pages: list[PageResult]
    detect_seconds: float = 0.0
    read_seconds: float = 0.0
    folder: Path | None = None
    line_finder: str = "ppocr"

    @property
    def lines(self) -> list[LineReading]:
        """Every line read, page by page."""
        return [line for result in self.pages for line in result.lines]

    def describe(self) -> str:
        """What was read and how: pages and lines, how ``auto`` decided, speed and flagged lines.

        Example: "mode 'auto': 3 images read as pages. 41 lines read in 12.0 s (3.4 lines/s); ..."
        """
        as_lines = sum(r.as_line for r in self.pages)
        as_pages = len(self.pages) - as_lines
        n = len(self.lines)
        flagged = sum(bool(line.flags) for line in self.lines)
        read_as = [f"{counted(k, 'image')} read as {'a ' + what if k == 1 else what + 's'}"
                   for k, what in ((as_lines, "line"), (as_pages, "page")) if k]
        how = f"mode {self.mode!r}: " + (", ".join(read_as) or "no images")
        speed = f"{counted(n, 'line')} read in {self.read_seconds:.1f} s" + (
            f" ({n / self.read_seconds:.1f} lines/s)" if self.read_seconds > 0 and n else "")
        detect = (f"; lines found on pages by {self.line_finder} in {self.detect_seconds:.1f} s "
                  f"({self.detect_seconds / as_pages:.1f} s a page)" if as_pages else "")
        them = "it" if flagged == 1 else "them"
        check = f"; {counted(flagged, 'line')} flagged, check {them} by eye" if flagged else ""
        return f"{how}. {speed}{detect}{check}."


def flags_of(prediction: Prediction) -> str:
    """The flags a reading carries: ``"repetition_loop"`` and/or ``"length_limit"`` (``"; "``-joined)."""
    flags = ["repetition_loop"] * prediction.stopped_by_guard + ["length_limit"] * prediction.hit_limit
    return "; ".join(flags)


def _whole(image: Image.Image) -> LineBox:
    """The box of a whole image, for an image read as one line."""
    w, h = image.size
    return LineBox([(0, 0), (w - 1, 0), (w - 1, h - 1), (0, h - 1)])


def read_pages(
    reader: Reader,
    pages: Sequence[SourcePage],
    *,
    mode: str = "auto",
    batch_size: int = 8,
    max_new_tokens: int = 128,
    across_pages: bool = True,
    progress: bool = True,
    line_finder: str = "ppocr",
) -> DemoReading:
    """Find the lines of each page (unless it is a line) and read them all.

    Args:
        reader: The base model and adapter (:func:`~inkwell.workflow.steps.load_reader`).
        pages: The pages to read (:func:`~inkwell.data.sources.scan_inputs`).
        mode: ``"lines"`` (each image is one line), ``"pages"`` (find the lines first) or
            ``"auto"`` (decide per image by its shape, :func:`~inkwell.reading.pages.looks_like_line`).
        batch_size: Lines decoded together.
        max_new_tokens: Longest answer per line, in tokens.
        across_pages: Decode the lines of all pages in shared batches (False: page by page,
            only for comparing speeds). The texts do not depend on it.
        progress: Show progress bars.
        line_finder: How lines are found on a page (:data:`~inkwell.reading.lines.LINE_FINDERS`).

    Returns:
        A :class:`DemoReading`.

    Raises:
        ValueError: An unknown ``mode`` or ``line_finder``.
    """
    def decode(images: list[Image.Image], desc: str) -> list[Prediction]:
        return predict_lines(reader.loaded, images, limits=reader.limits, batch_size=batch_size,
                             max_new_tokens=max_new_tokens, progress=progress, desc=desc) if images else []

    return read_pages_with(decode, pages, mode=mode, across_pages=across_pages, line_finder=line_finder)


def read_pages_with(
    decode: LineDecoder,
    pages: Sequence[SourcePage],
    *,
    mode: str = "auto",
    across_pages: bool = True,
    line_finder: str = "ppocr",
) -> DemoReading:
    """Find the lines of each page (unless it is a line) and read them all with ``decode``.

    :func:`read_pages` with any reader: ``decode`` is Inkwell's own decoding there, vLLM in
    ``scripts/ocr_vllm.py``. The arguments are those of :func:`read_pages`.

    Raises:
        ValueError: An unknown ``mode``.
    """
    if mode not in READ_MODES:
        raise ValueError(f"mode = {mode!r}: choose one of {READ_MODES}.")
    if line_finder not in LINE_FINDERS:
        raise ValueError(f"line_finder = {line_finder!r}: choose one of {LINE_FINDERS}.")
    results: list[PageResult] = []
    boxes: list[list[LineBox]] = []
    crops: list[list[Image.Image]] = []
    started = time.perf_counter()
    for page in pages:
        as_line = mode == "lines" or (mode == "auto" and looks_like_line(page.image))
        found = [_whole(page.image)] if as_line else detect_lines(page.image, finder=line_finder)
        results.append(PageResult(page, as_line))
        boxes.append(found)
        crops.append([page.image] if as_line else crop_lines(page.image, found))
    detect_seconds = time.perf_counter() - started

    started = time.perf_counter()
    if across_pages:
        every = [c for page_crops in crops for c in page_crops]
        flat = decode(every, "reading") if every else []
        per_page, at = [], 0
        for page_crops in crops:
            per_page.append(flat[at:at + len(page_crops)])
            at += len(page_crops)
    else:
        per_page = [decode(page_crops, f"reading {r.page.name}") if page_crops else []
                    for r, page_crops in zip(results, crops)]
    for result, found, preds in zip(results, boxes, per_page):
        result.lines = [
            LineReading(source=result.page.name, file=result.page.file, page=result.page.page, line=i,
                        polygon=list(box.polygon), text=p.text,
                        flags="; ".join(f for f in (flags_of(p), *box.flags) if f), confidence=p.confidence,
                        lowest=p.lowest, baseline=list(box.baseline))
            for i, (box, p) in enumerate(zip(found, preds), start=1)
        ]
    return DemoReading(mode, results, detect_seconds, time.perf_counter() - started, line_finder=line_finder)


def read_scan(
    reader: Reader,
    scan: InputScan,
    *,
    mode: str = "auto",
    batch_size: int = 8,
    max_new_tokens: int = 128,
    output_dir: str | os.PathLike[str] = "",
    line_finder: str = "ppocr",
) -> tuple[DemoReading, Any]:
    """Read every page of a scan and write the readings into a new folder.

    Returns:
        The :class:`DemoReading` (its ``folder`` set) and what :func:`~inkwell.reading.readings.save_readings` wrote
        (under :func:`~inkwell.reading.readings.readings_folder`: ``adapters/<run>/readings/<time>/``
        unless ``output_dir`` names another folder; never an existing one).
    """
    reading = read_pages(reader, scan.pages, mode=mode, batch_size=batch_size, max_new_tokens=max_new_tokens,
                         line_finder=line_finder)
    saved = save_readings(scan.pages, reading.lines, readings_folder(reader.run, str(output_dir)))
    reading.folder = saved.folder
    return reading, saved
