"""Tests for inkwell.core.progress: the final line, the text bar outside a notebook, and the notebook bar's hand-over."""

from __future__ import annotations

from typing import Any

import pytest
from tqdm.std import tqdm as std_tqdm

import inkwell.core.progress as progress
from inkwell.core.progress import NotebookBar, final_line, progress_bar


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
        assert type(bar) is std_tqdm
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
