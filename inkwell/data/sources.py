"""Reading what users hold for the demo: image files, PDFs and folders of both, as upright RGB pages.

Stage ``data``: imports lower stages (:mod:`inkwell.data.images`, :mod:`inkwell.core.paths`);
``pypdfium2`` is imported when a PDF is read. :func:`scan_inputs` reads an image, a
PDF or a folder of them (not its sub-folders, which are listed as other files);
:func:`scan_upload` reads the ``(name, bytes)`` pairs of a notebook upload widget.
Every image goes through :func:`~inkwell.data.images.open_checked` (its size is checked
from the header before anything is decoded), is turned upright by its EXIF
orientation and converted to RGB; every PDF page is rendered at ``pdf_dpi`` after
its pixel count is checked. Files that cannot be read are listed with a reason
and a fix, files that are neither images nor PDFs are listed as other files, and
everything else is still read: nothing is dropped silently.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

from inkwell.data.images import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, open_checked, to_rgb
from inkwell.core.paths import project_path

__all__ = [
    "FIXES",
    "InputScan",
    "SourcePage",
    "Unreadable",
    "counted",
    "safe_stem",
    "scan_inputs",
    "scan_upload",
]

#: Reason code -> how to fix it (the reasons that depend on a number get it in their own message).
FIXES = {
    "empty_file": "The file is empty (0 bytes): copy or export it again.",
    "unreadable_file": "Check that the file exists and may be read, or copy it into a local folder.",
    "corrupt_image": "Re-export or re-save the image; the file is truncated or not an image PIL can decode.",
    "too_large": "Downscale or split the image, or raise max_image_pixels if the size is intended.",
    "broken_pdf": "Re-save the PDF (e.g. print it to a new PDF) or export its pages as images.",
    "pdf_password": "Save a copy of the PDF without a password.",
    "empty_pdf": "The PDF has no pages: export it again.",
    "pdf_page_too_large": "Lower pdf_dpi, or raise max_image_pixels if the size is intended.",
    "broken_pdf_page": "Re-save the PDF (e.g. print it to a new PDF) or export this page as an image.",
}

_PDF_PASSWORD_ERROR = 4  # PDFium's FPDF_ERR_PASSWORD
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


@dataclass
class SourcePage:
    """One page read from a user's file.

    Attributes:
        file: The input file (for an upload: its name).
        page: 1-based page number (1 for an image file).
        image: The page, RGB and upright (EXIF orientation applied).
        stem: File-system safe stem of the file, unique among the pages of one scan.
        numbered: The file holds pages (a PDF, a multi-page TIFF): the name gets ``-pNNN``.
    """

    file: Path
    page: int
    image: Image.Image
    stem: str = ""
    numbered: bool = False

    def __post_init__(self) -> None:
        self.stem = self.stem or safe_stem(Path(self.file).stem)

    @property
    def name(self) -> str:
        """Unique, file-system safe name: ``"scan"`` for an image, ``"scan-p002"`` for page 2 of a PDF."""
        return f"{self.stem}-p{self.page:03d}" if self.numbered else self.stem

    @property
    def label(self) -> str:
        """The file's name, with the page number for a file of pages (``"scan.pdf, page 2"``)."""
        return f"{Path(self.file).name}, page {self.page}" if self.numbered else Path(self.file).name


@dataclass
class Unreadable:
    """A file (or one page of it) that could not be read.

    Attributes:
        file: The input file.
        reason: Short code, e.g. ``"corrupt_image"``, ``"too_large"``, ``"broken_pdf"``.
        fix: One sentence saying what to do.
        page: The page of a PDF or TIFF that failed, or 0 for the whole file.
    """

    file: Path
    reason: str
    fix: str
    page: int = 0

    def describe(self) -> str:
        """One line: the file (and page), the reason and the fix."""
        where = Path(self.file).name + (f", page {self.page}" if self.page else "")
        return f"{where}: {self.reason}. {self.fix}"


