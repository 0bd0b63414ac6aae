"""Kinds: which lines run sideways (turned upright before they are read) and which are probably not text.

Stage ``reading``. A note written along the margin comes out of PP-OCR's detector as a box much taller than wide.
It gets a baseline running up the page (the way a note turned a quarter to the left reads, and PaddleOCR's own
assumption), so that :func:`~inkwell.data.images.baseline_crop` turns its crop upright; PP-OCR's text-direction
classifier (``ch_ppocr_mobile_v2.0_cls``, inside the ``rapidocr`` wheel) then looks at the turned crop and, when
sure it is upside down, the baseline is reversed (a note written running down the page).

A stamp, a seal or a drawing comes out as one or more boxes that are not the shape of writing: about as tall as
wide and taller than a line. Those are kept (the reader may still want them) with the flag
:data:`NOT_TEXT_FLAG`, which 04_demo shows and the corrector offers to mark as not text.

Every size is a share of the page's line height (:func:`~inkwell.reading.lines.geometry.line_height`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from PIL import Image

from inkwell.data.images import baseline_crop
from inkwell.reading.baselines import bgr_array, ppocr_engine, ppocr_model_path
from inkwell.reading.lines.geometry import LineBox, line_height

__all__ = [
    "NOT_TEXT_FLAG",
    "NOT_TEXT_SIZE",
    "PPOCR_CLS_MODEL",
    "SIDEWAYS_ASPECT",
    "SIDEWAYS_LENGTH",
    "TURN_SURE",
    "line_kinds",
    "turned",
]

#: A box at least this many times taller than wide is a line written sideways.
SIDEWAYS_ASPECT = 2.5

#: ... and at least this many line heights long (a tall letter or a number is not a line).
SIDEWAYS_LENGTH = 2.0

#: A box whose shorter side is at least this many line heights, and which is less than twice as long as tall
#: or as wide, is not the shape of writing (a stamp, a seal, a drawing): it is flagged :data:`NOT_TEXT_FLAG`.
NOT_TEXT_SIZE = 1.8

#: The flag of a line that is probably not text.
NOT_TEXT_FLAG = "probably_not_text"

#: The text-direction classifier inside the rapidocr wheel.
PPOCR_CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"

#: The classifier must be at least this sure that a turned sideways line is upside down to reverse it.
TURN_SURE = 0.9


@functools.lru_cache(maxsize=1)
def _classifier() -> object:
    """PP-OCR's text-direction classifier (0 or 180 degrees), built once."""
    return ppocr_engine({"Global.use_det": False, "Global.use_cls": True, "Global.use_rec": False,
                         "Cls.model_path": str(ppocr_model_path(PPOCR_CLS_MODEL))})


def _upside_down(crop: Image.Image) -> bool:
    """Whether the classifier is sure (:data:`TURN_SURE`) that a line crop reads upside down."""
    result = _classifier()(bgr_array(crop))
    labels = getattr(result, "cls_res", None) or []
    if not labels:
        return False
    label, score = labels[0]
    return str(label) == "180" and float(score) >= TURN_SURE


def line_kinds(page: Image.Image, boxes: Sequence[LineBox]) -> list[LineBox]:
    """Give sideways lines a baseline up (or down) the page, and flag shapes that are probably not text.

    Args:
        page: The page (for the direction classifier's look at sideways lines).
        boxes: The page's lines.

    Returns:
        The same lines, in the same order: sideways ones with a vertical baseline, non-text ones flagged.
    """
    height = line_height(boxes)
    if height <= 0:
        return list(boxes)
    out = []
    for box in boxes:
        left, top, right, bottom = box.bbox
        w, h = max(1, right - left), max(1, bottom - top)
        if h >= SIDEWAYS_ASPECT * w and h >= SIDEWAYS_LENGTH * height and not box.baseline:
            x = left + 0.7 * w  # a line turned to read upwards has its baseline on its right
            up = [(x, bottom), (x, top)]
            crop = baseline_crop(page.convert("RGB"), [(float(a), float(b)) for a, b in box.polygon], up)
            if crop is not None and _upside_down(crop):
                up = [(left + 0.3 * w, top), (left + 0.3 * w, bottom)]
            out.append(LineBox(box.polygon, box.score, up, box.flags))
        elif min(w, h) >= NOT_TEXT_SIZE * height and max(w, h) < 2 * min(w, h):
            out.append(LineBox(box.polygon, box.score, box.baseline, tuple({*box.flags, NOT_TEXT_FLAG})))
        else:
            out.append(box)
    return out


def turned(boxes: Sequence[LineBox]) -> int:
    """How many lines run sideways (a vertical baseline)."""
    return sum(1 for b in boxes if len(b.baseline) >= 2
               and abs(b.baseline[-1][1] - b.baseline[0][1]) > abs(b.baseline[-1][0] - b.baseline[0][0]))

