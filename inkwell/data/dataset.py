"""From raw rows to a clean, split data set on disk: validation, grouped splits, save/load and the report.

Stage ``data``: imports :mod:`inkwell.data.formats` and lower stages. Every input
row ends up either in the saved ``DatasetDict`` or in ``rejected.csv`` with a
reason and a fix; lines of one page (or writer) never straddle two splits.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import math
import multiprocessing
import os
import shutil
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
from PIL import Image, ImageOps

from inkwell.data.corrections import NO_LABELS_YET, corrections_notes
from inkwell.core.csvsafe import neutralise_row
from inkwell.models.families import strictest_aspect_ratio
from inkwell.data.formats import DataFormatError, RawRow, Rejection, read_rows
from inkwell.data.formats.base import ReadLog
from inkwell.data.images import MAX_IMAGE_PIXELS, exif_orientation, open_checked, png_bytes, to_rgb, too_large_detail
from inkwell.core.paths import (DamagedFileError, atomic_folder, check_manifest, clean_interrupted, project_path,
                           write_json, write_manifest)
from inkwell.core.progress import progress_bar
from inkwell.data.splits import GROUP_BY_CHOICES, SPLITS, assign_splits, document_keys, group_pattern, split_groups

__all__ = [
    "DataReport",
    "GROUP_BY_CHOICES",
    "ImageCheck",
    "PARALLEL_MIN_FILES",
    "SPLITS",
    "char_frequencies",
    "dataset_fingerprint",
    "describe_report",
    "load_processed",
    "prepare_dataset",
    "processed_sets",
    "split_groups",
    "splits_of",
]

_ALLOWED_FORMAT_CHARS = {"\u200c", "\u200d"}  # ZWNJ / ZWJ carry meaning in several scripts
#: Below this many image files, validation runs in-process.
PARALLEL_MIN_FILES = 256
_SHARD_BYTES = 500 * 1024 * 1024  # target size of one saved Arrow shard


@dataclass
class DataReport:
    """Summary of a ``prepare_dataset`` run; ``to_dict()`` is what ``report.json`` holds.

    Attributes:
        output_dir: Folder the dataset was written to.
        format: Detected or requested input format.
        n_rows: Input rows seen (lines/regions; ``###`` regions not included).
        n_accepted: Rows written to the dataset.
        n_duplicates_dropped: Rows dropped because an identical image with the same text came earlier.
        n_skipped_regions: PaddleOCR ``"###"`` regions skipped.
        split_sizes: Rows per split.
        groups_per_split: Distinct groups per split.
        charset: Sorted unique characters of the accepted texts.
        unseen_chars: Split -> characters occurring there (validation/test) but never in train.
        rejected: Every row not accepted, with reason and fix (duplicates included).
        notes: Plain-language remarks, e.g. about empty splits.
        images_root: Folder image paths were resolved against.
        group_by: What was kept together: ``"page"``, ``"folder"`` or the regular expression.
    """

    output_dir: Path
    format: str
    n_rows: int
    n_accepted: int
    n_duplicates_dropped: int
    n_skipped_regions: int
    split_sizes: dict[str, int]
    groups_per_split: dict[str, int]
    charset: str
    unseen_chars: dict[str, str]
    rejected: list[Rejection]
    notes: list[str] = field(default_factory=list)
    images_root: Path | None = None
    group_by: str = "page"

    def to_dict(self) -> dict:
        """Return a JSON-ready dictionary of the report.

        Returns:
            The report with paths as strings and rejections as plain dictionaries.
        """
        out = asdict(self)
        out["output_dir"] = str(self.output_dir)
        out["images_root"] = None if self.images_root is None else str(self.images_root)
        out["n_rejected"] = len(self.rejected)
        out["rejected_by_reason"] = dict(Counter(r.reason for r in self.rejected).most_common())
        return out


@dataclass(frozen=True)
class ImageCheck:
    """The result of checking one line image.

    Attributes:
        reason: Why it was refused (a :data:`~inkwell.data.formats.base.FIXES` key), or None when it is usable.
        detail: What was seen, for the fix message (e.g. ``"5x40 px"``).
        digest: Hash of the image (file bytes, or pixels for cut-out lines), for finding duplicates.
        data: The bytes to store: the original file when it is already plain RGB PNG/JPEG, else PNG.
    """

    reason: str | None = None
    detail: str = ""
    digest: str = ""
    data: bytes = b""

    @property
    def ok(self) -> bool:
        """True when the image is usable."""
        return self.reason is None


def _size_problem(size: tuple[int, int], min_side: int, max_aspect: float) -> str | None:
    """Return "too_small"/"aspect_ratio" for a bad (width, height), else None."""
    w, h = size
    if w < max(min_side, 1) or h < max(min_side, 1):
        return "too_small"
    if max(w / h, h / w) > max_aspect:
        return "aspect_ratio"
    return None


def _size_detail(size: tuple[int, int], reason: str, min_side: int) -> str:
    """What was seen, for the fix message: the size, and for a too small image the limit it missed."""
    seen = f"{size[0]}x{size[1]} px"
    return f"{seen}, under the minimum of {max(min_side, 1)} px a side" if reason == "too_small" else seen


def _check_image_file(task: tuple[str, int, int, float]) -> ImageCheck:
    """Read, hash, decode and validate one image file (runs in worker processes too).

    Args:
        task: (path, min_side, max_image_pixels, max_aspect_ratio).
    """
    path, min_side, max_pixels, max_aspect = task
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ImageCheck("missing_file", str(exc))
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    img, reason = open_checked(data, max_pixels)
    if img is None:
        return ImageCheck(reason, "empty file" if not data else (
            too_large_detail(data, max_pixels) if reason == "too_large" else ""))
    try:
        orientation = exif_orientation(img)
        passthrough = (img.format in ("PNG", "JPEG") and img.mode == "RGB" and orientation == 1
                       and "transparency" not in img.info and getattr(img, "n_frames", 1) == 1)
        if not passthrough:
            img = to_rgb(ImageOps.exif_transpose(img) if orientation != 1 else img)
    except (OSError, ValueError, SyntaxError) as exc:
        return ImageCheck("corrupt_image", str(exc))
    reason = _size_problem(img.size, min_side, max_aspect)
    if reason:
        return ImageCheck(reason, _size_detail(img.size, reason, min_side))
    return ImageCheck(digest=digest, data=data if passthrough else png_bytes(img))


def _check_image_memory(img: Image.Image, min_side: int, max_aspect: float) -> ImageCheck:
    """Validate an in-memory line image (cut out of a page)."""
    img = to_rgb(img)
    reason = _size_problem(img.size, min_side, max_aspect)
    if reason:
        return ImageCheck(reason, _size_detail(img.size, reason, min_side))
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{img.mode}{img.size}".encode())
    h.update(img.tobytes())
    return ImageCheck(digest=h.hexdigest(), data=png_bytes(img))


def _text_problem(text: str) -> tuple[str, str | None]:
    """Normalise a label (NFC, trimmed) and return (text, reason or None)."""
    norm = unicodedata.normalize("NFC", text).strip()
    if not norm:
        return norm, "empty_text"
    for ch in norm:
        if ch in _ALLOWED_FORMAT_CHARS:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf"):
            return norm, "control_characters"
    return norm, None


def _validate_images(rows: list[RawRow], min_side: int, max_pixels: int, max_aspect: float,
                     progress: bool) -> list[ImageCheck]:
    """Validate every row's image, in parallel for many files; results are in row order."""
    results: list[ImageCheck | None] = [None] * len(rows)
    file_idx = [i for i, r in enumerate(rows) if isinstance(r.resolved, Path)]
    bar = progress_bar(len(rows), "checking images", "image", disable=not progress)
    try:
        workers = min(os.cpu_count() or 1, 4)
        if len(file_idx) >= PARALLEL_MIN_FILES and workers >= 2:
            ctx = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
            tasks = [(str(rows[i].resolved), min_side, max_pixels, max_aspect) for i in file_idx]
            try:
                with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                    for i, res in zip(file_idx, pool.map(_check_image_file, tasks, chunksize=64)):
                        results[i] = res
                        bar.update(1)
            except BrokenProcessPool:  # a worker died: finish the remaining files in-process
                pass
        for i in file_idx:
            if results[i] is None:
                results[i] = _check_image_file((str(rows[i].resolved), min_side, max_pixels, max_aspect))
                bar.update(1)
        for i, r in enumerate(rows):
            if results[i] is None:
                results[i] = _check_image_memory(r.resolved, min_side, max_aspect)  # type: ignore[arg-type]
                bar.update(1)
    finally:
        bar.close()
    return results  # type: ignore[return-value]


#: The columns of a processed data set.
_FEATURES = datasets.Features({
    "image": datasets.Image(), "text": datasets.Value("string"), "id": datasets.Value("string"),
    "group": datasets.Value("string"), "source": datasets.Value("string"),
    "line": datasets.Value("int32"), "writer": datasets.Value("string"),
})


def _drop_duplicates(rows: list[RawRow], texts: list[str | None], good: list[tuple[int, ImageCheck]],
                     log: ReadLog) -> tuple[list[tuple[int, ImageCheck]], int]:
    """Drop repeated images: same text -> keep the first ("duplicate"), different texts -> reject all ("conflict").

    Returns:
        (accepted (row index, check result) pairs, number of duplicates dropped).
    """
    by_hash: dict[str, list[int]] = defaultdict(list)
    for pos, (_i, res) in enumerate(good):
        by_hash[res.digest].append(pos)
    dropped: set[int] = set()
    n_dup = 0
    for positions in by_hash.values():
        if len(positions) < 2:
            continue
        first = rows[good[positions[0]][0]]
        same_text = len({texts[good[p][0]] for p in positions}) == 1
        for p in positions[1:] if same_text else positions:
            r = rows[good[p][0]]
            if same_text:
                detail = f"same image as {Path(first.source).name}:{first.line}"
                log.reject(Path(r.source), r.line, r.image, "duplicate", detail, r.origin)
                n_dup += 1
            else:
                log.reject(Path(r.source), r.line, r.image, "conflict", f"{len(positions)} rows share this image",
                                 r.origin)
            dropped.add(p)
    return [g for p, g in enumerate(good) if p not in dropped], n_dup


def _reading_notes(read_notes: list[str], kept: list[tuple[RawRow, str]], shown: int = 5) -> list[str]:
    """Remarks from reading (at most ``shown`` of them, then a count) and on kept lines cut out of pages that
    are still taller than wide although their text is longer than 3 characters (``kept``: row, normalised text)."""
    notes = list(read_notes[:shown])
    if len(read_notes) > shown:
        notes.append(f"... and {len(read_notes) - shown} more such remark(s).")
    tall = [r.id for r, text in kept
            if isinstance(r.resolved, Image.Image) and r.resolved.height > r.resolved.width and len(text) > 3]
    if tall:
        notes.append(f"{len(tall)} line(s) cut out of pages are taller than wide although their text is longer than "
                     f"3 characters ({', '.join(tall[:shown])}{', ...' if len(tall) > shown else ''}): vertical "
                     "writing without a baseline? They were kept; give such lines a Baseline running in reading "
                     "direction (PAGE Baseline, ALTO 4 BASELINE points), so they are cut upright.")
    return notes


def prepare_dataset(source: str | Path, images_root: str | Path | None = None, dataset_name: str = "my-lines",
                    output_root: str | Path = "data/processed", *, format: str = "auto", seed: int = 0,
                    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), max_aspect_ratio: float = 0.0,
                    min_side: int = 8, max_image_pixels: int = MAX_IMAGE_PIXELS, overwrite: bool = False,
                    progress: bool = True, paddle_difficult: str = "skip", group_by: str = "page") -> DataReport:
    """Read, validate, split and write a line-image dataset.

    Every input row is either written or listed in ``rejected.csv`` with a reason and a fix.
    Splits are grouped: lines of one page/document, and of one writer when known, never straddle
    splits. When the data gives no group, each line is its own group. A user ``split`` column wins.

    Args:
        source: Annotation file or folder (see ``detect_format``).
        images_root: Folder image paths are relative to (default: the annotation file's folder).
        dataset_name: Name of the output folder under ``output_root``.
        output_root: Parent folder of processed datasets.
        format: ``"auto"`` or one of ``FORMATS``.
        seed: Seed for the split.
        split_ratios: Target shares of train, validation, test.
        max_aspect_ratio: Largest allowed width/height (or height/width); 0 or less: the
            strictest limit of the supported model families (:func:`~inkwell.models.families.strictest_aspect_ratio`).
        min_side: Smallest allowed image side in pixels.
        max_image_pixels: Largest allowed width*height, checked from the header before decoding.
        overwrite: Replace an existing dataset of the same name.
        progress: Show a bar while images are checked (datasets' own bars stay off: a saved notebook
            would show them frozen at 0/N).
        paddle_difficult: ``"skip"`` (default) or ``"keep"`` PaddleOCR detection regions marked
            ``"difficult": true`` -- PPOCRLabel's mark for illegible or uncertain text, which its own
            recognition export leaves out too; counted in the report's notes either way.
        group_by: What stays together in one split: ``"page"`` (each page or line image, with the
            data's own page/document column), ``"folder"`` (the page file's folder) or a regular
            expression with one capturing group, searched in the page file's name without suffix
            (``"(.+)-\\d+$"``: ``will_0064-0`` ... ``will_0064-4`` form group ``will_0064``). The page
            file is the page image for lines cut out of pages (PAGE-XML, ALTO, PaddleOCR detection:
            the image the XML names, not the XML file) and the line image otherwise. A writer
            column still joins groups of one writer; a name the expression does not match is its
            own group (counted in the notes).

    Returns:
        The report (also written to ``report.json``).

    Raises:
        FileExistsError: If the dataset exists and ``overwrite`` is False.
        DataFormatError: For structural problems in the input, or when no row is usable (then
            ``report.json`` and ``rejected.csv`` are written to ``<dataset_name>.failed`` beside the
            data set's folder, and the message names that file).
    """
    out_root = project_path(output_root)
    target = out_root / dataset_name
    if not dataset_name or Path(dataset_name).name != dataset_name or dataset_name in (".", ".."):
        raise ValueError(f"dataset_name must be a plain folder name; got {dataset_name!r}.")
    split_groups([], split_ratios)  # bad ratios fail before any file is read
    pattern = group_pattern(group_by)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists. Pick another dataset_name or set overwrite=True.")
    max_aspect = max_aspect_ratio if max_aspect_ratio > 0 else strictest_aspect_ratio()
    if not str(source).strip():
        raise ValueError(f"source is empty: set it to your annotation file or folder. {NO_LABELS_YET}")
    if not project_path(source).exists():
        raise FileNotFoundError(f"source = {str(source)!r}: {project_path(source)} does not exist; check the `source` "
                                f"parameter. {NO_LABELS_YET}")

    read = read_rows(source, images_root, format, max_image_pixels, paddle_difficult=paddle_difficult)
    read.notes[:0] = corrections_notes(source)  # corrected readings: lines checked, and those kept for later
    rows = read.rows
    src_name = Path(source).name
    n_rows = len(rows) + len(read.rejected)
    log = ReadLog(rejected=list(read.rejected))

    # text first (cheap), then images
    texts: list[str | None] = []
    for r in rows:
        norm, reason = _text_problem(r.text)
        texts.append(None if reason else norm)
        if reason:
            log.reject(Path(r.source), r.line, r.image, reason, resolved=r.origin)
    keep = [i for i, t in enumerate(texts) if t is not None]
    checks = _validate_images([rows[i] for i in keep], min_side, max_image_pixels, max_aspect, progress)
    good: list[tuple[int, ImageCheck]] = []
    for i, check in zip(keep, checks):
        if check.ok:
            good.append((i, check))
        else:
            r = rows[i]
            log.reject(Path(r.source), r.line, r.image, check.reason or "corrupt_image", check.detail, r.origin)

    accepted, n_dup = _drop_duplicates(rows, texts, good, log)
    notes: list[str] = list(read.notes)
    if not accepted:
        by_reason = ", ".join(f"{k} x{v}" for k, v in Counter(x.reason for x in log.rejected).most_common())
        failed = _save_failure(target, DataReport(
            output_dir=target, format=read.format, n_rows=n_rows, n_accepted=0, n_duplicates_dropped=n_dup,
            n_skipped_regions=read.skipped, split_sizes={s: 0 for s in SPLITS}, groups_per_split={s: 0 for s in SPLITS},
            charset="", unseen_chars={}, rejected=sorted(log.rejected, key=lambda x: (x.source, x.line)),
            notes=notes, images_root=read.images_root))
        raise DataFormatError(
            f"{src_name}: no usable rows ({n_rows} read, {len(log.rejected)} rejected"
            f"{': ' + by_reason if by_reason else ''}). Expected at least one row with an existing, "
            f"readable image and a non-empty text. Each row's reason and fix: {failed / 'rejected.csv'} "
            "(no data set was written).")
    notes: list[str] = _reading_notes(read.notes, [(rows[i], texts[i] or "") for i, _ in accepted])
    docs = document_keys(rows, [i for i, _ in accepted], group_by, pattern, notes)
    split_of, comp = assign_splits(rows, [i for i, _ in accepted], split_ratios, seed, notes, docs)

    columns: dict[str, dict[str, list]] = {s: {k: [] for k in _FEATURES} for s in SPLITS}
    for i, check in accepted:
        r = rows[i]
        c = columns[split_of[i]]
        c["image"].append({"bytes": check.data, "path": None})
        c["text"].append(texts[i])
        c["id"].append(r.id)
        c["group"].append(docs[i] if docs and i in docs else r.group or r.id)
        c["source"].append(Path(r.source).name)
        c["line"].append(r.line)
        c["writer"].append(r.writer or "")
    split_sizes = {s: len(columns[s]["id"]) for s in SPLITS}
    groups_per_split = {s: len({comp[i] for i, _ in accepted if split_of[i] == s}) for s in SPLITS}
    for s in SPLITS:
        if split_sizes[s] == 0:
            notes.append(f"The {s} split is empty ({len(set(comp.values()))} group(s) in total); "
                         f"add more pages/documents, raise {s}_ratio, or set group_by to smaller groups.")
    charset = "".join(sorted({ch for i, _ in accepted for ch in texts[i]}))  # type: ignore[union-attr]
    train_chars = set("".join(columns["train"]["text"]))
    unseen = {s: "".join(sorted(set("".join(columns[s]["text"])) - train_chars)) for s in ("validation", "test")}

    report = DataReport(output_dir=target, format=read.format, n_rows=n_rows, n_accepted=len(accepted),
                        n_duplicates_dropped=n_dup, n_skipped_regions=read.skipped, split_sizes=split_sizes,
                        groups_per_split=groups_per_split, charset=charset, unseen_chars=unseen,
                        rejected=sorted(log.rejected, key=lambda x: (x.source, x.line)),
                        notes=notes, images_root=read.images_root, group_by=group_by)
    dsd = datasets.DatasetDict({s: datasets.Dataset.from_dict(columns[s], features=_FEATURES) for s in SPLITS})
    _save(dsd, report, target, overwrite)
    shutil.rmtree(_failure_folder(target), ignore_errors=True)  # an earlier failed run's report is out of date
    return report


