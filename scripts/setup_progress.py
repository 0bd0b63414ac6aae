"""Run ``make setup``'s pip install and say every few seconds how far it is and how long is left.

pip prints a line per package while it collects them, then ``Installing collected packages: ...`` and nothing
more until the end (a minute or more: PyTorch and its CUDA libraries are most of the 7 GB). This wrapper runs
the pip command given after ``--`` as a child, passes its output through line by line, and every
``--interval`` seconds prints a line such as::

    [setup] collecting: 120/211 packages (57%), 18 s so far, 14.0 s left
    [setup] installing: 120/211 packages (2.1/3.4 GB), 55 s so far, 40.2 s left

The phase's final line (``[setup] installing: 211/211 packages in 1 min 32 s``) follows when it ends, so that
``scripts/progress_report.py`` can measure the estimates. Collected packages are counted from pip's lines, out of
the lock's packages whose environment marker holds here; installed ones are the ``*.dist-info`` folders that
appear in the venv's site-packages. The time left while installing is weighted by each wheel's size (pip's
contents, read from the wheel's zip directory (a local wheel, or the one pip downloaded into its temporary
``pip-unpack-*`` folder): pip's time goes mostly to compiling ``.py`` files (about 0.17 s an MB on 2 cores),
then to writing other files (5 ms an MB) and to each file (0.4 ms); torch alone (15,000 files) takes 12 to 17
of its 80 to 110 s. A wheel not found is costed from pip's ``(12.3 MB)`` at the median cost per packed byte of
the others. pip installs in the order it lists, one package after the other, so the estimate takes the rate up
to the last package finished and the time the package in progress has had since. Until the install has run a while,
that rate says little (the first packages are small), so it starts from the costs themselves, which are seconds on
2 idle cores, and moves to the measured rate as the install goes on (``PRIOR_SECONDS``).

It runs with the system Python before the venv has anything installed, so it uses the standard library only
(``packaging`` would evaluate the markers; the lock's markers need only the comparisons written here). It exits
with pip's exit code.

Usage (the Makefile's ``setup`` target)::

    python3 scripts/setup_progress.py --venv .venv --lock requirements.lock -- .venv/bin/python -m pip install ...
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

#: pip's lines that name a wheel, with its size when pip knows it.
WHEEL = re.compile(r"^\s*(?:Processing|Downloading|Using cached|File was already downloaded)\s+(?P<path>\S+?\.whl)"
                   r"(?:\s+\((?P<size>[\d.]+)\s*(?P<unit>[kMG]?B)\))?")
COLLECTING = re.compile(r"^\s*(?:Collecting|Processing|Obtaining|Requirement already satisfied:)\s")
INSTALLING = "Installing collected packages:"
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
#: Seconds pip spends on 2 idle cores per MB of .py source, per MB of other files, per file (least squares over the
#: lock's 211 wheels, their ratios; scaled so that their sum is the install's time on a fresh clone, 86 s for a sum
#: of 86 s, from the packages' RECORD files and their dist-info times).
COST_PY_MB, COST_OTHER_MB, COST_FILE = 0.135, 0.0040, 0.00030
#: Seconds of install before the first time left (the next tick moves up to then, so lines stay under 15 s apart).
FIRST_ESTIMATE = 5.0
#: How many seconds of install the costs count for against the rate measured: at 20 s in, each weighs half. A pace
#: taken from the first small packages alone said 43 s left of 90 at 15 s in (-52%) on a fresh clone.
PRIOR_SECONDS = 20.0
#: One comparison of a marker: ``platform_machine == 'x86_64'``, ``'linux' not in sys_platform``.
COMPARISON = re.compile(r"(\w+|'[^']*'|\"[^\"]*\")\s*(==|!=|<=|>=|<|>|not in|in)\s*(\w+|'[^']*'|\"[^\"]*\")")


def normalize(name: str) -> str:
    """A distribution's name as pip and dist-info folders compare it (PEP 503, ``-`` for ``_`` and ``.``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def duration(seconds: float) -> str:
    """``12.3 s``, ``2 min 05 s``, ``1 h 02 min`` (the format of inkwell.core.progress, which needs the venv)."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def marker_environment() -> dict[str, str]:
    """The PEP 508 variables the lock's markers use, for the running interpreter."""
    return {"platform_machine": platform.machine(), "sys_platform": sys.platform, "os_name": os.name,
            "implementation_name": sys.implementation.name,
            "python_full_version": platform.python_version(),
            "python_version": ".".join(platform.python_version_tuple()[:2]),
            "platform_system": platform.system()}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def marker_holds(marker: str, env: dict[str, str]) -> bool:
    """Evaluate an environment marker made of comparisons joined by ``and``/``or``/parentheses.

    Raises:
        ValueError: for a marker with other syntax (the caller then counts the package).
    """
    def compare(m: re.Match[str]) -> str:
        left, op, right = (env[t] if t in env else t.strip("'\"") for t in (m[1], m[2], m[3]))
        op = m[2]
        if op in ("in", "not in"):
            result = (left in right) == (op == "in")
        elif "version" in m[1] or "version" in m[3]:
            a, b = _version(left), _version(right)
            result = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        else:
            result = {"==": left == right, "!=": left != right}.get(op, False)
        return f" {result} "

    expression = COMPARISON.sub(compare, marker)
    if not re.fullmatch(r"[\s()]*((True|False|and|or|not)[\s()]*)*", expression):
        raise ValueError(f"marker not understood: {marker!r}")
    return bool(eval(expression, {"__builtins__": {}}))  # only True/False/and/or/not/parentheses are left


