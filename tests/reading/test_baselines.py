"""inkwell.reading.baselines: PP-OCR reads printed lines offline, one prediction per image, in order."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from inkwell.reading.baselines import baseline_names, load_baseline, read_baseline
from inkwell.models.decode import Prediction
from inkwell.evaluation.evaluate import line_cer

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ["The quick brown fox jumps", "12 May 1921, rain all day", "Letter from Anna", "see you soon"]


def printed(text: str, size: int = 32, mode: str = "RGB") -> Image.Image:
    """A clean printed line: dark text on white, a little margin."""
    try:
        font = ImageFont.truetype(FONT, size)
    except OSError:
        font = ImageFont.load_default(size)
    width = int(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(text, font=font)) + size
    img = Image.new("RGB", (width, int(size * 1.5)), "white")
    ImageDraw.Draw(img).text((size // 2, size // 5), text, font=font, fill=(20, 20, 40))
    return img.convert(mode)


def test_ppocr_reads_printed_lines_in_order_offline(no_network: None) -> None:
    pytest.importorskip("rapidocr")
    blank = Image.new("RGB", (120, 48), "white")
    tiny = Image.new("RGB", (1, 30), "white")
    # shuffled sizes and modes, so the aspect-ratio grouping has to put them back in order
    images = [printed(LINES[0]), blank, printed(LINES[1], 24, "L"), tiny, printed(LINES[2], 40, "RGBA"),
              printed(LINES[3])]
    preds = read_baseline("ppocr", images, batch_size=2, progress=False)
    assert len(preds) == len(images) and all(isinstance(p, Prediction) for p in preds)
    assert not any(p.stopped_by_guard or p.hit_limit for p in preds)
    texts = [p.text for p in preds]
    assert texts[1] == "" and texts[3] == ""
    read = [texts[0], texts[2], texts[4], texts[5]]
    cers = [line_cer(ref, hyp) for ref, hyp in zip(LINES, read)]
    assert sum(cers) / len(cers) < 0.2, list(zip(LINES, read))
    assert read_baseline("ppocr", [], progress=False) == []


def test_batching_does_not_change_the_reading(no_network: None) -> None:
    pytest.importorskip("rapidocr")
    images = [printed(t, size) for t, size in zip(LINES, (28, 32, 36, 40))]
    one = load_baseline("ppocr", batch_size=1)
    assert [p.text for p in read_baseline("ppocr", images, batch_size=4, progress=False)] == \
        [one([im])[0] for im in images]


def test_unknown_baselines_are_refused() -> None:
    assert "ppocr" in baseline_names()
    with pytest.raises(ValueError, match="ppocr"):
        read_baseline("tesseract", [printed("x")], progress=False)
    with pytest.raises(ValueError):
        read_baseline("ppocr", [printed("x")], batch_size=0, progress=False)
