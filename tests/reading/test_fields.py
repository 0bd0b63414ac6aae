"""A register's short fields that the detector boxes together: one written under the other in a narrow column
(``split.split_tall``), or two side by side across a column rule on a page whose long entries make it read as text
(``clean.split_at_rules``). Synthetic ink masks, so each test sets exactly what tells fields from one piece of
writing."""

from __future__ import annotations

import numpy as np

from inkwell.reading.lines.clean import split_at_rules
from inkwell.reading.lines.geometry import LineBox, is_table
from inkwell.reading.lines.ink import InkMask, rule_columns
from inkwell.reading.lines.split import split_tall


def rect(left: float, top: float, right: float, bottom: float) -> LineBox:
    return LineBox([(left, top), (right, top), (right, bottom), (left, bottom)])


def table_page() -> tuple[InkMask, list[LineBox]]:
    """Two columns of short fields (numbers, dates), 40 px tall, 60 px apart, with writing 24 px tall: a table."""
    ink = InkMask(np.zeros((900, 1200), dtype=bool))
    boxes = []
    for k in range(8):
        for left, width in ((100, 60), (300, 100)):
            ink.mask[108 + 60 * k:132 + 60 * k, left + 8:left + width - 8:3] = True
            boxes.append(rect(left, 100 + 60 * k, left + width, 140 + 60 * k))
    assert is_table(boxes)
    return ink, boxes


def test_two_fields_written_one_under_the_other_are_cut_apart() -> None:
    ink, boxes = table_page()
    ink.mask[600:624, 708:752:3] = True  # "24"
    ink.mask[636:660, 708:752:3] = True  # "24" again, 12 px (0.3 line heights) of paper between
    ink.mask[:, 726:732] = True  # and a column rule running down through both
    both = rect(700, 596, 760, 664)
    parts = split_tall([*boxes, both], ink)
    assert len(parts) == len(boxes) + 2
    upper, lower = parts[-2:]
    assert 624 <= upper.bbox[3] <= 636 and upper.bbox[3] == lower.bbox[1]


def test_one_tall_piece_of_writing_in_a_narrow_box_stays_whole() -> None:
    ink, boxes = table_page()
    ink.mask[600:660, 708:712] = True  # a long stroke down the box (a tall letter, a flourish): no paper across it
    ink.mask[600:624, 716:752:3] = True
    ink.mask[636:660, 716:752:3] = True
    dot = rect(800, 596, 860, 664)  # a figure with a dot 4 px tall above it: a dot is no field
    ink.mask[600:604, 820:826] = True
    ink.mask[620:660, 808:852:3] = True
    close = rect(900, 596, 960, 664)  # two bands 2 px apart: a figure's own pen lift, thinner than a field's gap
    ink.mask[600:629, 908:952:3] = True
    ink.mask[631:660, 908:952:3] = True
    stem = rect(700, 596, 760, 664)
    out = split_tall([*boxes, stem, dot, close], ink)
    assert out[-3:] == [stem, dot, close]


def test_fields_on_a_page_of_text_are_left_to_the_lines() -> None:
    ink = InkMask(np.zeros((900, 1200), dtype=bool))
    lines = [rect(100, 100 + 60 * k, 900, 140 + 60 * k) for k in range(8)]
    ink.mask[600:624, 1008:1052:3] = True
    ink.mask[636:660, 1008:1052:3] = True
    narrow = rect(1000, 596, 1060, 664)
    assert split_tall([*lines, narrow], ink)[-1] is narrow


def test_a_short_box_across_a_column_rule_is_cut_on_a_page_of_text() -> None:
    """A repertory whose long entries make it read as text: ``272`` and ``15(13)`` in one box across the rule between
    their columns are cut there, as on a table; a long line's word past a frame stays (RULE_SIDE), and so does a
    short box written over a rule, ink up to it on both sides (a painted initial over a column's frame)."""
    ink = InkMask(np.zeros((900, 1200), dtype=bool))
    lines = [rect(500, 100 + 60 * k, 1100, 140 + 60 * k) for k in range(8)]
    ink.mask[:, 370:372] = True  # the rule between the number's column and the date's
    ink.mask[608:632, 320:360:3] = True  # "272", paper up to the rule
    ink.mask[608:632, 376:412:3] = True  # "15(13)"
    fields = rect(312, 600, 420, 640)  # a short box, the rule 1.5 box heights from its left end
    ink.mask[:, 200:202] = True  # a frame rule under a painted initial, ink right up to it on both sides
    ink.mask[700:740, 140:200] = True
    ink.mask[700:740, 202:260] = True
    initial = rect(132, 696, 268, 744)
    out = split_at_rules([*lines, fields, initial], ink)
    assert len(out) == len(lines) + 3
    left, right = out[-3:-1]
    assert left.bbox[0] == 312 and 368 <= left.bbox[2] <= 374 and right.bbox[2] == 420
    assert out[-1].polygon == initial.polygon


