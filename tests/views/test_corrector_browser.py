"""The corrector in a real browser, in JupyterLab 4 and in Notebook 7: typed at 10 ms a key, saved exactly.

Debian's chromium through pip's playwright (``tests/browserkit.py``); skipped, saying why, only where no browser can
be had. The readings are three synthetic pages of 18 lines (no model: the corrector reads a readings folder), so
each app costs well under a minute. Every key goes through the line editor as a person's would: Ctrl+A and the
new text at 10 ms a key, Alt+1 and a click on the palette, Enter, Up and Down, Escape, Alt+N; then the Save button.
The saved folder must hold exactly what was typed, and no key may have reached the notebook's shortcuts (the cells
and their kinds unchanged: ``a``/``b`` would add a cell, ``d d`` delete one, ``m`` make it markdown).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from browserkit import browser_missing, chromium_page, jupyter_server

from inkwell.core.csvsafe import read_frame
from inkwell.data.corrections import JOURNAL_NAME, LABELS_NAME, LATER_FOLDER, LATER_NAME
from inkwell.reading.pages import synthetic_page
from inkwell.reading.readings import LineReading, save_readings
from inkwell.data.sources import SourcePage

ROOT = Path(__file__).resolve().parents[2]
PAGES, LINES_PER_PAGE, TO_CORRECT = 3, 18, 50
PALETTE = "ſꝑ"  # the notebook's own list: Alt+1 inserts ſ, the second button ꝑ

pytestmark = pytest.mark.skipif(browser_missing() is not None, reason=f"no browser: {browser_missing()}")


def _readings(root: Path) -> Path:
    """A readings folder of 3 pages x 18 lines with distinct confidences (least sure first mixes the pages)."""
    pages, lines = [], []
    for p in range(PAGES):
        made = synthetic_page(LINES_PER_PAGE, size=(900, 1500), line_height=40, seed=10 + p)
        page = SourcePage(root / f"page{p + 1}.png", 1, made.image)
        pages.append(page)
        for k, (left, top, right, bottom) in enumerate(made.boxes):
            confidence = ((p * LINES_PER_PAGE + k) * 7919 % 997) / 1000
            lines.append(LineReading(page.name, page.file, 1, k + 1,
                                     [(left, top), (right, top), (right, bottom), (left, bottom)],
                                     f"read {p + 1}.{k + 1}", confidence=confidence))
    assert len(lines) == PAGES * LINES_PER_PAGE
    return save_readings(pages, lines, root / "readings").folder


def _notebook(path: Path, readings: Path, name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        f"import helpers\ncorrector = helpers.make_corrector({str(readings)!r}, name={name!r}, palette={PALETTE!r})\n"
        "corrector.show()"),
        nbformat.v4.new_markdown_cell("The end."), nbformat.v4.new_code_cell("after = 1")]
    nbformat.write(nb, path)


def _cells(page) -> list[tuple[str, str]]:
    """The notebook's cells as the page shows them: (kind, source)."""
    return page.evaluate("""() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c => [
        c.classList.contains('jp-MarkdownCell') ? 'markdown' : (c.classList.contains('jp-CodeCell') ? 'code' : 'raw'),
        (c.querySelector('.jp-InputArea-editor .cm-content') || {}).textContent || ''])""")


def _active(page) -> int:
    """The index of the notebook's active cell."""
    return page.evaluate("() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')]"
                         ".findIndex(c => c.classList.contains('jp-mod-active'))")


def _shown(page) -> tuple[str, str]:
    return tuple(page.eval_on_selector(".iw-ed", "e => [e.dataset.key, e.dataset.serial]"))


def _wait_answer(page, serial: str) -> str:
    """Wait for the kernel's answer to the last action (a new serial); returns the key shown."""
    page.wait_for_function("s => document.querySelector('.iw-ed').dataset.serial !== s", arg=serial, timeout=20000)
    return _shown(page)[0]


