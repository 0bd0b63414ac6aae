"""Page or line: how 04_demo decides what an image is, and a synthetic page to try page mode on.

Stage ``reading``: imports :mod:`inkwell.data.synth` (for :func:`synthetic_page`). Finding the lines on a page is
:mod:`inkwell.reading.lines` (find, clean, join, order, outline, cut), whose face this module passes on for the
notebooks: :func:`~inkwell.reading.lines.detect_lines` and :func:`~inkwell.reading.lines.cut.crop_lines`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from inkwell.data.synth import DEMO_PHRASES, render_line

__all__ = [
    "LINE_ASPECT",
    "READ_MODES",
    "SyntheticPage",
    "looks_like_line",
    "synthetic_page",
]


#: Width / height at which an image counts as one text line for mode "auto". A line of even three
#: short words is 4 or more times as wide as tall (the demo lines: 5 to 12); a page, portrait or
#: landscape, is under 1.5; a paragraph of two or three lines under 3. 3.5 leaves room both ways.
LINE_ASPECT = 3.5


#: How 04_demo reads an image: "auto" (a line or a page, by :data:`LINE_ASPECT`), "lines" (each image is one
#: line) or "pages" (find the lines first).
READ_MODES = ("auto", "lines", "pages")


def looks_like_line(image: Image.Image) -> bool:
    """Whether an image is one text line rather than a page (for mode "auto").

    Args:
        image: Any image.

    Returns:
        True when its width is at least :data:`LINE_ASPECT` times its height.
    """
    width, height = image.size
    return height > 0 and width / height >= LINE_ASPECT


@dataclass
class SyntheticPage:
    """A page of synthetic handwriting lines, with where each line was put.

    Attributes:
        image: The RGB page.
        texts: The lines' texts, in reading order.
        boxes: Where each line image was pasted (left, top, right, bottom), in reading order.
    """

    image: Image.Image
    texts: list[str]
    boxes: list[tuple[int, int, int, int]]


def synthetic_page(
    n_lines: int = 6,
    *,
    columns: int = 1,
    size: tuple[int, int] = (1240, 1754),
    line_height: int = 56,
    seed: int = 0,
    fonts: Sequence[Path] = (),
) -> SyntheticPage:
    """Paste synthetic handwriting lines (:func:`inkwell.data.synth.render_line`) onto a white page.

    Lines are two demo phrases each, with a margin of a tenth of the page
    width, a small random indent and a random gap of 0.3 to 0.9 line heights
    between lines; with ``columns`` 2 the lines are split evenly, the first
    half down the left column. Lines that would not fit are left out.

    Args:
        n_lines: Lines wanted.
        columns: 1 or 2.
        size: Page width and height in pixels (default: A4 at 150 dpi).
        line_height: Height of each line image.
        seed: Seed of texts, styles and spacing.
        fonts: Font files for :func:`inkwell.data.synth.render_line` (empty: Pillow's bundled font).

    Returns:
        The page with its lines' texts and boxes, in reading order.

    Raises:
        ValueError: ``columns`` is not 1 or 2.
    """
    if columns not in (1, 2):
        raise ValueError(f"columns must be 1 or 2, got {columns}")
    rng = random.Random(seed)
    width, height = size
    page = Image.new("RGB", size, "white")
    margin = width // 10
    col_width = (width - 2 * margin - (columns - 1) * margin) // columns
    per_column = [n_lines // columns + (1 if c < n_lines % columns else 0) for c in range(columns)]
    texts: list[str] = []
    boxes: list[tuple[int, int, int, int]] = []
    for c, count in enumerate(per_column):
        x0, y = margin + c * (col_width + margin), margin
        for _ in range(count):
            text = " ".join(rng.sample(DEMO_PHRASES, 2))
            line = render_line(text, rng, fonts=fonts, height=line_height)
            if line.width > col_width:
                line = line.resize((col_width, max(1, round(line.height * col_width / line.width))))
            x = x0 + rng.randint(0, max(0, min(line_height, col_width - line.width)))
            if y + line.height > height - margin:
                break
            page.paste(line, (x, y))
            texts.append(text)
            boxes.append((x, y, x + line.width, y + line.height))
            y += line.height + int(line_height * rng.uniform(0.3, 0.9))
    return SyntheticPage(page, texts, boxes)
