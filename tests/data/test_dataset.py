"""Tests for inkwell.data.dataset: validation and rejection reasons, image modes, grouped splits, output contract."""

import csv
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from builders import (
    PAGE_NS,
    huge_png_header,
    line_image,
    page_image,
    page_xml,
    reasons,
    run,
    simple_set,
    tree_hash,
    write_table,
)
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

import inkwell.data.dataset as data_module
from inkwell.data.dataset import load_processed, split_groups
from inkwell.data.formats import read_rows

# ---------------------------------------------------------------------------
# validation: one rejection reason per case
# ---------------------------------------------------------------------------


def _bad_missing(d):
    return "nope.png", "x"


def _bad_escape_dotdot(d):
    line_image(d.parent / "outside.png", 9)
    return "../outside.png", "x"


def _bad_escape_absolute(d):
    return str(line_image(d.parent / "outside2.png", 9)), "x"


def _bad_escape_symlink(d):
    target = line_image(d.parent / "outside3.png", 9)
    os.symlink(target, d / "link.png")
    return "link.png", "x"


def _bad_truncated(d):
    p = line_image(d / "t.png", 9)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    return "t.png", "x"


def _bad_garbage(d):
    (d / "g.png").write_bytes(b"not an image at all")
    return "g.png", "x"


def _bad_zero_bytes(d):
    (d / "z.png").write_bytes(b"")
    return "z.png", "x"


def _bad_tiny(d):
    return line_image(d / "tiny.png", 9, size=(100, 5)).name, "x"


def _bad_huge(d):
    return huge_png_header(d / "huge.png").name, "x"


def _bad_empty_text(d):
    return line_image(d / "e.png", 9).name, "  \u3000 "


def _bad_control(d):
    return line_image(d / "c.png", 9).name, "ab\u0007c"


def _bad_zero_width(d):
    return line_image(d / "zw.png", 9).name, "ab\u200bc"


def _bad_aspect(d):
    return line_image(d / "long.png", 9, size=(3000, 10)).name, "x"


def _bad_duplicate(d):
    return "l0.png", "line 0"


def _bad_unknown_split(d):
    return line_image(d / "s.png", 9).name, "x"


REJECT_CASES = [
    (_bad_missing, "missing_file"), (_bad_escape_dotdot, "path_escapes_root"),
    (_bad_escape_absolute, "path_escapes_root"), (_bad_escape_symlink, "path_escapes_root"),
    (_bad_truncated, "corrupt_image"), (_bad_garbage, "corrupt_image"), (_bad_zero_bytes, "corrupt_image"),
    (_bad_tiny, "too_small"), (_bad_huge, "too_large"), (_bad_empty_text, "empty_text"),
    (_bad_control, "control_characters"), (_bad_zero_width, "control_characters"),
    (_bad_aspect, "aspect_ratio"), (_bad_duplicate, "duplicate"),
]


@pytest.mark.parametrize("maker,reason", REJECT_CASES, ids=[r[0].__name__[5:] for r in REJECT_CASES])
def test_rejection_reasons(tmp_path, maker, reason):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        line_image(d / f"l{i}.png", i)
    bad_image, bad_text = maker(d)
    rows = [("l0.png", "line 0"), ("l1.png", "line 1"), (bad_image, bad_text), ("l2.png", "line 2")]
    write_table(d, rows)
    report = run(d / "labels.csv", tmp_path)
    assert reasons(report) == [("labels.csv", 4, reason)]
    assert report.rejected[0].image == bad_image and report.rejected[0].fix
    assert report.n_accepted == 3 and report.n_rows == 4
    assert report.n_duplicates_dropped == (1 if reason == "duplicate" else 0)


def test_too_large_by_parameter_and_conflict(tmp_path):
    d = tmp_path / "in"
    line_image(d / "a.png", 1, size=(300, 40))
    line_image(d / "b.png", 2)
    line_image(d / "c.png", 3)
    (d / "c_copy.png").write_bytes((d / "c.png").read_bytes())
    write_table(d, [("a.png", "big"), ("b.png", "ok"), ("c.png", "one"), ("c_copy.png", "two")])
    report = run(d / "labels.csv", tmp_path, max_image_pixels=10_000)
    assert sorted(reasons(report)) == [("labels.csv", 2, "too_large"), ("labels.csv", 4, "conflict"),
                                       ("labels.csv", 5, "conflict")]
    assert report.n_accepted == 1


