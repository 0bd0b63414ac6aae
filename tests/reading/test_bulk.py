"""Bulk OCR on vLLM: requests, engine settings, flags, the refusal without vLLM, and the script's outputs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

import helpers
from inkwell.reading.bulk import (VLLM_MISSING, engine_settings, load_processor, read_lines, sampling_settings,
                          to_predictions, trim_repetition, vllm_requests)
from inkwell.core.csvsafe import read_frame
from inkwell.reading.demo import flags_of
from inkwell.reading.pages import synthetic_page
from inkwell.models.prompt import ImageLimits, LineCollator, prepare_image, prompt_text
from inkwell.reading.readings import CSV_COLUMNS
from inkwell.models.runs import RunInfo

ROOT = Path(helpers.PROJECT_ROOT)
SCRIPT = ROOT / "scripts" / "ocr_vllm.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ocr_vllm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folder: Path, base: str, **parameters: Any) -> Path:
    """A finished run's record and adapter config (no weights: vLLM is faked)."""
    folder.mkdir(parents=True, exist_ok=True)
    RunInfo(run_name=folder.name, base_model=base, family="qwen2_5_vl", backend="transformers",
            quantized_4bit=False, device="cpu", parameters={"max_image_width": 560, "max_image_height": 56,
                                                            "lora_r": 12, **parameters}, metrics={}).save(folder)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 12, "peft_type": "LORA"}), encoding="utf-8")
    return folder


def _fake_engine(monkeypatch: pytest.MonkeyPatch, module: ModuleType, reason: str = "stop") -> dict:
    """Replace vLLM in the script: each request reads as its image's size, e.g. ``"252x56"``."""
    seen: dict[str, Any] = {"requests": []}

    def make_engine(settings: dict, sampling_kwargs: dict) -> tuple:
        seen.update(settings=settings, sampling=sampling_kwargs)
        return "llm", "sampling", settings["lora"]

    def generate(llm: Any, requests: list[dict], sampling: Any, lora: Any) -> tuple[list[str], list[str]]:
        seen["requests"] += requests
        seen["lora"] = lora
        texts = ["{}x{}".format(*r["multi_modal_data"]["image"].size) for r in requests]
        return texts, [reason] * len(requests)

    monkeypatch.setattr(module, "require_vllm", lambda: None)
    monkeypatch.setattr(module, "tower_lora_supported", lambda: False)
    monkeypatch.setattr(module, "make_engine", make_engine)
    monkeypatch.setattr(module, "generate", generate)
    return seen


def test_requests_hold_the_training_prompt_and_images_fitted_as_decoding_fits_them(tiny_qwen25: Path) -> None:
    processor, family = load_processor(str(tiny_qwen25))
    limits = ImageLimits(560, 56)
    images = [Image.new("L", (900, 80), 255), Image.new("RGB", (40, 30), (0, 0, 0))]
    requests = vllm_requests(processor, family, images, limits)
    assert [r["prompt"] for r in requests] == [prompt_text(processor, family)] * 2
    assert requests[0]["prompt"] == LineCollator(processor, family, limits).prompt  # what the adapter was trained on
    assert "<|image_pad|>" in requests[0]["prompt"] and requests[0]["prompt"].endswith("assistant\n")
    for request, image in zip(requests, images):
        fitted = request["multi_modal_data"]["image"]
        expected = prepare_image(image, family, limits)  # what predict_lines feeds the model
        assert fitted.mode == "RGB" and fitted.size == expected.size and fitted.tobytes() == expected.tobytes()
    assert requests[0]["multi_modal_data"]["image"].size == (560, 56)
    sampling = sampling_settings(processor, family, 64)
    assert sampling["temperature"] == 0 and sampling["max_tokens"] == 64
    assert sampling["stop_token_ids"] == [processor.tokenizer.convert_tokens_to_ids("<|im_end|>")]
    with pytest.raises(ValueError, match="max_new_tokens = 0"):
        sampling_settings(processor, family, 0)


