"""Image paths written in annotations, resolved under ``images_root`` and never outside it.

Imports :mod:`inkwell.formats.base` and the bottom layer. A path that escapes the root (``..``,
absolute paths, symlinks leading out) is rejected without opening it; a path
whose case differs from the file on disk is found anyway (annotations made on
Windows or macOS).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from PIL import Image

from inkwell.formats.base import SPLIT_VALUES, RawRow, ReadLog
from inkwell.images import load_page

__all__ = ["Resolver", "add_file_row", "open_page"]


class Resolver:
    """Resolve image paths under a root, case-insensitively as a fallback, refusing escapes."""

    def __init__(self, root: Path):
        self.root = root
        self._root_abs = os.path.normpath(os.path.abspath(root))
        self._root_real = os.path.realpath(root)
        self._listings: dict[Path, dict[str, str]] = {}

    @staticmethod
    def _under(path: str, root: str) -> bool:
        return path == root or path.startswith(root.rstrip(os.sep) + os.sep)

    def _inside(self, p: str) -> bool:
        """True when p stays under the root both lexically and with symlinks followed."""
        return (self._under(os.path.normpath(os.path.abspath(p)), self._root_abs)
                and self._under(os.path.realpath(p), self._root_real))

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            listing: dict[str, str] = {}
            for n in sorted(names):
                listing.setdefault(n.lower(), n)
            self._listings[folder] = listing
        return self._listings[folder]

    def resolve(self, written: str, base: Path | None = None) -> tuple[Path | None, str | None]:
        """Return (path, None) or (None, reason) for an image path as written.

        Args:
            written: The path as written in the annotation.
            base: Folder relative paths start from (default: the root).
        """
        raw = (written or "").strip().replace("\\", "/")
        if not raw:
            return None, "missing_file"
        if "://" in raw and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw):
            return None, "missing_file"
        if os.sep == "/" and re.match(r"^[a-zA-Z]:/", raw):
            return None, "path_escapes_root"  # a Windows drive path cannot lie under a POSIX root
        candidate = raw if os.path.isabs(raw) else os.path.join(base or self.root, raw)
        if not self._inside(candidate):
            return None, "path_escapes_root"
        if os.path.isfile(candidate):
            return Path(candidate), None
        found = self._case_insensitive(Path(candidate))
        if found is None:
            return None, "missing_file"
        if not self._inside(str(found)):
            return None, "path_escapes_root"
        return found, None

    def _case_insensitive(self, candidate: Path) -> Path | None:
        try:
            rel = Path(os.path.normpath(os.path.abspath(candidate))).relative_to(
                Path(os.path.normpath(os.path.abspath(self.root))))
        except ValueError:
            return None
        current = self.root
        for part in rel.parts:
            exact = current / part
            if exact.exists():
                current = exact
                continue
            name = self._listing(current).get(part.lower())
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
        log.reject(src, line, image, reason or "missing_file", "" if image.strip() else "image path is empty")
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
