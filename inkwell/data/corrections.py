"""Corrections of readings: the journal a person's checks are appended to, and the training folders they become.

Stage ``data``: imports lower stages (:mod:`inkwell.core.csvsafe`, :mod:`inkwell.data.images`,
:mod:`inkwell.core.paths`, whose :func:`~inkwell.core.paths.locked` guards the journal). Nothing here shows
anything (the widget is :mod:`inkwell.views.corrector`) or decodes anything.

*The journal.* Every check of a line (its text corrected, or accepted as read) is appended at
once to ``corrections.jsonl`` in the readings folder, one JSON object a line, flushed to disk
under the file's lock; the last entry of a line wins, and every entry of a line stays in the file: the line's
versions (the model's reading, then each correction), :func:`read_versions`. A kernel that dies loses nothing, and a
corrector built on the same readings later (in a new kernel) picks up where the person stopped. Beside the checks the
journal keeps two other events: the least-sure-first order the person first saw (``{"event": "order"}``, so a
corrector rebuilt from ``readings.csv``, whose confidences are rounded, shows the same order) and the joins of two
neighbouring boxes of one line (``{"event": "join"}``).

*The training folder.* :func:`save_corrections` writes a new ``data/raw/<name>/`` (a taken name
gets ``-2``, ``-3``, ...; nothing is ever overwritten) that 01_data reads with its defaults:
``labels.csv`` (image, text, page, status, confidence, readings, checked) and ``images/`` with
the checked lines, and ``later/lines.csv`` with ``later/images/``: the lines not checked (and
those marked as not text), kept for later and never read as training lines. ``pages/`` holds each page as
corrected, PAGE-XML 2019 for Transkribus or eScriptorium (its image stays in the readings folder): a line marked
not text is a ``TextLine`` without text whose ``custom`` says ``structure {type:not-text;}``; 01_data reads the
folder's ``labels.csv``, never these.

*Rounds.* A folder saved under a name already used joins the latest folder of that name: its
checked lines are carried over (a line checked again now, the same image, takes the new text),
so the newest folder of a name always holds every line checked so far, and 01_data is pointed
at that one folder. Earlier folders stay as they were.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from inkwell.core.csvsafe import read_frame, write_frame
from inkwell.data.formats import page_xml
from inkwell.data.images import open_rgb, png_bytes, to_rgb
from inkwell.core.paths import atomic_folder, locked, project_path, unique_path

__all__ = [
    "CHECK_STATUSES",
    "NO_LABELS_YET",
    "ORDERS",
    "JOURNAL_NAME",
    "LABELS_NAME",
    "LATER_FOLDER",
    "LATER_NAME",
    "NOT_TEXT_TAG",
    "PAGES_FOLDER",
    "Check",
    "CheckedLine",
    "SavedCorrections",
    "JournalState",
    "append_check",
    "append_event",
    "corrections_notes",
    "image_digest",
    "latest_of",
    "read_journal",
    "read_journal_state",
    "read_versions",
    "save_corrections",
]

#: The journal in a readings folder: one JSON object per check, appended as the person works.
JOURNAL_NAME = "corrections.jsonl"
#: The training lines of a saved folder (a table 01_data reads with its defaults).
LABELS_NAME = "labels.csv"
#: The sub-folder of a saved folder with the lines not checked, kept for later (01_data does not read it).
LATER_FOLDER = "later"
#: Their table inside :data:`LATER_FOLDER`.
LATER_NAME = "lines.csv"
#: The sub-folder of a saved folder with each page as corrected (PAGE-XML).
PAGES_FOLDER = "pages"
#: What a PAGE-XML ``TextLine``'s ``custom`` attribute gets for a line marked as not text (Transkribus' tag syntax).
NOT_TEXT_TAG = "structure {type:not-text;}"
#: The orders the corrector shows lines in: least sure first, or page by page as read.
ORDERS = ("confidence", "page")
#: What a check says: the text was changed, kept as read, or marked as not text (a stain, a stamp, a drawing, a line
#: emptied: it holds no text to train on).
CHECK_STATUSES = ("corrected", "accepted", "no_text")
#: What 01_data says when ``source`` is empty or missing: the way from scans without transcriptions to training lines.
NO_LABELS_YET = ("No transcriptions yet? Read a few of your scans in 04_demo with adapter = \"none\" (the base "
                 "model alone), correct the readings in its corrector and save them: give the folder it writes "
                 "(data/raw/<name>) to 01_data as source. README.md, \"No transcriptions yet?\", walks through "
                 "the loop.")
_LABEL_COLUMNS = ["image", "text", "page", "status", "confidence", "readings", "checked"]
_LATER_COLUMNS = ["image", "text", "page", "status", "confidence", "readings"]


@dataclass(frozen=True)
class Check:
    """One line checked by a person, as the journal holds it.

    Attributes:
        key: The line: ``"<page name>:<line number>"`` of its readings folder.
        text: The text the line now has (as read, for ``"accepted"``; ``""`` for ``"no_text"``).
        status: One of :data:`CHECK_STATUSES`.
        read: The text as read, for the record.
        time: When it was checked (ISO 8601, UTC).
    """

    key: str
    text: str
    status: str
    read: str = ""
    time: str = ""

    @classmethod
    def of(cls, key: str, read: str, text: str) -> Check:
        """The check of a line read as ``read`` and left as ``text`` (its status follows from the two)."""
        status = "no_text" if not text.strip() else ("accepted" if text == read else "corrected")
        when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        return cls(key, text if text.strip() else "", status, read, when)


def append_check(folder: Path, check: Check) -> Path:
    """Append one check to the readings folder's journal and flush it to disk; returns the journal."""
    return _append(folder, asdict(check))


