"""Tests for the data section: formats, validation, grouped splits, output contract, display helpers."""

import csv
import hashlib
import json
import os
import random
import struct
import zlib
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
from hypothesis import given, settings as hyp_settings, strategies as st
from PIL import Image, ImageDraw

import helpers as ds
from helpers import (DataFormatError, DataReport, char_frequencies, data_histograms, detect_format,
                          load_processed, prepare_dataset, read_rows, rejected_summary_html,
                          rejected_thumbnails_html, sample_grid, split_groups)

# ---------------------------------------------------------------------------
# fixture builders
# ---------------------------------------------------------------------------


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
# formats and detection
# ---------------------------------------------------------------------------

CSV_CASES = [
    # (id, encoding, delimiter, name, texts)
    ("utf8", "utf-8", ",", "labels.csv", ["alpha", "beta", "gamma"]),
    ("utf8-bom", "utf-8-sig", ",", "labels.csv", ["ä", "ö", "ü"]),
    ("utf16-tab", "utf-16", "\t", "labels.txt", ["uno", "dos", "tres"]),
    ("utf16-comma", "utf-16", ",", "labels.csv", ["x1", "x2", "x3"]),
    ("cp1251", "cp1251", ";", "labels.csv", ["привет", "мир", "ёжик"]),
    ("semicolon", "utf-8", ";", "labels.csv", ["a;b", "c", "d"]),
    ("tab", "utf-8", "\t", "labels.tsv", ["t, 1", "t 2", "t 3"]),
]


