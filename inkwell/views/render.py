"""HTML views: diffs of predictions against references, sample tables, readings and rejected rows.

Stage ``views``: imports lower stages. Every function returns an
HTML string (never displays anything), so the same view serves a notebook cell,
a widget and a test. All user text is HTML-escaped; errors carry a non-colour
marker beside the colour.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from inkwell.evaluation.align import SPACE_MARK, alignment, confusion_table, visible
from inkwell.data.dataset import DataReport
from inkwell.reading.demo import DemoReading
from inkwell.evaluation.evaluate import RUNAWAY_CER, Evaluation, line_cer, prepare_text
from inkwell.data.formats.base import FIXES
from inkwell.data.sources import InputScan
from inkwell.data.images import image_to_data_uri, thumbnail_data_uri, to_rgb
from inkwell.models.view import ViewSummary

__all__ = [
    "FLAG_COLOR",
    "draw_boxes",
    "FLAG_LABELS",
    "LEGEND_HTML",
    "bootstrap_html",
    "confusion_html",
    "confidence_html",
    "flags_legend_html",
    "comparison_html",
    "format_cer",
    "metrics_html",
    "model_view_html",
    "rejected_summary_html",
    "rejected_thumbnails_html",
    "render_diff_html",
    "render_diff_text",
    "render_page_readings_html",
    "render_sample_html",
    "render_samples_html",
    "sample_html",
    "scan_problems_html",
    "table_html",
]


def render_diff_text(reference: str, prediction: str) -> str:
    """Render a plain-text diff of a prediction against its reference.

    Legend:
        * ``[a->o]`` reference "a" was read as "o" (substitution)
        * ``[-x]``   reference "x" is missing from the prediction (deletion)
        * ``{+s}``   "s" is extra in the prediction (insertion)
        * ``␣``      a space inside a marker

    Unmarked text is correct.

    Args:
        reference: Reference text.
        prediction: Predicted text.

    Returns:
        The marked-up text, readable without colour.

    Example:
        >>> render_diff_text("the cat", "the cot")
        'the c[a->o]t'
    """
    parts = []
    for op, r, h in alignment(reference, prediction):
        if op == "equal":
            parts.append(r)
        elif op == "substitute":
            parts.append(f"[{visible(r)}->{visible(h)}]")
        elif op == "delete":
            parts.append(f"[-{visible(r)}]")
        else:
            parts.append(f"{{+{visible(h)}}}")
    return "".join(parts)


_DEL_STYLE = "text-decoration:line-through;background:#fbd9b6;color:#7a3300"
_INS_STYLE = "text-decoration:underline;background:#cfe5f7;color:#083d6b"
_SUB_STYLE = "background:#ecdff0;color:#222;border-radius:2px;padding:0 1px"

#: The legend of the diff markers, shown once above a set of samples.
LEGEND_HTML = (
    '<div class="iw-legend" style="font-size:0.85em;color:inherit;opacity:0.85;margin:0.3em 0">'
    f'<del style="{_DEL_STYLE}">struck</del> = missing from prediction &nbsp; '
    f'<ins style="{_INS_STYLE}">underlined</ins> = extra in prediction &nbsp; '
    f'<span style="{_SUB_STYLE}"><del style="{_DEL_STYLE}">a</del>\u2192<ins style="{_INS_STYLE}">o</ins></span>'
    f" = a read as o &nbsp; {SPACE_MARK} = space</div>"
)


def render_diff_html(reference: str, prediction: str) -> str:
    """Render an HTML diff of a prediction against its reference.

    Errors carry both a colour and a non-colour marker, so the diff reads for
    colour-blind users and in black-and-white print:

    * missing text: ``<del>`` (struck through, orange), tooltip "missing";
    * extra text: ``<ins>`` (underlined, blue), tooltip "extra";
    * substitution: struck reference, an arrow, underlined prediction.

    Spaces inside markers show as ``␣``. All text is HTML-escaped.

    Args:
        reference: Reference text.
        prediction: Predicted text.

    Returns:
        An HTML fragment (a ``<span>``).
    """
    e = html.escape
    parts = []
    for op, r, h in alignment(reference, prediction):
        if op == "equal":
            parts.append(e(r))
        elif op == "delete":
            parts.append(f'<del class="iw-del" title="{e("missing: " + r)}" style="{_DEL_STYLE}">{e(visible(r))}</del>')
        elif op == "insert":
            parts.append(f'<ins class="iw-ins" title="{e("extra: " + h)}" style="{_INS_STYLE}">{e(visible(h))}</ins>')
        else:
            title = e(f"{r!r} read as {h!r}")
            parts.append(
                f'<span class="iw-sub" title="{title}" style="{_SUB_STYLE}">'
                f'<del style="{_DEL_STYLE}">{e(visible(r))}</del>\u2192'
                f'<ins style="{_INS_STYLE}">{e(visible(h))}</ins></span>'
            )
    return '<span class="iw-diff" style="font-family:monospace;white-space:pre-wrap">' + "".join(parts) + "</span>"


def format_cer(cer: float | None) -> str:
    """A line CER as a percentage, marked "runaway" above 100%; a dash when there is none."""
    if cer is None or (isinstance(cer, float) and math.isnan(cer)):
        return "\u2013"
    text = f"{cer:.1%}"
    return text + " runaway" if cer > RUNAWAY_CER else text


#: Table cell style readable on light and dark backgrounds (text colour inherited from the theme).
_CELL = "padding:2px 8px;border-bottom:1px solid rgba(128,128,128,0.35);text-align:left;vertical-align:top"


def sample_html(
    image_uri: str | None,
    reference: str,
    predictions: Mapping[str, str],
    sample_id: str,
    cers: Mapping[str, float] | None,
    legend: bool,
    focus: str = "",
) -> str:
    """One line as HTML: its image (a data URI), the reference and each system's marked prediction.

    The ``focus`` system's row is set in bold and labelled "(focus)".
    """
    e = html.escape
    parts = ['<div class="iw-sample" style="font-family:sans-serif;margin:0 0 1.2em 0">']
    if sample_id:
        parts.append(f'<div style="font-weight:bold;margin-bottom:0.3em">{e(str(sample_id))}</div>')
    if image_uri:
        parts.append(
            f'<img src="{image_uri}" alt="{e(str(sample_id) or "line image")}" '
            'style="max-width:100%;border:1px solid rgba(128,128,128,0.5);display:block;margin-bottom:0.3em"/>'
        )
    parts.append('<table style="border-collapse:collapse">')
    parts.append(f'<tr><th style="{_CELL}">system</th><th style="{_CELL}">CER</th><th style="{_CELL}">text</th></tr>')
    ref_text = e(prepare_text(reference))
    parts.append(
        f'<tr><td style="{_CELL}"><i>reference</i></td><td style="{_CELL}"></td>'
        f'<td style="{_CELL};font-family:monospace;white-space:pre-wrap">{ref_text}</td></tr>'
    )
    for name, pred in predictions.items():
        cer = cers.get(name) if cers is not None else line_cer(reference, pred)
        diff = render_diff_html(reference, pred) if prepare_text(reference) else e(prepare_text(pred))
        label = f"<b>{e(str(name))}</b> (focus)" if name == focus else e(str(name))
        parts.append(
            f'<tr><td style="{_CELL}">{label}</td>'
            f'<td style="{_CELL};font-variant-numeric:tabular-nums">{e(format_cer(cer))}</td>'
            f'<td style="{_CELL}">{diff}</td></tr>'
        )
    parts.append("</table>")
    if legend:
        parts.append(LEGEND_HTML)
    parts.append("</div>")
    return "".join(parts)


def render_sample_html(
    image: Image.Image | None,
    reference: str,
    predictions: dict[str, str],
    sample_id: str = "",
    cers: dict[str, float] | None = None,
) -> str:
    """Render one line: image, reference, and each system's marked prediction.

    Args:
        image: Line image, or None to leave it out.
        reference: Reference text.
        predictions: System name -> predicted text, shown in this order.
        sample_id: Heading shown above the image.
        cers: System name -> line CER; computed when omitted.

    Returns:
        An HTML fragment with a legend of the diff markers.
    """
    uri = image_to_data_uri(image) if image is not None else None
    return sample_html(uri, reference, predictions, sample_id, cers, legend=True)


def render_samples_html(
    images: Mapping[str, Image.Image] | None,
    evaluation: Evaluation,
    focus: str = "",
    systems: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    limit: int = 20,
) -> str:
    """Render the focus system's worst lines, each with every shown system beside it.

    Args:
        images: Line id -> image (missing ids are shown without an image).
        evaluation: Result of :func:`~inkwell.evaluation.evaluate.evaluate_systems`.
        focus: The system whose own line CER orders the lines (default: the last system).
        systems: Systems to show, default all.
        ids: Restrict to these line ids, default all.
        limit: Most samples to render.

    Returns:
        An HTML fragment: a heading naming the focus system, one legend, the samples.
    """
    focus = focus or evaluation.systems[-1]
    names = list(systems) if systems is not None else evaluation.systems
    by_id = evaluation.by_id()
    images = images or {}
    order = evaluation.worst_first(focus, ids)[: max(0, limit)]
    others = [n for n in names if n != focus]
    beside = f"; {', '.join(others)} beside it" if others else ""
    parts = [f'<p style="margin:0.2em 0"><b>{len(order)} worst lines of {html.escape(focus)}</b> '
             f"(ordered by its own line CER{html.escape(beside)})</p>", LEGEND_HTML]
    for line_id in order:
        image = images.get(line_id)
        first = by_id[evaluation.systems[0]][line_id]
        parts.append(
            sample_html(
                image_to_data_uri(image) if image is not None else None,
                first.reference,
                {n: by_id[n][line_id].prediction for n in names},
                line_id,
                {n: by_id[n][line_id].cer for n in names},
                legend=False,
                focus=focus,
            )
        )
    return "".join(parts)


def table_html(
    rows: Sequence[Mapping[str, object]],
    columns: Mapping[str, str],
    percent: Sequence[str] = (),
    caption: str = "",
    bold_row: int | None = None,
) -> str:
    """A small HTML table: no index, numbers right-aligned, percentages formatted, long text wrapped.

    Args:
        rows: One mapping per row.
        columns: Key -> column heading, in display order.
        percent: Keys whose values are fractions shown as percentages.
        caption: Title shown above the table.
        bold_row: Index of a row to set in bold (the focus system).

    Returns:
        An HTML fragment readable in light and dark themes (colours inherited).
    """
    e = html.escape

    def cell(key: str, value: object) -> str:
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            text = "\u2013"
        elif key in percent and numeric:
            text = f"{float(value):.1%}"  # type: ignore[arg-type]
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = str(value)
        align = "right" if numeric else "left"
        return (f'<td style="{_CELL};text-align:{align};font-variant-numeric:tabular-nums;'
                f'white-space:normal">{e(text)}</td>')

    head = "".join(f'<th style="{_CELL}">{e(title)}</th>' for title in columns.values())
    body = []
    for i, row in enumerate(rows):
        weight = ' style="font-weight:bold"' if i == bold_row else ""
        body.append(f"<tr{weight}>" + "".join(cell(k, row.get(k)) for k in columns) + "</tr>")
    cap = (f'<caption style="caption-side:top;text-align:left;font-weight:bold;padding:0.2em 0">{e(caption)}'
           "</caption>") if caption else ""
    return (f'<table class="iw-table" style="border-collapse:collapse;margin:0.3em 0">{cap}<thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(body)}</tbody></table>")


#: Headings of the per-system metrics, in display order.
_METRIC_HEADINGS = {
    "system": "system", "n_lines": "lines", "cer": "CER", "cer_normalized": "CER (normalised)", "wer": "WER",
    "wer_normalized": "WER (normalised)", "median_cer": "median line CER", "exact_match": "exact lines",
    "n_runaway": "lines > 100% CER",
}
_PERCENT = ("cer", "cer_normalized", "wer", "wer_normalized", "median_cer", "exact_match")


def metrics_html(evaluation: Evaluation, focus: str = "") -> str:
    """The per-system metrics as a formatted table, the focus system in bold.

    "Normalised" scores ignore case, punctuation and repeated spaces.
    """
    rows = [{"system": m.system, **{k: getattr(m, k) for k in _METRIC_HEADINGS if k != "system"}}
            for m in evaluation.metrics.values()]
    bold = evaluation.systems.index(focus) if focus in evaluation.systems else None
    n = len(evaluation.ids)
    return table_html(rows, _METRIC_HEADINGS, _PERCENT, caption=f"Error rates on {n} lines (lower is better)",
                      bold_row=bold)


def bootstrap_html(evaluation: Evaluation) -> str:
    """The paired-bootstrap comparisons as a table: difference and 95% interval in CER points, and the verdict."""
    rows = [{"pair": f"{b.system_b} vs {b.system_a}", "diff": f"{100 * b.diff:+.2f}",
             "interval": f"[{100 * b.low:+.2f}, {100 * b.high:+.2f}]", "verdict": b.verdict}
            for b in evaluation.bootstrap]
    if not rows:
        return "<p>One system only: nothing to compare.</p>"
    columns = {"pair": "comparison", "diff": "CER difference (points)", "interval": "95% interval",
               "verdict": "verdict"}
    return table_html(rows, columns, caption=f"Paired bootstrap ({evaluation.n_resamples} resamples)")


def confusion_html(evaluation: Evaluation, system: str, top: int = 20) -> str:
    """The most frequent character confusions of one system as a titled table (see :func:`confusion_table`)."""
    confusions = confusion_table(evaluation, system, top).to_dict("records")
    if not confusions:
        return f"<p>No character errors for {html.escape(system)}.</p>"
    columns = {"reference": "reference", "predicted": "read as", "count": "times"}
    return table_html(confusions, columns,
                      caption=f"The {len(confusions)} most frequent character confusions of {system} "
                              f"on {len(evaluation.ids)} lines (\u2205 = nothing)")


def comparison_html(table: object, dataset: str, split: str) -> str:
    """The rows of ``comparison.csv`` for one data set and split as a table, the newest evaluation first.

    Args:
        table: The comparison table (a pandas DataFrame, as :func:`~inkwell.evaluation.evaluate.update_comparison` returns it).
        dataset: Data set shown.
        split: Split shown.
    """
    frame = table[(table["dataset"] == dataset) & (table["split"] == split)]  # type: ignore[index]
    records = frame.to_dict("records")
    evaluations = list(dict.fromkeys(str(r.get("evaluation")) for r in records))  # in the order written
    order = {name: -i for i, name in enumerate(evaluations)}
    records.sort(key=lambda r: order[str(r.get("evaluation"))])  # newest evaluation first (stable within one)
    columns = {"evaluation": "evaluation", "system": "system", "base_model": "base model", "n_lines": "lines",
               **{k: v for k, v in _METRIC_HEADINGS.items() if k not in ("system", "n_lines")}}
    n_evals = len(evaluations)
    return table_html(records, columns, _PERCENT,
                      caption=f"comparison.csv: {n_evals} evaluation(s) of {dataset} / {split}, newest first")


#: The flags a reading can carry, as shown beside a line, and what they mean.
FLAG_LABELS = {
    "repetition_loop": ("\u26a0 loop", "stopped by the repetition guard: the model repeated itself"),
    "length_limit": ("\u26a0 limit", "hit max_new_tokens before the line ended"),
}


#: The colour of a reading's flags, readable in JupyterLab's light theme (5.5:1 on white), its dark theme
#: (8.4:1 on #111) and, without JupyterLab's variables (a saved notebook elsewhere), as the dark orange
#: ``#b35900`` (4.8:1 on white): the theme's warning colour, a fifth of the way towards the theme's text colour.
#: A browser without ``color-mix`` shows the text colour; the flag's warning sign says it either way.
FLAG_COLOR = ("color-mix(in srgb, var(--jp-warn-color0, #b35900) 80%, "
              "var(--jp-content-font-color0, #b35900))")


def _flag_html(flags: str) -> str:
    marks = [FLAG_LABELS.get(f, (f"\u26a0 {f}", f))[0] for f in flags.split("; ") if f]
    return (f' <b style="color:{FLAG_COLOR}">' + html.escape(" ".join(marks)) + "</b>") if marks else ""


def confidence_html(confidence: float | None) -> str:
    """A reading's confidence as a small, muted percentage beside its text ("" when the reader gave none)."""
    if confidence is None or (isinstance(confidence, float) and math.isnan(confidence)):
        return ""
    return (' <small style="opacity:0.65" title="confidence: how sure decoding was of this line (geometric mean '
            f'of its token probabilities)">{"&lt;1" if confidence < 0.005 else f"{100 * float(confidence):.0f}"}%</small>')


