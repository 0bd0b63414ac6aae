"""Finding images one folder away: ALTO beside its pages, OCR-D workspaces, dead Paddle prefixes,
server paths, NFD file names; misses name where they were looked for; no usable row still leaves rejected.csv."""

from __future__ import annotations

import csv
import json
import unicodedata

import pytest
from builders import alto_xml, line_image, page_image, page_xml, reasons, run, write_table

from inkwell.data.formats import DataFormatError, read_rows


def test_alto_export_with_images_in_the_parent_folder(tmp_path):
    export = tmp_path / "export"
    for i in range(3):
        page_image(export / f"page{i}.jpg")
        alto_xml(export / "alto", name=f"page{i}.xml", image=f"page{i}.jpg")
    report = run(export / "alto", tmp_path)
    assert report.n_rows == 6 and {r.reason for r in report.rejected} <= {"duplicate"}  # same page drawn 3 times
    assert f"Images found by the path as written under {export} (the ALTO files' parent folder) for 3 of 3 pages." \
        in report.notes


def test_ocrd_workspace_image_paths_relative_to_the_root(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "mets.xml").write_text('<mets:mets xmlns:mets="http://www.loc.gov/METS/"/>', encoding="utf-8")
    page_image(ws / "OCR-D-IMG" / "page1.tif")
    page_xml(ws / "OCR-D-GT-PAGE", name="page1.xml", image="OCR-D-IMG/page1.tif")
    report = run(ws, tmp_path)
    assert report.format == "page_xml" and report.n_accepted == 2 and report.rejected == []
    # a single page file given alone finds the workspace by its mets.xml too
    res = read_rows(ws / "OCR-D-GT-PAGE" / "page1.xml")
    assert len(res.rows) == 2 and all(r.page == ws / "OCR-D-IMG" / "page1.tif" for r in res.rows)


@pytest.mark.parametrize("where", ["", "images/"])
def test_paddle_label_with_a_prefix_that_does_not_exist_here(tmp_path, where):
    d = tmp_path / "set"
    for i in range(3):
        line_image(d / f"{where}img_00{i}.png", i)
    (d / "rec_gt.txt").write_text("".join(f"train_data/rec/img_00{i}.png\tword {i}\n" for i in range(3)),
                                  encoding="utf-8")
    report = run(d / "rec_gt.txt", tmp_path)
    assert report.n_accepted == 3 and report.rejected == []
    assert report.notes[0] == f"Images found by file name under {d} (the label file's folder) for 3 of 3 images."


def test_path_tail_is_tried_before_the_bare_file_name(tmp_path):
    d = tmp_path / "set"
    line_image(d / "train" / "img.png", 1)
    line_image(d / "test" / "img.png", 2)
    (d / "rec_gt.txt").write_text("data/train/img.png\ta\ndata/test/img.png\tb\n", encoding="utf-8")
    res = read_rows(d / "rec_gt.txt")
    assert [r.resolved for r in res.rows] == [d / "train" / "img.png", d / "test" / "img.png"]
    assert res.notes == [f"Images found by the path without its leading folders under {d} "
                         "(the label file's folder) for 2 of 2 images."]


def test_absolute_server_path_matched_by_file_name(tmp_path):
    export = tmp_path / "export"
    page_image(export / "page1.jpg")
    alto_xml(export / "alto", name="p1.xml", image="/nonexistent-server/media/documents/7/page1.jpg")
    res = read_rows(export / "alto" / "p1.xml")
    assert len(res.rows) == 2 and res.rows[0].page == export / "page1.jpg"
    assert res.notes == [f"Images found by file name under {export} (the ALTO files' parent folder) "
                         "for 1 of 1 pages."]


def test_paths_escaping_the_root_are_still_refused(tmp_path):
    d = tmp_path / "in"
    line_image(d / "ok.png", 1)
    line_image(tmp_path / "outside.png", 2)  # exists, in the parent folder, but the path leads out of the root
    write_table(d, [("ok.png", "fine"), ("../outside.png", "x"), (str(tmp_path / "outside.png"), "y")])
    report = run(d / "labels.csv", tmp_path)
    assert reasons(report) == [("labels.csv", 3, "path_escapes_root"), ("labels.csv", 4, "path_escapes_root")]
    assert report.n_accepted == 1


def test_missing_image_names_the_folders_searched_and_a_path_tried(tmp_path):
    d = tmp_path / "in"
    for i in range(2):
        line_image(d / f"{i}.png", i)
    write_table(d, [("0.png", "a"), ("1.png", "b"), ("scans/gone.png", "c")])
    report = run(d / "labels.csv", tmp_path)
    [miss] = report.rejected
    assert miss.reason == "missing_file"
    assert f"{d} (the table's folder)" in miss.fix and f"{tmp_path} (the table's parent folder)" in miss.fix
    assert f"tried {d / 'scans' / 'gone.png'}" in miss.fix
    assert "images_root" in miss.fix


def test_ambiguous_file_name_is_not_guessed(tmp_path):
    d = tmp_path / "in"
    line_image(d / "a" / "x.png", 1)
    line_image(d / "b" / "x.png", 2)
    line_image(d / "ok.png", 3)
    write_table(d, [("ok.png", "fine"), ("old/x.png", "which one")])
    report = run(d / "labels.csv", tmp_path)
    assert reasons(report) == [("labels.csv", 3, "missing_file")]
    assert "several files named 'x.png'" in report.rejected[0].fix


def test_no_usable_row_still_writes_rejected_csv(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    write_table(d, [("gone1.png", "x"), ("gone2.png", "y")])
    with pytest.raises(DataFormatError) as info:
        run(d / "labels.csv", tmp_path)
    failed = tmp_path / "out" / "ds.failed"
    assert str(failed / "rejected.csv") in str(info.value)
    assert not (tmp_path / "out" / "ds").exists()  # no half data set
    with open(failed / "rejected.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["line"], r["reason"]) for r in rows] == [("2", "missing_file"), ("3", "missing_file")]
    assert json.loads((failed / "report.json").read_text(encoding="utf-8"))["n_accepted"] == 0
    # a later successful run removes the out-of-date failure report
    line_image(d / "gone1.png", 1)
    line_image(d / "gone2.png", 2)
    assert run(d / "labels.csv", tmp_path).n_accepted == 2
    assert not failed.exists()


def test_nfd_file_name_on_disk_matches_nfc_name_in_a_csv(tmp_path):
    d = tmp_path / "in"
    name = unicodedata.normalize("NFC", "Pe̍h-ōe-jī.png")
    line_image(d / unicodedata.normalize("NFD", name), 1)
    line_image(d / "other.png", 2)
    write_table(d, [(name, "Pe̍h-ōe-jī"), ("other.png", "b")])
    assert name not in [p.name for p in d.iterdir()]  # the disk really holds the NFD spelling
    report = run(d / "labels.csv", tmp_path)
    assert report.n_accepted == 2 and report.rejected == []