@dataclass
class InputScan:
    """What :func:`scan_inputs` or :func:`scan_upload` found.

    Attributes:
        pages: Every page read, in order (files sorted by name, pages in file order).
        unreadable: Files or pages that could not be read, with reason and fix.
        other_files: Files that are neither images nor PDFs (hidden files and sub-folders included).
        not_read: Files left unread because of ``max_files``.
    """

    pages: list[SourcePage] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    other_files: list[Path] = field(default_factory=list)
    not_read: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        """A summary, e.g. ``"5 pages from 4 files (1 PDF with 2 pages); 1 file could not be read: ..."``."""
        files = list(dict.fromkeys(Path(p.file) for p in self.pages))
        pdfs = [f for f in files if f.suffix.lower() == ".pdf"]
        text = f"{counted(len(self.pages), 'page')} from {counted(len(files), 'file')}"
        if pdfs:
            in_pdfs = sum(1 for p in self.pages if Path(p.file) in set(pdfs))
            text += f" ({counted(len(pdfs), 'PDF')} with {counted(in_pdfs, 'page')})"
        if self.unreadable:
            n = len({Path(u.file) for u in self.unreadable})
            text += f"; {counted(n, 'file')} could not be read: " + "; ".join(u.describe() for u in self.unreadable)
        if self.other_files:
            names = _first([p.name + ("/" if p.is_dir() else "") for p in self.other_files])
            text += f"; {counted(len(self.other_files), 'other file')} skipped: {names}"
        if self.not_read:
            text += (f"; {counted(len(self.not_read), 'more file')} not read (max_files; 0 reads all): "
                     + _first([p.name for p in self.not_read]))
        return text


def _first(names: list[str], shown: int = 5) -> str:
    """The first few names, and how many more there are."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def counted(n: int, word: str) -> str:
    """``n`` and the word, plural unless ``n`` is 1: "1 image", "3 images", "0 lines"."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def safe_stem(stem: str) -> str:
    """A file-system safe version of a file's stem (letters, digits, ``.``, ``_``, ``-``; at most 80 characters).

    Example:
        >>> safe_stem("Brief an Marie (1)")
        'Brief_an_Marie_1'
    """
    text = re.sub(r"[^\w.\-]+", "_", stem).strip("._ ")[:80].rstrip("._ ") or "page"
    return text + "_" if text.lower().split(".")[0] in _WINDOWS_RESERVED else text


def _natural_key(path: Path) -> list:
    """Sort key that puts ``page2`` before ``page10``."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", path.name)] + [(2, 0, path.name)]


def _kind(name: str, head: bytes) -> str:
    """``"pdf"``, ``"image"`` or ``"other"`` from a file's name and first bytes."""
    suffix = Path(name).suffix.lower()
    if head.startswith(b"%PDF") or suffix == ".pdf":
        return "pdf"
    if suffix in IMAGE_SUFFIXES or head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    return "other"


