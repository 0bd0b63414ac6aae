"""Per-line edit counts: rapidfuzz's Levenshtein distance (what Inkwell uses) against jiwer's alignments.

    python scripts/bench_scores.py [--pairs 3000] [--repeats 3]

Prints both timings (best of the repeats), their ratio, and whether every character and word count agrees.
The pairs are random strings with spaces, tabs, doubled spaces and combining accents, so the word splitting
and whitespace handling are compared too.
"""

from __future__ import annotations

import argparse
import random
import time

import jiwer

from inkwell.evaluation.evaluate import edit_counts


def jiwer_counts(refs: list[str], hyps: list[str]) -> tuple[list[int], list[int]]:
    """Character and word edits per line, summed from jiwer's alignment chunks."""
    def edits(chunks) -> int:  # type: ignore[no-untyped-def]
        return sum((c.ref_end_idx - c.ref_start_idx) if c.type in ("substitute", "delete")
                   else (c.hyp_end_idx - c.hyp_start_idx) if c.type == "insert" else 0 for c in chunks)

    chars, words = jiwer.process_characters(refs, hyps), jiwer.process_words(refs, hyps)
    return [edits(a) for a in chars.alignments], [edits(a) for a in words.alignments]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(0)
    alphabet = "abcdefgh ij\t.,\u00e9e\u0301  "
    refs, hyps = [], []
    while len(refs) < args.pairs:
        ref = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))).strip()
        if ref:
            refs.append(ref)
            hyps.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))))
    best = {}
    for name, run in (("jiwer", lambda: jiwer_counts(refs, hyps)), ("rapidfuzz", lambda: edit_counts(refs, hyps))):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - t0)
        best[name] = (min(times), result)
    (tj, (jc, jw)), (tr, (rc, _, rw, _)) = best["jiwer"], best["rapidfuzz"]
    same = list(jc) == rc.tolist() and list(jw) == rw.tolist()
    print(f"pairs: {args.pairs}, best of {args.repeats}")
    print(f"jiwer alignments: {tj * 1000:8.1f} ms")
    print(f"rapidfuzz:        {tr * 1000:8.1f} ms")
    print(f"speed-up:         {tj / tr:8.1f}x")
    print(f"identical character and word counts: {same}")


if __name__ == "__main__":
    main()
