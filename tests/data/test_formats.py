"""Tests for inkwell.data.formats: detecting and reading each annotation format, and structural errors."""

import json

import numpy as np
import pytest
from builders import (
    PAGE_NS,
    alto_xml,
    build,
    line_image,
    paddle_det_set,
    page_image,
    page_xml,
    reasons,
    run,
    write_table,
)
from PIL import Image, ImageDraw

from inkwell.data.formats import DataFormatError, detect_format, read_rows

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
    res = read_rows(tmp_path / name)
    rows, rejected, skipped = res.rows, res.rejected, res.skipped
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
    rows = read_rows(tmp_path / "labels.csv").rows
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
    res = read_rows(tmp_path / "labels.csv", format="paddle_rec")
    rows = res.rows
    assert [r.text for r in rows] == ["zero", "one"]


def test_paddle_det_rotated_quad_and_skipped_region(tmp_path):
    res = read_rows(paddle_det_set(tmp_path))
    rows, rejected, skipped = res.rows, res.rejected, res.skipped
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
    res = read_rows(xml)
    rows, rejected = res.rows, res.rejected
    assert rejected == []
    assert [(r.line, r.text, r.group) for r in rows] == [(1, "Erste Zeile", "page.png"), (2, "Zweite & Zeile", "page.png")]
    assert rows[0].resolved.size == (220, 60)


def test_page_xml_polygon_mask_is_paper_outside(tmp_path):
    """Outside a line's polygon is painted in the paper's own colour: no neighbour's ink, no white frame."""
    paper = (231, 219, 190)
    img = Image.new("RGB", (100, 100), paper)
    ImageDraw.Draw(img).rectangle((0, 0, 12, 12), fill="black")  # ink inside the polygon
    ImageDraw.Draw(img).rectangle((50, 50, 60, 60), fill="black")  # a neighbour's stroke outside it
    img.save(tmp_path / "p.png")
    (tmp_path / "p.xml").write_text(
        f'<PcGts xmlns="{PAGE_NS["2019"]}"><Page imageFilename="p.png" imageWidth="100" imageHeight="100">'
        '<TextRegion><TextLine><Coords points="0,0 60,0 0,60"/><TextEquiv><Unicode>tri</Unicode></TextEquiv>'
        "</TextLine></TextRegion></Page></PcGts>", encoding="utf-8")
    (row,) = read_rows(tmp_path / "p.xml").rows
    arr = np.asarray(row.resolved)
    assert arr[2, 2].tolist() == [0, 0, 0] and arr[55, 55].tolist() == list(paper)


def test_alto_with_sp_and_box(tmp_path):
    page_image(tmp_path / "page.png")
    res = read_rows(alto_xml(tmp_path))
    rows, rejected = res.rows, res.rejected
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
    res = read_rows(doc)
    rows, rejected = res.rows, res.rejected
    assert rejected == [] and len(rows) == 2 and rows[0].source == str(doc / "page" / "page.xml")


def test_ppocrlabel_layout_and_rec_text_in_brackets(tmp_path):
    label = paddle_det_set(tmp_path / "imgs")
    label.write_text(label.read_text(encoding="utf-8").replace("page.png", "imgs/page.png"), encoding="utf-8")
    res = read_rows(label)
    rows, rejected, skipped = res.rows, res.rejected, res.skipped
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
    res = read_rows(tmp_path)
    rows = res.rows
    assert [r.text for r in rows] == ["c0", "c1", "c2"]


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
# folders holding several formats, and labelling tools' own files
# ---------------------------------------------------------------------------


