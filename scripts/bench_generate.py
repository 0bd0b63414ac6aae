"""Decoding speed: lines/second at batch size 1 and 8 with the tiny model on the CPU, in one run.

    python scripts/bench_generate.py [--lines 64] [--family qwen2_5_vl] [--max-new-tokens 24]

Prints both rates and their ratio (target: batch 8 at least 3 times batch 1). The tiny model is built in a
temporary folder; nothing in the project is touched.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import helpers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=64)
    parser.add_argument("--family", default="qwen2_5_vl", choices=sorted(helpers.FAMILIES))
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per batch size (best is reported)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = helpers.build_tiny_model(Path(tmp) / "tiny", args.family)
        loaded = helpers.load_model(str(model_dir))
        rng = random.Random(0)
        images = [helpers.render_line(rng.choice(helpers.DEMO_PHRASES), rng) for _ in range(args.lines)]
        kwargs = dict(max_new_tokens=args.max_new_tokens, limits=helpers.ImageLimits(512, 32),
                      repetition_guard=False, progress=False)
        helpers.predict_lines(loaded, images[:8], batch_size=8, **kwargs)  # warm-up
        rates, outputs = {}, {}
        for bs in (1, 8):
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                outputs[bs] = helpers.predict_lines(loaded, images, batch_size=bs, **kwargs)
                best = min(best, time.perf_counter() - t0)
            rates[bs] = args.lines / best
        same = [p.text for p in outputs[1]] == [p.text for p in outputs[8]]
    print(f"device: cpu, threads: {__import__('torch').get_num_threads()}, family: {args.family}, "
          f"lines: {args.lines}, max_new_tokens: {args.max_new_tokens}")
    print(f"batch 1: {rates[1]:.1f} lines/s")
    print(f"batch 8: {rates[8]:.1f} lines/s")
    print(f"ratio batch 8 / batch 1: {rates[8] / rates[1]:.2f} (target >= 3)")
    print(f"identical predictions at batch 1 and 8: {same}")


if __name__ == "__main__":
    main()
