"""Page mode on real pages with line ground truth: lines found, reading order, speed, and PP-OCR's CER.

    python scripts/bench_real.py FOLDER [FOLDER ...] [--max-side 960] [--no-baseline]

Each FOLDER holds PAGE-XML or ALTO files with the page images beside them (as eScriptorium and
Transkribus export them). For every page with line ground truth, page mode (``detect_lines``) runs on
the whole page and its boxes are matched one-to-one to the ground-truth lines (IoU >= 0.3 on the
upright line boxes, best pairs first). Prints one table, a row per folder and the total:

* recall: ground-truth lines matched; precision: boxes found that match a line;
* running: recall on running text, ground-truth lines tagged as drop capitals, numbering, stamps, seals,
  graphics or music left out (``linescore.NOT_RUNNING_TEXT``; PAGE-XML files tag none, so all their lines count);
* 2-line: lines found whose polygon covers at least half of each of two ground-truth line polygons (shapely),
  as a share of the lines found; 2-run: the same counting running-text lines only (a folio number or a drop
  capital held with its line left out);
* order: of the consecutive ground-truth line pairs whose lines were both found, the share page mode
  also reads one right after the other (lines found that match no ground-truth line, such as an untranscribed
  stamp or clerk's note, left aside);
* s/page: seconds of ``detect_lines`` per page (after the engine is built; the page already decoded);
* ppocr CER: the classic-OCR baseline (PP-OCR recognition inside ``rapidocr``) on the ground-truth
  line crops, characters in error over reference characters (``--no-baseline`` skips it);
* not-text: lines found flagged as probably not text (a stamp, a drawing, a mark), and the share of them that match
  no ground-truth line (a flag on a transcribed line is a wrong one; untranscribed writing counts as rightly flagged).
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

from inkwell.reading.baselines import read_baseline
from inkwell.evaluation.evaluate import line_cer
from inkwell.data.images import baseline_crop
from inkwell.reading.linescore import PageScore, ground_truth_pages, open_page, score_page
from inkwell.reading.lines import detect_lines
from inkwell.reading.lines.detect import MAX_SIDE
from inkwell.reading.lines.kinds import NOT_TEXT_FLAG


def ppocr_errors(page_image, page) -> tuple[float, int]:
    """(character errors, reference characters) of PP-OCR on one page's ground-truth line crops."""
    crops, refs = [], []
    for points, text, baseline in zip(page.polygons, page.texts, page.baselines or [[]] * len(page.texts)):
        crop = baseline_crop(page_image, points, baseline or None) if len(points) >= 3 else None
        if crop is not None and text.strip():
            crops.append(crop)
            refs.append(text.strip())
    if not crops:
        return 0.0, 0
    preds = read_baseline("ppocr", crops, progress=False)
    errors = sum(line_cer(r, p.text) * len(r) for r, p in zip(refs, preds))
    return errors, sum(len(r) for r in refs)


def row(name: str, scores: list[PageScore], errors: float, chars: int, baseline: bool) -> str:
    """One line of the table."""
    lines = sum(s.lines for s in scores)
    found = sum(s.found for s in scores)
    matched = sum(s.matched for s in scores)
    pairs = sum(s.pairs for s in scores)
    in_order = sum(s.in_order for s in scores)
    seconds = sum(s.seconds for s in scores) / max(1, len(scores))
    cer = f"{errors / chars:9.3f}" if baseline and chars else f"{'-':>9}"
    running = sum(s.running for s in scores)
    running_matched = sum(s.running_matched for s in scores)
    two = sum(s.two_lines for s in scores)
    two_running = sum(s.two_running for s in scores)
    flagged = sum(s.flagged for s in scores)
    flagged_off = sum(s.flagged_off for s in scores)
    return (f"{name:<22} {len(scores):>5} {lines:>6} {found:>6} {matched / max(1, lines):>7.3f} "
            f"{running_matched / max(1, running):>7.3f} {matched / max(1, found):>9.3f} "
            f"{two:>4} {two / max(1, found):>6.1%} {two_running / max(1, found):>6.1%} {in_order / max(1, pairs):>6.3f} {seconds:>7.2f} {cer} "
            f"{flagged:>5} {flagged_off / max(1, flagged):>6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="folders of PAGE-XML/ALTO files and their images")
    parser.add_argument("--max-side", type=int, default=MAX_SIDE, help="detect_lines' max_side")
    parser.add_argument("--no-baseline", action="store_true", help="skip PP-OCR's CER on the line crops")
    parser.add_argument("--pages", type=int, default=0, help="at most this many pages per folder (0: all)")
    parser.add_argument("--finder", choices=("ppocr", "kraken"), default="ppocr",
                        help="page mode over PP-OCR's detector, or kraken's baseline segmenter (if installed)")
    args = parser.parse_args()
    header = (f"{'folder':<22} {'pages':>5} {'lines':>6} {'found':>6} {'recall':>7} {'running':>7} {'precision':>9} "
              f"{'2-line':>11} {'2-run':>6} {'order':>6} {'s/page':>7} {'ppocr CER':>9} {'not-text':>12}")
    table, everything, all_errors, all_chars = [header], [], 0.0, 0
    find = functools.partial(detect_lines, finder=args.finder, max_side=args.max_side)
    warmed = False
    for folder in args.folders:
        pages = ground_truth_pages(folder)[: args.pages or None]
        scores, errors, chars = [], 0.0, 0
        for page in pages:
            image = open_page(page)
            if not warmed:  # build the detector once, outside the timings
                find(image)
                warmed = True
            start = time.perf_counter()
            boxes = find(image)
            seconds = time.perf_counter() - start
            scores.append(score_page(page.boxes, [b.bbox for b in boxes], seconds, running=page.running,
                                     truth_polygons=page.polygons, found_polygons=[b.polygon for b in boxes],
                                     not_text=[NOT_TEXT_FLAG in b.flags for b in boxes]))
            if not args.no_baseline:
                e, c = ppocr_errors(image, page)
                errors, chars = errors + e, chars + c
        table.append(row(folder.name, scores, errors, chars, not args.no_baseline))
        everything += scores
        all_errors, all_chars = all_errors + errors, all_chars + chars
    table.append(row("all", everything, all_errors, all_chars, not args.no_baseline))
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))
    finder = f"page mode (detect_lines, max_side {args.max_side})" if args.finder == "ppocr" else \
        "kraken's baseline segmenter (detect_lines, finder 'kraken')"
    print(f"{finder} against line ground truth, IoU >= 0.3 one-to-one; "
          f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={threads}")
    print("\n".join(table))


if __name__ == "__main__":
    main()
