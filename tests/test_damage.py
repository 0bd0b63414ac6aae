"""A full disk and damaged files: the earlier state is kept, and the message names the folder or file and the fix."""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import helpers
from builders import synthetic_lines, tree_hash
from inkwell.evaluation.evaluate import evaluate_systems
from inkwell.models.loading import DamagedRunError, _check_adapter_files
from inkwell.core.paths import DamagedFileError, DiskFullError, write_manifest
from inkwell.models.runs import RunInfo


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _fills_up_after(monkeypatch: pytest.MonkeyPatch, whole: int) -> None:
    """From now on the disk takes ``whole`` more ``Path.write_bytes`` calls, then half of the next one and no more."""
    real = Path.write_bytes
    calls = []

    def write_bytes(self: Path, data: bytes) -> int:
        calls.append(self)
        if len(calls) <= whole:
            return real(self, data)
        real(self, data[: len(data) // 2])
        _no_space()
        return 0

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def _megabytes(n: int) -> str:
    """A size as the full-disk message writes it."""
    return f"{n / 2**20:,.1f} MB"


def _hidden(folder: Path) -> list[str]:
    """Hidden entries (staging folders, locks) in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _visible(folder: Path) -> list[str]:
    """What a user or a reader sees in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _noise(seed: int, size: tuple[int, int] = (320, 120)) -> Image.Image:
    """An image of random pixels: its PNG is about as large as the raw pixels (so sizes show in MB)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


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


def test_a_full_disk_while_saving_readings_keeps_the_earlier_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inkwell.data.sources import scan_inputs
    from inkwell.reading.readings import LineReading, save_readings

    pages_folder = tmp_path / "pages"
    pages_folder.mkdir()
    for k in range(3):
        _noise(k, (640, 480)).save(pages_folder / f"p{k}.png")
    pages = scan_inputs(str(pages_folder)).pages
    lines = [LineReading.whole(p, f"text of {p.name}") for p in pages]
    root = tmp_path / "readings"
    earlier = save_readings(pages, lines, root / "earlier").folder
    before = tree_hash(earlier)
    _fills_up_after(monkeypatch, 1)  # the first page's image, then half of the second's
    with pytest.raises(DiskFullError) as caught:
        save_readings(pages, lines, root / "new")
    message = str(caught.value)
    needed = sum(p.stat().st_size for p in earlier.glob("*.png"))  # the page images, as the earlier folder has them
    assert f"No space left on the disk of {root} while writing new: it needs about {_megabytes(needed)}" in message
    assert "Nothing was changed" in message and "free there" in message
    assert tree_hash(earlier) == before
    assert _visible(root) == ["earlier"] and _hidden(root) == []  # no half-written folder, listed or hidden
    assert len(pd.read_csv(earlier / "readings.csv")) == len(lines)


def test_a_full_disk_while_saving_corrections_keeps_the_earlier_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inkwell.data.corrections import Check, CheckedLine, corrections_notes, latest_of, save_corrections

    lines = [CheckedLine(f"page:{k}", _noise(10 + k), "page", f"read {k}", 0.9,
                         Check.of(f"page:{k}", f"read {k}", f"text {k}") if k < 3 else None) for k in range(4)]
    root = tmp_path / "raw"
    readings = tmp_path / "readings" / "earlier"
    earlier = save_corrections(lines, "mine", readings, root=root).folder
    before = tree_hash(earlier)
    _fills_up_after(monkeypatch, 2)
    with pytest.raises(DiskFullError) as caught:
        save_corrections(lines, "mine", readings, root=root)  # a second round: would be data/raw/mine-2
    message = str(caught.value)
    needed = sum(p.stat().st_size for p in earlier.rglob("*.png"))  # the same line images again
    assert f"No space left on the disk of {root} while writing mine-2: it needs about {_megabytes(needed)}" in message
    assert "Nothing was changed" in message
    assert tree_hash(earlier) == before
    assert _visible(root) == ["mine"] and _hidden(root) == []
    assert latest_of(root, "mine") == earlier  # the next round and 01_data still read the earlier folder
    assert "3 checked line(s)" in corrections_notes(str(earlier))[0]  # and reads whole


@pytest.fixture(scope="module")
def trained(tiny_qwen25: Path, synthetic: helpers.SyntheticSet,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A tiny model with LoRA, four lines, one-step settings (a checkpoint at the step), and a finished run."""
    loaded = helpers.add_lora(helpers.load_model(str(tiny_qwen25)), helpers.LoraSettings(seed=0))
    train = synthetic_lines(synthetic, 0, 4)
    settings = helpers.TrainSettings(max_steps=1, batch_size=2, grad_accum=1, max_image_height=32,
                                     max_image_width=128, eval_lines=0, save_steps=1, seed=0, warmup_steps=0)
    root = tmp_path_factory.mktemp("full-disk") / "adapters"
    run = helpers.train_adapter(loaded, train, settings, root / "earlier").run_dir
    yield {"loaded": loaded, "train": train, "settings": settings, "root": root, "run": run}


def test_a_full_disk_while_saving_a_training_run_keeps_it_unfinished(
    trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import inkwell.training.train
    from inkwell.models.runs import interrupted_runs

    root, earlier = trained["root"], trained["run"]
    before = tree_hash(earlier)
    # the checkpoint and the adapter are written; the disk fills up at the adapter's manifest
    monkeypatch.setattr(inkwell.training.train, "write_manifest", _no_space)
    with pytest.raises(DiskFullError) as caught:
        helpers.train_adapter(trained["loaded"], trained["train"], trained["settings"], root / "new")
    message = str(caught.value)
    kept = root / "new.partial"
    written = sum(p.stat().st_size for p in kept.rglob("*") if p.is_file())
    assert written > 0
    assert f"No space left on the disk of {root} while writing new: it needs more than the {_megabytes(written)} " \
           "it had written" in message
    assert f"The unfinished write is kept in {kept}." in message
    assert tree_hash(earlier) == before
    assert helpers.find_runs("all", root) == [earlier]  # the unfinished run is never listed as finished
    assert helpers.pick_run("", root).path == earlier
    assert [(r.name, r.last_step) for r in interrupted_runs(root)] == [("new", 1)]  # kept: resumable from step 1
    assert not [p for p in root.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_a_full_disk_while_exporting_keeps_the_run_and_the_earlier_export(
    trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors import safe_open
    from transformers import PreTrainedModel

    root, run = trained["root"], trained["run"]
    first = helpers.export_merged(run).out_dir
    run_before, first_before = tree_hash(run), tree_hash(first)

    def weights_cut_short(self: PreTrainedModel, save_directory: str | Path, **kwargs: object) -> None:
        (Path(save_directory) / "model.safetensors").write_bytes(b"\0" * 4096)  # the disk fills up in the weights
        _no_space()

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", weights_cut_short)
    with pytest.raises(DiskFullError) as caught:
        helpers.export_merged(run)
    message = str(caught.value)
    found = re.search(rf"No space left on the disk of {re.escape(str(root))} while writing earlier-merged-2: "
                      r"it needs about ([\d,.]+) MB", message)
    assert found, message
    weights = (first / "model.safetensors").stat().st_size
    assert abs(float(found.group(1).replace(",", "")) - weights / 2**20) <= 0.1 + 0.1 * weights / 2**20
    assert "Nothing was changed" in message
    assert tree_hash(run) == run_before and tree_hash(first) == first_before
    assert [n for n in _visible(root) if n.startswith("earlier-merged")] == ["earlier-merged"]
    assert not [n for n in _hidden(root) if n.startswith(".earlier-merged")]
    with safe_open(str(first / "model.safetensors"), framework="pt") as handle:
        assert list(handle.keys())