@pytest.mark.parametrize("case", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_table_encodings_and_delimiters(tmp_path, case):
    _, enc, delim, name, texts = case
    for i in range(3):
        line_image(tmp_path / f"{i}.png", i)
    write_table(tmp_path, [(f"{i}.png", t) for i, t in enumerate(texts)], name=name, encoding=enc, delimiter=delim,
                header=("Image", "Transcription"))
    rows, rejected, skipped = read_rows(tmp_path / name)
    assert [r.text for r in rows] == texts
    assert [r.line for r in rows] == [2, 3, 4]
    assert rejected == [] and skipped == 0
    assert detect_format(tmp_path) == "table"


def test_table_quoted_newline_backslash_and_uppercase(tmp_path):
    line_image(tmp_path / "sub" / "a.png", 1)
    line_image(tmp_path / "sub" / "B.PNG", 2)
    line_image(tmp_path / "c.png", 3)
    (tmp_path / "labels.csv").write_text(
        'filename,label,writer\r\nsub\\a.png,"two\nlines",w1\r\nsub\\b.png,bee,w2\r\nC.png,"say ""hi""",w3\r\n',
        encoding="utf-8")
    rows, rejected, _ = read_rows(tmp_path / "labels.csv")
    assert [(r.line, r.text, r.writer) for r in rows] == [(2, "two\nlines", "w1"), (4, "bee", "w2"),
                                                         (5, 'say "hi"', "w3")]
    assert rows[1].resolved.name == "B.PNG"
    report = run(tmp_path / "labels.csv", tmp_path)
    assert reasons(report) == [("labels.csv", 2, "control_characters")]
    assert report.n_accepted == 2


@pytest.mark.parametrize("kind", ["table", "paddle_rec", "paddle_det", "page_xml", "alto", "jsonl", "imagefolder"])
def test_each_format_detects_and_prepares(tmp_path, kind):
    source, expected = build(kind, tmp_path / "in")
    assert detect_format(source) == kind
    report = run(source, tmp_path)
    assert report.format == kind
    assert report.n_accepted == expected, report.rejected
    assert report.n_rows == report.n_accepted + len(report.rejected)


@pytest.mark.parametrize("kind,expected", [("table", "table"), ("paddle_rec", "paddle_rec"),
                                           ("paddle_det", "paddle_det"), ("alto", "alto"),
                                           ("jsonl", "jsonl"), ("imagefolder", "imagefolder")])
def test_detect_on_folder(tmp_path, kind, expected):
    build(kind, tmp_path)
    assert detect_format(tmp_path) == expected


def test_explicit_format_overrides(tmp_path):
    for i in range(2):
        line_image(tmp_path / f"{i}.png", i)
    (tmp_path / "labels.csv").write_text("0.png\tzero\n1.png\tone\n", encoding="utf-8")
    rows, _, _ = read_rows(tmp_path / "labels.csv", format="paddle_rec")
    assert [r.text for r in rows] == ["zero", "one"]


def test_paddle_det_rotated_quad_and_skipped_region(tmp_path):
    rows, rejected, skipped = read_rows(paddle_det_set(tmp_path))
    assert skipped == 1 and rejected == []
    (row,) = rows
    assert row.text == "tilted" and row.group == "page.png" and row.line == 1
    crop = np.asarray(row.resolved.convert("L"))
    assert crop.shape == (40, 160)
    assert crop[15:25, 40:120].mean() < 60  # the tilted black bar is upright in the crop
    assert crop[:4, :].mean() > 200
    report = run(tmp_path / "Label.txt", tmp_path)
    assert report.n_skipped_regions == 1 and report.n_accepted == 1


@pytest.mark.parametrize("version", ["2013", "2019"])
def test_page_xml(tmp_path, version):
    page_image(tmp_path / "page.png")
    xml = page_xml(tmp_path, version)
    rows, rejected, _ = read_rows(xml)
    assert rejected == []
    assert [(r.line, r.text, r.group) for r in rows] == [(1, "Erste Zeile", "page.png"), (2, "Zweite & Zeile", "page.png")]
    assert rows[0].resolved.size == (220, 60)


def test_page_xml_polygon_mask_is_white_outside(tmp_path):
    img = Image.new("RGB", (100, 100), "black")
    img.save(tmp_path / "p.png")
    (tmp_path / "p.xml").write_text(
        f'<PcGts xmlns="{PAGE_NS["2019"]}"><Page imageFilename="p.png" imageWidth="100" imageHeight="100">'
        '<TextRegion><TextLine><Coords points="0,0 60,0 0,60"/><TextEquiv><Unicode>tri</Unicode></TextEquiv>'
        "</TextLine></TextRegion></Page></PcGts>", encoding="utf-8")
    (row,) = read_rows(tmp_path / "p.xml")[0]
    arr = np.asarray(row.resolved)
    assert arr[2, 2].tolist() == [0, 0, 0] and arr[58, 58].tolist() == [255, 255, 255]


def test_alto_with_sp_and_box(tmp_path):
    page_image(tmp_path / "page.png")
    rows, rejected, _ = read_rows(alto_xml(tmp_path))
    assert rejected == []
    assert [r.text for r in rows] == ["Hello world", "boxed line"]
    assert rows[1].resolved.size == (300, 60)


def test_xml_folder_read_whole(tmp_path):
    page_image(tmp_path / "a.png")
    b = Image.open(page_image(tmp_path / "b.png")).convert("RGB")
    ImageDraw.Draw(b).rectangle([25, 30, 40, 140], fill=(90, 90, 90))  # both lines differ from page a
    b.save(tmp_path / "b.png")
    page_xml(tmp_path / "page", "2019", "a.xml", "a.png")
    page_xml(tmp_path / "page", "2013", "b.xml", "b.png")
    report = run(tmp_path / "page", tmp_path)
    assert report.format == "page_xml" and report.n_accepted == 4
    assert sum(report.groups_per_split.values()) == 2


def test_transkribus_layout(tmp_path):
    doc = tmp_path / "doc"
    page_image(doc / "page.png")
    (doc / "mets.xml").write_text('<mets xmlns="http://www.loc.gov/METS/"/>', encoding="utf-8")
    page_xml(doc / "page", "2013")
    assert detect_format(doc) == "page_xml"
    rows, rejected, _ = read_rows(doc)
    assert rejected == [] and len(rows) == 2 and rows[0].source == str(doc / "page" / "page.xml")


def test_ppocrlabel_layout_and_rec_text_in_brackets(tmp_path):
    label = paddle_det_set(tmp_path / "imgs")
    label.write_text(label.read_text(encoding="utf-8").replace("page.png", "imgs/page.png"), encoding="utf-8")
    rows, rejected, skipped = read_rows(label)
    assert (len(rows), rejected, skipped) == (1, [], 1)
    line_image(tmp_path / "r" / "a.png")
    (tmp_path / "r" / "rec.txt").write_text("a.png\t[1]\n", encoding="utf-8")
    assert detect_format(tmp_path / "r" / "rec.txt") == "paddle_rec"


def test_imagefolder_csv_metadata(tmp_path):
    for i in range(3):
        line_image(tmp_path / "imgs" / f"{i}.png", i)
    write_table(tmp_path, [(f"imgs/{i}.png", f"c{i}") for i in range(3)], name="metadata.csv",
                header=("file_name", "text"))
    assert detect_format(tmp_path) == "imagefolder"
    rows, _, _ = read_rows(tmp_path)
    assert [r.text for r in rows] == ["c0", "c1", "c2"]


# ---------------------------------------------------------------------------
# validation: one rejection reason per case
# ---------------------------------------------------------------------------


def _bad_missing(d):
    return "nope.png", "x"


def _bad_escape_dotdot(d):
    line_image(d.parent / "outside.png", 9)
    return "../outside.png", "x"


def _bad_escape_absolute(d):
    return str(line_image(d.parent / "outside2.png", 9)), "x"


def _bad_escape_symlink(d):
    target = line_image(d.parent / "outside3.png", 9)
    os.symlink(target, d / "link.png")
    return "link.png", "x"


def _bad_truncated(d):
    p = line_image(d / "t.png", 9)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    return "t.png", "x"


def _bad_garbage(d):
    (d / "g.png").write_bytes(b"not an image at all")
    return "g.png", "x"


def _bad_zero_bytes(d):
    (d / "z.png").write_bytes(b"")
    return "z.png", "x"


def _bad_tiny(d):
    return line_image(d / "tiny.png", 9, size=(100, 5)).name, "x"


def _bad_huge(d):
    return huge_png_header(d / "huge.png").name, "x"


def _bad_empty_text(d):
    return line_image(d / "e.png", 9).name, "  \u3000 "


def _bad_control(d):
    return line_image(d / "c.png", 9).name, "ab\u0007c"


def _bad_zero_width(d):
    return line_image(d / "zw.png", 9).name, "ab\u200bc"


def _bad_aspect(d):
    return line_image(d / "long.png", 9, size=(3000, 10)).name, "x"


def _bad_duplicate(d):
    return "l0.png", "line 0"


def _bad_unknown_split(d):
    return line_image(d / "s.png", 9).name, "x"


REJECT_CASES = [
    (_bad_missing, "missing_file"), (_bad_escape_dotdot, "path_escapes_root"),
    (_bad_escape_absolute, "path_escapes_root"), (_bad_escape_symlink, "path_escapes_root"),
    (_bad_truncated, "corrupt_image"), (_bad_garbage, "corrupt_image"), (_bad_zero_bytes, "corrupt_image"),
    (_bad_tiny, "too_small"), (_bad_huge, "too_large"), (_bad_empty_text, "empty_text"),
    (_bad_control, "control_characters"), (_bad_zero_width, "control_characters"),
    (_bad_aspect, "aspect_ratio"), (_bad_duplicate, "duplicate"),
]


@pytest.mark.parametrize("maker,reason", REJECT_CASES, ids=[r[0].__name__[5:] for r in REJECT_CASES])
def test_rejection_reasons(tmp_path, maker, reason):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        line_image(d / f"l{i}.png", i)
    bad_image, bad_text = maker(d)
    rows = [("l0.png", "line 0"), ("l1.png", "line 1"), (bad_image, bad_text), ("l2.png", "line 2")]
    write_table(d, rows)
    report = run(d / "labels.csv", tmp_path)
    assert reasons(report) == [("labels.csv", 4, reason)]
    assert report.rejected[0].image == bad_image and report.rejected[0].fix
    assert report.n_accepted == 3 and report.n_rows == 4
    assert report.n_duplicates_dropped == (1 if reason == "duplicate" else 0)


def test_too_large_by_parameter_and_conflict(tmp_path):
    d = tmp_path / "in"
    line_image(d / "a.png", 1, size=(300, 40))
    line_image(d / "b.png", 2)
    line_image(d / "c.png", 3)
    (d / "c_copy.png").write_bytes((d / "c.png").read_bytes())
    write_table(d, [("a.png", "big"), ("b.png", "ok"), ("c.png", "one"), ("c_copy.png", "two")])
    report = run(d / "labels.csv", tmp_path, max_image_pixels=10_000)
    assert sorted(reasons(report)) == [("labels.csv", 2, "too_large"), ("labels.csv", 4, "conflict"),
                                       ("labels.csv", 5, "conflict")]
    assert report.n_accepted == 1


def test_unknown_split_value_and_bad_region(tmp_path):
    d = tmp_path / "in"
    for i in range(3):
        line_image(d / f"{i}.png", i)
    write_table(d, [("0.png", "a", "train"), ("1.png", "b", "holdout"), ("2.png", "c", "")],
                header=("image", "text", "split"))
    assert reasons(run(d / "labels.csv", tmp_path)) == [("labels.csv", 3, "unknown_split")]
    page_image(tmp_path / "x" / "page.png")
    (tmp_path / "x" / "p.xml").write_text(
        f'<PcGts xmlns="{PAGE_NS["2013"]}"><Page imageFilename="page.png"><TextRegion>'
        '<TextLine><Coords points="10,10 200,10 200,50 10,50"/><TextEquiv><Unicode>ok</Unicode></TextEquiv></TextLine>'
        '<TextLine><Coords points="5,5 5,5"/><TextEquiv><Unicode>bad</Unicode></TextEquiv></TextLine>'
        "</TextRegion></Page></PcGts>", encoding="utf-8")
    assert reasons(run(tmp_path / "x" / "p.xml", tmp_path, name="x")) == [("p.xml", 2, "bad_region")]


def test_missing_page_image_rejects_every_line(tmp_path):
    xml = page_xml(tmp_path, "2019", image="gone.png")
    rows, rejected, _ = read_rows(xml)
    assert rows == [] and [(r.line, r.reason) for r in rejected] == [(1, "missing_file"), (2, "missing_file")]


# ---------------------------------------------------------------------------
# structural errors raise DataFormatError naming file and line
# ---------------------------------------------------------------------------


def _s_no_image_col(d):
    write_table(d, [("a", "b")], header=("a", "b"))
    return d / "labels.csv", "labels.csv, line 1"


def _s_no_text_col(d):
    write_table(d, [("a.png", "b")], header=("image", "notes"))
    return d / "labels.csv", "labels.csv, line 1"


def _s_bad_json(d):
    (d / "d.jsonl").write_text('{"image": "a.png", "text": "x"}\n\n{"image": "b.png", "text": \n', encoding="utf-8")
    return d / "d.jsonl", "d.jsonl, line 3"


def _s_bad_xml(d):
    (d / "p.xml").write_text(f'<PcGts xmlns="{PAGE_NS["2019"]}">\n<Page>\n</PcGts>', encoding="utf-8")
    return d / "p.xml", "p.xml, line 3"


def _s_bad_det_json(d):
    (d / "Label.txt").write_text('a.png\t[{"transcription": "x", "points": [[0,0]]}]\nb.png\t[{oops\n',
                                 encoding="utf-8")
    return d / "Label.txt", "Label.txt, line 2"


def _s_rec_no_tab(d):
    (d / "rec.txt").write_text("a.png\tx\nb.png only\n", encoding="utf-8")
    return d / "rec.txt", "rec.txt, line 2"


def _s_undecodable(d):
    (d / "labels.csv").write_bytes(b"image,text\na.png,\x98\xff\n")
    return d / "labels.csv", "labels.csv, line 1"


def _s_no_usable_rows(d):
    write_table(d, [("missing.png", "x")])
    return d / "labels.csv", "labels.csv"


STRUCT_CASES = [_s_no_image_col, _s_no_text_col, _s_bad_json, _s_bad_xml, _s_bad_det_json, _s_rec_no_tab,
                _s_undecodable, _s_no_usable_rows]


@pytest.mark.parametrize("maker", STRUCT_CASES, ids=[m.__name__[3:] for m in STRUCT_CASES])
def test_structural_errors(tmp_path, maker):
    d = tmp_path / "in"
    d.mkdir()
    source, expected = maker(d)
    fmt = "paddle_rec" if maker is _s_rec_no_tab else "auto"
    with pytest.raises(DataFormatError, match=expected.replace(".", r"\.")) as info:
        run(source, tmp_path, format=fmt)
    assert "xpected" in str(info.value)
    assert not (tmp_path / "out" / "ds").exists()


def test_no_image_column_message(tmp_path):
    write_table(tmp_path, [("1", "2")], header=("a", "b"))
    with pytest.raises(DataFormatError) as info:
        read_rows(tmp_path / "labels.csv")
    assert str(info.value).startswith("labels.csv, line 1: no image column found (columns: a, b).")


# ---------------------------------------------------------------------------
# image conversions
# ---------------------------------------------------------------------------


def test_modes_exif_and_rgb_output(tmp_path):
    d = tmp_path / "in"
    line_image(d / "p.png", 1, mode="P")
    rgba = Image.new("RGBA", (200, 40), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle([10, 10, 50, 30], fill=(0, 0, 0, 255))
    rgba.save(d / "a.png")
    line_image(d / "cmyk.jpg", 3, mode="CMYK")
    arr16 = np.full((40, 200), 65535, dtype=np.uint16)
    arr16[10:30, 10:60] = 0
    Image.fromarray(arr16).save(d / "g16.png")
    exif_img = Image.new("RGB", (200, 40), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 when displayed
    exif_img.save(d / "rot.jpg", exif=exif.tobytes())
    line_image(d / "la.png", 5, mode="LA")
    names = ["p.png", "a.png", "cmyk.jpg", "g16.png", "rot.jpg", "la.png"]
    write_table(d, [(n, n) for n in names])
    before = tree_hash(d)
    report = run(d / "labels.csv", tmp_path, split_ratios=(1, 0, 0))
    assert report.rejected == [] and report.n_accepted == 6
    assert tree_hash(d) == before
    train = load_processed("ds", tmp_path / "out")["train"]
    by_text = {row["text"]: row["image"] for row in train}
    assert all(im.mode == "RGB" for im in by_text.values())
    assert by_text["rot.jpg"].size == (40, 200)
    a = np.asarray(by_text["a.png"])
    assert a[0, 0].tolist() == [255, 255, 255] and a[20, 20].tolist() == [0, 0, 0]
    g = np.asarray(by_text["g16.png"])
    assert g[0, 0].tolist() == [255, 255, 255] and g[20, 20].tolist() == [0, 0, 0]


# ---------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------


def test_split_groups_property_random_cases():
    rng = random.Random(1234)
    for _ in range(50):
        n_groups = rng.randint(1, 40)
        groups = [f"g{rng.randrange(n_groups)}" for _ in range(rng.randint(1, 200))]
        ratios = rng.choice([(0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.9, 0.1, 0.0), (1, 1, 1), (0.7, 0.0, 0.3)])
        seed = rng.randrange(10)
        out = split_groups(groups, ratios, seed)
        assert len(out) == len(groups) and set(out) <= {"train", "validation", "test"}
        where = {}
        for g, s in zip(groups, out):
            assert where.setdefault(g, s) == s, "group in two splits"
        assert out == split_groups(groups, ratios, seed)
        assert split_groups(list(reversed(groups)), ratios, seed) == list(reversed(out))
        positive = {s for s, r in zip(("train", "validation", "test"), ratios) if r > 0}
        if len(set(groups)) >= 3:
            assert set(out) == positive
        else:
            assert set(out) <= positive


@pytest.mark.parametrize("groups,ratios,expected", [
    ([], (0.8, 0.1, 0.1), []),
    (["a"], (0.8, 0.1, 0.1), ["train"]),
    (["a", "b"], (0.8, 0.1, 0.1), None),  # train + validation, test empty
    (["a", "a", "b", "c"], (0.8, 0.1, 0.1), None),
])
def test_split_groups_small(groups, ratios, expected):
    out = split_groups(groups, ratios, seed=0)
    if expected is not None:
        assert out == expected
    elif len(set(groups)) == 2:
        assert sorted(out) == ["train", "validation"]
    else:
        assert set(out) == {"train", "validation", "test"} and out[0] == out[1]


def test_split_groups_ratios_roughly_followed():
    groups = [f"g{i}" for i in range(1000)]
    counts = {s: split_groups(groups, (0.8, 0.1, 0.1), 3).count(s) for s in ("train", "validation", "test")}
    assert counts == {"train": 800, "validation": 100, "test": 100}


def _grouped_set(d: Path, n=40, writers: bool = True) -> Path:
    rng = random.Random(5)
    rows = []
    for i in range(n):
        line_image(d / f"{i}.png", i)
        page = rng.randrange(10)
        writer = f"w{page % 5}" if writers else "w0"  # each writer wrote two pages (or one writer wrote all)
        rows.append((f"{i}.png", f"t{i} {chr(0x61 + i % 26)}", f"page{page}", writer))
    return write_table(d, rows, header=("image", "text", "page", "author"))


def test_pages_and_writers_never_straddle(tmp_path):
    src = _grouped_set(tmp_path / "in")
    run(src, tmp_path, seed=0)
    dsd = load_processed("ds", tmp_path / "out")
    rows = {r["id"]: r for r in (x for s in dsd for x in dsd[s])}
    with open(src, encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    split_of = {r["id"]: s for s in dsd for r in dsd[s]}
    for key in ("page", "author"):
        seen = {}
        for line_no, rec in enumerate(table, start=2):
            s = split_of[f"labels.csv:{line_no}"]
            assert seen.setdefault(rec[key], s) == s
    assert len(rows) == 40
    assert all(len(dsd[s]) > 0 for s in ("train", "validation", "test"))


def test_single_writer_still_splits_by_page(tmp_path):
    """One person's handwriting (the usual case): pages are kept apart, and the report says writers could not be."""
    src = _grouped_set(tmp_path / "in", writers=False)
    report = run(src, tmp_path, seed=0)
    dsd = load_processed("ds", tmp_path / "out")
    with open(src, encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    split_of = {r["id"]: s for s in dsd for r in dsd[s]}
    seen = {}
    for line_no, rec in enumerate(table, start=2):
        assert seen.setdefault(rec["page"], split_of[f"labels.csv:{line_no}"]) == split_of[f"labels.csv:{line_no}"]
    assert all(len(dsd[s]) > 0 for s in ("train", "validation", "test"))
    assert any("writers apart" in note for note in report.notes)


def test_determinism_by_seed(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=30)

    def ids(seed, name):
        run(d / "labels.csv", tmp_path, name=name, seed=seed)
        dsd = load_processed(name, tmp_path / "out")
        return {s: dsd[s]["id"] for s in dsd}

    first = ids(0, "a")
    assert ids(0, "b") == first
    assert any(ids(seed, f"c{seed}") != first for seed in (1, 2, 3))
    report = json.loads((tmp_path / "out" / "a" / "report.json").read_text(encoding="utf-8"))
    assert report["split_sizes"] == {"train": 24, "validation": 3, "test": 3}
    assert report["groups_per_split"] == report["split_sizes"]
    assert any("own group" in n for n in report["notes"])


def test_user_split_column_wins(tmp_path):
    d = tmp_path / "in"
    splits = ["test", "val", "train", "Train", "dev", "valid", "validation", "TEST"]
    for i in range(len(splits)):
        line_image(d / f"{i}.png", i)
    write_table(d, [(f"{i}.png", f"x{i}", s) for i, s in enumerate(splits)], header=("image", "text", "split"))
    report = run(d / "labels.csv", tmp_path)
    assert report.split_sizes == {"train": 2, "validation": 4, "test": 2}
    dsd = load_processed("ds", tmp_path / "out")
    assert sorted(dsd["test"]["text"]) == ["x0", "x7"]


def test_few_groups_empty_split_noted_and_unseen_chars(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=2, texts=["abc", "abz"])
    report = run(d / "labels.csv", tmp_path)
    assert report.split_sizes["test"] == 0 and report.split_sizes["train"] == 1
    assert any("test split is empty" in n for n in report.notes)
    val_text = load_processed("ds", tmp_path / "out")["validation"]["text"][0]
    assert report.unseen_chars["validation"] == ("z" if val_text == "abz" else "c")
    assert report.charset == "abcz"


# ---------------------------------------------------------------------------
# output contract
# ---------------------------------------------------------------------------


def test_output_contract_and_inputs_untouched(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=12)
    with open(d / "labels.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write("missing.png,gone\r\n")
    before = tree_hash(d)
    report = run(d / "labels.csv", tmp_path)
    assert tree_hash(d) == before
    out = tmp_path / "out" / "ds"
    assert report.output_dir == out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ds"]  # no temp folders left
    dsd = load_processed("ds", tmp_path / "out")
    assert list(dsd) == ["train", "validation", "test"]
    for split in dsd.values():
        assert {"image", "text", "id", "group", "source", "line", "writer"} <= set(split.column_names)
        assert split.features["image"].__class__.__name__ == "Image"
    assert dsd["train"][0]["image"].mode == "RGB"
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["n_rows"] == 13 and saved["n_accepted"] == 12 and saved["format"] == "table"
    assert set(saved) >= {"split_sizes", "groups_per_split", "charset", "unseen_chars", "rejected"}
    with open(out / "rejected.csv", encoding="utf-8", newline="") as fh:
        rej = list(csv.DictReader(fh))
    assert rej == [{"source": str(d / "labels.csv"), "line": "14", "image": "missing.png",
                    "reason": "missing_file", "fix": report.rejected[0].fix}]


def test_no_overwrite_without_flag(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=3)
    run(d / "labels.csv", tmp_path)
    stamp = tree_hash(tmp_path / "out" / "ds")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        run(d / "labels.csv", tmp_path)
    assert tree_hash(tmp_path / "out" / "ds") == stamp
    simple_set(d, n=4)
    report = run(d / "labels.csv", tmp_path, overwrite=True)
    assert report.n_accepted == 4
    assert sum(len(s) for s in load_processed("ds", tmp_path / "out").values()) == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ds"]


def test_load_processed_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepare_dataset"):
        load_processed("nothing", tmp_path)


def test_parallel_path_matches_serial(tmp_path, monkeypatch):
    d = tmp_path / "in"
    simple_set(d, n=10)
    with open(d / "labels.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write("l0.png,line 0\r\nbad.png,x\r\n")
    (d / "bad.png").write_bytes(b"junk")
    serial = run(d / "labels.csv", tmp_path, name="serial")
    monkeypatch.setattr(ds, "_PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(ds.os, "cpu_count", lambda: 2)
    parallel = run(d / "labels.csv", tmp_path, name="parallel")
    a, b = serial.to_dict(), parallel.to_dict()
    for key in ("output_dir",):
        a.pop(key), b.pop(key)
    assert a == b
    sa, sb = load_processed("serial", tmp_path / "out"), load_processed("parallel", tmp_path / "out")
    for s in sa:
        assert sa[s]["id"] == sb[s]["id"]


# ---------------------------------------------------------------------------
# display helpers
# ---------------------------------------------------------------------------


def test_display_helpers(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=10, texts=[f"a$b {i}" for i in range(10)])
    (d / "x<y>.png").write_bytes(b"broken")
    with open(d / "labels.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write("x<y>.png,<b>bold</b>\r\nl0.png,dup\r\n")
    report = run(d / "labels.csv", tmp_path)
    dsd = load_processed("ds", tmp_path / "out")
    fig = sample_grid(dsd, n=3)
    assert isinstance(fig, matplotlib.figure.Figure)
    fig.savefig(tmp_path / "grid.png")
    assert isinstance(sample_grid(dsd, n=2, split="test"), matplotlib.figure.Figure)
    hist = data_histograms(dsd)
    assert isinstance(hist, matplotlib.figure.Figure) and len(hist.axes) == 4
    freqs = char_frequencies(dsd, top=3)
    assert freqs[:3] == [(" ", 9), ("$", 9), ("a", 9)]  # l0 is rejected (conflict), 9 rows left
    summary = rejected_summary_html(report)
    assert "<table>" in summary and "corrupt_image" in summary and "conflict" in summary
    thumbs = rejected_thumbnails_html(report)
    assert "x&lt;y&gt;.png" in thumbs and "<y>" not in thumbs
    assert thumbs.count("data:image/png;base64,") == 2  # the two conflicting copies of l0.png
    assert "labels.csv:12" in thumbs
    assert rejected_summary_html(DataReport(tmp_path, "table", 0, 0, 0, 0, {}, {}, "", {}, [])).startswith("<p>")


@hyp_settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(st.sampled_from([f"page{i}" for i in range(30)]), min_size=1, max_size=120),
    seed=st.integers(0, 10_000),
    ratios=st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (1.0, 0.0, 0.0), (0.5, 0.5, 0.0)]),
)
def test_split_groups_property(groups, seed, ratios):
    """For any input: no group in two splits, same answer for the same seed, and no split that should be empty filled."""
    splits = split_groups(groups, ratios, seed)
    assert len(splits) == len(groups)
    where = {}
    for g, s in zip(groups, splits):
        assert where.setdefault(g, s) == s
    assert splits == split_groups(groups, ratios, seed)
    for name, ratio in zip(("train", "validation", "test"), ratios):
        if ratio == 0:
            assert name not in splits
    if len(set(groups)) >= 3 and all(r > 0 for r in ratios):
        assert set(splits) == {"train", "validation", "test"}
