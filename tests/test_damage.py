"""A full disk and damaged files: the earlier state is kept, and the message names the folder or file and the fix."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import datasets
import pytest

import helpers
from builders import tree_hash
from inkwell.evaluation.evaluate import evaluate_systems
from inkwell.models.loading import DamagedRunError, _check_adapter_files
from inkwell.core.paths import DamagedFileError, DiskFullError, write_manifest
from inkwell.models.runs import RunInfo


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_a_data_set_keeps_the_earlier_one(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = helpers.make_synthetic_lines(home / "raw" / "full-disk", 12, seed=4).labels
    helpers.prepare_dataset(source, dataset_name="full-disk", progress=False)
    folder = home / "data" / "processed"
    before = tree_hash(folder / "full-disk")

    def half_then_full(self: datasets.DatasetDict, path: str, **kwargs: object) -> None:
        (Path(path) / "train").mkdir(parents=True)
        (Path(path) / "train" / "data-00000-of-00001.arrow").write_bytes(b"x" * 4096)
        _no_space()

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", half_then_full)
    with pytest.raises(DiskFullError) as caught:
        helpers.prepare_dataset(source, dataset_name="full-disk", seed=5, overwrite=True, progress=False)
    message = str(caught.value)
    assert f"No space left on the disk of {folder}" in message and "full-disk" in message
    assert "it needs about" in message and "MB" in message and "free there" in message
    assert "Nothing was changed" in message
    assert tree_hash(folder / "full-disk") == before  # the earlier set, untouched
    assert not [p for p in folder.iterdir() if p.name.startswith(".full-disk.tmp-")]  # no half-written copy
    assert len(helpers.load_processed("full-disk")["train"]) > 0


def test_a_full_disk_while_saving_an_evaluation_or_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inkwell.evaluation.evaluate

    evaluation = evaluate_systems(["a"], ["a line"], {"base": ["a lime"]}, n_resamples=10)
    table = tmp_path / "comparison.csv"
    saved = helpers.save_evaluation(evaluation, tmp_path / "first")
    helpers.update_comparison(evaluation, table, "set", "test", base_model="b", evaluation_name="first")
    rows = table.read_bytes()
    monkeypatch.setattr(inkwell.evaluation.evaluate, "write_frame", _no_space)
    with pytest.raises(DiskFullError, match=f"No space left on the disk of {tmp_path} while writing second"):
        helpers.save_evaluation(evaluation, tmp_path / "second")
    with pytest.raises(DiskFullError, match="comparison.csv.*Nothing was changed"):
        helpers.update_comparison(evaluation, table, "set", "test", base_model="b", evaluation_name="second")
    assert table.read_bytes() == rows and saved["metrics"].is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["comparison.csv", "first"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".comparison.csv.lock"]


@pytest.mark.parametrize("damage", ["truncate", "edit"])
def test_a_damaged_data_set_is_refused_with_the_file_and_the_fix(home: Path, damage: str) -> None:
    source = helpers.make_synthetic_lines(home / "raw" / "damaged", 12, seed=6).labels
    helpers.prepare_dataset(source, dataset_name=f"damaged-{damage}", progress=False)
    folder = home / "data" / "processed" / f"damaged-{damage}"
    shard = next((folder / "train").glob("*.arrow"))
    data = shard.read_bytes()
    if damage == "truncate":
        shard.write_bytes(data[: len(data) // 2])
    else:  # same size, one byte changed: only the checksum tells
        shard.write_bytes(data[:-9] + bytes([data[-9] ^ 1]) + data[-8:])
    with pytest.raises(DamagedFileError) as caught:
        helpers.load_processed(f"damaged-{damage}")
    message = str(caught.value)
    assert str(shard) in message and ("truncated" in message if damage == "truncate" else "changed" in message)
    assert f"Run 01_data again with dataset_name = 'damaged-{damage}' and overwrite = True" in message


def test_a_data_set_whose_json_was_edited_is_refused(home: Path) -> None:
    source = helpers.make_synthetic_lines(home / "raw" / "edited", 12, seed=7).labels
    helpers.prepare_dataset(source, dataset_name="edited", progress=False)
    info = home / "data" / "processed" / "edited" / "train" / "dataset_info.json"
    info.write_text(info.read_text(encoding="utf-8")[:-20], encoding="utf-8")
    with pytest.raises(DamagedFileError, match=f"{info}.*Run 01_data again"):
        helpers.load_processed("edited")


def test_a_damaged_adapter_or_run_record_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file
    import torch

    run = tmp_path / "run"
    run.mkdir()
    (run / "adapter_config.json").write_text(json.dumps({"r": 4}), encoding="utf-8")
    save_file({"w": torch.zeros(64)}, str(run / "adapter_model.safetensors"))
    write_manifest(run, ["adapter_config.json", "adapter_model.safetensors"])
    _check_adapter_files(run)  # whole: accepted
    weights = run / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-16])  # a cut-off copy: the header still reads
    with pytest.raises(DamagedRunError, match=f"{weights} has .* bytes where .* were written.*Train the run again"):
        _check_adapter_files(run)
    (run / "run.json").write_text('{"run_name": "run", "base_model": ', encoding="utf-8")
    with pytest.raises(DamagedFileError, match=f"{run / 'run.json'} cannot be read as a run record.*damaged"):
        RunInfo.load(run)
