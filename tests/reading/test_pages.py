"""inkwell.reading.lines and .pages: every line of a synthetic page is found once, in reading order, and cut out readable."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from inkwell.reading.baselines import read_baseline
from inkwell.evaluation.evaluate import line_cer
from inkwell.reading.lines import detect_lines
from inkwell.reading.lines.cut import crop_lines
from inkwell.reading.lines.geometry import LineBox
from inkwell.reading.lines.join import merge_fragments
from inkwell.reading.lines.order import reading_order
from inkwell.reading.pages import LINE_ASPECT, looks_like_line, synthetic_page
from inkwell.data.synth import render_line


def rect(left: int, top: int, right: int, bottom: int, score: float = 1.0) -> LineBox:
    """An upright line box."""
    return LineBox([(left, top), (right, top), (right, bottom), (left, bottom)], score)


def sloped(left: float, top: float, right: float, bottom: float, slope: float) -> LineBox:
    """A box from its left edge's top and bottom and its right end, its top and bottom edges sloping by ``slope``."""
    rise = slope * (right - left)
    return LineBox([(left, top), (right, top + rise), (right, bottom + rise), (left, bottom)])


def assert_found_in_order(boxes: list[LineBox], truth: list[tuple[int, int, int, int]]) -> None:
    """One detected box per line, the i-th containing the i-th line's centre and no other line's."""
    assert len(boxes) == len(truth), (len(boxes), len(truth))
    for i, (box, (left, top, right, bottom)) in enumerate(zip(boxes, truth)):
        bl, bt, br, bb = box.bbox
        cx, cy = (left + right) / 2, (top + bottom) / 2
        assert bl <= cx <= br and bt <= cy <= bb, (i, box.bbox, (left, top, right, bottom))
        others = [t for j, t in enumerate(truth) if j != i]
        assert not any(bl <= (t[0] + t[2]) / 2 <= br and bt <= (t[1] + t[3]) / 2 <= bb for t in others), i


def test_one_column_page_every_line_once_top_to_bottom(no_network: None) -> None:
    pytest.importorskip("rapidocr")
    page = synthetic_page(6, seed=0)
    assert len(page.texts) == 6
    boxes = detect_lines(page.image)
    assert_found_in_order(boxes, page.boxes)
    width, height = page.image.size
    for box in boxes:
        assert len(box.polygon) >= 4 and len(box.baseline) == 2 and 0 < box.score <= 1
        assert all(0 <= x < width and 0 <= y < height for x, y in box.polygon)
        ring = box.polygon + box.polygon[:1]
        area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) / 2
        assert area > 0  # clockwise on the page (y down), from the top-left


def test_two_column_page_left_column_first(no_network: None) -> None:
    pytest.importorskip("rapidocr")
    page = synthetic_page(6, columns=2, seed=1)
    boxes = detect_lines(page.image)
    assert_found_in_order(boxes, page.boxes)
    middle = page.image.width / 2
    assert [b.center[0] < middle for b in boxes] == [True] * 3 + [False] * 3


def test_a_full_page_and_a_grayscale_one(no_network: None) -> None:
    """An A4 page at 150 dpi with 20 lines of varying spacing, read as RGB and as grayscale."""
    pytest.importorskip("rapidocr")
    page = synthetic_page(20, seed=4, line_height=48)
    assert len(page.texts) >= 16
    assert_found_in_order(detect_lines(page.image), page.boxes)
    assert_found_in_order(detect_lines(page.image.convert("L")), page.boxes)


def test_lines_written_with_wide_word_gaps_are_found_whole(no_network: None) -> None:
    """Words pasted apart (gaps the detector splits at) come back as one box per line with merge_gap raised,
    and by default every word is found and read in the text's order (row by row, left to right)."""
    pytest.importorskip("rapidocr")
    rng = random.Random(7)
    page = Image.new("RGB", (1240, 1000), "white")
    truth, y = [], 100
    for text in ("walked by the river", "supper with Tom", "the garden is green", "paid 3 shillings"):
        x = 120
        for word in text.split():
            image = render_line(word, rng, height=56)
            page.paste(image, (x, y))
            x += image.width + rng.randint(20, 45)
        truth.append((120, y, x, y + 56))
        y += 56 + rng.randint(20, 40)
    assert_found_in_order(detect_lines(page, merge_gap=1.0), truth)
    pieces = detect_lines(page)
    rows = [next(k for k, (_, top, _, bottom) in enumerate(truth) if top <= b.center[1] <= bottom) for b in pieces]
    assert rows == sorted(rows) and set(rows) == {0, 1, 2, 3}
    for k in range(4):
        lefts = [b.bbox[0] for b, r in zip(pieces, rows) if r == k]
        assert lefts == sorted(lefts)
        assert min(lefts) <= 124 and max(b.bbox[2] for b, r in zip(pieces, rows) if r == k) >= truth[k][2] - 50  # truth ends after the last gap


