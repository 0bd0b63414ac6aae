"""Builders of small annotation sources on disk (line images, tables, PAGE-XML, ALTO, PaddleOCR sets) for the data tests.

Shared by ``test_dataset.py``, ``test_formats.py`` and ``test_render.py`` (``from builders import ...``;
pytest puts ``tests/`` on ``sys.path``). ``run`` prepares a source into ``tmp_path/out`` and
``reasons`` lists a report's rejections as ``(file name, line, reason)``.

The evaluation-view tests (``test_render.py``, ``test_widgets.py``) share ``sample_evaluation``:
five lines scored for two systems, with a plain image per line id.
"""

import csv
import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
from PIL import Image, ImageDraw

from inkwell.data.dataset import DataReport, prepare_dataset
from inkwell.evaluation.evaluate import evaluate_systems

__all__ = [
    "PAGE_NS",
    "SAMPLE_IDS",
    "SAMPLE_REFS",
    "alto_xml",
    "build",
    "huge_png_header",
    "line_image",
    "paddle_det_set",
    "page_image",
    "page_xml",
    "plain_image",
    "reasons",
    "rotated_quad",
    "run",
    "sample_evaluation",
    "simple_set",
    "tree_hash",
    "write_table",
]


def line_image(path: Path, k: int = 0, size=(200, 40), mode="RGB", fmt=None, **save_kw) -> Path:
    """White image with a black rectangle whose position depends on k (so images differ)."""
    w, h = size
    img = Image.new("RGB", size, "white")
    x0 = 5 + (k * 7) % max(1, w - 40)
    ImageDraw.Draw(img).rectangle([x0, h // 4, x0 + 20 + k % 5, 3 * h // 4], fill="black")
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **save_kw)
    return path


def write_table(folder: Path, rows, name="labels.csv", encoding="utf-8", delimiter=",",
                header=("image", "text")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def simple_set(folder: Path, n=3, texts=None) -> Path:
    texts = texts or [f"line {i}" for i in range(n)]
    for i in range(n):
        line_image(folder / f"l{i}.png", i)
    return write_table(folder, [(f"l{i}.png", t) for i, t in enumerate(texts)])


def tree_hash(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def huge_png_header(path: Path, w=100_000, h=100_000) -> Path:
    """A PNG whose header claims a gigantic size (decompression-bomb guard test)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    raw += chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    path.write_bytes(raw)
    return path


PAGE_NS = {
    "2013": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15",
    "2019": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15",
}


def page_image(path: Path, size=(400, 300)) -> Path:
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.rectangle([20, 20, 220, 60], fill="black")
    d.rectangle([20, 100, 300, 140], fill=(40, 40, 40))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def page_xml(folder: Path, version="2019", name="page.xml", image="page.png") -> Path:
    ns = PAGE_NS[version]
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="{ns}"><Metadata><Creator>t</Creator></Metadata>
<Page imageFilename="{image}" imageWidth="400" imageHeight="300">
 <TextRegion id="r1"><Coords points="0,0 400,0 400,300 0,300"/>
  <TextLine id="l1"><Coords points="10,10 230,10 230,70 10,70"/>
   <Word id="w1"><TextEquiv><Unicode>ignored</Unicode></TextEquiv></Word>
   <TextEquiv><Unicode>Erste Zeile</Unicode></TextEquiv></TextLine>
  <TextLine id="l2"><Coords points="10,90 310,90 310,150 10,150"/>
   <TextEquiv><Unicode>Zweite &amp; Zeile</Unicode></TextEquiv></TextLine>
 </TextRegion></Page></PcGts>"""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(xml, encoding="utf-8")
    return folder / name


def alto_xml(folder: Path, name="page.xml", image="page.png") -> Path:
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
 <Description><MeasurementUnit>pixel</MeasurementUnit>
  <sourceImageInformation><fileName>{image}</fileName></sourceImageInformation></Description>
 <Layout><Page ID="p1" WIDTH="400" HEIGHT="300"><PrintSpace>
  <TextBlock ID="b1">
   <TextLine ID="l1" HPOS="10" VPOS="10" WIDTH="220" HEIGHT="60">
    <Shape><Polygon POINTS="10,10 230,10 230,70 10,70"/></Shape>
    <String CONTENT="Hello"/><SP/><String CONTENT="world"/></TextLine>
   <TextLine ID="l2" HPOS="10" VPOS="90" WIDTH="300" HEIGHT="60">
    <String CONTENT="boxed"/><SP/><String CONTENT="line"/></TextLine>
  </TextBlock></PrintSpace></Page></Layout></alto>"""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(xml, encoding="utf-8")
    return folder / name


def rotated_quad(cx, cy, w, h, deg):
    a = np.deg2rad(deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return [[float(x), float(y)] for x, y in corners @ rot.T + [cx, cy]]


def paddle_det_set(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (400, 300), "white")
    quad = rotated_quad(200, 150, 160, 40, 20)
    inner = rotated_quad(200, 150, 120, 20, 20)
    ImageDraw.Draw(img).polygon([tuple(p) for p in inner], fill="black")
    img.save(folder / "page.png")
    regions = [{"transcription": "tilted", "points": quad, "difficult": False},
               {"transcription": "###", "points": [[0, 0], [50, 0], [50, 20], [0, 20]], "difficult": False}]
    (folder / "Label.txt").write_text("page.png\t" + json.dumps(regions) + "\n", encoding="utf-8")
    return folder / "Label.txt"


def build(kind: str, root: Path) -> tuple[Path, int]:
    """Build a small source of a given kind; return (source, expected accepted rows)."""
    if kind == "table":
        simple_set(root)
        return root / "labels.csv", 3
    if kind == "paddle_rec":
        for i in range(3):
            line_image(root / "img" / f"{i}.png", i)
        (root / "rec_gt.txt").write_text("".join(f"img/{i}.png\tword {i}\n" for i in range(3)), encoding="utf-8")
        return root / "rec_gt.txt", 3
    if kind == "paddle_det":
        return paddle_det_set(root), 1
    if kind == "page_xml":
        page_image(root / "page.png")
        return page_xml(root / "page"), 2
    if kind == "alto":
        page_image(root / "page.png")
        return alto_xml(root), 2
    if kind == "jsonl":
        for i in range(3):
            line_image(root / f"{i}.png", i)
        (root / "data.jsonl").write_text(
            "".join(json.dumps({"file": f"{i}.png", "transcription": f"j{i}"}) + "\n" for i in range(3)),
            encoding="utf-8")
        return root / "data.jsonl", 3
    if kind == "imagefolder":
        for i in range(3):
            line_image(root / "train" / f"{i}.png", i)
        (root / "train" / "metadata.jsonl").write_text(
            "".join(json.dumps({"file_name": f"{i}.png", "text": f"m{i}"}) + "\n" for i in range(3)),
            encoding="utf-8")
        return root, 3
    raise AssertionError(kind)


def run(source, tmp_path: Path, name="ds", **kw) -> DataReport:
    kw.setdefault("progress", False)
    return prepare_dataset(source, dataset_name=name, output_root=tmp_path / "out", **kw)


def reasons(report: DataReport) -> list[tuple[str, int, str]]:
    return [(Path(r.source).name, r.line, r.reason) for r in report.rejected]


# ---------------------------------------------------------------------------
# evaluation samples (render and widget tests)
# ---------------------------------------------------------------------------


def plain_image(w=100, h=20, shade=200):
    """A uniformly grey RGB image."""
    return PIL.Image.new("RGB", (w, h), (shade, shade, shade))


# five samples, reference length 10, base errors 5,4,3,2,1 in ids s0..s4, tuned fewer
SAMPLE_IDS = ["s0", "s1", "s2", "s3", "s4"]
SAMPLE_REFS = ["abcdefghij", "klmnopqrst", "uvwxyzabcd", "efghijklmn", "opqrstuvwx"]


def _damage(text, k):
    return "Z" * k + text[k:]


def sample_evaluation():
    """Evaluate two systems on SAMPLE_REFS; return (evaluation, images by id)."""
    # base errors per line: 2, 5, 1, 4, 3  -> worst order s1, s3, s4, s0, s2
    base_k = [2, 5, 1, 4, 3]
    tuned_k = [0, 1, 0, 2, 0]
    preds = {
        "baseline": [_damage(r, k) for r, k in zip(SAMPLE_REFS, base_k)],
        "finetuned": [_damage(r, k) for r, k in zip(SAMPLE_REFS, tuned_k)],
    }
    ev = evaluate_systems(SAMPLE_IDS, SAMPLE_REFS, preds, n_resamples=50)
    images = {i: plain_image(shade=40 * n) for n, i in enumerate(SAMPLE_IDS)}
    return ev, images


def synthetic_lines(synthetic, start: int, stop: int):
    """Rows ``start:stop`` of a synthetic set (``helpers.SyntheticSet``) as a dataset with image, text and id."""
    import datasets

    rows = synthetic.labels.read_text(encoding="utf-8").splitlines()[1:][start:stop]
    files = [str(synthetic.labels.parent / r.split(",")[0]) for r in rows]
    return datasets.Dataset.from_dict(
        {"image": files, "text": [r.split(",")[1] for r in rows], "id": [r.split(",")[0] for r in rows]}
    ).cast_column("image", datasets.Image())
