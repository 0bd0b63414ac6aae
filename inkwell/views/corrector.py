"""The corrector: each line read above an editable text box, least sure first; each check journaled, then saved.

Stage ``views``: imports :mod:`inkwell.views.widgets` (the static-copy conventions), :mod:`inkwell.views.render`
and lower stages (:mod:`inkwell.data.corrections` keeps the journal and writes the training
folder; :mod:`inkwell.reading.pages` cuts the lines again from the saved pages). The lines come from a
:class:`~inkwell.reading.demo.DemoReading` that :func:`~inkwell.reading.demo.read_scan` saved, or from the
readings folder itself in a later kernel: both give the same lines, keyed
``"<page name>:<line>"``, so the journal in that folder applies to either.

The widget is driven from code as from the keyboard: :meth:`Corrector.correct`,
:meth:`Corrector.accept` and :meth:`Corrector.save` do what typing, Enter and the save button do.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from IPython.display import HTML, display
from PIL import Image

from inkwell.data.corrections import (JOURNAL_NAME, ORDERS, Check, CheckedLine, SavedCorrections, append_check, read_journal,
                                 save_corrections)
from inkwell.core.csvsafe import read_frame
from inkwell.reading.demo import DemoReading
from inkwell.data.images import image_to_data_uri, open_rgb, polygon_crop
from inkwell.reading.lines.cut import crop_lines
from inkwell.reading.lines.geometry import LineBox
from inkwell.core.paths import project_path
from inkwell.reading.readings import CSV_NAME
from inkwell.views.render import FLAG_COLOR, FLAG_LABELS, LEGEND_HTML, confidence_html, draw_boxes, render_diff_html
from inkwell.data.sources import InputScan
from inkwell.views.widgets import LIVE_CLASS, SummaryBox, with_static_copy

__all__ = ["REPEAT_SECONDS", "SETTLE_SECONDS", "Corrector", "LineToCheck", "lines_of_folder", "lines_of_reading",
           "make_corrector"]

_NUMBERED = re.compile(r"-p\d{3}$")  # a page of a PDF or multi-page TIFF (SourcePage.name)
_THUMB = 200  # width of the page shown beside a line cut from it, px
#: Seconds Enter waits for the text box's last keystrokes. The browser sends Enter at once but holds the box's value
#: updates back while the kernel is still busy with an earlier one, so Enter can overtake the last characters typed;
#: once the kernel is idle the held updates arrive, well within this time on one machine.
SETTLE_SECONDS = 0.3
#: Seconds after Enter opened the next line during which another Enter is taken as a repeat of the last one: the
#: browser may not show the new line yet, and a check of a line nobody saw would go into the training lines.
REPEAT_SECONDS = 1.0
_STYLE = ("<style>.iw-corrector-text input{font-family:monospace;font-size:1.15em}"
          ".iw-corrector-line img{max-width:100%;background:white}</style>")


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


def _cut(page: Image.Image, polygon: list[tuple[int, int]]) -> tuple[Image.Image, bool]:
    """The line image of a polygon (``crop_lines``, as the demo decoded it), and whether it is the whole image."""
    w, h = page.size
    xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
    if min(xs) <= 0 and min(ys) <= 0 and max(xs) >= w - 1 and max(ys) >= h - 1:
        return page, True
    if len(polygon) == 4:
        return crop_lines(page, [LineBox(polygon)])[0], False
    cut = polygon_crop(page, [(float(x), float(y)) for x, y in polygon])
    return (page if cut is None else cut), False


def _line(page_name: str, file: str, page_no: int, line: int, polygon: list[tuple[int, int]], text: str,
          flags: str, confidence: float | None, page: Image.Image) -> LineToCheck:
    image, whole = _cut(page, polygon)
    where = Path(file).name + (f", page {page_no}" if _NUMBERED.search(page_name) else "")
    where += "" if whole else f", line {line}"
    return LineToCheck(f"{page_name}:{line}", page_name, where, text, confidence, flags, image,
                       None if whole else page, polygon)


def lines_of_reading(reading: DemoReading) -> list[LineToCheck]:
    """Every line of a reading, page by page, cut from its pages."""
    return [_line(result.page.name, str(ln.file), ln.page, ln.line, list(ln.polygon), ln.text, ln.flags, ln.confidence,
                  result.page.image) for result in reading.pages for ln in result.lines]


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
    table = read_frame(table_path, text_columns=["file", "box", "text", "flags", "name"])
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
        out.append(_line(name, row["file"], int(row["page"]), int(row["line"]), polygon, row["text"], row["flags"],
                         _number(row.get("confidence")), pages[name]))
    return out


class Corrector(SummaryBox):
    """The correction box: one line at a time, its image above an editable text box.

    Attributes:
        folder: The readings folder (its journal: ``corrections.jsonl``).
        lines: The lines in the order shown (:attr:`order`); ``correct(i, ...)`` checks ``lines[i]``.
        checks: Line key -> the person's latest check.
        position: The index in :attr:`lines` of the line shown.
        saved: What the last :meth:`save` wrote, or None.
    """

    summary: str = "Corrector"

    def __init__(self, lines: Sequence[LineToCheck], folder: Path, *, order: str = "confidence",
                 unreadable: int = 0) -> None:
        if order not in ORDERS:
            raise ValueError(f"order = {order!r}: choose one of {ORDERS}.")
        super().__init__()
        self.folder = Path(folder)
        self._by_page = list(lines)
        self.checks, self.journal_notes = read_journal(self.folder)
        self.saved: SavedCorrections | None = None
        self._checks_since_save = 0
        self._moved_at = -float("inf")  # time.monotonic() when Enter last opened the next line
        self._unreadable = unreadable
        self._static_handle: Any = None
        self._thumbs: dict[str, tuple[Image.Image, float]] = {}
        self.order_buttons = widgets.ToggleButtons(options=[("least sure first", "confidence"), ("page order", "page")],
                                                   value=order, description="Order",
                                                   style={"description_width": "initial"})
        self.header = widgets.HTML()
        self.view = widgets.HTML()
        self.view.add_class("iw-corrector-line")
        # width "auto", not "100%": the box's own margins would push 100% past the output area's edge
        self.text = widgets.Text(placeholder="the line's text", continuous_update=True,
                                 layout=widgets.Layout(width="auto"))
        self.text.add_class("iw-corrector-text")
        self.back_button = widgets.Button(description="\u25c0 back", tooltip="the line before")
        self.skip_button = widgets.Button(description="skip \u25b6",
                                          tooltip="the next line, leaving this one unchecked")
        self.position_label = widgets.Label()
        self.name_box = widgets.Text(value="my-hand", description="Save as", placeholder="name under data/raw/")
        self.save_button = widgets.Button(description="Save checked lines", button_style="primary",
                                          tooltip="write the checked lines to data/raw/<name>/ for 01_data")
        self.status = widgets.HTML()
        hint = widgets.HTML("<small>Type the correction, then <b>Enter</b> (Enter alone keeps the reading as it is); "
                            "either way the line counts as checked and the next one opens. Every check is kept in "
                            f"{JOURNAL_NAME} in the readings folder at once.</small>")
        self.children = [self.order_buttons, self.header, self.view, self.text, hint,
                         widgets.HBox([self.back_button, self.skip_button, self.position_label]),
                         widgets.HBox([self.name_box, self.save_button]), self.status]
        self.add_class(LIVE_CLASS)
        self.add_class("iw-corrector")
        # the text a saved notebook keeps for the box: no count, which would go stale (the static copy keeps it)
        self.summary = f"Corrector on the {len(self._by_page)} lines of {self.folder}."
        self.lines: list[LineToCheck] = []
        self.position = 0
        self.text.on_msg(self._on_message)
        self.back_button.on_click(self._then_type(lambda: self._go(self.position - 1)))
        self.skip_button.on_click(self._then_type(lambda: self._go(self.position + 1)))
        self.save_button.on_click(self._then_type(self._save_clicked))
        self.order_buttons.observe(self._then_type(self._sort), names="value")
        self._sort()

    # ---- what a person does, callable from code --------------------------------------------------------------

    @property
    def order(self) -> str:
        """``"confidence"`` (least sure first; lines without one last) or ``"page"``."""
        return self.order_buttons.value

    def correct(self, i: int, text: str) -> Check:
        """Check ``lines[i]`` with ``text`` (``""``: the line holds no text); the journal gets it at once."""
        line = self.lines[i]
        check = Check.of(line.key, line.read, text)
        if self.checks.get(line.key) is None or (self.checks[line.key].text, self.checks[line.key].status) != \
                (check.text, check.status):
            append_check(self.folder, check)
            self.checks[line.key] = check
            self._checks_since_save += 1
        self._refresh()
        return self.checks[line.key]

    def accept(self, i: int) -> Check:
        """Check ``lines[i]`` as read."""
        return self.correct(i, self.lines[i].read)

    def save(self, name: str, *, join: bool = True) -> Path:
        """Write the checked lines to a new ``data/raw/<name>/`` for 01_data.

        See :func:`~inkwell.data.corrections.save_corrections` (``join``: carry over the latest folder of ``name``).

        Returns:
            The new folder; :attr:`saved` says what went into it.
        """
        lines = [CheckedLine(ln.key, ln.image, ln.page, ln.read, ln.confidence, self.checks.get(ln.key))
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
        empty = f", {c['no_text']} without text" if c["no_text"] else ""
        return (f"{c['checked']} of {c['lines']} lines checked ({c['corrected']} corrected, {c['accepted']} accepted "
                f"as read{empty}); journal: {self.folder / JOURNAL_NAME}")

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
        return with_static_copy(f"<p><b>{html.escape(self.describe())}</b></p>{table}",
                                f"lines checked so far, the first {len(corrected)} correction(s)",
                                "Run the notebook to correct lines: the corrector picks up from its journal.")

    def show(self) -> None:
        """Display the box and a static copy that follows every check (a saved notebook keeps the latest)."""
        display(self)
        self._static_handle = display(HTML(self.static_html()), display_id=True)

    # ---- inside ----------------------------------------------------------------------------------------------

    def _sort(self) -> None:
        shown = self.lines[self.position].key if self.lines else None
        if self.order == "confidence":
            rank = {id(ln): k for k, ln in enumerate(self._by_page)}
            self.lines = sorted(self._by_page, key=lambda ln: (ln.confidence is None, ln.confidence or 0.0,
                                                               rank[id(ln)]))
        else:
            self.lines = list(self._by_page)
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

    def _then_type(self, action: Callable[[], object]) -> Callable[[Any], None]:
        """A click's handler: ``action``, then the keys back to the text box (not to JupyterLab's shortcuts:
        ``a`` would add a cell, ``d d`` delete one)."""
        def handler(_event: Any) -> None:
            action()
            self.text.focus()
        return handler

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        """Enter in the text box: submit once the box's last keystrokes have arrived (see :data:`SETTLE_SECONDS`)."""
        if content.get("event") != "submit" or not self.lines:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (called from code): the value is already final
            self.submit()
            return
        if time.monotonic() - self._moved_at < REPEAT_SECONDS:
            return  # a repeated Enter: the line now shown may not be on the screen yet
        loop.call_later(SETTLE_SECONDS, self._submit_if_shown, self.lines[self.position].key)

    def _submit_if_shown(self, key: str) -> None:
        """Submit the line ``key`` if it is still the one shown (a second quick Enter on it does nothing more)."""
        if self.lines and self.lines[self.position].key == key:
            self.submit()

    def submit(self) -> None:
        """What Enter in the text box does: check the line shown with the box's text, open the next unchecked line."""
        if not self.lines:
            return
        self.correct(self.position, self.text.value)
        self._go(self._next_unchecked(self.position))
        self._moved_at = time.monotonic()

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
        if not self.lines:
            self.view.value = "<p><i>These readings hold no lines to correct.</i></p>"
            self.text.disabled = True
            self._refresh()
            return
        line = self.lines[self.position]
        check = self.checks.get(line.key)
        self.text.value = check.text if check else line.read
        state = (f" \u00b7 <b>\u2714 checked ({check.status.replace('_', ' ')})</b>" if check
                 else " \u00b7 not checked yet")
        marks = [FLAG_LABELS.get(f, (f"\u26a0 {f}", f)) for f in line.flags.split("; ") if f]
        flags = "".join(f" \u00b7 <b style='color:{FLAG_COLOR}' title='{html.escape(why)}'>{html.escape(mark)}</b> "
                        f"<small>({html.escape(why)})</small>" for mark, why in marks)
        sure = confidence_html(line.confidence) or " <small>(no confidence)</small>"
        where = (f"<img src='{self._on_page(line)}' style='max-width:{_THUMB}px;border:1px solid "
                 "rgba(128,128,128,0.5)' alt='the line on its page'>" if line.page_image is not None else "")
        read = (f"<br><small>as read: <code>{html.escape(line.read)}</code></small>"
                if check and check.text != line.read else "")
        self.view.value = (
            f"{_STYLE}<div style='display:flex;gap:1em;align-items:flex-start'>{where}<div style='flex:1'>"
            f"<p style='margin:0.2em 0'><b>{html.escape(line.where)}</b>{sure}{flags}{state}</p>"
            f"<img src='{image_to_data_uri(line.image, max_width=1000)}' alt='line {html.escape(line.key)}'>"
            f"{read}</div></div>")
        self.position_label.value = (f"line {self.position + 1} of {len(self.lines)} "
                                     f"({'least sure first' if self.order == 'confidence' else 'page order'})")
        self.back_button.disabled = self.position <= 0
        self.skip_button.disabled = self.position >= len(self.lines) - 1
        self._refresh()

    def _on_page(self, line: LineToCheck) -> str:
        """The line's box drawn on a small copy of its page (each page shrunk once, however large the scan)."""
        if line.page not in self._thumbs:
            page = line.page_image
            scale = min(1.0, _THUMB / max(1, page.width))
            self._thumbs[line.page] = (page.resize((max(1, round(page.width * scale)),
                                                    max(1, round(page.height * scale)))), scale)
        small, scale = self._thumbs[line.page]
        box = [(round(x * scale), round(y * scale)) for x, y in line.polygon]
        return image_to_data_uri(draw_boxes(small, [box], max_width=_THUMB), max_width=_THUMB)

    def _refresh(self) -> None:
        c = self.counts()
        unread = (f" \u00b7 {self._unreadable} file(s) could not be read and have no lines here"
                  if self._unreadable else "")
        notes = "".join(f"<br><small>{html.escape(n)}</small>" for n in self.journal_notes)
        self.header.value = (f"<p style='margin:0.2em 0'><b>{c['checked']} of {c['lines']} lines checked</b> "
                             f"({c['corrected']} corrected, {c['accepted']} accepted as read) \u00b7 readings "
                             f"<code>{html.escape(str(self.folder))}</code>{unread}{notes}</p>")
        if self.saved is not None:
            since = (f" {self._checks_since_save} check(s) since, not in it yet: save again to include them."
                     if self._checks_since_save else "")
            self.status.value = f"<p>\u2714 {html.escape(self.saved.describe())}{html.escape(since)}</p>"
        if self._static_handle is not None:
            self._static_handle.update(HTML(self.static_html()))


def make_corrector(reading: DemoReading | str | os.PathLike[str], scan: InputScan | None = None, *,
                   order: str = "confidence", name: str = "my-hand") -> Corrector:
    """Build the corrector on saved readings: what :func:`~inkwell.reading.demo.read_scan` returned, or its folder.

    On the same readings (the object, or its folder in a new kernel) it picks up the checks of the
    journal in that folder, and opens the first line not checked yet.

    Args:
        reading: The :class:`~inkwell.reading.demo.DemoReading` that ``read_scan`` returned (saved: its ``folder``
            is set), or a readings folder (``adapters/<run>/readings/<time>/``).
        scan: The scan read, when at hand: the box then names how many files could not be read.
        order: ``"confidence"`` (least sure first) or ``"page"`` (page by page, as read).
        name: The name the save box starts with (``data/raw/<name>/``).

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
    box = Corrector(lines, folder, order=order, unreadable=len(scan.unreadable) if scan is not None else 0)
    box.name_box.value = name
    return box
