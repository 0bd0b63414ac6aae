"""Run the whole Inkwell workflow on the embedded default, headless, on a CPU.

Writes synthetic handwriting lines, builds a tiny random-weight model (Qwen2.5-VL, or the family ``--family`` names),
executes notebooks 01_data -> 02_finetune -> 03_evaluate -> 04_demo with
papermill (executed copies land in notebooks/executed/<time>/) and prints the
CER/WER of the base model, the classic-OCR baseline (PP-OCR) and the new adapter
on the held-out test split.

What it shows is the workflow, not real accuracy: a random tiny model learns to
tell apart the few phrases of the synthetic vocabulary, it does not learn to
read. Real accuracy needs a pretrained checkpoint on a GPU (see README.md).

    python scripts/quickstart.py            # the default (about 4 minutes on 2 CPU cores)
    python scripts/quickstart.py --steps 50 # a faster smoke run
    python scripts/quickstart.py --family deepseek_ocr2   # the same on another family's tiny model

While a notebook runs, its progress bars (training above all) write their figures to
``notebooks/executed/<time>/console.jsonl`` (``INKWELL_PROGRESS_LOG``), and this script
prints them as they come: step, done/total, rate and time left every few seconds (in
place on a terminal, every 10 s into a log), and a line naming the running cell when a
notebook has printed nothing for 10 s. Kernels start with CurveZMQ encryption
(jupyter_client's ``transport_encryption="auto"``), so they print no transport warning.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import papermill as pm
from papermill.engines import NBClientEngine, papermill_engines
from traitlets.config import Config

import helpers
from inkwell.core.progress import CONSOLE_LOG_ENV

NOTEBOOKS = helpers.PROJECT_ROOT / "notebooks"
DATASET = "synthetic-quickstart"


#: Kernels get CurveZMQ keys from their manager (the kernelspec declares support), so ipykernel prints no
#: "Kernel is running over TCP without encryption" warning and the traffic on 127.0.0.1 is encrypted: the
#: setting JupyterLab gets from etc/jupyter_server_config.json (installed into the venv by `make setup`).
JUPYTER_CONFIG = helpers.PROJECT_ROOT / "etc" / "jupyter_server_config.json"
KERNEL_CONFIG = Config({"KernelManager": json.loads(JUPYTER_CONFIG.read_text(encoding="utf-8"))["KernelManager"]})
QUIET_AFTER = 10.0  # seconds without a line before the console says which cell runs
LOG_EVERY = 10.0  # seconds between two progress lines of one bar when the console is not a terminal


class CellTracker(NBClientEngine):
    """papermill's own engine, noting which cell runs (index, count, first line, start) in :attr:`current`."""

    current: dict[str, Any] = {}

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        start = nb_man.cell_start

        def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
            first = next((ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
            first = first.strip()
            cls.current = dict(index=cell_index, count=len(nb_man.nb.cells), started=time.monotonic(),
                               line=first if len(first) <= 60 else first[:59] + "…")
            return start(cell, cell_index=cell_index, **kw)

        nb_man.cell_start = cell_start
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register("inkwell-quickstart", CellTracker)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class Console:
    """Prints the notebooks' console lines (``console.jsonl``) while papermill runs one, and a cell line in silences.

    On a terminal a bar's progress line is rewritten in place; into a log each bar prints at most one
    progress line every :data:`LOG_EVERY` seconds, so a long run stays readable. Notes and final lines
    always print.
    """

    def __init__(self, path: Path, out: TextIO = sys.stdout) -> None:
        self.path, self.out = path, out
        self.tty = out.isatty()
        self.offset = 0
        self.name = ""
        self.started = self.last = time.monotonic()
        self.last_progress = 0.0
        self.open_line = False  # a progress line without its newline yet (terminal)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def say(self, text: str, progress: bool = False) -> None:
        """Print one line (a progress line: in place on a terminal)."""
        if progress and self.tty:
            self.out.write(f"\r\033[K{text}")
            self.open_line = True
        else:
            self.out.write(("\n" if self.open_line else "") + text + "\n")
            self.open_line = False
        self.out.flush()
        self.last = time.monotonic()

    def _poll(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = ""
        end = chunk.rfind("\n") + 1  # whole lines only; the rest is read next time
        self.offset += len(chunk[:end].encode("utf-8"))
        for raw in chunk[:end].splitlines():
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                continue
            progress = record.get("kind") == "progress"
            now = time.monotonic()
            if progress and not self.tty and now - self.last_progress < LOG_EVERY:
                continue
            if progress:
                self.last_progress = now
            self.say(f"[{self.name}] {record.get('text', '')}", progress=progress)
        if time.monotonic() - self.last >= QUIET_AFTER:
            self.say(self.quiet_line())

    def quiet_line(self) -> str:
        """What runs now: ``[quickstart] 03_evaluate, 10 s so far; cell 6/19 for 6 s: predictions = …``."""
        now = time.monotonic()
        text = f"[quickstart] {self.name}, {_clock(now - self.started)} so far"
        cell = CellTracker.current
        if cell.get("index") is not None:
            text += f"; cell {cell['index'] + 1}/{cell['count']} for {_clock(now - cell['started'])}"
            if cell["line"]:
                text += f": {cell['line']}"
        return text

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._poll()

    def watch(self, name: str) -> None:
        """Start following the console file for notebook ``name``."""
        self.name, self.started, self.last = name, time.monotonic(), time.monotonic()
        CellTracker.current = {}
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="quickstart console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Print what is left in the file and stop following it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._poll()
        if self.open_line:
            self.out.write("\n")
            self.open_line = False


def run_notebook(name: str, out_dir: Path, parameters: dict, console: Console | None = None) -> float:
    """Execute one notebook with papermill, its progress shown on ``console``; return its wall time in seconds."""
    t0 = time.perf_counter()
    print(f"[quickstart] {name} ...", flush=True)
    if console is not None:
        console.watch(name)
    try:
        pm.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"),
            str(out_dir / f"{name}.ipynb"),
            parameters=parameters,
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
            engine_name="inkwell-quickstart",
            config=KERNEL_CONFIG,
        )
    finally:
        if console is not None:
            console.stop()
    seconds = time.perf_counter() - t0
    print(f"[quickstart] {name} done in {seconds:.0f} s", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="qwen2_5_vl", choices=helpers.native_families(), help="tiny model architecture (a family key)")
    parser.add_argument("--lines", type=int, default=600, help="synthetic lines to generate")
    parser.add_argument("--steps", type=int, default=2500, help="optimiser steps in 02_finetune")
    parser.add_argument("--only-model", action="store_true", help="just build the tiny model and stop")
    parser.add_argument("--baselines", default="ppocr", help="classic-OCR baselines 03_evaluate reads beside the "
                        "models, comma-separated ('': none, where rapidocr is not installed)")
    parser.add_argument("--demo-mode", default="auto", choices=("auto", "lines", "pages"),
                        help="04_demo's mode ('lines' needs no line detector)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    model_dir = helpers.build_tiny_model(f"data/models/tiny-{args.family}", args.family)
    print(f"[quickstart] tiny model: {model_dir}", flush=True)
    if args.only_model:
        return 0
    out_dir = helpers.project_path("notebooks/executed") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ[CONSOLE_LOG_ENV] = str(out_dir / "console.jsonl")  # the kernels' bars write there (inherited)
    console = Console(out_dir / "console.jsonl")
    run_dir = helpers.new_run_dir("quickstart")
    limits = dict(max_image_height=32, max_image_width=512)  # what the tiny model sees, shown by 01_data too
    run_notebook("01_data", out_dir, console=console, parameters=dict(
        source=helpers.DEMO_SOURCE, dataset_name=DATASET, synthetic_lines=args.lines, overwrite=True, seed=0,
        model_name=str(model_dir), **limits,
    ))
    run_notebook("02_finetune", out_dir, console=console, parameters=dict(
        model_name=str(model_dir), dataset_name=DATASET, run_name=run_dir.name, max_steps=args.steps,
        batch_size=8, grad_accum=1, learning_rate=3e-3, warmup_steps=0, lr_scheduler="constant",
        finetune_vision_layers=True, eval_lines=16, seed=0, **limits,
    ))
    run_notebook("03_evaluate", out_dir, console=console, parameters=dict(
        dataset_name=DATASET, split="test", adapters=[run_dir.name], include_base=True,
        baselines=[b for b in args.baselines.split(",") if b],
        n_bootstrap=1000,
    ))
    run_notebook("04_demo", out_dir, console=console, parameters=dict(
        adapter=run_dir.name, inputs=str(helpers.project_path(helpers.DEMO_SOURCE).parent / "images"), max_files=4,
        mode=args.demo_mode,
    ))
    evaluations = sorted(helpers.project_path("adapters/evaluations").glob(f"{DATASET}-test-*"))
    metrics = json.loads((evaluations[-1] / "metrics.json").read_text(encoding="utf-8"))
    print("\n[quickstart] held-out test split, greedy decoding:")
    print(f"  {'system':<16} {'lines':>5} {'CER':>7} {'WER':>7}")
    for name, m in metrics["systems"].items():
        print(f"  {name:<16} {m['n_lines']:>5} {m['cer']:>7.3f} {m['wer']:>7.3f}")
    for b in metrics.get("bootstrap", []):
        print(f"  {b['verdict']}")
    print(f"[quickstart] executed notebooks: {out_dir}")
    print(f"[quickstart] adapter: {run_dir}")
    print(f"[quickstart] evaluation: {evaluations[-1]}")
    print(f"[quickstart] total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