def _pixels_in_header(data: bytes) -> int | None:
    """The pixel count an image's header declares, when it can be read without decoding."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as im:
                return im.size[0] * im.size[1]
        except Image.DecompressionBombError as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            return int(found.group(1)) if found else None
        except Exception:  # noqa: BLE001 - only a hint for the message
            return None


def _too_large_fix(data: bytes, max_pixels: int) -> str:
    pixels = _pixels_in_header(data)
    size = f"The image has {pixels:,} pixels, more than max_image_pixels = {max_pixels:,}. " if pixels else ""
    return size + FIXES["too_large"]


def _upright(img: Image.Image) -> Image.Image:
    """RGB, EXIF orientation applied, detached from the bytes it was decoded from."""
    out = to_rgb(ImageOps.exif_transpose(img))
    return out.copy() if out is img else out


def _read_image(file: Path, data: bytes, max_pixels: int) -> tuple[list[SourcePage], list[Unreadable]]:
    """The pages of an image file (several for a multi-page TIFF), or why it cannot be read."""
    if not data:
        return [], [Unreadable(file, "empty_file", FIXES["empty_file"])]
    img, reason = open_checked(data, max_pixels)
    if img is None:
        fix = _too_large_fix(data, max_pixels) if reason == "too_large" else FIXES.get(reason or "", "")
        return [], [Unreadable(file, reason or "corrupt_image", fix)]
    frames = getattr(img, "n_frames", 1) if img.format == "TIFF" else 1
    pages: list[SourcePage] = []
    problems: list[Unreadable] = []
    for index in range(frames):
        number = index + 1 if frames > 1 else 0
        try:
            if index:
                img.seek(index)
                if img.size[0] * img.size[1] > max_pixels:
                    problems.append(Unreadable(file, "too_large", FIXES["too_large"], number))
                    continue
                img.load()
            pages.append(SourcePage(file, index + 1, _upright(img), numbered=frames > 1))
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            problems.append(Unreadable(file, "corrupt_image", f"{FIXES['corrupt_image']} ({exc})", number))
    img.close()
    return pages, problems


def _read_pdf(file: Path, source: Path | bytes, pdf_dpi: int,
              max_pixels: int) -> tuple[list[SourcePage], list[Unreadable]]:
    """Every page of a PDF rendered at ``pdf_dpi``, or why a page (or the whole file) cannot be read."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        return [], [Unreadable(file, "broken_pdf", "Reading PDFs needs pypdfium2: pip install pypdfium2 "
                                                   "(or export the pages as images).")]
    if isinstance(source, bytes) and not source:
        return [], [Unreadable(file, "empty_file", FIXES["empty_file"])]
    try:
        pdf = pdfium.PdfDocument(source)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == _PDF_PASSWORD_ERROR:
            return [], [Unreadable(file, "pdf_password", FIXES["pdf_password"])]
        return [], [Unreadable(file, "broken_pdf", f"The PDF does not open ({exc}). {FIXES['broken_pdf']}")]
    except (OSError, ValueError) as exc:
        return [], [Unreadable(file, "broken_pdf", f"The PDF does not open ({exc}). {FIXES['broken_pdf']}")]
    pages: list[SourcePage] = []
    problems: list[Unreadable] = []
    scale = pdf_dpi / 72.0
    try:
        if len(pdf) == 0:
            return [], [Unreadable(file, "empty_pdf", FIXES["empty_pdf"])]
        for index in range(len(pdf)):
            try:
                page = pdf[index]
                try:
                    width, height = page.get_size()
                    pixels = math.ceil(width * scale) * math.ceil(height * scale)
                    if pixels > max_pixels:
                        fits = max(1, int(pdf_dpi * math.sqrt(max_pixels / pixels)))
                        problems.append(Unreadable(
                            file, "pdf_page_too_large",
                            f"At pdf_dpi = {pdf_dpi} the page would be {math.ceil(width * scale)}x"
                            f"{math.ceil(height * scale)} pixels, more than max_image_pixels = {max_pixels:,}. "
                            f"Lower pdf_dpi (to {fits} or less), or raise max_image_pixels if the size is intended.",
                            index + 1))
                        continue
                    image = to_rgb(page.render(scale=scale).to_pil())
                finally:
                    page.close()
            except (pdfium.PdfiumError, OSError, ValueError) as exc:
                problems.append(Unreadable(file, "broken_pdf_page", f"{FIXES['broken_pdf_page']} ({exc})", index + 1))
                continue
            pages.append(SourcePage(file, index + 1, image, numbered=True))
    finally:
        pdf.close()
    return pages, problems


def _read_one(file: Path, kind: str, load: Callable[[], bytes], pdf_source: Path | None,
              pdf_dpi: int, max_pixels: int, scan: InputScan, taken: set[str]) -> None:
    """Read one image or PDF into ``scan``, its pages named apart from those in ``taken``."""
    try:
        if pdf_source is not None and pdf_source.stat().st_size == 0:
            pages, problems = [], [Unreadable(file, "empty_file", FIXES["empty_file"])]
        elif kind == "pdf":
            pages, problems = _read_pdf(file, pdf_source if pdf_source is not None else load(), pdf_dpi, max_pixels)
        else:
            pages, problems = _read_image(file, load(), max_pixels)
    except OSError as exc:
        pages, problems = [], [Unreadable(file, "unreadable_file",
                                          f"Cannot read it ({exc.strerror or exc}). {FIXES['unreadable_file']}")]
    _name_pages(pages, taken)
    scan.pages.extend(pages)
    scan.unreadable.extend(problems)


def _name_pages(pages: list[SourcePage], taken: set[str]) -> None:
    """Give one file's pages a stem whose names no earlier page has (compared case-insensitively,
    as Windows and macOS compare file names): ``a``, else ``a_jpg``, else ``a-2``, ``a-3``, ..."""
    if not pages:
        return
    file = Path(pages[0].file)
    base = safe_stem(file.stem)
    suffix = safe_stem(file.suffix.lower().lstrip(".")) if file.suffix else ""
    tried = [base] + ([f"{base}_{suffix}"] if suffix else [])
    for stem in itertools.chain(tried, (f"{base}-{k}" for k in itertools.count(2))):
        names = {(f"{stem}-p{p.page:03d}" if p.numbered else stem).lower() for p in pages}
        if not names & taken:
            break
    for p in pages:
        p.stem = stem
    taken |= names


