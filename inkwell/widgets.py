"""Interactive views: the inspector that steps through an evaluation's lines, worst first.

Top layer: imports :mod:`inkwell.render` (the HTML of one sample) and the
middle layer. Widgets are built from pure functions and hold no globals, so a
test can set a control's value, click a button and read the HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
from PIL import Image

from inkwell.evaluate import Evaluation
from inkwell.images import image_to_data_uri
from inkwell.render import sample_html

__all__ = ["make_inspector"]


def make_inspector(images: Mapping[str, Image.Image], evaluation: Evaluation) -> widgets.VBox:
    """Build an interactive viewer that steps through samples, worst first.

    Controls: systems to show side by side, a substring filter (matched
    case-insensitively against id, reference and the shown predictions), a
    minimum CER (max over the shown systems), previous/next buttons and a
    slider. Child widgets are exposed as attributes of the returned box:
    ``systems``, ``filter_text``, ``min_cer``, ``prev_button``,
    ``next_button``, ``slider``, ``count_label`` and ``html``, plus
    ``current_ids`` (the filtered, sorted id list), so it can be driven
    without a browser.

    Args:
        images: Line id -> image (missing ids are shown without an image).
        evaluation: Result of :func:`~inkwell.evaluate.evaluate_systems`.

    Returns:
        The viewer as an ``ipywidgets.VBox``.
    """
    by_id = evaluation.by_id()
    all_systems = evaluation.systems
    ref_by_id = dict(zip(evaluation.ids, evaluation.references))
    uri_cache: dict[str, str | None] = {}
    max_cer = max((s.cer for ss in evaluation.scores.values() for s in ss), default=0.0)

    systems = widgets.SelectMultiple(
        options=all_systems, value=tuple(all_systems), description="Systems", rows=min(len(all_systems), 5)
    )
    filter_text = widgets.Text(value="", placeholder="substring of id / text", description="Filter")
    min_cer = widgets.FloatSlider(
        value=0.0, min=0.0, max=1.5 if max_cer > 1.0 else 1.0, step=0.01, description="Min CER", readout_format=".0%"
    )
    prev_button = widgets.Button(description="\u25c0 prev", tooltip="previous (better) sample")
    next_button = widgets.Button(description="next \u25b6", tooltip="next (better) sample")
    slider = widgets.IntSlider(value=0, min=0, max=0, readout=False, description="Sample")
    count_label = widgets.Label(value="")
    out_html = widgets.HTML(value="")

    box = widgets.VBox()
    box.current_ids = []

    def shown() -> list[str]:
        return [s for s in all_systems if s in systems.value]

    def refresh_list(*_: Any) -> None:
        names = shown()
        needle = filter_text.value.strip().casefold()
        keep = []
        for line_id in evaluation.worst_first(names or all_systems):
            worst = max((by_id[n][line_id].cer for n in names or all_systems), default=0.0)
            if worst < min_cer.value:
                continue
            if needle:
                texts = [line_id, ref_by_id[line_id], *(by_id[n][line_id].prediction for n in names)]
                if not any(needle in t.casefold() for t in texts):
                    continue
            keep.append(line_id)
        box.current_ids = keep
        slider.max = max(0, len(keep) - 1)
        slider.disabled = len(keep) <= 1
        if slider.value != 0:
            slider.value = 0  # triggers render
        else:
            render()

    def render(*_: Any) -> None:
        ids = box.current_ids
        prev_button.disabled = slider.value <= 0
        next_button.disabled = slider.value >= len(ids) - 1
        if not ids:
            count_label.value = "0 of 0"
            out_html.value = "<p><i>No samples match the filter.</i></p>"
            return
        k = min(slider.value, len(ids) - 1)
        line_id = ids[k]
        count_label.value = f"{k + 1} of {len(ids)}"
        if line_id not in uri_cache:
            image = images.get(line_id) if images else None
            uri_cache[line_id] = image_to_data_uri(image) if image is not None else None
        names = shown()
        body = sample_html(
            uri_cache[line_id],
            ref_by_id[line_id],
            {n: by_id[n][line_id].prediction for n in names},
            line_id,
            {n: by_id[n][line_id].cer for n in names},
            legend=True,
        )
        if not names:
            body = "<p><i>Select at least one system to compare.</i></p>" + body
        out_html.value = body

    def step(delta: int) -> None:
        if box.current_ids:
            slider.value = min(max(0, slider.value + delta), len(box.current_ids) - 1)

    prev_button.on_click(lambda _b: step(-1))
    next_button.on_click(lambda _b: step(1))
    slider.observe(render, names="value")
    for control in (systems, filter_text, min_cer):
        control.observe(refresh_list, names="value")

    box.children = [
        widgets.HBox([systems, widgets.VBox([filter_text, min_cer])]),
        widgets.HBox([prev_button, next_button, slider, count_label]),
        out_html,
    ]
    box.systems = systems
    box.filter_text = filter_text
    box.min_cer = min_cer
    box.prev_button = prev_button
    box.next_button = next_button
    box.slider = slider
    box.count_label = count_label
    box.html = out_html
    refresh_list()
    return box
