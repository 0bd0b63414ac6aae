"""Gutters: a box the detector ran across two columns of a page of text is cut where the columns' gutter runs.

Stage ``reading`` (NumPy). Where two columns stand close (a medieval table of contents in four columns, two columns of
verse a few letters apart), PP-OCR's detector, which sees the page small, now and then draws one box over a line of
each. The lines above and below it, found apart, show the gutter: a stretch down the page that none of them crosses,
with lines ending to its left and starting to its right. The box is cut there, at a gap in its own ink, so no letter
is cut. A table's fields are no columns of text (:func:`~inkwell.reading.lines.geometry.is_table`): its boxes are
left as they are, and its ruled lines are cut at by :func:`~inkwell.reading.lines.clean.split_at_rules`.

The gutter is found from the boxes around, not from the ink alone: handwriting is too sparse for a white channel in
the ink mask to tell a gutter from a word gap, and a register's fields line up like columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inkwell.reading.lines.geometry import LineBox, box_axes, cut_where, is_table
from inkwell.reading.lines.ink import RULE_SPAN, InkMask, runs

__all__ = [
    "GUTTER_LINES",
    "GUTTER_SIDE",
    "GUTTER_SLACK",
    "lines_around",
    "split_at_gutters",
]


#: A gutter needs at least this many lines found apart on each side of it, within
#: :data:`~inkwell.reading.lines.ink.RULE_SPAN` line heights above and below the box: two columns, not one line's
#: wide word gap.
GUTTER_LINES = 2


#: Each piece of a box cut at a gutter is at least this many of the box's heights long (a column's line, not an
#: initial or a verse's first letter set apart).
GUTTER_SIDE = 2.0


#: A line above or below crosses a gutter only where it runs more than this many line heights into it: the
#: detector's boxes of two close columns overlap the next column's line ends a little (its boxes are padded).
GUTTER_SLACK = 0.5


def lines_around(boxes: Sequence[LineBox], y: float, height: float,
                 skip: Sequence[LineBox] = ()) -> list[tuple[int, int, int, int]]:
    """The upright boxes of the lines (``skip`` left out) whose centres lie between half a line height and half
    :data:`~inkwell.reading.lines.ink.RULE_SPAN` line heights above or below ``y``: the rows whose gaps show whether
    a gap at ``y`` runs down the page like a gutter (here, and in the join's :func:`~inkwell.reading.lines.join.merge_fragments`)."""
    return [b.bbox for b in boxes if all(b is not s for s in skip)
            and 0.5 * height < abs(b.center[1] - y) <= RULE_SPAN / 2 * height]


def split_at_gutters(boxes: Sequence[LineBox], ink: InkMask | None) -> list[LineBox]:
    """Cut the boxes that run across a column gutter on a page of text.

    A long box is cut when, among the boxes whose centres lie between half a box height and half
    :data:`~inkwell.reading.lines.ink.RULE_SPAN` box heights above or below its own and that overlap it across, a
    stretch inside it (at least :data:`GUTTER_SIDE` box heights from either end) is crossed by none (less
    :data:`GUTTER_SLACK` box heights at each of their ends), with at least
    :data:`GUTTER_LINES` of them wholly to its left and as many to its right; the cut goes where the box's own ink
    leaves a gap in that stretch (the middle half of its height clear), nearest the stretch's middle. A piece is
    looked at again (four columns: a box over three of them).

    Args:
        boxes: Detected boxes.
        ink: The page's dark pixels (:func:`~inkwell.reading.lines.ink.ink_mask`); None leaves the boxes as they are.

    Returns:
        The boxes, those across a gutter replaced by their pieces.
    """
    items = list(boxes)
    if ink is None or len(items) < 2 * GUTTER_LINES + 1 or is_table(items):
        return items
    dark = ink  # not None here
    return cut_where(items, lambda box: _gutter(box, items, dark))


def _gutter(box: LineBox, boxes: Sequence[LineBox], ink: InkMask) -> float | None:
    """The page x where ``box`` is cut at a gutter (:func:`split_at_gutters`), or None."""
    left, top, right, bottom = box.bbox
    _, _, height, _ = box_axes(box)
    y = box.center[1]
    around = [b for b in lines_around(boxes, y, height, (box,)) if b[0] < right and b[2] > left]
    lo, hi = int(left + GUTTER_SIDE * height), int(right - GUTTER_SIDE * height)
    if len(around) < 2 * GUTTER_LINES or hi <= lo:
        return None
    slack = int(GUTTER_SLACK * height)
    around = [(a + slack, t, b - slack, u) for a, t, b, u in around]  # each line less its ends' overhang
    crossed = np.zeros(right - left + 1, dtype=bool)
    for a, _, b, _ in around:
        crossed[max(0, a - left):max(0, b - left + 1)] = True
    step = ink.step
    band = ink.mask[ink.middle_rows(top, bottom)]
    best: tuple[float, float] | None = None
    for first, after in runs(~crossed[lo - left:hi - left + 1]):  # the stretches no line around crosses
        start, end = first + lo, after - 1 + lo
        if (sum(1 for a, _, b, _ in around if b <= start) < GUTTER_LINES
                or sum(1 for a, _, b, _ in around if a >= end) < GUTTER_LINES):
            continue
        columns = np.arange(start // step, end // step + 1)
        columns = columns[columns < band.shape[1]]
        clear = columns[~band[:, columns].any(axis=0)] if columns.size else columns
        if clear.size == 0:
            continue
        middle = (start + end) / 2
        x = float(clear[np.argmin(np.abs(clear * step + step / 2 - middle))] * step + step / 2)
        if best is None or end - start > best[0]:
            best = (end - start, x)
    return None if best is None else best[1]
