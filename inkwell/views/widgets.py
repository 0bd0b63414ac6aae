"""Interactive views: the inspector that steps through an evaluation's lines, the focus system's worst first.

Stage ``views``: imports :mod:`inkwell.views.render` (the HTML of one sample) and the
lower stages. Widgets are built from pure functions and hold no globals, so a
test can set a control's value, click a button and read the HTML. Each widget
has a static HTML copy (:meth:`Inspector.static_html`) that a saved or executed
notebook shows without a kernel; in a live notebook that copy hides itself.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
from PIL import Image

from inkwell.evaluation.evaluate import Evaluation
from inkwell.data.images import image_to_data_uri
from inkwell.reading.demo import Reader, read_scan
from inkwell.views.render import LEGEND_HTML, render_page_readings_html, sample_html
from inkwell.data.sources import scan_upload

__all__ = ["LIVE_CLASS", "STATIC_CLASS", "UPLOAD_ACCEPT", "UPLOAD_HINT", "WORST_OF_SHOWN", "Inspector", "SummaryBox",
           "UploadReader", "make_inspector", "make_upload_reader", "with_static_copy"]

#: CSS class of a live widget; the static copy displayed right after it hides itself while the widget is live.
LIVE_CLASS = "iw-live"
#: CSS class of a static copy.
STATIC_CLASS = "iw-static"
#: Where the widget was (the output just before its static copy) holding only the widget manager's text: after a
#: page reload or a new kernel the widget's model is gone and JupyterLab and Notebook 7 write "Error displaying
#: widget: model not found" there. That text is replaced by what to do; the static copy below it stays.
_GONE = (f".jp-OutputArea-child:has(+ .jp-OutputArea-child .{STATIC_CLASS}) "
         ".jp-OutputArea-output.jupyter-widgets:not(:has(*))")
_HIDE_WHEN_LIVE = (
    f"<style>.jp-OutputArea-child:has(.{LIVE_CLASS}) + .jp-OutputArea-child .{STATIC_CLASS}"
    "{display:none}"
    f"{_GONE}{{font-size:0}}"
    f"{_GONE}::after{{content:'This box needs its kernel: run the cell again to use it. Below, a static copy of "
    "what it showed.';font-size:var(--jp-content-font-size1,13px);font-style:italic;opacity:0.75}"
    "</style>"
)


def with_static_copy(body: str, title: str,
                     hint: str = "Run the notebook to step through every line interactively.") -> str:
    """Wrap a widget's static HTML copy: a note saying what it is, hidden while the live widget shows.

    Args:
        body: The HTML the widget would show first.
        title: What the copy shows, e.g. "first 5 of 56 lines".
        hint: What the live widget offers beyond the copy.
    """
    note = (f'<p style="margin:0.2em 0;opacity:0.75"><i>Static copy ({html.escape(title)}). '
            f"{html.escape(hint)}</i></p>")
    return f'{_HIDE_WHEN_LIVE}<div class="{STATIC_CLASS}">{note}{body}</div>'


class SummaryBox(widgets.VBox):
    """A box whose text form (its repr, and the ``text/plain`` a saved notebook keeps) is a one-line summary."""

    summary: str = ""

    def __repr__(self) -> str:
        return self.summary

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.summary
        return bundle


class Inspector(SummaryBox):
    """The inspector box."""

    summary: str = "Inspector"

    def static_html(self, pages: int = 5) -> str:
        """The first ``pages`` lines in the initial order as HTML, for a notebook read without a kernel."""
        return with_static_copy(self._static_pages(pages),
                                f"first {min(pages, len(self.current_ids))} of {len(self.current_ids)} lines, "
                                f"worst first by {self.sort_by.value}")


#: Sort choice that orders by the highest CER among the shown systems.
WORST_OF_SHOWN = "worst of shown"


def make_inspector(images: Mapping[str, Image.Image], evaluation: Evaluation, focus: str = "") -> Inspector:
    """Build an interactive viewer that steps through samples, the focus system's worst first.

    Controls: the systems shown side by side, what the lines are sorted by (a
    system's own line CER, the focus system at first, or the worst of the shown
    systems), a substring filter (matched case-insensitively against id,
    reference and the shown predictions), a minimum CER (of the sort system),
    previous/next buttons and a slider. Child widgets are exposed as attributes
    of the returned box: ``systems``, ``sort_by``, ``filter_text``, ``min_cer``,
    ``prev_button``, ``next_button``, ``slider``, ``count_label`` and ``html``,
    plus ``current_ids`` (the filtered, sorted id list), so it can be driven
    without a browser.

    Args:
        images: Line id -> image (missing ids are shown without an image).
        evaluation: Result of :func:`~inkwell.evaluation.evaluate.evaluate_systems`.
        focus: The system sorted by at first (default: the last system).

    Returns:
        The viewer, an :class:`Inspector` (an ``ipywidgets.VBox``).
    """
    by_id = evaluation.by_id()
    all_systems = evaluation.systems
    focus = evaluation.focus_system(focus)
    ref_by_id = dict(zip(evaluation.ids, evaluation.references))
    uri_cache: dict[str, str | None] = {}
    max_cer = max((s.cer for ss in evaluation.scores.values() for s in ss), default=0.0)

    systems = widgets.SelectMultiple(
        options=all_systems, value=tuple(all_systems), description="Systems", rows=min(len(all_systems), 5)
    )
    sort_by = widgets.Dropdown(options=[*all_systems, WORST_OF_SHOWN], value=focus, description="Sort by")
    filter_text = widgets.Text(value="", placeholder="substring of id / text", description="Filter")
    min_cer = widgets.FloatSlider(
        value=0.0, min=0.0, max=1.5 if max_cer > 1.0 else 1.0, step=0.01, description="Min CER", readout_format=".0%"
    )
    prev_button = widgets.Button(description="\u25c0 prev", tooltip="previous (worse) sample")
    next_button = widgets.Button(description="next \u25b6", tooltip="next (better) sample")
    slider = widgets.IntSlider(value=0, min=0, max=0, readout=False, description="Sample")
    count_label = widgets.Label(value="")
    out_html = widgets.HTML(value="")

    box = Inspector()
    box.add_class(LIVE_CLASS)
    box.current_ids = []

    def shown() -> list[str]:
        return [s for s in all_systems if s in systems.value]

    def sort_names() -> list[str]:
        return [sort_by.value] if sort_by.value != WORST_OF_SHOWN else (shown() or all_systems)

    def refresh_list(*_: Any) -> None:
        names = shown()
        keys = sort_names()
        needle = filter_text.value.strip().casefold()
        keep = []
        for line_id in evaluation.worst_first(keys):
            worst = max(by_id[n][line_id].cer for n in keys)
            if worst < min_cer.value:
                continue
            if needle:
                texts = [line_id, ref_by_id[line_id], *(by_id[n][line_id].prediction for n in names)]
                if not any(needle in t.casefold() for t in texts):
                    continue
            keep.append(line_id)
        box.current_ids = keep
        box.summary = (f"Inspector: {len(keep)} lines sorted by {sort_by.value}'s line CER, worst first "
                       f"(systems: {', '.join(all_systems)}).")
        slider.max = max(0, len(keep) - 1)
        slider.disabled = len(keep) <= 1
        if slider.value != 0:
            slider.value = 0  # triggers render
        else:
            render()

    def page(line_id: str, legend: bool) -> str:
        if line_id not in uri_cache:
            image = images.get(line_id) if images else None
            uri_cache[line_id] = image_to_data_uri(image) if image is not None else None
        names = shown()
        return sample_html(
            uri_cache[line_id],
            ref_by_id[line_id],
            {n: by_id[n][line_id].prediction for n in names},
            line_id,
            {n: by_id[n][line_id].cer for n in names},
            legend=legend,
            focus=sort_by.value,
        )

    def render(*_: Any) -> None:
        ids = box.current_ids
        prev_button.disabled = slider.value <= 0
        next_button.disabled = slider.value >= len(ids) - 1
        if not ids:
            count_label.value = "0 of 0"
            out_html.value = "<p><i>No samples match the filter.</i></p>"
            return
        k = min(slider.value, len(ids) - 1)
        count_label.value = f"{k + 1} of {len(ids)} (by {sort_by.value})"
        body = page(ids[k], legend=True)
        if not shown():
            body = "<p><i>Select at least one system to compare.</i></p>" + body
        out_html.value = body

    def static_pages(pages: int) -> str:
        ids = box.current_ids[: max(0, pages)]
        if not ids:
            return "<p><i>No samples match the filter.</i></p>"
        return LEGEND_HTML + "".join(page(i, legend=False) for i in ids)

    def step(delta: int) -> None:
        if box.current_ids:
            slider.value = min(max(0, slider.value + delta), len(box.current_ids) - 1)

    prev_button.on_click(lambda _b: step(-1))
    next_button.on_click(lambda _b: step(1))
    slider.observe(render, names="value")
    for control in (systems, sort_by, filter_text, min_cer):
        control.observe(refresh_list, names="value")

    box.children = [
        widgets.HBox([systems, widgets.VBox([sort_by, filter_text, min_cer])]),
        widgets.HBox([prev_button, next_button, slider, count_label]),
        out_html,
    ]
    box.systems = systems
    box.sort_by = sort_by
    box.filter_text = filter_text
    box.min_cer = min_cer
    box.prev_button = prev_button
    box.next_button = next_button
    box.slider = slider
    box.count_label = count_label
    box.html = out_html
    box._static_pages = static_pages
    refresh_list()
    return box


#: Files the upload box accepts (images and PDFs).
UPLOAD_ACCEPT = ".png,.jpg,.jpeg,.tif,.tiff,.bmp,.webp,.gif,.pdf"

#: The upload box's status line before the first upload (HTML). ipywidgets' ``FileUpload`` is a
#: button that opens the file chooser: it takes no dropped files, so the line never promises a drop.
UPLOAD_HINT = ("Choose files (images and PDFs) with the Upload button; they are read like <code>inputs</code> "
               "and saved.")


class UploadReader(SummaryBox):
    """The upload box: choose images or PDFs, they are read like ``inputs`` and the result shows below."""

    summary: str = "Upload box (needs a running kernel)."

    def static_html(self) -> str:
        """What a saved notebook shows in place of the box: what it did last, or how to use it."""
        body = self.html.value or "<p>Nothing was uploaded.</p>"
        return with_static_copy(body, "the upload box's last result",
                                "Run the notebook to upload images or PDFs: the box needs a running kernel.")

    def read(self, files: list[tuple[str, bytes]]) -> str:
        """Read ``(name, bytes)`` files as if uploaded; returns (and shows) the result's HTML."""
        self.status.value = f"Reading {len(files)} file(s)..."
        try:
            self.html.value = self._handle(files)
            self.status.value = html.escape(f"Read {len(files)} file(s): {', '.join(n for n, _ in files)}.")
        except Exception as exc:  # noqa: BLE001 - shown to the user in the box, the notebook keeps running
            self.html.value = f"<p><b>Could not read the upload:</b> {html.escape(str(exc))}</p>"
            self.status.value = "Failed; see the message below."
        return self.html.value


