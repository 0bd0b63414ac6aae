"""inkwell.models.loading and inkwell.models.tiny: backend choice, loading by folder, the tiny models, the Unsloth imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inkwell.models.loading import choose_backend, load_model
from inkwell.models.tiny import build_tiny_model


def test_choose_backend_without_gpu_says_why() -> None:
    backend, reason, four_bit = choose_backend("auto", load_in_4bit=True)
    assert backend == "transformers" and four_bit is False
    assert "no CUDA GPU" in reason and "full precision" in reason
    with pytest.raises(RuntimeError, match="CUDA"):
        choose_backend("unsloth")
    assert "cannot train 4-bit weights" in reason  # 02_finetune trains: the reason says what training cannot do
    reading = choose_backend("auto", load_in_4bit=True, for_training=False).reason
    assert "full precision for reading" in reading and "train" not in reading
    assert "4-bit" not in choose_backend("auto", load_in_4bit=False, for_training=False).reason


def test_missing_local_model_is_a_clear_error(home: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model_name = 'data/models/does-not-exist': model folder .* does not "
                                                 "exist. Check the path.*quickstart"):
        load_model("data/models/does-not-exist")


def test_unreachable_hub_id_names_the_id_offline_mode_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as refused:
        load_model("someone/not-a-model")
    message = str(refused.value)
    assert "model_name = 'someone/not-a-model'" in message
    assert "Offline mode is on (HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1)" in message
    assert "check the spelling" in message and "network access" in message and "local folder" in message
    assert isinstance(refused.value.__cause__, OSError)  # the library's own error is kept


def test_tiny_model_round_trips(tiny_model: Path) -> None:
    config = json.loads((tiny_model / "config.json").read_text())
    loaded = load_model(str(tiny_model))
    assert config["model_type"] in loaded.family.model_types and tiny_model.name == f"tiny-{loaded.family.name}"
    assert loaded.backend == "transformers" and loaded.device == "cpu"
    n = sum(p.numel() for p in loaded.model.parameters())
    assert n < 2_000_000


def test_unsloth_branch_imports(tmp_path: Path) -> None:
    """The pinned stack installs with Unsloth and the GPU branch's imports resolve (CPU import check only)."""
    import os
    import subprocess
    import sys

    code = (
        "from unsloth import FastVisionModel; import unsloth, trl, transformers; "
        "assert hasattr(FastVisionModel, 'get_peft_model') and hasattr(FastVisionModel, 'for_inference'); "
        "print(unsloth.__version__, trl.__version__, transformers.__version__)"
    )
    env = {**os.environ, "UNSLOTH_ALLOW_CPU": "1", "HF_HUB_OFFLINE": "1"}
    # run in a scratch folder: importing Unsloth writes a compiled cache into the working directory
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["2026.10.5", "1.15.0", "5.17.0"]


def test_remote_code_model_is_refused_until_trusted(home: Path, tiny_qwen25: Path) -> None:
    """A folder that carries its own modeling code (built here) loads only with trust_remote_code, then like a native one."""
    from PIL import Image

    from inkwell.models.decode import predict_lines

    folder = build_tiny_model(home / "models" / "tiny-dots_ocr", "dots_ocr")
    assert (folder / "modeling_dots_ocr.py").exists()
    assert json.loads((folder / "config.json").read_text())["auto_map"]
    with pytest.raises(PermissionError) as refused:
        load_model(str(folder))
    message = str(refused.value)
    assert "trust_remote_code = True" in message and "runs that Python code on your machine" in message
    assert "'qwen2_5_vl'" in message  # the native alternative
    loaded = load_model(str(folder), trust_remote_code=True)
    assert type(loaded.model).__module__.startswith("transformers_modules")  # the folder's own code ran
    assert loaded.family.name == "dots_ocr" and "trust_remote_code = True" in loaded.describe()
    native = load_model(str(tiny_qwen25))
    images = [Image.new("RGB", (120, 28), "white"), Image.new("RGB", (60, 28), "black")]
    kwargs = dict(max_new_tokens=6, progress=False, repetition_guard=False)
    assert [p.text for p in predict_lines(loaded, images, **kwargs)] == [p.text for p in predict_lines(native, images, **kwargs)]


def test_unknown_types_and_hub_ids_say_what_to_do() -> None:
    from inkwell.models.families import family_for_model_type

    with pytest.raises(ValueError, match="closest supported type is 'qwen2_5_vl'"):
        family_for_model_type("qwen2_5_vl_moe")
    with pytest.raises(FileNotFoundError, match=r"'nobody/Qwen2.5-VL-7B-Instrukt'.*HF_HUB_OFFLINE=1"):
        load_model("nobody/Qwen2.5-VL-7B-Instrukt")


