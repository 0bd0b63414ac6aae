"""The corrector: the page beside each line read and its editor, least sure first; each check journaled, then saved.

Stage ``views``: imports :mod:`inkwell.views.widgets` (the static-copy conventions), :mod:`inkwell.views.render`
and lower stages (:mod:`inkwell.data.corrections` keeps the journal and writes the training
folder; :mod:`inkwell.reading.pages` cuts the lines again from the saved pages). The lines come from a
:class:`~inkwell.reading.demo.DemoReading` that :func:`~inkwell.reading.demo.read_scan` saved, or from the
readings folder itself in a later kernel: both give the same lines, keyed
``"<page name>:<line>"``, so the journal in that folder applies to either.

The line editor is :class:`~inkwell.views.editor.LineEditor` (one widget with its own JavaScript): every key
and click there comes back as one message holding the action and the text typed. The widget is driven from code
as from the keyboard: :meth:`Corrector.correct`, :meth:`Corrector.accept`, :meth:`Corrector.not_text`,
:meth:`Corrector.join` and :meth:`Corrector.save` do what typing and Enter, Alt+N, Alt+J and the save button do.
After each check the box says what the checked lines say about the model that read them
(:func:`model_on_checked`: its CER on them, with the bootstrap interval 03_evaluate uses).
"""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from IPython.display import HTML, display
from PIL import Image

from inkwell.data.corrections import (JOURNAL_NAME, ORDERS, Check, CheckedLine, SavedCorrections, append_check,
                                     append_event, read_journal_state, read_versions, save_corrections)
from inkwell.evaluation.evaluate import cer_interval, score_lines, system_metrics
from inkwell.core.csvsafe import read_frame
from inkwell.reading.demo import DemoReading
from inkwell.data.images import image_to_data_uri, open_rgb, polygon_crop
from inkwell.reading.lines.cut import crop_lines
from inkwell.reading.lines.geometry import LineBox
from inkwell.core.paths import project_path
from inkwell.reading.readings import CSV_NAME
from inkwell.views.editor import LineEditor
from inkwell.views.render import FLAG_COLOR, FLAG_LABELS, LEGEND_HTML, confidence_html, render_diff_html
from inkwell.data.sources import InputScan
from inkwell.views.widgets import LIVE_CLASS, SummaryBox, with_static_copy

__all__ = ["PAGE_WIDTH", "PALETTE_SIZE", "Corrector", "LineToCheck", "ModelOnChecked", "apply_joins", "lines_of_folder",
           "lines_of_reading", "make_corrector", "model_on_checked", "palette_of"]

_NUMBERED = re.compile(r"-p\d{3}$")  # a page of a PDF or multi-page TIFF (SourcePage.name)
#: Width of the page image sent to the editor, px (its boxes are drawn over it in page coordinates).
PAGE_WIDTH = 720
#: How many characters the palette offers at most (its first ten have Alt+1 ... Alt+0).
PALETTE_SIZE = 40


@dataclass
class LineToCheck:
    """One line of a readings folder, as the corrector shows it.

    Attributes:
        key: ``"<page name>:<line>"``, the journal's name for the line.
        page: The page's name (its files in the readings folder).
        where: The file, page and line in words (``"letter.pdf, page 2, line 3"``).
        read: The text as read.
        confidence: The reading's confidence (0 to 1), or None.
        flags: The reading's flags (``"; "``-joined), or ``""``.
        image: The line image (the whole image for a line image).
        page_image: The page it was cut from, or None for a line image.
        polygon: The line on that page.
    """

    key: str
    page: str
    where: str
    read: str
    confidence: float | None
    flags: str
    image: Image.Image
    page_image: Image.Image | None
    polygon: list[tuple[int, int]]


