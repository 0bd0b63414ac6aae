"""PaddleOCR detection labels: ``page_path<TAB>[{"transcription", "points"}, ...]``; each region is cut out.

Imports lower stages and the other format modules' shared parts. Four-point
regions are warped upright (the PaddleOCR convention); regions labelled ``"###"``
are skipped and counted; regions marked ``"difficult": true`` are counted and
skipped or kept as ``log.paddle_difficult`` says.
"""

from __future__ import annotations

import json
from pathlib import Path

from inkwell.data.formats import paddle_rec
from inkwell.data.formats.base import (TABLE_SUFFIXES, DataFormatError, RawRow, ReadLog, annotation_first_line,
                                  decode_text_file)
from inkwell.data.formats.resolve import Resolver, open_page
from inkwell.data.images import perspective_crop, polygon_crop

__all__ = ["NAME", "default_root", "read", "sniff"]

NAME = "paddle_det"
_EXPECTED = ('Expected PaddleOCR detection labels: image_path<TAB>[{"transcription": "...", '
             '"points": [[x,y],[x,y],[x,y],[x,y]]}, ...].')


def sniff(path: Path) -> bool:
    """True for a text file whose first line is a path, a tab and a JSON list of region objects."""
    first = annotation_first_line(path, TABLE_SUFFIXES)
    if first is None or "\t" not in first:
        return False
    rest = first.split("\t", 1)[1].strip()
    if not rest.startswith("["):
        return False
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        return False
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


default_root = paddle_rec.default_root


def _is_difficult(value: object) -> bool:
    """True for PPOCRLabel's ``"difficult": true`` (also written as "true"/1 by other tools)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def read(path: Path, resolver: Resolver, log: ReadLog) -> None:
    """Cut every labelled region of every page into ``log`` (``"###"`` regions skipped; regions marked
    difficult counted, and skipped when ``log.paddle_difficult`` is ``"skip"``)."""
    for line, raw in enumerate(decode_text_file(path).splitlines(), start=1):
        if not raw.strip():
            continue
        if "\t" not in raw:
            raise DataFormatError(f"{path.name}, line {line}: no tab found. {_EXPECTED}")
        image, payload = raw.split("\t", 1)
        try:
            regions = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path.name}, line {line}: malformed JSON ({exc.msg}). {_EXPECTED}") from exc
        if not isinstance(regions, list) or not all(isinstance(r, dict) for r in regions):
            raise DataFormatError(f"{path.name}, line {line}: regions are not a list of objects. {_EXPECTED}")
        wanted = []
        for k, region in enumerate(regions, start=1):
            text = region.get("transcription", region.get("text"))
            if text is not None and str(text).strip() == "###":
                log.skipped += 1
                continue
            if _is_difficult(region.get("difficult")):
                log.difficult += 1
                if log.paddle_difficult == "skip":
                    continue
            wanted.append((k, region, text))
        if not wanted:
            continue
        page, page_path, reason = open_page(resolver, image, log)
        for k, region, text in wanted:
            if page is None:
                why = resolver.explain(image) if (reason or "missing_file") == "missing_file" else ""
                log.reject(path, line, image, reason or "missing_file", f"region {k}, page image {why}".strip(),
                           page_path)
                continue
            try:
                pts = [(float(p[0]), float(p[1])) for p in region.get("points") or []]
            except (TypeError, ValueError, IndexError):
                pts = []
            crop = perspective_crop(page, pts) if len(pts) == 4 else (
                polygon_crop(page, pts) if len(pts) >= 3 else None)
            if crop is None:
                log.reject(path, line, image, "bad_region", f"region {k}", page_path)
                continue
            log.rows.append(RawRow(str(path), line, image, crop, "" if text is None else str(text),
                                   image, None, None, f"{path.name}:{line}:{k}", page=page_path))
