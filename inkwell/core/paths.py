"""Where Inkwell's files live, and how they are written without losing anything.

Stage ``core``: imports nothing from the package. Holds the project and workspace
folders, the resolution of relative paths in notebook parameters, the demo data
location, unique names for new runs and evaluations, atomic writes of whole
folders and single files (a reader never sees a half-written result, and an
existing result is replaced only when the caller says so), the locks that
serialise writers of a shared file, what a full disk or a damaged file says,
and the manifest that lets a reader refuse a folder whose files changed.

A process killed in the middle of a write leaves only hidden staging folders
(``.<name>.tmp-<8 hex>``) or, during the swap of a replaced folder, the old
one under ``.<name>.old-<8 hex>``; the next write in that folder removes the
first and puts the second back (a :class:`CleanedUp` warning says what).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEMO_SOURCE",
    "LOCK_CLASS",
    "LOCK_TIMEOUT",
    "MANIFEST",
    "PARTIAL_SUFFIX",
    "PROJECT_ROOT",
    "CleanedUp",
    "DamagedFileError",
    "DiskFullError",
    "NewFolder",
    "atomic_file",
    "atomic_folder",
    "check_manifest",
    "clean_interrupted",
    "locked",
    "new_folder",
    "reserve_folder",
    "project_path",
    "remove_stale_staging",
    "unique_path",
    "workspace",
    "write_json",
    "write_manifest",
]

#: The project folder: the one that holds ``helpers.py``, ``notebooks/`` and this package.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Where 01_data writes the synthetic demo set when asked for it.
DEMO_SOURCE = "data/raw/synthetic/labels.csv"

#: Suffix of a folder whose content is still being written (a run in progress, say).
PARTIAL_SUFFIX = ".partial"

#: The lock a shared file (``comparison.csv``) is updated under: ``filelock.FileLock`` is the
#: operating system's lock (``fcntl.flock`` on Linux and macOS, ``msvcrt.locking`` on Windows), released
#: by the system when its holder dies. Set it to ``filelock.SoftFileLock`` on a file system whose OS
#: locks do not work (some network shares): a marker file holding the owner's PID, reclaimed when that
#: process is gone.
LOCK_CLASS: type[filelock.BaseFileLock] = filelock.FileLock

#: Seconds a writer waits for another one to finish with a shared file before it gives up.
LOCK_TIMEOUT = 600.0

#: The file in a finished folder that records the size and SHA-256 of the files a reader relies on.
MANIFEST = "manifest.json"

_STAGING = re.compile(r"\.(.+)\.tmp-[0-9a-f]{8}")
_OLD = re.compile(r"\.(.+)\.old-[0-9a-f]{8}")


class CleanedUp(UserWarning):
    """What a write removed or put back of an earlier write that a crash interrupted."""


class DiskFullError(OSError):
    """A write ran out of disk space; the message names the folder and the space it needed."""


class DamagedFileError(ValueError):
    """A file of a finished result is missing, truncated or changed; the message names it and the fix."""


@contextmanager
def locked(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock of a shared file (``.<name>.lock`` beside it) while the block reads and writes it.

    Every writer of that file takes this lock, so two notebooks updating it at the same moment
    take turns instead of one overwriting the other's rows.

    Raises:
        TimeoutError: Another process held the lock longer than ``timeout`` (default :data:`LOCK_TIMEOUT`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = path.with_name(f".{path.name}.lock")
    wait = LOCK_TIMEOUT if timeout is None else timeout
    lock = LOCK_CLASS(str(lock_file), timeout=wait)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise TimeoutError(
            f"{path} is being written by another process (its lock {lock_file} was held for more than {wait:.0f} s). "
            "Let the other notebook or script finish, then run this cell again.") from None
    try:
        yield
    finally:
        lock.release()


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


def _stale(path: Path, pattern: re.Pattern[str]) -> int | None:
    """The lock on ``path`` when it is one of ``pattern``'s folders that no live writer holds, else None."""
    if not pattern.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
        return None
    return _lock(path, blocking=False)


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove the hidden staging folders (``.<name>.tmp-<8 hex>``) that interrupted writes left beside ``target``.

    Every :func:`atomic_folder` default staging folder in ``target``'s folder is considered (a
    killed write of any result there: readings and evaluations get a new name each time), and of
    those only the ones no live writer holds (each writer keeps a lock on its staging folder until it
    is done). Other hidden files and a write in progress are left alone; where the platform has no
    ``fcntl`` (Windows) nothing counts as stale.

    Returns:
        The folders removed.
    """
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    for path in sorted(target.parent.iterdir()):
        fd = _stale(path, _STAGING)
        if fd is None:
            continue  # not staging, or a writer is still at work in it
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(path)
    return removed


def _restore_swapped(folder: Path, only: str | None = None) -> list[str]:
    """Put back a replaced folder whose swap a crash interrupted, or remove the old copy a finished swap left.

    Replacing ``<name>`` moves it to ``.<name>.old-<8 hex>`` and the new one in its place. Killed
    between the two moves, ``<name>`` is missing and the old copy is whole: it goes back. Killed
    while the old copy was being removed, ``<name>`` is the new result: the rest of the old copy goes.
    A swap in progress holds a lock on the old copy and is left alone.
    """
    done: list[str] = []
    if not folder.is_dir():
        return done
    for path in sorted(folder.iterdir()):
        match = _OLD.fullmatch(path.name)
        if not match or (only is not None and match.group(1) != only):
            continue
        fd = _stale(path, _OLD)
        if fd is None:
            continue
        try:
            target = folder / match.group(1)
            if target.exists():
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path} (the copy of {target.name} that a finished replacement left)")
            else:
                os.replace(path, target)
                done.append(f"put {target} back from {path.name} (a replacement of it was interrupted before the "
                            "new one was in place)")
        finally:
            os.close(fd)
    return done


def clean_interrupted(folder: Path, name: str | None = None, *, staging: bool = True) -> list[str]:
    """Undo what killed writes left in ``folder``: remove stale staging folders, put back interrupted swaps.

    Called before each write of a result, and by readers of replaced results (with ``name``, or
    ``staging=False``: those only put interrupted replacements back). A :class:`CleanedUp` warning
    lists what was done.

    Returns:
        One sentence per thing removed or put back (empty: nothing was left).
    """
    done = _restore_swapped(folder, only=name)
    if name is None and staging:
        done += [f"removed {p} (the unfinished files of a write that was interrupted)"
                 for p in remove_stale_staging(folder / "_")]
    if done:
        warnings.warn("Cleaned up after an interrupted earlier write: " + "; ".join(done) + ".", CleanedUp,
                      stacklevel=3)
    return done


def _disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is "no space left on device"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and (seen.errno == errno.ENOSPC or "No space left" in str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _size(path: Path) -> int:
    """Bytes in a file or under a folder (0 when it is gone)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _megabytes(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def _disk_full_error(target: Path, written: int, needed: int | None, kept: Path | None = None) -> DiskFullError:
    """The error a full disk becomes: the folder, what was written, what it needed, what was kept."""
    folder = target.parent
    free = shutil.disk_usage(folder).free if folder.exists() else 0
    need = (f"it needs about {_megabytes(needed)}" if needed and needed > written
            else f"it needs more than the {_megabytes(written)} it had written")
    after = (f"The unfinished write is kept in {kept}." if kept else
             f"Nothing was changed: {target.name} and every earlier result there are as they were.")
    return DiskFullError(errno.ENOSPC, f"No space left on the disk of {folder} while writing {target.name}: {need}, "
                                       f"and {_megabytes(free)} is free there. {after} Free space on that disk (or "
                                       "write to another one) and run the step again.")


def _sync(path: Path) -> None:
    """Flush a file or a folder's entries to the disk (a power cut after this keeps them)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - folders cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _sync_tree(folder: Path) -> None:
    """Flush every file under ``folder``, then the folders themselves."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and not path.is_symlink():
            _sync(path)
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        _sync(path)
    _sync(folder)


@contextmanager
def atomic_folder(
    target: Path,
    *,
    overwrite: bool = False,
    staging: Path | None = None,
    keep_on_error: bool = False,
    reserved: bool = False,
    needed_bytes: int | None = None,
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
        needed_bytes: About how much the write needs (said when the disk fills up).

    Before writing, what killed writes left in ``target``'s folder is cleaned up (:func:`clean_interrupted`).

    Yields:
        The staging folder, empty and ready.

    Raises:
        FileExistsError: ``target`` exists (or appeared meanwhile) and ``overwrite`` is False.
        DiskFullError: The disk filled up; ``target`` is left as it was.
    """
    with _staged(target, staging, keep_on_error, reserved, needed_bytes) as folder:
        yield folder
    try:
        _publish(folder, target, overwrite)
    except FileExistsError as exc:
        if keep_on_error:
            raise FileExistsError(f"{exc} The new result is kept in {folder}.") from None
        shutil.rmtree(folder, ignore_errors=True)
        raise


@contextmanager
def _staged(target: Path, staging: Path | None, keep_on_error: bool, reserved: bool,
            needed_bytes: int | None) -> Iterator[Path]:
    """The staging folder of a write of ``target``, flushed to the disk when the block succeeds.

    A failed block removes it (unless ``keep_on_error``); a full disk becomes :class:`DiskFullError`.
    The default (hidden) staging folder stays locked until the block ends, so no cleanup elsewhere
    takes it for litter.
    """
    lock = None
    clean_interrupted(target.parent)
    if staging is None:
        staging = _hidden_sibling(target, "tmp")
        # made under a name cleanup never takes, locked, then renamed (the lock stays with the folder):
        # another writer's cleanup never sees it unlocked, so never takes a write in progress for litter
        pending = staging.with_name(staging.name.replace(".tmp-", ".new-", 1))
        pending.mkdir(parents=True)
        lock = _lock(pending, blocking=True)  # marks it as in use for remove_stale_staging elsewhere
        os.replace(pending, staging)
    elif not reserved:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    try:
        try:
            yield staging
            _sync_tree(staging)
        except BaseException as exc:
            written = _size(staging)
            if not keep_on_error:
                shutil.rmtree(staging, ignore_errors=True)
            if _disk_full(exc):
                raise _disk_full_error(target, written, needed_bytes, staging if keep_on_error else None) from exc
            raise
    finally:
        if lock is not None:
            os.close(lock)


def _taken(exc: OSError) -> bool:
    """Whether a move failed because the destination exists (a folder with files, on POSIX)."""
    return isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY)


def _publish(staging: Path, target: Path, overwrite: bool) -> None:
    """Move a finished staging folder to ``target``."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()  # an empty folder holds nothing to lose
    if not target.exists():
        try:
            os.replace(staging, target)
        except OSError as exc:
            if not _taken(exc):
                raise
        else:
            _sync(target.parent)
            return
    if not overwrite:
        raise FileExistsError(f"{target} already exists and is left as it is.")
    old = _hidden_sibling(target, "old")
    held = _lock(target, blocking=True)  # travels with the old copy: no cleanup puts it back meanwhile
    try:
        os.replace(target, old)
        os.replace(staging, target)
        _sync(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if held is not None:
            os.close(held)


@dataclass
class NewFolder:
    """A new result being written by :func:`new_folder`.

    Attributes:
        staging: Where to write meanwhile (hidden; removed if the block fails).
        path: The folder asked for while the block runs; after it, the folder published
            (``-2``, ``-3``, ... appended when another writer took the name meanwhile).
    """

    staging: Path
    path: Path


@contextmanager
def new_folder(target: Path, *, needed_bytes: int | None = None) -> Iterator[NewFolder]:
    """Like :func:`atomic_folder`, for a new result that must never fail because its name was taken meanwhile.

    Two writers that picked the same free name at the same moment (two evaluations started in
    one second) both publish: the second under ``<name>-2``. An existing result is never touched.

    Yields:
        A :class:`NewFolder`; its ``path`` is the folder written once the block has succeeded.
    """
    with _staged(target, None, False, False, needed_bytes) as staging:
        new = NewFolder(staging, target)
        yield new
    new.path = _publish_unique(staging, target)


def _publish_unique(staging: Path, target: Path) -> Path:
    """Move ``staging`` to ``target`` or the first free ``target-2``, ``-3``, ...; the name it got."""
    k = 1
    while True:
        candidate = target if k == 1 else target.with_name(f"{target.name}-{k}")
        k += 1
        if candidate.with_name(candidate.name + PARTIAL_SUFFIX).exists():
            continue
        if candidate.is_dir() and not any(candidate.iterdir()):
            try:
                candidate.rmdir()
            except OSError:
                continue
        if candidate.exists():
            continue
        try:
            os.replace(staging, candidate)
        except OSError as exc:
            if _taken(exc):
                continue
            raise
        _sync(candidate.parent)
        return candidate


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path``; it replaces ``path`` when the block succeeds.

    Raises:
        DiskFullError: The disk filled up; ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            yield Path(tmp)
            _sync(Path(tmp))
        except BaseException as exc:
            if _disk_full(exc):
                raise _disk_full_error(path, _size(Path(tmp)), None) from exc
            raise
        os.replace(tmp, path)
        _sync(path.parent)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented UTF-8 JSON, atomically (values JSON lacks are written as strings)."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def _digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def write_manifest(folder: Path, names: Iterable[str] | None = None) -> Path:
    """Record the size and SHA-256 of files in ``folder`` (all files under it by default) in :data:`MANIFEST`.

    Args:
        folder: A result being written (its staging folder).
        names: Paths relative to ``folder`` to record (default: every file, the manifest aside).

    Returns:
        The manifest's path.
    """
    if names is None:
        names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and p.name != MANIFEST)
    files = {name: {"bytes": (folder / name).stat().st_size, "sha256": _digest(folder / name)} for name in names}
    write_json(folder / MANIFEST, {"files": files})
    return folder / MANIFEST


def check_manifest(folder: Path, what: str, fix: str, *, hashes: bool = True) -> None:
    """Refuse ``folder`` when a file its :data:`MANIFEST` records is missing, truncated or changed.

    A folder written before manifests existed (no manifest) passes.

    Args:
        folder: A finished result.
        what: What it is, for the message (e.g. "The processed data set 'mine'").
        fix: What to do about it, for the message.
        hashes: Also compare contents (else sizes only: cheap, catches truncation).

    Raises:
        DamagedFileError: The first file that does not match, named, with ``fix``.
    """
    path = folder / MANIFEST
    if not path.is_file():
        return
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        entries = [(name, int(e["bytes"]), str(e["sha256"])) for name, e in files.items()]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DamagedFileError(f"{path} is not the list of files it was written as (truncated or edited). "
                               f"{what} is damaged and is not read. {fix}") from None
    for name, size, digest in entries:
        file = folder / name
        if not file.is_file():
            problem = "is missing"
        elif file.stat().st_size != size:
            problem = f"has {file.stat().st_size:,} bytes where {size:,} were written (truncated or changed)"
        elif hashes and _digest(file) != digest:
            problem = "was changed after it was written (its content differs)"
        else:
            continue
        raise DamagedFileError(f"{file} {problem}. {what} is damaged and is not read. {fix}")
