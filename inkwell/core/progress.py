"""Progress bars that still read in a saved notebook: a live bar while running, one line of text when done.

Stage ``core``: imports no other Inkwell module. In a notebook kernel with
ipywidgets, :func:`progress_bar` shows tqdm's widget bar through an IPython
display handle; when the bar closes, that output is replaced by a static line
(``text/plain`` and ``text/html``) such as ``decoding base: 56/56 lines in 12.3 s``,
so a saved or executed notebook opened without a kernel shows the final state
instead of a frozen ``0/56`` widget. Elsewhere it is a plain tqdm bar on stderr.

Both bars show the same figures: items done out of planned, the rate and the time
left, measured from the items done so far (tqdm's ``smoothing=0``: the mean rate
since the bar opened, pauses such as validation passes included). Where the
environment variable ``INKWELL_PROGRESS_LOG`` names a file (``make quickstart``
sets it), a bar also appends one :func:`status_line` to that file every
``INKWELL_PROGRESS_EVERY`` seconds (5 by default), from a thread, so a slow step
still leaves a line, and its final line when it closes: a console tailing the
file (the quickstart's) shows progress while papermill runs the notebook, and the
notebook keeps its one bar. :func:`machine_load` and :func:`show_note` say when a
busy machine slows CPU work and which thread setting was used.
"""

from __future__ import annotations

import html
import json
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from IPython import get_ipython
from IPython.display import display
from tqdm import notebook as tqdm_notebook
from tqdm.std import tqdm as std_tqdm

__all__ = ["CONSOLE_EVERY_ENV", "CONSOLE_LOG_ENV", "MachineLoad", "NotebookBar", "TextBar", "bar_class",
           "console_write", "final_line", "in_notebook", "machine_load", "progress_bar", "show_note", "status_line"]

#: Environment variable naming a file that bars append console lines to (JSON lines; see :func:`console_write`).
CONSOLE_LOG_ENV = "INKWELL_PROGRESS_LOG"
#: Environment variable: seconds between two console lines of one bar (default 5).
CONSOLE_EVERY_ENV = "INKWELL_PROGRESS_EVERY"


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel whose front end can show ipywidgets (JupyterLab, papermill)."""
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {}) and tqdm_notebook.IProgress is not None


def _duration(seconds: float) -> str:
    """``0.4 s``, ``12.3 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def final_line(desc: str, n: float, total: float | None, unit: str, seconds: float, postfix: str = "") -> str:
    """The one line a finished bar leaves behind.

    Args:
        desc: What was done (``"decoding base"``).
        n: Items done.
        total: Items planned (None when unknown).
        unit: What an item is, singular (``"line"``); ``"it"`` (tqdm's default) is left out.
        seconds: Time taken.
        postfix: tqdm's postfix (``"loss=0.1234"``), appended after a comma.

    Returns:
        ``"decoding base: 56/56 lines in 12.3 s"``; a bar closed early says
        ``"training: stopped at 40/100 steps after 8.1 s"``.
    """
    count = f"{n:g}" if total is None else f"{n:g}/{total:g}"
    last = total if total is not None else n
    words = "" if unit in ("", "it") else " " + (unit if last == 1 or unit.endswith("s") else unit + "s")
    head = f"{desc}: " if desc else ""
    if total is not None and n < total:
        text = f"{head}stopped at {count}{words} after {_duration(seconds)}"
    else:
        text = f"{head}{count}{words} in {_duration(seconds)}"
    return f"{text}, {postfix}" if postfix else text


def _plural(unit: str, count: float) -> str:
    if unit in ("", "it"):
        return ""
    return " " + (unit if count == 1 or unit.endswith("s") else unit + "s")


