"""inkwell.workflow.steps: the notebook-level steps."""

from __future__ import annotations

from inkwell.workflow.steps import literal_parameters


def test_literal_parameters_keeps_flat_literals() -> None:
    ns = {"a": 1, "b": "x", "c": [1, "y"], "d": None, "_private": 2, "In": [""], "f": object(), "g": {"k": 1}}
    assert literal_parameters(ns) == {"a": 1, "b": "x", "c": [1, "y"], "d": None}


def _notebook_cells(name: str) -> list:
    import nbformat

    from inkwell.core.paths import PROJECT_ROOT
    return nbformat.read(PROJECT_ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells


def test_changing_the_split_seed_keeps_the_demo_data(tmp_path, monkeypatch) -> None:
    """01_data seeds the demo lines with `synthetic_seed`: a new split `seed` reuses the demo set on disk."""
    import pytest

    from inkwell.data.dataset import prepare_dataset
    from inkwell.core.paths import DEMO_SOURCE
    from inkwell.workflow.steps import ensure_demo_data

    cells = _notebook_cells("01_data")
    params: dict = {}
    exec(next(c.source for c in cells if "parameters" in c.metadata.get("tags", [])), params)
    assert "synthetic_seed" in params and "group_by" in params
    assert any("ensure_demo_data(source, synthetic_lines, seed=synthetic_seed)" in c.source for c in cells)

    monkeypatch.setenv("INKWELL_HOME", str(tmp_path))
    first = ensure_demo_data(DEMO_SOURCE, 16, seed=params["synthetic_seed"])
    for seed in (0, 7):  # the user changes the split seed and runs the notebook again
        again = ensure_demo_data(DEMO_SOURCE, 16, seed=params["synthetic_seed"])
        assert again is not None and again.labels == first.labels
        report = prepare_dataset(DEMO_SOURCE, dataset_name=f"demo{seed}", seed=seed, progress=False)
        assert report.n_accepted == 16
    with pytest.raises(FileExistsError, match="synthetic_seed = 5"):
        ensure_demo_data(DEMO_SOURCE, 16, seed=5)
