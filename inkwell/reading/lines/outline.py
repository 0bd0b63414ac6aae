"""Outline: each line's polygon, its box cut along the quietest path between it and the lines above and below.

Stage ``reading`` (NumPy and shapely). A detector's box is grown beyond the writing (PP-OCR grows each text core
by :data:`~inkwell.reading.lines.detect.DETECTOR_SETTINGS` ``unclip_ratio``) so that ascenders and descenders stay
inside; on a page of close lines, that box then reaches into the lines above and below, and a crop cut from it
carries their ascenders and descenders, or half of a neighbour. Here, between two lines one above the other, a
*seam* is traced: the path from left to right, between the two lines' centre lines, that crosses the least ink,
moving at most one mask pixel up or down per column (the separating seam kraken's polygonizer and eScriptorium
draw between baselines, found here from the detector's centre lines). Each line's outline is its box with the
part beyond a seam taken away, so no two outlines overlap and a line's crop holds its own strokes only.

The seam is a one-dimensional dynamic programme over the columns, a dozen lines of NumPy: OpenCV and
scikit-image offer minimum-cost paths that may turn back (``skimage.graph.MCP``), which a line boundary may
not, and scikit-image would add SciPy to the stack for it.

Every threshold is a share of the lines' own heights (:func:`~inkwell.reading.lines.geometry.box_axes`), not pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inkwell.reading.lines.geometry import LineBox, box_axes
from inkwell.reading.lines.ink import InkMask

__all__ = ["SEAM_CLEARANCE", "SEAM_REACH", "SEAM_ROOM", "SEAM_STRAIGHTNESS", "outline_lines", "seam"]

#: Two lines get a seam between them when the gap between their boxes is under this many line heights (farther
#: apart, neither box reaches the other's writing).
SEAM_REACH = 0.5

#: A seam keeps this share of each line's height clear of that line's centre line: it never cuts through the
#: middle of a line's letters, even where a long descender crosses the gap.
SEAM_CLEARANCE = 0.25

#: ... but never more than this share of the distance between the two lines' centre lines: on a crowded page a box
#: stands twice as tall as the line spacing, and a line written small between two others (an interlinear insertion)
#: would otherwise keep a sliver between its neighbours' clearances.
SEAM_ROOM = 0.3

#: Cost of a seam's distance from the middle of the gap, per line height, against 1 per inked mask pixel crossed:
#: where the gap is clean, the seam runs midway.
SEAM_STRAIGHTNESS = 0.5


def _centre_line(box: LineBox) -> tuple[np.ndarray, np.ndarray]:
    """The midpoints of a 4-point box's left and right edges (its centre line's ends)."""
    p = np.asarray(box.polygon[:4], dtype=np.float64)
    return (p[0] + p[3]) / 2, (p[1] + p[2]) / 2


def _y_on(a: np.ndarray, b: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """y of the line through points a and b at each x."""
    dx = b[0] - a[0]
    if abs(dx) < 1e-6:
        return np.full_like(xs, (a[1] + b[1]) / 2, dtype=np.float64)
    return a[1] + (xs - a[0]) * (b[1] - a[1]) / dx


def seam(ink: InkMask, xs: np.ndarray, upper: np.ndarray, lower: np.ndarray, height: float) -> np.ndarray:
    """The quietest path between two lines, one y per column.

    Args:
        ink: The page's dark pixels.
        xs: Page x of each column (every ``ink.step`` pixels).
        upper: The upper line's lowest allowed y at each x (page pixels).
        lower: The lower line's highest allowed y at each x.
        height: The lines' height (page pixels), the scale of the straightness cost.

    Returns:
        The seam's page y at each x (midway where the allowed band is empty).
    """
    step, mask = ink.step, ink.mask
    mid = (upper + lower) / 2
    half = max(0, int(np.floor(np.min(lower - upper) / 2 / step)))
    if half == 0 or len(xs) == 0:
        return mid
    offsets = np.arange(-half, half + 1)
    rows = np.clip(np.round(mid / step).astype(int)[None, :] + offsets[:, None], 0, mask.shape[0] - 1)
    cols = np.clip(np.round(xs / step).astype(int), 0, mask.shape[1] - 1)
    cost = mask[rows, cols[None, :]].astype(np.float64)
    cost += SEAM_STRAIGHTNESS * np.abs(offsets)[:, None] * step / max(1.0, height)
    total = cost[:, 0].copy()
    came = np.zeros(cost.shape, dtype=np.int8)
    for c in range(1, cost.shape[1]):
        up = np.concatenate(([np.inf], total[:-1]))
        down = np.concatenate((total[1:], [np.inf]))
        choice = np.argmin(np.stack([up, total, down]), axis=0)  # 0: from the row above, 1: same, 2: below
        total = np.choose(choice, [up, total, down]) + cost[:, c]
        came[:, c] = choice - 1
    path = np.empty(cost.shape[1], dtype=int)
    path[-1] = int(np.argmin(total))
    for c in range(cost.shape[1] - 1, 0, -1):
        path[c - 1] = path[c] + came[path[c], c]
    return (np.round(mid / step) + offsets[path]) * step


def outline_lines(boxes: Sequence[LineBox], ink: InkMask | None) -> list[LineBox]:
    """Each line's outline: its box, cut along the seam (:func:`seam`) to every line just above and below it.

    Args:
        boxes: The page's line boxes (4 points each, e.g. after reading order).
        ink: The page's dark pixels (None: the boxes are returned as they are).

    Returns:
        The same lines, in the same order, each with a polygon of its own (more points where a seam cut it)
        and a baseline along the lower part of its writing.
    """
    items = list(boxes)
    if ink is None or len(items) < 2:
        return items
    step = ink.step
    axes = [box_axes(b) for b in items]
    level = [a[3] > a[2] and len(b.polygon) == 4 for a, b in zip(axes, items)]  # lines, not upright marks
    spans = []
    for box in items:
        left, _, right, _ = box.bbox
        spans.append(np.arange(left, right + 1, step, dtype=np.float64))
    tops = [_y_on(np.asarray(b.polygon[0], float), np.asarray(b.polygon[1], float), xs) for b, xs in zip(items, spans)]
    bottoms = [_y_on(np.asarray(b.polygon[3], float), np.asarray(b.polygon[2], float), xs)
               for b, xs in zip(items, spans)]
    centres = [_y_on(*_centre_line(b), xs) for b, xs in zip(items, spans)]
    for i, a in enumerate(items):
        if not level[i]:
            continue
        for j, b in enumerate(items):
            if j == i or not level[j]:
                continue
            x0, x1 = max(spans[i][0], spans[j][0]), min(spans[i][-1], spans[j][-1])
            if x1 - x0 < step:
                continue
            xs = np.arange(x0, x1 + 1, step, dtype=np.float64)
            ci = np.interp(xs, spans[i], centres[i])
            cj = np.interp(xs, spans[j], centres[j])
            if np.median(cj - ci) <= 0:  # j is not below i
                continue
            hi, hj = axes[i][2], axes[j][2]
            gap = np.interp(xs, spans[j], tops[j]) - np.interp(xs, spans[i], bottoms[i])
            if np.min(gap) > SEAM_REACH * min(hi, hj):
                continue
            room = SEAM_ROOM * (cj - ci)
            upper, lower = ci + np.minimum(SEAM_CLEARANCE * hi, room), cj - np.minimum(SEAM_CLEARANCE * hj, room)
            cut = seam(ink, xs, upper, lower, (hi + hj) / 2)
            ki = np.searchsorted(spans[i], xs)
            kj = np.searchsorted(spans[j], xs)
            ki, kj = np.clip(ki, 0, len(spans[i]) - 1), np.clip(kj, 0, len(spans[j]) - 1)
            bottoms[i][ki] = np.minimum(bottoms[i][ki], cut)
            tops[j][kj] = np.maximum(tops[j][kj], cut)
    out = []
    for k, box in enumerate(items):
        if not level[k]:
            out.append(box)
            continue
        xs, top, bottom = spans[k], tops[k], np.maximum(bottoms[k], tops[k] + step)
        polygon = _simplified(list(zip(xs, top)) + list(zip(xs[::-1], bottom[::-1])), step)
        centre = centres[k]
        base = np.minimum(bottom, centre + (bottom - centre) * 0.6)
        baseline = [(float(xs[0]), float(base[0])), (float(xs[-1]), float(base[-1]))]
        out.append(LineBox(polygon, box.score, baseline, box.flags))
    return out


def _simplified(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """The outline with points on straight runs dropped (shapely), as a closed ring without its repeated end."""
    from shapely.geometry import Polygon

    shape = Polygon(points).simplify(tolerance, preserve_topology=True)
    if shape.is_empty or shape.geom_type != "Polygon":
        return points
    coords = list(shape.exterior.coords)[:-1]
    return coords if len(coords) >= 3 else points
