"""kraken's baseline segmenter as the optional line finder, as ``make setup`` installs it beside the locked stack.

On Linux x86-64 ``make setup`` installs kraken (``make kraken``, ``etc/requirements-kraken.txt``), so there these
tests run it and fail if it is missing; elsewhere (Windows: coremltools has no wheel) they check the message only.
"""

from __future__ import annotations

import platform
import sys
from importlib import resources
from pathlib import Path

import pytest

from inkwell.data.sources import SourcePage
from inkwell.models.decode import Prediction
from inkwell.reading.demo import read_pages_with
from inkwell.reading.linescore import ground_truth_pages, open_page, score_page
import inkwell.reading.lines as lines_module
from inkwell.reading.lines import detect_lines
from inkwell.reading.lines.geometry import LineBox
from inkwell.reading.lines.kinds import NOT_TEXT_FLAG
from inkwell.reading.lines.kraken import KRAKEN_MODEL, kraken_available

REAL = Path(__file__).parents[1] / "fixtures" / "realpages"

#: Where ``make setup`` installs kraken.
INSTALLED_HERE = sys.platform == "linux" and platform.machine() == "x86_64"

needs_kraken = pytest.mark.skipif(not INSTALLED_HERE, reason="make setup installs kraken on Linux x86-64 only")


@pytest.fixture(scope="module")
def diary_page():
    page = next(p for p in ground_truth_pages(REAL) if p.xml.stem == "genlis_f59")
    return page, open_page(page)


@needs_kraken
def test_kraken_is_installed_with_its_model_inside_its_wheel() -> None:
    assert kraken_available() is None
    assert (resources.files("kraken") / KRAKEN_MODEL).is_file()


@needs_kraken
def test_kraken_finds_a_real_pages_lines_with_polygons_baselines_and_order(diary_page, no_network: None) -> None:
    """A page of the diary (19 lines): measured 18 found and matched, none holding two lines, order 14 of 17."""
    page, image = diary_page
    lines = detect_lines(image, finder="kraken")
    score = score_page(page.boxes, [b.bbox for b in lines], truth_polygons=page.polygons,
                       found_polygons=[b.polygon for b in lines])
    assert score.matched / score.lines >= 0.9, score
    assert score.matched / score.found >= 0.9, score
    assert score.in_order / score.pairs >= 0.75, score
    assert score.two_lines == 0, score
    for line in lines:  # each line its own outline and a baseline along it, inside the page
        assert len(line.polygon) >= 3 and line.baseline is not None and len(line.baseline) >= 2
        left, top, right, bottom = line.bbox
        assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height
        for x, y in line.baseline:
            assert left - 2 <= x <= right + 2 and top - 2 <= y <= bottom + 2


@needs_kraken
def test_04_demo_reads_the_lines_kraken_found_and_says_so(diary_page) -> None:
    _, image = diary_page
    seen: list[int] = []

    def decode(crops: list, prompt: str) -> list[Prediction]:
        seen.append(len(crops))
        return [Prediction("x") for _ in crops]

    source = SourcePage(Path("f59.jpg"), 1, image.convert("RGB"), "f59")
    reading = read_pages_with(decode, [source], mode="pages", line_finder="kraken")
    assert sum(seen) == len(reading.lines) >= 17
    assert "lines found on pages by kraken in" in reading.describe()


def test_without_kraken_the_finder_says_how_to_get_it_or_which_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kraken", None)  # import kraken now raises ImportError
    reason = kraken_available()
    assert reason is not None and 'line_finder = "ppocr"' in reason
    assert "make kraken" in reason
    monkeypatch.setattr(sys, "platform", "win32")
    reason = kraken_available()
    assert reason is not None and "Windows" in reason and "coremltools" in reason
    with pytest.raises(RuntimeError, match="coremltools"):
        detect_lines(open_page(next(iter(ground_truth_pages(REAL)))), finder="kraken")


def test_kraken_lines_go_through_the_kinds_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stamp among kraken's lines is flagged as for page mode; a line's own baseline is kept."""
    from PIL import Image

    lines = [LineBox([(100, 100 + 60 * i), (900, 100 + 60 * i), (900, 140 + 60 * i), (100, 140 + 60 * i)], 1.0,
                     [(100, 135 + 60 * i), (900, 135 + 60 * i)]) for i in range(6)]
    stamp = LineBox([(950, 500), (1050, 500), (1050, 600), (950, 600)], 1.0, [(950, 590), (1050, 590)])
    monkeypatch.setattr(lines_module, "kraken_lines", lambda page: [*lines, stamp])
    found = detect_lines(Image.new("RGB", (1200, 800), "white"), finder="kraken")
    assert [b.polygon for b in found] == [b.polygon for b in [*lines, stamp]]
    assert [b.baseline for b in found] == [b.baseline for b in [*lines, stamp]]
    assert [NOT_TEXT_FLAG in b.flags for b in found] == [False] * 6 + [True]
