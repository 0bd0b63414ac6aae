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
    "PPOCR_DET_MODEL",
    "READ_MODES",
    "LineBox",
    "SyntheticPage",
    "crop_lines",
    "detect_lines",
    "drop_edge_fragments",
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

#: Two boxes side by side on one line are joined by page mode when the gap between them is at most
#: this many times their height (0: only when they touch or overlap). Measured on real pages (a diary,
#: letters, registers; see README "Benchmarks"): PP-OCR's detector already keeps the words of a line
#: together and splits only at wide gaps, and what stands side by side on one row at gaps up to a line
#: height is nearly always two things (a register's fields, a note beside a line): 12 right joins
#: against 109 wrong at 1.0 there. Raise it (``detect_lines(merge_gap=...)``) for pages whose lines
#: come out cut into words.
MERGE_GAP = 0.0

#: A join of line pieces is refused when the box around them would be more than this many times as
#: tall as the tallest piece (measured across the line): pieces of one line make a box about as tall
#: as its tallest word, a line joined to the next one a box twice as tall.
MERGE_GROWTH = 1.5

#: Pieces of one line have centres on one line: the right piece's centre is at most this many times
#: the lower piece's height off the left piece's centre line (the next line is a whole height away).
MERGE_DRIFT = 0.25

#: A box this close to the scan's left or right edge (a share of the page width) touches it.
EDGE_MARGIN = 0.01

#: A box touching the left or right edge and shorter than this share of the page's median line length
#: is a cut-off piece of the facing page (:func:`drop_edge_fragments`).
EDGE_FRAGMENT = 0.35

#: How many line heights, centred on two line pieces, are searched for a ruled line between them.
RULE_SPAN = 6.0

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


def _axes(box: LineBox) -> tuple[np.ndarray, np.ndarray, float, float]:
    """A box's centre, direction along its text (pointing right), height across it and length along it.

    A box taller than wide (one letter, a number, a ditto mark) has no direction of its own: it is
    taken as level, with its upright bounding box's height and width.
    """
    pts = np.asarray(box.polygon, dtype=np.float64)
    along = ((pts[1] - pts[0]) + (pts[2] - pts[3])) / 2
    across = ((pts[3] - pts[0]) + (pts[2] - pts[1])) / 2
    length, height = float(np.linalg.norm(along)), float(np.linalg.norm(across))
    centre = pts.mean(axis=0)
    if length <= height or along[0] <= 0:
        left, top, right, bottom = box.bbox
        return centre, np.array([1.0, 0.0]), float(max(1, bottom - top)), float(max(1, right - left))
    return centre, along / length, max(1.0, height), length


def _same_line(a: LineBox, b: LineBox, max_gap: float) -> float | None:
    """The gap between two boxes when they are pieces of one line, else None.

    Pieces of one line stand side by side (their upright boxes overlap horizontally by at most a
    third of the narrower one), the gap between them is at most ``max_gap`` times their mean height,
    and the right piece's centre lies on the left piece's centre line, within half the lower
    piece's height (measured along the left piece's own slope, so a sloping line still joins
    while the line above or below it, one line height away, never does).
    """
    left, right = (a, b) if a.center[0] <= b.center[0] else (b, a)
    (ll, _, lr, _), (rl, _, rr, _) = left.bbox, right.bbox
    cl, ul, hl, _ = _axes(left)
    cr, _, hr, _ = _axes(right)
    narrow = max(1, min(lr - ll, rr - rl))
    if _overlap(ll, lr, rl, rr) > narrow / 3:
        return None
    gap = float(rl - lr)
    if gap > max_gap * (hl + hr) / 2:
        return None
    drift = cl[1] + (cr[0] - cl[0]) * ul[1] / ul[0] - cr[1]
    if abs(drift) > MERGE_DRIFT * min(hl, hr) or max(hl, hr) > MERGE_GROWTH * min(hl, hr):
        return None
    return gap


def _enclose_all(members: Sequence[LineBox]) -> tuple[list[tuple[float, float]], float]:
    """The rectangle around pieces of one line, sloping like the line, and its height across the line.

    The slope is the length-weighted fit of a straight line through the pieces' centres (one piece:
    its own direction); the rectangle's sides are parallel and perpendicular to it.
    """
    axes = [_axes(m) for m in members]
    if len(members) == 1:
        u = axes[0][1]
    else:
        xs = np.array([c[0] for c, *_ in axes])
        ys = np.array([c[1] for c, *_ in axes])
        w = np.array([length for *_, length in axes])
        mx, my = np.average(xs, weights=w), np.average(ys, weights=w)
        sxx = float(np.sum(w * (xs - mx) ** 2))
        slope = float(np.sum(w * (xs - mx) * (ys - my))) / sxx if sxx > 0 else 0.0
        u = np.array([1.0, slope]) / np.hypot(1.0, slope)
    v = np.array([-u[1], u[0]])  # u turned a quarter clockwise on the page (y down): pointing down
    pts = np.asarray([p for m in members for p in m.polygon], dtype=np.float64)
    origin = pts[0]
    s, t = (pts - origin) @ u, (pts - origin) @ v
    corners = [(s.min(), t.min()), (s.max(), t.min()), (s.max(), t.max()), (s.min(), t.max())]
    return [tuple(origin + x * u + y * v) for x, y in corners], float(t.max() - t.min())


