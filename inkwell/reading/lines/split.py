"""Split: a box that holds two or more lines is cut into one box per line.

Stage ``reading`` (NumPy). On a dense page (close lines, notes written between the lines) PP-OCR's detector
sometimes returns one box over two or three lines, whatever size it sees the page at. Such a box is much taller
than the page's other lines; the ink in it, summed along the box's own direction, shows one peak per line with a
quieter valley between. The box is cut where the valleys are, each cut parallel to the box's top edge.

Every threshold is a share of the page's line height (:func:`~inkwell.reading.lines.geometry.line_height`), so it
follows the scan's resolution and the writing's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inkwell.reading.lines.geometry import LineBox, box_axes, line_height
from inkwell.reading.lines.ink import InkMask

__all__ = ["SPLIT_HEIGHT", "VALLEY_DEPTH", "split_tall"]

#: A box this many times the page's line height, or taller, is looked at for lines to split it into.
SPLIT_HEIGHT = 1.6

#: A valley between two lines has at most this share of the ink of the lower of the two peaks beside it.
VALLEY_DEPTH = 0.5

def _profile(box: LineBox, ink: InkMask, rows: int) -> np.ndarray:
    """Ink summed along the box at ``rows`` evenly spaced depths from its top edge to its bottom edge."""
    p = np.asarray(box.polygon, dtype=np.float64)
    step = ink.step
    length = max(2, int(np.linalg.norm(p[1] - p[0]) / step))
    t = np.linspace(0.0, 1.0, length)
    top = p[0][None, :] + t[:, None] * (p[1] - p[0])[None, :]
    bottom = p[3][None, :] + t[:, None] * (p[2] - p[3])[None, :]
    depth = np.linspace(0.0, 1.0, rows)
    points = top[None, :, :] + depth[:, None, None] * (bottom - top)[None, :, :]  # rows x length x 2
    cols = np.clip(np.round(points[..., 0] / step).astype(int), 0, ink.mask.shape[1] - 1)
    rws = np.clip(np.round(points[..., 1] / step).astype(int), 0, ink.mask.shape[0] - 1)
    return ink.mask[rws, cols].mean(axis=1)


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
    equal divisions (:func:`_cuts`). A box with no clear valley is kept whole (a large heading, a signature).

    Args:
        boxes: The page's 4-point boxes.
        ink: The page's dark pixels (None: nothing is split).

    Returns:
        The boxes, each split one replaced by its parts (top to bottom), in the order given.
    """
    height = line_height(boxes)
    if ink is None or height <= 0:
        return list(boxes)
    out: list[LineBox] = []
    for box in boxes:
        _, _, tall, long = box_axes(box)
        parts = int(round(tall / height))
        if len(box.polygon) != 4 or tall < SPLIT_HEIGHT * height or long < 2 * height or parts < 2:
            out.append(box)
            continue
        rows = max(8 * parts, int(tall / ink.step))
        cuts = _cuts(_profile(box, ink, rows), parts)
        edges = [0.0, *cuts, 1.0]
        out.extend(_part(box, a, b) for a, b in zip(edges, edges[1:]))
    return out
