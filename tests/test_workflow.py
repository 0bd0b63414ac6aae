"""inkwell.workflow: the notebook-level steps."""

from __future__ import annotations

from inkwell.workflow import literal_parameters


def test_literal_parameters_keeps_flat_literals() -> None:
    ns = {"a": 1, "b": "x", "c": [1, "y"], "d": None, "_private": 2, "In": [""], "f": object(), "g": {"k": 1}}
    assert literal_parameters(ns) == {"a": 1, "b": "x", "c": [1, "y"], "d": None}
