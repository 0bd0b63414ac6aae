"""The corrector: checks journaled as they are made, picked up in a new process, saved as lines 01_data trains on."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import helpers
from inkwell.data.corrections import JOURNAL_NAME, LABELS_NAME, LATER_FOLDER, Check, read_journal
from inkwell.core.csvsafe import read_frame
from inkwell.data.dataset import load_processed, prepare_dataset
from inkwell.reading.demo import DemoReading, PageResult
from inkwell.reading.pages import synthetic_page
from inkwell.reading.readings import LineReading, save_readings
from inkwell.data.sources import SourcePage

#: Confidences of the page's three lines and of the line image: least sure first is line 2, the line image, 3, 1.
PAGE_CONFIDENCES = [0.9, 0.2, 0.6]
LINE_CONFIDENCE = 0.4


def _reading(tmp_path: Path, name: str = "readings", seed: int = 2) -> DemoReading:
    """A saved reading of one synthetic page (3 lines) and one line image, as read_scan leaves it."""
    made = synthetic_page(3, size=(900, 600), seed=seed)
    page = SourcePage(tmp_path / "letter.png", 1, made.image)
    line_image = SourcePage(tmp_path / "one line.png", 1, made.image.crop(made.boxes[0]))
    lines = [LineReading(page.name, page.file, 1, k + 1,
                         [(left - 4, top - 4), (right + 4, top - 4), (right + 4, bottom + 4), (left - 4, bottom + 4)],
                         f"read {k + 1}", confidence=conf)
             for k, ((left, top, right, bottom), conf) in enumerate(zip(made.boxes, PAGE_CONFIDENCES))]
    whole = LineReading.whole(line_image, "read alone", confidence=LINE_CONFIDENCE)
    reading = DemoReading("auto", [PageResult(page, False, lines), PageResult(line_image, True, [whole])])
    reading.folder = save_readings([page, line_image], reading.lines, tmp_path / name).folder
    return reading


def _enter(corrector, text: str | None = None, action: str = "check") -> None:
    """What the browser sends on Enter (or another key): one message with the line shown and the box's text."""
    line = corrector.editor.line
    corrector.editor.send_action(action, line["key"], line["text"] if text is None else text)


