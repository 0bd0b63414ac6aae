"""Page mode: find the text lines on a scanned page, put them in reading order, cut them out.

Middle layer: imports the bottom layer and :mod:`inkwell.baselines` (for the
quiet, offline PP-OCR engine and its bundled model files) and :mod:`inkwell.synth`
(for :func:`synthetic_page`, a demo page). ``rapidocr`` (and
through it ``onnxruntime``) is loaded when the first page is detected.

Detection is PaddleOCR's PP-OCR text detector (a DB segmentation network), run
by RapidOCR on ONNX Runtime on the CPU, detection only: no orientation
classifier, no recognition. Its model is the file inside the ``rapidocr`` wheel,
named explicitly, so nothing is downloaded. The detector may cut a handwritten
line into words where the gaps are wide; fragments side by side on one line are
merged back (:func:`merge_fragments`). Boxes are padded by :data:`LINE_PAD` pixels
and clipped to the page.

Reading order (:func:`reading_order`) is deliberately simple: boxes whose
horizontal extents overlap and that are near each other vertically belong to one
column; columns that share some height stand side by side and are read left to
right, one after the other; blocks of columns that do not (a date above the
letter, a signature below it) are read top to bottom; within a column, top to
bottom. A heading that spans two columns joins them into one column, which is
then read line by line across both.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from inkwell.baselines import bgr_array, ppocr_engine, ppocr_model_path
from inkwell.images import perspective_crop, polygon_crop, to_rgb
from inkwell.synth import DEMO_PHRASES, render_line

__all__ = [
    "DETECTOR_SETTINGS",
    "LINE_ASPECT",
    "COLUMN_GAP",
    "LINE_PAD",
    "MAX_SIDE",
    "MERGE_GAP",
    "PPOCR_DET_MODEL",
    "READ_MODES",
    "LineBox",
    "SyntheticPage",
    "crop_lines",
    "detect_lines",
    "looks_like_line",
    "merge_fragments",
    "reading_order",
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

#: Pixels added around every detected line (after merging), then clipped to the page.
LINE_PAD = 4

#: Two boxes side by side on one line are merged when the gap between them is at most this many
#: times the lower box's height (word gaps in handwriting are well under one line height; column
#: gutters are wider). They must also overlap vertically by half the lower box's height.
MERGE_GAP = 1.0

#: Two lines whose horizontal extents overlap are in one column only if the vertical gap between them
#: is at most this many line heights (a blank line or two between paragraphs, not a date at the top of
#: a letter and a signature at its foot).
COLUMN_GAP = 3.0

#: Width / height at which an image counts as one text line for mode "auto". A line of even three
#: short words is 4 or more times as wide as tall (the demo lines: 5 to 12); a page, portrait or
#: landscape, is under 1.5; a paragraph of two or three lines under 3. 3.5 leaves room both ways.
LINE_ASPECT = 3.5

#: How 04_demo reads an image: "auto" (a line or a page, by :data:`LINE_ASPECT`), "lines" (each image is one
#: line) or "pages" (find the lines first).
READ_MODES = ("auto", "lines", "pages")


@dataclass
class LineBox:
    """One text line found on a page.

    Attributes:
        polygon: 4 points in page pixel coordinates, clockwise from top-left
            (top-left, top-right, bottom-right, bottom-left).
        score: The detector's mean text probability inside the box (0 to 1).
    """

    polygon: list[tuple[int, int]]
    score: float = 1.0

    def __post_init__(self) -> None:
        self.polygon = [(int(round(x)), int(round(y))) for x, y in self.polygon]
        if len(self.polygon) != 4:
            raise ValueError(f"a line box has 4 points, got {len(self.polygon)}")

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """Upright bounding box: left, top, right, bottom."""
        xs = [x for x, _ in self.polygon]
        ys = [y for _, y in self.polygon]
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def height(self) -> int:
        """Height of the bounding box."""
        _, top, _, bottom = self.bbox
        return bottom - top

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the bounding box."""
        left, top, right, bottom = self.bbox
        return (left + right) / 2, (top + bottom) / 2


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Length of the overlap of two intervals (negative: the gap between them)."""
    return min(a1, b1) - max(a0, b0)


def merge_fragments(boxes: Sequence[LineBox], *, max_gap: float = MERGE_GAP) -> list[LineBox]:
    """Merge boxes that are pieces of one line (words the detector split apart).

    Two boxes merge when they overlap vertically by at least half the lower
    one's height and the horizontal gap between them is at most ``max_gap``
    times that height. The merged box is the smallest rectangle around both
    whose top follows the line (from the left piece's top-left corner to the
    right piece's top-right corner); its score is the width-weighted mean.
    Repeated until nothing merges.

    Args:
        boxes: Detected boxes, any order.
        max_gap: Largest gap, in line heights, still taken for a word gap.

    Returns:
        The merged boxes, unordered.
    """
    out = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                al, at, ar, ab = a.bbox
                bl, bt, br, bb = b.bbox
                low = max(1, min(a.height, b.height))
                if _overlap(at, ab, bt, bb) < 0.5 * low or -_overlap(al, ar, bl, br) > max_gap * low:
                    continue
                wa, wb = max(1, ar - al), max(1, br - bl)
                out[i] = LineBox(_enclose(a, b), (a.score * wa + b.score * wb) / (wa + wb))
                del out[j]
                merged = True
                break
            if merged:
                break
    return out


def _enclose(a: LineBox, b: LineBox) -> list[tuple[float, float]]:
    """The smallest rectangle around two boxes on one line, sloping like the line.

    The slope runs from the left box's top-left corner to the right box's
    top-right corner; the rectangle's sides are parallel and perpendicular to it.
    """
    left, right = (a, b) if a.bbox[0] <= b.bbox[0] else (b, a)
    pts = np.asarray(left.polygon + right.polygon, dtype=np.float64)
    tl = pts[0]
    tr = pts[4 + 1] if right.bbox[2] >= left.bbox[2] else pts[1]
    u = (tr - tl) / (np.linalg.norm(tr - tl) or 1.0)
    if u[0] <= 0:
        u = np.array([1.0, 0.0])
    v = np.array([-u[1], u[0]])  # u turned a quarter clockwise on the page (y down): pointing down
    s, t = (pts - tl) @ u, (pts - tl) @ v
    corners = [(s.min(), t.min()), (s.max(), t.min()), (s.max(), t.max()), (s.min(), t.max())]
    return [tuple(tl + x * u + y * v) for x, y in corners]


def _pad(box: LineBox, pad: int, width: int, height: int) -> LineBox:
    """Grow a quadrilateral by ``pad`` pixels along its own axes, then clip it to the page."""
    pts = np.asarray(box.polygon, dtype=np.float64)
    along = (pts[1] - pts[0]) + (pts[2] - pts[3])
    across = (pts[3] - pts[0]) + (pts[2] - pts[1])
    u = along / (np.linalg.norm(along) or 1.0)
    v = across / (np.linalg.norm(across) or 1.0)
    signs = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    grown = [p + pad * (su * u + sv * v) for p, (su, sv) in zip(pts, signs)]
    clipped = [(min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)) for x, y in grown]
    return LineBox(clipped, box.score)


def reading_order(boxes: Sequence[LineBox]) -> list[LineBox]:
    """Put line boxes in reading order: columns left to right, each top to bottom.

    Columns: boxes whose horizontal extents overlap (by a quarter of the
    narrower box) with at most :data:`COLUMN_GAP` line heights between them
    vertically are in one column, transitively. Columns whose vertical
    extents overlap stand side by side and form a band, read left to right;
    bands are read top to bottom. Within a column, boxes are read top to
    bottom; boxes on the same height (overlapping by half the lower one) left
    to right.

    Args:
        boxes: Line boxes, any order.

    Returns:
        The same boxes, reordered.
    """
    items = list(boxes)
    n = len(items)
    if n < 2:
        return items
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    bb = [b.bbox for b in items]
    for i in range(n):
        for j in range(i + 1, n):
            narrow = max(1, min(bb[i][2] - bb[i][0], bb[j][2] - bb[j][0]))
            tall = max(1, bb[i][3] - bb[i][1], bb[j][3] - bb[j][1])
            if (_overlap(bb[i][0], bb[i][2], bb[j][0], bb[j][2]) >= 0.25 * narrow
                    and -_overlap(bb[i][1], bb[i][3], bb[j][1], bb[j][3]) <= COLUMN_GAP * tall):
                union(i, j)
    columns: dict[int, list[int]] = {}
    for i in range(n):
        columns.setdefault(find(i), []).append(i)
    cols = list(columns.values())
    extent = [(min(bb[i][1] for i in c), max(bb[i][3] for i in c), min(bb[i][0] for i in c)) for c in cols]

    # bands: columns that share some height, transitively
    parent = list(range(len(cols)))
    for a in range(len(cols)):
        for b in range(a + 1, len(cols)):
            if _overlap(extent[a][0], extent[a][1], extent[b][0], extent[b][1]) > 0:
                union(a, b)
    bands: dict[int, list[int]] = {}
    for a in range(len(cols)):
        bands.setdefault(find(a), []).append(a)

    ordered: list[LineBox] = []
    for band in sorted(bands.values(), key=lambda band: min(extent[a][0] for a in band)):
        for a in sorted(band, key=lambda a: extent[a][2]):
            ordered.extend(items[i] for i in _top_to_bottom(cols[a], bb))
    return ordered


def _top_to_bottom(indices: list[int], bb: list[tuple[int, int, int, int]]) -> list[int]:
    """Indices sorted by vertical centre; runs of boxes on one height, left to right."""
    by_y = sorted(indices, key=lambda i: (bb[i][1] + bb[i][3]) / 2)
    out: list[int] = []
    row: list[int] = []
    for i in by_y:
        if row:
            last = row[-1]
            low = max(1, min(bb[i][3] - bb[i][1], bb[last][3] - bb[last][1]))
            if _overlap(bb[i][1], bb[i][3], bb[last][1], bb[last][3]) < 0.5 * low:
                out.extend(sorted(row, key=lambda k: bb[k][0]))
                row = []
        row.append(i)
    out.extend(sorted(row, key=lambda k: bb[k][0]))
    return out


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


def detect_lines(page: Image.Image, *, max_side: int = MAX_SIDE) -> list[LineBox]:
    """Find the text lines on a page, in reading order.

    Args:
        page: The page image (PIL, any mode).
        max_side: Longest side the detector sees; larger pages are scaled
            down for detection (boxes are in the page's own pixels). Raise it
            for pages with very small writing, lower it for speed.

    Returns:
        One :class:`LineBox` per line, padded by :data:`LINE_PAD` and clipped
        to the page, in :func:`reading_order`; empty for a blank page.

    Raises:
        ValueError: ``max_side`` is under 32.
    """
    if max_side < 32:
        raise ValueError(f"max_side must be at least 32, got {max_side}")
    width, height = page.size
    if width < 2 or height < 2:
        return []
    result = _detector(int(max_side))(bgr_array(page))
    quads = getattr(result, "boxes", None)
    if quads is None or len(quads) == 0:
        return []
    scores = list(getattr(result, "scores", None) or [1.0] * len(quads))
    found = [LineBox([(float(x), float(y)) for x, y in quad], float(s)) for quad, s in zip(quads, scores)]
    found = [_pad(b, LINE_PAD, width, height) for b in merge_fragments(found)]
    return reading_order(found)


def crop_lines(page: Image.Image, boxes: Sequence[LineBox]) -> list[Image.Image]:
    """Cut line images out of a page, straightened along their boxes.

    Each box's quadrilateral is warped into an upright rectangle
    (:func:`inkwell.images.perspective_crop`, so a slightly sloping line comes
    out level). A box at least 1.5 times taller than wide (a short word or a
    number; PaddleOCR would turn it on its side) or a degenerate one is cut as
    its bounding box instead (:func:`inkwell.images.polygon_crop`).

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
    """Paste synthetic handwriting lines (:func:`inkwell.synth.render_line`) onto a white page.

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
        fonts: Font files for :func:`inkwell.synth.render_line` (empty: Pillow's bundled font).

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
