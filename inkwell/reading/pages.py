"""Page mode: find the text lines on a scanned page, put them in reading order, cut them out.

Stage ``reading``: imports :mod:`inkwell.reading.layout` (box geometry and cleanup), :mod:`inkwell.reading.baselines`
(the quiet, offline PP-OCR engine and its bundled model files), :mod:`inkwell.data.images` and
:mod:`inkwell.data.synth` (for :func:`synthetic_page`, a demo page). ``rapidocr`` (and
through it ``onnxruntime``) is loaded when the first page is detected.

Detection is PaddleOCR's PP-OCR text detector (a DB segmentation network), run
by RapidOCR on ONNX Runtime on the CPU, detection only: no orientation
classifier, no recognition. Its model is the file inside the ``rapidocr`` wheel,
named explicitly, so nothing is downloaded. A page whose lines are too close for
the size the detector first saw it at is seen again, closer. The boxes are then
cut where ruled lines cross them, cleaned of facing-page fragments, joined where
they are pieces of one line, padded by :data:`LINE_PAD` pixels, clipped to the
page and put in reading order: all of that is :mod:`inkwell.reading.layout`, whose names
are re-exported here. On a ruled table, the fields the detector cannot see (ditto
marks, a stroke or two) are found here as small marks of ink in the table's cells
(:func:`table_marks`, with OpenCV's connected components; OpenCV comes with rapidocr).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from inkwell.data.images import perspective_crop, polygon_crop, to_rgb
from inkwell.data.synth import DEMO_PHRASES, render_line
from inkwell.reading.baselines import bgr_array, ppocr_engine, ppocr_model_path
from inkwell.reading.layout import (COLUMN_GAP, EDGE_FRAGMENT, EDGE_MARGIN, INK_LEVEL, INK_SIDE, LINE_PAD, MERGE_DRIFT,
                                    MERGE_GAP, MERGE_GROWTH, RULE_SPAN, InkMask, LineBox, box_axes, crowding,
                                    drop_edge_fragments, ink_mask, ink_masks, merge_fragments, pad_box, reading_order,
                                    rule_columns, split_at_rules)

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
    "ink_masks",
    "InkMask",
    "INK_LEVEL",
    "INK_SIDE",
    "MARK_CELL",
    "MARK_LEVEL",
    "MARK_PAD",
    "MARK_REACH",
    "MARK_SIZE",
    "RULE_LEVEL",
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
    "table_marks",
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


#: Ink marks that may stand for a whole field of a table (a ditto mark, a dash) are those whose longer side
#: is between these shares of the page's line height (:func:`table_marks`): smaller is a speck of dirt or
#: a dot, larger is a word the detector would have seen. The page's line height is the median height
#: of its detected line boxes, so the limits follow the scan's resolution and the writing's size.
MARK_SIZE = (0.08, 0.6)

#: A mark counts only in a ruled column of a table: a ruled line within this many line heights to its
#: left and to its right. Ditto marks repeat short fields (a date, a place, a name), whose columns are
#: narrow; a mark in the middle of a wide column of running text (ink showing through, a stray stroke)
#: has no rule that near on both sides.
MARK_REACH = 4.0

#: ... and between rules at least this many line heights apart: a narrower strip (a double rule, a
#: margin between columns) holds no field.
MARK_CELL = 1.0

#: A lone mark's line box reaches this many line heights beyond the mark on either side, and is one
#: line height tall: the size of the field it stands for (a word or two), never wider than its cell.
MARK_PAD = 0.5

#: Marks are looked for in a mask this share of the way from the paper to the darkest ink
#: (:func:`ink_mask`), lighter than :data:`INK_LEVEL`: ditto marks are quick thin strokes that break up
#: when cut halfway.
MARK_LEVEL = 0.4

#: The ruled lines around marks are looked for in a mask lighter still: a register's printed rules are
#: often a pixel wide and faint, and fainter again on a scan made smaller. Ink showing through from the
#: back of the leaf comes in at this level too, but never as a line dark down several line heights.
RULE_LEVEL = 0.25


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
    ink, faint, fainter = ink_masks(page, (INK_LEVEL, MARK_LEVEL, RULE_LEVEL))
    found = split_at_rules(drop_edge_fragments(found, width, height), ink)
    found = table_marks(merge_fragments(found, max_gap=merge_gap, ink=ink), faint, fainter)
    return reading_order([pad_box(b, LINE_PAD, width, height) for b in found])


def _line_height(boxes: Sequence[LineBox]) -> float:
    """The page's line height: the median height of its boxes at least twice as long as tall (0: fewer
    than 4 such boxes, too few to tell)."""
    heights = [axes[2] for axes in map(box_axes, boxes) if axes[3] >= 2 * axes[2]]
    return float(np.median(heights)) if len(heights) >= 4 else 0.0


def _mark_clusters(ink: InkMask, boxes: Sequence[LineBox], height: float) -> list[list[float]]:
    """Small marks of ink outside every box (left, top, right, bottom in page pixels): connected components of
    :data:`MARK_SIZE`, strokes side by side within a quarter line height taken as one mark (the two
    strokes of a ditto mark)."""
    import cv2  # comes with rapidocr, like the detector

    step = ink.step
    mask = ink.mask.astype(np.uint8)
    covered = np.zeros_like(mask)
    for box in boxes:
        cv2.fillPoly(covered, [np.round(np.asarray(box.polygon, dtype=np.float64) / step).astype(np.int32)], 1)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    small, large = MARK_SIZE[0] * height / step, MARK_SIZE[1] * height / step
    strokes = []
    for x, y, w, h, _area in stats[1:count]:
        if small <= max(w, h) <= large and covered[y:y + h, x:x + w].mean() <= 0.3:
            strokes.append([float(x * step), float(y * step), float((x + w) * step), float((y + h) * step)])
    clusters: list[list[float]] = []
    for stroke in sorted(strokes):
        for c in clusters:
            if (stroke[0] - c[2] <= height / 4 and min(stroke[3], c[3]) - max(stroke[1], c[1]) > -height / 10
                    and max(stroke[3], c[3]) - min(stroke[1], c[1]) <= 0.8 * height):
                c[:] = [min(c[0], stroke[0]), min(c[1], stroke[1]), max(c[2], stroke[2]), max(c[3], stroke[3])]
                break
        else:
            clusters.append(stroke)
    return clusters


def _cell(rules: InkMask, mark: Sequence[float], height: float) -> tuple[float, float] | None:
    """The ruled cell a mark stands in: the nearest ruled line within :data:`MARK_REACH` line heights to its
    left and to its right, both at least a tenth of a line height clear of the mark (None: no such pair).

    Rules are searched (:func:`inkwell.reading.layout.rule_columns`) on :data:`RULE_SPAN` line heights centred on
    the mark, and on as many ending just under it and starting just over it: on a table's first and last
    rows the rules run only one way.
    """
    left, top, right, bottom = mark
    centre = (top + bottom) / 2
    reach, clear = MARK_REACH * height, height / 10
    before, first = rule_columns(rules, left - reach, left, centre, height)
    after, start = rule_columns(rules, right, right + reach, centre, height)
    for shift in (-(RULE_SPAN - 1) / 2 * height, (RULE_SPAN - 1) / 2 * height):
        before = before | rule_columns(rules, left - reach, left, centre + shift, height)[0]
        after = after | rule_columns(rules, right, right + reach, centre + shift, height)[0]
    if not before.any() or not after.any():
        return None
    x0 = first + float(np.nonzero(before)[0].max()) * rules.step
    x1 = start + float(np.nonzero(after)[0].min()) * rules.step
    if left - x0 < clear or x1 - right < clear or x1 - x0 < MARK_CELL * height:
        return None
    return x0, x1


def table_marks(boxes: Sequence[LineBox], ink: InkMask | None, rules: InkMask | None = None) -> list[LineBox]:
    """Add the table fields the detector cannot see: ditto marks (and dashes) that repeat the cell above.

    A register repeats a date or a place down its column with ditto marks, a stroke or two far smaller
    than any word: PP-OCR's detector misses them at any size. They are found as small marks of ink
    (:data:`MARK_SIZE` of the page's line height) outside every box, that

    * sit on a row of the table: a found box to their left and one to their right spans their height;
    * stand in a ruled cell (:func:`_cell`): rules near on both sides (:data:`MARK_REACH`), far enough apart
      to hold a field (:data:`MARK_CELL`); an unruled page (a letter, a diary) gets none.

    The marks of one row in one cell, and the boxes that lie inside that cell on that row (the day before
    ``" "`` in a date), become one line box around them all; a cell with marks only gets a box one line
    height tall, :data:`MARK_PAD` line heights beyond its marks on either side, cut at the cell's rules.

    Args:
        boxes: The page's line boxes (before padding).
        ink: The page's dark pixels, where marks are looked for (:func:`ink_mask` at :data:`MARK_LEVEL`);
            None adds nothing.
        rules: Where ruled lines are looked for (:func:`ink_mask` at :data:`RULE_LEVEL`; default ``ink``).

    Returns:
        The boxes, those joined to marks replaced by the joined boxes, and the new ones after them (a box
        around marks only has score 0: the detector gave it none).
    """
    height = _line_height(boxes)
    if ink is None or height <= 0:
        return list(boxes)
    rules = rules if rules is not None else ink
    bounds = [b.bbox for b in boxes]
    groups: list[tuple[float, float, float, list[Sequence[float]]]] = []  # cell left, right, row centre, marks
    for mark in _mark_clusters(ink, boxes, height):
        centre = (mark[1] + mark[3]) / 2
        row = [b for b in bounds if b[1] <= centre <= b[3]]
        if not any(b[2] <= mark[0] for b in row) or not any(b[0] >= mark[2] for b in row):
            continue
        cell = _cell(rules, mark, height)
        if cell is None:
            continue
        for x0, x1, y, marks in groups:
            if abs(x0 - cell[0]) < height / 5 and abs(x1 - cell[1]) < height / 5 and abs(y - centre) < height / 2:
                marks.append(mark)
                break
        else:
            groups.append((cell[0], cell[1], centre, [mark]))
    joined: set[int] = set()
    added = []
    for x0, x1, y, marks in groups:
        inside = [k for k, (left, top, right, bottom) in enumerate(bounds) if k not in joined
                  and left >= x0 - height / 5 and right <= x1 + height / 5 and abs((top + bottom) / 2 - y) < height / 2]
        joined.update(inside)
        pad = 0.0 if inside else MARK_PAD * height
        tall = [] if inside else [(y - height / 2, y + height / 2)]
        lefts = [m[0] - pad for m in marks] + [bounds[k][0] for k in inside]
        rights = [m[2] + pad for m in marks] + [bounds[k][2] for k in inside]
        tops = [m[1] for m in marks] + [bounds[k][1] for k in inside] + [t for t, _ in tall]
        bottoms = [m[3] for m in marks] + [bounds[k][3] for k in inside] + [b for _, b in tall]
        left, right, top, bottom = max(min(lefts), x0), min(max(rights), x1), min(tops), max(bottoms)
        score = max([boxes[k].score for k in inside], default=0.0)
        added.append(LineBox([(left, top), (right, top), (right, bottom), (left, bottom)], score))
    return [b for k, b in enumerate(boxes) if k not in joined] + added


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