#: What the small percentage after a line read means.
_CONFIDENCE_NOTE = ("The small percentage after a line is its confidence (how sure decoding was); correct the "
                    "least sure lines first.")


def flags_legend_html() -> str:
    """The visible legend of the reading flags and of the confidence shown beside each line."""
    items = "; ".join(f'<b style="color:{FLAG_COLOR}">{html.escape(label)}</b> = {html.escape(words)}'
                      for label, words in FLAG_LABELS.values())
    return f'<p style="margin:0.3em 0">{items}. Check flagged lines by eye. {_CONFIDENCE_NOTE}</p>'


def scan_problems_html(scan: InputScan) -> str:
    """The files that could not be read (reason and fix) and the files that are not images or PDFs."""
    parts = []
    if scan.unreadable:
        rows = [{"file": u.file.name, "reason": u.reason, "fix": u.fix} for u in scan.unreadable]
        parts.append(table_html(rows, {"file": "file", "reason": "reason", "fix": "how to fix"},
                                caption=f"{len(rows)} file(s) could not be read; every other file was read"))
    if scan.other_files:
        names = ", ".join(html.escape(f.name) for f in scan.other_files)
        parts.append(f"<p>{len(scan.other_files)} file(s) are neither images nor PDFs and were skipped: {names}</p>")
    return "".join(parts)


