"""Regions: on a crowded page, the detector's text map parted into one region per line where lines touch.

Stage ``reading`` (NumPy and OpenCV), part of **find** (:mod:`~inkwell.reading.lines.detect`) on a crowded page's
closer look only. PP-OCR's detector (a DB network) gives a map of text probability; its post-processing takes each
connected region of the map above ``thresh`` as one text line. On a dense letter, a note written small between two
lines (an interlinear insertion) has a weaker stripe of its own in that map, but the stripe touches the line above
or below it through weak values along much of its length, so the two come out as one region, one box over both,
and the insertion is never a line of its own.

Here the map is flooded from its strongest parts down (:func:`part_lines`, a watershed in :data:`FLOOD_STEPS`
levels): a region starts wherever the map is at least :data:`CORE_LEVEL` sure of text, a line's or an insertion's
core, and grows level by level into weaker pixels; where two regions meet, they stay apart only if one stands
above the other (:data:`STACKED`); regions side by side (the words a line's core breaks into at that level) are one
line again. A line parted from its neighbour this way is only its own core, so its box is grown to at least
:data:`LEAST_HEIGHT` of the page's usual box height (:func:`thicken`).

Written here with OpenCV's dilation, a few lines a level: OpenCV's ``watershed`` floods by colour differences, not by
the map's own level, and scikit-image's is not in the stack.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CORE_LEVEL", "FLOOD_STEPS", "LEAST_HEIGHT", "STACKED", "part_lines", "thicken"]

#: A region starts where the detector's map is at least this sure of text: the core of a line or of an insertion
#: (at this level a line's core breaks into words; they are joined again as one line, :data:`STACKED`).
CORE_LEVEL = 0.9

#: The map is flooded in this many levels, from :data:`CORE_LEVEL` down to the detector's own ``thresh``.
FLOOD_STEPS = 12

#: Two regions that meet stay apart when, over the columns they share, their centres lie further apart than this
#: many times their mean thickness: one stands above the other. Otherwise (side by side, or one inside the other's
#: height) they are one line.
STACKED = 1.0

#: A line's box is at least this share of the median height of the page's line boxes tall: a line parted from the
#: one it touched is its core only, too thin a box for the writing around it.
LEAST_HEIGHT = 0.35

_NEIGHBOURS = np.ones((3, 3), np.uint8)


def _grow(labels: np.ndarray, allowed: np.ndarray) -> None:
    """Grow every region into the allowed pixels next to it, one pixel at a time, until none is left to take (in
    place; where two regions reach a pixel together, the higher label takes it)."""
    import cv2  # comes with rapidocr, like the detector: loaded on use

    while True:
        grown = cv2.dilate(labels.astype(np.float32), _NEIGHBOURS).astype(np.int32)
        new = (labels == 0) & allowed & (grown > 0)
        if not new.any():
            return
        labels[new] = grown[new]


def _flood(prob: np.ndarray, inside: np.ndarray, thresh: float) -> tuple[np.ndarray, int]:
    """The watershed: labels (0: none) over ``inside``, and one more than the highest label."""
    import cv2  # comes with rapidocr, like the detector: loaded on use

    labels = np.zeros(prob.shape, np.int32)
    count = 1
    for step, level in enumerate(np.linspace(max(CORE_LEVEL, thresh), thresh, FLOOD_STEPS)):
        allowed = inside & (prob >= level)
        _grow(labels, allowed)
        if step == 0:  # the cores: a region each
            n, fresh = cv2.connectedComponents((allowed & (labels == 0)).astype(np.uint8), connectivity=8)
            if n > 1:
                new = fresh > 0
                labels[new] = fresh[new] + count - 1
                count += n - 1
    _grow(labels, inside)
    rest = inside & (labels == 0)  # regions with no core (faint marks): as the detector's own post-processing has them
    if rest.any():
        n, fresh = cv2.connectedComponents(rest.astype(np.uint8), connectivity=8)
        labels[rest] = fresh[rest] + count - 1
        count += n - 1
    return labels, count


def _touching(labels: np.ndarray) -> np.ndarray:
    """The pairs of labels (lower first) whose regions touch, one row each."""
    codes = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :]),
                 (labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])):
        meet = (a != b) & (a > 0) & (b > 0)
        lo, hi = np.minimum(a[meet], b[meet]), np.maximum(a[meet], b[meet])
        codes.append(lo.astype(np.int64) << 32 | hi.astype(np.int64))
    pairs = np.unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    return np.stack([pairs >> 32, pairs & 0xFFFFFFFF], axis=1)


def _join_side_by_side(labels: np.ndarray, count: int) -> np.ndarray:
    """The labels with every two touching regions that do not stand one above the other (:data:`STACKED`) made one."""
    pairs = _touching(labels)
    if len(pairs) == 0:
        return labels
    ys, xs = np.nonzero(labels)
    width = labels.shape[1]
    key = labels[ys, xs].astype(np.int64) * width + xs
    size = count * width
    thick = np.bincount(key, minlength=size).reshape(count, width)  # each region's pixels in each column
    ysum = np.bincount(key, weights=ys, minlength=size).reshape(count, width)
    parent = np.arange(count)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for p, q in pairs:
        shared = (thick[p] > 0) & (thick[q] > 0)
        if shared.sum() >= 3:
            apart = np.abs(ysum[p][shared] / thick[p][shared] - ysum[q][shared] / thick[q][shared]).mean()
            if apart > STACKED * np.concatenate([thick[p][shared], thick[q][shared]]).mean():
                continue
        parent[root(int(p))] = root(int(q))
    roots = np.array([root(i) for i in range(count)])
    return roots[labels]


def part_lines(prob: np.ndarray, mask: np.ndarray, thresh: float) -> np.ndarray:
    """The detector's text mask with touching lines parted, one region per line.

    Args:
        prob: The detector's map of text probability (rows x columns, 0 to 1).
        mask: Its text mask (the map above ``thresh``, dilated as the detector does), 0 or 1.
        thresh: The detector's ``thresh``: the level the flood goes down to.

    Returns:
        The mask (uint8, 0 or 1) less a one-pixel border where two regions that stand one above the other meet, so
        that each is a connected region of its own.
    """
    import cv2  # comes with rapidocr, like the detector: loaded on use

    inside = mask > 0
    if not inside.any():
        return mask.astype(np.uint8)
    labels, count = _flood(prob, inside, thresh)
    labels = _join_side_by_side(labels, count).astype(np.float32)
    highest = cv2.dilate(labels, _NEIGHBOURS)
    lowest = labels.copy()
    lowest[labels == 0] = np.inf
    lowest = -cv2.dilate(-lowest, _NEIGHBOURS)
    border = inside & (((highest != labels) & (highest > 0)) | ((lowest != labels) & np.isfinite(lowest)))
    return (inside & ~border).astype(np.uint8)


def thicken(quads: np.ndarray) -> np.ndarray:
    """Line boxes (4 points each, top-left first, clockwise) grown across to at least :data:`LEAST_HEIGHT` of the
    median height of the page's line boxes (those at least twice as long as tall), about their centre lines.

    Args:
        quads: The boxes, an array of shape (boxes, 4, 2).

    Returns:
        The boxes (int32), the thin lines grown; as given when fewer than 4 are lines.
    """
    q = np.asarray(quads, dtype=np.float64)
    if len(q) < 4:
        return np.asarray(quads)
    tall = (np.linalg.norm(q[:, 3] - q[:, 0], axis=1) + np.linalg.norm(q[:, 2] - q[:, 1], axis=1)) / 2
    long = (np.linalg.norm(q[:, 1] - q[:, 0], axis=1) + np.linalg.norm(q[:, 2] - q[:, 3], axis=1)) / 2
    lines = long >= 2 * tall
    if lines.sum() < 4:
        return np.asarray(quads)
    least = LEAST_HEIGHT * float(np.median(tall[lines]))
    out = q.copy()
    for k in np.flatnonzero(lines & (tall < least)):
        down = (q[k, 3] + q[k, 2] - q[k, 0] - q[k, 1]) / 2
        down /= max(1e-6, float(np.linalg.norm(down)))
        grow = (least - tall[k]) / 2 * down
        out[k, :2] -= grow
        out[k, 2:] += grow
    return np.round(out).astype(np.int32)