def lock_packages(lock: Path) -> set[str]:
    """Names (normalized) of the lock's packages whose marker holds here."""
    env, names = marker_environment(), set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==[^;]*(?:;(.*))?$", line.strip())
        if not m:
            continue
        try:
            holds = marker_holds(m[2], env) if m[2] else True
        except (ValueError, KeyError, SyntaxError):
            holds = True
        if holds:
            names.add(normalize(m[1]))
    return names


def site_packages(venv: Path) -> list[Path]:
    """Where the venv's packages go (``lib/pythonX.Y/site-packages``, or ``Lib/site-packages`` on Windows)."""
    return sorted(venv.glob("lib/python*/site-packages")) + sorted(venv.glob("Lib/site-packages"))


def installed(venv: Path) -> dict[str, float]:
    """The ``*.dist-info`` folder names in the venv's site-packages, each with its last change (epoch seconds).

    pip writes a package's dist-info last, so that time is when the package's install finished.
    """
    found: dict[str, float] = {}
    for folder in site_packages(venv):
        try:
            for e in os.scandir(folder):
                if e.name.endswith(".dist-info"):
                    found[e.name] = e.stat().st_mtime
        except OSError:
            pass
    return found


def dist_name(dist_info: str) -> str:
    """``nvidia_cudnn_cu12-9.1.0.dist-info`` -> ``nvidia-cudnn-cu12``; wheel names work the same."""
    return normalize(Path(dist_info).name.split("-")[0])


@dataclass
class State:
    """What pip's output has told so far (written by the reader thread, read by the ticker)."""

    collected: int = 0
    sizes: dict[str, float] = field(default_factory=dict)  # normalized name -> wheel bytes
    wheels: dict[str, str] = field(default_factory=dict)  # normalized name -> wheel file or name pip printed
    to_install: list[str] | None = None  # from "Installing collected packages:"
    install_start: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, line: str) -> bool:
        """Take note of one line of pip's output; True when it is the one that starts the install."""
        with self.lock:
            if line.startswith(INSTALLING):
                self.to_install = [normalize(n.strip()) for n in line[len(INSTALLING):].split(",") if n.strip()]
                self.install_start = time.time()
                return True
            if COLLECTING.match(line):
                self.collected += 1
            if m := WHEEL.match(line):
                name = dist_name(m["path"])
                if m["size"]:
                    self.sizes[name] = float(m["size"]) * UNITS[m["unit"]]
                elif name not in self.sizes:
                    path = m["path"].removeprefix("file://")
                    if os.path.isfile(path):
                        self.sizes[name] = float(os.path.getsize(path))
                self.wheels.setdefault(name, m["path"].removeprefix("file://"))
        return False


