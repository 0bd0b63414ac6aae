"""Tests for inkwell.views.widgets: the inspector, driven headless, and its static copy."""

import pytest
from builders import SAMPLE_IDS, sample_evaluation

from inkwell.views.widgets import STATIC_CLASS, make_inspector


def _shown_id(box):
    return next(i for i in SAMPLE_IDS if f">{i}<" in box.html.value)


def test_inspector_opens_on_the_focus_systems_worst_line():
    """The base model's runaway lines must not decide the order: the adapter's own failures come first."""
    ev, images = sample_evaluation()  # baseline errors 2,5,1,4,3; finetuned errors 0,1,0,2,0
    box = make_inspector(images, ev)  # default focus: the last system
    assert box.sort_by.value == "finetuned"
    assert box.current_ids == ["s3", "s1", "s0", "s2", "s4"]
    assert _shown_id(box) == "s3" and "(focus)" in box.html.value
    base_first = make_inspector(images, ev, focus="baseline")
    assert _shown_id(base_first) == "s1"
    with pytest.raises(ValueError, match="finetuned"):
        make_inspector(images, ev, focus="nope")


def test_inspector_headless():
    ev, images = sample_evaluation()
    box = make_inspector(images, ev, focus="baseline")
    assert box.count_label.value.startswith("1 of 5")
    assert _shown_id(box) == "s1"  # baseline's worst
    first = box.html.value
    box.next_button.click()
    assert box.html.value != first
    assert _shown_id(box) == "s3"  # second worst
    assert box.count_label.value.startswith("2 of 5")
    box.prev_button.click()
    assert _shown_id(box) == "s1"
    box.slider.value = 4
    assert _shown_id(box) == "s2" and box.count_label.value.startswith("5 of 5")

    box.filter_text.value = "klmn"  # s1 ("klmnopqrst") and s3 ("efghijklmn")
    assert box.count_label.value.startswith("1 of 2")
    assert box.current_ids == ["s1", "s3"]
    box.filter_text.value = ""
    assert box.count_label.value.startswith("1 of 5")

    box.min_cer.value = 0.35  # baseline CER 0.5 (s1), 0.4 (s3)
    assert box.current_ids == ["s1", "s3"]
    box.min_cer.value = 0.0

    assert "baseline" in box.html.value and "finetuned" in box.html.value
    box.systems.value = ("finetuned",)
    assert "baseline" not in box.html.value and "finetuned" in box.html.value
    box.sort_by.value = "worst of shown"  # the highest CER among the shown systems: finetuned alone
    assert box.current_ids == ["s3", "s1", "s0", "s2", "s4"]

    box.filter_text.value = "no such text"
    assert box.count_label.value == "0 of 0"
    assert "No samples" in box.html.value


def test_static_copy_and_text_form():
    """A notebook read without a kernel shows the first pages as HTML, not a widget error or a VBox repr."""
    ev, images = sample_evaluation()
    box = make_inspector(images, ev)
    static = box.static_html(pages=2)
    assert STATIC_CLASS in static and "first 2 of 5 lines" in static
    assert static.find(">s3<") < static.find(">s1<") and ">s0<" not in static
    assert "data:image/png;base64," in static
    bundle = box._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Inspector: 5 lines sorted by finetuned")
    assert "VBox" not in repr(box)


def test_the_upload_box_promises_no_drop_and_shows_code_as_code():
    import ipywidgets as widgets

    from inkwell.views.widgets import UPLOAD_HINT, make_upload_reader

    box = make_upload_reader(None)  # the reader is used only once files arrive
    assert isinstance(box.status, widgets.HTML) and box.status.value == UPLOAD_HINT
    assert UPLOAD_HINT.startswith("Choose files") and "<code>inputs</code>" in UPLOAD_HINT
    assert "`" not in UPLOAD_HINT and "drop" not in UPLOAD_HINT.lower()
