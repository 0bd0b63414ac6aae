"""Page mode measured against line ground truth: lines found, boxes right, reading order kept.

Stage ``reading``: imports :mod:`inkwell.data.formats` (to read PAGE-XML and ALTO ground truth), lower
stages, and :mod:`inkwell.reading.pages` (the boxes it scores). ``scripts/bench_real.py`` prints these
figures for folders of real pages; the tests assert floors on small real fixtures.

A found box *matches* a ground-truth line when the intersection over union of their upright
bounding boxes is at least :data:`MATCH_IOU`; matching is one-to-one, best pairs first (each line
and each box used once). Recall is matched lines over ground-truth lines, precision matched boxes
over boxes found. Reading order is the share of consecutive ground-truth line pairs, both matched,
whose boxes page mode also reads one right after the other, lines found that match no ground-truth line left aside:
a note, a stamp or a clerk's line that the archivists did not transcribe, read beside the line it stands next to,
is no break in the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from inkwell.data.formats import alto, page_xml
from inkwell.data.formats.xmlpages import Points, descendants, local, parse_root, root_kind
from inkwell.data.images import IMAGE_SUFFIXES

__all__ = [
    "MATCH_IOU",
    "NOT_RUNNING_TEXT",
    "TWO_LINE_COVER",
    "GroundTruthPage",
    "PageScore",
    "box_iou",
    "ground_truth_pages",
    "line_labels",
    "match_boxes",
    "open_page",
    "score_page",
    "two_line_count",
]

#: Smallest intersection over union of two line boxes that counts as the same line.
MATCH_IOU = 0.3

#: SegmOnto labels (eScriptorium ALTO ``OtherTag LABEL``, on a line or on its block) of ground-truth lines that
#: are not running text: a drop capital is one large letter, and numbering, stamps, seals, graphics, music,
#: quire marks and scanning artefacts are not lines a reader of the text needs. Recall on running text leaves them
#: out; recall on all lines keeps them.
NOT_RUNNING_TEXT = frozenset({
    "DropCapitalLine", "DropCapitalZone", "NumberingZone", "StampZone", "SealZone", "GraphicZone", "MusicZone",
    "QuireMarksZone", "DigitizationArtefactZone",
})

#: A line found *holds two lines* when its polygon covers at least this share of the area of each of two
#: ground-truth line polygons.
TWO_LINE_COVER = 0.5

_Box = tuple[float, float, float, float]


@dataclass
class GroundTruthPage:
    """One page with its archivists' lines.

    Attributes:
        xml: The PAGE-XML or ALTO file.
        image: The page image beside it.
        polygons: Each line's polygon, in reading order as the file gives it.
        texts: Each line's text.
        baselines: Each line's baseline (empty when the file gives none).
        labels: Each line's SegmOnto labels (its own and its block's; empty when the file tags none).
    """

    xml: Path
    image: Path
    polygons: list[Points]
    texts: list[str]
    baselines: list[Points] = field(default_factory=list)
    labels: list[frozenset[str]] = field(default_factory=list)

    @property
    def running(self) -> list[bool]:
        """Whether each line is running text (no label of :data:`NOT_RUNNING_TEXT`)."""
        labels = self.labels or [frozenset()] * len(self.polygons)
        return [not (tags & NOT_RUNNING_TEXT) for tags in labels]

    @property
    def boxes(self) -> list[_Box]:
        """Each line's upright bounding box (left, top, right, bottom)."""
        return [_bbox(p) for p in self.polygons]


@dataclass
class PageScore:
    """How page mode did on one page.

    Attributes:
        lines: Ground-truth lines.
        found: Boxes page mode found.
        matched: Lines matched one-to-one to a box.
        pairs: Consecutive ground-truth pairs with both lines matched.
        in_order: Of those, pairs page mode reads one right after the other (lines found that match no
            ground-truth line left aside).
        seconds: Time page mode took on the page.
        running: Ground-truth lines of running text (:data:`NOT_RUNNING_TEXT` left out).
        running_matched: Of those, lines matched.
        two_lines: Lines found whose polygon holds two ground-truth lines (:func:`two_line_count`).
        two_running: Of those, lines found that hold two lines of running text (a folio number or a drop capital
            held with its line left out).
        flagged: Lines found flagged as probably not text.
        flagged_off: Of those, lines that match no ground-truth line (rightly flagged, as far as the ground truth
            tells: a page's untranscribed writing counts here too).
    """

    lines: int
    found: int
    matched: int
    pairs: int
    in_order: int
    seconds: float = 0.0
    running: int = 0
    running_matched: int = 0
    two_lines: int = 0
    two_running: int = 0
    flagged: int = 0
    flagged_off: int = 0