def _failure_folder(target: Path) -> Path:
    """Where a run that accepted no row leaves its report.json and rejected.csv (beside, never in, ``target``)."""
    return target.with_name(f"{target.name}.failed")


def _save_failure(target: Path, report: DataReport) -> Path:
    """Write report.json and rejected.csv of a run that accepted no row; return their folder."""
    folder = _failure_folder(target)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(folder, overwrite=True) as tmp:
        write_json(tmp / "report.json", report.to_dict())
        _write_rejected(tmp / "rejected.csv", report)
    return folder


def _save(dsd: datasets.DatasetDict, report: DataReport, target: Path, overwrite: bool) -> None:
    """Write the dataset, report.json and rejected.csv together: all of them, or nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    needed = sum(split.data.nbytes for split in dsd.values())
    with _without_datasets_bars(), atomic_folder(target, overwrite=overwrite, needed_bytes=needed) as tmp:
        # explicit shard counts: datasets cannot estimate the size of an empty split
        num_shards = {name: max(1, math.ceil(split.data.nbytes / _SHARD_BYTES)) for name, split in dsd.items()}
        dsd.save_to_disk(str(tmp), num_shards=num_shards)
        write_json(tmp / "report.json", report.to_dict())
        _write_rejected(tmp / "rejected.csv", report)
        write_manifest(tmp)  # load_processed refuses the set if a file is later truncated or edited


def _write_rejected(path: Path, report: DataReport) -> None:
    """Write a report's rejections as ``rejected.csv`` (source, line, image, reason, fix)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source", "line", "image", "reason", "fix"])
        for r in report.rejected:
            writer.writerow(neutralise_row([r.source, r.line, r.image, r.reason, r.fix]))


