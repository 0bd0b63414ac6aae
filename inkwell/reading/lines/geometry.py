"""Geometry of the lines found on a page: the line record, a box's axes, the page's line height, and what makes
two boxes pieces of one line.

Stage ``reading`` (NumPy only). Shared by every stage of :mod:`inkwell.reading.lines`: the facts about what one line
looks like (how far its pieces may drift, how much taller a join may grow) live here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "COLUMN_LINK",
    "LINE_PAD",
    "MERGE_DRIFT",
    "MERGE_GROWTH",
    "MIN_LINES",
    "SIDEWAYS_ASPECT",
    "SIDEWAYS_LENGTH",
    "TEXT_SHARE",
    "LineBox",
    "box_axes",
    "cut_across",
    "cut_where",
    "height_at",
    "is_long",
    "is_sideways",
    "is_table",
    "line_height",
    "overlap",
    "pad_box",
    "same_line",
]


#: Every line found is grown by this share of the page's line height along its own axes (then clipped to the page):
#: the detector's box can clip a first or last letter's tail. Relative, so a 400 dpi scan gets as much room as a
#: 150 dpi one.
LINE_PAD = 0.05


#: Pieces of one line have centres on one line: the right piece's centre is at most this many times
#: the lower piece's height off the left piece's centre line (the next line is a whole height away).
MERGE_DRIFT = 0.25


#: A join of line pieces is refused when the box around them would be more than this many times as
#: tall as the tallest piece (measured across the line): pieces of one line make a box about as tall
#: as its tallest word, a line joined to the next one a box twice as tall.
MERGE_GROWTH = 1.5


#: A box at least this many times as long as it is tall is a long one: a line of text, or most of one, rather than
#: an initial, a number, a ditto mark or a register's short field.
COLUMN_LINK = 3.0


#: An upright box at least this many times taller than wide is a line written sideways...
SIDEWAYS_ASPECT = 2.5

#: ... when it is also at least this many line heights long (a tall letter or a number is not a line).
SIDEWAYS_LENGTH = 2.0


#: A page where fewer than this share of the boxes are long (:data:`COLUMN_LINK`) is a table (a register's numbers,
#: dates, ditto marks and names in ruled fields) rather than a page of text: its rows are read across, and its
#: fields' gaps are no column gutters. Measured on the shared pages: registers 0.34-0.42, text pages 0.5-0.99.
TEXT_SHARE = 0.5


#: Fewest level boxes (at least twice as long as tall) a page needs for its line height to be known.
MIN_LINES = 4


@dataclass
class LineBox:
    """One text line found on a page.

    Attributes:
        polygon: The line's outline in page pixel coordinates. A detector's box is 4 points, clockwise from
            top-left (top-left, top-right, bottom-right, bottom-left); a line's final outline (one that
            follows the gaps between it and its neighbours, or a baseline segmenter's boundary) has more.
        score: The detector's mean text probability inside the box (0 to 1).
        baseline: The line's baseline, left to right in reading direction (empty: none known). A baseline
            running up or down the page marks a line written sideways: its crop is turned to read upright.
        flags: What page mode noticed about the line (e.g. ``"probably_not_text"``), shown with its reading.
    """

    polygon: list[tuple[int, int]]
    score: float = 1.0
    baseline: list[tuple[int, int]] = field(default_factory=list)
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.polygon = [(int(round(x)), int(round(y))) for x, y in self.polygon]
        self.baseline = [(int(round(x)), int(round(y))) for x, y in self.baseline]
        if len(self.polygon) < 3:
            raise ValueError(f"a line's outline has at least 3 points, got {len(self.polygon)}")

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


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Length of the overlap of two intervals (negative: the gap between them)."""
    return min(a1, b1) - max(a0, b0)


def box_axes(box: LineBox) -> tuple[np.ndarray, np.ndarray, float, float]:
    """A box's centre, direction along its text (pointing right), height across it and length along it.

    A box taller than wide (one letter, a number, a ditto mark) has no direction of its own: it is
    taken as level, with its upright bounding box's height and width; so is an outline that is no 4-point box (a
    line cut along its seams, :mod:`~inkwell.reading.lines.outline`), whose first points need not be its corners.
    """
    pts = np.asarray(box.polygon, dtype=np.float64)
    centre = pts.mean(axis=0)
    if len(pts) == 4:
        along = ((pts[1] - pts[0]) + (pts[2] - pts[3])) / 2
        across = ((pts[3] - pts[0]) + (pts[2] - pts[1])) / 2
        length, height = float(np.linalg.norm(along)), float(np.linalg.norm(across))
        if length > height and along[0] > 0:
            return centre, along / length, max(1.0, height), length
    left, top, right, bottom = box.bbox
    return centre, np.array([1.0, 0.0]), float(max(1, bottom - top)), float(max(1, right - left))


