"""Decoding speed: lines/second at batch size 1 and 8 with the tiny model on the CPU, and what confidence costs.

    python scripts/bench_generate.py [--lines 64] [--family qwen2_5_vl] [--max-new-tokens 24]

Prints both rates and their ratio (target: batch 8 at least 3 times batch 1), then batch 8 with and without
each line's confidence (``predict_lines(confidence=False)``), passes alternated so both see the same machine
load, best of each by wall-clock and by this process's CPU time (target: under 10% slower with it), and the
time spent inside the recorder of the scores itself, which other work on a shared machine does not blur. The tiny
model is built in a temporary folder; nothing in the project is touched.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import helpers
import inkwell.models.decode


class _TimedScores(inkwell.models.decode.AnswerScores):
    """The scores' recorder, adding up the CPU seconds of this thread spent in it (``time.thread_time``: time the
    process waits for a core does not count; a CPU runs these small reductions synchronously, in this thread)."""

    seconds = 0.0

    def __call__(self, input_ids, scores):
        t0 = time.thread_time()
        out = super().__call__(input_ids, scores)
        _TimedScores.seconds += time.thread_time() - t0
        return out

    def rows(self):
        t0 = time.thread_time()
        out = super().rows()
        _TimedScores.seconds += time.thread_time() - t0
        return out


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
        timed = {True: float("inf"), False: float("inf")}  # best wall-clock seconds per pass
        cpu = {True: float("inf"), False: float("inf")}  # best CPU seconds of this process per pass
        scored: dict[bool, list] = {}
        for _ in range(max(5, args.repeats)):
            for with_confidence in (False, True):
                t0, c0 = time.perf_counter(), time.process_time()
                scored[with_confidence] = helpers.predict_lines(loaded, images, batch_size=8,
                                                                confidence=with_confidence, **kwargs)
                timed[with_confidence] = min(timed[with_confidence], time.perf_counter() - t0)
                cpu[with_confidence] = min(cpu[with_confidence], time.process_time() - c0)
        unchanged = [p.text for p in scored[True]] == [p.text for p in scored[False]]
        inkwell.models.decode.AnswerScores = _TimedScores  # one more pass, timing the recorder from inside
        t0 = time.process_time()
        helpers.predict_lines(loaded, images, batch_size=8, **kwargs)
        decoding = time.process_time() - t0  # CPU seconds of the whole process, every thread
        values = [p.confidence for p in scored[True]]
    print(f"device: cpu, threads: {__import__('torch').get_num_threads()}, family: {args.family}, "
          f"lines: {args.lines}, max_new_tokens: {args.max_new_tokens}")
    print(f"batch 1: {rates[1]:.1f} lines/s")
    print(f"batch 8: {rates[8]:.1f} lines/s")
    print(f"ratio batch 8 / batch 1: {rates[8] / rates[1]:.2f} (target >= 3)")
    print(f"identical predictions at batch 1 and 8: {same}")
    print(f"batch 8 without confidence: {args.lines / timed[False]:.1f} lines/s, with: {args.lines / timed[True]:.1f} "
          f"lines/s: {timed[True] / timed[False] - 1:+.1%} time (target < +10%)")
    print(f"CPU time of this process, best pass: {cpu[False]:.2f} s without, {cpu[True]:.2f} s with confidence: "
          f"{cpu[True] / cpu[False] - 1:+.1%} (other work on the machine blurs it less than wall-clock time)")
    print(f"inside the scores' recorder: {_TimedScores.seconds * 1000:.0f} ms of {decoding * 1000:.0f} ms decoding, "
          f"CPU time ({_TimedScores.seconds / decoding:.2%})")
    print(f"texts unchanged by confidence: {unchanged}; confidence range {min(values):.3f} to {max(values):.3f}")


if __name__ == "__main__":
    main()
