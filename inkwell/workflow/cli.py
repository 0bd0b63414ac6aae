"""A notebook's parameters on the command line: its ``parameters`` cell as defaults, ``-p NAME VALUE`` to change one.

Stage ``workflow``: imports :mod:`inkwell.core.paths` and :mod:`inkwell.workflow.validate`. The defaults are read
from the notebook itself (the cell tagged ``parameters``: one literal assignment per line),
so a script and its notebook never disagree on them. Values on the command line are read
as papermill's ``-p`` reads them: Python literals when they parse as one, text otherwise.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inkwell.core.paths import PROJECT_ROOT
from inkwell.workflow.validate import ParameterError

__all__ = ["describe_parameters", "notebook_parameters", "parameters_cell", "parse_overrides"]


def _notebook_path(name: str) -> Path:
    path = Path(name) if name.endswith(".ipynb") else PROJECT_ROOT / "notebooks" / f"{name}.ipynb"
    if not path.is_file():
        have = ", ".join(p.stem for p in sorted((PROJECT_ROOT / "notebooks").glob("0*.ipynb")))
        raise FileNotFoundError(f"No notebook {path}: name one of {have}.")
    return path


def parameters_cell(name: str) -> str:
    """The source of a notebook's ``parameters`` cell.

    Args:
        name: A notebook of ``notebooks/`` without its suffix (``"02_finetune"``), or a path to an ``.ipynb``.

    Raises:
        FileNotFoundError: No such notebook.
        ValueError: The notebook has no code cell tagged ``parameters``.
    """
    path = _notebook_path(name)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]  # the nbformat 4 layout, read as plain JSON
    for cell in cells:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            return source if isinstance(source, str) else "".join(source)
    raise ValueError(f"{path} has no code cell tagged 'parameters'.")


def notebook_parameters(name: str = "02_finetune") -> dict[str, Any]:
    """The defaults of a notebook: each ``name = literal`` of its ``parameters`` cell, in the cell's order.

    Raises:
        ValueError: A line of the cell is not a literal assignment to one name (the line is named).
    """
    out: dict[str, Any] = {}
    for node in ast.parse(parameters_cell(name)).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"{name}: parameters cell line {node.lineno} is not 'name = literal'.")
        try:
            out[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise ValueError(f"{name}: parameter {node.targets[0].id} (line {node.lineno}) is not a literal.") from None
    return out


def describe_parameters(name: str = "02_finetune") -> str:
    """The notebook's parameters cell as it reads (name, default and comment of each), for ``--help``."""
    return parameters_cell(name).strip()


def _value(text: str, default: Any) -> Any:
    """``text`` as a Python literal when it is one (text stays text where the default is text)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return text if isinstance(default, str) and not isinstance(value, str) else value


def parse_overrides(args: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """The defaults with the values that ``-p NAME VALUE`` pairs set (``--parameter`` is the long form).

    Example:
        >>> parse_overrides(["-p", "max_steps", "6", "-p", "run_name", "try1"], {"max_steps": 60, "run_name": ""})
        {'max_steps': 6, 'run_name': 'try1'}

    Args:
        args: Command-line words, e.g. ``sys.argv[1:]``.
        defaults: The notebook's parameters (:func:`notebook_parameters`).

    Returns:
        A new dict, in the defaults' order, with each named value replaced.

    Raises:
        ParameterError: A word is not part of a ``-p NAME VALUE`` triple, or a name is not a parameter
            (the message lists the known ones).
    """
    out, words = dict(defaults), list(args)
    unknown = []
    while words:
        flag = words.pop(0)
        if flag not in ("-p", "--parameter") or len(words) < 2:
            raise ParameterError(f"Cannot read {flag!r}: give parameters as -p NAME VALUE (e.g. -p max_steps 6).")
        name, text = words.pop(0), words.pop(0)
        if name not in defaults:
            unknown.append(name)
            continue
        out[name] = _value(text, defaults[name])
    if unknown:
        raise ParameterError(f"Unknown parameter(s) {', '.join(unknown)}: the parameters are "
                             f"{', '.join(defaults)}.")
    return out