def find_wheel(path: str) -> str | None:
    """A wheel pip named: the local file, or the one it downloaded into its temporary ``pip-unpack-*`` folder."""
    if os.path.isfile(path):
        return path
    name = path.rsplit("/", 1)[-1]
    found = sorted(Path(tempfile.gettempdir()).glob(f"pip-unpack-*/{name}"))
    return str(found[0]) if found else None


def wheel_cost(path: str) -> tuple[float, int] | None:
    """(cost to install, packed size) of a wheel, from its zip directory (a few ms, even for torch's);
    None if it cannot be read."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
        packed = os.path.getsize(path)
    except (OSError, zipfile.BadZipFile):
        return None
    py = sum(i.file_size for i in infos if i.filename.endswith(".py"))
    other = sum(i.file_size for i in infos) - py
    return COST_PY_MB * py / 1e6 + COST_OTHER_MB * other / 1e6 + COST_FILE * len(infos), packed


def install_costs(names: list[str], sizes: dict[str, float], wheels: dict[str, str]) -> dict[str, float]:
    """Each package's cost to install (seconds on the machine the COST_ constants were measured on).

    A wheel that cannot be read is costed from its size at the median cost per packed byte of the others; a
    package with no wheel named (the editable project) gets the median cost.
    """
    read = {n: c for n in names if n in wheels and (found := find_wheel(wheels[n])) and (c := wheel_cost(found))}
    per_byte = statistics.median([cost / packed for cost, packed in read.values() if packed] or [1e-8])
    costs = {n: c[0] for n, c in read.items()}
    costs.update({n: sizes[n] * per_byte for n in names if n not in costs and n in sizes})
    fallback = statistics.median(costs.values()) if costs else 1.0
    return {n: costs.get(n, fallback) for n in names}


class Reporter:
    """The ``[setup]`` lines: one phase at a time, a running line every interval, a final line when it ends."""

    def __init__(self, venv: Path, total: int, out: "SyncWriter") -> None:
        self.venv, self.total, self.out = venv, total, out
        self.start = time.time()
        self.before = installed(venv)
        self.phase = "collecting"
        self.costs: dict[str, float] | None = None
        self.last_done = 0  # packages installed at the last look
        self.lock = threading.Lock()  # the reader thread ends the collecting phase, the main thread ticks

    def end_collecting(self, state: State) -> None:
        """The collecting phase's final line, printed as pip starts to install."""
        with self.lock:
            if self.phase == "collecting":
                self.phase = "installing"
                self.out.line(f"[setup] collecting: {state.collected}/{state.collected} packages in "
                              f"{duration(state.install_start - self.start)}")

    def installing_progress(self, state: State) -> tuple[int, int, float, float, float, float]:
        """(installed, to install, cost installed, cost of the package in progress, cost in all, time the last
        package finished) of the install.

        pip installs in the order of its ``Installing collected packages`` line, so the package in progress is the
        first one of that list not yet installed.
        """
        with state.lock:
            order, sizes, wheels = list(state.to_install or []), dict(state.sizes), dict(state.wheels)
        if self.costs is None:
            self.costs = install_costs(order, sizes, wheels)
        new = {dist_name(d): t for d, t in installed(self.venv).items() if d not in self.before}
        done = set(new) & set(order)
        pending = [n for n in order if n not in done]
        current = self.costs[pending[0]] if pending else 0.0
        last = max((new[n] for n in done), default=0.0)
        return (len(done), len(order), sum(self.costs[n] for n in done), current, sum(self.costs.values()), last)

    def time_left(self, state: State, now: float) -> float:
        """Seconds left to install, from the rate up to the last package finished, weighed with the costs
        themselves (seconds on 2 idle cores) as if they had been measured over ``PRIOR_SECONDS``."""
        done, _, done_cost, current, all_cost, last = self.installing_progress(state)
        self.last_done = done
        last = max(last, state.install_start)
        rate = (done_cost + PRIOR_SECONDS) / (last - state.install_start + PRIOR_SECONDS)
        rest = all_cost - done_cost
        # the package in progress has been installing since the last one finished; once it takes longer than
        # its share, only the packages after it are left
        return max(0.0, rest / rate - (now - last), (rest - current) / rate)

    def tick(self, state: State, interval: float) -> float:
        """Print the running line of the current phase; return the seconds until the next.

        The install's first line waits until it has run ``FIRST_ESTIMATE`` seconds, so that pip has unpacked the
        wheels whose contents give the costs.
        """
        now = time.time()
        with state.lock:
            install_start, collected = state.install_start, state.collected
        with self.lock:
            if self.phase == "collecting":
                done, total = collected, max(self.total, collected)
                so_far = now - self.start
                left = f", {duration(so_far * (total - done) / done)} left" if done else ""
                pct = f" ({100 * done // total}%)" if total else ""
                self.out.line(f"[setup] collecting: {done}/{total} packages{pct}, {duration(so_far)} so far{left}")
                return interval
        if now - install_start < FIRST_ESTIMATE:
            return FIRST_ESTIMATE - (now - install_start)
        left = self.time_left(state, now)
        done, total = self.last_done, len(self.costs or {})
        self.out.line(f"[setup] installing: {done}/{total} packages, {duration(now - install_start)} so far, "
                      f"{duration(left)} left")
        return interval

    def finish(self, state: State, code: int) -> None:
        """The final line of the phase that was running when pip ended."""
        now = time.time()
        if code != 0:
            self.out.line(f"[setup] pip failed (exit code {code}) after {duration(now - self.start)}")
            return
        if state.to_install is None:
            self.out.line(f"[setup] collecting: {state.collected}/{state.collected} packages in "
                          f"{duration(now - self.start)}; nothing to install")
            return
        self.end_collecting(state)
        total = len(state.to_install)
        self.out.line(f"[setup] installing: {total}/{total} packages in {duration(now - state.install_start)}")