def test_a_row_of_fields_across_two_rules_is_cut_at_both_on_a_page_of_text() -> None:
    """``435 | 5 | Adhésion`` in one long box (7 box heights), both rules within two box heights of its ends: cut at
    both, though a long line's last word past one frame stays with it. The faint horizontal ruling under the writing
    is in the rules' mask, not in the ink where the paper beside a rule is looked for."""
    rules = InkMask(np.zeros((900, 1200), dtype=bool))
    lines = [rect(500, 100 + 60 * k, 1100, 140 + 60 * k) for k in range(8)]
    rules.mask[:, 190:192] = True
    rules.mask[:, 380:382] = True
    rules.mask[620, :] = True  # the page's faint ruling, across the middle of the row
    writing = InkMask(np.zeros_like(rules.mask))
    for x0, x1 in ((140, 182), (200, 250), (390, 425)):
        writing.mask[608:632, x0:x1:3] = True
    rules.mask |= writing.mask
    row = rect(130, 600, 430, 640)
    out = split_at_rules([*lines, row], rules, writing)
    ends = [b.bbox[2] for b in out[len(lines):]]
    assert len(ends) == 3 and abs(ends[0] - 191) <= 3 and abs(ends[1] - 381) <= 3 and ends[2] == 430
    assert split_at_rules([*lines, row], rules)[len(lines):] == [row]  # the ruling read as ink: no paper, no cut
    rules.mask[:, 380:382] = False  # one rule only, 1.5 box heights from the start: a word past its frame
    assert split_at_rules([*lines, row], rules, writing)[len(lines):] == [row]


def test_a_narrow_field_between_two_close_rules_is_a_piece_of_its_own() -> None:
    """A one-figure field (``5``) between its column's rules, the rules closer together than the box is tall: cut at
    both (rules closer than half the box height, a double rule, still give one cut)."""
    rules = InkMask(np.zeros((900, 1200), dtype=bool))
    lines = [rect(500, 100 + 60 * k, 1100, 140 + 60 * k) for k in range(8)]
    rules.mask[:, 160:162] = True
    rules.mask[:, 195:197] = True
    for x0, x1 in ((136, 156), (168, 190), (202, 235)):
        rules.mask[608:632, x0:x1:3] = True
    box = rect(130, 600, 240, 640)  # short: 2.75 box heights
    out = split_at_rules([*lines, box], rules)[len(lines):]
    assert len(out) == 3 and abs(out[1].bbox[0] - 161) <= 3 and abs(out[1].bbox[2] - 196) <= 3


def test_a_slanted_rule_is_found_on_a_crop_as_on_the_whole_page() -> None:
    """A column rule drifting 1% across (a page scanned a little turned), with line heights of 150 pixels: a crop
    gives the ink mask at full size, a whole page a reduced one (each block as dark as its darkest pixel); the rule
    is found on all three, at its place."""
    full = np.zeros((1200, 1200), dtype=bool)
    for y in range(1200):
        x = int(400 + 0.01 * y)
        full[y, x:x + 2] = True
    for step in (1, 2, 3):
        reduced = full.reshape(1200 // step, step, 1200 // step, step).any(axis=(1, 3))
        ink = InkMask(reduced, step)
        ruled, first = rule_columns(ink, 300, 500, 600, 150)
        where = first + np.flatnonzero(ruled) * step
        assert where.size and abs(where.mean() - 406) <= 6, step


def test_a_narrow_field_between_close_rules_is_cut_out_on_a_table_too() -> None:
    ink, boxes = table_page()
    ink.mask[:, 640:642] = True
    ink.mask[:, 670:672] = True
    for x0, x1 in ((606, 636), (646, 666), (676, 716)):
        ink.mask[608:632, x0:x1:3] = True
    row = rect(600, 600, 720, 640)  # the rules 30 px apart, under the box's height (40)
    out = split_at_rules([*boxes, row], ink)[len(boxes):]
    assert len(out) == 3 and abs(out[1].bbox[0] - 641) <= 3 and abs(out[1].bbox[2] - 671) <= 3


def test_rules_drawn_down_through_the_writing_cut_no_line_but_a_frame_between_columns_does() -> None:
    """A page ruled in red down its middle after the writing (every line written across the rules, as on a Latin
    manuscript kept apart): the lines stay whole, though each rule stands far from their ends. Two columns whose
    frame rule the detector ran one box across: the lines around end and start at the rule, so that box is cut."""
    ink = InkMask(np.zeros((900, 1200), dtype=bool))
    ink.mask[:, 400:402] = True
    ink.mask[:, 650:652] = True
    for k in range(8):
        ink.mask[108 + 60 * k:132 + 60 * k, 108:892:3] = True  # writing right across both rules
    lines = [rect(100, 100 + 60 * k, 900, 140 + 60 * k) for k in range(8)]
    assert split_at_rules(lines, ink) == lines

    frame = InkMask(np.zeros((900, 1200), dtype=bool))
    frame.mask[:, 600:602] = True
    left = [rect(100, 100 + 60 * k, 560, 140 + 60 * k) for k in range(8) if k != 4]
    right = [rect(640, 100 + 60 * k, 1100, 140 + 60 * k) for k in range(8) if k != 4]
    across = rect(100, 340, 1100, 380)  # one box over both columns' fifth lines
    out = split_at_rules([*left, *right, across], frame)
    assert len(out) == len(left) + len(right) + 2 and abs(out[-2].bbox[2] - 601) <= 3
