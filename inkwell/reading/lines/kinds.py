"""Kinds: which lines run sideways (turned upright before they are read), which are probably not text, and which
is the page's number.

Stage ``reading``. A note written along the margin comes out of PP-OCR's detector as a box much taller than wide.
It gets a baseline running up the page (the way a note turned a quarter to the left reads, and PaddleOCR's own
assumption), so that :func:`~inkwell.data.images.baseline_crop` turns its crop upright. Which way up is then
decided by reading: PP-OCR's recognizer (inside the ``rapidocr`` wheel) reads the turned crop and the crop turned
half round, and the baseline is reversed (a note running down the page) when that reads clearly better
(:data:`TURN_MARGIN`). PP-OCR's own direction classifier was tried first and dropped: on the soldiers' wills it
called upright stamped and handwritten notes upside down with scores up to 0.99, while the recognizer's scores
put all five of them the right way up.

On a page of text, a stamp, a seal or a drawing comes out as one or more boxes that are not the shape of writing:
about as tall as wide and taller than a line. Those are kept (the reader may still want them) with the flag
:data:`NOT_TEXT_FLAG`, which 04_demo shows and the corrector offers to mark as not text. So is a smaller box no
longer than it is tall that the recognizer does not read as digits (:data:`MARK_ASPECT`): a leaf of a painted
border, a blot, a flourish. Writing is longer than tall; what is not, on such a page, is a number or a mark. On a
table neither is flagged: a tall cell, a paraph, a figure or a ditto mark is a field there.

A page or folio number, written alone in a top or bottom corner, is read after the text, as archivists' ground truth
reads it (SegmOnto's ``NumberingZone``, outside the main text): a box at most :data:`NUMBER_WIDTH` line heights
wide, in the page's first or last row, that PP-OCR's recognizer reads as digits (:data:`NUMBER_SCORE`). Its shape
alone would not do: a short first word ("Sire", a date) stands there too. So is a number written in the margin
beside a line of text, outside every box of its row (a folio or note number halfway down a letter's margin), on a
page of text (on a table, a number beside its row is the row's own field), before the page's number.

Every size is a share of the page's line height (:func:`~inkwell.reading.lines.geometry.line_height`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from PIL import Image

from inkwell.data.images import baseline_crop, quarter_turns
from inkwell.reading.baselines import bgr_array, ppocr_recognizer
from inkwell.reading.lines.geometry import LineBox, is_long, is_sideways, is_table, line_height

__all__ = [
    "MARK_ASPECT",
    "NOT_TEXT_FLAG",
    "NOT_TEXT_SIZE",
    "NUMBER_SCORE",
    "NUMBER_WIDTH",
    "TURN_MARGIN",
    "line_kinds",
    "turned",
]

#: On a page of text, a box whose shorter side is at least this many line heights, and which is less than twice as
#: long as tall or as wide, is not the shape of writing (a stamp, a seal, a drawing): it is flagged
#: :data:`NOT_TEXT_FLAG`. Not on a table, where such a box is a tall cell or a paraph: on the registers every one of
#: the 28 flagged so was a transcribed field.
NOT_TEXT_SIZE = 1.8

#: On a page of text, a box at most this many times as long as it is tall, smaller than :data:`NOT_TEXT_SIZE`,
#: is a mark, flagged :data:`NOT_TEXT_FLAG`, unless it reads as digits (:data:`NUMBER_SCORE`; a point after them
#: allowed). On the 121 pages measured (docs/benchmarks.md), 93% of the boxes flagged match no transcribed line.
MARK_ASPECT = 1.0

#: The flag of a line that is probably not text.
NOT_TEXT_FLAG = "probably_not_text"

#: A page number is at most this many line heights wide (four digits of an average hand)...
NUMBER_WIDTH = 1.5

#: ... and read as digits alone with a recognizer score (0 to 1) of at least this. On the shared letters, the 7
#: folio numbers read at 0.74 to 1.0; the other short boxes of a first or last row read as no digits.
NUMBER_SCORE = 0.5
_DIGITS = re.compile(r"\d{1,4}")
_NUMBERED = re.compile(r"\d{1,4}[.,:]?")

#: A sideways line is taken to run down the page when its crop turned half round reads with a recognizer score
#: (0 to 1) at least this much higher than as first turned.
TURN_MARGIN = 0.1


@functools.lru_cache(maxsize=1)
def _recognizer() -> object:
    """PP-OCR's recognizer, built once."""
    return ppocr_recognizer(2)


def _upside_down(crop: Image.Image) -> bool:
    """Whether a line crop reads clearly better (:data:`TURN_MARGIN`) turned half round."""
    out = _recognizer().recognize_txt([bgr_array(crop), bgr_array(crop.rotate(180))])
    scores = [float(s) for s in (getattr(out, "scores", None) or (0.0, 0.0))]
    return len(scores) == 2 and scores[1] >= scores[0] + TURN_MARGIN