def _cut(page: Image.Image, polygon: list[tuple[int, int]],
         baseline: Sequence[tuple[int, int]] = ()) -> tuple[Image.Image, bool]:
    """The line image of a polygon, cut as the demo cut it for decoding (``crop_lines``: along the polygon, turned
    upright when its baseline runs up or down the page), and whether it is the whole image."""
    w, h = page.size
    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    if min(xs) <= 0 and min(ys) <= 0 and max(xs) >= w - 1 and max(ys) >= h - 1:
        return page, True
    if len(polygon) < 3:
        cut = polygon_crop(page, [(float(x), float(y)) for x, y in polygon])
        return (page if cut is None else cut), False
    return crop_lines(page, [LineBox(polygon, baseline=list(baseline))])[0], False


def _line(page_name: str, file: str, page_no: int, line: int, polygon: list[tuple[int, int]], text: str,
          flags: str, confidence: float | None, page: Image.Image,
          baseline: Sequence[tuple[int, int]] = ()) -> LineToCheck:
    image, whole = _cut(page, polygon, baseline)
    where = Path(file).name + (f", page {page_no}" if _NUMBERED.search(page_name) else "")
    where += "" if whole else f", line {line}"
    return LineToCheck(f"{page_name}:{line}", page_name, where, text, confidence, flags, image,
                       None if whole else page, polygon)


def lines_of_reading(reading: DemoReading) -> list[LineToCheck]:
    """Every line of a reading, page by page, cut from its pages."""
    return [_line(result.page.name, str(ln.file), ln.page, ln.line, list(ln.polygon), ln.text, ln.flags, ln.confidence,
                  result.page.image, ln.baseline) for result in reading.pages for ln in result.lines]


def _number(value: Any) -> float | None:
    return None if value is None or value == "" or pd.isna(value) else float(value)


def lines_of_folder(folder: str | os.PathLike[str]) -> list[LineToCheck]:
    """Every line of a readings folder (its ``readings.csv`` and page images), page by page.

    Raises:
        FileNotFoundError: The folder holds no ``readings.csv`` or misses a page image (the message says which).
    """
    path = project_path(folder)
    table_path = path / CSV_NAME
    if not table_path.is_file():
        raise FileNotFoundError(f"{path} holds no {CSV_NAME}: give the readings folder 04_demo wrote "
                                "(adapters/<run>/readings/<time>/, printed after \"wrote\").")
    table = read_frame(table_path, text_columns=["file", "box", "text", "flags", "name", "baseline"])
    pages: dict[str, Image.Image] = {}
    out = []
    for row in table.to_dict("records"):
        name = row["name"]
        if name not in pages:
            image = path / f"{name}.png"
            if not image.is_file():
                raise FileNotFoundError(f"{table_path}: page {name!r} has no image {image.name} beside it; the "
                                        "readings folder is incomplete. Read the scans again in 04_demo.")
            pages[name] = open_rgb(image)
        polygon = [(int(x), int(y)) for x, y in (p.split(",") for p in row["box"].split())]
        baseline = [(int(x), int(y)) for x, y in (p.split(",") for p in str(row.get("baseline") or "").split())]
        out.append(_line(name, row["file"], int(row["page"]), int(row["line"]), polygon, row["text"], row["flags"],
                         _number(row.get("confidence")), pages[name], baseline))
    return out


def _merged(first: LineToCheck, second: LineToCheck) -> LineToCheck:
    """Two neighbouring boxes of one line as one line: the box around both, the texts joined by a space."""
    xs = [x for x, _ in [*first.polygon, *second.polygon]]
    ys = [y for _, y in [*first.polygon, *second.polygon]]
    box = [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]
    page = first.page_image
    image = crop_lines(page, [LineBox(box)])[0] if page is not None else first.image
    sure = [c for c in (first.confidence, second.confidence) if c is not None]
    number = second.key.rsplit(":", 1)[1]
    flags = "; ".join(dict.fromkeys(f for f in (*first.flags.split("; "), *second.flags.split("; ")) if f))
    return LineToCheck(f"{first.key}+{number}", first.page, f"{first.where}+{number}",
                       f"{first.read} {second.read}".strip(), min(sure) if sure else None, flags, image, page, box)


