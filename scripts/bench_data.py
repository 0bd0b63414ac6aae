"""Benchmark prepare_dataset against a bare PIL open+convert loop over the same line images.

Usage:
    python scripts/bench_data.py --n 5000 --workdir /tmp/inkwell-bench
    python scripts/bench_data.py --pages 200 --workdir /tmp/inkwell-bench   # a PAGE-XML export of whole pages

With ``--pages`` it writes a PAGE-XML 2019 export of synthetic A4 pages at 150 dpi (``page/*.xml`` beside the
page images, as Transkribus exports them; about 20 lines a page) and times 01_data on it: pages, lines, seconds.
"""

import argparse
import cProfile
import csv
import io
import pstats
import random
import shutil
import time
from pathlib import Path

from PIL import Image, ImageDraw

import inkwell.data.dataset
from helpers import prepare_dataset, synthetic_page
from inkwell.data.formats import page_xml


def make_images(folder: Path, n: int, seed: int = 0) -> Path:
    """Write n stroke-drawn line images (~64x600 PNG) and a labels.csv; return the CSV path."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,"
    rows = []
    for i in range(n):
        w, h = rng.randint(560, 640), rng.randint(56, 72)
        img = Image.new("RGB", (w, h), (250, 248, 240))
        draw = ImageDraw.Draw(img)
        x = 10
        while x < w - 20:
            pts = [(x + rng.randint(0, 14), rng.randint(12, h - 12)) for _ in range(4)]
            draw.line(pts, fill=(20, 20, 60), width=rng.randint(2, 3))
            x += rng.randint(8, 18)
        name = f"line_{i:06d}.png"
        img.save(folder / name)
        text = "".join(rng.choice(letters) for _ in range(rng.randint(10, 40))).strip() or "x"
        rows.append((name, text))
    csv_path = folder / "labels.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "text"])
        writer.writerows(rows)
    return csv_path


def make_pages(folder: Path, n: int) -> Path:
    """Write n synthetic pages (PNG) and their PAGE-XML files under folder/page/; return the folder."""
    (folder / "page").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        page = synthetic_page(20, line_height=44, seed=i)
        name = f"page_{i:05d}.png"
        page.image.save(folder / name)
        lines = [([(l, t), (r, t), (r, b), (l, b)], text) for (l, t, r, b), text in zip(page.boxes, page.texts)]
        page_xml.write(name, page.image.size, lines, folder / "page" / f"page_{i:05d}.xml")
    return folder


def bench_pages(workdir: Path, n: int) -> None:
    """01_data on a PAGE-XML export of n pages: pages, lines and seconds."""
    inputs = workdir / f"pages-{n}"
    if not (inputs / "page").is_dir() or len(list((inputs / "page").glob("*.xml"))) != n:
        shutil.rmtree(inputs, ignore_errors=True)
        t0 = time.perf_counter()
        make_pages(inputs, n)
        print(f"generated {n} pages in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    report = prepare_dataset(inputs, dataset_name="bench-pages", output_root=workdir / "out", format="page_xml",
                             overwrite=True, progress=False)
    seconds = time.perf_counter() - t0
    print(f"PAGE-XML export: {n} pages, {report.n_rows} lines read, {report.n_accepted} accepted, "
          f"{len(report.rejected)} rejected, in {seconds:.1f} s ({report.n_rows / seconds:.0f} lines/s)")


def bare_loop(paths: list[Path]) -> float:
    """Seconds to open and convert every file to RGB."""
    start = time.perf_counter()
    for p in paths:
        Image.open(p).convert("RGB")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="number of line images")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/inkwell-bench"))
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile run")
    parser.add_argument("--serial", action="store_true", help="validate in-process (no worker pool)")
    parser.add_argument("--pages", type=int, default=0, help="time a PAGE-XML export of this many pages instead")
    args = parser.parse_args()
    if args.serial:
        inkwell.data.dataset.PARALLEL_MIN_FILES = 10**12
    if args.pages:
        bench_pages(args.workdir, args.pages)
        return

    inputs = args.workdir / "raw"
    if not (inputs / "labels.csv").exists() or len(list(inputs.glob("*.png"))) != args.n:
        shutil.rmtree(inputs, ignore_errors=True)
        t0 = time.perf_counter()
        make_images(inputs, args.n)
        print(f"generated {args.n} images in {time.perf_counter() - t0:.1f}s")
    csv_path = inputs / "labels.csv"
    paths = sorted(inputs.glob("*.png"))
    bare_loop(paths[:200])  # warm the page cache and PIL plugins

    bare_s = bare_loop(paths)
    out = args.workdir / "out"
    t0 = time.perf_counter()
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
    report = prepare_dataset(csv_path, dataset_name="bench", output_root=out, overwrite=True, progress=False)
    prep_s = time.perf_counter() - t0
    if args.profile:
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
        print(buf.getvalue())
    bare_s2 = bare_loop(paths)
    bare_best = min(bare_s, bare_s2)

    n = len(paths)
    print(f"accepted {report.n_accepted}/{report.n_rows}, splits {report.split_sizes}")
    print(f"bare PIL open+convert: {n / bare_best:8.1f} images/s ({bare_best:.2f}s, best of 2)")
    print(f"prepare_dataset:       {n / prep_s:8.1f} images/s ({prep_s:.2f}s)")
    print(f"ratio prepare/bare:    {bare_best / prep_s:8.2f}")


if __name__ == "__main__":
    main()