def _bbox(points: Sequence[tuple[float, float]]) -> _Box:
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def box_iou(a: _Box, b: _Box) -> float:
    """Intersection over union of two upright boxes (left, top, right, bottom)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(truth: Sequence[_Box], found: Sequence[_Box], threshold: float = MATCH_IOU) -> dict[int, int]:
    """One-to-one matching, best pairs first: ground-truth index -> found index.

    Args:
        truth: Ground-truth line boxes.
        found: Boxes found.
        threshold: Smallest IoU that counts.

    Returns:
        The matched pairs.
    """
    candidates = sorted(((box_iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)
                         if t[0] < f[2] and f[0] < t[2] and t[1] < f[3] and f[1] < t[3]), reverse=True)
    matched: dict[int, int] = {}
    used: set[int] = set()
    for iou, i, j in candidates:
        if iou < threshold:
            break
        if i in matched or j in used:
            continue
        matched[i] = j
        used.add(j)
    return matched


def _shape(points: Sequence[tuple[float, float]]) -> object:
    """A valid shapely polygon for a line's points (a self-crossing outline is repaired, not dropped)."""
    from shapely import make_valid
    from shapely.geometry import Polygon

    if len(points) < 3:
        return Polygon()
    return make_valid(Polygon(points))


def two_line_count(truth: Sequence[Points], found: Sequence[Points], cover: float = TWO_LINE_COVER,
                   counted: Sequence[bool] | None = None) -> int:
    """How many lines found hold two lines: their polygon covers at least ``cover`` of the area of each of two
    ground-truth line polygons (measured on the polygons themselves, with shapely).

    Args:
        truth: Ground-truth line polygons.
        found: Polygons of the lines found.
        cover: Share of a ground-truth line's area that counts as held.
        counted: Whether each ground-truth line counts (default: all do); e.g. running text only.

    Returns:
        The number of such lines found.
    """
    from shapely import STRtree

    lines = [_shape(p) for p in truth]
    areas = [g.area if counted is None or counted[k] else 0.0 for k, g in enumerate(lines)]
    tree = STRtree(lines)
    count = 0
    for points in found:
        shape = _shape(points)
        if shape.is_empty:
            continue
        held = 0
        for k in tree.query(shape):
            if areas[k] > 0 and shape.intersection(lines[k]).area >= cover * areas[k]:
                held += 1
                if held >= 2:
                    count += 1
                    break
    return count


def score_page(truth: Sequence[_Box], found: Sequence[_Box], seconds: float = 0.0,
               threshold: float = MATCH_IOU, *, running: Sequence[bool] | None = None,
               truth_polygons: Sequence[Points] | None = None,
               found_polygons: Sequence[Points] | None = None,
               not_text: Sequence[bool] | None = None) -> PageScore:
    """Score the boxes page mode found, in its reading order, against one page's lines.

    Args:
        truth: Ground-truth line boxes, in the ground truth's order.
        found: Boxes found, in page mode's reading order.
        seconds: Time it took (kept in the score).
        threshold: Smallest IoU that counts as a match.
        running: Whether each ground-truth line is running text (default: all are).
        truth_polygons: The ground-truth lines' polygons, for :func:`two_line_count` (default: not counted).
        found_polygons: The found lines' polygons (default: their boxes).
        not_text: Whether each line found is flagged as probably not text (default: none is).

    Returns:
        The page's :class:`PageScore`.
    """
    matched = match_boxes(truth, found, threshold)
    pairs = [(matched[i], matched[i + 1]) for i in range(len(truth) - 1) if i in matched and i + 1 in matched]
    used = sorted(matched.values())
    following = {a: b for a, b in zip(used, used[1:])}  # the next found line that is a ground-truth line
    in_order = sum(1 for a, b in pairs if following.get(a) == b)
    running = list(running) if running is not None else [True] * len(truth)
    two = two_running = 0
    if truth_polygons is not None:
        polygons = found_polygons if found_polygons is not None else [
            [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])] for b in found]
        two = two_line_count(truth_polygons, polygons)
        two_running = two_line_count(truth_polygons, polygons, counted=running) if not all(running) else two
    flags = list(not_text) if not_text is not None else [False] * len(found)
    found_matched = set(matched.values())
    return PageScore(len(truth), len(found), len(matched), len(pairs), in_order, seconds,
                     running=sum(running), running_matched=sum(1 for i in matched if running[i]), two_lines=two,
                     two_running=two_running, flagged=sum(flags),
                     flagged_off=sum(1 for j, f in enumerate(flags) if f and j not in found_matched))


