"""Finding the text lines on a page, as straight stages, each a module of its own.

Stage ``reading``. :func:`detect_lines` runs them in this order, each once, each taking the previous one's lines:

1. **find** (:mod:`~inkwell.reading.lines.detect`): PP-OCR's text detector, its 4-point boxes; on a crowded page,
   seen closer, with lines that touch in its map parted first (:mod:`~inkwell.reading.lines.regions`);
2. **clean** (:mod:`~inkwell.reading.lines.clean`): cut where a ruled line crosses a box, drop a facing page's
   fragments at the scan's edge; and (:mod:`~inkwell.reading.lines.gutters`) cut a box the detector ran across
   two close columns of text where their gutter runs;
3. **join** (:mod:`~inkwell.reading.lines.join`): pieces of one line become one box;
4. **marks** (:mod:`~inkwell.reading.lines.marks`, ruled registers only): ditto marks become fields; and
   (:mod:`~inkwell.reading.lines.rubrics`, pages in colour) a row of black writing that runs into a red heading is
   cut where the red begins;
5. **split** (:mod:`~inkwell.reading.lines.split`): a box over two or more lines is cut into one per line, and
   on a table, a box over fields written one under the other into one per field;
6. **order** (:mod:`~inkwell.reading.lines.order`): reading order, columns left to right;
7. **outline** (:mod:`~inkwell.reading.lines.outline`): each line's polygon, cut along the seams to its neighbours;
8. **kinds** (:mod:`~inkwell.reading.lines.kinds`): sideways notes get a baseline up the page, stamps and
   drawings a flag, and a page number standing alone in a corner, or a number in the margin beside a line of text,
   is read after the text;

and **cut** (:mod:`~inkwell.reading.lines.cut`) makes each line's image along its polygon. The shared record and
geometry are in :mod:`~inkwell.reading.lines.geometry`, the page's ink masks in :mod:`~inkwell.reading.lines.ink`.

``finder="kraken"`` replaces stages 1 to 7 by kraken's baseline segmenter (:mod:`~inkwell.reading.lines.kraken`),
where kraken is installed: the lines come with its own polygons, baselines and reading order; then **kinds** flags
stamps and puts a page number last, as for page mode (a sideways line keeps the baseline kraken gave it).
"""

from __future__ import annotations

from PIL import Image

from inkwell.data.images import to_rgb
from inkwell.reading.lines.clean import drop_edge_fragments, split_at_rules
from inkwell.reading.lines.detect import MAX_SIDE, detect_boxes
from inkwell.reading.lines.geometry import LINE_PAD, LineBox, line_height, pad_box
from inkwell.reading.lines.ink import INK_LEVEL, RULE_LEVEL, page_greys
from inkwell.reading.lines.gutters import split_at_gutters
from inkwell.reading.lines.join import MERGE_GAP, merge_fragments
from inkwell.reading.lines.kinds import line_kinds
from inkwell.reading.lines.kraken import kraken_lines
from inkwell.reading.lines.marks import MARK_LEVEL, table_marks
from inkwell.reading.lines.order import reading_order
from inkwell.reading.lines.outline import outline_lines
from inkwell.reading.lines.rubrics import page_redness, split_at_rubrics
from inkwell.reading.lines.split import split_tall

__all__ = ["LINE_FINDERS", "LineBox", "detect_lines"]

#: The line finders: ``"ppocr"``, page mode over PP-OCR's detector (the default: about a second a page on two CPU
#: cores, nothing to install); ``"kraken"``, kraken's baseline segmenter (optional, several times slower on a CPU).
LINE_FINDERS = ("ppocr", "kraken")


def detect_lines(page: Image.Image, *, finder: str = "ppocr", max_side: int = MAX_SIDE,
                 merge_gap: float = MERGE_GAP) -> list[LineBox]:
    """Find the text lines on a page, in reading order, each with its own polygon.

    Args:
        page: The page image (PIL, any mode).
        finder: One of :data:`LINE_FINDERS`.
        max_side: Longest side PP-OCR's detector sees; larger pages are scaled down for detection (lines are in
            the page's own pixels). Raise it for pages with very small writing, lower it for speed.
        merge_gap: Boxes side by side on one line are joined across gaps up to this many line heights
            (:func:`~inkwell.reading.lines.join.merge_fragments`; never across a ruled line or a column gutter).

    Returns:
        One :class:`~inkwell.reading.lines.geometry.LineBox` per line, in reading order; empty for a blank page.

    Raises:
        ValueError: An unknown ``finder``, or ``max_side`` under 32.
        RuntimeError: ``finder="kraken"`` where kraken is not installed (the message says what to do).
    """
    if finder not in LINE_FINDERS:
        raise ValueError(f"line_finder = {finder!r}: choose one of {LINE_FINDERS}.")
    if finder == "kraken":  # its own polygons, baselines and order; stamps flagged and page numbers last, as here
        return line_kinds(page, kraken_lines(page))
    if page.mode not in ("RGB", "L"):  # a 16-bit scan greyed as is would be all paper to the ink masks
        page = to_rgb(page)
    found = detect_boxes(page, max_side)  # 1. find
    if not found:
        return []
    width, height = page.size
    greys = page_greys(page)  # greyed and reduced once, thresholded four times
    ink, faint, fainter = (greys.mask(level) for level in (INK_LEVEL, MARK_LEVEL, RULE_LEVEL))
    # ruled lines at the rules' level, with the paper's grey taken where the writing is (a leaf shown small on a
    # white scan would otherwise be taken for ink there); the marks' steps keep the whole scan's greys
    writing = (min(b.bbox[0] for b in found), min(b.bbox[1] for b in found),
               max(b.bbox[2] for b in found), max(b.bbox[3] for b in found))
    rules = greys.mask(RULE_LEVEL, area=writing)
    found = split_at_rules(drop_edge_fragments(found, width, height), rules, ink)  # 2. clean
    found = split_at_gutters(found, ink)
    found = merge_fragments(found, max_gap=merge_gap, ink=rules)  # 3. join
    found = table_marks(found, faint, fainter)  # 4. marks
    found = split_at_rubrics(found, ink, page_redness(page, greys.step))
    found = split_tall(found, ink)  # 5. split
    pad = LINE_PAD * line_height(found)
    found = reading_order([pad_box(b, pad, width, height) for b in found])  # 6. order
    found = outline_lines(found, ink)  # 7. outline
    return line_kinds(page, found)  # 8. kinds