def test_flags_come_from_the_finish_reason_and_loops_are_cut_like_the_guard() -> None:
    loop = "the end " + "ab" * 30
    preds = to_predictions(["done", loop, "a long line cut short", "haha" * 10], ["stop", "length", "length", "stop"])
    assert [flags_of(p) for p in preds] == ["", "repetition_loop", "length_limit", ""]
    assert preds[1].text == trim_repetition(loop) == "the end abababab"  # where predict_lines' guard stops
    assert preds[3].text == "haha" * 10  # a line that ended on its own is kept whole
    assert trim_repetition("no loop here") == "no loop here"
    with pytest.raises(ValueError, match="one reason per text"):
        to_predictions(["a", "b"], ["stop"])
    calls = []

    def generate(requests: list[dict]) -> tuple[list[str], list[str]]:
        calls.append(len(requests))
        return ["x"] * len(requests), ["stop"] * len(requests)

    from inkwell.models.families import FAMILIES

    class Processor:  # the prompt builder reads only the chat template
        def apply_chat_template(self, *args: Any, **kwargs: Any) -> str:
            return "<prompt>"

    out = read_lines(generate, [Image.new("RGB", (100, 30))] * 5, processor=Processor(), family=FAMILIES["qwen2_5_vl"],
                     limits=ImageLimits(), batch_size=2, progress=False)
    assert calls == [2, 2, 1] and len(out) == 5
    with pytest.raises(ValueError, match="batch_size = 0"):
        read_lines(generate, [], processor=Processor(), family=FAMILIES["qwen2_5_vl"], limits=ImageLimits(),
                   batch_size=0)


def test_engine_settings_for_a_run_a_merged_model_and_a_vision_adapter(tiny_qwen25: Path, tmp_path: Path) -> None:
    run = _run(tmp_path / "adapters" / "r1", str(tiny_qwen25))
    s = engine_settings(run, merged=False, max_new_tokens=64)
    assert s["lora"] == {"name": "r1", "id": 1, "path": str(run)} and s["warnings"] == []
    assert s["llm"]["model"] == str(tiny_qwen25) and s["llm"]["enable_lora"] is True
    assert s["llm"]["max_lora_rank"] == 16 and s["llm"]["limit_mm_per_prompt"] == {"image": 1}
    assert s["image_limits"] == ImageLimits(560, 56) and s["family"] == "qwen2_5_vl"
    assert "enable_tower_connector_lora" not in s["llm"]

    vision = _run(tmp_path / "adapters" / "r2", str(tiny_qwen25), finetune_vision_layers=True, use_dora=True)
    old = engine_settings(vision, merged=False, max_new_tokens=64, tower_lora=False)
    assert any("vision half of the adapter would be ignored" in w and "merged export" in w for w in old["warnings"])
    assert any("DoRA" in w for w in old["warnings"]) and "enable_tower_connector_lora" not in old["llm"]
    new = engine_settings(vision, merged=False, max_new_tokens=64, tower_lora=True)
    assert new["llm"]["enable_tower_connector_lora"] is True

    merged = engine_settings(tiny_qwen25, merged=True, max_new_tokens=64)
    assert merged["lora"] is None and "enable_lora" not in merged["llm"]
    assert merged["image_limits"] == ImageLimits() and "--max-image-width" in merged["warnings"][0]
    limited = engine_settings(tiny_qwen25, merged=True, max_new_tokens=64, limits=ImageLimits(512, 64))
    assert limited["image_limits"] == ImageLimits(512, 64) and limited["warnings"] == []

    with pytest.raises(ValueError, match="is a run folder"):
        engine_settings(run, merged=True, max_new_tokens=64)
    with pytest.raises(ValueError, match="is not a finished run"):
        engine_settings(tiny_qwen25, merged=False, max_new_tokens=64)
    with pytest.raises(ValueError, match="max_model_len = 1000"):
        engine_settings(run, merged=False, max_new_tokens=64, max_model_len=1000)