def apply_joins(lines: Sequence[LineToCheck], joins: Sequence[tuple[str, str]]) -> list[LineToCheck]:
    """The lines after the journal's joins (in the order made); a join whose boxes are gone is passed over."""
    out = list(lines)
    for first, second in joins:
        keys = [ln.key for ln in out]
        if first in keys and second in keys:
            a, b = keys.index(first), keys.index(second)
            if out[a].page == out[b].page and out[a].page_image is not None:
                out[a] = _merged(out[a], out[b])
                del out[b]
    return out


def palette_of(texts: Sequence[str], extra: str | Sequence[str] = "", size: int = PALETTE_SIZE) -> list[str]:
    """The palette: the characters of ``extra`` first, then those of ``texts`` a keyboard lacks, most used first.

    A keyboard lacks every character outside printable ASCII (``ſ``, ``æ``, ``ꝑ``, ``⁊``, ``¶``, combining
    marks...); spaces are left out. ``extra`` is a string of characters or a list of them (several code points
    each, e.g. a letter with a combining mark).
    """
    chosen = list(dict.fromkeys(c for c in (list(extra) if isinstance(extra, str) else extra) if c and c.strip()))
    counts = Counter(ch for text in texts for ch in text if not ch.isspace() and not (" " <= ch <= "~"))
    for ch, _ in counts.most_common():
        if ch not in chosen:
            chosen.append(ch)
    return chosen[:size]


def _colour(confidence: float | None) -> str:
    """A box's outline by the reading's confidence: red unsure, amber fairly sure, green sure; grey without one."""
    if confidence is None:
        return "#7f7f7f"
    return "#d62728" if confidence < 0.5 else ("#e6a700" if confidence < 0.8 else "#2ca02c")


@dataclass
class ModelOnChecked:
    """What the checked lines say about the model that read them: its CER on them, with a bootstrap interval.

    Attributes:
        model: The reading model's name (the run whose ``readings/`` folder this is), or ``""``.
        lines: Lines checked with a text (the ones scored; lines marked not text are counted apart).
        cer: Corpus CER of the reading against the person's text on those lines.
        low: Lower end of the bootstrap 95% interval (lines resampled, as 03_evaluate does).
        high: Upper end of it.
        not_text: Lines the person marked as not text (the model read something there).
        pages: Per page: ``(page, lines, cer, low, high)``.
    """

    model: str
    lines: int
    cer: float
    low: float
    high: float
    not_text: int
    pages: list[tuple[str, int, float, float, float]]

    def describe(self) -> str:
        """One sentence, then one per page."""
        who = f"The reading model ({self.model})" if self.model else "The reading model"
        empty = f"; {self.not_text} line(s) marked not text are left out" if self.not_text else ""
        head = (f"{who} on the {self.lines} line(s) you checked: CER {100 * self.cer:.1f}% (95% interval "
                f"{100 * self.low:.1f}-{100 * self.high:.1f}%, bootstrap over lines){empty}.")
        rows = [f"  {page}: {n} line(s), CER {100 * cer:.1f}% ({100 * lo:.1f}-{100 * hi:.1f}%)"
                for page, n, cer, lo, hi in self.pages]
        return "\n".join([head, *rows])

    def html(self) -> str:
        """The same as a short paragraph and a per-page table."""
        cell = "style='padding:1px 10px 1px 0;text-align:right'"
        rows = "".join(f"<tr><td style='padding:1px 10px 1px 0'>{html.escape(page)}</td><td {cell}>{n}</td>"
                       f"<td {cell}>{100 * cer:.1f}%</td><td {cell}>{100 * lo:.1f}-{100 * hi:.1f}%</td></tr>"
                       for page, n, cer, lo, hi in self.pages)
        head = html.escape(self.describe().splitlines()[0])
        return (f"<p style='margin:0.3em 0'><b>{head}</b></p><table style='border-collapse:collapse;font-size:12px'>"
                "<tr><th style='text-align:left;padding-right:10px'>page</th><th style='padding-right:10px'>lines</th>"
                "<th style='padding-right:10px'>CER</th><th>95% interval</th></tr>"
                f"{rows}</table>")

    def __repr__(self) -> str:
        return self.describe()