def status_line(desc: str, n: float, total: float | None, unit: str, elapsed: float, initial: float = 0,
                postfix: str = "") -> str:
    """One line of a running bar: items done out of planned, the rate and the time left, measured.

    The rate is the mean since the bar opened, ``(n - initial) / elapsed``, so the time left counts the
    slow steps and pauses seen so far; before the first item there is no rate and no estimate.

    Args:
        desc: What is being done (``"training"``).
        n: Items done (a resumed run counts its earlier steps).
        total: Items planned (None when unknown).
        unit: What an item is, singular (``"step"``).
        elapsed: Seconds since the bar opened.
        initial: Items already done when the bar opened (a resumed run's steps), left out of the rate.
        postfix: tqdm's postfix (``"loss=0.1234"``).

    Returns:
        ``"training: 120/2500 steps (5%), 2.40 steps/s, 16 min 32 s left, loss=0.1234"``, or
        ``"training: 0/2500 steps, started 4.0 s ago"`` before the first item.
    """
    head = f"{desc}: " if desc else ""
    count = f"{n:g}" if total is None else f"{n:g}/{total:g}"
    text = f"{head}{count}{_plural(unit, total if total is not None else n)}"
    if total:
        text += f" ({100 * n / total:.0f}%)"
    done = n - initial
    if done <= 0 or elapsed <= 0:
        text += f", started {_duration(elapsed)} ago"
    else:
        rate = done / elapsed
        name = unit if unit not in ("", "it") else "it"
        speed = f"{rate:.2f} {name}s/s" if rate >= 1 else f"{1 / rate:.2f} s/{name}"
        text += f", {speed}"
        if total is not None:
            text += f", {_duration(max(total - n, 0) / rate)} left"
    return f"{text}, {postfix}" if postfix else text


def console_write(kind: str, text: str) -> bool:
    """Append one line for the console to the file ``$INKWELL_PROGRESS_LOG`` names (nothing when unset).

    Each line is a JSON object ``{"t": <unix time>, "kind": ..., "text": ...}`` written with one
    ``write`` in append mode, so lines from a bar's thread and the main thread never interleave.

    Args:
        kind: ``"progress"`` (a running bar's :func:`status_line`), ``"final"`` (a bar's
            :func:`final_line`) or ``"note"`` (a :func:`show_note`).
        text: The line.

    Returns:
        Whether a line was written.
    """
    path = os.environ.get(CONSOLE_LOG_ENV)
    if not path:
        return False
    record = json.dumps({"t": round(time.time(), 3), "kind": kind, "text": text}, ensure_ascii=False)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(record + "\n")
    except OSError:
        return False  # a console that went away must not stop the work
    return True


def _console_every() -> float:
    try:
        return max(0.05, float(os.environ.get(CONSOLE_EVERY_ENV, "5")))
    except ValueError:
        return 5.0


class _ConsoleEcho:
    """A thread that appends a bar's :func:`status_line` to the console file every few seconds while it runs."""

    def __init__(self, bar: std_tqdm) -> None:
        self.bar = weakref.ref(bar)  # a bar dropped without close() stops its thread (tqdm closes on deletion)
        self.every = _console_every()
        self.started = time.monotonic()
        self.lines = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"console: {bar.desc}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            b = self.bar()
            if b is None:
                return
            line = status_line(b.desc or "", b.n, b.total, b.unit, time.monotonic() - self.started,
                               b.initial, b.postfix or "")
            del b
            if console_write("progress", line):
                self.lines += 1

    def close(self, final: str) -> None:
        """Stop the thread and write ``final`` when the bar ran long enough to have shown a line."""
        self._stop.set()
        self._thread.join(timeout=self.every + 1)
        if self.lines or time.monotonic() - self.started >= self.every:
            console_write("final", final)


class _Echoing:
    """Mixin for a tqdm class: mean-rate estimates (``smoothing=0``) and console lines (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("smoothing", 0)  # rate and time left from all the items so far, not the last few
        self._echo: _ConsoleEcho | None = None
        super().__init__(*args, **kwargs)
        if not self.disable and os.environ.get(CONSOLE_LOG_ENV):
            self._echo = _ConsoleEcho(self)

    def _close_echo(self) -> None:
        echo, self._echo = getattr(self, "_echo", None), None
        if echo is not None:
            d = self.format_dict
            echo.close(final_line(self.desc or "", self.n, self.total, self.unit, d["elapsed"], self.postfix or ""))


class TextBar(_Echoing, std_tqdm):
    """tqdm's text bar (on stderr), with mean-rate estimates and console lines."""

    def close(self) -> None:
        """Close the bar and its console thread."""
        self._close_echo()
        super().close()