def test_the_script_refuses_without_vllm_and_says_where_it_runs(tmp_path: Path) -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    done = subprocess.run([sys.executable, str(SCRIPT), "--model", "x", "--inputs", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert VLLM_MISSING in done.stderr and 'pip install -e ".[vllm]"' in done.stderr and "CUDA GPU" in done.stderr


def test_a_folder_is_read_into_readings_like_04_demo(monkeypatch: pytest.MonkeyPatch, tiny_qwen25: Path,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    page = synthetic_page(3, size=(900, 600), seed=5)
    page.image.save(folder / "letter.png")
    page.image.crop(page.boxes[1]).save(folder / "one-line.png")
    module = _script()
    seen = _fake_engine(monkeypatch, module)
    assert module.main(["--model", str(tiny_qwen25), "--inputs", str(folder), "--output-dir",
                        str(tmp_path / "out"), "--batch", "2"]) == 0
    printed = capsys.readouterr().out
    assert "lines/s" in printed and "pages/s" in printed and "wrote" in printed
    table = read_frame(tmp_path / "out" / "readings.csv", ["file", "box", "text", "flags", "name"])
    assert list(table.columns) == list(CSV_COLUMNS) and len(table) == 3 + 1
    assert list(table["name"]) == ["letter"] * 3 + ["one-line"] and list(table["line"]) == [1, 2, 3, 1]
    sizes = ["{}x{}".format(*r["multi_modal_data"]["image"].size) for r in seen["requests"]]
    assert sorted(table["text"]) == sorted(sizes)  # each text back on its own line
    assert (tmp_path / "out" / "letter.txt").read_text(encoding="utf-8").count("\n") == 3
    assert (tmp_path / "out" / "letter.xml").exists() and (tmp_path / "out" / "one-line.png").exists()
    assert seen["settings"]["lora"] is None and seen["sampling"]["max_tokens"] == 128


def test_a_split_is_scored_into_predictions_like_03_evaluate(monkeypatch: pytest.MonkeyPatch, home: Path,
                                                             tiny_qwen25: Path, synthetic: helpers.SyntheticSet,
                                                             capsys: pytest.CaptureFixture) -> None:
    helpers.prepare_dataset(synthetic.labels, dataset_name="bulk-tiny", output_root=home / "data" / "processed",
                            progress=False, overwrite=True)
    test_lines = helpers.load_processed("bulk-tiny")["test"]
    run = _run(home / "adapters" / "bulk-run", str(tiny_qwen25))
    module = _script()
    seen = _fake_engine(monkeypatch, module, "length")
    assert module.main(["--run", run.name, "--dataset", "bulk-tiny", "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert "bulk-run on bulk-tiny/test: CER" in printed and "lines/s" in printed
    assert seen["lora"] == {"name": "bulk-run", "id": 1, "path": str(run)}  # base + adapter as a LoRA request
    assert {r["multi_modal_data"]["image"].height for r in seen["requests"]} <= {28, 56}  # the run's limits
    folder = next(p for p in (home / "adapters" / "evaluations").glob("bulk-tiny-test-*") if p.is_dir())
    predictions = helpers.read_predictions(folder)
    assert list(predictions.columns) == ["id", "system", "reference", "prediction", "cer", "confidence"]
    assert set(predictions["system"]) == {"bulk-run"} and len(predictions) == len(test_lines)
    assert list(predictions["reference"]) == list(test_lines["text"])
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["extra"]["engine"] == "vllm" and metrics["extra"]["dataset"] == "bulk-tiny"
    assert metrics["extra"]["hit_max_new_tokens"] == {"bulk-run": len(test_lines)}
    comparison = (home / "adapters" / "evaluations" / "comparison.csv").read_text(encoding="utf-8")
    assert folder.name in comparison