def model_on_checked(lines: Sequence[LineToCheck], checks: dict[str, Check], model: str = "",
                     n_resamples: int = 1000) -> ModelOnChecked | None:
    """The reading model's CER on the lines checked with a text, overall and per page (None when none is).

    The reference is the person's text, the hypothesis the model's reading; the interval is the bootstrap over
    lines of :func:`~inkwell.evaluation.evaluate.cer_interval`, as 03_evaluate's learning curve uses it.
    """
    done = [(ln, checks[ln.key]) for ln in lines if ln.key in checks]
    scored = [(ln, c) for ln, c in done if c.status != "no_text"]
    if not scored:
        return None
    scores = score_lines([ln.key for ln, _ in scored], [c.text for _, c in scored], [ln.read for ln, _ in scored])
    metrics = system_metrics("reading", scores)
    low, high = cer_interval(scores, n_resamples)
    pages = []
    for page in dict.fromkeys(ln.page for ln, _ in scored):
        mine = [s for s, (ln, _) in zip(scores, scored) if ln.page == page]
        lo, hi = cer_interval(mine, n_resamples)
        pages.append((page, len(mine), system_metrics(page, mine).cer, lo, hi))
    return ModelOnChecked(model, len(scored), metrics.cer, low, high, len(done) - len(scored), pages)


def _model_of(folder: Path) -> str:
    """The run that made a readings folder (``adapters/<run>/readings/<time>/``), or ``""``."""
    return folder.parent.parent.name if folder.parent.name == "readings" else ""


