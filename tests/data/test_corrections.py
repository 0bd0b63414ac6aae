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


def _enter(corrector, text: str | None = None) -> None:
    """What typing into the box and pressing Enter does in a browser: the value syncs, then a submit message."""
    if text is not None:
        corrector.text.value = text
    corrector.text._handle_custom_msg({"event": "submit"}, [])


def test_corrector_journals_each_check_and_saves_only_checked_lines(tmp_path: Path, home: Path) -> None:
    reading = _reading(tmp_path)
    corrector = helpers.make_corrector(reading, order="confidence", name="mine")
    assert [ln.confidence for ln in corrector.lines] == [0.2, LINE_CONFIDENCE, 0.6, 0.9]  # least sure first
    assert corrector.lines[1].where == "one line.png" and corrector.lines[0].where == "letter.png, line 2"
    assert corrector.text.value == "read 2" and corrector.position == 0

    _enter(corrector, "fixed two")  # edited + Enter: corrected, and the next line opens
    assert corrector.position == 1 and corrector.text.value == "read alone"
    _enter(corrector)  # Enter alone: accepted as read
    corrector.correct(3, "  ")  # emptied: the line holds no text
    journal = (reading.folder / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
    assert [json.loads(e)["status"] for e in journal] == ["corrected", "accepted", "no_text"]
    assert corrector.counts() == {"lines": 4, "checked": 3, "corrected": 1, "accepted": 1, "no_text": 1}
    assert "3 of 4 lines checked" in corrector.header.value and "3 of 4 lines checked" in corrector.describe()
    static = corrector.static_html()
    assert "3 of 4 lines checked" in static and "as corrected" in static and "<ins" in static and "iw-static" in static

    # a new process on the readings folder: the same checks, and the first line not checked yet opens
    code = ("import json, sys, helpers; c = helpers.make_corrector(sys.argv[1]); "
            "print(json.dumps([c.counts(), c.lines[c.position].key, c.lines[0].key, c.text.value]))")
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


def test_enter_waits_for_the_keystrokes_it_overtook(tmp_path: Path, home: Path) -> None:
    """In a browser, Enter can reach the kernel before the last characters typed: they must still be the ones saved."""
    import asyncio

    from inkwell.views.corrector import SETTLE_SECONDS

    reading = _reading(tmp_path)
    corrector = helpers.make_corrector(reading, order="confidence", name="mine")
    first, second = corrector.lines[0], corrector.lines[1]

    async def type_fast() -> None:
        corrector.text.value = "fixed tw"  # the keystrokes that arrived
        corrector.text._handle_custom_msg({"event": "submit"}, [])  # Enter, overtaking the last one
        corrector.text._handle_custom_msg({"event": "submit"}, [])  # and a second Enter on the same line
        corrector.text.value = "fixed two"  # the last keystroke, held back by the browser until the kernel is idle
        assert first.key not in corrector.checks  # nothing checked before the held updates could arrive
        await asyncio.sleep(SETTLE_SECONDS + 0.2)

    asyncio.run(type_fast())
    assert corrector.checks[first.key].text == "fixed two"
    assert second.key not in corrector.checks  # the second Enter did not check the next line
    assert corrector.position == 1 and corrector.text.value == second.read  # the next line shows its own reading

    async def enter_again() -> None:  # a third Enter just after the next line opened: the browser may not show it yet
        corrector.text._handle_custom_msg({"event": "submit"}, [])
        await asyncio.sleep(SETTLE_SECONDS + 0.2)

    asyncio.run(enter_again())
    assert second.key not in corrector.checks and corrector.position == 1


def test_the_save_message_says_when_checks_came_after_it(tmp_path: Path, home: Path) -> None:
    corrector = helpers.make_corrector(_reading(tmp_path), order="page", name="mine")
    corrector.accept(0)
    corrector.save("mine")
    assert "since" not in corrector.status.value and "\u2714" in corrector.status.value
    corrector.correct(1, "later")
    assert "1 check(s) since, not in it yet: save again to include them." in corrector.status.value
