"""The corrector's line editor: one widget that carries its own JavaScript (anywidget), no JupyterLab extension.

Stage ``views``: imports nothing of Inkwell. The front end is ``editor.js`` (an ES module with no imports, so it
renders wherever anywidget renders: JupyterLab 4, Notebook 7, VS Code and Cursor) and ``editor.css``, both beside
this file. The kernel sets the traits below; the browser answers with one message per action::

    {"action": "check" | "not_text" | "next" | "back" | "open" | "join", "key": <line shown>, "text": <the box>,
     "target": <line key, for "open">}

so a check always holds exactly what was in the box when Enter was pressed, whatever the machine's speed.
:mod:`inkwell.views.corrector` decides what each action does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

__all__ = ["ACTIONS", "LineEditor", "editor_source"]

#: What the browser can ask for (the ``action`` of a message).
ACTIONS = ("check", "not_text", "next", "back", "open", "join")


@functools.cache
def editor_source() -> tuple[str, str]:
    """The editor's ES module and its style sheet (read once, when the first editor is made)."""
    here = Path(__file__).parent
    return (here / "editor.js").read_text(encoding="utf-8"), (here / "editor.css").read_text(encoding="utf-8")


class LineEditor(anywidget.AnyWidget):
    """The line shown, its page with every box, the palette; each action comes back as one message.

    Attributes (synced to the browser):
        line: The line shown: ``key``, ``serial`` (changes on every push, so the browser always hears the answer),
            ``text`` (what the box starts with), ``image`` (data URI), ``info_html``, ``read_html``, ``position``,
            ``has_back``, ``has_next``, ``can_join``.
        page_image: The page the line comes from (data URI; ``""`` for a line image).
        page_size: That page's ``[width, height]`` in the coordinates of ``boxes``.
        boxes: The page's lines: ``key``, ``points`` (``"x,y x,y ..."``), ``color`` (by confidence), ``state``
            (``unchecked``, ``accepted``, ``corrected``, ``no_text``) and ``title``.
        palette: Characters the palette offers (Alt+1 ... Alt+0 insert the first ten).
    """

    line = traitlets.Dict().tag(sync=True)
    page_image = traitlets.Unicode("").tag(sync=True)
    page_size = traitlets.List(traitlets.Int(), default_value=[0, 0]).tag(sync=True)
    boxes = traitlets.List(traitlets.Dict()).tag(sync=True)
    palette = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, on_action: Callable[[dict[str, Any]], None], **kwargs: Any) -> None:
        self._esm, self._css = editor_source()
        super().__init__(**kwargs)
        self._on_action = on_action
        self.on_msg(self._message)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("action") in ACTIONS:
            self._on_action({"action": content["action"], "key": str(content.get("key", "")),
                             "text": str(content.get("text", "")), "target": str(content.get("target", ""))})

    def send_action(self, action: str, key: str, text: str = "", target: str = "") -> None:
        """What the browser sends for ``action`` (for tests and scripts): the same path as a real message."""
        self._handle_custom_msg({"action": action, "key": key, "text": text, "target": target}, [])