def _check_options(pdf_dpi: int, max_pixels: int) -> None:
    if not isinstance(pdf_dpi, (int, float)) or pdf_dpi <= 0:
        raise ValueError(f"pdf_dpi must be a positive number of dots per inch (e.g. 200); got {pdf_dpi!r}.")
    if not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive whole number (default {MAX_IMAGE_PIXELS:,}); "
                         f"got {max_pixels!r}.")


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(16)
    except OSError:
        return b""


def scan_inputs(inputs: str | os.PathLike[str], *, pdf_dpi: int = 200, max_pixels: int = MAX_IMAGE_PIXELS,
                max_files: int = 0) -> InputScan:
    """Read an image, a PDF or a folder of them into upright RGB pages.

    A folder is read at its top level only, its files in natural order (``page2``
    before ``page10``); hidden files (``.DS_Store``), files of other kinds and
    sub-folders are listed in ``other_files``. A file is a PDF or an image by its
    suffix or its first bytes.

    Args:
        inputs: An image file, a PDF, or a folder (relative paths are resolved against the workspace).
        pdf_dpi: Resolution PDF pages are rendered at.
        max_pixels: Largest width x height of an image or rendered page; larger ones are refused
            (from the header, before decoding).
        max_files: Read at most this many image and PDF files of a folder (0: all); the rest are
            listed in ``not_read``.

    Returns:
        An :class:`InputScan`: the pages, the files that could not be read (reason and fix), the other files.

    Raises:
        FileNotFoundError: ``inputs`` does not exist.
        ValueError: ``pdf_dpi``, ``max_pixels`` or ``max_files`` is not usable.
    """
    _check_options(pdf_dpi, max_pixels)
    if not isinstance(max_files, int) or max_files < 0:
        raise ValueError(f"max_files must be 0 (all files) or a positive whole number; got {max_files!r}.")
    path = project_path(inputs)
    if not path.exists():
        raise FileNotFoundError(f"inputs = {str(inputs)!r}: no such file or folder ({path}). "
                                "Give an image, a PDF, or a folder of them.")
    scan = InputScan()
    if path.is_dir():
        entries = sorted(path.iterdir(), key=_natural_key)
    else:
        entries = [path]
    wanted: list[tuple[Path, str]] = []
    for entry in entries:
        if not entry.is_file() or (entry is not path and entry.name.startswith(".")):  # folders, pipes, hidden
            scan.other_files.append(entry)
            continue
        kind = _kind(entry.name, _head(entry))
        if kind == "other":
            scan.other_files.append(entry)
        elif max_files and len(wanted) >= max_files:
            scan.not_read.append(entry)
        else:
            wanted.append((entry, kind))
    taken: set[str] = set()
    for entry, kind in wanted:
        _read_one(entry, kind, entry.read_bytes, entry if kind == "pdf" else None, pdf_dpi, max_pixels, scan, taken)
    return scan


def scan_upload(files: Sequence[tuple[str, bytes]], *, pdf_dpi: int = 200,
                max_pixels: int = MAX_IMAGE_PIXELS) -> InputScan:
    """Read uploaded files (a notebook upload widget's ``(name, bytes)`` pairs) like :func:`scan_inputs`.

    Files are read in the order given; each :class:`SourcePage` ``file`` is the upload's name.

    Args:
        files: ``(file name, content)`` pairs.
        pdf_dpi: Resolution PDF pages are rendered at.
        max_pixels: Largest width x height of an image or rendered page.

    Returns:
        An :class:`InputScan`.
    """
    _check_options(pdf_dpi, max_pixels)
    scan = InputScan()
    taken: set[str] = set()
    for name, data in files:
        file = Path(Path(str(name)).name or "upload")
        content = bytes(data)
        kind = "other" if file.name.startswith(".") else _kind(file.name, content[:16])
        if kind == "other":
            scan.other_files.append(file)
        else:
            _read_one(file, kind, lambda content=content: content, None, pdf_dpi, max_pixels, scan, taken)
    return scan