@contextlib.contextmanager
def _without_datasets_bars() -> Iterator[None]:
    """datasets' own bars off inside the block (they cannot leave a final line in a saved notebook), then as before."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def load_processed(dataset_name: str, output_root: str | Path = "data/processed") -> datasets.DatasetDict:
    """Load a dataset written by ``prepare_dataset``.

    Args:
        dataset_name: Name given to ``prepare_dataset``.
        output_root: Parent folder of processed datasets.

    Returns:
        The ``DatasetDict`` with splits train, validation and test.

    Raises:
        FileNotFoundError: If no such dataset exists (the message lists those that do).
        DamagedFileError: A file of the set is missing, truncated or was edited (the message names it).
    """
    path = project_path(output_root) / dataset_name
    clean_interrupted(path.parent, dataset_name)  # a replacement killed midway: the earlier set goes back
    if not (path / "dataset_dict.json").is_file():
        have = processed_sets(output_root)
        sets = f"the processed sets are {', '.join(repr(n) for n in have)}" if have else "there are none yet"
        raise FileNotFoundError(
            f"dataset_name = {dataset_name!r}: no processed data set at {path} ({sets} in "
            f"{project_path(output_root)}). Pick one of them, or run 01_data with dataset_name = "
            f"{dataset_name!r} first.")
    fix = f"Run 01_data again with dataset_name = {dataset_name!r} and overwrite = True to write it anew."
    check_manifest(path, f"The processed data set {dataset_name!r}", fix)
    try:
        with _without_datasets_bars():
            dsd = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure to read it means the same: the set is damaged
        raise DamagedFileError(f"{path} cannot be read as a processed data set ({type(exc).__name__}: {exc}). "
                               f"{fix}") from exc
    if not isinstance(dsd, datasets.DatasetDict):  # pragma: no cover - prepare_dataset always writes a dict
        raise DataFormatError(f"{path}: expected a DatasetDict with train/validation/test splits.")
    return dsd


def processed_sets(output_root: str | Path = "data/processed") -> list[str]:
    """Names of the processed data sets under ``output_root`` (sorted; none: an empty list)."""
    root = project_path(output_root)
    if not root.is_dir():
        return []
    clean_interrupted(root, staging=False)  # replacements killed midway: the earlier sets go back
    return sorted(p.name for p in root.iterdir()
                  if not p.name.startswith(".") and (p / "dataset_dict.json").is_file())  # hidden: unfinished


def dataset_fingerprint(data: datasets.DatasetDict) -> str:
    """A short hash that changes when any split of a processed set changes."""
    h = hashlib.sha256()
    for name in sorted(data):
        h.update(f"{name}:{data[name]._fingerprint}:{len(data[name])};".encode())
    return h.hexdigest()[:16]


def char_frequencies(dataset_dict: datasets.DatasetDict, top: int = 40) -> list[tuple[str, int]]:
    """Most frequent characters over all splits (spaces included).

    Args:
        dataset_dict: Output of ``load_processed``.
        top: How many to return.

    Returns:
        (character, count) pairs, most frequent first; ties in character order.
    """
    counts: Counter[str] = Counter()
    for name in splits_of(dataset_dict):
        for text in dataset_dict[name]["text"]:
            counts.update(text)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def splits_of(dataset_dict: datasets.DatasetDict, split: str | None = None) -> list[str]:
    """The split names to show: ``split`` alone, or train/validation/test first and any others after."""
    names = [split] if split else [s for s in SPLITS if s in dataset_dict] + [
        s for s in dataset_dict if s not in SPLITS]
    return [s for s in names if s in dataset_dict]


def describe_report(report: DataReport) -> str:
    """A few lines summarising a :class:`DataReport` for a notebook or a log."""
    reasons = Counter(r.reason for r in report.rejected)
    lines = [
        f"{report.n_rows} rows read ({report.format}) -> {report.n_accepted} accepted, "
        f"{len(report.rejected)} rejected, {report.n_duplicates_dropped} duplicates dropped, "
        f"{report.n_skipped_regions} '###' regions skipped.",
        "Splits: " + ", ".join(
            f"{k} {report.split_sizes.get(k, 0)} lines / {report.groups_per_split.get(k, 0)} groups" for k in SPLITS
        ) + f" (group_by = {report.group_by!r})",
    ]
    if reasons:
        lines.append("Rejected by reason: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
    for split, chars in report.unseen_chars.items():
        if chars:
            lines.append(f"Characters in {split} never seen in train: {chars!r}")
    lines.extend(report.notes)
    lines.append(f"Saved to {report.output_dir}")
    return "\n".join(lines)
