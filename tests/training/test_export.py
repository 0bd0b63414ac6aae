"""inkwell.training.export: a run merged into its base loads with plain transformers and reads exactly like base + adapter."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import helpers
from builders import synthetic_lines


@pytest.fixture(scope="module")
def tiny_run(tiny_qwen25: Path, synthetic: helpers.SyntheticSet, home: Path) -> Path:
    """A tiny adapter trained for a few steps (enough to move the LoRA weights well off zero)."""
    loaded = helpers.add_lora(helpers.load_model(str(tiny_qwen25)),
                              helpers.LoraSettings(seed=0, finetune_vision_layers=True))
    settings = helpers.TrainSettings(max_steps=12, learning_rate=3e-3, batch_size=4, grad_accum=1, warmup_steps=0,
                                     lr_scheduler="constant", max_image_height=32, max_image_width=256,
                                     logging_steps=4, seed=0, eval_lines=0)
    run_dir = helpers.new_run_dir("export-me", home / "adapters")
    return helpers.train_adapter(loaded, synthetic_lines(synthetic, 0, 8), settings, run_dir).run_dir


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_merged_model_loads_without_peft_and_reads_exactly_like_the_adapter(
    tiny_run: Path, synthetic: helpers.SyntheticSet, tmp_path: Path
) -> None:
    import transformers
    from safetensors import safe_open

    # a copy of the run, so that its first export is this one whatever the other tests exported before
    tiny_run = Path(shutil.copytree(tiny_run, tmp_path / tiny_run.name))
    run_before = _digest(tiny_run)
    result = helpers.export_merged(tiny_run)
    out = result.out_dir
    assert out == tiny_run.with_name(f"{tiny_run.name}-merged") and out.is_dir()
    assert _digest(tiny_run) == run_before  # the run is left as it was
    assert {"config.json", "generation_config.json", "model.safetensors", "export.json", "chat_template.jinja",
            "processor_config.json", "tokenizer.json", "tokenizer_config.json"} <= set(result.files)
    assert not (out / "adapter_config.json").exists() and not list(out.glob("adapter_model*"))
    with safe_open(str(out / "model.safetensors"), framework="pt") as handle:
        merged = {k: handle.get_tensor(k) for k in handle.keys()}
    assert merged and not [k for k in merged if "lora" in k.lower()]
    base_model = json.loads((tiny_run / "run.json").read_text(encoding="utf-8"))["base_model"]
    with safe_open(str(Path(base_model) / "model.safetensors"), framework="pt") as handle:
        base = {k: handle.get_tensor(k) for k in handle.keys()}
    assert set(base) == set(merged)
    changed = [k for k in base if not base[k].equal(merged[k])]
    assert changed and all(k.endswith("proj.weight") or ".mlp." in k or ".qkv." in k for k in changed), changed
    assert result.merged_layers > 0 and result.dtype == "float32" and result.device == "cpu"
    assert not result.trained_on_4bit and not result.dequantized and "16-bit base" in result.base_weights
    record = json.loads((out / "export.json").read_text(encoding="utf-8"))
    assert record["dtype"] == "float32" and record["base_dequantized"] is False
    assert record["trained_on_4bit_base"] is False and record["merged"]["layers"] == result.merged_layers
    assert record["run_name"] == tiny_run.name and record["image_limits"] == {"max_width": 256, "max_height": 32}
    assert "run export-me" in result.describe() and "no PEFT" in result.describe()

    # plain transformers, no PEFT, no Inkwell
    model = transformers.AutoModelForImageTextToText.from_pretrained(str(out))
    processor = transformers.AutoProcessor.from_pretrained(str(out))
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration" and not hasattr(model, "peft_config")
    assert processor.chat_template and not [n for n, _ in model.named_parameters() if "lora" in n]

    parity = helpers.merge_parity(tiny_run, out, synthetic_lines(synthetic, 40, 48))
    assert parity.lines == 8 and parity.identical == 8 and parity.identical_share == 1.0, parity.differing
    assert parity.merged_cer == parity.adapter_cer
    assert "8/8 lines (100%)" in parity.describe()


@pytest.mark.slow
def test_a_second_export_never_overwrites_the_first(tiny_run: Path, home: Path) -> None:
    first = tiny_run.with_name(f"{tiny_run.name}-merged")
    if not first.exists():
        helpers.export_merged(tiny_run)
    before = _digest(first)
    again = helpers.export_merged(tiny_run)
    assert again.out_dir != first and again.out_dir.name.startswith(f"{tiny_run.name}-merged-")
    assert _digest(first) == before
    chosen = home / "exports" / "mine"
    a = helpers.export_merged(tiny_run, chosen)
    b = helpers.export_merged(tiny_run, chosen)
    assert (a.out_dir, b.out_dir) == (chosen, chosen.with_name("mine-2"))
    assert not [p for p in (home / "exports").iterdir() if p.name.startswith(".")]  # no staging folder left


@pytest.mark.slow
def test_a_run_on_a_4bit_base_is_merged_into_the_dequantised_weights(tiny_run: Path, home: Path) -> None:
    """run.json says 4-bit: the base is quantised as in training, de-quantised, merged, and the export says so."""
    pytest.importorskip("bitsandbytes")
    run = home / "adapters" / f"{tiny_run.name}-4bit"
    if not run.exists():
        shutil.copytree(tiny_run, run)
        info = json.loads((run / "run.json").read_text(encoding="utf-8"))
        info["quantized_4bit"] = True
        (run / "run.json").write_text(json.dumps(info), encoding="utf-8")
    result = helpers.export_merged(run)
    assert result.trained_on_4bit and result.dequantized
    assert "de-quantised float32" in result.base_weights and "nothing was merged into 4-bit" in result.base_weights
    record = json.loads((result.out_dir / "export.json").read_text(encoding="utf-8"))
    assert record["trained_on_4bit_base"] is True and record["base_dequantized"] is True
    assert "quantization_config" not in json.loads((result.out_dir / "config.json").read_text(encoding="utf-8"))
    loaded = helpers.load_model(str(result.out_dir))
    assert not loaded.quantized_4bit and "Linear4bit" not in {type(m).__name__ for m in loaded.model.modules()}


def test_unknown_run_and_unsloth_backend_are_refused(home: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no adapter_config.json"):
        helpers.export_merged("no-such-run")
    with pytest.raises(ValueError, match="backend='unsloth'"):
        helpers.export_merged("no-such-run", backend="unsloth")


@pytest.mark.slow
def test_a_remote_code_run_exports_with_its_code(synthetic: helpers.SyntheticSet, home: Path) -> None:
    """dots.ocr (code from its repository): the merged folder carries that code and reads like base + adapter."""
    import transformers

    model = helpers.build_tiny_model(home / "models" / "tiny-dots_ocr", "dots_ocr")
    loaded = helpers.add_lora(helpers.load_model(str(model), trust_remote_code=True), helpers.LoraSettings(seed=0))
    settings = helpers.TrainSettings(max_steps=8, learning_rate=3e-3, batch_size=4, grad_accum=1, warmup_steps=0,
                                     lr_scheduler="constant", max_image_height=32, max_image_width=256, seed=0,
                                     eval_lines=0)
    run_dir = helpers.new_run_dir("dots", home / "adapters")
    run = helpers.train_adapter(loaded, synthetic_lines(synthetic, 0, 8), settings, run_dir,
                                parameters={"trust_remote_code": True}).run_dir
    result = helpers.export_merged(run)
    assert {"configuration_dots_ocr.py", "modeling_dots_ocr.py"} <= set(result.files)
    assert "trust_remote_code=True" in result.describe()
    merged = transformers.AutoModelForImageTextToText.from_pretrained(str(result.out_dir), trust_remote_code=True)
    assert type(merged).__name__ == "DotsOcrForConditionalGeneration"
    parity = helpers.merge_parity(run, result.out_dir, synthetic_lines(synthetic, 40, 44))
    assert parity.identical == parity.lines == 4
