"""Marks (ruled registers only): the table fields the detector cannot see, ditto marks and dashes, as line boxes.

Stage ``reading`` (NumPy, OpenCV's connected components; OpenCV comes with rapidocr). Only a page with ruled
columns gets anything here: every mark must stand in a ruled cell, so a letter or a diary is left as it is.
Every limit is a share of the page's line height (:func:`~inkwell.reading.lines.geometry.line_height`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inkwell.reading.lines.geometry import LineBox, line_height, overlap
from inkwell.reading.lines.ink import RULE_SPAN, InkMask, rule_columns

__all__ = [
    "MARK_CELL",
    "MARK_LEVEL",
    "MARK_PAD",
    "MARK_REACH",
    "MARK_SIZE",
    "table_marks",
]


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
#: (:func:`~inkwell.reading.lines.ink.ink_mask`), lighter than :data:`~inkwell.reading.lines.ink.INK_LEVEL`: ditto marks are quick thin strokes that break up
#: when cut halfway.
MARK_LEVEL = 0.4




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

    Rules are searched (:func:`~inkwell.reading.lines.ink.rule_columns`) on :data:`~inkwell.reading.lines.ink.RULE_SPAN` line heights centred on
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


def _meets(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two upright boxes (left, top, right, bottom) overlap."""
    return overlap(a[0], a[2], b[0], b[2]) > 0 and overlap(a[1], a[3], b[1], b[3]) > 0


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
    A box no larger than a mark (:data:`MARK_SIZE`: on a crowded page seen closer, the detector boxes some
    ditto marks itself) counts as ink: its marks join the field they continue in their cell, and where there is
    no such field the detector's own tight box stays.

    Args:
        boxes: The page's line boxes (before padding).
        ink: The page's dark pixels, where marks are looked for (:func:`~inkwell.reading.lines.ink.ink_mask` at :data:`MARK_LEVEL`);
            None adds nothing.
        rules: Where ruled lines are looked for (:func:`~inkwell.reading.lines.ink.ink_mask` at :data:`~inkwell.reading.lines.ink.RULE_LEVEL`; default ``ink``).

    Returns:
        The boxes, those joined to marks replaced by the joined boxes, and the new ones after them (a box
        around marks only has score 0: the detector gave it none).
    """
    height = line_height(boxes)
    if ink is None or height <= 0:
        return list(boxes)
    rules = rules if rules is not None else ink
    given = list(boxes)
    small = [b for b in given if max(b.bbox[2] - b.bbox[0], b.bbox[3] - b.bbox[1]) <= MARK_SIZE[1] * height]
    boxes = [b for b in given if all(b is not s for s in small)]
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
        if not inside and any(_meets(b.bbox, m) for b in small for m in marks):
            continue  # marks the detector boxed itself, and no field to join them to: its own tight boxes stay
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
    gone = [boxes[k] for k in joined] + [b for b in small if any(_meets(b.bbox, a.bbox) for a in added)]
    return [b for b in given if all(b is not g for g in gone)] + added