def append_event(folder: Path, event: dict[str, object]) -> Path:
    """Append one event that is not a check (``{"event": "order" | "join", ...}``) to the journal; returns it."""
    return _append(folder, event)


def _append(folder: Path, entry: dict[str, object]) -> Path:
    """Append one JSON line to the journal under its lock, flushed to disk before the lock is let go."""
    journal = Path(folder) / JOURNAL_NAME
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    with locked(journal), open(journal, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return journal


@dataclass
class JournalState:
    """Everything a readings folder's journal holds.

    Attributes:
        checks: Line key -> the latest check.
        notes: One note per journal line that could not be read (skipped).
        versions: Line key -> every check of the line, oldest first (each holds the text as read, too).
        order: The least-sure-first order of line keys the person first saw, or None.
        joins: ``(first, second)`` line keys joined into one line, in the order they were made.
    """

    checks: dict[str, Check]
    notes: list[str]
    versions: dict[str, list[Check]]
    order: list[str] | None
    joins: list[tuple[str, str]]


def read_journal_state(folder: Path) -> JournalState:
    """Read the journal of a readings folder (see :class:`JournalState`); an absent journal is an empty one.

    A line cut short (the kernel died while writing it) is skipped and noted; every other entry counts.
    """
    journal = Path(folder) / JOURNAL_NAME
    state = JournalState({}, [], {}, None, [])
    if not journal.is_file():
        return state
    with locked(journal):
        text = journal.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
            event = entry.get("event", "check")
            if event == "order":
                if state.order is None:  # the first order seen is the one kept
                    state.order = [str(k) for k in entry["keys"]]
                continue
            if event == "join":
                state.joins.append((str(entry["first"]), str(entry["second"])))
                continue
            check = Check(str(entry["key"]), str(entry["text"]), str(entry["status"]), str(entry.get("read", "")),
                          str(entry.get("time", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            state.notes.append(f"{journal}, line {number}: not a complete entry (cut short?); skipped.")
            continue
        if check.status not in CHECK_STATUSES:
            state.notes.append(f"{journal}, line {number}: unknown status {check.status!r}; skipped.")
            continue
        state.checks[check.key] = check
        state.versions.setdefault(check.key, []).append(check)
    return state


def read_journal(folder: Path) -> tuple[dict[str, Check], list[str]]:
    """The checks in a readings folder's journal, the last per line, and a note per line that could not be read.

    A line cut short (the kernel died while writing it) is skipped and noted; every other check counts.
    """
    state = read_journal_state(folder)
    return state.checks, state.notes


def read_versions(folder: Path, key: str) -> list[str]:
    """A line's versions, oldest first: the text as read, then each text it was checked with (repeats dropped)."""
    versions: list[str] = []
    reading = None
    for check in read_journal_state(folder).versions.get(key, []):
        new = [check.text] if check.read == reading else [check.read, check.text]  # a new reading comes first
        reading = check.read
        for text in new:
            if not versions or versions[-1] != text:
                versions.append(text)
    return versions


def image_digest(image: Image.Image) -> str:
    """A hash of a line image's pixels: the same line cut from the same page twice has the same digest."""
    rgb = to_rgb(image)
    h = hashlib.blake2b(f"{rgb.size}".encode(), digest_size=16)
    h.update(rgb.tobytes())
    return h.hexdigest()


@dataclass
class CheckedLine:
    """A line to save: its image, the page it comes from, what was read and (when checked) the person's check.

    Attributes:
        key: The line, ``"<page name>:<line number>"`` (see :attr:`Check.key`).
        image: The line image.
        page: The page's name (lines of one page stay in one split in 01_data).
        read: The text as read.
        confidence: The reading's confidence, or None.
        check: The person's check, or None when the line was not checked.
        polygon: The line on its page (page pixels); empty for a line image.
        page_size: The page's (width, height), or None for a line image.
    """

    key: str
    image: Image.Image
    page: str
    read: str
    confidence: float | None = None
    check: Check | None = None
    polygon: Sequence[tuple[int, int]] = ()
    page_size: tuple[int, int] | None = None


@dataclass
class SavedCorrections:
    """What :func:`save_corrections` wrote.

    Attributes:
        folder: The new folder under ``data/raw/``.
        checked: Training lines written (this round's and those carried over).
        carried: Of them, lines carried over from ``joined``.
        replaced: Lines of ``joined`` left out because they were checked again now.
        later: Lines kept for later in ``later/`` (not checked, or emptied as holding no text).
        joined: The earlier folder of the same name whose lines were carried over, or None.
    """

    folder: Path
    checked: int
    carried: int = 0
    replaced: int = 0
    later: int = 0
    joined: Path | None = None

    def describe(self) -> str:
        """What was written, and the ``source`` to give 01_data."""
        earlier = (f" ({self.carried} carried over from {self.joined.name}"
                   f"{f', {self.replaced} of its lines checked again now' if self.replaced else ''})"
                   if self.joined else "")
        return (f"{self.checked} checked line(s){earlier} written to {self.folder}; {self.later} line(s) kept for "
                f"later in {LATER_FOLDER}/. Train on them: 01_data with source = "
                f"\"{_relative(self.folder)}\".")

    def __repr__(self) -> str:
        return self.describe()

    def __fspath__(self) -> str:
        return str(self.folder)


def _relative(folder: Path) -> str:
    """``data/raw/<name>`` when the folder is inside the workspace, else its full path."""
    try:
        return folder.relative_to(project_path(".")).as_posix()
    except ValueError:
        return str(folder)


def latest_of(root: Path, name: str) -> Path | None:
    """The newest saved corrections folder named ``name`` or ``name-<k>`` under ``root`` (highest k), or None."""
    pattern = re.compile(rf"{re.escape(name)}(?:-(\d+))?")
    found = []
    for path in root.iterdir() if root.is_dir() else ():
        match = pattern.fullmatch(path.name)
        if match and (path / LATER_FOLDER / LATER_NAME).is_file():
            found.append((int(match.group(1) or 1), path))
    return max(found)[1] if found else None


def _file_name(page: str, taken: set[str]) -> str:
    base = re.sub(r"[^\w.-]+", "_", page)[:80] or "line"
    name, k = f"{base}.png", 1
    while name.lower() in taken:
        k += 1
        name = f"{base}-{k}.png"
    taken.add(name.lower())
    return name


def save_corrections(lines: Sequence[CheckedLine], name: str, readings: Path, *,
                     root: str | os.PathLike[str] = "data/raw", join: bool = True) -> SavedCorrections:
    """Write the checked lines to a new folder ``<root>/<name>`` (``-2``, ``-3``, ... when taken) for 01_data.

    Args:
        lines: Every line of the readings, checked or not.
        name: The set's name, a plain folder name.
        readings: The readings folder the lines come from (recorded per line).
        root: Where training folders live (relative paths: inside the workspace).
        join: Carry over the checked lines of the latest folder of this name (see the module's "Rounds").

    Returns:
        What was written, as :class:`SavedCorrections`.

    Raises:
        ValueError: ``name`` is not a plain folder name, or no line has been checked yet (nothing is written).
    """
    if not name or Path(name).name != name or name in (".", "..") or name.startswith("."):
        raise ValueError(f"name = {name!r}: give a plain folder name for data/raw/<name>/, e.g. \"my-hand\".")
    checked = [ln for ln in lines if ln.check is not None and ln.check.status != "no_text"]
    if not checked:
        raise ValueError("No line has been checked with a text yet: nothing to save. Correct a line (or press Enter "
                         "to accept it as read) first.")
    base = project_path(root)
    earlier = latest_of(base, name) if join else None
    target = unique_path(base, name)
    new_digests = {image_digest(ln.image) for ln in checked}
    before, before_images = _earlier_rows(earlier) if earlier else ([], [])
    kept = [(row, image) for row, image in zip(before, before_images) if image_digest(image) not in new_digests]
    taken: set[str] = set()
    label_rows, later_rows = [], []
    images: list[tuple[str, bytes]] = []  # (path in the folder, PNG): encoded first, so a full disk can say the size
    for row, image in kept:
        file = _file_name(Path(row["image"]).stem, taken)
        images.append((f"images/{file}", png_bytes(image)))
        label_rows.append({**row, "image": f"images/{file}"})
    for ln in lines:
        later = ln.check is None or ln.check.status == "no_text"
        file = _file_name(ln.key.replace(":", "-l"), taken)
        images.append((f"{LATER_FOLDER}/images/{file}" if later else f"images/{file}", png_bytes(ln.image)))
        row = {"image": f"images/{file}", "page": ln.page, "confidence": ln.confidence, "readings": str(readings)}
        if later:
            later_rows.append({**row, "text": ln.read, "status": ln.check.status if ln.check else "unchecked"})
        else:
            label_rows.append({**row, "text": ln.check.text, "status": ln.check.status, "checked": ln.check.time})
    base.mkdir(parents=True, exist_ok=True)
    with atomic_folder(target, needed_bytes=sum(len(data) for _, data in images)) as tmp:
        (tmp / "images").mkdir()
        (tmp / LATER_FOLDER / "images").mkdir(parents=True)
        for relative, data in images:
            (tmp / relative).write_bytes(data)
        write_frame(pd.DataFrame(label_rows, columns=_LABEL_COLUMNS), tmp / LABELS_NAME)
        write_frame(pd.DataFrame(later_rows, columns=_LATER_COLUMNS), tmp / LATER_FOLDER / LATER_NAME)
        _write_pages(lines, tmp / PAGES_FOLDER, Path(readings), target / PAGES_FOLDER)
    return SavedCorrections(target, len(label_rows), len(kept), len(before) - len(kept), len(later_rows), earlier)


def _write_pages(lines: Sequence[CheckedLine], out: Path, readings: Path, final: Path) -> None:
    """Each page of ``lines`` as corrected, PAGE-XML, naming its image in the readings folder (see the module)."""
    by_page: dict[str, list[CheckedLine]] = {}
    for ln in lines:
        if ln.page_size is not None and len(ln.polygon) >= 3:
            by_page.setdefault(ln.page, []).append(ln)
    if not by_page:
        return
    out.mkdir()
    for page, mine in by_page.items():
        image = os.path.relpath(readings / f"{page}.png", final)
        texts = [(ln.polygon, ln.check.text if ln.check else ln.read) for ln in mine]
        path = page_xml.write(image, mine[0].page_size, texts, out / _file_name(page, set()).replace(".png", ".xml"),
                              confidences=[ln.confidence for ln in mine])
        tree = ET.parse(path)
        found = [el for el in tree.iter() if el.tag.endswith("}TextLine")]
        for ln, element in zip(mine, found):
            if ln.check is not None and ln.check.status == "no_text":
                element.set("custom", f"{element.get('custom', '')} {NOT_TEXT_TAG}".strip())
        ET.register_namespace("", page_xml.NAMESPACE_2019)
        tree.write(path, encoding="utf-8", xml_declaration=True)


def _earlier_rows(folder: Path) -> tuple[list[dict], list[Image.Image]]:
    """The rows of an earlier folder's ``labels.csv`` and their images."""
    table = read_frame(folder / LABELS_NAME, text_columns=["image", "text", "page", "status", "readings", "checked"])
    rows = [{k: (None if pd.isna(v) else v) for k, v in r.items() if k in _LABEL_COLUMNS}
            for r in table.to_dict("records")]
    return rows, [open_rgb(folder / row["image"]) for row in rows]


def corrections_notes(source: str | os.PathLike[str]) -> list[str]:
    """01_data's remark on a corrections folder: how many lines were checked, and how many wait for later.

    Args:
        source: 01_data's ``source``; anything but a folder :func:`save_corrections` wrote gives no note.
    """
    folder = project_path(source)
    if folder.is_file() and folder.name == LABELS_NAME:
        folder = folder.parent
    later_table = folder / LATER_FOLDER / LATER_NAME
    if not (folder.is_dir() and later_table.is_file() and (folder / LABELS_NAME).is_file()):
        return []
    labels = read_frame(folder / LABELS_NAME, text_columns=["status", "readings"])
    later = read_frame(later_table, text_columns=["status"])
    statuses = labels["status"].value_counts().to_dict()
    rounds = labels["readings"].nunique()
    unchecked = int((later["status"] == "unchecked").sum())
    empty = len(later) - unchecked
    said = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    return [f"{folder.name} holds corrected readings: {len(labels)} checked line(s) from {rounds} readings "
            f"folder(s) ({said or 'none'}) are the training lines; {unchecked} line(s) not checked yet"
            f"{f' and {empty} emptied as holding no text' if empty else ''} are kept in {LATER_FOLDER}/ for "
            "later and not read."]