class Corrector(SummaryBox):
    """The correction box: the page beside one line at a time and its editor; each check journaled, then saved.

    Attributes:
        folder: The readings folder (its journal: ``corrections.jsonl``).
        lines: The lines in the order shown (:attr:`order`); ``correct(i, ...)`` checks ``lines[i]``.
        checks: Line key -> the person's latest check.
        position: The index in :attr:`lines` of the line shown.
        editor: The :class:`~inkwell.views.editor.LineEditor` (the line, the page, the palette, the keys).
        saved: What the last :meth:`save` wrote, or None.
    """

    summary: str = "Corrector"

    def __init__(self, lines: Sequence[LineToCheck], folder: Path, *, order: str = "confidence",
                 unreadable: int = 0, palette: str | Sequence[str] = "") -> None:
        if order not in ORDERS:
            raise ValueError(f"order = {order!r}: choose one of {ORDERS}.")
        super().__init__()
        self.folder = Path(folder)
        journal = read_journal_state(self.folder)
        self.checks, self.journal_notes = journal.checks, journal.notes
        self._parts = list(lines)
        self._joins = list(journal.joins)
        self._by_page = apply_joins(self._parts, self._joins)
        self._seen_order = journal.order
        self.saved: SavedCorrections | None = None
        self._checks_since_save = 0
        self._unreadable = unreadable
        self._static_handle: Any = None
        self._drafts: dict[str, str] = {}
        self._pages: dict[str, tuple[str, list[int]]] = {}  # page -> (data URI, [width, height])
        self._serial = 0
        self.order_buttons = widgets.ToggleButtons(options=[("least sure first", "confidence"), ("page order", "page")],
                                                   value=order, description="Order",
                                                   style={"description_width": "initial"})
        self.header = widgets.HTML()
        texts = [ln.read for ln in self._parts] + [c.text for c in self.checks.values()]
        self.editor = LineEditor(self._act, palette=palette_of(texts, palette))
        self.name_box = widgets.Text(value="my-hand", description="Save as", placeholder="name under data/raw/")
        self.save_button = widgets.Button(description="Save checked lines", button_style="primary",
                                          tooltip="write the checked lines to data/raw/<name>/ for 01_data")
        self.status = widgets.HTML()
        self.report = widgets.HTML()
        self.children = [self.order_buttons, self.header, self.editor,
                         widgets.HBox([self.name_box, self.save_button]), self.status, self.report]
        self.add_class(LIVE_CLASS)
        self.add_class("iw-corrector")
        # the text a saved notebook keeps for the box: no count, which would go stale (the static copy keeps it)
        self.summary = f"Corrector on the {len(self._by_page)} lines of {self.folder}."
        self.lines: list[LineToCheck] = []
        self.position = 0
        self.save_button.on_click(lambda _b: self._save_clicked())
        self.order_buttons.observe(lambda _c: self._sort(), names="value")
        self._sort()
        self._report()

    # ---- what a person does, callable from code --------------------------------------------------------------

    @property
    def order(self) -> str:
        """``"confidence"`` (least sure first; lines without one last) or ``"page"``."""
        return self.order_buttons.value

    @property
    def palette(self) -> list[str]:
        """The characters the palette offers."""
        return list(self.editor.palette)

    @property
    def shown_text(self) -> str:
        """The text the editor's box holds for the line shown (its check, a kept draft, or the reading)."""
        return str(self.editor.line.get("text", ""))

    def correct(self, i: int, text: str) -> Check:
        """Check ``lines[i]`` with ``text`` (``""``: the line holds no text); the journal gets it at once."""
        line = self.lines[i]
        check = Check.of(line.key, line.read, text)
        if self.checks.get(line.key) is None or (self.checks[line.key].text, self.checks[line.key].status) != \
                (check.text, check.status):
            append_check(self.folder, check)
            self.checks[line.key] = check
            self._checks_since_save += 1
        self._drafts.pop(line.key, None)
        self._refresh(checked=True)
        return self.checks[line.key]

    def accept(self, i: int) -> Check:
        """Check ``lines[i]`` as read."""
        return self.correct(i, self.lines[i].read)

    def not_text(self, i: int) -> Check:
        """Mark ``lines[i]`` as not text (a stain, a stamp, a drawing): it is checked, and stays out of training."""
        return self.correct(i, "")

    def join(self, i: int) -> LineToCheck:
        """Join ``lines[i]`` with the next box of its page (page order) into one line, and show it.

        The two boxes become one (the box around both, the texts joined by a space), unchecked; the journal keeps
        the join, so a corrector rebuilt on the folder shows the joined line too.

        Raises:
            ValueError: The line has no next box on its page.
        """
        line = self.lines[i]
        after = self._next_on_page(line)
        if after is None:
            raise ValueError(f"{line.where}: no next box on its page to join it with.")
        append_event(self.folder, {"event": "join", "first": line.key, "second": after.key,
                                   "time": Check.of("", "", "").time})
        self._joins.append((line.key, after.key))
        self._by_page = apply_joins(self._parts, self._joins)
        for key in (line.key, after.key):
            self._drafts.pop(key, None)
        joined = next(ln for ln in self._by_page if ln.key == f"{line.key}+{after.key.rsplit(':', 1)[1]}")
        self._sort(show=joined.key)
        self._refresh(checked=True)
        return joined

    def save(self, name: str, *, join: bool = True) -> Path:
        """Write the checked lines to a new ``data/raw/<name>/`` for 01_data.

        See :func:`~inkwell.data.corrections.save_corrections` (``join``: carry over the latest folder of ``name``).

        Returns:
            The new folder; :attr:`saved` says what went into it.
        """
        lines = [CheckedLine(ln.key, ln.image, ln.page, ln.read, ln.confidence, self.checks.get(ln.key),
                             ln.polygon if ln.page_image is not None else (),
                             ln.page_image.size if ln.page_image is not None else None)
                 for ln in self._by_page]
        self.saved = save_corrections(lines, name, self.folder, join=join)
        self._checks_since_save = 0
        self._refresh()
        return self.saved.folder

    def counts(self) -> dict[str, int]:
        """Lines in all, checked, and checked by status (``corrected``, ``accepted``, ``no_text``)."""
        keys = {ln.key for ln in self._by_page}
        done = [c for k, c in self.checks.items() if k in keys]
        out = {"lines": len(keys), "checked": len(done)}
        for status in ("corrected", "accepted", "no_text"):
            out[status] = sum(c.status == status for c in done)
        return out

    def describe(self) -> str:
        """One line: how many lines are checked, and where the journal is."""
        c = self.counts()
        empty = f", {c['no_text']} not text" if c["no_text"] else ""
        return (f"{c['checked']} of {c['lines']} lines checked ({c['corrected']} corrected, {c['accepted']} accepted "
                f"as read{empty}); journal: {self.folder / JOURNAL_NAME}")

    def model_report(self) -> ModelOnChecked | None:
        """The reading model's CER on the lines checked so far, overall and per page (None before any check)."""
        return model_on_checked(self._by_page, self.checks, _model_of(self.folder))

    def versions(self, key: str) -> list[str]:
        """A line's versions, oldest first: the text as read, then each correction (from the journal)."""
        return read_versions(self.folder, key)

    # ---- the static copy -------------------------------------------------------------------------------------

    def static_html(self, first: int = 5) -> str:
        """What a saved notebook shows without a kernel: the count of lines checked and the first corrections."""
        corrected = [(ln, self.checks[ln.key]) for ln in self._by_page
                     if ln.key in self.checks and self.checks[ln.key].status != "accepted"][:first]
        rows = "".join(
            f"<tr><td style='padding:2px 8px'><img src='{image_to_data_uri(ln.image, max_width=360)}' "
            f"style='max-width:360px;background:white'><br><small>{html.escape(ln.where)}</small></td>"
            f"<td style='padding:2px 8px;font-family:monospace'>{render_diff_html(ln.read, c.text)}</td></tr>"
            for ln, c in corrected)
        table = (f"{LEGEND_HTML}<table style='border-collapse:collapse'><tr><th>line</th>"
                 f"<th>as read \u2192 as corrected</th></tr>{rows}</table>" if rows
                 else "<p>No line corrected yet.</p>")
        report = self.model_report()
        return with_static_copy(f"<p><b>{html.escape(self.describe())}</b></p>{report.html() if report else ''}"
                                f"{table}",
                                f"lines checked so far, the first {len(corrected)} correction(s)",
                                "Run the notebook to correct lines: the corrector picks up from its journal.")

    def show(self) -> None:
        """Display the box and a static copy that follows every check (a saved notebook keeps the latest)."""
        display(self)
        self._static_handle = display(HTML(self.static_html()), display_id=True)

    # ---- inside ----------------------------------------------------------------------------------------------

    def _act(self, message: dict[str, str]) -> None:
        """One message from the browser: the action, the line it was pressed on and the text of the box then."""
        if not self.lines:
            return
        line = self.lines[self.position]
        action, text = message["action"], message["text"]
        if message["key"] != line.key:  # pressed on a line no longer shown: show the current one again
            self._show_line()
            return
        if action == "check":
            self.correct(self.position, text)
            self._go(self._next_unchecked(self.position))
        elif action == "not_text":
            self.not_text(self.position)
            self._go(self._next_unchecked(self.position))
        elif action in ("next", "back"):
            self._keep_draft(line, text)
            self._go(self.position + (1 if action == "next" else -1))
        elif action == "open":
            self._keep_draft(line, text)
            keys = [ln.key for ln in self.lines]
            self._go(keys.index(message["target"]) if message["target"] in keys else self.position)
        elif action == "join":
            self._keep_draft(line, text)
            try:
                self.join(self.position)
            except ValueError as exc:
                self.status.value = f"<p>{html.escape(str(exc))}</p>"
                self._show_line()

    def _keep_draft(self, line: LineToCheck, text: str) -> None:
        """Text typed in a line left without checking: kept (not journaled) and shown again on return."""
        check = self.checks.get(line.key)
        if text != (check.text if check else line.read):
            self._drafts[line.key] = text
        else:
            self._drafts.pop(line.key, None)

    def _next_on_page(self, line: LineToCheck) -> LineToCheck | None:
        if line.page_image is None:
            return None
        page = [ln for ln in self._by_page if ln.page == line.page]
        k = [ln.key for ln in page].index(line.key)
        return page[k + 1] if k + 1 < len(page) else None

    def _confidence_order(self) -> list[LineToCheck]:
        """Least sure first, as the person first saw it (kept in the journal), new lines by their confidence."""
        by_conf = sorted(self._by_page, key=lambda ln: (ln.confidence is None, ln.confidence or 0.0,
                                                        self._by_page.index(ln)))
        if self._seen_order is None:
            self._seen_order = [ln.key for ln in by_conf]
            append_event(self.folder, {"event": "order", "keys": self._seen_order,
                                       "time": Check.of("", "", "").time})
            return by_conf
        rank = {k: r for r, k in enumerate(self._seen_order)}

        def seen(ln: LineToCheck) -> float:
            page, numbers = ln.key.rsplit(":", 1)
            ranks = [rank[f"{page}:{n}"] for n in numbers.split("+") if f"{page}:{n}" in rank]
            return min(ranks) if ranks else float("inf")

        return sorted(by_conf, key=lambda ln: (seen(ln), by_conf.index(ln)))

    def _sort(self, show: str | None = None) -> None:
        shown = show or (self.lines[self.position].key if self.lines else None)
        self.lines = self._confidence_order() if self.order == "confidence" else list(self._by_page)
        keys = [ln.key for ln in self.lines]
        if shown is not None and shown in keys:
            self.position = keys.index(shown)
        else:
            self.position = next((k for k, ln in enumerate(self.lines) if ln.key not in self.checks), 0)
        self._show_line()

    def _next_unchecked(self, after: int) -> int:
        n = len(self.lines)
        for k in [*range(after + 1, n), *range(0, after + 1)]:
            if self.lines[k].key not in self.checks:
                return k
        return min(after + 1, n - 1) if n else 0

    def _go(self, position: int) -> None:
        if self.lines:
            self.position = min(max(0, position), len(self.lines) - 1)
        self._show_line()

    def _save_clicked(self) -> None:
        try:
            self.save(self.name_box.value.strip())
        except (ValueError, OSError) as exc:
            self.status.value = f"<p><b>Not saved:</b> {html.escape(str(exc))}</p>"

    def _show_line(self) -> None:
        """Push the line shown (always with a new serial: the browser waits for this answer to any action)."""
        self._serial += 1
        if not self.lines:
            self.editor.line = {"key": "", "serial": self._serial}
            self.editor.page_image, self.editor.boxes = "", []
            self._refresh()
            return
        line = self.lines[self.position]
        check = self.checks.get(line.key)
        state = (f" \u00b7 <b>\u2714 checked ({'not text' if check.status == 'no_text' else check.status})</b>"
                 if check else " \u00b7 not checked yet")
        marks = [FLAG_LABELS.get(f, (f"\u26a0 {f}", f)) for f in line.flags.split("; ") if f]
        flags = "".join(f" \u00b7 <b style='color:{FLAG_COLOR}' title='{html.escape(why)}'>{html.escape(mark)}</b> "
                        f"<small>({html.escape(why)})</small>" for mark, why in marks)
        sure = confidence_html(line.confidence) or " <small>(no confidence)</small>"
        versions = self.versions(line.key) if check else []
        read = (f"as read: <code>{html.escape(line.read)}</code>" if check and check.text != line.read else "")
        if len(versions) > 2:
            read += " \u00b7 versions: " + " \u2192 ".join(f"<code>{html.escape(v) or '(not text)'}</code>"
                                                          for v in versions)
        draft = line.key in self._drafts
        text = self._drafts[line.key] if draft else (check.text if check else line.read)
        if draft:
            read += (" \u00b7 " if read else "") + "<i>your typing here was kept but not checked yet</i>"
        self._show_page(line)
        self.editor.line = {
            "key": line.key, "serial": self._serial, "text": text,
            "image": image_to_data_uri(line.image, max_width=1000),
            "info_html": f"<b>{html.escape(line.where)}</b>{sure}{flags}{state}", "read_html": read,
            "position": (f"line {self.position + 1} of {len(self.lines)} "
                         f"({'least sure first' if self.order == 'confidence' else 'page order'})"),
            "has_back": self.position > 0, "has_next": self.position < len(self.lines) - 1,
            "can_join": self._next_on_page(line) is not None,
        }
        self._refresh()

    def _show_page(self, line: LineToCheck) -> None:
        """The page of ``line`` (sent once per page) and its boxes coloured by confidence and state."""
        if line.page_image is None:
            self.editor.page_image, self.editor.boxes = "", []
            return
        if line.page not in self._pages:
            page = line.page_image
            self._pages[line.page] = (image_to_data_uri(page, max_width=PAGE_WIDTH), [page.width, page.height])
        uri, size = self._pages[line.page]
        self.editor.page_size = size
        self.editor.page_image = uri
        self.editor.boxes = self._boxes(line.page)

    def _boxes(self, page: str) -> list[dict[str, str]]:
        out = []
        for ln in self._by_page:
            if ln.page != page:
                continue
            check = self.checks.get(ln.key)
            state = check.status if check else "unchecked"
            sure = "no confidence" if ln.confidence is None else f"{100 * ln.confidence:.0f}% sure"
            out.append({"key": ln.key, "points": " ".join(f"{x},{y}" for x, y in ln.polygon),
                        "color": _colour(ln.confidence), "state": state,
                        "title": f"{ln.where}: {sure}, {'not text' if state == 'no_text' else state}"})
        return out

    def _report(self) -> None:
        report = self.model_report()
        self.report.value = report.html() if report else ""

    def _refresh(self, checked: bool = False) -> None:
        c = self.counts()
        unread = (f" \u00b7 {self._unreadable} file(s) could not be read and have no lines here"
                  if self._unreadable else "")
        notes = "".join(f"<br><small>{html.escape(n)}</small>" for n in self.journal_notes)
        not_text = f", {c['no_text']} not text" if c["no_text"] else ""
        self.header.value = (f"<p style='margin:0.2em 0'><b>{c['checked']} of {c['lines']} lines checked</b> "
                             f"({c['corrected']} corrected, {c['accepted']} accepted as read{not_text}) \u00b7 "
                             f"readings <code>{html.escape(str(self.folder))}</code>{unread}{notes}</p>")
        if checked and self.lines:
            self.editor.boxes = self._boxes(self.lines[self.position].page)
            self._report()
        if self.saved is not None:
            since = (f" {self._checks_since_save} check(s) since, not in it yet: save again to include them."
                     if self._checks_since_save else "")
            self.status.value = f"<p>\u2714 {html.escape(self.saved.describe())}{html.escape(since)}</p>"
        if self._static_handle is not None and (checked or self.saved is not None):
            self._static_handle.update(HTML(self.static_html()))


