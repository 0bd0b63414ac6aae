"""Join: boxes side by side on one line (words the detector split apart) become one box; never two lines.

Stage ``reading`` (NumPy). Pieces of one line by :func:`~inkwell.reading.lines.geometry.same_line`, never across a
ruled line or a column gutter, never into a box much taller than its pieces
(:data:`~inkwell.reading.lines.geometry.MERGE_GROWTH`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inkwell.reading.lines.geometry import MERGE_GROWTH, LineBox, box_axes, same_line
from inkwell.reading.lines.gutters import GUTTER_SLACK, lines_around
from inkwell.reading.lines.ink import InkMask, rule_columns

__all__ = [
    "MERGE_GAP",
    "merge_fragments",
]


#: Two boxes side by side on one line are joined by page mode when the gap between them is at most
#: this many times their height (0: only when they touch or overlap). Measured on real pages (a diary,
#: letters, registers; see docs/benchmarks.md): PP-OCR's detector already keeps the words of a line
#: together and splits only at wide gaps, and what stands side by side on one row at gaps up to a line
#: height is nearly always two things (a register's fields, a note beside a line): 12 right joins
#: against 109 wrong at 1.0 there. Raise it (``detect_lines(merge_gap=...)``) for pages whose lines
#: come out cut into words.
MERGE_GAP = 0.0


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

    ``ink`` is the page's dark pixels (:func:`~inkwell.reading.lines.ink.ink_mask`); the strip between the two boxes,
    and half their height into each (a detector's box may overhang the rule by its padding: a register's date
    touching its column rule), is searched for a column ruled down the page
    (:func:`~inkwell.reading.lines.ink.rule_columns`).
    """
    if ink is None:
        return False
    left, right = (a, b) if a.center[0] <= b.center[0] else (b, a)
    height = max(1.0, (box_axes(a)[2] + box_axes(b)[2]) / 2)
    x0, x1 = sorted((left.bbox[2], right.bbox[0]))
    spare = max(2, int(height / 2))  # a detector box may overhang the rule by its padding
    middle = (a.center[1] + b.center[1]) / 2
    return bool(rule_columns(ink, x0 - spare, x1 + spare, middle, height)[0].any())


def _gutter_between(items: Sequence[LineBox], i: int, j: int) -> bool:
    """Whether the gap between boxes ``i`` and ``j`` (side by side on one row) is a column gutter.

    Within :data:`~inkwell.reading.lines.ink.RULE_SPAN` line heights above and below the pair, at least two other lines are
    found, and none of them crosses the middle of the gap (by more than
    :data:`~inkwell.reading.lines.gutters.GUTTER_SLACK` line heights either
    side): the gap runs down the page like the space
    between a table's columns or a page's columns. A gap between two words is crossed by the words of
    the lines above and below it.
    """
    a, b = items[i], items[j]
    left, right = (a, b) if a.center[0] <= b.center[0] else (b, a)
    middle = (left.bbox[2] + right.bbox[0]) / 2
    height = max(1.0, (box_axes(a)[2] + box_axes(b)[2]) / 2)
    row = (a.center[1] + b.center[1]) / 2
    around = lines_around(items, row, height, (a, b))
    slack = GUTTER_SLACK * height
    return len(around) >= 2 and not any(x0 + slack < middle < x1 - slack for x0, _, x1, _ in around)


def merge_fragments(boxes: Sequence[LineBox], *, max_gap: float = MERGE_GAP,
                    ink: InkMask | None = None) -> list[LineBox]:
    """Join boxes that are pieces of one line (words the detector split apart); never join two lines.

    Candidate pairs are pieces of one line by :func:`~inkwell.reading.lines.geometry.same_line`; they are joined nearest first, each
    join building one rectangle around all the pieces of the line so far (:func:`_enclose_all`), and a
    join is refused when that rectangle would be more than :data:`~inkwell.reading.lines.geometry.MERGE_GROWTH` times as tall as its
    tallest piece: that is what a line joined to its neighbour above or below looks like, and what
    chained a whole page into one box before. The joined box's score is the length-weighted mean of
    its pieces'.

    Args:
        boxes: Detected boxes, any order.
        max_gap: Largest gap between two pieces, in line heights, still taken for a word gap.
        ink: The page's dark pixels (:func:`~inkwell.reading.lines.ink.ink_mask`); when given, two pieces with a ruled line
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
            gap = same_line(items[i], items[j], max_gap)
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