class NotebookBar(_Echoing, tqdm_notebook.tqdm):
    """tqdm's widget bar shown through a display handle, replaced by :func:`final_line` as text when closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["display"] = False  # shown below with a display id, so close() can replace it
        kwargs["delay"] = 0
        self._handle: Any = None
        super().__init__(*args, **kwargs)
        if not self.disable:
            self._handle = display(self.container, display_id=True)
            self.displayed = True

    def close(self) -> None:
        """Close the bar and leave its final line in place of the widget."""
        if self.disable:
            return
        self._close_echo()
        d = self.format_dict
        line = final_line(self.desc or "", self.n, self.total, self.unit, d["elapsed"], self.postfix or "")
        super().close()
        if self._handle is None:
            return
        failed = self.total is not None and self.n < self.total
        color = "#b94a48" if failed else "#3c763d"
        self._handle.update({
            "text/plain": line,
            "text/html": f'<div style="font-family: monospace; color: {color}">{html.escape(line)}</div>',
        }, raw=True)
        self._handle = None
        for widget in (*self.container.children, self.container):
            widget.close()  # the widget is no longer shown; free it in the kernel and the front end


def bar_class() -> type[std_tqdm]:
    """The tqdm class for here: :class:`NotebookBar` in a notebook kernel, else :class:`TextBar`."""
    return NotebookBar if in_notebook() else TextBar


def progress_bar(total: int | None, desc: str, unit: str = "it", disable: bool = False, **kwargs: Any) -> std_tqdm:
    """A progress bar that leaves one line of text behind in a notebook (see the module docstring).

    Use it like tqdm: ``update(n)``, ``set_postfix(...)``, ``close()`` or a ``with`` block.

    Args:
        total: Items planned (None when unknown).
        desc: What is being done, named so several bars can be told apart (``"decoding base"``).
        unit: What an item is, singular (``"line"``).
        disable: Show nothing at all.
        **kwargs: Other tqdm arguments (``iterable``, ``leave``, ...).

    Returns:
        A tqdm bar: a :class:`NotebookBar` in a notebook kernel, else a :class:`TextBar` on stderr.
    """
    cls = bar_class()
    if cls is TextBar:
        kwargs.setdefault("file", sys.stderr)
    return cls(total=total, desc=desc, unit=unit, disable=disable, **kwargs)


@dataclass(frozen=True)
class MachineLoad:
    """How busy the CPU is, and the thread setting the work uses.

    Attributes:
        cores: Logical CPUs (``os.cpu_count()``).
        load: Mean number of runnable tasks over the last minute (``os.getloadavg()[0]``), this work included.
        threads: Threads the work uses (torch's ``get_num_threads()``).
        omp_num_threads: ``OMP_NUM_THREADS`` as set ("" when unset).
    """

    cores: int
    load: float
    threads: int
    omp_num_threads: str = ""

    @property
    def busy(self) -> bool:
        """Load above the cores (with a quarter's margin for this work's own jitter): CPU work slows down."""
        return self.load > 1.25 * self.cores

    def text(self) -> str:
        """``"CPU: 2 cores, load 0.6, torch threads 2 (OMP_NUM_THREADS=2)"``, and a warning when busy."""
        omp = f"OMP_NUM_THREADS={self.omp_num_threads}" if self.omp_num_threads else "OMP_NUM_THREADS unset"
        text = f"CPU: {self.cores} cores, load {self.load:.1f}, torch threads {self.threads} ({omp})"
        if self.busy:
            text += (f"; the machine is busy (load {self.load:.1f} above its {self.cores} cores): CPU training "
                     "runs several times slower than on an idle machine, and the time left counts it")
        return text


def machine_load(threads: int) -> MachineLoad | None:
    """The CPU's load now and ``threads``; None where the system gives no load average (Windows)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return MachineLoad(os.cpu_count() or 1, load, threads, os.environ.get("OMP_NUM_THREADS", ""))


def show_note(text: str, handle: Any = None) -> Any:
    """Show one line of text beside the bars: an output in a notebook, else on stderr; also on the console.

    Args:
        text: The line.
        handle: What an earlier call returned, to replace that line in place in a notebook.

    Returns:
        A display handle in a notebook (pass it back to update the line), else None.
    """
    console_write("note", text)
    if not in_notebook():
        print(text, file=sys.stderr, flush=True)
        return None
    if handle is not None:
        handle.update({"text/plain": text}, raw=True)
        return handle
    return display({"text/plain": text}, raw=True, display_id=True)
