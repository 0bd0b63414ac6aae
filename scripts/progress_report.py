"""Check a captured console log: how often it printed, and how right its time-left estimates were.

The log is what ``make quickstart`` (or any command) printed, each line prefixed with the wall-clock
time it arrived, in seconds since the epoch, the way this pipe writes it::

    python -u scripts/quickstart.py 2>&1 | python scripts/progress_report.py --stamp > console.log
    python scripts/progress_report.py console.log

For every progress line with a time left (``training: 120/2500 steps (5%), 2.40 steps/s, 16 min 31 s
left``) it compares the estimate with the time that really remained until that bar's final line
(``training: 2500/2500 steps in 2 min 56 s``) and prints the relative error of each, their median and
worst, and the longest silence of the console. It exits with 1 when a silence is longer than
``--max-gap`` seconds or an estimate made at least ``--min-left`` seconds before the end is off by
more than ``--tolerance``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: A progress line: ``[name] desc: n/total unit(s) (p%), rate, <duration> left[, postfix]``.
PROGRESS = re.compile(r"^(?:\[(?P<name>[^\]]+)\] )?(?P<desc>[^:\[\]]+): (?P<n>\d+)/(?P<total>\d+)\b[^,]*, "
                      r"[^,]+, (?P<left>[^,]+) left\b")
#: A bar's final line: ``[name] desc: n/total unit(s) in <duration>`` or ``... stopped at n/total ...``.
FINAL = re.compile(r"^(?:\[(?P<name>[^\]]+)\] )?(?P<desc>[^:\[\]]+): (?:stopped at )?(?P<n>\d+)/(?P<total>\d+)\b"
                   r"[^,]* (?:in|after) ")
DURATION = re.compile(r"^(?:(?P<h>\d+) h )?(?:(?P<m>\d+) min ?)?(?:(?P<s>[\d.]+) s)?$")


def parse_duration(text: str) -> float:
    """``"1.8 s"``, ``"16 min 31 s"``, ``"1 h 02 min"`` -> seconds (the formats of inkwell.core.progress)."""
    m = DURATION.match(text.strip())
    if not m or not any(m.groupdict().values()):
        raise ValueError(f"not a duration: {text!r}")
    return 3600 * int(m["h"] or 0) + 60 * int(m["m"] or 0) + float(m["s"] or 0)


@dataclass(frozen=True)
class Estimate:
    """One time-left estimate and what really remained."""

    at: float  # when the line was printed (epoch seconds)
    bar: str  # "[name] desc"
    done: int
    total: int
    left: float  # estimated seconds left
    real: float  # seconds until the bar's final line

    @property
    def error(self) -> float:
        """Relative error of the estimate: (estimate - real) / real."""
        return (self.left - self.real) / self.real if self.real > 0 else float("inf")


@dataclass(frozen=True)
class Report:
    """What :func:`check` found in a log."""

    lines: int
    seconds: float
    longest_gap: float
    gap_at: str  # the line printed after the longest silence
    estimates: list[Estimate]

    def within(self, tolerance: float, min_left: float) -> tuple[int, int]:
        """(estimates within ``tolerance``, estimates counted), of those made ``min_left`` s or more before the end."""
        counted = [e for e in self.estimates if e.real >= min_left]
        return sum(abs(e.error) <= tolerance for e in counted), len(counted)

    def text(self, tolerance: float, min_left: float) -> str:
        """A few lines for a person: gaps, and the estimates' errors."""
        out = [f"{self.lines} lines over {self.seconds:.0f} s; longest silence {self.longest_gap:.1f} s "
               f"(before: {self.gap_at[:100]!r})"]
        for bar in dict.fromkeys(e.bar for e in self.estimates):
            errs = [e for e in self.estimates if e.bar == bar]
            out.append(f"{bar}: {len(errs)} estimates")
            for e in errs:
                out.append(f"  {e.done:>6}/{e.total}: {e.left:8.1f} s left estimated, {e.real:8.1f} s real, "
                           f"error {100 * e.error:+6.1f}%")
        ok, counted = self.within(tolerance, min_left)
        counted_errors = [abs(e.error) for e in self.estimates if e.real >= min_left]
        if counted_errors:
            out.append(f"estimates made {min_left:g} s or more before the end: {ok}/{counted} within "
                       f"{100 * tolerance:.0f}%, median error {100 * statistics.median(counted_errors):.1f}%, "
                       f"worst {100 * max(counted_errors):.1f}%")
        return "\n".join(out)


def read_stamped(lines: Iterable[str]) -> Iterator[tuple[float, str]]:
    """``"<epoch seconds> <text>"`` lines -> (time, text); a ``\\r`` inside a line keeps its last part."""
    for raw in lines:
        stamp, _, text = raw.rstrip("\n").partition(" ")
        try:
            t = float(stamp)
        except ValueError:
            continue
        yield t, text.split("\r")[-1]


def check(lines: Iterable[str]) -> Report:
    """Read a stamped log (see :func:`read_stamped`) and pair each estimate with its bar's end."""
    rows = list(read_stamped(lines))
    if not rows:
        raise ValueError("no stamped lines in the log")
    gap, gap_at = 0.0, rows[0][1]
    for (t0, _), (t1, text) in zip(rows, rows[1:]):
        if t1 - t0 > gap:
            gap, gap_at = t1 - t0, text
    estimates: list[Estimate] = []
    pending: dict[str, list[tuple[float, re.Match[str]]]] = {}
    for t, text in rows:
        if m := PROGRESS.match(text):
            key = f"[{m['name'] or ''}] {m['desc'].strip()}"
            pending.setdefault(key, []).append((t, m))
        elif m := FINAL.match(text):
            key = f"[{m['name'] or ''}] {m['desc'].strip()}"
            for t_i, p in pending.pop(key, []):
                estimates.append(Estimate(t_i, key, int(p["n"]), int(p["total"]), parse_duration(p["left"]), t - t_i))
    return Report(len(rows), rows[-1][0] - rows[0][0], gap, gap_at, estimates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", nargs="?", help="a stamped console log (omit with --stamp)")
    parser.add_argument("--stamp", action="store_true", help="copy stdin to stdout, each line stamped with its time")
    parser.add_argument("--max-gap", type=float, default=15.0, help="longest silence allowed, seconds")
    parser.add_argument("--tolerance", type=float, default=0.5, help="largest relative error of an estimate")
    parser.add_argument("--min-left", type=float, default=15.0,
                        help="judge only estimates made this many seconds or more before the end")
    args = parser.parse_args(argv)
    if args.stamp:
        for line in sys.stdin:
            sys.stdout.write(f"{time.time():.3f} {line}")
            sys.stdout.flush()
        return 0
    if not args.log:
        parser.error("give a log, or --stamp")
    with open(args.log, encoding="utf-8", errors="replace") as f:
        report = check(f)
    print(report.text(args.tolerance, args.min_left))
    ok, counted = report.within(args.tolerance, args.min_left)
    return 0 if report.longest_gap <= args.max_gap and ok == counted else 1


if __name__ == "__main__":
    sys.exit(main())
