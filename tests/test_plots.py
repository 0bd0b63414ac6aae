"""Tests for inkwell.plots: the CER distribution and CER-vs-length figures."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from inkwell.evaluate import evaluate_systems
from inkwell.plots import plot_cer_distribution, plot_cer_vs_length


def test_plots_return_figures():
    ev = evaluate_systems(["1", "2", "3"], ["ab", "abc", "abcdef"], {"a": ["ababab", "abd", ""], "b": ["ab", "abc", "abcdeg"]})
    f1 = plot_cer_distribution(ev)
    f2 = plot_cer_vs_length(ev)
    assert isinstance(f1, Figure) and isinstance(f2, Figure)
    texts = [t.get_text() for t in f1.axes[0].texts]
    assert any("1 > 100%" in t for t in texts)
    f1.canvas.draw()
    f2.canvas.draw()