def make_upload_reader(
    reader: Reader,
    *,
    mode: str = "auto",
    batch_size: int = 8,
    max_new_tokens: int = 128,
    pdf_dpi: int = 200,
    output_dir: str = "",
    line_finder: str = "ppocr",
) -> UploadReader:
    """Build the upload box: chosen images and PDFs are read like ``inputs`` and saved in a new folder.

    The box holds a ``FileUpload`` (a button that opens the file chooser; images and PDFs,
    several at once; it takes no dropped files), a status line (HTML) and
    the HTML of the last result. ``box.read([(name, bytes), ...])`` does what an upload
    does, so the box can be driven without a browser.

    Args:
        reader: The loaded base model and adapter.
        mode, batch_size, max_new_tokens, pdf_dpi, output_dir, line_finder: As in 04_demo's parameters.
    """
    def handle(files: list[tuple[str, bytes]]) -> str:
        scan = scan_upload(files, pdf_dpi=pdf_dpi)
        reading, saved = read_scan(reader, scan, mode=mode, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                   output_dir=output_dir, line_finder=line_finder)
        return (f"<p>{html.escape(reading.describe())} Saved to <code>{html.escape(str(saved.folder))}</code>.</p>"
                + render_page_readings_html(reading, scan))

    upload = widgets.FileUpload(accept=UPLOAD_ACCEPT, multiple=True, description="Upload")
    status = widgets.HTML(value=UPLOAD_HINT)
    out_html = widgets.HTML(value="")
    box = UploadReader([upload, status, out_html])
    box.add_class(LIVE_CLASS)
    box.upload, box.status, box.html, box._handle = upload, status, out_html, handle

    def on_upload(change: dict[str, Any]) -> None:
        files = [(f["name"], bytes(f["content"])) for f in change["new"]]
        if files:
            box.read(files)

    upload.observe(on_upload, names="value")
    return box
