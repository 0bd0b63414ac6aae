"""Orientation of lines cut out of pages: vertical baselines are turned upright, and a page image whose EXIF
orientation contradicts the XML's declared size is used in the XML's frame, with a note in the report."""

import numpy as np
import pytest
from builders import PAGE_NS, alto_xml, page_image, page_xml, run
from PIL import Image, ImageDraw, ImageFont

from inkwell.data.formats import read_rows
from inkwell.data.images import baseline_crop

TEXT = "Margin note"
LINE_SIZE = (240, 40)
BASE_Y = 32  # where the rendered text sits, in the upright line image


def _text_line() -> Image.Image:
    """Printed text, upright, left to right (asymmetric, so a crop turned the wrong way does not match)."""
    img = Image.new("RGB", LINE_SIZE, "white")
    font = ImageFont.load_default(size=26)
    ImageDraw.Draw(img).text((6, BASE_Y), TEXT, fill="black", font=font, anchor="ls")
    return img


def _page_with_vertical_line(turn: Image.Transpose, at=(100, 80)):
    """A 300x400 page holding the text line turned by ``turn``; returns (page, polygon, baseline)."""
    line = _text_line()
    turned = line.transpose(turn)
    page = Image.new("RGB", (300, 400), "white")
    page.paste(turned, at)
    w, _ = LINE_SIZE
    x0, y0 = at
    if turn == Image.Transpose.ROTATE_90:  # counter-clockwise: reads bottom to top; (x, y) -> (y, w - 1 - x)
        base = [(x0 + BASE_Y, y0 + w), (x0 + BASE_Y, y0)]
    else:  # ROTATE_270, clockwise: reads top to bottom; (x, y) -> (h - 1 - y, x)
        base = [(x0 + LINE_SIZE[1] - 1 - BASE_Y, y0), (x0 + LINE_SIZE[1] - 1 - BASE_Y, y0 + w)]
    poly = [(x0, y0), (x0 + turned.width, y0), (x0 + turned.width, y0 + turned.height), (x0, y0 + turned.height)]
    return page, poly, base


def _pts(points) -> str:
    return " ".join(f"{x},{y}" for x, y in points)


def _page_file(folder, poly, base, text=TEXT, size=(300, 400), extra=""):
    base_el = f'<Baseline points="{_pts(base)}"/>' if base else ""
    (folder / "page.xml").write_text(
        f'<PcGts xmlns="{PAGE_NS["2019"]}"><Page imageFilename="page.png" imageWidth="{size[0]}" '
        f'imageHeight="{size[1]}"><TextRegion id="r1"><TextLine id="l1"><Coords points="{_pts(poly)}"/>{base_el}'
        f"<TextEquiv><Unicode>{text}</Unicode></TextEquiv></TextLine>{extra}</TextRegion></Page></PcGts>",
        encoding="utf-8")
    return folder / "page.xml"


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))


@pytest.mark.parametrize("turn", [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270],
                         ids=["bottom-to-top", "top-to-bottom"])
def test_page_xml_vertical_line_is_cut_upright(tmp_path, turn):
    page, poly, base = _page_with_vertical_line(turn)
    page.save(tmp_path / "page.png")
    (row,) = read_rows(_page_file(tmp_path, poly, base)).rows
    upright = _text_line()
    assert _same(row.resolved, upright)  # reads left to right, as the text was written
    assert not _same(row.resolved, upright.transpose(Image.Transpose.ROTATE_180))


def test_alto4_baseline_points_turn_the_line(tmp_path):
    page, poly, base = _page_with_vertical_line(Image.Transpose.ROTATE_90)
    page.save(tmp_path / "page.png")
    (tmp_path / "page.xml").write_text(
        '<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Description><sourceImageInformation>'
        "<fileName>page.png</fileName></sourceImageInformation></Description><Layout>"
        '<Page WIDTH="300" HEIGHT="400"><PrintSpace><TextBlock>'
        f'<TextLine ID="m1" HPOS="100" VPOS="80" WIDTH="40" HEIGHT="240" BASELINE="{_pts(base)}">'
        '<String CONTENT="Margin"/><SP/><String CONTENT="note"/></TextLine>'
        '<TextLine ID="h1" HPOS="10" VPOS="10" WIDTH="80" HEIGHT="30" BASELINE="35">'
        '<String CONTENT="old"/></TextLine>'
        "</TextBlock></PrintSpace></Page></Layout></alto>", encoding="utf-8")
    vertical, old_style = read_rows(tmp_path / "page.xml").rows
    assert _same(vertical.resolved, _text_line())
    assert old_style.resolved.size == (80, 30)  # a single-number BASELINE (older ALTO) changes nothing


