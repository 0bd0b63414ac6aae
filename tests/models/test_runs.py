"""inkwell.models.runs: run folders are never reused, and the run record reads old and new run.json files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inkwell.models.prompt import ImageLimits
from inkwell.models.runs import RunInfo, base_model_of, new_run_dir


def test_new_run_dir_never_reuses(tmp_path: Path) -> None:
    first = new_run_dir("exp", tmp_path)
    assert first == tmp_path / "exp"
    first.mkdir()
    assert new_run_dir("exp", tmp_path) == tmp_path / "exp-2"
    (tmp_path / "exp-2.partial").mkdir()  # an interrupted run also holds its name
    assert new_run_dir("exp", tmp_path) == tmp_path / "exp-3"
    assert re.fullmatch(r"run-\d{8}-\d{6}", new_run_dir("", tmp_path).name)
    with pytest.raises(ValueError, match="run_name"):
        new_run_dir("../escape", tmp_path)


def test_run_record_round_trips_and_reads_old_files(tmp_path: Path) -> None:
    """A record written before RunInfo was typed still reads: its settings become parameters under notebook names."""
    old = {
        "run_name": "old", "base_model": "data/models/tiny", "family": "qwen2_5_vl", "backend": "transformers",
        "backend_reason": "no CUDA GPU", "load_in_4bit": False, "device": "cpu",
        "train_settings": {"max_steps": 6, "epochs": 1.0, "scheduler": "constant", "max_image_width": 512,
                           "max_image_height": 32},
        "lora": {"r": 8, "alpha": 16, "vision": True},
        "prompt": "Transcribe", "train_lines": 4, "parameters": {"max_steps": 6, "dataset_name": "nb"},
        "metrics": {"steps": 6}, "validation": {"cer": 0.5}, "dataset": {"name": "nb", "path": "p",
                                                                       "fingerprint": "f" * 16, "splits": {"train": 4}},
        "custom": "kept",
    }
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "run.json").write_text(json.dumps(old), encoding="utf-8")
    info = RunInfo.load(tmp_path / "old")
    assert info.image_limits == ImageLimits(512, 32)
    assert info.parameters["lora_r"] == 8 and info.parameters["lr_scheduler"] == "constant"
    assert info.parameters["num_epochs"] == 1.0 and info.parameters["finetune_vision_layers"] is True
    assert info.quantized_4bit is False and info.dataset is not None and info.dataset.fingerprint == "f" * 16
    info.save(tmp_path / "old")
    again = json.loads((tmp_path / "old" / "run.json").read_text(encoding="utf-8"))
    assert again["custom"] == "kept" and again["parameters"]["lora_r"] == 8 and "train_settings" not in again
    assert RunInfo.load(tmp_path / "old") == info
    assert base_model_of([tmp_path / "old"]) == "data/models/tiny"
    with pytest.raises(FileNotFoundError, match="run.json"):
        RunInfo.load(tmp_path / "missing")


def _run_on(folder: Path, base: str) -> Path:
    folder.mkdir(parents=True)
    RunInfo(run_name=folder.name, base_model=base, family="qwen2_5_vl", backend="transformers",
            quantized_4bit=False, device="cpu", parameters={}, metrics={}).save(folder)
    return folder


def test_base_model_of_resolves_folders_and_refuses_a_different_base(home: Path, tmp_path: Path) -> None:
    (home / "models" / "bm-tiny").mkdir(parents=True, exist_ok=True)
    relative = _run_on(tmp_path / "rel", "models/bm-tiny")
    absolute = _run_on(tmp_path / "abs", str(home / "models" / "bm-tiny"))
    assert base_model_of([relative, absolute]) == "models/bm-tiny"  # one folder, recorded two ways
    assert base_model_of([relative], str(home / "models" / "bm-tiny")) == str(home / "models" / "bm-tiny")
    assert base_model_of([absolute], "./models/bm-tiny") == "./models/bm-tiny"
    with pytest.raises(ValueError) as refused:
        base_model_of([relative, absolute], "org/other-model")
    message = str(refused.value)
    assert "'org/other-model'" in message and "'models/bm-tiny'" in message and "'rel'" in message
    assert "Leave model_name empty" in message and "pick adapters trained on 'org/other-model'" in message
    hub = _run_on(tmp_path / "hub", "org/base-model")
    assert base_model_of([hub], "org/base-model") == "org/base-model"
    with pytest.raises(ValueError, match="'org/Base-Model'.*run 'hub'.*'org/base-model'"):
        base_model_of([hub], "org/Base-Model")  # hub ids compare as written
    with pytest.raises(ValueError) as mixed:
        base_model_of([relative, hub])
    assert "rel: 'models/bm-tiny'" in str(mixed.value) and "hub: 'org/base-model'" in str(mixed.value)
    assert base_model_of([], "org/anything") == "org/anything"
    with pytest.raises(ValueError, match="no model_name"):
        base_model_of([])


def _finished_run(root: Path, name: str, metrics: dict, validation: dict | None, mtime: int) -> Path:
    import os

    run = root / name
    run.mkdir()
    (run / "adapter_config.json").write_text("{}", encoding="utf-8")
    record = {"run_name": name, "base_model": "m", "family": "qwen2_5_vl", "backend": "transformers",
              "quantized_4bit": False, "device": "cpu", "parameters": {}, "metrics": metrics, "validation": validation}
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    os.utime(run / "run.json", (mtime, mtime))
    return run


def test_the_demo_reads_with_the_best_validated_run_and_says_why(tmp_path: Path) -> None:
    """A 20-step experiment finished last must not win over a better run just by being newest."""
    from inkwell.models.runs import pick_run

    _finished_run(tmp_path, "good", {"best_val_cer": 0.08}, None, 1_000)
    _finished_run(tmp_path, "checked", {}, {"cer": 0.12}, 2_000)
    _finished_run(tmp_path, "quick-test", {"best_val_cer": 0.9}, None, 3_000)
    choice = pick_run("", tmp_path)
    assert choice.path == tmp_path / "good" and "lowest validation CER recorded (8.0%" in choice.why
    assert pick_run("quick-test", tmp_path).path == tmp_path / "quick-test"
    assert pick_run("none", tmp_path).path is None

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    _finished_run(fresh, "a", {}, None, 1_000)
    _finished_run(fresh, "b", {}, None, 2_000)
    newest = pick_run("", fresh)
    assert newest.path == fresh / "b" and "newest" in newest.why
