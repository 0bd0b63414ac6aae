"""Tests for inkwell.core.notebook_git: after a save, a notebook whose only changes are outputs leaves git status
clean; a real change, an untracked notebook or a file outside git is left alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from inkwell.core.notebook_git import refresh_after_save
from tests.test_notebook_files import git, make_repo


def test_outputs_in_a_notebook_leave_git_status_clean(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "02_finetune")
    path = repo / "notebooks" / "02_finetune.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[0].execution_count = 1
    code[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="trained\n")]
    code[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    assert git(repo, "diff") == ""  # the filter: what git would store is the committed notebook
    # git judges by size before it runs a filter: status lists the file until Jupyter's save hook refreshes the index
    assert git(repo, "status", "--porcelain").split() == ["M", "notebooks/02_finetune.ipynb"]
    assert refresh_after_save(os_path=str(path), model=None, contents_manager=None)
    assert git(repo, "status", "--porcelain") == ""
    assert json.loads(path.read_text(encoding="utf-8"))["cells"][1]["outputs"]  # the outputs stay on disk
    code[0].source += "\n# an edit"  # a real change still shows, and the hook leaves it alone
    nbformat.write(nb, path)
    assert not refresh_after_save(os_path=str(path))
    assert git(repo, "status", "--porcelain").split() == ["M", "notebooks/02_finetune.ipynb"]
    assert git(repo, "diff", "--cached") == ""  # nothing staged behind the user's back
    untracked = repo / "notebooks" / "mine.ipynb"
    shutil.copy(path, untracked)
    assert not refresh_after_save(os_path=str(untracked))  # not tracked: not git's business
    assert not refresh_after_save(os_path=str(tmp_path / "elsewhere.ipynb"))
