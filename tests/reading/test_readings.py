"""Writing what was read: CSV, text and PAGE-XML per page, never over anything, and read back by 01_data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from inkwell.core.csvsafe import read_frame
from inkwell.data.dataset import load_processed, prepare_dataset
from inkwell.data.formats.page_xml import NAMESPACE_2019
from inkwell.reading.readings import CSV_COLUMNS, LineReading, readings_folder, save_readings
from inkwell.data.sources import SourcePage, scan_inputs

TEXTS = ["=SUM(A1:A3) Erste Zeile", "Zweite & <Zeile>", "dritte Zeile, ganz lang"]


def _page(tmp_path: Path) -> SourcePage:
    img = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(img)
    for k in range(3):
        draw.rectangle([20, 20 + 90 * k, 120 + 80 * k, 60 + 90 * k], fill=(30 * k, 0, 0))
    img.save(tmp_path / "letter one.png")
    return scan_inputs(tmp_path / "letter one.png").pages[0]


def _lines(page: SourcePage) -> list[LineReading]:
    boxes = [[(10, 10 + 90 * k), (140 + 80 * k, 10 + 90 * k), (140 + 80 * k, 70 + 90 * k), (10, 70 + 90 * k)]
             for k in range(3)]
    flags = ["", "repetition_loop", "repetition_loop; length_limit"]
    # given out of order: the page's lines are written in line order
    return [LineReading(page.name, page.file, page.page, k + 1, boxes[k], TEXTS[k], flags[k]) for k in (2, 0, 1)]


def test_save_writes_csv_txt_xml_png_and_never_twice(tmp_path: Path) -> None:
    page = _page(tmp_path)
    blank = SourcePage(Path("blank.png"), 1, Image.new("RGB", (50, 50), "white"))
    out = tmp_path / "readings"
    saved = save_readings([page, blank], _lines(page), out)
    assert page.name == "letter_one"
    assert sorted(p.name for p in out.iterdir()) == ["blank.png", "blank.txt", "blank.xml", "letter_one.png",
                                                     "letter_one.txt", "letter_one.xml", "readings.csv"]
    assert saved.folder == out and saved.csv == out / "readings.csv"
    assert [p.name for p in saved.xml] == ["letter_one.xml", "blank.xml"]

    raw = (out / "readings.csv").read_text(encoding="utf-8")
    assert ",'=SUM(A1:A3) Erste Zeile," in raw  # neutralised for spreadsheets
    table = read_frame(out / "readings.csv", text_columns=["text", "flags", "box"])
    assert list(table.columns) == list(CSV_COLUMNS)
    assert table["text"].tolist() == TEXTS
    assert table["line"].tolist() == [1, 2, 3]
    assert table["box"][0] == "10,10 140,10 140,70 10,70"
    assert table["flags"].tolist() == ["", "repetition_loop", "repetition_loop; length_limit"]
    assert (out / "letter_one.txt").read_text(encoding="utf-8") == "".join(t + "\n" for t in TEXTS)
    assert (out / "blank.txt").read_text(encoding="utf-8") == ""

    root = ET.parse(out / "letter_one.xml").getroot()
    ns = {"p": NAMESPACE_2019}
    assert root.tag == f"{{{NAMESPACE_2019}}}PcGts"
    assert [c.tag.split("}")[1] for c in root] == ["Metadata", "Page"]
    assert root.find("p:Metadata/p:Creator", ns).text == "Inkwell"
    page_el = root.find("p:Page", ns)
    assert (page_el.get("imageFilename"), page_el.get("imageWidth"), page_el.get("imageHeight")) == \
        ("letter_one.png", "400", "300")
    line_els = page_el.findall("p:TextRegion/p:TextLine", ns)
    assert [[c.tag.split("}")[1] for c in tl] for tl in line_els] == [["Coords", "Baseline", "TextEquiv"]] * 3
    assert [tl.find("p:TextEquiv/p:Unicode", ns).text for tl in line_els] == TEXTS
    assert page_el.find("p:TextRegion/p:Coords", ns).get("points") == "10,10 300,10 300,250 10,250"
    assert Image.open(out / "letter_one.png").size == (400, 300)

    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FileExistsError, match="out_dir"):
        save_readings([page], _lines(page), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_lines_must_belong_to_the_pages(tmp_path: Path) -> None:
    page = _page(tmp_path)
    stray = LineReading("elsewhere", Path("x.png"), 1, 1, [(0, 0), (5, 0), (5, 5), (0, 5)], "x")
    with pytest.raises(ValueError, match="elsewhere"):
        save_readings([page], [stray], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_round_trip_through_01_data(tmp_path: Path, home: Path) -> None:
    page = _page(tmp_path)
    line_image = SourcePage(Path("single line.png"), 1, Image.new("RGB", (160, 40), "white"))
    ImageDraw.Draw(line_image.image).rectangle([10, 10, 60, 30], fill="black")
    lines = _lines(page) + [LineReading.whole(line_image, "eine Zeile allein")]
    out = tmp_path / "readings"
    save_readings([page, line_image], lines, out)

    report = prepare_dataset(out, dataset_name="round-trip", output_root=tmp_path / "processed",
                             format="page_xml", progress=False)
    assert report.n_accepted == 4 and report.rejected == []
    data = load_processed("round-trip", tmp_path / "processed")
    rows = sorted((r["source"], r["line"], r["text"]) for split in data.values() for r in split)
    assert rows == [("letter_one.xml", 1, TEXTS[0]), ("letter_one.xml", 2, TEXTS[1]),
                    ("letter_one.xml", 3, TEXTS[2]), ("single_line.xml", 1, "eine Zeile allein")]


def test_readings_folder_is_always_new(tmp_path: Path, home: Path) -> None:
    run = tmp_path / "adapters" / "my-run"
    first = readings_folder(run)
    assert first.parent == run / "readings" and len(first.name) == len("20250101-120000")
    first.mkdir(parents=True)
    again = readings_folder(run)
    assert again != first and not again.exists()
    assert readings_folder(None).parent == home / "adapters" / "base-model" / "readings"
    (tmp_path / "mine").mkdir()
    assert readings_folder(None, str(tmp_path / "mine")) == tmp_path / "mine-2"
    assert readings_folder(None, "results/letters") == home / "results" / "letters"