def height_at(box: LineBox, x: float) -> float:
    """The page y of a box's centre line at page x, along the box's own slope (:func:`box_axes`: level for a box
    taller than wide)."""
    centre, along, _, _ = box_axes(box)
    return float(centre[1] + (x - centre[0]) * along[1] / along[0])


def line_height(boxes: Sequence[LineBox]) -> float:
    """The page's line height: the median height of its level boxes (at least twice as long as tall), or 0
    when fewer than :data:`MIN_LINES` such boxes are found (too few to tell). Every size threshold of page
    mode is a share of it, so each follows the scan's resolution and the writing's size."""
    heights = [axes[2] for axes in map(box_axes, boxes) if axes[3] >= 2 * axes[2]]
    return float(np.median(heights)) if len(heights) >= MIN_LINES else 0.0


def same_line(a: LineBox, b: LineBox, max_gap: float) -> float | None:
    """The gap between two boxes when they are pieces of one line, else None.

    Pieces of one line stand side by side (their upright boxes overlap horizontally by at most a
    third of the narrower one), the gap between them is at most ``max_gap`` times their mean height,
    and the right piece's centre lies on the left piece's centre line, within half the lower
    piece's height (measured along the left piece's own slope, so a sloping line still joins
    while the line above or below it, one line height away, never does).
    """
    left, right = (a, b) if a.center[0] <= b.center[0] else (b, a)
    (ll, _, lr, _), (rl, _, rr, _) = left.bbox, right.bbox
    _, _, hl, _ = box_axes(left)
    cr, _, hr, _ = box_axes(right)
    narrow = max(1, min(lr - ll, rr - rl))
    if overlap(ll, lr, rl, rr) > narrow / 3:
        return None
    gap = float(rl - lr)
    if gap > max_gap * (hl + hr) / 2:
        return None
    drift = height_at(left, cr[0]) - cr[1]
    if abs(drift) > MERGE_DRIFT * min(hl, hr) or max(hl, hr) > MERGE_GROWTH * min(hl, hr):
        return None
    return gap


def is_long(box: LineBox) -> bool:
    """Whether a box is long (:data:`COLUMN_LINK`), on its upright bounding box."""
    left, top, right, bottom = box.bbox
    return right - left >= COLUMN_LINK * max(1, bottom - top)


def is_sideways(box: LineBox, height: float) -> bool:
    """Whether a box is a line written sideways, up or down the page (:data:`SIDEWAYS_ASPECT`,
    :data:`SIDEWAYS_LENGTH`), given the page's line height."""
    left, top, right, bottom = box.bbox
    tall = bottom - top
    return tall >= SIDEWAYS_ASPECT * max(1, right - left) and tall >= SIDEWAYS_LENGTH * height


def is_table(boxes: Sequence[LineBox]) -> bool:
    """Whether the boxes found on a page make a table: fewer than :data:`TEXT_SHARE` of them long."""
    return sum(map(is_long, boxes)) < max(2, TEXT_SHARE * len(boxes))


def cut_across(box: LineBox, cuts: Sequence[float]) -> list[LineBox]:
    """A quadrilateral cut by upright lines at the given page x positions (its top and bottom edges kept, its score
    and slope too), left to right."""
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


def cut_where(boxes: Sequence[LineBox], where: Callable[[LineBox], float | None]) -> list[LineBox]:
    """Cut each long box (:func:`is_long`) at the page x ``where`` gives for it (None: left whole), then look at each
    piece again, until no piece is cut: the boxes in the order given, each cut one replaced by its pieces, left to
    right."""
    out: list[LineBox] = []
    todo = list(boxes)[::-1]
    while todo:
        box = todo.pop()
        cut = where(box) if is_long(box) else None
        if cut is None:
            out.append(box)
        else:
            todo.extend(cut_across(box, [cut])[::-1])
    return out


def pad_box(box: LineBox, pad: float, width: int, height: int) -> LineBox:
    """Grow a quadrilateral by ``pad`` pixels along its own axes, then clip it to the page."""
    pts = np.asarray(box.polygon, dtype=np.float64)
    along = (pts[1] - pts[0]) + (pts[2] - pts[3])
    across = (pts[3] - pts[0]) + (pts[2] - pts[1])
    u = along / (np.linalg.norm(along) or 1.0)
    v = across / (np.linalg.norm(across) or 1.0)
    signs = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    grown = [p + pad * (su * u + sv * v) for p, (su, sv) in zip(pts, signs)]
    clipped = [(min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)) for x, y in grown]
    return LineBox(clipped, box.score, flags=box.flags)