def _ocrd_workspace(ws):
    """An OCR-D workspace: mets.xml, two page images, the same two pages as PAGE and as ALTO."""
    (ws / "OCR-D-IMG").mkdir(parents=True)
    page_image(ws / "OCR-D-IMG" / "a.png")
    b = Image.open(page_image(ws / "OCR-D-IMG" / "b.png")).convert("RGB")
    ImageDraw.Draw(b).rectangle([25, 30, 40, 140], fill=(90, 90, 90))
    b.save(ws / "OCR-D-IMG" / "b.png")
    (ws / "mets.xml").write_text('<mets:mets xmlns:mets="http://www.loc.gov/METS/"/>', encoding="utf-8")
    for name in ("a", "b"):
        page_xml(ws / "OCR-D-GT-PAGE", "2019", f"{name}.xml", f"OCR-D-IMG/{name}.png")
        alto_xml(ws / "OCR-D-GT-ALTO", f"{name}.xml", f"OCR-D-IMG/{name}.png")
    return ws


def test_ocrd_workspace_with_page_and_alto_needs_a_format(tmp_path):
    ws = _ocrd_workspace(tmp_path / "ws")
    for call in (lambda: detect_format(ws), lambda: run(ws, tmp_path)):
        with pytest.raises(DataFormatError) as info:
            call()
        msg = str(info.value)
        assert "2 PAGE files in OCR-D-GT-PAGE/" in msg and "2 ALTO files in OCR-D-GT-ALTO/" in msg
        assert "Set `format` to one of 'page_xml', 'alto'" in msg
        assert "mets.xml: the workspace's METS file, not an annotation" in msg
    assert not (tmp_path / "out" / "ds").exists()


@pytest.mark.parametrize("fmt,other", [("page_xml", "2 ALTO files in OCR-D-GT-ALTO/"),
                                       ("alto", "2 PAGE files in OCR-D-GT-PAGE/")])
def test_ocrd_workspace_read_in_the_named_format(tmp_path, fmt, other):
    ws = _ocrd_workspace(tmp_path / "ws")
    res = read_rows(ws, format=fmt)
    assert res.rejected == [] and len(res.rows) == 4  # every page of that format, images found from the workspace
    assert {r.source.split("/")[-2] for r in res.rows} == {f"OCR-D-GT-{'PAGE' if fmt == 'page_xml' else 'ALTO'}"}
    report = run(ws, tmp_path, format=fmt)
    assert report.format == fmt and report.n_accepted == 4
    assert f"{other} were not read (format = {fmt!r})." in report.notes
    assert any(n.startswith("mets.xml is the workspace's METS file") for n in report.notes)


def test_mets_file_as_source_is_named_as_such(tmp_path):
    ws = _ocrd_workspace(tmp_path / "ws")
    with pytest.raises(DataFormatError, match="mets.xml is the workspace's METS file") as info:
        read_rows(ws / "mets.xml")
    assert "Set `source` to its folder" in str(info.value)


def _ppocrlabel_folder(root, rec=True):
    """A PPOCRLabel project: imgs/ with Label.txt, fileState.txt, Cache.cach (and rec_gt.txt + crop_img/)."""
    label = paddle_det_set(root / "imgs")
    label.write_text(label.read_text(encoding="utf-8").replace("page.png", "imgs/page.png"), encoding="utf-8")
    img = root / "imgs"
    (img / "fileState.txt").write_text(f"{img / 'page.png'}\t1\n", encoding="utf-8")
    (img / "Cache.cach").write_text(label.read_text(encoding="utf-8"), encoding="utf-8")
    if rec:
        line_image(img / "crop_img" / "page_crop_0.jpg")
        (img / "rec_gt.txt").write_text("crop_img/page_crop_0.jpg\ttilted\n", encoding="utf-8")
    return img


