"""Tests for inkwell.widgets: the inspector, driven headless."""

from builders import SAMPLE_IDS, sample_evaluation

from inkwell.widgets import make_inspector


def _shown_id(box):
    return next(i for i in SAMPLE_IDS if f">{i}<" in box.html.value)


def test_inspector_headless():
    ev, images = sample_evaluation()
    box = make_inspector(images, ev)
    assert box.count_label.value == "1 of 5"
    assert _shown_id(box) == "s1"  # worst
    first = box.html.value
    box.next_button.click()
    assert box.html.value != first
    assert _shown_id(box) == "s3"  # second worst
    assert box.count_label.value == "2 of 5"
    box.prev_button.click()
    assert _shown_id(box) == "s1"
    box.slider.value = 4
    assert _shown_id(box) == "s2" and box.count_label.value == "5 of 5"

    box.filter_text.value = "klmn"  # s1 ("klmnopqrst") and s3 ("efghijklmn")
    assert box.count_label.value == "1 of 2"
    assert box.current_ids == ["s1", "s3"]
    box.filter_text.value = ""
    assert box.count_label.value == "1 of 5"

    box.min_cer.value = 0.35  # baseline CER 0.5 (s1), 0.4 (s3)
    assert box.current_ids == ["s1", "s3"]
    box.min_cer.value = 0.0

    assert "baseline" in box.html.value and "finetuned" in box.html.value
    box.systems.value = ("finetuned",)
    assert "baseline" not in box.html.value and "finetuned" in box.html.value
    # sort order now follows finetuned only: s3 (2 errors), s1 (1), then ties in input order
    assert box.current_ids == ["s3", "s1", "s0", "s2", "s4"]

    box.filter_text.value = "no such text"
    assert box.count_label.value == "0 of 0"
    assert "No samples" in box.html.value
