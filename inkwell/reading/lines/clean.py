"""Clean: boxes cut where a ruled line crosses them, and a facing page's cut-off fragments left out.

Stage ``reading`` (NumPy).
"""

from __future__ import annotations

from collections.abc import Sequence

from inkwell.reading.lines.geometry import LineBox, box_axes, cut_across, is_table
from inkwell.reading.lines.ink import InkMask, rule_columns

__all__ = [
    "EDGE_FRAGMENT",
    "EDGE_MARGIN",
    "RULE_SIDE",
    "drop_edge_fragments",
    "split_at_rules",
]


#: A box this close to the scan's left or right edge (a share of the page width) touches it.
EDGE_MARGIN = 0.01


#: A box touching the left or right edge and shorter than this share of the page's median line length
#: is a cut-off piece of the facing page (:func:`drop_edge_fragments`).
EDGE_FRAGMENT = 0.35


#: On a page of text (:func:`~inkwell.reading.lines.geometry.is_table` says no), a ruled line cuts a box only where
#: it leaves at least this many box heights on either side: a ruled line there is a column's frame, and a word
#: written past it (the frame drawn before the text, a line's last word run over it) stays with its line. On a
#: table, half a box height: a register's short fields are cut apart.
RULE_SIDE = 2.0


def split_at_rules(boxes: Sequence[LineBox], ink: InkMask | None) -> list[LineBox]:
    """Cut boxes where a ruled line crosses them: the detector sometimes runs a table row's fields, or a
    heading across a book's gutter, into one box.

    A cut is made at each run of ruled columns (:func:`~inkwell.reading.lines.ink.rule_columns`) that leaves at least
    :data:`RULE_SIDE` box heights on either side on a page of text, half a box height on a table; the pieces keep the
    box's slope and score.

    Args:
        boxes: Detected boxes.
        ink: The page's dark pixels at :data:`~inkwell.reading.lines.ink.RULE_LEVEL` (:func:`~inkwell.reading.lines.ink.ink_masks`);
            None leaves the boxes as they are.

    Returns:
        The boxes, those crossed by a rule replaced by their pieces.
    """
    if ink is None:
        return list(boxes)
    out: list[LineBox] = []
    side = 0.5 if is_table(boxes) else RULE_SIDE
    for box in boxes:
        left, _, right, _ = box.bbox
        _, _, height, _ = box_axes(box)
        margin = max(2, int(side * height))
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
                cut = first + (start + x - 1) / 2 * ink.step
                if not cuts or cut - cuts[-1] >= height:  # rules closer than the box is tall: one cut, no sliver
                    cuts.append(cut)
            x += 1
        out.extend(cut_across(box, cuts))
    return out


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
