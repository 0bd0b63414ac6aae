"""Image paths written in annotations, searched for in a few known folders and never opened outside them.

Imports :mod:`inkwell.data.formats.base` and lower stages. A relative path is
first resolved under the main root (``images_root``, or the format's default);
one that escapes it (``..``, symlinks leading out) is rejected without opening
it, and so is an absolute path to an existing file outside it. A path that is
not found there is searched for in the other roots (the annotation file's
folder, its parent, the export's root): by the path as written, by the path
without its leading folders, then by file name alone (a unique match, searched
a few folders deep). Absolute paths written on another machine (eScriptorium
writes the server's) are matched by file name in those roots. Names whose case
or Unicode normalisation (NFC/NFD, as macOS writes them) differ from the file on
disk are found anyway.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from PIL import Image

from inkwell.data.formats.base import SPLIT_VALUES, RawRow, ReadLog
from inkwell.data.images import load_page

__all__ = ["AS_WRITTEN", "BY_NAME", "BY_TAIL", "SEARCH_DEPTH", "SEARCH_FILES", "Resolver", "add_file_row",
           "fold_name", "open_page"]

#: How an image was found (the keys of :attr:`Resolver.hits`).
AS_WRITTEN = "by the path as written"
BY_TAIL = "by the path without its leading folders"
BY_NAME = "by file name"
#: How many folders deep, and how many entries at most, a root is searched for a file name.
SEARCH_DEPTH = 4
SEARCH_FILES = 50_000


def fold_name(name: str) -> str:
    """A file name compared without case or Unicode normalisation (NFC/NFD) differences."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


class _Index:
    """File names under one root (bounded walk; hidden folders skipped)."""

    def __init__(self, root: Path):
        self.by_name: dict[str, list[Path]] = {}
        self.truncated = False
        seen = 0
        base_depth = len(Path(root).parts)
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if len(Path(folder).parts) - base_depth >= SEARCH_DEPTH:
                dirs[:] = []
            for name in sorted(files):
                seen += 1
                if seen > SEARCH_FILES:
                    self.truncated = True
                    return
                self.by_name.setdefault(fold_name(name), []).append(Path(folder) / name)

    def find(self, name: str) -> tuple[Path | None, list[Path]]:
        """``(the unique file of that name, [])``, or ``(None, the several candidates)``."""
        found = self.by_name.get(fold_name(name), [])
        if len(found) > 1:
            exact = [p for p in found if unicodedata.normalize("NFC", p.name) == unicodedata.normalize("NFC", name)]
            found = exact if len(exact) == 1 else found
        return (found[0], []) if len(found) == 1 else (None, found)