def test_unknown_split_value_and_bad_region(tmp_path):
    d = tmp_path / "in"
    for i in range(3):
        line_image(d / f"{i}.png", i)
    write_table(d, [("0.png", "a", "train"), ("1.png", "b", "holdout"), ("2.png", "c", "")],
                header=("image", "text", "split"))
    assert reasons(run(d / "labels.csv", tmp_path)) == [("labels.csv", 3, "unknown_split")]
    page_image(tmp_path / "x" / "page.png")
    (tmp_path / "x" / "p.xml").write_text(
        f'<PcGts xmlns="{PAGE_NS["2013"]}"><Page imageFilename="page.png"><TextRegion>'
        '<TextLine><Coords points="10,10 200,10 200,50 10,50"/><TextEquiv><Unicode>ok</Unicode></TextEquiv></TextLine>'
        '<TextLine><Coords points="5,5 5,5"/><TextEquiv><Unicode>bad</Unicode></TextEquiv></TextLine>'
        "</TextRegion></Page></PcGts>", encoding="utf-8")
    assert reasons(run(tmp_path / "x" / "p.xml", tmp_path, name="x")) == [("p.xml", 2, "bad_region")]


def test_missing_page_image_rejects_every_line(tmp_path):
    xml = page_xml(tmp_path, "2019", image="gone.png")
    res = read_rows(xml)
    rows, rejected = res.rows, res.rejected
    assert rows == [] and [(r.line, r.reason) for r in rejected] == [(1, "missing_file"), (2, "missing_file")]


# ---------------------------------------------------------------------------
# image conversions
# ---------------------------------------------------------------------------


