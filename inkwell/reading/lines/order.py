"""Order: lines in reading order, columns left to right, each top to bottom.

Stage ``reading`` (NumPy). Deliberately simple: boxes whose horizontal extents overlap and that are near each other
vertically belong to one column; columns that share some height stand side by side and are read left to right,
one after the other; blocks of columns that do not (a date above the letter, a signature below it) are read top to
bottom; within a column, top to bottom by the boxes' centres taken along the column's slope, an interlinear
insertion where it stands unless it runs past the end of the line below, which it then continues. On a page of text
only the long boxes that run across no two columns build the columns (columns that stand close are otherwise chained
into one by a box over both or an initial at their edge); on a table every box does, so its rows are read across.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inkwell.reading.lines.geometry import (MIN_LINES, LineBox, box_axes, height_at, is_long, is_table, overlap,
                                           same_line)

__all__ = [
    "COLUMN_GAP",
    "INSERT_ROOM",
    "INSERT_WIDTH",
    "reading_order",
]


#: A long box between two lines whose centres are at most this many times the column's line spacing apart (no room
#: for a line of its own between them) was written between them: an interlinear insertion.
INSERT_ROOM = 1.5

#: ... when it is at most this share of the line below it long.
INSERT_WIDTH = 0.5

#: Two lines whose horizontal extents overlap are in one column only if the vertical gap between them
#: is at most this many line heights (a blank line or two between paragraphs, not a date at the top of
#: a letter and a signature at its foot).
COLUMN_GAP = 3.0


def reading_order(boxes: Sequence[LineBox]) -> list[LineBox]:
    """Put line boxes in reading order: columns left to right, each top to bottom.

    Columns: boxes whose horizontal extents overlap (by a quarter of the
    narrower box) with at most :data:`COLUMN_GAP` line heights between them
    vertically are in one column, transitively. On a page of text
    (:func:`~inkwell.reading.lines.geometry.is_table` says no) only the long
    boxes link, less those in one column with two boxes side by side (the
    detector's box over a row of two close columns, a running title); every
    other box joins the column of the linking box it overlaps most. On a
    table every box links. Columns whose vertical
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

    def chain(indices: list[int]) -> None:  # boxes in one column with each other, transitively
        for a, i in enumerate(indices):
            for j in indices[a + 1:]:
                if _near(bb[i], bb[j]) is not None:
                    union(i, j)

    bb = [b.bbox for b in items]
    table = is_table(items)
    long = [i for i in range(n) if is_long(items[i])]
    if table:  # every box links, across fields too
        long = list(range(n))
    bridges = set() if table else {k for k in long if _bridges(k, long, bb)}
    linking = [i for i in long if i not in bridges] or long
    chain(linking)  # columns from the long boxes that bridge none
    loose = []
    linked = set(linking)
    for k in (k for k in range(n) if k not in linked):  # the others join the linking box they share most with
        middle = (bb[k][1] + bb[k][3]) / 2
        near = [(overlap(bb[k][0], bb[k][2], bb[j][0], bb[j][2]), -abs(middle - (bb[j][1] + bb[j][3]) / 2), j)
                for j in linking if j != k and _near(bb[k], bb[j]) is not None]
        if near:  # most shared across, then nearest up or down
            union(k, max(near)[2])
        else:
            loose.append(k)
    chain(loose)  # boxes near no linking box: among themselves
    columns: dict[int, list[int]] = {}
    for i in range(n):
        columns.setdefault(find(i), []).append(i)
    cols = list(columns.values())
    extent = [(min(bb[i][1] for i in c), max(bb[i][3] for i in c), min(bb[i][0] for i in c)) for c in cols]

    # bands: columns that share some height, transitively
    parent = list(range(len(cols)))
    for a in range(len(cols)):
        for b in range(a + 1, len(cols)):
            if overlap(extent[a][0], extent[a][1], extent[b][0], extent[b][1]) > 0:
                union(a, b)
    bands: dict[int, list[int]] = {}
    for a in range(len(cols)):
        bands.setdefault(find(a), []).append(a)

    ordered: list[LineBox] = []
    for band in sorted(bands.values(), key=lambda band: min(extent[a][0] for a in band)):
        for a in sorted(band, key=lambda a: extent[a][2]):
            ordered.extend(items[i] for i in _top_to_bottom(cols[a], items))
    return ordered


def _bridges(k: int, long: list[int], bb: list[tuple[int, int, int, int]]) -> bool:
    """Whether box ``k`` runs across two columns: it is in one column (:func:`_near`) with two boxes, each at least
    a third as wide as it, that stand side by side (no overlap across, some overlap down). So looks the detector's
    box over two lines of close columns, or a running title over both."""
    third = (bb[k][2] - bb[k][0]) / 3
    near = [j for j in long if j != k and bb[j][2] - bb[j][0] >= third and _near(bb[k], bb[j]) is not None]
    for a, i in enumerate(near):
        for j in near[a + 1:]:
            if overlap(bb[i][0], bb[i][2], bb[j][0], bb[j][2]) <= 0 < overlap(bb[i][1], bb[i][3], bb[j][1], bb[j][3]):
                return True
    return False


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float | None:
    """How much of the narrower box two boxes share across (0 to 1) when they are in one column: their
    horizontal extents overlap by a quarter of the narrower one, and at most :data:`COLUMN_GAP` line
    heights (the taller box's) lie between them vertically. None when they are not."""
    narrow = max(1, min(a[2] - a[0], b[2] - b[0]))
    tall = max(1, a[3] - a[1], b[3] - b[1])
    share = overlap(a[0], a[2], b[0], b[2]) / narrow
    if share >= 0.25 and -overlap(a[1], a[3], b[1], b[3]) <= COLUMN_GAP * tall:
        return share
    return None


def _top_to_bottom(indices: list[int], items: list[LineBox]) -> list[int]:
    """Indices sorted by vertical centre; boxes side by side on one row (pieces of one line, or a
    line and a note beside it), left to right.

    The vertical centres are taken along the column's slope (the median of its long boxes'): on a page written
    rising to the right, a short box at a line's left end stands lower on the page than the line's middle, and is
    still read with it. Two boxes are on one row when they do not overlap horizontally by more than a third of the
    narrower one and the right one's centre lies on the left one's centre line (:func:`~inkwell.reading.lines.geometry.same_line`
    with no limit on the gap). Bounding boxes alone would not do: the upright boxes of two sloping
    lines, one under the other, overlap vertically. An interlinear insertion that continues the line below it is
    then moved after that line (:func:`_insertions_after`).
    """
    slope = _slope([items[i] for i in indices])
    middle = float(np.median([items[i].center[0] for i in indices]))
    by_y = sorted(indices, key=lambda i: items[i].center[1] - slope * (items[i].center[0] - middle))
    out: list[int] = []
    row: list[int] = []
    for i in by_y:
        if row and not any(same_line(items[i], items[k], float("inf")) is not None for k in row):
            out.extend(sorted(row, key=lambda k: items[k].bbox[0]))
            row = []
        row.append(i)
    out.extend(sorted(row, key=lambda k: items[k].bbox[0]))
    return _insertions_after(out, items)



def _insertions_after(order: list[int], items: list[LineBox]) -> list[int]:
    """A column's order with each interlinear insertion that continues the line below it read after that line.

    An insertion is a long box (words added, not a mark) between two long lines that stand one line spacing apart
    (their centres at most :data:`INSERT_ROOM` times the column's median spacing), narrower than
    :data:`INSERT_WIDTH` of the line below it and lying across both lines (over half its width above each). Words
    added over a line's own words (with a caret) are read where they stand, before the line below, as archivists
    transcribe them, and sorting by height already puts them there. Words that run past the end of the line below,
    nearer to it than to the line above, continue it, written over its end for want of room (a will's ``ou à ses
    héritiers``): they are read after it.
    """
    centre = [items[i].center[1] for i in order]
    longs = [j for j in range(len(order)) if is_long(items[order[j]])]
    steps = [centre[b] - centre[a] for a, b in zip(longs, longs[1:])]
    if len(steps) < MIN_LINES:
        return order
    spacing = float(np.median(steps))
    out = list(order)
    j = 1
    while j < len(out) - 1:
        above, box, below = (items[out[j + d]] for d in (-1, 0, 1))
        a, k, b = above.bbox, box.bbox, below.bbox
        width = k[2] - k[0]
        if (all(map(is_long, (above, box, below))) and width <= INSERT_WIDTH * (b[2] - b[0])
                and min(overlap(k[0], k[2], a[0], a[2]), overlap(k[0], k[2], b[0], b[2])) > width / 2
                and below.center[1] - above.center[1] <= INSERT_ROOM * spacing
                and k[2] >= b[2]  # past the line's end: it continues that line
                and height_at(below, box.center[0]) - box.center[1] < box.center[1] - height_at(above, box.center[0])):
            out[j], out[j + 1] = out[j + 1], out[j]
            j += 2  # the insertion now follows its line: never moved twice
            continue
        j += 1
    return out


def _slope(boxes: list[LineBox]) -> float:
    """The median slope (down per pixel across) of the long boxes among these; 0 when there are none."""
    slopes = [u[1] / u[0] for u in (box_axes(b)[1] for b in boxes if is_long(b))]  # box_axes points right: u[0] > 0
    return float(np.median(slopes)) if slopes else 0.0
