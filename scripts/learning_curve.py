"""Would more lines help? Train adapters on growing shares of the training split and draw CER against lines.

Each share trains an ordinary run (``adapters/<name>-25pct/``, ... with its run.json) with 02_finetune's
settings, the same seed and the same steps per line (``max_steps`` is the steps at the full size); all
runs are then decoded on one split, saved as one evaluation and added to
``adapters/evaluations/comparison.csv``. The figure (CER with bootstrap 95% intervals against training
lines) goes to the evaluation folder as ``learning_curve.png``, and the script prints the points and one
sentence: still falling at the full size (more lines would help), or flat.

    python scripts/learning_curve.py --like quickstart            # the settings of a finished run
    python scripts/learning_curve.py -p model_name data/models/tiny-qwen2_5_vl -p dataset_name synthetic \\
        -p max_steps 200 --shares 0.25 0.5 1.0                    # 02_finetune's defaults, changed by -p
"""

from __future__ import annotations

import argparse
import sys

import helpers


def main(argv: list[str] | None = None) -> int:
    """Train and score the curve's points; print the table and the verdict; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--like", default="", help="train like this finished run (its run.json's parameters)")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5, 1.0],
                        help="shares of the training split, one run each (default: 0.25 0.5 1.0)")
    parser.add_argument("--split", default="test", help="split every point is scored on (default: test)")
    parser.add_argument("--max-lines", type=int, default=0, help="score only the first this many lines (0: all)")
    parser.add_argument("--name", default="", help="prefix of the runs' names (default: <like>-curve, or curve)")
    parser.add_argument("--batch-size", type=int, default=8, help="lines decoded together")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples of the intervals")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a 02_finetune parameter, e.g. -p max_steps 200 (repeatable)")
    args = parser.parse_args(argv)

    base = helpers.learning_curve_like(f"adapters/{args.like}") if args.like else helpers.notebook_parameters()
    parameters = helpers.parse_overrides([x for pair in args.p for x in ("-p", *pair)], base)
    name = args.name or (f"{args.like}-curve" if args.like else "curve")
    curve = helpers.run_learning_curve(parameters, args.shares, split=args.split, max_lines=args.max_lines,
                                       name=name, batch_size=args.batch_size, n_resamples=args.n_bootstrap,
                                       say=lambda line: print(f"[learning curve] {line}", flush=True),
                                       shares_name="--shares")
    figure = helpers.plot_learning_curve(curve)
    if figure is not None and curve.evaluation_dir is not None:
        figure.savefig(curve.evaluation_dir / "learning_curve.png", dpi=120)
        print(f"[learning curve] figure: {curve.evaluation_dir / 'learning_curve.png'}")
    print(curve.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
