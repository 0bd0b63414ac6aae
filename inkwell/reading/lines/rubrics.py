"""Rubrics: a box that runs from black writing into a red rubric on the same row is cut where the colour changes.

Stage ``reading`` (NumPy and Pillow). A rubricated manuscript writes its headings in red, and a heading often starts
in the middle of a row, right after the last words of the paragraph before it (or a two-column page sets a sub-column
of rubrics beside the text). PP-OCR's detector sees ink, not colour: it draws one box over the row, and the crop holds
two lines that the scribe, and the archivists' ground truth (SegmOnto's ``HeadingLine``), keep apart. The red is what
tells them apart: such a box is cut at a gap in its ink where the writing on one side is red and on the other is not.

A red letter inside a black line (an initial, a paragraph mark, a red-touched capital) is no rubric: a cut needs at
least :data:`~inkwell.reading.lines.gutters.GUTTER_SIDE` box heights of writing on each side, each side of one colour
(:data:`RUBRIC_SHARE`). A page without colour (a greyscale scan, a page in one ink) is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from inkwell.reading.lines.geometry import LineBox, box_axes, cut_where
from inkwell.reading.lines.gutters import GUTTER_SIDE
from inkwell.reading.lines.ink import InkMask

__all__ = ["RED_LEAD", "RUBRIC_SHARE", "page_redness", "split_at_rubrics"]


#: A pixel of ink is red when its red exceeds its green by this much more than the paper's does (0-255 scale).
#: Measured on the shared pages: iron-gall and brown inks lead by 3 to 16, a medieval rubric's red by about 64.
RED_LEAD = 40


#: A stretch of a box is red when at least this share of its ink is red (:data:`RED_LEAD`), and of the plain ink
#: when at most ``1 - RUBRIC_SHARE`` of it is: a line with a red initial or a red paragraph mark stays plain.
RUBRIC_SHARE = 0.7


def page_redness(page: Image.Image, step: int) -> np.ndarray | None:
    """Which blocks of ``step`` x ``step`` page pixels (the ink mask's blocks) are red (:data:`RED_LEAD`), or None for
    a page with no colour to tell apart: one that is not RGB (:func:`~inkwell.reading.lines.detect_lines` hands over
    every page in RGB or greyscale), or one without red.

    Each block takes its pixels' mean colour (Pillow's ``reduce``, fast on a large scan).
    """
    if page.mode != "RGB":
        return None
    blocks = page.reduce(step) if step > 1 else page
    rgb = np.asarray(blocks)
    h, w = page.size[1] // step, page.size[0] // step
    lead = rgb[:h, :w, 0].astype(np.int16) - rgb[:h, :w, 1].astype(np.int16)
    paper = float(np.median(lead[:: max(1, h // 256), :: max(1, w // 256)]))
    red = lead >= paper + RED_LEAD
    return red if red.any() else None


def split_at_rubrics(boxes: Sequence[LineBox], ink: InkMask | None, red: np.ndarray | None) -> list[LineBox]:
    """Cut the long boxes that hold black writing and a red rubric side by side.

    In each long box (:func:`~inkwell.reading.lines.geometry.is_long`), the ink of the middle half of its height is
    taken column by column. A cut may go at a column with no ink there; it is made where the writing to its left and
    to its right each run at least :data:`~inkwell.reading.lines.gutters.GUTTER_SIDE` box heights, one of them red
    and the other plain (:data:`RUBRIC_SHARE`), at the gap where the two differ most; each piece is looked at again
    (black, red, black on one row).

    Args:
        boxes: The page's boxes.
        ink: The page's dark pixels (:func:`~inkwell.reading.lines.ink.ink_mask`); None leaves the boxes as they are.
        red: The page's red blocks, the same shape as ``ink``'s mask (:func:`page_redness`); None leaves the boxes as
            they are.

    Returns:
        The boxes, each cut one replaced by its pieces, left to right, in the order given.
    """
    if ink is None or red is None or red.shape != ink.mask.shape:
        return list(boxes)
    dark, reds = ink, red  # not None here
    return cut_where(boxes, lambda box: _colour_change(box, dark, reds))


def _colour_change(box: LineBox, ink: InkMask, red: np.ndarray) -> float | None:
    """The page x where ``box`` is cut between plain and red writing (:func:`split_at_rubrics`), or None."""
    left, top, right, bottom = box.bbox
    _, _, height, _ = box_axes(box)
    step = ink.step
    rows, c0 = ink.middle_rows(top, bottom), max(0, left // step)
    columns = slice(c0, min(ink.mask.shape[1], right // step + 1))
    band = ink.mask[rows, columns]
    if band.size == 0:
        return None
    dark = band.sum(axis=0).astype(np.float64)
    reds = (band & red[rows, columns]).sum(axis=0).astype(np.float64)
    inked = np.flatnonzero(dark > 0)
    if inked.size < 2:
        return None
    side = GUTTER_SIDE * height / step
    gaps = np.flatnonzero(dark == 0)
    gaps = gaps[(gaps - inked[0] >= side) & (inked[-1] - gaps >= side)]
    if gaps.size == 0:
        return None
    left_ink, left_red = np.cumsum(dark)[gaps], np.cumsum(reds)[gaps]
    right_ink, right_red = dark.sum() - left_ink, reds.sum() - left_red
    share_left = left_red / np.maximum(left_ink, 1.0)
    share_right = right_red / np.maximum(right_ink, 1.0)
    apart = (share_left <= 1 - RUBRIC_SHARE) & (share_right >= RUBRIC_SHARE) & (left_ink > 0) & (right_ink > 0)
    if not apart.any():
        return None
    contrast = np.where(apart, share_right - share_left, -1.0)
    first = last = int(gaps[int(np.argmax(contrast))])  # the clear run it opens: cut in its middle
    while last + 1 < dark.size and dark[last + 1] == 0:
        last += 1
    return float((c0 + (first + last) / 2) * step + step / 2)