def test_corrector_journals_each_check_and_saves_only_checked_lines(tmp_path: Path, home: Path) -> None:
    reading = _reading(tmp_path)
    corrector = helpers.make_corrector(reading, order="confidence", name="mine")
    assert [ln.confidence for ln in corrector.lines] == [0.2, LINE_CONFIDENCE, 0.6, 0.9]  # least sure first
    assert corrector.lines[1].where == "one line.png" and corrector.lines[0].where == "letter.png, line 2"
    assert corrector.shown_text == "read 2" and corrector.position == 0

    _enter(corrector, "fixed two")  # edited + Enter: corrected, and the next line opens
    assert corrector.position == 1 and corrector.shown_text == "read alone"
    _enter(corrector)  # Enter alone: accepted as read
    corrector.correct(3, "  ")  # emptied: the line holds no text
    journal = (reading.folder / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
    entries = [json.loads(e) for e in journal]
    assert entries[0]["event"] == "order" and entries[0]["keys"] == [ln.key for ln in corrector.lines]  # as seen
    assert [e["status"] for e in entries[1:]] == ["corrected", "accepted", "no_text"]
    assert corrector.counts() == {"lines": 4, "checked": 3, "corrected": 1, "accepted": 1, "no_text": 1}
    assert "3 of 4 lines checked" in corrector.header.value and "3 of 4 lines checked" in corrector.describe()
    static = corrector.static_html()
    assert "3 of 4 lines checked" in static and "as corrected" in static and "<ins" in static and "iw-static" in static

    # a new process on the readings folder: the same checks, and the first line not checked yet opens
    code = ("import json, sys, helpers; c = helpers.make_corrector(sys.argv[1]); "
            "print(json.dumps([c.counts(), c.lines[c.position].key, c.lines[0].key, c.shown_text]))")
    done = subprocess.run([sys.executable, "-c", code, str(reading.folder)], capture_output=True, text=True,
                          timeout=120, cwd=helpers.PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    counts, shown, first, text = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts == corrector.counts() and shown == "letter:3" and first == "letter:2" and text == "read 3"

    saved = corrector.save("mine")
    assert saved == home / "data" / "raw" / "mine" and corrector.saved.checked == 2 and corrector.saved.later == 2
    labels = read_frame(saved / LABELS_NAME, text_columns=["text", "page", "status"])
    assert sorted(labels["text"]) == ["fixed two", "read alone"]
    assert sorted(labels["status"]) == ["accepted", "corrected"]
    later = read_frame(saved / LATER_FOLDER / "lines.csv", text_columns=["text", "status"])
    assert sorted(later["status"]) == ["no_text", "unchecked"]

    report = prepare_dataset(saved, dataset_name="corrected", output_root=tmp_path / "processed", progress=False)
    assert report.n_accepted == 2 and report.rejected == []
    data = load_processed("corrected", tmp_path / "processed")
    assert sorted(r["text"] for split in data.values() for r in split) == ["fixed two", "read alone"]
    note = next(n for n in report.notes if "holds corrected readings" in n)
    assert "2 checked line(s)" in note and "1 line(s) not checked yet and 1 emptied" in note


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_round_joins_the_first_and_a_line_checked_again_takes_the_new_text(tmp_path: Path, home: Path) -> None:
    first = helpers.make_corrector(_reading(tmp_path, "round-1"), order="page")
    first.correct(0, "first round, line 1")
    first.correct(1, "first round, line 2")
    one = first.save("rounds")
    before = _digest(one)

    second = helpers.make_corrector(_reading(tmp_path, "round-2"), order="page")  # the same page read again
    second.correct(1, "second round, line 2")  # the same line image: the new text wins
    second.accept(3)
    two = second.save("rounds")
    assert two.name == "rounds-2" and _digest(one) == before  # a new folder; the first round is untouched
    assert (second.saved.carried, second.saved.replaced, second.saved.joined) == (1, 1, one)
    texts = sorted(read_frame(two / LABELS_NAME, text_columns=["text"])["text"])
    assert texts == ["first round, line 1", "read alone", "second round, line 2"]
    alone = helpers.make_corrector(_reading(tmp_path, "round-3"))
    alone.accept(0)
    assert alone.save("rounds", join=False).name == "rounds-3" and alone.saved.checked == 1


def test_nothing_to_save_and_bad_names_are_refused(tmp_path: Path, home: Path) -> None:
    corrector = helpers.make_corrector(_reading(tmp_path))
    with pytest.raises(ValueError, match="No line has been checked"):
        corrector.save("empty")
    corrector.accept(0)
    with pytest.raises(ValueError, match="plain folder name"):
        corrector.save("../outside")
    corrector._save_clicked()  # the button shows the problem instead of raising
    corrector.name_box.value = ""
    corrector._save_clicked()
    assert "Not saved" in corrector.status.value
    with pytest.raises(ValueError, match="never saved"):
        helpers.make_corrector(DemoReading("auto", []))
    with pytest.raises(FileNotFoundError, match="readings.csv"):
        helpers.make_corrector(tmp_path)


def test_a_journal_line_cut_short_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    journal = tmp_path / JOURNAL_NAME
    good = json.dumps({"key": "p:1", "text": "a", "status": "corrected", "read": "b", "time": "t"})
    journal.write_text(good + "\n" + '{"key": "p:2", "te', encoding="utf-8")
    checks, notes = read_journal(tmp_path)
    assert checks == {"p:1": Check("p:1", "a", "corrected", "b", "t")} and "line 2" in notes[0]


def test_01_data_points_to_the_loop_when_source_is_empty_or_missing(tmp_path: Path, home: Path) -> None:
    for source, error in (("", ValueError), ("data/raw/not-there", FileNotFoundError)):
        with pytest.raises(error, match="No transcriptions yet"):
            prepare_dataset(source, dataset_name="x", output_root=tmp_path / "p", progress=False)


def test_one_message_holds_the_text_and_a_stale_one_checks_nothing(tmp_path: Path, home: Path) -> None:
    """The browser sends the action, the line and the text together: the check holds exactly that text; a message
    pressed on a line no longer shown checks nothing (it only shows the current line again)."""
    corrector = helpers.make_corrector(_reading(tmp_path), order="confidence", name="mine")
    first, second = corrector.lines[0], corrector.lines[1]
    serial = corrector.editor.line["serial"]
    corrector.editor.send_action("check", first.key, "fixed two ſ")
    assert corrector.checks[first.key].text == "fixed two ſ" and corrector.position == 1
    corrector.editor.send_action("check", first.key, "a repeated Enter on the old line")  # stale: nothing checked
    assert corrector.checks[first.key].text == "fixed two ſ" and second.key not in corrector.checks
    assert corrector.position == 1 and corrector.editor.line["serial"] > serial + 1  # answered: the browser unlocks
    assert corrector.editor.line["key"] == second.key and corrector.shown_text == second.read
    import inkwell.views.corrector as module
    assert not hasattr(module, "SETTLE_SECONDS") and not hasattr(module, "REPEAT_SECONDS")


def test_up_down_keep_typing_not_text_and_versions(tmp_path: Path, home: Path) -> None:
    corrector = helpers.make_corrector(_reading(tmp_path), order="page", name="mine")
    keys = [ln.key for ln in corrector.lines]
    _enter(corrector, "half typed", action="next")  # Down: no check, the typing is kept as a draft
    assert corrector.position == 1 and keys[0] not in corrector.checks
    _enter(corrector, action="back")  # Up
    assert corrector.position == 0 and corrector.shown_text == "half typed"
    _enter(corrector)  # Enter: the draft is what is checked
    assert corrector.checks[keys[0]].text == "half typed"
    _enter(corrector, action="not_text")  # Alt+N on the second line
    assert corrector.checks[keys[1]].status == "no_text" and corrector.position == 2
    boxes = {b["key"]: b["state"] for b in corrector.editor.boxes}
    assert boxes[keys[0]] == "corrected" and boxes[keys[1]] == "no_text" and boxes[keys[2]] == "unchecked"
    corrector.editor.send_action("open", corrector.editor.line["key"], corrector.shown_text, target=keys[0])  # a click
    assert corrector.position == 0
    _enter(corrector, "typed again")
    assert corrector.versions(keys[0]) == ["read 1", "half typed", "typed again"]
    saved = corrector.save("keys", join=False)
    labels = read_frame(saved / LABELS_NAME, text_columns=["text", "status"])
    assert list(labels["text"]) == ["typed again"]  # the not-text line stays out of training
    later = read_frame(saved / LATER_FOLDER / "lines.csv", text_columns=["text", "status"])
    assert "no_text" in set(later["status"])
    page = (saved / "pages" / "letter.xml").read_text(encoding="utf-8")  # the page as corrected, for Transkribus
    assert page.count("<TextLine") == 3 and page.count("structure {type:not-text;}") == 1
    assert "typed again" in page and "read 3" in page and "../../../../readings/letter.png" not in page
    assert "letter.png" in page


def test_the_order_a_person_saw_is_kept_after_a_restart(tmp_path: Path, home: Path) -> None:
    """readings.csv rounds confidences to 4 decimals: ties there must not reorder the lines a person saw."""
    made = synthetic_page(4, size=(900, 700), seed=3)
    page = SourcePage(tmp_path / "ties.png", 1, made.image)
    confidences = [0.500004, 0.500001, 0.500003, 0.500002]  # all 0.5 at 4 decimals
    lines = [LineReading(page.name, page.file, 1, k + 1, [(l, t), (r, t), (r, b), (l, b)], f"read {k + 1}",
                         confidence=c) for k, ((l, t, r, b), c) in enumerate(zip(made.boxes, confidences))]
    reading = DemoReading("pages", [PageResult(page, False, lines)])
    reading.folder = save_readings([page], reading.lines, tmp_path / "ties").folder
    seen = [ln.key for ln in helpers.make_corrector(reading).lines]
    assert seen == ["ties:2", "ties:4", "ties:3", "ties:1"]
    assert [ln.key for ln in helpers.make_corrector(reading.folder).lines] == seen


def test_join_two_boxes_of_one_line(tmp_path: Path, home: Path) -> None:
    reading = _reading(tmp_path)
    corrector = helpers.make_corrector(reading, order="page")
    assert corrector.editor.line["can_join"] and corrector.lines[0].key == "letter:1"
    _enter(corrector, action="join")  # Alt+J on line 1: it and line 2 become one line
    joined = corrector.lines[corrector.position]
    assert joined.key == "letter:1+2" and joined.read == "read 1 read 2" and len(corrector.lines) == 3
    xs = [x for x, _ in joined.polygon]
    assert joined.image.width >= max(xs) - min(xs) - 2
    _enter(corrector, "one line now")
    again = helpers.make_corrector(reading.folder, order="page")  # the journal keeps the join
    assert [ln.key for ln in again.lines] == ["letter:1+2", "letter:3", "one_line:1"]
    assert again.checks["letter:1+2"].text == "one line now"
    saved = again.save("joined", join=False)
    assert sorted(read_frame(saved / LABELS_NAME, text_columns=["text"])["text"]) == ["one line now"]


def test_palette_and_the_models_cer_on_checked_lines(tmp_path: Path, home: Path) -> None:
    from inkwell.views.corrector import palette_of

    assert palette_of(["aſb æ", "ſ ¶"], "ꝑ⁊") == ["ꝑ", "⁊", "ſ", "æ", "¶"]
    assert palette_of(["e\u0301"], ["q\u0303"]) == ["q\u0303", "\u0301"]
    corrector = helpers.make_corrector(_reading(tmp_path), order="page", palette="ꝑ")
    assert corrector.palette == ["ꝑ"]
    assert corrector.model_report() is None
    corrector.correct(0, "read 1")  # exact
    corrector.correct(1, "read 9")  # one edit in 6 characters
    corrector.not_text(2)
    report = corrector.model_report()
    assert report.lines == 2 and report.not_text == 1 and abs(report.cer - 1 / 12) < 1e-9
    assert report.low <= report.cer <= report.high and report.pages[0][:2] == ("letter", 2)
    assert "CER 8.3%" in report.describe() and "95% interval" in corrector.report.value
    assert "CER 8.3%" in corrector.static_html()


def test_the_save_message_says_when_checks_came_after_it(tmp_path: Path, home: Path) -> None:
    corrector = helpers.make_corrector(_reading(tmp_path), order="page", name="mine")
    corrector.accept(0)
    corrector.save("mine")
    assert "since" not in corrector.status.value and "\u2714" in corrector.status.value
    corrector.correct(1, "later")
    assert "1 check(s) since, not in it yet: save again to include them." in corrector.status.value


def test_a_sideways_line_is_shown_upright_in_the_corrector_after_a_restart(tmp_path: Path) -> None:
    """A note written up the margin (a baseline up the page) is cut upright for checking, from the reading and from
    the readings folder alike, as the demo cut it for decoding."""
    page_image = Image.new("RGB", (400, 600), (235, 225, 200))
    page = SourcePage(tmp_path / "will.png", 1, page_image, "will")
    tall = [(20, 100), (60, 100), (60, 500), (20, 500)]
    up = [(48, 500), (48, 100)]
    lines = [LineReading("will", page.file, 1, 1, tall, "a note", baseline=up),
             LineReading("will", page.file, 1, 2, [(100, 100), (380, 100), (380, 140), (100, 140)], "a line")]
    reading = DemoReading("pages", [PageResult(page, False, lines)])
    saved = save_readings([page], lines, tmp_path / "readings")
    for source in (reading, saved.folder):
        shown = {line.key: line.image for line in lines_of(source)}
        note = shown["will:1"]
        assert note.width > 5 * note.height  # turned upright: 400 x 40, not 40 x 400
        assert shown["will:2"].width > shown["will:2"].height


def lines_of(source: object) -> list:
    from inkwell.views.corrector import lines_of_folder, lines_of_reading

    return lines_of_reading(source) if isinstance(source, DemoReading) else lines_of_folder(source)