def make_corrector(reading: DemoReading | str | os.PathLike[str], scan: InputScan | None = None, *,
                   order: str = "confidence", name: str = "my-hand", palette: str | Sequence[str] = "") -> Corrector:
    """Build the corrector on saved readings: what :func:`~inkwell.reading.demo.read_scan` returned, or its folder.

    On the same readings (the object, or its folder in a new kernel) it picks up the checks of the
    journal in that folder, and opens the first line not checked yet.

    Args:
        reading: The :class:`~inkwell.reading.demo.DemoReading` that ``read_scan`` returned (saved: its ``folder``
            is set), or a readings folder (``adapters/<run>/readings/<time>/``).
        scan: The scan read, when at hand: the box then names how many files could not be read.
        order: ``"confidence"`` (least sure first) or ``"page"`` (page by page, as read).
        name: The name the save box starts with (``data/raw/<name>/``).
        palette: Characters the palette offers first (a string, or a list for characters of several code
            points); the characters of the readings and checks a keyboard lacks follow (:func:`palette_of`).

    Raises:
        ValueError: ``reading`` was never saved, or an unknown ``order``.
        FileNotFoundError: The folder holds no readings.
    """
    if isinstance(reading, DemoReading):
        if reading.folder is None:
            raise ValueError("These readings were never saved, so corrections would have no journal: read with "
                             "read_scan (04_demo does), or pass the readings folder it wrote.")
        lines, folder = lines_of_reading(reading), reading.folder
    else:
        lines, folder = lines_of_folder(reading), project_path(reading)
    box = Corrector(lines, folder, order=order, unreadable=len(scan.unreadable) if scan is not None else 0,
                    palette=palette)
    box.name_box.value = name
    return box
