"""Progress bars that still read in a saved notebook: a live bar while running, one line of text when done.

Stage ``core``: imports no other Inkwell module. In a notebook kernel with
ipywidgets, :func:`progress_bar` shows tqdm's widget bar through an IPython
display handle; when the bar closes, that output is replaced by a static line
(``text/plain`` and ``text/html``) such as ``decoding base: 56/56 lines in 12.3 s``,
so a saved or executed notebook opened without a kernel shows the final state
instead of a frozen ``0/56`` widget. Elsewhere it is a plain tqdm bar on stderr.
"""

from __future__ import annotations

import html
import sys
from typing import Any

from IPython import get_ipython
from IPython.display import display
from tqdm import notebook as tqdm_notebook
from tqdm.std import tqdm as std_tqdm

__all__ = ["NotebookBar", "bar_class", "final_line", "in_notebook", "progress_bar"]


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


class NotebookBar(tqdm_notebook.tqdm):
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
    """The tqdm class for here: :class:`NotebookBar` in a notebook kernel, else tqdm's text bar."""
    return NotebookBar if in_notebook() else std_tqdm


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
        A tqdm bar: a :class:`NotebookBar` in a notebook kernel, else tqdm's text bar on stderr.
    """
    cls = bar_class()
    if cls is std_tqdm:
        kwargs.setdefault("file", sys.stderr)
    return cls(total=total, desc=desc, unit=unit, disable=disable, **kwargs)
