"""Find: PaddleOCR's PP-OCR text detector on a page, offline, seen closer when the lines are dense.

Stage ``reading``. PP-OCR's detector is a DB segmentation network, run by RapidOCR on ONNX Runtime on the CPU,
detection only: no orientation classifier, no recognition. Its model is the file inside the ``rapidocr`` wheel,
named explicitly, so nothing is downloaded. ``rapidocr`` (and through it ``onnxruntime``) is loaded when the first
page is detected. On a dense page's closer look, lines that touch in the detector's map are parted before they are
boxed (:mod:`~inkwell.reading.lines.regions`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image

from inkwell.reading.baselines import bgr_array, ppocr_engine, ppocr_model_path
from inkwell.reading.lines.geometry import LineBox, box_axes, overlap
from inkwell.reading.lines.regions import part_lines, thicken

__all__ = [
    "DENSE_CROWDING",
    "DENSE_MAX_SIDE",
    "DENSE_SETTINGS",
    "DETECTOR_SETTINGS",
    "MAX_SIDE",
    "PPOCR_DET_MODEL",
    "crowding",
    "detect_boxes",
]


#: The PP-OCR text detection model shipped inside the rapidocr wheel.
PPOCR_DET_MODEL = "PP-OCRv6_det_small.onnx"


#: Longest page side the detector sees (the page is scaled down to it, never up). PaddleOCR's own
#: default: a 150 dpi A4 page (1240 x 1754) becomes about 680 x 960, where handwriting lines are still
#: 25 pixels or more tall. On two CPU cores a page takes about 0.37 s (736: no faster; 1280: 0.6 s).
MAX_SIDE = 960


#: Detector settings (RapidOCR ``Det.*``) chosen for handwriting lines:
#: ``thresh`` 0.3 is the text-probability cut of the segmentation map (PaddleOCR's default);
#: ``box_thresh`` 0.4, a little below the default 0.5, keeps faint pencil and light ink (synthetic
#: lines score 0.6 to 0.8); ``unclip_ratio`` 2.0, above the default 1.6, grows each text core more so
#: that ascenders, descenders and slanted strokes stay inside the box; ``use_dilation`` joins
#: thin strokes of one word; ``limit_type`` "max" makes :data:`MAX_SIDE` an upper bound.
DETECTOR_SETTINGS: dict[str, object] = {
    "thresh": 0.3,
    "box_thresh": 0.4,
    "unclip_ratio": 2.0,
    "use_dilation": True,
    "score_mode": "fast",
    "limit_type": "max",
}


#: A page whose line boxes are this many times taller than the spacing of its lines (:func:`crowding`) is
#: detected again at twice the size (at most :data:`DENSE_MAX_SIDE`): measured on real pages, single
#: lines give 1.0 to 1.8, a dense letter with interlinear notes 2.2 (its recall 0.56 -> 0.76 seen closer).
DENSE_CROWDING = 2.0


#: Longest side the detector sees a crowded page at.
DENSE_MAX_SIDE = 1920

#: Settings that differ when a crowded page is seen closer: each text region is scored by the mean text probability
#: inside its own outline (``slow``), not inside its upright-turned rectangle (``fast``). On a crowded page the lines
#: curve and slope, so a line's rectangle is mostly paper and its ``fast`` score fell under ``box_thresh``: 6 of the
#: dense letter f27's 60 lines had no box. Scored by outline, it gets 65 boxes instead of 58 (letters' running recall
#: 0.934 to 0.947). On every page, ``slow`` also keeps faint marks that are not text (precision 0.956 to 0.942 on the
#: letters, 0.569 to 0.541 on the wills), so the first look keeps ``fast``.
DENSE_SETTINGS: dict[str, object] = {"score_mode": "slow"}


@functools.lru_cache(maxsize=4)
def _detector(max_side: int, crowded: bool = False) -> object:
    """The PP-OCR text detector engine for one size limit, for a first look or a crowded page's closer one (built
    once, then reused; the closer one parts touching lines, :func:`_parting_lines`)."""
    settings = {f"Det.{k}": v for k, v in {**DETECTOR_SETTINGS, **(DENSE_SETTINGS if crowded else {})}.items()}
    engine = ppocr_engine({
        "Global.use_det": True,
        "Global.use_cls": False,
        "Global.use_rec": False,
        "Global.max_side_len": max(2000, max_side),  # RapidOCR's own first resize: never below ours
        "Det.model_path": str(ppocr_model_path(PPOCR_DET_MODEL)),  # named explicitly: never downloaded
        "Det.limit_side_len": max_side,
        **settings,
    })
    return _parting_lines(engine) if crowded else engine


def _parting_lines(engine: object) -> object:
    """The engine, its detector's DB post-processing made to part touching lines before it boxes the regions
    (:func:`~inkwell.reading.lines.regions.part_lines`) and to give thin lines their height
    (:func:`~inkwell.reading.lines.regions.thicken`).

    RapidOCR builds its text detector on first use (``_load_det_model``) with a ``postprocess_op``, a
    ``DBPostProcess``; that object is given a subclass whose ``__call__`` does the same steps with the parting between
    the mask and the boxes. The lock pins RapidOCR; an engine without these parts is returned as it is (the page is
    then found as on the first look, touching lines together)."""
    load = getattr(engine, "_load_det_model", None)
    post = getattr(load(), "postprocess_op", None) if callable(load) else None
    if post is None or not hasattr(post, "boxes_from_bitmap"):
        return engine
    post.__class__ = _parting_class(type(post))
    return engine


@functools.cache
def _parting_class(base: type) -> type:
    """A subclass of RapidOCR's ``DBPostProcess`` whose regions are parted into lines before they are boxed."""

    def __call__(self: object, pred: np.ndarray, ori_shape: tuple[int, int]) -> tuple[np.ndarray, list[float]]:
        import cv2

        src_h, src_w = ori_shape
        prob = pred[:, 0, :, :][0]
        mask = (prob > self.thresh).astype(np.uint8)
        if self.dilation_kernel is not None:
            mask = cv2.dilate(mask, self.dilation_kernel)
        boxes, scores = self.boxes_from_bitmap(prob, part_lines(prob, mask, self.thresh), src_w, src_h)
        return self.filter_det_res(thicken(boxes), scores, src_h, src_w)

    return type("PartingDBPostProcess", (base,), {"__call__": __call__})