def test_modes_exif_and_rgb_output(tmp_path):
    d = tmp_path / "in"
    line_image(d / "p.png", 1, mode="P")
    rgba = Image.new("RGBA", (200, 40), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle([10, 10, 50, 30], fill=(0, 0, 0, 255))
    rgba.save(d / "a.png")
    line_image(d / "cmyk.jpg", 3, mode="CMYK")
    arr16 = np.full((40, 200), 65535, dtype=np.uint16)
    arr16[10:30, 10:60] = 0
    Image.fromarray(arr16).save(d / "g16.png")
    exif_img = Image.new("RGB", (200, 40), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 when displayed
    exif_img.save(d / "rot.jpg", exif=exif.tobytes())
    line_image(d / "la.png", 5, mode="LA")
    names = ["p.png", "a.png", "cmyk.jpg", "g16.png", "rot.jpg", "la.png"]
    write_table(d, [(n, n) for n in names])
    before = tree_hash(d)
    report = run(d / "labels.csv", tmp_path, split_ratios=(1, 0, 0))
    assert report.rejected == [] and report.n_accepted == 6
    assert tree_hash(d) == before
    train = load_processed("ds", tmp_path / "out")["train"]
    by_text = {row["text"]: row["image"] for row in train}
    assert all(im.mode == "RGB" for im in by_text.values())
    assert by_text["rot.jpg"].size == (40, 200)
    a = np.asarray(by_text["a.png"])
    assert a[0, 0].tolist() == [255, 255, 255] and a[20, 20].tolist() == [0, 0, 0]
    g = np.asarray(by_text["g16.png"])
    assert g[0, 0].tolist() == [255, 255, 255] and g[20, 20].tolist() == [0, 0, 0]


# ---------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------


def test_split_groups_property_random_cases():
    rng = random.Random(1234)
    for _ in range(50):
        n_groups = rng.randint(1, 40)
        groups = [f"g{rng.randrange(n_groups)}" for _ in range(rng.randint(1, 200))]
        ratios = rng.choice([(0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.9, 0.1, 0.0), (1, 1, 1), (0.7, 0.0, 0.3)])
        seed = rng.randrange(10)
        out = split_groups(groups, ratios, seed)
        assert len(out) == len(groups) and set(out) <= {"train", "validation", "test"}
        where = {}
        for g, s in zip(groups, out):
            assert where.setdefault(g, s) == s, "group in two splits"
        assert out == split_groups(groups, ratios, seed)
        assert split_groups(list(reversed(groups)), ratios, seed) == list(reversed(out))
        positive = {s for s, r in zip(("train", "validation", "test"), ratios) if r > 0}
        if len(set(groups)) >= 3:
            assert set(out) == positive
        else:
            assert set(out) <= positive


@pytest.mark.parametrize("groups,ratios,expected", [
    ([], (0.8, 0.1, 0.1), []),
    (["a"], (0.8, 0.1, 0.1), ["train"]),
    (["a", "b"], (0.8, 0.1, 0.1), None),  # train + validation, test empty
    (["a", "a", "b", "c"], (0.8, 0.1, 0.1), None),
])
def test_split_groups_small(groups, ratios, expected):
    out = split_groups(groups, ratios, seed=0)
    if expected is not None:
        assert out == expected
    elif len(set(groups)) == 2:
        assert sorted(out) == ["train", "validation"]
    else:
        assert set(out) == {"train", "validation", "test"} and out[0] == out[1]


def test_split_groups_ratios_roughly_followed():
    groups = [f"g{i}" for i in range(1000)]
    counts = {s: split_groups(groups, (0.8, 0.1, 0.1), 3).count(s) for s in ("train", "validation", "test")}
    assert counts == {"train": 800, "validation": 100, "test": 100}


def _grouped_set(d: Path, n=40, writers: bool = True) -> Path:
    rng = random.Random(5)
    rows = []
    for i in range(n):
        line_image(d / f"{i}.png", i)
        page = rng.randrange(10)
        writer = f"w{page % 5}" if writers else "w0"  # each writer wrote two pages (or one writer wrote all)
        rows.append((f"{i}.png", f"t{i} {chr(0x61 + i % 26)}", f"page{page}", writer))
    return write_table(d, rows, header=("image", "text", "page", "author"))


def test_pages_and_writers_never_straddle(tmp_path):
    src = _grouped_set(tmp_path / "in")
    run(src, tmp_path, seed=0)
    dsd = load_processed("ds", tmp_path / "out")
    rows = {r["id"]: r for r in (x for s in dsd for x in dsd[s])}
    with open(src, encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    split_of = {r["id"]: s for s in dsd for r in dsd[s]}
    for key in ("page", "author"):
        seen = {}
        for line_no, rec in enumerate(table, start=2):
            s = split_of[f"labels.csv:{line_no}"]
            assert seen.setdefault(rec[key], s) == s
    assert len(rows) == 40
    assert all(len(dsd[s]) > 0 for s in ("train", "validation", "test"))


def test_single_writer_still_splits_by_page(tmp_path):
    """One person's handwriting (the usual case): pages are kept apart, and the report says writers could not be."""
    src = _grouped_set(tmp_path / "in", writers=False)
    report = run(src, tmp_path, seed=0)
    dsd = load_processed("ds", tmp_path / "out")
    with open(src, encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    split_of = {r["id"]: s for s in dsd for r in dsd[s]}
    seen = {}
    for line_no, rec in enumerate(table, start=2):
        assert seen.setdefault(rec["page"], split_of[f"labels.csv:{line_no}"]) == split_of[f"labels.csv:{line_no}"]
    assert all(len(dsd[s]) > 0 for s in ("train", "validation", "test"))
    assert any("writers apart" in note for note in report.notes)


def test_determinism_by_seed(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=30)

    def ids(seed, name):
        run(d / "labels.csv", tmp_path, name=name, seed=seed)
        dsd = load_processed(name, tmp_path / "out")
        return {s: dsd[s]["id"] for s in dsd}

    first = ids(0, "a")
    assert ids(0, "b") == first
    assert any(ids(seed, f"c{seed}") != first for seed in (1, 2, 3))
    report = json.loads((tmp_path / "out" / "a" / "report.json").read_text(encoding="utf-8"))
    assert report["split_sizes"] == {"train": 24, "validation": 3, "test": 3}
    assert report["groups_per_split"] == report["split_sizes"]
    assert any("own group" in n for n in report["notes"])


def test_user_split_column_wins(tmp_path):
    d = tmp_path / "in"
    splits = ["test", "val", "train", "Train", "dev", "valid", "validation", "TEST"]
    for i in range(len(splits)):
        line_image(d / f"{i}.png", i)
    write_table(d, [(f"{i}.png", f"x{i}", s) for i, s in enumerate(splits)], header=("image", "text", "split"))
    report = run(d / "labels.csv", tmp_path)
    assert report.split_sizes == {"train": 2, "validation": 4, "test": 2}
    dsd = load_processed("ds", tmp_path / "out")
    assert sorted(dsd["test"]["text"]) == ["x0", "x7"]


def test_few_groups_empty_split_noted_and_unseen_chars(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=2, texts=["abc", "abz"])
    report = run(d / "labels.csv", tmp_path)
    assert report.split_sizes["test"] == 0 and report.split_sizes["train"] == 1
    assert any("test split is empty" in n for n in report.notes)
    val_text = load_processed("ds", tmp_path / "out")["validation"]["text"][0]
    assert report.unseen_chars["validation"] == ("z" if val_text == "abz" else "c")
    assert report.charset == "abcz"


# ---------------------------------------------------------------------------
# output contract
# ---------------------------------------------------------------------------


def test_output_contract_and_inputs_untouched(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=12)
    with open(d / "labels.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write("missing.png,gone\r\n")
    before = tree_hash(d)
    report = run(d / "labels.csv", tmp_path)
    assert tree_hash(d) == before
    out = tmp_path / "out" / "ds"
    assert report.output_dir == out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ds"]  # no temp folders left
    dsd = load_processed("ds", tmp_path / "out")
    assert list(dsd) == ["train", "validation", "test"]
    for split in dsd.values():
        assert {"image", "text", "id", "group", "source", "line", "writer"} <= set(split.column_names)
        assert split.features["image"].__class__.__name__ == "Image"
    assert dsd["train"][0]["image"].mode == "RGB"
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["n_rows"] == 13 and saved["n_accepted"] == 12 and saved["format"] == "table"
    assert set(saved) >= {"split_sizes", "groups_per_split", "charset", "unseen_chars", "rejected"}
    with open(out / "rejected.csv", encoding="utf-8", newline="") as fh:
        rej = list(csv.DictReader(fh))
    assert rej == [{"source": str(d / "labels.csv"), "line": "14", "image": "missing.png",
                    "reason": "missing_file", "fix": report.rejected[0].fix}]


def test_no_overwrite_without_flag(tmp_path):
    d = tmp_path / "in"
    simple_set(d, n=3)
    run(d / "labels.csv", tmp_path)
    stamp = tree_hash(tmp_path / "out" / "ds")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        run(d / "labels.csv", tmp_path)
    assert tree_hash(tmp_path / "out" / "ds") == stamp
    simple_set(d, n=4)
    report = run(d / "labels.csv", tmp_path, overwrite=True)
    assert report.n_accepted == 4
    assert sum(len(s) for s in load_processed("ds", tmp_path / "out").values()) == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ds"]


def test_load_processed_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="'nothing'.*there are none yet.*run 01_data"):
        load_processed("nothing", tmp_path)
    for name in ("set-b", "set-a"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dataset_dict.json").write_text("{}")
    (tmp_path / "not-a-set").mkdir()
    with pytest.raises(FileNotFoundError, match="'nothing'.*the processed sets are 'set-a', 'set-b' in"):
        load_processed("nothing", tmp_path)


def test_rejected_csv_cells_never_run_as_formulas(tmp_path):
    """A rejected row's user text (here the image name) is written neutralised and reads back exactly."""
    from inkwell.core.csvsafe import read_csv_rows

    d = tmp_path / "in"
    simple_set(d, n=6)
    names = ['=HYPERLINK("http://x")', "@a.png", "'plain.png"]
    with open(d / "labels.csv", "a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([(name, "gone") for name in names])
    run(d / "labels.csv", tmp_path)
    raw = (tmp_path / "out" / "ds" / "rejected.csv").read_text(encoding="utf-8")
    assert "\"'=HYPERLINK(\"\"http://x\"\")\"" in raw and ",'@a.png," in raw and ",''plain.png," in raw
    rows = read_csv_rows(tmp_path / "out" / "ds" / "rejected.csv")
    assert [r["image"] for r in rows] == names and rows[0]["line"] == "8"


def test_parallel_path_matches_serial(tmp_path, monkeypatch):
    d = tmp_path / "in"
    simple_set(d, n=10)
    with open(d / "labels.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write("l0.png,line 0\r\nbad.png,x\r\n")
    (d / "bad.png").write_bytes(b"junk")
    serial = run(d / "labels.csv", tmp_path, name="serial")
    monkeypatch.setattr(data_module, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(data_module.os, "cpu_count", lambda: 2)
    parallel = run(d / "labels.csv", tmp_path, name="parallel")
    a, b = serial.to_dict(), parallel.to_dict()
    for key in ("output_dir",):
        a.pop(key), b.pop(key)
    assert a == b
    sa, sb = load_processed("serial", tmp_path / "out"), load_processed("parallel", tmp_path / "out")
    for s in sa:
        assert sa[s]["id"] == sb[s]["id"]


@hyp_settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(st.sampled_from([f"page{i}" for i in range(30)]), min_size=1, max_size=120),
    seed=st.integers(0, 10_000),
    ratios=st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (1.0, 0.0, 0.0), (0.5, 0.5, 0.0)]),
)
def test_split_groups_property(groups, seed, ratios):
    """For any input: no group in two splits, same answer for the same seed, and no split that should be empty filled."""
    splits = split_groups(groups, ratios, seed)
    assert len(splits) == len(groups)
    where = {}
    for g, s in zip(groups, splits):
        assert where.setdefault(g, s) == s
    assert splits == split_groups(groups, ratios, seed)
    for name, ratio in zip(("train", "validation", "test"), ratios):
        if ratio == 0:
            assert name not in splits
    if len(set(groups)) >= 3 and all(r > 0 for r in ratios):
        assert set(splits) == {"train", "validation", "test"}


# ---------------------------------------------------------------------------
# group_by: documents and writers kept together
# ---------------------------------------------------------------------------


def _documents(d: Path, writers: bool = False) -> Path:
    """Six documents of five lines each (will_0064-0.png ... -4.png), one folder per pair of documents, plus a stray."""
    rows = []
    for doc in range(6):
        for k in range(5):
            name = f"box{doc // 2}/will_{doc:04d}-{k}.png"
            line_image(d / name, doc * 5 + k)
            rows.append((name, f"doc {doc} line {k}") + ((f"w{doc % 2}",) if writers else ()))
    line_image(d / "box0" / "stray.png", 99)
    rows.append(("box0/stray.png", "stray") + (("w9",) if writers else ()))
    return write_table(d, rows, header=("image", "text", "writer") if writers else ("image", "text"))


def _doc_of(row) -> str:
    return row["text"].split(" line ")[0]


def test_group_by_regex_keeps_the_lines_of_a_document_together(tmp_path):
    src = _documents(tmp_path / "raw")
    report = run(src, tmp_path, group_by=r"(.+)-\d+$", split_ratios=(0.5, 0.25, 0.25))
    dsd = load_processed("ds", tmp_path / "out")
    split_of_doc: dict[str, set] = {}
    for split in dsd:
        for row in dsd[split]:
            split_of_doc.setdefault(_doc_of(row), set()).add(split)
    assert all(len(s) == 1 for s in split_of_doc.values())  # no document straddles two splits
    assert sum(report.groups_per_split.values()) == 7  # six documents + the stray page
    assert report.group_by == r"(.+)-\d+$"
    assert any("stray.png" in n and "group_by" in n and "1 page file" in n for n in report.notes)
    saved = json.loads((tmp_path / "out" / "ds" / "report.json").read_text(encoding="utf-8"))
    assert saved["groups_per_split"] == report.groups_per_split and saved["group_by"] == r"(.+)-\d+$"
    text = data_module.describe_report(report)
    assert "groups" in text and "group_by" in text
    by_page = run(src, tmp_path, name="pages", split_ratios=(0.5, 0.25, 0.25))
    assert sum(by_page.groups_per_split.values()) == 31  # the default: each line image is its own page


def test_group_by_folder_and_writers_still_win(tmp_path):
    report = run(_documents(tmp_path / "raw"), tmp_path, group_by="folder")
    assert sum(report.groups_per_split.values()) == 3  # box0 (with the stray), box1, box2
    # a writer column joins documents of one writer on top of group_by (w0: documents 0, 1; w1: 2, 3; ...)
    src = _documents(tmp_path / "raw2", writers=True)
    rows = list(csv.reader(src.open(encoding="utf-8")))
    rows[1:] = [[img, text, f"w{int(text.split()[1]) // 2}" if text != "stray" else "w9"] for img, text, _ in rows[1:]]
    write_table(src.parent, rows[1:], header=rows[0])
    report = run(src, tmp_path, name="w", group_by=r"(.+)-\d+$")
    assert sum(report.groups_per_split.values()) == 4
    dsd = load_processed("w", tmp_path / "out")
    writer_splits: dict[str, set] = {}
    for split in dsd:
        for row in dsd[split]:
            writer_splits.setdefault(row["writer"], set()).add(split)
    assert len(writer_splits) == 4 and all(len(s) == 1 for s in writer_splits.values())


@pytest.mark.parametrize("bad", ["(.+", r"\d+", r"(.+)-(\d+)"])
def test_a_bad_group_by_says_what_to_write(tmp_path, bad):
    src = simple_set(tmp_path / "raw")
    with pytest.raises(ValueError, match="group_by") as err:
        run(src, tmp_path, group_by=bad)
    assert "(.+)-\\d+$" in str(err.value) and "page" in str(err.value)
    assert not (tmp_path / "out" / "ds").exists()


# ---------------------------------------------------------------------------
# messages name the notebook's parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ratios", [(0, 0, 0), (-0.5, 1, 0.5), (float("nan"), 0.1, 0.1)])
def test_bad_ratios_name_the_notebook_parameters(tmp_path, ratios):
    src = simple_set(tmp_path / "raw")
    with pytest.raises(ValueError) as err:
        run(src, tmp_path, split_ratios=ratios)
    msg = str(err.value)
    assert all(p in msg for p in ("train_ratio", "validation_ratio", "test_ratio")) and "split_ratios" not in msg


def test_an_empty_split_and_a_too_small_image_name_real_settings(tmp_path):
    d = tmp_path / "raw"
    line_image(d / "a.png", 0)
    line_image(d / "tiny.png", 1, size=(5, 40))
    report = run(write_table(d, [("a.png", "a"), ("tiny.png", "t")]), tmp_path)
    fix = next(r.fix for r in report.rejected if r.reason == "too_small")
    assert "5x40 px" in fix and "8 px" in fix and "min_side" not in fix
    notes = " ".join(report.notes)
    assert "validation_ratio" in notes and "test_ratio" in notes and "split_ratios" not in notes
    assert "split_ratios" not in data_module.describe_report(report)


def test_an_interrupted_save_leaves_no_litter_after_the_next_run(tmp_path):
    src = simple_set(tmp_path / "raw")
    out = tmp_path / "out"
    (out / ".ds.tmp-deadbeef" / "train").mkdir(parents=True)  # what a killed run leaves
    (out / "notes").mkdir()
    run(src, tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["ds", "notes"]


def test_group_by_on_page_xml_uses_the_page_image_name(tmp_path):
    """For PAGE-XML the page file is the image the XML names (scan_7-1.png), not the XML file (a.xml)."""
    d = tmp_path / "raw"
    for k, (xml, image) in enumerate([("a.xml", "scan_7-1.png"), ("b.xml", "scan_7-2.png"), ("c.xml", "other.png")]):
        page_xml(d, name=xml, image=image)
        img = Image.open(page_image(d / image))
        for y in (25, 110):  # the pages' lines differ
            ImageDraw.Draw(img).rectangle([30 + 10 * k, y, 40 + 10 * k, y + 10], fill="white")
        img.save(d / image)
    report = run(d, tmp_path, group_by=r"(.+)-\d+$", format="page_xml")
    assert report.n_accepted == 6
    assert sum(report.groups_per_split.values()) == 2  # scan_7 and the unmatched other.png
    assert any("other.png" in n for n in report.notes)
