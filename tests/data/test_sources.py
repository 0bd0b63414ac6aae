"""Reading what users hold: images, PDFs and folders with junk, every file read or listed with a reason."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from inkwell.data.sources import InputScan, SourcePage, safe_stem, scan_inputs, scan_upload


def _png_with_size(w: int, h: int) -> bytes:
    """A small valid PNG whose IHDR is patched to declare ``w`` x ``h`` (CRC recomputed): a decompression bomb."""
    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def _pdf(path: Path) -> Path:
    a = Image.new("RGB", (300, 200), "white")
    b = Image.new("RGB", (200, 300), (90, 90, 90))
    a.save(path, "PDF", save_all=True, append_images=[b], resolution=100)
    return path


@pytest.fixture()
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    Image.new("RGBA", (120, 40), (0, 0, 0, 0)).save(folder / "a_rgba.png")
    rotated = Image.new("RGB", (60, 30), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    rotated.save(folder / "b_rotated.jpg", exif=exif.tobytes())
    _pdf(folder / "c_letter.pdf")
    (folder / "d_empty.png").write_bytes(b"")
    good = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(good, "PNG")
    (folder / "e_truncated.png").write_bytes(good.getvalue()[:60])
    (folder / "f_bomb.png").write_bytes(_png_with_size(20000, 20000))
    (folder / "notes.txt").write_text("not a page", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "g_broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf body")
    (folder / "sub").mkdir()
    return folder


def test_folder_with_junk_reads_every_good_page_and_lists_the_rest(inbox: Path) -> None:
    started = time.perf_counter()
    scan = scan_inputs(inbox)
    assert time.perf_counter() - started < 10  # the bomb is refused from its header, never decoded

    assert [(p.file.name, p.page) for p in scan.pages] == [
        ("a_rgba.png", 1), ("b_rotated.jpg", 1), ("c_letter.pdf", 1), ("c_letter.pdf", 2)]
    assert [p.name for p in scan.pages] == ["a_rgba", "b_rotated", "c_letter-p001", "c_letter-p002"]
    assert all(p.image.mode == "RGB" for p in scan.pages)
    assert scan.pages[0].image.getpixel((5, 5)) == (255, 255, 255)  # transparency on white
    assert scan.pages[1].image.size == (30, 60)  # EXIF rotation applied
    assert scan.pages[2].image.size == (int(300 / 100 * 200), int(200 / 100 * 200))  # 3 x 2 inches at 200 dpi
    assert scan.pages[3].image.size[0] < scan.pages[3].image.size[1]

    reasons = {u.file.name: u.reason for u in scan.unreadable}
    assert reasons == {"d_empty.png": "empty_file", "e_truncated.png": "corrupt_image",
                       "f_bomb.png": "too_large", "g_broken.pdf": "broken_pdf"}
    assert all(u.fix for u in scan.unreadable)
    bomb = next(u for u in scan.unreadable if u.reason == "too_large")
    assert "400,000,000 pixels" in bomb.fix and "max_image_pixels" in bomb.fix
    assert [p.name for p in scan.other_files] == [".DS_Store", "notes.txt", "sub"]

    text = scan.describe()
    assert text.startswith("4 pages from 3 files (1 PDF with 2 pages); 4 files could not be read")
    for name in ("f_bomb.png", "too_large", "notes.txt", ".DS_Store", "sub/"):
        assert name in text


def test_a_single_file_and_a_pdf_page_too_large(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "scan.pdf")
    scan = scan_inputs(pdf, pdf_dpi=200, max_pixels=500_000)
    assert [p.name for p in scan.pages] == ["scan-p001", "scan-p002"]
    small = scan_inputs(pdf, pdf_dpi=200, max_pixels=200_000)
    assert small.pages == []
    assert [(u.reason, u.page) for u in small.unreadable] == [("pdf_page_too_large", 1), ("pdf_page_too_large", 2)]
    assert "lower pdf_dpi" in small.unreadable[0].fix.lower()
    assert "scan.pdf, page 1" in small.unreadable[0].describe()

    image = tmp_path / "one.webp"
    Image.new("RGB", (50, 20), "white").save(image)
    assert [p.name for p in scan_inputs(image).pages] == ["one"]


def test_names_stay_unique_when_stems_are_shared(tmp_path: Path) -> None:
    for name in ("a.png", "a.jpg", "A.tif", "a-2.png"):
        Image.new("RGB", (20, 20), "white").save(tmp_path / name)
    names = [p.name for p in scan_inputs(tmp_path).pages]
    assert len({n.lower() for n in names}) == 4
    assert names == ["a-2", "a", "a_png", "A_tif"]  # files in natural order: a-2.png, a.jpg, a.png, A.tif
    assert safe_stem("Brief an Marie (1)") == "Brief_an_Marie_1"
    assert safe_stem("../..") == "page" and safe_stem("nul") == "nul_"


def test_natural_order_and_max_files(tmp_path: Path) -> None:
    for k in (10, 2, 1):
        Image.new("RGB", (20, 20), "white").save(tmp_path / f"page{k}.png")
    assert [p.name for p in scan_inputs(tmp_path).pages] == ["page1", "page2", "page10"]
    capped = scan_inputs(tmp_path, max_files=2)
    assert [p.name for p in capped.pages] == ["page1", "page2"]
    assert [p.name for p in capped.not_read] == ["page10.png"]
    assert "max_files" in capped.describe()


def test_missing_path_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="inputs") as err:
        scan_inputs(tmp_path / "nowhere")
    assert "nowhere" in str(err.value)
    with pytest.raises(ValueError, match="pdf_dpi"):
        scan_inputs(tmp_path, pdf_dpi=0)


def test_upload_reads_bytes_like_files(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("LA", (40, 10)).save(png, "PNG")
    pdf = _pdf(tmp_path / "x.pdf").read_bytes()
    scan = scan_upload([("page.png", png.getvalue()), ("page.png", png.getvalue()), ("letter.pdf", pdf),
                        ("bomb.png", _png_with_size(20000, 20000)), ("empty.pdf", b""), ("readme.md", b"hi")])
    assert isinstance(scan, InputScan)
    assert [p.name for p in scan.pages] == ["page", "page_png", "letter-p001", "letter-p002"]
    assert all(isinstance(p, SourcePage) and p.image.mode == "RGB" for p in scan.pages)
    assert [(u.file.name, u.reason) for u in scan.unreadable] == [("bomb.png", "too_large"), ("empty.pdf", "empty_file")]
    assert [p.name for p in scan.other_files] == ["readme.md"]


def test_multi_page_tiff_is_read_page_by_page(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (30, 20), c) for c in ("white", "gray", "black")]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    scan = scan_inputs(tmp_path / "stack.tif")
    assert [p.name for p in scan.pages] == ["stack-p001", "stack-p002", "stack-p003"]
    assert scan.pages[2].image.getpixel((0, 0)) == (0, 0, 0)
