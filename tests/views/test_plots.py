"""Tests for inkwell.views.plots: the CER distribution and CER-vs-length figures."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from inkwell.evaluation.evaluate import evaluate_systems
from inkwell.views.plots import errors_in_least_sure, plot_cer_distribution, plot_cer_vs_confidence, plot_cer_vs_length


def test_plots_return_figures():
    ev = evaluate_systems(["1", "2", "3"], ["ab", "abc", "abcdef"], {"a": ["ababab", "abd", ""], "b": ["ab", "abc", "abcdeg"]})
    f1 = plot_cer_distribution(ev)
    f2 = plot_cer_vs_length(ev)
    assert isinstance(f1, Figure) and isinstance(f2, Figure)
    texts = [t.get_text() for t in f1.axes[0].texts]
    assert any("1 > 100%" in t for t in texts)
    f1.canvas.draw()
    f2.canvas.draw()


def test_cer_vs_confidence_says_how_many_errors_the_least_sure_lines_hold():
    refs = ["abcd"] * 10
    hyps = ["abcd"] * 8 + ["xxcd", "abxd"]  # 3 edits: 2 in line 9, 1 in line 10
    sure = [0.9, 0.95, 0.8, 0.85, 0.9, 0.99, 0.7, 0.75, 0.1, 0.72]  # line 9 the least sure, line 10 third least
    ev = evaluate_systems([str(i) for i in range(10)], refs, {"base": hyps, "ocr": hyps},
                          confidences={"base": sure, "ocr": [None] * 10})
    assert errors_in_least_sure(ev, "base", share=0.1) == 2 / 3  # the least sure line holds 2 of 3 edits
    assert errors_in_least_sure(ev, "base", share=0.3) == 1.0
    assert errors_in_least_sure(ev, "ocr") is None
    fig = plot_cer_vs_confidence(ev, focus="base")
    title = fig.axes[0].get_title()
    assert "least sure 20% of lines hold 67% of the errors" in title and "rank correlation -" in title
    fig.canvas.draw()
    empty = plot_cer_vs_confidence(ev, focus="ocr")
    assert "gives no confidence" in empty.axes[0].texts[0].get_text()
    frame = ev.predictions_frame()
    assert frame["confidence"].tolist()[:10] == sure and frame["confidence"][10:].isna().all()


def test_loss_plot_adds_validation_cer_with_the_best_point() -> None:
    from inkwell.views.plots import plot_loss

    logs = [{"step": s, "loss": 5.0 - s / 10} for s in range(5, 31, 5)]
    alone = plot_loss(logs)
    assert len(alone.axes) == 1 and alone.axes[0].get_title() == "Training loss"
    both = plot_loss(logs, [{"step": 10, "cer": 0.8}, {"step": 20, "cer": 0.35}, {"step": 30, "cer": 0.4}])
    assert len(both.axes) == 2 and "validation CER" in both.axes[0].get_title()
    assert [t.get_text() for t in both.axes[1].texts] == ["best 35.0%"]


def test_live_plot_redraws_one_figure_as_the_run_grows() -> None:
    from inkwell.views.plots import LiveLossPlot

    live = LiveLossPlot()
    live([{"step": 5, "loss": 4.0}], [])
    live([{"step": 5, "loss": 4.0}, {"step": 10, "loss": 3.0}], [{"step": 10, "cer": 0.5}])
    assert live.updates == 2 and len(live.figure.axes) == 2  # the validation axis appears with the first evaluation


def test_loss_plot_steps_are_whole_numbers() -> None:
    """A short run (3 steps) must not get ticks at 0.5, 1.5, ..."""
    from inkwell.views.plots import plot_loss

    fig = plot_loss([{"step": s, "loss": 3.0 - s / 10} for s in (1, 2, 3)])
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_character_frequencies_are_a_bar_chart(tmp_path) -> None:
    import datasets

    from inkwell.views.plots import plot_char_frequencies

    dsd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["aab c", "ab"]})})
    fig = plot_char_frequencies(dsd, top=3)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "\u2423"]
    assert [p.get_height() for p in ax.patches] == [3, 2, 1]


def test_sample_grid_draws_non_latin_labels_without_warnings() -> None:
    """CJK, a combining mark and Greek: no missing-glyph warnings, and the fonts used have every glyph."""
    import logging
    import warnings

    import datasets
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ft2font import FT2Font
    from PIL import Image

    from inkwell.views.plots import plot_char_frequencies, sample_grid, text_fonts

    labels = ["日本語テキスト", "Pe̍h-ōe-jī", "Ελληνικά"]
    features = datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")})
    ds = datasets.Dataset.from_dict({"image": [Image.new("RGB", (120, 30), "white")] * 3, "text": labels},
                                    features=features)
    dsd = datasets.DatasetDict({"train": ds})
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("matplotlib").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for fig in (sample_grid(dsd, n=3), plot_char_frequencies(dsd, top=40)):
                FigureCanvasAgg(fig)
                fig.canvas.draw()
    finally:
        logging.getLogger("matplotlib").removeHandler(handler)
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []
    fonts = [FT2Font(font_manager.findfont(font_manager.FontProperties(family=f), fallback_to_default=False))
             for f in text_fonts()]
    assert "Noto Sans CJK JP" in text_fonts()
    charmaps = [set(f.get_charmap()) for f in fonts]
    assert all(any(ord(ch) in cm for cm in charmaps) for ch in "".join(labels))