def test_blank_and_tiny_pages_have_no_lines(no_network: None) -> None:
    pytest.importorskip("rapidocr")
    assert detect_lines(Image.new("RGB", (800, 1000), "white")) == []
    assert detect_lines(Image.new("RGB", (1, 1), "white")) == []
    with pytest.raises(ValueError):
        detect_lines(Image.new("RGB", (100, 100), "white"), max_side=8)


def test_cropped_lines_are_readable(no_network: None) -> None:
    """The crops are good line images: PP-OCR's recogniser reads them almost perfectly."""
    pytest.importorskip("rapidocr")
    page = synthetic_page(6, seed=0)
    crops = crop_lines(page.image, detect_lines(page.image))
    texts = [p.text for p in read_baseline("ppocr", crops, progress=False)]
    cers = [line_cer(ref, hyp) for ref, hyp in zip(page.texts, texts)]
    assert sum(cers) / len(cers) < 0.1, list(zip(page.texts, texts))
    assert max(cers) < 0.3, list(zip(page.texts, texts))


def test_crops_have_the_size_of_their_boxes(no_network: None) -> None:
    page = synthetic_page(3, seed=2)
    boxes = [rect(*b) for b in page.boxes] + [rect(10, 10, 30, 90), rect(5, 5, 5, 5)]
    crops = crop_lines(page.image.convert("L"), boxes)
    assert len(crops) == len(boxes) and all(c.mode == "RGB" for c in crops)
    for crop, box in zip(crops[:-1], boxes[:-1]):
        left, top, right, bottom = box.bbox
        assert crop.size == (right - left, bottom - top)  # a tall box is cut upright, not turned
    assert crops[-1].size == (1, 1)  # no area: a blank placeholder, so the crops stay aligned with the boxes
    gray = page.image.convert("L").convert("RGB")
    assert np.abs(np.asarray(crops[0], dtype=int) - np.asarray(gray.crop(page.boxes[0]), dtype=int)).max() <= 2
    pytest.importorskip("rapidocr")
    found = detect_lines(page.image)
    for crop, box in zip(crop_lines(page.image, found), found):
        left, top, right, bottom = box.bbox
        assert abs(crop.width - (right - left)) <= 0.02 * (right - left) + 2
        assert 0.75 * (bottom - top) <= crop.height <= bottom - top + 2


def test_looks_like_line() -> None:
    line = render_line("letter from Anna", random.Random(0), height=64)
    assert looks_like_line(line)
    assert not looks_like_line(synthetic_page(3, seed=0).image)  # portrait page
    assert not looks_like_line(Image.new("RGB", (1754, 1240)))  # landscape page
    assert not looks_like_line(Image.new("RGB", (300, 200)))  # a paragraph
    assert looks_like_line(Image.new("RGB", (int(LINE_ASPECT * 40), 40)))
    assert not looks_like_line(Image.new("RGB", (10, 0)))


def test_word_fragments_merge_into_lines_but_columns_stay_apart() -> None:
    words = [rect(100, 100, 200, 140, 0.9), rect(215, 102, 300, 143, 0.7), rect(320, 98, 420, 139, 0.8)]
    other_column = rect(600, 101, 800, 141)  # a gutter of 4 line heights
    next_line = rect(100, 170, 380, 210)
    merged = merge_fragments([words[2], next_line, words[0], other_column, words[1]], max_gap=1.0)
    assert len(merged) == 3
    line = next(b for b in merged if b.bbox[0] == 100 and b.bbox[1] < 150)
    left, top, right, bottom = line.bbox  # around all three words (the middle one reaches lowest), and tight
    assert 96 <= left <= 100 and 94 <= top <= 98 and 420 <= right <= 424 and 143 <= bottom <= 147
    assert line.polygon[1][1] < line.polygon[0][1]  # it follows the line, rising slightly to the right
    assert 0.7 < line.score < 0.9
    assert merge_fragments([]) == []


def test_reading_order_columns_and_bands() -> None:
    left = [rect(100, 150 + 60 * i, 500, 190 + 60 * i) for i in range(4)]
    right = [rect(650, 160 + 60 * i, 1050, 200 + 60 * i) for i in range(3)]
    right[1] = rect(680, 220, 900, 260)  # a short line, still in its column
    two_columns = [*left, *right]
    assert reading_order(sorted(two_columns, key=lambda b: b.center[1])) == two_columns
    # a letter: the date above the text on the right, the signature far below it
    date, signature = rect(800, 50, 1000, 90), rect(800, 700, 1000, 740)
    body = [rect(100, 150 + 60 * i, 700 - 40 * i, 190 + 60 * i) for i in range(6)]
    letter = [date, *body, signature]
    shuffled = letter[:]
    random.Random(5).shuffle(shuffled)
    assert reading_order(shuffled) == letter
    # boxes on one height within a column: left to right
    pair = [rect(300, 100, 500, 140), rect(100, 102, 310, 141), rect(100, 160, 500, 200)]
    assert reading_order(pair) == [pair[1], pair[0], pair[2]]
    assert reading_order([]) == []