def _drive(app: str, tmp_path: Path, home: Path) -> dict[str, object]:
    readings = _readings(tmp_path)
    name = f"typed-{app}"
    _notebook(tmp_path / "correct.ipynb", readings, name)
    env = {"PYTHONPATH": str(ROOT), "INKWELL_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    expected: dict[str, tuple[str, str]] = {}  # key -> (status, text)
    typed_chars = 0
    with jupyter_server(tmp_path, app=app, env=env) as server, chromium_page() as page:
        page.goto(server.url("correct.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=60000)
        assert server.kernels_idle(), "the notebook's kernel did not start"
        page.wait_for_function("() => [...document.querySelectorAll('.jp-Notebook .jp-Cell .cm-content')]"
                               ".filter(c => c.textContent.trim()).length === 3", timeout=30000)  # every cell drawn
        before = _cells(page)
        assert [kind for kind, _ in before] == ["code", "markdown", "code"]
        page.click(".jp-Notebook .jp-Cell .cm-content")
        page.keyboard.press("Escape")
        page.keyboard.press("Shift+Enter")  # run the corrector's cell, from the notebook's own command mode
        page.wait_for_selector(".iw-ed[data-key]:not([data-key=''])", timeout=90000)
        page.wait_for_selector(".iw-ed-char", timeout=10000)
        palette = page.eval_on_selector_all(".iw-ed-char", "bs => bs.map(b => b.dataset.char)")
        assert palette[:2] == list(PALETTE)
        page.click(".iw-ed-text")
        active = _active(page)
        # what reaches the page beyond the editor: VS Code's and Cursor's webviews and Lumino listen up there
        page.evaluate("""() => { window.__leaked = [];
            for (const type of ['keydown', 'keypress', 'keyup']) document.addEventListener(type, e => {
                if (e.target.closest && e.target.closest('.iw-ed')) window.__leaked.push(type + ' ' + e.key); }); }""")
        key, serial = _shown(page)
        moves = 0
        for n in range(TO_CORRECT + 2):
            if n == 5:  # Down then Up: moves without checking; what was typed is kept
                page.keyboard.type("draft ", delay=10)
                page.keyboard.press("ArrowDown")
                down = _wait_answer(page, serial)
                serial = _shown(page)[1]
                page.keyboard.press("ArrowUp")
                back = _wait_answer(page, serial)
                serial = _shown(page)[1]
                assert down != key and back == key and page.input_value(".iw-ed-text").endswith("draft ")
                moves += 2
            if n in (12, 31):  # not text: a stain
                page.keyboard.press("Alt+n")
                expected[key] = ("no_text", "")
            else:
                text = f"line {n} ab m dd {key.split(':')[0]} \u00e6"  # a, b, m, d d: notebook shortcuts
                page.keyboard.press("Control+a")
                if n == 7:  # Escape undoes the typing in the line
                    page.keyboard.type("wrong", delay=10)
                    page.keyboard.press("Escape")
                    page.keyboard.press("Control+a")
                page.keyboard.type(text, delay=10)
                typed_chars += len(text)
                if n % 3 == 0:
                    page.keyboard.press("Alt+1")  # the palette's first character at the cursor
                    text += PALETTE[0]
                    typed_chars += 1
                if n % 4 == 0:
                    page.click(f".iw-ed-char[data-char='{PALETTE[1]}']")  # a click on the palette
                    text += PALETTE[1]
                    typed_chars += 1
                page.keyboard.press("Shift+Enter" if n == 20 else "Enter")  # Shift+Enter: a check, never a run
                expected[key] = ("corrected", text)
            key = _wait_answer(page, serial)
            serial = _shown(page)[1]
        after = _cells(page)
        assert _active(page) == active, "an arrow key moved the notebook's active cell"
        assert page.evaluate("() => window.__leaked") == [], "keys typed in the editor reached the notebook"
        assert page.eval_on_selector_all(".iw-ed", "e => e.length") == 1  # the cell was not run again
        page.click("button:has-text('Save checked lines')")
        page.wait_for_selector("text=written to", timeout=30000)
        figures_app = {"app": app, "lines": len(expected), "moves": moves, "seconds": time.monotonic() - started}
    saved = home / "data" / "raw" / name
    labels = read_frame(saved / LABELS_NAME, text_columns=["image", "text", "status"])
    later = read_frame(saved / LATER_FOLDER / LATER_NAME, text_columns=["image", "text", "status"])
    got = {Path(r["image"]).stem: (r["status"], r["text"]) for r in labels.to_dict("records")}
    got_later = {Path(r["image"]).stem: r["status"] for r in later.to_dict("records")}
    want = {k.replace(":", "-l"): v for k, v in expected.items() if v[0] != "no_text"}
    assert got == want  # every corrected line, exactly as typed: nothing lost, moved or added
    assert all(got_later[k.replace(":", "-l")] == "no_text" for k, v in expected.items() if v[0] == "no_text")
    assert sum(1 for v in got_later.values() if v == "no_text") == 2
    assert before == after, "a key typed in the corrector reached the notebook's shortcuts"
    journal = [json.loads(x) for x in (readings / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()]
    assert len([e for e in journal if "status" in e]) == len(expected)  # the draft and the moves checked nothing
    saved_chars = sum(len(t) for _, t in got.values())
    return {**figures_app, "typed_chars": typed_chars, "saved_chars": saved_chars}


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_fifty_lines_typed_at_10ms_are_saved_exactly(app: str, tmp_path: Path, home: Path) -> None:
    figures = _drive(app, tmp_path, home)
    assert figures["lines"] == TO_CORRECT + 2 and figures["typed_chars"] == figures["saved_chars"]
    print(f"\n[browser] {json.dumps(figures)}")
    out = os.environ.get("INKWELL_BROWSER_FIGURES")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(figures) + "\n")


def test_the_editor_needs_no_jupyterlab_and_sends_one_message_per_check() -> None:
    """The editor's module imports nothing (no @jupyterlab, no @jupyter-widgets): rendered in a bare page with only
    the anywidget model interface (get, set, on, send), as VS Code and Cursor provide it, it shows the line and
    sends the action with the text typed in one message."""
    from inkwell.views.editor import editor_source

    esm, css = editor_source()
    assert "import " not in esm.replace("no imports", "") and "@jupyterlab" not in esm and "require(" not in esm
    with chromium_page() as page:
        page.set_content(f"<style>{css}</style><div id='host'></div>")
        sent = page.evaluate("""async (esm) => {
            const url = URL.createObjectURL(new Blob([esm], {type: 'text/javascript'}));
            const widget = (await import(url)).default;
            const state = {line: {key: 'p:1', serial: 1, text: 'as read', image: '', position: 'line 1 of 1'},
                           palette: ['\u017f'], boxes: [], page_image: '', page_size: [0, 0]};
            const sent = [];
            const model = {get: k => state[k], set: (k, v) => { state[k] = v; }, on: () => {}, off: () => {},
                           send: m => sent.push(m), save_changes: () => {}};
            widget.render({model, el: document.getElementById('host')});
            window.__sent = sent;
            return document.querySelector('.iw-ed-text').value;
        }""", esm)
        assert sent == "as read"
        page.click(".iw-ed-text")
        page.keyboard.press("Control+a")
        page.keyboard.type("typed ", delay=10)
        page.keyboard.press("Alt+1")
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")  # a second Enter before the kernel answered: nothing more is sent
        messages = page.evaluate("() => window.__sent")
    assert messages == [{"action": "check", "key": "p:1", "text": "typed \u017f", "target": ""}]