#: Colours of the page view: box outlines, and the number labels (dark text and border on white).
_BOX_BLUE = (0, 90, 200)
_LABEL_INK = (20, 20, 20)


def _label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own font at ``size`` px (its small bitmap font where Pillow was built without FreeType)."""
    try:
        return ImageFont.load_default(size)
    except (ImportError, OSError, TypeError):
        return ImageFont.load_default()


def _left_end(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The x of a box's left end and the y of the middle of that end (a slanted line's own height there)."""
    xs = [x for x, _ in points]
    left, right = min(xs), max(xs)
    near = [y for x, y in points if x <= left + 0.1 * (right - left) + 1]
    return left, (min(near) + max(near)) / 2


def draw_boxes(page: Image.Image, polygons: Sequence[Sequence[tuple[int, int]]], numbers: Sequence[int] = (),
               max_width: int = 900) -> Image.Image:
    """A copy of ``page``, at most ``max_width`` wide, each line's box outlined and numbered at its left end.

    Without ``numbers`` the boxes are only outlined (the corrector's page beside a line). The numbers are sized to the lines (six tenths of the line pitch: the smaller of the median
    step between lines and the median box height; 12 to 40 px on the returned image), dark on
    white inside a dark border so they read on any paper, and sit in the margin left of a box
    where there is room, else just inside its left end, at the middle of that end: on the line
    itself, not on the line above. A number that would cover another moves a little up or down,
    else further right along its line. The page itself is never changed.

    Args:
        page: The page image.
        polygons: One list of points per box, in page coordinates.
        numbers: One number per box (the line numbers the text list shows); empty: outlines only.
        max_width: Widest result, px.
    """
    scale = min(1.0, max_width / max(1, page.width))
    out = to_rgb(page)
    out = out.resize((max(1, round(page.width * scale)), max(1, round(page.height * scale)))) if scale < 1.0 \
        else out.copy()
    labels = list(numbers) or [0] * len(polygons)  # no numbers: outlines only (below)
    boxes = [([(x * scale, y * scale) for x, y in pts], n) for pts, n in zip(polygons, labels) if len(pts) >= 2]
    middles = sorted(_left_end(pts)[1] for pts, _ in boxes)
    steps = sorted(b - a for a, b in zip(middles, middles[1:]) if b - a > 1)  # the pitch of the lines
    heights = sorted(max(y for _, y in pts) - min(y for _, y in pts) for pts, _ in boxes)
    pitch = min(steps[len(steps) // 2] if steps else math.inf, heights[len(heights) // 2] if heights else math.inf)
    size = int(min(40, max(12, round(0.6 * pitch)))) if math.isfinite(pitch) else 16
    font, pad, rule = _label_font(size), max(2, size // 6), max(2, size // 12)
    draw = ImageDraw.Draw(out)
    for pts, _ in boxes:
        draw.line([*pts, pts[0]], fill=_BOX_BLUE, width=rule)
    if not numbers:
        return out
    placed: list[tuple[float, float, float, float]] = []
    for pts, number in boxes:
        label = str(number)
        x0, y0, x1, y1 = draw.textbbox((0, 0), label, font=font, anchor="lt")
        w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
        left, middle = _left_end(pts)
        inside = left + rule + 1
        xs = ([left - rule - 2 - w] if left - rule - 2 - w >= 0 else []) + [inside + k * (w + 2) for k in range(4)]
        spots = [(sx, min(max(0.0, middle - h / 2 + dy * h), out.height - h)) for sx in xs for dy in (0, 0.3, -0.3)]
        free = [r for r in ((sx, sy, sx + w, sy + h) for sx, sy in spots)
                if not any(r[0] < q[2] and q[0] < r[2] and r[1] < q[3] and q[1] < r[3] for q in placed)]
        rect = free[0] if free else (spots[0][0], spots[0][1], spots[0][0] + w, spots[0][1] + h)
        placed.append(rect)
        draw.rectangle(rect, fill=(255, 255, 255), outline=_LABEL_INK, width=rule)
        draw.text(((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2), label, fill=_LABEL_INK, font=font, anchor="mm")
    return out


def render_page_readings_html(reading: DemoReading, scan: InputScan | None = None, max_width: int = 640) -> str:
    """What was read: line images beside their text; pages with numbered line boxes beside their lines.

    Args:
        reading: Result of :func:`~inkwell.reading.demo.read_pages`.
        scan: The scan the pages came from, to list files that could not be read.
        max_width: Widest page or line image shown, px.

    Returns:
        An HTML fragment, left-aligned. The legend of the flags is shown when some line carries one
        (else only what the confidence beside a line means); the numbers of a page's text list are
        its lines' own numbers, those drawn on its boxes.
    """
    e = html.escape
    parts = []
    if any(line.flags for line in reading.lines):
        parts.append(flags_legend_html())
    elif any(line.confidence is not None for line in reading.lines):
        parts.append(f'<p style="margin:0.3em 0">{_CONFIDENCE_NOTE}</p>')
    if scan is not None:
        parts.append(scan_problems_html(scan))
    lines = [r for r in reading.pages if r.as_line]
    if lines:
        rows = []
        for result in lines:
            text = result.lines[0].text if result.lines else ""
            flags = result.lines[0].flags if result.lines else ""
            sure = confidence_html(result.lines[0].confidence) if result.lines else ""
            uri = image_to_data_uri(result.page.image, max_width=max_width)
            rows.append(f"<tr><td style='{_CELL}'><img src='{uri}' style='max-width:{max_width}px'><br>"
                        f"<small>{e(result.page.name)}</small></td>"
                        f"<td style='{_CELL};font-family:monospace;font-size:1.1em'>{e(text)}{_flag_html(flags)}"
                        f"{sure}</td>"
                        "</tr>")
        head = f'<tr><th style="{_CELL}">image</th><th style="{_CELL}">recognised text</th></tr>'
        parts.append('<table class="iw-table" style="border-collapse:collapse">' + head + "".join(rows) + "</table>")
    for result in (r for r in reading.pages if not r.as_line):
        page = result.page
        title = f"{page.file.name}" + (f", page {page.page}" if page.file.suffix.lower() == ".pdf" else "")
        drawn = draw_boxes(page.image, [line.polygon for line in result.lines],
                           [line.line for line in result.lines], max_width=max_width)
        items = "".join(f"<li value='{int(line.line)}' style='margin:0.1em 0'>{e(line.text)}"
                        f"{_flag_html(line.flags)}{confidence_html(line.confidence)}</li>"
                        for line in result.lines) or "<li style='list-style:none'><i>no text lines found</i></li>"
        parts.append(
            f"<div style='margin:0.8em 0'><b>{e(title)}</b>: {len(result.lines)} line(s) found"
            "<div style='display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap;text-align:left'>"
            f"<img src='{image_to_data_uri(drawn, max_width=max_width)}' alt='{e(title)}' "
            f"style='max-width:{max_width}px;border:1px solid rgba(128,128,128,0.5)'>"
            f"<ol style='font-family:monospace;margin:0;padding-left:2.5em;text-align:left'>{items}</ol></div></div>")
    return "".join(parts)


def rejected_summary_html(report: DataReport) -> str:
    """HTML table of rejection reasons with counts and how to fix them.

    Args:
        report: A ``DataReport``.

    Returns:
        An HTML fragment.
    """
    if not report.rejected:
        return "<p>No rows were rejected.</p>"
    counts = Counter(r.reason for r in report.rejected)
    example = {}
    for r in report.rejected:
        example.setdefault(r.reason, r.fix)
    rows = [{"reason": reason, "count": n, "fix": FIXES.get(reason, example[reason])}
            for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return table_html(rows, {"reason": "reason", "count": "rows", "fix": "how to fix"},
                      caption=f"{len(report.rejected)} rejected rows (all listed in rejected.csv)")


#: Reasons whose image is never opened for a preview (not found, outside the root, or too large to decode safely).
_NO_PREVIEW = ("path_escapes_root", "too_large", "missing_file")


def rejected_thumbnails_html(report: DataReport, max_items: int = 24) -> str:
    """HTML gallery of rejected rows: a thumbnail where the image can be opened, file:line and reason.

    The thumbnail comes from the file each rejection records (the page, for a line cut out of one);
    images whose path escapes the root, that were never found, or that were too large, are never opened.

    Args:
        report: A ``DataReport``.
        max_items: Most rows shown.

    Returns:
        An HTML fragment.
    """
    if not report.rejected:
        return ""  # rejected_summary_html already says so
    cells = []
    for r in report.rejected[:max_items]:
        uri = None
        if r.resolved and r.reason not in _NO_PREVIEW:
            uri = thumbnail_data_uri(Path(r.resolved))
        img_html = (f"<img src='{uri}' style='max-width:480px'>" if uri
                    else "<div style='opacity:0.6'>(no preview)</div>")
        cells.append(
            "<div style='margin:6px 0;padding:4px;border:1px solid rgba(128,128,128,0.35)'>"
            f"{img_html}<div><code>{html.escape(Path(r.source).name)}:{r.line}</code> "
            f"<code>{html.escape(r.image)}</code> <b>{html.escape(r.reason)}</b> "
            f"{html.escape(r.fix)}</div></div>")
    more = len(report.rejected) - max_items
    tail = f"<p>... and {more} more (see rejected.csv).</p>" if more > 0 else ""
    return "<div>" + "".join(cells) + tail + "</div>"


def model_view_html(summary: ViewSummary, n: int = 6, stored_width: int = 480) -> str:
    """Lines side by side as stored and as the model gets them, the lowest writing first.

    The stored line is shown at most ``stored_width`` px wide; the model's view at
    its true pixel size (no smoothing), so what is lost to the fitting shows.
    """
    if not summary.views:
        return "<p>No lines to show.</p>"
    order = sorted(range(len(summary.views)), key=lambda i: (summary.views[i].text_height, i))[:n]
    cell = "padding:4px 8px;text-align:left;vertical-align:top;border-top:1px solid #ccc"
    rows = []
    for i in order:
        v = summary.views[i]
        stored = image_to_data_uri(v.stored, max_width=stored_width)
        seen = image_to_data_uri(v.image, max_width=0)
        note = html.escape(v.describe())
        rows.append(
            f"<tr><td style='{cell}'>{html.escape(summary.ids[i])}<br><span style='font-family:monospace'>"
            f"{html.escape(summary.texts[i])}</span></td>"
            f"<td style='{cell}'><img src='{stored}'></td>"
            f"<td style='{cell}'><img src='{seen}' style='image-rendering:pixelated;max-width:none'>"
            f"<br><small>{note}</small></td></tr>")
    head = (f"<tr><th style='{cell}'>line</th><th style='{cell}'>as stored</th>"
            f"<th style='{cell}'>as the model gets it (true pixel size)</th></tr>")
    return (f"<p><b>{len(order)} of {len(summary.views)} lines, the lowest writing first</b> "
            f"({html.escape(summary.source)})</p><table style='border-collapse:collapse'>{head}{''.join(rows)}</table>")
