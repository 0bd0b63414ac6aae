"""Cut: each line's image, along its outline, as 01_data cuts an eScriptorium or Transkribus line.

Stage ``reading``.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from inkwell.data.images import baseline_crop, to_rgb
from inkwell.reading.lines.geometry import LineBox

__all__ = [
    "crop_lines",
]


def crop_lines(page: Image.Image, boxes: Sequence[LineBox]) -> list[Image.Image]:
    """Cut line images out of a page along their outlines, as 01_data cuts an ALTO or PAGE-XML line.

    Each line is cut by :func:`inkwell.data.images.baseline_crop`, the function 01_data uses for the lines of
    an eScriptorium or Transkribus export: the bounding box of its polygon, everything outside the polygon
    painted in the paper's colour, turned upright when its baseline runs up or down the page (a note written
    sideways in the margin). A line read in 04_demo, a line corrected and saved, and a line imported from
    eScriptorium so look alike to the model.

    Args:
        page: The page the boxes were found on.
        boxes: Lines, e.g. from :func:`detect_lines`.

    Returns:
        One RGB image per line, in the order given (a 1 x 1 white image for a line with no area).
    """
    rgb = to_rgb(page)
    crops = []
    for box in boxes:
        points = [(float(x), float(y)) for x, y in box.polygon]
        crop = baseline_crop(rgb, points, [(float(x), float(y)) for x, y in box.baseline] or None)
        crops.append(crop if crop is not None else Image.new("RGB", (1, 1), "white"))
    return crops