def _page_numbers(page: Image.Image, boxes: Sequence[LineBox], height: float, on_text: bool) -> dict[int, bool]:
    """The lines that are numbers outside the text, each index with whether it is the page's own number: short,
    read as digits alone, and either in the first or last row (their centre above the bottom of every line outside
    their row, or below the top of every such line: a word written a little higher in that row, a heading or an
    archivist's mark, does not push a number out of it) at its end (no line of that row on both sides: a number
    inside a line, "paid 3 shillings", is text), the page's number; or, on a page of text, in the margin beside a
    long line (wholly left or right of every box of its row); ``on_text``: the page is no table."""
    bboxes = [b.bbox for b in boxes]  # each outline's upright box, once (an outline has a hundred points or so)
    candidates = []
    for i, box in enumerate(boxes):
        left, top, right, bottom = bboxes[i]
        if right - left > NUMBER_WIDTH * height or quarter_turns(box.baseline):
            continue
        middle = (top + bottom) / 2
        in_row = {k for k, b in enumerate(bboxes) if k != i and b[1] < bottom and b[3] > top}
        row = [bboxes[k] for k in in_row]
        rest = [b for k, b in enumerate(bboxes) if k != i and k not in in_row]  # the rows above and below it
        inside = any(b[2] <= left for b in row) and any(b[0] >= right for b in row)
        corner = bool(rest) and not inside and (all(middle < b[3] for b in rest) or all(middle > b[1] for b in rest))
        margin = (on_text and any(is_long(boxes[k]) for k in in_row)
                  and (all(right < b[0] for b in row) or all(left > b[2] for b in row)))
        if corner or margin:
            crop = baseline_crop(page, [(float(a), float(b)) for a, b in box.polygon], None)
            if crop is not None:
                candidates.append((i, corner, crop))
    digits = _read_as_digits([crop for _, _, crop in candidates])
    return {i: corner for (i, corner, _), number in zip(candidates, digits) if number}


def _read_as_digits(crops: Sequence[Image.Image], digits: re.Pattern[str] = _DIGITS) -> list[bool]:
    """Whether PP-OCR's recognizer reads each crop as ``digits`` alone, with a score of :data:`NUMBER_SCORE` or
    more."""
    if not crops:
        return []
    out = _recognizer().recognize_txt([bgr_array(crop) for crop in crops])
    texts = list(getattr(out, "txts", None) or [""] * len(crops))
    scores = [float(s) for s in (getattr(out, "scores", None) or [0.0] * len(crops))]
    return [bool(digits.fullmatch(text.strip())) and score >= NUMBER_SCORE for text, score in zip(texts, scores)]


def _marks(page: Image.Image, boxes: Sequence[LineBox]) -> set[int]:
    """The lines no longer than tall (:data:`MARK_ASPECT`), neither sideways nor flagged already, that do not read
    as digits (a chapter's ``3.`` with its point)."""
    candidates = []
    for i, box in enumerate(boxes):
        left, top, right, bottom = box.bbox
        if (NOT_TEXT_FLAG not in box.flags and not quarter_turns(box.baseline)
                and right - left <= MARK_ASPECT * (bottom - top)):
            crop = baseline_crop(page, [(float(a), float(b)) for a, b in box.polygon], None)
            if crop is not None:
                candidates.append((i, crop))
    digits = _read_as_digits([crop for _, crop in candidates], _NUMBERED)
    return {i for (i, _), number in zip(candidates, digits) if not number}


def line_kinds(page: Image.Image, boxes: Sequence[LineBox]) -> list[LineBox]:
    """Give sideways lines a baseline up (or down) the page, flag shapes that are probably not text, and put the
    numbers in the margins, then the page's own number, after the text.

    Args:
        page: The page (for the recognizer's look at sideways lines, marks and page numbers).
        boxes: The page's lines, in reading order.

    Returns:
        The same lines: sideways ones with a vertical baseline, non-text shapes and marks flagged, in the same order
        but for the numbers outside the text, moved to the end (a number in a margin before the page's number).
    """
    height = line_height(boxes)
    if height <= 0:
        return list(boxes)
    rgb = page.convert("RGB")  # the page the recognizer's crops are cut from
    on_text = not is_table(boxes)  # on a table, a tall cell or a figure is a field
    out = []
    for box in boxes:
        left, top, right, bottom = box.bbox
        w, h = max(1, right - left), max(1, bottom - top)
        if is_sideways(box, height) and not box.baseline:
            x = left + 0.7 * w  # a line turned to read upwards has its baseline on its right
            up = [(x, bottom), (x, top)]
            crop = baseline_crop(rgb, [(float(a), float(b)) for a, b in box.polygon], up)
            if crop is not None and _upside_down(crop):
                up = [(left + 0.3 * w, top), (left + 0.3 * w, bottom)]
            out.append(LineBox(box.polygon, box.score, up, box.flags))
        elif on_text and min(w, h) >= NOT_TEXT_SIZE * height and max(w, h) < 2 * min(w, h):
            out.append(LineBox(box.polygon, box.score, box.baseline, tuple({*box.flags, NOT_TEXT_FLAG})))
        else:
            out.append(box)
    marks = _marks(rgb, out) if on_text else set()
    out = [LineBox(b.polygon, b.score, b.baseline, (*b.flags, NOT_TEXT_FLAG)) if i in marks else b
           for i, b in enumerate(out)]
    numbers = _page_numbers(rgb, out, height, on_text)
    last = sorted(numbers, key=lambda i: (numbers[i], i))  # the margins' numbers, then the page's own
    return [b for i, b in enumerate(out) if i not in numbers] + [out[i] for i in last]


def turned(boxes: Sequence[LineBox]) -> int:
    """How many lines run sideways (a vertical baseline)."""
    return sum(1 for b in boxes if quarter_turns(b.baseline))

