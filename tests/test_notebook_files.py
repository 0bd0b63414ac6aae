"""The committed notebooks as files a person opens: parameter comments that fit a cell, the metadata JupyterLab
writes (so opening marks nothing modified), and what git stores of them (nbstripout's output, so running a notebook
leaves ``git status`` clean). The browser tests drive JupyterLab in Debian's chromium (tests/browserkit.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import helpers
from tests.browserkit import browser_missing, chromium_page, jupyter_server

ROOT = helpers.PROJECT_ROOT
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_LINE = 100  # what a parameters cell shows without scrolling in JupyterLab at its default width


def nbstripout(*paths: Path) -> bytes:
    """What git stores of ``paths`` through the clean filter ``make git-filter`` sets up, one after the other."""
    return subprocess.run([sys.executable, "-m", "nbstripout", "--keep-id", "--textconv", *map(str, paths)],
                          capture_output=True, check=True).stdout


def test_parameter_comments_fit_a_cell() -> None:
    long = []
    for path in NOTEBOOKS:
        (cell,) = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
        long += [f"{path.name}: {len(line)} chars: {line}" for line in cell.source.splitlines() if len(line) > MAX_LINE]
    assert not long, "parameter lines over 100 characters (move detail to docs/parameters.md):\n" + "\n".join(long)


def test_every_parameter_is_in_the_docs() -> None:
    doc = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        (cell,) = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
        names = [line.split("=", 1)[0].strip() for line in cell.source.splitlines()]
        for name in names:
            assert f"`{name}`" in doc or name.startswith("finetune_"), f"{path.name}: {name} not in docs/parameters.md"


def test_committed_notebooks_are_what_the_git_filter_stores() -> None:
    if nbstripout(*NOTEBOOKS) != b"".join(path.read_bytes() for path in NOTEBOOKS):  # one process for all four
        for path in NOTEBOOKS:
            assert nbstripout(path) == path.read_bytes(), f"{path.name}: run `.venv/bin/python -m nbstripout " \
                f"--keep-id < {path.name}` and commit its output, or git shows it modified with the filter on"


def test_notebook_metadata_is_what_jupyterlab_writes_on_opening() -> None:
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import get_kernel_spec

    spec = get_kernel_spec("python3")
    for path in NOTEBOOKS:
        meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        assert meta["kernelspec"] == {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
        info = dict(IPythonKernel.language_info)
        committed = dict(meta["language_info"])
        # JupyterLab records the kernel's exact Python; the files carry the lock's (3.11, CI's patch release)
        assert committed.pop("version").rsplit(".", 1)[0] == info.pop("version").rsplit(".", 1)[0], path.name
        assert committed == info, path.name


def test_make_setup_installs_the_filter_and_jupyters_settings(tmp_path: Path) -> None:
    assert re.search(r"^\*\.ipynb filter=nbstripout", (ROOT / ".gitattributes").read_text(), re.M)
    setup = re.search(r"^setup:\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert setup and "git-filter" in setup[1] and "jupyter-config" in setup[1]
    repo = make_repo(tmp_path, "none")
    config = subprocess.run(["git", "config", "--get", "filter.nbstripout.clean"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout
    assert "-m nbstripout --keep-id" in config and sys.executable in config
    venv = tmp_path / "venv"
    subprocess.run(["make", "-s", "-C", str(ROOT), "jupyter-config", f"VENV={venv}"], check=True, capture_output=True)
    installed = json.loads((venv / "etc" / "jupyter" / "jupyter_server_config.json").read_text(encoding="utf-8"))
    assert installed["ContentsManager"]["post_save_hook"] == "inkwell.core.notebook_git.refresh_after_save"
    assert installed["KernelManager"]["transport_encryption"] == "auto"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                          capture_output=True, text=True, check=True).stdout


def make_repo(tmp_path: Path, *names: str) -> Path:
    """A git clone's stand-in: the notebooks ``names`` (all when none), .gitattributes, .gitignore, and the filter
    installed by the Makefile's own target."""
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    for path in NOTEBOOKS:
        if not names or path.stem in names:
            shutil.copy(path, repo / "notebooks" / path.name)
    for name in (".gitattributes", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    git(repo, "init", "-q")
    subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "git-filter", f"PY={sys.executable}"], cwd=repo,
                   check=True, capture_output=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "notebooks")
    return repo