def test_lighton_ocr_processor_class_follows_the_table(home: Path, tmp_path: Path) -> None:
    """A LightOnOCR checkpoint whose processor_config names PixtralProcessor still gets LightOnOcrProcessor,
    the processor that writes the image tokens the model was trained with (no image-break or image-end tokens)."""
    import shutil

    import transformers

    folder = build_tiny_model(home / "models" / "tiny-lighton_ocr", "lighton_ocr")
    renamed = tmp_path / "pixtral-named"
    shutil.copytree(folder, renamed)
    for file in renamed.glob("*.json"):
        file.write_text(file.read_text(encoding="utf-8").replace("LightOnOcrProcessor", "PixtralProcessor"),
                        encoding="utf-8")
    assert type(transformers.AutoProcessor.from_pretrained(str(renamed))).__name__ == "PixtralProcessor"
    assert type(load_model(str(renamed)).processor).__name__ == "LightOnOcrProcessor"


@pytest.mark.parametrize("variant", ["lora", "dora+rslora"])
def test_adapter_reload_is_exact_and_a_misplaced_tensor_stops(tiny_qwen25: Path, tmp_path: Path, variant: str) -> None:
    """Every saved adapter tensor lands in its layer (checked, not assumed); one that fits no layer is an error.
    DoRA's magnitudes and rsLoRA's scaling survive the round trip too."""
    import torch
    from safetensors.torch import load_file, save_file

    from inkwell.models.loading import LoraSettings, add_lora, load_adapter

    dora = variant != "lora"
    trained = add_lora(load_model(str(tiny_qwen25)), LoraSettings(seed=1, use_dora=dora, use_rslora=dora))
    config = trained.model.peft_config["default"]
    assert (config.use_dora, config.use_rslora) == (dora, dora)
    with torch.no_grad():
        for name, param in trained.model.named_parameters():
            if "lora_B" in name or "magnitude" in name:
                param.normal_()  # a fresh LoRA has B = 0: make the saved adapter differ from a fresh one
    run = tmp_path / "run-a.v1"  # a dot in a run name must not break loading
    trained.model.save_pretrained(str(run))
    saved = load_file(str(run / "adapter_model.safetensors"))

    fresh = load_adapter(load_model(str(tiny_qwen25)), run)
    params = dict(fresh.model.named_parameters())
    assert any("magnitude" in k for k in saved) is dora
    for key, value in saved.items():
        stem, _, leaf = key.rpartition(".")
        name = f"{stem}.run-a_v1.{leaf}" if leaf == "weight" else f"{key}.run-a_v1.weight"
        assert torch.equal(params[name], value), key

    broken = tmp_path / "run-b"
    broken.mkdir()
    (broken / "adapter_config.json").write_text((run / "adapter_config.json").read_text())
    key = next(iter(saved))
    save_file({**saved, key.replace("layers.0.", "layers.99."): saved[key].clone()}, str(broken / "adapter_model.safetensors"))
    with pytest.raises(RuntimeError, match="different base"):
        load_adapter(load_model(str(tiny_qwen25)), broken)
    incomplete = tmp_path / "run-c"
    incomplete.mkdir()
    (incomplete / "adapter_config.json").write_text((run / "adapter_config.json").read_text())
    save_file({k: v for k, v in saved.items() if k != key}, str(incomplete / "adapter_model.safetensors"))
    with pytest.raises(RuntimeError, match="incomplete"):
        load_adapter(load_model(str(tiny_qwen25)), incomplete)


def test_damaged_adapter_files_name_the_file_and_the_run(tiny_qwen25: Path, tmp_path: Path) -> None:
    """A half-written safetensors file or a broken adapter_config.json stops with the file, the run and the fix."""
    import shutil

    from inkwell.models.loading import DamagedRunError, LoraSettings, add_lora, load_adapter

    good = tmp_path / "good-run"
    add_lora(load_model(str(tiny_qwen25)), LoraSettings(seed=1)).model.save_pretrained(str(good))
    base = load_model(str(tiny_qwen25))
    weights = (good / "adapter_model.safetensors").read_bytes()
    cases = {
        "truncated": ("adapter_model.safetensors", weights[: len(weights) // 2]),
        "garbage": ("adapter_model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00not a header"),
        "empty": ("adapter_model.safetensors", b""),
        "config": ("adapter_config.json", b'{"r": 16, "lora_alpha"'),
        "config-list": ("adapter_config.json", b"[1, 2]"),
    }
    for name, (file, content) in cases.items():
        run = tmp_path / f"run-{name}"
        shutil.copytree(good, run)
        (run / file).write_bytes(content)
        with pytest.raises(DamagedRunError) as refused:
            load_adapter(base, run)
        message = str(refused.value)
        assert f"The run run-{name} is damaged" in message and str(run / file) in message, name
        assert "Train the run again" in message and f"delete the folder {run}" in message
    assert load_adapter(base, good).model.active_adapter == "good-run"
