"""Keep ``git status`` clean when a committed notebook is run: Jupyter's post-save hook for the nbstripout filter.

Stage ``core``: imports no other Inkwell module. ``make setup`` makes nbstripout this clone's clean filter for
``*.ipynb`` (``.gitattributes``), so what git stores of a notebook never has outputs, and installs
``etc/jupyter_server_config.json`` into the venv, which names :func:`refresh_after_save` as Jupyter's post-save hook.

Why the hook: git decides a file is modified from its size before it runs any filter, so a notebook saved with
outputs shows in ``git status`` although ``git diff`` (which runs the filter) shows nothing. After each save the
hook asks git whether the notebook, through the filter, differs from the index; when it does not (only outputs,
execution counts or widget state changed), it refreshes the index entry (``git update-index``), which stores the
same content with the file's new size, and ``git status`` is clean. A notebook with a real change (a cell's
source, a parameter) is left alone and shows as modified. The outputs stay in the file on disk.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

__all__ = ["refresh_after_save"]

_FILTER = "nbstripout"


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=60)


def refresh_after_save(os_path: str, model: Any = None, contents_manager: Any = None, **kwargs: Any) -> bool:
    """Jupyter's post-save hook: mark a saved notebook unchanged in git's index when the filter makes it so.

    Args:
        os_path: The file just written.
        model: Jupyter's model of the file (unused).
        contents_manager: The server's contents manager (unused).
        **kwargs: Whatever later Jupyter versions pass.

    Returns:
        Whether the index entry was refreshed: False for a file that is not a notebook, not tracked, not under the
        nbstripout filter (``.gitattributes`` and this clone's config), outside git, or really changed.
    """
    path = Path(os_path)
    if path.suffix != ".ipynb" or not path.is_file():
        return False
    folder, name = path.parent, path.name
    try:
        if _git(folder, "ls-files", "--error-unmatch", "--", name).returncode != 0:
            return False  # untracked, or not in a git work tree
        if not _git(folder, "check-attr", "filter", "--", name).stdout.strip().endswith(f": {_FILTER}"):
            return False
        if _git(folder, "config", "--get", f"filter.{_FILTER}.clean").returncode != 0:
            return False  # named in .gitattributes, but `make setup` has not defined it in this clone
        if _git(folder, "diff", "--quiet", "--", name).returncode != 0:
            return False  # a real change (or git failed): git status should show it
        return _git(folder, "update-index", "--", name).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False  # no git here: saving must never fail because of this hook
