"""Page mode: find the text lines on a scanned page, put them in reading order, cut them out.

Stage ``reading``: imports lower stages (:mod:`inkwell.reading.layout` among it) and :mod:`inkwell.reading.baselines` (for the
quiet, offline PP-OCR engine and its bundled model files) and :mod:`inkwell.data.synth`
(for :func:`synthetic_page`, a demo page). ``rapidocr`` (and
through it ``onnxruntime``) is loaded when the first page is detected.

Detection is PaddleOCR's PP-OCR text detector (a DB segmentation network), run
by RapidOCR on ONNX Runtime on the CPU, detection only: no orientation
classifier, no recognition. Its model is the file inside the ``rapidocr`` wheel,
named explicitly, so nothing is downloaded. A page whose lines are too close for
the size the detector first saw it at is seen again, closer. The boxes are then
cut where ruled lines cross them, cleaned of facing-page fragments, joined where
they are pieces of one line, padded by :data:`LINE_PAD` pixels, clipped to the
page and put in reading order: all of that is :mod:`inkwell.reading.layout`, whose names
are re-exported here.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from inkwell.reading.baselines import bgr_array, ppocr_engine, ppocr_model_path
from inkwell.data.images import perspective_crop, polygon_crop, to_rgb
from inkwell.reading.layout import (COLUMN_GAP, EDGE_FRAGMENT, EDGE_MARGIN, INK_SIDE, LINE_PAD, MERGE_DRIFT, MERGE_GAP,
                            MERGE_GROWTH, RULE_SPAN, InkMask, LineBox, crowding, drop_edge_fragments, ink_mask,
                            merge_fragments, pad_box, reading_order, split_at_rules)
from inkwell.data.synth import DEMO_PHRASES, render_line

__all__ = [
    "DENSE_CROWDING",
    "DENSE_MAX_SIDE",
    "DETECTOR_SETTINGS",
    "EDGE_FRAGMENT",
    "EDGE_MARGIN",
    "LINE_ASPECT",
    "COLUMN_GAP",
    "LINE_PAD",
    "MAX_SIDE",
    "MERGE_GAP",
    "MERGE_DRIFT",
    "MERGE_GROWTH",
    "RULE_SPAN",
    "ink_mask",
    "InkMask",
    "INK_SIDE",
    "PPOCR_DET_MODEL",
    "READ_MODES",
    "LineBox",
    "SyntheticPage",
    "crop_lines",
    "crowding",
    "detect_lines",
    "drop_edge_fragments",
    "looks_like_line",
    "merge_fragments",
    "reading_order",
    "split_at_rules",
    "synthetic_page",
]

#: The PP-OCR text detection model shipped inside the rapidocr wheel.
PPOCR_DET_MODEL = "PP-OCRv6_det_small.onnx"

#: Longest page side the detector sees (the page is scaled down to it, never up). PaddleOCR's own
#: default: a 150 dpi A4 page (1240 x 1754) becomes about 680 x 960, where handwriting lines are still
#: 25 pixels or more tall. On two CPU cores a page takes about 0.37 s (736: no faster; 1280: 0.6 s).
MAX_SIDE = 960

#: Detector settings (RapidOCR ``Det.*``) chosen for handwriting lines:
#: ``thresh`` 0.3 is the text-probability cut of the segmentation map (PaddleOCR's default);
#: ``box_thresh`` 0.4, a little below the default 0.5, keeps faint pencil and light ink (synthetic
#: lines score 0.6 to 0.8); ``unclip_ratio`` 2.0, above the default 1.6, grows each text core more so
#: that ascenders, descenders and slanted strokes stay inside the box; ``use_dilation`` joins
#: thin strokes of one word; ``limit_type`` "max" makes :data:`MAX_SIDE` an upper bound.
DETECTOR_SETTINGS: dict[str, object] = {
    "thresh": 0.3,
    "box_thresh": 0.4,
    "unclip_ratio": 2.0,
    "use_dilation": True,
    "score_mode": "fast",
    "limit_type": "max",
}


#: A page whose line boxes are this many times taller than the spacing of its lines (:func:`crowding`) is
#: detected again at twice the size (at most :data:`DENSE_MAX_SIDE`): measured on real pages, single
#: lines give 1.0 to 1.8, a dense letter with interlinear notes 2.2 (its recall 0.56 -> 0.76 seen closer).
DENSE_CROWDING = 2.0

#: Longest side the detector sees a crowded page at.
DENSE_MAX_SIDE = 1920


#: Width / height at which an image counts as one text line for mode "auto". A line of even three
#: short words is 4 or more times as wide as tall (the demo lines: 5 to 12); a page, portrait or
#: landscape, is under 1.5; a paragraph of two or three lines under 3. 3.5 leaves room both ways.
LINE_ASPECT = 3.5

#: How 04_demo reads an image: "auto" (a line or a page, by :data:`LINE_ASPECT`), "lines" (each image is one
#: line) or "pages" (find the lines first).
READ_MODES = ("auto", "lines", "pages")


@functools.lru_cache(maxsize=4)
def _detector(max_side: int) -> object:
    """The PP-OCR text detector engine for one size limit (built once, then reused)."""
    settings = {f"Det.{k}": v for k, v in DETECTOR_SETTINGS.items()}
    return ppocr_engine({
        "Global.use_det": True,
        "Global.use_cls": False,
        "Global.use_rec": False,
        "Global.max_side_len": max(2000, max_side),  # RapidOCR's own first resize: never below ours
        "Det.model_path": str(ppocr_model_path(PPOCR_DET_MODEL)),  # named explicitly: never downloaded
        "Det.limit_side_len": max_side,
        **settings,
    })


def _detect(pixels: np.ndarray, max_side: int) -> list[LineBox]:
    """The detector's raw boxes on a page (BGR array) seen at ``max_side``."""
    result = _detector(max_side)(pixels)
    quads = getattr(result, "boxes", None)
    if quads is None or len(quads) == 0:
        return []
    scores = list(getattr(result, "scores", None) or [1.0] * len(quads))
    return [LineBox([(float(x), float(y)) for x, y in quad], float(s)) for quad, s in zip(quads, scores)]