def _image_beside(xml: Path, named: str) -> Path | None:
    """The page image an XML file names (in its folder), or the image with the XML file's stem."""
    if named:
        candidate = xml.parent / Path(named.replace("\\", "/")).name
        if candidate.is_file():
            return candidate
    for suffix in IMAGE_SUFFIXES:
        for name in (xml.stem + suffix, xml.stem + suffix.upper()):
            if (xml.parent / name).is_file():
                return xml.parent / name
    return None


def ground_truth_pages(folder: str | Path) -> list[GroundTruthPage]:
    """Every page with line ground truth in a folder: PAGE-XML or ALTO files and the images beside them.

    Pages with no TextLine, and XML files whose image is not there, are left out.

    Args:
        folder: A folder of ``.xml`` files and their page images.

    Returns:
        The pages, sorted by file name.

    Raises:
        FileNotFoundError: The folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (give a folder of PAGE-XML or ALTO files and their images)")
    readers = {"alto": alto.pages, "page_xml": page_xml.pages}
    out = []
    for xml in sorted(folder.glob("*.xml")):
        kind = root_kind(xml)
        if kind not in readers:
            continue
        for image_name, _declared, lines in readers[kind](xml):
            labels = line_labels(xml) if kind == "alto" else []
            if len(labels) != len(lines):
                labels = [frozenset()] * len(lines)
            kept = [k for k, line in enumerate(lines) if len(line[0]) >= 2]
            lines = [lines[k] for k in kept]
            image = _image_beside(xml, image_name)
            if not lines or image is None:
                continue
            out.append(GroundTruthPage(xml, image, [list(line[0]) for line in lines], [line[1] for line in lines],
                                       [list(line[2]) if len(line) > 2 else [] for line in lines],
                                       [labels[k] for k in kept]))
    return out


def line_labels(xml: Path) -> list[frozenset[str]]:
    """Each ALTO TextLine's SegmOnto labels, in document order: the labels its ``TAGREFS`` name and those of the
    block it sits in (``OtherTag LABEL``, as eScriptorium writes them; empty sets when the file has no tags)."""
    root = parse_root(xml, "alto")
    tags = {e.get("ID", ""): e.get("LABEL", "") for e in descendants(root, "OtherTag")}

    def named(elem: object) -> set[str]:
        return {tags.get(ref, "") for ref in (elem.get("TAGREFS") or "").split()} - {""}  # type: ignore[attr-defined]

    out: list[frozenset[str]] = []

    def walk(elem: object, inherited: frozenset[str]) -> None:
        for child in elem:  # type: ignore[attr-defined]
            name = local(child.tag)
            if name == "TextLine":
                out.append(frozenset(inherited | named(child)))
            else:
                walk(child, frozenset(inherited | named(child)) if name == "TextBlock" else inherited)

    walk(root, frozenset())
    return out


def open_page(page: GroundTruthPage) -> Image.Image:
    """A ground-truth page's image, decoded (real archive scans may be larger than Pillow's bomb guard)."""
    with Image.open(page.image) as im:
        im.load()
        return im.copy()
