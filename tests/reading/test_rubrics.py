"""Rubrics: a row of black writing running into a red heading is cut where the colour changes, on real pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from inkwell.reading.lines.geometry import LineBox
from inkwell.reading.lines.ink import INK_LEVEL, page_greys
from inkwell.reading.lines.rubrics import page_redness, split_at_rubrics

REAL = Path(__file__).parents[1] / "fixtures" / "realpages"


def rect(left: float, top: float, right: float, bottom: float) -> LineBox:
    """An upright box."""
    return LineBox([(left, top), (right, top), (right, bottom), (left, bottom)])


def cut(page: Image.Image, boxes: list[LineBox]) -> list[LineBox]:
    """The rubrics stage on a page, with the page's own ink and red masks."""
    greys = page_greys(page)
    return split_at_rubrics(boxes, greys.mask(INK_LEVEL), page_redness(page, greys.step))


def test_a_red_heading_after_black_writing_on_one_row_is_cut_off() -> None:
    # BnF fr. 1728 f24 (cremma-medieval): a column's rows run black text into a sub-column of red rubrics; the
    # detector's box covers both. The archivists' lines: black ends at x 431-434 of this crop, red starts at 444-447.
    page = Image.open(REAL / "medieval_bnf_fr_1728_f24_rubrics.jpg")
    rows = [rect(48, 27, 862, 160), rect(52, 113, 845, 231), rect(52, 185, 852, 310), rect(52, 274, 856, 382)]
    whole = rect(48, 422, 852, 542)  # "te nuise. et cõment le chief fel": black from end to end
    pieces = cut(page, [*rows, whole])
    assert len(pieces) == 2 * len(rows) + 1
    for k in range(len(rows)):
        black, red = pieces[2 * k], pieces[2 * k + 1]
        assert 425 <= black.bbox[2] == red.bbox[0] <= 450
    assert pieces[-1] is whole


def test_a_red_label_opening_a_black_line_stays_with_it() -> None:
    # BnF fr. 1728 f10: "le sage. Ne soies pas conuoi": the red "le sage." names who speaks; one line, as the
    # archivists keep it.
    page = Image.open(REAL / "medieval_bnf_fr_1728_f10.jpg")
    line = rect(742, 1101, 1153, 1159)
    assert cut(page, [line]) == [line]


def drawn(colours: list[tuple[int, int, int]], mode: str = "RGB") -> tuple[Image.Image, LineBox]:
    """A page with one row of word-like blocks in the given colours, and the box over the row."""
    page = Image.new("RGB", (1200, 400), (235, 225, 205))
    draw = ImageDraw.Draw(page)
    x = 40
    for colour in colours:
        draw.rectangle([x, 180, x + 70, 220], fill=colour)
        x += 90
    return page.convert(mode), rect(30, 170, x, 230)


BLACK, RED = (60, 50, 40), (190, 60, 40)


def test_only_a_long_red_stretch_after_plain_writing_is_cut() -> None:
    page, box = drawn([BLACK] * 5 + [RED] * 5)
    left, right = cut(page, [box])
    assert left.bbox[2] == right.bbox[0] and 40 + 4 * 90 + 70 <= left.bbox[2] <= 40 + 5 * 90
    page, box = drawn([RED] + [BLACK] * 9)  # a red initial word: plain writing
    assert cut(page, [box]) == [box]
    page, box = drawn([RED] * 3 + [BLACK] * 7)  # a red label opening the line: read with it
    assert cut(page, [box]) == [box]
    page, box = drawn([BLACK] * 9 + [RED])  # one red word at the end: too short for a line of its own
    assert cut(page, [box]) == [box]


def test_a_page_without_colour_is_left_as_it_is() -> None:
    page, box = drawn([BLACK] * 5 + [RED] * 5, mode="L")
    assert page_redness(page, 1) is None
    assert cut(page, [box]) == [box]
    page, box = drawn([BLACK] * 10)
    assert page_redness(page, 1) is None
