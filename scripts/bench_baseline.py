"""The classic-OCR baseline (PP-OCR through RapidOCR, CPU) on synthetic handwriting: speed and CER.

    python scripts/bench_baseline.py [--n 200] [--batch-size 16] [--baseline ppocr] [--font FILE.ttf ...]

Renders ``--n`` lines of the embedded synthetic handwriting set (``inkwell.data.synth``) into a temporary folder
(with the installed handwriting fonts, Pillow's bundled font when there are none, or the ``--font`` files),
reads them once to warm up, then times a second full pass. Prints the reader's build time, seconds per 100
lines, lines per second, and the corpus CER/WER (raw and normalised) with a few worst lines.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

from helpers import make_synthetic_lines, read_baseline
from inkwell.reading.baselines import load_baseline
from inkwell.evaluation.evaluate import score_lines, system_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="synthetic lines")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--baseline", default="ppocr")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worst", type=int, default=5, help="worst lines to print")
    parser.add_argument("--font", action="append", default=None, help="font file to render with (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        synth = make_synthetic_lines(Path(tmp) / "synthetic", args.n, seed=args.seed,
                                     fonts=[Path(f) for f in args.font] if args.font else None)
        with open(synth.labels, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        images = []
        for row in rows:
            with Image.open(synth.labels.parent / row["image"]) as im:
                images.append(im.convert("RGB"))
        t0 = time.perf_counter()
        load_baseline(args.baseline, batch_size=args.batch_size)
        build = time.perf_counter() - t0
        read_baseline(args.baseline, images, batch_size=args.batch_size, progress=False)  # warm-up pass
        t0 = time.perf_counter()
        preds = read_baseline(args.baseline, images, batch_size=args.batch_size, progress=False)
        seconds = time.perf_counter() - t0
    refs = [row["text"] for row in rows]
    scores = score_lines([row["image"] for row in rows], refs, [p.text for p in preds])
    m = system_metrics(args.baseline, scores)
    print(f"baseline: {args.baseline}, lines: {len(images)}, batch size: {args.batch_size}, "
          f"CPU cores: {os.cpu_count()}, fonts: {', '.join(Path(f).name for f in synth.fonts) or 'Pillow default'}")
    print(f"reader build:       {build:8.2f} s")
    print(f"seconds/100 lines:  {seconds / len(images) * 100:8.2f} s   ({len(images) / seconds:.1f} lines/s)")
    print(f"CER:                {m.cer:8.4f}   (normalised {m.cer_normalized:.4f})")
    print(f"WER:                {m.wer:8.4f}   (normalised {m.wer_normalized:.4f})")
    print(f"median line CER:    {m.median_cer:8.3f}   exact match: {m.exact_match:.1%}")
    for s in sorted(scores, key=lambda s: -s.cer)[: args.worst]:
        print(f"  CER {s.cer:5.2f}  {s.reference!r:28} -> {s.prediction!r}")


if __name__ == "__main__":
    main()
