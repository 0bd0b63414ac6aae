"""Ink: a page's dark pixels in blocks, and the ruled lines that run down it.

Stage ``reading`` (NumPy and Pillow). The page is greyed and reduced once (:func:`page_greys`); its masks are
thresholded from that and used by the stages that look at ink: cutting at rules
(:mod:`~inkwell.reading.lines.clean`), refusing joins across a rule (:mod:`~inkwell.reading.lines.join`), ditto
marks (:mod:`~inkwell.reading.lines.marks`), splitting boxes over two lines (:mod:`~inkwell.reading.lines.split`)
and the seams between lines (:mod:`~inkwell.reading.lines.outline`).
A rule is a column dark down several line heights; OpenCV's morphology would find long vertical strokes too, but
a rule here must also hold at one place in most bands of a line height (:data:`RULE_BANDS`; a long descender
does not), which is this module's own short test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "INK_LEVEL",
    "INK_SIDE",
    "RULE_BANDS",
    "RULE_LEVEL",
    "RULE_POOL",
    "RULE_SPAN",
    "InkMask",
    "PageGreys",
    "ink_mask",
    "ink_masks",
    "page_greys",
    "rule_columns",
    "runs",
]


#: A pixel is ink when it is darker than this share of the way from the paper to the darkest ink: halfway
#: keeps pen strokes whole and leaves out most ink showing through from the back of the leaf.
INK_LEVEL = 0.5

#: Ruled lines (a register's columns, a margin rule) are looked for in a mask lighter still: printed rules are
#: often a pixel wide and faint, and fainter again on a scan made smaller. Ink showing through from the back of the
#: leaf comes in at this level too, but never as a line dark down several line heights.
RULE_LEVEL = 0.25


#: Longest side of the page's ink mask (:func:`ink_mask`): ruled lines are looked for at this size.
INK_SIDE = 2400


#: How many line heights, centred on two line pieces, are searched for a ruled line between them.
RULE_SPAN = 6.0

#: ... and in at least this share of those bands a ruled column is dark, at one place (or the mask column beside
#: it). Measured on the shared pages: 0.6 with one column's play cuts a register's fields off their entries where
#: its printed rules stop short (registers' running recall 0.961 to 0.965, two-line crops 14 to 12) and nothing
#: else; 0.6 with a play of an eighth of a line height took a textualis hand's upright strokes for rules, and 0.8
#: missed the short rules.
RULE_BANDS = 0.6

#: ... looked at in blocks of mask pixels such that a line height is about this many blocks: on a whole page the
#: ink mask (:data:`INK_SIDE`) gives a line height of 40 to 70 pixels, and a page scanned a little turned has its rules
#: drift about a pixel across in each line height. A crop or a small scan, given a mask at full size, has line
#: heights of 150 pixels and more, its rules drifting several pixels in each; seen in blocks, they are found as on a
#: whole page.
RULE_POOL = 75


@dataclass
class InkMask:
    """A page's dark pixels (ink, printed rules), in blocks of ``step`` x ``step`` page pixels.

    Attributes:
        mask: Boolean array, True where dark.
        step: Page pixels per mask pixel (1: full resolution).
    """

    mask: np.ndarray
    step: int = 1

    def middle_rows(self, top: float, bottom: float) -> slice:
        """The mask rows of the middle half of a box from ``top`` to ``bottom`` (page y): where a gap in a line's own
        ink is looked for, clear of the ascenders and descenders of the lines above and below."""
        quarter = (bottom - top) / 4
        return slice(int(top + quarter) // self.step, int(bottom - quarter) // self.step + 1)


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in a row or column of flags (a mask's columns that are ruled, clear or inked), left to right,
    each as its first index and the index after its last."""
    padded = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def rule_columns(ink: InkMask, x0: float, x1: float, centre_y: float,
                 height: float) -> tuple[np.ndarray, float]:
    """For each column from ``x0`` to ``x1`` (page pixels, every ``ink.step``-th): whether a ruled line runs
    down it, and the page x of the first column.

    A column is ruled when, in at least :data:`RULE_BANDS` of the bands of one line height down
    :data:`RULE_SPAN` line heights around ``centre_y``, it (or the mask column beside it: rules are seldom
    exactly upright on a scan) is dark over most of the band. Handwriting makes such a column in one band or
    two (an ascender, a long descender), never down several line heights at one place; a rule that ends
    within the span (a register's shorter column rule, a cell's side) still counts.
    """
    step, mask = ink.step, ink.mask
    height = height / step
    c0, c1 = max(0, int(x0 // step)), min(mask.shape[1], int(x1 // step) + 1)
    y0 = max(0, int(centre_y / step - RULE_SPAN * height / 2))
    y1 = min(mask.shape[0], int(centre_y / step + RULE_SPAN * height / 2))
    pool = max(1, int(round(height / RULE_POOL)))
    band = max(1, int(height / pool))
    bands = (y1 - y0) // (band * pool)
    if c1 <= c0 or bands < 3:
        return np.zeros(max(0, c1 - c0), dtype=bool), float(c0 * step)
    strip = mask[y0:y0 + bands * band * pool, c0:c1]
    if pool > 1:  # a line height of many mask pixels (a small scan, a crop): seen in blocks, as a whole page is
        strip = np.pad(strip, ((0, 0), (0, -strip.shape[1] % pool)))
        strip = strip.reshape(bands * band, pool, -1, pool).any(axis=(1, 3))
    dark = strip.reshape(bands, band, -1).mean(axis=1) >= 0.8  # bands x columns
    near = dark.copy()
    near[:, 1:] |= dark[:, :-1]  # a rule a little off upright: the column beside it in some bands
    near[:, :-1] |= dark[:, 1:]
    ruled = near.mean(axis=0) >= RULE_BANDS
    return np.repeat(ruled, pool)[:c1 - c0], float(c0 * step)


def ink_mask(page: Image.Image, max_side: int = INK_SIDE, level: float = INK_LEVEL) -> InkMask:
    """The page's dark pixels (ink, printed rules): darker than ``level`` of the way from the paper (the
    median grey) to the darkest ink (the 1st percentile), in blocks of n x n pixels so that the longer
    side is at most ``max_side`` (ruled lines and gutters are searched there, :func:`split_at_rules`)."""
    return ink_masks(page, (level,), max_side)[0]


def ink_masks(page: Image.Image, levels: Sequence[float], max_side: int = INK_SIDE,
              area: tuple[float, float, float, float] | None = None) -> list[InkMask]:
    """:func:`ink_mask` at several levels at once (the page is greyed and reduced to blocks once), the greys
    sampled in ``area`` (:meth:`PageGreys.mask`)."""
    greys = page_greys(page, max_side)
    return [greys.mask(level, area) for level in levels]


@dataclass(frozen=True)
class PageGreys:
    """A page in grey, and reduced to blocks of ``step`` x ``step`` pixels (each as dark as its darkest pixel, so a
    rule one pixel wide is kept): made once per page, thresholded into masks as often as needed."""

    gray: np.ndarray  # full size, where the paper's and the ink's greys are sampled
    blocks: np.ndarray
    step: int

    def mask(self, level: float, area: tuple[float, float, float, float] | None = None) -> InkMask:
        """The blocks darker than ``level`` of the way from the paper (the median grey) to the darkest ink (the 1st
        percentile).

        ``area`` (left, top, right, bottom; default the whole scan) is where those greys are sampled: the writing's
        own area, so that a scan showing the leaf small on a white or black background takes the leaf's paper, not
        the background, for paper (on such a letter the whole leaf was taken for ink at the rules' level,
        :data:`RULE_LEVEL`).
        """
        region = self.gray
        if area is not None:
            left, top, right, bottom = (int(round(v)) for v in area)
            inner = self.gray[max(0, top):max(0, bottom), max(0, left):max(0, right)]
            region = inner if inner.size >= 64 else self.gray
        sample = region[:: max(1, region.shape[0] // 256), :: max(1, region.shape[1] // 256)]
        paper, dark = float(np.median(sample)), float(np.percentile(sample, 1))
        return InkMask(self.blocks < paper - level * (paper - dark), self.step)


def page_greys(page: Image.Image, max_side: int = INK_SIDE) -> PageGreys:
    """The page greyed and reduced to blocks so that its longer side is at most ``max_side``."""
    step = max(1, -(-max(page.size) // max_side))
    gray = np.asarray(page.convert("L"))
    blocks = gray
    if step > 1:
        h, w = (gray.shape[0] // step) * step, (gray.shape[1] // step) * step
        blocks = gray[:h, :w].reshape(h // step, step, w).min(axis=1).reshape(h // step, w // step, step).min(axis=2)
    return PageGreys(gray, blocks, step)