class Resolver:
    """Resolve image paths under a root and a few search roots, refusing escapes.

    Attributes:
        root: The main root: relative paths start here (or at ``base``) and must stay under it.
        roots: ``(folder, what it is)`` searched in order, the main root first.
        hits: ``(rule, folder, what it is)`` -> how many images were found that way.
        lookups: How many image paths were resolved (found or not).
    """

    def __init__(self, root: Path, search: Sequence[tuple[Path, str]] = (), label: str = "images_root",
                 indexes: dict[str, _Index] | None = None):
        self.root = root
        self._root_abs = os.path.normpath(os.path.abspath(root))
        self._root_real = os.path.realpath(root)
        self._listings: dict[Path, dict[str, str]] = {}
        self._indexes = {} if indexes is None else indexes
        self.roots: list[tuple[Path, str]] = []
        seen: set[str] = set()
        for folder, what in [(Path(root), label), *search]:
            real = os.path.realpath(folder)
            if real not in seen and os.path.isdir(folder):
                seen.add(real)
                self.roots.append((Path(folder), what))
        self.hits: Counter[tuple[str, Path, str]] = Counter()
        self.lookups = 0

    @staticmethod
    def _under(path: str, root: str) -> bool:
        return path == root or path.startswith(root.rstrip(os.sep) + os.sep)

    def _inside(self, p: str, root: Path | None = None) -> bool:
        """True when p stays under the root (default: the main root) lexically and with symlinks followed."""
        if root is None:
            root_abs, root_real = self._root_abs, self._root_real
        else:
            root_abs, root_real = os.path.normpath(os.path.abspath(root)), os.path.realpath(root)
        return (self._under(os.path.normpath(os.path.abspath(p)), root_abs)
                and self._under(os.path.realpath(p), root_real))

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            listing: dict[str, str] = {}
            for n in sorted(names):
                listing.setdefault(fold_name(n), n)
            self._listings[folder] = listing
        return self._listings[folder]

    def _index(self, root: Path) -> _Index:
        key = os.path.realpath(root)
        if key not in self._indexes:
            self._indexes[key] = _Index(root)
        return self._indexes[key]

    @staticmethod
    def _clean(written: str | None) -> str:
        return (written or "").strip().replace("\\", "/")

    @staticmethod
    def _foreign(raw: str) -> bool:
        """True for a path written on another machine's file system (a Windows drive path on POSIX)."""
        return os.sep == "/" and re.match(r"^[a-zA-Z]:/", raw) is not None

    def resolve(self, written: str, base: Path | None = None) -> tuple[Path | None, str | None]:
        """Return (path, None) or (None, reason) for an image path as written.

        Args:
            written: The path as written in the annotation.
            base: Folder relative paths start from (default: the root).
        """
        raw = self._clean(written)
        if not raw or ("://" in raw and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw)):
            return None, "missing_file"
        self.lookups += 1
        if self._foreign(raw) or os.path.isabs(raw):
            if not self._foreign(raw):
                if self._inside(raw):
                    if os.path.isfile(raw):
                        return self._hit(Path(raw), AS_WRITTEN, 0)
                elif os.path.lexists(raw):
                    return None, "path_escapes_root"  # a real file elsewhere on this machine: never opened
            parts = [p for p in PurePosixPath(raw.split(":", 1)[-1] if self._foreign(raw) else raw).parts
                     if p not in ("/", ".", "..")]
            return self._search(parts, skip_full=False)
        candidate = os.path.join(base or self.root, raw)
        if not self._inside(candidate):
            return None, "path_escapes_root"
        if os.path.isfile(candidate):
            return self._hit(Path(candidate), AS_WRITTEN, 0)
        found = self._case_insensitive(Path(candidate))
        if found is not None:
            if not self._inside(str(found)):
                return None, "path_escapes_root"
            return self._hit(found, AS_WRITTEN, 0)
        parts = [p for p in PurePosixPath(os.path.normpath(raw).replace("\\", "/")).parts if p not in (".", "..")]
        return self._search(parts, skip_full=base is None)

    def _hit(self, path: Path, rule: str, k: int) -> tuple[Path, None]:
        folder, what = self.roots[k] if self.roots else (self.root, "images_root")
        self.hits[(rule, folder, what)] += 1
        return path, None

    def _search(self, parts: list[str], skip_full: bool) -> tuple[Path | None, str | None]:
        """Look for the path's tails, then its file name, in every root (the main root's full path is done)."""
        if not parts:
            return None, "missing_file"
        for start in range(len(parts)):
            rule = AS_WRITTEN if start == 0 else BY_NAME if start == len(parts) - 1 else BY_TAIL
            for k, (folder, _what) in enumerate(self.roots):
                if start == 0 and k == 0 and skip_full:
                    continue
                candidate = folder.joinpath(*parts[start:])
                found = candidate if candidate.is_file() else self._case_insensitive(candidate, folder)
                if found is not None and self._inside(str(found), folder):
                    return self._hit(found, rule, k)
        for k, (folder, _what) in enumerate(self.roots):
            found, _several = self._index(folder).find(parts[-1])
            if found is not None and self._inside(str(found), folder):
                return self._hit(found, BY_NAME, k)
        return None, "missing_file"

    def explain(self, written: str, base: Path | None = None) -> str:
        """Where a missing image was looked for: the folders searched and one path tried."""
        raw = self._clean(written)
        if not raw:
            return "image path is empty"
        if "://" in raw:
            return "a URL, not a file path; download the images and write their paths"
        name = PurePosixPath(raw.split(":", 1)[-1] if self._foreign(raw) else raw).name
        if self._foreign(raw) or os.path.isabs(raw):
            tried = (self.roots[0][0] if self.roots else self.root) / name
        else:
            tried = Path(os.path.normpath(os.path.join(base or self.root, raw)))
        searched = ", ".join(f"{folder} ({what})" for folder, what in self.roots) or str(self.root)
        extra = ""
        for folder, _what in self.roots:
            index = self._index(folder)
            _found, several = index.find(name) if name else (None, [])
            if several:
                shown = ", ".join(str(p) for p in several[:3])
                extra += f"; several files named {name!r} under {folder} ({shown}), so none was picked"
            if index.truncated:
                extra += f"; the search under {folder} stopped after {SEARCH_FILES} files"
        return f"not found; searched {searched}; tried {tried}{extra}"

    def _case_insensitive(self, candidate: Path, root: Path | None = None) -> Path | None:
        root = Path(self.root if root is None else root)
        try:
            rel = Path(os.path.normpath(os.path.abspath(candidate))).relative_to(
                Path(os.path.normpath(os.path.abspath(root))))
        except ValueError:
            return None
        current = root
        for part in rel.parts:
            exact = current / part
            if exact.exists():
                current = exact
                continue
            name = self._listing(current).get(fold_name(part))
            if name is None:
                return None
            current = current / name
        return current if current.is_file() else None


def add_file_row(log: ReadLog, resolver: Resolver, src: Path, line: int, image: str, text: str | None,
                 group: str | None, writer: str | None, split: str | None, base: Path | None = None) -> None:
    """Resolve an image path and append a :class:`RawRow`, or a rejection saying why not."""
    split_norm = None
    if split is not None:
        split_norm = SPLIT_VALUES.get(split.strip().lower())
        if split_norm is None:
            log.reject(src, line, image, "unknown_split", f"split value {split!r}")
            return
    path, reason = resolver.resolve(image, base)
    if path is None:
        reason = reason or "missing_file"
        detail = resolver.explain(image, base) if reason == "missing_file" else ""
        log.reject(src, line, image, reason, detail)
        return
    log.rows.append(RawRow(str(src), line, image, path, "" if text is None else str(text), group, writer,
                           split_norm, f"{src.name}:{line}"))


def open_page(resolver: Resolver, image: str, log: ReadLog, declared: tuple[int, int] | None = None,
              declared_by: str = "the XML file") -> tuple[Image.Image | None, Path | None, str | None]:
    """Resolve and open the page image that lines are cut out of (remarks on its orientation go to ``log.notes``;
    ``declared_by`` names who declares its size).

    Returns:
        ``(page, path, None)``, or ``(None, path or None, reason)`` when the page cannot be used.
    """
    path, reason = resolver.resolve(image, None)
    if path is None:
        return None, None, reason
    page, reason = load_page(path, log.max_pixels, declared, notes=log.notes, declared_by=declared_by)
    return page, path, reason