def test_an_interlinear_insertion_is_read_where_it_stands_unless_it_continues_the_line_below() -> None:
    """Words added over a line's own words (with a caret) are read where they stand, before that line, as archivists
    transcribe them; words written just over the end of a line and past it (a will's ``ou à ses héritiers`` over the
    end of ``plessis d'Arbigny-sous-Varennes, la``) continue it and are read after it. A short line of its own, a full
    line spacing from its neighbours, stays where it stands."""
    lines = [rect(100, 100 + 60 * i, 900, 140 + 60 * i) for i in range(7)]
    lines[5] = rect(600, 400, 900, 440)  # a short line, right-aligned, with room of its own
    over = rect(150, 203, 350, 233)  # centre 218: 22 px over line 2's centre, 38 under line 1's; over its words
    past = rect(760, 323, 960, 353)  # centre 338: 22 px over line 4's centre, past its end at 900
    expected = [*lines[:2], over, lines[2], lines[3], lines[4], past, *lines[5:]]
    assert reading_order(sorted(expected, key=lambda b: b.center[0])) == expected
    # past the line below's end too, but nearer the line above: read after the line above, where it stands
    high = rect(760, 305, 960, 335)  # centre 320: 20 px under line 3's centre, 40 over line 4's
    expected = [*lines[:4], high, *lines[4:]]
    assert reading_order(sorted(expected, key=lambda b: b.center[0])) == expected
    # as long as most of a line: not words added but a line squeezed in (a crowded page), read where it stands
    squeezed = rect(450, 203, 900, 233)
    expected = [*lines[:2], squeezed, *lines[2:]]
    assert reading_order(sorted(expected, key=lambda b: b.center[0])) == expected


def test_a_column_written_on_a_slope_is_read_along_it() -> None:
    """Lines rising to the right (a fifth of a pixel a pixel), 60 px apart: a word written past the end of a short line
    stands higher on the page than the middle of the line above it, and is still read right after its own line, not
    before the line above."""
    lines = [sloped(100, 200 + 60 * i, 880, 240 + 60 * i, -0.2) for i in range(6)]
    lines[2] = sloped(100, 320, 760, 360, -0.2)  # a short line
    word = rect(780, 176, 860, 216)  # on line 2's slope past its end; centre 196, line 1's centre 202
    expected = [*lines[:3], word, *lines[3:]]
    assert reading_order(sorted(expected, key=lambda b: b.center[0])) == expected


def test_close_columns_stay_apart_despite_a_box_across_them_and_initials_at_their_edge() -> None:
    """Two columns 20 px apart: the detector's box over both lines of one row, and each right-hand line's
    initial touching the left column's line ends, used to chain both columns into one, read row by row."""
    left = [rect(100, 100 + 50 * i, 500, 140 + 50 * i) for i in range(8)]
    right = [rect(520, 105 + 50 * i, 920, 145 + 50 * i) for i in range(8)]
    left[3] = rect(100, 252, 920, 295)  # row 4 of both columns, one box
    del right[3]
    initials = [rect(480, 150, 560, 195), rect(480, 350, 560, 395)]  # a quarter over the left line's end
    found = reading_order(sorted(left + right + initials, key=lambda b: (b.center[1], b.center[0])))
    assert found[:8] == left  # the box across both columns is read with the column holding its start
    assert found[8:] == [right[0], initials[0], *right[1:4], initials[1], *right[4:]]


def test_a_table_of_short_fields_is_read_row_by_row() -> None:
    """A register: numbers, dates and ditto marks in short fields beside a column of names; the archivists read
    each row across. A few boxes written over two fields' edges tie the fields together."""
    fields = [(100, 180), (230, 330), (350, 460), (500, 700)]
    rows = [[rect(x0, 100 + 50 * i, x1, 140 + 50 * i) for x0, x1 in fields] for i in range(5)]
    rows[1][1] = rect(160, 150, 260, 190)  # over the number's and the date's fields
    rows[2][3] = rect(430, 200, 570, 240)  # a name starting in the field before
    rows[3][2] = rect(300, 250, 410, 290)  # over the date's and the third field
    boxes = [b for row in rows for b in row]
    assert reading_order(sorted(boxes, key=lambda b: b.center[0])) == boxes


def test_line_box_checks_its_points() -> None:
    box = LineBox([(10.4, 20.6), (50, 20), (50, 40), (10, 40)], 0.5)
    assert box.polygon[0] == (10, 21) and box.bbox == (10, 20, 50, 40) and box.height == 20
    assert box.center == (30, 30)
    with pytest.raises(ValueError):
        LineBox([(0, 0), (1, 0)])
