"""Tests for inkwell.evaluation.align: character alignments and the confusion table."""

import pytest

from inkwell.evaluation.align import align_chars, confusion_table
from inkwell.evaluation.evaluate import evaluate_systems

# ---------------------------------------------------------------------------
# Alignment and diffs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref,pred,expected",
    [
        ("cat", "cot", [("equal", "c", "c"), ("substitute", "a", "o"), ("equal", "t", "t")]),
        ("cat", "cats", [("equal", "c", "c"), ("equal", "a", "a"), ("equal", "t", "t"), ("insert", "", "s")]),
        ("cats", "cat", [("equal", "c", "c"), ("equal", "a", "a"), ("equal", "t", "t"), ("delete", "s", "")]),
        ("ab", "", [("delete", "a", ""), ("delete", "b", "")]),
        ("", "ab", [("insert", "", "a"), ("insert", "", "b")]),
        ("e\u0301", "\u00e9", [("equal", "\u00e9", "\u00e9")]),
    ],
)
def test_align_chars(ref, pred, expected):
    assert align_chars(ref, pred) == expected


# ---------------------------------------------------------------------------
# Confusions
# ---------------------------------------------------------------------------


def test_confusion_table():
    ev = evaluate_systems(["1", "2", "3", "4"], ["cat", "bat", "ab c", "xy"], {"s": ["cot", "bot", "abc", "xy!"]})
    t = confusion_table(ev, "s")
    assert list(t.columns) == ["reference", "predicted", "count"]
    rows = [tuple(r) for r in t.itertuples(index=False)]
    assert rows[0] == ("a", "o", 2)
    assert set(rows[1:]) == {("␣", "∅", 1), ("∅", "!", 1)}
    assert len(confusion_table(ev, "s", top=1)) == 1
    with pytest.raises(KeyError):
        confusion_table(ev, "nope")