def test_lines_without_baseline_or_gently_sloped_are_cut_as_before(tmp_path):
    page_image(tmp_path / "page.png")
    xml = page_xml(tmp_path)
    plain = read_rows(xml).rows
    assert [r.resolved.size for r in plain] == [(220, 60), (300, 60)]
    page_image(tmp_path / "alto" / "page.png")
    alto = read_rows(alto_xml(tmp_path / "alto")).rows
    assert [r.resolved.size for r in alto] == [(220, 60), (300, 60)]
    page = Image.open(tmp_path / "page.png").convert("RGB")
    poly = [(10, 10), (230, 10), (230, 70), (10, 70)]
    sloped = [(10, 50), (230, 20)]  # rises about 8 degrees: left as it is
    assert _same(baseline_crop(page, poly, sloped), page.crop((10, 10, 230, 70)))
    assert _same(baseline_crop(page, poly, None), page.crop((10, 10, 230, 70)))
    rtl = [(230, 60), (10, 60)]  # right to left (as right-to-left scripts draw it): not turned over
    assert _same(baseline_crop(page, poly, rtl), page.crop((10, 10, 230, 70)))


def test_tall_line_with_long_text_is_kept_and_noted(tmp_path):
    page, poly, _ = _page_with_vertical_line(Image.Transpose.ROTATE_90)
    page.save(tmp_path / "page.png")
    short = '<TextLine id="l2"><Coords points="200,100 230,100 230,150 200,150"/>' \
            "<TextEquiv><Unicode>12</Unicode></TextEquiv></TextLine>"
    report = run(_page_file(tmp_path, poly, None, extra=short), tmp_path, max_aspect_ratio=20)
    assert report.n_accepted == 2  # kept
    (note,) = [n for n in report.notes if "taller than wide" in n]
    assert note.startswith("1 line(s)") and "page.xml:1" in note and "page.xml:2" not in note


def _exif_page(path, fmt="PNG"):
    """The builders' 400x300 page, stored as is, with an EXIF tag saying to turn it 90 degrees to view."""
    img = Image.open(page_image(path.with_suffix(".plain.png"))).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, format=fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return img


@pytest.mark.parametrize("fmt,suffix", [("PNG", "png"), ("JPEG", "jpg")])
def test_exif_orientation_against_declared_size_follows_the_xml(tmp_path, fmt, suffix):
    stored = _exif_page(tmp_path / f"page1.{suffix}", fmt)
    stored = Image.open(tmp_path / f"page1.{suffix}").convert("RGB")  # pixels as stored (JPEG: as decoded)
    xml = page_xml(tmp_path, name="page1.xml", image=f"page1.{suffix}")  # declares 400x300, as stored
    res = read_rows(xml)
    assert res.rejected == []
    first, second = res.rows
    assert _same(first.resolved, stored.crop((10, 10, 230, 70)))  # cut where the XML says, not from turned paper
    assert _same(second.resolved, stored.crop((10, 90, 310, 150)))
    assert np.asarray(first.resolved.convert("L"))[15:45, 15:200].mean() < 60  # the line's ink, not blank paper
    expected = (f"page1.{suffix}: EXIF orientation 6 would turn the image to 300x400, but page1.xml declares "
                "400x300; the XML's frame is used.")
    assert res.notes == [expected]
    report = run(xml, tmp_path)
    assert expected in report.notes and report.n_accepted == 2


def test_exif_orientation_matching_declared_size_is_applied_silently(tmp_path):
    _exif_page(tmp_path / "page.png")
    upright = Image.open(tmp_path / "page.png").convert("RGB").transpose(Image.Transpose.ROTATE_270)
    (tmp_path / "page.xml").write_text(
        f'<PcGts xmlns="{PAGE_NS["2019"]}"><Page imageFilename="page.png" imageWidth="300" imageHeight="400">'
        '<TextRegion><TextLine><Coords points="10,10 60,10 60,210 10,210"/>'
        "<TextEquiv><Unicode>ab</Unicode></TextEquiv></TextLine></TextRegion></Page></PcGts>", encoding="utf-8")
    res = read_rows(tmp_path / "page.xml")
    assert res.notes == []
    assert _same(res.rows[0].resolved, upright.crop((10, 10, 60, 210)))
