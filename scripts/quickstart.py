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
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import papermill as pm

import helpers

NOTEBOOKS = helpers.PROJECT_ROOT / "notebooks"
DATASET = "synthetic-quickstart"


def run_notebook(name: str, out_dir: Path, parameters: dict) -> float:
    """Execute one notebook with papermill and return its wall time in seconds."""
    t0 = time.perf_counter()
    print(f"[quickstart] {name} ...", flush=True)
    pm.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out_dir / f"{name}.ipynb"),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )
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
    run_dir = helpers.new_run_dir("quickstart")
    limits = dict(max_image_height=32, max_image_width=512)  # what the tiny model sees, shown by 01_data too
    run_notebook("01_data", out_dir, dict(
        source=helpers.DEMO_SOURCE, dataset_name=DATASET, synthetic_lines=args.lines, overwrite=True, seed=0,
        model_name=str(model_dir), **limits,
    ))
    run_notebook("02_finetune", out_dir, dict(
        model_name=str(model_dir), dataset_name=DATASET, run_name=run_dir.name, max_steps=args.steps,
        batch_size=8, grad_accum=1, learning_rate=3e-3, warmup_steps=0, lr_scheduler="constant",
        finetune_vision_layers=True, eval_lines=16, seed=0, **limits,
    ))
    run_notebook("03_evaluate", out_dir, dict(
        dataset_name=DATASET, split="test", adapters=[run_dir.name], include_base=True,
        baselines=[b for b in args.baselines.split(",") if b],
        n_bootstrap=1000,
    ))
    run_notebook("04_demo", out_dir, dict(
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