def _detect(pixels: np.ndarray, max_side: int, crowded: bool = False) -> list[LineBox]:
    """The detector's raw boxes on a page (BGR array) seen at ``max_side`` (``crowded``: :data:`DENSE_SETTINGS`)."""
    result = _detector(max_side, crowded)(pixels)
    quads = getattr(result, "boxes", None)
    if quads is None or len(quads) == 0:
        return []
    scores = list(getattr(result, "scores", None) or [1.0] * len(quads))
    return [LineBox([(float(x), float(y)) for x, y in quad], float(s)) for quad, s in zip(quads, scores)]


def crowding(boxes: Sequence[LineBox]) -> float:
    """How much taller the lines' boxes are than the spacing between them: the median, over lines with a
    line below them in the same column, of the box's height over the distance to the next centre below.

    Boxes of one line each stand about 1.5 line spacings tall (the detector grows each text core);
    around 2 or more, boxes hold two lines each, staggered: the page's lines are too close for the
    size the detector saw it at. 0 when fewer than 4 lines can be compared.
    """
    wide = [(b, box_axes(b)[2]) for b in boxes if box_axes(b)[3] > 4 * box_axes(b)[2]]
    ratios = []
    for box, height in wide:
        left, _, right, _ = box.bbox
        below = [c for c, _ in wide if c.center[1] > box.center[1]
                 and overlap(left, right, c.bbox[0], c.bbox[2]) > 0.5 * min(right - left, c.bbox[2] - c.bbox[0])]
        if below:
            pitch = min(c.center[1] for c in below) - box.center[1]
            ratios.append(height / max(1.0, pitch))
    return float(np.median(ratios)) if len(ratios) >= 4 else 0.0


def detect_boxes(page: Image.Image, max_side: int = MAX_SIDE) -> list[LineBox]:
    """Find: PP-OCR's raw text boxes on a page, seen again closer when its lines are too close (:func:`crowding`
    above :data:`DENSE_CROWDING`), its regions then scored by their outlines (:data:`DENSE_SETTINGS`).

    Args:
        page: The page image (PIL, any mode).
        max_side: Longest side the detector sees; larger pages are scaled down for detection (boxes are in the
            page's own pixels).

    Returns:
        The detector's 4-point boxes, unordered; empty for a blank page.

    Raises:
        ValueError: ``max_side`` is under 32.
    """
    if max_side < 32:
        raise ValueError(f"max_side must be at least 32, got {max_side}")
    width, height = page.size
    if width < 2 or height < 2:
        return []
    pixels = bgr_array(page)
    found = _detect(pixels, int(max_side))
    closer = min(DENSE_MAX_SIDE, 2 * int(max_side), max(width, height))
    if closer > max_side and crowding(found) > DENSE_CROWDING:  # lines too close for this size: look closer
        found = _detect(pixels, closer, crowded=True)
    return found
