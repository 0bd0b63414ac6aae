"""Grouped splits: lines of one page, document or writer never straddle train, validation and test.

Stage ``data``: imports :mod:`inkwell.data.formats` (the row record) only. :func:`split_groups`
assigns whole groups to splits by ratio with a seed; :func:`document_keys` turns the
``group_by`` parameter (``"page"``, ``"folder"`` or a regular expression) into a key per
row; :func:`assign_splits` joins pages, documents and writers into connected groups
and splits those.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from inkwell.data.formats import RawRow

__all__ = ["GROUP_BY_CHOICES", "SPLITS", "assign_splits", "document_keys", "group_pattern", "split_groups"]

SPLITS = ("train", "validation", "test")
#: The named ``group_by`` settings; any other value is a regular expression with one group.
GROUP_BY_CHOICES = ("page", "folder")


def split_groups(groups: list[str], ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                 seed: int = 0) -> list[str]:
    """Assign each item to "train"/"validation"/"test" so that no group is in two splits.

    Groups are shuffled with ``seed`` (after sorting, so input order does not matter) and assigned
    one by one to the split furthest below its target share of items. Every split with a positive
    ratio first receives one group (chosen at random among groups no larger than that split's
    target, else the smallest), so each non-empty split gets at least one group whenever there
    are enough groups. With fewer groups, train is served first, then validation, then test.

    Args:
        groups: Group key of each item.
        ratios: Target shares of items for train, validation and test (normalised to sum 1).
        seed: Random seed; the result is deterministic given groups, ratios and seed.

    Returns:
        The split name of each item, in input order.
    """
    try:
        usable = len(ratios) == 3 and all(math.isfinite(r) and r >= 0 for r in ratios) and sum(ratios) > 0
    except TypeError:
        usable = False
    if not usable:
        raise ValueError(f"train_ratio, validation_ratio and test_ratio must be non-negative numbers with a "
                         f"positive sum; got {tuple(ratios)}. Example: 0.8, 0.1, 0.1.")
    if not groups:
        return []
    total_ratio = float(sum(ratios))
    shares = [r / total_ratio for r in ratios]
    sizes = Counter(groups)
    rng = random.Random(seed)
    order = sorted(sizes)
    rng.shuffle(order)
    n_items = len(groups)
    targets = [s * n_items for s in shares]
    counts = [0.0, 0.0, 0.0]
    assignment: dict[str, int] = {}
    positive = [i for i in range(3) if shares[i] > 0]
    # seed each positive split with one group: smallest share chooses first
    seeding = sorted(positive, key=lambda i: (shares[i], i))
    if len(order) < len(positive):
        seeding = [i for i in (0, 1, 2) if i in positive][: len(order)]
    remaining = list(order)
    for i in seeding:
        fitting = [g for g in remaining if sizes[g] <= max(targets[i], 1)]
        g = fitting[0] if fitting else min(remaining, key=lambda x: (sizes[x], remaining.index(x)))
        remaining.remove(g)
        assignment[g] = i
        counts[i] += sizes[g]
    # remaining groups: largest first (shuffled order breaks ties), to the split with the largest deficit
    remaining.sort(key=lambda g: -sizes[g])
    for g in remaining:
        best = max(positive, key=lambda i: (targets[i] - counts[i], -i))
        assignment[g] = best
        counts[best] += sizes[g]
    return [SPLITS[assignment[g]] for g in groups]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)




def assign_splits(rows: list[RawRow], accepted: list[int], ratios: tuple[float, float, float], seed: int,
                   notes: list[str], docs: dict[int, str] | None = None) -> tuple[dict[int, str], dict[int, str]]:
    """Split accepted rows by connected group (page/document + ``docs`` key + writer); user split values win.

    Returns:
        (row index -> split, row index -> group component key). Remarks are appended to ``notes``.
    """
    def components(use_writer: bool) -> dict[int, str]:
        uf = _UnionFind()
        for i in accepted:
            r = rows[i]
            node = f"row:{r.id}"
            uf.find(node)
            if r.group:
                uf.union(node, f"group:{r.group}")
            if docs and i in docs:
                uf.union(node, f"doc:{docs[i]}")
            if r.writer and use_writer:
                uf.union(node, f"writer:{r.writer}")
        return {i: uf.find(f"row:{rows[i].id}") for i in accepted}

    comp = components(use_writer=True)
    wanted = sum(1 for x in ratios if x > 0)
    if len(set(comp.values())) < wanted and any(rows[i].writer for i in accepted):
        # one person's handwriting (the usual case) would leave a single group: keep pages apart instead
        comp = components(use_writer=False)
        notes.append(f"Too few writers to keep writers apart across {wanted} splits; "
                     "splits keep pages/documents apart only.")
    pinned: dict[str, set[str]] = defaultdict(set)
    for i in accepted:
        if rows[i].split:
            pinned[comp[i]].add(rows[i].split)
    straddling = [c for c, s in pinned.items() if len(s) > 1]
    if straddling:
        notes.append(f"The user-supplied split column puts {len(straddling)} group(s) (page/document/writer) "
                     "into more than one split; kept as given, but evaluation may be optimistic.")
    free = [i for i in accepted if not rows[i].split and comp[i] not in pinned]
    assigned = dict(zip(free, split_groups([comp[i] for i in free], ratios, seed)))
    split_of: dict[int, str] = {}
    for i in accepted:
        if rows[i].split:
            split_of[i] = rows[i].split  # type: ignore[assignment]
        elif comp[i] in pinned:  # follow the group's user-given split
            split_of[i] = min(pinned[comp[i]], key=SPLITS.index)
        else:
            split_of[i] = assigned[i]
    if pinned and free:
        notes.append(f"{len(free)} row(s) without a split value were split by group with train_ratio, "
                     f"validation_ratio, test_ratio = {tuple(ratios)}.")
    if not docs and not any(rows[i].group or rows[i].writer for i in accepted):
        notes.append("No group/page/document or writer information: each line is its own group.")
    return split_of, comp


def group_pattern(group_by: str) -> re.Pattern[str] | None:
    """The compiled ``group_by`` regular expression (None for ``"page"``/``"folder"``), checked up front.

    Raises:
        ValueError: Not a valid regular expression, or not exactly one capturing group.
    """
    if group_by in GROUP_BY_CHOICES:
        return None
    example = 'e.g. group_by = "(.+)-\\d+$" puts will_0064-0.png ... will_0064-4.png in one group "will_0064"'
    try:
        pattern = re.compile(group_by)
    except (re.error, TypeError) as exc:
        raise ValueError(f"group_by = {group_by!r} is neither \"page\" nor \"folder\" nor a valid regular "
                         f"expression ({exc}). Use one of those; {example}.") from None
    if pattern.groups != 1:
        raise ValueError(f"group_by = {group_by!r} has {pattern.groups} capturing groups; it needs exactly one, "
                         f"the part of the page file name that names the document: {example}.")
    return pattern


def _page_file(row: RawRow) -> Path | None:
    """The file a row's line comes from: the page image for lines cut out of pages, else the line image."""
    return row.page if row.page is not None else (row.resolved if isinstance(row.resolved, Path) else None)


def document_keys(rows: list[RawRow], accepted: list[int], group_by: str, pattern: re.Pattern[str] | None,
                   notes: list[str]) -> dict[int, str] | None:
    """Row index -> document key for ``group_by`` ``"folder"`` or a pattern (None for ``"page"``).

    A page file whose stem the pattern does not match is its own group; their number goes to ``notes``.
    """
    if group_by == "page":
        return None
    docs: dict[int, str] = {}
    unmatched: dict[Path, None] = {}
    for i in accepted:
        page = _page_file(rows[i])
        if page is None:
            continue
        if pattern is None:
            docs[i] = str(page.parent)
            continue
        found = pattern.search(page.stem)
        if found and found.group(1):
            docs[i] = found.group(1)
        else:
            unmatched[page] = None
            docs[i] = f"page:{page}"
    if unmatched:
        first = ", ".join(p.name for p in list(unmatched)[:3])
        notes.append(f"group_by = {group_by!r} does not match the names of {len(unmatched)} page file(s) "
                     f"(e.g. {first}); each of them is its own group.")
    return docs