def _ruled_between(ink: np.ndarray | None, a: LineBox, b: LineBox) -> bool:
    """Whether a ruled line (a table's column rule, a margin line) stands between two boxes on one row.

    ``ink`` is the page as a boolean array (True: dark). Looks at the strip between the two boxes
    (at least a few pixels wide), :data:`RULE_SPAN` line heights tall around the pair: it is ruled
    when, in nearly every band of one line height down that strip, some pixel column is dark over
    most of the band. Handwriting makes such a column in one band or two (an ascender, a long
    descender), never down several line heights.
    """
    if ink is None:
        return False
    left, right = (a, b) if a.center[0] <= b.center[0] else (b, a)
    height = max(1.0, (_axes(a)[2] + _axes(b)[2]) / 2)
    x0, x1 = sorted((left.bbox[2], right.bbox[0]))
    spare = max(2, int(height / 8))
    x0, x1 = max(0, int(x0) - spare), min(ink.shape[1], int(x1) + spare + 1)
    middle = (a.center[1] + b.center[1]) / 2
    y0 = max(0, int(middle - RULE_SPAN * height / 2))
    y1 = min(ink.shape[0], int(middle + RULE_SPAN * height / 2))
    band = max(1, int(height))
    bands = (y1 - y0) // band
    if x1 <= x0 or bands < 3:
        return False
    strip = ink[y0:y0 + bands * band, x0:x1].reshape(bands, band, x1 - x0)
    ruled = (strip.mean(axis=1) >= 0.8).any(axis=1)
    return bool(ruled.mean() >= 0.8)


def _gutter_between(items: Sequence[LineBox], i: int, j: int) -> bool:
    """Whether the gap between boxes ``i`` and ``j`` (side by side on one row) is a column gutter.

    Within :data:`RULE_SPAN` line heights above and below the pair, at least two other lines are
    found, and none of them crosses the middle of the gap: the gap runs down the page like the space
    between a table's columns or a page's columns. A gap between two words is crossed by the words of
    the lines above and below it.
    """
    a, b = items[i], items[j]
    left, right = (a, b) if a.center[0] <= b.center[0] else (b, a)
    middle = (left.bbox[2] + right.bbox[0]) / 2
    height = max(1.0, (_axes(a)[2] + _axes(b)[2]) / 2)
    row = (a.center[1] + b.center[1]) / 2
    neighbours = crossing = 0
    for k, other in enumerate(items):
        if k in (i, j):
            continue
        dy = abs(other.center[1] - row)
        if 0.5 * height < dy <= RULE_SPAN / 2 * height:
            neighbours += 1
            crossing += other.bbox[0] < middle < other.bbox[2]
    return neighbours >= 2 and crossing == 0


