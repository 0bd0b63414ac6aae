"""inkwell.core.csvsafe: no text cell Inkwell writes runs as a spreadsheet formula, and every text reads back exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from inkwell.core.csvsafe import neutralise, neutralise_row, read_csv_rows, read_frame, restore, write_frame

TRICKY = ['=HYPERLINK("http://x")', "+1", "-", "@a", "\tx", "\rx", "'=x", "'plain", "-5 degrees", "plain", "", "a\r\nb"]


@pytest.mark.parametrize("text", TRICKY)
def test_neutralise_is_undone_by_restore(text: str) -> None:
    safe = neutralise(text)
    assert restore(safe) == text
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert safe == ("'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r", "'") else text)


def test_frame_file_holds_neutralised_cells_and_numbers_stay_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [str(i) for i in range(len(TRICKY))], "text": TRICKY, "cer": -0.25, "n": 3})
    write_frame(frame, tmp_path / "t.csv")
    rows = list(csv.reader(open(tmp_path / "t.csv", encoding="utf-8", newline="")))
    assert [r[1] for r in rows[1:]] == [neutralise(t) for t in TRICKY]
    assert rows[1][1] == "'=HYPERLINK(\"http://x\")" and rows[8][1] == "''plain" and rows[5][1] == "'\tx"
    assert {r[2] for r in rows[1:]} == {"-0.25"}  # a negative number is not text: never quoted
    back = read_frame(tmp_path / "t.csv", ["id", "text"])
    assert list(back["text"]) == TRICKY and list(back["id"]) == list(frame["id"])
    assert back["cer"].tolist() == [-0.25] * len(TRICKY) and back["n"].tolist() == [3] * len(TRICKY)


def test_a_text_column_that_looks_numeric_stays_text(tmp_path: Path) -> None:
    write_frame(pd.DataFrame({"system": ["-5", "7"], "cer": [0.5, 1.0]}), tmp_path / "t.csv")
    back = read_frame(tmp_path / "t.csv")  # "-5" was neutralised, so the column was text
    assert list(back["system"]) == ["-5", "7"]


def test_csv_rows_round_trip(tmp_path: Path) -> None:
    with open(tmp_path / "r.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "line"])
        writer.writerows(neutralise_row([t, -i]) for i, t in enumerate(TRICKY))
    raw = (tmp_path / "r.csv").read_text(encoding="utf-8")
    assert "'@a,-3" in raw and "''=x,-6" in raw
    assert [r["text"] for r in read_csv_rows(tmp_path / "r.csv")] == TRICKY


@hyp_settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("=+-@\t\r\n'\",; a1.é")), max_size=8), min_size=1, max_size=6))
def test_any_text_round_trips(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> None:
    path = tmp_path_factory.mktemp("rt") / "t.csv"
    write_frame(pd.DataFrame({"text": texts, "value": [float(i) - 2.5 for i in range(len(texts))]}), path)
    back = read_frame(path, ["text"])
    assert list(back["text"]) == texts
    assert back["value"].tolist() == [float(i) - 2.5 for i in range(len(texts))]
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for r in csv.reader(open(path, encoding="utf-8", newline=""))
               for c in r[:1])
