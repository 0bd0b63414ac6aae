"""Page mode's line detector (PP-OCR detection through RapidOCR, CPU) on synthetic pages: speed and lines found.

    python scripts/bench_pages.py [--pages 5] [--lines 20] [--columns 1] [--line-height 44] [--max-side 960]

Builds ``--pages`` synthetic pages (``inkwell.reading.pages.synthetic_page``: A4 at 150 dpi by default, ``--lines``
lines each, varying spacing), detects once to build the engine and warm up, then times ``detect_lines`` on
every page. Prints the engine build time, seconds per page (mean, min, max), and lines found against lines
present: how many lines were found exactly once in the right place and order, missed, and extra boxes.
"""

from __future__ import annotations

import argparse
import statistics
import time

from inkwell.reading.lines import detect_lines
from inkwell.reading.lines.detect import MAX_SIDE
from inkwell.reading.pages import synthetic_page


def matched(boxes: list, truth: list[tuple[int, int, int, int]]) -> tuple[int, int, int]:
    """(lines found once in order, lines missed, boxes holding no line centre)."""
    centres = [((l + r) / 2, (t + b) / 2) for l, t, r, b in truth]
    owner = []
    for box in boxes:
        left, top, right, bottom = box.bbox
        inside = [i for i, (x, y) in enumerate(centres) if left <= x <= right and top <= y <= bottom]
        owner.append(inside[0] if len(inside) == 1 else (-1 if not inside else -2))
    in_order = sum(1 for k, i in enumerate(owner) if i >= 0 and owner.count(i) == 1 and k < len(truth) and i == k)
    missed = sum(1 for i in range(len(truth)) if i not in owner)
    extra = owner.count(-1)
    return in_order, missed, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--lines", type=int, default=20, help="lines per page")
    parser.add_argument("--columns", type=int, default=1, choices=(1, 2))
    parser.add_argument("--line-height", type=int, default=44, help="px; 44 fits 20 lines on A4 at 150 dpi")
    parser.add_argument("--max-side", type=int, default=MAX_SIDE)
    parser.add_argument("--width", type=int, default=1240)
    parser.add_argument("--height", type=int, default=1754)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pages = [synthetic_page(args.lines, columns=args.columns, size=(args.width, args.height),
                            line_height=args.line_height, seed=args.seed + k) for k in range(args.pages)]
    start = time.perf_counter()
    detect_lines(pages[0].image, max_side=args.max_side)
    build = time.perf_counter() - start
    seconds, present, found, in_order, missed, extra = [], 0, 0, 0, 0, 0
    for page in pages:
        start = time.perf_counter()
        boxes = detect_lines(page.image, max_side=args.max_side)
        seconds.append(time.perf_counter() - start)
        ok, miss, more = matched(boxes, page.boxes)
        present, found = present + len(page.boxes), found + len(boxes)
        in_order, missed, extra = in_order + ok, missed + miss, extra + more
    print(f"pages: {args.pages} x {args.width}x{args.height} px, {args.columns} column(s), "
          f"line height {args.line_height} px, detector max side {args.max_side}")
    print(f"engine build + first page: {build:.2f} s")
    print(f"seconds per page: mean {statistics.mean(seconds):.3f}, min {min(seconds):.3f}, max {max(seconds):.3f}")
    print(f"lines present {present}, boxes found {found}, found once in reading order {in_order}, "
          f"missed {missed}, extra boxes {extra}")


if __name__ == "__main__":
    main()
