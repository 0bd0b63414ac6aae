"""Line boxes on a page and what is done with the detector's boxes: joined, cut, cleaned, put in reading order.

Stage ``reading`` (NumPy and Pillow only): :mod:`inkwell.reading.pages` runs the detector and calls these.

* Joining (:func:`merge_fragments`): boxes side by side on one line, by each box's own slope and
  height, never across a ruled line or a column gutter, never into a box much taller than its pieces.
* Cutting (:func:`split_at_rules`): a box a ruled line crosses (a table row's fields run together).
* Cleaning (:func:`drop_edge_fragments`): cut-off pieces of a facing page at the scan's edge.
* Judging (:func:`crowding`): lines too close for the size the detector saw the page at.
* Reading order (:func:`reading_order`), deliberately simple: boxes whose horizontal extents overlap
  and that are near each other vertically belong to one column; columns that share some height stand
  side by side and are read left to right, one after the other; blocks of columns that do not (a date
  above the letter, a signature below it) are read top to bottom; within a column, top to bottom by
  the boxes' centre lines. A heading that spans two columns joins them into one column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "COLUMN_GAP",
    "EDGE_FRAGMENT",
    "EDGE_MARGIN",
    "INK_LEVEL",
    "INK_SIDE",
    "LINE_PAD",
    "MERGE_DRIFT",
    "MERGE_GAP",
    "MERGE_GROWTH",
    "RULE_SPAN",
    "InkMask",
    "LineBox",
    "box_axes",
    "rule_columns",
    "crowding",
    "drop_edge_fragments",
    "ink_mask",
    "ink_masks",
    "merge_fragments",
    "pad_box",
    "reading_order",
    "split_at_rules",
]


#: Pixels added around every detected line (after merging), then clipped to the page.
LINE_PAD = 4


#: Two boxes side by side on one line are joined by page mode when the gap between them is at most
#: this many times their height (0: only when they touch or overlap). Measured on real pages (a diary,
#: letters, registers; see docs/benchmarks.md): PP-OCR's detector already keeps the words of a line
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


#: Longest side of the page's ink mask (:func:`ink_mask`): ruled lines are looked for at this size.
INK_SIDE = 2400


#: A pixel is ink when it is darker than this share of the way from the paper to the darkest ink: halfway
#: keeps pen strokes whole and leaves out most ink showing through from the back of the leaf.
INK_LEVEL = 0.5


#: How many line heights, centred on two line pieces, are searched for a ruled line between them.
RULE_SPAN = 6.0


#: Two lines whose horizontal extents overlap are in one column only if the vertical gap between them
#: is at most this many line heights (a blank line or two between paragraphs, not a date at the top of
#: a letter and a signature at its foot).
COLUMN_GAP = 3.0


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


def box_axes(box: LineBox) -> tuple[np.ndarray, np.ndarray, float, float]:
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
    cl, ul, hl, _ = box_axes(left)
    cr, _, hr, _ = box_axes(right)
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
    axes = [box_axes(m) for m in members]
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


def _ruled_between(ink: InkMask | None, a: LineBox, b: LineBox) -> bool:
    """Whether a ruled line (a table's column rule, a margin line) stands between two boxes on one row.

    ``ink`` is the page's dark pixels (:func:`ink_mask`); the strip between the two boxes (at least a
    few pixels wide) is searched for a column ruled down the page (:func:`rule_columns`).
    """
    if ink is None:
        return False
    left, right = (a, b) if a.center[0] <= b.center[0] else (b, a)
    height = max(1.0, (box_axes(a)[2] + box_axes(b)[2]) / 2)
    x0, x1 = sorted((left.bbox[2], right.bbox[0]))
    spare = max(2, int(height / 8))
    middle = (a.center[1] + b.center[1]) / 2
    return bool(rule_columns(ink, x0 - spare, x1 + spare, middle, height)[0].any())


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
    height = max(1.0, (box_axes(a)[2] + box_axes(b)[2]) / 2)
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


@dataclass
class InkMask:
    """A page's dark pixels (ink, printed rules), in blocks of ``step`` x ``step`` page pixels.

    Attributes:
        mask: Boolean array, True where dark.
        step: Page pixels per mask pixel (1: full resolution).
    """

    mask: np.ndarray
    step: int = 1


def rule_columns(ink: InkMask, x0: float, x1: float, centre_y: float,
                 height: float) -> tuple[np.ndarray, float]:
    """For each column from ``x0`` to ``x1`` (page pixels, every ``ink.step``-th): whether a ruled line runs
    down it, and the page x of the first column.

    A column is ruled when, in nearly every band of one line height down :data:`RULE_SPAN` line
    heights around ``centre_y``, it (or a column a few pixels beside it: rules are seldom exactly
    upright on a scan) is dark over most of the band. Handwriting makes such a column in one band or
    two (an ascender, a long descender), never down several line heights.
    """
    step, mask = ink.step, ink.mask
    height = height / step
    c0, c1 = max(0, int(x0 // step)), min(mask.shape[1], int(x1 // step) + 1)
    y0 = max(0, int(centre_y / step - RULE_SPAN * height / 2))
    y1 = min(mask.shape[0], int(centre_y / step + RULE_SPAN * height / 2))
    band = max(1, int(height))
    bands = (y1 - y0) // band
    if c1 <= c0 or bands < 3:
        return np.zeros(max(0, c1 - c0), dtype=bool), float(c0 * step)
    strip = mask[y0:y0 + bands * band, c0:c1].reshape(bands, band, c1 - c0)
    dark = strip.mean(axis=1) >= 0.8  # bands x columns
    near = dark.copy()
    for shift in range(1, max(1, int(height / 8)) + 1):  # a rule a little off upright still counts in every band
        near[:, shift:] |= dark[:, :-shift]
        near[:, :-shift] |= dark[:, shift:]
    return near.mean(axis=0) >= 0.8, float(c0 * step)


def split_at_rules(boxes: Sequence[LineBox], ink: InkMask | None) -> list[LineBox]:
    """Cut boxes where a ruled line crosses them: the detector sometimes runs a table row's fields, or a
    heading across a book's gutter, into one box.

    A cut is made at each run of ruled columns (:func:`rule_columns`) that leaves at least half a
    line height of box on either side; the pieces keep the box's slope and score.

    Args:
        boxes: Detected boxes.
        ink: The page's dark pixels (:func:`ink_mask`); None leaves the boxes as they are.

    Returns:
        The boxes, those crossed by a rule replaced by their pieces.
    """
    if ink is None:
        return list(boxes)
    out: list[LineBox] = []
    for box in boxes:
        left, _, right, _ = box.bbox
        _, _, height, _ = box_axes(box)
        margin = max(2, int(height / 2))
        ruled, first = rule_columns(ink, left + margin, right - margin, box.center[1], height)
        if not ruled.any():
            out.append(box)
            continue
        cuts, x = [], 0
        while x < len(ruled):  # the middle of each run of ruled columns
            if ruled[x]:
                start = x
                while x < len(ruled) and ruled[x]:
                    x += 1
                cuts.append(first + (start + x - 1) / 2 * ink.step)
            x += 1
        out.extend(_cut(box, cuts))
    return out


def _cut(box: LineBox, cuts: Sequence[float]) -> list[LineBox]:
    """A quadrilateral cut by upright lines at the given x positions (its top and bottom edges kept)."""
    tl, tr, br, bl = (np.asarray(p, dtype=np.float64) for p in box.polygon)

    def at(a: np.ndarray, b: np.ndarray, x: float) -> tuple[float, float]:
        t = 0.0 if b[0] == a[0] else min(1.0, max(0.0, (x - a[0]) / (b[0] - a[0])))
        p = a + t * (b - a)
        return float(p[0]), float(p[1])

    edges = [None, *sorted(cuts), None]
    pieces = []
    for x_left, x_right in zip(edges, edges[1:]):
        top_left = tuple(tl) if x_left is None else at(tl, tr, x_left)
        bottom_left = tuple(bl) if x_left is None else at(bl, br, x_left)
        top_right = tuple(tr) if x_right is None else at(tl, tr, x_right)
        bottom_right = tuple(br) if x_right is None else at(bl, br, x_right)
        pieces.append(LineBox([top_left, top_right, bottom_right, bottom_left], box.score))
    return pieces


def ink_mask(page: Image.Image, max_side: int = INK_SIDE, level: float = INK_LEVEL) -> InkMask:
    """The page's dark pixels (ink, printed rules): darker than ``level`` of the way from the paper (the
    median grey) to the darkest ink (the 1st percentile), in blocks of n x n pixels so that the longer
    side is at most ``max_side`` (ruled lines and gutters are searched there, :func:`split_at_rules`)."""
    return ink_masks(page, (level,), max_side)[0]


def ink_masks(page: Image.Image, levels: Sequence[float], max_side: int = INK_SIDE) -> list[InkMask]:
    """:func:`ink_mask` at several levels at once (the page is greyed and reduced to blocks once)."""
    step = max(1, -(-max(page.size) // max_side))
    gray = np.asarray(page.convert("L"))
    sample = gray[:: max(1, gray.shape[0] // 256), :: max(1, gray.shape[1] // 256)]
    paper, dark = float(np.median(sample)), float(np.percentile(sample, 1))
    if step > 1:  # a block is as dark as its darkest pixel: a rule one pixel wide is kept
        h, w = (gray.shape[0] // step) * step, (gray.shape[1] // step) * step
        gray = gray[:h, :w].reshape(h // step, step, w).min(axis=1).reshape(h // step, w // step, step).min(axis=2)
    return [InkMask(gray < paper - level * (paper - dark), step) for level in levels]


def merge_fragments(boxes: Sequence[LineBox], *, max_gap: float = MERGE_GAP,
                    ink: InkMask | None = None) -> list[LineBox]:
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
    tallest = {i: box_axes(items[i])[2] for i in range(n)}
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
        weights = [box_axes(items[k])[3] for k in ks]
        score = sum(items[k].score * w for k, w in zip(ks, weights)) / sum(weights)
        out.append(LineBox(polygon, score))
    return out


def pad_box(box: LineBox, pad: int, width: int, height: int) -> LineBox:
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


def crowding(boxes: Sequence[LineBox]) -> float:
    """How much taller the lines' boxes are than the spacing between them: the median, over lines with a
    line below them in the same column, of the box's height over the distance to the next centre below.

    Boxes of one line each stand about 1.5 line spacings tall (the detector grows each text core);
    around 2 or more, boxes hold two lines each, staggered: the page's lines are too close for the
    size the detector saw it at. 0 when fewer than 4 lines can be compared.
    """
    wide = [(b, box_axes(b)[2]) for b in boxes if box_axes(b)[3] > 4 * box_axes(b)[2]]
    ratios = []
    for box, height in wide:
        left, _, right, _ = box.bbox
        below = [c for c, _ in wide if c.center[1] > box.center[1]
                 and _overlap(left, right, c.bbox[0], c.bbox[2]) > 0.5 * min(right - left, c.bbox[2] - c.bbox[0])]
        if below:
            pitch = min(c.center[1] for c in below) - box.center[1]
            ratios.append(height / max(1.0, pitch))
    return float(np.median(ratios)) if len(ratios) >= 4 else 0.0


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
    lengths = sorted(box_axes(b)[3] for b in boxes)
    typical = lengths[len(lengths) // 2]
    margin = EDGE_MARGIN * width
    kept = []
    for box in boxes:
        left, _, right, _ = box.bbox
        at_edge = left <= margin or right >= width - 1 - margin
        if at_edge and box_axes(box)[3] < EDGE_FRAGMENT * typical:
            continue
        kept.append(box)
    return kept

