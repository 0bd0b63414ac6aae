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
``(12.3 MB)``, or the size of a local wheel file), because a few wheels are most of the work.

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
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: pip's lines that name a wheel, with its size when pip knows it.
WHEEL = re.compile(r"^\s*(?:Processing|Downloading|Using cached|File was already downloaded)\s+(?P<path>\S+?\.whl)"
                   r"(?:\s+\((?P<size>[\d.]+)\s*(?P<unit>[kMG]?B)\))?")
COLLECTING = re.compile(r"^\s*(?:Collecting|Processing|Obtaining)\s")
INSTALLING = "Installing collected packages:"
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
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


def installed(venv: Path) -> set[str]:
    """The ``*.dist-info`` folder names in the venv's site-packages."""
    found: set[str] = set()
    for folder in site_packages(venv):
        try:
            found.update(e.name for e in os.scandir(folder) if e.name.endswith(".dist-info"))
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
    to_install: list[str] | None = None  # from "Installing collected packages:"
    install_start: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, line: str) -> None:
        """Take note of one line of pip's output."""
        with self.lock:
            if line.startswith(INSTALLING):
                self.to_install = [normalize(n) for n in line[len(INSTALLING):].split(",") if n.strip()]
                self.install_start = time.monotonic()
                return
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


class Reporter:
    """The ``[setup]`` lines: one phase at a time, a running line every interval, a final line when it ends."""

    def __init__(self, venv: Path, total: int, out: "SyncWriter") -> None:
        self.venv, self.total, self.out = venv, total, out
        self.start = time.monotonic()
        self.before = installed(venv)
        self.phase = "collecting"

    def installing_progress(self, state: State) -> tuple[int, int, float, float]:
        """(installed, to install, bytes installed, bytes in all) of the install phase."""
        todo = set(state.to_install or [])
        done = {dist_name(d) for d in installed(self.venv) - self.before} & todo
        known = [state.sizes[n] for n in todo if n in state.sizes]
        fallback = sorted(known)[len(known) // 2] if known else 1.0  # a package pip gave no size for: the median
        size = {n: state.sizes.get(n, fallback) for n in todo}
        return len(done), len(todo), sum(size[n] for n in done), sum(size.values())

    def tick(self, state: State) -> None:
        """Print the running line of the current phase (and the collecting phase's final line once it ended)."""
        now = time.monotonic()
        with state.lock:
            to_install, install_start, collected = state.to_install, state.install_start, state.collected
        if to_install is not None and self.phase == "collecting":
            self.out.line(f"[setup] collecting: {collected}/{collected} packages in {duration(install_start - self.start)}")
            self.phase = "installing"
        if self.phase == "collecting":
            done, total = collected, max(self.total, collected)
            so_far = now - self.start
            left = f", {duration(so_far * (total - done) / done)} left" if done else ""
            pct = f" ({100 * done // total}%)" if total else ""
            self.out.line(f"[setup] collecting: {done}/{total} packages{pct}, {duration(so_far)} so far{left}")
            return
        done, total, done_bytes, all_bytes = self.installing_progress(state)
        so_far = now - install_start
        left = f", {duration(so_far * (all_bytes - done_bytes) / done_bytes)} left" if done_bytes else ""
        gb = f" ({done_bytes / 1e9:.1f}/{all_bytes / 1e9:.1f} GB)" if all_bytes > 1e6 else ""
        self.out.line(f"[setup] installing: {done}/{total} packages{gb}, {duration(so_far)} so far{left}")

    def finish(self, state: State, code: int) -> None:
        """The final line of the phase that was running when pip ended."""
        now = time.monotonic()
        if code != 0:
            self.out.line(f"[setup] pip failed (exit code {code}) after {duration(now - self.start)}")
            return
        if state.to_install is None:
            self.out.line(f"[setup] collecting: {state.collected}/{state.collected} packages in "
                          f"{duration(now - self.start)}; nothing to install")
            return
        if self.phase == "collecting":
            self.out.line(f"[setup] collecting: {state.collected}/{state.collected} packages in "
                          f"{duration(state.install_start - self.start)}")
        done, total, _, _ = self.installing_progress(state)
        self.out.line(f"[setup] installing: {total}/{total} packages in {duration(now - state.install_start)}")


class SyncWriter:
    """Whole lines to a stream from two threads."""

    def __init__(self, stream) -> None:  # noqa: ANN001 (a text stream)
        self.stream, self.lock = stream, threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            self.stream.write(text.rstrip("\n") + "\n")
            self.stream.flush()


def run(command: list[str], venv: Path, lock: Path | None, interval: float, out=sys.stdout) -> int:  # noqa: ANN001
    """Run ``command``, pass its output through to ``out`` with progress lines, and return its exit code."""
    writer = SyncWriter(out)
    total = len(lock_packages(lock)) if lock else 0
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
                    state.read(part)
                    writer.line(part)

    reader = threading.Thread(target=pass_through, daemon=True)
    reader.start()
    try:
        while True:
            try:
                code = child.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                reporter.tick(state)
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
