"""inkwell.data.synth: synthetic handwriting lines are reproducible and never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkwell.data.synth import make_synthetic_lines


def test_synthetic_lines_are_reproducible_and_kept(tmp_path: Path) -> None:
    a = make_synthetic_lines(tmp_path / "a", 6, seed=5)
    b = make_synthetic_lines(tmp_path / "b", 6, seed=5)
    assert a.labels.read_text() == b.labels.read_text()
    for i in range(6):
        name = f"line_{i:05d}.png"
        assert (a.images_dir / name).read_bytes() == (b.images_dir / name).read_bytes()
    again = make_synthetic_lines(tmp_path / "a", 6, seed=5)  # same settings: reused
    assert again.labels == a.labels
    with pytest.raises(FileExistsError):
        make_synthetic_lines(tmp_path / "a", 7, seed=5)  # other settings: never overwritten
    rows = a.labels.read_text().splitlines()
    assert rows[0] == "image,text,page" and len(rows) == 7
