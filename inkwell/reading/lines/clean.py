"""Clean: boxes cut where a ruled line crosses them, and a facing page's cut-off fragments left out.

A rule cuts where it parts a table's fields or two columns of text, not where it was drawn down the page through
the writing: there the lines around a box run across it too.

Stage ``reading`` (NumPy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inkwell.reading.lines.geometry import LineBox, box_axes, cut_across, is_long, is_table
from inkwell.reading.lines.gutters import lines_around
from inkwell.reading.lines.ink import InkMask, rule_columns, runs

__all__ = [
    "ACROSS_LINES",
    "ACROSS_SHARE",
    "ACROSS_SLACK",
    "EDGE_FRAGMENT",
    "EDGE_MARGIN",
    "FIELD_GAP",
    "FIELD_RULES",
    "FIELD_SIDE",
    "RULE_SIDE",
    "drop_edge_fragments",
    "split_at_rules",
]


#: A box this close to the scan's left or right edge (a share of the page width) touches it.
EDGE_MARGIN = 0.01


#: A box touching the left or right edge and shorter than this share of the page's median line length
#: is a cut-off piece of the facing page (:func:`drop_edge_fragments`).
EDGE_FRAGMENT = 0.35


#: On a page of text (:func:`~inkwell.reading.lines.geometry.is_table` says no), a ruled line cuts a line of text
#: (:func:`~inkwell.reading.lines.geometry.is_long`) only where it leaves at least this many box heights on either
#: side: a ruled line there is a column's frame, and a word written past it (the frame drawn before the text, a
#: line's last word run over it) stays with its line...
RULE_SIDE = 2.0

#: ... while on a table, and for a short box on any page (two of a register's fields that the detector ran together,
#: on a page whose long entries make it read as text), this many box heights on either side is enough...
FIELD_SIDE = 0.5

#: ... where, on a page of text, the rule has clear paper at least this many box heights wide beside it, on one side
#: at least: a register's column rule runs between two fields, while a frame that a painted initial or a word is
#: written over has ink right up to it on both sides.
FIELD_GAP = 0.05

#: A rule cuts no line of text where most of the lines around it (:func:`~inkwell.reading.lines.gutters.lines_around`,
#: at least :data:`ACROSS_LINES` of those that reach it) run across it by more than this many box heights on either
#: side: a rule drawn down the page through the writing (a page ruled in red after it was written), not a column's
#: frame or a field's edge, where the lines around end and start...
ACROSS_SLACK = 1.0

#: ... more than this share of them...
ACROSS_SHARE = 0.5

#: ... and at least this many lines around reach it (fewer tell nothing).
ACROSS_LINES = 2

#: A line of text crossed by at least this many such rules, each with paper beside it, is a row of fields too (a
#: repertory's number, date and deed in one box), cut at each; a line's last word past its frame crosses one.
FIELD_RULES = 2


def _clear_beside(dark: np.ndarray, box: LineBox, step: int, x0: float, x1: float) -> float:
    """How wide (page pixels) the clear paper is beside a rule from ``x0`` to ``x1`` across a box, on its wider side;
    ``dark``: the page's mask columns inked in the middle half of the box's rows."""
    c0, c1 = int(x0 // step), int(x1 // step)
    before = dark[max(0, int(box.bbox[0] // step)):c0][::-1]
    after = dark[c1:int(box.bbox[2] // step) + 1]
    widths = [int(np.argmax(side)) if side.any() else side.size for side in (before, after)]
    return float(max(widths) * step)


def split_at_rules(boxes: Sequence[LineBox], ink: InkMask | None,
                   writing: InkMask | None = None) -> list[LineBox]:
    """Cut boxes where a ruled line crosses them: the detector sometimes runs a table row's fields, or a
    heading across a book's gutter, into one box.

    A cut is made at each run of ruled columns (:func:`~inkwell.reading.lines.ink.rule_columns`) that leaves at least
    :data:`RULE_SIDE` box heights on either side of a long box on a page of text, :data:`FIELD_SIDE` on a table, and
    on a page of text for a short box or a long one crossed by :data:`FIELD_RULES` rules, where each rule has
    :data:`FIELD_GAP` of paper beside it; on a page of text a long box is never cut at a rule that most lines around
    it run across (:data:`ACROSS_SLACK`). The pieces keep the box's slope and score.

    Args:
        boxes: Detected boxes.
        ink: The page's dark pixels at :data:`~inkwell.reading.lines.ink.RULE_LEVEL` (:func:`~inkwell.reading.lines.ink.ink_masks`);
            None leaves the boxes as they are.
        writing: The page's ink at :data:`~inkwell.reading.lines.ink.INK_LEVEL`, where the paper beside a rule is
            looked for (a register's faint horizontal ruling is no ink there); None: ``ink``.

    Returns:
        The boxes, those crossed by a rule replaced by their pieces.
    """
    if ink is None:
        return list(boxes)
    out: list[LineBox] = []
    table = is_table(boxes)
    for box in boxes:
        _, _, height, _ = box_axes(box)
        if table:
            cuts = _rule_cuts(box, ink, FIELD_SIDE * height, None)
        else:  # a page of text: fields only where the rule stands in paper, a long line's frame kept whole
            cuts = _rule_cuts(box, ink, FIELD_SIDE * height, writing or ink)
            if is_long(box) and len(cuts) < FIELD_RULES:
                cuts = _rule_cuts(box, ink, RULE_SIDE * height, None)
            if is_long(box) and cuts:
                around = lines_around(boxes, box.center[1], height, (box,))
                cuts = [x for x in cuts if not _written_across(x, around, height)]
        out.extend(cut_across(box, cuts))
    return out


def _written_across(x: float, around: Sequence[tuple[int, int, int, int]], height: float) -> bool:
    """Whether the lines around a long box (their upright boxes, :func:`~inkwell.reading.lines.gutters.lines_around`)
    run across the rule at page x ``x`` (:data:`ACROSS_SLACK`), ``height`` being the box's own."""
    around = [b for b in around if b[0] <= x + ACROSS_SLACK * height and b[2] >= x - ACROSS_SLACK * height]
    if len(around) < ACROSS_LINES:
        return False
    across = sum(1 for b in around if b[0] < x - ACROSS_SLACK * height and b[2] > x + ACROSS_SLACK * height)
    return across > ACROSS_SHARE * len(around)


def _rule_cuts(box: LineBox, ink: InkMask, margin: float, paper: InkMask | None) -> list[float]:
    """The page x of each rule crossing a box (the middle of each run of ruled columns) at least ``margin`` from its
    ends; of rules closer together than the box is tall or ``margin``, whichever is less (a double rule), the first
    only, so that a narrow field between two rules is a piece of its own and a double rule leaves no sliver. With
    ``paper`` (the page's writing), only the rules with :data:`FIELD_GAP` of paper beside them."""
    left, top, right, bottom = box.bbox
    _, _, height, _ = box_axes(box)
    margin = max(2, int(margin))
    ruled, first = rule_columns(ink, left + margin, right - margin, box.center[1], height)
    dark = None if paper is None else paper.mask[paper.middle_rows(top, bottom)].any(axis=0)
    cuts: list[float] = []
    for start, stop in runs(ruled):
        cut = first + (start + stop - 1) / 2 * ink.step
        clear = dark is None or _clear_beside(dark, box, ink.step, first + start * ink.step,
                                              first + stop * ink.step) >= FIELD_GAP * height
        if clear and (not cuts or cut - cuts[-1] >= min(height, margin)):
            cuts.append(cut)
    return cuts


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