class SyncWriter:
    """Whole lines to a stream from two threads."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.lock = stream, threading.Lock()

    def line(self, text: str) -> None:
        """Write ``text`` as one line and flush."""
        with self.lock:
            self.stream.write(text.rstrip("\n") + "\n")
            self.stream.flush()


def run(command: list[str], venv: Path, lock: Path | None, interval: float, out: TextIO | None = None) -> int:
    """Run ``command``, pass its output through to ``out`` with progress lines, and return its exit code."""
    writer = SyncWriter(out or sys.stdout)
    # the lock's packages for this platform, and the project itself when installed editable (``-e .``)
    total = (len(lock_packages(lock)) if lock else 0) + sum(a in ("-e", "--editable") for a in command)
    state = State()
    reporter = Reporter(venv, total, writer)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                             text=True, encoding="utf-8", errors="replace", bufsize=1)

    def pass_through() -> None:
        assert child.stdout is not None
        for raw in child.stdout:
            for part in raw.rstrip("\n").split("\r"):
                if part.strip():
                    starts_install = state.read(part)
                    writer.line(part)
                    if starts_install:
                        reporter.end_collecting(state)

    reader = threading.Thread(target=pass_through, daemon=True)
    reader.start()
    wait = interval
    try:
        while True:
            try:
                code = child.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                wait = reporter.tick(state, interval)
    except KeyboardInterrupt:
        child.terminate()
        code = child.wait()
    reader.join(timeout=5)
    reporter.finish(state, code)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, required=True, help="the venv pip installs into")
    parser.add_argument("--lock", type=Path, help="requirements.lock: its packages for this platform are the total")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between progress lines")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the pip command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the pip command after --")
    return run(command, args.venv, args.lock, args.interval)


if __name__ == "__main__":
    sys.exit(main())
