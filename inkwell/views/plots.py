"""Figures: the data set at a glance, the training loss, and where the errors are.

Stage ``views``: imports lower stages. Every function returns a
matplotlib ``Figure`` that is not registered with pyplot, so notebooks show it
inline and tests can inspect or save it. Colours are the Okabe-Ito palette, with
a distinct marker per system as well. Text from the data (labels, characters) is
drawn with :func:`text_fonts`, a fallback list that reaches Chinese, Japanese and
Korean through Noto Sans CJK (the ``manimgx-fonts-cjk`` package, SIL OFL 1.1).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import io
import random
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
from IPython import get_ipython
from IPython.display import display
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from PIL import Image

from inkwell.data.dataset import char_frequencies, splits_of
from inkwell.evaluation.evaluate import RUNAWAY_CER, Evaluation

__all__ = ["LiveLossPlot", "data_histograms", "errors_in_least_sure", "plot_cer_distribution", "plot_cer_vs_confidence",
           "plot_cer_vs_length", "plot_char_frequencies", "plot_learning_curve", "plot_loss", "sample_grid", "text_fonts"]

# Colour-blind friendly palette (Okabe-Ito), used by the plots.
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
#: The package with Noto Sans CJK, and the face of it used (its other faces differ only in regional glyph forms).
_CJK_PACKAGE, _CJK_FAMILY = "manimgx_fonts_cjk", "Noto Sans CJK JP"


@functools.lru_cache(maxsize=1)
def text_fonts() -> list[str]:
    """Font families for text from the data, tried in order for each character (``fontfamily=text_fonts()``).

    DejaVu Sans (matplotlib's own: Latin, Greek, Cyrillic, combining marks) first, then Noto
    Sans CJK, registered with matplotlib on the first call. The CJK font is a variable font that
    matplotlib draws at its default, light weight; it is entered as the regular weight so that
    lookups do not warn. Without the package the list is DejaVu Sans alone.

    Returns:
        The family names, first choice first.
    """
    spec = importlib.util.find_spec(_CJK_PACKAGE)
    folder = next(iter(spec.submodule_search_locations or []), None) if spec else None
    files = sorted(p for p in Path(folder).glob("NotoSansCJK*") if p.suffix in (".ttc", ".otf", ".ttf")) if folder else []
    if not files:
        return ["DejaVu Sans"]
    manager = font_manager.fontManager
    if not any(e.fname == str(files[0]) for e in manager.ttflist):
        manager.addfont(str(files[0]))
        manager.ttflist = [dataclasses.replace(e, weight=400) if e.fname == str(files[0]) else e
                           for e in manager.ttflist]
    return ["DejaVu Sans", _CJK_FAMILY]


def sample_grid(dataset_dict: datasets.DatasetDict, n: int = 8, split: str | None = None) -> Figure:
    """Show up to ``n`` line images with their labels, one column per split.

    Args:
        dataset_dict: Output of ``load_processed``.
        n: Images per split (a fixed-seed sample).
        split: Only this split, if given.

    Returns:
        A matplotlib figure.
    """
    names = splits_of(dataset_dict, split)
    n = max(1, n)
    fig = Figure(figsize=(4.5 * max(1, len(names)), 1.0 * n + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, max(1, len(names)), squeeze=False))
    for col, name in enumerate(names):
        ds = dataset_dict[name]
        idx = sorted(random.Random(0).sample(range(len(ds)), min(n, len(ds))))
        for row in range(n):
            ax = axes[row, col]
            ax.set_axis_off()
            if row == 0:
                ax.set_title(f"{name} ({len(ds)} lines)", fontsize=14, parse_math=False, loc="left")
            if row >= len(idx):
                if row == 0 and not idx:
                    ax.text(0.5, 0.5, "(empty split)", ha="center", va="center", parse_math=False)
                continue
            item = ds[idx[row]]
            ax.imshow(np.asarray(item["image"].convert("RGB")))
            label = item["text"] if len(item["text"]) <= 48 else item["text"][:45] + "..."
            ax.text(0, -0.04, label, transform=ax.transAxes, va="top", fontsize=13, parse_math=False,
                    fontfamily=text_fonts())
    return fig


def _image_sizes(ds: datasets.Dataset) -> list[tuple[int, int]]:
    """(width, height) of each image, read from the headers only."""
    raw = ds.cast_column("image", datasets.Image(decode=False))
    sizes = []
    for item in raw["image"]:
        with Image.open(io.BytesIO(item["bytes"]) if item.get("bytes") else item["path"]) as im:
            sizes.append(im.size)
    return sizes


def data_histograms(dataset_dict: datasets.DatasetDict) -> Figure:
    """Histograms of text length, image height, width and aspect ratio, per split.

    Args:
        dataset_dict: Output of ``load_processed``.

    Returns:
        A matplotlib figure with four panels.
    """
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    titles = ("text length (characters)", "image height (px)", "image width (px)", "aspect ratio (width / height)")
    for name in splits_of(dataset_dict):
        ds = dataset_dict[name]
        if len(ds) == 0:
            continue
        sizes = _image_sizes(ds)
        values = ([len(t) for t in ds["text"]], [h for _, h in sizes], [w for w, _ in sizes],
                  [w / h for w, h in sizes])
        for ax, vals in zip(axes, values):
            ax.hist(vals, bins=30, alpha=0.5, label=f"{name} (n={len(ds)})")
    for ax, title in zip(axes, titles):
        ax.set_title(title, parse_math=False)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return fig



def plot_loss(log_history: Sequence[dict[str, Any]], val_history: Sequence[dict[str, Any]] = ()) -> Figure:
    """Training loss against step and, when validation ran, validation CER on a second axis, as a figure.

    Args:
        log_history: The trainer's log entries (those with a ``loss``).
        val_history: ``{"step", "cer", ...}`` per validation (a run's ``val_history``).
    """
    steps = [e["step"] for e in log_history if "loss" in e]
    losses = [e["loss"] for e in log_history if "loss" in e]
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    ax.plot(steps, losses, marker="." if len(steps) < 50 else None, color="C0", label="training loss")
    ax.set_xlabel("optimiser step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("training loss (answer tokens)", color="C0")
    ax.set_title("Training loss" + (" and validation CER" if val_history else ""))
    ax.grid(alpha=0.3)
    if val_history:
        cer_ax = ax.twinx()
        cer_ax.plot([e["step"] for e in val_history], [e["cer"] for e in val_history], marker="o", color="C3",
                    label="validation CER")
        best = min(val_history, key=lambda e: e["cer"])
        cer_ax.annotate(f"best {best['cer']:.1%}", (best["step"], best["cer"]), textcoords="offset points",
                        xytext=(-4, 6), ha="right", color="C3")
        cer_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        cer_ax.set_ylabel("validation CER", color="C3")
        cer_ax.set_ylim(bottom=0)
    fig.tight_layout()
    return fig


class LiveLossPlot:
    """One figure of training loss and validation CER that redraws in place while a run trains.

    Pass it as ``train_adapter(..., on_progress=LiveLossPlot())``. In a notebook
    the figure is one output that updates; an executed or saved notebook keeps the
    last drawing as a plain PNG. Outside a notebook it only keeps the last figure.

    Attributes:
        figure: The latest drawing (None before the first update).
        updates: How many times it was redrawn.
    """

    def __init__(self) -> None:
        self.figure: Figure | None = None
        self.updates = 0
        self._handle: Any = None

    def __call__(self, log_history: Sequence[dict[str, Any]], val_history: Sequence[dict[str, Any]]) -> None:
        """Redraw with the loss log and validation history so far."""
        self.figure = plot_loss(log_history, val_history)
        self.updates += 1
        if get_ipython() is None:
            return
        if self._handle is None:
            self._handle = display(self.figure, display_id=True)
        else:
            self._handle.update(self.figure)


def _focus_label(name: str, focus: str) -> str:
    return f"{name} (focus)" if name == focus else name


def plot_cer_distribution(evaluation: Evaluation, clip: float = 1.5, focus: str = "") -> Figure:
    """Box plot of line CERs per system with every line as a point.

    Line CERs are clipped at ``clip``; the number of runaway lines (CER above
    100%) is written beside each system and the corpus CER is marked with a
    diamond.

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        clip: Upper display limit for line CER.
        focus: The system drawn strongest and labelled "(focus)"; the others are faded.

    Returns:
        A matplotlib Figure (not registered with pyplot).
    """
    names = evaluation.systems
    fig = Figure(figsize=(8, 1.2 + 0.8 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    data = [np.clip([s.cer for s in evaluation.scores[n]], 0, clip) for n in names]
    positions = np.arange(1, len(names) + 1)
    ax.boxplot(data, positions=positions, orientation="horizontal", widths=0.5, showfliers=False)
    for i, (name, values) in enumerate(zip(names, data)):
        color = _PALETTE[i % len(_PALETTE)]
        jitter = rng.uniform(-0.15, 0.15, size=len(values))
        alpha = 0.7 if name == focus or not focus else 0.25
        ax.scatter(values, positions[i] + jitter, s=10, alpha=alpha, color=color, marker=_MARKERS[i % len(_MARKERS)])
        m = evaluation.metrics[name]
        ax.scatter([min(m.cer, clip)], [positions[i]], marker="D", s=50, color="black", zorder=3)
        ax.annotate(
            f"corpus {m.cer:.1%}, {m.n_runaway} > 100%",
            xy=(1.0, positions[i] + 0.3),
            xycoords=("axes fraction", "data"),
            ha="right",
            fontsize=8,
        )
    ax.axvline(RUNAWAY_CER, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(positions, [_focus_label(n, focus) for n in names])
    for tick, name in zip(ax.get_yticklabels(), names):
        tick.set_fontweight("bold" if name == focus else "normal")
    ax.set_xlim(0, clip * 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"line CER (clipped at {clip:.0%}; diamond = corpus CER)")
    ax.set_title("Line CER per system" + (f" (focus: {focus})" if focus else ""), parse_math=False)
    return fig


def errors_in_least_sure(evaluation: Evaluation, system: str, share: float = 0.2) -> float | None:
    """The share of a system's character errors found in its least sure lines (the lowest ``share`` by confidence).

    With confidences that know nothing, the least sure 20% of lines hold about 20% of the errors;
    the more, the better confidence points a person correcting readings at the errors.

    Returns:
        A fraction from 0 to 1, or None when the system has no confidences or made no error.
    """
    sure = evaluation.confidences.get(system)
    scores = evaluation.scores[system]
    if not sure or any(c is None for c in sure):
        return None
    edits = np.array([s.edits for s in scores], dtype=float)
    if edits.sum() == 0:
        return None
    order = np.argsort(np.array(sure, dtype=float), kind="stable")
    take = max(1, round(share * len(order)))
    return float(edits[order[:take]].sum() / edits.sum())


def plot_cer_vs_confidence(evaluation: Evaluation, focus: str = "", clip: float = 1.5) -> Figure:
    """Line CER against decoding confidence for one system: does low confidence find the errors?

    One marker per line; a line joins the corpus CER of confidence bins (quantiles). The title says
    which share of the errors the least sure fifth of the lines holds (:func:`errors_in_least_sure`)
    and the rank correlation of confidence with line CER (negative: less sure lines are worse).

    Args:
        evaluation: Result of :func:`~inkwell.evaluation.evaluate.evaluate_systems` with ``confidences``.
        focus: The system shown (default: the last system).
        clip: Upper display limit for line CER.

    Returns:
        A matplotlib Figure (not registered with pyplot); it says so when the system has no confidences.
    """
    name = focus or evaluation.systems[-1]
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    sure = evaluation.confidences.get(name)
    if not sure or any(c is None for c in sure):
        ax.axis("off")
        ax.text(0.5, 0.5, f"{name} gives no confidence for its lines (a classic-OCR baseline, or an evaluation\n"
                "made without confidences): nothing to plot.", ha="center", va="center", parse_math=False)
        return fig
    scores = evaluation.scores[name]
    conf = np.array(sure, dtype=float)
    length = np.array([max(1, s.ref_chars) for s in scores], dtype=float)
    edits = np.array([s.edits for s in scores], dtype=float)
    cer = edits / length
    ax.scatter(conf, np.clip(cer, 0, clip), s=16, alpha=0.6, color=_PALETTE[0], marker=_MARKERS[0],
               label=f"{name}: one line", zorder=3)
    edges = np.unique(np.quantile(conf, np.linspace(0, 1, 7)))
    if len(edges) >= 2:
        which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
        bins = [which == b for b in range(len(edges) - 1) if (which == b).any()]
        ax.plot([conf[b].mean() for b in bins], [min(edits[b].sum() / length[b].sum(), clip) for b in bins],
                color=_PALETTE[1], linewidth=2.5, label="corpus CER per confidence bin", zorder=4)
    ax.axhline(RUNAWAY_CER, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0, clip * 1.03)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("confidence (geometric mean token probability)")
    ax.set_ylabel(f"line CER (clipped at {clip:.0%})")
    found = errors_in_least_sure(evaluation, name)
    rho = (float(pd.Series(conf).rank().corr(pd.Series(cer).rank()))  # Spearman: Pearson on (tied) ranks
           if len(conf) > 2 and conf.std() > 0 and cer.std() > 0 else float("nan"))
    said = (f"least sure 20% of lines hold {found:.0%} of the errors" if found is not None else "no errors")
    ax.set_title(f"CER vs confidence, {name}: {said}; rank correlation {rho:+.2f}", parse_math=False)
    ax.legend(fontsize=8)
    return fig


def plot_cer_vs_length(evaluation: Evaluation, clip: float = 1.5, focus: str = "") -> Figure:
    """Scatter of line CER against reference length, one marker per system.

    A line per system shows the corpus CER within reference-length bins
    (quantiles), to show whether long or short lines fail more.

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        clip: Upper display limit for line CER.
        focus: The system drawn on top and strongest; the others are faded.

    Returns:
        A matplotlib Figure (not registered with pyplot).
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for i, name in enumerate(evaluation.systems):
        color, marker = _PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]
        scores = evaluation.scores[name]
        length = np.array([s.ref_chars for s in scores], dtype=float)
        edits = np.array([s.edits for s in scores], dtype=float)
        cer = np.clip(edits / length, 0, clip)
        strong = name == focus or not focus
        ax.scatter(length, cer, s=14, alpha=0.6 if strong else 0.2, color=color, marker=marker,
                   label=_focus_label(name, focus), zorder=3 if strong else 2)
        edges = np.unique(np.quantile(length, np.linspace(0, 1, 7)))
        if len(edges) >= 2:
            which = np.clip(np.searchsorted(edges, length, side="right") - 1, 0, len(edges) - 2)
            xs, ys = [], []
            for b in range(len(edges) - 1):
                sel = which == b
                if sel.any():
                    xs.append(length[sel].mean())
                    ys.append(min(edits[sel].sum() / length[sel].sum(), clip))
            ax.plot(xs, ys, color=color, linewidth=2.5 if strong else 1.0, zorder=4 if strong else 2)
    ax.axhline(RUNAWAY_CER, color="grey", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, clip * 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("reference length (characters)")
    ax.set_ylabel(f"line CER (clipped at {clip:.0%})")
    ax.set_title("CER vs line length (lines: corpus CER per length bin)" + (f", focus: {focus}" if focus else ""),
                 parse_math=False)
    ax.legend(fontsize=8)
    return fig



def plot_char_frequencies(dataset_dict: datasets.DatasetDict, top: int = 40) -> Figure:
    """Bar chart of the most frequent characters over all splits (a space shows as "␣").

    Args:
        dataset_dict: Output of ``load_processed``.
        top: How many characters to show.
    """
    pairs = char_frequencies(dataset_dict, top=top)
    fig = Figure(figsize=(max(6.0, 0.28 * len(pairs) + 1.5), 3.2), layout="constrained")
    ax = fig.add_subplot()
    labels = ["␣" if c == " " else c for c, _ in pairs]
    ax.bar(range(len(pairs)), [n for _, n in pairs], color=_PALETTE[0])
    ax.set_xticks(range(len(pairs)), labels, fontsize=11, fontfamily=text_fonts())
    ax.set_xlim(-0.6, len(pairs) - 0.4)
    ax.set_ylabel("occurrences")
    total = sum(len(t) for name in splits_of(dataset_dict) for t in dataset_dict[name]["text"])
    ax.set_title(f"The {len(pairs)} most frequent characters ({total} characters in all splits)", parse_math=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_learning_curve(curve: Any) -> Figure | None:
    """CER against training lines with each point's bootstrap 95% interval, the verdict beneath.

    Args:
        curve: A :class:`~inkwell.workflow.curve.LearningCurve` (None is returned when it has no points).
    """
    points = curve.points
    if not points:
        return None
    fig = Figure(figsize=(7, 3.8))
    ax = fig.subplots()
    x = [p.lines for p in points]
    y = [p.cer for p in points]
    err = [[p.cer - p.low for p in points], [p.high - p.cer for p in points]]
    ax.errorbar(x, y, yerr=err, marker="o", color=_PALETTE[0], capsize=4, label="test CER, 95% interval")
    for p in points:
        ax.annotate(f"{p.share:.0%}", (p.lines, p.cer), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xlabel("training lines")
    ax.set_xticks(x)
    ax.set_ylabel(f"CER ({curve.split}, {curve.eval_lines} lines)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(bottom=0)
    ax.set_title(f"Learning curve: {curve.dataset}")
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(curve.verdict, 110)), fontsize=7.5, va="bottom")
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    return fig