@pytest.mark.parametrize("rec", [True, False])
def test_ppocrlabel_folder_reads_label_txt_and_names_the_rest(tmp_path, rec):
    img = _ppocrlabel_folder(tmp_path, rec)
    assert detect_format(img) == "paddle_det"
    report = run(img, tmp_path)
    assert report.format == "paddle_det" and report.n_accepted == 1 and report.n_skipped_regions == 1
    notes = "\n".join(report.notes)
    assert "fileState.txt is PPOCRLabel's record of which images were checked (bookkeeping, not read)" in notes
    assert "Cache.cach is PPOCRLabel's autosave" in notes
    if rec:
        assert "rec_gt.txt (1 line crop(s) exported by PPOCRLabel with its crops in crop_img/) was not used" in notes
        assert f'set format = "paddle_rec" and source = "{img / "rec_gt.txt"}"' in notes
        assert len(read_rows(img / "rec_gt.txt", format="paddle_rec").rows) == 1  # the advice works
    else:
        assert "rec_gt.txt" not in notes


def test_ppocrlabel_folder_names_other_label_files(tmp_path):
    img = _ppocrlabel_folder(tmp_path, rec=False)
    (img / "gt.txt").write_text("imgs/page.png\tsomething\n", encoding="utf-8")
    res = read_rows(img)
    assert res.format == "paddle_det" and len(res.rows) == 1
    assert any(n.startswith("gt.txt (paddle_rec) was not read") and str(img / "gt.txt") in n for n in res.notes)


@pytest.mark.parametrize("where", ["file", "ppocrlabel_folder", "folder"])
def test_empty_annotation_file_says_empty(tmp_path, where):
    if where == "ppocrlabel_folder":
        img = _ppocrlabel_folder(tmp_path, rec=False)
        (img / "Label.txt").write_text("", encoding="utf-8")
        source, name = img, "Label.txt"
    else:
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "Label.txt").write_text("\n  \n", encoding="utf-8")
        source, name = (tmp_path / "in" / "Label.txt" if where == "file" else tmp_path / "in"), "Label.txt"
    for fmt in ("auto", "paddle_det"):
        with pytest.raises(DataFormatError) as info:
            run(source, tmp_path, format=fmt)
        msg = str(info.value)
        assert f"{name}, line 1: the annotation file is empty" in msg and "format not recognised" not in msg
        assert "set `source`" in msg and "File > Export Label" in msg


def _difficult_set(folder):
    """Label.txt with one plain region and three marked difficult."""
    label = paddle_det_set(folder)
    regions = [{"transcription": f"r{k}", "points": [[10, 10 + 60 * k], [210, 10 + 60 * k], [210, 50 + 60 * k],
                                                    [10, 50 + 60 * k]], "difficult": k > 0} for k in range(4)]
    page = Image.new("RGB", (400, 300), "white")
    for k in range(4):
        ImageDraw.Draw(page).rectangle([20 + 30 * k, 20 + 60 * k, 60 + 30 * k, 40 + 60 * k], fill="black")
    page.save(folder / "page.png")
    label.write_text("page.png\t" + json.dumps(regions) + "\n", encoding="utf-8")
    return label


@pytest.mark.parametrize("choice,accepted,note", [
    (None, 1, "3 regions marked difficult skipped (paddle_difficult = 'skip')"),
    ("skip", 1, "3 regions marked difficult skipped (paddle_difficult = 'skip')"),
    ("keep", 4, "3 regions marked difficult kept (paddle_difficult = 'keep')"),
])
def test_paddle_difficult_regions_skipped_or_kept_and_counted(tmp_path, choice, accepted, note):
    label = _difficult_set(tmp_path / "in")
    kw = {} if choice is None else {"paddle_difficult": choice}
    report = run(label, tmp_path, **kw)
    assert report.n_accepted == accepted
    assert any(n.startswith(note) for n in report.notes)
    res = read_rows(label, **kw)
    assert res.difficult == 3 and len(res.rows) == accepted


def test_bad_paddle_difficult_value_refused(tmp_path):
    label = _difficult_set(tmp_path / "in")
    with pytest.raises(ValueError, match=r"paddle_difficult must be one of 'skip', 'keep'; got 'drop'"):
        run(label, tmp_path, paddle_difficult="drop")
    assert not (tmp_path / "out" / "ds").exists()