def detect_lines(page: Image.Image, *, max_side: int = MAX_SIDE, merge_gap: float = MERGE_GAP) -> list[LineBox]:
    """Find the text lines on a page, in reading order.

    Args:
        page: The page image (PIL, any mode).
        max_side: Longest side the detector sees; larger pages are scaled
            down for detection (boxes are in the page's own pixels). Raise it
            for pages with very small writing, lower it for speed.
        merge_gap: Boxes side by side on one line are joined across gaps up to this many line
            heights (:func:`merge_fragments`; never across a ruled line or a column gutter).

    Returns:
        One :class:`LineBox` per line (cut-off pieces of a facing page at the scan's edge left
        out, :func:`drop_edge_fragments`), padded by :data:`LINE_PAD` and clipped
        to the page, in :func:`reading_order`; empty for a blank page.

    Raises:
        ValueError: ``max_side`` is under 32.
    """
    if max_side < 32:
        raise ValueError(f"max_side must be at least 32, got {max_side}")
    width, height = page.size
    if width < 2 or height < 2:
        return []
    pixels = bgr_array(page)
    found = _detect(pixels, int(max_side))
    closer = min(DENSE_MAX_SIDE, 2 * int(max_side), max(width, height))
    if closer > max_side and crowding(found) > DENSE_CROWDING:  # lines too close for this size: look closer
        found = _detect(pixels, closer)
    if not found:
        return []
    ink = ink_mask(page)
    found = split_at_rules(drop_edge_fragments(found, width, height), ink)
    found = [pad_box(b, LINE_PAD, width, height) for b in merge_fragments(found, max_gap=merge_gap, ink=ink)]
    return reading_order(found)


