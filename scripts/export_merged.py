"""Export a run as one merged model that plain transformers loads, and check it reads like base + adapter.

Writes ``adapters/<run>-merged/`` (never over an existing folder): merged safetensors, config,
generation config, processor and ``export.json``. Then decodes the first ``--parity-lines``
lines of the run's validation split with base + adapter and with the merged model and prints
both CERs and the share of identical outputs.

    python scripts/export_merged.py --run my-run                     # adapters/my-run-merged, 32 parity lines
    python scripts/export_merged.py --run my-run --out /data/merged --parity-lines 0
    python scripts/export_merged.py --tiny all                       # every native tiny model: train, export, parity

``--tiny`` trains a tiny random-weight model of a family for a few steps on synthetic lines in a
temporary folder, exports it and runs the parity (offline, seconds to a minute per family on a CPU).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import datasets

import helpers
from inkwell.models.runs import RunInfo


def _validation_lines(run_dir: Path, n: int, split: str) -> datasets.Dataset | None:
    """The first ``n`` lines of the split of the data set the run trained on (None: not recorded or not found)."""
    info = RunInfo.load(run_dir)
    if info.dataset is None:
        print("No parity check: run.json records no data set (trained outside 02_finetune).")
        return None
    try:
        data = helpers.load_processed(info.dataset.name)
    except FileNotFoundError as exc:
        print(f"No parity check: {exc}")
        return None
    return helpers.take_lines(data[split], n)


def _print(result: helpers.ExportResult, parity: helpers.ParityResult | None) -> None:
    print(result.describe())
    print(f"  folder {result.out_dir}: {', '.join(result.files)}")
    if parity is not None:
        print(parity.describe())
        print(f"  adapter CER {parity.adapter_cer:.4f}  merged CER {parity.merged_cer:.4f}  identical "
              f"{parity.identical}/{parity.lines}  ({parity.seconds:.1f} s)")
        for line_id, a, b in parity.differing[:5]:
            print(f"  differs {line_id}: adapter {a!r} / merged {b!r}")


def _tiny(family: str, home: Path, parity_lines: int) -> tuple[helpers.ExportResult, helpers.ParityResult]:
    """Train a tiny adapter of ``family`` briefly, export it and run the parity."""
    lines = helpers.make_synthetic_lines(home / "lines", 16 + parity_lines, seed=5)
    rows = lines.labels.read_text(encoding="utf-8").splitlines()[1:]
    table = {"image": [str(lines.labels.parent / r.split(",")[0]) for r in rows],
             "text": [r.split(",")[1] for r in rows], "id": [r.split(",")[0] for r in rows]}
    data = datasets.Dataset.from_dict(table).cast_column("image", datasets.Image())
    train, val = data.select(range(16)), data.select(range(16, len(data)))
    model = helpers.build_tiny_model(home / "models" / f"tiny-{family}", family)
    loaded = helpers.add_lora(helpers.load_model(str(model)),
                              helpers.LoraSettings(seed=0, finetune_vision_layers=True))
    settings = helpers.TrainSettings(max_steps=20, learning_rate=3e-3, batch_size=4, grad_accum=1, warmup_steps=0,
                                     lr_scheduler="constant", max_image_height=32, max_image_width=256, seed=0,
                                     eval_lines=0)
    run = helpers.train_adapter(loaded, train, settings, helpers.new_run_dir(f"tiny-{family}")).run_dir
    result = helpers.export_merged(run)
    return result, helpers.merge_parity(run, result.out_dir, val)


def main() -> None:
    """Export (and check) one run, or every tiny family with ``--tiny``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="", help="run name (adapters/<run>) or run folder")
    parser.add_argument("--out", default="", help="new folder for the merged model (default adapters/<run>-merged)")
    parser.add_argument("--parity-lines", type=int, default=32, help="validation lines to compare (0: no check)")
    parser.add_argument("--split", default="validation", help="split of the run's data set for the parity check")
    parser.add_argument("--tiny", default="", help="a native family, or 'all': tiny model, train, export, parity")
    args = parser.parse_args()
    if bool(args.run) == bool(args.tiny):
        parser.error("give --run NAME or --tiny FAMILY|all")

    if args.tiny:
        families = helpers.native_families() if args.tiny == "all" else [args.tiny]
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["INKWELL_HOME"] = tmp  # the tiny runs stay out of the project's adapters/
            for family in families:
                t0 = time.perf_counter()
                result, parity = _tiny(family, Path(tmp) / family, args.parity_lines or 16)
                _print(result, parity)
                rows.append((family, result, parity, time.perf_counter() - t0))
        print(f"\n{'family':<14} {'export s':>8} {'MB':>6} {'adapter CER':>11} {'merged CER':>10} {'identical':>9}")
        for family, r, p, _ in rows:
            print(f"{family:<14} {r.seconds:>8.1f} {r.size_bytes / 1e6:>6.1f} {p.adapter_cer:>11.4f} "
                  f"{p.merged_cer:>10.4f} {p.identical:>4}/{p.lines:<4}")
        return

    result = helpers.export_merged(args.run, args.out)
    parity = None
    if args.parity_lines > 0:
        lines = _validation_lines(result.run_dir, args.parity_lines, args.split)
        if lines is not None and len(lines):
            parity = helpers.merge_parity(result.run_dir, result.out_dir, lines)
    _print(result, parity)


if __name__ == "__main__":
    main()
