"""Tests for inkwell.core.progress: the final and running lines, the text bar outside a notebook, the notebook bar's
hand-over, the console lines a quickstart shows, and the machine's load."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from tqdm.std import tqdm as std_tqdm

import inkwell.core.progress as progress
from inkwell.core.progress import MachineLoad, NotebookBar, TextBar, final_line, progress_bar, status_line


@pytest.mark.parametrize("args,expected", [
    (("decoding base", 56, 56, "line", 12.34), "decoding base: 56/56 lines in 12.3 s"),
    (("decoding nb", 1, 1, "line", 0.04), "decoding nb: 1/1 line in 0.0 s"),
    (("training", 40, 100, "step", 8.1, "loss=0.1234"), "training: stopped at 40/100 steps after 8.1 s, loss=0.1234"),
    (("checking images", 3, 3, "image", 125.0), "checking images: 3/3 images in 2 min 05 s"),
    (("Loading weights", 57, 57, "it", 3725.0), "Loading weights: 57/57 in 1 h 02 min"),
    (("reading", 7, None, "line", 1.0), "reading: 7 lines in 1.0 s"),
])
def test_final_line(args: tuple, expected: str) -> None:
    assert final_line(*args) == expected


def test_outside_a_notebook_it_is_a_text_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert not progress.in_notebook()
    with progress_bar(3, "decoding base", "line") as bar:
        assert type(bar) is TextBar and isinstance(bar, std_tqdm)
        bar.update(3)
    err = capsys.readouterr().err
    assert "decoding base" in err and "3/3" in err
    with progress_bar(3, "hidden", "line", disable=True) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


class FakeHandle:
    def __init__(self, obj: Any) -> None:
        self.shown = [obj]

    def update(self, obj: Any, raw: bool = False) -> None:
        assert raw
        self.shown.append(obj)


@pytest.fixture
def fake_notebook(monkeypatch: pytest.MonkeyPatch) -> list[FakeHandle]:
    """A kernel that shows ipywidgets; every display() call lands in the returned list."""
    handles: list[FakeHandle] = []

    def display(obj: Any, display_id: bool = False) -> FakeHandle:
        assert display_id is True, "the bar must be shown through a handle it can replace"
        handles.append(FakeHandle(obj))
        return handles[-1]

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "display", display)
    return handles


def test_notebook_bar_leaves_its_final_line(fake_notebook: list[FakeHandle]) -> None:
    with progress_bar(4, "decoding nb", "line") as bar:
        assert isinstance(bar, NotebookBar)
        assert len(fake_notebook) == 1 and fake_notebook[0].shown[0] is bar.container
        bar.update(4)
    (handle,) = fake_notebook
    final = handle.shown[-1]
    assert final["text/plain"].startswith("decoding nb: 4/4 lines in ")
    assert final["text/plain"] in final["text/html"] and "<div" in final["text/html"]
    assert bar.container.comm is None  # the widget is closed once its output is replaced


def test_notebook_bar_interrupted_and_iterated(fake_notebook: list[FakeHandle]) -> None:
    bar = progress_bar(10, "training", "step")
    bar.update(3)
    bar.set_postfix(loss="0.5000", refresh=False)
    bar.close()
    bar.close()  # a second close changes nothing
    assert fake_notebook[0].shown[-1]["text/plain"].startswith("training: stopped at 3/10 steps after ")
    assert fake_notebook[0].shown[-1]["text/plain"].endswith(", loss=0.5000")
    assert len(fake_notebook[0].shown) == 2
    assert list(progress_bar(3, "rendering", "line", iterable=range(3))) == [0, 1, 2]
    assert fake_notebook[1].shown[-1]["text/plain"].startswith("rendering: 3/3 lines in ")
    progress_bar(3, "off", "line", disable=True).close()
    assert len(fake_notebook) == 2  # a disabled bar shows nothing


def test_transformers_bars_are_routed_while_loading(fake_notebook: list[FakeHandle]) -> None:
    from transformers.utils import logging as hf_logging

    from inkwell.models.loading import library_bars

    with library_bars():
        for _ in hf_logging.tqdm({"a": 1, "b": 2}.items(), desc="Loading weights"):
            pass
    assert fake_notebook[0].shown[-1]["text/plain"].startswith("Loading weights: 2/2 in ")
    hf_logging.disable_progress_bar()
    try:
        with library_bars():
            list(hf_logging.tqdm(range(2), desc="off"))
    finally:
        hf_logging.enable_progress_bar()
    assert len(fake_notebook) == 1  # transformers' own switch is respected
    assert type(hf_logging.tqdm(range(1), disable=True)) is not NotebookBar  # the hook is gone after the block


@pytest.mark.parametrize("args,expected", [
    (("training", 120, 2500, "step", 50.0), "training: 120/2500 steps (5%), 2.40 steps/s, 16 min 32 s left"),
    (("training", 0, 2500, "step", 4.0), "training: 0/2500 steps (0%), started 4.0 s ago"),
    (("decoding base", 8, 56, "line", 16.0, 0, "x=1"), "decoding base: 8/56 lines (14%), 2.00 s/line, 1 min 36 s left, x=1"),
    # a resumed run: the 100 steps done before it opened are not in the rate
    (("training", 150, 300, "step", 10.0, 100), "training: 150/300 steps (50%), 5.00 steps/s, 30.0 s left"),
    (("reading", 7, None, "line", 1.0), "reading: 7 lines, 7.00 lines/s"),
])
def test_status_line(args: tuple, expected: str) -> None:
    assert status_line(*args) == expected


def read_console(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_bar_writes_console_lines_every_few_seconds_with_a_measured_time_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "console.jsonl"
    monkeypatch.setenv(progress.CONSOLE_LOG_ENV, str(log))
    monkeypatch.setenv(progress.CONSOLE_EVERY_ENV, "0.2")
    step = 0.05
    with progress_bar(30, "training", "step") as bar:
        for _ in range(30):
            time.sleep(step)  # a steady step: the estimate must match what is left
            bar.update(1)
    end = time.time()
    records = read_console(log)
    lines = [r for r in records if r["kind"] == "progress"]
    assert len(lines) >= 4, records
    assert [r["kind"] for r in records][-1] == "final" and records[-1]["text"].startswith("training: 30/30 steps in ")
    for r in lines:
        m = re.search(r": (\d+)/30 steps .* ([\d.]+) s left", r["text"])
        assert m, r["text"]
        real = end - r["t"]
        if int(m[1]) >= 3 and real > 0.3:
            assert abs(float(m[2]) - real) <= 0.5 * real, (r, real)
    stamps = [r["t"] for r in records]
    assert max(b - a for a, b in zip(stamps, stamps[1:])) < 0.6  # a line every interval, not only at the end


def test_a_slow_step_still_leaves_lines_and_short_bars_stay_quiet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "console.jsonl"
    monkeypatch.setenv(progress.CONSOLE_LOG_ENV, str(log))
    monkeypatch.setenv(progress.CONSOLE_EVERY_ENV, "0.1")
    with progress_bar(2, "validating", "line") as bar:
        time.sleep(0.45)  # one long item: the thread writes while the work is stuck in it
        bar.update(2)
    texts = [r["text"] for r in read_console(log)]
    assert sum(t.startswith("validating: 0/2 lines (0%), started ") for t in texts) >= 2, texts
    log.unlink()
    monkeypatch.setenv(progress.CONSOLE_EVERY_ENV, "5")
    with progress_bar(2, "quick", "line") as bar:
        bar.update(2)
    assert not log.exists()  # a bar done before its first line leaves the console alone
    monkeypatch.delenv(progress.CONSOLE_LOG_ENV)
    with progress_bar(2, "unwatched", "line") as bar:
        assert bar._echo is None  # no console file: no thread


def test_notebook_bar_writes_the_same_console_lines(
        fake_notebook: list[FakeHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "console.jsonl"
    monkeypatch.setenv(progress.CONSOLE_LOG_ENV, str(log))
    monkeypatch.setenv(progress.CONSOLE_EVERY_ENV, "0.1")
    with progress_bar(4, "decoding nb", "line") as bar:
        time.sleep(0.25)
        bar.update(4)
    records = read_console(log)
    assert records[-1]["text"] == fake_notebook[0].shown[-1]["text/plain"]  # the console ends as the notebook does


@pytest.mark.parametrize("load,busy", [(0.6, False), (2.4, False), (2.6, True), (7.9, True)])
def test_machine_load_says_when_cpu_training_slows(load: float, busy: bool) -> None:
    m = MachineLoad(cores=2, load=load, threads=2, omp_num_threads="2")
    assert m.busy is busy
    text = m.text()
    assert text.startswith(f"CPU: 2 cores, load {load:.1f}, torch threads 2 (OMP_NUM_THREADS=2)")
    assert ("several times slower" in text) is busy
    assert "OMP_NUM_THREADS unset" in MachineLoad(4, 0.0, 4).text()
    now = progress.machine_load(3)
    assert now is None or (now.threads == 3 and now.cores >= 1 and now.load >= 0)


def test_show_note_goes_to_the_console_and_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "console.jsonl"
    monkeypatch.setenv(progress.CONSOLE_LOG_ENV, str(log))
    assert progress.show_note("CPU: 2 cores") is None
    assert capsys.readouterr().err == "CPU: 2 cores\n"
    assert read_console(log)[0]["kind"] == "note" and read_console(log)[0]["text"] == "CPU: 2 cores"
