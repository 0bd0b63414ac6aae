"""Tests for inkwell.views.render: diffs, sample views and rejected rows (plus the data display helpers it sits beside)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure
import PIL.Image
import pytest
from builders import page_image, page_xml, plain_image, run, sample_evaluation, simple_set

from inkwell.data.dataset import DataReport, char_frequencies, load_processed
from inkwell.data.images import image_to_data_uri
from inkwell.views.plots import data_histograms, sample_grid
from inkwell.views.render import (
    rejected_summary_html,
    rejected_thumbnails_html,
    render_diff_html,
    render_diff_text,
    render_sample_html,
    render_samples_html,
)

# ---------------------------------------------------------------------------
# Data display helpers
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
    assert "<table" in summary and "corrupt_image" in summary and "conflict" in summary
    thumbs = rejected_thumbnails_html(report)
    assert "x&lt;y&gt;.png" in thumbs and "<y>" not in thumbs
    assert thumbs.count("data:image/png;base64,") == 2  # the two conflicting copies of l0.png
    assert "labels.csv:12" in thumbs
    nothing = DataReport(tmp_path, "table", 0, 0, 0, 0, {}, {}, "", {}, [])
    assert rejected_summary_html(nothing).startswith("<p>No rows")
    assert rejected_thumbnails_html(nothing) == ""  # said once, by the summary


# ---------------------------------------------------------------------------
# Diffs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref,pred,expected",
    [
        ("the cat", "the cot", "the c[a->o]t"),
        ("cat", "cats", "cat{+s}"),
        ("cats", "cat", "cat[-s]"),
        ("ab cd", "abcd", "ab[-␣]cd"),
        ("abc", "abc", "abc"),
        ("abc", "", "[-abc]"),
        ("kitten", "sitting", "[k->s]itt[e->i]n{+g}"),
        ("дом", "дым", "д[о->ы]м"),
    ],
)
def test_render_diff_text(ref, pred, expected):
    assert render_diff_text(ref, pred) == expected


def test_render_diff_html_escapes_and_marks():
    out = render_diff_html("a<script>b", "<script>bc")
    assert "<script>" not in out
    assert "&lt;script&gt;" in out
    assert "<del" in out and "<ins" in out
    sub = render_diff_html("cat", "cot")
    assert "\u2192" in sub and 'class="iw-sub"' in sub
    attack = render_diff_html('x"><img src=x onerror=alert(1)>', "y")
    assert "<img" not in attack


# ---------------------------------------------------------------------------
# Sample views
# ---------------------------------------------------------------------------


def test_image_to_data_uri_resizes():
    uri = image_to_data_uri(plain_image(1600, 40), max_width=800)
    assert uri.startswith("data:image/png;base64,")
    import base64
    import io

    decoded = PIL.Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded.size == (800, 20)
    assert image_to_data_uri(PIL.Image.new("P", (10, 10))).startswith("data:image/png")


def test_render_sample_html():
    out = render_sample_html(plain_image(), "abcd", {"base": "abed", "tuned<b>": "abcd"}, sample_id="line-7")
    assert "<img" in out and "line-7" in out
    assert "25.0%" in out and "0.0%" in out
    assert "tuned&lt;b&gt;" in out and "tuned<b>" not in out
    assert out.index("base") < out.index("tuned")
    given = render_sample_html(None, "abcd", {"base": "abed"}, cers={"base": 0.5})
    assert "50.0%" in given and "<img" not in given


def test_render_samples_html_worst_first():
    ev, images = sample_evaluation()
    out = render_samples_html(images, ev, focus="baseline", limit=3)
    positions = [out.find(f">{i}<") for i in ["s1", "s3", "s4"]]
    assert positions == sorted(positions) and positions[0] > 0
    assert ">s0<" not in out and "3 worst lines of baseline" in out
    # the default focus is the last system (the newest adapter): its own worst lines first, not the base's
    tuned = render_samples_html(images, ev, limit=2)
    assert "2 worst lines of finetuned" in tuned and tuned.find(">s3<") < tuned.find(">s1<")
    only_tuned = render_samples_html(images, ev, focus="finetuned", systems=["finetuned"], ids=["s0", "s3"])
    assert "baseline" not in only_tuned and ">s0<" in only_tuned
    assert only_tuned.find(">s3<") < only_tuned.find(">s0<")


def test_rejections_carry_the_file_they_came_from(tmp_path):
    """Each rejection records the file its image led to, so the gallery shows it without resolving paths again."""
    d = tmp_path / "in"
    simple_set(d, n=3)
    (d / "bad.png").write_bytes(b"junk")
    with open(d / "labels.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write("bad.png,broken\r\nmissing.png,gone\r\nl0.png,\r\n")
    page_image(tmp_path / "pages" / "page.png")
    xml = page_xml(tmp_path / "pages")
    text = xml.read_text(encoding="utf-8").replace("10,10 230,10 230,70 10,70", "10,10 13,10 13,13 10,13")
    xml.write_text(text, encoding="utf-8")  # the first line is cut too small to use

    by_reason = {r.reason: r for r in run(d / "labels.csv", tmp_path).rejected}
    assert by_reason["corrupt_image"].resolved == str(d / "bad.png")
    assert by_reason["empty_text"].resolved == str(d / "l0.png")
    assert by_reason["missing_file"].resolved is None
    (small,) = run(xml, tmp_path, name="pages").rejected
    assert small.reason == "too_small" and small.resolved == str(tmp_path / "pages" / "page.png")
    gallery = rejected_thumbnails_html(run(xml, tmp_path, name="pages2"))
    assert gallery.count("data:image/png;base64,") == 1  # the page the line was cut from


def test_tables_read_as_a_person_expects():
    """Percentages instead of raw fractions, no index column, the focus system in bold, the verdict whole."""
    from inkwell.views.render import bootstrap_html, confusion_html, metrics_html

    ev, _ = sample_evaluation()
    table = metrics_html(ev, "finetuned")
    cer = ev.metrics["finetuned"].cer
    assert f"{cer:.1%}" in table and f">{cer}<" not in table
    assert "<th" in table and ">0<" not in table.split("<tbody>")[1].split("</td>")[0]  # the first cell is a name
    bold_row = next(r for r in table.split("<tr")[1:] if r.startswith(' style="font-weight:bold"'))
    assert "finetuned" in bold_row and "baseline" not in bold_row
    verdicts = bootstrap_html(ev)
    assert ev.bootstrap[0].verdict in verdicts.replace("&#x27;", "'")
    confusions = confusion_html(ev, "finetuned", top=5)
    assert "confusions of finetuned" in confusions


def test_focus_defaults_to_the_newest_adapter_evaluated():
    ev, _ = sample_evaluation()
    assert ev.focus_system("", ["older-run", "finetuned"]) == "finetuned"
    assert ev.focus_system("", ["not-evaluated"]) == "finetuned"  # no adapter: the last system
    assert ev.focus_system("baseline") == "baseline"
    with pytest.raises(ValueError, match="choose one of"):
        ev.focus_system("base-typo")


def test_comparison_view_keeps_every_evaluation_newest_first(tmp_path):
    """Two evaluations of one split stay two sets of rows; another base or line count never replaces a row."""
    from inkwell.evaluation.evaluate import update_comparison
    from inkwell.views.render import comparison_html

    ev, _ = sample_evaluation()
    path = tmp_path / "comparison.csv"
    update_comparison(ev, path, "set", "test", base_model="model-a", evaluation_name="set-test-1")
    table = update_comparison(ev, path, "set", "test", base_model="model-b", evaluation_name="set-test-2")
    update_comparison(ev, path, "other", "test", base_model="model-a", evaluation_name="other-test-1")
    view = comparison_html(table, "set", "test")
    assert "2 evaluation(s) of set / test" in view
    assert view.index("set-test-2") < view.index("set-test-1") and "model-a" in view and "model-b" in view
    assert f"{ev.metrics['finetuned'].cer:.1%}" in view


@pytest.mark.parametrize("confidence, shown", [(None, ""), (float("nan"), ""), (0.001, "&lt;1%"), (0.934, ">93%<"),
                                               (1.0, ">100%<")])
def test_confidence_beside_a_line(confidence, shown):
    from inkwell.views.render import confidence_html

    out = confidence_html(confidence)
    assert (shown in out) if shown else out == ""


# ---------------------------------------------------------------------------
# 04_demo's page view: flag colour, legend, numbered boxes
# ---------------------------------------------------------------------------


def _reading(flags=("", "", ""), numbers=(1, 2, 3), confidence=0.9):
    """A DemoReading of one white 1000 x 800 page, boxes 100..900 wide, 50 high, 60 apart, no model needed."""
    from pathlib import Path

    from inkwell.data.sources import SourcePage
    from inkwell.reading.demo import DemoReading, PageResult
    from inkwell.reading.readings import LineReading

    page = SourcePage(Path("page.png"), 1, PIL.Image.new("RGB", (1000, 800), "white"))
    lines = [LineReading(source="page", file=page.file, page=1, line=n,
                         polygon=[(100, 100 + 60 * i), (900, 100 + 60 * i), (900, 150 + 60 * i), (100, 150 + 60 * i)],
                         text=f"line {n}", flags=f, confidence=confidence)
             for i, (n, f) in enumerate(zip(numbers, flags))]
    return DemoReading("pages", [PageResult(page, False, lines)])


def test_the_flag_colour_follows_the_theme_and_falls_back_to_the_old_orange():
    from inkwell.views.render import FLAG_COLOR, _flag_html, flags_legend_html

    assert "var(--jp-warn-color0, #b35900)" in FLAG_COLOR and "var(--jp-content-font-color0, #b35900)" in FLAG_COLOR
    assert f"color:{FLAG_COLOR}" in _flag_html("repetition_loop") and "loop" in _flag_html("repetition_loop")
    legend = flags_legend_html()
    assert legend.count(f"color:{FLAG_COLOR}") == 2 and "color:#b35900" not in legend
    assert "'" not in FLAG_COLOR and '"' not in FLAG_COLOR  # fits a style attribute quoted either way


def test_the_flag_legend_shows_only_when_a_line_is_flagged():
    from inkwell.views.render import render_page_readings_html

    calm = render_page_readings_html(_reading())
    assert "loop" not in calm and "limit" not in calm and "Check flagged lines" not in calm
    assert "confidence" in calm  # what the percentage beside a line means is still said
    flagged = render_page_readings_html(_reading(flags=("", "length_limit", "")))
    assert "Check flagged lines" in flagged and "loop" in flagged and "limit" in flagged
    bare = render_page_readings_html(_reading(confidence=None))
    assert "Check flagged lines" not in bare and "confidence" not in bare


def test_the_text_list_numbers_are_the_box_numbers_even_when_lines_are_dropped():
    from inkwell.views.render import render_page_readings_html

    view = render_page_readings_html(_reading(numbers=(1, 3, 7)))
    assert "<li value='1'" in view and "<li value='3'" in view and "<li value='7'" in view
    assert view.index("line 3") < view.index("line 7")


def test_box_numbers_are_large_on_white_in_the_margin_at_each_lines_own_height():
    import numpy as np

    from inkwell.views.render import draw_boxes

    reading = _reading(numbers=(1, 2, 3))
    lines = reading.pages[0].lines
    drawn = np.asarray(draw_boxes(reading.pages[0].page.image, [ln.polygon for ln in lines],
                                  [ln.line for ln in lines], max_width=1000))
    margin = drawn[:, :100]  # left of the boxes: only the labels are drawn there
    dark = (margin.max(axis=2) < 90).any(axis=1)  # the labels' border and digits
    runs, start = [], None
    for y, d in enumerate([*dark, False]):
        if d and start is None:
            start = y
        elif not d and start is not None:
            runs.append((start, y))
            start = None
    assert len(runs) == 3  # one label per box, apart
    for (top, bottom), i in zip(runs, range(3)):
        assert bottom - top >= 24  # large: not the 8 px of old
        assert 100 + 60 * i <= (top + bottom) / 2 <= 150 + 60 * i  # at the middle of its own line, not the one above
    assert (margin[runs[0][0] + 4: runs[0][1] - 4].min(axis=2) > 250).any()  # a white ground inside the border


def test_box_numbers_of_crowded_boxes_never_cover_each_other():
    import numpy as np

    from inkwell.views.render import draw_boxes

    page = PIL.Image.new("RGB", (600, 400), "white")
    box = [(10, 100), (590, 100), (590, 140), (10, 140)]  # no room in the margin: the numbers go inside
    one = np.asarray(draw_boxes(page, [box], [1])).astype(int)
    two = np.asarray(draw_boxes(page, [box, box], [1, 2])).astype(int)
    gray = (one[..., 0] == one[..., 1]) & (one[..., 1] == one[..., 2]) & (one[..., 0] < 250)  # label 1's ink
    ys, xs = np.nonzero(gray)
    assert 10 <= xs.min() and 100 - 20 <= ys.min() and ys.max() <= 140 + 20  # at the box's left end
    label_one = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    assert (one[label_one] == two[label_one]).all()  # label 2 went elsewhere
    assert (one != two).any()
