"""What validation during training costs: seconds per evaluation and its share of a run.

Trains the tiny model (or any model) on synthetic lines with validation every
``--eval-steps`` steps over ``--eval-lines`` lines, then prints one table: the
evaluations, the seconds each took, and the share of the run's wall time spent
decoding validation lines. Offline; on a CPU in about a minute.

    python scripts/bench_validation.py                        # tiny Qwen2.5-VL, 200 steps, 32 lines every 50 steps
    python scripts/bench_validation.py --family deepseek_ocr2 --steps 100
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import datasets
import torch

import helpers


def main() -> None:
    """Run the measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="qwen2_5_vl", choices=helpers.native_families(), help="tiny model family")
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps")
    parser.add_argument("--eval-steps", type=int, default=50, help="validate every this many steps")
    parser.add_argument("--eval-lines", type=int, default=32, help="validation lines per evaluation")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        lines = helpers.make_synthetic_lines(home / "lines", 64 + args.eval_lines, seed=5)
        rows = lines.labels.read_text(encoding="utf-8").splitlines()[1:]
        table = {"image": [str(lines.labels.parent / r.split(",")[0]) for r in rows],
                 "text": [r.split(",")[1] for r in rows], "id": [r.split(",")[0] for r in rows]}
        data = datasets.Dataset.from_dict(table).cast_column("image", datasets.Image())
        train, val = data.select(range(64)), data.select(range(64, len(data)))
        model = helpers.build_tiny_model(home / "model", args.family)
        loaded = helpers.add_lora(helpers.load_model(str(model)), helpers.LoraSettings(seed=0))
        settings = helpers.TrainSettings(max_steps=args.steps, learning_rate=3e-3, batch_size=8, grad_accum=1,
                                         warmup_steps=0, lr_scheduler="constant", max_image_height=32,
                                         max_image_width=512, seed=0, eval_steps=args.eval_steps,
                                         eval_lines=args.eval_lines)
        result = helpers.train_adapter(loaded, train, settings, home / "run", validation=val)

    m = result.info.metrics
    print(f"\n{args.family}, {torch.get_num_threads()} threads, {args.steps} steps, validation of "
          f"{args.eval_lines} lines every {args.eval_steps} steps")
    print(f"  {'step':>6} {'CER':>7} {'seconds':>8}")
    for e in result.info.val_history:
        print(f"  {e['step']:>6} {e['cer']:>7.3f} {e['seconds']:>8.2f}")
    n = len(result.info.val_history)
    print(f"  {n} evaluations, {m['validation_seconds'] / max(n, 1):.2f} s each; validation took "
          f"{m['validation_seconds']:.1f} s of the run's {m['train_seconds']:.1f} s "
          f"({100 * m['validation_seconds'] / m['train_seconds']:.0f}%); best CER {m['best_val_cer']:.3f} at step "
          f"{m['best_step']}")


if __name__ == "__main__":
    main()
