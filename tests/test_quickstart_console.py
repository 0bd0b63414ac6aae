"""What ``make quickstart`` prints while papermill runs a notebook: the bars' console lines, a line naming the
running cell in a silence, no kernel transport warning; and the check of a captured log's time-left estimates."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import nbformat
import papermill as pm
import pytest

import helpers

ROOT = helpers.PROJECT_ROOT


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quickstart() -> ModuleType:
    return load_script("quickstart")


def write(path: Path, kind: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"t": time.time(), "kind": kind, "text": text}) + "\n")


def test_console_prints_the_notebook_lines_into_a_log(quickstart: ModuleType, tmp_path: Path) -> None:
    log, out = tmp_path / "console.jsonl", io.StringIO()
    console = quickstart.Console(log, out)
    console.name = "02_finetune"
    write(log, "note", "CPU: 2 cores, load 0.4, torch threads 2 (OMP_NUM_THREADS=2)")
    write(log, "progress", "training: 10/100 steps (10%), 2.00 steps/s, 45.0 s left")
    write(log, "progress", "training: 20/100 steps (20%), 2.00 steps/s, 40.0 s left")  # < LOG_EVERY later
    with open(log, "a", encoding="utf-8") as f:
        f.write('{"t": 1, "kind": "progress", "text": "half a line')  # still being written: read next time
    console._poll()
    assert out.getvalue().splitlines() == [
        "[02_finetune] CPU: 2 cores, load 0.4, torch threads 2 (OMP_NUM_THREADS=2)",
        "[02_finetune] training: 10/100 steps (10%), 2.00 steps/s, 45.0 s left",
    ]  # into a log, one progress line per LOG_EVERY seconds; notes always
    with open(log, "a", encoding="utf-8") as f:
        f.write('"}\n')
    write(log, "final", "training: 100/100 steps in 50.0 s")
    console._poll()
    assert out.getvalue().splitlines()[-1] == "[02_finetune] training: 100/100 steps in 50.0 s"


def test_console_rewrites_progress_in_place_on_a_terminal(quickstart: ModuleType, tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    log, out = tmp_path / "console.jsonl", Terminal()
    console = quickstart.Console(log, out)
    console.name = "03_evaluate"
    write(log, "progress", "decoding base: 8/56 lines (14%), 2.00 s/line, 1 min 36 s left")
    write(log, "progress", "decoding base: 16/56 lines (29%), 2.00 s/line, 1 min 20 s left")
    write(log, "final", "decoding base: 56/56 lines in 1 min 52 s")
    console._poll()
    assert out.getvalue() == ("\r\033[K[03_evaluate] decoding base: 8/56 lines (14%), 2.00 s/line, 1 min 36 s left"
                              "\r\033[K[03_evaluate] decoding base: 16/56 lines (29%), 2.00 s/line, 1 min 20 s left"
                              "\n[03_evaluate] decoding base: 56/56 lines in 1 min 52 s\n")


def test_a_notebook_run_is_followed_and_its_kernel_prints_no_transport_warning(
        quickstart: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    # a notebook whose one bar runs ~1.5 s, with console lines every 0.3 s; then 2.5 s of silence
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import time\nfrom inkwell.core.progress import progress_bar\n"
        "with progress_bar(5, 'training', 'step') as bar:\n"
        "    for _ in range(5):\n        time.sleep(0.3)\n        bar.update(1)\n"),
        nbformat.v4.new_code_cell("time.sleep(2.5)  # quiet work")]
    src = tmp_path / "tiny.ipynb"
    nbformat.write(nb, src)
    log = tmp_path / "console.jsonl"
    monkeypatch.setenv("INKWELL_PROGRESS_LOG", str(log))
    monkeypatch.setenv("INKWELL_PROGRESS_EVERY", "0.3")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setattr(quickstart, "QUIET_AFTER", 1.0)
    monkeypatch.setattr(quickstart, "LOG_EVERY", 0.5)
    monkeypatch.setattr(quickstart, "NOTEBOOKS", tmp_path)
    console = quickstart.Console(log, io.StringIO())
    quickstart.run_notebook("tiny", tmp_path, {}, console=console)
    printed = capfd.readouterr()
    assert "without encryption" not in printed.err + printed.out  # ipykernel's warning for a TCP kernel
    lines = console.out.getvalue().splitlines()
    assert any(ln.startswith("[tiny] training: ") and " left" in ln for ln in lines), lines
    assert "[tiny] training: 5/5 steps in " in "\n".join(lines)
    assert any(ln.startswith("[quickstart] tiny, ") and "; cell 2/2 for " in ln and "time.sleep(2.5)" in ln
               for ln in lines), lines


def stamped(rows: list[tuple[float, str]]) -> list[str]:
    return [f"{t:.3f} {text}\n" for t, text in rows]


def test_progress_report_measures_estimates_against_the_real_end() -> None:
    report_mod = load_script("progress_report")
    log = stamped([
        (1000.0, "[quickstart] 02_finetune ..."),
        (1010.0, "[02_finetune] training: 100/1000 steps (10%), 10.00 steps/s, 1 min 30 s left, loss=1.0"),
        (1040.0, "[02_finetune] training: 400/1000 steps (40%), 10.00 steps/s, 1 min 00 s left, loss=0.9"),
        (1095.0, "[02_finetune] training: 950/1000 steps (95%), 10.00 steps/s, 5.0 s left"),
        (1100.0, "[02_finetune] training: 1000/1000 steps in 1 min 40 s, loss=0.5"),
        (1100.5, "[03_evaluate] decoding base: 8/56 lines (14%), 2.00 s/line, 1 min 36 s left"),
        (1120.5, "[03_evaluate] decoding base: stopped at 20/56 lines after 40.0 s"),
    ])
    report = report_mod.check(log)
    by_bar = {(e.bar, e.done): e for e in report.estimates}
    assert by_bar[("[02_finetune] training", 100)].real == pytest.approx(90.0)
    assert by_bar[("[02_finetune] training", 400)].error == pytest.approx(0.0)
    assert by_bar[("[03_evaluate] decoding base", 8)].error == pytest.approx((96 - 20) / 20)
    assert report.longest_gap == pytest.approx(55.0)
    assert report.within(0.5, 15.0) == (2, 3)  # the 5 s estimate is too close to the end to judge
    assert "longest silence 55.0 s" in report.text(0.5, 15.0)
    assert [report_mod.parse_duration(t) for t in ("1.8 s", "16 min 31 s", "1 h 02 min", "2 min 05 s")] == [
        1.8, 991.0, 3720.0, 125.0]
