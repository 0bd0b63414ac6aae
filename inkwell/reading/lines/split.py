"""Split: a box that holds two or more lines is cut into one box per line.

Stage ``reading`` (NumPy). On a dense page (close lines, notes written between the lines) PP-OCR's detector
sometimes returns one box over two or three lines, whatever size it sees the page at. Such a box is much taller
than the page's other lines; the ink in it, summed along the box's own direction, shows one peak per line with a
quieter valley between. The box is cut where the valleys are, each cut parallel to the box's top edge.

On a table (:func:`~inkwell.reading.lines.geometry.is_table`) the detector also boxes together a register's short
fields written one under the other in a narrow column (``24`` over ``24``, a day over the next). Such a box is short
(under two line heights long) and taller than one field; it is cut at the paper between its bands of ink
(:func:`_stack_cuts`). A sideways line (:func:`~inkwell.reading.lines.geometry.is_sideways`) is left whole.

Every threshold is a share of the page's line height (:func:`~inkwell.reading.lines.geometry.line_height`), so it
follows the scan's resolution and the writing's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inkwell.reading.lines.geometry import LineBox, box_axes, is_sideways, is_table, line_height
from inkwell.reading.lines.ink import InkMask, runs

__all__ = [
    "SPLIT_HEIGHT",
    "STACK_BAND",
    "STACK_CLEAR",
    "STACK_GAP",
    "STACK_HEIGHT",
    "STACK_REACH",
    "STACK_RULE",
    "VALLEY_DEPTH",
    "split_tall",
]

#: A box this many times the page's line height, or taller, is looked at for lines to split it into.
SPLIT_HEIGHT = 1.6

#: A valley between two lines has at most this share of the ink of the lower of the two peaks beside it.
VALLEY_DEPTH = 0.5

#: A box shorter than two line heights (a register's number, date or ditto mark) and this many line heights tall,
#: or taller, is looked at for fields written one under the other that the detector boxed together.
STACK_HEIGHT = 1.25

#: ... each such field is a band of ink at least this many line heights tall (a dot or a stroke's tail is not one)...
STACK_BAND = 0.25

#: ... between at least this many line heights of rows (a figure's own pen lifts are thinner)...
STACK_GAP = 0.1

#: ... where at most this share of the box's width is inked...
STACK_CLEAR = 0.05

#: ... leaving out a ruled line that runs through it: a column inked over at least this share of the rows from
#: :data:`STACK_REACH` line heights above the box to as far below it.
STACK_RULE = 0.9
STACK_REACH = 0.5


def _grid(box: LineBox, ink: InkMask, rows: int, d0: float = 0.0, d1: float = 1.0) -> np.ndarray:
    """The ink mask sampled in the box's own frame: ``rows`` evenly spaced depths from ``d0`` to ``d1`` (0: the top
    edge, 1: the bottom edge; beyond them, outside the box) by one sample per mask pixel along the box."""
    p = np.asarray(box.polygon, dtype=np.float64)
    step = ink.step
    length = max(2, int(np.linalg.norm(p[1] - p[0]) / step))
    t = np.linspace(0.0, 1.0, length)
    top = p[0][None, :] + t[:, None] * (p[1] - p[0])[None, :]
    bottom = p[3][None, :] + t[:, None] * (p[2] - p[3])[None, :]
    depth = np.linspace(d0, d1, rows)
    points = top[None, :, :] + depth[:, None, None] * (bottom - top)[None, :, :]  # rows x length x 2
    cols = np.clip(np.round(points[..., 0] / step).astype(int), 0, ink.mask.shape[1] - 1)
    rws = np.clip(np.round(points[..., 1] / step).astype(int), 0, ink.mask.shape[0] - 1)
    return ink.mask[rws, cols]


def _profile(box: LineBox, ink: InkMask, rows: int) -> np.ndarray:
    """Ink summed along the box at ``rows`` evenly spaced depths from its top edge to its bottom edge."""
    return _grid(box, ink, rows).mean(axis=1)


def _cuts(profile: np.ndarray, parts: int) -> list[float]:
    """Depths (0 to 1) of the valleys that cut a profile into ``parts`` lines: near each equal division, the
    quietest row, kept only where it is a real valley (:data:`VALLEY_DEPTH`)."""
    rows = len(profile)
    window = max(1, rows // (4 * parts))
    smooth = np.convolve(profile, np.ones(window) / window, mode="same")
    cuts = []
    for k in range(1, parts):
        centre = int(round(k * rows / parts))
        lo, hi = max(1, centre - rows // (3 * parts)), min(rows - 1, centre + rows // (3 * parts) + 1)
        if hi <= lo:
            continue
        valley = lo + int(np.argmin(smooth[lo:hi]))
        previous = int(round(cuts[-1] * rows)) if cuts else 0
        above = smooth[previous:valley].max(initial=0.0)
        nxt = int(round((k + 1) * rows / parts))
        below = smooth[valley:nxt].max(initial=0.0)
        if min(above, below) > 0 and smooth[valley] <= VALLEY_DEPTH * min(above, below):
            cuts.append(valley / rows)
    return cuts


def _stack_cuts(box: LineBox, ink: InkMask, height: float) -> list[float]:
    """Depths (0 to 1) at which a short, tall box holds fields written one under the other.

    The box's rows with at most :data:`STACK_CLEAR` of its width inked are paper; runs of ink less than
    :data:`STACK_GAP` line heights apart are one band, and a band thinner than :data:`STACK_BAND` (a dot, a stroke's
    tail) joins the nearer of its neighbours. The cuts are the middles of the paper between the bands left. A ruled
    line running down through the box (inked from :data:`STACK_REACH` line heights above it to as far below) is no
    ink of the fields."""
    _, _, tall, _ = box_axes(box)
    rows = max(8, int(tall / ink.step))
    reach = STACK_REACH * height / tall
    extra = int(round(reach * rows))
    grid = _grid(box, ink, rows + 2 * extra, -reach, 1.0 + reach)
    fields = grid[extra:extra + rows][:, grid.mean(axis=0) < STACK_RULE]
    if fields.shape[1] == 0:
        return []
    bands: list[list[int]] = []
    for a, b in runs(fields.mean(axis=1) > STACK_CLEAR):  # runs of ink closer than a field's gap are one band
        if bands and a - bands[-1][1] < STACK_GAP * height / ink.step:
            bands[-1][1] = b
        else:
            bands.append([a, b])
    least = STACK_BAND * height / ink.step
    while len(bands) > 1:  # a band too thin for a field (a figure's thin stroke, a dot) joins the nearer neighbour
        i = min(range(len(bands)), key=lambda k: bands[k][1] - bands[k][0])
        if bands[i][1] - bands[i][0] >= least:
            break
        gap_above = bands[i][0] - bands[i - 1][1] if i > 0 else None
        gap_below = bands[i + 1][0] - bands[i][1] if i + 1 < len(bands) else None
        j = i - 1 if gap_below is None or (gap_above is not None and gap_above <= gap_below) else i + 1
        a, b = min(i, j), max(i, j)
        bands[a:b + 1] = [[bands[a][0], bands[b][1]]]
    return [(above[1] + below[0]) / 2 / rows for above, below in zip(bands, bands[1:])]


def _part(box: LineBox, d0: float, d1: float) -> LineBox:
    """The slice of a box between two depths (0: top edge, 1: bottom edge), parallel to its edges."""
    p = np.asarray(box.polygon, dtype=np.float64)
    tl, tr = p[0] + d0 * (p[3] - p[0]), p[1] + d0 * (p[2] - p[1])
    bl, br = p[0] + d1 * (p[3] - p[0]), p[1] + d1 * (p[2] - p[1])
    return LineBox([tuple(tl), tuple(tr), tuple(br), tuple(bl)], box.score, flags=box.flags)


def split_tall(boxes: Sequence[LineBox], ink: InkMask | None) -> list[LineBox]:
    """Cut every box that holds several lines into one box per line.

    A level box :data:`SPLIT_HEIGHT` times the page's line height (:func:`~inkwell.reading.lines.geometry.line_height`) or taller is
    taken to hold ``round(height / line height)`` lines; it is cut at the valleys of its ink profile near the
    equal divisions (:func:`_cuts`). A box with no clear valley is kept whole (a large heading, a signature). On a
    table, a box under two line heights long and :data:`STACK_HEIGHT` line heights tall or taller is cut between the
    fields written one under the other in it (:func:`_stack_cuts`).

    Args:
        boxes: The page's 4-point boxes.
        ink: The page's dark pixels (None: nothing is split).

    Returns:
        The boxes, each split one replaced by its parts (top to bottom), in the order given.
    """
    height = line_height(boxes)
    if ink is None or height <= 0:
        return list(boxes)
    table = is_table(boxes)
    out: list[LineBox] = []
    for box in boxes:
        _, _, tall, long = box_axes(box)
        parts = int(round(tall / height))
        quad = len(box.polygon) == 4
        cuts: list[float] = []
        if quad and long < 2 * height:  # a short box: fields one under the other, on a table
            if table and not is_sideways(box, height) and tall >= STACK_HEIGHT * height:
                cuts = _stack_cuts(box, ink, height)
        elif quad and tall >= SPLIT_HEIGHT * height and parts >= 2:
            cuts = _cuts(_profile(box, ink, max(8 * parts, int(tall / ink.step))), parts)
        if not cuts:
            out.append(box)
            continue
        edges = [0.0, *cuts, 1.0]
        out.extend(_part(box, a, b) for a, b in zip(edges, edges[1:]))
    return out
