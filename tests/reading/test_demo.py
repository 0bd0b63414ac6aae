"""04_demo's reading: line images and whole pages, decoded in batches across pages, saved, shown, uploaded."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from inkwell.reading.demo import load_reader, read_pages, read_scan
from inkwell.reading.pages import synthetic_page
from inkwell.views.render import render_page_readings_html
from inkwell.data.sources import SourcePage, scan_inputs
from inkwell.views.widgets import STATIC_CLASS, make_upload_reader


@pytest.fixture(scope="module")
def reader(tiny_qwen25: Path):
    return load_reader(str(tiny_qwen25), None, backend="transformers")


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_pages_become_lines_and_all_lines_are_read_in_shared_batches(reader, tmp_path: Path) -> None:
    page = synthetic_page(4, size=(900, 700), seed=3)
    line = page.image.crop(page.boxes[0])
    pages = [SourcePage(tmp_path / "page.png", 1, page.image), SourcePage(tmp_path / "line.png", 1, line)]
    auto = read_pages(reader, pages, mode="auto", batch_size=4, progress=False)
    assert [r.as_line for r in auto.pages] == [False, True]  # decided by shape, and said so
    assert [len(r.lines) for r in auto.pages] == [4, 1]
    assert "1 image read as a line, 1 image read as a page" in auto.describe()
    assert [ln.line for ln in auto.pages[0].lines] == [1, 2, 3, 4]
    tops = [min(y for _, y in ln.polygon) for ln in auto.pages[0].lines]
    assert tops == sorted(tops)  # reading order: top to bottom
    one_by_one = read_pages(reader, pages, mode="auto", batch_size=4, across_pages=False, progress=False)
    assert [ln.text for ln in one_by_one.lines] == [ln.text for ln in auto.lines]  # batching never changes the text
    as_lines = read_pages(reader, pages, mode="lines", progress=False)
    assert [len(r.lines) for r in as_lines.pages] == [1, 1]
    with pytest.raises(ValueError, match="mode = 'page'"):
        read_pages(reader, pages, mode="page")


def test_a_folder_is_read_saved_and_shown_and_nothing_is_overwritten(reader, home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    page = synthetic_page(3, size=(900, 600), seed=5)
    page.image.save(folder / "letter.png")
    page.image.crop(page.boxes[1]).save(folder / "one-line.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    scan = scan_inputs(folder)
    reading, saved = read_scan(reader, scan, output_dir=str(tmp_path / "out"))
    assert len(reading.lines) == 3 + 1
    assert saved.folder == tmp_path / "out" and saved.csv.exists() and len(saved.xml) == 2
    again = read_scan(reader, scan, output_dir=str(tmp_path / "out"))[1]
    assert again.folder != saved.folder and saved.csv.read_bytes() == again.csv.read_bytes()  # a new folder
    view = render_page_readings_html(reading, scan)
    assert "empty.png" in view and "notes.txt" in view and "3 line(s) found" in view
    flagged = any(line.flags for line in reading.lines)
    assert ("loop" in view and "limit" in view) == flagged  # the flags' legend is visible when a line is flagged


def test_the_upload_box_reads_dropped_files_and_keeps_a_static_copy(reader, tmp_path: Path) -> None:
    box = make_upload_reader(reader, output_dir=str(tmp_path / "uploads"))
    assert STATIC_CLASS in box.static_html() and "Nothing was uploaded" in box.static_html()
    line = synthetic_page(1, size=(700, 200), seed=1)
    out = box.read([("photo.png", _png(line.image.crop(line.boxes[0]))), ("broken.png", b"\x89PNG junk")])
    assert "Saved to" in out and "broken.png" in out and (tmp_path / "uploads" / "readings.csv").exists()
    assert "photo" in box.static_html() and box.status.value.startswith("Read 2 file(s)")


def test_flags_do_not_depend_on_the_batch(reader) -> None:
    """A line stopped early waits, padded, for the rest of its batch: that must not read as hitting the limit."""
    from inkwell.models.decode import predict_lines

    page = synthetic_page(16, size=(900, 1754), seed=4)
    crops = [page.image.crop(box) for box in page.boxes]
    one = predict_lines(reader.loaded, crops, batch_size=1, max_new_tokens=24, progress=False)
    together = predict_lines(reader.loaded, crops, batch_size=len(crops), max_new_tokens=24, progress=False)
    assert [(p.text, p.stopped_by_guard, p.hit_limit) for p in together] == \
        [(p.text, p.stopped_by_guard, p.hit_limit) for p in one]
    assert all(0.0 <= p.confidence <= 1.0 and 0.0 <= p.lowest <= p.confidence for p in together)
    assert [p.confidence for p in together] == pytest.approx([p.confidence for p in one], abs=1e-3)
    plain = predict_lines(reader.loaded, crops[:4], batch_size=4, max_new_tokens=24, progress=False, confidence=False)
    assert [p.text for p in plain] == [p.text for p in together[:4]] and {p.confidence for p in plain} == {None}


def test_every_line_read_carries_its_confidence_to_the_csv_the_page_xml_and_the_corrector(reader, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from inkwell.data.corrections import image_digest
    from inkwell.views.corrector import lines_of_folder, lines_of_reading
    from inkwell.core.csvsafe import read_frame

    folder = tmp_path / "inbox"
    folder.mkdir()
    page = synthetic_page(3, size=(900, 600), seed=5)
    page.image.save(folder / "letter.png")
    page.image.crop(page.boxes[1]).save(folder / "one-line.png")
    reading, saved = read_scan(reader, scan_inputs(folder), output_dir=str(tmp_path / "out"))
    assert reading.folder == saved.folder
    sure = [ln.confidence for ln in reading.lines]
    assert len(sure) == 4 and all(0.0 <= c <= 1.0 for c in sure)
    table = read_frame(saved.csv, text_columns=["text", "name"])
    assert table["confidence"].tolist() == pytest.approx(sure, abs=1e-4)
    root = ET.parse(saved.folder / "letter.xml").getroot()
    confs = [float(e.get("conf")) for e in root.iter() if e.tag.endswith("TextEquiv")]
    assert confs == pytest.approx([ln.confidence for ln in reading.pages[0].lines], abs=1e-3)
    assert "%</small>" in render_page_readings_html(reading)  # shown beside each line
    # the corrector cuts the same line images from the reading and from its folder (a new kernel)
    now, later = lines_of_reading(reading), lines_of_folder(saved.folder)
    assert [ln.key for ln in now] == [ln.key for ln in later]
    assert [image_digest(ln.image) for ln in now] == [image_digest(ln.image) for ln in later]
    assert [ln.confidence for ln in later] == pytest.approx(sure, abs=1e-4)


@pytest.mark.parametrize("as_line, said, unsaid", [
    ([False], "mode 'auto': 1 image read as a page. 0 lines read", ["image(s)", "line(s)", "0 image", "as a line"]),
    ([False] * 3, "3 images read as pages.", ["0 image", "read as a line"]),
    ([True, True, False], "2 images read as lines, 1 image read as a page.", ["(s)"]),
    ([], "mode 'auto': no images.", ["0 image"]),
])
def test_describe_reads_naturally(as_line, said, unsaid, tmp_path: Path) -> None:
    from inkwell.reading.demo import DemoReading, PageResult

    image = Image.new("RGB", (40, 40), "white")
    reading = DemoReading("auto", [PageResult(SourcePage(tmp_path / f"{i}.png", 1, image), a)
                                   for i, a in enumerate(as_line)])
    text = reading.describe()
    assert said in text and not any(u in text for u in unsaid)


def test_describe_counts_flagged_lines_in_words(tmp_path: Path) -> None:
    from inkwell.reading.demo import DemoReading, PageResult
    from inkwell.reading.readings import LineReading

    box = [(0, 0), (9, 0), (9, 9), (0, 9)]
    lines = [LineReading("p", tmp_path / "p.png", 1, n, box, "t", flags=f) for n, f in ((1, "length_limit"), (2, ""))]
    one = DemoReading("pages", [PageResult(SourcePage(tmp_path / "p.png", 1, Image.new("RGB", (9, 9))), False, lines)],
                      read_seconds=1.0).describe()
    assert "2 lines read in 1.0 s" in one and "1 line flagged, check it by eye" in one


def test_a_reader_speaks_of_reading_not_training(reader) -> None:
    if reader.loaded.device == "cuda":
        pytest.skip("the 4-bit note is a CPU's")
    said = reader.loaded.describe()
    assert "train" not in said
    assert "for reading" in said  # load_in_4bit is on by default and there is no GPU in the tests
