"""inkwell.core.paths: atomic folder and file writes never lose or half-write anything; unique names."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkwell.core.paths import (CleanedUp, atomic_file, atomic_folder, clean_interrupted, remove_stale_staging,
                           unique_path)


def test_atomic_folder_publishes_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []  # nothing half-written, staging removed
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("a")
    assert (target / "a.txt").read_text() == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_folder_keeps_what_exists(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="left as it is"):
        with atomic_folder(target) as tmp:
            (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    with atomic_folder(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_folder_keeps_partial_work_on_request(tmp_path: Path) -> None:
    target, staging = tmp_path / "run", tmp_path / "run.partial"
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(target, staging=staging, keep_on_error=True) as tmp:
            (tmp / "checkpoint").write_text("step 40")
            raise KeyboardInterrupt
    assert not target.exists() and (staging / "checkpoint").read_text() == "step 40"
    target.mkdir()
    (target / "other").write_text("an earlier run")
    with pytest.raises(FileExistsError, match="kept in"):
        with atomic_folder(target, staging=staging, keep_on_error=True) as tmp:
            (tmp / "adapter").write_text("done")
    assert (staging / "adapter").read_text() == "done" and (target / "other").exists()


def test_atomic_file_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("old")
    with pytest.raises(ValueError):
        with atomic_file(path) as tmp:
            tmp.write_text("half")
            raise ValueError
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
    with atomic_file(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_unique_path_skips_taken_and_partial_names(tmp_path: Path) -> None:
    assert unique_path(tmp_path, "exp") == tmp_path / "exp"
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp-2.partial").mkdir()
    assert unique_path(tmp_path, "exp") == tmp_path / "exp-3"


def test_reserving_a_folder_is_atomic_across_threads(tmp_path: Path) -> None:
    """Eight claims of the same name at the same moment: eight distinct folders, each claimed once."""
    from concurrent.futures import ThreadPoolExecutor

    from inkwell.core.paths import PARTIAL_SUFFIX, reserve_folder

    (tmp_path / "run").mkdir()  # a finished run holds the plain name
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(lambda _: reserve_folder(tmp_path / "run"), range(8)))
    assert sorted(p.name for p in claimed) == sorted(f"run-{k}" for k in range(2, 10))
    assert all((p.parent / (p.name + PARTIAL_SUFFIX)).is_dir() and not p.exists() for p in claimed)


def test_next_write_removes_litter_of_an_interrupted_one(tmp_path: Path) -> None:
    """A killed write leaves `.<name>.tmp-*`; the next write in that folder removes it (of any name), nothing else."""
    target = tmp_path / "my-lines"
    stale = tmp_path / ".my-lines.tmp-0123abcd"  # what a killed process leaves (no cleanup ran)
    (stale / "train").mkdir(parents=True)
    (stale / "train" / "data.arrow").write_bytes(b"x" * 10)
    others = [tmp_path / ".other.tmp-0123abcd", tmp_path / ".my-lines-2.tmp-0123abcd"]  # readings get new names
    keep = [tmp_path / ".my-lines.tmp-notmine", tmp_path / "my-lines.tmp-0123abcd", tmp_path / ".notes.old"]
    for p in keep + others:
        p.mkdir()
        (p / "f.txt").write_text("user file")
    with pytest.warns(CleanedUp, match="my-lines.tmp-0123abcd") as said:
        with atomic_folder(target) as tmp:
            (tmp / "a.txt").write_text("a")
            assert not stale.exists() and not any(p.exists() for p in others)
    assert all(str(p) in str(said[0].message) for p in [stale, *others])
    assert (target / "a.txt").read_text() == "a"
    assert all((p / "f.txt").read_text() == "user file" for p in keep)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name] + [p.name for p in keep])


def test_a_replacement_killed_midway_is_put_back(tmp_path: Path) -> None:
    """Killed between moving the old folder aside and the new one in: the old one comes back, whole."""
    (tmp_path / ".set.old-0123abcd").mkdir()  # the old `set`, moved aside by a swap that never finished
    (tmp_path / ".set.old-0123abcd" / "data").write_text("old")
    (tmp_path / "kept").mkdir()
    (tmp_path / ".kept.old-89abcdef").mkdir()  # a finished swap killed while removing the old copy
    with pytest.warns(CleanedUp, match="put .*set back"):
        assert len(clean_interrupted(tmp_path)) == 2
    assert (tmp_path / "set" / "data").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "set"]
    with atomic_folder(tmp_path / "set", overwrite=True) as tmp:
        (tmp / "data").write_text("new")
    assert (tmp_path / "set" / "data").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "set"]


def test_a_write_in_progress_is_not_litter(tmp_path: Path) -> None:
    """Two writers of one target: the second never removes the first one's staging folder while it works."""
    target = tmp_path / "out"
    with atomic_folder(target) as first:
        (first / "a.txt").write_text("first")
        assert remove_stale_staging(target) == []
        with atomic_folder(tmp_path / "other") as _:
            pass
        assert (first / "a.txt").exists()
    assert (target / "a.txt").read_text() == "first"