def dirty_tabs(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate("() => Array.from(document.querySelectorAll('.lm-TabBar-tab.jp-mod-dirty'))"
                         ".map(e => e.textContent)")


def wait_for_kernel(page, timeout: float = 60.0, ran: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Until the notebook's kernel has started and is idle (its kernel info, with language_info, has arrived), or,
    with ``ran``, until no cell is queued or running (no ``[*]`` prompt) and the kernel is idle."""
    seen: list[str | None] = []
    quiet = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = page.evaluate("() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
                               ".jp-Notebook-ExecutionIndicator')?.getAttribute('data-status') ?? null")
        seen.append(status)
        if ran:
            running = page.evaluate("() => Array.from(document.querySelectorAll('.jp-InputPrompt'))"
                                    ".some(e => e.textContent.includes('*'))")
            quiet = quiet + 1 if status == "idle" and not running else 0
            if quiet >= 8:  # 2 s without a running cell
                return
        elif status == "idle" and any(s not in ("idle", None) for s in seen):
            time.sleep(1.0)  # metadata changes follow the kernel info by a moment
            return
        time.sleep(0.25)
    raise AssertionError(f"the kernel did not become idle: {seen[-10:]}")


@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_opening_and_saving_in_jupyterlab_changes_nothing(tmp_path: Path) -> None:
    from ipykernel.ipkernel import IPythonKernel

    running = IPythonKernel.language_info["version"]
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        # JupyterLab records the kernel's exact Python version; the files carry CI's (see the metadata test)
        (tmp_path / path.name).write_text(re.sub(r'("version": )"3\.\d+\.\d+"', rf'\1"{running}"', text),
                                          encoding="utf-8")
    with jupyter_server(tmp_path, env={"PYTHONPATH": str(ROOT)}) as server, chromium_page() as page:
        for path in NOTEBOOKS:
            before = (tmp_path / path.name).read_bytes()
            page.goto(server.url(path.name) + "&reset")  # a fresh workspace: only this notebook open
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
            wait_for_kernel(page)
            assert dirty_tabs(page) == [], f"{path.name} marked modified on opening"
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 10
            while (tmp_path / path.name).stat().st_mtime_ns == before and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)
            assert (tmp_path / path.name).read_bytes() == before, f"{path.name} changed by opening and saving"


@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_a_run_in_jupyterlab_leaves_git_status_clean(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "04_demo")
    home = tmp_path / "home"  # no adapters: 04_demo stops at its first cell that needs one, with an error output
    home.mkdir()
    nb_path = repo / "notebooks" / "04_demo.ipynb"
    config = ROOT / "etc" / "jupyter_server_config.json"  # what `make setup` installs into the venv
    with jupyter_server(repo, env={"PYTHONPATH": str(ROOT), "INKWELL_HOME": str(home)},
                        args=("--LabApp.expose_app_in_browser=True", f"--config={config}")) as server, \
            chromium_page() as page:
        page.goto(server.url("notebooks/04_demo.ipynb") + "&reset")
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
        wait_for_kernel(page)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        time.sleep(1.0)
        wait_for_kernel(page, timeout=120, ran=True)
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                c.get("outputs") for c in json.loads(nb_path.read_text(encoding="utf-8"))["cells"]):
            time.sleep(0.5)
    saved = nbformat.read(nb_path, as_version=4)
    assert any(c.get("outputs") for c in saved.cells), "the run left no outputs in the file"
    assert any(c.get("execution_count") for c in saved.cells if c.cell_type == "code")
    assert git(repo, "status", "--porcelain") == "", "a run in JupyterLab left a tracked notebook modified"
    log = server.log.read_text(encoding="utf-8")
    assert "without encryption" not in log and "Post-save hook failed" not in log