def crop_lines(page: Image.Image, boxes: Sequence[LineBox]) -> list[Image.Image]:
    """Cut line images out of a page, straightened along their boxes.

    Each box's quadrilateral is warped into an upright rectangle
    (:func:`inkwell.data.images.perspective_crop`, so a slightly sloping line comes
    out level). A box at least 1.5 times taller than wide (a short word or a
    number; PaddleOCR would turn it on its side) or a degenerate one is cut as
    its bounding box instead (:func:`inkwell.data.images.polygon_crop`).

    Args:
        page: The page the boxes were found on.
        boxes: Line boxes, e.g. from :func:`detect_lines`.

    Returns:
        One RGB image per box, in the order given (a 1 x 1 white image for a
        box with no area).
    """
    rgb = to_rgb(page)
    crops = []
    for box in boxes:
        quad = [(float(x), float(y)) for x, y in box.polygon]
        left, top, right, bottom = box.bbox
        crop = perspective_crop(rgb, quad) if bottom - top < 1.5 * (right - left) else None
        if crop is None:
            crop = polygon_crop(rgb, quad)
        crops.append(crop if crop is not None else Image.new("RGB", (1, 1), "white"))
    return crops


def looks_like_line(image: Image.Image) -> bool:
    """Whether an image is one text line rather than a page (for mode "auto").

    Args:
        image: Any image.

    Returns:
        True when its width is at least :data:`LINE_ASPECT` times its height.
    """
    width, height = image.size
    return height > 0 and width / height >= LINE_ASPECT


@dataclass
class SyntheticPage:
    """A page of synthetic handwriting lines, with where each line was put.

    Attributes:
        image: The RGB page.
        texts: The lines' texts, in reading order.
        boxes: Where each line image was pasted (left, top, right, bottom), in reading order.
    """

    image: Image.Image
    texts: list[str]
    boxes: list[tuple[int, int, int, int]]


def synthetic_page(
    n_lines: int = 6,
    *,
    columns: int = 1,
    size: tuple[int, int] = (1240, 1754),
    line_height: int = 56,
    seed: int = 0,
    fonts: Sequence[Path] = (),
) -> SyntheticPage:
    """Paste synthetic handwriting lines (:func:`inkwell.data.synth.render_line`) onto a white page.

    Lines are two demo phrases each, with a margin of a tenth of the page
    width, a small random indent and a random gap of 0.3 to 0.9 line heights
    between lines; with ``columns`` 2 the lines are split evenly, the first
    half down the left column. Lines that would not fit are left out.

    Args:
        n_lines: Lines wanted.
        columns: 1 or 2.
        size: Page width and height in pixels (default: A4 at 150 dpi).
        line_height: Height of each line image.
        seed: Seed of texts, styles and spacing.
        fonts: Font files for :func:`inkwell.data.synth.render_line` (empty: Pillow's bundled font).

    Returns:
        The page with its lines' texts and boxes, in reading order.

    Raises:
        ValueError: ``columns`` is not 1 or 2.
    """
    if columns not in (1, 2):
        raise ValueError(f"columns must be 1 or 2, got {columns}")
    rng = random.Random(seed)
    width, height = size
    page = Image.new("RGB", size, "white")
    margin = width // 10
    col_width = (width - 2 * margin - (columns - 1) * margin) // columns
    per_column = [n_lines // columns + (1 if c < n_lines % columns else 0) for c in range(columns)]
    texts: list[str] = []
    boxes: list[tuple[int, int, int, int]] = []
    for c, count in enumerate(per_column):
        x0, y = margin + c * (col_width + margin), margin
        for _ in range(count):
            text = " ".join(rng.sample(DEMO_PHRASES, 2))
            line = render_line(text, rng, fonts=fonts, height=line_height)
            if line.width > col_width:
                line = line.resize((col_width, max(1, round(line.height * col_width / line.width))))
            x = x0 + rng.randint(0, max(0, min(line_height, col_width - line.width)))
            if y + line.height > height - margin:
                break
            page.paste(line, (x, y))
            texts.append(text)
            boxes.append((x, y, x + line.width, y + line.height))
            y += line.height + int(line_height * rng.uniform(0.3, 0.9))
    return SyntheticPage(page, texts, boxes)
