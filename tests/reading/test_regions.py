"""Touching lines parted in the detector's map on a crowded page (inkwell.reading.lines.regions, and its place in
the detector's post-processing), and the outline that keeps an insertion's height between its neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from inkwell.reading.lines import detect
from inkwell.reading.lines.geometry import LineBox
from inkwell.reading.lines.ink import InkMask
from inkwell.reading.lines.outline import outline_lines
from inkwell.reading.lines.regions import LEAST_HEIGHT, part_lines, thicken


def dense_map() -> np.ndarray:
    """A detector's map of two lines and a note written small between them, all one region above 0.3.

    Line A (rows 40-60) is sure text except at two word gaps, where it falls to 0.6; line B (rows 120-140) is sure
    text; the note (rows 85-97, columns 150-280) is weaker, 0.7 around a core of 0.95, and touches both lines through
    faint strokes (0.35 and 0.4) that the detector's threshold keeps."""
    prob = np.zeros((180, 400), np.float32)
    prob[40:61, 20:381] = 0.97
    prob[40:61, 120:126] = prob[40:61, 250:256] = 0.6  # word gaps
    prob[120:141, 20:381] = 0.97
    prob[85:98, 150:281] = 0.7
    prob[89:94, 160:271] = 0.95
    prob[61:85, 260:263] = 0.35  # a stroke up to line A
    prob[98:120, 200:207] = 0.4  # and one down to line B
    return prob


def regions(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The 8-connected regions of a mask, as (top, bottom, left, right) of each, top to bottom."""
    import cv2

    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for k in range(1, n):
        ys, xs = np.nonzero(labels == k)
        boxes.append((int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())))
    return sorted(boxes)


def test_a_note_touching_two_lines_in_the_map_is_parted_from_both_and_a_lines_words_stay_one() -> None:
    pytest.importorskip("cv2")
    prob = dense_map()
    mask = (prob > 0.3).astype(np.uint8)
    assert len(regions(mask)) == 1  # as the detector's own post-processing sees it: one box over all three
    parted = regions(part_lines(prob, mask, 0.3))
    lines = [r for r in parted if r[3] - r[2] > 100]
    assert len(lines) == 3, parted
    (a_top, a_bottom, a_left, a_right), note, b = lines
    assert a_top <= 40 and 60 <= a_bottom < 80 and a_left <= 21 and a_right >= 379  # line A whole, across its gaps
    assert 70 <= note[0] <= 86 and 96 <= note[1] <= 112 and 148 <= note[2] <= 152 and 278 <= note[3] <= 282
    assert b[0] <= 120 and b[1] >= 140
    assert not part_lines(prob, np.zeros_like(mask), 0.3).any()


def test_thin_line_boxes_are_grown_about_their_centre_line() -> None:
    def quad(left: int, top: int, right: int, bottom: int) -> list[list[int]]:
        return [[left, top], [right, top], [right, bottom], [left, bottom]]

    lines = [quad(0, 100 * k, 400, 100 * k + 40) for k in range(5)]
    thin, mark = quad(100, 520, 300, 526), quad(500, 500, 506, 506)  # a parted note's core; a dot
    grown = thicken(np.array([*lines, thin, mark]))
    least = LEAST_HEIGHT * 40
    assert (grown[:5] == np.array(lines)).all() and (grown[6] == np.array(mark)).all()
    assert grown[5][2][1] - grown[5][1][1] == pytest.approx(least, abs=1)
    assert (grown[5][0][1] + grown[5][3][1]) / 2 == pytest.approx(523, abs=1)
    few = np.array([*lines[:2], thin, mark])
    assert (thicken(few) == few).all()  # too few lines to know the page's height


def test_the_closer_look_parts_touching_lines_before_boxing_them() -> None:
    """The crowded page's engine: RapidOCR's DB post-processing, made to part the lines first, gives the note a box of
    its own between the two lines'."""
    pytest.importorskip("rapidocr")
    from rapidocr.ch_ppocr_det.utils import DBPostProcess

    settings = detect.DETECTOR_SETTINGS
    op = DBPostProcess(thresh=settings["thresh"], box_thresh=settings["box_thresh"],
                       unclip_ratio=settings["unclip_ratio"], use_dilation=settings["use_dilation"], score_mode="slow")
    prob = dense_map()[None, None]
    before, _ = op(prob, prob.shape[2:])

    class Engine:  # RapidOCR's engine, as far as the parting reaches into it
        def _load_det_model(self) -> object:
            return self

        postprocess_op = op

    assert detect._parting_lines(Engine()).postprocess_op is op
    after, scores = op(prob, prob.shape[2:])
    assert len(before) == 1 and len(after) == 3 and len(scores) == 3
    a, note, b = sorted(after, key=lambda q: q[:, 1].mean())
    assert a[:, 1].mean() < 60 and b[:, 1].mean() > 120  # the lines' boxes, around rows 50 and 130
    assert 85 <= note[:, 1].mean() <= 100 and note[:, 0].min() >= 120 and note[:, 0].max() <= 310


def test_an_insertion_keeps_its_height_between_two_lines_whose_boxes_overlap_it() -> None:
    """A crowded page: lines 90 px apart in boxes 190 px tall (their ascenders and descenders), a note 40 px tall
    midway between two. The seams keep a share of each line's own height clear of its centre line, but never more
    than a share of the distance to the next (:data:`~inkwell.reading.lines.outline.SEAM_ROOM`): the note's outline
    is left most of its height, not a sliver between its neighbours' clearances."""
    def box(left: int, centre: int, right: int, tall: int) -> LineBox:
        return LineBox([(left, centre - tall // 2), (right, centre - tall // 2), (right, centre + tall // 2),
                        (left, centre + tall // 2)])

    lines = [box(100, 200 + 90 * k, 1500, 190) for k in range(5)]
    note = box(600, 245, 900, 40)
    ink = InkMask(np.zeros((800, 1600), dtype=bool))
    outlined = outline_lines([lines[0], note, *lines[1:]], ink)
    left, top, right, bottom = outlined[1].bbox
    assert bottom - top >= 20 and top <= 232 and bottom >= 258