def ink_mask(page: Image.Image) -> np.ndarray:
    """The page's dark pixels (ink, printed rules) as a boolean array: darker than halfway between the
    paper (the median grey) and the darkest ink (the 1st percentile)."""
    gray = np.asarray(page.convert("L"))
    sample = gray[:: max(1, gray.shape[0] // 256), :: max(1, gray.shape[1] // 256)]
    paper, dark = np.median(sample), np.percentile(sample, 1)
    return gray < (paper + dark) / 2


def merge_fragments(boxes: Sequence[LineBox], *, max_gap: float = MERGE_GAP,
                    ink: np.ndarray | None = None) -> list[LineBox]:
    """Join boxes that are pieces of one line (words the detector split apart); never join two lines.

    Candidate pairs are pieces of one line by :func:`_same_line`; they are joined nearest first, each
    join building one rectangle around all the pieces of the line so far (:func:`_enclose_all`), and a
    join is refused when that rectangle would be more than :data:`MERGE_GROWTH` times as tall as its
    tallest piece: that is what a line joined to its neighbour above or below looks like, and what
    chained a whole page into one box before. The joined box's score is the length-weighted mean of
    its pieces'.

    Args:
        boxes: Detected boxes, any order.
        max_gap: Largest gap between two pieces, in line heights, still taken for a word gap.
        ink: The page's dark pixels (:func:`ink_mask`); when given, two pieces with a ruled line
            between them (table cells, a margin rule) are never joined.

    Returns:
        The merged boxes, unordered.
    """
    items = list(boxes)
    n = len(items)
    if n < 2:
        return items
    bb = [b.bbox for b in items]
    order = sorted(range(n), key=lambda k: bb[k][1])  # by top: only boxes that share some height are tried
    pairs = []
    for a, i in enumerate(order):
        for j in order[a + 1:]:
            if bb[j][1] >= bb[i][3]:
                break
            gap = _same_line(items[i], items[j], max_gap)
            if gap is not None and not _gutter_between(items, i, j) and not _ruled_between(ink, items[i], items[j]):
                pairs.append((gap, min(i, j), max(i, j)))
    pairs.sort()
    group = list(range(n))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    tallest = {i: _axes(items[i])[2] for i in range(n)}
    for _gap, i, j in pairs:
        gi, gj = group[i], group[j]
        if gi == gj:
            continue
        joined = members[gi] + members[gj]
        _, height = _enclose_all([items[k] for k in joined])
        top = max(tallest[gi], tallest[gj])
        if height > MERGE_GROWTH * top:
            continue
        for k in members[gj]:
            group[k] = gi
        members[gi], tallest[gi] = joined, top
        del members[gj], tallest[gj]
    out = []
    for ks in members.values():
        if len(ks) == 1:
            out.append(items[ks[0]])
            continue
        polygon, _ = _enclose_all([items[k] for k in ks])
        weights = [_axes(items[k])[3] for k in ks]
        score = sum(items[k].score * w for k, w in zip(ks, weights)) / sum(weights)
        out.append(LineBox(polygon, score))
    return out


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
            ordered.extend(items[i] for i in _top_to_bottom(cols[a], items))
    return ordered


def _top_to_bottom(indices: list[int], items: list[LineBox]) -> list[int]:
    """Indices sorted by vertical centre; boxes side by side on one row (pieces of one line, or a
    line and a note beside it), left to right.

    Two boxes are on one row when they do not overlap horizontally by more than a third of the
    narrower one and the right one's centre lies on the left one's centre line (:func:`_same_line`
    with no limit on the gap). Bounding boxes alone would not do: the upright boxes of two sloping
    lines, one under the other, overlap vertically.
    """
    by_y = sorted(indices, key=lambda i: items[i].center[1])
    out: list[int] = []
    row: list[int] = []
    for i in by_y:
        if row and not any(_same_line(items[i], items[k], float("inf")) is not None for k in row):
            out.extend(sorted(row, key=lambda k: items[k].bbox[0]))
            row = []
        row.append(i)
    out.extend(sorted(row, key=lambda k: items[k].bbox[0]))
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
    result = _detector(int(max_side))(bgr_array(page))
    quads = getattr(result, "boxes", None)
    if quads is None or len(quads) == 0:
        return []
    scores = list(getattr(result, "scores", None) or [1.0] * len(quads))
    found = [LineBox([(float(x), float(y)) for x, y in quad], float(s)) for quad, s in zip(quads, scores)]
    found = drop_edge_fragments(found, width, height)
    found = [_pad(b, LINE_PAD, width, height) for b in merge_fragments(found, max_gap=merge_gap, ink=ink_mask(page))]
    return reading_order(found)


def drop_edge_fragments(boxes: Sequence[LineBox], width: int, height: int) -> list[LineBox]:
    """Leave out the cut-off pieces of a neighbouring page that a scan shows at its left or right edge.

    A box that touches the scan's left or right edge (within :data:`EDGE_MARGIN` of the width) and
    is shorter than :data:`EDGE_FRAGMENT` times the page's median line length is such a piece: the
    facing page's line ends or starts, cut by the scan. A full line that runs to the edge, or a
    page whose lines are all short, keeps everything.

    Args:
        boxes: Line boxes on one page.
        width: The page's width in pixels.
        height: The page's height in pixels.

    Returns:
        The boxes that are not edge fragments, in the order given.
    """
    if len(boxes) < 3:
        return list(boxes)
    lengths = sorted(_axes(b)[3] for b in boxes)
    typical = lengths[len(lengths) // 2]
    margin = EDGE_MARGIN * width
    kept = []
    for box in boxes:
        left, _, right, _ = box.bbox
        at_edge = left <= margin or right >= width - 1 - margin
        if at_edge and _axes(box)[3] < EDGE_FRAGMENT * typical:
            continue
        kept.append(box)
    return kept


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
