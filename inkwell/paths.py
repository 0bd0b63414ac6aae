"""Where Inkwell's files live, and how they are written without losing anything.

Bottom layer: imports nothing from the package. Holds the project and workspace
folders, the resolution of relative paths in notebook parameters, the demo data
location, unique names for new runs and evaluations, and atomic writes of whole
folders and single files (a reader never sees a half-written result, and an
existing result is replaced only when the caller says so).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEMO_SOURCE",
    "PARTIAL_SUFFIX",
    "PROJECT_ROOT",
    "atomic_file",
    "atomic_folder",
    "reserve_folder",
    "project_path",
    "remove_stale_staging",
    "unique_path",
    "workspace",
    "write_json",
]

#: The project folder: the one that holds ``helpers.py``, ``notebooks/`` and this package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Where 01_data writes the synthetic demo set when asked for it.
DEMO_SOURCE = "data/raw/synthetic/labels.csv"

#: Suffix of a folder whose content is still being written (a run in progress, say).
PARTIAL_SUFFIX = ".partial"


def workspace() -> Path:
    """The folder that relative paths (``data/``, ``adapters/``) are resolved against.

    The project folder, unless the environment variable ``INKWELL_HOME`` names
    another one (the tests use that to keep their files out of yours).
    """
    home = os.environ.get("INKWELL_HOME")
    return Path(home).expanduser().resolve() if home else PROJECT_ROOT


def project_path(path: str | os.PathLike[str]) -> Path:
    """Resolve ``path`` against :func:`workspace` unless it is absolute.

    Relative paths in notebook parameters go through here, so notebooks work
    from any working directory.

    Args:
        path: A path as written in a notebook parameter, e.g. ``"data/processed"``.

    Returns:
        An absolute path.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else workspace() / p


def unique_path(root: Path, name: str) -> Path:
    """``root / name``, or ``name-2``, ``name-3``, ... when that name is taken.

    A name counts as taken when the folder exists or a partial one
    (``name.partial``, a run in progress or interrupted) does. Nothing is created.
    """
    candidate, k = root / name, 1
    while candidate.exists() or candidate.with_name(candidate.name + PARTIAL_SUFFIX).exists():
        k += 1
        candidate = root / f"{name}-{k}"
    return candidate


def reserve_folder(target: Path) -> Path:
    """Claim ``target`` (or ``target-2``, ``-3``, ...) for a new result, atomically.

    The claim is the creation of the name's ``.partial`` staging folder, which the
    file system does for exactly one caller: two runs started at the same moment
    with the same name end in two folders and neither touches the other's files.

    Returns:
        The claimed final path; its ``<name>.partial`` folder now exists, empty.
    """
    root, base, k = target.parent, target.name, 1
    root.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = root / (base if k == 1 else f"{base}-{k}")
        staging = candidate.with_name(candidate.name + PARTIAL_SUFFIX)
        if not candidate.exists():
            try:
                staging.mkdir()
            except FileExistsError:
                pass
            else:
                if not candidate.exists():
                    return candidate
                staging.rmdir()  # the finished folder appeared meanwhile: the name is taken after all
        k += 1


def _hidden_sibling(target: Path, tag: str) -> Path:
    return target.with_name(f".{target.name}.{tag}-{uuid.uuid4().hex[:8]}")


def _lock(folder: Path, blocking: bool) -> int | None:
    """An exclusive advisory lock on ``folder`` (its open descriptor), or None when it is held elsewhere.

    Where the platform has no ``fcntl`` (Windows) it is always None: no folder counts as stale there.
    """
    if fcntl is None:  # pragma: no cover - not on Linux/macOS
        return None
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove the hidden staging folders (``.<name>.tmp-<8 hex>``) that interrupted writes of ``target`` left.

    Only :func:`atomic_folder`'s own default staging folders of this very target are
    considered, and of those only the ones no live writer holds (each writer keeps a lock on
    its staging folder until it is done): another target's folders, other hidden files and a
    write in progress are left alone.

    Returns:
        The folders removed.
    """
    pattern = re.compile(re.escape(f".{target.name}.tmp-") + r"[0-9a-f]{8}")
    removed = []
    if not target.parent.is_dir():
        return removed
    for path in target.parent.iterdir():
        if not pattern.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
            continue
        fd = _lock(path, blocking=False)
        if fd is None:
            continue  # a writer is still at work in it
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(path)
    return removed


@contextmanager
def atomic_folder(
    target: Path,
    *,
    overwrite: bool = False,
    staging: Path | None = None,
    keep_on_error: bool = False,
    reserved: bool = False,
) -> Iterator[Path]:
    """Write a folder in a staging place and move it to ``target`` only when the block succeeds.

    Args:
        target: The folder to create (or replace).
        overwrite: Replace an existing ``target``; otherwise an existing one
            (other than an empty folder) raises ``FileExistsError`` and is left as it is.
        staging: Where to write meanwhile (default: a hidden sibling of ``target``).
            An existing staging folder is emptied first.
        keep_on_error: Leave the staging folder in place when the block fails
            (an interrupted run keeps its checkpoints); otherwise it is removed.
        reserved: ``staging`` was created by :func:`reserve_folder` and is used as it is (never emptied).
            With the default staging folder, those that interrupted earlier writes of ``target`` left
            are removed first (:func:`remove_stale_staging`).

    Yields:
        The staging folder, empty and ready.

    Raises:
        FileExistsError: ``target`` exists (or appeared meanwhile) and ``overwrite`` is False.
    """
    lock = None
    if staging is None:
        remove_stale_staging(target)
        staging = _hidden_sibling(target, "tmp")
        staging.mkdir(parents=True)
        lock = _lock(staging, blocking=True)  # marks it as in use for remove_stale_staging elsewhere
    elif not reserved:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    try:
        try:
            yield staging
        except BaseException:
            if not keep_on_error:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            _publish(staging, target, overwrite)
        except FileExistsError as exc:
            if keep_on_error:
                raise FileExistsError(f"{exc} The new result is kept in {staging}.") from None
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        if lock is not None:
            os.close(lock)


def _publish(staging: Path, target: Path, overwrite: bool) -> None:
    """Move a finished staging folder to ``target``."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()  # an empty folder holds nothing to lose
    if not target.exists():
        os.replace(staging, target)
        return
    if not overwrite:
        raise FileExistsError(f"{target} already exists and is left as it is.")
    old = _hidden_sibling(target, "old")
    os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path``; it replaces ``path`` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented UTF-8 JSON, atomically (values JSON lacks are written as strings)."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
