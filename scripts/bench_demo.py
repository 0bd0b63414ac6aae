"""04_demo on a CPU: detector time per page, and lines per second read across pages vs one page at a time.

    python scripts/bench_demo.py [--pages 6] [--lines 8] [--batch-size 8] [--family qwen2_5_vl]

Builds synthetic pages (``--lines`` synthetic handwriting lines each, one column, A4 at 150 dpi), finds
their lines with PP-OCR's detector (:func:`inkwell.reading.lines.detect_lines`), then reads every line with the
tiny random-weight model twice: with the lines of all pages in shared batches, and page by page. Prints
the detector's seconds per page, lines found vs lines present, and lines per second for both ways of
batching. The tiny model reads nothing useful; what is measured is the work per line, which is what a
real model's batching changes too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import helpers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=6, help="synthetic pages")
    parser.add_argument("--lines", type=int, default=8, help="lines per page")
    parser.add_argument("--batch-size", type=int, default=8, help="lines decoded together")
    parser.add_argument("--family", default="qwen2_5_vl", help="tiny model family")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("INKWELL_HOME", tmp)
        pages = [helpers.synthetic_page(args.lines, line_height=44, seed=i).image for i in range(args.pages)]
        helpers.detect_lines(pages[0])  # builds the detector once
        started = time.perf_counter()
        found = [helpers.detect_lines(page) for page in pages]
        per_page = (time.perf_counter() - started) / len(pages)
        present = args.lines * len(pages)
        detected = sum(len(f) for f in found)
        size = pages[0].size
        print(f"pages: {len(pages)} of {size[0]}x{size[1]} px, {present} lines present, CPU threads: "
              f"{os.cpu_count()}")
        print(f"detector: {per_page:.2f} s per page; lines found {detected} of {present}")

        model = helpers.build_tiny_model(f"{tmp}/tiny", args.family)
        loaded = helpers.load_model(str(model), backend="transformers", gradient_checkpointing=False)
        reader = helpers.Reader(loaded, helpers.ImageLimits(), None)
        sources = [helpers.SourcePage(helpers.project_path(f"page-{i}.png"), 1, page) for i, page in enumerate(pages)]
        helpers.read_pages(reader, sources[:1], mode="pages", batch_size=args.batch_size, progress=False)  # warm-up
        best: dict[bool, float] = {}
        for across in (True, False, True, False):  # alternated, best of two each: the machine's load varies
            reading = helpers.read_pages(reader, sources, mode="pages", batch_size=args.batch_size,
                                         across_pages=across, progress=False)
            best[across] = min(best.get(across, float("inf")), reading.read_seconds)
        n = len(reading.lines)
        for across, seconds in best.items():
            how = "across pages" if across else "page by page"
            print(f"reading {how:<12}: {n} lines in {seconds:.1f} s = {n / seconds:.2f} lines/s "
                  f"(batch size {args.batch_size}, best of 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
